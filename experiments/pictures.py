"""Pictures of what the shared sub-policies learned (MLSH paper Fig. 3), from a saved run.

    python -m experiments.pictures --workdir DIR --out FILE.png [--seed-index 0]
        [--checkpoint UPDATE]
        [--goals X0,Y0,X1,Y1] [--grid 9]                     (moving_bandits)
        [--goal ROW,COL] [--updates W] [--seed S]            (four_rooms)

Moving Bandits: per sub-policy, the expected movement on a grid of agent positions for one
fixed pair of goals, and (printed) which goal it reaches first over many random layouts.
Four Rooms: the sub-policy a master (trained for one goal on the frozen
sub-policies) picks in each cell, and each sub-policy's greedy action per cell.
The numbers are computed by pure functions, separate from the drawing, so tests can check them;
figures are `matplotlib.figure.Figure`s saved as PNG by the Agg renderer (no pyplot, no display).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import pathlib
import sys
import time
from typing import Callable

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from numpy.typing import ArrayLike

from envs import four_rooms as rooms
from envs import point_geometry as geo
from experiments.config_cli import CliParser, error_exit, int_at_least
from mlsh_jax.algorithms import meta_test_config
from mlsh_jax.checkpoint import CheckpointError
from mlsh_jax.compile_cache import enable_compile_cache
from mlsh_jax.config import HIERARCHICAL_ALGORITHMS, ConfigError, RunConfig
from mlsh_jax.networks import apply_stacked
from mlsh_jax.normalization import normalize
from mlsh_jax.runs import META_TEST_SEED_OFFSET, load_run, read_run_config, restore_checkpoint
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import Learner, init_state, reset_envs
from mlsh_jax.train import make_chunk

SUPPORTED_ENVS = ("four_rooms", "moving_bandits")
DEFAULT_GOALS = ((100.0, 300.0), (300.0, 100.0))
DEFAULT_ROOMS_GOAL = (10, 10)  # bottom-right room
DPI = 80
FIRST_GOAL_LAYOUTS = 1024
COLOURS = matplotlib.colormaps["tab10"].colors

# Arrow (x = column, y = row) of each four-rooms action, drawn on a map whose rows go down.
_ROOMS_ARROWS = {rooms.UP: (0, -1), rooms.DOWN: (0, 1), rooms.LEFT: (-1, 0),
                 rooms.RIGHT: (1, 0)}


def subpolicy_colour(k: int) -> tuple[float, float, float]:
    return COLOURS[k % len(COLOURS)]


@functools.partial(jax.jit, static_argnums=(0, 1))
def _logits(spec: MLSHSpec, stacked: bool, params, obs_stats, obs: jax.Array) -> jax.Array:
    """Logits of the K stacked sub-policies ([K, B, A]) or of one master ([B, K]) on raw
    observations. Jitted: run op by op, every small op of the forward pass compiles alone."""
    cfg = spec.config
    normed = normalize(obs_stats, obs, cfg.observation_clip, cfg.normalize_observations)
    if stacked:
        dist, _ = apply_stacked(spec.subpolicy, params, normed)
    else:
        dist, _ = spec.master.apply(params, normed)
    return dist.logits


def subpolicy_logits(spec: MLSHSpec, subpolicies: Learner, obs: jax.Array) -> np.ndarray:
    """Action logits of each of the K sub-policies on raw observations [B, obs]: [K, B, A]."""
    return np.asarray(_logits(spec, True, subpolicies.params, subpolicies.obs_stats, obs))


# ---- Moving Bandits -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class BanditArrows:
    """What a Moving Bandits picture shows, in arena units."""

    positions: np.ndarray  # [G, 2] agent positions of the grid
    movement: np.ndarray   # [K, G, 2] expected movement of one step of each sub-policy
    goals: np.ndarray      # [2, 2] goal 0 and goal 1
    toward: np.ndarray     # [K, 2] fraction of grid points moving toward goal 0 / goal 1


def arena_grid(size: int) -> np.ndarray:
    """Centres of a size x size tiling of the arena: interior points, so no move is clipped."""
    centres = (np.arange(size) + 0.5) * geo.ARENA_SIZE / size
    xs, ys = np.meshgrid(centres, centres)
    return np.stack([xs.ravel(), ys.ravel()], axis=-1).astype(np.float32)


def bandit_observations(positions: np.ndarray, goals: np.ndarray) -> jax.Array:
    """The env's observation (agent xy, goal 0 xy, goal 1 xy) / 400 at each position."""
    goals = jnp.asarray(goals, jnp.float32)
    return jax.vmap(lambda p: geo.normalize(jnp.concatenate([p[None], goals])))(
        jnp.asarray(positions))


