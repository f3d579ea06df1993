"""The public Python API (`import mlsh_jax`): the names the notebook and the docs use exist,
its docstring example is valid Python that uses only them, and a tiny train -> load_run ->
meta_test through it works."""

import ast
import math

import mlsh_jax
from mlsh_jax import NetworkConfig, PPOConfig, RunConfig

PUBLIC = {"RunConfig", "NetworkConfig", "PPOConfig", "train", "load_run", "meta_test",
          "MetaTestResult", "META_TEST_SEED_OFFSET", "ConfigError", "CheckpointError",
          "NonFiniteError", "RunWriteError"}

# Its chunk of 2 updates is the one test_selection.py and test_checkpoint.py compile.
TINY = RunConfig(num_slots=2, envs_per_slot=2, rollout_steps=20, macro_duration=5,
                 episode_length=10, warmup_updates=1, joint_updates=1, total_updates=2,
                 log_every=2, num_seeds=2, network=NetworkConfig(hidden_sizes=(8,)),
                 master_ppo=PPOConfig(epochs=2, num_minibatches=2),
                 sub_ppo=PPOConfig(epochs=2, num_minibatches=2))


def test_public_names_are_exported_and_listed_in_all():
    assert set(mlsh_jax.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(mlsh_jax, name) is not None, name


def test_docstring_example_parses_and_uses_only_public_names():
    lines = [line[4:] for line in mlsh_jax.__doc__.splitlines() if line.startswith("    ")]
    example = ast.parse("\n".join(lines))
    used = {node.attr for node in ast.walk(example)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "mlsh_jax"}
    assert used and used <= PUBLIC, used - PUBLIC
    assert len(lines) <= 6


def test_tiny_train_then_meta_test_through_the_public_api(tmp_path):
    lines = []
    state = mlsh_jax.train(TINY, tmp_path / "run", log=lines.append)
    assert int(state.update_step.min()) == TINY.total_updates
    compiling = [i for i, line in enumerate(lines) if line.startswith("compiling ")]
    assert compiling and lines[compiling[0] + 1].startswith("compiled in ")
    assert lines[compiling[0] + 1].endswith(" s")

    config, subpolicies = mlsh_jax.load_run(tmp_path / "run")
    assert config == TINY
    result = mlsh_jax.meta_test(config, subpolicies, num_tasks=2, updates=2,
                                seed=config.seed + mlsh_jax.META_TEST_SEED_OFFSET)
    assert isinstance(result, mlsh_jax.MetaTestResult)
    assert len(result.mean_return) == 2
    assert all(math.isfinite(value) for value in result.mean_return)
