"""Sub-policies that act alike, and a fresh start for all but one of each alike group.

Why: MLSH's sub-policies can settle on one and the same skill (on Moving Bandits both head to
the same goal in about four runs of five, as in the original code), and then nothing in its
updates separates them again: every master finds both equally useful. A fresh sub-policy
beside a committed one is the situation MLSH does separate: the masters of the tasks the
committed skill does not serve pick the fresh one, which then learns from their steps alone.
So at the updates in `RunConfig.reinit_alike_updates` the sub-policies are compared on the
states of the last rollout, and of two that act alike the later one is re-initialised
(parameters, Adam state, return statistics; the shared observation statistics stay).

How alike: the mean Hellinger distance between two sub-policies' action distributions over
those states, in [0, 1] for discrete and Gaussian actions alike.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mlsh_jax.distributions import Categorical, DiagGaussian
from mlsh_jax.networks import apply_stacked
from mlsh_jax.normalization import normalize
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import Learner, init_subpolicies


def hellinger(first, second) -> jax.Array:
    """Per-sample Hellinger distance between two distributions of one family, in [0, 1]:
    H = sqrt(1 - BC) with the Bhattacharyya coefficient BC = sum_a sqrt(p(a) q(a)) for
    categorical actions and, for diagonal Gaussians, the product over dimensions of
    sqrt(2 s_p s_q / (s_p^2 + s_q^2)) exp(-(m_p - m_q)^2 / (4 (s_p^2 + s_q^2))).

    Both are computed from logarithms (log-probabilities, log-stds), so that near-zero
    probabilities and tiny standard deviations (down to log-std -40 and beyond) neither
    underflow nor divide by zero."""
    if isinstance(first, Categorical):
        log_p = jax.nn.log_softmax(first.logits)
        log_q = jax.nn.log_softmax(second.logits)
        coefficient = jnp.exp(0.5 * (log_p + log_q)).sum(axis=-1)
    elif isinstance(first, DiagGaussian):
        log_total = jnp.logaddexp(2 * first.log_std, 2 * second.log_std)  # log(s_p^2 + s_q^2)
        log_coefficient = (0.5 * (jnp.log(2.0) + first.log_std + second.log_std - log_total)
                           - ((first.mean - second.mean) * jnp.exp(-0.5 * log_total)) ** 2 / 4)
        coefficient = jnp.exp(log_coefficient.sum(axis=-1))
    else:
        raise TypeError(f"no Hellinger distance for {type(first).__name__}")
    return jnp.sqrt(jnp.clip(1.0 - coefficient, 0.0, 1.0))


def pairwise_distances(spec: MLSHSpec, subpolicies: Learner, raw_obs: jax.Array) -> jax.Array:
    """[K, K] mean Hellinger distance between the sub-policies' actions over `raw_obs`
    [..., obs] (what the sub-policies see, before normalisation).

    The batch axes stay as they are, not flattened: a reshape that merges the device-split
    slot axis with the time axis before it would make the partitioner gather every device's
    observations; averaging over the axes in place needs only a reduction of [K, K] sums."""
    cfg = spec.config
    normed = normalize(subpolicies.obs_stats, raw_obs, cfg.observation_clip,
                       cfg.normalize_observations)
    dists, _ = apply_stacked(spec.subpolicy, subpolicies.params, normed)
    every_pair = jax.vmap(jax.vmap(hellinger, in_axes=(None, 0)), in_axes=(0, None))
    batch_axes = tuple(range(2, raw_obs.ndim + 1))
    return every_pair(dists, dists).mean(axis=batch_axes)


def to_reinitialise(distances: jax.Array, threshold: float) -> jax.Array:
    """[K] bool: the sub-policies to re-initialise. Going in order, one is re-initialised when
    it is closer than `threshold` to an earlier one that is kept, so each alike group keeps
    its first member. (K is static and small: the loop unrolls at trace time.)"""
    count = distances.shape[0]
    restart = jnp.zeros((count,), bool)
    for j in range(1, count):
        close_to_kept = (distances[:j, j] < threshold) & ~restart[:j]
        restart = restart.at[j].set(close_to_kept.any())
    return restart


def reinitialise(spec: MLSHSpec, subpolicies: Learner, restart: jax.Array,
                 key: jax.Array) -> Learner:
    """`subpolicies` with those where `restart` [K] newly initialised: parameters, Adam state
    and return statistics; the others and the shared observation statistics unchanged."""
    new = init_subpolicies(spec, key)
    pick = lambda new_leaf, old_leaf: jnp.where(
        restart.reshape((-1,) + (1,) * (old_leaf.ndim - 1)), new_leaf, old_leaf)
    return subpolicies.replace(
        params=jax.tree.map(pick, new.params, subpolicies.params),
        opt_state=jax.tree.map(pick, new.opt_state, subpolicies.opt_state),
        return_stats=jax.tree.map(pick, new.return_stats, subpolicies.return_stats))
