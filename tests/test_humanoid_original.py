"""The Humanoid tasks as the original MLSH code defines them (`walk_crawl`, `walk_crawl_course`;
envs/humanoid_original.py): each rule of walk and crawl, the solid box, and the course's phase.

By default the rules are checked on the pure functions that apply them (`rules`,
`crawling_after`, `box`) and on the system's collision bits. The physics (slow: compiling a
step with every body part in contact takes tens of seconds) runs on the default backend once
per task family: one vmapped scan over prepared starts (poses, velocities and tasks) whose
trajectories several tests read, and one vmapped step of the course from prepared states.
"""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.brax_physics import BraxState
from envs.humanoid import CRAWL, WALK, WalkCrawlTask
from envs.humanoid_original import (
    BOX_BOTTOM,
    BOX_HALF_SIZE,
    COURSE_BOX_X,
    PARKED_BOX,
    WALK_CRAWL_BOX_X,
    CourseState,
    FixedCourse,
    WalkCrawl,
    WalkCrawlCourse,
    box_centre,
    box_x_span,
)

STEPS = 18
"""Steps of each prepared start: 0.27 s, 1.08 m at the 4 m/s the slides start with, while a
body in the air falls 0.36 m."""
SLIDE_SPEED = -4.0
"""x velocity (m/s) of the slides toward the box's face at x = -0.5."""
LYING = jnp.array([np.cos(np.pi / 4), 0.0, -np.sin(np.pi / 4), 0.0])
"""Torso orientation of a body lying along x, head toward -x, arms up: its parts span
x in [torso x - 0.28, torso x + 1.3] and z in [torso z - 0.12, torso z + 0.4]."""
LYING_X = -0.1
"""Torso x of the lying starts: the head's back at -0.38, 0.12 m before the box's face."""
WALK_TASK, CRAWL_TASK = WalkCrawlTask(jnp.int32(WALK)), WalkCrawlTask(jnp.int32(CRAWL))


@pytest.fixture(scope="module")
def walk_crawl():
    return WalkCrawl(episode_length=STEPS)


@pytest.fixture(scope="module")
def course():
    return WalkCrawlCourse()


def pose(env, x=0.0, z=None, quaternion=None):
    """Brax's standing pose moved to torso x (and z, orientation when given)."""
    q = jnp.asarray(env.physics.sys.init_q, jnp.float32).at[0].set(x)
    q = q if z is None else q.at[2].set(z)
    return q if quaternion is None else q.at[3:7].set(quaternion)


def sliding(env, vx=SLIDE_SPEED):
    """Velocities of the whole body moving along x at `vx` m/s."""
    return jnp.zeros(env.physics.sys.qd_size()).at[0].set(vx)


# name: (task, q, qd, random actions?) of each prepared start
def starts(env):
    qd_zero = jnp.zeros(env.physics.sys.qd_size())
    standing = pose(env)
    return {
        "standing into the box": (CRAWL_TASK, standing, sliding(env), False),
        "standing, walk": (WALK_TASK, standing, sliding(env), False),
        "lying at 0.55 m into the box": (
            CRAWL_TASK, pose(env, LYING_X, 0.55, LYING), sliding(env), False),
        "lying at 1.5 m into the box": (
            CRAWL_TASK, pose(env, LYING_X, 1.5, LYING), sliding(env), False),
        "lying at 0.55 m, walk": (WALK_TASK, pose(env, LYING_X, 0.55, LYING), qd_zero, False),
        "random walk": (WALK_TASK, standing, qd_zero, True),
        "random crawl": (CRAWL_TASK, standing, qd_zero, True),
    }


@functools.partial(jax.jit, static_argnames="env")
def trajectories(env, tasks, q, qd, actions):
    """Each start (batched) stepped through its actions: per-step (obs, state, reward, done,
    info), time first."""

    def one(task, q, qd, actions):
        state = BraxState(env.physics.pipeline_init(q, qd), jnp.int32(0))

        def body(state, action):
            obs, state, reward, done, info = env.step(jax.random.key(0), state, action, task)
            return state, (obs, state, reward, done, info)

        return jax.lax.scan(body, state, actions)[1]

    return jax.vmap(one)(tasks, q, qd, actions)


@pytest.fixture(scope="module")
def runs(walk_crawl):
    """{name: that start's trajectory}."""
    table = starts(walk_crawl)
    dim = walk_crawl.action_space.dim
    noise = jax.random.uniform(jax.random.key(3), (STEPS, dim), minval=-1.0, maxval=1.0)
    actions = jnp.stack([noise if random else jnp.zeros((STEPS, dim))
                         for _, _, _, random in table.values()])
    stack = lambda i: jax.tree.map(lambda *x: jnp.stack(x), *[row[i] for row in table.values()])
    out = jax.device_get(trajectories(walk_crawl, stack(0), stack(1), stack(2), actions))
    return {name: jax.tree.map(lambda x, i=i: x[i], out) for i, name in enumerate(table)}


