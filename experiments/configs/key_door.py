"""Key-Door: Moving Bandits plus a key to fetch first (our addition; not in the MLSH paper).

No paper setting exists, so K and N follow Moving Bandits (docs/design.md, "Hyper-parameters":
K=2, N=10), and the longer W=20, U=10 give the master time to learn the two-stage sequence of
a 100-step episode. Slots, envs per slot and total_updates are a short budget sized for a
2-core CPU (docs/results.md, "Key-Door", has what it reaches).
"""

from mlsh_jax.config import RunConfig


def get_config() -> RunConfig:
    return RunConfig(
        env="key_door",
        num_subpolicies=2,
        macro_duration=10,
        warmup_updates=20,
        joint_updates=10,
        rollout_steps=100,
        num_slots=30,
        envs_per_slot=32,
        total_updates=200,
    )
