"""The trainer's state: explicit pytrees, vmapped over task slots where they belong to a slot."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

from mlsh_jax.networks import init_stacked
from mlsh_jax.normalization import RunningStats, init_return_stats, init_stats
from mlsh_jax.spec import MLSHSpec, finishing_ranks, initial_phases


@flax.struct.dataclass
class Learner:
    """Network parameters with their optimizer state, observation statistics and the
    statistics of their critic's value targets."""

    params: Any
    opt_state: Any
    obs_stats: RunningStats
    return_stats: RunningStats


@flax.struct.dataclass
class SlotState:
    """Everything that belongs to one task slot (leading axis S in `TrainerState.slots`)."""

    task: Any              # hidden task parameters of this slot
    master: Learner | None  # theta, its Adam state and obs statistics (None: flat baselines)
    phase_step: jax.Array  # updates done on the current task: 0 .. W+U-1 (negative during a
    #                        staggered slot's lengthened first warmup)
    env_state: Any         # [E] wrapped env states
    obs: jax.Array         # [E, obs] current observations


@flax.struct.dataclass
class TrainerState:
    slots: SlotState
    subpolicies: Learner   # params/opt_state/return_stats stacked over K; obs_stats shared
    key: jax.Array
    update_step: jax.Array


def select_slots(chosen: jax.Array, new, old):
    """Per-slot select over pytrees whose leaves have a leading slot axis."""

    def pick(n, o):
        return jnp.where(chosen.reshape(chosen.shape + (1,) * (n.ndim - 1)), n, o)

    return jax.tree.map(pick, new, old)


def _repeated(tree, count: int):
    """`count` copies of `tree` stacked along a new leading axis."""
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (count,) + x.shape), tree)


def fresh_masters(spec: MLSHSpec, key: jax.Array) -> Learner | None:
    """Newly initialised theta, Adam state, observation and return stats for every slot."""
    cfg = spec.config
    if not cfg.hierarchical:
        return None
    obs_size = spec.env.observation_size
    params = init_stacked(spec.master, key, cfg.num_slots, obs_size)
    return Learner(params=params, opt_state=jax.vmap(spec.master_optimizer.init)(params),
                   obs_stats=_repeated(init_stats(obs_size), cfg.num_slots),
                   return_stats=_repeated(init_return_stats(), cfg.num_slots))


def sample_tasks(spec: MLSHSpec, key: jax.Array):
    """One task per slot; with `balance_task_types`, the first S types of the deal that
    `next_tasks` continues: type (r + j) mod T, from a random r, for the slot that finishes
    j-th (`finishing_ranks`).
    """
    cfg = spec.config
    if not cfg.balance_task_types:
        return jax.vmap(spec.env.sample_task)(jax.random.split(key, cfg.num_slots))
    k_first, k_tasks = jax.random.split(key)
    first = jax.random.randint(k_first, (), 0, spec.env.num_task_types, jnp.int32)
    return _tasks_of_types(spec, k_tasks, first + jnp.asarray(finishing_ranks(cfg)))


def next_tasks(spec: MLSHSpec, key: jax.Array, tasks):
    """Each slot's next task, for the slots that finish their current one.

    With `balance_task_types` the types are dealt in turn, in the order in which the slots
    finish their tasks, which is the same in every cycle: the k-th task dealt has type
    (r + k) mod T, so a slot's next type is its current one plus S. At every update the slots
    then hold S consecutive tasks of the deal, every type in equal numbers (within one), and
    so do the slots in their joint phase at once, which finished their last tasks one after
    another; however few slots finish at once (Ant mazes: 6 slots, one at a time, 9 layouts).
    Without it every task is drawn anew.
    """
    if not spec.config.balance_task_types:
        return sample_tasks(spec, key)
    types = jax.vmap(spec.env.task_type)(tasks) + spec.config.num_slots
    return _tasks_of_types(spec, key, types)


def _tasks_of_types(spec: MLSHSpec, key: jax.Array, types: jax.Array):
    """[S] tasks, slot i's of type types[i] mod T (the rest of the task drawn uniformly)."""
    types = types % spec.env.num_task_types
    return jax.vmap(spec.env.sample_task_of_type)(
        jax.random.split(key, spec.config.num_slots), types)


def reset_envs(spec: MLSHSpec, key: jax.Array, tasks):
    """Reset E envs per slot on that slot's task: returns (obs [S,E,..], env_state)."""
    cfg = spec.config
    keys = jax.random.split(key, cfg.num_slots * cfg.envs_per_slot).reshape(
        cfg.num_slots, cfg.envs_per_slot, -1)
    reset_slot = jax.vmap(spec.env.reset, in_axes=(0, None))
    return jax.vmap(reset_slot)(keys, tasks)


def init_subpolicies(spec: MLSHSpec, key: jax.Array) -> Learner:
    """K stacked sub-policies: observation stats shared by the K, return stats one per critic."""
    obs_size = spec.env.observation_size
    count = spec.config.num_subpolicies
    params = init_stacked(spec.subpolicy, key, count, obs_size)
    return Learner(params=params, opt_state=jax.vmap(spec.sub_optimizer.init)(params),
                   obs_stats=init_stats(obs_size),
                   return_stats=_repeated(init_return_stats(), count))


def init_state(spec: MLSHSpec, key: jax.Array, start=None) -> TrainerState:
    """The state of one run (one seed) before its first update.

    `start` = (tasks, obs, env_state) puts the slots on given tasks and first env states (the
    paired meta-test's); otherwise they are drawn from `key`. The learners' keys are the same
    either way.
    """
    k_sub, k_master, k_task, k_reset, k_run = jax.random.split(key, 5)
    if start is None:
        tasks = sample_tasks(spec, k_task)
        obs, env_state = reset_envs(spec, k_reset, tasks)
    else:
        tasks, obs, env_state = start
    slots = SlotState(task=tasks, master=fresh_masters(spec, k_master),
                      phase_step=jnp.asarray(initial_phases(spec.config)), env_state=env_state,
                      obs=obs)
    return TrainerState(slots=slots, subpolicies=init_subpolicies(spec, k_sub), key=k_run,
                        update_step=jnp.zeros((), jnp.int32))


def seed_keys(seed: int, count: int) -> jax.Array:
    """[count] root keys: run r of a multi-seed run is the single run with seed + r."""
    return jnp.stack([jax.random.PRNGKey(seed + r) for r in range(count)])


def candidate_keys(seed: int, seeds: int, candidates: int) -> jax.Array:
    """[seeds * candidates] root keys, seed-major: candidate 0 of seed index r is the single
    run with seed + r (`seed_keys`), candidate j > 0 has j folded into that key."""
    return jnp.stack([key if j == 0 else jax.random.fold_in(key, j)
                      for key in seed_keys(seed, seeds) for j in range(candidates)])


def init_seeds(spec: MLSHSpec, candidates: int = 1) -> TrainerState:
    """States of all seeds (each with `candidates` candidates, seed-major) stacked along a
    leading axis (the axis `make_chunk` vmaps)."""
    cfg = spec.config
    keys = candidate_keys(cfg.seed, cfg.num_seeds, candidates)
    return jax.jit(jax.vmap(lambda key: init_state(spec, key)))(keys)
