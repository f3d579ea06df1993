"""The rules of `ant_maze` and `ant_obstacle_course` (envs.ant_arenas), as MLSH's own
environment code defines its mazes (AntObstaclesGen) and its obstacle course (AntObstaclesBig).

The rules that do not depend on the physics (no termination, the pose reset, episode length)
are tested on a stand-in physics, which makes thousands of steps cheap; rewards, regions, layouts
and block slots are pure functions. What needs Brax's physics (walls stop the ant, a flipped
ant is set upright) runs as `slow` tests on the spring backend.
"""

import dataclasses
import functools
import types

import chex
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.ant_arenas import (
    COURSE,
    COURSE_GOAL,
    MAZE,
    MAZE_BLOCK_CENTRES,
    MAZE_BLOCK_HALF,
    MAZE_LAYOUTS,
    PARKED_Z,
    WALL_HALF_THICKNESS,
    AntMazes,
    AntWalledCourse,
    ArenaTask,
    block_present,
)

KEY = jax.random.key(0)
COURSE_TASK = ArenaTask(jnp.int32(0))
UPSIDE_DOWN = jnp.array([0.0, 1.0, 0.0, 0.0])  # torso quaternion of a flipped ant


# --- a stand-in physics: each step moves the torso +1 cm in x, -2 cm in y and sinks it 1 mm --


@flax.struct.dataclass
class StandInState:
    q: jax.Array
    qd: jax.Array


def _stand_in_step(state, action):
    del action
    return state.replace(q=state.q + jnp.zeros(15).at[:3].set(jnp.array([0.01, -0.02, -0.001])))


STAND_IN = types.SimpleNamespace(
    dt=0.025,
    sys=types.SimpleNamespace(
        init_q=jnp.array([0.0, 0.0, 0.75, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, -1.0, 0.0, -1.0,
                          0.0, 1.0]),
        q_size=lambda: 15, qd_size=lambda: 14, act_size=lambda: 8),
    pipeline_init=StandInState,
    pipeline_step=_stand_in_step,
)


@dataclasses.dataclass(frozen=True)
class StandInCourse(AntWalledCourse):
    @property
    def physics(self):
        return STAND_IN


@functools.partial(jax.jit, static_argnames=("env", "steps"))
def flipped_run(env, steps):
    """Resets, flips the ant onto its back at z = 0.1 (a fall), then takes `steps` steps."""
    _, state = env.reset(KEY, COURSE_TASK)
    q = state.pipeline_state.q.at[2].set(0.1).at[3:7].set(UPSIDE_DOWN)
    state = state.replace(pipeline_state=state.pipeline_state.replace(q=q))

    def body(state, key):
        _, state, reward, done, info = env.step(key, state, jnp.zeros(8), COURSE_TASK)
        return state, (state.pipeline_state.q, done, info["truncated"])

    return q, jax.lax.scan(body, state, jax.random.split(KEY, steps))[1]


@pytest.fixture(scope="module")
def course_episode():
    """A whole 3000-step episode of the course from a flipped start, on the stand-in physics."""
    env = StandInCourse()
    return env, flipped_run(env, env.episode_length)


# --- obstacle course ------------------------------------------------------------------------


def test_course_is_the_originals_one_course_with_its_walls_start_and_3000_steps():
    env = envs.make("ant_obstacle_course")
    assert (env.episode_length, env.pose_reset_every, env.terminates_early) == (3000, 300, False)
    assert env.num_task_types == 0  # nothing hidden to tell apart or balance
    tasks = jax.vmap(env.sample_task)(jax.random.split(KEY, 50))
    assert set(np.asarray(tasks.layout).tolist()) == {0}  # one fixed course
    assert COURSE.start == (-35.0, 15.0) and COURSE_GOAL == (35.0, -35.0)
    assert COURSE.bounds == (-39.7, 39.7, -39.7, 39.7)  # inner faces of 0.6-m walls at +-40
    # (x from, x to, y from, y to) of each interior wall's centre line
    spans = {(x - hx if hx > 1 else x, x + hx if hx > 1 else x,
              y - hy if hy > 1 else y, y + hy if hy > 1 else y) for x, y, hx, hy in COURSE.walls}
    assert spans == {(-15, -15, 3, 37), (-40, -30, 20, 20), (-30, 10, -20, -20),
                     (-30, 10, -30, -30), (10, 10, -40, 0)}


