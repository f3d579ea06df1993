"""Meta-test (transfer): fresh tasks, and per task a learner that must adapt fast.

This is how MLSH is judged (paper Fig. 4 and 7): the return per update on tasks never seen in
training. MLSH: a fresh master per task learns to use the frozen sub-policies. Flat baselines:
per task, a copy of the shared policy (or a fresh policy for `scratch`) is trained on the task
alone. Seed index r is tested with key seed + r; all seeds run in one compiled program. The
tasks and their envs' first states depend only on (seed + r, task index), so every algorithm
is tested on the same tasks (`meta_test_tasks`).

Update u reports the episodes that started in it (`mlsh_jax.mlsh.EpisodeTotals`), so one
more update runs to finish update U's episodes; its own episodes are not reported. Updates run
one compiled call each, so a long meta-test (Brax: minutes per update) can report progress.

The tasks can be split over devices (`num_devices`): each task's learner is independent of the
others', so each device trains its share of them and only the metrics are gathered. On a
multi-core CPU with forced host devices this is what uses every core (`docs/distributed.md`).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from mlsh_jax.algorithms import meta_test_config
from mlsh_jax.config import ConfigError, RunConfig
from mlsh_jax.mlsh import EpisodeTotals
from mlsh_jax.sharding import SLOT_AXIS, place, slot_mesh, state_shardings
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import Learner, TrainerState, init_state, seed_keys
from mlsh_jax.train import make_chunk


@dataclasses.dataclass(frozen=True)
class MetaTestResult:
    """Curves over the meta-test updates; the error is across seeds when there are several
    (each seed's mean over tasks is one sample), else across tasks."""

    mean_return: list[float]         # per update, mean over seeds of each seed's pooled mean
                                     # over its tasks (`pooled_mean`)
    standard_error: list[float]      # per update
    error_over: str                  # "seeds" or "tasks"
    seed_mean_return: list[list[float]]  # [seed][update], pooled over that seed's tasks
    tasks_with_episodes: list[int]   # per update, (seed, task) pairs that finished an episode
                                     # started in it
    episode_end: dict[str, list[float | None]] = dataclasses.field(default_factory=dict)
    """Per env episode-end metric (e.g. the share of course episodes past the ceiling), per
    update: its mean over the episodes of every seed and task that started in the update."""
    by_task_type: TaskTypeCurves | None = None
    """The same per task type (e.g. walk and crawl tasks, whose `torso_x` have opposite
    signs); None for an env without discrete task types."""


@dataclasses.dataclass(frozen=True)
class TaskTypeCurves:
    """Per task type, per update: the mean return and episode-end metrics over the episodes of
    every seed's tasks of that type that started in the update (None where none did)."""

    tasks: list[int]                                    # (seed, task) pairs of each type
    mean_return: list[list[float | None]]               # [type][update]
    episode_end: dict[str, list[list[float | None]]]    # metric -> [type][update]


def meta_test_keys(seed: int, seeds: int, candidates: int = 1) -> tuple[jax.Array, jax.Array]:
    """[seeds] keys of the learners and [seeds] keys of the tasks: two streams of seed + r,
    so drawing the tasks never reuses a learner's randomness, whatever the algorithm.

    With `candidates`, the seeds are seed-major groups of a best-of-k run's candidates, and
    every candidate of seed r takes seed r's keys: the candidates of a seed meet the same tasks
    and fresh learners as its kept sub-policies do (a paired comparison)."""
    keys = jax.vmap(jax.random.split)(seed_keys(seed, seeds // candidates))
    keys = jnp.repeat(keys, candidates, axis=0)
    return keys[:, 0], keys[:, 1]


def meta_test_tasks(spec: MLSHSpec, task_keys: jax.Array, num_tasks: int):
    """[seeds, tasks] (task, first observations [E, ...], env states [E]): task t of a seed
    from fold_in(its task key, t) alone, so the same for every algorithm and every num_tasks
    (paired comparisons). Randomness after the first reset (env steps, later resets) comes
    from the learner's rollout keys and is not paired."""

    def one_task(task_key, index):
        k_task, k_reset = _task_and_reset_keys(task_key, index)
        task = spec.env.sample_task(k_task)
        reset = jax.vmap(spec.env.reset, in_axes=(0, None))
        obs, env_state = reset(jax.random.split(k_reset, spec.config.envs_per_slot), task)
        return task, obs, env_state

    per_seed = jax.vmap(one_task, in_axes=(None, 0))
    return jax.jit(jax.vmap(per_seed, in_axes=(0, None)))(task_keys, jnp.arange(num_tasks))


def _task_and_reset_keys(task_key: jax.Array, index: jax.Array) -> jax.Array:
    """Task `index`'s two keys, shared by `meta_test_tasks` and `meta_test_task_types` so that
    the types reported are those of the tasks run."""
    return jax.random.split(jax.random.fold_in(task_key, index))


def meta_test_task_types(spec: MLSHSpec, task_keys: jax.Array, num_tasks: int) -> np.ndarray:
    """[seeds, tasks] int type of each task `meta_test_tasks` draws from the same keys (no env
    reset: the tasks alone)."""

    def one_type(task_key, index):
        return spec.env.task_type(spec.env.sample_task(_task_and_reset_keys(task_key, index)[0]))

    per_seed = jax.vmap(one_type, in_axes=(None, 0))
    return np.asarray(jax.jit(jax.vmap(per_seed, in_axes=(0, None)))(task_keys,
                                                                      jnp.arange(num_tasks)))


def hierarchical_meta_test_state(spec: MLSHSpec, subpolicies: Learner, num_tasks: int,
                                 seed: int, candidates: int = 1) -> TrainerState:
    """[seeds] states, one slot per task, each with a fresh master over the frozen phi."""
    seeds = jax.tree.leaves(subpolicies)[0].shape[0]
    learner_keys, task_keys = meta_test_keys(seed, seeds, candidates)
    tasks = meta_test_tasks(spec, task_keys, num_tasks)
    state = jax.jit(jax.vmap(lambda key, start: init_state(spec, key, start)))(learner_keys,
                                                                               tasks)
    # A copy: the chunk donates its input, and the caller's sub-policies must stay usable.
    return state.replace(subpolicies=jax.tree.map(jnp.copy, subpolicies))


Progress = Callable[[int, int], None]
"""Called with (updates done, updates in all) after each meta-test update."""


def _no_progress(done: int, total: int) -> None:
    del done, total


def task_mesh(num_tasks: int, num_devices: int) -> Mesh:
    """The mesh over which a meta-test of `num_tasks` tasks splits them, num_tasks/num_devices
    per device; a ConfigError if the devices do not divide the tasks or do not exist."""
    if num_tasks % num_devices:
        raise ConfigError(f"num_devices={num_devices}: must divide the number of tasks "
                          f"({num_tasks})")
    return slot_mesh(num_devices)


def task_shardings(mesh: Mesh, state: TrainerState, hierarchical: bool) -> TrainerState:
    """The sharding of every leaf of a meta-test's state that splits its task axis (axis 1)
    over `mesh`. Hierarchical: the tasks are the slots, and phi (frozen) is replicated. Flat:
    every leaf is [seeds, tasks, ...], the policy included, since each task trains its own
    copy."""
    if hierarchical:
        return state_shardings(mesh, state)
    split = NamedSharding(mesh, PartitionSpec(None, SLOT_AXIS))
    return jax.tree.map(lambda _: split, state)


def run_updates(spec: MLSHSpec, state: TrainerState, updates: int, batch_dims: int,
                update_axis: int, progress: Progress, mesh: Mesh | None = None
                ) -> EpisodeTotals:
    """`updates` updates, one compiled call each: the episode totals stacked on
    `update_axis`. The same as one scan over all of them: the state carries every key and
    counter. With `mesh`, the tasks are split over its devices (`task_shardings`)."""
    shardings = None
    if mesh is not None:
        shardings = task_shardings(mesh, state, hierarchical=batch_dims == 1)
        state = place(state, shardings)
    step = make_chunk(spec, 1, batch_dims=batch_dims, shardings=shardings)
    parts = []
    for done in range(1, updates + 1):
        state, metrics = step(state)
        parts.append(jax.block_until_ready(metrics.slot_episodes))
        progress(done, updates)
    return jax.tree.map(lambda *each: jnp.concatenate(each, axis=update_axis), *parts)


def _hierarchical_episodes(spec: MLSHSpec, subpolicies: Learner, num_tasks: int,
                           updates: int, seed: int, candidates: int, progress: Progress,
                           mesh: Mesh | None) -> EpisodeTotals:
    """[seeds, updates, tasks] episode totals of fresh masters per task."""
    state = hierarchical_meta_test_state(spec, subpolicies, num_tasks, seed, candidates)
    return run_updates(spec, state, updates, batch_dims=1, update_axis=1, progress=progress,
                       mesh=mesh)


def flat_meta_test_state(spec: MLSHSpec, subpolicies: Learner | None, num_tasks: int,
                         seed: int, seeds: int, candidates: int = 1) -> TrainerState:
    """[seeds, tasks] 1-slot states, each task with its own flat learner: a copy of its seed's
    shared policy with its observation and return statistics and a fresh Adam state, or
    (scratch, None) a randomly initialised policy."""
    init_tasks = lambda key, starts: jax.vmap(lambda k, start: init_state(spec, k, start))(
        jax.random.split(key, num_tasks), starts)
    learner_keys, task_keys = meta_test_keys(seed, seeds, candidates)
    one_slot = jax.tree.map(lambda x: x[:, :, None], meta_test_tasks(spec, task_keys, num_tasks))
    state = jax.jit(jax.vmap(init_tasks))(learner_keys, one_slot)
    if subpolicies is None:
        return state
    per_task = lambda x: jnp.broadcast_to(x[:, None], (seeds, num_tasks) + x.shape[1:])
    fresh = state.subpolicies
    return state.replace(subpolicies=fresh.replace(
        params=jax.tree.map(per_task, subpolicies.params),
        obs_stats=jax.tree.map(per_task, subpolicies.obs_stats),
        return_stats=jax.tree.map(per_task, subpolicies.return_stats)))


def _flat_episodes(spec: MLSHSpec, subpolicies: Learner | None, num_tasks: int,
                   updates: int, seed: int, seeds: int, candidates: int,
                   progress: Progress, mesh: Mesh | None) -> EpisodeTotals:
    """The same for flat learners, one per task: a 1-slot run vmapped over seeds and tasks."""
    state = flat_meta_test_state(spec, subpolicies, num_tasks, seed, seeds, candidates)
    episodes = run_updates(spec, state, updates, batch_dims=2, update_axis=2,
                           progress=progress, mesh=mesh)
    # [R, T, U, 1, ...] -> [R, U, T, ...]
    return jax.tree.map(lambda x: jnp.moveaxis(x[:, :, :, 0], 1, 2), episodes)


def meta_test(config: RunConfig, subpolicies: Learner | None, *, num_tasks: int, updates: int,
              seed: int, progress: Progress = _no_progress,
              candidates: int = 1, num_devices: int = 1) -> MetaTestResult:
    """`subpolicies` carry a leading seed axis (as trained); None for `scratch`, which then
    runs `config.num_seeds` independent seeds. `progress` hears of each of the updates + 1
    updates run. `candidates`: the leading axis holds that many candidates of each seed,
    seed-major, each meeting its seed's tasks (`meta_test_keys`). `num_devices` > 1 splits
    the tasks over that many devices (`task_mesh`); the result is the one device's."""
    spec = MLSHSpec.build(meta_test_config(config, num_tasks, updates + 1, seed))
    mesh = task_mesh(num_tasks, num_devices) if num_devices > 1 else None
    if config.hierarchical:
        episodes = _hierarchical_episodes(spec, subpolicies, num_tasks, updates + 1, seed,
                                          candidates, progress, mesh)
    else:
        seeds = config.num_seeds if subpolicies is None else \
            jax.tree.leaves(subpolicies)[0].shape[0]
        episodes = _flat_episodes(spec, subpolicies, num_tasks, updates + 1, seed, seeds,
                                  candidates, progress, mesh)
    episodes = jax.tree.map(lambda x: np.asarray(x, np.float64), episodes)
    result = summarize_returns(episodes)
    names = spec.env.episode_end_metrics
    by_type = None
    if spec.env.num_task_types:
        seeds = episodes.started_here_count.shape[0]
        task_keys = meta_test_keys(seed, seeds, candidates)[1]
        by_type = task_type_curves(episodes, meta_test_task_types(spec, task_keys, num_tasks),
                                   spec.env.num_task_types, names)
    return dataclasses.replace(result, episode_end=episode_end_means(episodes, names),
                               by_task_type=by_type)


def episodes_by_start(episodes: EpisodeTotals) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[seeds, U, tasks] return sums and counts, and [seeds, U, tasks, M] episode-end sums, of
    the episodes started in updates 1..U, from totals over U + 1 updates: started and ended in
    u, plus ended in u + 1 but started before."""
    started = lambda here, before: here[:, :-1] + before[:, 1:]
    return (started(episodes.started_here_return, episodes.started_before_return),
            started(episodes.started_here_count, episodes.started_before_count),
            started(episodes.started_here_end, episodes.started_before_end))


def episode_end_means(episodes: EpisodeTotals,
                      names: tuple[str, ...]) -> dict[str, list[float | None]]:
    """Per metric, per update 1..U: its mean over the episodes of every seed and task that
    started in the update, from totals [seeds, U + 1, tasks] (the last update is the one run
    to finish update U's episodes). None where no episode started and ended."""
    every_task = np.ones(np.shape(episodes.started_here_count)[::2], bool)
    return _pooled_curves(episodes, names, every_task)[1]


def task_type_curves(episodes: EpisodeTotals, task_types: np.ndarray, num_types: int,
                     names: tuple[str, ...]) -> TaskTypeCurves:
    """Episodes [seeds, U + 1, tasks] pooled per task type ([seeds, tasks] `task_types`), as
    `episode_end_means` pools all of them."""
    curves = [_pooled_curves(episodes, names, task_types == task_type)
              for task_type in range(num_types)]
    return TaskTypeCurves(tasks=[int((task_types == task_type).sum())
                                 for task_type in range(num_types)],
                          mean_return=[returns for returns, _ in curves],
                          episode_end={name: [end[name] for _, end in curves] for name in names})


def _pooled_curves(episodes: EpisodeTotals, names: tuple[str, ...], chosen: np.ndarray
                   ) -> tuple[list[float | None], dict[str, list[float | None]]]:
    """Per update 1..U, the mean return and episode-end metrics of the episodes that started
    in it, pooled over the (seed, task) pairs `chosen` [seeds, tasks] (None where none did)."""
    sums, counts, ends = episodes_by_start(episodes)
    chosen = chosen[:, None, :]
    count = (counts * chosen).sum(axis=(0, 2))
    total = (sums * chosen).sum(axis=(0, 2))
    end_total = (ends * chosen[..., None]).sum(axis=(0, 2))  # [U, M]
    mean = lambda numerator, denominator: (float(numerator / denominator) if denominator
                                           else None)
    return ([mean(t, c) for t, c in zip(total, count)],
            {name: [mean(t, c) for t, c in zip(end_total[:, index], count)]
             for index, name in enumerate(names)})


def pooled_mean(sums: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """The mean return of all episodes over tasks [T] (sum of returns over sum of counts) and
    its standard error across tasks (the ratio estimator's linearisation): averaging each
    task's own mean would be biased by about one over the episodes per task."""
    total = counts.sum()
    if total == 0:
        return float("nan"), float("nan")
    mean = sums.sum() / total
    tasks = len(counts)
    if tasks < 2:
        return float(mean), float("nan")
    residuals = sums - mean * counts
    error = np.sqrt((residuals ** 2).sum() / (tasks * (tasks - 1))) / (total / tasks)
    return float(mean), float(error)


def summarize_returns(episodes: EpisodeTotals) -> MetaTestResult:
    """Curves over updates 1..U from episode totals [seeds, U + 1, tasks] (`episodes_by_start`):
    per seed and update, the mean return of the episodes started in the update over all its
    tasks (`pooled_mean`); the mean over seeds, with its error across seeds when there are
    several, else across tasks."""
    sums, counts, _ = episodes_by_start(episodes)
    seeds, updates = sums.shape[:2]
    pooled = np.asarray([[pooled_mean(sums[r, u], counts[r, u]) for u in range(updates)]
                         for r in range(seeds)])  # [seeds, updates, (mean, error)]
    seed_means = pooled[..., 0]
    means, errors = [], []
    for update in range(updates):
        if seeds > 1:
            samples = seed_means[:, update][np.isfinite(seed_means[:, update])]
            means.append(float(samples.mean()) if len(samples) else float("nan"))
            errors.append(float(samples.std(ddof=1) / np.sqrt(len(samples)))
                          if len(samples) > 1 else float("nan"))
        else:
            means.append(float(pooled[0, update, 0]))
            errors.append(float(pooled[0, update, 1]))
    has = counts > 0
    return MetaTestResult(mean_return=means, standard_error=errors,
                          error_over="seeds" if seeds > 1 else "tasks",
                          seed_mean_return=seed_means.tolist(),
                          tasks_with_episodes=[int(n) for n in has.sum(axis=(0, 2))])
