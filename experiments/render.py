"""Look at a trained agent on a Brax task: one episode of a checkpoint, as HTML or PNG.

    python -m experiments.render --workdir DIR --out FILE.html|FILE.png [--slot S]
        [--seed-index R] [--sample] [--seed N]

The agent is one task slot of the newest full-state checkpoint: its task, its master θ and the
shared sub-policies φ (by default the slot whose master has trained longest on its task). The
master picks a sub-policy every N steps; actions are the policies' modes (argmax / Gaussian
mean) unless `--sample`. `.html` writes Brax's 3D viewer (open it in a browser; the viewer's
JavaScript is fetched from a CDN); `.png` draws, coloured by the active sub-policy, the Ant's
torso path from above with the task's target or goal and the walls of its layout, or the
Humanoid's head height along its way under the task's ceiling or box (the course's box where the
episode reached its crawl phase; the HTML viewer shows the box where it is at the episode's end).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import pathlib
import sys
import time
from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle

from envs.ant import AntAmongWalls, AntObstacleCourse, TwoWalk
from envs.ant_arenas import AntArena, AntMazes, AntWalledCourse
from envs.humanoid import HumanoidBody, HumanoidUnderCeiling
from envs.humanoid_original import (BOX_BOTTOM, HumanoidWithBox, WalkCrawlCourse, box_x_span,
                                    with_box_at)
from experiments.config_cli import CliParser, error_exit, int_at_least
from experiments.pictures import DPI, subpolicy_colour
from mlsh_jax.checkpoint import CheckpointError
from mlsh_jax.compile_cache import enable_compile_cache
from mlsh_jax.config import ConfigError, RunConfig
from mlsh_jax.normalization import normalize
from mlsh_jax.rollout import position, subpolicy_outputs
from mlsh_jax.runs import read_run_config, restore_checkpoint
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import Learner, TrainerState

RENDERABLE_ENVS = ("ant_maze", "ant_obstacle_course", "ant_maze_small",
                   "ant_obstacle_course_open", "twowalk", "walk_crawl", "walk_crawl_course",
                   "walk_crawl_forward", "walk_crawl_course_section")
FORMATS = (".html", ".png")


@flax.struct.dataclass
class Agent:
    """What acts in one slot: its task, its master (None for flat baselines) and phi."""

    task: Any
    master: Learner | None
    subpolicies: Learner
    slot: int = flax.struct.field(pytree_node=False)


@dataclasses.dataclass(frozen=True)
class Episode:
    """One episode, cut at its end: physics states [T], torso xy [T+1, 2], z and rewards [T]."""

    pipeline_states: Any
    xy: np.ndarray
    subpolicy: np.ndarray
    reward: np.ndarray

    @property
    def length(self) -> int:
        return len(self.reward)


def load_state(workdir: pathlib.Path) -> tuple[RunConfig, TrainerState]:
    """A run's config and the newest full-state checkpoint (all seeds) that reads back.

    Newer damaged checkpoints are skipped with a warning each and left in place: resuming the
    run moves them aside."""
    config = read_run_config(workdir)
    if config.env not in RENDERABLE_ENVS:
        raise ConfigError(f"env={config.env!r}: render shows the Brax tasks "
                          f"({', '.join(RENDERABLE_ENVS)}); for {config.env} use "
                          f"`python -m experiments.pictures`")
    if config.algorithm == "scratch":
        raise ConfigError("algorithm='scratch' trains nothing before meta-test: nothing to render")
    step, state, damaged = restore_checkpoint(workdir, config)
    for error in damaged:
        print(f"warning: {error}; rendering update {step} instead", file=sys.stderr)
    return config, state


def pick_agent(state: TrainerState, seed_index: int, slot: int | None) -> Agent:
    """Seed `seed_index`'s slot `slot`, or the slot whose master trained longest on its task."""
    seeds, slots = state.slots.phase_step.shape
    if not 0 <= seed_index < seeds:
        raise ConfigError(f"--seed-index {seed_index}: the run has seeds 0..{seeds - 1}")
    if slot is None:
        slot = int(np.argmax(np.asarray(state.slots.phase_step[seed_index])))
    if not 0 <= slot < slots:
        raise ConfigError(f"--slot {slot}: the run has slots 0..{slots - 1}")
    one = lambda tree: jax.tree.map(lambda x: x[seed_index, slot], tree)
    return Agent(task=one(state.slots.task), master=one(state.slots.master),
                 subpolicies=jax.tree.map(lambda x: x[seed_index], state.subpolicies), slot=slot)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _play(spec: MLSHSpec, sample: bool, agent: Agent, key: jax.Array):
    cfg, env = spec.config, spec.config.make_env()

    def choose(dist, key):
        return dist.sample(key) if sample else dist.mode()

    def act(carry, step_key):
        obs, env_state, z, origin, t, alive = carry
        k_master, k_action, k_env = jax.random.split(step_key, 3)
        if agent.master is None:
            chosen = jnp.int32(0)
        else:
            normed = normalize(agent.master.obs_stats, obs, cfg.observation_clip,
                               cfg.normalize_observations)
            chosen = choose(spec.master.apply(agent.master.params, normed)[0], k_master)
        decision = t % cfg.macro_duration == 0
        z = jnp.where(decision, chosen, z)
        origin = jnp.where(decision, position(spec, obs), origin)
        dist, _ = subpolicy_outputs(spec, agent.subpolicies, obs, z, origin)
        obs, env_state, reward, done, _ = env.step(k_env, env_state, choose(dist, k_action),
                                                    agent.task)
        record = (env_state.pipeline_state, env_state.pipeline_state.q[:2], z, reward, alive)
        return (obs, env_state, z, origin, t + 1, alive & ~done), record

    reset_key, run_key = jax.random.split(key)
    obs, env_state = env.reset(reset_key, agent.task)
    start = (obs, env_state, jnp.int32(0), position(spec, obs), jnp.int32(0), jnp.bool_(True))
    _, (states, xy, z, reward, alive) = jax.lax.scan(
        act, start, jax.random.split(run_key, env.episode_length))
    return states, jnp.concatenate([env_state.pipeline_state.q[None, :2], xy]), z, reward, alive


