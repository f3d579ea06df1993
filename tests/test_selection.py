"""Best of k candidates: the candidates are plain runs, the kept one is the best by training
return, it continues as if it had run alone, and the choice is recorded and resumable (the
resumes are in the slow suite)."""

import dataclasses
import json

import chex
import jax
import numpy as np
import pytest

from mlsh_jax import load_run
from mlsh_jax.checkpoint import CHECKPOINTS_DIR, RunCheckpoints, read_subpolicies, \
    save_subpolicies
from mlsh_jax.config import ConfigError, NetworkConfig, PPOConfig, RunConfig
from mlsh_jax.meta_test import meta_test_keys
from mlsh_jax.selection import CANDIDATES_FILE, SELECTION_FILE, best_candidates
from mlsh_jax.sharding import place, slot_mesh, state_shardings
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import candidate_keys, init_state, seed_keys
from mlsh_jax.train import chunk_end, make_chunk, run_updates_left, train
from tests.test_faults import records_without_timing

TINY = RunConfig(num_slots=2, envs_per_slot=2, rollout_steps=20, macro_duration=5,
                 episode_length=10, warmup_updates=1, joint_updates=1, total_updates=6, log_every=3,
                 checkpoint_every=3, num_seeds=2, candidates=3, selection_update=4,
                 selection_window=2, network=NetworkConfig(hidden_sizes=(8,)),
                 master_ppo=PPOConfig(epochs=2, num_minibatches=2),
                 sub_ppo=PPOConfig(epochs=2, num_minibatches=2))


@pytest.fixture(scope="module")
def selected_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("selected")
    lines = []
    state = train(TINY, workdir, log=lines.append)
    return workdir, state, lines


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    """Candidate 0 alone: the plain run of each seed up to the selection, its window logged in
    one interval."""
    workdir = tmp_path_factory.mktemp("plain")
    train(dataclasses.replace(TINY, candidates=1, total_updates=TINY.selection_update,
                              log_every=2), workdir, log=lambda _: None)
    return workdir


def test_chunks_stop_at_the_window_start_and_run_the_window_as_one_chunk():
    ends, done = [], 0
    while done < TINY.total_updates:
        done = chunk_end(done, TINY)
        ends.append(done)
    assert ends == [2, 4, 6]  # log boundaries at 3 and 6; the window is updates 3-4
    assert [chunk_end(d, dataclasses.replace(TINY, candidates=1)) for d in (0, 3)] == [3, 6]


def test_the_time_left_counts_every_candidate_until_the_selection():
    # 2 seeds x 3 candidates for updates 1-4, then 2 seeds for updates 5-6.
    assert [run_updates_left(TINY, done) for done in (0, 2, 4, 5, 6)] == [28, 16, 4, 2, 0]
    plain = dataclasses.replace(TINY, candidates=1)
    assert [run_updates_left(plain, done) for done in (0, 3)] == [12, 6]


def test_candidate_zero_of_each_seed_is_the_plain_run_and_the_others_differ():
    keys = np.asarray(candidate_keys(5, 2, 3)).reshape(2, 3, -1)
    np.testing.assert_array_equal(keys[:, 0], seed_keys(5, 2))
    assert len({tuple(k) for k in keys.reshape(6, -1)}) == 6


def test_each_seed_keeps_its_candidate_with_the_highest_window_return(selected_run):
    workdir, _, lines = selected_run
    record = json.loads((workdir / SELECTION_FILE).read_text())
    assert record["window"] == [3, 4]
    window = [r for r in map(json.loads, (workdir / "metrics.jsonl").read_text().splitlines())
              if r["update"] == 4][0]
    for seed, chosen in enumerate(record["seeds"]):
        returns = chosen["candidate_returns"]
        assert returns == window["candidate_episode_return"][seed]
        assert chosen["kept_candidate"] == int(np.argmax(returns))
        assert chosen["seed"] == TINY.seed + seed
    assert sum("keeps candidate" in line for line in lines) == TINY.num_seeds


