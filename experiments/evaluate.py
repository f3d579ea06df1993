"""Meta-test a trained run: fresh masters learn to use its frozen sub-policies on new tasks.

    python -m experiments.evaluate --workdir DIR [--tasks 256] [--updates W] [--seed S]
                                   [--envs-per-task E] [--candidates]

Writes DIR/eval.json with the mean episode return per meta-test update (paper Fig. 4 and 7): per
new task a fresh master (MLSH) or a flat per-task learner (baselines), see mlsh_jax.algorithms.
Update u's return is that of the episodes started in it (see mlsh_jax.meta_test).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import pathlib
import sys
import time

import jax

from experiments.config_cli import error_exit
from mlsh_jax.checkpoint import CHECKPOINTS_DIR, SUBPOLICIES_FILE, CheckpointError, \
    DamagedCheckpointError, RunCheckpoints, load_subpolicies, read_json
from mlsh_jax.compile_cache import enable_compile_cache
from mlsh_jax.config import ConfigError, RunConfig, config_from_dict
from mlsh_jax.algorithms import meta_test_config
from mlsh_jax.meta_test import MetaTestResult, Progress, meta_test
from mlsh_jax.metrics_log import duration
from mlsh_jax.selection import CANDIDATES_FILE, candidates_at, first_candidates
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import Learner, TrainerState, candidate_keys, init_seeds, init_subpolicies

# Meta-test tasks are sampled from a seed this far from the training seed, so they are new.
META_TEST_SEED_OFFSET = 1000


def int_at_least(minimum: int):
    """An argparse type: an integer >= minimum, with a message naming the bad value."""

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value}: must be an integer >= {minimum}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.evaluate",
        description="Meta-test the sub-policies saved by `python -m experiments.run`.")
    parser.add_argument("--workdir", type=pathlib.Path, required=True,
                        help="directory of a training run (config.json, subpolicies.msgpack)")
    parser.add_argument("--tasks", type=int_at_least(1), default=256,
                        help="fresh tasks, each with its own new learner (default: 256)")
    parser.add_argument("--updates", type=int_at_least(1),
                        help="updates per task (default: the config's W, at least 1)")
    parser.add_argument("--seed", type=int_at_least(0),
                        help=f"task seed (default: the run's seed + {META_TEST_SEED_OFFSET})")
    parser.add_argument("--candidates", action="store_true",
                        help="meta-test every candidate of a best-of-k run as it was at the "
                             "selection (candidates.msgpack), seed-major, instead of the kept "
                             "ones; writes candidates_eval.json")
    parser.add_argument("--envs-per-task", type=int_at_least(1),
                        help="envs each new learner collects from per update (default: the "
                             "run's envs_per_slot); set it to compare runs trained with "
                             "different slot layouts on the same meta-test budget")
    return parser


def read_run_config(workdir: pathlib.Path) -> RunConfig:
    path = workdir / "config.json"
    if not path.is_file():
        raise CheckpointError(f"no config.json in {workdir}; train first with "
                              f"`python -m experiments.run --workdir {workdir}`")
    try:
        return config_from_dict(read_json(path))
    except ConfigError as error:
        raise ConfigError(f"{path} does not hold a valid config: {error}") from None


def load_run(workdir: pathlib.Path, candidates: bool = False
             ) -> tuple[RunConfig, Learner | None]:
    """A run's config and its exported sub-policies (leading axis: seeds; None for scratch),
    or with `candidates` those of every candidate at the selection (seeds x candidates,
    seed-major; `mlsh_jax.selection`)."""
    config = read_run_config(workdir)
    if candidates and not config.selects:
        raise ConfigError(f"--candidates: the run in {workdir} trained one candidate per seed "
                          f"(candidates={config.candidates})")
    if config.algorithm == "scratch":
        return config, None
    spec = MLSHSpec.build(config)
    count = config.candidates if candidates else 1
    template = jax.eval_shape(jax.vmap(lambda key: init_subpolicies(spec, key)),
                              candidate_keys(config.seed, config.num_seeds, count))
    return config, load_subpolicies(workdir, template,
                                    CANDIDATES_FILE if candidates else SUBPOLICIES_FILE)


def restore_checkpoint(workdir: pathlib.Path, config: RunConfig, update: int | None = None
                       ) -> tuple[int, TrainerState, list[DamagedCheckpointError]]:
    """(update, state of all seeds, damaged newer checkpoints skipped) of the run's full-state
    checkpoint at `update` (a `--checkpoint` option), or of the newest one that reads back.
    Before a best-of-k selection, each seed's state is its candidate 0 (the plain run of the
    seed), as in subpolicies.msgpack."""
    checkpoints = RunCheckpoints(workdir / CHECKPOINTS_DIR, config.max_to_keep)
    try:
        held = checkpoints.all_steps()
        if not held:
            raise CheckpointError(f"no checkpoint in {workdir / CHECKPOINTS_DIR}; train first "
                                  f"with `python -m experiments.run --workdir {workdir}`")
        spec = MLSHSpec.build(config)
        template = lambda step: jax.eval_shape(
            lambda: init_seeds(spec, candidates_at(config, step)))
        if update is None:
            update, state, damaged = checkpoints.restore_newest(template)
        elif update not in held:
            raise CheckpointError(f"--checkpoint {update}: {workdir / CHECKPOINTS_DIR} holds "
                                  f"updates {held}")
        else:
            state, damaged = checkpoints.restore(update, template(update)), []
        if config.candidate_phase(update):
            state = first_candidates(state, config)
        return update, state, damaged
    finally:
        checkpoints.close()


def finite_or_none(values: list[float]) -> list[float | None]:
    """NaN (no task finished an episode started in that update) becomes null: JSON has no NaN."""
    return [v if math.isfinite(v) else None for v in values]


def progress_printer() -> Progress:
    """One line per meta-test update: updates done, wall time so far (compiling included) and
    the time left at the pace of the updates after the first, which compiles."""
    started = time.perf_counter()
    first_done = 0.0

    def report(done: int, total: int) -> None:
        nonlocal first_done
        now = time.perf_counter()
        if done == 1:
            first_done = now
        line = f"[{done}/{total}] elapsed {duration(now - started)}"
        if done > 1:
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
    empty = result.tasks_with_episodes.count(0)
    if empty:
        line += (f"; {empty} of {updates} updates have no finished episode started in them "
                 f"({config.rollout_steps} steps per update, episodes of "
                 f"{spec.env.episode_length} steps)")
    return line


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    enable_compile_cache()
    try:
        config, subpolicies = load_run(args.workdir, args.candidates)
        if args.envs_per_task:
            config = dataclasses.replace(config, envs_per_slot=args.envs_per_task)
        updates = args.updates or max(config.warmup_updates, 1)
        seed = config.seed + META_TEST_SEED_OFFSET if args.seed is None else args.seed
        spec = MLSHSpec.build(meta_test_config(config, args.tasks, updates, seed))
    except (ConfigError, CheckpointError) as error:
        return error_exit(error)
    print(f"meta-test {config.algorithm} on {config.env}: {args.tasks} fresh tasks, {updates} "
          f"updates, and one more that finishes the episodes started in the last", flush=True)
    result = meta_test(config, subpolicies, num_tasks=args.tasks, updates=updates, seed=seed,
                       progress=progress_printer())
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
    }
    out = "candidates_eval.json" if args.candidates else "eval.json"
    (args.workdir / out).write_text(json.dumps(report, indent=2))
    print(summary_line(config, spec, args.tasks, result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
