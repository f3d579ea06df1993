"""MLSH training steps/s and peak memory as task slots (1 -> 4096) and sub-policies K grow.

    python -m benchmarks.scaling [--env moving_bandits] [--slots 1,16,256,1024,4096]
        [--ks 1,2,4,8] [--k-slots 256] [--envs-per-slot 8] [--updates 3] [--repeats 3]

Each size runs in a fresh subprocess (`--child`), so the peak resident memory it reports
(VmHWM of /proc/self/status) is that size's alone: process baseline (Python, JAX, XLA) plus
compilation plus training. It also reports the RSS before compiling and XLA's own estimate of
the compiled program's buffers (`compiled.memory_analysis()`: arguments + outputs + temporaries
- donated aliases). Training runs the training's code path (`make_chunk`, `init_state`) with
the default MLSH config apart from slots, envs per slot and K; throughput is the median of
`--repeats` calls of `--updates` updates, compile excluded. Prints a table and a JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import statistics
import subprocess
import sys

import envs
from benchmarks.sps import compile_training, steps_per_second
from experiments.config_cli import CliParser, comma_list, description_from, int_at_least
from mlsh_jax.config import ConfigError, RunConfig

MEMORY_TARGET_GIB = 8.0
MEMORY_TARGET_SLOTS = 4096
"""Target: 4096 slots x 8 envs of moving bandits train in less than 8 GiB of RAM."""
GIB = 2**30


def _status_bytes(field: str) -> int:
    """A memory field of /proc/self/status (VmRSS: now, VmHWM: peak) in bytes."""
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def compiled_memory(compiled) -> dict:
    """XLA's buffer sizes of a compiled program in bytes ({} where the backend has none)."""
    stats = compiled.memory_analysis()
    if stats is None:
        return {}
    sizes = {name: getattr(stats, f"{name}_size_in_bytes")
             for name in ("argument", "output", "temp", "alias", "generated_code")}
    sizes["total"] = sizes["argument"] + sizes["output"] + sizes["temp"] - sizes["alias"]
    return {f"xla_{name}_bytes": value for name, value in sizes.items()}


def measure(config: RunConfig, updates: int, repeats: int) -> dict:
    """One row for `config`, in this process: steps/s, compile time and memory."""
    rss_before = _status_bytes("VmRSS")
    program = compile_training(config, updates)
    rates = steps_per_second({"mlsh": program}, repeats)["mlsh"]
    return dict(env=config.env, slots=config.num_slots, envs_per_slot=config.envs_per_slot,
                num_subpolicies=config.num_subpolicies, rollout_steps=config.rollout_steps,
                updates_per_call=updates,
                steps_per_s=statistics.median(rates), compile_s=program.compile_seconds,
                rss_before_compile_bytes=rss_before, peak_rss_bytes=_status_bytes("VmHWM"),
                **compiled_memory(program.compiled))


