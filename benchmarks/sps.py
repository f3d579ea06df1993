"""Steps per second: env-only (random actions) and full MLSH training, per (slots x envs) size.

    python -m benchmarks.sps [--env moving_bandits] [--sizes 16x8,64x8,256x8] [--repeats 3]

Compile time is measured separately (ahead-of-time `lower().compile()`); throughput is the
median of `--repeats` timed calls. Prints a table and a JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time

import jax

import envs
from envs.base import Box
from mlsh_jax.config import RunConfig
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.rollout import step_envs
from mlsh_jax.state import init_state, reset_envs, sample_tasks
from mlsh_jax.train import make_chunk


def _timed(compiled, make_args, repeats: int) -> float:
    """Median seconds of one call (fresh arguments each time, since state is donated)."""
    seconds = []
    for _ in range(repeats):
        args = make_args()
        jax.block_until_ready(args)
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def random_actions(spec: MLSHSpec, key: jax.Array) -> jax.Array:
    """Uniform actions for every slot's envs, within the action space's bounds."""
    cfg, space = spec.config, spec.env.action_space
    shape = (cfg.num_slots, cfg.envs_per_slot)
    if isinstance(space, Box):
        return jax.random.uniform(key, shape + (space.dim,), minval=space.low, maxval=space.high)
    return jax.random.randint(key, shape, 0, space.n)


def env_only(config: RunConfig, repeats: int) -> tuple[float, float]:
    """(compile seconds, env steps/s) of a rollout's env stepping alone, random actions.

    Uses the training's own batched reset and step (S slots x E envs), so the ratio to the
    MLSH figure is the cost of everything but the environment.
    """
    spec = MLSHSpec.build(config)

    def run(key):
        k_task, k_reset, k_run = jax.random.split(key, 3)
        tasks = sample_tasks(spec, k_task)
        _, env_state = reset_envs(spec, k_reset, tasks)

        def step(env_state, key):
            k_act, k_env = jax.random.split(key)
            _, env_state, reward, _, _ = step_envs(spec, k_env, env_state,
                                                   random_actions(spec, k_act), tasks)
            return env_state, reward.sum()

        _, rewards = jax.lax.scan(step, env_state, jax.random.split(k_run, config.rollout_steps))
        return rewards.sum()

    start = time.perf_counter()
    compiled = jax.jit(run).lower(jax.random.PRNGKey(0)).compile()
    compile_seconds = time.perf_counter() - start
    seconds = _timed(compiled, lambda: (jax.random.PRNGKey(1),), repeats)
    return compile_seconds, config.env_steps_per_update / seconds


def mlsh_training(config: RunConfig, updates: int, repeats: int) -> tuple[float, float]:
    """(compile seconds, env steps/s) of `updates` full MLSH updates (rollout + theta + phi)."""
    spec = MLSHSpec.build(config)
    make_state = lambda: (init_state(spec, jax.random.PRNGKey(config.seed)),)
    start = time.perf_counter()
    compiled = make_chunk(spec, updates).lower(*make_state()).compile()
    compile_seconds = time.perf_counter() - start
    seconds = _timed(compiled, make_state, repeats)
    return compile_seconds, updates * config.env_steps_per_update / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="moving_bandits", choices=envs.names())
    parser.add_argument("--sizes", default="16x8,64x8,256x8",
                        help="comma-separated SLOTSxENVS sizes")
    parser.add_argument("--updates", type=int, default=5, help="MLSH updates per timed call")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    base = RunConfig(env=args.env)
    rows = []
    for size in args.sizes.split(","):
        slots, per_slot = (int(x) for x in size.lower().split("x"))
        config = dataclasses.replace(base, num_slots=slots, envs_per_slot=per_slot)
        env_compile, env_sps = env_only(config, args.repeats)
        mlsh_compile, mlsh_sps = mlsh_training(config, args.updates, args.repeats)
        rows.append(dict(env=args.env, slots=slots, envs_per_slot=per_slot,
                         rollout_steps=config.rollout_steps, env_only_sps=env_sps,
                         mlsh_sps=mlsh_sps, mlsh_over_env_only=mlsh_sps / env_sps,
                         env_compile_s=env_compile, mlsh_compile_s=mlsh_compile))
    print(f"backend: {jax.default_backend()}, devices: {jax.device_count()}, "
          f"median of {args.repeats} repeats, compile excluded")
    print(f"{'slots x envs':>13} {'env-only steps/s':>17} {'MLSH steps/s':>13} "
          f"{'MLSH/env':>9} {'compile env/MLSH (s)':>21}")
    for r in rows:
        print(f"{r['slots']:>6} x {r['envs_per_slot']:<4} {r['env_only_sps']:>17,.0f} "
              f"{r['mlsh_sps']:>13,.0f} {r['mlsh_over_env_only']:>9.4f} "
              f"{r['env_compile_s']:>10.1f} / {r['mlsh_compile_s']:<9.1f}")
    print(json.dumps({"benchmark": "sps", "rows": rows}))


if __name__ == "__main__":
    main()
