"""Brax Ant: our MLSH (`twowalk`) vs env-only random actions vs Brax's own PPO trainer.

    python -m benchmarks.brax_ppo --brax-python /tmp/brax-venv/bin/python
        [--backend spring] [--num-envs 128] [--slots 8] [--unroll 10] [--minibatches 4] [--epochs 4]
        [--updates 10] [--repeats 3] [--brax-runs 3] [--brax-epochs 5]
        [--brax-warmup-epochs 2] [--brax-steps-per-epoch 20] [--no-stages]

Brax's trainer (brax 0.14.2) needs jax 0.9.2, so it runs in a subprocess with its own
interpreter; create it once with

    python3 -m venv /tmp/brax-venv
    /tmp/brax-venv/bin/pip install jax==0.9.2 jaxlib==0.9.2 brax==0.14.2

(without `--brax-python` that column is skipped). All runs use the same physics backend
(`--backend`, default `envs.brax_physics.DEFAULT_BACKEND`) and the same sizes, mapped as follows:

| quantity               | ours (RunConfig)                        | Brax PPO (`ppo.train`)   |
|------------------------|-----------------------------------------|--------------------------|
| parallel envs          | num_slots x envs_per_slot = --num-envs  | num_envs                 |
| steps per env & update | rollout_steps = --unroll                | unroll_length            |
| minibatches per epoch  | sub_ppo.num_minibatches = --minibatches | num_minibatches (and     |
|                        |                                         | batch_size = num_envs /  |
|                        |                                         | num_minibatches)         |
| epochs per update      | sub_ppo.epochs = master_ppo.epochs      | num_updates_per_batch    |
| networks               | actor, critic 2x64 tanh                 | policy, value 2x64 tanh  |

so one update (Brax: one training step) is num_envs x unroll env steps for both. The MLSH
config is otherwise experiments/configs/twowalk.py (K=2, N=200, W=20, U=40: about 2/3 of the
slots train phi, all train their master; N > unroll, so each env's master decides once per
rollout, at its start). Brax's figure is its own `training/sps` per training epoch (env steps,
which include action_repeat = 1 here, over the epoch's training time; evaluations are off),
the median over the epochs after `--brax-warmup-epochs`: the first epoch compiles, and so does
the second (it ran as slowly as the first in every run here). Ours: calls of `--updates`
updates, compile excluded; env-only: the training's batched reset/step with uniform random
actions for as many steps; these take turns in blocks of `--repeats` rounds, one block before,
between and after `--brax-runs` runs of Brax's trainer. The machine's speed drifts by up to
1.5x within minutes, so every ratio is paired: MLSH / env-only and MLSH / flat the median over
rounds of each round's ratio, MLSH / Brax PPO the median over Brax's runs of MLSH's median in
the two blocks around a run over that run's figure.
Then, unless `--no-stages`, one MLSH and one flat PPO update timed by stage
(`benchmarks.stages`). Prints tables and a JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import shutil
import statistics
import subprocess

import jax

from benchmarks.sps import compile_env_only, compile_training, flat_config, steps_per_second
from benchmarks.stages import print_stages, stage_seconds
from envs.brax_physics import BACKENDS, DEFAULT_BACKEND
from experiments.config_cli import CliParser, description_from, int_at_least
from experiments.configs import twowalk
from mlsh_jax.config import ConfigError, RunConfig

TARGET_OVER_ENV_ONLY = 0.85
TARGET_OVER_BRAX_PPO = 1.0
"""The hierarchy's speed targets on Brax Ant (raised from 0.6 for env-only on 2026-12-05)."""


def mlsh_config(args) -> RunConfig:
    """experiments/configs/twowalk.py at the benchmark's sizes (see the mapping above)."""
    config = twowalk.get_config()
    return dataclasses.replace(
        config, backend=args.backend, num_slots=args.slots,
        envs_per_slot=args.num_envs // args.slots,
        rollout_steps=args.unroll,
        sub_ppo=dataclasses.replace(config.sub_ppo, epochs=args.epochs,
                                    num_minibatches=args.minibatches),
        master_ppo=dataclasses.replace(config.master_ppo, epochs=args.epochs))


