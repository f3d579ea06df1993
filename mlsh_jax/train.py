"""The meta-training loop: compiled chunks of updates for all seeds, logged and checkpointed
between chunks, resumable from the latest checkpoint."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from mlsh_jax.checkpoint import CHECKPOINTS_DIR, RunCheckpoints, save_subpolicies
from mlsh_jax.config import ConfigError, RunConfig
from mlsh_jax.metrics_log import open_writers, interval_record, progress_line
from mlsh_jax.mlsh import UpdateMetrics, mlsh_update
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import TrainerState, init_seeds

CONFIG_FILE = "config.json"
RESUMABLE_FIELDS = ("total_updates", "log_every", "checkpoint_every", "max_to_keep",
                    "wandb_project")
"""Fields a resumed run may change: they do not alter the state or what an update computes."""


class NonFiniteError(RuntimeError):
    """A loss or parameter became NaN/inf; the run stopped before saving anything from it."""


def make_chunk(spec: MLSHSpec, length: int, batch_dims: int = 0):
    """A jitted function running `length` updates with `lax.scan` (metrics stacked on a time
    axis), vmapped over `batch_dims` leading state axes (seeds; tasks for flat meta-tests)."""

    def chunk(state: TrainerState):
        return jax.lax.scan(lambda s, _: mlsh_update(spec, s), state, None, length=length)

    for _ in range(batch_dims):
        chunk = jax.vmap(chunk)
    return jax.jit(chunk, donate_argnums=0)


def config_to_json(config: RunConfig) -> str:
    return json.dumps(dataclasses.asdict(config), indent=2)


def check_same_run(workdir: pathlib.Path, config: RunConfig) -> None:
    """Refuse to resume a run with a config that would change what its state means."""
    path = workdir / CONFIG_FILE
    if not path.exists():
        return
    stored = json.loads(path.read_text())
    wanted = json.loads(config_to_json(config))
    differences = [f"{name}: run has {stored.get(name)!r}, config has {wanted[name]!r}"
                   for name in wanted if name not in RESUMABLE_FIELDS
                   and stored.get(name) != wanted[name]]
    if differences:
        raise ConfigError(f"workdir {str(workdir)!r} holds a run with another config "
                          f"({'; '.join(differences)}); resume it with its own config or "
                          f"choose another --workdir")


def chunk_end(done: int, config: RunConfig) -> int:
    """The next update at which to log or checkpoint: multiples of each, or the end.

    Boundaries are global multiples, so a resumed run compiles and runs the same chunks as an
    uninterrupted one, which keeps its metrics bit-identical.
    """
    next_multiple = lambda every: (done // every + 1) * every
    return min(next_multiple(config.log_every), next_multiple(config.checkpoint_every),
               config.total_updates)


@jax.jit
def _parameters_finite(state: TrainerState) -> dict[str, jax.Array]:
    finite = lambda tree: jnp.all(jnp.asarray([jnp.all(jnp.isfinite(x))
                                               for x in jax.tree.leaves(tree)] or [True]))
    return {"sub-policy parameters": finite(state.subpolicies.params),
            "master parameters": finite(state.slots.master)}


def find_non_finite(metrics: UpdateMetrics, state: TrainerState, first_update: int) -> str | None:
    """Names the earliest update and quantity that is NaN/inf in a chunk, or None.

    `metrics` leaves are [seeds, updates, ...] (host arrays); `state` is after the chunk."""
    for learner, group in (("master", metrics.master), ("sub-policy", metrics.subpolicy)):
        for name in ("policy_loss", "value_loss", "entropy"):
            values = np.asarray(getattr(group, name))  # [seeds, updates]
            bad = np.argwhere(~np.isfinite(values))
            if len(bad):
                seed, update = bad[np.argmin(bad[:, 1])]
                return (f"update {first_update + update}: {learner} {name} is "
                        f"{values[seed, update]} (seed {seed})")
    last_update = first_update + np.shape(metrics.joint_fraction)[1] - 1
    for quantity, finite in jax.device_get(_parameters_finite(state)).items():
        if not finite:
            return f"update {last_update}: {quantity} contain NaN/inf"
    return None


def _concatenate_updates(chunks: list[UpdateMetrics]) -> UpdateMetrics:
    return jax.tree.map(lambda *xs: np.concatenate(xs, axis=1), *chunks)


def train(config: RunConfig, workdir: str | pathlib.Path, log: Callable[[str], None] = print,
          should_stop: Callable[[], bool] = lambda: False) -> TrainerState | None:
    """Meta-train all seeds of `config`, resuming from DIR/checkpoints if a run is there.

    Writes config.json; per log interval a metrics.jsonl record, TensorBoard events and the
    sub-policy export; the full state every `checkpoint_every` updates, at the end, and when
    `should_stop()` turns true between chunks (e.g. after Ctrl-C). Returns the final state
    (None for `scratch`, which has nothing to meta-train).
    """
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    check_same_run(workdir, config)
    (workdir / CONFIG_FILE).write_text(config_to_json(config))
    if config.algorithm == "scratch":
        log("algorithm=scratch: nothing to meta-train (each meta-test task learns from scratch)")
        return None
    spec = MLSHSpec.build(config)
    run = spec.config
    state = init_seeds(spec)
    checkpoints = RunCheckpoints(workdir / CHECKPOINTS_DIR, config.max_to_keep)
    done = checkpoints.latest_step() or 0
    if done:
        state = checkpoints.restore(done, state)
    log(f"mlsh-jax: {config.algorithm} env={run.env} K={run.num_subpolicies} "
        f"N={run.macro_duration} W={run.warmup_updates} U={run.joint_updates} "
        f"slots={run.num_slots} envs/slot={run.envs_per_slot} D={run.rollout_steps} "
        f"seeds={run.num_seeds} ({run.env_steps_per_update} env steps/update/seed) on "
        f"{jax.default_backend()}" + (f"; resuming after update {done}" if done else ""))
    writers = open_writers(workdir, config, resume_after=done)
    compiled: dict[int, Callable] = {}
    unlogged: list[UpdateMetrics] = []
    interval_seconds = interval_compile_seconds = 0.0
    stop = False
    try:
        while done < config.total_updates and not stop:
            length = chunk_end(done, config) - done
            if length not in compiled:
                start = time.perf_counter()
                compiled[length] = make_chunk(spec, length, batch_dims=1).lower(state).compile()
                interval_compile_seconds += time.perf_counter() - start
            start = time.perf_counter()
            state, metrics = compiled[length](state)
            metrics = jax.device_get(metrics)
            interval_seconds += time.perf_counter() - start
            problem = find_non_finite(metrics, state, done + 1)
            if problem:
                raise NonFiniteError(f"{problem}; stopped without saving it; the last good "
                                     f"checkpoint is update {checkpoints.latest_step()} in "
                                     f"{checkpoints.directory}")
            done += length
            unlogged.append(metrics)
            if done % config.log_every == 0 or done == config.total_updates:
                interval = _concatenate_updates(unlogged)
                updates = np.shape(interval.joint_fraction)[1]
                record = interval_record(interval)
                record.update(update=done, total_updates=config.total_updates,
                              env_steps=done * run.env_steps_per_update,
                              steps_per_second=updates * run.env_steps_per_update * run.num_seeds
                              / interval_seconds, seconds=interval_seconds,
                              compile_seconds=interval_compile_seconds)
                for writer in writers:
                    writer.write(record)
                save_subpolicies(workdir, state.subpolicies)
                log(progress_line(record))
                unlogged, interval_seconds, interval_compile_seconds = [], 0.0, 0.0
            stop = should_stop()
            if done % config.checkpoint_every == 0 or done == config.total_updates or stop:
                checkpoints.save(done, state)
        if stop:
            save_subpolicies(workdir, state.subpolicies)
            log(f"stopped after update {done}; checkpoint saved; run the same command to resume")
    finally:
        checkpoints.close()
        for writer in writers:
            writer.close()
    return state
