"""The Ant's mazes and walled obstacle course at the scale of the paper's Ant experiments:
`ant_maze`, a distribution of nine block mazes in a 48-m arena, and `ant_obstacle_course`, one
fixed 80-m course with a sparse goal region beside two border walls.

Both follow the rules of MLSH's own environment code (its `AntObstaclesGen` and
`AntObstaclesBig`): no termination (a fall costs the time the ant lies there, not the episode),
and the ant's pose is set upright again every `pose_reset_every` steps, its x, y kept, so a
flipped ant walks on. Their observation is twowalk's (q then qd, 29 floats, world x, y
included), so sub-policies move between these tasks and twowalk.

Physics choices, with what each costs (`python -m benchmarks.ant_arenas`, docs/environments.md):
the ant is Brax's (0.91 kg on its own, `ant_mass` to change it where the backend simulates
mass); `contacts` says which of its geoms touch the floor and the walls; `control_dt` is the
time per env step; `simulated_blocks` how many of a maze's blocks are in the physics at once.
The arena's border walls are half-spaces (planes facing inward): one contact test per geom,
and no wall an ant could climb over or tunnel through.

Per-task data under `vmap`: Brax's system must be the same for every env of a batch, so every
maze holds the same block geoms and a task only moves them (`geom_pos`, set in `reset` and
`step` from the task and the torso's position); an absent block or an unused slot sits below
the floor, out of reach.
"""

from __future__ import annotations

import abc
import copy
import dataclasses
import functools
import math
from typing import Any, ClassVar

import flax.struct
import jax
import jax.numpy as jnp

from envs.ant import AntBody
from envs.base import (
    Environment,
    Info,
    episode_end,
    validate_episode_length,
    validate_nonnegative,
    where_tree,
)
from envs.brax_physics import DEFAULT_BACKEND, BraxState, physics, validate_backend

CONTACTS = ("torso", "torso_feet", "all")
"""Which ant geoms touch the floor and the walls. Brax's Ant touches the floor with its four foot
spheres only; here the torso sphere touches both, and the feet the floor (`torso`), the floor
and the walls (`torso_feet`), or, with the eight leg capsules too, everything (`all`, as in
MuJoCo's Gym ant, where every geom collides)."""
CONTROL_DTS = (0.025, 0.05)
"""Seconds per env step: 0.025 is the original maze and course ant's (5 MuJoCo steps of
0.005 s), 0.05 Brax's Ant's and twowalk's."""
MASS_BACKENDS = ("mjx", "generalized")
"""The backends on which `ant_mass` changes the dynamics: Brax's Ant tunes `spring` to treat every
body as mass 1 (`spring_mass_scale` = 1), so there a heavier ant would move exactly as a light
one."""
PARKED_Z = -20.0
"""Height of a block slot that holds no block: far below the floor, beyond any geom's reach."""
BLOCK_Z = 1.0
"""Height of a placed block's centre: the 2-m block stands on the floor."""


@dataclasses.dataclass(frozen=True)
class Arena:
    """Static geometry of an arena, in world metres."""

    bounds: tuple[float, float, float, float]
    """Inner faces of the border walls: (x min, x max, y min, y max)."""
    walls: tuple[tuple[float, float, float, float], ...]
    """Fixed interior walls: (centre x, centre y, half length x, half length y), 2 m high."""
    start: tuple[float, float]
    """Where the torso starts (world xy)."""


WALL_HALF_THICKNESS = 0.3
"""Half thickness of every wall (0.6 m thick: a thin wall lets a fast geom tunnel through between
physics substeps)."""

COURSE = Arena(
    bounds=(-39.7, 39.7, -39.7, 39.7),  # 80 m x 80 m between wall centres, walls 0.6 m thick
    walls=(
        (-15.0, 20.0, WALL_HALF_THICKNESS, 17.0),  # x = -15 for y 3..37
        (-35.0, 20.0, 5.0, WALL_HALF_THICKNESS),  # y = 20 for x -40..-30
        (-10.0, -20.0, 20.0, WALL_HALF_THICKNESS),  # y = -20 for x -30..10
        (-10.0, -30.0, 20.0, WALL_HALF_THICKNESS),  # y = -30 for x -30..10
        (10.0, -20.0, WALL_HALF_THICKNESS, 20.0),  # x = 10 for y -40..0
    ),
    start=(-35.0, 15.0),
)
"""The obstacle course: from (-35, 15) south around the x = -15 wall, east past x = 10 north of
its wall, then south-east to the goal region in the south-east corner (~92 m of walking)."""
COURSE_GOAL = (35.0, -35.0)
COURSE_GOAL_RADIUS_SQUARED = 30.0
"""The goal region: squared distance < 30 m^2 (radius 5.48 m) from COURSE_GOAL; it reaches the
east (x = 39.7) and south (y = -39.7) wall faces, so an ant that keeps walking into either wall
near the corner stays inside."""

