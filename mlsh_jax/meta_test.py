"""Meta-test (transfer): fresh tasks, and per task a learner that must adapt fast.

This is how MLSH is judged (paper Fig. 4 and 7): the return per update on tasks never seen in
training. MLSH: a fresh master per task learns to use the frozen sub-policies. Flat baselines:
per task, a copy of the shared policy (or a fresh policy for `scratch`) is trained on the task
alone. Seed index r is tested with key seed + r (the tasks a single run with that seed would
meet); all seeds run in one compiled program.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from mlsh_jax.algorithms import meta_test_config
from mlsh_jax.config import RunConfig
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import Learner, TrainerState, init_state, seed_keys
from mlsh_jax.train import make_chunk


@dataclasses.dataclass(frozen=True)
class MetaTestResult:
    """Curves over the meta-test updates; the error is across seeds when there are several
    (each seed's mean over tasks is one sample), else across tasks."""

    mean_return: list[float]         # per update, mean over seeds and tasks
    standard_error: list[float]      # per update
    error_over: str                  # "seeds" or "tasks"
    seed_mean_return: list[list[float]]  # [seed][update], mean over that seed's tasks
    tasks_with_episodes: list[int]   # per update, (seed, task) pairs that ended an episode


def _hierarchical_returns(config: RunConfig, subpolicies: Learner, num_tasks: int, updates: int,
                          seed: int):
    """([seeds, updates, tasks] return sums, episode counts) of fresh masters per task."""
    spec = MLSHSpec.build(meta_test_config(config, num_tasks, updates, seed))
    seeds = jax.tree.leaves(subpolicies)[0].shape[0]
    state = jax.jit(jax.vmap(lambda key: init_state(spec, key)))(seed_keys(seed, seeds))
    # A copy: the chunk donates its input, and the caller's sub-policies must stay usable.
    state = state.replace(subpolicies=jax.tree.map(jnp.copy, subpolicies))
    _, metrics = make_chunk(spec, updates, batch_dims=1)(state)
    return metrics.slot_return_sum, metrics.slot_episode_count


def flat_meta_test_state(spec: MLSHSpec, subpolicies: Learner | None, num_tasks: int,
                         seed: int, seeds: int) -> TrainerState:
    """[seeds, tasks] 1-slot states, each task with its own flat learner: a copy of its seed's
    shared policy with its observation and return statistics and a fresh Adam state, or
    (scratch, None) a randomly initialised policy."""
    init_tasks = lambda key: jax.vmap(lambda k: init_state(spec, k))(
        jax.random.split(key, num_tasks))
    state = jax.jit(jax.vmap(init_tasks))(seed_keys(seed, seeds))
    if subpolicies is None:
        return state
    per_task = lambda x: jnp.broadcast_to(x[:, None], (seeds, num_tasks) + x.shape[1:])
    fresh = state.subpolicies
    return state.replace(subpolicies=fresh.replace(
        params=jax.tree.map(per_task, subpolicies.params),
        obs_stats=jax.tree.map(per_task, subpolicies.obs_stats),
        return_stats=jax.tree.map(per_task, subpolicies.return_stats)))


def _flat_returns(config: RunConfig, subpolicies: Learner | None, num_tasks: int, updates: int,
                  seed: int, seeds: int):
    """The same for flat learners, one per task: a 1-slot run vmapped over seeds and tasks."""
    spec = MLSHSpec.build(meta_test_config(config, num_tasks, updates, seed))
    state = flat_meta_test_state(spec, subpolicies, num_tasks, seed, seeds)
    _, metrics = make_chunk(spec, updates, batch_dims=2)(state)
    to_seed_update_task = lambda x: jnp.moveaxis(x[..., 0], 1, 2)  # [R, T, U, 1] -> [R, U, T]
    return (to_seed_update_task(metrics.slot_return_sum),
            to_seed_update_task(metrics.slot_episode_count))


def meta_test(config: RunConfig, subpolicies: Learner | None, *, num_tasks: int, updates: int,
              seed: int) -> MetaTestResult:
    """`subpolicies` carry a leading seed axis (as trained); None for `scratch`, which then
    runs `config.num_seeds` independent seeds."""
    if config.hierarchical:
        sums, counts = _hierarchical_returns(config, subpolicies, num_tasks, updates, seed)
    else:
        seeds = config.num_seeds if subpolicies is None else \
            jax.tree.leaves(subpolicies)[0].shape[0]
        sums, counts = _flat_returns(config, subpolicies, num_tasks, updates, seed, seeds)
    return summarize_returns(np.asarray(sums, np.float64), np.asarray(counts, np.float64))


def summarize_returns(sums: np.ndarray, counts: np.ndarray) -> MetaTestResult:
    """Curves from per-episode return sums and episode counts, both [seeds, updates, tasks]."""
    has = counts > 0
    per_task = np.where(has, sums / np.maximum(counts, 1.0), np.nan)
    task_totals = np.where(has, per_task, 0.0).sum(axis=2)
    seed_means = np.where(has.any(axis=2), task_totals / np.maximum(has.sum(axis=2), 1), np.nan)
    seeds = per_task.shape[0]
    means, errors = [], []
    for update in range(per_task.shape[1]):
        if seeds > 1:
            samples = seed_means[:, update]
        else:
            samples = per_task[0, update]
        samples = samples[np.isfinite(samples)]
        means.append(float(samples.mean()) if len(samples) else float("nan"))
        errors.append(float(samples.std(ddof=1) / np.sqrt(len(samples))) if len(samples) > 1
                      else float("nan"))
    return MetaTestResult(mean_return=means, standard_error=errors,
                          error_over="seeds" if seeds > 1 else "tasks",
                          seed_mean_return=seed_means.tolist(),
                          tasks_with_episodes=[int(n) for n in has.sum(axis=(0, 2))])
