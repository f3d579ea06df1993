"""What a Walk/Crawl run's Humanoid sub-policies do on their own, and what fixed sequences of
them do on the combination course: which task each skill serves and in what posture, without
training a master.

    python -m experiments.humanoid_skills --workdir DIR [--episodes 8] [--seed 0]
        [--seed-index R] [--course]

Skills (default): each sub-policy alone, chosen at every macro-action, for whole episodes of
`walk_crawl` in each task (walk, crawl); prints per sub-policy and task the return and the
torso's way in x (± SE over episodes), the share of episodes that fell (walk ends below 1.0 m),
and the posture over the steps taken: the torso's mean height, the share of steps with the
torso below 0.93 m (low enough to pass under the crawl box, whose underside is at 1.0 m) and at
1.0 m or higher (paid while walking), and in crawl the share of steps with the torso under the
box. Episodes last as long as the run's (`episode_length`).

Course (`--course`): on `walk_crawl_course` (its own 3000 steps: walk past x = 25 m, then crawl
back under the box), each sub-policy alone and, for every ordered pair (a, b) and 0 < m < M (M
macro-actions per episode), a for the first m macro-actions and b for the rest; prints the
return, the farthest torso x, the share of episodes that reached the crawl phase, the torso x
at the end and the share that fell. A master that switches more often or reacts to where the
body is may do better.

Actions are sampled, as in training.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import sys

import jax
import jax.numpy as jnp
import numpy as np

from envs.humanoid import CRAWL, WALK
from envs.humanoid_original import (BOX_BOTTOM, BOX_HALF_SIZE, WalkCrawl, WalkCrawlCourse,
                                    box_x_span)
from experiments.config_cli import error_exit
from experiments.skill_schedules import load_skills, scheduled_action, skill_parser
from mlsh_jax.checkpoint import CheckpointError
from mlsh_jax.compile_cache import enable_compile_cache
from mlsh_jax.config import ConfigError, RunConfig
from mlsh_jax.rollout import position
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import Learner

TASK_NAMES = {WALK: "walk", CRAWL: "crawl"}

TORSO_RADIUS = 0.07
"""Radius (m) of the Humanoid's torso capsule."""
UNDER_BOX_TORSO_Z = BOX_BOTTOM - TORSO_RADIUS
"""Torso height (m) below which the body can pass under the box."""


@dataclasses.dataclass(frozen=True)
class EpisodeSummary:
    """Means over episodes (and their standard errors) of one sub-policy or schedule on one
    task; posture shares are over every step taken in those episodes."""

    episode_return: float
    return_se: float
    moved_x: float          # torso x at the end less at the start (m)
    moved_x_se: float
    end_x: float            # torso x at the end (m)
    farthest_x: float       # the episodes' mean of their largest torso x (m)
    fell: float             # share of episodes that ended before the time limit
    mean_torso_z: float
    below_under_box_z: float  # share of steps with the torso below UNDER_BOX_TORSO_Z
    at_walk_z: float        # share of steps with the torso at walk's paid height or higher
    under_box: float        # share of steps with the torso under the box (nan: no box)
    crawl_phase: float      # share of episodes that reached the course's crawl phase