def action_displacements(positions: np.ndarray) -> np.ndarray:
    """[G, A, 2]: where each action moves the agent from each position (the env's own move)."""
    actions = jnp.arange(geo.NUM_ACTIONS)

    def from_position(p: jax.Array) -> jax.Array:
        return jax.vmap(lambda a: geo.move(p, a) - p)(actions)

    return np.asarray(jax.vmap(from_position)(jnp.asarray(positions)))


def toward_fractions(positions: np.ndarray, movement: np.ndarray,
                     goals: np.ndarray) -> np.ndarray:
    """[K, 2]: share of positions whose movement has a positive cosine with the way to a goal.

    Movement shorter than 1% of a step counts as standing still, which points toward neither
    goal (a sub-policy that stays with probability ~1 would otherwise get a random direction).
    """
    to_goal = goals[None, :, :] - positions[:, None, :]            # [G, 2 goals, 2]
    dots = np.einsum("kgd,gjd->kgj", movement, to_goal)            # [K, G, 2 goals]
    moving = np.linalg.norm(movement, axis=-1) > 0.01 * geo.STEP_SIZE
    return ((dots > 0) & moving[..., None]).mean(axis=1)


def bandit_arrows(spec: MLSHSpec, subpolicies: Learner, goals: ArrayLike = DEFAULT_GOALS,
                  grid_size: int = 9) -> BanditArrows:
    """Each sub-policy's expected step (sum over actions of probability x move) on a grid."""
    goals = np.asarray(goals, np.float32)
    positions = arena_grid(grid_size)
    logits = subpolicy_logits(spec, subpolicies, bandit_observations(positions, goals))
    probs = np.asarray(jax.nn.softmax(logits, axis=-1))                # [K, G, A]
    movement = np.einsum("kga,gad->kgd", probs, action_displacements(positions))
    return BanditArrows(positions, movement, goals, toward_fractions(positions, movement, goals))


def first_goal_shares(spec: MLSHSpec, logits_fn: Callable[[jax.Array], jax.Array],
                      key: jax.Array, layouts: int = FIRST_GOAL_LAYOUTS) -> np.ndarray:
    """[K, 2]: share of random layouts in which sub-policy k, acting alone for one episode from
    the env's start (actions sampled), reaches goal 0 / goal 1 first (both at once: half each).

    One picture shows one layout; this asks every layout the env draws, so a sub-policy that
    goes to the nearer goal shows as ~50/50, and one committed to a goal index as mostly one.
    `logits_fn` maps raw observations [B, obs] to the K sub-policies' logits [K, B, A].
    """
    env = spec.config.make_env()
    count = spec.config.num_subpolicies
    k_task, k_reset, k_act = jax.random.split(key, 3)
    task = env.sample_task(k_task)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, layouts), task)
    each = lambda x: jnp.broadcast_to(x, (count,) + x.shape)  # one copy per sub-policy
    per_layout = jax.vmap(env.step, in_axes=(None, 0, 0, None))
    step_all = jax.vmap(per_layout, in_axes=(None, 0, 0, None))

    def step(carry, keys):
        obs, state, first = carry
        k_action, k_env = keys
        logits = jax.vmap(lambda o, k_: logits_fn(o)[k_])(obs, jnp.arange(count))
        actions = jax.random.categorical(k_action, logits)
        obs, state, _, _, _ = step_all(k_env, state, actions, task)
        at = jax.vmap(jax.vmap(jax.vmap(geo.within_radius, in_axes=(None, 0))))(
            state.agent, state.goals)                              # [K, layouts, 2]
        reached = at[..., 0].astype(jnp.int32) + 2 * at[..., 1].astype(jnp.int32)
        return (obs, state, jnp.where(first == 0, reached, first)), None

    start = (each(obs), jax.tree.map(each, state), jnp.zeros((count, layouts), jnp.int32))
    keys = tuple(jax.random.split(k, env.episode_length)
                 for k in (k_act, jax.random.fold_in(k_act, 1)))  # actions', env steps'
    (_, _, first), _ = jax.lax.scan(step, start, keys)
    first = np.asarray(first)  # 0: neither yet, 1: goal 0, 2: goal 1, 3: both at once
    both = (first == 3).mean(axis=1) / 2
    return np.stack([(first == 1).mean(axis=1) + both, (first == 2).mean(axis=1) + both], -1)


