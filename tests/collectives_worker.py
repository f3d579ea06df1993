"""Compile one update of a tiny MLSH run with alike checks, its slots split over 2 forced host
devices, and print the compiled program's cross-device operations as JSON lines
{"op": ..., "shape": ...}: what tests/test_sharding.py reads to see what devices exchange.

    python tests/collectives_worker.py

A separate process because XLA_FLAGS (the forced host device count) must be set before JAX is
imported.
"""

from __future__ import annotations

import json
import os
import re

COLLECTIVES = ("all-gather", "all-reduce", "all-to-all", "collective-permute",
               "reduce-scatter")
SLOTS, ENVS, DEVICES = 8, 4, 2


def main() -> None:
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={DEVICES}"
    import jax

    from mlsh_jax.config import RunConfig
    from mlsh_jax.sharding import place, slot_mesh, state_shardings
    from mlsh_jax.spec import MLSHSpec
    from mlsh_jax.state import init_seeds
    from mlsh_jax.train import make_chunk

    config = RunConfig(num_slots=SLOTS, envs_per_slot=ENVS, num_devices=DEVICES,
                       reinit_alike_updates=(1,), total_updates=4, log_every=1)
    spec = MLSHSpec.build(config)
    initial = jax.device_get(init_seeds(spec))
    shardings = state_shardings(slot_mesh(DEVICES), initial)
    compiled = make_chunk(spec, 1, batch_dims=1, shardings=shardings).lower(
        place(initial, shardings)).compile()
    pattern = re.compile(rf"= (.+?) ({'|'.join(COLLECTIVES)})(?:-start)?\(")
    for line in compiled.as_text().splitlines():
        if found := pattern.search(line):
            print(json.dumps({"op": found[2], "shape": found[1]}))


if __name__ == "__main__":
    main()
