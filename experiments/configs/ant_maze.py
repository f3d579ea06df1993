"""Ant mazes (`ant_maze`, envs.ant_arenas.AntMazes): MLSH meta-training over the paper's
distribution of mazes, nine block layouts in a 48-m arena, each with its goal; the sub-policies
it learns are the ones the obstacle course reuses (ant_obstacle_course.py), as in the paper,
whose Ant primitives came from mazes.

K=3, N=200, W=20, U=40 and the 1000-step episode are the paper's (docs/design.md: mazes K 3+);
N = 200 steps is 5 s at the mazes' 0.025 s per step, as in the original code. PPO settings are
twowalk.py's (sub-policy learning rate 3e-4), one whole episode per env and update.
`balance_task_types` deals the layouts to the slots in turn, so that the slots training phi
together see different mazes rather than a chance majority of one.

Budget: 6 slots x 16 envs x 1000 steps = 96k env steps per update. A maze step costs about two
Twowalk steps of the raw physics (`python -m benchmarks.ant_arenas`, docs/environments.md), but
is half as long (0.025 s). 600 updates (57.6M env steps) took 1 h 33 min on the 2-core CPU with
the slots split over two forced host devices
(`XLA_FLAGS=--xla_force_host_platform_device_count=2` and `--config.num_devices=2`;
pretrained/ant_maze holds that run's sub-policies). `total_updates` is a start, not the paper's
budget (240k env steps per update: `--config.num_slots=10 --config.envs_per_slot=24`); extend a
run by resuming it with a larger `--config.total_updates`.
"""

import dataclasses

from experiments.configs import twowalk
from mlsh_jax.config import RunConfig


def get_config() -> RunConfig:
    return dataclasses.replace(twowalk.get_config(), env="ant_maze", num_subpolicies=3,
                               num_slots=6, envs_per_slot=16, balance_task_types=True)