def compile_episode(config: RunConfig, agent: Agent, key: jax.Array,
                    sample: bool) -> Callable[[Agent, jax.Array], Any]:
    """The episode program compiled ahead of time (called with the agent and the key), so a
    caller can say how long compiling took apart from playing."""
    return _play.lower(MLSHSpec.build(config), sample, agent, key).compile()


def play_episode(config: RunConfig, agent: Agent, key: jax.Array, sample: bool,
                 play: Callable[[Agent, jax.Array], Any] | None = None) -> Episode:
    """Run the agent for one episode of its task, on the training's env settings; `play` is
    the program from `compile_episode` (default: compiled on this call)."""
    if play is None:
        play = functools.partial(_play, MLSHSpec.build(config), sample)
    states, xy, z, reward, alive = jax.device_get(play(agent, key))
    length = int(np.sum(alive))
    return Episode(pipeline_states=jax.tree.map(lambda x: x[:length], states),
                   xy=np.asarray(xy[:length + 1]), subpolicy=np.asarray(z[:length]),
                   reward=np.asarray(reward[:length]))


def render_html(env, task, episode: Episode) -> str:
    """Brax's viewer of the episode (mazes and courses show the task's walls, the Humanoid's
    tasks their box where it is at the episode's end: the viewer's scene is static)."""
    from brax.io import html  # deferred: importing brax takes seconds

    if isinstance(env, AntAmongWalls):
        physics = env.layout_physics(task)
    elif isinstance(env, AntArena):
        physics = env.scene_physics(task)
    elif isinstance(env, HumanoidWithBox):
        physics = with_box_at(env.physics, shown_box(env, task, episode.xy[1:, 0]))
    else:
        physics = env.physics
    states = [jax.tree.map(lambda x: x[t], episode.pipeline_states)
              for t in range(episode.length)]
    return html.render(physics.sys, states)


def draw_path(env, task, episode: Episode, path: pathlib.Path, title: str) -> Figure:
    """The torso's path from above, coloured by active sub-policy, with target/goal and walls;
    saved to `path`, and returned for a caller that adds to it."""
    figure = Figure(figsize=(6, 6), dpi=DPI)
    axes = figure.add_subplot()
    for k in np.unique(episode.subpolicy):
        steps = np.flatnonzero(episode.subpolicy == k)
        axes.scatter(episode.xy[steps + 1, 0], episode.xy[steps + 1, 1], s=4,
                     color=subpolicy_colour(int(k)), label=f"sub-policy {k}")
    axes.plot(*episode.xy[0], "ko", label="start")
    if isinstance(env, TwoWalk):
        axes.plot(*np.asarray(env.target(task)), "r*", markersize=16, label="target")
    if isinstance(env, (AntAmongWalls, AntArena)):
        for x, y, hx, hy in env.wall_boxes(int(task.layout)):
            axes.add_patch(Rectangle((x - hx, y - hy), 2 * hx, 2 * hy, color="0.5"))
        goal = tuple(np.asarray(env.goal(task)))
        if isinstance(env, AntMazes):  # a point, drawn to be seen at the arena's 48-m scale
            axes.plot(*goal, "r*", markersize=16, label="goal")
        else:
            courses = (AntObstacleCourse, AntWalledCourse)
            radius = env.goal_radius if isinstance(env, courses) else 0.3
            axes.add_patch(Circle(goal, radius, color="r", alpha=0.4, label="goal"))
    axes.set_aspect("equal", adjustable="datalim")
    axes.autoscale_view()
    axes.margins(0.15)
    axes.set_xlabel("x (m)")
    axes.set_ylabel("y (m)")
    axes.set_title(title, fontsize=9)
    axes.legend(loc="best", fontsize=8)
    figure.savefig(path)
    return figure


