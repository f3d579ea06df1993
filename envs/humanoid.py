"""Brax Humanoid tasks with a virtual ceiling: `walk_crawl_forward` (walk on an open floor or
crawl forward under a hidden low ceiling) and `walk_crawl_course_section` (walk, crawl under a
ceiling that covers one hidden section of the track, walk on). Both observe the same function
of the physics state, so the first's sub-policies transfer to the second. They are this
project's earlier Walk/Crawl and course, kept so that their runs and
`pretrained/walk_crawl_forward` stay usable; `envs.humanoid_original` has the tasks as the
original MLSH code defines them (`walk_crawl`, `walk_crawl_course`), with a solid box and
contacts for every body part.
Shared Brax machinery: `envs.brax_physics`.

Why a virtual ceiling and not a geom added to the MJCF: (1) every task must share one reset
distribution, or the first observation would reveal the task, and a standing start under a
solid ceiling lower than the head would start in deep penetration; (2) in Brax's Humanoid only
the feet collide with anything (every other geom has contype = conaffinity = 0), so a solid
ceiling would need new contact pairs for head, torso and arms on every backend (more contacts
each step, and backend-specific collision support to verify); (3) a per-task ceiling geom
would make the system itself per-task data under `vmap`.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from envs.base import (
    Box,
    Environment,
    Info,
    TaskT,
    episode_end,
    validate_episode_length,
    validate_nonnegative,
    validate_positive,
)
from envs.brax_physics import DEFAULT_BACKEND, BraxState, physics, validate_backend

WALK, CRAWL = 0, 1


def rotate(vector: jax.Array, quaternion: jax.Array) -> jax.Array:
    """`vector` rotated by the unit quaternion (w, x, y, z)."""
    w, u = quaternion[0], quaternion[1:]
    return vector + 2.0 * jnp.cross(u, jnp.cross(u, vector) + w * vector)


class HumanoidBody:
    """What every Humanoid task observes and where its head is, given its `physics`: the torso's
    x then Brax Humanoid's observation, so sub-policies move between all of them."""

    head_offset: ClassVar[tuple[float, float, float]] = (0.0, 0.0, 0.19)
    head_radius: ClassVar[float] = 0.09
    # Walking's terms, the same in every Humanoid task (the original's Humanoid-v1 walk).
    forward_reward_weight: ClassVar[float] = 1.25
    healthy_reward: ClassVar[float] = 5.0
    ctrl_cost_weight: ClassVar[float] = 0.1
    walk_min_torso_z: ClassVar[float] = 1.0
    reset_noise_scale: ClassVar[float] = 0.01

    @property
    def observation_size(self) -> int:
        sys = self.physics.sys
        return 1 + (sys.q_size() - 2) + 2 * sys.qd_size() + 16 * sys.num_links()

    @property
    def action_space(self) -> Box:
        return Box(self.physics.sys.act_size(), -1.0, 1.0)

    @property
    def position_observation_dims(self) -> tuple[int, ...]:
        return (0,)  # the torso's x

    def observation(self, pipeline_state: Any, controls: jax.Array) -> jax.Array:
        """The torso's x and Brax Humanoid's observation of a physics state and the last
        (scaled) controls."""
        brax_obs = self.physics._get_obs(pipeline_state, controls)
        return jnp.concatenate([pipeline_state.q[:1], brax_obs]).astype(jnp.float32)

    def head_centre(self, q: jax.Array) -> jax.Array:
        """World xyz of the head sphere's centre (the head is rigidly attached to the torso)."""
        return q[:3] + rotate(jnp.asarray(self.head_offset, jnp.float32), q[3:7])

    def head_top(self, q: jax.Array) -> jax.Array:
        """Height of the top of the head."""
        return self.head_centre(q)[2] + self.head_radius


