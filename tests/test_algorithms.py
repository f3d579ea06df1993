"""Baselines on the shared code path, and seeds vmapped in one program."""

import dataclasses

import chex
import jax
import numpy as np
import pytest

from mlsh_jax.algorithms import meta_test_config, training_config
from mlsh_jax.config import NetworkConfig, PPOConfig, RunConfig
from mlsh_jax.meta_test import flat_meta_test_state, hierarchical_meta_test_state, run_updates, \
    meta_test, meta_test_keys, meta_test_task_types, meta_test_tasks
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import init_seeds, init_subpolicies, seed_keys
from mlsh_jax.train import make_chunk
from compiled import init_jit

TINY = RunConfig(num_slots=3, envs_per_slot=2, rollout_steps=50, macro_duration=10,
                 warmup_updates=2, joint_updates=1, stagger=False,
                 network=NetworkConfig(hidden_sizes=(8,)),
                 master_ppo=PPOConfig(epochs=2, num_minibatches=2),
                 sub_ppo=PPOConfig(epochs=2, num_minibatches=2))


@pytest.mark.parametrize("algorithm, expected", [
    ("mlsh", (2, 2, 1)), ("mlsh_no_warmup", (2, 0, 3)), ("shared", (1, 0, 3)),
    ("scratch", (1, 0, 3))])
def test_each_algorithm_keeps_the_task_cycle_and_trains_what_it_names(algorithm, expected):
    run = training_config(dataclasses.replace(TINY, algorithm=algorithm))
    assert (run.num_subpolicies, run.warmup_updates, run.joint_updates) == expected
    assert run.cycle_length == TINY.cycle_length
    assert training_config(run) == run


def test_meta_test_configs_freeze_phi_for_mlsh_and_train_one_flat_learner_per_baseline_task():
    mlsh = meta_test_config(TINY, num_tasks=5, updates=4, seed=9)
    assert (mlsh.algorithm, mlsh.num_slots, mlsh.warmup_updates, mlsh.joint_updates) == \
        ("mlsh", 5, 4, 0)
    shared = training_config(meta_test_config(dataclasses.replace(TINY, algorithm="shared"),
                                              num_tasks=5, updates=4, seed=9))
    assert (shared.num_slots, shared.num_subpolicies, shared.joint_updates) == (1, 1, 4)
    assert shared.sub_ppo == TINY.finetune_ppo


@pytest.fixture(scope="module")
def flat_starts():
    """A trained shared policy (2 seeds) and the flat meta-test states of `shared` (copies of
    it) and `scratch` on 3 tasks with seed 0."""
    config = dataclasses.replace(TINY, algorithm="shared", num_seeds=2)
    trained = init_seeds(MLSHSpec.build(config))
    moved = lambda tree: jax.tree.map(lambda x: x + 1, tree)
    trained = trained.subpolicies.replace(opt_state=moved(trained.subpolicies.opt_state),
                                          return_stats=moved(trained.subpolicies.return_stats))
    spec = MLSHSpec.build(meta_test_config(config, num_tasks=3, updates=2, seed=0))
    return (trained, flat_meta_test_state(spec, trained, num_tasks=3, seed=0, seeds=2),
            flat_meta_test_state(spec, None, num_tasks=3, seed=0, seeds=2))


def test_shared_meta_test_starts_each_task_from_its_seeds_policy_with_fresh_adam(flat_starts):
    trained, state, scratch = flat_starts
    for seed in range(2):
        for task in range(3):
            start = jax.tree.map(lambda x: x[seed, task], state.subpolicies)
            chex.assert_trees_all_equal(start.params, jax.tree.map(lambda x: x[seed],
                                                                   trained.params))
            chex.assert_trees_all_equal(start.obs_stats, jax.tree.map(lambda x: x[seed],
                                                                      trained.obs_stats))
            chex.assert_trees_all_equal(start.return_stats, jax.tree.map(lambda x: x[seed],
                                                                         trained.return_stats))
            assert all(np.all(np.asarray(x) == 0) for x in jax.tree.leaves(start.opt_state))
    first_layer = lambda s, r, t: s.subpolicies.params["params"]["actor"]["Dense_0"]["kernel"][r, t]
    assert not np.array_equal(first_layer(scratch, 0, 0), first_layer(scratch, 0, 1))
    assert not np.array_equal(first_layer(scratch, 0, 0), first_layer(scratch, 1, 0))


def test_flat_policy_has_no_master_and_trains_its_policy_on_every_slot_every_update():
    spec = MLSHSpec.build(dataclasses.replace(TINY, algorithm="shared"))
    state = init_jit(spec, jax.random.PRNGKey(0))
    assert state.slots.master is None
    new, metrics = make_chunk(spec, 2)(state)
    np.testing.assert_array_equal(metrics.joint_fraction, 1.0)
    np.testing.assert_array_equal(metrics.subpolicy_usage, 1.0)
    np.testing.assert_array_equal(metrics.subpolicy_steps, 2 * 2)  # epochs x minibatches


