"""Running statistics (parallel Welford merge), masked so only real samples count: of
observations, and of value targets, so that a critic learns on a scale that does not depend on
the reward's."""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class RunningStats:
    mean: jax.Array
    var: jax.Array
    count: jax.Array


def init_stats(size: int) -> RunningStats:
    # A tiny prior count keeps the first normalisation finite without biasing later ones.
    return RunningStats(mean=jnp.zeros((size,), jnp.float32), var=jnp.ones((size,), jnp.float32),
                        count=jnp.asarray(1e-4, jnp.float32))


def update_stats(stats: RunningStats, obs: jax.Array, mask: jax.Array) -> RunningStats:
    """Merge the observations whose `mask` is true (obs: [..., size], mask: [...])."""
    flat_obs = obs.reshape(-1, obs.shape[-1])
    weights = mask.reshape(-1).astype(jnp.float32)
    batch_count = weights.sum()
    safe_count = jnp.maximum(batch_count, 1.0)
    batch_mean = (weights[:, None] * flat_obs).sum(0) / safe_count
    batch_var = (weights[:, None] * (flat_obs - batch_mean) ** 2).sum(0) / safe_count
    total = stats.count + batch_count
    delta = batch_mean - stats.mean
    mean = stats.mean + delta * batch_count / total
    m2 = (stats.var * stats.count + batch_var * batch_count
          + delta**2 * stats.count * batch_count / total)
    merged = RunningStats(mean=mean, var=m2 / total, count=total)
    # Without samples the stats must stay bit-identical (var * n / n can round).
    return jax.tree.map(lambda new, old: jnp.where(batch_count > 0, new, old), merged, stats)


def normalize(stats: RunningStats, obs: jax.Array, clip: float, enabled: bool) -> jax.Array:
    if not enabled:
        return obs
    return jnp.clip((obs - stats.mean) / jnp.sqrt(stats.var + 1e-8), -clip, clip)


def init_return_stats() -> RunningStats:
    """Statistics of one critic's value targets, starting as the identity map (mean 0, var 1)."""
    return init_stats(1)


def _return_std(stats: RunningStats) -> jax.Array:
    return jnp.sqrt(stats.var[0] + 1e-8)


def scale_value(stats: RunningStats, critic_output: jax.Array) -> jax.Array:
    """A critic's output (on the normalised scale) in units of the return."""
    return critic_output * _return_std(stats) + stats.mean[0]


def normalize_value(stats: RunningStats, value: jax.Array) -> jax.Array:
    """A return or value on the critic's normalised scale: the inverse of `scale_value`."""
    return (value - stats.mean[0]) / _return_std(stats)
