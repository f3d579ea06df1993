"""Ant mazes: the Ant must reach the goal of a hidden wall layout (envs.brax_tasks.MAZE_LAYOUTS).

K=3, N=200, W=20, U=40 and the 1000-step episode follow the paper's Ant settings (DESIGN.md:
mazes K 3+). The paper solved the mazes with sub-policies learned on Twowalk: start from them
with `--config.init_subpolicies_from=RUN` (K=2 Twowalk skills fill sub-policies 0 and 1, the
third starts random), and add `--config.joint_updates=0 --config.warmup_updates=60` to keep
them frozen so only the masters learn. Budget: 6 slots (two per layout on average) x 16 envs
x 1000 steps = 96k env steps per update; see README for the time per update on a 2-core CPU.
"""

from mlsh_jax.config import PPOConfig, RunConfig


def get_config() -> RunConfig:
    return RunConfig(
        env="ant_maze",
        num_subpolicies=3,
        macro_duration=200,
        warmup_updates=20,
        joint_updates=40,
        rollout_steps=1000,
        num_slots=6,
        envs_per_slot=16,
        total_updates=600,
        log_every=5,
        checkpoint_every=10,
        master_ppo=PPOConfig(learning_rate=1e-2, num_minibatches=2),
        sub_ppo=PPOConfig(learning_rate=3e-4, num_minibatches=16),
    )
