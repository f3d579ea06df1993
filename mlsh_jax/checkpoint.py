"""Saving the shared sub-policies (phi) of a run for meta-test and transfer.

A simple msgpack file written atomically (temp file + rename), so an interrupted save never
leaves a truncated file in place.
"""

from __future__ import annotations

import os
import pathlib

import flax.serialization
import jax
import numpy as np

SUBPOLICIES_FILE = "subpolicies.msgpack"


class CheckpointError(RuntimeError):
    """A checkpoint is missing or does not fit the configuration that tries to load it."""


def save_subpolicies(workdir: pathlib.Path, subpolicies) -> pathlib.Path:
    path = pathlib.Path(workdir) / SUBPOLICIES_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(flax.serialization.to_bytes(jax.device_get(subpolicies)))
    os.replace(tmp, path)
    return path


def load_subpolicies(workdir: pathlib.Path, template):
    """Restore into the structure and shapes of `template`, or explain what differs."""
    path = pathlib.Path(workdir) / SUBPOLICIES_FILE
    if not path.exists():
        raise CheckpointError(f"no sub-policy checkpoint at {path}; train first with "
                              f"`python -m experiments.run --workdir {workdir}`")
    state = flax.serialization.msgpack_restore(path.read_bytes())
    expected = flax.serialization.to_state_dict(template)
    _check_shapes(expected, state, "subpolicies")
    return flax.serialization.from_state_dict(template, state)


def _check_shapes(expected, found, where: str) -> None:
    if isinstance(expected, dict):
        if not isinstance(found, dict) or set(expected) != set(found):
            found_keys = sorted(found) if isinstance(found, dict) else type(found).__name__
            raise CheckpointError(f"checkpoint structure differs at {where}: expected keys "
                                  f"{sorted(expected)}, found {found_keys}")
        for name in expected:
            _check_shapes(expected[name], found[name], f"{where}/{name}")
        return
    expected_shape, found_shape = np.shape(expected), np.shape(found)
    if expected_shape != found_shape:
        raise CheckpointError(f"checkpoint shape differs at {where}: the config expects "
                              f"{expected_shape}, the checkpoint has {found_shape}")
