"""Ant Twowalk (paper section 6.3): the Ant must walk to a hidden target, (5, 0) or (0, 5).

K=2, N=200, W=20, U=40 and the 1000-step episode are the paper's (docs/design.md). Sub-policies are
diagonal Gaussians with a state-independent log-std, actions clipped to [-1, 1] by the env.
The sub-policy learning rate is the paper's 3e-4 (Moving Bandits uses the original code's 3e-5,
too slow to learn locomotion). Each update collects one 1000-step episode per env
(D = episode length, as the original's 2000 steps per core covered whole episodes), so every
master sees 5 macro-actions per env and update.

Budget: 4 slots x 16 envs x 1000 steps = 64k env steps per update (~2/3 of the slots are in
the joint phase and train phi on theirs). The paper trained on a cluster; on a 2-core CPU the
600 updates took 124 min (docs/results.md, "Ant Twowalk"), so `total_updates` here is a start,
not the paper's budget; extend a run by resuming it with a larger `--config.total_updates`.
"""

from mlsh_jax.config import PPOConfig, RunConfig


def get_config() -> RunConfig:
    return RunConfig(
        env="twowalk",
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
