"""Four Rooms (Sutton, Precup & Singh 1999) with a hidden goal cell, as in the MLSH paper §6.2.

The goal is the task: it is sampled per task and never observed, so the master must find it
by exploring with sub-policies that learn to move between rooms through the hallways.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from envs.base import Discrete, Environment, Info, episode_end, validate_episode_length

LAYOUT = (
    "wwwwwwwwwwwww",
    "w     w     w",
    "w     w     w",
    "w           w",
    "w     w     w",
    "w     w     w",
    "ww wwww     w",
    "w     www www",
    "w     w     w",
    "w     w     w",
    "w           w",
    "w     w     w",
    "wwwwwwwwwwwww",
)
"""'w' is a wall, ' ' a free cell; the border is all wall, so every move stays on the grid."""

UP, DOWN, LEFT, RIGHT = range(4)
_OFFSETS = ((-1, 0), (1, 0), (0, -1), (0, 1))  # (row, col) change of UP, DOWN, LEFT, RIGHT

FREE_CELLS = np.array(
    [(r, c) for r, line in enumerate(LAYOUT) for c, ch in enumerate(line) if ch == " "], np.int32
)
"""(row, col) of each free cell in row-major order; a cell's index here is its identity."""
NUM_CELLS = len(FREE_CELLS)

_INDEX = {(int(r), int(c)): i for i, (r, c) in enumerate(FREE_CELLS)}
_NEXT_CELL = np.array(
    [
        [_INDEX.get((int(r) + dr, int(c) + dc), i) for dr, dc in _OFFSETS]
        for i, (r, c) in enumerate(FREE_CELLS)
    ],
    np.int32,
)
"""(NUM_CELLS, 4): the cell each move leads to; a wall in the way leaves the agent in place."""
_COORDS = (FREE_CELLS / (len(LAYOUT) - 1)).astype(np.float32)


def cell_index(row: int, col: int) -> int:
    """Index of the free cell at (row, col), e.g. to choose `goal_cells`."""
    if (row, col) not in _INDEX:
        raise ValueError(f"(row, col)=({row}, {col}) is not a free cell of the four-rooms layout")
    return _INDEX[(row, col)]


TOP_LEFT = cell_index(1, 1)
"""The top-left room's corner, the fixed start of experiments/configs/four_rooms.py (the
paper's agent "starts at a specific spot")."""


@flax.struct.dataclass
class FourRoomsTask:
    goal: jax.Array  # int32 scalar: free-cell index of the goal


@flax.struct.dataclass
class FourRoomsState:
    cell: jax.Array  # int32 scalar: free-cell index of the agent
    t: jax.Array  # int32 steps taken this episode


