"""What a run's Ant sub-policies do on their own, and what fixed sequences of them reach on the
obstacle course: a look at what a master over these skills can do, without training one.

    python -m experiments.skill_walks --workdir DIR [--episodes 8] [--seed 0]
        [--relative-position true|false] [--course]

Walks (default): each sub-policy alone, chosen at every macro-action, for one Twowalk episode
(open floor, 1000 steps) from Brax Ant's standing pose placed at each of STARTS; prints the
torso's mean displacement (± SE over episodes) and the share of episodes that fell. A skill
that walks the same way from every start is a direction; one that ends at the same place from
every start is a walk to a place.

Course (`--course`): on `ant_obstacle_course_open` (2000 steps, both layouts), for every
ordered pair of sub-policies (a, b) and every 0 < m < M (M macro-actions per episode), a runs
the first m macro-actions and b the rest; prints the steps in the goal region per episode (the
course's return), the share of episodes that enter it and the closest approach to the goal. These
two-segment schedules are what a master that picks a first leg and a moment to turn does; one
that switches more often, or reacts to where the Ant is, may do better.

Actions are sampled, as in training. The sub-policies see positions as the run's config says
(`subpolicies_see_relative_position`) unless `--relative-position` overrides it.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import sys

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from envs.ant import AntAmongWalls
from envs.brax_physics import BraxState
from experiments.config_cli import error_exit
from experiments.skill_schedules import load_skills, scheduled_action, skill_parser
from mlsh_jax.checkpoint import CheckpointError
from mlsh_jax.compile_cache import enable_compile_cache
from mlsh_jax.config import ConfigError, RunConfig
from mlsh_jax.rollout import position
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import Learner

ANT_TASKS = ("twowalk", "ant_maze", "ant_obstacle_course", "ant_maze_small",
             "ant_obstacle_course_open")

STARTS = ((0.0, 0.0), (0.0, 5.0), (5.0, 0.0), (2.5, 2.5), (-3.0, 0.0), (0.0, -3.0))
"""Torso xy (m) the walks start from: Twowalk's start, its two targets, between them, and
behind the start on either axis."""


@flax.struct.dataclass
class _Walk:
    """One episode in progress."""

    obs: jax.Array
    state: BraxState
    origin: jax.Array       # `position` where the running macro-action began
    alive: jax.Array        # the episode has not ended
    reward_sum: jax.Array
    closest: jax.Array      # least value so far of the env's first episode-end metric
    xy: jax.Array           # torso xy after the episode's last step so far


@functools.partial(jax.jit, static_argnums=0)
def _episodes(spec: MLSHSpec, subpolicies: Learner, task, schedules: jax.Array,
              starts: jax.Array, keys: jax.Array):
    """[schedules, starts, episodes] (torso displacement, steps alive, summed reward, closest
    value of the env's first episode-end metric) of episodes in which schedule[m] runs the
    m-th macro-action, from a standing start moved by `starts`."""
    env = spec.config.make_env()  # no auto-reset
    metric = env.episode_end_metrics[0]

    def episode(schedule, start, key):
        reset_key, step_keys = jax.random.split(key)
        _, state = env.reset(reset_key, task)
        physics = env.layout_physics(task) if isinstance(env, AntAmongWalls) else env.physics
        moved = physics.pipeline_init(state.pipeline_state.q.at[:2].add(start),
                                      state.pipeline_state.qd)
        obs = env.observation(moved)

        def act(walk: _Walk, step_key):
            action_key, env_key = jax.random.split(step_key)
            action, origin = scheduled_action(spec, subpolicies, schedule, walk.obs,
                                              walk.state.t, walk.origin, action_key)
            obs, state, reward, done, info = env.step(env_key, walk.state, action, task)
            alive = walk.alive
            return _Walk(
                obs=obs, state=state, origin=origin, alive=alive & ~done,
                reward_sum=walk.reward_sum + jnp.where(alive, reward, 0.0),
                closest=jnp.where(alive, jnp.minimum(walk.closest, info[metric]), walk.closest),
                xy=jnp.where(alive, state.pipeline_state.q[:2], walk.xy)), alive

        first = _Walk(obs=obs, state=BraxState(moved, jnp.int32(0)), origin=position(spec, obs),
                      alive=jnp.bool_(True), reward_sum=jnp.float32(0.0),
                      closest=jnp.float32(jnp.inf), xy=moved.q[:2])
        last, alive = jax.lax.scan(act, first, jax.random.split(step_keys, env.episode_length))
        return last.xy - moved.q[:2], alive.sum(), last.reward_sum, last.closest

    per_key = jax.vmap(episode, in_axes=(None, None, 0))
    return jax.vmap(jax.vmap(per_key, in_axes=(None, 0, None)), in_axes=(0, None, None))(
        schedules, starts, keys)


def walks(config: RunConfig, subpolicies: Learner, keys: jax.Array) -> None:
    spec = MLSHSpec.build(dataclasses.replace(config, env="twowalk", episode_length=0))
    task = spec.env.sample_task(jax.random.PRNGKey(0))  # the reward is not reported
    schedules = jnp.arange(config.num_subpolicies)[:, None]
    moved, steps, _, _ = jax.device_get(_episodes(spec, subpolicies, task, schedules,
                                                  jnp.asarray(STARTS), keys))
    length = spec.env.episode_length
    print(f"{len(keys)} episodes of up to {length} steps per skill and start; torso "
          f"displacement (m) ± SE over episodes; episodes that fell before the time limit")
    for k, (i, start) in itertools.product(range(config.num_subpolicies), enumerate(STARTS)):
        mean, se = moved[k, i].mean(0), moved[k, i].std(0) / np.sqrt(len(keys))
        print(f"  sub-policy {k} from ({start[0]:4.1f}, {start[1]:4.1f}): "
              f"x {mean[0]:+6.2f} ± {se[0]:.2f}, y {mean[1]:+6.2f} ± {se[1]:.2f}; "
              f"fell {np.mean(steps[k, i] < length):.2f}")


def course(config: RunConfig, subpolicies: Learner, keys: jax.Array) -> None:
    spec = MLSHSpec.build(dataclasses.replace(config, env="ant_obstacle_course_open",
                                              episode_length=0))
    macros = -(-spec.env.episode_length // config.macro_duration)
    pairs = list(itertools.permutations(range(config.num_subpolicies), 2))
    schedules = jnp.asarray([[a] * m + [b] * (macros - m) for a, b in pairs
                             for m in range(1, macros)])
    print(f"{len(keys)} episodes of {spec.env.episode_length} steps per layout and schedule "
          f"'a for m macro-actions of {config.macro_duration} steps, then b'")
    for layout in range(spec.env.num_task_types):
        task = spec.env.sample_task_of_type(jax.random.PRNGKey(0), jnp.int32(layout))
        _, _, in_region, closest = jax.device_get(_episodes(
            spec, subpolicies, task, schedules, jnp.zeros((1, 2)), keys))
        for row, ((a, b), m) in enumerate(itertools.product(pairs, range(1, macros))):
            steps, nearest = in_region[row, 0], closest[row, 0]
            print(f"  layout {layout}: {a} for {m}, then {b}: {steps.mean():6.1f} steps in "
                  f"the goal region, {np.mean(steps > 0):.2f} of episodes enter it, closest "
                  f"{nearest.mean():.2f} m")


def build_parser() -> argparse.ArgumentParser:
    parser = skill_parser("python -m experiments.skill_walks", __doc__, tasks="an Ant task",
                          course="open-loop schedules on the obstacle course instead of walks",
                          episodes="start or schedule")
    parser.add_argument("--relative-position", choices=("true", "false"),
                        help="override the run's subpolicies_see_relative_position")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    enable_compile_cache()
    try:
        config, one_seed = load_skills(args.workdir, args.seed_index, "skill_walks", ANT_TASKS,
                                       f"an Ant task ({', '.join(ANT_TASKS)})")
        if args.relative_position is not None:
            config = dataclasses.replace(
                config, subpolicies_see_relative_position=args.relative_position == "true")
    except (ConfigError, CheckpointError) as error:
        return error_exit(error)
    keys = jax.random.split(jax.random.PRNGKey(args.seed), args.episodes)
    seen = ("relative to their macro-action's start"
            if config.subpolicies_see_relative_position else "in world coordinates")
    print(f"{args.workdir}: K={config.num_subpolicies}, sub-policies see positions {seen}")
    (course if args.course else walks)(config, one_seed, keys)
    return 0


if __name__ == "__main__":
    sys.exit(main())
