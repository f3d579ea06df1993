"""Behaviour of the Brax tasks: hidden tasks, reward direction, ceiling, termination, backends.

Physics runs on the `spring` backend in the default tests (it compiles fastest; the task logic
does not depend on the backend); full random episodes on the default backend and on mjx, and an
MLSH update on twowalk, are `slow` tests.
"""

import functools
import pathlib
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.base import Box, wrap_for_training
from envs.ant import (
    COURSE_LAYOUTS,
    MAZE_LAYOUTS,
    AntMaze,
    AntMazeTask,
    AntObstacleCourse,
    TWOWALK_TARGETS,
    TwoWalk,
    TwoWalkTask,
)
from envs.brax_physics import BACKENDS, DEFAULT_BACKEND
from envs.humanoid import (
    CRAWL,
    WALK,
    CourseTask,
    WalkCrawlCourseSection,
    WalkCrawlForward,
    WalkCrawlTask,
)

FAST_BACKEND = "spring"
KEY = jax.random.key(0)
TARGETS = [TwoWalkTask(jnp.int32(i)) for i in range(len(TWOWALK_TARGETS))]
WALK_TASK, CRAWL_TASK = WalkCrawlTask(jnp.int32(WALK)), WalkCrawlTask(jnp.int32(CRAWL))


@functools.partial(jax.jit, static_argnames="env")
def run(env, key, task, actions):
    """Resets `env` under `task` and steps it through `actions`: (first obs, per-step outputs)."""
    reset_key, step_key = jax.random.split(key)
    obs, state = env.reset(reset_key, task)

    def body(state, xs):
        key, action = xs
        obs, state, reward, done, info = env.step(key, state, action, task)
        return state, (obs, state, reward, done, info["truncated"])

    return obs, jax.lax.scan(body, state, (jax.random.split(step_key, len(actions)), actions))[1]


def random_actions(env, steps):
    return jax.random.uniform(jax.random.key(7), (steps, env.action_space.dim), minval=-1.0,
                              maxval=1.0)


@pytest.fixture(scope="module")
def twowalk():
    return TwoWalk(backend=FAST_BACKEND, episode_length=10)


@pytest.fixture(scope="module")
def walk_crawl():
    return WalkCrawlForward(backend=FAST_BACKEND, episode_length=10)


@pytest.fixture(scope="module")
def twowalk_runs(twowalk):
    """The same 10 random actions from the same start under each target."""
    actions = random_actions(twowalk, 10)
    return [run(twowalk, KEY, task, actions) for task in TARGETS]


@pytest.fixture(scope="module")
def walk_crawl_runs(walk_crawl):
    actions = random_actions(walk_crawl, 10)
    return [run(walk_crawl, KEY, task, actions) for task in (WALK_TASK, CRAWL_TASK)]


def standing_q(env):
    return jnp.asarray(env.physics.sys.init_q, jnp.float32)


def with_xyz(q, x=None, y=None, z=None):
    for index, value in enumerate((x, y, z)):
        if value is not None:
            q = q.at[index].set(value)
    return q


# --- registry and configuration -------------------------------------------------------------


@pytest.mark.parametrize("name", ["twowalk", "walk_crawl", "walk_crawl_course", "ant_maze",
                                  "ant_obstacle_course", "ant_maze_small",
                                  "ant_obstacle_course_open", "walk_crawl_forward",
                                  "walk_crawl_course_section"])
def test_unknown_backend_is_rejected_naming_the_value_and_the_allowed_ones(name):
    with pytest.raises(ValueError) as error:
        envs.make(name, backend="nope")
    message = str(error.value)
    assert "backend='nope'" in message
    assert all(backend in message for backend in BACKENDS)


def test_brax_tasks_are_registered_and_their_settings_are_make_arguments():
    assert {"twowalk", "walk_crawl", "walk_crawl_course", "ant_maze", "ant_obstacle_course",
            "ant_maze_small", "ant_obstacle_course_open", "walk_crawl_forward",
            "walk_crawl_course_section"} <= set(envs.names())
    env = envs.make("twowalk", backend="spring", episode_length=5)
    assert env == TwoWalk(backend="spring", episode_length=5)
    assert envs.make("walk_crawl_forward").backend == DEFAULT_BACKEND
    with pytest.raises(ValueError, match="episode_length=0"):
        envs.make("walk_crawl_forward", episode_length=0)
    with pytest.raises(ValueError, match="ceiling_height=-1"):
        envs.make("walk_crawl_forward", ceiling_height=-1)