def brax_ppo(args, config: RunConfig) -> dict:
    """Run Brax's PPO trainer in `--brax-python`; its per-epoch steps/s, warmup excluded."""
    request = dict(backend=config.backend, num_envs=args.num_envs, unroll_length=args.unroll,
                   num_minibatches=args.minibatches, ppo_epochs=args.epochs,
                   epochs=args.brax_epochs, training_steps_per_epoch=args.brax_steps_per_epoch,
                   episode_length=1000, hidden_sizes=list(config.network.hidden_sizes),
                   activation=config.network.activation)
    worker = pathlib.Path(__file__).with_name("brax_ppo_worker.py")
    result = subprocess.run([args.brax_python, str(worker), json.dumps(request)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"Brax PPO worker failed: {result.stderr.strip()[-2000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    timed = [epoch["sps"] for epoch in report["epochs"][args.brax_warmup_epochs:]]
    return dict(report, request=request, sps=statistics.median(timed))


def paired_ratio(rounds: dict[str, list[float]], numerator: str, denominator: str) -> float:
    """Median over rounds of one program's rate over another's in the same round: the two ran
    seconds apart, so the machine's drift between rounds (up to 1.5x here) cancels."""
    return statistics.median(a / b for a, b in zip(rounds[numerator], rounds[denominator]))


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m benchmarks.brax_ppo", description=description_from(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brax-python", metavar="PYTHON",
                        help="interpreter with jax 0.9.2 + brax 0.14.2 (default: none, Brax's "
                             "column is skipped)")
    parser.add_argument("--backend", default=DEFAULT_BACKEND, choices=BACKENDS,
                        help=f"Brax physics pipeline of every run (default: {DEFAULT_BACKEND})")
    parser.add_argument("--num-envs", type=int_at_least(1), default=128,
                        help="parallel envs, a multiple of --slots and of --minibatches "
                             "(default: 128)")
    parser.add_argument("--slots", type=int_at_least(1), default=8,
                        help="MLSH task slots the envs are split over (default: 8)")
    parser.add_argument("--unroll", type=int_at_least(1), default=10,
                        help="env steps per env and update (default: 10)")
    parser.add_argument("--minibatches", type=int_at_least(1), default=4,
                        help="PPO minibatches per epoch (default: 4)")
    parser.add_argument("--epochs", type=int_at_least(1), default=4,
                        help="PPO epochs per update (default: 4)")
    parser.add_argument("--updates", type=int_at_least(1), default=10,
                        help="our updates per timed call (default: 10)")
    parser.add_argument("--repeats", type=int_at_least(1), default=3,
                        help="rounds of our runs before, between and after Brax's runs "
                             "(default: 3)")
    parser.add_argument("--brax-runs", type=int_at_least(1), default=3,
                        help="runs of Brax's trainer, each between two blocks of our rounds "
                             "(default: 3)")
    parser.add_argument("--brax-epochs", type=int_at_least(1), default=5,
                        help="Brax training epochs, more than --brax-warmup-epochs (default: 5)")
    parser.add_argument("--brax-warmup-epochs", type=int_at_least(0), default=2,
                        help="first Brax epochs left out of its median, as they compile "
                             "(default: 2)")
    parser.add_argument("--brax-steps-per-epoch", type=int_at_least(1), default=20,
                        help="Brax training steps (updates) per epoch (default: 20)")
    parser.add_argument("--no-stages", action="store_true",
                        help="skip the per-stage timing of one MLSH and one flat PPO update "
                             "(default: time them)")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.num_envs % args.slots or args.num_envs % args.minibatches:
        parser.error(f"--num-envs {args.num_envs}: must be a multiple of --slots "
                     f"({args.slots}) and of --minibatches ({args.minibatches})")
    if args.brax_epochs <= args.brax_warmup_epochs:
        parser.error(f"--brax-epochs {args.brax_epochs}: must exceed --brax-warmup-epochs "
                     f"({args.brax_warmup_epochs})")
    if args.brax_python and not shutil.which(args.brax_python):
        parser.error(f"--brax-python {args.brax_python!r}: no such executable; create that "
                     f"venv as --help shows")
    try:
        config = mlsh_config(args)
    except ConfigError as error:
        parser.error(str(error))
    programs = dict(
        env=compile_env_only(dataclasses.replace(config, rollout_steps=args.updates * args.unroll)),
        mlsh=compile_training(config, args.updates),
        flat=compile_training(flat_config(config), args.updates))
    blocks = [steps_per_second(programs, args.repeats)]
    braxes = []
    for _ in range(args.brax_runs if args.brax_python else 0):
        braxes.append(brax_ppo(args, config))
        blocks.append(steps_per_second(programs, args.repeats))
    rounds = {name: [rate for block in blocks for rate in block[name]] for name in programs}
    env_sps, mlsh_sps, flat_sps = (statistics.median(rounds[name])
                                   for name in ("env", "mlsh", "flat"))
    env_compile, mlsh_compile, flat_compile = (programs[name].compile_seconds
                                               for name in ("env", "mlsh", "flat"))
    over_brax = [statistics.median(blocks[i]["mlsh"] + blocks[i + 1]["mlsh"]) / brax["sps"]
                 for i, brax in enumerate(braxes)]
    row = dict(env=config.env, backend=config.backend, num_envs=args.num_envs,
               slots=config.num_slots, envs_per_slot=config.envs_per_slot, unroll=args.unroll,
               minibatches=args.minibatches, epochs=args.epochs, env_only_sps=env_sps,
               mlsh_sps=mlsh_sps, flat_sps=flat_sps, env_compile_s=env_compile,
               mlsh_compile_s=mlsh_compile, flat_compile_s=flat_compile,
               mlsh_over_env_only=paired_ratio(rounds, "mlsh", "env"),
               mlsh_over_flat=paired_ratio(rounds, "mlsh", "flat"), rounds=blocks,
               brax_ppo_sps=statistics.median(b["sps"] for b in braxes) if braxes else None,
               mlsh_over_brax_ppo_runs=over_brax,
               mlsh_over_brax_ppo=statistics.median(over_brax) if braxes else None,
               brax_ppo=braxes)

    print(f"Brax Ant ({config.backend}), {args.num_envs} envs ({config.num_slots} slots x "
          f"{config.envs_per_slot}), unroll {args.unroll}, {args.minibatches} minibatches, "
          f"{args.epochs} epochs; jax {jax.__version__} on {jax.default_backend()}; medians, "
          f"compile excluded")
    print(f"{'run':<34} {'env steps/s':>12} {'compile s':>10}")
    print(f"{'env-only (random actions)':<34} {env_sps:>12,.0f} {env_compile:>10.1f}")
    print(f"{'our MLSH (twowalk)':<34} {mlsh_sps:>12,.0f} {mlsh_compile:>10.1f}")
    print(f"{'our flat PPO (shared, K=1)':<34} {flat_sps:>12,.0f} {flat_compile:>10.1f}")
    for index, brax in enumerate(braxes):
        print(f"{'Brax PPO run ' + str(index + 1) + ' (jax ' + brax['jax_version'] + ')':<34} "
              f"{brax['sps']:>12,.0f} {'(warmup)':>10} (epochs: "
              + ", ".join(f"{e['sps']:,.0f}" for e in brax["epochs"]) + "); MLSH in the "
              f"rounds around it / it: {over_brax[index]:.3f}")
    for index, block in enumerate(blocks):
        print(f"  ours, block {index + 1} of {args.repeats} rounds (medians): " + ", ".join(
            f"{name} {statistics.median(block[name]):,.0f}" for name in block))
    print(f"MLSH/env-only {row['mlsh_over_env_only']:.3f} (median of each round's ratio; "
          f"target >= {TARGET_OVER_ENV_ONLY}: "
          f"{'met' if row['mlsh_over_env_only'] >= TARGET_OVER_ENV_ONLY else 'missed'})")
    if braxes:
        met = row["mlsh_over_brax_ppo"] >= TARGET_OVER_BRAX_PPO
        print(f"MLSH/Brax PPO {row['mlsh_over_brax_ppo']:.3f} (median over Brax's runs; "
              f"target >= {TARGET_OVER_BRAX_PPO}: {'met' if met else 'missed'})")
    print(f"MLSH/our flat PPO {row['mlsh_over_flat']:.3f} (median of each round's ratio)")
    if not args.no_stages:
        row["mlsh_stage_seconds"] = stage_seconds(config, args.repeats)
        print_stages("\nour MLSH, one update by stage:", row["mlsh_stage_seconds"],
                     config.env_steps_per_update)
        row["flat_stage_seconds"] = stage_seconds(flat_config(config), args.repeats)
        print_stages("our flat PPO, one update by stage:", row["flat_stage_seconds"],
                     config.env_steps_per_update)
    print(json.dumps({"benchmark": "brax_ppo", "row": row}))


if __name__ == "__main__":
    main()
