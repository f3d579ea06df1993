"""Where an update's time goes: rollout, master (theta) update, sub-policy (phi) update, phases.

    python -m benchmarks.stages [--env moving_bandits] [--slots 256] [--envs-per-slot 8]
        [--algorithm mlsh] [--repeats 5]

Each stage of `mlsh_update` is jitted alone and timed (median of `--repeats` calls, compile
excluded) on the state and trajectory of one real update, so the stage times add up to about
one update (minus the fusion a single program gets). "advance phases" is timed on a state in
which one slot finishes its task, so that it draws new tasks, masters and env resets; updates
in which no slot finishes skip those. Used to find what bounds training speed.
Prints each stage's time and share, their sum and the env steps/s it implies, then a JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing

import jax

import envs
from benchmarks.sps import timed_median
from experiments.config_cli import CliParser, description_from, int_at_least
from mlsh_jax.config import Algorithm, ConfigError, RunConfig
from mlsh_jax.mlsh import advance_phases, update_masters, update_subpolicies
from mlsh_jax.rollout import rollout
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import init_state


def stage_seconds(config: RunConfig, repeats: int) -> dict[str, float]:
    """Median seconds per call of each stage of one update of `config`."""
    spec = MLSHSpec.build(config)
    state = init_state(spec, jax.random.PRNGKey(config.seed))
    key = jax.random.PRNGKey(1)
    stages = {"rollout": (lambda s, p, k: rollout(spec, s, p, k), (state.slots,
                                                                   state.subpolicies, key))}
    slots, traj = jax.jit(stages["rollout"][0])(*stages["rollout"][1])
    if spec.config.hierarchical:
        stages["master update"] = (lambda m, t, k: update_masters(spec, m, t, k),
                                   (slots.master, traj, key))
    if spec.joint_capacity > 0:
        stages["sub-policy update"] = (
            lambda p, ph, t, k: update_subpolicies(spec, p, ph, t, k),
            (state.subpolicies, slots.phase_step, traj, key))
    finishing = slots.replace(phase_step=slots.phase_step.at[0].set(config.cycle_length - 1))
    stages["advance phases"] = (lambda s, k: advance_phases(spec, s, k), (finishing, key))
    seconds = {}
    for name, (function, args) in stages.items():
        compiled = jax.jit(function).lower(*args).compile()
        seconds[name] = timed_median(compiled, lambda: args, repeats)
    return seconds


def print_stages(title: str, seconds: dict[str, float], env_steps: int) -> None:
    total = sum(seconds.values())
    print(title)
    for name, value in seconds.items():
        print(f"  {name:<18} {value * 1e3:>9.1f} ms {value / total:>6.1%}")
    print(f"  {'sum':<18} {total * 1e3:>9.1f} ms  -> {env_steps / total:,.0f} env steps/s")


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m benchmarks.stages", description=description_from(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="moving_bandits", choices=envs.names(), metavar="ENV",
                        help=f"task, one of {', '.join(envs.names())} "
                             f"(default: moving_bandits)")
    parser.add_argument("--slots", type=int_at_least(1), default=256,
                        help="task slots (default: 256)")
    parser.add_argument("--envs-per-slot", type=int_at_least(1), default=8,
                        help="envs per slot (default: 8)")
    parser.add_argument("--algorithm", default="mlsh", choices=typing.get_args(Algorithm),
                        help="what trains (default: mlsh; the flat ones have no master "
                             "update)")
    parser.add_argument("--repeats", type=int_at_least(1), default=5,
                        help="timed calls per stage; the figure is their median (default: 5)")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = RunConfig(env=args.env, algorithm=args.algorithm, num_slots=args.slots,
                           envs_per_slot=args.envs_per_slot)
    except ConfigError as error:
        parser.error(str(error))
    seconds = stage_seconds(config, args.repeats)
    print_stages(f"{args.algorithm}, {args.env}, {args.slots} x {args.envs_per_slot}, median of "
                 f"{args.repeats} calls per stage", seconds, config.env_steps_per_update)
    print(json.dumps({"benchmark": "stages", "config": dataclasses.asdict(config),
                      "seconds": seconds}, default=str))


if __name__ == "__main__":
    main()