MAZE = Arena(bounds=(0.3, 47.7, -23.7, 23.7), walls=(), start=(2.0, 0.0))
"""The maze arena: 48 m x 48 m between wall centres (x = 0, 48; y = -24, 24)."""
MAZE_BLOCK_HALF = 7.6
"""Half side of a maze block (15.2 m): neighbouring blocks leave 0.8-m gaps (0.1 m at the
border), narrower than the ant's ~1.3-m stance, so a maze's ways are the rows and columns of
absent blocks."""
MAZE_BLOCK_CENTRES = tuple((x, y) for y in (16.0, 0.0, -16.0) for x in (8.0, 24.0, 40.0))
"""The 3 x 3 grid of block centres, row by row from north to south, west to east."""


@dataclasses.dataclass(frozen=True)
class MazeLayout:
    goal: tuple[float, float]
    blocks: tuple[str, str, str]
    """The grid from above, rows north (y = 16) to south (y = -16), columns west (x = 8) to
    east (x = 40): '#' a block stands there, '.' it does not."""


MAZE_LAYOUTS = (
    MazeLayout((8.0, 24.0), (".##", ".##", "###")),  # north along x = 8
    MazeLayout((8.0, -24.0), ("###", ".##", ".##")),  # south along x = 8
    MazeLayout((24.0, 24.0), ("#.#", "..#", "###")),  # east, then north along x = 24
    MazeLayout((24.0, -24.0), ("###", "..#", "#.#")),  # east, then south along x = 24
    MazeLayout((48.0, 0.0), ("###", "...", "###")),  # east to the far wall
    MazeLayout((40.0, 24.0), ("##.", "...", "###")),  # east, then north along x = 40
    MazeLayout((40.0, -24.0), ("###", "...", "##.")),  # east, then south along x = 40
    MazeLayout((32.0, 16.0), ("..#", ".##", "###")),  # north, then east along y = 16
    MazeLayout((32.0, -16.0), ("###", ".##", "..#")),  # south, then east along y = -16
)
"""The nine mazes, the start (2, 0) open in all of them. Several goals lie on a border wall:
the per-axis reward then pays walking into that wall."""


def block_present(layout: MazeLayout) -> tuple[bool, ...]:
    """Per MAZE_BLOCK_CENTRES entry: whether the layout has that block."""
    return tuple(cell == "#" for row in layout.blocks for cell in row)


def _arena_xml(arena: Arena, block_slots: int, contacts: str, ant_mass: float) -> str:
    """Brax's ant.xml standing in `arena`: border planes, interior walls, `block_slots` maze
    blocks (parked below the floor until a task places them)."""
    import mujoco
    from etils import epath

    xml = (epath.resource_path("brax") / "envs/assets/ant.xml").read_text()
    density = 'density="5.0"'
    torso = '<geom name="torso_geom" pos="0 0 0" size="0.25" type="sphere"/>'
    foot = 'contype="1"'  # only the feet set one: the default geom has contype 0
    capsule = 'size="0.08" type="capsule"/>'
    assert density in xml and torso in xml and xml.count(foot) == 4 and xml.count(capsule) == 12, \
        "brax's ant.xml changed: update _arena_xml"
    if ant_mass:  # every mass comes from the geoms' density (the feet are massless)
        brax_mass = mujoco.MjModel.from_xml_string(xml).body_subtreemass[1]
        xml = xml.replace(density, f'density="{5.0 * ant_mass / brax_mass}"')
    # Collision bits: the floor has conaffinity 1, the walls 2; contype 3 touches both.
    if contacts != "torso":
        xml = xml.replace(foot, 'contype="3"')
    xml = xml.replace(torso, torso.replace("/>", ' contype="3"/>'))
    if contacts == "all":
        xml = xml.replace(capsule, capsule.replace("/>", ' contype="3"/>'))
    x_min, x_max, y_min, y_max = arena.bounds
    planes = [(x_min, 0, "1 0 0"), (x_max, 0, "-1 0 0"), (0, y_min, "0 1 0"), (0, y_max, "0 -1 0")]
    geoms = [f'<geom name="border_{i}" type="plane" pos="{x} {y} 0" zaxis="{axis}" '
             f'size="40 40 1" conaffinity="2" rgba="0.7 0.7 0.7 0.3"/>'
             for i, (x, y, axis) in enumerate(planes)]
    geoms += [f'<geom name="wall_{i}" type="box" pos="{x} {y} 1" size="{hx} {hy} 1" '
              f'conaffinity="2" rgba="0.7 0.7 0.7 1"/>' for i, (x, y, hx, hy) in
              enumerate(arena.walls)]
    half = MAZE_BLOCK_HALF
    geoms += [f'<geom name="block_{i}" type="box" pos="0 0 {PARKED_Z}" size="{half} {half} 1" '
              f'conaffinity="2" rgba="0.8 0.3 0.3 1"/>' for i in range(block_slots)]
    return xml.replace("</worldbody>", "".join(geoms) + "</worldbody>")


