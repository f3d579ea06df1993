"""Moving Bandits as in the MLSH paper, trained as the best of 12 candidates per seed.

K, N, W, U and the 50-step episode are the paper's. The sub-policy learning rate is the
original code's 3e-5 (the paper says 3e-4, with which both sub-policies converged to the same
goal in every run tried). 40 slots of 64 envs put 4 tasks into every sub-policy update
(U/(W+U) of the slots are joint); 64 envs give each master 320 macro transitions per update.

MLSH alone gives one sub-policy per goal in about a fifth of its runs (27 of 128 at update
100); in the others both sub-policies head to the same goal, and so does the original code
(docs/results.md, "Moving Bandits: one skill per goal"). Which happens is visible in the
training return of updates 76-100, not before. So each seed trains 12 independent candidates
side by side for 100 updates, keeps the one with the highest training return over updates
76-100 and trains it alone to update 300 (`candidates`, `selection_update`,
`selection_window`; selection.json in the workdir says which candidate was kept and why). With
a fifth of the candidates specialised, 12 leave a seed without one about 6 % of the time.
`--config.candidates=1` runs MLSH alone.
"""

from mlsh_jax.config import PPOConfig, RunConfig


def get_config() -> RunConfig:
    return RunConfig(
        env="moving_bandits",
        num_subpolicies=2,
        macro_duration=10,
        warmup_updates=9,
        joint_updates=1,
        rollout_steps=50,
        num_slots=40,
        envs_per_slot=64,
        total_updates=300,
        candidates=12,
        selection_update=100,
        selection_window=25,
        log_every=25,
        master_ppo=PPOConfig(learning_rate=1e-2, num_minibatches=2),
        sub_ppo=PPOConfig(learning_rate=3e-5, num_minibatches=15),
    )