def test_importing_envs_does_not_import_brax_or_mujoco():
    code = ("import sys, envs; envs.make('twowalk'); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'brax', 'mujoco'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=pathlib.Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"


# --- twowalk --------------------------------------------------------------------------------


def test_twowalk_spaces_and_task_types(twowalk):
    assert twowalk.observation_size == 29 and twowalk.action_space == Box(8, -1.0, 1.0)
    assert twowalk.terminates_early and twowalk.num_task_types == 2
    tasks = jax.vmap(twowalk.sample_task)(jax.random.split(KEY, 1000))
    types = np.asarray(jax.vmap(twowalk.task_type)(tasks))
    assert set(types.tolist()) == {0, 1} and abs(types.mean() - 0.5) < 5 * np.sqrt(0.25 / 1000)


def test_twowalk_observation_is_identical_for_both_targets(twowalk, twowalk_runs):
    (first_a, (obs_a, state_a, reward_a, *_)), (first_b, (obs_b, state_b, reward_b, *_)) = \
        twowalk_runs
    chex.assert_shape(first_a, (twowalk.observation_size,))
    assert first_a.dtype == jnp.float32
    chex.assert_trees_all_equal(first_a, first_b)
    chex.assert_trees_all_equal((obs_a, state_a), (obs_b, state_b))
    assert not np.allclose(reward_a, reward_b)  # only the reward tells the targets apart
    np.testing.assert_array_equal(obs_a[:, :15], state_a.pipeline_state.q)
    dims = list(twowalk.position_observation_dims)
    np.testing.assert_array_equal(obs_a[:, dims], state_a.pipeline_state.q[:, :2])  # torso x, y


def test_twowalk_step_reward_is_progress_toward_the_target_minus_control_cost(
        twowalk, twowalk_runs):
    actions = random_actions(twowalk, 10)
    for task, (_, (_, state, reward, *_)) in zip(TARGETS, twowalk_runs):
        q = state.pipeline_state.q
        target = np.asarray(TWOWALK_TARGETS[int(task.target)])
        distance = np.linalg.norm(np.asarray(q[:, :2]) - target, axis=1)
        progress = (distance[:-1] - distance[1:]) / 0.05
        ctrl = twowalk.ctrl_cost_weight * np.sum(np.square(actions[1:]), axis=1)
        np.testing.assert_allclose(reward[1:], progress - ctrl, rtol=1e-4, atol=1e-4)


def test_twowalk_episode_ends_at_its_length_with_a_truncation(twowalk, twowalk_runs):
    assert twowalk.truncates
    for _, (_, state, _, done, truncated) in twowalk_runs:
        np.testing.assert_array_equal(done, [False] * 9 + [True])
        np.testing.assert_array_equal(truncated, [False] * 9 + [True])
        np.testing.assert_array_equal(state.t, np.arange(1, 11))


@pytest.mark.parametrize("target", [0, 1])
def test_twowalk_moving_toward_the_target_pays_more_than_moving_away(twowalk, target):
    task = TARGETS[target]
    start = standing_q(twowalk)
    direction = np.asarray(TWOWALK_TARGETS[target]) / 5.0
    action = jnp.zeros(8)

    def reward_after_moving(offset):
        moved = with_xyz(start, x=start[0] + offset[0], y=start[1] + offset[1])
        return float(twowalk.reward(start, moved, action, task)[0])

    toward, away = reward_after_moving(0.1 * direction), reward_after_moving(-0.1 * direction)
    sideways = reward_after_moving(0.1 * direction[::-1])
    assert toward > sideways > away
    assert toward == pytest.approx(0.1 / 0.05, rel=1e-4)  # progress is in m/s
    assert away == pytest.approx(-0.1 / 0.05, rel=1e-4)
    # The other target lies sideways of this one: the same move pays the other task ~nothing.
    toward_this = with_xyz(start, x=start[0] + 0.1 * direction[0], y=start[1] + 0.1 * direction[1])
    assert abs(float(twowalk.reward(start, toward_this, action, TARGETS[1 - target])[0])) < 0.05


def test_twowalk_control_cost_is_weight_times_squared_action(twowalk):
    q = standing_q(twowalk)
    still = float(twowalk.reward(q, q, jnp.zeros(8), TARGETS[0])[0])
    pushing = float(twowalk.reward(q, q, jnp.ones(8), TARGETS[0])[0])
    assert still == 0.0
    assert pushing == pytest.approx(-8 * twowalk.ctrl_cost_weight)


def test_twowalk_terminates_when_the_torso_leaves_brax_ants_height_range(twowalk):
    q = standing_q(twowalk)
    assert not twowalk.fallen(with_xyz(q, z=0.55))
    assert twowalk.fallen(with_xyz(q, z=0.15)) and twowalk.fallen(with_xyz(q, z=1.05))


# --- walk / crawl ---------------------------------------------------------------------------


def test_walk_crawl_observation_is_identical_for_walk_and_crawl(walk_crawl, walk_crawl_runs):
    assert walk_crawl.observation_size == 245
    assert walk_crawl.action_space == Box(17, -1.0, 1.0)
    (first_w, (obs_w, state_w, reward_w, *_)), (first_c, (obs_c, state_c, reward_c, *_)) = \
        walk_crawl_runs
    chex.assert_shape(first_w, (walk_crawl.observation_size,))
    chex.assert_trees_all_equal(first_w, first_c)
    chex.assert_trees_all_equal((obs_w, state_w), (obs_c, state_c))
    np.testing.assert_array_equal(obs_w[:, 0], state_w.pipeline_state.q[:, 0])  # torso x
    assert walk_crawl.position_observation_dims == (0,)
    # Standing at the start, the crawler's head is above the ceiling: the full alive bonus goes.
    np.testing.assert_allclose(reward_w - reward_c, walk_crawl.healthy_reward, rtol=1e-5)


def test_crawl_ceiling_penalises_a_standing_pose_that_walk_does_not(walk_crawl):
    standing = standing_q(walk_crawl)
    assert float(walk_crawl.head_top(standing)) > walk_crawl.ceiling_height + 0.3
    controls = jnp.zeros(17)
    walk_reward, walk_info = walk_crawl.reward(0.0, standing, controls, WALK_TASK)
    crawl_reward, crawl_info = walk_crawl.reward(0.0, standing, controls, CRAWL_TASK)
    assert float(walk_info["ceiling_penalty"]) == 0.0
    assert float(walk_reward) == walk_crawl.healthy_reward
    assert float(crawl_reward) == 0.0  # penalty = alive bonus: never worth falling on purpose
    assert not walk_crawl.fallen(standing, WALK_TASK)
    assert not walk_crawl.fallen(standing, CRAWL_TASK)


def test_a_crouch_under_the_ceiling_is_unpenalised_but_ends_a_walk(walk_crawl):
    crouched = with_xyz(standing_q(walk_crawl), z=0.9)
    assert float(walk_crawl.head_top(crouched)) < walk_crawl.ceiling_height
    assert float(walk_crawl.ceiling_penalty(crouched, CRAWL_TASK)) == 0.0
    assert walk_crawl.fallen(crouched, WALK_TASK)
    assert not walk_crawl.fallen(crouched, CRAWL_TASK)
    assert walk_crawl.fallen(with_xyz(crouched, z=0.5), CRAWL_TASK)


def test_head_height_follows_the_torso_orientation(walk_crawl):
    q = with_xyz(standing_q(walk_crawl), z=1.0)
    upright = q.at[3:7].set(jnp.array([1.0, 0.0, 0.0, 0.0]))
    pitched = q.at[3:7].set(jnp.array([np.cos(np.pi / 4), 0.0, np.sin(np.pi / 4), 0.0]))
    assert float(walk_crawl.head_top(upright)) == pytest.approx(1.0 + 0.19 + 0.09, abs=1e-6)
    assert float(walk_crawl.head_top(pitched)) == pytest.approx(1.0 + 0.09, abs=1e-6)
    # Partly above the ceiling: penalty proportional to the excess.
    just_above = with_xyz(upright, z=walk_crawl.ceiling_height - 0.28 + 0.02)
    assert float(walk_crawl.ceiling_penalty(just_above, CRAWL_TASK)) == pytest.approx(
        walk_crawl.ceiling_cost_weight * 0.02, rel=1e-3)


# --- walk / crawl course ---------------------------------------------------------------------

SECTIONS = [CourseTask(jnp.int32(i)) for i in range(3)]


@pytest.fixture(scope="module")
def walk_crawl_course():
    return WalkCrawlCourseSection(backend=FAST_BACKEND, episode_length=10)


def test_course_sees_what_walk_crawl_sees_whatever_the_section(walk_crawl, walk_crawl_course,
                                                              walk_crawl_runs):
    assert walk_crawl_course.observation_size == walk_crawl.observation_size
    assert walk_crawl_course.action_space == walk_crawl.action_space
    assert walk_crawl_course.num_task_types == 3
    assert walk_crawl_course.episode_end_metrics == ("torso_x", "passed_section")
    actions = random_actions(walk_crawl_course, 10)
    runs = [run(walk_crawl_course, KEY, task, actions) for task in SECTIONS]
    (first_walk, (obs_walk, *_)) = walk_crawl_runs[0]
    for first, (obs, *_) in runs:
        chex.assert_trees_all_equal((first, obs), (first_walk, obs_walk))


@pytest.mark.parametrize("section", [0, 2])
def test_course_ceiling_penalises_the_head_only_over_its_section(walk_crawl_course, section):
    task = SECTIONS[section]
    start = walk_crawl_course.section_starts[section]
    end = start + walk_crawl_course.section_length
    standing = standing_q(walk_crawl_course)
    controls = jnp.zeros(17)
    for x, penalised in [(start - 0.1, False), (start + 0.1, True), (end - 0.1, True),
                         (end + 0.1, False)]:
        reward, info = walk_crawl_course.reward(0.0, with_xyz(standing, x=x), controls, task)
        assert float(info["ceiling_penalty"]) == (walk_crawl_course.healthy_reward
                                                  if penalised else 0.0), x
        assert float(reward) == (0.0 if penalised else walk_crawl_course.healthy_reward), x
        assert float(info["passed_section"]) == float(x > end), x
    assert set(walk_crawl_course.episode_end_metrics) <= set(info)
    # Bent forward, the head reaches under the ceiling before the torso does.
    bent = with_xyz(standing, x=start - 0.1, z=1.3).at[3:7].set(
        jnp.array([np.cos(np.pi / 4), 0.0, np.sin(np.pi / 4), 0.0]))
    assert walk_crawl_course.ceiling_penalty(bent, task) > 0.0


def test_course_allows_a_crouch_only_around_its_section(walk_crawl_course):
    task = SECTIONS[1]  # ceiling over x in [4, 7]; a crouch is healthy over [2.5, 8.5]
    crouched = with_xyz(standing_q(walk_crawl_course), z=0.9)
    assert walk_crawl_course.fallen(with_xyz(crouched, x=2.4), task)  # still on open floor
    assert not walk_crawl_course.fallen(with_xyz(crouched, x=2.6), task)  # getting down
    assert not walk_crawl_course.fallen(with_xyz(crouched, x=5.0), task)  # under the ceiling
    assert not walk_crawl_course.fallen(with_xyz(crouched, x=8.4), task)  # getting up
    assert walk_crawl_course.fallen(with_xyz(crouched, x=8.6), task)  # past it: walk again
    assert walk_crawl_course.fallen(with_xyz(crouched, x=5.0, z=0.5), task)
    assert not walk_crawl_course.fallen(with_xyz(standing_q(walk_crawl_course), x=5.0), task)


def test_course_task_is_the_section_and_bad_settings_are_rejected(walk_crawl_course):
    tasks = jax.vmap(walk_crawl_course.sample_task)(jax.random.split(KEY, 300))
    assert set(np.asarray(tasks.section).tolist()) == {0, 1, 2}
    np.testing.assert_array_equal(walk_crawl_course.task_type(tasks), tasks.section)
    with pytest.raises(ValueError, match=r"section_starts=\(1, 1\): must be .* distinct"):
        envs.make("walk_crawl_course_section", section_starts=(1, 1))
    two = envs.make("walk_crawl_course_section", section_starts=[2, 4])
    assert two.section_starts == (2.0, 4.0)
    with pytest.raises(ValueError, match="section_length=0"):
        envs.make("walk_crawl_course_section", section_length=0)
    with pytest.raises(ValueError, match="posture_margin=-1"):
        envs.make("walk_crawl_course_section", posture_margin=-1)


# --- full random episodes on the default backend and mjx (slow: minutes of compilation) -----


@pytest.mark.slow
@pytest.mark.parametrize("backend", sorted({DEFAULT_BACKEND, "mjx"}))
@pytest.mark.parametrize("name", ["twowalk", "walk_crawl", "walk_crawl_course", "ant_maze",
                                  "ant_obstacle_course", "ant_maze_small",
                                  "ant_obstacle_course_open", "walk_crawl_forward",
                                  "walk_crawl_course_section"])
def test_full_random_episode_stays_finite(name, backend):
    env = envs.make(name, backend=backend)
    wrapped = wrap_for_training(env)
    batch, steps = 16, env.episode_length

    @jax.jit
    def episode(key):
        task_key, reset_key, step_key = jax.random.split(key, 3)
        tasks = jax.vmap(env.sample_task)(jax.random.split(task_key, batch))
        _, state = jax.vmap(wrapped.reset)(jax.random.split(reset_key, batch), tasks)

        def body(state, key):
            action_key, env_key = jax.random.split(key)
            actions = jax.random.uniform(action_key, (batch, env.action_space.dim),
                                         minval=-1.0, maxval=1.0)
            obs, state, reward, done, _ = jax.vmap(wrapped.step)(
                jax.random.split(env_key, batch), state, actions, tasks)
            finite = jnp.all(jnp.isfinite(obs)) & jnp.all(jnp.isfinite(reward))
            return state, (finite, done.sum())

        state, (finite, dones) = jax.lax.scan(body, state, jax.random.split(step_key, steps))
        physics = state.env_state.pipeline_state
        return finite, dones.sum(), jnp.all(jnp.isfinite(physics.q))

    finite, episodes, q_finite = episode(KEY)
    assert bool(jnp.all(finite)) and bool(q_finite)
    assert int(episodes) >= batch  # the 1000-step limit alone ends one episode per env


@pytest.mark.slow
def test_mlsh_trainer_runs_an_update_on_twowalk_unchanged():
    from mlsh_jax.config import PPOConfig, RunConfig
    from mlsh_jax.mlsh import mlsh_update
    from mlsh_jax.spec import MLSHSpec
    from compiled import init_jit

    config = RunConfig(env="twowalk", num_slots=2, envs_per_slot=2, rollout_steps=20,
                       macro_duration=5, warmup_updates=1, joint_updates=1, stagger=True,
                       num_subpolicies=2, total_updates=2, log_every=2,
                       master_ppo=PPOConfig(learning_rate=1e-2, epochs=1, num_minibatches=1),
                       sub_ppo=PPOConfig(learning_rate=3e-4, epochs=1, num_minibatches=1))
    spec = MLSHSpec.build(config)
    state = init_jit(spec, jax.random.PRNGKey(0))
    update = jax.jit(lambda s: mlsh_update(spec, s))
    # No slot trains φ before its master's W = 1 warmup update: φ changes in the second.
    new_state, metrics = update(update(state)[0])
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(metrics)
               if jnp.issubdtype(x.dtype, jnp.floating))
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), new_state.subpolicies.params,
                           state.subpolicies.params)
    assert any(jax.tree.leaves(changed))


