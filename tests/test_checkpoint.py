"""Full-state checkpoints: bit-exact resume, a real kill mid-save, incompatible configs, the NaN
guard and Ctrl-C from the command line."""

import dataclasses
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import chex
import jax
import numpy as np
import optax
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from experiments.run import main as run_main
from mlsh_jax import checkpoint as checkpoint_module
from mlsh_jax.checkpoint import CHECKPOINTS_DIR, SUBPOLICIES_FILE, CheckpointError, \
    RunCheckpoints, load_subpolicies
from mlsh_jax.config import ConfigError, NetworkConfig, PPOConfig, RunConfig, config_from_dict
from mlsh_jax.mlsh import EpisodeTotals, UpdateMetrics
from mlsh_jax.ppo import PPOMetrics
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import init_seeds
from mlsh_jax.train import CONFIG_FILE, NonFiniteError, check_same_run, config_to_json, \
    find_non_finite, train
from tests.test_faults import PAGE, records_without_timing, tmpfs_bytes, used

train_module = importlib.import_module("mlsh_jax.train")  # `mlsh_jax.train` is the function

# The chunks of TINY are those of test_selection.py's plain run (its program, compiled once).
TINY = RunConfig(num_slots=2, envs_per_slot=2, rollout_steps=20, macro_duration=5,
                 episode_length=10, warmup_updates=1, joint_updates=1, total_updates=6,
                 log_every=2, checkpoint_every=2, num_seeds=2,
                 network=NetworkConfig(hidden_sizes=(8,)),
                 master_ppo=PPOConfig(epochs=2, num_minibatches=2),
                 sub_ppo=PPOConfig(epochs=2, num_minibatches=2))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("uninterrupted")
    state = train(TINY, workdir, log=lambda _: None)
    return workdir, state


def test_stopped_and_resumed_run_is_bit_identical_to_an_uninterrupted_one(uninterrupted, tmp_path):
    reference_dir, reference_state = uninterrupted
    # train asks before the first chunk and after each one: stop after the second chunk.
    answers = iter([False, False, True])
    lines = []
    train(TINY, tmp_path, log=lines.append, should_stop=lambda: next(answers))
    assert RunCheckpoints(tmp_path / CHECKPOINTS_DIR, 3).latest_step() == 4
    assert "stopped after update 4" in lines[-1]
    resumed_lines = []
    state = train(TINY, tmp_path, log=resumed_lines.append)
    assert "resuming after update 4" in resumed_lines[0]
    assert records_without_timing(tmp_path) == records_without_timing(reference_dir)
    chex.assert_trees_all_equal(state, reference_state)


def test_tensorboard_holds_the_logged_metrics_at_their_env_steps(uninterrupted):
    workdir, _ = uninterrupted
    records = records_without_timing(workdir)
    events = EventAccumulator(str(workdir / "tensorboard"))
    events.Reload()
    assert {"episode_return", "subpolicy_usage/0", "subpolicy_usage/1"} <= \
        set(events.Tags()["scalars"])
    curve = events.Scalars("episode_return")
    assert [event.step for event in curve] == [record["env_steps"] for record in records]
    np.testing.assert_allclose([event.value for event in curve],
                               [record["episode_return"] for record in records], rtol=1e-6)


def test_a_run_stops_at_the_first_non_finite_update_keeping_the_checkpoints_before_it(
        tmp_path, monkeypatch):
    """The guard's wiring in `train` (the check itself: the test of `find_non_finite` below; a
    run that really diverges: the slow suite)."""
    def third_update_is_bad(metrics, state, first_update, candidates):
        return "update 3: sub-policy loss is nan" if first_update == 3 else None

    monkeypatch.setattr(train_module, "find_non_finite", third_update_is_bad)
    with pytest.raises(NonFiniteError) as error:
        train(TINY, tmp_path, log=lambda _: None)  # the uninterrupted run's program
    directory = tmp_path / CHECKPOINTS_DIR
    assert str(error.value) == ("update 3: sub-policy loss is nan; stopped without saving it; "
                                f"the last good checkpoint is update 2 in {directory}")
    assert RunCheckpoints(directory, 3).latest_step() == 2
    assert [record["update"] for record in records_without_timing(tmp_path)] == [2]


