"""Task slots split over devices and over processes train as on one device: a tiny run sharded
over 4 forced host devices and one over 2 processes on loopback (gloo collectives), each
against an unsharded run; a meta-test's tasks split over 2 devices give the one device's
result. The runs are subprocesses (tests/sharding_worker.py, tests/meta_test_devices_worker.py)
because the forced device count must be set before JAX is imported; they are in the slow suite
(about a minute of two cores), the shardings and the refusals in the default one."""

import dataclasses
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec

from experiments.evaluate import main as evaluate_cli
from experiments.run import main as run_cli
from mlsh_jax.algorithms import meta_test_config
from mlsh_jax.config import ConfigError, NetworkConfig, RunConfig
from mlsh_jax.meta_test import flat_meta_test_state, hierarchical_meta_test_state, \
    task_shardings
from mlsh_jax.sharding import SLOT_AXIS, slot_mesh, state_shardings
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import init_seeds

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORKER = ROOT / "tests" / "sharding_worker.py"
TIMEOUT_SECONDS = 300
TIMING_FIELDS = ("steps_per_second", "seconds", "compile_seconds")
SLOTS = 8  # num_slots of the worker's config


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_run(tmp_path: pathlib.Path, host_devices: int, num_devices: int,
              processes: int = 1) -> list[tuple[subprocess.Popen, pathlib.Path, pathlib.Path]]:
    """Start the worker processes of one run (sharing a workdir): (process, npz, stderr file)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    common = [sys.executable, str(WORKER), "--host-devices", str(host_devices),
              "--num-devices", str(num_devices), "--workdir", str(tmp_path / "run")]
    if processes > 1:
        common += ["--coordinator", f"127.0.0.1:{free_port()}",
                   "--num-processes", str(processes)]
    started = []
    for rank in range(processes):
        out, log = tmp_path / f"out{rank}.npz", tmp_path / f"stderr{rank}.txt"
        rank_args = ["--process-id", str(rank)] if processes > 1 else []
        with open(log, "w") as stderr:
            started.append((subprocess.Popen(common + ["--out", str(out)] + rank_args, cwd=ROOT,
                                             env=env, stdout=stderr, stderr=stderr), out, log))
    return started


def finish_runs(runs: dict[str, list]) -> dict[str, list[pathlib.Path]]:
    """Wait for every process of every run; on a failure or timeout kill them all and fail
    with the failed run's stderr. Returns each run's npz files."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    failed = None
    try:
        for name, started in runs.items():
            for process, _, _ in started:
                status = process.wait(timeout=max(deadline - time.monotonic(), 1))
                if status != 0 and failed is None:
                    failed = name, f"exit status {status}"
    except subprocess.TimeoutExpired:
        failed = name, f"timeout after {TIMEOUT_SECONDS} s"
    finally:
        for started in runs.values():
            for process, _, _ in started:
                if process.poll() is None:
                    process.kill()
                    process.wait()
    if failed:
        name, why = failed
        logs = "\n".join(f"--- process {rank} ---\n{log.read_text()[-3000:]}"
                         for rank, (_, _, log) in enumerate(runs[name]))
        pytest.fail(f"run {name!r} failed ({why}):\n{logs}")
    return {name: [out for _, out, _ in started] for name, started in runs.items()}


def metrics_numbers(workdir: pathlib.Path) -> dict[str, float]:
    """Every number of every metrics.jsonl record except timings, by record and field."""
    numbers = {}
    for index, line in enumerate((workdir / "metrics.jsonl").read_text().splitlines()):
        for name, value in json.loads(line).items():
            if name not in TIMING_FIELDS:
                for position, x in enumerate(np.ravel(np.asarray(value, np.float64))):
                    numbers[f"{index}/{name}/{position}"] = x
    return numbers


def assert_trains_like(found: dict, reference: dict) -> None:
    """phi, theta and the logged metrics equal up to float rounding (measured: <= 3e-8 apart
    for parameters; the order of the cross-device sums differs)."""
    params = [name for name in reference["arrays"].files if name.startswith(("phi", "theta"))]
    assert any(name.startswith("phi") for name in params)
    assert any(name.startswith("theta") for name in params)
    for name in params:
        np.testing.assert_allclose(found["arrays"][name], reference["arrays"][name], rtol=1e-4,
                                   atol=1e-5, err_msg=name)
    assert found["metrics"].keys() == reference["metrics"].keys()
    np.testing.assert_allclose(list(found["metrics"].values()),
                               list(reference["metrics"].values()), rtol=1e-4, atol=1e-5)