@pytest.mark.parametrize("x, y, inside", [
    (35.0, -35.0, True), (40.4, -35.0, True), (35.0, -40.4, True), (40.5, -35.0, False),
    (39.4, -33.0, True), (39.4, -38.0, True), (37.0, -39.4, True), (39.4, -39.4, False),
    (30.0, -35.0, True), (29.5, -35.0, False), (0.0, 0.0, False),
])
def test_course_goal_region_is_squared_distance_below_30_and_reaches_the_east_and_south_walls(
        x, y, inside):
    """Radius sqrt(30) = 5.48 m: an ant against the east wall (torso at x = 39.4) is inside for
    y in about -38.3..-31.7, against the south wall likewise; the corner itself is outside."""
    env = envs.make("ant_obstacle_course")
    xy = jnp.array([x, y])
    assert bool(env.in_goal_region(xy)) == inside
    q_before = jnp.zeros(15).at[:2].set(jnp.array([0.0, 0.0]))
    q_after = jnp.zeros(15).at[:2].set(xy)
    reward, info = env.reward(q_before, q_after, jnp.ones(8), COURSE_TASK)
    assert float(reward) == float(inside) == float(info["in_goal_region"])  # no control cost
    assert float(info["distance_to_goal"]) == pytest.approx(np.hypot(x - 35, y + 35), rel=1e-5)


def test_course_pays_1_for_every_step_inside_the_region_and_nothing_for_approaching_it():
    env = envs.make("ant_obstacle_course")
    path = jnp.stack([jnp.linspace(20.0, 38.0, 40), jnp.full(40, -35.0)], axis=1)
    q = jnp.zeros((40, 15)).at[:, :2].set(path)
    rewards = jax.vmap(lambda a, b: env.reward(a, b, jnp.zeros(8), COURSE_TASK)[0])(q[:-1], q[1:])
    inside = np.sum(np.square(np.asarray(path[1:]) - [35.0, -35.0]), axis=1) < 30.0
    np.testing.assert_array_equal(rewards, inside.astype(np.float32))
    assert 0 < inside.sum() < 39


def test_course_never_terminates_after_a_fall_and_ends_after_3000_steps_by_truncation(
        course_episode):
    env, (_, (q, done, truncated)) = course_episode
    assert q.shape[0] == env.episode_length == 3000
    np.testing.assert_array_equal(np.flatnonzero(done), [2999])  # only the time limit ends it
    np.testing.assert_array_equal(np.flatnonzero(truncated), [2999])
    assert float(q[298, 2]) < 0.2  # lay flipped, torso down, for the first 299 steps


def test_course_pose_reset_every_300_steps_rights_the_ant_and_keeps_its_x_y(course_episode):
    env, (start, (q, _, _)) = course_episode
    upright = np.asarray(STAND_IN.sys.init_q)
    for step in range(1, 3001):
        before = np.asarray(start if step == 1 else q[step - 2])
        after = np.asarray(q[step - 1])
        moved = after[:3] - before[:3]
        if step % 300:  # an ordinary step of the stand-in physics
            np.testing.assert_allclose(moved, [0.01, -0.02, -0.001], atol=1e-4)
            np.testing.assert_array_equal(after[3:7], before[3:7])
        else:  # set upright where it stood, then the step
            np.testing.assert_allclose(moved[:2], [0.01, -0.02], atol=1e-4)
            sunk = upright[2:] + np.r_[-0.001, np.zeros(12)]
            np.testing.assert_allclose(after[2:], sunk, atol=0.1)
            assert abs(after[3]) > 0.85  # w of the quaternion: upright again
    np.testing.assert_allclose(q[-1, :2], np.asarray(start[:2]) + 3000 * np.array([0.01, -0.02]),
                               atol=0.05)


def test_course_starts_near_minus_35_15_and_observes_q_then_qd_whatever_the_task():
    env = StandInCourse()
    obs, state = env.reset(KEY, COURSE_TASK)
    assert env.observation_size == 29 and env.position_observation_dims == (0, 1)
    np.testing.assert_allclose(obs[:2], [-35.0, 15.0], atol=0.1)
    np.testing.assert_array_equal(obs, jnp.concatenate([state.pipeline_state.q,
                                                        state.pipeline_state.qd]))


# --- mazes ----------------------------------------------------------------------------------

