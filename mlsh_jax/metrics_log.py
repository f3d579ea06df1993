"""Turn per-update device metrics into log records: metrics.jsonl, TensorBoard event files,
optionally Weights & Biases, and one progress line each."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import pathlib
import time
from typing import Any

import numpy as np
from tensorboardX.event_file_writer import EventsWriter
from tensorboardX.proto.event_pb2 import Event, SessionLog
from tensorboardX.summary import scalar

from mlsh_jax.config import ConfigError, RunConfig
from mlsh_jax.mlsh import EpisodeTotals, UpdateMetrics
from mlsh_jax.writes import replace_file, writing

METRICS_FILE = "metrics.jsonl"


def _rows(matrix: np.ndarray) -> list[list[float]]:
    """Each row as fractions of its total (a row without decisions stays all zero)."""
    totals = np.maximum(matrix.sum(axis=-1, keepdims=True), 1.0)
    return (matrix / totals).round(6).tolist()


def interval_record(metrics: UpdateMetrics,
                    episode_end_names: tuple[str, ...] = ()) -> dict[str, Any]:
    """Aggregate an interval's metrics (host arrays, leaves [seeds, updates, ...]) into one
    record pooled over seeds (episodes, optimizer steps: summed), plus, when there are several
    seeds, each seed's episode return and (if the env has task types) its masters' sub-policy
    shares per task type, which pooling averages away: seeds whose sub-policies swapped roles
    cancel. A task type that no slot of a seed had in the interval reads all zero.
    The return and the episode-end metrics are those of the episodes that started and ended
    within the interval (`interval_episodes`). `episode_end_names` name the env's episode-end
    metrics (the last axis of `EpisodeTotals.started_here_end`)."""
    m = metrics
    seed_returns, seed_episodes = interval_episodes(m.slot_episodes)
    episodes = float(seed_episodes.sum())
    num_subpolicies = m.subpolicy_usage.shape[-1]
    record: dict[str, Any] = {
        "episodes": int(episodes),
        "episode_return": float(seed_returns.sum() / episodes) if episodes else None,
        "joint_fraction": float(m.joint_fraction.mean()),
        "subpolicy_usage": [float(u) for u in
                            m.subpolicy_usage.reshape(-1, num_subpolicies).mean(axis=0)],
        "macro_overflow": int(m.macro_overflow.sum()),
        "subpolicy_optimizer_steps": [int(s) for s in m.subpolicy_steps.sum(axis=(0, 1))],
    }
    if m.decisions_by_task_type.shape[-2]:
        record["subpolicy_usage_by_task_type"] = _rows(m.decisions_by_task_type.sum(axis=(0, 1)))
    record.update(_episode_end_means(m, episode_end_names))
    if len(seed_episodes) > 1:
        record["seed_episode_return"] = [float(r / n) if n else None
                                         for r, n in zip(seed_returns, seed_episodes)]
        if m.decisions_by_task_type.shape[-2]:
            record["seed_subpolicy_usage_by_task_type"] = _rows(
                m.decisions_by_task_type.sum(axis=1))
    checked = np.asarray(m.alike_checked, bool)  # [seeds, updates]
    if checked.any():
        record["alike_check"] = _alike_check(m, checked)
    for prefix, group in (("master", m.master), ("subpolicy", m.subpolicy)):
        for name in ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction"):
            record[f"{prefix}/{name}"] = float(np.mean(getattr(group, name)))
    return record


def _alike_check(m: UpdateMetrics, checked: np.ndarray) -> dict[str, Any]:
    """Each seed's sub-policy distances at the interval's check and which sub-policies were
    re-initialised then (`RunConfig.reinit_alike_updates`; a config allows one check per log
    interval, so the first one found is the only one)."""
    at = np.argmax(checked, axis=1)
    seeds = np.arange(checked.shape[0])
    distances = np.asarray(m.subpolicy_distance[seeds, at], np.float64)
    return {"seed_distances": np.round(distances, 4).tolist(),
            "seed_reinitialised": m.subpolicy_reinitialised[seeds, at].astype(int).tolist()}


def interval_episodes(totals: EpisodeTotals) -> tuple[np.ndarray, np.ndarray]:
    """[seeds] return sums and counts of the episodes that started and ended within an
    interval (leaves [seeds, updates, S]): all that ended in it except those of its first
    update that started before it.

    These are the episodes started in the interval's updates (`EpisodeTotals`) but the last,
    plus those of the last that already ended: a short-episode bias of at most one update
    in the interval's length. The other censoring: a slot that restarts (new task, envs
    reset) drops the episodes it had not finished.
    """
    returns, counts, _ = _within_interval(totals)
    return returns.sum(axis=(1, 2)), counts.sum(axis=(1, 2))


def _within_interval(totals: EpisodeTotals) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per [seed, update, slot]: return sums, counts and episode-end sums ([..., M]) of the
    episodes that ended there and started within the interval."""

    def without_first(x: np.ndarray) -> np.ndarray:
        x = np.array(x, copy=True)
        x[:, 0] = 0  # the first update's episodes that started before the interval
        return x

    return (totals.started_here_return + without_first(totals.started_before_return),
            totals.started_here_count + without_first(totals.started_before_count),
            totals.started_here_end + without_first(totals.started_before_end))