# --- ant maze -------------------------------------------------------------------------------


LAYOUTS = [AntMazeTask(jnp.int32(i)) for i in range(len(MAZE_LAYOUTS))]


@pytest.fixture(scope="module")
def ant_maze():
    return AntMaze(backend=FAST_BACKEND, episode_length=20)


def runs_from(env, x, y):
    """Per layout of `env`: the first observation of an ordinary reset, and the torso q over
    20 zero-action steps from a standing start with the torso at (x, y)."""

    @jax.jit
    def run_layout(task):
        physics = env.layout_physics(task)
        q = jnp.asarray(physics.sys.init_q).at[0].set(x).at[1].set(y)
        first_obs, state = env.reset(KEY, task)
        state = state.replace(pipeline_state=physics.pipeline_init(q, jnp.zeros(14)))

        def body(state, key):
            obs, state, reward, done, _ = env.step(key, state, jnp.zeros(8), task)
            return state, state.pipeline_state.q

        return first_obs, jax.lax.scan(body, state, jax.random.split(KEY, 20))[1]

    return [run_layout(AntMazeTask(jnp.int32(i))) for i in range(len(env.layouts))]


@pytest.fixture(scope="module")
def maze_runs(ant_maze):
    """Runs from a start with the torso overlapping the x = 3 wall (x = 2.8)."""
    return runs_from(ant_maze, 2.8, 0.0)