ABSENT_BLOCKS = {  # layout: (goal, centres of the blocks it leaves out), read from the original
    0: ((8, 24), {(8, 16), (8, 0)}),
    1: ((8, -24), {(8, 0), (8, -16)}),
    2: ((24, 24), {(24, 16), (8, 0), (24, 0)}),
    3: ((24, -24), {(8, 0), (24, 0), (24, -16)}),
    4: ((48, 0), {(8, 0), (24, 0), (40, 0)}),
    5: ((40, 24), {(40, 16), (8, 0), (24, 0), (40, 0)}),
    6: ((40, -24), {(8, 0), (24, 0), (40, 0), (40, -16)}),
    7: ((32, 16), {(8, 16), (24, 16), (8, 0)}),
    8: ((32, -16), {(8, 0), (8, -16), (24, -16)}),
}


def test_maze_has_the_originals_nine_layouts_goals_and_blocks_and_starts_at_2_0():
    assert len(MAZE_LAYOUTS) == 9
    assert MAZE.start == (2.0, 0.0) and MAZE.bounds == (0.3, 47.7, -23.7, 23.7)
    assert MAZE_BLOCK_HALF == 7.6
    assert set(MAZE_BLOCK_CENTRES) == {(x, y) for x in (8, 24, 40) for y in (-16, 0, 16)}
    for index, layout in enumerate(MAZE_LAYOUTS):
        goal, absent = ABSENT_BLOCKS[index]
        assert layout.goal == goal
        present = block_present(layout)
        assert {c for c, p in zip(MAZE_BLOCK_CENTRES, present) if not p} == absent, index
        # the start (2, 0) lies in the square of the (8, 0) block: absent in every layout
        assert (8, 0) in absent


def test_maze_task_is_one_of_the_nine_layouts_drawn_uniformly():
    env = envs.make("ant_maze")
    assert (env.episode_length, env.pose_reset_every, env.terminates_early) == (1000, 200, False)
    assert env.num_task_types == 9
    tasks = jax.vmap(env.sample_task)(jax.random.split(KEY, 9000))
    counts = np.bincount(np.asarray(env.task_type(tasks)), minlength=9)
    assert np.all(np.abs(counts - 1000) < 5 * np.sqrt(1000))


def maze_reward(layout, before, after, action=None):
    env = envs.make("ant_maze")
    q_before = jnp.zeros(15).at[:2].set(jnp.asarray(before, jnp.float32))
    q_after = jnp.zeros(15).at[:2].set(jnp.asarray(after, jnp.float32))
    action = jnp.zeros(8) if action is None else action
    return env.reward(q_before, q_after, action, ArenaTask(jnp.int32(layout)))


@pytest.mark.parametrize("before, move, expected", [
    # layout 6, goal (40, -24). West of and north of the goal: +v_x, -v_y pay.
    ((2.0, 0.0), (0.01, 0.0), 0.4), ((2.0, 0.0), (-0.01, 0.0), -0.4),
    ((2.0, 0.0), (0.0, -0.01), 0.4), ((2.0, 0.0), (0.0, 0.01), -0.4),
    ((2.0, 0.0), (0.01, -0.01), 0.8),
    # east of the goal's x: walking east costs, west pays; at exactly the goal's x, too.
    ((41.0, 0.0), (0.01, 0.0), -0.4), ((41.0, 0.0), (-0.01, 0.0), 0.4),
    ((40.0, 0.0), (0.01, 0.0), -0.4),
    # judged before the step: a step that crosses the goal's x still counts as westward of it
    ((39.995, 0.0), (0.01, 0.0), 0.4),
])
def test_maze_reward_is_per_axis_velocity_signed_by_the_side_of_the_goal(before, move, expected):
    after = (before[0] + move[0], before[1] + move[1])
    reward, info = maze_reward(6, before, after)
    assert float(reward) == pytest.approx(expected, abs=1e-3)  # m/s at dt = 0.025 s
    assert float(info["progress"]) == pytest.approx(expected, abs=1e-3)