def draw_moving_bandits(arrows: BanditArrows, path: pathlib.Path, dpi: int = DPI) -> None:
    """One panel per sub-policy: arrows of expected movement, the goals and their radii."""
    count = len(arrows.movement)
    fig = Figure(figsize=(2.7 * count, 2.9))
    axes = fig.subplots(1, count, squeeze=False)
    spacing = geo.ARENA_SIZE / np.sqrt(len(arrows.positions))
    for k, ax in enumerate(axes[0]):
        x, y = arrows.positions.T
        u, v = arrows.movement[k].T
        # A full 20-unit step draws as 80% of the grid spacing.
        ax.quiver(x, y, u, v, color=subpolicy_colour(k), angles="xy", scale_units="xy",
                  scale=geo.STEP_SIZE / (0.8 * spacing), width=0.012)
        for j, goal in enumerate(arrows.goals):
            ax.add_patch(Circle(goal, geo.RADIUS, fill=False, linestyle="--", color="0.3"))
            ax.plot(*goal, marker="*", markersize=11, color="black")
            ax.annotate(f"goal {j}", goal, xytext=(4, 6), textcoords="offset points", fontsize=8)
        toward = arrows.toward[k]
        ax.set_title(f"sub-policy {k}\ntoward goal 0: {toward[0]:.0%}, goal 1: {toward[1]:.0%}",
                     fontsize=9)
        ax.set(xlim=(0, geo.ARENA_SIZE), ylim=(0, geo.ARENA_SIZE), aspect="equal")
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)


# ---- Four Rooms ------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class RoomsPolicy:
    """What a Four Rooms picture shows, per free cell (index order of `rooms.FREE_CELLS`)."""

    goal: int              # free-cell index of the master's goal
    choice: np.ndarray     # [C] sub-policy the master picks (argmax of its logits)
    greedy: np.ndarray     # [K, C] each sub-policy's most likely action
    start: int | None = None  # free-cell index every episode starts on (None: random starts)


def cell_observations(spec: MLSHSpec) -> jax.Array:
    """The one-hot observation of every free cell: [C, C] (the env's default observation)."""
    if spec.env.observation_size != rooms.NUM_CELLS:
        raise ConfigError(f"four_rooms pictures need one-hot observations of "
                          f"{rooms.NUM_CELLS} cells, the env has {spec.env.observation_size}")
    return jnp.eye(rooms.NUM_CELLS, dtype=jnp.float32)


def greedy_actions(spec: MLSHSpec, subpolicies: Learner) -> np.ndarray:
    """[K, C]: each sub-policy's most likely action in each free cell."""
    return subpolicy_logits(spec, subpolicies, cell_observations(spec)).argmax(-1)


def master_choices(spec: MLSHSpec, master: Learner) -> np.ndarray:
    """[C]: the sub-policy one master (unstacked params) picks in each free cell."""
    logits = _logits(spec, False, master.params, master.obs_stats, cell_observations(spec))
    return np.asarray(logits).argmax(-1)


def train_master(config: RunConfig, subpolicies: Learner, goal: int, *, updates: int,
                 seed: int) -> tuple[MLSHSpec, Learner]:
    """A fresh master trained for `updates` master-only updates on one goal cell.

    One task slot suffices (its E envs are the batch). The phase cycle is made one update
    longer than what is run: a slot that completes its cycle restarts with a fresh master.
    """
    spec = MLSHSpec.build(meta_test_config(config, num_tasks=1, updates=updates + 1, seed=seed))
    k_init, k_reset = jax.random.split(jax.random.PRNGKey(seed))
    # A copy: the chunk donates its input state, which would delete the caller's arrays.
    state = init_state(spec, k_init).replace(subpolicies=jax.tree.map(jnp.copy, subpolicies))
    task = rooms.FourRoomsTask(goal=jnp.full((1,), goal, jnp.int32))
    obs, env_state = reset_envs(spec, k_reset, task)
    state = state.replace(slots=state.slots.replace(task=task, obs=obs, env_state=env_state))
    state, _ = make_chunk(spec, updates)(state)
    return spec, jax.tree.map(lambda x: x[0], state.slots.master)


