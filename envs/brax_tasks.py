"""Brax-backed MLSH tasks: Ant `twowalk` (paper §6.3), Ant `ant_maze` and `ant_obstacle_course`,
Humanoid `walk_crawl`.

All four wrap the physics of Brax's own Ant / Humanoid systems (brax 0.14, `brax.envs`) behind
the functional API of `envs.base`: the env is a frozen, hashable dataclass of static settings,
the Brax pipeline state travels in an explicit `BraxState`, and the hidden task is a pytree
argument that is never observed: in twowalk and walk_crawl it changes only rewards and
terminations, in ant_maze and ant_obstacle_course also where the (unobserved) walls stand.
A fall terminates an episode; the time limit only truncates it (`info["truncated"]`: the
walker could go on, so learners bootstrap from its last state, as Brax's PPO does).

Brax (and MuJoCo/MJX behind it) is imported on first use of the physics, not when this module
is imported, so `import envs` stays fast. The physics of each (system, backend) is built once
per process (`physics`) and closed over by every jitted step, like `brax.envs` does.

Backends: `mjx` (MuJoCo XLA, the one Brax maintains), `spring`, `positional`, `generalized`,
a field of every env here; `python -m benchmarks.brax_backends` measures them and
`DEFAULT_BACKEND` is its pick (see there).
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

from envs.base import Box, Environment, Info, episode_end, validate_episode_length

BACKENDS = ("mjx", "spring", "positional", "generalized")
DEFAULT_BACKEND = "spring"
"""Chosen by measurement (`python -m benchmarks.brax_backends`, the team's 2-core CPU, one core
free for it): env steps/s with random actions through the training wrappers, batch 128 / 1024,

    twowalk (Ant)       spring 13.4k / 10.4k   mjx 9.6k / 9.9k   generalized 5.3k / 5.5k
                        positional 4.3k / 4.8k
    walk_crawl (Hum.)   spring  8.4k /  7.7k   mjx 4.8k / 5.0k   positional 3.6k / 3.6k
                        generalized 2.0k / 2.4k

and compile 20-40 s for spring against 45-80 s for mjx; every backend stayed finite over the
NaN check. `spring` is the fastest for both systems at both sizes. Choose `mjx` for
MuJoCo-faithful dynamics (MuJoCo's solver; the backend Brax maintains) at ~0.6-0.95x speed.
The backends are different physics, not just different speeds: with random actions the Ant's
episodes end after ~38 steps on mjx and generalized (it bounces above the 1 m height limit)
against ~600-900 on spring and positional."""

TWOWALK_TARGETS = ((5.0, 0.0), (0.0, 5.0))
"""World xy of the twowalk targets, indexed by `TwoWalkTask.target`."""


@functools.lru_cache(maxsize=None)
def physics(system: str, backend: str) -> Any:
    """Brax's `system` env ("ant" or "humanoid") on `backend`: its sys, dt and pipeline.

    Only the physics of the returned `brax.envs.PipelineEnv` is used (`sys`, `dt`,
    `pipeline_init`, `pipeline_step`, and for Humanoid its observation and centre of mass);
    rewards, terminations and resets are this module's. Brax's per-backend tuning of the
    system (time step, frames per step, solver, actuator gears) is kept as Brax ships it.
    """
    from brax import envs as brax_envs  # deferred: importing brax/mujoco takes seconds

    # Built once and cached: its arrays must be concrete even when first asked for inside a
    # jit trace, or the cache would hold leaked tracers.
    with jax.ensure_compile_time_eval():
        return brax_envs.get_environment(system, backend=backend)


@flax.struct.dataclass
class BraxState:
    """One Brax episode: the physics pipeline's state and the step counter."""

    pipeline_state: Any  # the backend's pipeline state (q, qd, x, xd, ... as Brax defines)
    t: jax.Array  # int32 steps taken this episode


def _validate_backend(backend: object) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}: must be one of {', '.join(BACKENDS)}")


def _validate_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name}={value!r}: must be a number > 0")


def _validate_nonnegative(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name}={value!r}: must be a number >= 0")


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


def rotate(vector: jax.Array, quaternion: jax.Array) -> jax.Array:
    """`vector` rotated by the unit quaternion (w, x, y, z)."""
    w, u = quaternion[0], quaternion[1:]
    return vector + 2.0 * jnp.cross(u, jnp.cross(u, vector) + w * vector)


# --- Ant twowalk ----------------------------------------------------------------------------


@flax.struct.dataclass
class TwoWalkTask:
    target: jax.Array  # int32 scalar: index into TWOWALK_TARGETS


@dataclasses.dataclass(frozen=True)
class TwoWalk(Environment[TwoWalkTask, BraxState]):
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
        _validate_backend(self.backend)
        _validate_nonnegative("ctrl_cost_weight", self.ctrl_cost_weight)

    @property
    def physics(self) -> Any:
        return physics("ant", self.backend)

    @property
    def observation_size(self) -> int:
        sys = self.physics.sys
        return sys.q_size() + sys.qd_size()

    @property
    def action_space(self) -> Box:
        return Box(self.physics.sys.act_size(), -1.0, 1.0)

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

    def target(self, task: TwoWalkTask) -> jax.Array:
        """The task's target as world xy."""
        return jnp.asarray(TWOWALK_TARGETS, jnp.float32)[task.target]

    def observation(self, pipeline_state: Any) -> jax.Array:
        """What the agent sees of a physics state: (q, qd); independent of the task."""
        return jnp.concatenate([pipeline_state.q, pipeline_state.qd]).astype(jnp.float32)

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


