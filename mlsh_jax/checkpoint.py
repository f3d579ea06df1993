"""Checkpoints: the whole training state (orbax) and an export of the sub-policies (msgpack).

`RunCheckpoints` keeps the full `TrainerState` of all seeds (phi, every slot's theta, optimizer
states, phases, observation and return statistics, keys, counters) under DIR/checkpoints with
orbax's `CheckpointManager`: saves are asynchronous (training continues while the state is written)
and atomic (written to a temporary directory, renamed when complete), so a process killed
mid-save leaves the previous checkpoint intact. A save that fails (a full disk) is reported as a
`WriteFailed` naming the checkpoint, wherever orbax surfaces it: at the next save or at close.

`subpolicies.msgpack` is the small artifact meta-test and transfer read: phi alone, written
atomically (temp file + rename) at every log interval.

Files damaged after they were written (a full disk, a copy cut short, a stray overwrite) are
reported as a `CheckpointError` naming the file and what is wrong: resuming falls back to the
newest checkpoint that still reads back, and every reader stops with one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
from typing import Any, Callable

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from mlsh_jax.sharding import gather_texts, processes_agree
from mlsh_jax.writes import WriteFailed, replace_file, writing

SUBPOLICIES_FILE = "subpolicies.msgpack"
CHECKPOINTS_DIR = "checkpoints"


class CheckpointError(RuntimeError):
    """A run's file (checkpoint, sub-policy export, JSON) is missing, damaged, or does not fit
    the configuration that tries to load it."""


class DamagedCheckpointError(CheckpointError):
    """A checkpoint that no longer reads back: files truncated, garbled or missing."""

    def __init__(self, directory: pathlib.Path, step: int, error: Exception):
        self.step = step
        super().__init__(f"checkpoint {directory / str(step)} is damaged "
                         f"({describe_error(error)})")


class NoIntactCheckpointError(CheckpointError):
    """Every checkpoint of a run is damaged: there is nothing to resume from."""


def describe_error(error: BaseException, limit: int = 200) -> str:
    """`Type: first line of the message`, short enough for a one-line report."""
    first_line = next(iter(str(error).splitlines()), "")
    text = f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def read_json(path: pathlib.Path) -> Any:
    """The JSON value in `path`, or a CheckpointError naming the file and what is wrong
    (missing, unreadable, not UTF-8, not JSON)."""
    try:
        return json.loads(pathlib.Path(path).read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing") from None
    except (OSError, ValueError) as error:  # ValueError: JSONDecodeError, UnicodeDecodeError
        raise CheckpointError(f"{path} is damaged: not a readable JSON file "
                              f"({describe_error(error)})") from None


def _leaf_shapes(tree) -> dict[str, tuple[int, ...]]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(path, simple=True, separator="."):
            tuple(leaf.shape if hasattr(leaf, "shape") else np.shape(leaf))
            for path, leaf in leaves}


def describe_mismatch(expected: dict[str, tuple], found: dict[str, tuple]) -> str | None:
    """First difference between two {leaf name: shape} maps, in words; None if they agree."""
    missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
    if missing or extra:
        return (f"state structure differs: the config expects {missing[:3] or 'nothing'} "
                f"that the checkpoint lacks, the checkpoint has {extra[:3] or 'nothing'} more")
    for name in sorted(expected):
        if tuple(expected[name]) != tuple(found[name]):
            return (f"shape of {name} differs: the config expects {tuple(expected[name])}, "
                    f"the checkpoint has {tuple(found[name])}")
    return None


class RunCheckpoints:
    """The full training state of a run, every `checkpoint_every` updates, newest `max_to_keep`."""

    def __init__(self, directory: pathlib.Path, max_to_keep: int):
        self.directory = pathlib.Path(directory).absolute()
        self._manager = ocp.CheckpointManager(
            self.directory, item_handlers=ocp.StandardCheckpointHandler(),
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                                 enable_async_checkpointing=True))
        self._saving: int | None = None

    def latest_step(self) -> int | None:
        """The newest complete checkpoint's update count (incomplete saves are never listed)."""
        return self._manager.latest_step()

    def newest_committed(self) -> int | None:
        """The newest checkpoint committed on disk, read afresh: after a failed save the
        manager's own list may still name the step that never completed."""
        return max(ocp.utils.checkpoint_steps(self.directory), default=None)

    def all_steps(self) -> list[int]:
        """Update counts of all complete checkpoints, oldest first."""
        return sorted(self._manager.all_steps())

    def save(self, step: int, state) -> None:
        """Starts an asynchronous save of `state` as update `step`, after the previous one is
        committed (a `WriteFailed` naming it if it failed).

        The saved tree is a device copy: the next training chunk donates (reuses) the state's
        buffers while the background save may still be reading them.
        """
        self.wait()
        self._saving = step
        with self._failed_writes():
            self._manager.save(step, args=ocp.args.StandardSave(jax.tree.map(jnp.copy, state)))

    def restore(self, step: int, template):
        """The state saved at `step`, in the structure of `template`.

        Raises a CheckpointError naming the first leaf whose shape differs (e.g. another K or
        network size), or a DamagedCheckpointError if any of its files cannot be read back:
        orbax raises whatever its readers meet (JSON, tensorstore, missing items), so every
        exception while reading counts as damage.
        """
        path = self.directory / str(step)
        try:
            metadata = self._manager.item_metadata(step)
            if metadata is None:
                raise FileNotFoundError("its metadata is missing")
            found = {
                jax.tree_util.keystr(key, simple=True, separator="."): tuple(meta.shape)
                for key, meta in jax.tree_util.tree_flatten_with_path(metadata.tree)[0]}
        except Exception as error:
            raise DamagedCheckpointError(self.directory, step, error) from error
        mismatch = describe_mismatch(_leaf_shapes(template), found)
        if mismatch:
            raise CheckpointError(f"checkpoint {path} does not fit this config: {mismatch}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        try:
            return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
        except Exception as error:
            raise DamagedCheckpointError(self.directory, step, error) from error

    def restore_newest(self, template: Callable[[int], Any]
                       ) -> tuple[int, Any, list[DamagedCheckpointError]]:
        """The newest checkpoint that reads back: (its step, its state, the newer damaged ones);
        `template(step)` is the structure of the state saved at `step`. There must be at least
        one checkpoint.

        A checkpoint that reads back but does not fit the config stops with its CheckpointError
        (that is not damage); NoIntactCheckpointError if every checkpoint is damaged.
        """
        damaged = []
        for step in reversed(self.all_steps()):
            try:
                state, problem = self.restore(step, template(step)), None
            except DamagedCheckpointError as error:
                state, problem = None, error
            problem = self._damaged_anywhere(step, problem)
            if problem is None:
                return step, state, damaged
            damaged.append(problem)
        raise NoIntactCheckpointError(
            f"no intact checkpoint in {self.directory}: "
            f"{'; '.join(str(error) for error in damaged)}; nothing was changed; restore the "
            f"damaged files from a copy, or move {self.directory} aside to start over")

    def _damaged_anywhere(self, step: int, problem: DamagedCheckpointError | None
                          ) -> DamagedCheckpointError | None:
        """This process's verdict on checkpoint `step`, or the first other process's damage.

        Each process of a multi-host run reads only its own shards, so one may find a
        checkpoint damaged that another restores: all must then skip it, or they would resume
        from different updates. A collective (one all-gather) when there are several processes.
        """
        verdicts = gather_texts("" if problem is None else str(problem))
        if problem is not None:
            return problem
        for process, verdict in enumerate(verdicts):
            if verdict:
                return DamagedCheckpointError(self.directory, step,
                                              RuntimeError(f"on process {process}: {verdict}"))
        return None

    def move_aside(self, step: int) -> pathlib.Path:
        """Renames checkpoint `step` to `<step>.damaged-<n>`, kept but out of orbax's sight.

        orbax lists only directories named by a plain number, so it neither deletes the moved
        checkpoint (`max_to_keep`) nor refuses a new save of the same update count, which it
        would skip as not newer than the damaged one.
        """
        path = self.directory / str(step)
        n = 1
        while path.with_name(f"{step}.damaged-{n}").exists():
            n += 1
        aside = path.with_name(f"{step}.damaged-{n}")
        with processes_agree():  # a barrier too: no process reloads before the rename
            if jax.process_index() == 0:
                os.replace(path, aside)
        self._manager.reload()
        return aside

    def wait(self) -> None:
        """Blocks until a save in flight is committed (a `WriteFailed` if it failed)."""
        with self._failed_writes():
            self._manager.wait_until_finished()

    def close(self) -> None:
        """Waits for a save in flight, then releases the manager."""
        self.wait()
        self._manager.close()

    @contextlib.contextmanager
    def _failed_writes(self):
        """A failed write of the checkpoint in flight as a `WriteFailed` naming it.

        orbax's background threads write through tensorstore, which reports a full disk as
        `ValueError("RESOURCE_EXHAUSTED: ... [os_error_code='28']")`.
        """
        target = self.directory / str(self._saving)
        try:
            with writing(target):
                yield
        except ValueError as error:
            code = re.search(r"os_error_code='(\d+)'", str(error))
            if code is None:
                raise
            raise WriteFailed(int(code[1]), os.strerror(int(code[1])), str(target)) from None


def save_subpolicies(workdir: pathlib.Path, subpolicies,
                     name: str = SUBPOLICIES_FILE) -> pathlib.Path:
    path = pathlib.Path(workdir) / name
    replace_file(path, flax.serialization.to_bytes(jax.device_get(subpolicies)))
    return path


def transfer_subpolicies(source: pathlib.Path, subpolicies, candidates: int = 1):
    """`subpolicies` (a fresh [seeds x candidates, K, ...] learner, seed-major) with the
    parameters, observation and return statistics saved by the run in `source`; their Adam
    state stays fresh.

    Every candidate of seed r takes the source's seed r, or every seed the source's only one.
    A source with fewer sub-policies fills the first ones (the rest keep their own random
    start), so K=2 Twowalk skills can seed a K=3 maze run.
    """
    path = pathlib.Path(source) / SUBPOLICIES_FILE
    where = f"init_subpolicies_from={str(source)!r}"
    if not path.exists():
        raise CheckpointError(f"{where}: no {SUBPOLICIES_FILE} there (the workdir of a "
                              f"training run is expected)")
    try:
        stored = read_subpolicies(path)
    except CheckpointError as error:
        raise CheckpointError(f"{where}: {error}") from None
    seeds, source_k = jax.tree.leaves(stored["params"])[0].shape[:2]
    runs, target_k = jax.tree.leaves(subpolicies.params)[0].shape[:2]
    target_seeds = runs // candidates
    if seeds not in (1, target_seeds) or source_k > target_k:
        raise CheckpointError(
            f"{where}: the source has {seeds} seed(s) and K={source_k} sub-policies; this run "
            f"has {target_seeds} seed(s) and K={target_k} (needs 1 or {target_seeds} source "
            f"seeds and at most K={target_k} source sub-policies)")
    per_k = lambda x: jax.ShapeDtypeStruct((seeds, source_k) + x.shape[2:], x.dtype)
    template = subpolicies.replace(
        params=jax.tree.map(per_k, subpolicies.params),
        opt_state=jax.tree.map(per_k, subpolicies.opt_state),
        return_stats=jax.tree.map(per_k, subpolicies.return_stats),
        obs_stats=jax.tree.map(lambda x: jax.ShapeDtypeStruct((seeds,) + x.shape[1:], x.dtype),
                               subpolicies.obs_stats))
    try:
        loaded = _restore_subpolicies(path, stored, template)
    except CheckpointError as error:
        raise CheckpointError(f"{where}: {error}") from None
    all_seeds = lambda x: jnp.repeat(jnp.broadcast_to(x, (target_seeds,) + x.shape[1:]),
                                     candidates, axis=0)
    first_k = lambda new, old: old.at[:, :source_k].set(all_seeds(new))
    return subpolicies.replace(
        params=jax.tree.map(first_k, loaded.params, subpolicies.params),
        return_stats=jax.tree.map(first_k, loaded.return_stats, subpolicies.return_stats),
        obs_stats=jax.tree.map(all_seeds, loaded.obs_stats))


def load_subpolicies(workdir: pathlib.Path, template, name: str = SUBPOLICIES_FILE):
    """Restore the export `name` into the structure and shapes of `template` (arrays or
    `jax.ShapeDtypeStruct`s), or explain what differs."""
    path = pathlib.Path(workdir) / name
    if not path.exists():
        raise CheckpointError(f"no sub-policy checkpoint at {path}; train first with "
                              f"`python -m experiments.run --config NAME.py --workdir {workdir}`")
    return _restore_subpolicies(path, read_subpolicies(path), template)


def read_subpolicies(path: pathlib.Path) -> dict:
    """The state dict in a sub-policy export, or a CheckpointError naming the file and what is
    wrong.

    The file is written atomically, so one that does not parse was damaged afterwards (a copy
    cut short, a stray overwrite); msgpack and flax raise various errors for that, so any
    exception while parsing counts. A parsed file must hold [seeds, K, ...] parameters, the
    one thing readers look at before comparing it with their template.
    """
    remedy = (f"resuming the run rewrites it from its newest checkpoint: run its command "
              f"again (`python -m experiments.run --config ... --workdir {path.parent}`)")
    try:
        stored = flax.serialization.msgpack_restore(path.read_bytes())
    except Exception as error:
        raise CheckpointError(f"{path} is damaged ({describe_error(error)}); {remedy}") from None
    params = jax.tree.leaves(stored.get("params")) if isinstance(stored, dict) else []
    if not params or any(np.ndim(leaf) < 2 for leaf in params):
        raise CheckpointError(f"{path} is damaged: it holds no [seeds, K, ...] sub-policy "
                              f"parameters; {remedy}")
    return stored


def _restore_subpolicies(path: pathlib.Path, stored: dict, template):
    """The export `stored` (read from `path`) in the structure of `template`, or explain what
    differs."""
    expected = flax.serialization.to_state_dict(template)
    mismatch = describe_mismatch(_leaf_shapes(expected), _leaf_shapes(stored))
    if mismatch:
        raise CheckpointError(f"{path} does not fit this config: {mismatch}")
    try:
        return flax.serialization.from_state_dict(template, stored)
    except (ValueError, KeyError, TypeError) as error:
        # Same leaves, other empty nodes: e.g. an optimizer state written by another optax chain.
        raise CheckpointError(f"{path} does not fit this config: state structure differs "
                              f"({describe_error(error)})") from None
