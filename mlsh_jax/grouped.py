"""K stacked networks, each applied to its own rows, at about the cost of one network.

Running every sub-policy on every row and masking (K dense passes) makes the sub-policies'
update K times flat PPO's. Here the rows arrive sorted by network, are cut into T equal tiles,
and each tile is multiplied by the weights of every network whose rows it holds: since the
groups are contiguous at most T + K - 1 (tile, network) pairs exist, a static count, so the
work is (T + K - 1) / T of one dense pass. This is a grouped matmul with static shapes;
`jax.lax.ragged_dot` computes the same but, on XLA:CPU (jax 0.10.2), as K dense passes.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from envs.base import Discrete
from mlsh_jax.distributions import Categorical, DiagGaussian
from mlsh_jax.networks import ACTIVATIONS, ActorCritic

TILES_PER_EXTRA_GROUP = 8
"""T = 8 (K - 1) tiles: the pairs cost at most 1/8 more than one dense pass."""


@flax.struct.dataclass
class TilePlan:
    """Tile t is multiplied by the weights of its first row's group, `first[t]`, for the rows
    `first_rows[t]` of that group; the at most K - 1 rows' groups that start inside a tile
    are extra pairs (tile `extra_tile[e]` times group `extra_group[e]`, for `extra_rows[e]`;
    unused extras select no row)."""

    first: jax.Array        # [T]
    first_rows: jax.Array   # [T, tile_rows] bool
    extra_tile: jax.Array   # [K - 1]
    extra_group: jax.Array  # [K - 1]
    extra_rows: jax.Array   # [K - 1, tile_rows] bool


def num_tiles(num_groups: int) -> int:
    return TILES_PER_EXTRA_GROUP * (num_groups - 1) if num_groups > 1 else 1


def group_order(groups: jax.Array, num_groups: int) -> jax.Array:
    """The stable permutation that sorts `groups` (values 0 .. num_groups-1), by counting:
    O(n K) work instead of a general sort's."""
    member = groups[:, None] == jnp.arange(num_groups)
    rank = jnp.take_along_axis(jnp.cumsum(member, axis=0), groups[:, None], axis=1)[:, 0] - 1
    sizes = member.sum(axis=0)
    position = (jnp.cumsum(sizes) - sizes)[groups] + rank
    return jnp.zeros_like(groups).at[position].set(jnp.arange(groups.shape[0], dtype=groups.dtype),
                                                   unique_indices=True)


def plan_tiles(groups: jax.Array, num_groups: int) -> TilePlan:
    """The tiles' groups for rows sorted by group (`groups` [n], values 0 .. K-1, n a multiple
    of `num_tiles(K)`)."""
    tiles = groups.reshape(num_tiles(num_groups), -1)
    first, last = tiles[:, 0], tiles[:, -1]
    extras = last - first
    offset = jnp.cumsum(extras) - extras
    extra = jnp.arange(num_groups - 1)
    extra_tile = jnp.searchsorted(offset, extra, side="right") - 1
    extra_group = first[extra_tile] + 1 + extra - offset[extra_tile]
    used = extra < extras.sum()
    return TilePlan(first=first, first_rows=tiles == first[:, None], extra_tile=extra_tile,
                    extra_group=jnp.minimum(extra_group, num_groups - 1),
                    extra_rows=(tiles[extra_tile] == extra_group[:, None]) & used[:, None])


def grouped_dense(x: jax.Array, kernel: jax.Array, bias: jax.Array, plan: TilePlan) -> jax.Array:
    """Row i of `x` times kernel[g_i] plus bias[g_i] (`kernel` [K, in, out], `bias` [K, out])."""
    tiles = x.reshape(plan.first.shape[0], -1, x.shape[-1])
    out = jnp.einsum("tri,tio->tro", tiles, kernel[plan.first]) + bias[plan.first][:, None]
    out = jnp.where(plan.first_rows[..., None], out, 0.0)
    extra = (jnp.einsum("eri,eio->ero", tiles[plan.extra_tile], kernel[plan.extra_group])
             + bias[plan.extra_group][:, None])
    out = out.at[plan.extra_tile].add(jnp.where(plan.extra_rows[..., None], extra, 0.0))
    return out.reshape(x.shape[0], -1)


def _grouped_mlp(layers: dict, x: jax.Array, plan: TilePlan, activation: str) -> jax.Array:
    """`networks.MLP` with stacked parameters: Dense_0 .. Dense_n, activation between."""
    names = sorted(layers, key=lambda name: int(name.rsplit("_", 1)[1]))
    for index, name in enumerate(names):
        x = grouped_dense(x, layers[name]["kernel"], layers[name]["bias"], plan)
        if index < len(names) - 1:
            x = ACTIVATIONS[activation](x)
    return x


def grouped_apply(module: ActorCritic, stacked_params, obs: jax.Array, groups: jax.Array):
    """(distribution, value) of row i under network groups[i], rows sorted by group.

    `stacked_params` are K copies of `module`'s parameters (`networks.init_stacked`); rows
    with a group outside 0 .. K-1 (padding) get the last network's outputs. The row count must
    be a multiple of `num_tiles(K)`.
    """
    layers = stacked_params["params"]
    num_groups = jax.tree.leaves(layers)[0].shape[0]
    if num_groups == 1:
        return module.apply(jax.tree.map(lambda x: x[0], stacked_params), obs)
    groups = jnp.clip(groups, 0, num_groups - 1)
    plan = plan_tiles(groups, num_groups)
    activation = module.network.activation
    value = _grouped_mlp(layers["critic"], obs, plan, activation)[:, 0]
    head = _grouped_mlp(layers["actor"], obs, plan, activation)
    if isinstance(module.action_space, Discrete):
        return Categorical(logits=head), value
    return DiagGaussian(mean=head, log_std=layers["log_std"][groups]), value
