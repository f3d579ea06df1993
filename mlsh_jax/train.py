"""The meta-training loop: compiled chunks of updates for all seeds, logged and checkpointed
between chunks, resumable from the latest checkpoint."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import pathlib
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from mlsh_jax.checkpoint import CHECKPOINTS_DIR, CheckpointError, RunCheckpoints, read_json, \
    save_subpolicies, transfer_subpolicies
from mlsh_jax.config import ConfigError, RunConfig, config_from_dict
from mlsh_jax.metrics_log import open_writers, interval_record, progress_line
from mlsh_jax.mlsh import UpdateMetrics, mlsh_update
from mlsh_jax.selection import CANDIDATES_FILE, best_candidates, best_mean, candidate_returns, \
    candidates_at, first_candidates, keep, runs_at, selection_lines, selection_record, \
    write_selection
from mlsh_jax.sharding import gather_texts, place, processes_agree, slot_mesh, \
    state_shardings
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import TrainerState, init_seeds
from mlsh_jax.writes import WriteFailed, replace_file

CONFIG_FILE = "config.json"
RESUMABLE_FIELDS = ("total_updates", "log_every", "checkpoint_every", "checkpoint_minutes",
                    "max_to_keep", "wandb_project", "num_devices")
"""Fields a resumed run may change: they do not alter the state or what an update computes
(num_devices: up to float rounding, so a run resumed on other devices is not bit-identical)."""


class NonFiniteError(RuntimeError):
    """A loss or parameter became NaN/inf; the run stopped before saving anything from it."""


class RunWriteError(RuntimeError):
    """A file of the run could not be written (e.g. the disk is full); the run stopped, and
    its newest intact checkpoint is where the same command resumes."""


def _write_failed(error: WriteFailed, newest: int | None) -> RunWriteError:
    """What failed, where the run stands and what to do, for a user reading one line."""
    what = "disk full while writing" if error.disk_full else "could not write"
    fix = "free space" if error.disk_full else "fix this"
    kept = (f"the newest intact checkpoint is update {newest}" if newest
            else "there is no checkpoint yet")
    return RunWriteError(f"{what} {error.filename} ({error.strerror}); {kept}; {fix} and run "
                         f"the same command to resume")


def make_chunk(spec: MLSHSpec, length: int, batch_dims: int = 0,
               shardings: TrainerState | None = None):
    """A jitted function running `length` updates with `lax.scan` (metrics stacked on a time
    axis), vmapped over `batch_dims` leading state axes (seeds; tasks for flat meta-tests).
    The axes are named, so that a rollout skips the master's pass at the steps where no run
    needs it (`mlsh_jax.rollout.when_any`).

    `shardings` (`mlsh_jax.sharding.state_shardings`) pins the returned state to the input's
    layout, so the next chunk accepts it, and replicates the metrics, so every process of a
    multi-host run can read them.
    """
    run_axes = tuple(f"runs{axis}" for axis in range(batch_dims))

    def chunk(state: TrainerState):
        return jax.lax.scan(lambda s, _: mlsh_update(spec, s, run_axes), state, None,
                            length=length)

    for axis_name in reversed(run_axes):
        chunk = jax.vmap(chunk, axis_name=axis_name)
    if shardings is None:
        return jax.jit(chunk, donate_argnums=0)
    replicated = jax.sharding.NamedSharding(shardings.key.mesh, jax.sharding.PartitionSpec())
    return jax.jit(chunk, donate_argnums=0, out_shardings=(shardings, replicated))


def config_to_json(config: RunConfig) -> str:
    return json.dumps(dataclasses.asdict(config), indent=2)


def write_config(workdir: pathlib.Path, config: RunConfig) -> None:
    """DIR/config.json, replaced whole (temp file + rename): a run killed while writing it
    must still be resumable, and resuming reads it."""
    replace_file(workdir / CONFIG_FILE, config_to_json(config).encode())


def check_same_run(workdir: pathlib.Path, config: RunConfig) -> None:
    """Refuse to resume a run with a config that would change what its state means.

    A field the stored config lacks (saved before the field existed), in a group such as
    `sub_ppo` too, counts as its default (`config_from_dict`).
    """
    path = workdir / CONFIG_FILE
    if not path.exists():
        return
    found = read_json(path)
    if not isinstance(found, dict):
        raise CheckpointError(f"{path} is damaged: it holds no JSON object")
    try:
        stored = json.loads(config_to_json(config_from_dict(found)))
    except ConfigError as error:
        raise CheckpointError(f"{path} does not hold a valid config: {error}") from None
    differences = _differences(stored, config, "run", ignored=RESUMABLE_FIELDS)
    if differences:
        raise ConfigError(f"workdir {str(workdir)!r} holds a run with another config "
                          f"({differences}); resume it with its own config or "
                          f"choose another --workdir")


def check_same_config_on_every_process(config: RunConfig) -> None:
    """Refuse a multi-host run whose processes were given different configs (they would
    compile different programs and wait for each other forever). A collective."""
    reference = json.loads(gather_texts(config_to_json(config))[0])
    differences = _differences(reference, config, "process 0")
    if differences:
        raise ConfigError(f"process {jax.process_index()} has another config than process 0 "
                          f"({differences}); start every process with the same config")


def _differences(stored: dict, config: RunConfig, owner: str, ignored=()) -> str:
    """The fields where `config` differs from the JSON dict `stored` of `owner`, in words."""
    wanted = json.loads(config_to_json(config))
    return "; ".join(f"{name}: {owner} has {stored.get(name)!r}, config has {wanted[name]!r}"
                     for name in wanted
                     if name not in ignored and stored.get(name) != wanted[name])


def chunk_end(done: int, config: RunConfig) -> int:
    """The next log boundary (a multiple of `log_every`) or the end; while candidates train,
    also the start of the selection window, and the window runs as one chunk, so that its
    metrics rank the candidates (`mlsh_jax.selection`).

    Checkpoints and stops happen only at these boundaries, so a resumed run runs exactly the
    chunks an uninterrupted one does, which keeps its metrics bit-identical.
    """
    end = (done // config.log_every + 1) * config.log_every
    if config.candidate_phase(done):
        window_start = config.selection_update - config.selection_window
        end = config.selection_update if done >= window_start else min(end, window_start)
    return min(end, config.total_updates)


@jax.jit
def _state_finite(state: TrainerState) -> dict[str, jax.Array]:
    """Whether every float in each learner (parameters, Adam moments, observation statistics)
    is finite: a poisoned optimizer state must not be checkpointed as good either."""

    def finite(tree) -> jax.Array:
        leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
                  if jnp.issubdtype(x.dtype, jnp.inexact)]
        return jnp.all(jnp.asarray(leaves or [True]))

    return {"sub-policy parameters, optimizer state or observation statistics":
            finite(state.subpolicies),
            "master parameters, optimizer state or observation statistics":
            finite(state.slots.master)}


def find_non_finite(metrics: UpdateMetrics, state: TrainerState, first_update: int,
                    candidates: int = 1) -> str | None:
    """Names the earliest update and quantity that is NaN/inf in a chunk, or None.

    `metrics` leaves are [runs, updates, ...] (host arrays; runs: seeds x `candidates`);
    `state` is after the chunk."""
    found = []
    for learner, group in (("master", metrics.master), ("sub-policy", metrics.subpolicy)):
        for name in ("policy_loss", "value_loss", "entropy"):
            values = np.asarray(getattr(group, name))  # [seeds, updates]
            for seed, update in np.argwhere(~np.isfinite(values)):
                found.append((update, seed, f"{learner} {name} is {values[seed, update]}"))
    if found:
        update, run, what = min(found, key=lambda item: item[:2])
        seed, candidate = divmod(int(run), candidates)
        which = f"seed {seed}" + (f" candidate {candidate}" if candidates > 1 else "")
        return f"update {first_update + update}: {what} ({which})"
    last_update = first_update + np.shape(metrics.joint_fraction)[1] - 1
    for quantity, finite in jax.device_get(_state_finite(state)).items():
        if not finite:
            return f"update {last_update}: {quantity} contain NaN/inf"
    return None


def _wait_interruptibly(tree) -> None:
    """Block until the arrays are computed, in Python, so signal handlers (Ctrl-C) run
    during a long chunk instead of only after it."""
    for leaf in jax.tree.leaves(tree):
        while not leaf.is_ready():
            time.sleep(0.05)


def resume(checkpoints: RunCheckpoints, template: Callable[[int], TrainerState],
           log: Callable[[str], None]) -> tuple[int, TrainerState]:
    """(update, state) of the newest checkpoint that reads back; `template(update)` is the
    state's structure after that update.

    Newer damaged checkpoints are moved aside, kept for inspection: orbax would otherwise skip
    saving their update counts again, as not newer than the latest it lists. With no intact
    checkpoint this raises NoIntactCheckpointError and changes nothing: starting over would
    overwrite the run's metrics.
    """
    done, state, damaged = checkpoints.restore_newest(template)
    for error in damaged:
        aside = checkpoints.move_aside(error.step)
        log(f"warning: {error}; moved aside to {aside} (delete it once inspected); resuming "
            f"from update {done} instead")
    return done, state


def train(config: RunConfig, workdir: str | pathlib.Path, log: Callable[[str], None] = print,
          should_stop: Callable[[], bool] = lambda: False) -> TrainerState | None:
    """Meta-train all seeds of `config`, resuming from DIR/checkpoints if a run is there.

    Writes config.json; per log interval a metrics.jsonl record, TensorBoard events and the
    sub-policy export; the full state every `checkpoint_every` updates, after
    `checkpoint_minutes` without one, at a best-of-k selection, at the end, and when
    `should_stop()` turns true between chunks (e.g. after Ctrl-C). Returns the final state
    (None for `scratch`, which has nothing to meta-train). The slots are split over
    `num_devices` devices; in a multi-host run every process calls this with the same
    arguments, all take part in checkpoints, and only process 0 logs and writes the other files.
    A write that fails (e.g. a full disk) stops the run with a `RunWriteError` naming the file
    and the newest intact checkpoint, the one the same command resumes from.
    """
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    primary = jax.process_index() == 0
    log = log if primary else (lambda _: None)
    checkpoints = None
    try:
        if config.algorithm == "scratch":
            write_config(workdir, config)
            log("algorithm=scratch: nothing to meta-train (each meta-test task learns from "
                "scratch)")
            return None
        checkpoints = RunCheckpoints(workdir / CHECKPOINTS_DIR, config.max_to_keep)
        return _train(config, workdir, checkpoints, log, should_stop)
    except WriteFailed as error:
        newest = checkpoints.newest_committed() if checkpoints else None
        raise _write_failed(error, newest) from None


def _train(config: RunConfig, workdir: pathlib.Path, checkpoints: RunCheckpoints,
           log: Callable[[str], None], should_stop: Callable[[], bool]) -> TrainerState:
    """`train` of an MLSH or flat run; closes `checkpoints`."""
    primary = jax.process_index() == 0
    with processes_agree():
        resuming = checkpoints.latest_step() is not None
        if resuming:
            check_same_run(workdir, config)
    with processes_agree():
        check_same_config_on_every_process(config)  # all get here: they agreed above
        spec = MLSHSpec.build(config)
        run = spec.config
        candidates = candidates_at(run, 0)
        state = init_seeds(spec, candidates)
        if config.init_subpolicies_from and not resuming:
            state = state.replace(subpolicies=transfer_subpolicies(
                pathlib.Path(config.init_subpolicies_from), state.subpolicies, candidates))
            log(f"sub-policies initialised from {config.init_subpolicies_from}")
        shardings = state_shardings(slot_mesh(run.num_devices), state)
        state = place(state, shardings)
    done = 0
    if resuming:
        with processes_agree():
            done, state = resume(checkpoints,
                                 lambda update: state_template(spec, update, shardings), log)
    with processes_agree():
        if primary:
            write_config(workdir, config)
            if resuming or config.total_updates == 0:
                _export(workdir, run, state, done)
    log(f"mlsh-jax: {config.algorithm} env={run.env} K={run.num_subpolicies} "
        f"N={run.macro_duration} W={run.warmup_updates} U={run.joint_updates} "
        f"slots={run.num_slots} envs/slot={run.envs_per_slot} D={run.rollout_steps} "
        f"seeds={run.num_seeds} ({run.env_steps_per_update} env steps/update/seed) on "
        f"{run.num_devices} {jax.default_backend()} device(s)"
        + (f"; best of {run.candidates} candidates per seed, chosen after update "
           f"{run.selection_update}" if run.selects else "")
        + (f"; alike sub-policies restarted after updates "
           f"{', '.join(map(str, run.reinit_alike_updates))}"
           if run.reinit_alike_updates and run.num_subpolicies > 1 else "")
        + (f"; resuming after update {done}" if done else ""))
    writers = []
    compiled: dict[tuple[int, int], Callable] = {}
    started, timed_run_updates, timed_seconds = time.perf_counter(), 0, 0.0
    last_checkpoint = started
    stop = agreed_stop(should_stop())
    try:
        with processes_agree():
            if primary:
                writers = open_writers(workdir, config, resume_after=done)
        while done < config.total_updates and not stop:
            length = chunk_end(done, config) - done
            candidates, runs = candidates_at(run, done), runs_at(run, done)
            compile_seconds = 0.0
            if (length, runs) not in compiled:
                # Compiling takes seconds to minutes with nothing else to show: say so.
                side_by_side = f", {runs} runs (seeds x candidates) at once" if runs > 1 else ""
                log(f"compiling the training program ({length} updates per call"
                    f"{side_by_side}) ...")
                start = time.perf_counter()
                compiled[length, runs] = make_chunk(spec, length, batch_dims=1,
                                                    shardings=shardings).lower(state).compile()
                compile_seconds = time.perf_counter() - start
                log(f"compiled in {compile_seconds:.1f} s")
            start = time.perf_counter()
            state, metrics = compiled[length, runs](state)
            _wait_interruptibly(metrics)
            metrics = jax.device_get(metrics)
            seconds = time.perf_counter() - start
            problem = find_non_finite(metrics, state, done + 1, candidates)
            if problem:
                last_good = checkpoints.latest_step()
                raise NonFiniteError(
                    f"{problem}; stopped without saving it; the last good checkpoint is "
                    + (f"update {last_good} in {checkpoints.directory}" if last_good
                       else "none yet"))
            done += length
            record = interval_record(metrics, spec.env.episode_end_metrics)
            if candidates > 1:
                scores = candidate_returns(run, metrics.slot_episodes)
                record = _by_candidate(record, scores)
            record.update(update=done, total_updates=config.total_updates,
                          env_steps=run.env_steps_done(done),
                          steps_per_second=length * run.env_steps_per_update * runs / seconds,
                          seconds=seconds, compile_seconds=compile_seconds)
            selected = candidates > 1 and not run.candidate_phase(done)
            if selected:
                state, lines = _select(workdir, run, state, scores, shardings, primary)
                for line in lines:
                    log(line)
            with processes_agree():  # only process 0 writes these; all wrote the checkpoint
                for writer in writers:
                    writer.write(record)
                if primary:
                    _export(workdir, run, state, done)
                checkpoints.wait()
            timed_run_updates += length * runs
            timed_seconds += seconds
            log(progress_line(record, spec.env.episode_end_metrics,
                              elapsed=time.perf_counter() - started,
                              eta=run_updates_left(config, done) * timed_seconds
                              / timed_run_updates))
            stop = agreed_stop(should_stop())  # collectives: every process asks both
            due = checkpoint_due(config, last_checkpoint)
            crossed = done // config.checkpoint_every > (done - length) // config.checkpoint_every
            if crossed or done == config.total_updates or stop or selected or due:
                checkpoints.save(done, state)
                last_checkpoint = time.perf_counter()
        with processes_agree():
            checkpoints.wait()  # a failed last save is raised here, not lost in closing below
        if stop and done < config.total_updates:
            log(f"stopped after update {done}; checkpoint saved; run the same command to resume")
    finally:
        for close in [checkpoints.close] + [writer.close for writer in writers]:
            with contextlib.suppress(WriteFailed):  # raised by the write that failed first
                close()
    return state


def agreed_stop(stop: bool) -> bool:
    """Whether any process was asked to stop (e.g. by SIGTERM): a signal may reach the
    processes between their checks, and all must leave the loop after the same chunk, as the
    next chunk and the last save are collective."""
    if jax.process_count() > 1:
        return any(gather_texts("stop" if stop else ""))
    return stop


def checkpoint_due(config: RunConfig, last_checkpoint: float) -> bool:
    """Whether `checkpoint_minutes` have passed since `last_checkpoint` (a `perf_counter`
    time), as process 0 sees it: a save is collective, so every process must take the same
    decision, and their clocks may fall on either side of the limit."""
    minutes = config.checkpoint_minutes
    due = minutes > 0 and time.perf_counter() - last_checkpoint >= 60 * minutes
    if jax.process_count() > 1:
        due = gather_texts("due" if due else "")[0] == "due"
    return due


def run_updates_left(config: RunConfig, done: int) -> int:
    """Updates left after `done`, each counted once per run it trains (seeds, and each seed's
    candidates before the selection): the time left scales with these, not with updates."""
    steps_left = config.env_steps_done(config.total_updates) - config.env_steps_done(done)
    return steps_left // config.env_steps_per_update * config.num_seeds


def state_template(spec: MLSHSpec, update: int, shardings: TrainerState | None = None
                   ) -> TrainerState:
    """The structure and shapes (and layout, given `shardings`) of a run's state after
    `update` updates: seeds x candidates while they train, seeds after the selection."""
    shapes = jax.eval_shape(lambda: init_seeds(spec, candidates_at(spec.config, update)))
    if shardings is None:
        return shapes
    return jax.tree.map(lambda x, sharding: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                                                 sharding=sharding),
                        shapes, shardings)


def _export(workdir: pathlib.Path, run: RunConfig, state: TrainerState, done: int) -> None:
    """subpolicies.msgpack: phi of every seed; while candidates train, each seed's candidate
    0 (the plain run of the seed), and every candidate's in candidates.msgpack."""
    if run.candidate_phase(done):
        save_subpolicies(workdir, first_candidates(state.subpolicies, run))
        save_subpolicies(workdir, state.subpolicies, CANDIDATES_FILE)
    else:
        save_subpolicies(workdir, state.subpolicies)


