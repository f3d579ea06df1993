"""Four Rooms as in the MLSH paper.

K, N, W, U and the 100-step episode are the paper's (DESIGN.md hyper-parameter table, from the
paper's experiment settings). Slots, envs per slot and total_updates are a short budget sized
for the team's 2-core CPU (see README for what it reaches), not the paper's cluster.
"""

from mlsh_jax.config import RunConfig


def get_config() -> RunConfig:
    return RunConfig(
        env="four_rooms",
        num_subpolicies=4,
        macro_duration=25,
        warmup_updates=20,
        joint_updates=30,
        rollout_steps=100,
        num_slots=25,
        envs_per_slot=16,
        total_updates=200,
    )