def test_maze_reward_differs_by_layout_and_charges_0_1_times_squared_action():
    east = ((2.0, 0.0), (2.01, 0.0))
    north = ((2.0, 0.0), (2.0, 0.01))
    for layout, (goal, _) in ABSENT_BLOCKS.items():
        assert float(maze_reward(layout, *east)[0]) == pytest.approx(0.4, abs=1e-3)  # all east
        sign = 1.0 if goal[1] > 0 else -1.0  # north pays where the goal is north of y = 0
        assert float(maze_reward(layout, *north)[0]) == pytest.approx(0.4 * sign, abs=1e-3)
    reward, info = maze_reward(0, (2.0, 0.0), (2.0, 0.0), jnp.full(8, 0.5))
    assert float(info["ctrl_cost"]) == pytest.approx(0.1 * 8 * 0.25)
    assert float(reward) == pytest.approx(-0.2)


def test_maze_block_slots_hold_every_present_block_within_reach_and_never_an_absent_one():
    env = envs.make("ant_maze")
    assert env.simulated_blocks == 4
    xy = jax.random.uniform(KEY, (2000, 2), minval=jnp.array([0.3, -23.7]),
                            maxval=jnp.array([47.7, 23.7]))
    centres = np.asarray(MAZE_BLOCK_CENTRES)
    for layout in range(9):
        task = ArenaTask(jnp.int32(layout))
        slots = np.asarray(jax.vmap(env.block_positions, (None, 0))(task, xy))
        present = np.asarray(block_present(MAZE_LAYOUTS[layout]))
        for point, placed in zip(np.asarray(xy), slots):
            reach = np.linalg.norm(np.maximum(np.abs(point - centres) - MAZE_BLOCK_HALF, 0), axis=1)
            within = {tuple(c) for c in centres[present & (reach < 2.0)]}
            standing = {tuple(p[:2]) for p in placed if p[2] > 0}
            assert within <= standing <= {tuple(c) for c in centres[present]}
            assert all(p[2] in (1.0, PARKED_Z) for p in placed)


def test_all_nine_block_slots_place_exactly_the_layouts_blocks():
    env = envs.make("ant_maze", simulated_blocks=9)
    for layout in range(9):
        placed = np.asarray(env.block_positions(ArenaTask(jnp.int32(layout)), jnp.zeros(2)))
        standing = {tuple(p[:2]) for p in placed if p[2] > 0}
        expected = {c for c, p in zip(MAZE_BLOCK_CENTRES, block_present(MAZE_LAYOUTS[layout]))
                    if p}
        assert standing == expected


def box_corners(box):
    x, y, hx, hy = box
    return (x - hx, x + hx, y - hy, y + hy)


@pytest.mark.parametrize("name, layout, expected_inner", [
    ("ant_obstacle_course", 0, COURSE.walls),
    # layout 0 (".##", ".##", "###"): the west column open north of the bottom row
    ("ant_maze", 0, [(24.0, 16.0), (40.0, 16.0), (24.0, 0.0), (40.0, 0.0), (8.0, -16.0),
                     (24.0, -16.0), (40.0, -16.0)]),
    # layout 4 ("###", "...", "###"): the middle row open
    ("ant_maze", 4, [(8.0, 16.0), (24.0, 16.0), (40.0, 16.0), (8.0, -16.0), (24.0, -16.0),
                     (40.0, -16.0)]),
])
def test_wall_boxes_draw_the_border_outside_its_faces_then_the_interior_walls_or_blocks(
        name, layout, expected_inner):
    env = envs.make(name)
    boxes = env.wall_boxes(layout)
    if name == "ant_maze":  # every block is 15.2 m square
        expected_inner = [(x, y, MAZE_BLOCK_HALF, MAZE_BLOCK_HALF) for x, y in expected_inner]
    assert tuple(boxes[4:]) == tuple(expected_inner)
    x_min, x_max, y_min, y_max = env.arena.bounds
    south, north, west, east = map(box_corners, boxes[:4])
    assert south[3] == pytest.approx(y_min) and north[2] == pytest.approx(y_max)
    assert west[1] == pytest.approx(x_min) and east[0] == pytest.approx(x_max)
    thick = 2 * WALL_HALF_THICKNESS  # drawn 0.6 m thick outside the faces, closing the corners
    assert south[2] == pytest.approx(y_min - thick) and north[3] == pytest.approx(y_max + thick)
    assert west[0] == pytest.approx(x_min - thick) and east[1] == pytest.approx(x_max + thick)
    for wall in (south, north):
        assert wall[:2] == pytest.approx((x_min - thick, x_max + thick))
    for wall in (west, east):
        assert wall[2:] == pytest.approx((y_min - thick, y_max + thick))


