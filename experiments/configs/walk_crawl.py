"""Humanoid Walk/Crawl as the original code defines it (`walk_crawl`): walk forward upright
(5 + 1.25 per m/s while the torso is at 1.0 m or higher; a fall below ends the episode), or
crawl backward under a solid box whose underside is 1.0 m above the floor (7.5 per m/s going
back, no alive bonus, no termination). No posture serves both, so the two sub-policies have
two skills to learn.

K=2, N=200, W=20, U=40 and 1000-step episodes as the paper's (Twowalk's settings, twowalk.py).
Budget: 4 slots x 8 envs x 1000 steps = 32k env steps per update, half of Twowalk's, because
with every body part in contact the Humanoid steps 3.5-4.5x slower than with feet-only contacts
(docs/environments.md). `python -m experiments.run --config walk_crawl.py` on a 2-core CPU
(2026-12-05, commit 2956a5d) logged 0.9-1.1k env steps/s over updates 21-45, 32 s per
update: about 5 h for 600. Extend a run by resuming it
with a larger `--config.total_updates`; the paper's 240k per update is
`--config.num_slots=10 --config.envs_per_slot=24`.
"""

import dataclasses

from experiments.configs import twowalk
from mlsh_jax.config import RunConfig


def get_config() -> RunConfig:
    return dataclasses.replace(twowalk.get_config(), env="walk_crawl", envs_per_slot=8)
