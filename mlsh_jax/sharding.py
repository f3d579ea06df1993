"""Task slots spread over devices and hosts.

Slots are independent until phi's update sums its loss over the joint slots, so the slot axis
is the one to split: each device rolls out and trains the masters of S/num_devices slots,
everything else (phi, keys, counters) is replicated, and jit's automatic partitioning (GSPMD)
inserts the cross-device reduction of phi's gradient. The compiled program, not the code,
changes with the number of devices.

A multi-host run fails together: a step that may fail on some processes only (a local check,
a file write) runs under `processes_agree`, after which every process stops if any failed,
instead of the others waiting in their next collective until the distributed timeout.
"""

from __future__ import annotations

import contextlib

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from mlsh_jax.config import ConfigError

SLOT_AXIS = "slots"
TEXT_BYTES = 1 << 16
"""Room for one process's text in `gather_texts` (a config is ~2 KB): one fixed shape, so the
all-gather compiles once."""


class PeerFailed(RuntimeError):
    """Another process of a multi-host run failed; this one stops with it."""


def initialize_distributed(coordinator: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None) -> None:
    """Join a multi-host run; call before anything else touches JAX.

    No arguments: the cluster is detected (TPU pods, SLURM, ...). Otherwise `coordinator` is
    process 0's "host:port", with the number of processes and this process's id. CPU hosts
    exchange their collectives through gloo.
    """
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id)


def slot_mesh(num_devices: int) -> Mesh:
    """A 1-D mesh over the first `num_devices` devices of all processes (all of them in a
    multi-host run, where a process without a device in the mesh could not take part)."""
    available = jax.device_count()
    if num_devices > available:
        hint = (f"; on a CPU, set XLA_FLAGS=--xla_force_host_platform_device_count="
                f"{num_devices} before starting" if jax.default_backend() == "cpu" else "")
        raise ConfigError(f"num_devices={num_devices}: only {available} "
                          f"{jax.default_backend()} device(s) available{hint}")
    if jax.process_count() > 1 and num_devices != available:
        raise ConfigError(f"num_devices={num_devices}: a run over {jax.process_count()} "
                          f"processes must use all their {available} devices")
    return Mesh(np.asarray(jax.devices()[:num_devices]), (SLOT_AXIS,))


def state_shardings(mesh: Mesh, state):
    """The NamedSharding of every leaf of a seeds-stacked `TrainerState`: `state.slots` leaves
    ([seeds, S, ...]) split along S, all other leaves replicated."""
    replicated = NamedSharding(mesh, PartitionSpec())
    split = NamedSharding(mesh, PartitionSpec(None, SLOT_AXIS))
    return jax.tree.map(lambda _: replicated, state).replace(
        slots=jax.tree.map(lambda _: split, state.slots))


def place(tree, shardings):
    """`tree` laid out on `shardings`; every process must pass the same full value (e.g. the
    seed-determined initial state) and keeps only the shards on its own devices."""

    def put(leaf, sharding):
        host = np.asarray(leaf)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(put, tree, shardings)


def gather_texts(text: str) -> list[str]:
    """Every process's `text` (its first TEXT_BYTES bytes of UTF-8), in process order.

    A collective: every process must call it at the same point of the program."""
    buffer = np.zeros(TEXT_BYTES, np.uint8)
    data = text.encode()[:TEXT_BYTES]
    buffer[:len(data)] = np.frombuffer(data, np.uint8)
    rows = multihost_utils.process_allgather(buffer) if jax.process_count() > 1 else [buffer]
    return [bytes(row).rstrip(b"\0").decode(errors="ignore") for row in rows]


@contextlib.contextmanager
def processes_agree():
    """Run a block that may fail on some processes only, then stop every process if any failed.

    The failing process re-raises its own error; the others raise `PeerFailed` with its
    message. Every process must enter the block, and a collective in it must come before
    anything that can fail (a process that failed before it would wait here, in another
    collective, while the others wait in that one). One process: just the block.
    """
    if jax.process_count() == 1:
        yield
        return
    failure = None
    try:
        yield
    except Exception as error:  # whatever it is, the peers must hear of it
        failure = error
    messages = gather_texts("" if failure is None else
                            " ".join(f"{type(failure).__name__}: {failure}".split()))
    if failure is not None:
        raise failure
    for process, message in enumerate(messages):
        if message:
            raise PeerFailed(f"process {process} failed ({message}); this process stops too")