def test_ant_maze_layouts_are_hidden_tasks_with_their_own_goals(ant_maze, maze_runs):
    assert envs.make("ant_maze_small", backend=FAST_BACKEND).num_task_types == \
        len(MAZE_LAYOUTS) >= 3
    assert ant_maze.observation_size == 29
    assert ant_maze.position_observation_dims == (0, 1)  # twowalk's observation: q first
    first = [obs for obs, _ in maze_runs]
    for obs in first[1:]:
        chex.assert_trees_all_equal(obs, first[0])
    start = standing_q(ant_maze)
    for task in LAYOUTS:
        goal = np.asarray(MAZE_LAYOUTS[int(task.layout)]["goal"])
        toward = with_xyz(start, x=0.1 * goal[0] / 6, y=0.1 * goal[1] / 6)
        away = with_xyz(start, x=-0.1 * goal[0] / 6, y=-0.1 * goal[1] / 6)
        assert float(ant_maze.reward(start, toward, jnp.zeros(8), task)[0]) == pytest.approx(2.0)
        assert float(ant_maze.reward(start, away, jnp.zeros(8), task)[0]) == pytest.approx(-2.0)


def test_ant_maze_walls_push_the_torso_out_only_in_the_layouts_that_have_them(maze_runs):
    final_x = {int(task.layout): float(q[-1, 0]) for task, (_, q) in zip(LAYOUTS, maze_runs)}
    # Layouts 0 and 2 have a wall spanning x in [2.75, 3.25]; the torso (radius 0.25) at
    # x = 2.8 overlaps it by 0.3 m and is pushed back to touching it (x = 2.5). Layout 1 has
    # no wall there.
    assert final_x[0] < 2.55 and final_x[2] < 2.55
    assert abs(final_x[1] - 2.8) < 0.15
    assert all(np.all(np.isfinite(q)) for _, q in maze_runs)