@functools.lru_cache(maxsize=None)
def arena_physics(arena: Arena, block_slots: int, backend: str, contacts: str,
                  control_dt: float, ant_mass: float) -> Any:
    """Brax's Ant with its per-backend tuning (solver, gears) in `arena`, stepping
    `control_dt` per env step: the backend's own time step when it divides `control_dt`,
    else 0.005 s (MJX's 0.01 s does not divide 0.025)."""
    from brax.io import mjcf

    env = copy.copy(physics("ant", backend))
    tuned = env.sys
    timestep = float(tuned.opt.timestep)
    frames = control_dt / timestep
    if abs(frames - round(frames)) > 1e-6:
        timestep, frames = 0.005, control_dt / 0.005
    with jax.ensure_compile_time_eval():  # concrete even inside a trace (see `physics`)
        sys = mjcf.loads(_arena_xml(arena, block_slots, contacts, ant_mass))
        sys = sys.tree_replace({
            "opt.timestep": timestep,
            "opt.solver": tuned.opt.solver,
            "opt.disableflags": tuned.opt.disableflags,
            "opt.iterations": tuned.opt.iterations,
            "opt.ls_iterations": tuned.opt.ls_iterations,
        })
        env.sys = sys.replace(actuator=sys.actuator.replace(gear=tuned.actuator.gear))
    env._n_frames = int(round(frames))  # PipelineEnv's frames per step; dt follows from it
    return env


@flax.struct.dataclass
class ArenaTask:
    layout: jax.Array  # int32 scalar: index into the env's layouts (the course has one)


