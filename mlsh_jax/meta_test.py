"""Meta-test (transfer): fresh tasks, frozen sub-policies, fresh masters trained alone.

This is how MLSH is judged (paper Fig. 4 and 7): the return per update while a new master
learns to use the shared sub-policies on tasks it has never seen.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from mlsh_jax.config import RunConfig
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import Learner, init_state
from mlsh_jax.train import make_chunk


def meta_test_config(config: RunConfig, num_tasks: int, updates: int, seed: int) -> RunConfig:
    """The training config turned into W'=updates master-only updates on num_tasks slots.

    With U=0 no slot is ever in the joint phase, so the sub-policies and their observation
    statistics stay frozen by construction.
    """
    return dataclasses.replace(config, num_slots=num_tasks, warmup_updates=updates,
                               joint_updates=0, stagger=False, total_updates=updates, seed=seed)


@dataclasses.dataclass(frozen=True)
class MetaTestResult:
    mean_return: list[float]       # per update, mean over tasks of the task's mean episode return
    standard_error: list[float]    # per update, across tasks
    tasks_with_episodes: list[int]  # per update, tasks that completed at least one episode


def meta_test(config: RunConfig, subpolicies: Learner, *, num_tasks: int, updates: int,
              seed: int) -> MetaTestResult:
    spec = MLSHSpec.build(meta_test_config(config, num_tasks, updates, seed))
    state = init_state(spec, jax.random.PRNGKey(seed)).replace(subpolicies=subpolicies)
    _, metrics = make_chunk(spec, updates)(state)
    sums = np.asarray(metrics.slot_return_sum, np.float64)       # [updates, tasks]
    counts = np.asarray(metrics.slot_episode_count, np.float64)
    means, errors, populated = [], [], []
    for update_sums, update_counts in zip(sums, counts):
        has = update_counts > 0
        per_task = update_sums[has] / update_counts[has]
        means.append(float(per_task.mean()) if has.any() else float("nan"))
        errors.append(float(per_task.std(ddof=1) / np.sqrt(has.sum())) if has.sum() > 1
                      else float("nan"))
        populated.append(int(has.sum()))
    return MetaTestResult(mean_return=means, standard_error=errors, tasks_with_episodes=populated)