# --- Humanoid walk / crawl ------------------------------------------------------------------

WALK, CRAWL = 0, 1


@flax.struct.dataclass
class WalkCrawlTask:
    crawl: jax.Array  # int32 scalar: WALK (0, open floor) or CRAWL (1, low ceiling)


@dataclasses.dataclass(frozen=True)
class WalkCrawl(Environment[WalkCrawlTask, BraxState]):
    """Brax Humanoid that must go forward (+x): upright (walk) or under a hidden low ceiling.

    Observation: Brax Humanoid's (q without torso x, y; qd; centre-of-mass-based inertia and
    velocity per body; actuator forces of the last action), 244 floats, the same function of
    the physics state in both tasks. The ceiling is not observed.

    Reward per step, as Brax Humanoid: 1.25 * (centre-of-mass x velocity, m/s) + alive bonus 5
    - 0.1 * |u|^2 (u the action scaled to the actuators' [-0.4, 0.4] range), and in the crawl
    task minus the ceiling penalty

        min(5, ceiling_cost_weight * max(0, head_top_z - ceiling_height))

    where head_top_z is the top of the head sphere (torso frame offset (0, 0, 0.19), radius
    0.09). The penalty never exceeds the alive bonus, so falling on purpose never pays.

    Why a virtual ceiling and not a geom added to the MJCF: (1) the two tasks must share one
    reset distribution, or the first observation would reveal the task, and a standing start
    under a solid ceiling lower than the head would start in deep penetration; (2) in Brax's
    Humanoid only the feet collide with anything (every other geom has contype = conaffinity =
    0), so a solid ceiling would need new contact pairs for head, torso and arms on every
    backend (more contacts each step, and backend-specific collision support to verify); (3) a
    per-task ceiling geom would make the system itself per-task data under `vmap`.

    Termination: the torso height leaves [min, 2.0] m, with min = 1.0 m for walk (Brax
    Humanoid's) and `crawl_min_torso_z` for crawl, low enough to crouch under the ceiling (an
    upright torso with the head at the ceiling sits at about ceiling_height - 0.28 m); or
    `episode_length` steps. Start: Brax Humanoid's (standing, +-0.01 uniform noise on q and
    qd), the same for both tasks.
    """

    episode_length: int = 1000
    backend: str = DEFAULT_BACKEND
    """Brax physics pipeline: one of BACKENDS."""
    ceiling_height: float = 1.25
    """Crawl task: height (m) of the ceiling above the floor; a standing head top is ~1.6 m."""
    ceiling_cost_weight: float = 50.0
    """Crawl task: penalty per metre of head above the ceiling (capped at the alive bonus)."""
    crawl_min_torso_z: float = 0.6
    """Crawl task: the episode ends when the torso drops below this height (walk: 1.0 m)."""
    terminates_early: ClassVar[bool] = True
    truncates: ClassVar[bool] = True

    forward_reward_weight: ClassVar[float] = 1.25
    healthy_reward: ClassVar[float] = 5.0
    ctrl_cost_weight: ClassVar[float] = 0.1
    walk_min_torso_z: ClassVar[float] = 1.0
    max_torso_z: ClassVar[float] = 2.0
    reset_noise_scale: ClassVar[float] = 0.01
    head_offset: ClassVar[tuple[float, float, float]] = (0.0, 0.0, 0.19)
    head_radius: ClassVar[float] = 0.09

    def __post_init__(self) -> None:
        validate_episode_length(self.episode_length)
        _validate_backend(self.backend)
        _validate_positive("ceiling_height", self.ceiling_height)
        _validate_nonnegative("ceiling_cost_weight", self.ceiling_cost_weight)
        _validate_positive("crawl_min_torso_z", self.crawl_min_torso_z)

    @property
    def physics(self) -> Any:
        return physics("humanoid", self.backend)

    @property
    def observation_size(self) -> int:
        sys = self.physics.sys
        return (sys.q_size() - 2) + 2 * sys.qd_size() + 16 * sys.num_links()

    @property
    def action_space(self) -> Box:
        return Box(self.physics.sys.act_size(), -1.0, 1.0)

    @property
    def num_task_types(self) -> int:
        return 2

    def task_type(self, task: WalkCrawlTask) -> jax.Array:
        return task.crawl

    @property
    def episode_end_metrics(self) -> tuple[str, ...]:
        return ("torso_x",)

    def sample_task(self, key: jax.Array) -> WalkCrawlTask:
        return WalkCrawlTask(jax.random.randint(key, (), 0, 2, jnp.int32))

    def observation(self, pipeline_state: Any, controls: jax.Array) -> jax.Array:
        """Brax Humanoid's observation of a physics state and the last (scaled) controls."""
        return self.physics._get_obs(pipeline_state, controls).astype(jnp.float32)

    def head_top(self, q: jax.Array) -> jax.Array:
        """Height of the top of the head (the head is rigidly attached to the torso)."""
        offset = rotate(jnp.asarray(self.head_offset, jnp.float32), q[3:7])
        return q[2] + offset[2] + self.head_radius

    def ceiling_penalty(self, q: jax.Array, task: WalkCrawlTask) -> jax.Array:
        """Crawl: cost of the head being above the ceiling (capped at the alive bonus); walk: 0."""
        above = jnp.maximum(self.head_top(q) - self.ceiling_height, 0.0)
        penalty = jnp.minimum(self.healthy_reward, self.ceiling_cost_weight * above)
        return jnp.where(task.crawl == CRAWL, penalty, 0.0)

    def fallen(self, q: jax.Array, task: WalkCrawlTask) -> jax.Array:
        """Whether the torso height is outside the task's healthy range (terminal)."""
        min_z = jnp.where(task.crawl == CRAWL, self.crawl_min_torso_z, self.walk_min_torso_z)
        return (q[2] < min_z) | (q[2] > self.max_torso_z)

    def reward(
        self, forward_velocity: jax.Array, q_after: jax.Array, controls: jax.Array,
        task: WalkCrawlTask,
    ) -> tuple[jax.Array, Info]:
        """(reward, its terms) of a step ending in q_after with the given centre-of-mass
        x velocity and actuator controls."""
        forward = self.forward_reward_weight * forward_velocity
        ctrl_cost = self.ctrl_cost_weight * jnp.sum(jnp.square(controls))
        ceiling = self.ceiling_penalty(q_after, task)
        reward = (forward + self.healthy_reward - ctrl_cost - ceiling).astype(jnp.float32)
        return reward, {"forward_reward": forward, "ctrl_cost": ctrl_cost,
                        "ceiling_penalty": ceiling, "head_top": self.head_top(q_after),
                        "torso_x": q_after[0]}

    def reset(self, key: jax.Array, task: WalkCrawlTask) -> tuple[jax.Array, BraxState]:
        del task  # the start is the same for every task
        physics = self.physics
        sys = physics.sys
        q_key, qd_key = jax.random.split(key)
        noise = self.reset_noise_scale
        q = sys.init_q + jax.random.uniform(q_key, (sys.q_size(),), minval=-noise, maxval=noise)
        qd = jax.random.uniform(qd_key, (sys.qd_size(),), minval=-noise, maxval=noise)
        pipeline_state = physics.pipeline_init(q, qd)
        obs = self.observation(pipeline_state, jnp.zeros(sys.act_size()))
        return obs, BraxState(pipeline_state, jnp.int32(0))

    def step(
        self, key: jax.Array, state: BraxState, action: jax.Array, task: WalkCrawlTask
    ) -> tuple[jax.Array, BraxState, jax.Array, jax.Array, Info]:
        del key  # the physics is deterministic
        physics = self.physics
        low, high = physics.sys.actuator.ctrl_range[:, 0], physics.sys.actuator.ctrl_range[:, 1]
        controls = low + (jnp.clip(action, -1.0, 1.0) + 1.0) * 0.5 * (high - low)
        pipeline_state = physics.pipeline_step(state.pipeline_state, controls)
        com_before = physics._com(state.pipeline_state)[0]
        com_after = physics._com(pipeline_state)[0]
        forward_velocity = (com_after[0] - com_before[0]) / physics.dt
        reward, info = self.reward(forward_velocity, pipeline_state.q, controls, task)
        state = BraxState(pipeline_state, state.t + 1)
        done, ends = episode_end(self.fallen(pipeline_state.q, task),
                                 state.t >= self.episode_length, self.truncates)
        return self.observation(pipeline_state, controls), state, reward, done, {**info, **ends}


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
        _validate_backend(self.backend)

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
    def num_task_types(self) -> int:
        return len(self.layouts)

    def task_type(self, task: AntMazeTask) -> jax.Array:
        return task.layout

    @property
    def episode_end_metrics(self) -> tuple[str, ...]:
        return ("distance_to_goal",)

    def sample_task(self, key: jax.Array) -> AntMazeTask:
        return AntMazeTask(jax.random.randint(key, (), 0, len(self.layouts), jnp.int32))

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
        return self._walker.observation(pipeline_state), BraxState(pipeline_state, jnp.int32(0))

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
        return self._walker.observation(pipeline_state), state, reward, done, {**info, **ends}


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
        _validate_nonnegative("ctrl_cost_weight", self.ctrl_cost_weight)

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
        _validate_positive("goal_radius", self.goal_radius)

    def reward(
        self, q_before: jax.Array, q_after: jax.Array, action: jax.Array, task: AntMazeTask
    ) -> tuple[jax.Array, Info]:
        del q_before, action
        distance = jnp.linalg.norm(q_after[:2] - self.goal(task))
        reward = (distance <= self.goal_radius).astype(jnp.float32)
        return reward, {"distance_to_goal": distance}
