"""What each physics choice of the Ant mazes and course costs: env steps/s per variant.

    python -m benchmarks.ant_arenas [--variants NAME,...] [--batch 128] [--steps 50]
        [--repeats 5] [--out runs/ant_arenas.json]

Each variant is an env with settings (`envs.ant_arenas`: contacts, control_dt,
simulated_blocks, ant_mass, pose_reset_every, backend); twowalk (Brax's Ant on open floor) is
the reference. Measured as `benchmarks.brax_backends` measures the backends: the env through the
training wrappers, uniform random actions, `--steps` steps per jitted call. Every variant is
compiled first; then `--repeats` rounds time one call of each variant in turn, and each figure
is the median over the rounds, so that a change in the machine's load during the benchmark
touches every variant alike. Also whether every observation, reward and q stayed finite.
`sim s/s` is steps/s times control_dt: the simulated time per second, which is what a
smaller time step costs.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import time

import jax

import envs
from benchmarks.brax_backends import make_functions
from experiments.config_cli import CliParser, comma_list, description_from, int_at_least, one_of

MAZE = dict(backend="spring", contacts="torso_feet", control_dt=0.025, simulated_blocks=4)
COURSE = dict(backend="spring", contacts="torso_feet", control_dt=0.025)
VARIANTS = {
    "twowalk": ("twowalk", dict(backend="spring")),
    "maze": ("ant_maze", MAZE),
    "maze_9_blocks": ("ant_maze", {**MAZE, "simulated_blocks": 9}),
    "maze_torso_on_walls": ("ant_maze", {**MAZE, "contacts": "torso"}),
    "maze_all_geoms": ("ant_maze", {**MAZE, "contacts": "all"}),
    "maze_all_geoms_9_blocks": ("ant_maze", {**MAZE, "contacts": "all", "simulated_blocks": 9}),
    "maze_dt_0.05": ("ant_maze", {**MAZE, "control_dt": 0.05}),
    "maze_no_pose_reset": ("ant_maze", {**MAZE, "pose_reset_every": 0}),
    "maze_mjx_40kg": ("ant_maze", {**MAZE, "backend": "mjx", "ant_mass": 40.0}),
    "maze_mjx_40kg_dt_0.05": ("ant_maze", {**MAZE, "backend": "mjx", "ant_mass": 40.0,
                                           "control_dt": 0.05}),
    "course": ("ant_obstacle_course", COURSE),
    "course_torso_on_walls": ("ant_obstacle_course", {**COURSE, "contacts": "torso"}),
    "course_all_geoms": ("ant_obstacle_course", {**COURSE, "contacts": "all"}),
    "course_mjx_40kg": ("ant_obstacle_course", {**COURSE, "backend": "mjx", "ant_mass": 40.0}),
}


def compile_variant(variant: str, args) -> dict:
    """The variant's compiled stepping call, its start, and its compile seconds."""
    name, settings = VARIANTS[variant]
    env = envs.make(name, **settings)
    init, chunk = make_functions(env, args.batch, args.steps)
    key = jax.random.PRNGKey(0)
    start = time.perf_counter()
    init_c = jax.jit(init).lower(key).compile()
    tasks, state = init_c(key)
    chunk_c = jax.jit(chunk).lower(tasks, state, key).compile()
    return dict(variant=variant, env=name, settings=settings, dt=float(env.physics.dt),
                compile_s=time.perf_counter() - start, chunk=chunk_c, tasks=tasks, state=state,
                call_s=[], finite=True)


def time_call(run: dict, round_index: int) -> None:
    """Times one call of `run`'s chunk, continuing its episodes."""
    start = time.perf_counter()
    state, finite, _ = jax.block_until_ready(
        run["chunk"](run["tasks"], run["state"], jax.random.PRNGKey(1 + round_index)))
    run["call_s"].append(time.perf_counter() - start)
    run["state"], run["finite"] = state, run["finite"] and bool(finite)


def row(run: dict, args) -> dict:
    """One row: compile seconds, steps/s (median over rounds), sim s/s, all finite."""
    steps_per_s = args.batch * args.steps / statistics.median(run["call_s"])
    return dict(variant=run["variant"], env=run["env"], settings=run["settings"],
                batch=args.batch, compile_s=run["compile_s"], steps_per_s=steps_per_s,
                sim_s_per_s=steps_per_s * run["dt"], finite=run["finite"],
                call_s=run["call_s"])


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m benchmarks.ant_arenas",
                       description=description_from(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", type=comma_list(one_of(tuple(VARIANTS)), "maze,course"),
                        default=",".join(VARIANTS), metavar="NAME,...",
                        help=f"of {', '.join(VARIANTS)} (default: all)")
    parser.add_argument("--batch", type=int_at_least(1), default=128,
                        help="parallel envs (default: 128)")
    parser.add_argument("--steps", type=int_at_least(1), default=50,
                        help="env steps per timed call (default: 50)")
    parser.add_argument("--repeats", type=int_at_least(1), default=5,
                        help="rounds of one timed call per variant; the figure is the median "
                             "(default: 5)")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/ant_arenas.json"),
                        help="JSON file the rows are written to (default: runs/ant_arenas.json)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    runs = []
    for variant in args.variants:
        runs.append(compile_variant(variant, args))
        print(f"{variant}: compiled in {runs[-1]['compile_s']:.0f} s", flush=True)
    for round_index in range(args.repeats):
        for run in runs:
            time_call(run, round_index)
    rows = [row(run, args) for run in runs]
    for r in rows:
        print(json.dumps(r), flush=True)
    reference = rows[0]["steps_per_s"]
    print(f"\nbatch {args.batch}, median of {args.repeats} interleaved calls of {args.steps} "
          f"steps, compile excluded; x: steps/s relative to {rows[0]['variant']}")
    print(f"{'variant':<26} {'compile s':>9} {'steps/s':>9} {'x':>6} {'sim s/s':>8} finite")
    for r in rows:
        print(f"{r['variant']:<26} {r['compile_s']:>9.0f} {r['steps_per_s']:>9,.0f} "
              f"{r['steps_per_s'] / reference:>6.2f} {r['sim_s_per_s']:>8,.0f} {r['finite']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "ant_arenas", "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