@dataclasses.dataclass(frozen=True)
class AntArena(AntBody, Environment[ArenaTask, BraxState]):
    """What the maze and the course share: Brax's Ant in a walled arena, twowalk's observation,
    no termination, a pose reset every `pose_reset_every` steps. Subclasses give the arena,
    the layouts and the reward."""

    arena: ClassVar[Arena]
    episode_length: int = 1000
    backend: str = DEFAULT_BACKEND
    """Brax physics pipeline: one of BACKENDS."""
    contacts: str = "torso_feet"
    """Which ant geoms touch the floor and walls: one of CONTACTS."""
    control_dt: float = 0.025
    """Seconds per env step: one of CONTROL_DTS."""
    ant_mass: float = 0.0
    """The ant's total mass in kg (0: Brax's own, 0.91 kg); only on MASS_BACKENDS."""
    pose_reset_every: int = 200
    """Every this many steps the ant is set upright again where it stands (0: never)."""
    terminates_early: ClassVar[bool] = False
    truncates: ClassVar[bool] = True
    reset_noise_scale: ClassVar[float] = 0.1

    def __post_init__(self) -> None:
        validate_episode_length(self.episode_length)
        validate_backend(self.backend)
        if self.contacts not in CONTACTS:
            raise ValueError(f"contacts={self.contacts!r}: must be one of {', '.join(CONTACTS)}")
        if self.control_dt not in CONTROL_DTS:
            raise ValueError(f"control_dt={self.control_dt!r}: must be one of "
                             f"{', '.join(map(str, CONTROL_DTS))}")
        validate_nonnegative("ant_mass", self.ant_mass)
        if self.ant_mass and self.backend not in MASS_BACKENDS:
            raise ValueError(f"ant_mass={self.ant_mass!r} with backend={self.backend!r}: a mass "
                             f"needs one of {', '.join(MASS_BACKENDS)} (spring ignores it)")
        if (isinstance(self.pose_reset_every, bool) or not isinstance(self.pose_reset_every, int)
                or self.pose_reset_every < 0):
            raise ValueError(f"pose_reset_every={self.pose_reset_every!r}: must be an integer "
                             f">= 0 (0: never)")

    @property
    def block_slots(self) -> int:
        """Maze block geoms in the physics (the course has none)."""
        return 0

    @property
    def physics(self) -> Any:
        return arena_physics(self.arena, self.block_slots, self.backend, self.contacts,
                             self.control_dt, float(self.ant_mass))

    def placed_physics(self, task: ArenaTask, xy: jax.Array) -> Any:
        """The physics with the task's movable geoms where they stand for a torso at `xy`
        (a shallow copy with its own system); the arena alone has none to move."""
        del task, xy
        return self.physics

    def scene_physics(self, task: ArenaTask) -> Any:
        """A physics that shows the whole of the task's layout, for Brax's viewer, which draws
        the world's geoms where one system puts them for the whole episode; not for stepping."""
        return self.placed_physics(task, jnp.asarray(self.arena.start, jnp.float32))

    def wall_boxes(self, layout: int) -> list[tuple[float, float, float, float]]:
        """(centre x, centre y, half length x, half length y) of every wall of a layout from
        above, for drawing it: the border (planes in the physics, drawn 0.6 m thick outside
        their faces), the interior walls and the layout's blocks."""
        x_min, x_max, y_min, y_max = self.arena.bounds
        t = WALL_HALF_THICKNESS
        half_x, half_y = (x_max - x_min) / 2 + 2 * t, (y_max - y_min) / 2 + 2 * t
        mid_x, mid_y = (x_min + x_max) / 2, (y_min + y_max) / 2
        border = [(mid_x, y_min - t, half_x, t), (mid_x, y_max + t, half_x, t),
                  (x_min - t, mid_y, t, half_y), (x_max + t, mid_y, t, half_y)]
        return border + list(self.arena.walls) + self.block_boxes(layout)

    def block_boxes(self, layout: int) -> list[tuple[float, float, float, float]]:
        """The layout's maze blocks as `wall_boxes` draws them; the arena alone has none."""
        del layout
        return []

    def upright(self, physics: Any, key: jax.Array, xy: jax.Array) -> Any:
        """Brax Ant's standing start (q + uniform(+-0.1), velocities 0.1 * N(0, 1)) at `xy`."""
        sys = physics.sys
        q_key, qd_key = jax.random.split(key)
        noise = self.reset_noise_scale
        q = sys.init_q + jax.random.uniform(q_key, (sys.q_size(),), minval=-noise, maxval=noise)
        qd = noise * jax.random.normal(qd_key, (sys.qd_size(),))
        return physics.pipeline_init(q.at[:2].set(xy), qd)

    @abc.abstractmethod
    def reward(self, q_before: jax.Array, q_after: jax.Array, action: jax.Array,
               task: ArenaTask) -> tuple[jax.Array, Info]:
        """(reward, its terms) of a step that moved the Ant from q_before to q_after."""

    def reset(self, key: jax.Array, task: ArenaTask) -> tuple[jax.Array, BraxState]:
        xy_key, pose_key = jax.random.split(key)
        noise = self.reset_noise_scale
        xy = jnp.asarray(self.arena.start) + jax.random.uniform(xy_key, (2,), minval=-noise,
                                                                maxval=noise)
        pipeline_state = self.upright(self.placed_physics(task, xy), pose_key, xy)
        return self.observation(pipeline_state), BraxState(pipeline_state, jnp.int32(0))

    def step(
        self, key: jax.Array, state: BraxState, action: jax.Array, task: ArenaTask
    ) -> tuple[jax.Array, BraxState, jax.Array, jax.Array, Info]:
        action = jnp.clip(action, -1.0, 1.0)
        pipeline_state = state.pipeline_state
        xy = pipeline_state.q[:2]
        physics = self.placed_physics(task, xy)
        if self.pose_reset_every:  # as the original: before the physics of every k-th step
            due = (state.t + 1) % self.pose_reset_every == 0
            pipeline_state = where_tree(due, self.upright(physics, key, xy), pipeline_state)
        q_before = pipeline_state.q
        pipeline_state = physics.pipeline_step(pipeline_state, action)
        reward, info = self.reward(q_before, pipeline_state.q, action, task)
        state = BraxState(pipeline_state, state.t + 1)
        done, ends = episode_end(jnp.bool_(False), state.t >= self.episode_length,
                                 self.truncates)
        return self.observation(pipeline_state), state, reward, done, {**info, **ends}


