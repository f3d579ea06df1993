"""Actor-critic networks for the master and the K stacked sub-policies."""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from envs.base import Box, Discrete
from mlsh_jax.config import NetworkConfig
from mlsh_jax.distributions import Categorical, DiagGaussian

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {"tanh": jnp.tanh, "relu": nn.relu}


def _scaled_normal(gain: float):
    """Variance-preserving init with the usual PPO gains (sqrt 2 hidden, small policy head).

    Not orthogonal init: its QR decomposition, run inside the jitted update whenever a slot
    re-initialises theta, hung XLA's CPU runtime (jax 0.10.2) on this project's machine.
    """
    return nn.initializers.variance_scaling(gain**2, "fan_in", "truncated_normal")


class MLP(nn.Module):
    """Hidden layers (init gain sqrt 2) and a linear head of chosen gain."""

    hidden_sizes: Sequence[int]
    activation: str
    out_dim: int
    out_gain: float

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        for width in self.hidden_sizes:
            x = act(nn.Dense(width, kernel_init=_scaled_normal(np.sqrt(2)))(x))
        return nn.Dense(self.out_dim, kernel_init=_scaled_normal(self.out_gain))(x)


class ActorCritic(nn.Module):
    """Separate actor and critic MLPs (as the original): returns (distribution, value)."""

    action_space: Discrete | Box
    network: NetworkConfig

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[Categorical | DiagGaussian, jax.Array]:
        hidden, act = self.network.hidden_sizes, self.network.activation
        value = MLP(hidden, act, 1, 1.0, name="critic")(obs)[..., 0]
        if isinstance(self.action_space, Discrete):
            logits = MLP(hidden, act, self.action_space.n, 0.01, name="actor")(obs)
            return Categorical(logits=logits), value
        mean = MLP(hidden, act, self.action_space.dim, 0.01, name="actor")(obs)
        log_std = self.param("log_std", nn.initializers.constant(self.network.initial_log_std),
                             (self.action_space.dim,))
        return DiagGaussian(mean=mean, log_std=jnp.broadcast_to(log_std, mean.shape)), value


def master_network(num_subpolicies: int, network: NetworkConfig) -> ActorCritic:
    """The master: a categorical choice among the K sub-policies plus its own critic."""
    return ActorCritic(action_space=Discrete(num_subpolicies), network=network)


def subpolicy_network(action_space: Discrete | Box, network: NetworkConfig) -> ActorCritic:
    """One sub-policy; K of them are stacked along a leading parameter axis."""
    return ActorCritic(action_space=action_space, network=network)


def init_stacked(module: nn.Module, key: jax.Array, count: int, observation_size: int):
    """Independent initialisations of `module`, stacked along a new leading axis."""
    dummy = jnp.zeros((observation_size,), jnp.float32)
    return jax.vmap(lambda k: module.init(k, dummy))(jax.random.split(key, count))


def apply_stacked(module: nn.Module, stacked_params, obs: jax.Array):
    """Run every stacked copy on the same observations: outputs gain a leading K axis."""
    return jax.vmap(module.apply, in_axes=(0, None))(stacked_params, obs)


def select_subpolicy(stacked_outputs, index: jax.Array):
    """Pick, per sample, the output of sub-policy `index` from `apply_stacked`'s outputs.

    `index` has the batch shape of the observations; outputs have shape [K, *batch, ...].
    """

    def pick(x):
        idx = index.reshape((1,) + index.shape + (1,) * (x.ndim - 1 - index.ndim))
        return jnp.take_along_axis(x, idx.astype(jnp.int32), axis=0)[0]

    return jax.tree.map(pick, stacked_outputs)
