"""Brax physics backends compared on the Brax tasks: compile time, env steps/s, NaNs.

    python -m benchmarks.brax_backends [--envs twowalk,walk_crawl]
        [--backends mjx,spring,positional,generalized] [--batch-sizes 128,1024]
        [--steps 50] [--repeats 3] [--nan-batch 1024] [--nan-steps 1000]
        [--out runs/brax_backends.json]

For each env and backend: the env as training runs it (`wrap_for_training`: auto-reset and
episode statistics), uniform random actions drawn for the whole batch at once, `--steps` steps
per jitted call. Compile time (ahead-of-time `lower().compile()` of the batched reset and the
stepping chunk) is reported separately; throughput is the median of `--repeats` calls from the
same start state. The NaN check then runs `--nan-steps` steps (a full episode's worth; with
random actions episodes end earlier and are auto-reset, as in training) at batch `--nan-batch`
from a fresh start, and reports whether any observation, reward or physics q/qd was
non-finite. Prints a table and writes the rows as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import statistics
import time

import jax
import jax.numpy as jnp

import envs
from envs.base import wrap_for_training
from envs.brax_physics import BACKENDS
from experiments.config_cli import CliParser, comma_list, description_from, int_at_least, one_of

BRAX_ENVS = tuple(name for name in envs.names() if "backend" in envs.options(name))
NAN_BATCH = 1024
"""The NaN check's default batch, when it is one of --batch-sizes."""


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
              if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.all(jnp.stack(leaves))


def make_functions(env, batch: int, steps: int):
    """(init(key) -> (tasks, state), chunk(tasks, state, key) -> (state, finite, episodes))."""
    wrapped = wrap_for_training(env)
    space = env.action_space

    def init(key):
        task_key, reset_key = jax.random.split(key)
        tasks = jax.vmap(env.sample_task)(jax.random.split(task_key, batch))
        _, state = jax.vmap(wrapped.reset)(jax.random.split(reset_key, batch), tasks)
        return tasks, state

    def chunk(tasks, state, key):
        def body(carry, key):
            state, finite = carry
            action_key, env_key = jax.random.split(key)
            actions = jax.random.uniform(action_key, (batch, space.dim),
                                         minval=space.low, maxval=space.high)
            obs, state, reward, done, _ = jax.vmap(wrapped.step)(
                jax.random.split(env_key, batch), state, actions, tasks)
            finite = finite & _all_finite((obs, reward))
            return (state, finite), done.sum()

        (state, finite), dones = jax.lax.scan(body, (state, jnp.bool_(True)),
                                              jax.random.split(key, steps))
        physics = state.env_state.pipeline_state
        finite = finite & _all_finite((physics.q, physics.qd))
        return state, finite, dones.sum()

    return init, chunk


