"""The meta-training loop: compiled chunks of `log_every` updates, logged between chunks."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from typing import Callable

import jax

from mlsh_jax.checkpoint import save_subpolicies
from mlsh_jax.config import RunConfig
from mlsh_jax.metrics_log import JsonlWriter, TensorBoardWriter, interval_record, progress_line
from mlsh_jax.mlsh import mlsh_update
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import TrainerState, init_state


def make_chunk(spec: MLSHSpec, length: int):
    """A jitted function running `length` updates with `lax.scan` (metrics stacked)."""

    def chunk(state: TrainerState):
        return jax.lax.scan(lambda s, _: mlsh_update(spec, s), state, None, length=length)

    return jax.jit(chunk, donate_argnums=0)


def config_to_json(config: RunConfig) -> str:
    return json.dumps(dataclasses.asdict(config), indent=2)


def train(config: RunConfig, workdir: str | pathlib.Path,
          log: Callable[[str], None] = print) -> TrainerState:
    """Meta-train from scratch; writes config.json, and per log interval a metrics.jsonl record,
    TensorBoard events (DIR/tensorboard) and the sub-policies (so an interrupted run still
    leaves usable phi)."""
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.json").write_text(config_to_json(config))
    spec = MLSHSpec.build(config)
    state = init_state(spec, jax.random.PRNGKey(config.seed))
    log(f"mlsh-jax: env={config.env} K={config.num_subpolicies} N={config.macro_duration} "
        f"W={config.warmup_updates} U={config.joint_updates} slots={config.num_slots} "
        f"envs/slot={config.envs_per_slot} D={config.rollout_steps} "
        f"({config.env_steps_per_update} env steps/update) on {jax.default_backend()}")
    writers = (JsonlWriter(workdir / "metrics.jsonl"), TensorBoardWriter(workdir / "tensorboard"))
    compiled: dict[int, Callable] = {}
    done = 0
    try:
        while done < config.total_updates:
            length = min(config.log_every, config.total_updates - done)
            compile_seconds = 0.0
            if length not in compiled:
                start = time.perf_counter()
                compiled[length] = make_chunk(spec, length).lower(state).compile()
                compile_seconds = time.perf_counter() - start
            start = time.perf_counter()
            state, metrics = compiled[length](state)
            record = interval_record(metrics)
            seconds = time.perf_counter() - start
            done += length
            record.update(update=done, total_updates=config.total_updates,
                          env_steps=done * config.env_steps_per_update,
                          steps_per_second=length * config.env_steps_per_update / seconds,
                          seconds=seconds, compile_seconds=compile_seconds)
            for writer in writers:
                writer.write(record)
            save_subpolicies(workdir, state.subpolicies)
            log(progress_line(record))
    finally:
        for writer in writers:
            writer.close()
    return state