@dataclasses.dataclass(frozen=True)
class FourRooms(Environment[FourRoomsTask, FourRoomsState]):
    """Actions: 0 up, 1 down, 2 left, 3 right; with probability `slip_probability` the agent
    moves in one of the other three directions instead, uniformly.

    With `goal_ends_episode` (the default), reward 1 and the episode ends on the step after
    which the agent is on the goal cell (also when it stays there by bumping into a wall: with
    the goal at a fixed `start_cell`, the first such step pays); otherwise reward 0 until
    `episode_length`. Without it (the original code's Fourrooms), every step after which the
    agent is on the goal pays 1 and every episode lasts `episode_length` steps.
    Observation "onehot": one-hot of the agent's cell over the 104 free cells; "coords":
    (row, col) / 12. The goal is never observed. The time limit is part of the task (the
    paper's: reach the goal within `episode_length` steps), so it is a termination.
    """

    episode_length: int = 100
    slip_probability: float = 1 / 3
    start_cell: int | None = None
    """Free-cell index every episode starts on (e.g. TOP_LEFT, as in the paper); None: a
    uniform free cell other than the goal."""
    goal_cells: tuple[int, ...] | None = None
    """Free-cell indices the task's goal is drawn from, uniformly; None means every free cell."""
    observation: Literal["onehot", "coords"] = "onehot"
    goal_ends_episode: bool = True
    """False: the goal pays 1 on every step spent there and episodes run their full length, so
    a task with a near goal no longer supplies many short rewarded episodes per rollout."""

    def __post_init__(self) -> None:
        validate_episode_length(self.episode_length)
        p = self.slip_probability
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"slip_probability={p!r}: must be a number in [0, 1]")
        start = self.start_cell
        if start is not None and not (isinstance(start, int) and not isinstance(start, bool)
                                      and 0 <= start < NUM_CELLS):
            raise ValueError(f"start_cell={start!r}: must be None (random start) or a free-cell "
                             f"index in [0, {NUM_CELLS})")
        if self.goal_cells is not None:
            # Normalised to a tuple so that the env stays hashable (a jit static argument).
            object.__setattr__(self, "goal_cells", _validate_goal_cells(self.goal_cells))
        if self.observation not in ("onehot", "coords"):
            raise ValueError(f"observation={self.observation!r}: must be 'onehot' or 'coords'")
        if not isinstance(self.goal_ends_episode, bool):
            raise ValueError(f"goal_ends_episode={self.goal_ends_episode!r}: must be true or "
                             f"false")

    @property
    def terminates_early(self) -> bool:
        return self.goal_ends_episode

    @property
    def observation_size(self) -> int:
        return NUM_CELLS if self.observation == "onehot" else 2

    @property
    def action_space(self) -> Discrete:
        return Discrete(4)

    def sample_task(self, key: jax.Array) -> FourRoomsTask:
        cells = range(NUM_CELLS) if self.goal_cells is None else self.goal_cells
        return FourRoomsTask(jax.random.choice(key, jnp.asarray(cells, jnp.int32)))

    def reset(self, key: jax.Array, task: FourRoomsTask) -> tuple[jax.Array, FourRoomsState]:
        if self.start_cell is None:
            other = jax.random.randint(key, (), 0, NUM_CELLS - 1, jnp.int32)
            cell = other + (other >= task.goal)  # skip the goal: uniform over the other cells
        else:
            cell = jnp.int32(self.start_cell)
        state = FourRoomsState(cell, jnp.int32(0))
        return self._observation(state), state

    def step(
        self, key: jax.Array, state: FourRoomsState, action: jax.Array, task: FourRoomsTask
    ) -> tuple[jax.Array, FourRoomsState, jax.Array, jax.Array, Info]:
        direction = _slip(key, action, self.slip_probability)
        cell = jnp.asarray(_NEXT_CELL)[state.cell, direction]
        at_goal = cell == task.goal
        state = FourRoomsState(cell, state.t + 1)
        done, info = episode_end(at_goal & self.goal_ends_episode,
                                 state.t >= self.episode_length, self.truncates)
        return self._observation(state), state, at_goal.astype(jnp.float32), done, info

    def _observation(self, state: FourRoomsState) -> jax.Array:
        if self.observation == "onehot":
            return jax.nn.one_hot(state.cell, NUM_CELLS, dtype=jnp.float32)
        return jnp.asarray(_COORDS)[state.cell]


def _slip(key: jax.Array, action: jax.Array, slip_probability: float) -> jax.Array:
    """The direction actually taken: `action`, or with the given probability one of the other
    three uniformly. Both decisions come from one RNG call."""
    u = jax.random.uniform(key, (2,))
    other = (action + 1 + jnp.minimum((3 * u[1]).astype(jnp.int32), 2)) % 4
    return jnp.where(u[0] < slip_probability, other, action)


def _validate_goal_cells(goal_cells: Sequence[int]) -> tuple[int, ...]:
    cells = tuple(goal_cells)
    valid = all(
        isinstance(c, int) and not isinstance(c, bool) and 0 <= c < NUM_CELLS for c in cells
    )
    if not cells or not valid or len(set(cells)) != len(cells):
        raise ValueError(
            f"goal_cells={goal_cells!r}: must be None or a non-empty sequence of distinct "
            f"free-cell indices in [0, {NUM_CELLS})"
        )
    return cells
