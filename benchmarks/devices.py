"""MLSH training steps per second against the number of devices the slots are split over.

    python -m benchmarks.devices [--devices 1,2,4] [--size 64x8] [--updates 5] [--repeats 3]

Each device count runs in its own process with that many forced host devices
(`--xla_force_host_platform_device_count`, which must be set before JAX is imported) and
`num_devices` equal to it. On a CPU the forced devices share the same cores, so this measures
the cost of partitioning, not a speed-up. Compile time is measured separately; throughput is
the median of `--repeats` timed calls. Prints a table and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from experiments.config_cli import CliParser, comma_list, description_from, int_at_least, \
    slots_by_envs
from mlsh_jax.config import ConfigError, RunConfig

WORKER_FLAG = "--worker-devices"


def measure(num_devices: int, slots: int, envs_per_slot: int, updates: int,
            repeats: int) -> dict:
    """(In the worker process.) Compile and time `updates` updates sharded over the devices,
    exactly as `train` runs them."""
    import jax

    from benchmarks.sps import timed_median
    from mlsh_jax.sharding import place, slot_mesh, state_shardings
    from mlsh_jax.spec import MLSHSpec
    from mlsh_jax.state import init_seeds
    from mlsh_jax.train import make_chunk

    config = RunConfig(num_slots=slots, envs_per_slot=envs_per_slot, num_devices=num_devices)
    spec = MLSHSpec.build(config)
    initial = jax.device_get(init_seeds(spec))
    shardings = state_shardings(slot_mesh(num_devices), initial)
    make_state = lambda: (place(initial, shardings),)
    start = time.perf_counter()
    compiled = make_chunk(spec, updates, batch_dims=1,
                          shardings=shardings).lower(*make_state()).compile()
    compile_seconds = time.perf_counter() - start
    seconds = timed_median(compiled, make_state, repeats)
    return dict(devices=num_devices, forced_host_devices=jax.device_count(), slots=slots,
                envs_per_slot=envs_per_slot, rollout_steps=config.rollout_steps,
                mlsh_sps=updates * config.env_steps_per_update / seconds,
                seconds_per_update=seconds / updates, compile_s=compile_seconds)


def run_worker(num_devices: int, args: argparse.Namespace) -> dict:
    """One device count in a fresh process; its last stdout line is its row as JSON."""
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={num_devices}")
    slots, envs_per_slot = args.size
    command = [sys.executable, "-m", "benchmarks.devices", WORKER_FLAG, str(num_devices),
               "--size", f"{slots}x{envs_per_slot}", "--updates", str(args.updates),
               "--repeats", str(args.repeats)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{num_devices} device(s) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def print_table(rows: list[dict], repeats: int) -> None:
    print(f"forced host CPU devices, median of {repeats} repeats, compile excluded")
    print(f"{'devices':>7} {'slots x envs':>13} {'MLSH steps/s':>13} {'vs 1 device':>12} "
          f"{'s/update':>9} {'compile (s)':>12}")
    base = rows[0]["mlsh_sps"]
    for r in rows:
        print(f"{r['devices']:>7} {r['slots']:>6} x {r['envs_per_slot']:<4} "
              f"{r['mlsh_sps']:>13,.0f} {r['mlsh_sps'] / base:>12.2f} "
              f"{r['seconds_per_update']:>9.3f} {r['compile_s']:>12.1f}")


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m benchmarks.devices",
                       description=description_from(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=comma_list(int_at_least(1), "1,2,4"), default="1,2,4",
                        metavar="N,...",
                        help="device counts, one table row and one process each "
                             "(default: 1,2,4)")
    parser.add_argument("--size", type=slots_by_envs, default="64x8", metavar="SLOTSxENVS",
                        help="task slots x envs per slot; the slots must split evenly over "
                             "every device count (default: 64x8)")
    parser.add_argument("--updates", type=int_at_least(1), default=5,
                        help="MLSH updates per timed call (default: 5)")
    parser.add_argument("--repeats", type=int_at_least(1), default=3,
                        help="timed calls; the figure is their median (default: 3)")
    parser.add_argument(WORKER_FLAG, dest="worker_devices", type=int, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    slots, envs_per_slot = args.size
    if args.worker_devices:
        print(json.dumps(measure(args.worker_devices, slots, envs_per_slot, args.updates,
                                 args.repeats)))
        return
    try:  # every device count checked before the first worker starts
        for count in args.devices:
            RunConfig(num_slots=slots, envs_per_slot=envs_per_slot, num_devices=count)
    except ConfigError as error:
        parser.error(str(error))
    rows = [run_worker(count, args) for count in args.devices]
    print_table(rows, args.repeats)
    print(json.dumps({"benchmark": "devices", "rows": rows}))


if __name__ == "__main__":
    main()