def summarise(xyz: np.ndarray, alive: np.ndarray, reward: np.ndarray, crawl_phase: np.ndarray,
              start_x: np.ndarray, box_span: tuple[float, float] | None) -> EpisodeSummary:
    """The summary of episodes from per-step arrays [episodes, steps]: the torso's x, y and z
    after each step ([episodes, steps, 3]), whether the step was taken (the episode had not
    ended before it), its reward and course phase after it; `start_x` [episodes] is the torso x
    before the first step, `box_span` the x span of the task's box (None: out of reach)."""
    taken = alive.astype(bool)
    last = np.maximum(taken.sum(1) - 1, 0)
    x = xyz[..., 0]
    end_x = x[np.arange(len(x)), last]
    returns = np.where(taken, reward, 0.0).sum(1)
    moved = end_x - start_x
    x_taken, y_taken, z_taken = xyz[taken].T
    if box_span is None:
        under_box = float("nan")
    else:
        under_box = float(np.mean((x_taken >= box_span[0]) & (x_taken <= box_span[1])
                                  & (np.abs(y_taken) <= BOX_HALF_SIZE[1])))
    return EpisodeSummary(
        episode_return=float(returns.mean()), return_se=_se(returns),
        moved_x=float(moved.mean()), moved_x_se=_se(moved), end_x=float(end_x.mean()),
        farthest_x=float(np.where(taken, x, -np.inf).max(1).mean()),
        fell=float(np.mean(taken.sum(1) < x.shape[1])),
        mean_torso_z=float(z_taken.mean()),
        below_under_box_z=float(np.mean(z_taken < UNDER_BOX_TORSO_Z)),
        at_walk_z=float(np.mean(z_taken >= WalkCrawl.walk_min_torso_z)),
        under_box=under_box,
        crawl_phase=float(np.mean((np.where(taken, crawl_phase, 0.0) > 0).any(1))))


def _se(values: np.ndarray) -> float:
    """Standard error of the mean over episodes (0 for one episode)."""
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0


@functools.partial(jax.jit, static_argnums=0)
def _episodes(spec: MLSHSpec, subpolicies: Learner, tasks, schedules: jax.Array,
              keys: jax.Array):
    """Per-step arrays [schedules, tasks, episodes, steps] (torso xyz [..., 3] after the step,
    step taken, reward, course phase) and the torso x at each start [schedules, tasks,
    episodes] of episodes in which schedule[m] runs the m-th macro-action."""
    env = spec.config.make_env()  # no auto-reset

    def episode(schedule, task, key):
        reset_key, step_keys = jax.random.split(key)
        obs, state = env.reset(reset_key, task)

        def act(carry, step_key):
            obs, state, origin, alive = carry
            action_key, env_key = jax.random.split(step_key)
            action, origin = scheduled_action(spec, subpolicies, schedule, obs, state.t, origin,
                                              action_key)
            obs, state, reward, done, info = env.step(env_key, state, action, task)
            phase = info.get("crawl_phase", jnp.float32(0.0))
            return ((obs, state, origin, alive & ~done),
                    (state.pipeline_state.q[:3], alive, reward, phase))

        first = (obs, state, position(spec, obs), jnp.bool_(True))
        _, per_step = jax.lax.scan(act, first, jax.random.split(step_keys, env.episode_length))
        return per_step, state.pipeline_state.q[0]

    per_key = jax.vmap(episode, in_axes=(None, None, 0))
    per_task = jax.vmap(per_key, in_axes=(None, 0, None))
    return jax.vmap(per_task, in_axes=(0, None, None))(schedules, tasks, keys)


def _summaries(spec: MLSHSpec, subpolicies: Learner, tasks, schedules: np.ndarray,
               keys: jax.Array, box_spans: list[tuple[float, float] | None]
               ) -> list[list[EpisodeSummary]]:
    """[schedule][task] summaries of `_episodes`; `box_spans` [task] as `summarise` takes."""
    (xyz, alive, reward, phase), start_x = jax.device_get(
        _episodes(spec, subpolicies, tasks, jnp.asarray(schedules), keys))
    return [[summarise(xyz[s, t], alive[s, t], reward[s, t], phase[s, t], start_x[s, t], span)
             for t, span in enumerate(box_spans)] for s in range(len(schedules))]


