"""Humanoid Walk/Crawl: go forward upright on an open floor, or under a hidden low ceiling.

K=2, N=200, W=20, U=40 and the 1000-step episode are the paper's (DESIGN.md). Sub-policies are
diagonal Gaussians over the 17 actuators (actions clipped to [-1, 1], scaled to the actuators'
range by the env). Budget: 4 slots x 16 envs x 1000 steps = 64k env steps per update; the
Humanoid steps at about half the Ant's speed on a 2-core CPU (README: Brax tasks), so runs here
are short; the paper trained on a cluster.
"""

from mlsh_jax.config import PPOConfig, RunConfig


def get_config() -> RunConfig:
    return RunConfig(
        env="walk_crawl",
        num_subpolicies=2,
        macro_duration=200,
        warmup_updates=20,
        joint_updates=40,
        rollout_steps=1000,
        num_slots=4,
        envs_per_slot=16,
        total_updates=600,
        log_every=5,
        checkpoint_every=10,
        master_ppo=PPOConfig(learning_rate=1e-2, num_minibatches=2),
        sub_ppo=PPOConfig(learning_rate=3e-4, num_minibatches=16),
    )
