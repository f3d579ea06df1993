"""Meta-train MLSH from a config file plus command-line overrides.

    python -m experiments.run --config moving_bandits.py [--workdir DIR] [--config.KEY=VALUE ...]
    python -m experiments.run --config moving_bandits.py [--config.KEY=VALUE ...] --print-config

Running the same command on a DIR that holds a run resumes it from its latest checkpoint.
Multi-host: run the same command on every host, adding --distributed (TPU pods, SLURM: the
cluster is detected) or --coordinator HOST:PORT --num-processes P --process-id I.
Ctrl-C (SIGINT) or SIGTERM: the current chunk finishes, a checkpoint is written, and the exit
status is 128 + the signal (130 for Ctrl-C, 143 for SIGTERM); a second one aborts at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import signal
import sys
import time

from experiments.config_cli import CliParser, apply_overrides, available_configs, error_exit, \
    int_at_least, load_config_file
from mlsh_jax.checkpoint import CheckpointError, NoIntactCheckpointError
from mlsh_jax.compile_cache import enable_compile_cache
from mlsh_jax.config import ConfigError
from mlsh_jax.metrics_log import check_wandb_available
from mlsh_jax.sharding import PeerFailed, initialize_distributed
from mlsh_jax.train import NonFiniteError, RunWriteError, config_to_json, train

OVERRIDE_PREFIX = "--config."


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
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
                        help="output directory (default: runs/<config name>-<YYYYmmdd-HHMMSS>); "
                             "if it holds a run, that run is resumed")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved config (JSON, as the run writes to "
                             "DIR/config.json) and exit without training")
    hosts = parser.add_argument_group(
        "multi-host (same command on every host, --config.num_devices = all hosts' devices)")
    hosts.add_argument("--distributed", action="store_true",
                       help="join a multi-host run whose cluster JAX detects (TPU pods, SLURM)")
    hosts.add_argument("--coordinator", metavar="HOST:PORT",
                       help="process 0's address: join a multi-host run of --num-processes")
    hosts.add_argument("--num-processes", type=int_at_least(1), metavar="P",
                       help="processes (hosts) taking part")
    hosts.add_argument("--process-id", type=int_at_least(0), metavar="I",
                       help="this process: 0 .. P-1")
    return parser


def join_hosts(args: argparse.Namespace) -> None:
    """Start `jax.distributed` if asked to, before anything else uses JAX."""
    explicit = (args.coordinator, args.num_processes, args.process_id)
    if any(value is not None for value in explicit):
        if None in explicit:
            raise ConfigError("--coordinator, --num-processes and --process-id go together "
                              "(or use --distributed alone where JAX detects the cluster)")
        if not 0 <= args.process_id < args.num_processes:
            raise ConfigError(f"--process-id={args.process_id}: must be in 0 .. "
                              f"{args.num_processes - 1} (--num-processes={args.num_processes})")
        initialize_distributed(*explicit)
    elif args.distributed:
        initialize_distributed()


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
    """Fail before compiling if the run could not be saved."""
    if workdir.exists() and not workdir.is_dir():
        raise ConfigError(f"workdir {str(workdir)!r} exists and is not a directory")
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        probe = workdir / f".write_test.{os.getpid()}"  # processes of a multi-host run race
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise ConfigError(f"workdir {str(workdir)!r} is not writable: {error.strerror}") from None


class StopOnSignal:
    """First SIGINT/SIGTERM: ask the training loop to checkpoint and stop between chunks.
    A second one aborts at once (KeyboardInterrupt)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signal: int | None = None
        self._previous = {}

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.signal = signum
        print(f"{signal.Signals(signum).name}: stopping after the current chunk and saving a "
              f"checkpoint (Ctrl-C again to abort without saving)", file=sys.stderr, flush=True)

    def __enter__(self) -> "StopOnSignal":
        self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def quiet_background_failures() -> None:
    """Keep orbax's own reports of a failed background save off the console.

    orbax logs such a failure (e.g. a full disk) from each of its threads with a traceback,
    through absl and asyncio, before `train` reports it in one line naming the checkpoint.
    """
    for logger in ("absl", "asyncio"):
        logging.getLogger(logger).setLevel(logging.CRITICAL)


def main(argv: list[str] | None = None) -> int:
    enable_compile_cache()
    quiet_background_failures()
    stop = StopOnSignal()
    try:
        rest, overrides = split_overrides(sys.argv[1:] if argv is None else argv)
        args = build_parser().parse_args(rest)
        if not args.print_config:  # printing the config joins no cluster
            join_hosts(args)
        config = apply_overrides(load_config_file(args.config), overrides)
        if args.print_config:
            print(config_to_json(config))
            return 0
        stamp = time.strftime("%Y%m%d-%H%M%S")
        workdir = args.workdir or pathlib.Path("runs") / f"{pathlib.Path(args.config).stem}-{stamp}"
        check_wandb_available(config)
        prepare_workdir(workdir)
        with stop:
            # Flushed: "compiling ..." must show before the wait it announces, also in a pipe.
            state = train(config, workdir, log=lambda line: print(line, flush=True),
                          should_stop=lambda: stop.requested)
    except (NonFiniteError, NoIntactCheckpointError, RunWriteError, PeerFailed) as error:
        error_exit(error)
        return 1
    except (ConfigError, CheckpointError) as error:
        return error_exit(error)
    except KeyboardInterrupt:
        print("aborted without saving; the newest checkpoint is kept", file=sys.stderr)
        return 128 + (stop.signal or signal.SIGINT)
    if state is not None and int(state.update_step.min()) < config.total_updates:
        return 128 + stop.signal
    print(f"run saved in {workdir}; meta-test it with "
          f"`python -m experiments.evaluate --workdir {workdir}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
