"""Clipped PPO over a flat batch with a sample mask.

One implementation serves the masters (vmapped over slots), the sub-policies (K stacked
learners, each on the steps it was active: `grouped_ppo_update`) and the flat baselines. A
learner whose mask selects no
sample in a minibatch skips that optimizer step entirely, so an idle sub-policy and its Adam
moments stay bit-identical (the original took zero-gradient Adam steps, which moves them).

Learning does not depend on the reward's scale: advantages are normalised per learner, the
critic learns normalised value targets (running statistics of the returns, `return_stats`),
and the actor's and the critic's gradients are clipped apart, so a large critic gradient can no
longer shrink the actor's step (with one shared clip on unnormalised returns it did, by a
factor of 1e-2 to 1e-4 at returns of 10 to 1000). An optional trust region (`target_kl`) ends
a learner's update early once its policy has moved that far from the rollout's, a limit on
each step that is also free of the reward's scale.
"""

from __future__ import annotations

from typing import Callable

import flax.struct
import jax
import jax.numpy as jnp
import optax

from envs.base import where_tree
from mlsh_jax.config import PPOConfig
from mlsh_jax.grouped import group_order, num_tiles
from mlsh_jax.normalization import RunningStats, normalize_value, update_stats

ApplyFn = Callable[..., tuple]
"""(params, normalised_obs) -> (distribution, value)."""

VALUE_TARGET_CLIP = 10.0
"""Bound on a normalised value target. After many all-zero returns (a sparse reward not yet
found) the returns' std is near 0 and the first success would normalise to thousands."""


@flax.struct.dataclass
class Batch:
    """Flat PPO samples (leading axis B); observations already normalised."""

    obs: jax.Array
    actions: jax.Array
    log_probs: jax.Array
    values: jax.Array
    advantages: jax.Array
    returns: jax.Array


@flax.struct.dataclass
class PPOMetrics:
    policy_loss: jax.Array
    value_loss: jax.Array
    entropy: jax.Array
    approx_kl: jax.Array
    clip_fraction: jax.Array
    steps_taken: jax.Array


def _network_of(params):
    """Labels each parameter 'critic' or 'actor' (the actor MLP and a Gaussian's log-std)."""
    in_critic = lambda path: any(getattr(key, "key", None) == "critic" for key in path)
    return jax.tree_util.tree_map_with_path(
        lambda path, _: "critic" if in_critic(path) else "actor", params)


def clip_actor_and_critic_apart(max_norm: float) -> optax.GradientTransformation:
    """A global-norm clip of the actor's gradient and, apart, of the critic's."""
    clip = optax.clip_by_global_norm(max_norm)
    return optax.multi_transform({"actor": clip, "critic": clip}, _network_of)


def make_optimizer(cfg: PPOConfig) -> optax.GradientTransformation:
    return optax.chain(clip_actor_and_critic_apart(cfg.max_grad_norm),
                       optax.adam(cfg.learning_rate, eps=1e-5))


def masked_mean(x: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean of `x` [n] over the samples `mask` [..., n] selects (one mean per leading index)."""
    return jnp.sum(x * mask, axis=-1) / jnp.maximum(jnp.sum(mask, axis=-1), 1.0)


def normalize_advantages(advantages: jax.Array, mask: jax.Array) -> jax.Array:
    """Zero mean, unit std over the masked samples only (each learner its own subset)."""
    mean = masked_mean(advantages, mask)
    std = jnp.sqrt(masked_mean((advantages - mean) ** 2, mask))
    return jnp.where(mask > 0, (advantages - mean) / (std + 1e-8), 0.0)


def ppo_loss(params, apply_fn: ApplyFn, batch: Batch, mask: jax.Array, cfg: PPOConfig):
    """The clipped PPO loss of the samples `mask` [n] selects; with `mask` [K, n], of K
    learners with disjoint parameters and samples: the sum of their losses (so each one's
    gradient is that of its own loss) and their metrics [K]."""
    dist, value = apply_fn(params, batch.obs)
    log_prob = dist.log_prob(batch.actions)
    log_ratio = log_prob - batch.log_probs
    ratio = jnp.exp(log_ratio)
    clipped_ratio = jnp.clip(ratio, 1.0 - cfg.clip_epsilon, 1.0 + cfg.clip_epsilon)
    policy_loss = -masked_mean(jnp.minimum(ratio * batch.advantages,
                                           clipped_ratio * batch.advantages), mask)
    value_error = (value - batch.returns) ** 2
    if cfg.clip_value_loss:
        clipped_value = batch.values + jnp.clip(value - batch.values, -cfg.clip_epsilon,
                                                cfg.clip_epsilon)
        value_error = jnp.maximum(value_error, (clipped_value - batch.returns) ** 2)
    value_loss = 0.5 * masked_mean(value_error, mask)
    entropy = masked_mean(dist.entropy(), mask)
    loss = policy_loss + cfg.value_coef * value_loss - cfg.entropy_coef * entropy
    aux = PPOMetrics(policy_loss=policy_loss, value_loss=value_loss, entropy=entropy,
                     approx_kl=masked_mean((ratio - 1.0) - log_ratio, mask),
                     clip_fraction=masked_mean(
                         (jnp.abs(ratio - 1.0) > cfg.clip_epsilon).astype(jnp.float32), mask),
                     steps_taken=jnp.zeros_like(loss))
    return jnp.sum(loss), aux


def critic_targets(return_stats: RunningStats, returns: jax.Array) -> jax.Array:
    """Returns on the critic's normalised scale, bounded by VALUE_TARGET_CLIP."""
    return jnp.clip(normalize_value(return_stats, returns), -VALUE_TARGET_CLIP,
                    VALUE_TARGET_CLIP)


def _on_the_critics_scale(return_stats: RunningStats, batch: Batch, mask: jax.Array,
                          cfg: PPOConfig) -> tuple[RunningStats, Batch]:
    """The masked returns update `return_stats` (with `cfg.normalize_returns`); advantages are
    normalised over the masked samples, values and returns put on the critic's scale."""
    if cfg.normalize_returns:
        return_stats = update_stats(return_stats, batch.returns[:, None], mask)
    return return_stats, batch.replace(
        advantages=normalize_advantages(batch.advantages, mask),
        values=normalize_value(return_stats, batch.values),
        returns=critic_targets(return_stats, batch.returns))


def _step(optimizer: optax.GradientTransformation, params, opt_state, grads):
    """One optimizer step: (new params, new optimizer state)."""
    updates, new_opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), new_opt_state


