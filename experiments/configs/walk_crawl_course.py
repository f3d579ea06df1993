"""The Humanoid combination course as the original code defines it (`walk_crawl_course`): one
fixed 3000-step course, walk forward until the torso passes x = 25 m, then crawl back under a
solid 1.0-m box over x in [0.5, 23.5]. A transfer task for Walk/Crawl's sub-policies
(walk_crawl.py), which observe the same function of the physics state:

    python -m experiments.run --config walk_crawl_course.py --workdir runs/wcc \\
        --config.init_subpolicies_from=runs/walk_crawl --config.warmup_updates=60 \\
        --config.joint_updates=0 --config.total_updates=0
    python -m experiments.evaluate --workdir runs/wcc --tasks 8 --updates 30

That freezes the sub-policies so only fresh masters learn (the paper's "MLSH transfer"); as
configured, masters and sub-policies keep learning (W=20, U=40). Without a source the run
learns from scratch (`--config.algorithm=scratch` for flat PPO). K=2, N=200 as Walk/Crawl's, so
its exported sub-policies fit; 15 master decisions per episode. The course is the same in every
task, so the slots are independent masters on it.

Budget: 4 slots x 4 envs x 3000 steps = 48k env steps per update, each episode collected whole:
44-53 s per update at the 0.9-1.1k steps/s a Walk/Crawl run logged (walk_crawl.py), about
45-55 min for 60 master-only updates.
"""

import dataclasses

from experiments.configs import walk_crawl
from mlsh_jax.config import RunConfig


def get_config() -> RunConfig:
    return dataclasses.replace(walk_crawl.get_config(), env="walk_crawl_course",
                               rollout_steps=3000, envs_per_slot=4)
