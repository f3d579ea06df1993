"""Key-Door: Moving Bandits with a key that must be fetched before the correct door pays.

A two-stage task (fetch, then go), so useful sub-policies are "go to the key" and "go to door
k" and the master must sequence them; which door pays is the hidden task.
"""

import dataclasses
from typing import ClassVar

import flax.struct
import jax
import jax.numpy as jnp

from envs import point_geometry as geo
from envs.base import Discrete, Environment, Info, episode_end, validate_episode_length


@flax.struct.dataclass
class KeyDoorTask:
    correct_door: jax.Array  # int32 scalar in {0, 1}: index of the rewarding door


@flax.struct.dataclass
class KeyDoorState:
    agent: jax.Array  # (2,) float32 position
    key_position: jax.Array  # (2,) float32 position of the key, redrawn at each reset
    doors: jax.Array  # (2, 2) float32 door positions, redrawn at each reset
    has_key: jax.Array  # bool: the agent has been within 50 units of the key this episode
    t: jax.Array  # int32 steps taken this episode


@dataclasses.dataclass(frozen=True)
class KeyDoor(Environment[KeyDoorTask, KeyDoorState]):
    """Moves, arena and radius as in Moving Bandits (`point_geometry`).

    After each move, the agent picks up the key if within 50 units of it (also on the first
    step when it starts there: an episode always starts without the key), then gets reward 1
    if it has the key and is within 50 units of the correct door. Observation:
    (agent xy, key xy, door 0 xy, door 1 xy) / 400 and has_key as 0/1. The time limit is
    part of the task, as in Moving Bandits: a termination.
    """

    episode_length: int = 100
    terminates_early: ClassVar[bool] = False

    def __post_init__(self) -> None:
        validate_episode_length(self.episode_length)

    @property
    def observation_size(self) -> int:
        return 9

    @property
    def action_space(self) -> Discrete:
        return Discrete(geo.NUM_ACTIONS)

    @property
    def num_task_types(self) -> int:
        return 2

    def task_type(self, task: KeyDoorTask) -> jax.Array:
        return task.correct_door

    def sample_task(self, key: jax.Array) -> KeyDoorTask:
        return KeyDoorTask(jax.random.randint(key, (), 0, 2, jnp.int32))

    def sample_task_of_type(self, key: jax.Array, task_type: jax.Array) -> KeyDoorTask:
        return KeyDoorTask(jnp.asarray(task_type, jnp.int32))

    def reset(self, key: jax.Array, task: KeyDoorTask) -> tuple[jax.Array, KeyDoorState]:
        points = geo.sample_points(key, 3)
        state = KeyDoorState(
            geo.start_position(), points[0], points[1:], jnp.bool_(False), jnp.int32(0)
        )
        return _observation(state), state

    def step(
        self, key: jax.Array, state: KeyDoorState, action: jax.Array, task: KeyDoorTask
    ) -> tuple[jax.Array, KeyDoorState, jax.Array, jax.Array, Info]:
        agent = geo.move(state.agent, action)
        has_key = state.has_key | geo.within_radius(agent, state.key_position)
        at_door = geo.within_radius(agent, state.doors[task.correct_door])
        reward = (has_key & at_door).astype(jnp.float32)
        state = KeyDoorState(agent, state.key_position, state.doors, has_key, state.t + 1)
        done, info = episode_end(jnp.bool_(False), state.t >= self.episode_length, self.truncates)
        return _observation(state), state, reward, done, info


def _observation(state: KeyDoorState) -> jax.Array:
    points = jnp.concatenate([state.agent[None], state.key_position[None], state.doors])
    return jnp.concatenate([geo.normalize(points), state.has_key.astype(jnp.float32)[None]])
