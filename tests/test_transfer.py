"""Transfer: a run starts from another run's sub-policies (`init_subpolicies_from`)."""

import dataclasses

import chex
import jax
import numpy as np
import pytest

from mlsh_jax import load_run
from mlsh_jax.checkpoint import CheckpointError, save_subpolicies, transfer_subpolicies
from mlsh_jax.config import NetworkConfig, PPOConfig, RunConfig
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import init_seeds
from mlsh_jax.train import train

# Its chunk of 2 updates is the one test_selection.py and test_checkpoint.py compile.
SOURCE = RunConfig(num_slots=2, envs_per_slot=2, rollout_steps=20, macro_duration=5,
                   episode_length=10, warmup_updates=1, joint_updates=1, total_updates=2,
                   log_every=2, num_seeds=2, network=NetworkConfig(hidden_sizes=(8,)),
                   master_ppo=PPOConfig(epochs=2, num_minibatches=2),
                   sub_ppo=PPOConfig(epochs=2, num_minibatches=2))


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("source")
    train(SOURCE, workdir, log=lambda _: None)
    return workdir, load_run(workdir)[1]


def test_transferred_subpolicies_replace_the_first_k_keeping_the_rest_and_adam_fresh(
        source, tmp_path):
    source_dir, trained = source
    target = dataclasses.replace(SOURCE, num_subpolicies=3, seed=5, total_updates=1,
                                 log_every=1, init_subpolicies_from=str(source_dir))
    fresh = init_seeds(MLSHSpec.build(target)).subpolicies
    lines = []
    state = train(dataclasses.replace(target, warmup_updates=2, joint_updates=0),
                  tmp_path, log=lines.append)
    assert any(f"initialised from {source_dir}" in line for line in lines)
    phi = state.subpolicies
    # joint_updates=0: only the masters learned, so phi is exactly what was loaded.
    chex.assert_trees_all_equal(jax.tree.map(lambda x: x[:, :2], phi.params), trained.params)
    chex.assert_trees_all_equal(jax.tree.map(lambda x: x[:, 2:], phi.params),
                                jax.tree.map(lambda x: x[:, 2:], fresh.params))
    chex.assert_trees_all_equal(phi.opt_state, fresh.opt_state)
    chex.assert_trees_all_equal(phi.obs_stats, trained.obs_stats)
    chex.assert_trees_all_equal(jax.tree.map(lambda x: x[:, :2], phi.return_stats),
                                trained.return_stats)
    chex.assert_trees_all_equal(jax.tree.map(lambda x: x[:, 2:], phi.return_stats),
                                jax.tree.map(lambda x: x[:, 2:], fresh.return_stats))
    assert float(trained.return_stats.count.min()) > 1.0  # the source's critics were trained
    source_params = jax.tree.leaves(trained.params)
    assert any(not np.allclose(a, b) for a, b in
               zip(source_params, jax.tree.leaves(jax.tree.map(lambda x: x[:, :2], fresh.params))))


def test_a_single_seed_source_seeds_every_seed_of_the_target(source, tmp_path):
    _, trained = source
    save_subpolicies(tmp_path, jax.tree.map(lambda x: x[1:], trained))
    target = dataclasses.replace(SOURCE, num_seeds=3)
    phi = transfer_subpolicies(tmp_path, init_seeds(MLSHSpec.build(target)).subpolicies)
    for seed in range(3):
        chex.assert_trees_all_equal(jax.tree.map(lambda x: x[seed], phi.params),
                                    jax.tree.map(lambda x: x[1], trained.params))
        chex.assert_trees_all_equal(jax.tree.map(lambda x: x[seed], phi.obs_stats),
                                    jax.tree.map(lambda x: x[1], trained.obs_stats))


@pytest.mark.parametrize("change, message", [
    (dict(num_subpolicies=1), "K=2 sub-policies; this run has 2 seed(s) and K=1"),
    (dict(num_seeds=3), "the source has 2 seed(s)"),
    (dict(network=NetworkConfig(hidden_sizes=(16,))), "Dense_0.bias differs"),
])
def test_incompatible_sources_are_refused_naming_what_differs(source, change, message):
    fresh = init_seeds(MLSHSpec.build(dataclasses.replace(SOURCE, **change))).subpolicies
    with pytest.raises(CheckpointError, match="init_subpolicies_from=") as error:
        transfer_subpolicies(source[0], fresh)
    assert message in str(error.value)


def test_a_run_whose_source_has_no_subpolicies_stops_before_training(tmp_path):
    target = dataclasses.replace(SOURCE, init_subpolicies_from=str(tmp_path / "nothing"))
    with pytest.raises(CheckpointError, match="no subpolicies.msgpack there"):
        train(target, tmp_path / "run", log=lambda _: None)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


@pytest.mark.parametrize("algorithm", ["mlsh", "shared"])
def test_zero_updates_writes_a_run_holding_the_transferred_policies_for_meta_test(
        algorithm, tmp_path):
    """`total_updates=0`: config.json and the φ export of the transfer, nothing trained, so
    that `evaluate` meta-tests sub-policies (or a shared policy) from another task as they are."""
    source_config = dataclasses.replace(SOURCE, algorithm=algorithm)
    source_dir = tmp_path / "source"
    train(source_config, source_dir, log=lambda _: None)
    _, trained = load_run(source_dir)
    target = dataclasses.replace(source_config, total_updates=0, seed=7,
                                 init_subpolicies_from=str(source_dir))
    train(target, tmp_path / "transfer", log=lambda _: None)
    config, exported = load_run(tmp_path / "transfer")
    assert config == target
    chex.assert_trees_all_equal(exported.params, trained.params)
    chex.assert_trees_all_equal(exported.obs_stats, trained.obs_stats)
    assert not (tmp_path / "transfer" / "checkpoints").exists() or not any(
        (tmp_path / "transfer" / "checkpoints").iterdir())
