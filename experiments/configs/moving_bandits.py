"""Moving Bandits as in the MLSH paper, with alike sub-policies restarted after updates 100 and 200.

K, N, W, U and the 50-step episode are the paper's. The sub-policy learning rate is the
original code's 3e-5 (the paper says 3e-4, with which both sub-policies converged to the same
goal in every run tried). 40 slots of 64 envs put 4 tasks into every sub-policy update
(U/(W+U) of the slots are joint); 64 envs give each master 320 macro transitions per update.

MLSH alone gives one sub-policy per goal in about a fifth of its runs (27 of 128 at update
100); in the others both sub-policies head to the same goal, and so does the original code
(docs/results.md, "Moving Bandits: one skill per goal"). Nothing in MLSH's updates separates
two such sub-policies again, but a fresh sub-policy beside a committed one is separated: the
masters of the other goal's tasks choose it, and it learns from their steps. So after updates
100 and 200, if the two sub-policies act alike on the last rollout's states (mean Hellinger
distance of their actions below `alike_threshold`), the second is re-initialised
(`reinit_alike_updates`; each check is recorded in metrics.jsonl, `alike_check`). On 64
fresh seeds this config ended with one sub-policy per goal in 64; MLSH alone, in 17 at
update 100.
`--config.reinit_alike_updates=` runs MLSH alone, and with `--config.candidates=12` added the
best of 12 candidates per seed, the previous default (docs/results.md has what each gives).
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
        reinit_alike_updates=(100, 200),
        log_every=25,
        master_ppo=PPOConfig(learning_rate=1e-2, num_minibatches=2),
        sub_ppo=PPOConfig(learning_rate=3e-5, num_minibatches=15),
    )
