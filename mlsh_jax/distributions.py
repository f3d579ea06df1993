"""Action distributions as pytrees, so that they vmap and stack like any other array."""

from __future__ import annotations

import math

import flax.struct
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class Categorical:
    """Discrete distribution over the last axis of `logits`."""

    logits: jax.Array

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.categorical(key, self.logits).astype(jnp.int32)

    def log_prob(self, action: jax.Array) -> jax.Array:
        log_p = jax.nn.log_softmax(self.logits)
        return jnp.take_along_axis(log_p, action[..., None].astype(jnp.int32), axis=-1)[..., 0]

    def entropy(self) -> jax.Array:
        log_p = jax.nn.log_softmax(self.logits)
        return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)

    def mode(self) -> jax.Array:
        return jnp.argmax(self.logits, axis=-1).astype(jnp.int32)


@flax.struct.dataclass
class DiagGaussian:
    """Independent Gaussian per action dimension with a state-independent log std.

    Log-probabilities are of the unclipped sample; the environment receives the sample
    clipped to the action bounds (the usual PPO convention).
    """

    mean: jax.Array
    log_std: jax.Array

    def sample(self, key: jax.Array) -> jax.Array:
        return self.mean + jnp.exp(self.log_std) * jax.random.normal(key, self.mean.shape)

    def log_prob(self, action: jax.Array) -> jax.Array:
        z = (action - self.mean) * jnp.exp(-self.log_std)
        return jnp.sum(-0.5 * z**2 - self.log_std - 0.5 * math.log(2 * math.pi), axis=-1)

    def entropy(self) -> jax.Array:
        return jnp.sum(self.log_std + 0.5 * math.log(2 * math.pi * math.e), axis=-1)

    def mode(self) -> jax.Array:
        return self.mean


def epsilon_mixture(logits: jax.Array, epsilon: float) -> Categorical:
    """The master's behaviour policy: with probability epsilon a uniform choice.

    PPO's ratio is taken under this mixture for both the rollout and the update, so the
    importance weights are exact for the choices actually made. The mixture is formed in log
    space: a saturated softmax underflows to 0, whose log (at epsilon = 0) would make the
    entropy and its gradient NaN.
    """
    log_policy = jax.nn.log_softmax(logits)
    if epsilon == 0:
        return Categorical(logits=log_policy)
    log_uniform = math.log(epsilon / logits.shape[-1])
    if epsilon == 1:
        return Categorical(logits=jnp.full_like(logits, log_uniform))
    return Categorical(logits=jnp.logaddexp(math.log1p(-epsilon) + log_policy, log_uniform))