def com_x(env, pipeline_states):
    """The centre of mass's x along a trajectory (Brax's own mass weighting per backend)."""
    return np.asarray(jax.vmap(lambda s: env.physics._com(s)[0][0])(pipeline_states))


def rules(env, crawl, velocity=0.0, z=1.4, controls=None):
    """(reward, terminated) of a step that ends with the torso at height z."""
    q = pose(env, z=z)
    controls = jnp.zeros(env.action_space.dim) if controls is None else controls
    reward, terminated, _ = env.rules(jnp.bool_(crawl), jnp.float32(velocity), q, controls)
    return float(reward), bool(terminated)


def step_reward(env, crawl, velocity, z=1.4, controls=None):
    return rules(env, crawl, velocity, z, controls)[0]


def terminates(env, crawl, z):
    return rules(env, crawl, z=z)[1]


# --- registry, spaces, the system -----------------------------------------------------------


def test_walk_crawl_and_its_course_are_the_original_tasks_and_the_earlier_ones_are_kept():
    assert isinstance(envs.make("walk_crawl"), WalkCrawl)
    assert isinstance(envs.make("walk_crawl_course"), WalkCrawlCourse)
    assert envs.make("walk_crawl_course").episode_length == 3000
    assert envs.make("walk_crawl").episode_length == 1000
    assert {"walk_crawl_forward", "walk_crawl_course_section"} <= set(envs.names())
    with pytest.raises(ValueError, match="episode_length=0"):
        envs.make("walk_crawl_course", episode_length=0)


def test_every_body_part_touches_the_floor_and_the_box_but_not_another_body_part(walk_crawl):
    model = walk_crawl.physics.sys.mj_model
    contype, conaffinity = model.geom_contype, model.geom_conaffinity
    floor, box = model.geom("floor").id, model.geom("obstacle").id
    body = [i for i in range(model.ngeom) if i not in (floor, box)]
    assert len(body) == 17
    touches = lambda a, b: bool(contype[a] & conaffinity[b] or contype[b] & conaffinity[a])
    assert all(touches(i, floor) and touches(i, box) for i in body)
    assert not any(touches(i, j) for i in body for j in body)
    assert not touches(floor, box)
    np.testing.assert_allclose(model.geom_size[box], BOX_HALF_SIZE)


def test_the_crawl_box_spans_the_original_s_volume_and_the_walk_box_is_out_of_reach(walk_crawl):
    low, high = (np.asarray(walk_crawl.box(CRAWL_TASK)) + sign * np.asarray(BOX_HALF_SIZE)
                 for sign in (-1, 1))
    np.testing.assert_allclose(low, (-23.5, -11.5, 1.0), atol=1e-6)
    np.testing.assert_allclose(high, (-0.5, 11.5, 2.0), atol=1e-6)
    assert WALK_CRAWL_BOX_X == (-23.5, -0.5) and BOX_BOTTOM == 1.0
    np.testing.assert_array_equal(walk_crawl.box(WALK_TASK), PARKED_BOX)
    assert PARKED_BOX[2] + BOX_HALF_SIZE[2] < 0.0  # under the floor


def test_the_start_does_not_depend_on_the_task(walk_crawl, course):
    assert walk_crawl.observation_size == 245 and walk_crawl.action_space.dim == 17
    assert walk_crawl.num_task_types == 2 and walk_crawl.position_observation_dims == (0,)
    for env, task in [(walk_crawl, WALK_TASK), (course, FixedCourse(jnp.int32(0)))]:
        traced = jax.make_jaxpr(env.reset)(jax.random.key(5), task).jaxpr
        task_vars = {id(v) for v in traced.invars[1:]}  # after the key
        read = {id(v) for eqn in traced.eqns for v in eqn.invars}
        assert not task_vars & (read | {id(v) for v in traced.outvars}), env


# --- the rules ------------------------------------------------------------------------------


def test_crawl_pays_7_5_per_metre_per_second_backward_and_no_alive_bonus(walk_crawl):
    assert step_reward(walk_crawl, True, -1.0) == pytest.approx(7.5)
    assert step_reward(walk_crawl, True, 1.0) == pytest.approx(-7.5)
    assert step_reward(walk_crawl, True, 0.0) == 0.0  # lying or standing still earns nothing
    assert step_reward(walk_crawl, True, 0.0, z=0.2) == 0.0