def rooms_policy(config: RunConfig, subpolicies: Learner, goal: int, *, updates: int,
                 seed: int) -> RoomsPolicy:
    """Everything a Four Rooms picture shows, for a master trained on `goal`."""
    spec, master = train_master(config, subpolicies, goal, updates=updates, seed=seed)
    return RoomsPolicy(goal, master_choices(spec, master), greedy_actions(spec, subpolicies),
                       config.make_env().start_cell)


def rooms_image(cell_colours: np.ndarray) -> np.ndarray:
    """[13, 13, 3] RGB map: walls dark grey, free cell i painted cell_colours[i]."""
    image = np.full((len(rooms.LAYOUT), len(rooms.LAYOUT[0]), 3), 0.35)
    rows, cols = rooms.FREE_CELLS.T
    image[rows, cols] = cell_colours
    return image


def draw_four_rooms(policy: RoomsPolicy, path: pathlib.Path, dpi: int = DPI) -> None:
    """The master's choice per cell (colour = sub-policy), then one arrow panel per sub-policy
    in that sub-policy's colour; the star is the master's goal, the square the fixed start."""
    count = len(policy.greedy)
    fig = Figure(figsize=(2.2 * (count + 1), 2.4))
    axes = fig.subplots(1, count + 1, squeeze=False)[0]
    rows, cols = rooms.FREE_CELLS.T
    axes[0].imshow(rooms_image(np.array([subpolicy_colour(k) for k in policy.choice])))
    goal_row, goal_col = rooms.FREE_CELLS[policy.goal]
    axes[0].set_title(f"master's choice, goal ({goal_row}, {goal_col})", fontsize=9)
    for k, ax in enumerate(axes[1:]):
        ax.imshow(rooms_image(np.ones((rooms.NUM_CELLS, 3))))
        u, v = np.array([_ROOMS_ARROWS[int(a)] for a in policy.greedy[k]]).T
        ax.quiver(cols, rows, u, v, color=subpolicy_colour(k), angles="xy", scale_units="xy",
                  scale=1.5, pivot="middle", width=0.03, headwidth=3, headlength=3,
                  headaxislength=2.5)
        ax.set_title(f"sub-policy {k}", fontsize=9, color=subpolicy_colour(k))
    for ax in axes:
        ax.plot(goal_col, goal_row, marker="*", markersize=12, color="white",
                markeredgecolor="black")
        if policy.start is not None:
            start_row, start_col = rooms.FREE_CELLS[policy.start]
            ax.plot(start_col, start_row, marker="s", markersize=7, color="white",
                    markeredgecolor="black")
        ax.set(xticks=[], yticks=[])
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)


# ---- Command line ----------------------------------------------------------------------------

def _numbers(count: int, kind: type):
    """An argparse type: `count` comma-separated numbers of type `kind`."""

    def parse(text: str) -> tuple:
        try:
            values = tuple(kind(item) for item in text.split(","))
        except ValueError:
            values = ()
        if len(values) != count:
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected {count} comma-separated {kind.__name__} values")
        return values

    parse.__name__ = f"{count} comma-separated {kind.__name__} values"
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="python -m experiments.pictures",
        description="Draw what the sub-policies of a run do (MLSH paper Fig. 3). "
                    f"Supported envs: {', '.join(SUPPORTED_ENVS)}.")
    parser.add_argument("--workdir", type=pathlib.Path, required=True,
                        help="directory of a training run (config.json, subpolicies.msgpack)")
    parser.add_argument("--out", type=pathlib.Path, required=True, help="PNG file to write")
    parser.add_argument("--seed-index", type=int_at_least(0), default=0,
                        help="which training seed's sub-policies to draw (default: 0)")
    parser.add_argument("--checkpoint", type=int_at_least(0), metavar="UPDATE",
                        help="draw the sub-policies of the run's full-state checkpoint at this "
                             "update (DIR/checkpoints) instead of its final export")
    parser.add_argument("--dpi", type=int_at_least(20), default=DPI,
                        help=f"resolution of the PNG (default: {DPI})")
    bandits = parser.add_argument_group("moving_bandits")
    bandits.add_argument("--goals", type=_numbers(4, float), metavar="X0,Y0,X1,Y1",
                         default=sum(DEFAULT_GOALS, ()),
                         help="goal positions in arena units (default: 100,300,300,100)")
    bandits.add_argument("--grid", type=int_at_least(2), default=9,
                         help="grid of agent positions per side (default: 9)")
    four = parser.add_argument_group("four_rooms")
    four.add_argument("--goal", type=_numbers(2, int), metavar="ROW,COL",
                      default=DEFAULT_ROOMS_GOAL, help="goal cell of the master (default: 10,10)")
    four.add_argument("--updates", type=int_at_least(1),
                      help="master-only updates to train the master (default: the run's W)")
    four.add_argument("--seed", type=int_at_least(0),
                      help=f"master seed (default: the run's seed + {META_TEST_SEED_OFFSET})")
    return parser


