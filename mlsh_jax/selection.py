"""Best of k candidates: train k starts of each seed side by side, keep the one that earns most.

MLSH's sub-policies collapse onto one behaviour in some runs and specialise in others, from the
same config (docs/results.md); which happens is settled early, and a collapsed run earns less
training return than a specialised one. So each seed trains `candidates` independent starts
(phi, slots, masters, keys) in one vmapped program until `selection_update`, ranks them by the
mean return of the training episodes in the last `selection_window` updates, and continues the
best one alone. The candidates are plain runs of the algorithm: only the choice among them is
added, and it uses training data alone.

The state's leading axis holds seeds x candidates (seed-major) before the selection and seeds
after it. `selection.json` records every candidate's score and the one kept; the candidates'
sub-policies at the selection are kept in `candidates.msgpack` for study.
"""

from __future__ import annotations

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from mlsh_jax.config import RunConfig
from mlsh_jax.metrics_log import interval_episodes
from mlsh_jax.mlsh import EpisodeTotals
from mlsh_jax.state import TrainerState
from mlsh_jax.writes import replace_file

SELECTION_FILE = "selection.json"
CANDIDATES_FILE = "candidates.msgpack"


def candidates_at(config: RunConfig, done: int) -> int:
    """Candidates per seed in the state after `done` updates."""
    return config.candidates if config.candidate_phase(done) else 1


def runs_at(config: RunConfig, done: int) -> int:
    """Size of the state's leading axis after `done` updates."""
    return config.num_seeds * candidates_at(config, done)


def best_mean(scores: np.ndarray) -> float | None:
    """The mean over seeds of each seed's best candidate score (seeds without any left out)."""
    best = [row[np.isfinite(row)].max() for row in scores if np.isfinite(row).any()]
    return float(np.mean(best)) if best else None


def candidate_returns(config: RunConfig, episodes: EpisodeTotals) -> np.ndarray:
    """[seeds, candidates] mean training return of the episodes that started and ended within
    a chunk (leaves [seeds * candidates, updates, S]); NaN where none did."""
    sums, counts = interval_episodes(episodes)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / counts, np.nan)
    return means.reshape(config.num_seeds, config.candidates)


def best_candidates(scores: np.ndarray) -> np.ndarray:
    """[seeds] index of each seed's highest score (the first on ties; candidate 0 if no
    candidate finished an episode)."""
    return np.argmax(np.where(np.isfinite(scores), scores, -np.inf), axis=1)


def keep(state: TrainerState, config: RunConfig, kept: np.ndarray) -> TrainerState:
    """The kept candidate of every seed: leading axis seeds x candidates -> seeds."""
    index = np.arange(config.num_seeds) * config.candidates + np.asarray(kept)
    return jax.tree.map(lambda x: jnp.take(x, jnp.asarray(index), axis=0), state)


def first_candidates(tree, config: RunConfig):
    """Candidate 0 of every seed (the plain run of that seed), of a seed-major stacked tree,
    as host arrays: in a multi-host run only process 0 writes it, and a slice of a global
    array would be a computation the other processes do not run."""
    return jax.tree.map(lambda x: np.asarray(x)[::config.candidates], tree)


def selection_record(config: RunConfig, scores: np.ndarray, kept: np.ndarray) -> dict:
    """What selection.json holds: the rule, and per seed every candidate's score and the kept
    one."""
    first = config.selection_update - config.selection_window + 1
    return {
        "selection_update": config.selection_update,
        "window": [first, config.selection_update],
        "rule": (f"each seed keeps the candidate with the highest mean training return over "
                 f"the episodes that started and ended in updates {first}-"
                 f"{config.selection_update}"),
        "candidate_keys": ("candidate 0: jax.random.PRNGKey(seed), the plain run of the seed; "
                           "candidate j > 0: jax.random.fold_in(jax.random.PRNGKey(seed), j)"),
        "seeds": [{"seed": config.seed + r,
                   "kept_candidate": int(kept[r]),
                   "candidate_returns": [float(v) if np.isfinite(v) else None
                                         for v in scores[r]]}
                  for r in range(config.num_seeds)],
    }


def write_selection(workdir: pathlib.Path, record: dict) -> None:
    replace_file(pathlib.Path(workdir) / SELECTION_FILE,
                 (json.dumps(record, indent=2) + "\n").encode())


def selection_lines(record: dict) -> list[str]:
    """One line per seed for the console: the kept candidate and what it was chosen over."""
    first, last = record["window"]
    lines = []
    for seed in record["seeds"]:
        scores = seed["candidate_returns"]
        kept = seed["kept_candidate"]
        shown = " ".join("n/a" if v is None else f"{v:.2f}" for v in scores)
        lines.append(f"selection after update {record['selection_update']}: seed {seed['seed']} "
                     f"keeps candidate {kept} of {len(scores)} (training return over updates "
                     f"{first}-{last}: {shown})")
    return lines
