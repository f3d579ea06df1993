"""Brax Humanoid tasks as the original MLSH code defines them: `walk_crawl` (its Humanoid-v1)
and `walk_crawl_course` (its HumanoidCourse-v1). `envs.humanoid` keeps the earlier variants,
`walk_crawl_forward` and `walk_crawl_course_section`, whose crawl goes forward under a virtual
ceiling.

Walk/Crawl needs two skills: walk stands and goes forward (+x), paid only while the torso is
at 1.0 m or higher; crawl goes backward (-x) under a solid box whose underside is 1.0 m above
the floor, which only a body whose torso is below ~0.93 m (its capsule radius is 0.07 m) can
pass. No posture serves both.

The body collides everywhere: Brax's Humanoid lets only its feet touch anything, so a body on
hands and knees or on its belly would sink through the floor and a head would pass through the
box. `contact_physics` builds our own system from Brax's humanoid.xml at load time: every
humanoid geom touches the floor and the box, none touches another humanoid geom (17 geoms x 2 =
34 contact pairs; the original's self-collision, 143 pairs, cost another ~1.6x in steps/s when
measured, and neither task is about limbs touching), and the box is one geom on the world body.

The box is the same geom in every task, placed by the task (the course: by its phase) through
the system's `geom_pos`, as the Ant's mazes place their walls: one compiled step serves every
task under `vmap`. The original moves it with a slide joint (aside, 30 m in y, in the walk task),
which would add a coordinate to q and to the observation; a geom's position is data of the
system, not of the state. In the walk task it is parked under the floor, out of every body
part's reach (it does not touch the floor). The task cannot be read from the start: every task
resets to the same standing pose, the box is not observed, and where it is in reach (crawl) it
begins 0.5 m behind the start, clear of every body part.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import xml.etree.ElementTree as ElementTree
from typing import Any, ClassVar

import flax.struct
import jax
import jax.numpy as jnp

from envs.base import Environment, Info, StateT, TaskT, episode_end, validate_episode_length
from envs.brax_physics import BraxState, physics, validate_backend
from envs.humanoid import CRAWL, HumanoidBody, WalkCrawlTask, WalkOrCrawl

CONTACT_BACKEND = "spring"
"""Default physics of these tasks, chosen by measurement (`python -m benchmarks.brax_backends
--envs walk_crawl --backends spring,mjx,positional,generalized --batch-sizes 128 --nan-batch
128`, a 2-core CPU; docs/environments.md): env steps/s at batch 128, median of 3 calls,

    spring 1.7k-2.2k   mjx 0.9k-1.3k   positional 0.8k   generalized: not done in 30 min

every backend that finished finite over 1000 steps. With every body part in contact, spring
is 3.5-4.5x slower than with feet only (walk_crawl_forward, 7.6k) and still the fastest.
Choose mjx for MuJoCo's solver and the original's gears."""

BOX_HALF_SIZE = (11.5, 11.5, 0.5)
"""The obstacle's half sizes (m): 23 m long and wide, from 1.0 to 2.0 m above the floor."""
BOX_BOTTOM = 1.0
"""Height (m) of the box's underside above the floor."""
WALK_CRAWL_BOX_X = (-23.5, -0.5)
"""Walk/Crawl's box in crawl spans this x (m): from 0.5 m behind the start backward."""
COURSE_BOX_X = (0.5, 23.5)
"""The course's box spans this x (m) once the crawl phase starts: behind the switch at 25 m."""
PARKED_BOX = (0.0, 0.0, -10.0)
"""Where the box is while the task has none: under the floor, out of every body part's reach."""
_BOX = "obstacle"


def box_centre(x_span: tuple[float, float]) -> tuple[float, float, float]:
    """Centre of the box spanning `x_span`, centred on y = 0, its underside at BOX_BOTTOM."""
    return (sum(x_span) / 2, 0.0, BOX_BOTTOM + BOX_HALF_SIZE[2])