def run_child(config: RunConfig, updates: int, repeats: int) -> dict:
    """`measure` in a fresh interpreter (its peak memory is then this size's alone)."""
    request = json.dumps(dict(env=config.env, num_slots=config.num_slots,
                              envs_per_slot=config.envs_per_slot,
                              num_subpolicies=config.num_subpolicies, updates=updates,
                              repeats=repeats))
    result = subprocess.run([sys.executable, "-m", "benchmarks.scaling", "--child", request],
                            cwd=pathlib.Path(__file__).resolve().parent.parent,
                            capture_output=True, text=True)
    if result.returncode != 0:
        return dict(env=config.env, slots=config.num_slots, envs_per_slot=config.envs_per_slot,
                    num_subpolicies=config.num_subpolicies,
                    error=f"exit {result.returncode}: {result.stderr.strip()[-500:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _child(request: str) -> None:
    fields = json.loads(request)
    updates, repeats = fields.pop("updates"), fields.pop("repeats")
    print(json.dumps(measure(RunConfig(**fields), updates, repeats)))


def _gib(size: int) -> str:
    return f"{size / GIB:.3f} GiB"


def print_table(title: str, rows: list[dict]) -> None:
    print(title)
    print(f"{'slots':>6} {'K':>3} {'envs':>7} {'steps/s':>10} {'compile s':>10} "
          f"{'RSS pre-compile':>16} {'peak RSS':>10} {'XLA buffers':>12}")
    for r in rows:
        head = f"{r['slots']:>6} {r['num_subpolicies']:>3} {r['slots'] * r['envs_per_slot']:>7}"
        if "error" in r:
            print(f"{head} failed: {r['error']}")
            continue
        xla = _gib(r["xla_total_bytes"]) if "xla_total_bytes" in r else "-"
        print(f"{head} {r['steps_per_s']:>10,.0f} {r['compile_s']:>10.1f} "
              f"{_gib(r['rss_before_compile_bytes']):>16} {_gib(r['peak_rss_bytes']):>10} "
              f"{xla:>12}")


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m benchmarks.scaling",
                       description=description_from(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="moving_bandits", choices=envs.names(), metavar="ENV",
                        help=f"task, one of {', '.join(envs.names())} "
                             f"(default: moving_bandits)")
    parser.add_argument("--slots", type=comma_list(int_at_least(1), "1,16,256"),
                        default="1,16,256,1024,4096", metavar="S,...",
                        help="task slot counts of the slots sweep, at the default K "
                             "(default: 1,16,256,1024,4096)")
    parser.add_argument("--ks", type=comma_list(int_at_least(1), "1,2,4"), default="1,2,4,8",
                        metavar="K,...",
                        help="sub-policy counts of the K sweep, at --k-slots slots "
                             "(default: 1,2,4,8)")
    parser.add_argument("--k-slots", type=int_at_least(1), default=256,
                        help="task slots of the K sweep (default: 256)")
    parser.add_argument("--envs-per-slot", type=int_at_least(1), default=8,
                        help="envs per slot in both sweeps (default: 8)")
    parser.add_argument("--updates", type=int_at_least(1), default=3,
                        help="updates per timed call (default: 3)")
    parser.add_argument("--repeats", type=int_at_least(1), default=3,
                        help="timed calls per size; the figure is their median (default: 3)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child)
        return
    try:  # every size checked before the first child starts
        base = RunConfig(env=args.env, envs_per_slot=args.envs_per_slot)
        slot_configs = [dataclasses.replace(base, num_slots=s) for s in args.slots]
        k_configs = [dataclasses.replace(base, num_slots=args.k_slots, num_subpolicies=k)
                     for k in args.ks]
    except ConfigError as error:
        parser.error(str(error))
    by_slots = [run_child(config, args.updates, args.repeats) for config in slot_configs]
    by_k = [run_child(config, args.updates, args.repeats) for config in k_configs]
    print(f"{args.env}, {args.envs_per_slot} envs/slot, D={base.rollout_steps}, "
          f"{args.updates} updates per call, median of {args.repeats} calls, compile excluded, "
          f"each size in a fresh process")
    print_table(f"\nslots sweep (K={base.num_subpolicies})", by_slots)
    print_table(f"\nK sweep ({args.k_slots} slots)", by_k)
    biggest = max((r for r in by_slots if "error" not in r), key=lambda r: r["slots"],
                  default=None)
    if biggest is not None and biggest["slots"] >= MEMORY_TARGET_SLOTS:
        met = biggest["peak_rss_bytes"] / GIB < MEMORY_TARGET_GIB
        print(f"\n{biggest['slots']} slots x {args.envs_per_slot} envs: peak RSS "
              f"{_gib(biggest['peak_rss_bytes'])}, target < {MEMORY_TARGET_GIB} GiB "
              f"{'met' if met else 'MISSED'}")
    print(json.dumps({"benchmark": "scaling", "by_slots": by_slots, "by_k": by_k}))


if __name__ == "__main__":
    main()