def skills(config: RunConfig, subpolicies: Learner, keys: jax.Array) -> None:
    spec = MLSHSpec.build(config)
    env = spec.config.make_env()
    tasks = jax.vmap(env.sample_task_of_type, in_axes=(None, 0))(
        jax.random.PRNGKey(0), jnp.asarray(list(TASK_NAMES), jnp.int32))
    schedules = np.arange(config.num_subpolicies)[:, None]
    spans = [box_x_span(env.box(jax.tree.map(lambda leaf: leaf[t], tasks)))
             for t in range(len(TASK_NAMES))]
    rows = _summaries(spec, subpolicies, tasks, schedules, keys, spans)
    print(f"{len(keys)} episodes of up to {env.episode_length} steps per skill and task; ± SE "
          f"over episodes; posture shares over the steps taken (the box's underside at "
          f"{BOX_BOTTOM} m: a torso below {UNDER_BOX_TORSO_Z:.2f} m fits under it, walking pays "
          f"at {WalkCrawl.walk_min_torso_z} m or higher)")
    for k, (t, name) in itertools.product(range(config.num_subpolicies),
                                          enumerate(TASK_NAMES.values())):
        s = rows[k][t]
        under_box = "-" if np.isnan(s.under_box) else f"{s.under_box:.2f}"
        print(f"  sub-policy {k} on {name:5}: return {s.episode_return:8.1f} ± "
              f"{s.return_se:6.1f}, torso x moved {s.moved_x:+6.2f} ± {s.moved_x_se:.2f} m, "
              f"fell {s.fell:.2f}; torso z mean {s.mean_torso_z:.2f} m, below "
              f"{UNDER_BOX_TORSO_Z:.2f} m {s.below_under_box_z:.2f}, at >= "
              f"{WalkCrawl.walk_min_torso_z} m {s.at_walk_z:.2f}, under the box {under_box}")


def course(config: RunConfig, subpolicies: Learner, keys: jax.Array) -> None:
    spec = MLSHSpec.build(dataclasses.replace(config, env="walk_crawl_course",
                                              episode_length=0))
    env = spec.config.make_env()
    macros = -(-env.episode_length // config.macro_duration)
    k = config.num_subpolicies
    plans = [(a, a, macros) for a in range(k)] + [
        (a, b, m) for a, b in itertools.permutations(range(k), 2) for m in range(1, macros)]
    schedules = np.asarray([[a] * m + [b] * (macros - m) for a, b, m in plans])
    tasks = jax.tree.map(lambda leaf: leaf[None], env.sample_task(jax.random.PRNGKey(0)))
    rows = _summaries(spec, subpolicies, tasks, schedules, keys, [None])
    print(f"{len(keys)} episodes of {env.episode_length} steps per schedule 'a for m "
          f"macro-actions of {config.macro_duration} steps, then b'; the crawl phase begins "
          f"past x = {WalkCrawlCourse.switch_x} m")
    for (a, b, m), (s,) in zip(plans, rows):
        plan = f"{a} alone" if m == macros else f"{a} for {m:2}, then {b}"
        print(f"  {plan:16}: return {s.episode_return:8.1f} ± {s.return_se:6.1f}, farthest "
              f"torso x {s.farthest_x:6.2f} m, {s.crawl_phase:.2f} of episodes reach the crawl "
              f"phase, torso x at the end {s.end_x:+6.2f} m, fell {s.fell:.2f}")


def build_parser() -> argparse.ArgumentParser:
    return skill_parser("python -m experiments.humanoid_skills", __doc__, tasks="walk_crawl",
                        course="open-loop schedules on walk_crawl_course instead of each skill "
                               "on each task",
                        episodes="skill and task, or per schedule")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    enable_compile_cache()
    try:
        config, one_seed = load_skills(args.workdir, args.seed_index, "humanoid_skills",
                                       ("walk_crawl",), "walk_crawl")
    except (ConfigError, CheckpointError) as error:
        return error_exit(error)
    keys = jax.random.split(jax.random.PRNGKey(args.seed), args.episodes)
    print(f"{args.workdir}: K={config.num_subpolicies}, N={config.macro_duration}")
    (course if args.course else skills)(config, one_seed, keys)
    return 0


if __name__ == "__main__":
    sys.exit(main())
