"""Humanoid Walk/Crawl, this project's earlier variant (`walk_crawl_forward`): go forward
upright on an open floor, or forward under a hidden virtual ceiling at 1.25 m. The shipped
`pretrained/walk_crawl_forward` sub-policies were trained with it; `walk_crawl.py` is the original
code's task.

Twowalk's settings (twowalk.py), which are the paper's for Walk/Crawl too (docs/design.md: K=2,
N=200, W=20, U=40, 1000-step episodes). Sub-policies are diagonal Gaussians over the 17
actuators (actions clipped to [-1, 1], scaled to the actuators' range by the env). The Humanoid
steps more slowly than the Ant (8,366 against 13,353 env steps/s at batch 128 on `spring`,
docs/benchmarks.md, "Brax physics backends"), so runs here are short; the paper trained on a
cluster.
"""

import dataclasses

from experiments.configs import twowalk
from mlsh_jax.config import RunConfig


def get_config() -> RunConfig:
    return dataclasses.replace(twowalk.get_config(), env="walk_crawl_forward")