@dataclasses.dataclass(frozen=True)
class AntMazes(AntArena):
    """Ant mazes: the task is one of the nine MAZE_LAYOUTS, drawn uniformly; 1000 steps from
    (2, 0), a pose reset every 200.

    Reward per step, per axis: the torso's velocity along x (m/s) while it is west of the
    goal's x, minus it once at or past it, plus the same along y, minus `ctrl_cost_weight *
    |a|^2`; "west of" is judged before the step. Unlike a straight-line distance, it pays
    walking along a corridor that is not aimed at the goal, as long as it does not lead past
    the goal on either axis; a goal on a border wall pays walking into that wall.

    Only `simulated_blocks` of the nine blocks are in the physics at once: before each step
    the slots take the present blocks nearest to the torso. Four always hold every block within
    reach (at most four meet at a gap crossing) and cost less than nine.
    """

    episode_length: int = 1000
    pose_reset_every: int = 200
    ctrl_cost_weight: float = 0.1
    """Control cost per step is this times |a|^2 (a in [-1, 1]^8)."""
    simulated_blocks: int = 4
    """How many block slots the physics holds: 1..9 (9: every block, always)."""
    arena: ClassVar[Arena] = MAZE

    def __post_init__(self) -> None:
        super().__post_init__()
        validate_nonnegative("ctrl_cost_weight", self.ctrl_cost_weight)
        if (isinstance(self.simulated_blocks, bool) or self.simulated_blocks not in
                range(1, len(MAZE_BLOCK_CENTRES) + 1)):
            raise ValueError(f"simulated_blocks={self.simulated_blocks!r}: must be an integer "
                             f"in 1..{len(MAZE_BLOCK_CENTRES)}")

    @property
    def block_slots(self) -> int:
        return self.simulated_blocks

    @property
    def num_task_types(self) -> int:
        return len(MAZE_LAYOUTS)

    def task_type(self, task: ArenaTask) -> jax.Array:
        return task.layout

    @property
    def episode_end_metrics(self) -> tuple[str, ...]:
        return ("distance_to_goal",)

    def sample_task(self, key: jax.Array) -> ArenaTask:
        return ArenaTask(jax.random.randint(key, (), 0, len(MAZE_LAYOUTS), jnp.int32))

    def sample_task_of_type(self, key: jax.Array, task_type: jax.Array) -> ArenaTask:
        return ArenaTask(jnp.asarray(task_type, jnp.int32))

    def goal(self, task: ArenaTask) -> jax.Array:
        return jnp.asarray([layout.goal for layout in MAZE_LAYOUTS], jnp.float32)[task.layout]

    def block_boxes(self, layout: int) -> list[tuple[float, float, float, float]]:
        present = block_present(MAZE_LAYOUTS[layout])
        return [(x, y, MAZE_BLOCK_HALF, MAZE_BLOCK_HALF)
                for (x, y), stands in zip(MAZE_BLOCK_CENTRES, present) if stands]

    def scene_physics(self, task: ArenaTask) -> Any:
        """The physics placed with all nine block slots simulated, so that every block of the
        layout stands: stepping simulates only the `simulated_blocks` nearest the torso and
        moves them as it walks, so no one step's system shows the maze whole."""
        every_block = dataclasses.replace(self, simulated_blocks=len(MAZE_BLOCK_CENTRES))
        return AntArena.scene_physics(every_block, task)

    def block_positions(self, task: ArenaTask, xy: jax.Array) -> jax.Array:
        """(simulated_blocks, 3) centres for the block slots: the task's blocks nearest to
        `xy` (distance from `xy` to each block's square), parked slots below the floor."""
        present = jnp.asarray([block_present(layout) for layout in MAZE_LAYOUTS])[task.layout]
        centres = jnp.asarray(MAZE_BLOCK_CENTRES, jnp.float32)
        outside = jnp.maximum(jnp.abs(xy - centres) - MAZE_BLOCK_HALF, 0.0)
        distance = jnp.where(present, jnp.linalg.norm(outside, axis=1), jnp.inf)
        _, nearest = jax.lax.top_k(-distance, self.simulated_blocks)
        z = jnp.where(present[nearest], BLOCK_Z, PARKED_Z)
        return jnp.concatenate([centres[nearest], z[:, None]], axis=1)

    def placed_physics(self, task: ArenaTask, xy: jax.Array) -> Any:
        physics = copy.copy(self.physics)
        first = physics.sys.mj_model.geom("block_0").id
        geom_pos = jnp.asarray(physics.sys.geom_pos, jnp.float32)
        geom_pos = jax.lax.dynamic_update_slice(geom_pos, self.block_positions(task, xy),
                                                (first, 0))
        physics.sys = physics.sys.replace(geom_pos=geom_pos)
        return physics

    def reward(self, q_before: jax.Array, q_after: jax.Array, action: jax.Array,
               task: ArenaTask) -> tuple[jax.Array, Info]:
        goal = self.goal(task)
        toward = jnp.where(q_before[:2] < goal, 1.0, -1.0)
        velocity = (q_after[:2] - q_before[:2]) / self.physics.dt
        progress = jnp.sum(toward * velocity)
        ctrl_cost = self.ctrl_cost_weight * jnp.sum(jnp.square(action))
        distance = jnp.linalg.norm(q_after[:2] - goal)
        return (progress - ctrl_cost).astype(jnp.float32), {
            "progress": progress, "ctrl_cost": ctrl_cost, "distance_to_goal": distance}