def test_path_picture_of_an_arena_draws_its_walls_and_goal(tmp_path):
    from matplotlib.patches import Circle, Rectangle

    from experiments import render
    for name in ("ant_obstacle_course", "ant_maze"):
        env = envs.make(name)
        xy = np.asarray(env.arena.start) + np.arange(5.0)[:, None] * np.array([1.0, 0.0])
        episode = render.Episode(pipeline_states=None, xy=xy, subpolicy=np.zeros(4, np.int32),
                                 reward=np.zeros(4))
        figure = render.draw_path(env, ArenaTask(jnp.int32(0)), episode, tmp_path / "p.png", "")
        patches = figure.axes[0].patches
        walls = [p.get_bbox().bounds for p in patches if isinstance(p, Rectangle)]
        expected = [(x - hx, y - hy, 2 * hx, 2 * hy) for x, y, hx, hy in env.wall_boxes(0)]
        np.testing.assert_allclose(walls, expected)
        goals = [p for p in patches if isinstance(p, Circle)]
        if name == "ant_obstacle_course":  # the goal region, radius sqrt(30) m
            assert len(goals) == 1 and goals[0].radius == pytest.approx(30 ** 0.5)
            np.testing.assert_allclose(goals[0].center, COURSE_GOAL)
        else:  # a maze's goal is a point, drawn as a star
            assert not goals
            star = [line for line in figure.axes[0].lines if line.get_label() == "goal"]
            np.testing.assert_allclose(star[0].get_xydata()[0], MAZE_LAYOUTS[0].goal)
        assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_the_viewers_scene_of_a_maze_stands_every_block_of_its_layout_and_parks_the_rest(
        monkeypatch):
    from brax.io import html

    from experiments import render
    shown = []
    monkeypatch.setattr(html, "render", lambda sys, states: shown.append(sys) or "<html>")
    episode = render.Episode(pipeline_states=None, xy=np.zeros((1, 2)),
                             subpolicy=np.zeros(0, np.int32), reward=np.zeros(0))
    env = AntMazes(backend="positional", episode_length=3)
    blocks = []
    for layout in range(len(MAZE_LAYOUTS)):
        render.render_html(env, ArenaTask(jnp.int32(layout)), episode)
        first = shown[-1].mj_model.geom("block_0").id
        blocks.append(np.asarray(shown[-1].geom_pos[first:first + 9]))
        standing = blocks[-1][blocks[-1][:, 2] > 0]  # in any slot order
        np.testing.assert_allclose(sorted(map(tuple, standing[:, :2])),
                                   sorted(box[:2] for box in env.block_boxes(layout)))
        np.testing.assert_allclose(standing[:, 2], 1.0)  # the 2-m blocks stand on the floor
        np.testing.assert_allclose(blocks[-1][blocks[-1][:, 2] <= 0, 2], PARKED_Z)
    # layout 0 (".##", ".##", "###") written out: the west column open north of the bottom row
    layout_0 = blocks[0][blocks[0][:, 2] > 0, :2]
    np.testing.assert_allclose(sorted(map(tuple, layout_0)),
                               sorted([(24, 16), (40, 16), (24, 0), (40, 0), (8, -16), (24, -16),
                                       (40, -16)]))
    course = envs.make("ant_obstacle_course", backend="positional")
    render.render_html(course, ArenaTask(jnp.int32(0)), episode)
    assert shown[-1] is course.physics.sys  # the course's walls never move


@pytest.mark.parametrize("name, setting, message", [
    ("ant_maze", dict(contacts="legs"), "contacts='legs': must be one of torso, torso_feet, all"),
    ("ant_maze", dict(control_dt=0.01), "control_dt=0.01: must be one of 0.025, 0.05"),
    ("ant_maze", dict(ant_mass=40.0), "ant_mass=40.0 with backend='spring': a mass needs one of "
                                      "mjx, generalized"),
    ("ant_maze", dict(ant_mass=-1.0), "ant_mass=-1.0: must be a number >= 0"),
    ("ant_maze", dict(simulated_blocks=0), "simulated_blocks=0: must be an integer in 1..9"),
    ("ant_maze", dict(simulated_blocks=10), "simulated_blocks=10: must be an integer in 1..9"),
    ("ant_obstacle_course", dict(pose_reset_every=-1), "pose_reset_every=-1: must be an integer"),
    ("ant_obstacle_course", dict(episode_length=0), "episode_length=0: must be an integer >= 1"),
])
def test_bad_settings_are_rejected_in_one_line_naming_the_value(name, setting, message):
    with pytest.raises(ValueError) as error:
        envs.make(name, **setting)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_both_tasks_keep_twowalks_observation_and_actions():
    twowalk = envs.make("twowalk", backend="spring")
    for name in ("ant_maze", "ant_obstacle_course"):
        env = envs.make(name, backend="spring")
        assert env.observation_size == twowalk.observation_size == 29
        assert env.action_space == twowalk.action_space
        assert float(env.physics.dt) == pytest.approx(0.025)
    assert float(envs.make("ant_maze", control_dt=0.05).physics.dt) == pytest.approx(0.05)
    assert float(envs.make("ant_maze", backend="mjx", control_dt=0.025).physics.dt) == \
        pytest.approx(0.025)