def _check_drawable(config: RunConfig) -> None:
    if config.env not in SUPPORTED_ENVS:
        raise ConfigError(f"no pictures for env {config.env!r}; supported: "
                          f"{', '.join(SUPPORTED_ENVS)}")
    if config.env == "four_rooms" and not config.hierarchical:
        raise ConfigError(f"four_rooms pictures train a master, which a {config.algorithm!r} "
                          f"run has none of; supported: {', '.join(HIERARCHICAL_ALGORITHMS)}")


def load_seed_subpolicies(workdir: pathlib.Path, seed_index: int,
                          update: int | None = None) -> Learner:
    """The sub-policies (leading axis K) of one training seed of the run: its final export,
    or those of its full-state checkpoint at `update`.

    The only function here that knows how a run stores its sub-policies.
    """
    config = read_run_config(workdir)
    if config.algorithm == "scratch":
        raise CheckpointError(f"the run in {workdir} trained no sub-policies (scratch)")
    if update is None:
        _, seeds = load_run(workdir)
    else:
        seeds = restore_checkpoint(workdir, config, update)[1].subpolicies
    count = jax.tree.leaves(seeds)[0].shape[0]
    if seed_index >= count:
        raise CheckpointError(f"--seed-index {seed_index}: the run in {workdir} has {count} "
                              f"seed(s), indices 0..{count - 1}")
    return jax.tree.map(lambda x: x[seed_index], seeds)


def _goal_cell(row_col: tuple[int, int]) -> int:
    try:
        return rooms.cell_index(*row_col)
    except ValueError as error:
        raise ConfigError(f"--goal: {error}") from None


def _picture_bandits(args: argparse.Namespace, config: RunConfig, subpolicies: Learner) -> str:
    """Draws the Moving Bandits picture; returns its one-line summary."""
    spec = MLSHSpec.build(config)
    arrows = bandit_arrows(spec, subpolicies, np.reshape(args.goals, (2, 2)), args.grid)
    draw_moving_bandits(arrows, args.out, args.dpi)
    first = first_goal_shares(spec, lambda obs: _logits(spec, True, subpolicies.params,
                                                        subpolicies.obs_stats, obs),
                              jax.random.PRNGKey(0))
    return ", ".join(f"sub-policy {k} toward goal 0/1: {a:.0%}/{b:.0%}, reaches goal 0/1 "
                     f"first in {c:.0%}/{d:.0%} of {FIRST_GOAL_LAYOUTS} random layouts"
                     for k, ((a, b), (c, d)) in enumerate(zip(arrows.toward, first)))


def _picture_rooms(args: argparse.Namespace, config: RunConfig, subpolicies: Learner,
                   goal: int) -> str:
    """Trains a master on `goal`, draws the Four Rooms picture; returns its summary."""
    seed = config.seed + META_TEST_SEED_OFFSET if args.seed is None else args.seed
    policy = rooms_policy(config, subpolicies, goal,
                          updates=args.updates or max(config.warmup_updates, 1), seed=seed)
    draw_four_rooms(policy, args.out, args.dpi)
    usage = np.bincount(policy.choice, minlength=len(policy.greedy)) / len(policy.choice)
    return "master's choice per cell: " + ", ".join(
        f"sub-policy {k} {share:.0%}" for k, share in enumerate(usage))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    enable_compile_cache()
    try:
        config = read_run_config(args.workdir)
        _check_drawable(config)
        subpolicies = load_seed_subpolicies(args.workdir, args.seed_index, args.checkpoint)
        goal = _goal_cell(args.goal) if config.env == "four_rooms" else None
    except (ConfigError, CheckpointError) as error:
        return error_exit(error)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # The programs compile on their first call, interleaved with computing: one time for both.
    print("compiling and computing the picture ...", flush=True)
    start = time.perf_counter()
    if config.env == "moving_bandits":
        summary = _picture_bandits(args, config, subpolicies)
    else:
        summary = _picture_rooms(args, config, subpolicies, goal)
    print(f"done in {time.perf_counter() - start:.1f} s (compiling included)")
    print(f"wrote {args.out}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