def test_a_process_given_another_config_than_process_0_is_refused_naming_the_field(
        monkeypatch):
    process_0 = config_to_json(dataclasses.replace(TINY, seed=7))
    monkeypatch.setattr(train_module, "gather_texts", lambda text: [process_0, text])
    with pytest.raises(ConfigError, match=r"^process 0 has another config than process 0 "
                       r"\(seed: process 0 has 7, config has 0\); start every process with "
                       r"the same config$"):
        train_module.check_same_config_on_every_process(TINY)
    monkeypatch.setattr(train_module, "gather_texts", lambda text: [text, process_0])
    train_module.check_same_config_on_every_process(TINY)  # process 0's config is the reference


@pytest.mark.parametrize("minutes, saved", [(0, [6]), (1e-9, [2, 4, 6])])
def test_a_checkpoint_follows_checkpoint_minutes_of_training_whatever_checkpoint_every(
        tmp_path, minutes, saved):
    """checkpoint_every=100 never comes in 6 updates: without checkpoint_minutes only the end is
    saved; with a limit that every log interval exceeds, every log boundary is."""
    config = dataclasses.replace(TINY, checkpoint_every=100, checkpoint_minutes=minutes,
                                 max_to_keep=5)
    train(config, tmp_path, log=lambda _: None)
    steps = sorted(int(path.name) for path in (tmp_path / CHECKPOINTS_DIR).iterdir()
                   if path.name.isdigit())
    assert steps == saved


def test_process_0_decides_a_timed_checkpoint_and_any_process_a_stop(monkeypatch):
    """In a multi-process run every process takes process 0's checkpoint decision (the clocks
    may straddle the limit) and stops if any process was asked to (a signal may reach them
    between their checks): a save and the next chunk are collective."""
    monkeypatch.setattr(train_module.jax, "process_count", lambda: 2)
    config = dataclasses.replace(TINY, checkpoint_minutes=1.0)
    for texts, due in ((["due", ""], True), (["", "due"], False)):
        monkeypatch.setattr(train_module, "gather_texts", lambda _, texts=texts: texts)
        assert train_module.checkpoint_due(config, time.perf_counter()) is due
    for texts, stop in ((["", "stop"], True), (["stop", ""], True), (["", ""], False)):
        monkeypatch.setattr(train_module, "gather_texts", lambda _, texts=texts: texts)
        assert train_module.agreed_stop(False) is stop


