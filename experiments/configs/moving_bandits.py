"""Moving Bandits as in the MLSH paper.

K, N, W, U and the 50-step episode are the paper's (DESIGN.md hyper-parameter table, from the
paper's experiment settings). Slots, envs per slot and total_updates are budgets sized for the
team's 2-core CPU, not the paper's cluster; they are still being tuned.
"""

from mlsh_jax.config import RunConfig


def get_config() -> RunConfig:
    return RunConfig(
        env="moving_bandits",
        num_subpolicies=2,
        macro_duration=10,
        warmup_updates=9,
        joint_updates=1,
        rollout_steps=50,
        num_slots=100,
        envs_per_slot=8,
        total_updates=2000,
    )
