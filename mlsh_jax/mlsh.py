"""One MLSH update for all task slots: rollout -> theta update -> masked phi update -> phases.

Each stage is a pure function of explicit state; `mlsh_update` composes them in the order the
algorithm reads. Warmup slots (phase < W) train theta only; joint slots (phase >= W) also
contribute their steps to the shared sub-policies' update.

Every learner (masters, sub-policies, flat learners) first merges its batch into its
observation and return statistics, then takes its PPO steps on the batch normalised by them, as
the original's PPO and Brax's do: a fresh learner's first update then sees its inputs
normalised, not raw values clipped to +-observation_clip.
"""

from __future__ import annotations

import functools

import flax.struct
import jax
import jax.numpy as jnp

from mlsh_jax.alike import pairwise_distances, reinitialise, to_reinitialise
from mlsh_jax.distributions import epsilon_mixture
from mlsh_jax.gae import compact_macros, macro_advantages, step_advantages
from mlsh_jax.grouped import grouped_apply
from mlsh_jax.networks import select_subpolicy
from mlsh_jax.normalization import normalize, update_stats
from mlsh_jax.ppo import Batch, PPOMetrics, grouped_ppo_update, sparse_ppo_update, zero_metrics
from mlsh_jax.rollout import Trajectory, anywhere, rollout, subpolicy_observation
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import Learner, SlotState, TrainerState, fresh_masters, next_tasks, \
    reset_envs, select_slots


@flax.struct.dataclass
class EpisodeTotals:
    """Return sums and counts of the episodes that ended in an update, split by the update
    they started in.

    Averaging the episodes that merely ended in a rollout over-counts short ones whenever
    envs start aligned (meta-test update 1, a slot's restart): they are the ones that fit.
    Attributing each episode to the update it started in is unbiased (Wald's identity): the
    episodes started in update u are `started_here` of u plus `started_before` of u + 1,
    exactly when the rollout covers an episode (D >= episode length). With D < L an episode
    spans several updates and counts toward the update before the one it ended in. The env's
    episode-end metrics (a fall, a section passed) are split the same way.
    """

    started_here_return: jax.Array    # started and ended in this update
    started_here_count: jax.Array
    started_before_return: jax.Array  # ended in this update, started in an earlier one
    started_before_count: jax.Array
    started_here_end: jax.Array       # [..., M] env.episode_end_metrics summed, split alike
    started_before_end: jax.Array


@flax.struct.dataclass
class UpdateMetrics:
    """Per-update statistics; per-slot arrays let evaluation compute errors across tasks."""

    slot_episodes: EpisodeTotals    # [S] leaves ([S, M] for the episode-end metrics)
    slot_task_type: jax.Array       # [S] env.task_type of each slot's task (0 if not discrete)
    joint_fraction: jax.Array       # share of slots in the joint phase during this update
    subpolicy_usage: jax.Array      # [K] share of master decisions choosing each sub-policy
    decisions_by_task_type: jax.Array  # [env.num_task_types, K] decisions per task type and z
    master: PPOMetrics              # averaged over slots
    subpolicy: PPOMetrics           # averaged over sub-policies that took a step
    subpolicy_steps: jax.Array      # [K] optimizer steps each sub-policy took
    macro_overflow: jax.Array       # decisions dropped for lack of capacity (always 0)
    alike_checked: jax.Array        # whether alike sub-policies were looked for after this update
    subpolicy_distance: jax.Array   # [K, K] how differently they act, where checked (else 0)
    subpolicy_reinitialised: jax.Array  # [K] bool: re-initialised after this update


@flax.struct.dataclass
class AlikeCheck:
    """What `reinit_alike` found after one update."""

    checked: jax.Array        # whether alike sub-policies were looked for
    distance: jax.Array       # [K, K] mean Hellinger distances where checked (else 0)
    reinitialised: jax.Array  # [K] bool


def _time_last(x: jax.Array) -> jax.Array:
    """[D, S, E, ...] -> [S, E, D, ...]."""
    return jnp.moveaxis(x, 0, 2)


def _master_apply(spec: MLSHSpec):
    def apply(params, obs):
        dist, value = spec.master.apply(params, obs)
        return epsilon_mixture(dist.logits, spec.config.master_epsilon), value

    return apply


