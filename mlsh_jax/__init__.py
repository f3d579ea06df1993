"""mlsh-jax: Meta Learning Shared Hierarchies (Frans et al. 2017) as a vectorised JAX trainer.

Meta-train shared sub-policies on many sampled tasks, then meta-test them: fresh masters
learn new tasks over the frozen sub-policies. What `python -m experiments.run` and
`python -m experiments.evaluate` do, from Python:

    import mlsh_jax
    config = mlsh_jax.RunConfig(env="moving_bandits", total_updates=100)  # the paper's MLSH
    mlsh_jax.train(config, "runs/mb")  # the same call again resumes from the last checkpoint
    config, subpolicies = mlsh_jax.load_run("runs/mb")  # or shipped skills: "pretrained/twowalk"
    result = mlsh_jax.meta_test(config, subpolicies, num_tasks=64, updates=9, seed=1000)

`result.mean_return[u]` is the mean episode return in update u + 1 on the new tasks. `updates`
is how long each fresh master learns (`experiments.evaluate` uses the config's W, here 9);
`seed` draws the new tasks (it uses the run's seed + META_TEST_SEED_OFFSET, tasks the run never
trained on). `RunConfig()` is the paper's algorithm alone; the shipped configs, such as the
quick start's, are `experiments.configs.<name>.get_config()` (one file per task); every field
of `RunConfig` is documented where it is declared (mlsh_jax/config.py).
"""

from mlsh_jax.checkpoint import CheckpointError
from mlsh_jax.config import ConfigError, NetworkConfig, PPOConfig, RunConfig
from mlsh_jax.meta_test import MetaTestResult, meta_test
from mlsh_jax.runs import META_TEST_SEED_OFFSET, load_run
from mlsh_jax.train import NonFiniteError, RunWriteError, train

__all__ = [
    "RunConfig", "NetworkConfig", "PPOConfig",
    "train", "load_run", "meta_test", "MetaTestResult", "META_TEST_SEED_OFFSET",
    "ConfigError", "CheckpointError", "NonFiniteError", "RunWriteError",
]