def test_arena_physics_first_built_inside_a_jit_trace_is_cached_concrete():
    envs.ant_arenas.arena_physics.cache_clear()
    env = AntMazes(backend="positional", episode_length=3)
    jax.eval_shape(env.reset, KEY, ArenaTask(jnp.int32(0)))  # first use: inside a trace
    assert not any(isinstance(leaf, jax.core.Tracer)
                   for leaf in jax.tree.leaves(env.physics.sys))


# --- Brax physics (slow: each compiles a spring pipeline) ------------------------------------


def settle(env, task, q, steps):
    """Torso q over `steps` zero-action steps of `env` from a standing start at pose `q`."""

    @jax.jit
    def run(q):
        _, state = env.reset(KEY, task)
        physics = env.placed_physics(task, q[:2])
        state = state.replace(pipeline_state=physics.pipeline_init(q, jnp.zeros(14)))

        def body(state, key):
            _, state, _, done, _ = env.step(key, state, jnp.zeros(8), task)
            return state, (state.pipeline_state.q, done)

        return jax.lax.scan(body, state, jax.random.split(KEY, steps))[1]

    return run(q)


@pytest.mark.slow
def test_maze_blocks_stand_only_in_the_layouts_that_have_them_and_are_not_observed():
    env = AntMazes(backend="spring", episode_length=20)
    reset = jax.jit(env.reset)
    first = [reset(KEY, ArenaTask(jnp.int32(layout)))[0] for layout in range(9)]
    for obs in first[1:]:
        chex.assert_trees_all_equal(obs, first[0])  # the same start, whatever the maze
    q = jnp.asarray(env.physics.sys.init_q).at[0].set(16.3).at[1].set(0.0)
    # the (24, 0) block's west face is at x = 16.4: present in layout 0, absent in layout 4
    blocked, _ = settle(env, ArenaTask(jnp.int32(0)), q, 20)
    free, _ = settle(env, ArenaTask(jnp.int32(4)), q, 20)
    assert float(blocked[-1, 0]) < 16.2  # the torso (radius 0.25) was pushed out of the block
    assert abs(float(free[-1, 0]) - 16.3) < 0.15
    assert np.all(np.isfinite(blocked)) and np.all(np.isfinite(free))


@pytest.mark.slow
def test_course_walls_hold_the_ant_in_the_goal_region_and_a_flipped_ant_is_righted():
    env = AntWalledCourse(backend="spring", episode_length=40, pose_reset_every=20)
    init = jnp.asarray(env.physics.sys.init_q)
    # against the east border (face at x = 39.7), inside the region
    against, _ = settle(env, COURSE_TASK, init.at[0].set(39.6).at[1].set(-35.0), 10)
    assert float(against[-1, 0]) < 39.5 and bool(env.in_goal_region(against[-1, :2]))
    # flipped onto its back: lies there without ending the episode, then is set upright
    flipped = init.at[0].set(0.0).at[1].set(0.0).at[2].set(0.3).at[3:7].set(UPSIDE_DOWN)
    q, done = settle(env, COURSE_TASK, flipped, 40)
    np.testing.assert_array_equal(np.flatnonzero(done), [39])
    assert abs(float(q[18, 3])) < 0.5  # still on its back before the reset
    assert abs(float(q[19, 3])) > 0.85 and float(q[19, 2]) > 0.4  # righted at step 20
    chex.assert_trees_all_close(q[19, :2], q[18, :2], atol=0.1)  # where it lay
