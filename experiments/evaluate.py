"""Meta-test a trained run: fresh masters learn to use its frozen sub-policies on new tasks.

    python -m experiments.evaluate --workdir DIR [--tasks 256] [--updates W] [--seed S]
                                   [--envs-per-task E] [--candidates] [--out OUT]
                                   [--num-devices D]

Writes DIR/eval.json (OUT/eval.json with --out) with the mean episode return per meta-test
update (paper Fig. 4 and 7): per new task a fresh master (MLSH) or a flat per-task learner
(baselines), see mlsh_jax.algorithms. Update u's return is that of the episodes started in it
(see mlsh_jax.meta_test).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import pathlib
import sys
import time

from experiments.config_cli import CliParser, error_exit, int_at_least
from mlsh_jax.checkpoint import CheckpointError
from mlsh_jax.compile_cache import enable_compile_cache
from mlsh_jax.config import ConfigError, RunConfig
from mlsh_jax.algorithms import meta_test_config
from mlsh_jax.meta_test import MetaTestResult, Progress, meta_test, task_mesh
from mlsh_jax.metrics_log import duration
from mlsh_jax.runs import META_TEST_SEED_OFFSET, load_run
from mlsh_jax.spec import MLSHSpec


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="python -m experiments.evaluate",
        description="Meta-test the sub-policies saved by `python -m experiments.run`.")
    parser.add_argument("--workdir", type=pathlib.Path, required=True,
                        help="directory of a training run or a pretrained/NAME folder "
                             "(config.json, subpolicies.msgpack)")
    parser.add_argument("--tasks", type=int_at_least(1), default=256,
                        help="fresh tasks, each with its own new learner (default: 256)")
    parser.add_argument("--updates", type=int_at_least(1),
                        help="updates per task (default: the config's W, at least 1)")
    parser.add_argument("--seed", type=int_at_least(0),
                        help=f"task seed (default: the run's seed + {META_TEST_SEED_OFFSET})")
    parser.add_argument("--candidates", action="store_true",
                        help="meta-test every candidate of a best-of-k run (candidates.msgpack: "
                             "as they were at the selection, or at the newest log interval "
                             "before it), seed-major, each on its seed's tasks, instead of the "
                             "kept ones; writes candidates_eval.json")
    parser.add_argument("--envs-per-task", type=int_at_least(1),
                        help="envs each new learner collects from per update (default: the "
                             "run's envs_per_slot); set it to compare runs trained with "
                             "different slot layouts on the same meta-test budget")
    parser.add_argument("--out", type=pathlib.Path,
                        help="directory to write eval.json (candidates_eval.json with "
                             "--candidates) into, created if missing (default: --workdir); "
                             "e.g. to meta-test a shipped pretrained/NAME without writing "
                             "into it")
    parser.add_argument("--num-devices", type=int_at_least(1), default=1,
                        help="devices to split the tasks over, each training tasks/D of the "
                             "learners (default: 1); on a CPU, first export XLA_FLAGS="
                             "--xla_force_host_platform_device_count=D, e.g. D = the cores")
    return parser


def finite_or_none(values: list[float]) -> list[float | None]:
    """NaN (no task finished an episode started in that update) becomes null: JSON has no NaN."""
    return [v if math.isfinite(v) else None for v in values]


def progress_printer() -> Progress:
    """One line per meta-test update: updates done, wall time so far and the time left at the
    pace of the updates after the first; the first update's line says that its time includes
    compiling the meta-test program, which is most of it."""
    started = time.perf_counter()
    first_done = 0.0

    def report(done: int, total: int) -> None:
        nonlocal first_done
        now = time.perf_counter()
        line = f"[{done}/{total}] elapsed {duration(now - started)}"
        if done == 1:
            first_done = now
            line += "  (compiling included)"
        else:
            line += f"  eta {duration((now - first_done) / (done - 1) * (total - done))}"
        print(line, flush=True)

    return report


def summary_line(config: RunConfig, spec: MLSHSpec, tasks: int, result: MetaTestResult) -> str:
    def fmt(value: float | None) -> str:
        return f"{value:.2f}" if value is not None and math.isfinite(value) else "n/a"

    updates = len(result.mean_return)
    line = (f"meta-test {config.algorithm} on {config.env}: {tasks} fresh tasks, {updates} "
            f"updates; mean episode return at update {updates}: "
            f"{fmt(result.mean_return[-1])} +- {fmt(result.standard_error[-1])} "
            f"(standard error over {result.error_over}; first update: "
            f"{fmt(result.mean_return[0])})")
    for name, curve in result.episode_end.items():
        line += f"; {name} at update {updates}: {fmt(curve[-1])}"
    if result.by_task_type is not None:
        finals = "/".join(fmt(curve[-1]) for curve in result.by_task_type.mean_return)
        line += f"; return by task type: {finals}"
    empty = result.tasks_with_episodes.count(0)
    if empty:
        line += (f"; {empty} of {updates} updates have no finished episode started in them "
                 f"({config.rollout_steps} steps per update, episodes of "
                 f"{spec.env.episode_length} steps)")
    return line


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    enable_compile_cache()
    out_dir = args.out or args.workdir
    try:
        task_mesh(args.tasks, args.num_devices)
        config, subpolicies = load_run(args.workdir, args.candidates)
        if args.envs_per_task:
            config = dataclasses.replace(config, envs_per_slot=args.envs_per_task)
        updates = args.updates or max(config.warmup_updates, 1)
        seed = config.seed + META_TEST_SEED_OFFSET if args.seed is None else args.seed
        spec = MLSHSpec.build(meta_test_config(config, args.tasks, updates, seed))
        out_dir.mkdir(parents=True, exist_ok=True)  # before the meta-test, not after it
    except (ConfigError, CheckpointError) as error:
        return error_exit(error)
    except OSError as error:
        return error_exit(f"--out {str(out_dir)!r}: cannot create it ({error.strerror})")
    split = f", split over {args.num_devices} devices" if args.num_devices > 1 else ""
    print(f"meta-test {config.algorithm} on {config.env}: {args.tasks} fresh tasks{split}, "
          f"{updates} updates, and one more that finishes the episodes started in the last",
          flush=True)
    print("compiling the meta-test program ...", flush=True)
    result = meta_test(config, subpolicies, num_tasks=args.tasks, updates=updates, seed=seed,
                       progress=progress_printer(),
                       candidates=config.candidates if args.candidates else 1,
                       num_devices=args.num_devices)
    report = {
        "env": config.env,
        "algorithm": config.algorithm,
        "tasks": args.tasks,
        "envs_per_task": config.envs_per_slot,
        "updates": updates,
        "seed": seed,
        "seeds": len(result.seed_mean_return),
        "mean_return": finite_or_none(result.mean_return),
        "standard_error": finite_or_none(result.standard_error),
        "error_over": result.error_over,
        "seed_mean_return": [finite_or_none(curve) for curve in result.seed_mean_return],
        "tasks_with_episodes": result.tasks_with_episodes,
        "final_mean_return": finite_or_none(result.mean_return)[-1],
        "final_standard_error": finite_or_none(result.standard_error)[-1],
        "episode_end": result.episode_end,
        "by_task_type": (None if result.by_task_type is None
                         else dataclasses.asdict(result.by_task_type)),
    }
    out = "candidates_eval.json" if args.candidates else "eval.json"
    (out_dir / out).write_text(json.dumps(report, indent=2))
    print(summary_line(config, spec, args.tasks, result))
    print(f"wrote {out_dir / out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
