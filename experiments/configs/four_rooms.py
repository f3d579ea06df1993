"""Four Rooms as in the MLSH paper.

K, N, W, U and the 100-step episode are the paper's (docs/design.md, "Hyper-parameters"), and so
is the fixed start: the paper's agent "starts at a specific spot" (here the top-left room's
corner) with a goal cell drawn from all 104 free cells. From a fixed start a random walk
reaches most goals rarely (the median goal in 10 % of 100-step episodes, the farthest in
0.6 %), so skills that cross the rooms pay off; from random starts every goal is reached by
chance in 16-31 % of episodes, and flat PPO learns each goal too fast for MLSH to help (see
docs/results.md). The sub-policy learning rate 1e-4 lies between the original code's 3e-5
(with random starts the four sub-policies were still alike after 200 updates) and the paper's
3e-4 (near-deterministic sub-policies by update 100, and one seed of two collapsed). Slots,
envs per slot and total_updates are a budget sized for a 2-core CPU, not the paper's cluster.
MLSH alone (candidates=1): the best of 4 by training return did not pick better skills on 4
seeds (docs/results.md, "Four Rooms").
"""

from envs.four_rooms import TOP_LEFT
from mlsh_jax.config import PPOConfig, RunConfig


def get_config() -> RunConfig:
    return RunConfig(
        env="four_rooms",
        start_cell=TOP_LEFT,
        num_subpolicies=4,
        macro_duration=25,
        warmup_updates=20,
        joint_updates=30,
        rollout_steps=100,
        num_slots=25,
        envs_per_slot=16,
        total_updates=200,
        sub_ppo=PPOConfig(learning_rate=1e-4, num_minibatches=15),
    )
