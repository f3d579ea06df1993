"""Steps per second per (slots x envs) size: env-only (random actions), MLSH training, and
flat PPO training (`shared`) at equal batch, with the ratios MLSH/flat and MLSH/env-only.

    python -m benchmarks.sps [--env moving_bandits] [--sizes 16x8,64x8,256x8] [--updates 5]
        [--repeats 3]

All at one size run in one process and take turns in `--repeats` rounds (one timed call each
per round), so their ratios share the machine's load. Compile time is measured separately
(ahead-of-time `lower().compile()`); throughput is the median over the rounds. Prints a
table, notes on what the ratios compare, and a JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from typing import Any, Callable

import jax

import envs
from envs.base import Box
from experiments.config_cli import CliParser, comma_list, description_from, int_at_least, \
    slots_by_envs
from mlsh_jax.config import ConfigError, RunConfig
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.rollout import step_envs
from mlsh_jax.state import init_state, reset_envs, sample_tasks
from mlsh_jax.train import make_chunk


def timed_median(compiled, make_args, repeats: int) -> float:
    """Median seconds of one call (fresh arguments each time, since state is donated)."""
    seconds = []
    for _ in range(repeats):
        args = make_args()
        jax.block_until_ready(args)
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def random_actions(spec: MLSHSpec, key: jax.Array) -> jax.Array:
    """Uniform actions for every slot's envs, within the action space's bounds."""
    cfg, space = spec.config, spec.env.action_space
    shape = (cfg.num_slots, cfg.envs_per_slot)
    if isinstance(space, Box):
        return jax.random.uniform(key, shape + (space.dim,), minval=space.low, maxval=space.high)
    return jax.random.randint(key, shape, 0, space.n)


@dataclasses.dataclass(frozen=True)
class Program:
    """A compiled benchmark call with its fresh-argument factory and what one call covers."""

    compiled: Any
    make_args: Callable[[], tuple]
    compile_seconds: float
    steps_per_call: int


def compile_env_only(config: RunConfig) -> Program:
    """A rollout's env stepping alone (D steps, random actions), compiled.

    Uses the training's own batched reset and step (S slots x E envs), so the ratio to the
    MLSH figure is the cost of everything but the environment.
    """
    spec = MLSHSpec.build(config)

    def run(key):
        k_task, k_reset, k_run = jax.random.split(key, 3)
        tasks = sample_tasks(spec, k_task)
        _, env_state = reset_envs(spec, k_reset, tasks)

        def step(env_state, key):
            k_act, k_env = jax.random.split(key)
            _, env_state, reward, _, _ = step_envs(spec, k_env, env_state,
                                                   random_actions(spec, k_act), tasks)
            return env_state, reward.sum()

        _, rewards = jax.lax.scan(step, env_state, jax.random.split(k_run, config.rollout_steps))
        return rewards.sum()

    start = time.perf_counter()
    compiled = jax.jit(run).lower(jax.random.PRNGKey(0)).compile()
    return Program(compiled, lambda: (jax.random.PRNGKey(1),), time.perf_counter() - start,
                   config.env_steps_per_update)


def compile_training(config: RunConfig, updates: int) -> Program:
    """`updates` full training updates of `config`, compiled: the training's own code path
    (`make_chunk`, `init_state`) for any `config.algorithm`."""
    spec = MLSHSpec.build(config)
    make_state = lambda: (init_state(spec, jax.random.PRNGKey(config.seed)),)
    start = time.perf_counter()
    compiled = make_chunk(spec, updates).lower(*make_state()).compile()
    return Program(compiled, make_state, time.perf_counter() - start,
                   updates * config.env_steps_per_update)


def steps_per_second(programs: dict[str, Program], rounds: int) -> dict[str, list[float]]:
    """Env steps/s of each program in each of `rounds` rounds.

    The programs take turns within a round, so each round's figures share the machine's load
    (on a shared machine it drifts within minutes) and medians over rounds compare fairly.
    """
    rates = {name: [] for name in programs}
    for _ in range(rounds):
        for name, program in programs.items():
            seconds = timed_median(program.compiled, program.make_args, 1)
            rates[name].append(program.steps_per_call / seconds)
    return rates


def flat_config(config: RunConfig) -> RunConfig:
    """The flat PPO baseline at equal batch: `shared` (K=1, no master, phi trained on every
    slot's steps every update), same slots x envs x rollout and PPO settings."""
    return dataclasses.replace(config, algorithm="shared")


def all_joint_config(config: RunConfig) -> RunConfig:
    """MLSH with every slot joint in every update (`mlsh_no_warmup`): phi then trains on all
    slots' steps like the flat baseline, so the ratio to it is the cost of the hierarchy."""
    return dataclasses.replace(config, algorithm="mlsh_no_warmup")


def make_row(config: RunConfig, env: tuple[float, float], mlsh: tuple[float, float],
             all_joint: tuple[float, float], flat: tuple[float, float]) -> dict:
    """The table row of one size from the (compile seconds, steps/s) of each run."""
    return dict(env=config.env, slots=config.num_slots, envs_per_slot=config.envs_per_slot,
                rollout_steps=config.rollout_steps, num_subpolicies=config.num_subpolicies,
                joint_share=config.joint_updates / config.cycle_length,
                env_only_sps=env[1], mlsh_sps=mlsh[1], mlsh_all_joint_sps=all_joint[1],
                flat_sps=flat[1], mlsh_over_env_only=mlsh[1] / env[1],
                mlsh_over_flat=mlsh[1] / flat[1], mlsh_all_joint_over_flat=all_joint[1] / flat[1],
                env_compile_s=env[0], mlsh_compile_s=mlsh[0], mlsh_all_joint_compile_s=all_joint[0],
                flat_compile_s=flat[0])


def measure(config: RunConfig, updates: int, repeats: int) -> dict:
    """One table row: env-only, MLSH, MLSH with phi on all slots, and flat PPO, at one size,
    timed in interleaved rounds."""
    programs = dict(env=compile_env_only(config), mlsh=compile_training(config, updates),
                    all_joint=compile_training(all_joint_config(config), updates),
                    flat=compile_training(flat_config(config), updates))
    rates = steps_per_second(programs, repeats)
    return make_row(config, **{name: (program.compile_seconds, statistics.median(rates[name]))
                               for name, program in programs.items()})


TARGET_ALL_JOINT_OVER_FLAT = 0.9
"""All-joint MLSH against flat PPO at equal batch and equal work: the hierarchy's speed target."""

NOTES = """\
MLSH/flat compares equal batches (slots x envs x rollout steps per update, same PPO epochs and
minibatches) but not equal work: MLSH trains phi only on the joint-phase slots (U/(W+U) of
them, {joint:.0%} here) while flat PPO trains its one policy on every slot's steps, and MLSH
also trains one master per slot and runs K sub-policies per step in the rollout (the master
only at decision steps). The "all-joint" column (mlsh_no_warmup: phi on every slot, like flat)
is the like-for-like comparison: what it adds to flat PPO is the masters' PPO (one per slot)
and those rollout networks; each step goes through its own sub-policy only in phi's update
(grouped)."""


def print_table(rows: list[dict], repeats: int) -> None:
    print(f"backend: {jax.default_backend()}, devices: {jax.device_count()}, "
          f"median of {repeats} interleaved rounds, compile excluded")
    print(f"{'slots x envs':>13} {'env-only':>11} {'MLSH':>9} {'all-joint':>9} {'flat PPO':>9} "
          f"{'MLSH/flat':>9} {'all-joint/flat':>14} {'MLSH/env':>9} "
          f"{'compile env/MLSH/all-joint/flat (s)':>36}")
    for r in rows:
        compiles = "/".join(f"{r[k]:.1f}" for k in ("env_compile_s", "mlsh_compile_s",
                                                    "mlsh_all_joint_compile_s", "flat_compile_s"))
        print(f"{r['slots']:>6} x {r['envs_per_slot']:<4} {r['env_only_sps']:>11,.0f} "
              f"{r['mlsh_sps']:>9,.0f} {r['mlsh_all_joint_sps']:>9,.0f} {r['flat_sps']:>9,.0f} "
              f"{r['mlsh_over_flat']:>9.3f} {r['mlsh_all_joint_over_flat']:>14.3f} "
              f"{r['mlsh_over_env_only']:>9.4f} {compiles:>36}")
    print(f"(steps/s: env steps per second; all-joint/flat target >= {TARGET_ALL_JOINT_OVER_FLAT})")
    print(NOTES.format(joint=rows[0]["joint_share"]))


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m benchmarks.sps", description=description_from(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="moving_bandits", choices=envs.names(), metavar="ENV",
                        help=f"task trained at every size, one of {', '.join(envs.names())} "
                             f"(default: moving_bandits)")
    parser.add_argument("--sizes", type=comma_list(slots_by_envs, "16x8,64x8"),
                        default="16x8,64x8,256x8", metavar="SLOTSxENVS,...",
                        help="one table row per size: task slots x envs per slot, the rest "
                             "of the config is RunConfig's default (default: 16x8,64x8,256x8)")
    parser.add_argument("--updates", type=int_at_least(1), default=5,
                        help="training updates per timed call (default: 5)")
    parser.add_argument("--repeats", type=int_at_least(1), default=3,
                        help="timed rounds; every figure is the median over them (default: 3)")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:  # every size checked before the first one compiles
        configs = [RunConfig(env=args.env, num_slots=slots, envs_per_slot=per_slot)
                   for slots, per_slot in args.sizes]
    except ConfigError as error:
        parser.error(str(error))
    rows = [measure(config, args.updates, args.repeats) for config in configs]
    print_table(rows, args.repeats)
    print(json.dumps({"benchmark": "sps", "rows": rows}))


if __name__ == "__main__":
    main()
