"""Best of k candidates: the candidates are plain runs, the kept one is the best by training
return, it continues as if it had run alone, and the choice is recorded and resumable."""

import dataclasses
import json

import chex
import jax
import numpy as np
import pytest

from mlsh_jax.checkpoint import CHECKPOINTS_DIR, RunCheckpoints, read_subpolicies
from mlsh_jax.config import ConfigError, NetworkConfig, PPOConfig, RunConfig
from mlsh_jax.selection import CANDIDATES_FILE, SELECTION_FILE, best_candidates
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import candidate_keys, init_state, seed_keys
from mlsh_jax.train import chunk_end, make_chunk, train
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


def test_chunks_stop_at_the_window_start_and_run_the_window_as_one_chunk():
    ends, done = [], 0
    while done < TINY.total_updates:
        done = chunk_end(done, TINY)
        ends.append(done)
    assert ends == [2, 4, 6]  # log boundaries at 3 and 6; the window is updates 3-4
    assert [chunk_end(d, dataclasses.replace(TINY, candidates=1)) for d in (0, 3)] == [3, 6]


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


def test_ties_and_runs_without_episodes_keep_the_first_best():
    scores = np.asarray([[1.0, 3.0, 3.0], [np.nan, np.nan, np.nan], [np.nan, 2.0, 1.0]])
    np.testing.assert_array_equal(best_candidates(scores), [1, 0, 1])


def test_the_kept_candidate_continues_exactly_as_it_would_alone(selected_run):
    workdir, state, _ = selected_run
    record = json.loads((workdir / SELECTION_FILE).read_text())
    spec = MLSHSpec.build(TINY)
    for seed, chosen in enumerate(record["seeds"]):
        key = candidate_keys(TINY.seed, TINY.num_seeds, TINY.candidates)[
            seed * TINY.candidates + chosen["kept_candidate"]]
        alone, _ = make_chunk(spec, TINY.total_updates)(init_state(spec, key))
        chex.assert_trees_all_close(jax.tree.map(lambda x: x[seed], state.subpolicies.params),
                                    alone.subpolicies.params, rtol=1e-5, atol=1e-6)
        chex.assert_trees_all_equal(state.slots.phase_step[seed], alone.slots.phase_step)


def test_the_candidates_sub_policies_at_the_selection_are_kept_with_candidate_zero_the_plain_run(
        selected_run, tmp_path):
    workdir, _, _ = selected_run
    candidates = read_subpolicies(workdir / CANDIDATES_FILE)
    leaf = lambda tree: jax.tree.leaves(tree["params"])[0]
    assert leaf(candidates).shape[0] == TINY.num_seeds * TINY.candidates
    plain = dataclasses.replace(TINY, candidates=1, total_updates=TINY.selection_update)
    train(plain, tmp_path, log=lambda _: None)
    alone = read_subpolicies(tmp_path / "subpolicies.msgpack")
    np.testing.assert_allclose(leaf(candidates)[::TINY.candidates], leaf(alone),
                               rtol=1e-5, atol=1e-6)


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


def test_a_run_stopped_after_the_selection_resumes_the_kept_candidates(selected_run, tmp_path):
    reference_dir, reference_state, _ = selected_run
    answers = iter([False, False, True])  # stop after the window's chunk (update 4)
    train(TINY, tmp_path, log=lambda _: None, should_stop=lambda: next(answers))
    assert RunCheckpoints(tmp_path / CHECKPOINTS_DIR, 3).latest_step() == 4
    state = train(TINY, tmp_path, log=lambda _: None)
    assert records_without_timing(tmp_path) == records_without_timing(reference_dir)
    chex.assert_trees_all_equal(state, reference_state)


def test_transferred_sub_policies_start_every_candidate(tmp_path):
    source = dataclasses.replace(TINY, candidates=1, num_seeds=1, total_updates=1)
    train(source, tmp_path / "source", log=lambda _: None)
    target = dataclasses.replace(TINY, total_updates=0,
                                 init_subpolicies_from=str(tmp_path / "source"))
    train(target, tmp_path / "target", log=lambda _: None)
    leaf = lambda path: jax.tree.leaves(read_subpolicies(path)["params"])[0]
    started = leaf(tmp_path / "target" / CANDIDATES_FILE)
    assert started.shape[0] == TINY.num_seeds * TINY.candidates
    for run in range(started.shape[0]):
        np.testing.assert_array_equal(started[run], leaf(tmp_path / "source" /
                                                         "subpolicies.msgpack")[0])


@pytest.mark.parametrize("change,message", [
    (dict(candidates=0), "candidates=0"),
    (dict(selection_window=5), "selection_window=5: must be at most selection_update=4"),
])
def test_bad_selection_settings_are_refused_with_one_line(change, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(TINY, **change)
