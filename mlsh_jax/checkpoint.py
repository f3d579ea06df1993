"""Checkpoints: the whole training state (orbax) and an export of the sub-policies (msgpack).

`RunCheckpoints` keeps the full `TrainerState` of all seeds (phi, every slot's theta, optimizer
states, phases, observation and return statistics, keys, counters) under DIR/checkpoints with
orbax's `CheckpointManager`: saves are asynchronous (training continues while the state is written)
and atomic (written to a temporary directory, renamed when complete), so a process killed
mid-save leaves the previous checkpoint intact. A save that fails (a full disk) is reported as a
`WriteFailed` naming the checkpoint, wherever orbax surfaces it: at the next save or at close.

`subpolicies.msgpack` is the small artifact meta-test and transfer read: phi alone, written
atomically (temp file + rename) at every log interval.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from mlsh_jax.writes import WriteFailed, writing

SUBPOLICIES_FILE = "subpolicies.msgpack"
CHECKPOINTS_DIR = "checkpoints"


class CheckpointError(RuntimeError):
    """A checkpoint is missing or does not fit the configuration that tries to load it."""


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

    def newest_intact(self) -> int | None:
        """The newest checkpoint committed on disk, read afresh: after a failed save the
        manager's own list may still name the step that never completed."""
        return max(ocp.utils.checkpoint_steps(self.directory), default=None)

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
        """The state saved at `step`, in the structure of `template`, or a CheckpointError
        naming the first leaf whose shape differs (e.g. another K or network size)."""
        found = {
            jax.tree_util.keystr(path, simple=True, separator="."): tuple(meta.shape)
            for path, meta in jax.tree_util.tree_flatten_with_path(
                self._manager.item_metadata(step).tree)[0]}
        mismatch = describe_mismatch(_leaf_shapes(template), found)
        if mismatch:
            raise CheckpointError(f"checkpoint {self.directory / str(step)} does not fit this "
                                  f"config: {mismatch}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))

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


def save_subpolicies(workdir: pathlib.Path, subpolicies) -> pathlib.Path:
    path = pathlib.Path(workdir) / SUBPOLICIES_FILE
    tmp = path.with_suffix(".tmp")
    with writing(path):
        try:
            tmp.write_bytes(flax.serialization.to_bytes(jax.device_get(subpolicies)))
        except OSError:
            tmp.unlink(missing_ok=True)  # give back the space of a partial write
            raise
        os.replace(tmp, path)
    return path


def transfer_subpolicies(source: pathlib.Path, subpolicies):
    """`subpolicies` (a fresh [seeds, K, ...] learner) with the parameters, observation and
    return statistics saved by the run in `source`; their Adam state stays fresh.

    Seed r takes the source's seed r, or every seed the source's only one. A source with fewer
    sub-policies fills the first ones (the rest keep their random start), so K=2 Twowalk skills
    can seed a K=3 maze run.
    """
    path = pathlib.Path(source) / SUBPOLICIES_FILE
    where = f"init_subpolicies_from={str(source)!r}"
    if not path.exists():
        raise CheckpointError(f"{where}: no {SUBPOLICIES_FILE} there (the workdir of a "
                              f"training run is expected)")
    stored = flax.serialization.msgpack_restore(path.read_bytes())
    seeds, source_k = jax.tree.leaves(stored["params"])[0].shape[:2]
    target_seeds, target_k = jax.tree.leaves(subpolicies.params)[0].shape[:2]
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
    all_seeds = lambda x: jnp.broadcast_to(x, (target_seeds,) + x.shape[1:])
    first_k = lambda new, old: old.at[:, :source_k].set(all_seeds(new))
    return subpolicies.replace(
        params=jax.tree.map(first_k, loaded.params, subpolicies.params),
        return_stats=jax.tree.map(first_k, loaded.return_stats, subpolicies.return_stats),
        obs_stats=jax.tree.map(all_seeds, loaded.obs_stats))


def load_subpolicies(workdir: pathlib.Path, template):
    """Restore into the structure and shapes of `template` (arrays or `jax.ShapeDtypeStruct`s),
    or explain what differs."""
    path = pathlib.Path(workdir) / SUBPOLICIES_FILE
    if not path.exists():
        raise CheckpointError(f"no sub-policy checkpoint at {path}; train first with "
                              f"`python -m experiments.run --workdir {workdir}`")
    return _restore_subpolicies(path, flax.serialization.msgpack_restore(path.read_bytes()),
                                template)


def _restore_subpolicies(path: pathlib.Path, stored: dict, template):
    """The export `stored` (read from `path`) in the structure of `template`, or explain what
    differs."""
    expected = flax.serialization.to_state_dict(template)
    mismatch = describe_mismatch(_leaf_shapes(expected), _leaf_shapes(stored))
    if mismatch:
        raise CheckpointError(f"{path} does not fit this config: {mismatch}")
    return flax.serialization.from_state_dict(template, stored)