def ceiling_span(env: HumanoidUnderCeiling, task: Any, x: np.ndarray) -> tuple[float, float] | None:
    """Where along x the task's ceiling covers the way (None: open floor); a ceiling over the
    whole floor is drawn over the episode's x range."""
    start, end = (float(bound) for bound in env.ceiling_extent(task))
    if start > end:
        return None
    return (start if np.isfinite(start) else min(x.min(), 0.0),
            end if np.isfinite(end) else max(x.max(), 1.0))


def shown_box(env: HumanoidWithBox, task: Any, x: np.ndarray) -> jax.Array:
    """Centre of the original tasks' box in a (static) picture of an episode whose torso went
    along `x`: the task's, or the course's where it stands once the episode reached its crawl
    phase."""
    if isinstance(env, WalkCrawlCourse):
        return env.box(bool(x.max() > env.switch_x))
    return env.box(task)


def overhead(env: HumanoidBody, task: Any, x: np.ndarray
             ) -> tuple[float, float, float, str] | None:
    """What covers the way from above, as (start x, end x, height, label), or None: the
    earlier tasks' ceiling, or the underside of the original tasks' solid box (walk_crawl's in
    crawl; the course's once the episode reached its crawl phase)."""
    if isinstance(env, HumanoidUnderCeiling):
        span = ceiling_span(env, task, x)
        return None if span is None else (*span, env.ceiling_height, "ceiling")
    span = box_x_span(shown_box(env, task, x))
    return None if span is None else (*span, BOX_BOTTOM, "box underside")


def draw_side_view(env: HumanoidBody, task: Any, episode: Episode, path: pathlib.Path,
                   title: str) -> None:
    """The top of the Humanoid's head against its torso x, coloured by active sub-policy, under
    the task's ceiling or box: shows where it walks upright and where it crawls."""
    x = episode.xy[1:, 0]
    head = np.asarray(jax.vmap(env.head_top)(jnp.asarray(episode.pipeline_states.q)))
    figure = Figure(figsize=(8, 4), dpi=DPI)
    axes = figure.add_subplot()
    for k in np.unique(episode.subpolicy):
        steps = episode.subpolicy == k
        axes.scatter(x[steps], head[steps], s=4, color=subpolicy_colour(int(k)),
                     label=f"sub-policy {k}")
    cover = overhead(env, task, x)
    if cover is not None:
        start, end, height, label = cover
        axes.hlines(height, start, end, colors="0.3", linewidth=3, label=label)
    axes.set_ylim(0.0, 2.4)  # the torso may rise to 2 m, the head top 0.28 m above it
    axes.set_xlabel("torso x (m)")
    axes.set_ylabel("head top (m)")
    axes.set_title(title, fontsize=9)
    axes.legend(loc="best", fontsize=8)
    figure.savefig(path)


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m experiments.render",
                       description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=pathlib.Path, required=True,
                        help="directory of a training run with checkpoints")
    parser.add_argument("--out", type=pathlib.Path, required=True,
                        help="output file: .html (Brax viewer) or .png (Ant: path from above; "
                             "Humanoid: head height along x)")
    parser.add_argument("--slot", type=int_at_least(0),
                        help="task slot to show (default: the one trained longest on its task)")
    parser.add_argument("--seed-index", type=int_at_least(0), default=0,
                        help="which seed of a multi-seed run (default 0)")
    parser.add_argument("--sample", action="store_true",
                        help="sample actions and master choices instead of taking the modes")
    parser.add_argument("--seed", type=int_at_least(0), default=0,
                        help="key of the episode's start noise (and samples)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    enable_compile_cache()
    if args.out.suffix not in FORMATS:
        return error_exit(f"--out {str(args.out)!r}: must end in {' or '.join(FORMATS)}")
    try:
        config, state = load_state(args.workdir)
        agent = pick_agent(state, args.seed_index, args.slot)
    except (ConfigError, CheckpointError) as error:
        return error_exit(error)
    env, key = config.make_env(), jax.random.PRNGKey(args.seed)
    print("compiling the episode program ...", flush=True)
    start = time.perf_counter()
    play = compile_episode(config, agent, key, args.sample)
    print(f"compiled in {time.perf_counter() - start:.1f} s", flush=True)
    episode = play_episode(config, agent, key, args.sample, play)
    task_type = f" (task type {int(env.task_type(agent.task))})" if env.num_task_types else ""
    summary = (f"{config.env}, slot {agent.slot}{task_type}: {episode.length} steps, return "
               f"{episode.reward.sum():.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix == ".html":
        args.out.write_text(render_html(env, agent.task, episode))
    elif isinstance(env, HumanoidBody):
        draw_side_view(env, agent.task, episode, args.out, summary)
    else:
        draw_path(env, agent.task, episode, args.out, summary)
    print(f"{summary}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
