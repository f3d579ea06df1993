"""Task slots spread over devices and hosts.

Slots are independent until phi's update sums its loss over the joint slots, so the slot axis
is the one to split: each device rolls out and trains the masters of S/num_devices slots,
everything else (phi, keys, counters) is replicated, and jit's automatic partitioning (GSPMD)
inserts the cross-device reduction of phi's gradient. The compiled program, not the code,
changes with the number of devices.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from mlsh_jax.config import ConfigError

SLOT_AXIS = "slots"


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
        raise ConfigError(f"num_devices={num_devices}: only {available} "
                          f"{jax.default_backend()} device(s) available")
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