# --- ant obstacle course --------------------------------------------------------------------


@pytest.fixture(scope="module")
def course():
    return AntObstacleCourse(backend=FAST_BACKEND, episode_length=20)


@pytest.fixture(scope="module")
def course_runs(course):
    """Runs from a start with the torso at (2.8, 0): inside course 0's x = 3 wall (y -3..1)
    only; course 1's x = 3 wall spans y 2.5..6.5."""
    return runs_from(course, 2.8, 0.0)


def test_open_obstacle_course_is_sparse_with_hidden_layouts_and_2000_step_episodes(
        course, course_runs):
    assert envs.make("ant_obstacle_course_open").episode_length == 2000
    assert course.num_task_types == len(COURSE_LAYOUTS) >= 2
    assert course.episode_end_metrics == ("distance_to_goal", "in_goal_region")
    assert course.observation_size == TwoWalk(backend=FAST_BACKEND).observation_size
    first = [obs for obs, _ in course_runs]
    chex.assert_trees_all_equal(first[1], first[0])
    start, zero = standing_q(course), jnp.zeros(8)
    for index in range(len(COURSE_LAYOUTS)):
        task = AntMazeTask(jnp.int32(index))
        goal_x, goal_y = COURSE_LAYOUTS[index]["goal"]
        inside = with_xyz(start, x=goal_x + 0.9, y=goal_y)
        outside = with_xyz(start, x=goal_x + 1.1, y=goal_y)
        near = with_xyz(start, x=goal_x - 1.2, y=goal_y)
        assert float(course.reward(start, inside, jnp.ones(8), task)[0]) == 1.0
        assert float(course.reward(start, inside, zero, task)[1]["in_goal_region"]) == 1.0
        assert float(course.reward(start, outside, zero, task)[0]) == 0.0
        assert float(course.reward(start, outside, zero, task)[1]["in_goal_region"]) == 0.0
        assert float(course.reward(outside, near, zero, task)[0]) == 0.0  # no shaping


def test_obstacle_course_walls_stand_where_each_layout_puts_them(course_runs):
    final_x = [float(q[-1, 0]) for _, q in course_runs]
    assert final_x[0] < 2.55  # pushed out of course 0's wall
    assert abs(final_x[1] - 2.8) < 0.15  # course 1 has no wall there
    assert all(np.all(np.isfinite(q)) for _, q in course_runs)


def test_physics_first_built_inside_a_jit_trace_is_cached_concrete():
    envs.ant.maze_physics.cache_clear()
    env = AntMaze(backend="positional", episode_length=3)
    jax.eval_shape(env.reset, KEY, LAYOUTS[0])  # first use of this physics: inside a trace
    assert not any(isinstance(leaf, jax.core.Tracer)
                   for leaf in jax.tree.leaves(env.physics.sys))
