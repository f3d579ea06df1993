"""The Humanoid combination course: walk, crawl under a ceiling over one hidden section of the
track, walk on (the paper's combination of Walk/Crawl). A transfer task for Walk/Crawl's
sub-policies:

    python -m experiments.run --config walk_crawl_course.py \\
        --config.init_subpolicies_from=runs/walk_crawl

As configured, masters and the transferred sub-policies keep learning (W=20, U=40);
`--config.joint_updates=0 --config.warmup_updates=60` freezes the sub-policies so only the
masters learn (the paper's "MLSH transfer"). Without a source the run learns from scratch.
Walk/Crawl's settings (walk_crawl.py: K=2, N=200, 1000-step episodes), so its exported
sub-policies fit.
"""

import dataclasses

from experiments.configs import walk_crawl
from mlsh_jax.config import RunConfig


def get_config() -> RunConfig:
    return dataclasses.replace(walk_crawl.get_config(), env="walk_crawl_course")