@pytest.mark.slow
def test_kill_during_a_save_keeps_the_previous_checkpoint_and_resumes_exactly(uninterrupted,
                                                                              tmp_path):
    reference_dir, _ = uninterrupted
    # The child stalls in orbax's final rename of update 4's checkpoint, the moment after all
    # data is written and before it is committed; the test kills it there with SIGKILL.
    child = textwrap.dedent("""
        import asyncio, json, sys
        from orbax.checkpoint._src.path import atomicity
        from mlsh_jax.compile_cache import enable_compile_cache
        from mlsh_jax.config import config_from_dict
        from mlsh_jax.train import train
        enable_compile_cache()  # the suite's cache: the programs this file compiled already
        commit = atomicity.AtomicRenameTemporaryPath.finalize
        async def stalled_commit(self):
            if self._final_path.name == "4":
                print("STALLED", flush=True)
                await asyncio.sleep(600)
            await commit(self)
        atomicity.AtomicRenameTemporaryPath.finalize = stalled_commit
        train(config_from_dict(json.loads(sys.argv[1])), sys.argv[2])
    """)
    process = subprocess.Popen(
        [sys.executable, "-c", child, json.dumps(dataclasses.asdict(TINY)), str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in process.stdout:
        if line.strip() == "STALLED":
            process.send_signal(signal.SIGKILL)
            break
    assert process.wait(timeout=60) == -signal.SIGKILL
    entries = os.listdir(tmp_path / CHECKPOINTS_DIR)
    assert "2" in entries and "4" not in entries
    assert any("tmp" in name for name in entries), entries  # the half-written save

    assert RunCheckpoints(tmp_path / CHECKPOINTS_DIR, 3).latest_step() == 2
    train(TINY, tmp_path, log=lambda _: None)
    records = records_without_timing(tmp_path)
    assert records == records_without_timing(reference_dir)
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    curve = events.Scalars("master/value_loss")  # events past the checkpoint were purged
    assert [e.step for e in curve] == [r["env_steps"] for r in records]
    np.testing.assert_allclose([e.value for e in curve],
                               [r["master/value_loss"] for r in records], rtol=1e-6)


def tensorboard_steps(workdir, tag="master/value_loss"):
    events = EventAccumulator(str(workdir / "tensorboard"))
    events.Reload()
    return [event.step for event in events.Scalars(tag)]


def tree_of(directory) -> dict[str, bytes]:
    return {str(path.relative_to(directory)): path.read_bytes() if path.is_file() else b"dir"
            for path in sorted(directory.rglob("*"))}


def test_damaged_newest_checkpoints_are_moved_aside_and_the_run_resumes_exactly(uninterrupted,
                                                                                 tmp_path):
    reference_dir, reference_state = uninterrupted
    workdir = shutil.copytree(reference_dir, tmp_path / "run")
    checkpoints_dir = workdir / CHECKPOINTS_DIR
    (checkpoints_dir / "6" / "default" / "_sharding").write_text("garbage")
    for array_file in (checkpoints_dir / "4" / "default" / "d").iterdir():
        array_file.write_bytes(array_file.read_bytes()[:100])  # cut short
    lines = []
    state = train(TINY, workdir, log=lines.append)
    assert lines[0].startswith(f"warning: checkpoint {checkpoints_dir / '6'} is damaged "
                               f"(ValueError: FAILED_PRECONDITION: ")
    assert lines[1].startswith(f"warning: checkpoint {checkpoints_dir / '4'} is damaged "
                               f"(ValueError: OUT_OF_RANGE: ")
    for line, step in zip(lines, (6, 4)):
        assert f"moved aside to {checkpoints_dir / f'{step}.damaged-1'}" in line
        assert line.endswith("resuming from update 2 instead")
    assert "resuming after update 2" in lines[2]
    # Updates 3-6 ran again and were saved under their old numbers; the damaged data is kept.
    assert RunCheckpoints(checkpoints_dir, 3).all_steps() == [2, 4, 6]
    assert (checkpoints_dir / "6.damaged-1" / "default" / "_sharding").read_text() == "garbage"
    records = records_without_timing(workdir)
    assert records == records_without_timing(reference_dir)
    assert tensorboard_steps(workdir) == [r["env_steps"] for r in records]
    chex.assert_trees_all_equal(state, reference_state)


def test_a_checkpoint_another_process_found_damaged_is_skipped_here_too(uninterrupted,
                                                                          monkeypatch):
    """Each process of a multi-host run reads only its own shards; they must agree on damage,
    or they would resume from different updates. Process 1 (simulated: its verdicts arrive
    through the all-gather) cannot read checkpoint 6, which reads back here."""
    reference_dir, reference_state = uninterrupted
    verdicts = {6: "ValueError: OUT_OF_RANGE: cut short", 4: "", 2: ""}
    gathered = []

    def all_gather(text):
        step = [6, 4, 2][len(gathered)]
        gathered.append(text)
        return [text, verdicts[step]]

    monkeypatch.setattr(checkpoint_module, "gather_texts", all_gather)
    template = jax.eval_shape(lambda: init_seeds(MLSHSpec.build(TINY)))
    step, state, damaged = RunCheckpoints(reference_dir / CHECKPOINTS_DIR, 3).restore_newest(
        lambda step: template)
    assert step == 4 and gathered == ["", ""]  # this process read 6 and 4 without trouble
    assert [error.step for error in damaged] == [6]
    assert str(damaged[0]) == (f"checkpoint {reference_dir / CHECKPOINTS_DIR / '6'} is damaged "
                               f"(RuntimeError: on process 1: ValueError: OUT_OF_RANGE: cut "
                               f"short)")
    assert int(state.update_step.min()) == 4


def test_a_run_without_an_intact_checkpoint_exits_1_and_changes_nothing(uninterrupted,
                                                                          tmp_path, capsys):
    workdir = shutil.copytree(uninterrupted[0], tmp_path / "run")
    for step in (2, 4, 6):
        (workdir / CHECKPOINTS_DIR / str(step) / "default" / "_sharding").write_text("garbage")
    before = tree_of(workdir)
    code = run_main(["--config", write_config_file(tmp_path), "--workdir", str(workdir)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"error: no intact checkpoint in {workdir / CHECKPOINTS_DIR}: ")
    assert all(f"checkpoint {workdir / CHECKPOINTS_DIR / str(step)} is damaged" in err
               for step in (2, 4, 6))
    assert tree_of(workdir) == before


def write_config_file(folder) -> str:
    """A config file that `experiments.run --config` reads as TINY."""
    path = folder / "tiny.py"
    path.write_text(f"from mlsh_jax.config import *\n\ndef get_config():\n    return {TINY!r}\n")
    return str(path)


@pytest.mark.slow
def test_full_disk_stops_with_one_line_and_the_same_command_resumes_exactly(uninterrupted,
                                                                           small_disk, tmp_path):
    # Here rather than in test_faults.py: it shares this file's compiled uninterrupted run.
    reference_dir, _ = uninterrupted
    mount, resize = small_disk
    room = 2 * tmpfs_bytes(reference_dir)
    workdir = mount(room) / "run"
    answers = iter([False, True])  # asked before the first chunk and after each one
    train(TINY, workdir, log=lambda _: None, should_stop=lambda: next(answers))
    # Room for the logs of updates 3 and 4 (a few pages), not for checkpoint 4: it fails in
    # orbax's background save and surfaces when the run waits for its last save (update 4).
    resize(used(workdir) + 8 * PAGE)
    command = [sys.executable, "-m", "experiments.run", "--config", write_config_file(tmp_path),
               "--workdir", str(workdir), "--config.total_updates=4"]
    env = dict(os.environ, JAX_PLATFORMS="cpu")

    failed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env,
                            timeout=300)
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert failed.stderr.count("error: ") == 1, failed.stderr[-3000:]
    assert (f"error: disk full while writing {workdir}/checkpoints/4 (No space left on device); "
            f"the newest intact checkpoint is update 2; free space and run the same command to "
            f"resume") in failed.stderr, failed.stderr[-3000:]
    # No traceback through our code, no orbax log. (tensorstore's threads may still print
    # "Event loop is closed" for writes that completed after orbax closed their event loop.)
    assert not re.search(r"mlsh_jax/|experiments/|ERROR:", failed.stderr), failed.stderr[-3000:]
    assert RunCheckpoints(workdir / CHECKPOINTS_DIR, 3).newest_committed() == 2
    assert [p.name for p in (workdir / CHECKPOINTS_DIR).iterdir() if p.name.isdigit()] == ["2"]

    resize(room)
    resumed = subprocess.run(command[:-1], cwd=ROOT, capture_output=True, text=True, env=env,
                             timeout=300)  # total_updates=6 again: the rest of the run
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming after update 2" in resumed.stdout
    assert records_without_timing(workdir) == records_without_timing(reference_dir)
    assert (workdir / SUBPOLICIES_FILE).read_bytes() == \
        (reference_dir / SUBPOLICIES_FILE).read_bytes()
    assert not [p for p in (workdir / CHECKPOINTS_DIR).iterdir() if not p.name.isdigit()]


def test_resuming_with_another_k_names_the_mismatch(uninterrupted):
    workdir, _ = uninterrupted
    with pytest.raises(ConfigError, match="num_subpolicies: run has 2, config has 3"):
        train(dataclasses.replace(TINY, num_subpolicies=3), workdir)


def test_a_run_saved_before_a_field_existed_resumes_with_that_fields_default(tmp_path):
    config = dataclasses.replace(TINY, episode_length=0)  # that field at its default
    stored = json.loads(config_to_json(config))
    del stored["episode_length"], stored["init_subpolicies_from"]
    del stored["sub_ppo"]["target_kl"], stored["master_ppo"]["target_kl"]  # in a group too
    (tmp_path / CONFIG_FILE).write_text(json.dumps(stored))
    check_same_run(tmp_path, config)
    with pytest.raises(ConfigError, match="episode_length: run has 0, config has 30"):
        check_same_run(tmp_path, dataclasses.replace(config, episode_length=30))
    with pytest.raises(ConfigError, match="sub_ppo: run has .*'target_kl': 0.0"):
        check_same_run(tmp_path, dataclasses.replace(
            config, sub_ppo=dataclasses.replace(config.sub_ppo, target_kl=0.01)))


def test_restoring_into_another_network_size_names_the_leaf(uninterrupted):
    workdir, _ = uninterrupted
    other = MLSHSpec.build(dataclasses.replace(TINY, network=NetworkConfig(hidden_sizes=(16,))))
    with pytest.raises(CheckpointError, match=r"shape of .*Dense_0.* differs: the config "
                                              r"expects \(.*16\), the checkpoint has \(.*8\)"):
        RunCheckpoints(workdir / CHECKPOINTS_DIR, 3).restore(6, init_seeds(other))
    with pytest.raises(CheckpointError, match="does not fit this config"):  # not damage
        RunCheckpoints(workdir / CHECKPOINTS_DIR, 3).restore_newest(
            lambda step: init_seeds(other))


def test_an_export_whose_optimizer_state_has_other_empty_nodes_is_refused_in_one_line(
        uninterrupted):
    """Same leaves and shapes, another optax chain (a global clip instead of the actor's and
    critic's apart): the loader says the structure differs instead of raising flax's error."""
    workdir, state = uninterrupted
    template = jax.eval_shape(lambda: state.subpolicies)
    other = template.replace(opt_state=(optax.EmptyState(),) + tuple(template.opt_state[1:]))
    with pytest.raises(CheckpointError, match=r"does not fit this config: state structure "
                                              r"differs \(ValueError: "):
        load_subpolicies(workdir, other)
    load_subpolicies(workdir, template)


def test_resuming_a_finished_run_changes_nothing(uninterrupted):
    workdir, reference_state = uninterrupted
    before = (workdir / "metrics.jsonl").read_text()
    state = train(TINY, workdir, log=lambda _: None)
    assert (workdir / "metrics.jsonl").read_text() == before
    chex.assert_trees_all_equal(state, reference_state)


def _metrics_with(master_value_loss: np.ndarray) -> UpdateMetrics:
    seeds, updates = master_value_loss.shape
    zeros = np.zeros((seeds, updates), np.float32)
    ppo = PPOMetrics(policy_loss=zeros, value_loss=zeros, entropy=zeros, approx_kl=zeros,
                     clip_fraction=zeros, steps_taken=zeros)
    return UpdateMetrics(slot_episodes=EpisodeTotals(zeros, zeros, zeros, zeros, zeros, zeros),
                         slot_task_type=zeros, joint_fraction=zeros,
                         subpolicy_usage=zeros, decisions_by_task_type=zeros,
                         master=ppo.replace(value_loss=master_value_loss), subpolicy=ppo,
                         subpolicy_steps=zeros, macro_overflow=zeros,
                         alike_checked=zeros.astype(bool), subpolicy_distance=zeros,
                         subpolicy_reinitialised=zeros.astype(bool))


def test_non_finite_check_names_the_earliest_update_seed_and_quantity():
    state = init_seeds(MLSHSpec.build(TINY))
    losses = np.zeros((2, 4), np.float32)
    losses[1, 2], losses[0, 3] = np.nan, np.inf
    assert find_non_finite(_metrics_with(losses), state, first_update=11) == \
        "update 13: master value_loss is nan (seed 1)"
    assert find_non_finite(_metrics_with(np.zeros((2, 4), np.float32)), state, 11) is None
    broken = state.replace(subpolicies=jax.tree.map(lambda x: x * np.nan, state.subpolicies))
    assert find_non_finite(_metrics_with(np.zeros((2, 4), np.float32)), broken, 11) == \
        "update 14: sub-policy parameters, optimizer state or observation statistics contain " \
        "NaN/inf"
    losses = np.zeros((2, 4), np.float32)
    losses[0, 1] = np.inf
    subpolicy_first = _metrics_with(np.where(np.arange(4) == 3, np.nan, 0.0) * np.ones((2, 1)))
    subpolicy_first = subpolicy_first.replace(
        subpolicy=subpolicy_first.subpolicy.replace(entropy=losses))
    assert find_non_finite(subpolicy_first, state, 11) == \
        "update 12: sub-policy entropy is inf (seed 0)"


@pytest.mark.slow
def test_diverging_run_stops_at_the_first_bad_update_and_keeps_good_checkpoints(tmp_path):
    config = dataclasses.replace(TINY, num_seeds=1, total_updates=4, log_every=1,
                                 checkpoint_every=1, sub_ppo=PPOConfig(learning_rate=1e30))
    with pytest.raises(NonFiniteError) as error:
        train(config, tmp_path, log=lambda _: None)
    message = str(error.value)
    assert message.startswith("update ") and "sub-policy" in message
    bad_update = int(message.split()[1].rstrip(":"))
    checkpoints = RunCheckpoints(tmp_path / CHECKPOINTS_DIR, 3)
    assert checkpoints.latest_step() == (bad_update - 1 or None)
    assert message.endswith(f"update {bad_update - 1} in {checkpoints.directory}"
                            if bad_update > 1 else "none yet")


def test_a_workdir_without_checkpoint_starts_over_with_any_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(dataclasses.asdict(
        dataclasses.replace(TINY, num_subpolicies=5))))
    (tmp_path / "metrics.jsonl").write_text('{"update": 2}\n{"upda')  # killed mid-line
    config = dataclasses.replace(TINY, total_updates=2)  # the uninterrupted run's program
    train(config, tmp_path, log=lambda _: None)
    assert [r["update"] for r in records_without_timing(tmp_path)] == [2]
    assert config_from_dict(json.loads((tmp_path / "config.json").read_text())) == config