def update_masters(spec: MLSHSpec, masters: Learner, traj: Trajectory, key: jax.Array):
    """PPO on each slot's macro transitions (1/N timescale), every slot its own theta, at a
    cost set by the decisions made, not by the macro lists' capacity (`sparse_ppo_update`).
    Every env decides at the rollout's first step, so a slot has at least E decisions."""
    cfg = spec.config
    compact = jax.vmap(jax.vmap(compact_macros, in_axes=(0,) * 5 + (None,)),
                       in_axes=(0,) * 5 + (None,))
    macros = compact(*map(_time_last, (traj.decision, traj.reward, traj.done, traj.truncated,
                                       traj.final_master_value)), spec.macro_capacity)

    def at_decisions(x):
        x = _time_last(x)
        index = macros.start.reshape(macros.start.shape + (1,) * (x.ndim - 3))
        return jnp.take_along_axis(x, index, axis=2)

    values = at_decisions(traj.master_value)
    advantages, returns = jax.vmap(jax.vmap(
        lambda m, v, last: macro_advantages(m, v, last, cfg.master_ppo.gamma,
                                            cfg.master_ppo.gae_lambda)))(
        macros, values, traj.last_master_value)
    raw_obs = at_decisions(traj.obs)

    def one_slot(learner: Learner, obs, z, log_probs, values, advantages, returns, valid, k):
        flat = lambda x: x.reshape((-1,) + x.shape[2:])
        stats = update_stats(learner.obs_stats, obs, valid)
        normed = normalize(stats, obs, cfg.observation_clip, cfg.normalize_observations)
        if cfg.master_ppo.recompute_old_log_probs:
            log_probs = _master_apply(spec)(learner.params, normed)[0].log_prob(z)
        batch = Batch(obs=flat(normed), actions=flat(z), log_probs=flat(log_probs),
                      values=flat(values), advantages=flat(advantages), returns=flat(returns))
        params, opt_state, return_stats, metrics = sparse_ppo_update(
            learner.params, learner.opt_state, learner.return_stats, batch, flat(valid), k,
            apply_fn=_master_apply(spec), optimizer=spec.master_optimizer, cfg=cfg.master_ppo,
            chunk_size=spec.master_chunk_size, min_selected=cfg.envs_per_slot)
        return Learner(params=params, opt_state=opt_state, obs_stats=stats,
                       return_stats=return_stats), metrics

    masters, metrics = jax.vmap(one_slot)(
        masters, raw_obs, at_decisions(traj.subpolicy), at_decisions(traj.master_log_prob),
        values, advantages, returns, macros.valid, jax.random.split(key, cfg.num_slots))
    return masters, jax.tree.map(jnp.mean, metrics), macros.overflow.sum()


def _own_log_probs(module, stacked_params, obs, actions, learner):
    """Each row's log-probability under its own network of the K stacked ones (rows of no
    learner, `learner` >= K, get the last network's: they are masked out of every loss)."""
    per_network = jax.vmap(lambda p: module.apply(p, obs)[0].log_prob(actions))(stacked_params)
    return select_subpolicy(per_network, jnp.minimum(learner, per_network.shape[0] - 1))