def test_each_candidates_score_is_its_own_training_return(selected_run, plain_run):
    """Candidate 0 is the plain run of its seed: its window score is that run's return over
    updates 3-4, logged in one interval."""
    workdir, _, _ = selected_run
    record = json.loads((workdir / SELECTION_FILE).read_text())
    last = json.loads((plain_run / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["update"] == 4
    np.testing.assert_allclose([seed["candidate_returns"][0] for seed in record["seeds"]],
                               last["seed_episode_return"], rtol=1e-5)


def test_env_steps_count_every_candidate_until_the_selection():
    per_update = TINY.env_steps_per_update
    assert [TINY.env_steps_done(done) // per_update for done in (0, 2, 4, 6)] == [0, 6, 12, 14]
    assert dataclasses.replace(TINY, candidates=1).env_steps_done(6) == 6 * per_update


def test_the_candidates_of_a_seed_are_meta_tested_on_that_seeds_tasks():
    learners, tasks = meta_test_keys(5, 4, candidates=2)
    plain_learners, plain_tasks = meta_test_keys(5, 2)
    np.testing.assert_array_equal(tasks, np.repeat(plain_tasks, 2, axis=0))
    np.testing.assert_array_equal(learners, np.repeat(plain_learners, 2, axis=0))


def test_ties_and_runs_without_episodes_keep_the_first_best():
    scores = np.asarray([[1.0, 3.0, 3.0], [np.nan, np.nan, np.nan], [np.nan, 2.0, 1.0]])
    np.testing.assert_array_equal(best_candidates(scores), [1, 0, 1])


def test_the_kept_candidate_continues_exactly_as_it_would_alone(selected_run):
    """The kept candidates run again from their start, side by side but each on its own (one
    vmapped run per seed), in the chunks of 2 updates the run used after the selection: the
    program it compiled for those, so that nothing is compiled again."""
    workdir, state, _ = selected_run
    record = json.loads((workdir / SELECTION_FILE).read_text())
    spec = MLSHSpec.build(TINY)
    kept = [seed * TINY.candidates + chosen["kept_candidate"]
            for seed, chosen in enumerate(record["seeds"])]
    keys = candidate_keys(TINY.seed, TINY.num_seeds, TINY.candidates)[np.asarray(kept)]
    alone = jax.jit(jax.vmap(lambda key: init_state(spec, key)))(keys)
    shardings = state_shardings(slot_mesh(1), alone)
    alone = place(alone, shardings)
    chunk = make_chunk(spec, 2, batch_dims=1, shardings=shardings)
    for _ in range(TINY.total_updates // 2):
        alone, _ = chunk(alone)
    chex.assert_trees_all_close(state.subpolicies.params, alone.subpolicies.params, rtol=1e-5,
                                atol=1e-6)
    chex.assert_trees_all_equal(state.slots.phase_step, alone.slots.phase_step)


def test_the_candidates_sub_policies_at_the_selection_are_kept_with_candidate_zero_the_plain_run(
        selected_run, plain_run):
    workdir, _, _ = selected_run
    candidates = read_subpolicies(workdir / CANDIDATES_FILE)
    leaf = lambda tree: jax.tree.leaves(tree["params"])[0]
    assert leaf(candidates).shape[0] == TINY.num_seeds * TINY.candidates
    alone = read_subpolicies(plain_run / "subpolicies.msgpack")
    np.testing.assert_allclose(leaf(candidates)[::TINY.candidates], leaf(alone),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_a_run_stopped_before_the_selection_resumes_through_it_exactly(selected_run, tmp_path):
    reference_dir, reference_state, _ = selected_run
    answers = iter([False, True])  # stop after the first chunk (update 2, candidates training)
    train(TINY, tmp_path, log=lambda _: None, should_stop=lambda: next(answers))
    assert RunCheckpoints(tmp_path / CHECKPOINTS_DIR, 3).latest_step() == 2
    assert not (tmp_path / SELECTION_FILE).exists()
    state = train(TINY, tmp_path, log=lambda _: None)
    assert records_without_timing(tmp_path) == records_without_timing(reference_dir)
    assert (tmp_path / SELECTION_FILE).read_text() == (reference_dir / SELECTION_FILE).read_text()
    chex.assert_trees_all_equal(state, reference_state)


@pytest.mark.slow
def test_a_run_stopped_after_the_selection_resumes_the_kept_candidates(selected_run, tmp_path):
    reference_dir, reference_state, _ = selected_run
    answers = iter([False, False, True])  # stop after the window's chunk (update 4)
    train(TINY, tmp_path, log=lambda _: None, should_stop=lambda: next(answers))
    assert RunCheckpoints(tmp_path / CHECKPOINTS_DIR, 3).latest_step() == 4
    state = train(TINY, tmp_path, log=lambda _: None)
    assert records_without_timing(tmp_path) == records_without_timing(reference_dir)
    chex.assert_trees_all_equal(state, reference_state)


def test_transferred_sub_policies_start_every_candidate_and_the_rest_start_apart(plain_run,
                                                                                tmp_path):
    # A one-seed source (the plain run's second seed): every seed's candidates start from it.
    (tmp_path / "source").mkdir()
    save_subpolicies(tmp_path / "source", jax.tree.map(lambda x: x[1:], load_run(plain_run)[1]))
    target = dataclasses.replace(TINY, total_updates=0, num_subpolicies=3,
                                 init_subpolicies_from=str(tmp_path / "source"))
    train(target, tmp_path / "target", log=lambda _: None)
    # The largest leaf: a kernel (biases start at zero in every sub-policy).
    leaf = lambda path: max(jax.tree.leaves(read_subpolicies(path)["params"]), key=np.size)
    started = leaf(tmp_path / "target" / CANDIDATES_FILE)  # [runs, K = 3, ...]
    transferred = leaf(tmp_path / "source" / "subpolicies.msgpack")[0]  # [K = 2, ...]
    assert started.shape[0] == TINY.num_seeds * TINY.candidates
    for run in range(started.shape[0]):
        np.testing.assert_array_equal(started[run, :2], transferred)
    assert len({started[run, 2].tobytes() for run in range(started.shape[0])}) == \
        started.shape[0]  # the third sub-policy: each candidate's own random start


@pytest.mark.parametrize("change,message", [
    (dict(candidates=0), "candidates=0"),
    (dict(selection_window=5), "selection_window=5: must be at most selection_update=4"),
    (dict(total_updates=3), "total_updates=3: must not end inside the selection window "
                            r"\(updates 3-4\): at most 2 or at least 4"),
])
def test_bad_selection_settings_are_refused_with_one_line(change, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(TINY, **change)