def box_x_span(centre: Any) -> tuple[float, float] | None:
    """The x span (m) of the box centred at `centre` (a task's `box`), or None where it is
    parked out of reach: `box_centre`'s inverse, for pictures and summaries of episodes."""
    centre = tuple(float(c) for c in centre)
    if centre == PARKED_BOX:
        return None
    return (centre[0] - BOX_HALF_SIZE[0], centre[0] + BOX_HALF_SIZE[0])


def contact_xml() -> str:
    """Brax's humanoid.xml where every humanoid geom touches the floor and the box (contype 1,
    conaffinity 0: not each other), plus the box (contype 0, conaffinity 1), parked."""
    from etils import epath

    root = ElementTree.fromstring(
        (epath.resource_path("brax") / "envs/assets/humanoid.xml").read_text())
    worldbody = root.find("worldbody")
    assert worldbody is not None and worldbody.find("geom[@name='floor']") is not None, \
        "brax's humanoid.xml changed: update contact_xml"
    for body in worldbody.iter("body"):
        for geom in body.findall("geom"):
            geom.set("contype", "1")
            geom.set("conaffinity", "0")
    ElementTree.SubElement(worldbody, "geom", {
        "name": _BOX, "type": "box", "size": " ".join(map(str, BOX_HALF_SIZE)),
        "pos": " ".join(map(str, PARKED_BOX)), "contype": "0", "conaffinity": "1",
        "condim": "3", "rgba": "0.6 0.6 0.8 1"})
    return ElementTree.tostring(root, encoding="unicode")


@functools.lru_cache(maxsize=None)
def contact_physics(backend: str) -> Any:
    """Brax's Humanoid (its per-backend time step, solver and gears kept) whose system is
    `contact_xml`'s: the same bodies, masses and actuators, more contacts."""
    from brax.io import mjcf  # deferred: importing brax/mujoco takes seconds

    env = copy.copy(physics("humanoid", backend))
    tuned = env.sys
    with jax.ensure_compile_time_eval():  # concrete even inside a trace (see `physics`)
        sys = mjcf.loads(contact_xml())
        env.sys = sys.replace(opt=tuned.opt, actuator=tuned.actuator)
    return env


def with_box_at(env: Any, centre: jax.Array) -> Any:
    """`env` (a `contact_physics`) with its box centred at `centre`: a shallow copy."""
    placed = copy.copy(env)
    box = env.sys.mj_model.geom(_BOX).id
    placed.sys = env.sys.replace(geom_pos=jnp.asarray(env.sys.geom_pos).at[box].set(centre))
    return placed