def _by_candidate(record: dict, scores: np.ndarray) -> dict:
    """A candidate-phase record: the per-run lists (seeds x candidates) give way to per-seed
    lists of its candidates' returns ([seeds, candidates] `scores`) and routing, and the mean
    of each seed's best return (a maximum of noisy estimates: biased upward)."""
    candidates = scores.shape[1]
    routing = record.get("seed_subpolicy_usage_by_task_type")
    record = {name: value for name, value in record.items() if not name.startswith("seed_")}
    record["candidate_episode_return"] = [[float(v) if np.isfinite(v) else None for v in row]
                                          for row in scores]
    if routing is not None:
        record["candidate_subpolicy_usage_by_task_type"] = [
            routing[seed:seed + candidates] for seed in range(0, len(routing), candidates)]
    record["best_candidate_return"] = best_mean(scores)
    return record


def _select(workdir: pathlib.Path, run: RunConfig, state: TrainerState, scores: np.ndarray,
            shardings: TrainerState, primary: bool) -> tuple[TrainerState, list[str]]:
    """Keep each seed's best candidate by the window's training return (`scores`, [seeds,
    candidates]); record the choice and the candidates' sub-policies."""
    kept = best_candidates(scores)
    record = selection_record(run, scores, kept)
    with processes_agree():
        if primary:
            save_subpolicies(workdir, state.subpolicies, CANDIDATES_FILE)
            write_selection(workdir, record)
    state = jax.jit(lambda s: keep(s, run, kept), out_shardings=shardings)(state)
    return state, selection_lines(record)
