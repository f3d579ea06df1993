"""The sub-policies' update without K x work: each row through its own network only, and the
update equal to the masked one (every sub-policy over the whole batch) it replaces."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.base import Box, Discrete
from mlsh_jax.config import NetworkConfig, PPOConfig
from mlsh_jax.grouped import group_order, grouped_apply, num_tiles, plan_tiles
from mlsh_jax.networks import init_stacked, subpolicy_network
from mlsh_jax.normalization import init_return_stats
from mlsh_jax.ppo import Batch, grouped_ppo_update, make_optimizer, ppo_update

OBS = 6
init_stacked = jax.jit(init_stacked, static_argnums=(0, 2, 3))


def sorted_groups(key, rows: int, num_groups: int, padding: int = 0) -> jax.Array:
    """Random group sizes (some empty) in sorted order, then `padding` rows of group K."""
    groups = jnp.sort(jax.random.choice(key, num_groups, (rows - padding,),
                                        p=jnp.linspace(1.0, 0.0, num_groups + 1)[:-1]))
    return jnp.concatenate([groups, jnp.full((padding,), num_groups)])


def test_group_order_is_the_stable_sort_by_group():
    groups = jax.random.randint(jax.random.PRNGKey(0), (200,), 0, 4)
    order = jax.jit(group_order, static_argnums=1)(groups, 4)
    np.testing.assert_array_equal(order, np.argsort(np.asarray(groups), kind="stable"))


@pytest.mark.parametrize("num_groups", [2, 3, 5])
def test_tile_plan_covers_every_row_exactly_once_with_its_own_group(num_groups):
    rows = num_tiles(num_groups) * 7
    groups = np.asarray(sorted_groups(jax.random.PRNGKey(num_groups), rows, num_groups))
    plan = jax.jit(plan_tiles, static_argnums=1)(jnp.asarray(groups), num_groups)
    covered = np.zeros(rows, int)
    tiles = zip(np.arange(num_tiles(num_groups)), plan.first, np.asarray(plan.first_rows))
    extras = zip(plan.extra_tile, plan.extra_group, np.asarray(plan.extra_rows))
    for tile, group, selected in [*tiles, *extras]:
        indices = tile * 7 + np.flatnonzero(selected)
        assert (groups[indices] == group).all()
        covered[indices] += 1
    np.testing.assert_array_equal(covered, 1)


@pytest.mark.parametrize("space", [Discrete(4), Box(dim=3)], ids=["discrete", "gaussian"])
@pytest.mark.parametrize("num_groups", [2, 3])
def test_grouped_apply_gives_each_row_its_own_networks_output(space, num_groups):
    module = subpolicy_network(space, NetworkConfig(hidden_sizes=(16, 8), activation="relu"))
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    params = init_stacked(module, keys[0], num_groups, OBS)
    params = jax.jit(lambda p: jax.tree.map(  # non-zero biases, so that they are tested
        lambda x: x + 0.1 * jax.random.normal(keys[1], x.shape), p))(params)
    rows = num_tiles(num_groups) * 5
    groups = sorted_groups(keys[2], rows, num_groups, padding=3)
    obs = jax.random.normal(keys[1], (rows, OBS))
    dist, value = jax.jit(grouped_apply, static_argnums=0)(module, params, obs, groups)
    own = jax.vmap(lambda g, o: module.apply(jax.tree.map(lambda x: x[g], params), o))
    want_dist, want_value = jax.jit(own)(groups[:-3], obs[:-3])
    np.testing.assert_allclose(value[:-3], want_value, rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close(jax.tree.map(lambda x: x[:-3], dist), want_dist, rtol=1e-5,
                                atol=1e-6)


def random_batch(key, size: int, num_actions: int) -> Batch:
    keys = jax.random.split(key, 5)
    returns = 3.0 + 2.0 * jax.random.normal(keys[0], (size,))
    values = returns + jax.random.normal(keys[1], (size,))
    return Batch(obs=jax.random.normal(keys[2], (size, OBS)),
                 actions=jax.random.randint(keys[3], (size,), 0, num_actions),
                 log_probs=jnp.log(jax.random.uniform(keys[4], (size,), minval=0.1,
                                                      maxval=0.5)),
                 values=values, advantages=returns - values, returns=returns)


@pytest.mark.parametrize("target_kl", [0.0, 2e-4])
def test_grouped_update_equals_the_masked_update_and_leaves_an_idle_learner_bit_identical(
        target_kl):
    """K = 3 learners, learner 2 without samples, a quarter of the rows no learner's; the
    reference is `ppo_update` once per learner over the whole batch, masked, same shuffles.
    With a target KL each learner stops its update on its own."""
    num_learners, size = 3, 300
    cfg = PPOConfig(epochs=3, num_minibatches=4, learning_rate=1e-3, target_kl=target_kl)
    module = subpolicy_network(Discrete(4), NetworkConfig(hidden_sizes=(16, 16)))
    optimizer = make_optimizer(cfg)
    params = init_stacked(module, jax.random.PRNGKey(0), num_learners, OBS)
    opt_state = jax.vmap(optimizer.init)(params)
    stats = jax.tree.map(lambda x: jnp.stack([x] * num_learners), init_return_stats())
    batch = random_batch(jax.random.PRNGKey(1), size, 4)
    learner = jax.random.choice(jax.random.PRNGKey(2), jnp.array([0, 0, 1, 3]), (size,))
    dist, _ = jax.vmap(lambda g, o: module.apply(jax.tree.map(lambda x: x[g], params), o))(
        jnp.minimum(learner, num_learners - 1), batch.obs)
    batch = batch.replace(log_probs=dist.log_prob(batch.actions))  # sampled by its learner
    key = jax.random.PRNGKey(3)

    grouped = jax.jit(lambda p, o, s: grouped_ppo_update(
        p, o, s, batch, learner, key, optimizer=optimizer, cfg=cfg,
        grouped_apply_fn=lambda q, obs, g: grouped_apply(module, q, obs, g)))(
        params, opt_state, stats)
    masks = (learner[None] == jnp.arange(num_learners)[:, None]).astype(jnp.float32)
    masked = jax.jit(jax.vmap(lambda p, o, s, m: ppo_update(
        p, o, s, batch, m, key, apply_fn=module.apply, optimizer=optimizer, cfg=cfg)))(
        params, opt_state, stats, masks)

    chex.assert_trees_all_close(grouped, masked, rtol=1e-4, atol=1e-6)
    # With the target, learners 0 and 1 stop after different numbers of steps.
    np.testing.assert_array_equal(grouped[3].steps_taken, [9, 6, 0] if target_kl else [12, 12, 0])
    take = lambda tree, k: jax.tree.map(lambda x: x[k], tree)
    for before, after in zip((params, opt_state, stats), grouped[:3]):
        chex.assert_trees_all_equal(take(after, 2), take(before, 2))
    moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), take(grouped[0], 0),
                         take(params, 0))
    assert all(jax.tree.leaves(moved))
