"""One tiny MLSH training in this process, saving what tests/test_sharding.py compares.

    python tests/sharding_worker.py --host-devices H --num-devices N --workdir DIR --out F.npz
        [--coordinator HOST:PORT --num-processes P --process-id I]

A separate process because XLA_FLAGS (the forced host device count) must be set before JAX is
imported. The npz holds phi and theta (gathered from all processes) and facts about the
layout of the state: what a test can only see from inside the process.
"""

from __future__ import annotations

import argparse
import os
import pathlib

import numpy as np
from xla_flags import FAST_COMPILE


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host-devices", type=int, required=True)
    parser.add_argument("--num-devices", type=int, required=True)
    parser.add_argument("--workdir", type=pathlib.Path, required=True)
    parser.add_argument("--out", type=pathlib.Path, required=True)
    parser.add_argument("--coordinator")
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--process-id", type=int)
    return parser.parse_args()


def flat_leaves(prefix: str, tree) -> dict[str, np.ndarray]:
    import jax

    return {f"{prefix}{jax.tree_util.keystr(path)}": np.asarray(leaf)
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def main() -> None:
    args = parse()
    # The runs compared all compile with the default suite's fast flags.
    os.environ["XLA_FLAGS"] = " ".join(
        (f"--xla_force_host_platform_device_count={args.host_devices}",) + FAST_COMPILE)
    from mlsh_jax.sharding import initialize_distributed

    if args.coordinator:
        initialize_distributed(args.coordinator, args.num_processes, args.process_id)
    import jax
    from jax.experimental import multihost_utils

    from mlsh_jax.checkpoint import CHECKPOINTS_DIR, RunCheckpoints
    from mlsh_jax.config import NetworkConfig, PPOConfig, RunConfig
    from mlsh_jax.train import train

    small_ppo = PPOConfig(epochs=2, num_minibatches=2)
    config = RunConfig(num_slots=8, envs_per_slot=8, rollout_steps=50, warmup_updates=1,
                       joint_updates=1, total_updates=4, log_every=2, checkpoint_every=2,
                       network=NetworkConfig(hidden_sizes=(16,)), master_ppo=small_ppo,
                       sub_ppo=small_ppo, num_devices=args.num_devices)
    state = train(config, args.workdir, log=lambda _: None)

    slot_leaves = jax.tree.leaves(state.slots)
    restored = RunCheckpoints(args.workdir / CHECKPOINTS_DIR, 3).restore(4, state)
    same_shards = [np.array_equal(a.data, b.data)
                   for x, y in zip(jax.tree.leaves(restored), jax.tree.leaves(state))
                   for a, b in zip(x.addressable_shards, y.addressable_shards)]
    np.savez(
        args.out,
        **flat_leaves("phi", jax.device_get(state.subpolicies.params)),
        **flat_leaves("theta", multihost_utils.process_allgather(state.slots.master.params,
                                                                 tiled=True)),
        slot_devices=[len(leaf.sharding.device_set) for leaf in slot_leaves],
        slot_shard_sizes=[shard.data.shape[1] for leaf in slot_leaves
                          for shard in leaf.addressable_shards],
        phi_replicated=[leaf.sharding.is_fully_replicated
                        for leaf in jax.tree.leaves(state.subpolicies)],
        restored_equal=same_shards,
        restored_same_sharding=[x.sharding == y.sharding for x, y in
                                zip(jax.tree.leaves(restored), jax.tree.leaves(state))],
        process_count=jax.process_count())


if __name__ == "__main__":
    main()
