"""Which seeds of a Moving Bandits run have one skill per goal, and the rate with its interval.

    python -m experiments.specialisation --workdir DIR [--candidates] [--tasks 64] [--out OUT]

A seed (or, with --candidates, each candidate of a best-of-k run at its selection) counts as
specialised when both hold, a definition fixed before any rate was measured with it:
- its sub-policies cover both goals: for each goal index some sub-policy, acting alone from
  the start, reaches that goal first in at least 60 % of 1024 random layouts (a sub-policy
  committed to a goal index scores about 90 %; one that walks to the nearer goal, 50 %);
- fresh masters over its frozen sub-policies reach a meta-test return of at least 30 at the
  end of warmup (update W; one goal alone earns about 23, both about 39).
Prints one line per seed and the rate with its Wilson 95 % interval, and writes
specialisation.json (candidates_specialisation.json with --candidates) into OUT (default: DIR).
It also counts the seeds whose sub-policies cover both goals, whatever their masters reach:
judged early in a run (MLSH alone at update 100), those are runs that may still specialise,
their masters still below 30.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys

import jax
import numpy as np

from experiments.config_cli import CliParser, error_exit, int_at_least
from experiments.pictures import FIRST_GOAL_LAYOUTS, _logits, first_goal_shares
from mlsh_jax.checkpoint import CheckpointError
from mlsh_jax.compile_cache import enable_compile_cache
from mlsh_jax.config import ConfigError
from mlsh_jax.meta_test import meta_test
from mlsh_jax.runs import META_TEST_SEED_OFFSET, load_run
from mlsh_jax.spec import MLSHSpec

GOAL_SHARE = 0.6
"""Least share of layouts in which a goal's sub-policy reaches that goal first."""
META_TEST_RETURN = 30.0
"""Least meta-test return at the end of warmup."""


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a rate (95 % by default): unlike p +- z·SE, it stays in
    [0, 1] and keeps its coverage when the rate is near 0 or 1, as a reliable method's is."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def covers_both_goals(shares: np.ndarray, least: float = GOAL_SHARE) -> bool:
    """`shares` [K, 2]: whether two different sub-policies reach goal 0 and goal 1 first in
    at least `least` of the layouts."""
    to_goal = [set(np.flatnonzero(shares[:, goal] >= least)) for goal in (0, 1)]
    return any(a != b for a in to_goal[0] for b in to_goal[1])


def judge(shares: np.ndarray, meta_test_return: float) -> dict[str, bool]:
    """A seed's two verdicts: one sub-policy per goal (`shares` [K, 2]), and specialised (that
    and fresh masters at `META_TEST_RETURN` or more; NaN, no episode, is not)."""
    one_per_goal = covers_both_goals(shares)
    return {"one_per_goal": bool(one_per_goal),
            "specialised": bool(one_per_goal and meta_test_return >= META_TEST_RETURN)}


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="python -m experiments.specialisation",
        description="Count the seeds of a Moving Bandits run whose sub-policies specialised "
                    "(one per goal), with a Wilson 95 % interval.")
    parser.add_argument("--workdir", type=pathlib.Path, required=True,
                        help="directory of a Moving Bandits training run")
    parser.add_argument("--candidates", action="store_true",
                        help="judge every candidate of a best-of-k run at its selection "
                             "(candidates.msgpack) instead of the kept sub-policies")
    parser.add_argument("--tasks", type=int_at_least(2), default=64,
                        help="fresh meta-test tasks per seed (default: 64)")
    parser.add_argument("--out", type=pathlib.Path,
                        help="directory for the JSON report (default: the workdir)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    enable_compile_cache()
    try:
        config, subpolicies = load_run(args.workdir, args.candidates)
        if config.env != "moving_bandits" or not config.hierarchical:
            raise ConfigError(f"the run in {args.workdir} is {config.algorithm} on "
                              f"{config.env}; specialisation is defined for MLSH on "
                              f"moving_bandits")
    except (ConfigError, CheckpointError) as error:
        return error_exit(error)
    spec = MLSHSpec.build(config)
    runs = jax.tree.leaves(subpolicies)[0].shape[0]
    updates = max(config.warmup_updates, 1)
    print(f"meta-test of {runs} sub-policy sets on {args.tasks} fresh tasks each, "
          f"{updates} updates", flush=True)
    result = meta_test(config, subpolicies, num_tasks=args.tasks, updates=updates,
                       seed=config.seed + META_TEST_SEED_OFFSET,
                       candidates=config.candidates if args.candidates else 1)
    rows = []
    for index in range(runs):
        phi = jax.tree.map(lambda x: x[index], subpolicies)
        shares = first_goal_shares(spec, lambda obs: _logits(spec, True, phi.params,
                                                             phi.obs_stats, obs),
                                   jax.random.PRNGKey(0))
        meta = result.seed_mean_return[index][-1]  # NaN if no episode: not specialised
        seed, candidate = divmod(index, config.candidates if args.candidates else 1)
        verdict = judge(shares, meta)
        rows.append({"seed": config.seed + seed, "candidate": candidate if args.candidates
                     else None, "first_goal_shares": shares.round(4).tolist(),
                     "one_per_goal": verdict["one_per_goal"],
                     "meta_test_return": meta if math.isfinite(meta) else None,
                     "specialised": verdict["specialised"]})
        which = f"seed {config.seed + seed}" + (f" candidate {candidate}" if args.candidates
                                                 else "")
        print(f"{which}: first goal " + ", ".join(
            f"sub-policy {k} {a:.0%}/{b:.0%}" for k, (a, b) in enumerate(shares))
            + f"; meta-test at update {updates} {meta:.2f}; "
            + ("specialised" if verdict["specialised"] else "not specialised"), flush=True)
    count = sum(row["specialised"] for row in rows)
    low, high = wilson_interval(count, runs)
    covering = sum(row["one_per_goal"] for row in rows)
    covering_low, covering_high = wilson_interval(covering, runs)
    summary = (f"{count} of {runs} specialised ({count / runs:.1%}; Wilson 95 % interval "
               f"{low:.3f}-{high:.3f}); {covering} of {runs} with one sub-policy per goal "
               f"({covering_low:.3f}-{covering_high:.3f})")
    report = {"definition": {"goal_share": GOAL_SHARE, "layouts": FIRST_GOAL_LAYOUTS,
                             "meta_test_return": META_TEST_RETURN, "meta_test_update": updates,
                             "meta_test_tasks": args.tasks},
              "specialised": count, "runs": runs, "rate": count / runs,
              "wilson_95": [low, high], "one_per_goal": covering,
              "one_per_goal_wilson_95": [covering_low, covering_high], "rows": rows}
    out = "candidates_specialisation.json" if args.candidates else "specialisation.json"
    directory = args.out or args.workdir
    directory.mkdir(parents=True, exist_ok=True)
    (directory / out).write_text(json.dumps(report, indent=2) + "\n")
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
