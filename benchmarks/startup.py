"""Time from launch to the first logged update, with an empty and with a warm compilation cache.

    python -m benchmarks.startup [--config moving_bandits.py] [--repeats 3] [--config.KEY=VALUE ...]

Each repeat starts `python -m experiments.run` twice on fresh workdirs sharing one fresh cache
folder (`MLSH_JAX_COMPILE_CACHE`): the first start compiles and fills the cache, the second
loads the programs from it. The figure is the wall time from launch until the first progress
line appears (imports, compiling and the first update: `--config.log_every=1` is passed first).
Extra `--config.*` arguments reach both runs, after it.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

PROGRESS_LINE = re.compile(r"^\[\s*\d+/\d+\] steps ")


def seconds_to_first_update(config: str, cache_dir: str, workdir: str,
                            overrides: list[str]) -> float:
    """Wall seconds from launch until the run prints its first progress line."""
    command = [sys.executable, "-m", "experiments.run", "--config", config, "--workdir", workdir,
               *overrides]
    environment = dict(os.environ, MLSH_JAX_COMPILE_CACHE=cache_dir)
    start = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=environment) as process:
        output = []
        for line in process.stdout:
            output.append(line)
            if PROGRESS_LINE.match(line):
                seconds = time.perf_counter() - start
                process.kill()
                return seconds
        process.wait()
    raise RuntimeError(f"{' '.join(command)} printed no progress line:\n{''.join(output)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startup",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="moving_bandits.py")
    parser.add_argument("--repeats", type=int, default=3)
    args, overrides = parser.parse_known_args(argv)
    overrides = ["--config.log_every=1", *overrides]
    cold, warm = [], []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="mlsh-jax-startup-") as scratch:
            cache = os.path.join(scratch, "cache")
            cold.append(seconds_to_first_update(args.config, cache, os.path.join(scratch, "a"),
                                                overrides))
            warm.append(seconds_to_first_update(args.config, cache, os.path.join(scratch, "b"),
                                                overrides))
        print(f"repeat {repeat + 1}: empty cache {cold[-1]:.1f} s, warm cache {warm[-1]:.1f} s",
              flush=True)
    cold_median, warm_median = statistics.median(cold), statistics.median(warm)
    print(f"| config | empty cache (s) | warm cache (s) | speed-up |\n|---|---:|---:|---:|\n"
          f"| {args.config} {' '.join(overrides)} | {cold_median:.1f} | {warm_median:.1f} | "
          f"{cold_median / warm_median:.2f}x |")


if __name__ == "__main__":
    main()