@dataclasses.dataclass(frozen=True)
class HumanoidWithBox(HumanoidBody, Environment[TaskT, StateT]):
    """Brax Humanoid in contact everywhere, with a solid box the task places; the walk and
    crawl rules of the original code, per step.

    Observation (245 floats): the torso's x, then Brax Humanoid's observation (q without torso
    x, y, so with torso z; qd; centre-of-mass-based inertia and velocity per body; actuator
    forces of the last action), as `walk_crawl_forward`'s, in every task and on the course, so
    sub-policies transfer between them. The box is not observed.

    Per step, with v the centre of mass's x velocity (m/s) and u the action clipped to [-1, 1]
    and scaled to the actuators' [-0.4, 0.4]:

      walk:  -0.1 |u|^2, plus 5 + 1.25 v if the torso is at >= 1.0 m after the step; ends
             (a termination) when it is below 1.0 m;
      crawl: -7.5 v - 0.1 |u|^2 (the original's -1.5 per 3 ms step of backward motion); no
             alive bonus; never terminates.

    `episode_length` steps end an episode as a truncation. Start: Brax Humanoid's (standing
    at the origin, +-0.01 uniform noise on q and qd), the same for every task.
    """

    episode_length: int = 1000
    backend: str = CONTACT_BACKEND
    """Brax physics pipeline: one of BACKENDS."""
    terminates_early: ClassVar[bool] = True  # walk's fall
    truncates: ClassVar[bool] = True

    backward_reward_weight: ClassVar[float] = 7.5

    def __post_init__(self) -> None:
        validate_episode_length(self.episode_length)
        validate_backend(self.backend)

    @property
    def physics(self) -> Any:
        """The physics with the box parked (the task places it: `with_box_at`)."""
        return contact_physics(self.backend)

    def rules(self, crawl: jax.Array, forward_velocity: jax.Array, q_after: jax.Array,
              controls: jax.Array) -> tuple[jax.Array, jax.Array, Info]:
        """(reward, terminated, reward terms) of a step ending in q_after, under the crawl
        rules where `crawl`, else the walk rules."""
        ctrl_cost = self.ctrl_cost_weight * jnp.sum(jnp.square(controls))
        upright = q_after[2] >= self.walk_min_torso_z
        walk = jnp.where(upright, self.healthy_reward
                         + self.forward_reward_weight * forward_velocity, 0.0)
        crawl_reward = -self.backward_reward_weight * forward_velocity
        reward = (jnp.where(crawl, crawl_reward, walk) - ctrl_cost).astype(jnp.float32)
        terminated = ~crawl & ~upright
        return reward, terminated, {"x_velocity": forward_velocity, "ctrl_cost": ctrl_cost,
                                    "torso_x": q_after[0], "torso_z": q_after[2],
                                    "head_top": self.head_top(q_after)}

    def start(self, key: jax.Array) -> tuple[jax.Array, Any]:
        """(first observation, physics state) of an episode: the same in every task."""
        physics = self.physics
        sys = physics.sys
        q_key, qd_key = jax.random.split(key)
        noise = self.reset_noise_scale
        q = sys.init_q + jax.random.uniform(q_key, (sys.q_size(),), minval=-noise, maxval=noise)
        qd = jax.random.uniform(qd_key, (sys.qd_size(),), minval=-noise, maxval=noise)
        pipeline_state = physics.pipeline_init(q, qd)
        return self.observation(pipeline_state, jnp.zeros(sys.act_size())), pipeline_state

    def advance(self, box: jax.Array, pipeline_state: Any, action: jax.Array
                ) -> tuple[Any, jax.Array, jax.Array]:
        """(physics state after one step with the box centred at `box`, centre-of-mass x
        velocity over it, the controls it applied)."""
        physics = with_box_at(self.physics, box)
        low, high = physics.sys.actuator.ctrl_range[:, 0], physics.sys.actuator.ctrl_range[:, 1]
        controls = low + (jnp.clip(action, -1.0, 1.0) + 1.0) * 0.5 * (high - low)
        after = physics.pipeline_step(pipeline_state, controls)
        com_before = physics._com(pipeline_state)[0]
        com_after = physics._com(after)[0]
        return after, (com_after[0] - com_before[0]) / physics.dt, controls


@dataclasses.dataclass(frozen=True)
class WalkCrawl(WalkOrCrawl, HumanoidWithBox[WalkCrawlTask, BraxState]):
    """The original's Walk/Crawl (its Humanoid-v1): walk forward upright on an open floor, or
    crawl backward under a solid box (underside at 1.0 m, x in [-23.5, -0.5], |y| <= 11.5)
    without alive bonus or termination. The hidden task is WALK or CRAWL."""

    def box(self, task: WalkCrawlTask) -> jax.Array:
        """Centre of the task's box: behind the start in crawl, parked in walk."""
        return jnp.where(task.crawl == CRAWL, jnp.asarray(box_centre(WALK_CRAWL_BOX_X)),
                         jnp.asarray(PARKED_BOX))

    def reset(self, key: jax.Array, task: WalkCrawlTask) -> tuple[jax.Array, BraxState]:
        del task  # the start is the same for every task
        obs, pipeline_state = self.start(key)
        return obs, BraxState(pipeline_state, jnp.int32(0))

    def step(
        self, key: jax.Array, state: BraxState, action: jax.Array, task: WalkCrawlTask
    ) -> tuple[jax.Array, BraxState, jax.Array, jax.Array, Info]:
        del key  # the physics is deterministic
        pipeline_state, velocity, controls = self.advance(self.box(task), state.pipeline_state,
                                                          action)
        reward, terminated, info = self.rules(task.crawl == CRAWL, velocity, pipeline_state.q,
                                              controls)
        state = BraxState(pipeline_state, state.t + 1)
        done, ends = episode_end(terminated, state.t >= self.episode_length, self.truncates)
        return self.observation(pipeline_state, controls), state, reward, done, {**info, **ends}


