"""Brax Ant tasks: `twowalk` (paper §6.3), the `ant_maze` layouts and the sparse
`ant_obstacle_course`, all with one observation so that sub-policies transfer between them.

The hidden task changes only rewards in twowalk; in ant_maze and ant_obstacle_course it also
decides where the (unobserved) walls stand. Shared Brax machinery: `envs.brax_physics`.
"""

from __future__ import annotations

import abc
import copy
import dataclasses
import functools
from typing import Any, ClassVar

import flax.struct
import jax
import jax.numpy as jnp

from envs.base import (
    Box,
    Environment,
    Info,
    episode_end,
    validate_episode_length,
    validate_nonnegative,
    validate_positive,
)
from envs.brax_physics import DEFAULT_BACKEND, BraxState, physics, validate_backend

TWOWALK_TARGETS = ((5.0, 0.0), (0.0, 5.0))
"""World xy of the twowalk targets, indexed by `TwoWalkTask.target`."""


def progress_reward(
    q_before: jax.Array, q_after: jax.Array, point: jax.Array, action: jax.Array, dt: float,
    ctrl_cost_weight: float,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Ant reward for walking to `point`: (reward, progress in m/s, control cost, distance
    after the step); progress is the decrease of the torso's xy distance to `point` over dt."""
    distance_before = jnp.linalg.norm(q_before[:2] - point)
    distance_after = jnp.linalg.norm(q_after[:2] - point)
    progress = (distance_before - distance_after) / dt
    ctrl_cost = ctrl_cost_weight * jnp.sum(jnp.square(action))
    return (progress - ctrl_cost).astype(jnp.float32), progress, ctrl_cost, distance_after


def noisy_start(physics: Any, key: jax.Array, noise: float) -> Any:
    """Brax Ant's start: init_q plus uniform(+-noise) on q, noise * N(0, 1) velocities."""
    sys = physics.sys
    q_key, qd_key = jax.random.split(key)
    q = sys.init_q + jax.random.uniform(q_key, (sys.q_size(),), minval=-noise, maxval=noise)
    qd = noise * jax.random.normal(qd_key, (sys.qd_size(),))
    return physics.pipeline_init(q, qd)


# --- Ant twowalk ----------------------------------------------------------------------------


@flax.struct.dataclass
class TwoWalkTask:
    target: jax.Array  # int32 scalar: index into TWOWALK_TARGETS


class AntBody:
    """What every Ant task observes of its `physics`: (q, qd), world x, y first, the same
    function in every task, so sub-policies move between them."""

    @property
    def observation_size(self) -> int:
        sys = self.physics.sys
        return sys.q_size() + sys.qd_size()

    @property
    def action_space(self) -> Box:
        return Box(self.physics.sys.act_size(), -1.0, 1.0)

    @property
    def position_observation_dims(self) -> tuple[int, ...]:
        return (0, 1)  # the torso's x, y: the observation starts with q

    def observation(self, pipeline_state: Any) -> jax.Array:
        """What the agent sees of a physics state: (q, qd); independent of the task."""
        return jnp.concatenate([pipeline_state.q, pipeline_state.qd]).astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class TwoWalk(AntBody, Environment[TwoWalkTask, BraxState]):
    """Brax Ant that must walk to a hidden target, (5, 0) or (0, 5) by task.

    Observation (29 floats): the Ant's generalized coordinates and velocities, q (15: torso
    xyz, torso quaternion, 8 joint angles) then qd (14). Unlike Brax's Ant it keeps the torso
    x, y: a walker has to know where it is to stop at the target, and its position does not
    reveal which target pays. Nothing task-dependent is observed.

    Reward per step: progress toward the target in m/s, (d_before - d_after) / dt with d the
    torso's xy distance to the target and dt = 0.05 s (Brax Ant: 5 frames of 0.01 s, or 10 of
    0.005 s on spring/positional), minus `ctrl_cost_weight * |a|^2` (a clipped to [-1, 1]).
    Progress telescopes: an episode's progress sums to (d_0 - d_T) / dt, at most 100 for a
    start at the origin. No alive bonus.

    Termination as Brax Ant: the torso's height leaves [0.2, 1.0] m (legs collapsed, since in
    Brax's Ant only the feet touch the floor, or bounced up), or `episode_length` steps.
    Start: Brax Ant's (standing at the origin, joint angles +-0.1 uniform noise, velocities
    0.1 * N(0, 1)), the same for both tasks.
    """

    episode_length: int = 1000
    backend: str = DEFAULT_BACKEND
    """Brax physics pipeline: one of BACKENDS."""
    ctrl_cost_weight: float = 0.5 * 0.01
    """Control cost per step is this times |a|^2 (a in [-1, 1]^8)."""
    terminates_early: ClassVar[bool] = True
    truncates: ClassVar[bool] = True

    min_torso_z: ClassVar[float] = 0.2
    max_torso_z: ClassVar[float] = 1.0
    reset_noise_scale: ClassVar[float] = 0.1

    def __post_init__(self) -> None:
        validate_episode_length(self.episode_length)
        validate_backend(self.backend)
        validate_nonnegative("ctrl_cost_weight", self.ctrl_cost_weight)

    @property
    def physics(self) -> Any:
        return physics("ant", self.backend)

    @property
    def num_task_types(self) -> int:
        return len(TWOWALK_TARGETS)

    def task_type(self, task: TwoWalkTask) -> jax.Array:
        return task.target

    @property
    def episode_end_metrics(self) -> tuple[str, ...]:
        return ("distance_to_target",)

    def sample_task(self, key: jax.Array) -> TwoWalkTask:
        return TwoWalkTask(jax.random.randint(key, (), 0, len(TWOWALK_TARGETS), jnp.int32))

    def sample_task_of_type(self, key: jax.Array, task_type: jax.Array) -> TwoWalkTask:
        return TwoWalkTask(jnp.asarray(task_type, jnp.int32))

    def target(self, task: TwoWalkTask) -> jax.Array:
        """The task's target as world xy."""
        return jnp.asarray(TWOWALK_TARGETS, jnp.float32)[task.target]

    def reward(
        self, q_before: jax.Array, q_after: jax.Array, action: jax.Array, task: TwoWalkTask
    ) -> tuple[jax.Array, Info]:
        """(reward, its terms) of a step that moved the Ant from q_before to q_after."""
        reward, progress, ctrl_cost, distance = progress_reward(
            q_before, q_after, self.target(task), action, self.physics.dt,
            self.ctrl_cost_weight)
        return reward, {"progress": progress, "ctrl_cost": ctrl_cost,
                        "distance_to_target": distance}

    def fallen(self, q: jax.Array) -> jax.Array:
        """Whether the torso height is outside Brax Ant's healthy range (terminal)."""
        return (q[2] < self.min_torso_z) | (q[2] > self.max_torso_z)

    def reset(self, key: jax.Array, task: TwoWalkTask) -> tuple[jax.Array, BraxState]:
        del task  # the start is the same for every task
        pipeline_state = noisy_start(self.physics, key, self.reset_noise_scale)
        return self.observation(pipeline_state), BraxState(pipeline_state, jnp.int32(0))

    def step(
        self, key: jax.Array, state: BraxState, action: jax.Array, task: TwoWalkTask
    ) -> tuple[jax.Array, BraxState, jax.Array, jax.Array, Info]:
        del key  # the physics is deterministic
        action = jnp.clip(action, -1.0, 1.0)
        pipeline_state = self.physics.pipeline_step(state.pipeline_state, action)
        reward, info = self.reward(state.pipeline_state.q, pipeline_state.q, action, task)
        state = BraxState(pipeline_state, state.t + 1)
        done, ends = episode_end(self.fallen(pipeline_state.q), state.t >= self.episode_length,
                                 self.truncates)
        return self.observation(pipeline_state), state, reward, done, {**info, **ends}


# --- Ant maze -------------------------------------------------------------------------------

_WALL_HALF_SIZES = ((0.25, 2.0, 0.5), (0.25, 2.0, 0.5), (2.0, 0.25, 0.5), (2.0, 0.25, 0.5))
"""Half extents of the maze's four wall slots: two 4 m walls along y, two along x; 0.5 m
thick (a thin wall lets a fast torso tunnel through between physics substeps), 1 m high."""
_PARKED = (0.0, 0.0, -10.0)  # a wall slot a layout does not use sits far below the floor


def _wall(x: float, y: float) -> tuple[float, float, float]:
    return (x, y, 0.5)


MAZE_LAYOUTS = (
    # 0: a 4 m wall across the way to the goal at (6, 0).
    dict(goal=(6.0, 0.0), walls=(_wall(3.0, 0.0), _PARKED, _PARKED, _PARKED)),
    # 1: the same, turned: the goal at (0, 6) behind a wall along x.
    dict(goal=(0.0, 6.0), walls=(_PARKED, _PARKED, _wall(0.0, 3.0), _PARKED)),
    # 2: a cul-de-sac: the start sits in a U open toward -x, the goal at (6, 0) behind its
    #    bottom; going straight for the goal is a dead end, the way out leads away from it.
    dict(goal=(6.0, 0.0), walls=(_wall(3.0, 0.0), _PARKED, _wall(1.0, 2.0), _wall(1.0, -2.0))),
)
"""The maze tasks: each a goal (world xy) and the centres of the four wall slots."""


def _maze_xml() -> str:
    """Brax's ant.xml with four box walls; the torso and feet collide with them.

    Collision bits: walls have contype 0, conaffinity 3; the torso gets contype 2 (it hits
    walls but, as in Brax's Ant, not the floor, whose conaffinity is 1); the feet keep
    contype 1 (floor and walls). Leg capsules collide with nothing, as in Brax's Ant.
    """
    from etils import epath

    xml = (epath.resource_path("brax") / "envs/assets/ant.xml").read_text()
    torso = '<geom name="torso_geom" pos="0 0 0" size="0.25" type="sphere"/>'
    assert torso in xml, "brax's ant.xml changed: update _maze_xml"
    xml = xml.replace(torso, torso.replace("/>", ' contype="2" conaffinity="0"/>'))
    x, y, z = _PARKED  # the task's layout moves them into place (AntMaze.layout_physics)
    walls = "".join(
        f'<geom name="wall_{i}" type="box" size="{hx} {hy} {hz}" pos="{x} {y} {z}" '
        f'contype="0" conaffinity="3" rgba="0.7 0.7 0.7 1"/>'
        for i, (hx, hy, hz) in enumerate(_WALL_HALF_SIZES)
    )
    return xml.replace("</worldbody>", walls + "</worldbody>")


@functools.lru_cache(maxsize=None)
def maze_physics(backend: str) -> Any:
    """Brax's Ant (with its per-backend tuning) whose system has the maze's wall slots."""
    from brax.io import mjcf

    env = copy.copy(physics("ant", backend))
    tuned = env.sys
    with jax.ensure_compile_time_eval():  # concrete even inside a trace (see `physics`)
        sys = mjcf.loads(_maze_xml())
        sys = sys.tree_replace({
            "opt.timestep": tuned.opt.timestep,
            "opt.solver": tuned.opt.solver,
            "opt.disableflags": tuned.opt.disableflags,
            "opt.iterations": tuned.opt.iterations,
            "opt.ls_iterations": tuned.opt.ls_iterations,
        })
        env.sys = sys.replace(actuator=sys.actuator.replace(gear=tuned.actuator.gear))
    return env


@flax.struct.dataclass
class AntMazeTask:
    layout: jax.Array  # int32 scalar: index into the env's layouts


@dataclasses.dataclass(frozen=True)
class AntAmongWalls(Environment[AntMazeTask, BraxState]):
    """Brax Ant among walls: the hidden task is a layout (wall positions and goal).

    Observation, termination and start are twowalk's; the walls are physical (box geoms the
    torso and feet collide with) but not observed, and neither is the goal. Each layout places
    the same four wall slots (unused ones far below the floor), so the system differs between
    tasks only in `geom_pos`, which `reset` and `step` set from the task: under `vmap` every env
    simulates its own layout. Subclasses give the layouts and the reward.
    """

    layouts: ClassVar[tuple[dict[str, Any], ...]]
    episode_length: int = 1000
    backend: str = DEFAULT_BACKEND
    """Brax physics pipeline: one of BACKENDS."""
    terminates_early: ClassVar[bool] = True
    truncates: ClassVar[bool] = True

    def __post_init__(self) -> None:
        validate_episode_length(self.episode_length)
        validate_backend(self.backend)

    @property
    def _walker(self) -> TwoWalk:
        """Twowalk's observation and termination, shared."""
        return TwoWalk(self.episode_length, self.backend)

    @property
    def physics(self) -> Any:
        return maze_physics(self.backend)

    @property
    def observation_size(self) -> int:
        return self._walker.observation_size

    @property
    def action_space(self) -> Box:
        return self._walker.action_space

    @property
    def position_observation_dims(self) -> tuple[int, ...]:
        return self._walker.position_observation_dims

    def observation(self, pipeline_state: Any) -> jax.Array:
        """Twowalk's observation of a physics state."""
        return self._walker.observation(pipeline_state)

    @property
    def num_task_types(self) -> int:
        return len(self.layouts)

    def task_type(self, task: AntMazeTask) -> jax.Array:
        return task.layout

    @property
    def episode_end_metrics(self) -> tuple[str, ...]:
        return ("distance_to_goal",)

    def sample_task(self, key: jax.Array) -> AntMazeTask:
        return AntMazeTask(jax.random.randint(key, (), 0, len(self.layouts), jnp.int32))

    def sample_task_of_type(self, key: jax.Array, task_type: jax.Array) -> AntMazeTask:
        return AntMazeTask(jnp.asarray(task_type, jnp.int32))

    def goal(self, task: AntMazeTask) -> jax.Array:
        return jnp.asarray([layout["goal"] for layout in self.layouts], jnp.float32)[task.layout]

    def wall_boxes(self, layout: int) -> list[tuple[float, float, float, float]]:
        """(centre x, centre y, half length x, half length y) of each wall a layout stands up,
        for drawing it from above."""
        return [(x, y, hx, hy) for (x, y, z), (hx, hy, _) in
                zip(self.layouts[layout]["walls"], _WALL_HALF_SIZES) if z > 0]

    def layout_physics(self, task: AntMazeTask) -> Any:
        """The physics with the task's walls in place (a shallow copy with its own system)."""
        physics = copy.copy(self.physics)
        walls = jnp.asarray([layout["walls"] for layout in self.layouts], jnp.float32)
        first_wall = physics.sys.mj_model.geom("wall_0").id
        geom_pos = jnp.asarray(physics.sys.geom_pos, jnp.float32)
        geom_pos = jax.lax.dynamic_update_slice(geom_pos, walls[task.layout], (first_wall, 0))
        physics.sys = physics.sys.replace(geom_pos=geom_pos)
        return physics

    @abc.abstractmethod
    def reward(
        self, q_before: jax.Array, q_after: jax.Array, action: jax.Array, task: AntMazeTask
    ) -> tuple[jax.Array, Info]:
        """(reward, its terms) of a step that moved the Ant from q_before to q_after."""

    def reset(self, key: jax.Array, task: AntMazeTask) -> tuple[jax.Array, BraxState]:
        pipeline_state = noisy_start(self.layout_physics(task), key, TwoWalk.reset_noise_scale)
        return self.observation(pipeline_state), BraxState(pipeline_state, jnp.int32(0))

    def step(
        self, key: jax.Array, state: BraxState, action: jax.Array, task: AntMazeTask
    ) -> tuple[jax.Array, BraxState, jax.Array, jax.Array, Info]:
        del key  # the physics is deterministic
        action = jnp.clip(action, -1.0, 1.0)
        pipeline_state = self.layout_physics(task).pipeline_step(state.pipeline_state, action)
        reward, info = self.reward(state.pipeline_state.q, pipeline_state.q, action, task)
        state = BraxState(pipeline_state, state.t + 1)
        done, ends = episode_end(self._walker.fallen(pipeline_state.q),
                                 state.t >= self.episode_length, self.truncates)
        return self.observation(pipeline_state), state, reward, done, {**info, **ends}


@dataclasses.dataclass(frozen=True)
class AntMaze(AntAmongWalls):
    """Ant mazes: the transfer target for twowalk's sub-policies; task = one of MAZE_LAYOUTS.

    Reward per step: progress toward the layout's goal in m/s (straight-line distance) minus
    control cost, as twowalk. Straight-line progress makes layout 2 deceptive on purpose: the
    way around the cul-de-sac first leads away from the goal.
    """

    layouts: ClassVar[tuple[dict[str, Any], ...]] = MAZE_LAYOUTS
    ctrl_cost_weight: float = 0.5 * 0.01
    """Control cost per step is this times |a|^2 (a in [-1, 1]^8)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        validate_nonnegative("ctrl_cost_weight", self.ctrl_cost_weight)

    def reward(
        self, q_before: jax.Array, q_after: jax.Array, action: jax.Array, task: AntMazeTask
    ) -> tuple[jax.Array, Info]:
        reward, progress, ctrl_cost, distance = progress_reward(
            q_before, q_after, self.goal(task), action, self.physics.dt, self.ctrl_cost_weight)
        return reward, {"progress": progress, "ctrl_cost": ctrl_cost,
                        "distance_to_goal": distance}


COURSE_LAYOUTS = (
    # 0: a wall across the diagonal at y = 3 (x 2.5..6.5) and one at x = 3 (y -3..1): the way
    #    to the goal region around (6, 6) goes north first (x < 2.5), then east.
    dict(goal=(6.0, 6.0), walls=(_wall(3.0, -1.0), _PARKED, _wall(4.5, 3.0), _PARKED)),
    # 1: the same course mirrored across the diagonal: east first (y < 2.5), then north.
    dict(goal=(6.0, 6.0), walls=(_wall(3.0, 4.5), _PARKED, _wall(-1.0, 3.0), _PARKED)),
)
"""The obstacle courses: each a goal (world xy) and the centres of the four wall slots."""


@dataclasses.dataclass(frozen=True)
class AntObstacleCourse(AntAmongWalls):
    """Ant obstacle course with a sparse reward, for transfer of sub-policies trained elsewhere
    (e.g. twowalk's): task = one of COURSE_LAYOUTS, which order the two legs of the way take.

    Reward: 1 for every step that ends with the torso within `goal_radius` of the goal, 0
    otherwise (no shaping, no control cost), over 2000-step episodes: random exploration
    almost never gets there, so learning from scratch sees no signal (the paper: PPO 0, MLSH
    transfer 193).
    """

    layouts: ClassVar[tuple[dict[str, Any], ...]] = COURSE_LAYOUTS
    episode_length: int = 2000
    goal_radius: float = 1.0
    """Radius (m) of the goal region around the layout's goal."""

    def __post_init__(self) -> None:
        super().__post_init__()
        validate_positive("goal_radius", self.goal_radius)

    @property
    def episode_end_metrics(self) -> tuple[str, ...]:
        """The mean of `in_goal_region` over episodes is the share that ended in the region."""
        return ("distance_to_goal", "in_goal_region")

    def reward(
        self, q_before: jax.Array, q_after: jax.Array, action: jax.Array, task: AntMazeTask
    ) -> tuple[jax.Array, Info]:
        del q_before, action
        distance = jnp.linalg.norm(q_after[:2] - self.goal(task))
        reward = (distance <= self.goal_radius).astype(jnp.float32)
        return reward, {"distance_to_goal": distance, "in_goal_region": reward}