def _episode_end_means(m: UpdateMetrics, names: tuple[str, ...]) -> dict[str, Any]:
    """Mean of each episode-end metric over the episodes that started and ended within the
    interval, and per task type."""
    _, counts, sums = _within_interval(m.slot_episodes)
    counts = counts.reshape(-1)
    sums = sums.reshape(counts.shape + (len(names),))
    types = m.slot_task_type.reshape(-1)
    num_types = m.decisions_by_task_type.shape[-2]
    mean = lambda selected: [float(s / n) if (n := counts[selected].sum()) else None
                             for s in sums[selected].sum(axis=0)]
    record: dict[str, Any] = dict(zip(names, mean(np.ones_like(counts, bool))))
    if num_types:
        by_type = [mean(types == t) for t in range(num_types)]
        for index, name in enumerate(names):
            record[f"{name}_by_task_type"] = [row[index] for row in by_type]
    return record


def _number(value: float | None, absent: str = "n/a") -> str:
    return absent if value is None else f"{value:.2f}"


def _per_type(values: list[float | None]) -> str:
    """`4.00/-/1.00`: a type without ended episodes is `-`, since "n/a" would read as two
    slash-separated entries."""
    return "/".join(_number(value, absent="-") for value in values)


def duration(seconds: float) -> str:
    """h:mm:ss, the format a reader compares with a clock."""
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def progress_line(record: dict[str, Any], episode_end_names: tuple[str, ...] = (),
                  elapsed: float | None = None, eta: float | None = None) -> str:
    """One line per log interval; `elapsed` (wall seconds of this process, compiling included)
    and `eta` (seconds to the last update) are shown when given."""
    width = len(str(record["total_updates"]))
    usage = "/".join(f"{u:.2f}" for u in record["subpolicy_usage"])
    timing = "" if elapsed is None else f"elapsed {duration(elapsed)}  "
    timing += "" if eta is None else f"eta {duration(eta)}  "
    line = (f"[{record['update']:>{width}}/{record['total_updates']}] "
            f"steps {record['env_steps'] / 1e6:.2f}M  sps {record['steps_per_second'] / 1e3:.1f}k  "
            f"{timing}return {_number(record['episode_return'])}  "
            f"joint {record['joint_fraction']:.2f}  usage {usage}")
    for name in episode_end_names:
        line += f"  {name} {_number(record[name])}"
        if f"{name}_by_task_type" in record:
            line += f" ({_per_type(record[f'{name}_by_task_type'])})"
    if "alike_check" in record:
        fresh = record["alike_check"]["seed_reinitialised"]
        line += f"  alike: re-initialised in {sum(map(any, fresh))}/{len(fresh)} runs"
    return line


