"""Moving Bandits (MLSH paper §6.1): reach the one of two random goals that the hidden task names.

The goals move every episode and both are observed; only reward says which one pays, so a
master policy must infer the task while sub-policies learn "go to goal 1" / "go to goal 2".
"""

import dataclasses
from typing import ClassVar

import flax.struct
import jax
import jax.numpy as jnp

from envs import point_geometry as geo
from envs.base import Discrete, Environment, Info, episode_end, validate_episode_length


@flax.struct.dataclass
class MovingBanditsTask:
    correct_goal: jax.Array  # int32 scalar in {0, 1}: index of the rewarding goal


@flax.struct.dataclass
class MovingBanditsState:
    agent: jax.Array  # (2,) float32 position
    goals: jax.Array  # (2, 2) float32 goal positions, redrawn at each reset
    t: jax.Array  # int32 steps taken this episode


@dataclasses.dataclass(frozen=True)
class MovingBandits(Environment[MovingBanditsTask, MovingBanditsState]):
    """Actions: 0 stay, 1 +x, 2 -x, 3 +y, 4 -y (20 units; clipped to the [0, 400]² arena).

    Reward 1 on each step that ends within 50 units of the correct goal. Observation:
    (agent xy, goal 0 xy, goal 1 xy) / 400; the task is not in it. The time limit is part of
    the task, a termination: the goals are redrawn each episode, and the return counts what
    one episode's 50 steps collect (nothing after the end depends on the last state).
    """

    episode_length: int = 50
    terminates_early: ClassVar[bool] = False

    def __post_init__(self) -> None:
        validate_episode_length(self.episode_length)

    @property
    def observation_size(self) -> int:
        return 6

    @property
    def action_space(self) -> Discrete:
        return Discrete(geo.NUM_ACTIONS)

    @property
    def num_task_types(self) -> int:
        return 2

    def task_type(self, task: MovingBanditsTask) -> jax.Array:
        return task.correct_goal

    def sample_task(self, key: jax.Array) -> MovingBanditsTask:
        return MovingBanditsTask(jax.random.randint(key, (), 0, 2, jnp.int32))

    def sample_task_of_type(self, key: jax.Array, task_type: jax.Array) -> MovingBanditsTask:
        return MovingBanditsTask(jnp.asarray(task_type, jnp.int32))

    def reset(
        self, key: jax.Array, task: MovingBanditsTask
    ) -> tuple[jax.Array, MovingBanditsState]:
        state = MovingBanditsState(geo.start_position(), geo.sample_points(key, 2), jnp.int32(0))
        return _observation(state), state

    def step(
        self, key: jax.Array, state: MovingBanditsState, action: jax.Array, task: MovingBanditsTask
    ) -> tuple[jax.Array, MovingBanditsState, jax.Array, jax.Array, Info]:
        agent = geo.move(state.agent, action)
        reward = geo.within_radius(agent, state.goals[task.correct_goal]).astype(jnp.float32)
        state = MovingBanditsState(agent, state.goals, state.t + 1)
        done, info = episode_end(jnp.bool_(False), state.t >= self.episode_length, self.truncates)
        return _observation(state), state, reward, done, info


def _observation(state: MovingBanditsState) -> jax.Array:
    return geo.normalize(jnp.concatenate([state.agent[None], state.goals]))
