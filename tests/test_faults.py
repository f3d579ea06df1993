"""Faults a run survives.

- A full disk (a real, small tmpfs) makes every writer name its file; the whole run on a full
  disk, stopped in one line and resumed by the same command, is tested in test_checkpoint.py
  (it shares that file's compiled run; slow).
- A multi-host run (two processes on loopback) stops on every process, with the reason, when
  one process fails: a config that differs, or a write that fails mid-run (slow).
- Ten SIGKILLs at random moments of one run, each resumed, end as the uninterrupted run (slow).
"""

import json
import math
import os
import pathlib
import random
import re
import signal
import socket
import subprocess
import sys
import time

import chex
import numpy as np
import pytest

from experiments.config_cli import apply_overrides, load_config_file
from experiments.run import main as run_main
from mlsh_jax.checkpoint import CHECKPOINTS_DIR, SUBPOLICIES_FILE, RunCheckpoints, \
    save_subpolicies
from mlsh_jax.metrics_log import METRICS_FILE, JsonlWriter, TensorBoardWriter
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import init_seeds
from mlsh_jax.train import train
from mlsh_jax.writes import WriteFailed

ROOT = pathlib.Path(__file__).resolve().parents[1]
TIMING_FIELDS = ("steps_per_second", "seconds", "compile_seconds")
PAGE = 4096  # tmpfs counts a file's size in whole pages
# One candidate: the disk budgets below are sized for one run's files, not a best of k's.
OVERRIDES = ["num_slots=2", "envs_per_slot=2", "rollout_steps=20", "network.hidden_sizes=8",
             "total_updates=4", "log_every=1", "checkpoint_every=2", "master_ppo.epochs=1",
             "sub_ppo.epochs=1", "candidates=1"]
RUN = ["--config", "moving_bandits.py"] + [f"--config.{o}" for o in OVERRIDES]