@pytest.mark.slow
def test_seed_r_of_a_multi_seed_run_matches_the_single_run_with_seed_plus_r():
    """On Moving Bandits; the same equality on Four Rooms, whose seeds decide at different
    steps, is test_mlsh.py's run alone beside a run (slow too)."""
    spec = MLSHSpec.build(dataclasses.replace(TINY, seed=4, num_seeds=2))
    _, together = make_chunk(spec, 2, batch_dims=1)(init_seeds(spec))
    alone_spec = MLSHSpec.build(dataclasses.replace(TINY, seed=5))
    _, alone = make_chunk(alone_spec, 2)(init_jit(alone_spec, jax.random.PRNGKey(5)))
    chex.assert_trees_all_close(jax.tree.map(lambda x: x[1], together), alone, rtol=1e-4,
                                atol=1e-5)


def test_scratch_tasks_learn_independently_and_seeds_are_independent_runs():
    scratch = dataclasses.replace(TINY, algorithm="scratch", num_seeds=2)
    result = meta_test(scratch, None, num_tasks=3, updates=2, seed=0)
    assert result.error_over == "seeds"
    curves = np.asarray(result.seed_mean_return)
    assert curves.shape == (2, 2) and np.all(np.isfinite(curves))
    assert not np.array_equal(curves[0], curves[1])
    np.testing.assert_allclose(result.mean_return, curves.mean(axis=0))
    np.testing.assert_allclose(result.standard_error, curves.std(axis=0, ddof=1) / np.sqrt(2))
    by_type = result.by_task_type  # Moving Bandits: which of the two goals pays
    assert sum(by_type.tasks) == 2 * 3 and len(by_type.mean_return) == 2
    assert all(len(curve) == 2 for curve in by_type.mean_return)


def test_every_algorithm_meta_tests_on_the_same_tasks_and_start_states_per_seed_index(
        flat_starts):
    """mlsh_no_warmup is meta-tested as mlsh (same config), shared and scratch share the flat
    path; the hierarchical and the flat path must start every task identically."""
    mlsh = dataclasses.replace(TINY, num_seeds=2)
    no_warmup = dataclasses.replace(mlsh, algorithm="mlsh_no_warmup")
    assert meta_test_config(no_warmup, 3, 2, 0) == meta_test_config(mlsh, 3, 2, 0)
    spec = MLSHSpec.build(meta_test_config(mlsh, num_tasks=3, updates=2, seed=0))
    subpolicies = jax.jit(jax.vmap(lambda key: init_subpolicies(spec, key)))(seed_keys(0, 2))
    slots = hierarchical_meta_test_state(spec, subpolicies, num_tasks=3, seed=0).slots
    start = lambda s: (s.task, s.obs, s.env_state)
    _, shared, scratch = flat_starts
    for flat in (shared, scratch):
        chex.assert_trees_all_equal(jax.tree.map(lambda x: x[:, :, 0], start(flat.slots)),
                                    start(slots))  # [seeds, tasks, 1 slot] -> [seeds, tasks]
    task_goals = slots.env_state.env_state.goals  # drawn at reset
    assert len(np.unique(task_goals.reshape(6, -1), axis=0)) == 6  # tasks and seeds differ
    _, task_keys = meta_test_keys(0, 2)
    more = meta_test_tasks(spec, task_keys, 32)
    chex.assert_trees_all_equal(jax.tree.map(lambda x: x[:, :3], more), start(slots))
    correct_goal = more[0].correct_goal
    assert not np.array_equal(correct_goal[0], correct_goal[1])


def test_the_task_types_reported_are_those_of_the_tasks_run():
    spec = MLSHSpec.build(meta_test_config(dataclasses.replace(TINY, num_seeds=2), 5, 2, 0))
    task_keys = meta_test_keys(0, 2)[1]
    tasks = meta_test_tasks(spec, task_keys, 5)[0]
    types = meta_test_task_types(spec, task_keys, 5)
    np.testing.assert_array_equal(types, jax.vmap(jax.vmap(spec.env.task_type))(tasks))
    assert types.shape == (2, 5) and len(np.unique(types)) == 2


@pytest.mark.parametrize("algorithm",
                         ["mlsh", pytest.param("scratch", marks=pytest.mark.slow)])
def test_meta_test_update_by_update_equals_one_scan_and_reports_each_update(algorithm):
    """Updates run one call each so that evaluate can show progress; the episode totals are
    those of one scan over all updates."""
    config = dataclasses.replace(TINY, algorithm=algorithm, num_seeds=2)
    spec = MLSHSpec.build(meta_test_config(config, 3, 4, 0))
    subpolicies = jax.vmap(lambda key: init_subpolicies(MLSHSpec.build(config), key))(
        seed_keys(0, 2))
    if algorithm == "mlsh":
        start = lambda: hierarchical_meta_test_state(spec, subpolicies, 3, 0)
        batch_dims, update_axis = 1, 1
    else:
        start = lambda: flat_meta_test_state(spec, None, 3, 0, 2)
        batch_dims, update_axis = 2, 2
    _, whole = make_chunk(spec, 4, batch_dims=batch_dims)(start())
    reports = []
    stepped = run_updates(spec, start(), 4, batch_dims, update_axis,
                          lambda done, total: reports.append((done, total)))
    chex.assert_trees_all_equal(stepped, whole.slot_episodes)
    assert reports == [(1, 4), (2, 4), (3, 4), (4, 4)]
