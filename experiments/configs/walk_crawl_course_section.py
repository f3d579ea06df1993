"""The earlier Humanoid combination course (`walk_crawl_course_section`): walk, crawl under a
virtual ceiling over one hidden section of the track, walk on. A transfer task for
walk_crawl_forward's sub-policies (such as pretrained/walk_crawl_forward):

    python -m experiments.run --config walk_crawl_course_section.py \\
        --config.init_subpolicies_from=runs/walk_crawl_forward

As configured, masters and the transferred sub-policies keep learning (W=20, U=40);
`--config.joint_updates=0 --config.warmup_updates=60` freezes the sub-policies so only the
masters learn (the paper's "MLSH transfer"). Without a source the run learns from scratch.
walk_crawl_forward's settings (walk_crawl_forward.py: K=2, N=200, 1000-step episodes), so its
exported sub-policies fit. `walk_crawl_course.py` is the original code's course.
"""

import dataclasses

from experiments.configs import walk_crawl_forward
from mlsh_jax.config import RunConfig


def get_config() -> RunConfig:
    return dataclasses.replace(walk_crawl_forward.get_config(), env="walk_crawl_course_section")
