"""Compare meta-test results of several runs: one plot and one Markdown table.

    python -m experiments.compare --workdirs A B C [--labels LA LB LC] --out DIR

Reads each run's eval.json (from `python -m experiments.evaluate`) and config.json, and writes
DIR/meta_test.png (mean return per meta-test update, shaded +- standard error, one line per
run) and DIR/results.md (a table of the first and last update's returns).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import pathlib
import sys
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from experiments.config_cli import CliParser, error_exit
from mlsh_jax.checkpoint import CheckpointError, describe_error, read_json

DPI = 80
COLOURS = matplotlib.colormaps["tab10"].colors


class ResultsError(RuntimeError):
    """A run's results are missing or unreadable."""


@dataclasses.dataclass(frozen=True)
class RunResult:
    """One run's meta-test curve and what the table says about it."""

    workdir: pathlib.Path
    label: str
    env: str
    seeds: int
    tasks: int
    mean_return: np.ndarray     # [updates], NaN where no episode counted
    standard_error: np.ndarray  # [updates], NaN where unknown
    final_mean_return: float
    final_standard_error: float
    error_over: str             # what the standard error is across: "seeds" or "tasks"


def _read_json(path: pathlib.Path) -> dict[str, Any]:
    try:
        data = read_json(path)
    except CheckpointError as error:
        raise ResultsError(str(error)) from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    return data


def _floats(values: list[float | None]) -> np.ndarray:
    """JSON null (no episode counted, or too few tasks for an error) becomes NaN."""
    return np.array([math.nan if v is None else v for v in values], np.float64)


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)


def read_result(workdir: pathlib.Path, label: str | None = None) -> RunResult:
    """A run's eval.json, labelled by `label`, else the algorithm it names, else its directory.

    The algorithm is looked up in config.json, then eval.json; both are optional fields, and
    config.json itself is optional (only the label comes from it).
    """
    path = workdir / "eval.json"
    if not path.is_file():
        raise ResultsError(f"no eval.json in {workdir}; create it with "
                           f"`python -m experiments.evaluate --workdir {workdir}`")
    report = _read_json(path)
    config_path = workdir / "config.json"
    config = _read_json(config_path) if config_path.is_file() else {}
    label = label or config.get("algorithm") or report.get("algorithm") or workdir.name
    try:
        mean, error = _floats(report["mean_return"]), _floats(report["standard_error"])
        if mean.shape != error.shape:
            raise ResultsError(f"{path}: {len(mean)} mean returns but {len(error)} standard "
                               f"errors")
        return RunResult(workdir=workdir, label=str(label), env=str(report["env"]),
                         seeds=int(report.get("seeds", 1)), tasks=int(report["tasks"]),
                         mean_return=mean, standard_error=error,
                         final_mean_return=_number(report["final_mean_return"]),
                         final_standard_error=_number(report["final_standard_error"]),
                         # Files written before multi-seed runs had errors across tasks only.
                         error_over=str(report.get("error_over", "tasks")))
    except KeyError as missing:
        raise ResultsError(f"{path} has no {missing} field; re-create it with "
                           f"`python -m experiments.evaluate --workdir {workdir}`") from None
    except (TypeError, ValueError) as error:  # e.g. a list where a number belongs
        raise ResultsError(f"{path} is damaged: a field has the wrong type "
                           f"({describe_error(error)}); re-create it with "
                           f"`python -m experiments.evaluate --workdir {workdir}`") from None


def _fmt(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "n/a"


def results_table(results: list[RunResult]) -> str:
    """Markdown: one row per run, returns at update 1 and at its last update (+- SE)."""
    lines = ["| method | env | seeds | tasks | updates | return at update 1 "
             "| return at last update ± SE | SE over | workdir |",
             "|---|---|---:|---:|---:|---:|---:|---|---|"]
    for r in results:
        final = f"{_fmt(r.final_mean_return)} ± {_fmt(r.final_standard_error)}"
        first = _fmt(r.mean_return[0]) if len(r.mean_return) else "n/a"
        lines.append(f"| {r.label} | {r.env} | {r.seeds} | {r.tasks} | {len(r.mean_return)} "
                     f"| {first} | {final} | {r.error_over} | {r.workdir} |")
    return "\n".join(lines) + "\n"


def draw_meta_test(results: list[RunResult], path: pathlib.Path, dpi: int = DPI) -> None:
    """Mean return per update, one line per run on its own x range, shaded +- SE.

    Updates without a value (NaN) leave gaps rather than being drawn as zero.
    """
    fig = Figure(figsize=(5.5, 3.6))
    ax = fig.subplots()
    for i, r in enumerate(results):
        updates = np.arange(1, len(r.mean_return) + 1)
        colour = COLOURS[i % len(COLOURS)]
        ax.plot(updates, r.mean_return, color=colour, label=r.label, marker=".", markersize=3)
        ax.fill_between(updates, r.mean_return - r.standard_error,
                        r.mean_return + r.standard_error, color=colour, alpha=0.2, linewidth=0)
    envs = ", ".join(sorted({r.env for r in results}))
    ax.set(xlabel="update on the new task (meta-test)", ylabel="mean episode return",
           title=f"meta-test: {envs}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="python -m experiments.compare",
        description="Plot and tabulate the meta-test results (eval.json) of several runs.")
    parser.add_argument("--workdirs", type=pathlib.Path, nargs="+", required=True,
                        help="run directories, each with an eval.json")
    parser.add_argument("--labels", nargs="+",
                        help="one legend label per workdir (default: the config's algorithm "
                             "field, else the workdir name)")
    parser.add_argument("--out", type=pathlib.Path, required=True,
                        help="output directory for meta_test.png and results.md")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    labels = args.labels or [None] * len(args.workdirs)
    if len(labels) != len(args.workdirs):
        return error_exit(f"--labels: {len(labels)} given for {len(args.workdirs)} workdirs; "
                          f"give one per workdir or none")
    try:
        results = [read_result(w, label) for w, label in zip(args.workdirs, labels)]
    except ResultsError as error:
        return error_exit(error)
    args.out.mkdir(parents=True, exist_ok=True)
    draw_meta_test(results, args.out / "meta_test.png")
    table = results_table(results)
    (args.out / "results.md").write_text(table)
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
