"""Meta-train MLSH from a config file plus command-line overrides.

    python -m experiments.run --config moving_bandits.py [--workdir DIR] [--config.KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

from experiments.config_cli import apply_overrides, available_configs, error_exit, load_config_file
from mlsh_jax.config import ConfigError
from mlsh_jax.train import train

OVERRIDE_PREFIX = "--config."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.run",
        description="Meta-train MLSH: shared sub-policies over many sampled tasks.",
        epilog=(f"available configs (experiments/configs): {', '.join(available_configs())}\n\n"
                "override any config field with --config.KEY=VALUE or --config.KEY VALUE, e.g.\n"
                "  --config.num_slots=8 --config.sub_ppo.learning_rate=1e-4 "
                "--config.network.hidden_sizes=32,32"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, metavar="NAME.py",
                        help="a config in experiments/configs, or a path to a config file")
    parser.add_argument("--workdir", type=pathlib.Path,
                        help="output directory (default: runs/<config name>-<YYYYmmdd-HHMMSS>)")
    return parser


def split_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """Separate `--config.KEY=VALUE` / `--config.KEY VALUE` from the fixed arguments.

    argparse cannot declare one option per config field without duplicating the config, so
    overrides are taken out first and handed to `apply_overrides` as `KEY=VALUE`.
    """
    rest, overrides = [], []
    args = iter(argv)
    for arg in args:
        if not arg.startswith(OVERRIDE_PREFIX):
            rest.append(arg)
            continue
        key, sep, value = arg[len(OVERRIDE_PREFIX):].partition("=")
        if not sep:
            value = next(args, None)
            if value is None:
                raise ConfigError(f"{arg}: missing value")
        overrides.append(f"{key}={value}")
    return rest, overrides


def prepare_workdir(workdir: pathlib.Path) -> None:
    """Fail before compiling if the run could not be saved, or would mix with an earlier run."""
    if workdir.exists() and not workdir.is_dir():
        raise ConfigError(f"workdir {str(workdir)!r} exists and is not a directory")
    if (workdir / "metrics.jsonl").exists():
        raise ConfigError(f"workdir {str(workdir)!r} already holds a run (metrics.jsonl); "
                          f"choose another --workdir")
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create workdir {str(workdir)!r}: {error.strerror}") from None


def main(argv: list[str] | None = None) -> int:
    try:
        rest, overrides = split_overrides(sys.argv[1:] if argv is None else argv)
        args = build_parser().parse_args(rest)
        config = apply_overrides(load_config_file(args.config), overrides)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        workdir = args.workdir or pathlib.Path("runs") / f"{pathlib.Path(args.config).stem}-{stamp}"
        prepare_workdir(workdir)
        train(config, workdir)
    except ConfigError as error:
        return error_exit(error)
    print(f"run saved in {workdir}; meta-test it with "
          f"`python -m experiments.evaluate --workdir {workdir}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
