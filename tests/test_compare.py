"""The comparison tool: the table's numbers, the plot file, and one-line errors."""

import json
import pathlib

import pytest

from experiments.compare import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_run(workdir: pathlib.Path, report: dict, config: dict | None = None) -> pathlib.Path:
    workdir.mkdir(parents=True)
    (workdir / "eval.json").write_text(json.dumps(report))
    (workdir / "config.json").write_text(json.dumps(config or {"env": report["env"]}))
    return workdir


@pytest.fixture
def two_runs(tmp_path):
    mlsh = write_run(tmp_path / "mlsh_run", {
        "env": "moving_bandits", "algorithm": "mlsh", "tasks": 64, "updates": 3, "seeds": 4,
        "mean_return": [5.0, None, 20.25], "standard_error": [0.5, None, 1.25],
        "error_over": "seeds", "final_mean_return": 20.25, "final_standard_error": 1.25},
        config={"env": "moving_bandits", "algorithm": "mlsh"})
    # An older eval.json: no algorithm, seeds or error_over, and fewer updates.
    flat = write_run(tmp_path / "flat_run", {
        "env": "moving_bandits", "tasks": 32, "updates": 2,
        "mean_return": [3.0, 9.5], "standard_error": [None, 0.75],
        "final_mean_return": 9.5, "final_standard_error": 0.75})
    return mlsh, flat


def table_rows(path: pathlib.Path) -> list[list[str]]:
    lines = path.read_text().splitlines()[2:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_table_has_each_runs_first_and_last_return_and_the_plot_is_a_png(two_runs, tmp_path):
    mlsh, flat = two_runs
    out = tmp_path / "out"
    assert main(["--workdirs", str(mlsh), str(flat), "--out", str(out)]) == 0
    assert table_rows(out / "results.md") == [
        ["mlsh", "moving_bandits", "4", "64", "3", "5.00", "20.25 ± 1.25", "seeds", str(mlsh)],
        ["flat_run", "moving_bandits", "1", "32", "2", "3.00", "9.50 ± 0.75", "tasks", str(flat)],
    ]
    png = (out / "meta_test.png").read_bytes()
    assert png.startswith(PNG_SIGNATURE) and len(png) < 100_000


def test_labels_given_on_the_command_line_name_the_rows(two_runs, tmp_path):
    out = tmp_path / "out"
    assert main(["--workdirs", *map(str, two_runs), "--labels", "MLSH", "shared policy",
                 "--out", str(out)]) == 0
    assert [row[0] for row in table_rows(out / "results.md")] == ["MLSH", "shared policy"]


def test_missing_eval_json_exits_2_naming_the_workdir_and_the_evaluate_command(
        two_runs, tmp_path, capsys):
    untested = tmp_path / "untested"
    untested.mkdir()
    assert main(["--workdirs", str(two_runs[0]), str(untested), "--out",
                 str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert str(untested) in error
    assert f"python -m experiments.evaluate --workdir {untested}" in error
    assert not (tmp_path / "out").exists()


def test_wrong_number_of_labels_exits_2(two_runs, tmp_path, capsys):
    assert main(["--workdirs", *map(str, two_runs), "--labels", "one", "--out",
                 str(tmp_path / "out")]) == 2
    assert "1 given for 2 workdirs" in capsys.readouterr().err


def test_mismatched_curve_lengths_exit_2_naming_the_file(tmp_path, capsys):
    broken = write_run(tmp_path / "broken", {
        "env": "four_rooms", "tasks": 8, "updates": 2, "mean_return": [1.0, 2.0],
        "standard_error": [0.1], "final_mean_return": 2.0, "final_standard_error": None})
    assert main(["--workdirs", str(broken), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert f"{broken / 'eval.json'}: 2 mean returns but 1 standard errors" in error