def update_subpolicies(spec: MLSHSpec, subpolicies: Learner, phase_step: jax.Array,
                       traj: Trajectory, key: jax.Array):
    """PPO for the K shared sub-policies on the joint-phase slots' steps.

    The joint slots are gathered into a static-size batch (`spec.joint_capacity`), so warmup
    slots cost nothing here. Sub-policy k learns only from the steps where z == k, each step
    run through its own sub-policy only (`grouped_ppo_update`).
    """
    cfg = spec.config
    is_joint = phase_step >= cfg.warmup_updates
    (joint_index,) = jnp.nonzero(is_joint, size=spec.joint_capacity, fill_value=0)
    slot_valid = jnp.arange(spec.joint_capacity) < is_joint.sum()
    take = lambda x: jnp.take(x, joint_index, axis=1)
    step_valid = jnp.broadcast_to(slot_valid[None, :, None], traj.reward.shape[:1] + (
        spec.joint_capacity, cfg.envs_per_slot))

    advantages, returns = step_advantages(
        take(traj.reward), take(traj.value), take(traj.done), take(traj.truncated),
        take(traj.final_value), traj.last_value[joint_index], cfg.sub_ppo.gamma,
        cfg.sub_ppo.gae_lambda)
    raw_obs = subpolicy_observation(spec, take(traj.obs), take(traj.macro_origin))
    stats = update_stats(subpolicies.obs_stats, raw_obs, step_valid)
    normed = normalize(stats, raw_obs, cfg.observation_clip, cfg.normalize_observations)
    flat = lambda x: x.reshape((-1,) + x.shape[3:])
    learner = jnp.where(flat(step_valid), flat(take(traj.subpolicy)), cfg.num_subpolicies)
    log_probs = flat(take(traj.log_prob))
    if cfg.sub_ppo.recompute_old_log_probs:
        log_probs = _own_log_probs(spec.subpolicy, subpolicies.params, flat(normed),
                                   flat(take(traj.action)), learner)
    batch = Batch(obs=flat(normed), actions=flat(take(traj.action)), log_probs=log_probs,
                  values=flat(take(traj.value)), advantages=flat(advantages),
                  returns=flat(returns))
    params, opt_state, return_stats, metrics = grouped_ppo_update(
        subpolicies.params, subpolicies.opt_state, subpolicies.return_stats, batch, learner, key,
        grouped_apply_fn=functools.partial(grouped_apply, spec.subpolicy),
        optimizer=spec.sub_optimizer, cfg=cfg.sub_ppo)
    return Learner(params=params, opt_state=opt_state, obs_stats=stats,
                   return_stats=return_stats), metrics


def advance_phases(spec: MLSHSpec, slots: SlotState, key: jax.Array,
                   run_axes: tuple[str, ...] = ()) -> SlotState:
    """Count the update; a slot that finished W+U updates gets a new task, fresh theta
    (with fresh Adam state, observation and return stats) and freshly reset envs.

    The new tasks, masters and env resets are computed only in an update where some slot of
    some run (`run_axes`, as in `rollout`) finishes: each slot does once per W+U updates, so
    with S staggered slots min(S, W+U) of every W+U updates pay for it (on Brax Ant, 8 slots,
    W+U = 60: 1.6 ms of an 83-ms update, docs/benchmarks.md)."""
    k_task, k_master, k_reset = jax.random.split(key, 3)
    phase = slots.phase_step + 1
    finished = phase >= spec.config.cycle_length
    counted = slots.replace(phase_step=phase)

    def restart() -> SlotState:
        tasks = next_tasks(spec, k_task, slots.task)
        obs, env_state = reset_envs(spec, k_reset, tasks)
        restarted = SlotState(task=tasks, master=fresh_masters(spec, k_master),
                              phase_step=jnp.zeros_like(phase), env_state=env_state, obs=obs)
        return select_slots(finished, restarted, counted)

    return jax.lax.cond(anywhere(finished, run_axes), restart, lambda: counted)


def reinit_alike(spec: MLSHSpec, subpolicies: Learner, traj: Trajectory, done: jax.Array,
                 key: jax.Array, run_axes: tuple[str, ...] = ()
                 ) -> tuple[Learner, AlikeCheck]:
    """After update `done` in `reinit_alike_updates`, the sub-policies with the later of each
    alike pair re-initialised (`mlsh_jax.alike`); otherwise unchanged. The states compared are
    the update's rollout's, normalised with the statistics that already hold the update's
    batch, i.e. as the sub-policies will see them in the next rollout."""
    cfg = spec.config
    count = cfg.num_subpolicies
    skip = lambda: (subpolicies, AlikeCheck(checked=jnp.zeros((), bool),
                                            distance=jnp.zeros((count, count)),
                                            reinitialised=jnp.zeros((count,), bool)))
    if not cfg.reinit_alike_updates or count < 2:
        return skip()
    due = (jnp.asarray(cfg.reinit_alike_updates) == done).any()

    def check():
        seen = subpolicy_observation(spec, traj.obs, traj.macro_origin)
        distances = pairwise_distances(spec, subpolicies, seen)
        restart = to_reinitialise(distances, cfg.alike_threshold) & due
        return reinitialise(spec, subpolicies, restart, key), AlikeCheck(
            checked=due, distance=jnp.where(due, distances, 0.0), reinitialised=restart)

    return jax.lax.cond(anywhere(due, run_axes), check, skip)


