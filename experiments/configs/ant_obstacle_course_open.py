"""The open-ground Ant obstacle course (`ant_obstacle_course_open`) with a sparse reward (1 per
step inside a 1-m goal region): a transfer task. The course of the paper's scale is
ant_obstacle_course.py.

Meant to start from sub-policies trained elsewhere, e.g. Twowalk's:

    python -m experiments.run --config ant_obstacle_course_open.py \\
        --config.init_subpolicies_from=runs/twowalk

(K=2 Twowalk skills fill sub-policies 0 and 1, the third starts random). As configured, masters
and sub-policies keep learning (W=20, U=40); `--config.joint_updates=0
--config.warmup_updates=60` freezes the transferred sub-policies so only the masters learn.
Twowalk's skills, trained seeing world positions, are walks to Twowalk's targets;
`--config.subpolicies_see_relative_position=true` shows them positions relative to their
macro-action's start, with which they walk one way from anywhere (docs/results.md).
Without a source the run learns from scratch, which the sparse reward makes hopeless (the paper:
PPO 0, MLSH transfer 193). Twowalk's settings (twowalk.py) with the paper's K=3 for the course
(docs/design.md) and its 2000-step episode, collected whole each update by 4 slots x 8 envs.
"""

import dataclasses

from experiments.configs import twowalk
from mlsh_jax.config import RunConfig


def get_config() -> RunConfig:
    return dataclasses.replace(twowalk.get_config(), env="ant_obstacle_course_open",
                               num_subpolicies=3, rollout_steps=2000, envs_per_slot=8)