def run_cli(workdir: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m experiments.run` of the tiny run (RUN) on `workdir`, finished."""
    return subprocess.run([sys.executable, "-m", "experiments.run", *RUN, "--workdir",
                           str(workdir), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, JAX_PLATFORMS="cpu"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def records_without_timing(workdir: pathlib.Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING_FIELDS}
            for line in (workdir / METRICS_FILE).read_text().splitlines()]


def tmpfs_bytes(folder: pathlib.Path) -> int:
    """What the files under `folder` take on a tmpfs: their sizes in whole pages."""
    return sum(math.ceil(path.stat().st_size / PAGE) * PAGE
               for path in folder.rglob("*") if path.is_file())


def config(overrides: list[str] = OVERRIDES):
    """The RunConfig the command line builds from moving_bandits.py and `overrides`."""
    return apply_overrides(load_config_file("moving_bandits"), overrides)


def used(disk: pathlib.Path) -> int:
    stats = os.statvfs(disk)
    return (stats.f_blocks - stats.f_bfree) * stats.f_frsize


def fill(disk: pathlib.Path) -> None:
    """Take every free byte of `disk`."""
    free = os.statvfs(disk)
    (disk / "filler").write_bytes(bytes(free.f_bavail * free.f_frsize))


def test_metrics_and_tensorboard_writes_name_their_file_when_the_disk_is_full(small_disk):
    mount, _ = small_disk
    disk = mount(4 * PAGE)
    writers = {METRICS_FILE: JsonlWriter(disk / METRICS_FILE),
               "tensorboard": TensorBoardWriter(disk / "tensorboard")}
    fill(disk)
    record = {"update": 1, "env_steps": 1, **{f"x{i}": float(i) for i in range(300)}}
    for name, writer in writers.items():
        with pytest.raises(WriteFailed) as error:
            writer.write(record)
        assert error.value.disk_full and error.value.filename == str(disk / name)
    (disk / "filler").unlink()
    for writer in writers.values():
        writer.close()


def test_a_sub_policy_export_that_does_not_fit_names_its_file_and_leaves_no_partial_file(
        small_disk):
    mount, _ = small_disk
    disk = mount(4 * PAGE)
    with pytest.raises(WriteFailed) as error:
        save_subpolicies(disk, {"phi": np.ones(2 * PAGE)})  # 16 pages
    assert error.value.disk_full and error.value.filename == str(disk / SUBPOLICIES_FILE)
    assert os.listdir(disk) == []


def test_a_config_json_that_cannot_be_replaced_stops_in_one_line_and_leaves_no_temp_file(
        tmp_path, capsys):
    workdir = tmp_path / "run"
    (workdir / "config.json").mkdir(parents=True)  # os.replace onto a directory fails
    code = run_main(["--config", "moving_bandits.py", "--workdir", str(workdir),
                     "--config.algorithm=scratch"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err == (f"error: could not write {workdir / 'config.json'} (Is a "
                                 f"directory); there is no checkpoint yet; fix this and run the "
                                 f"same command to resume"), err
    assert os.listdir(workdir) == ["config.json"]


def start_processes(workdir: pathlib.Path, logs: pathlib.Path,
                    *per_process: list[str]) -> list[subprocess.Popen]:
    """The tiny run (RUN) as len(per_process) processes on loopback, one device each;
    process i gets the extra arguments per_process[i] and writes its output to
    logs/process<i>.txt."""
    port = free_port()
    processes = []
    for rank, extra in enumerate(per_process):
        with open(logs / f"process{rank}.txt", "w") as output:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "experiments.run", *RUN, "--workdir", str(workdir),
                 f"--config.num_devices={len(per_process)}", "--coordinator",
                 f"127.0.0.1:{port}", "--num-processes", str(len(per_process)),
                 "--process-id", str(rank), *extra],
                cwd=ROOT, stdout=output, stderr=subprocess.STDOUT,
                env=dict(os.environ, JAX_PLATFORMS="cpu")))
    return processes


def exit_times(processes: list[subprocess.Popen], timeout: float) -> list[float]:
    """Seconds from now until each process exits; kills them all after `timeout`."""
    start, times = time.monotonic(), [None] * len(processes)
    try:
        while None in times and time.monotonic() - start < timeout:
            for index, process in enumerate(processes):
                if times[index] is None and process.poll() is not None:
                    times[index] = time.monotonic() - start
            time.sleep(0.2)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return times


@pytest.mark.slow
def test_a_process_started_with_another_config_stops_every_process_with_the_reason(tmp_path):
    workdir = tmp_path / "run"
    processes = start_processes(workdir, tmp_path, [],
                                ["--config.sub_ppo.learning_rate=0.001"])
    times = exit_times(processes, timeout=240)
    outputs = [(tmp_path / f"process{rank}.txt").read_text() for rank in range(2)]
    assert None not in times, outputs
    assert max(times) - min(times) < 60, times  # not the distributed timeout (100 s and more)
    assert [p.returncode for p in processes] == [1, 2], outputs
    assert ("error: process 1 has another config than process 0 (sub_ppo: process 0 has "
            in outputs[1]), outputs[1]
    assert "error: process 1 failed (ConfigError: process 1 has another config" in outputs[0]
    assert not (workdir / CHECKPOINTS_DIR).exists() or not os.listdir(workdir / CHECKPOINTS_DIR)


@pytest.mark.slow
def test_a_write_failing_on_one_process_mid_run_stops_every_process(small_disk, tmp_path):
    mount, _ = small_disk
    # Process 0 alone writes the logs and the export; 6 pages hold those of update 1 only.
    workdir = mount(6 * PAGE) / "run"
    processes = start_processes(workdir, tmp_path, [], [])
    times = exit_times(processes, timeout=400)
    outputs = [(tmp_path / f"process{rank}.txt").read_text() for rank in range(2)]
    assert None not in times, outputs
    assert max(times) - min(times) < 60, times  # not the distributed timeout (100 s and more)
    assert [p.returncode for p in processes] == [1, 1], outputs
    assert "[1/4]" in outputs[0], outputs[0]  # it failed mid-run, after update 1
    assert f"error: disk full while writing {workdir}/" in outputs[0], outputs[0]
    assert "error: process 0 failed (WriteFailed: [Errno 28] No space left on device" \
        in outputs[1], outputs[1]


KILL_OVERRIDES = [o for o in OVERRIDES if not o.startswith(("total_updates", "checkpoint_"))] \
    + ["total_updates=24", "checkpoint_every=1"]


@pytest.fixture(scope="module")
def uninterrupted_long(tmp_path_factory):
    """The tiny run with 24 updates and a checkpoint after each, trained in this process."""
    workdir = tmp_path_factory.mktemp("uninterrupted_long")
    train(config(KILL_OVERRIDES), workdir, log=lambda _: None)
    return workdir


@pytest.mark.slow
def test_ten_kills_at_random_moments_each_resumed_end_exactly_like_an_uninterrupted_run(
        uninterrupted_long, tmp_path):
    workdir, rng, landed = tmp_path / "run", random.Random(15), []
    command = [sys.executable, "-m", "experiments.run", "--config", "moving_bandits.py",
               "--workdir", str(workdir)] + [f"--config.{o}" for o in KILL_OVERRIDES]
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")
    while len(landed) < 10:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                                   stderr=subprocess.DEVNULL, env=env)
        # The set-up line, then 0-3 progress lines (one per update, after its logs and export);
        # then a moment in compiling, an update, its logs, its export or a save in flight.
        seen = [process.stdout.readline() for _ in range(1 + rng.randrange(4))]
        time.sleep(rng.uniform(0.0, 0.4))
        process.send_signal(signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL, f"the run ended before its kill: {seen}"
        landed.append(re.sub(r"^\[\s*(\d+)/.*", r"update \1", seen[-1].strip())[:9])
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env,
                              timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    print("killed after:", landed)
    assert records_without_timing(workdir) == records_without_timing(uninterrupted_long)
    template = init_seeds(MLSHSpec.build(config(KILL_OVERRIDES)))
    restored = [RunCheckpoints(folder / CHECKPOINTS_DIR, 3).restore(24, template)
                for folder in (workdir, uninterrupted_long)]
    chex.assert_trees_all_equal(*restored)
    assert (workdir / SUBPOLICIES_FILE).read_bytes() == \
        (uninterrupted_long / SUBPOLICIES_FILE).read_bytes()
