"""Four Rooms as in the MLSH paper.

K, N, W, U and the 100-step episode are the paper's (DESIGN.md hyper-parameter table, from the
paper's experiment settings). Slots, envs per slot and total_updates are budgets sized for the
team's 2-core CPU, not the paper's cluster; they are still being tuned.
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
        num_slots=50,
        envs_per_slot=8,
        total_updates=1500,
    )