def measure(name: str, backend: str, batch: int, args) -> dict:
    """One row: compile seconds, steps/s (median of repeats) and, at --nan-batch, the NaN check."""
    env = envs.make(name, backend=backend)
    init, chunk = make_functions(env, batch, args.steps)
    key = jax.random.PRNGKey(0)
    start = time.perf_counter()
    init_c = jax.jit(init).lower(key).compile()
    tasks, state = init_c(key)
    jax.block_until_ready(state)
    chunk_c = jax.jit(chunk).lower(tasks, state, key).compile()
    compile_seconds = time.perf_counter() - start

    seconds = []
    for repeat in range(args.repeats):
        start = time.perf_counter()
        jax.block_until_ready(chunk_c(tasks, state, jax.random.PRNGKey(1 + repeat)))
        seconds.append(time.perf_counter() - start)
    row = dict(env=name, backend=backend, batch=batch, steps_per_call=args.steps,
               compile_s=compile_seconds,
               steps_per_s=batch * args.steps / statistics.median(seconds), call_s=seconds)

    if batch == args.nan_batch:
        tasks, state = init_c(jax.random.PRNGKey(100))
        calls = math.ceil(args.nan_steps / args.steps)
        finite, episodes, first_nonfinite_step = True, 0, None
        start = time.perf_counter()
        for call in range(calls):
            state, call_finite, call_episodes = chunk_c(tasks, state,
                                                        jax.random.PRNGKey(200 + call))
            episodes += int(call_episodes)
            if not bool(call_finite) and finite:
                finite, first_nonfinite_step = False, (call + 1) * args.steps
        nan_seconds = time.perf_counter() - start
        row.update(nan_check_steps=calls * args.steps, nan_check_finite=finite,
                   nan_check_first_nonfinite_by_step=first_nonfinite_step,
                   nan_check_episodes_ended=episodes,
                   nan_check_mean_episode_steps=(batch * calls * args.steps / episodes
                                                 if episodes else None),
                   nan_check_steps_per_s=batch * calls * args.steps / nan_seconds)
    return row


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m benchmarks.brax_backends",
                       description=description_from(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", type=comma_list(one_of(BRAX_ENVS), "twowalk,walk_crawl"),
                        default="twowalk,walk_crawl", metavar="ENV,...",
                        help=f"Brax tasks, of {', '.join(BRAX_ENVS)} "
                             f"(default: twowalk,walk_crawl)")
    parser.add_argument("--backends", type=comma_list(one_of(BACKENDS), "mjx,spring"),
                        default=",".join(BACKENDS), metavar="BACKEND,...",
                        help=f"physics pipelines (default: {','.join(BACKENDS)})")
    parser.add_argument("--batch-sizes", type=comma_list(int_at_least(1), "128,1024"),
                        default="128,1024", metavar="B,...",
                        help="parallel envs, one row each (default: 128,1024)")
    parser.add_argument("--steps", type=int_at_least(1), default=50,
                        help="env steps per timed call (default: 50)")
    parser.add_argument("--repeats", type=int_at_least(1), default=3,
                        help="timed calls; the figure is their median (default: 3)")
    parser.add_argument("--nan-batch", type=int_at_least(0),
                        help=f"batch of the NaN check, one of --batch-sizes; 0: skip the "
                             f"check (default: {NAN_BATCH} if it is one of --batch-sizes, "
                             f"else skip)")
    parser.add_argument("--nan-steps", type=int_at_least(1), default=1000,
                        help="env steps of the NaN check, rounded up to whole calls of "
                             "--steps (default: 1000)")
    parser.add_argument("--out", type=pathlib.Path,
                        default=pathlib.Path("runs/brax_backends.json"),
                        help="JSON file the rows are written to "
                             "(default: runs/brax_backends.json)")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.nan_batch is None:
        args.nan_batch = NAN_BATCH if NAN_BATCH in args.batch_sizes else 0
    elif args.nan_batch and args.nan_batch not in args.batch_sizes:
        parser.error(f"--nan-batch {args.nan_batch}: must be one of --batch-sizes "
                     f"({','.join(map(str, args.batch_sizes))}) or 0 to skip the NaN check")

    rows = []
    for name in args.envs:
        for backend in args.backends:
            for batch in args.batch_sizes:
                row = measure(name, backend, batch, args)
                rows.append(row)
                print(json.dumps(row), flush=True)

    print(f"\njax backend: {jax.default_backend()}, devices: {jax.device_count()}, "
          f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}, median of {args.repeats} calls of "
          f"{args.steps} steps, compile excluded")
    print(f"{'env':<11} {'backend':<12} {'batch':>6} {'compile s':>10} {'steps/s':>10} "
          f"{'NaN check':>28}")
    for r in rows:
        if "nan_check_finite" in r:
            verdict = "finite" if r["nan_check_finite"] else \
                f"NaN by step {r['nan_check_first_nonfinite_by_step']}"
            nan = f"{verdict} ({r['nan_check_steps']} steps)"
        else:
            nan = "-"
        print(f"{r['env']:<11} {r['backend']:<12} {r['batch']:>6} {r['compile_s']:>10.1f} "
              f"{r['steps_per_s']:>10,.0f} {nan:>28}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "brax_backends", "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