def mlsh_update(spec: MLSHSpec, state: TrainerState, run_axes: tuple[str, ...] = ()
                ) -> tuple[TrainerState, UpdateMetrics]:
    """One update; `run_axes` names the enclosing `vmap` axes over runs (`rollout`)."""
    cfg = spec.config
    key, k_roll, k_master, k_sub, k_phase = jax.random.split(state.key, 5)
    slots, traj = rollout(spec, state.slots, state.subpolicies, k_roll, run_axes)
    if cfg.hierarchical:
        masters, master_metrics, overflow = update_masters(spec, slots.master, traj, k_master)
    else:
        masters, master_metrics = None, zero_metrics()
        overflow = jnp.zeros((), jnp.int32)
    if spec.joint_capacity > 0:
        subpolicies, sub_metrics = update_subpolicies(spec, state.subpolicies, slots.phase_step,
                                                      traj, k_sub)
    else:
        subpolicies, sub_metrics = state.subpolicies, zero_metrics((cfg.num_subpolicies,))
    # A key of its own: `state.key` is split in 5 above and `fold_in` derives a key distinct
    # from those five (with jax's default partitionable threefry it is `split(key, 6)[5]`).
    subpolicies, alike = reinit_alike(spec, subpolicies, traj, state.update_step + 1,
                                      jax.random.fold_in(state.key, 5), run_axes)
    metrics = summarize(spec, slots, traj, master_metrics, sub_metrics, overflow, alike)
    slots = advance_phases(spec, slots.replace(master=masters), k_phase, run_axes)
    return TrainerState(slots=slots, subpolicies=subpolicies, key=key,
                        update_step=state.update_step + 1), metrics


def episode_totals(traj: Trajectory) -> EpisodeTotals:
    """Per slot: an episode that ended at step t (0-based) after l steps started in this
    rollout iff t + 1 - l >= 0."""
    ended = traj.done.astype(jnp.float32)
    steps_done = jnp.arange(1, ended.shape[0] + 1).reshape((-1,) + (1,) * (ended.ndim - 1))
    started_here = ended * (traj.episode_length <= steps_done)
    started_before = ended - started_here
    per_slot = lambda x: x.sum(axis=(0, 2))
    return EpisodeTotals(
        started_here_return=per_slot(traj.episode_return * started_here),
        started_here_count=per_slot(started_here),
        started_before_return=per_slot(traj.episode_return * started_before),
        started_before_count=per_slot(started_before),
        started_here_end=per_slot(traj.episode_end * started_here[..., None]),
        started_before_end=per_slot(traj.episode_end * started_before[..., None]))


def summarize(spec: MLSHSpec, slots: SlotState, traj: Trajectory, master_metrics: PPOMetrics,
              sub_metrics: PPOMetrics, overflow, alike: AlikeCheck) -> UpdateMetrics:
    cfg = spec.config
    decisions = traj.decision.astype(jnp.float32)
    chosen = jax.nn.one_hot(traj.subpolicy, cfg.num_subpolicies) * decisions[..., None]
    slot_chosen = chosen.sum(axis=(0, 2))  # [S, K]
    if spec.env.num_task_types:
        types = jax.vmap(spec.env.task_type)(slots.task)
        by_type = jax.nn.one_hot(types, spec.env.num_task_types).T @ slot_chosen
    else:
        types = jnp.zeros((cfg.num_slots,), jnp.int32)
        by_type = jnp.zeros((0, cfg.num_subpolicies), jnp.float32)
    steps = sub_metrics.steps_taken
    weight = steps / jnp.maximum(steps.sum(), 1.0)
    return UpdateMetrics(
        slot_episodes=episode_totals(traj),
        slot_task_type=types,
        joint_fraction=(slots.phase_step >= cfg.warmup_updates).mean(),
        subpolicy_usage=slot_chosen.sum(axis=0) / jnp.maximum(decisions.sum(), 1.0),
        decisions_by_task_type=by_type,
        master=master_metrics,
        subpolicy=jax.tree.map(lambda x: (x * weight).sum(), sub_metrics),
        subpolicy_steps=steps,
        macro_overflow=overflow,
        alike_checked=alike.checked,
        subpolicy_distance=alike.distance,
        subpolicy_reinitialised=alike.reinitialised,
    )
