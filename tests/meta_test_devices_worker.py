"""Tiny meta-tests of each kind of learner with the tasks on 1 and split over 2 forced host
devices, in this process; prints one JSON line per algorithm for tests/test_sharding.py.

    python tests/meta_test_devices_worker.py

A separate process because XLA_FLAGS (the forced host device count) must be set before JAX is
imported.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os

from xla_flags import FAST_COMPILE

ALGORITHMS = ("mlsh", "shared", "scratch")
TASKS = 4


def main() -> None:
    os.environ["XLA_FLAGS"] = " ".join(("--xla_force_host_platform_device_count=2",)
                                       + FAST_COMPILE)
    import jax

    # The package exports a function named like the module, so import the module by name.
    meta_test_module = importlib.import_module("mlsh_jax.meta_test")
    from mlsh_jax.config import NetworkConfig, PPOConfig, RunConfig
    from mlsh_jax.spec import MLSHSpec
    from mlsh_jax.state import init_seeds

    spans = []  # how many devices each leaf the meta-test placed spans
    place = meta_test_module.place

    def recording_place(tree, shardings):
        tree = place(tree, shardings)
        spans.extend(len(leaf.sharding.device_set) for leaf in jax.tree.leaves(tree))
        return tree

    meta_test_module.place = recording_place
    small = PPOConfig(epochs=1, num_minibatches=1)
    for algorithm in ALGORITHMS:
        config = RunConfig(algorithm=algorithm, num_slots=2, envs_per_slot=2, rollout_steps=50,
                           warmup_updates=2, joint_updates=1, master_ppo=small, sub_ppo=small,
                           finetune_ppo=small, network=NetworkConfig(hidden_sizes=(8,)))
        phi = None if algorithm == "scratch" else init_seeds(MLSHSpec.build(config)).subpolicies
        line = dict(algorithm=algorithm)
        for devices in (1, 2):
            spans.clear()
            result = meta_test_module.meta_test(config, phi, num_tasks=TASKS, updates=2, seed=3,
                                                num_devices=devices)
            line[str(devices)] = dict(result=dataclasses.asdict(result), spans=sorted(set(spans)))
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
