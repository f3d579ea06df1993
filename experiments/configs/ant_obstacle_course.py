"""The sparse Ant obstacle course (`ant_obstacle_course`, envs.ant_arenas.AntWalledCourse):
transfer of the mazes' sub-policies (ant_maze.py) to one fixed 80-m course, reward 1 per step
in the goal region, 3000-step episodes (the paper: PPO 0, MLSH transfer 193 steps in the region).

    python -m experiments.run --config ant_obstacle_course.py --workdir runs/course \\
        --config.init_subpolicies_from=runs/maze --config.warmup_updates=60 \\
        --config.joint_updates=0 --config.total_updates=0
    python -m experiments.evaluate --workdir runs/course --tasks 8 --updates 30

K=3 as the mazes' (all three sub-policies come from there; the original code could only load a
source of the same K), N=200 (15 master decisions per episode), W=20, U=40 as the paper's Ant
experiments. The course is the same in every task, so the slots are independent masters on it.
Without a source the run learns from scratch (`--config.algorithm=scratch` for flat PPO).

Budget: 4 slots x 4 envs x 3000 steps = 48k env steps per update, each episode collected whole;
the paper's 240k per update is `--config.num_slots=10 --config.envs_per_slot=8`.
"""

import dataclasses

from experiments.configs import twowalk
from mlsh_jax.config import RunConfig


def get_config() -> RunConfig:
    return dataclasses.replace(twowalk.get_config(), env="ant_obstacle_course",
                               num_subpolicies=3, rollout_steps=3000, envs_per_slot=4)
