"""Turn per-update device metrics into log records: metrics.jsonl, TensorBoard event files and
one progress line each."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import jax
import numpy as np
import tensorboardX

from mlsh_jax.mlsh import UpdateMetrics


def interval_record(metrics: UpdateMetrics) -> dict[str, Any]:
    """Aggregate a chunk of stacked per-update metrics ([T, ...] leaves) into one record."""
    m = jax.device_get(metrics)
    episodes = float(m.slot_episode_count.sum())
    record: dict[str, Any] = {
        "episodes": int(episodes),
        "episode_return": float(m.slot_return_sum.sum() / episodes) if episodes else None,
        "joint_fraction": float(m.joint_fraction.mean()),
        "subpolicy_usage": [float(u) for u in m.subpolicy_usage.mean(axis=0)],
        "macro_overflow": int(m.macro_overflow.sum()),
        "subpolicy_optimizer_steps": [int(s) for s in m.subpolicy_steps.sum(axis=0)],
    }
    for prefix, group in (("master", m.master), ("subpolicy", m.subpolicy)):
        for name in ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction"):
            record[f"{prefix}/{name}"] = float(np.mean(getattr(group, name)))
    return record


def progress_line(record: dict[str, Any]) -> str:
    width = len(str(record["total_updates"]))
    ret = record["episode_return"]
    usage = "/".join(f"{u:.2f}" for u in record["subpolicy_usage"])
    return (f"[{record['update']:>{width}}/{record['total_updates']}] "
            f"steps {record['env_steps'] / 1e6:.2f}M  sps {record['steps_per_second'] / 1e3:.1f}k  "
            f"return {'n/a' if ret is None else f'{ret:.2f}'}  "
            f"joint {record['joint_fraction']:.2f}  usage {usage}")


class JsonlWriter:
    """Appends one JSON object per line; flushed per record so a killed run keeps its log."""

    def __init__(self, path: pathlib.Path):
        self._file = open(path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class TensorBoardWriter:
    """Scalars of each record as TensorBoard events (tensorboardX: no TensorFlow needed).

    The x-axis is env steps, the unit RL curves are compared in; list-valued fields such as
    `subpolicy_usage` become one curve per sub-policy.
    """

    def __init__(self, logdir: pathlib.Path):
        self._writer = tensorboardX.SummaryWriter(logdir=str(logdir))

    def write(self, record: dict[str, Any]) -> None:
        step = record["env_steps"]
        for name, value in record.items():
            if isinstance(value, list):
                for index, item in enumerate(value):
                    self._writer.add_scalar(f"{name}/{index}", item, step)
            elif isinstance(value, (int, float)) and name != "env_steps":
                self._writer.add_scalar(name, value, step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
