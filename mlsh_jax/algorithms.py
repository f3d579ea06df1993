"""What each algorithm of `RunConfig.algorithm` trains and how it is meta-tested.

The baselines reuse MLSH's rollout and PPO code by changing only the schedule and the networks:
a flat policy is "MLSH without a master and with one sub-policy", trained in every update.

| algorithm      | meta-training                              | meta-test on a new task          |
|----------------|--------------------------------------------|----------------------------------|
| mlsh           | W master-only + U joint updates per task   | fresh master, phi frozen         |
| mlsh_no_warmup | W+U joint updates per task (no warmup)     | fresh master, phi frozen         |
| shared         | one flat policy on all tasks, every update | a copy of it fine-tuned per task |
| scratch        | none                                       | a fresh flat policy per task     |

At meta-test a flat policy is trained per task with `finetune_ppo` (standard PPO settings) and
a fresh Adam state; the shared policy also keeps its observation and return statistics.
"""

from __future__ import annotations

import dataclasses

from mlsh_jax.config import RunConfig


def training_config(config: RunConfig) -> RunConfig:
    """The config as the compiled program runs it (idempotent).

    The task cycle keeps its length W+U for every algorithm, so tasks change at the same rate.
    """
    if config.algorithm == "mlsh":
        return config
    cycle = config.cycle_length
    if config.algorithm == "mlsh_no_warmup":
        return dataclasses.replace(config, warmup_updates=0, joint_updates=cycle)
    return dataclasses.replace(config, num_subpolicies=1, warmup_updates=0, joint_updates=cycle)


def meta_test_config(config: RunConfig, num_tasks: int, updates: int, seed: int) -> RunConfig:
    """The training config turned into its meta-test: `updates` updates on new tasks.

    Hierarchical: num_tasks slots, W'=updates master-only updates and U=0, so no slot is ever
    joint and phi with its observation statistics stays frozen by construction (and no check
    of alike sub-policies restarts one).
    Flat: one slot whose single policy trains every update (`meta_test` vmaps it over tasks,
    each task with its own copy of the policy). num_devices is 1 whatever the trained run's:
    `meta_test` splits the tasks over devices itself (its `num_devices`), because the flat
    meta-test's tasks are not slots.
    """
    common = dict(total_updates=updates, stagger=False, seed=seed, num_seeds=1, num_devices=1,
                  candidates=1, reinit_alike_updates=())
    if config.hierarchical:
        return dataclasses.replace(config, algorithm="mlsh", num_slots=num_tasks,
                                   warmup_updates=updates, joint_updates=0, **common)
    return dataclasses.replace(config, num_slots=1, warmup_updates=0, joint_updates=updates,
                               sub_ppo=config.finetune_ppo, **common)