@dataclasses.dataclass(frozen=True)
class AntWalledCourse(AntArena):
    """The sparse Ant obstacle course: one fixed course (COURSE), 3000 steps from (-35, 15), a
    pose reset every 300; reward 1 for every step that ends with the torso in the goal
    region (COURSE_GOAL_RADIUS_SQUARED around COURSE_GOAL), else 0: no shaping, no control cost.

    The course is the same in every task (no task types): what a master must learn is the way,
    readable from the observed world x, y.

    The original course also has a "monster", a 3-m ellipsoid that chases the ant at 1 m per
    step once the torso comes within 15 m of (25, 30). It is left out because it lies off the
    way to the goal: the southern way (through x = 10 at y ~ 0-3, then south-east) comes no
    closer to (25, 30) than ~31 m, and even the longer northern way round the x = -15 wall
    (through (-15, 38), then straight to the goal) passes 28 m from it; only an ant that walks
    into the north-east quarter, away from the goal, meets it.
    """

    episode_length: int = 3000
    pose_reset_every: int = 300
    arena: ClassVar[Arena] = COURSE

    @property
    def episode_end_metrics(self) -> tuple[str, ...]:
        """The mean of `in_goal_region` over episodes is the share that ended in the region."""
        return ("distance_to_goal", "in_goal_region")

    def sample_task(self, key: jax.Array) -> ArenaTask:
        del key  # one course: no task types to draw or balance
        return ArenaTask(jnp.int32(0))

    @property
    def goal_radius(self) -> float:
        """The goal region's radius: sqrt(30) = 5.48 m."""
        return math.sqrt(COURSE_GOAL_RADIUS_SQUARED)

    def goal(self, task: ArenaTask) -> jax.Array:
        """The goal region's centre (the same in every task)."""
        del task
        return jnp.asarray(COURSE_GOAL, jnp.float32)

    def in_goal_region(self, xy: jax.Array) -> jax.Array:
        """Whether a torso at `xy` is in the goal region."""
        return jnp.sum(jnp.square(xy - jnp.asarray(COURSE_GOAL))) < COURSE_GOAL_RADIUS_SQUARED

    def reward(self, q_before: jax.Array, q_after: jax.Array, action: jax.Array,
               task: ArenaTask) -> tuple[jax.Array, Info]:
        del q_before, action, task
        inside = self.in_goal_region(q_after[:2]).astype(jnp.float32)
        distance = jnp.linalg.norm(q_after[:2] - jnp.asarray(COURSE_GOAL))
        return inside, {"distance_to_goal": distance, "in_goal_region": inside}
