"""Every command-line tool reports a bad argument in exactly one stderr line and exits 2.

Each case runs the tool's `main` in this process (all of them stop before compiling anything):
a wrong type, a value out of range, an unknown option and a missing required one, for
experiments.* and benchmarks.* alike. One real process checks that `python -m` prints no
traceback either.
"""

import importlib
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

CASES = [
    # (module, arguments, texts the one line must contain)
    ("experiments.run", [], ["required", "--config"]),
    ("experiments.run", ["--config", "moving_bandits.py", "--bogus"], ["--bogus"]),
    ("experiments.run", ["--config", "moving_bandits.py", "--num-processes", "two"],
     ["--num-processes", "'two'"]),
    ("experiments.run", ["--config", "moving_bandits.py", "--config.num_slots=0"],
     ["num_slots=0", ">= 1"]),
    ("experiments.run", ["--config", "nope.py"], ["'nope.py'", "moving_bandits.py"]),
    ("experiments.run", ["--config", "moving_bandits.py", "--coordinator", "host:1234",
                         "--num-processes", "2", "--process-id", "2"], ["--process-id=2"]),
    ("experiments.evaluate", [], ["required", "--workdir"]),
    ("experiments.evaluate", ["--workdir", "w", "--tasks", "many"], ["--tasks", "'many'"]),
    ("experiments.evaluate", ["--workdir", "w", "--tasks", "0"], ["--tasks", "0", ">= 1"]),
    ("experiments.evaluate", ["--workdir", "w", "--bogus"], ["--bogus"]),
    ("experiments.compare", ["--workdirs", "a"], ["required", "--out"]),
    ("experiments.compare", ["--workdirs", "a", "--out", "o", "--labels", "x", "y"],
     ["--labels", "2 given for 1"]),
    ("experiments.compare", ["--workdirs", "a", "--out", "o", "--dpi", "3"], ["--dpi"]),
    ("experiments.pictures", ["--workdir", "w"], ["required", "--out"]),
    ("experiments.pictures", ["--workdir", "w", "--out", "p.png", "--grid", "1"],
     ["--grid", "1", ">= 2"]),
    ("experiments.pictures", ["--workdir", "w", "--out", "p.png", "--goals", "1,2"],
     ["--goals", "'1,2'", "4 comma-separated"]),
    ("experiments.pictures", ["--workdir", "w", "--out", "p.png", "--dpi", "x"],
     ["--dpi", "'x'"]),
    ("experiments.render", ["--out", "a.png"], ["required", "--workdir"]),
    ("experiments.render", ["--workdir", "w", "--out", "a.gif"], ["'a.gif'", ".html or .png"]),
    ("experiments.render", ["--workdir", "w", "--out", "a.png", "--slot", "-1"],
     ["--slot", "-1", ">= 0"]),
    ("experiments.render", ["--workdir", "w", "--out", "a.png", "--samples"], ["--samples"]),
    ("experiments.skill_walks", [], ["required", "--workdir"]),
    ("experiments.skill_walks", ["--workdir", "w", "--relative-position", "maybe"],
     ["'maybe'", "'true', 'false'"]),
    ("experiments.skill_walks", ["--workdir", "w", "--episodes", "0"], ["--episodes", ">= 1"]),
    ("experiments.humanoid_skills", [], ["required", "--workdir"]),
    ("experiments.humanoid_skills", ["--workdir", "w", "--episodes", "0"],
     ["--episodes", ">= 1"]),
    ("experiments.specialisation", ["--workdir", "w", "--tasks", "1"], ["--tasks", ">= 2"]),
    ("experiments.specialisation", [], ["required", "--workdir"]),
    ("benchmarks.sps", ["--sizes", "8by8"], ["'8by8'", "SLOTSxENVS"]),
    ("benchmarks.sps", ["--repeats", "0"], ["--repeats", ">= 1"]),
    ("benchmarks.sps", ["--env", "mars"], ["'mars'", "moving_bandits"]),
    ("benchmarks.sps", ["--bogus"], ["--bogus"]),
    ("benchmarks.stages", ["--algorithm", "ppo"], ["'ppo'", "mlsh"]),
    ("benchmarks.stages", ["--slots", "x"], ["--slots", "'x'"]),
    ("benchmarks.stages", ["--envs-per-slot", "0"], ["--envs-per-slot", ">= 1"]),
    ("benchmarks.startup", ["--repeats", "0"], ["--repeats", ">= 1"]),
    ("benchmarks.startup", ["--config", "nope.py"], ["'nope.py'", "moving_bandits.py"]),
    ("benchmarks.startup", ["--config.num_slots=0"], ["num_slots=0", ">= 1"]),
    ("benchmarks.startup", ["--bogus"], ["--bogus"]),
    ("benchmarks.devices", ["--devices", "1,0"], ["--devices", "0", ">= 1"]),
    ("benchmarks.devices", ["--size", "64"], ["--size", "'64'", "SLOTSxENVS"]),
    ("benchmarks.devices", ["--devices", "3"], ["num_devices=3"]),
    ("benchmarks.devices", ["--updates", "x"], ["--updates", "'x'"]),
    ("benchmarks.scaling", ["--ks", "1,,2"], ["--ks", "'1,,2'", "comma-separated"]),
    ("benchmarks.scaling", ["--slots", "x"], ["--slots", "'x'"]),
    ("benchmarks.scaling", ["--k-slots", "0"], ["--k-slots", ">= 1"]),
    ("benchmarks.brax_backends", ["--backends", "warp"], ["'warp'", "mjx"]),
    ("benchmarks.brax_backends", ["--envs", "moving_bandits"], ["'moving_bandits'", "twowalk"]),
    ("benchmarks.brax_backends", ["--nan-batch", "512"], ["--nan-batch 512", "128,1024"]),
    ("benchmarks.brax_backends", ["--steps", "0"], ["--steps", ">= 1"]),
    ("benchmarks.brax_ppo", ["--num-envs", "100"], ["--num-envs 100", "--slots (8)"]),
    ("benchmarks.brax_ppo", ["--brax-epochs", "2"], ["--brax-epochs 2", "(2)"]),
    ("benchmarks.brax_ppo", ["--brax-python", "/nonexistent/python"],
     ["'/nonexistent/python'"]),
    ("benchmarks.brax_ppo", ["--backend", "warp"], ["'warp'", "spring"]),
    ("benchmarks.subpolicy_update", ["--rows", "10"], ["--rows", "10", ">= 15"]),
    ("benchmarks.subpolicy_update", ["--subpolicies", "2,x"], ["--subpolicies", "'x'"]),
    ("benchmarks.subpolicy_update", ["--repeats", "-1"], ["--repeats", ">= 1"]),
]


def exit_status(main, argv: list[str]) -> int:
    """What `python -m MODULE ARGV` exits with: `main`'s return value or its SystemExit."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code


@pytest.mark.parametrize("module, argv, expected", CASES)
def test_a_bad_argument_gives_one_error_line_and_exit_status_2(capsys, module, argv,
                                                                 expected):
    status = exit_status(importlib.import_module(module).main, argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert status == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for text in expected:
        assert text in lines[0], lines[0]


def test_a_real_process_prints_one_line_and_no_traceback():
    done = subprocess.run([sys.executable, "-m", "benchmarks.sps", "--sizes", "8by8"], cwd=ROOT,
                          env={**os.environ, "JAX_PLATFORMS": "cpu"}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == ("error: argument --sizes: '8by8': expected SLOTSxENVS with positive "
                           "integers, such as 64x8 (see `python -m benchmarks.sps --help`)\n")