@dataclasses.dataclass(frozen=True)
class HumanoidUnderCeiling(HumanoidBody, Environment[TaskT, BraxState]):
    """Brax Humanoid going forward (+x), where a hidden virtual ceiling may cover the way.

    Observation (245 floats): the torso's x, then Brax Humanoid's observation (q without torso
    x, y; qd; centre-of-mass-based inertia and velocity per body; actuator forces of the last
    action), the same function of the physics state in every task. Brax leaves the position
    out; the torso x is kept because on a course the Humanoid has to know how far along it is
    to crouch in time (as twowalk keeps the Ant's x, y), and it does not reveal the task. The
    ceiling is not observed.

    Reward per step, as Brax Humanoid: 1.25 * (centre-of-mass x velocity, m/s) + alive bonus 5
    - 0.1 * |u|^2 (u the action scaled to the actuators' [-0.4, 0.4] range), and where the
    ceiling is over the head (its x within `ceiling_extent`) minus the ceiling penalty

        min(5, ceiling_cost_weight * max(0, head_top_z - ceiling_height))

    where head_top_z is the top of the head sphere (torso frame offset (0, 0, 0.19), radius
    0.09). The penalty never exceeds the alive bonus, so falling on purpose never pays.

    Termination: the torso height leaves [min, 2.0] m, with min = `crawl_min_torso_z` where a
    crouch is allowed (torso x within the ceiling's extent widened by `posture_margin` on each
    side), low enough to get under the ceiling (an upright torso with the head at the ceiling
    sits at about ceiling_height - 0.28 m), and Brax Humanoid's 1.0 m elsewhere; or
    `episode_length` steps, a truncation. Start: Brax Humanoid's (standing, +-0.01 uniform
    noise on q and qd), the same for every task.
    """

    episode_length: int = 1000
    backend: str = DEFAULT_BACKEND
    """Brax physics pipeline: one of BACKENDS."""
    ceiling_height: float = 1.25
    """Height (m) of the ceiling above the floor; a standing head top is ~1.6 m."""
    ceiling_cost_weight: float = 50.0
    """Penalty per metre of head above the ceiling (capped at the alive bonus)."""
    crawl_min_torso_z: float = 0.6
    """Where a crouch is allowed, the episode ends when the torso drops below this height
    (elsewhere below 1.0 m)."""
    terminates_early: ClassVar[bool] = True
    truncates: ClassVar[bool] = True
    posture_margin: ClassVar[float] = 0.0
    """Distance (m) before and after the ceiling over which a crouch is healthy; 0 for
    walk_crawl_forward, whose ceiling covers the whole floor or none of it (the course makes it
    a setting)."""

    max_torso_z: ClassVar[float] = 2.0

    def __post_init__(self) -> None:
        validate_episode_length(self.episode_length)
        validate_backend(self.backend)
        validate_positive("ceiling_height", self.ceiling_height)
        validate_nonnegative("ceiling_cost_weight", self.ceiling_cost_weight)
        validate_positive("crawl_min_torso_z", self.crawl_min_torso_z)

    @abc.abstractmethod
    def ceiling_extent(self, task: TaskT) -> tuple[jax.Array, jax.Array]:
        """The x interval (m) the task's ceiling covers: (-inf, inf) for the whole floor,
        (inf, -inf) for none."""

    def ceiling_over(self, q: jax.Array, task: TaskT) -> jax.Array:
        """Whether the ceiling is over the head of a Humanoid in pose q."""
        start, end = self.ceiling_extent(task)
        head_x = self.head_centre(q)[0]
        return (head_x >= start) & (head_x <= end)

    def crouch_allowed(self, q: jax.Array, task: TaskT) -> jax.Array:
        """Whether a torso down to `crawl_min_torso_z` is healthy in pose q: near the ceiling,
        so the Humanoid can get down before it and up after it."""
        start, end = self.ceiling_extent(task)
        return (q[0] >= start - self.posture_margin) & (q[0] <= end + self.posture_margin)

    @property
    def physics(self) -> Any:
        return physics("humanoid", self.backend)

    def ceiling_penalty(self, q: jax.Array, task: TaskT) -> jax.Array:
        """Cost of the head being above a ceiling that is over it (capped at the alive bonus)."""
        above = jnp.maximum(self.head_top(q) - self.ceiling_height, 0.0)
        penalty = jnp.minimum(self.healthy_reward, self.ceiling_cost_weight * above)
        return jnp.where(self.ceiling_over(q, task), penalty, 0.0)

    def fallen(self, q: jax.Array, task: TaskT) -> jax.Array:
        """Whether the torso height is outside the healthy range where it is (terminal)."""
        min_z = jnp.where(self.crouch_allowed(q, task), self.crawl_min_torso_z,
                          self.walk_min_torso_z)
        return (q[2] < min_z) | (q[2] > self.max_torso_z)

    def reward(
        self, forward_velocity: jax.Array, q_after: jax.Array, controls: jax.Array, task: TaskT,
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

    def reset(self, key: jax.Array, task: TaskT) -> tuple[jax.Array, BraxState]:
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
        self, key: jax.Array, state: BraxState, action: jax.Array, task: TaskT
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


@flax.struct.dataclass
class WalkCrawlTask:
    crawl: jax.Array  # int32 scalar: WALK (0) or CRAWL (1)


class WalkOrCrawl:
    """What every Walk/Crawl task shares: the hidden task is WALK or CRAWL, drawn uniformly
    (two task types), and an episode's end is judged by how far the torso got (`torso_x`)."""

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

    def sample_task_of_type(self, key: jax.Array, task_type: jax.Array) -> WalkCrawlTask:
        return WalkCrawlTask(jnp.asarray(task_type, jnp.int32))


@dataclasses.dataclass(frozen=True)
class WalkCrawlForward(WalkOrCrawl, HumanoidUnderCeiling[WalkCrawlTask]):
    """Brax Humanoid that must go forward: upright (walk) or under a hidden low ceiling (crawl)
    that covers the whole floor; crawl allows the crouch everywhere, walk nowhere."""

    def ceiling_extent(self, task: WalkCrawlTask) -> tuple[jax.Array, jax.Array]:
        crawl = task.crawl == CRAWL
        return jnp.where(crawl, -jnp.inf, jnp.inf), jnp.where(crawl, jnp.inf, -jnp.inf)


@flax.struct.dataclass
class CourseTask:
    section: jax.Array  # int32 scalar: index into the env's section_starts


@dataclasses.dataclass(frozen=True)
class WalkCrawlCourseSection(HumanoidUnderCeiling[CourseTask]):
    """A combination course: walk, crawl under a ceiling over one section of the track, walk
    on. The task is where the section begins (one of `section_starts`), hidden.

    The ceiling covers head x in [start, start + section_length]; a crouch is healthy for torso
    x from `posture_margin` before the section to `posture_margin` after it; elsewhere the
    walk's 1.0 m minimum torso height holds. Observation, reward and ends are
    walk_crawl_forward's, so its sub-policies transfer: a master, which sees the torso x, has to
    learn where to switch from the walking skill to the crawling one and back.

    Sizes: with walk_crawl_forward's N = 200 (3 s at dt = 0.015 s) the master switches at most
    every 3 s, so the section (3 m) and the margins (1.5 m) span seconds at walking speed.
    The penalty is walk_crawl_forward's, capped at the alive bonus: a fast walker that keeps its
    head up through the section loses at most 5 per step there, which can cost less than a slow
    crawl; `passed_section` therefore counts passing, not how.
    """

    section_starts: tuple[float, ...] = (2.0, 4.0, 6.0)
    """Torso x (m) where the ceiling section begins, one per task (the start is at x = 0)."""
    section_length: float = 3.0
    """Length (m) of the section the ceiling covers."""
    posture_margin: float = 1.5
    """Distance (m) before and after the section over which a crouch is healthy."""

    def __post_init__(self) -> None:
        super().__post_init__()
        starts = self.section_starts
        numbers = isinstance(starts, (tuple, list)) and all(
            isinstance(s, (int, float, np.floating, np.integer)) and not isinstance(s, bool)
            and np.isfinite(s) for s in starts)
        if not numbers or not starts or len(set(starts)) != len(starts):
            raise ValueError(f"section_starts={starts!r}: must be a non-empty sequence of "
                             "distinct finite numbers (m)")
        object.__setattr__(self, "section_starts", tuple(float(s) for s in starts))  # hashable
        validate_positive("section_length", self.section_length)
        validate_nonnegative("posture_margin", self.posture_margin)

    @property
    def num_task_types(self) -> int:
        return len(self.section_starts)

    def task_type(self, task: CourseTask) -> jax.Array:
        return task.section

    @property
    def episode_end_metrics(self) -> tuple[str, ...]:
        return ("torso_x", "passed_section")

    def sample_task(self, key: jax.Array) -> CourseTask:
        return CourseTask(jax.random.randint(key, (), 0, len(self.section_starts), jnp.int32))

    def sample_task_of_type(self, key: jax.Array, task_type: jax.Array) -> CourseTask:
        return CourseTask(jnp.asarray(task_type, jnp.int32))

    def ceiling_extent(self, task: CourseTask) -> tuple[jax.Array, jax.Array]:
        start = jnp.asarray(self.section_starts, jnp.float32)[task.section]
        return start, start + self.section_length

    def reward(
        self, forward_velocity: jax.Array, q_after: jax.Array, controls: jax.Array,
        task: CourseTask,
    ) -> tuple[jax.Array, Info]:
        """walk_crawl_forward's reward; its terms also say whether the torso is past the section."""
        reward, info = super().reward(forward_velocity, q_after, controls, task)
        passed = (q_after[0] > self.ceiling_extent(task)[1]).astype(jnp.float32)
        return reward, {**info, "passed_section": passed}
