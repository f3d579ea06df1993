"""Small Ant mazes (`ant_maze_small`): the Ant must reach the goal of a hidden wall layout
(envs.ant.MAZE_LAYOUTS), 6 m away; the mazes of the paper's scale are ant_maze.py.

Twowalk's settings (twowalk.py: N=200, W=20, U=40, 1000-step episodes, one episode per env and
update, PPO) with K=3 (docs/design.md: mazes K 3+) and 6 slots (two per layout on average; 96k env
steps per update). The paper solved the mazes with sub-policies learned on Twowalk: start from
them with `--config.init_subpolicies_from=RUN` (K=2 Twowalk skills fill sub-policies 0 and 1,
the third starts random), and add `--config.joint_updates=0 --config.warmup_updates=60` to keep
them frozen so only the masters learn.
"""

import dataclasses

from experiments.configs import twowalk
from mlsh_jax.config import RunConfig


def get_config() -> RunConfig:
    return dataclasses.replace(twowalk.get_config(), env="ant_maze_small", num_subpolicies=3,
                               num_slots=6)
