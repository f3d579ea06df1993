"""Time from launch to the first logged update, with an empty and with a warm compilation cache.

    python -m benchmarks.startup [--config moving_bandits.py] [--repeats 3] [--config.KEY=VALUE ...]

Each repeat starts `python -m experiments.run` twice on fresh workdirs sharing one fresh cache
folder (`MLSH_JAX_COMPILE_CACHE`): the first start compiles and fills the cache, the second
loads the programs from it. The figure is the wall time from launch until the first progress
line appears (imports, compiling and the first update: `--config.log_every=1` is passed first).
Extra `--config.*` arguments reach both runs, after it. Prints one line per repeat and a
Markdown table of the medians.
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

from experiments.config_cli import CliParser, apply_overrides, description_from, int_at_least, \
    load_config_file
from experiments.run import split_overrides
from mlsh_jax.config import ConfigError

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


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m benchmarks.startup",
                       usage="%(prog)s [-h] [--config NAME.py] [--repeats N] "
                             "[--config.KEY=VALUE ...]",
                       description=description_from(__doc__),
                       epilog="--config.KEY=VALUE (or --config.KEY VALUE) sets any config "
                              "field in both runs,\nas for `python -m experiments.run`",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="moving_bandits.py", metavar="NAME.py",
                        help="the config both runs start from, as `python -m experiments.run "
                             "--config` takes it (default: moving_bandits.py)")
    parser.add_argument("--repeats", type=int_at_least(1), default=3, metavar="N",
                        help="pairs of starts (empty cache, then warm); the table shows "
                             "their medians (default: 3)")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    try:  # a mistake is reported here, not as a run that printed no progress line
        rest, extra = split_overrides(sys.argv[1:] if argv is None else argv)
        args = parser.parse_args(rest)
        overrides = ["log_every=1", *extra]
        apply_overrides(load_config_file(args.config), overrides)
    except ConfigError as error:
        parser.error(str(error))
    overrides = [f"--config.{override}" for override in overrides]
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