def test_walk_pays_5_plus_1_25_per_metre_per_second_only_at_1_m_or_higher(walk_crawl):
    assert step_reward(walk_crawl, False, 1.0) == pytest.approx(6.25)
    assert step_reward(walk_crawl, False, -1.0) == pytest.approx(3.75)
    assert step_reward(walk_crawl, False, 1.0, z=1.0) == pytest.approx(6.25)
    assert step_reward(walk_crawl, False, 1.0, z=0.99) == 0.0  # the falling step pays no bonus


def test_control_cost_is_0_1_times_the_squared_controls_in_actuator_units(walk_crawl):
    full = 0.4 * jnp.ones(walk_crawl.action_space.dim)
    for crawl, pay in [(True, 0.0), (False, 5.0)]:
        assert step_reward(walk_crawl, crawl, 0.0, controls=full) == pytest.approx(
            pay - 0.1 * 17 * 0.16, rel=1e-5)


def test_walk_ends_below_1_m_with_no_upper_limit(walk_crawl):
    assert terminates(walk_crawl, False, z=0.999)
    assert not terminates(walk_crawl, False, z=1.0)
    assert not terminates(walk_crawl, False, z=2.5)


def test_crawl_never_terminates(walk_crawl):
    for z in (0.1, 0.5, 0.99, 1.4, 2.5):
        assert not terminates(walk_crawl, True, z=z)


def test_the_course_switches_to_crawl_once_the_torso_passes_25_m_for_good(course):
    def after(crawling, x):
        return bool(course.crawling_after(jnp.bool_(crawling), pose(course, x)))

    assert not after(False, 24.99) and not after(False, 25.0)
    assert after(False, 25.01) and after(False, 40.0)
    assert after(True, 10.0) and after(True, -3.0)  # back under the box: still the crawl


def test_the_course_lasts_3000_steps_and_is_one_fixed_course(course, walk_crawl):
    assert course.episode_length == 3000 and course.truncates
    tasks = jax.vmap(course.sample_task)(jax.random.split(jax.random.key(0), 50))
    np.testing.assert_array_equal(tasks.course, 0)
    assert course.num_task_types == 0  # nothing to tell apart or balance
    assert course.episode_end_metrics == ("torso_x", "crawl_phase")
    assert course.observation_size == walk_crawl.observation_size
    assert course.position_observation_dims == walk_crawl.position_observation_dims == (0,)


def test_the_course_box_is_parked_until_the_crawl_phase_then_over_0_5_to_23_5(course):
    np.testing.assert_array_equal(course.box(jnp.bool_(False)), PARKED_BOX)
    np.testing.assert_allclose(course.box(jnp.bool_(True)), box_centre(COURSE_BOX_X))
    assert COURSE_BOX_X == (0.5, 23.5) and box_centre(COURSE_BOX_X)[0] == 12.0
    assert box_x_span(course.box(jnp.bool_(True))) == COURSE_BOX_X  # placed: read back
    assert box_x_span(course.box(jnp.bool_(False))) is None  # parked: out of reach


# --- real steps: the rules and the box's physics (slow) -------------------------------------


@pytest.mark.slow
def test_the_task_shows_only_in_the_reward_until_the_body_touches_the_box(walk_crawl, runs):
    key = jax.random.key(5)
    reset = jax.jit(walk_crawl.reset)
    chex.assert_trees_all_equal(reset(key, WALK_TASK), reset(key, CRAWL_TASK))
    # The same random actions from the same start, near the start (the box 0.5 m behind it).
    walk, crawl = runs["random walk"], runs["random crawl"]
    chex.assert_trees_all_equal(walk[0], crawl[0])
    np.testing.assert_array_equal(walk[0][:, 0], walk[1].pipeline_state.q[:, 0])  # torso x
    assert not np.allclose(walk[2], crawl[2])


@pytest.mark.slow
def test_real_steps_pay_the_centre_of_mass_velocity_as_each_task_says(walk_crawl, runs):
    for name, paid in [("random crawl", lambda v: -7.5 * v),
                       ("random walk", lambda v: 5.0 + 1.25 * v)]:
        _, states, rewards, _, info = runs[name]
        velocity = np.diff(com_x(walk_crawl, states.pipeline_state)) / walk_crawl.physics.dt
        np.testing.assert_allclose(rewards[1:], paid(velocity) - info["ctrl_cost"][1:],
                                   rtol=1e-4, atol=1e-4, err_msg=name)


@pytest.mark.slow
def test_in_real_steps_a_low_body_ends_a_walk_and_a_crawl_ends_only_at_the_time_limit(runs):
    _, _, rewards, done, info = runs["lying at 0.55 m, walk"]
    assert done[0] and not info["truncated"][0] and rewards[0] == 0.0
    for name in ("lying at 0.55 m into the box", "random crawl", "standing into the box"):
        _, _, _, done, info = runs[name]
        np.testing.assert_array_equal(done, [False] * (STEPS - 1) + [True])  # the time limit
        assert info["truncated"][-1], name