def _step_if(optimizer: optax.GradientTransformation, params, opt_state, grads,
             take: jax.Array):
    """One optimizer step, skipped entirely (Adam's moments included) unless `take`."""
    new_params, new_opt_state = _step(optimizer, params, opt_state, grads)
    return (where_tree(take, new_params, params),
            where_tree(take, new_opt_state, opt_state))


def _past_target_kl(stopped: jax.Array, approx_kl: jax.Array, cfg: PPOConfig) -> jax.Array:
    """Whether each learner has stopped its update: a minibatch's KL estimate, taken before
    its step, exceeded `cfg.target_kl` (0: never). Once stopped, a learner stays stopped."""
    if cfg.target_kl == 0:
        return stopped
    return stopped | (approx_kl > cfg.target_kl)


def _epochs(minibatch_step, carry, size: int, key: jax.Array, cfg: PPOConfig):
    """`cfg.epochs` shuffles of the sample indices 0 .. size-1, each cut into
    `cfg.num_minibatches` minibatches (padded with the index `size`) fed to `minibatch_step`.
    The carry ends with each learner's early-stop flag (`_past_target_kl`). Metrics are
    averaged over the optimizer steps actually taken (per learner)."""
    minibatch_size = -(-size // cfg.num_minibatches)
    padded = minibatch_size * cfg.num_minibatches

    def epoch(carry, epoch_key):
        order = jax.random.permutation(epoch_key, size)
        order = jnp.concatenate([order, jnp.full((padded - size,), size, order.dtype)])
        return jax.lax.scan(minibatch_step, carry, order.reshape(cfg.num_minibatches, -1))

    carry, aux = jax.lax.scan(epoch, carry, jax.random.split(key, cfg.epochs))
    return carry, _mean_over_steps(aux)


def _mean_over_steps(aux: PPOMetrics) -> PPOMetrics:
    """Metrics [epochs, minibatches, ...] averaged over the optimizer steps actually taken
    (per learner); `steps_taken` becomes their count."""
    taken = aux.steps_taken
    denom = jnp.maximum(taken.sum(axis=(0, 1)), 1.0)
    metrics = jax.tree.map(lambda x: jnp.sum(x * taken, axis=(0, 1)) / denom, aux)
    return metrics.replace(steps_taken=taken.sum(axis=(0, 1)))


def zero_metrics(shape: tuple[int, ...] = ()) -> PPOMetrics:
    zeros = jnp.zeros(shape, jnp.float32)
    return PPOMetrics(policy_loss=zeros, value_loss=zeros, entropy=zeros, approx_kl=zeros,
                      clip_fraction=zeros, steps_taken=zeros)


def ppo_update(params, opt_state, return_stats: RunningStats, batch: Batch, mask: jax.Array,
               key: jax.Array, *, apply_fn: ApplyFn, optimizer: optax.GradientTransformation,
               cfg: PPOConfig):
    """`cfg.epochs` passes of `cfg.num_minibatches` shuffled minibatches over a flat batch.

    `mask` ([B], 0/1) selects this learner's samples. `batch.values` and `batch.returns` are in
    return units; with `cfg.normalize_returns` the masked returns first update `return_stats`
    and the critic then fits them on that normalised scale (the scale `scale_value` reads it
    back from). Returns (params, opt_state, return_stats, metrics); metrics are averaged over
    the optimizer steps actually taken, the value loss on the normalised scale.
    """
    mask = mask.astype(jnp.float32)
    return_stats, batch = _on_the_critics_scale(return_stats, batch, mask, cfg)
    size = mask.shape[0]
    grad_fn = jax.value_and_grad(ppo_loss, has_aux=True)

    def minibatch_step(carry, indices):
        params, opt_state, stopped = carry
        in_range = indices < size
        safe = jnp.where(in_range, indices, 0)
        minibatch = jax.tree.map(lambda x: x[safe], batch)
        mb_mask = mask[safe] * in_range
        (_, aux), grads = grad_fn(params, apply_fn, minibatch, mb_mask, cfg)
        stopped = _past_target_kl(stopped, aux.approx_kl, cfg)
        take = (mb_mask.sum() > 0) & ~stopped
        params, opt_state = _step_if(optimizer, params, opt_state, grads, take)
        return (params, opt_state, stopped), aux.replace(steps_taken=take.astype(jnp.float32))

    carry = (params, opt_state, jnp.zeros((), bool))
    (params, opt_state, _), metrics = _epochs(minibatch_step, carry, size, key, cfg)
    return params, opt_state, return_stats, metrics


def every_minibatch_filled(min_selected: int, num_minibatches: int) -> bool:
    """Whether any n >= `min_selected` samples cut into `num_minibatches` minibatches of
    ceil(n / M) leave none empty: the last starts at (M - 1) * ceil(n / M), which is below n
    whenever n > (M - 1)^2."""
    return min_selected > (num_minibatches - 1) ** 2


def every_step_taken(cfg: PPOConfig, min_selected: int) -> bool:
    """Whether a learner with at least `min_selected` samples takes every optimizer step: no
    minibatch is empty and no trust region can stop it."""
    return cfg.target_kl == 0 and every_minibatch_filled(min_selected, cfg.num_minibatches)


def sparse_ppo_update(params, opt_state, return_stats: RunningStats, batch: Batch,
                      mask: jax.Array, key: jax.Array, *, apply_fn: ApplyFn,
                      optimizer: optax.GradientTransformation, cfg: PPOConfig, chunk_size: int,
                      min_selected: int = 0):
    """`ppo_update` at a cost set by the samples `mask` selects, not by the batch's size.

    For fixed-capacity batches mostly made of padding: a master's macro list holds one entry
    per step for envs that can end early, ~N times the decisions made. Each epoch shuffles
    the selected samples alone and cuts them into `cfg.num_minibatches` minibatches of equal
    size; a minibatch's gradient is accumulated over chunks of `chunk_size` rows, looping only
    over the chunks after the first that hold samples. So every selected sample is used once
    per epoch, the gradient is that of the minibatch's mean loss, and padding costs nothing but
    its sort.

    `min_selected` is a bound the caller knows on the samples `mask` selects (a master's
    decisions: at least one per env). When it fills every minibatch and no trust region can
    stop the learner, every step is taken and is applied unguarded: `_step_if`'s select between
    the old and the new state costs a copy of the learner's state per step on XLA:CPU.
    """
    mask = mask.astype(jnp.float32)
    return_stats, batch = _on_the_critics_scale(return_stats, batch, mask, cfg)
    size = mask.shape[0]
    count = mask.sum().astype(jnp.int32)
    minibatch_size = -(-count // cfg.num_minibatches)
    grad_fn = jax.value_and_grad(ppo_loss, has_aux=True)
    unguarded = every_step_taken(cfg, min_selected)

    def epoch(carry, epoch_key):
        # Selected samples first, in random order; the tail (padding) is never read.
        order = jnp.argsort(jnp.where(mask > 0, jax.random.uniform(epoch_key, (size,)), 2.0))
        order = jnp.concatenate([order, jnp.zeros((chunk_size,), order.dtype)])

        def minibatch_step(carry, index):
            params, opt_state, stopped = carry
            start = index * minibatch_size
            stop = jnp.minimum(start + minibatch_size, count)
            taken = jnp.maximum(stop - start, 0)

            def chunk(chunk_index):
                """(gradient, metrics) of the chunk's rows, weighted by its share of the
                minibatch."""
                first = start + chunk_index * chunk_size
                rows = jax.lax.dynamic_slice(order, (first,), (chunk_size,))
                chunk_mask = (first + jnp.arange(chunk_size) < stop).astype(jnp.float32)
                minibatch = jax.tree.map(lambda x: x[rows], batch)
                (_, aux), grads = grad_fn(params, apply_fn, minibatch, chunk_mask, cfg)
                share = chunk_mask.sum() / jnp.maximum(taken, 1)
                return jax.tree.map(lambda part: share * part, (grads, aux))

            add_chunk = lambda index, totals: jax.tree.map(jnp.add, totals, chunk(index))
            chunks = -(-taken // chunk_size)
            grads, aux = jax.lax.fori_loop(1, chunks, add_chunk, chunk(0))
            stopped = _past_target_kl(stopped, aux.approx_kl, cfg)
            take = (taken > 0) & ~stopped
            if unguarded:
                params, opt_state = _step(optimizer, params, opt_state, grads)
            else:
                params, opt_state = _step_if(optimizer, params, opt_state, grads, take)
            return (params, opt_state, stopped), aux.replace(steps_taken=take.astype(jnp.float32))

        return jax.lax.scan(minibatch_step, carry, jnp.arange(cfg.num_minibatches))

    (params, opt_state, _), aux = jax.lax.scan(epoch, (params, opt_state, jnp.zeros((), bool)),
                                               jax.random.split(key, cfg.epochs))
    return params, opt_state, return_stats, _mean_over_steps(aux)


def grouped_ppo_update(params, opt_state, return_stats: RunningStats, batch: Batch,
                       learner: jax.Array, key: jax.Array, *, grouped_apply_fn: Callable,
                       optimizer: optax.GradientTransformation, cfg: PPOConfig):
    """`ppo_update` of K learners with stacked parameters, each on its own samples
    (`learner` [B]: the learner of each sample, K or more for none), at about the cost of one.

    Every learner sees the minibatches of one shared shuffle, restricted to its samples, which
    is `ppo_update` vmapped over K with one key (same per-learner statistics: each learner's
    minibatch sequence is a uniform shuffle of its samples either way). Within a minibatch the
    rows are sorted by learner and `grouped_apply_fn(params, obs, learner)` runs each through
    its own network once, instead of every network through every row. Advantages, return
    statistics, value targets and early stops (`cfg.target_kl`) are per learner; a learner
    without samples in a minibatch skips that step, so an idle one and its Adam state stay
    bit-identical.
    """
    num_learners = jax.tree.leaves(params)[0].shape[0]
    learner = jnp.minimum(learner, num_learners)
    owners = jnp.arange(num_learners)[:, None]
    masks = (learner[None, :] == owners).astype(jnp.float32)
    if cfg.normalize_returns:
        return_stats = jax.vmap(update_stats, in_axes=(0, None, 0))(
            return_stats, batch.returns[:, None], masks)
    own = lambda per_learner: jnp.take_along_axis(
        per_learner, jnp.minimum(learner, num_learners - 1)[None], axis=0)[0]
    batch = batch.replace(
        advantages=own(jax.vmap(normalize_advantages, in_axes=(None, 0))(batch.advantages,
                                                                          masks)),
        values=own(jax.vmap(normalize_value, in_axes=(0, None))(return_stats, batch.values)),
        returns=own(jax.vmap(critic_targets, in_axes=(0, None))(return_stats, batch.returns)))
    size = learner.shape[0]
    minibatch_size = -(-size // cfg.num_minibatches)
    tile_padding = -minibatch_size % num_tiles(num_learners)
    grad_fn = jax.value_and_grad(ppo_loss, has_aux=True)
    update = jax.vmap(optimizer.update)
    keep_idle = jax.vmap(where_tree)

    def minibatch_step(carry, indices):
        params, opt_state, stopped = carry
        indices = jnp.concatenate([indices, jnp.full((tile_padding,), size, indices.dtype)])
        in_range = indices < size
        owner = jnp.where(in_range, learner[jnp.where(in_range, indices, 0)], num_learners)
        order = group_order(owner, num_learners + 1)
        rows, owner = jnp.where(in_range, indices, 0)[order], owner[order]
        minibatch = jax.tree.map(lambda x: x[rows], batch)
        mb_masks = (owner[None, :] == owners).astype(jnp.float32)
        apply_fn = lambda p, obs: grouped_apply_fn(p, obs, owner)
        (_, aux), grads = grad_fn(params, apply_fn, minibatch, mb_masks, cfg)
        updates, new_opt_state = update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        stopped = _past_target_kl(stopped, aux.approx_kl, cfg)
        take = (mb_masks.sum(axis=1) > 0) & ~stopped
        params = keep_idle(take, new_params, params)
        opt_state = keep_idle(take, new_opt_state, opt_state)
        return (params, opt_state, stopped), aux.replace(steps_taken=take.astype(jnp.float32))

    carry = (params, opt_state, jnp.zeros((num_learners,), bool))
    (params, opt_state, _), metrics = _epochs(minibatch_step, carry, size, key, cfg)
    return params, opt_state, return_stats, metrics
