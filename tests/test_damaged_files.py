"""Damaged files of a run: every reader stops with one line naming the file and what is wrong.

Each CLI runs in-process through its `main`; all stop before a training chunk is compiled. The
resume fallback for a damaged checkpoint is tested with the tiny runs of test_checkpoint.py.
"""

import json
import pathlib
import shutil

import pytest

from experiments.compare import main as compare_main
from experiments.evaluate import main as evaluate_main
from experiments.pictures import main as pictures_main
from experiments.render import main as render_main
from experiments.run import main as run_main
from mlsh_jax.checkpoint import SUBPOLICIES_FILE, save_subpolicies
from mlsh_jax.config import NetworkConfig, RunConfig
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import init_seeds
from mlsh_jax.train import CONFIG_FILE, config_to_json

CONFIG = RunConfig(num_slots=2, envs_per_slot=2, rollout_steps=20, macro_duration=5,
                   num_seeds=2, network=NetworkConfig(hidden_sizes=(8,)))
GARBAGE = bytes(range(256)) * 4  # neither UTF-8 nor msgpack of a sub-policy export


@pytest.fixture(scope="module")
def intact_run(tmp_path_factory) -> pathlib.Path:
    """A workdir as training leaves it for the readers: config.json and the sub-policy export."""
    workdir = tmp_path_factory.mktemp("intact")
    (workdir / CONFIG_FILE).write_text(config_to_json(CONFIG))
    save_subpolicies(workdir, init_seeds(MLSHSpec.build(CONFIG)).subpolicies)
    return workdir


@pytest.fixture
def run_copy(intact_run, tmp_path) -> pathlib.Path:
    return pathlib.Path(shutil.copytree(intact_run, tmp_path / "run"))


def one_line_error(capsys, main, *args: str) -> str:
    """Runs a CLI's `main`; asserts it failed with a single `error:` line; returns that line."""
    code = main(list(args))
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ") and "Traceback" not in err, err
    return err.strip()


def cut_in_half(path: pathlib.Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


SUBPOLICY_DAMAGE = {
    "truncated": cut_in_half,
    "garbled": lambda path: path.write_bytes(GARBAGE),
    "empty": lambda path: path.write_bytes(b""),
    "a number": lambda path: path.write_bytes(b"\x05"),  # valid msgpack, not an export
}


@pytest.mark.parametrize("damage", SUBPOLICY_DAMAGE)
def test_evaluate_names_a_damaged_subpolicy_export_in_one_line(capsys, run_copy, damage):
    path = run_copy / SUBPOLICIES_FILE
    SUBPOLICY_DAMAGE[damage](path)
    line = one_line_error(capsys, evaluate_main, "--workdir", str(run_copy))
    assert f"{path} is damaged" in line and "python -m experiments.run" in line


def test_pictures_names_a_truncated_subpolicy_export_in_one_line(capsys, run_copy):
    path = run_copy / SUBPOLICIES_FILE
    cut_in_half(path)
    line = one_line_error(capsys, pictures_main, "--workdir", str(run_copy),
                          "--out", str(run_copy / "picture.png"))
    assert f"{path} is damaged (ValueError: Unpack failed: incomplete input)" in line


@pytest.mark.parametrize("main, out", [(evaluate_main, []), (pictures_main, ["--out", "a.png"]),
                                       (render_main, ["--out", "a.png"])],
                         ids=["evaluate", "pictures", "render"])
def test_readers_name_a_garbled_config_json_in_one_line(capsys, run_copy, main, out):
    path = run_copy / CONFIG_FILE
    path.write_bytes(GARBAGE)
    line = one_line_error(capsys, main, "--workdir", str(run_copy), *out)
    assert f"{path} is damaged: not a readable JSON file (UnicodeDecodeError" in line


def test_resuming_names_a_garbled_config_json_in_one_line(capsys, run_copy):
    (run_copy / "checkpoints" / "2").mkdir(parents=True)  # so the run counts as resumed
    path = run_copy / CONFIG_FILE
    path.write_bytes(GARBAGE)
    line = one_line_error(capsys, run_main, "--config", "moving_bandits.py",
                          "--workdir", str(run_copy))
    assert f"{path} is damaged: not a readable JSON file" in line


@pytest.mark.parametrize("damage", ["truncated", "garbled"])
def test_transfer_from_a_damaged_export_stops_in_one_line(capsys, run_copy, tmp_path, damage):
    path = run_copy / SUBPOLICIES_FILE
    SUBPOLICY_DAMAGE[damage](path)
    target = tmp_path / "target"
    line = one_line_error(capsys, run_main, "--config", "moving_bandits.py",
                          "--workdir", str(target), "--config.num_slots=2",
                          "--config.envs_per_slot=2", f"--config.init_subpolicies_from={run_copy}")
    assert f"init_subpolicies_from={str(run_copy)!r}: {path} is damaged" in line
    assert not (target / "metrics.jsonl").exists() and not (target / CONFIG_FILE).exists()


EVAL_DAMAGE = {
    "garbled": (GARBAGE, "is damaged: not a readable JSON file (UnicodeDecodeError"),
    "truncated": (b'{"env": "moving_bandits", "mean_ret', "is damaged: not a readable JSON file"),
    "a list for a number": (json.dumps({
        "env": "moving_bandits", "tasks": [64], "mean_return": [1.0], "standard_error": [0.1],
        "final_mean_return": 1.0, "final_standard_error": 0.1}).encode(),
        "is damaged: a field has the wrong type (TypeError"),
}


@pytest.mark.parametrize("damage", EVAL_DAMAGE)
def test_compare_names_a_damaged_eval_json_in_one_line(capsys, run_copy, tmp_path, damage):
    content, expected = EVAL_DAMAGE[damage]
    path = run_copy / "eval.json"
    path.write_bytes(content)
    line = one_line_error(capsys, compare_main, "--workdirs", str(run_copy),
                          "--out", str(tmp_path / "out"))
    assert f"{path} {expected}" in line