def assert_layout(arrays, devices: int, processes: int) -> None:
    """Every slot leaf spans `devices` devices with S/devices slots per shard, phi is
    replicated, and the checkpoint restored onto the same shardings and values."""
    assert int(arrays["process_count"]) == processes
    assert set(arrays["slot_devices"]) == {devices}
    assert set(arrays["slot_shard_sizes"]) == {SLOTS // devices}
    assert arrays["phi_replicated"].all()
    assert arrays["restored_same_sharding"].all() and arrays["restored_equal"].all()


def load(out: pathlib.Path) -> dict:
    return dict(arrays=np.load(out), metrics=metrics_numbers(out.parent / "run"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The unsharded reference, 4 devices in one process, and 2 processes of 1 device each:
    independent processes, started together so that they share the wait."""
    layouts = dict(unsharded=dict(host_devices=1, num_devices=1),
                   four_devices=dict(host_devices=4, num_devices=4),
                   two_processes=dict(host_devices=1, num_devices=2, processes=2))
    return finish_runs({name: start_run(tmp_path_factory.mktemp(name), **layout)
                        for name, layout in layouts.items()})


@pytest.mark.slow
def test_slots_sharded_over_four_devices_train_like_one_device(runs):
    sharded = load(runs["four_devices"][0])
    assert_layout(sharded["arrays"], devices=4, processes=1)
    assert_trains_like(sharded, load(runs["unsharded"][0]))


@pytest.mark.slow
def test_two_processes_owning_half_the_slots_each_end_with_the_same_phi(runs):
    outs = runs["two_processes"]
    arrays = [np.load(out) for out in outs]
    for process in arrays:
        assert_layout(process, devices=2, processes=2)
    for name in arrays[0].files:
        if name.startswith(("phi", "theta")):
            np.testing.assert_array_equal(arrays[0][name], arrays[1][name], err_msg=name)
    assert_trains_like(load(outs[0]), load(runs["unsharded"][0]))


def test_state_shardings_split_only_the_slot_leaves_along_the_slot_axis():
    config = RunConfig(num_slots=2, envs_per_slot=2, num_seeds=2,
                       network=NetworkConfig(hidden_sizes=(4,)))
    spec = MLSHSpec.build(config)
    state = jax.eval_shape(lambda: init_seeds(spec))  # the structure is enough
    shardings = state_shardings(slot_mesh(1), state)
    slot_specs = {s.spec for s in jax.tree.leaves(shardings.slots)}
    other_specs = {s.spec for s in jax.tree.leaves(shardings.replace(slots=None))}
    assert slot_specs == {PartitionSpec(None, SLOT_AXIS)}
    assert other_specs == {PartitionSpec()}
    assert len(jax.tree.leaves(shardings)) == len(jax.tree.leaves(state))


@pytest.mark.parametrize("num_devices, message", [
    (3, "num_devices=3: must divide num_slots=8"),
    (0, "num_devices=0: must be an integer >= 1"),
])
def test_num_devices_must_divide_the_slots(num_devices, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        RunConfig(num_slots=8, num_devices=num_devices)


def test_a_mesh_of_more_devices_than_exist_is_refused_by_name():
    count = jax.device_count()
    with pytest.raises(ConfigError, match=re.escape(
            f"num_devices={count + 1}: only {count} cpu device(s) available; on a CPU, set "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={count + 1} before starting")):
        slot_mesh(count + 1)


@pytest.mark.parametrize("flags, message", [
    (["--coordinator", "127.0.0.1:1234"], "--coordinator, --num-processes and --process-id go"),
    (["--coordinator", "127.0.0.1:1234", "--num-processes", "2", "--process-id", "2"],
     "--process-id=2: must be in 0 .. 1"),
])
def test_cli_refuses_incomplete_multi_host_flags(flags, message, capsys):
    status = run_cli(["--config", "moving_bandits.py", "--workdir", "unused"] + flags)
    assert status == 2
    assert message in capsys.readouterr().err


def test_meta_test_of_a_sharded_run_runs_on_one_device_whatever_its_task_count():
    trained = RunConfig(num_slots=8, num_devices=4)
    assert meta_test_config(trained, num_tasks=5, updates=2, seed=0).num_devices == 1
    flat = dataclasses.replace(trained, algorithm="shared")
    assert meta_test_config(flat, num_tasks=5, updates=2, seed=0).num_devices == 1


@pytest.mark.parametrize("hierarchical", [True, False])
def test_a_meta_test_splits_only_its_task_axis_over_the_devices(hierarchical):
    config = RunConfig(algorithm="mlsh" if hierarchical else "shared", num_slots=2,
                       envs_per_slot=2, network=NetworkConfig(hidden_sizes=(4,)))
    spec = MLSHSpec.build(meta_test_config(config, num_tasks=4, updates=2, seed=0))
    phi = jax.eval_shape(lambda: init_seeds(spec)).subpolicies
    state = jax.eval_shape(lambda p: hierarchical_meta_test_state(spec, p, 4, 0)
                           if hierarchical else flat_meta_test_state(spec, p, 4, 0, 1), phi)
    shardings = task_shardings(slot_mesh(1), state, hierarchical)
    split = PartitionSpec(None, SLOT_AXIS)
    if hierarchical:  # the slots are the tasks; the frozen phi and the keys are replicated
        assert {s.spec for s in jax.tree.leaves(shardings.slots)} == {split}
        assert {s.spec for s in jax.tree.leaves(shardings.subpolicies)} == {PartitionSpec()}
    else:  # [seeds, tasks, ...]: each task's copy of the policy lives with its task
        assert {s.spec for s in jax.tree.leaves(shardings)} == {split}
        assert all(leaf.shape[1] == 4 for leaf in jax.tree.leaves(state))


@pytest.mark.parametrize("tasks, devices, message", [
    ("4", "3", "num_devices=3: must divide the number of tasks (4)"),
    (str(2 * (jax.device_count() + 1)), str(jax.device_count() + 1),
     f"num_devices={jax.device_count() + 1}: only {jax.device_count()} cpu device(s)"),
])
def test_evaluate_refuses_devices_that_do_not_divide_the_tasks_or_exist(
        tasks, devices, message, tmp_path, capsys):
    status = evaluate_cli(["--workdir", str(tmp_path), "--tasks", tasks,
                           "--num-devices", devices])
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(error) == 1 and message in error[0], error


def run_script(*args: str) -> list:
    """`python ARGS` in a process of its own (forced host devices need a fresh JAX), which must
    succeed: its stdout's lines."""
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=TIMEOUT_SECONDS,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu"))
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


@pytest.mark.slow
def test_a_meta_test_with_its_tasks_split_over_two_devices_returns_the_one_device_result():
    lines = [json.loads(line)
             for line in run_script(str(ROOT / "tests" / "meta_test_devices_worker.py"))]
    assert [line["algorithm"] for line in lines] == ["mlsh", "shared", "scratch"]
    for line in lines:
        one, two = line["1"], line["2"]
        assert one["spans"] == []  # one device: nothing placed
        assert 2 in two["spans"], line["algorithm"]  # the task leaves span both devices
        assert two["result"] == one["result"], line["algorithm"]
        assert len(one["result"]["mean_return"]) == 2


@pytest.mark.slow
def test_devices_benchmark_prints_a_row_per_device_count():
    rows = json.loads(run_script("-m", "benchmarks.devices", "--devices", "1,2", "--size", "2x2",
                                 "--updates", "1", "--repeats", "1")[-1])["rows"]
    assert [(r["devices"], r["forced_host_devices"]) for r in rows] == [(1, 1), (2, 2)]
    assert all(r["mlsh_sps"] > 0 and r["compile_s"] > 0 for r in rows)


@pytest.mark.slow
def test_the_alike_check_exchanges_distances_not_the_rollouts_observations():
    exchanged = [json.loads(line)
                 for line in run_script(str(ROOT / "tests" / "collectives_worker.py"))]
    kk_distances = r"f32\[(1,)?2,2\]"
    assert any(re.search(kk_distances, op["shape"]) for op in exchanged), exchanged
    # The rollout's observations are [50 steps, 8 slots, 4 envs, 6 floats], 4 slots per device.
    # Before the check averaged over the axes in place, its reshape gathered all of them
    # (f32[50,1,8,4,6]); one slot's share ([..., 1, 4, 6]) is what phi's update exchanges.
    several_slots = [op for op in exchanged
                     if any(int(slots) > 1 for slots in re.findall(r"(\d+),4,6\]", op["shape"]))]
    assert not several_slots, several_slots