@flax.struct.dataclass
class FixedCourse:
    """The course's task: there is one course, so nothing is hidden but the phase."""

    course: jax.Array  # int32 scalar, always 0


@flax.struct.dataclass
class CourseState:
    """One course episode: the physics, the step counter and the phase."""

    pipeline_state: Any
    t: jax.Array  # int32 steps taken this episode
    crawling: jax.Array  # bool: the torso has passed `switch_x`; the crawl phase lasts


@dataclasses.dataclass(frozen=True)
class WalkCrawlCourse(HumanoidWithBox[FixedCourse, CourseState]):
    """The original's combination course (its HumanoidCourse-v1), one fixed course: walk
    forward under the walk rules until the torso passes x = `switch_x` (25 m); from the step
    that passes it to the episode's end, the crawl rules, and a solid box (underside at 1.0 m)
    over x in [0.5, 23.5], behind the walker, which has to crawl back under it. 3000 steps.

    The phase is state, not task: it is not observed (the torso x is, as in `walk_crawl`,
    whose sub-policies therefore run unchanged here; the original instead puts the torso x in
    the slot where Walk/Crawl has the torso z, which its sub-policies never saw). The box
    appears 1.5 m or more behind a torso that has just passed 25 m, clear of every body part.
    """

    episode_length: int = 3000
    switch_x: ClassVar[float] = 25.0

    @property
    def episode_end_metrics(self) -> tuple[str, ...]:
        return ("torso_x", "crawl_phase")

    def sample_task(self, key: jax.Array) -> FixedCourse:
        del key  # one course: no task types to draw or balance
        return FixedCourse(jnp.int32(0))

    def crawling_after(self, crawling: jax.Array, q_after: jax.Array) -> jax.Array:
        """The phase after a step that ends in q_after: crawl once the torso has passed
        `switch_x`, to the episode's end."""
        return crawling | (q_after[0] > self.switch_x)

    def box(self, crawling: jax.Array) -> jax.Array:
        """Centre of the box: over [0.5, 23.5] in the crawl phase, parked before it."""
        return jnp.where(crawling, jnp.asarray(box_centre(COURSE_BOX_X)),
                         jnp.asarray(PARKED_BOX))

    def reset(self, key: jax.Array, task: FixedCourse) -> tuple[jax.Array, CourseState]:
        del task  # one course
        obs, pipeline_state = self.start(key)
        return obs, CourseState(pipeline_state, jnp.int32(0), jnp.bool_(False))

    def step(
        self, key: jax.Array, state: CourseState, action: jax.Array, task: FixedCourse
    ) -> tuple[jax.Array, CourseState, jax.Array, jax.Array, Info]:
        del key, task  # deterministic physics, one course
        pipeline_state, velocity, controls = self.advance(self.box(state.crawling),
                                                          state.pipeline_state, action)
        crawling = self.crawling_after(state.crawling, pipeline_state.q)
        reward, terminated, info = self.rules(crawling, velocity, pipeline_state.q, controls)
        state = CourseState(pipeline_state, state.t + 1, crawling)
        done, ends = episode_end(terminated, state.t >= self.episode_length, self.truncates)
        info = {**info, **ends, "crawl_phase": crawling.astype(jnp.float32)}
        return self.observation(pipeline_state, controls), state, reward, done, info