def _scalars(name: str, value: Any):
    """(tag, number) pairs of a record field; lists (of lists) become one curve per item,
    dicts one per key (`alike_check/seed_distances/0/0/1`)."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _scalars(f"{name}/{index}", item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _scalars(f"{name}/{key}", item)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield name, value


def _update_of(line: str) -> float:
    """A record's update number; a line cut short by a kill counts as past every update."""
    try:
        return json.loads(line)["update"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return float("inf")


class JsonlWriter:
    """Appends one JSON object per line; flushed per record so a killed run keeps its log.

    Records of updates after `resume_after` (written after the checkpoint the run resumes
    from; all of them when it starts over) are dropped first, so the file reads as one
    uninterrupted run. A write that fails (a full disk) raises `WriteFailed` naming the file.
    """

    def __init__(self, path: pathlib.Path, resume_after: int = 0):
        self._path = path
        with writing(path):
            if path.exists():
                kept = [line for line in path.read_text().splitlines()
                        if _update_of(line) <= resume_after]
                replace_file(path, "".join(line + "\n" for line in kept).encode())
            self._file = open(path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        with writing(self._path):
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()

    def close(self) -> None:
        with writing(self._path):
            self._file.close()


class TensorBoardWriter:
    """Scalars of each record as TensorBoard events (tensorboardX: no TensorFlow needed).

    The x-axis is env steps, the unit RL curves are compared in. On resume, events past the
    checkpoint are purged (a `SessionLog.START` event at `purge_step`), as metrics.jsonl drops its
    records. Events are written and flushed in the calling thread, not by tensorboardX's
    `SummaryWriter`, whose background thread would print a full disk's traceback instead of
    raising it to the training loop (as `WriteFailed` naming the folder).
    """

    def __init__(self, logdir: pathlib.Path, purge_step: int | None = None):
        self._logdir = logdir
        with writing(logdir):
            logdir.mkdir(parents=True, exist_ok=True)
            self._events = EventsWriter(str(logdir / "events"))
            if purge_step is not None:
                self._events.write_event(Event(step=purge_step, session_log=SessionLog(
                    status=SessionLog.START)))
            self._events.flush()

    def write(self, record: dict[str, Any]) -> None:
        step, wall_time = record["env_steps"], time.time()
        with writing(self._logdir):
            for name, value in record.items():
                if name != "env_steps":
                    for tag, number in _scalars(name, value):
                        self._events.write_event(Event(wall_time=wall_time, step=step,
                                                       summary=scalar(tag, number)))
            self._events.flush()

    def close(self) -> None:
        with writing(self._logdir):
            self._events.close()


class WandbWriter:
    """Records to a Weights & Biases run (resumed under the same id when the run resumes)."""

    def __init__(self, workdir: pathlib.Path, config: RunConfig):
        import wandb

        id_file = workdir / "wandb_id"
        run_id = id_file.read_text().strip() if id_file.exists() else wandb.util.generate_id()
        id_file.write_text(run_id)
        self._run = wandb.init(project=config.wandb_project, id=run_id, resume="allow",
                               dir=str(workdir), name=workdir.name,
                               config=dataclasses.asdict(config))

    def write(self, record: dict[str, Any]) -> None:
        self._run.log(dict(pair for name, value in record.items()
                           for pair in _scalars(name, value)), step=record["env_steps"])

    def close(self) -> None:
        self._run.finish()


def check_wandb_available(config: RunConfig) -> None:
    if config.wandb_project and importlib.util.find_spec("wandb") is None:
        raise ConfigError(f"wandb_project={config.wandb_project!r}: Weights & Biases is not "
                          f"installed; `pip install wandb` or leave wandb_project empty")


def open_writers(workdir: pathlib.Path, config: RunConfig, resume_after: int) -> list[Any]:
    """Every metrics sink of a run, positioned to continue after update `resume_after`."""
    check_wandb_available(config)
    purge = config.env_steps_done(resume_after) + 1
    writers: list[Any] = [JsonlWriter(workdir / METRICS_FILE, resume_after),
                          TensorBoardWriter(workdir / "tensorboard", purge)]
    if config.wandb_project:
        writers.append(WandbWriter(workdir, config))
    return writers