@pytest.mark.slow
def test_a_standing_body_cannot_pass_under_the_box(runs):
    q = runs["standing into the box"][1].pipeline_state.q
    # The torso (capsule radius 0.07, at ~1.4 m: inside the box's height band) stops at the
    # face x = -0.5; the same slide without the box (walk) carries it past.
    assert q[:, 0].min() > -0.5 + 0.07 - 0.03, q[:, 0]
    free = runs["standing, walk"][1].pipeline_state.q
    assert free[-1, 0] < -0.55, free[:, 0]


@pytest.mark.slow
def test_a_body_below_0_93_m_passes_under_the_box_and_one_above_1_m_does_not(runs):
    low = runs["lying at 0.55 m into the box"][1].pipeline_state.q
    high = runs["lying at 1.5 m into the box"][1].pipeline_state.q
    # Lying head first, every part of the low body below 0.95 m: it slides on unhindered,
    # its torso 0.6 m under the box; the same body at 1.5 m is held at the face by its head.
    assert low[:, 2].max() < 0.93 and low[-1, 0] < LYING_X - 0.95, low[:, 0]
    assert high[:, 2].min() > 1.0 + 0.12 and high[:, 0].min() > -0.5 + 0.28 - 0.03, high[:, 0]


@functools.partial(jax.jit, static_argnames="env")
def course_step(env, states):
    return jax.vmap(lambda s: env.step(jax.random.key(0), s, jnp.zeros(17), FixedCourse(
        jnp.int32(0))))(states)


@pytest.fixture(scope="module")
def course_steps(course):
    """One zero-action step from each prepared course state: {name: (obs, state, reward,
    done, info)}."""
    table = {  # name: (q, qd, t, crawling)
        "about to pass 25 m": (pose(course, 24.99), sliding(course, 2.0), 0, False),
        "before 25 m": (pose(course, 24.5), sliding(course, 2.0), 0, False),
        "crawling back under the box": (pose(course, 10.0, 0.55, LYING),
                                        sliding(course, -2.0), 500, True),
        "lying before 25 m": (pose(course, 10.0, 0.55, LYING), sliding(course, 0.0), 500,
                              False),
        "last step": (pose(course, 3.0), sliding(course, 0.0), 2999, False),
    }
    states = [CourseState(course.physics.pipeline_init(q, qd), jnp.int32(t), jnp.bool_(c))
              for q, qd, t, c in table.values()]
    out = jax.device_get(course_step(course, jax.tree.map(lambda *x: jnp.stack(x), *states)))
    return {name: jax.tree.map(lambda x, i=i: x[i], out) for i, name in enumerate(table)}


@pytest.mark.slow
def test_a_course_step_past_25_m_pays_the_crawl_and_one_before_it_the_walk(course_steps):
    _, state, reward, done, info = course_steps["about to pass 25 m"]
    assert state.pipeline_state.q[0] > 25.0 and state.crawling and info["crawl_phase"] == 1.0
    # From that step on: the crawl's reward (moving forward costs) and no alive bonus.
    assert reward == pytest.approx(-7.5 * info["x_velocity"] - info["ctrl_cost"], rel=1e-5)
    assert reward < 0.0 and not done
    _, state, reward, _, info = course_steps["before 25 m"]
    assert not state.crawling and info["crawl_phase"] == 0.0
    assert reward == pytest.approx(5.0 + 1.25 * info["x_velocity"] - info["ctrl_cost"],
                                   rel=1e-5)


@pytest.mark.slow
def test_a_course_step_in_the_crawl_phase_never_ends_it_while_before_it_a_fall_does(
        course_steps):
    _, state, reward, done, _ = course_steps["crawling back under the box"]
    assert state.crawling and not done and reward > 0.0  # going back under it, torso at 0.55 m
    _, state, _, done, info = course_steps["lying before 25 m"]
    assert not state.crawling and done and not info["truncated"]


@pytest.mark.slow
def test_the_course_s_3000th_step_ends_it_as_a_truncation(course_steps):
    _, state, _, done, info = course_steps["last step"]
    assert state.t == 3000 and done and info["truncated"]


@pytest.mark.slow
def test_the_course_starts_as_walk_crawl_does(course, walk_crawl):
    key = jax.random.key(9)
    course_obs, course_state = jax.jit(course.reset)(key, FixedCourse(jnp.int32(0)))
    walk_obs, walk_state = jax.jit(walk_crawl.reset)(key, WALK_TASK)
    chex.assert_trees_all_equal((course_obs, course_state.pipeline_state),
                                (walk_obs, walk_state.pipeline_state))
    assert not course_state.crawling
