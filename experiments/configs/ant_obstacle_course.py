"""Ant obstacle course with a sparse reward (1 per step inside the goal region): a transfer task.

Meant to start from sub-policies trained elsewhere, e.g. Twowalk's:

    python -m experiments.run --config ant_obstacle_course.py \\
        --config.init_subpolicies_from=runs/twowalk

(K=2 Twowalk skills fill sub-policies 0 and 1, the third starts random). As configured, masters
and sub-policies keep learning (W=20, U=40); `--config.joint_updates=0
--config.warmup_updates=60` freezes the transferred sub-policies so only the masters learn.
Without a source the run learns from scratch, which the sparse reward makes hopeless (the paper:
PPO 0, MLSH transfer 193). K=3, N=200 and the 2000-step episode are the paper's settings for
the obstacle course (DESIGN.md); each update collects one whole episode per env.
"""

from mlsh_jax.config import PPOConfig, RunConfig


def get_config() -> RunConfig:
    return RunConfig(
        env="ant_obstacle_course",
        num_subpolicies=3,
        macro_duration=200,
        warmup_updates=20,
        joint_updates=40,
        rollout_steps=2000,
        num_slots=4,
        envs_per_slot=8,
        total_updates=600,
        log_every=5,
        checkpoint_every=10,
        master_ppo=PPOConfig(learning_rate=1e-2, num_minibatches=2),
        sub_ppo=PPOConfig(learning_rate=3e-4, num_minibatches=16),
    )
