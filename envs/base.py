"""The functional environment API (gymnax-like) and the wrappers every training run uses.

Environments are frozen dataclasses holding only static configuration, so they are hashable
and can be passed to `jax.jit` as static arguments; the hidden task and the episode state are
pytrees passed in and out explicitly, so a batch of tasks or envs is a `jax.vmap`. All methods
describe one environment: batch them with `vmap`.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar, Generic, TypeVar

import flax.struct
import jax
import jax.numpy as jnp

TaskT = TypeVar("TaskT")
StateT = TypeVar("StateT")
Info = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class Discrete:
    """Actions are int32 scalars in [0, n)."""

    n: int


@dataclasses.dataclass(frozen=True)
class Box:
    """Actions are float32 vectors of shape (dim,) with bounds [low, high]."""

    dim: int
    low: float = -1.0
    high: float = 1.0


class Environment(abc.ABC, Generic[TaskT, StateT]):
    """One environment, as pure functions of explicit (key, task, state).

    Every state carries a step counter `t`, and `step` itself returns done=True once `t`
    reaches `episode_length`. `done` marks every episode end; `info["truncated"]` marks the
    ends where only a time limit that is not part of the task cut the episode short (a
    locomotion task would go on): learners bootstrap from the final observation there, and not
    at a termination (a fall, a goal reached, a finite-horizon task's last step). `truncates`
    says statically whether that can happen, so learners skip the bootstrap work when not.
    """

    truncates: ClassVar[bool] = False
    """Whether the time limit truncates episodes (info["truncated"] can be true)."""

    @property
    @abc.abstractmethod
    def observation_size(self) -> int:
        """Observations are float32 vectors of this length."""

    @property
    @abc.abstractmethod
    def action_space(self) -> Discrete | Box:
        """The actions `step` accepts."""

    @property
    @abc.abstractmethod
    def episode_length(self) -> int:
        """Most steps an episode can last."""

    @property
    @abc.abstractmethod
    def terminates_early(self) -> bool:
        """Whether an episode may end before `episode_length` steps."""

    @abc.abstractmethod
    def sample_task(self, key: jax.Array) -> TaskT:
        """Draws the hidden task: never visible in observations, only through rewards."""

    @abc.abstractmethod
    def reset(self, key: jax.Array, task: TaskT) -> tuple[jax.Array, StateT]:
        """Starts an episode of `task`; returns (obs, state)."""

    @abc.abstractmethod
    def step(
        self, key: jax.Array, state: StateT, action: jax.Array, task: TaskT
    ) -> tuple[jax.Array, StateT, jax.Array, jax.Array, Info]:
        """Advances one step; returns (obs, state, float32 reward, bool done, info)."""

    @property
    def num_task_types(self) -> int:
        """Number of discrete task types for diagnostics (0: tasks are not a small set)."""
        return 0

    def task_type(self, task: TaskT) -> jax.Array:
        """int32 index in [0, num_task_types) of `task`, e.g. which goal is correct."""
        raise NotImplementedError(f"{type(self).__name__} has no discrete task types")

    def sample_task_of_type(self, key: jax.Array, task_type: jax.Array) -> TaskT:
        """Draws a task of the given type (int32 in [0, num_task_types)), so that a trainer
        can balance the task types among slots (`RunConfig.balance_task_types`)."""
        raise NotImplementedError(f"{type(self).__name__} has no discrete task types")

    @property
    def episode_end_metrics(self) -> tuple[str, ...]:
        """Names of float `info` entries logged at each episode's last step (mean over the
        episodes that ended, overall and per task type): how far from the target an episode
        ended says more about a walker than its return."""
        return ()

    @property
    def position_observation_dims(self) -> tuple[int, ...]:
        """Indices of the observation that hold the body's world position (none: the env
        declares no such entries), which a run can show its sub-policies relative to their
        macro-action's start (`RunConfig.subpolicies_see_relative_position`)."""
        return ()


def episode_end(terminated: jax.Array, time_up: jax.Array,
                truncates: bool) -> tuple[jax.Array, Info]:
    """(done, info) of a step: the time limit truncates (`truncates`) or terminates the
    episode. A step that both terminates and reaches the time limit is a termination."""
    truncated = time_up & ~terminated if truncates else jnp.zeros_like(time_up)
    return terminated | time_up, {"truncated": truncated}


def validate_episode_length(value: object) -> None:
    """Rejects episode lengths that would make the time limit meaningless."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"episode_length={value!r}: must be an integer >= 1")


def validate_positive(name: str, value: object) -> None:
    """`name`=`value` must be a number > 0 (bools are refused: they are ints in Python)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name}={value!r}: must be a number > 0")


def validate_nonnegative(name: str, value: object) -> None:
    """`name`=`value` must be a number >= 0 (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name}={value!r}: must be a number >= 0")


def where_tree(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    """Leaf-wise select between two pytrees of the same structure: a branch-free `if`."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


@dataclasses.dataclass(frozen=True)
class Wrapper(Environment[TaskT, Any]):
    """Delegates everything to `env`; subclasses override only what they change."""

    env: Environment[TaskT, Any]

    @property
    def observation_size(self) -> int:
        return self.env.observation_size

    @property
    def action_space(self) -> Discrete | Box:
        return self.env.action_space

    @property
    def episode_length(self) -> int:
        return self.env.episode_length

    @property
    def terminates_early(self) -> bool:
        return self.env.terminates_early

    @property
    def truncates(self) -> bool:  # type: ignore[override]
        return self.env.truncates

    @property
    def num_task_types(self) -> int:
        return self.env.num_task_types

    def task_type(self, task: TaskT) -> jax.Array:
        return self.env.task_type(task)

    def sample_task_of_type(self, key: jax.Array, task_type: jax.Array) -> TaskT:
        return self.env.sample_task_of_type(key, task_type)

    @property
    def episode_end_metrics(self) -> tuple[str, ...]:
        return self.env.episode_end_metrics

    @property
    def position_observation_dims(self) -> tuple[int, ...]:
        return self.env.position_observation_dims

    def sample_task(self, key: jax.Array) -> TaskT:
        return self.env.sample_task(key)

    def reset(self, key: jax.Array, task: TaskT) -> tuple[jax.Array, Any]:
        return self.env.reset(key, task)

    def step(
        self, key: jax.Array, state: Any, action: jax.Array, task: TaskT
    ) -> tuple[jax.Array, Any, jax.Array, jax.Array, Info]:
        return self.env.step(key, state, action, task)


@dataclasses.dataclass(frozen=True)
class AutoReset(Wrapper[TaskT]):
    """Starts a new episode in the same step that ends one, so rollouts never stall.

    On done=True the returned obs and state are those of the new episode, while reward and
    done are those of the step that ended the old one; the old episode's last observation is
    `info["final_obs"]` (on every step, for static shapes), which learners bootstrap from at a
    truncation. `step` computes both and selects, which keeps it branch-free under `vmap`.

    A batch of envs can instead draw the new episodes only at the steps where some env of the
    batch ended one (a Brax reset runs the physics' initialisation, and most steps of a
    locomotion task end no episode): `step_only` for every env, then `new_episode` under one
    batch-level condition, then `restart_ended` for every env: given the halves of each env's
    key, `step`'s draws, so its results up to the rounding of another compiled program.
    """

    def step(
        self, key: jax.Array, state: Any, action: jax.Array, task: TaskT
    ) -> tuple[jax.Array, Any, jax.Array, jax.Array, Info]:
        step_key, reset_key = jax.random.split(key)
        return self.restart_ended(self.step_only(step_key, state, action, task),
                                  self.new_episode(reset_key, task))

    def step_only(
        self, step_key: jax.Array, state: Any, action: jax.Array, task: TaskT
    ) -> tuple[jax.Array, Any, jax.Array, jax.Array, Info]:
        """The wrapped env's step (with the first half of `step`'s key), its observation also
        as `info["final_obs"]`; an ended episode is not yet restarted."""
        obs, state, reward, done, info = self.env.step(step_key, state, action, task)
        return obs, state, reward, done, {**info, "final_obs": obs}

    def new_episode(self, reset_key: jax.Array, task: TaskT) -> tuple[jax.Array, Any]:
        """The episode `step` starts if it ends one (with the second half of its key)."""
        return self.env.reset(reset_key, task)

    @staticmethod
    def restart_ended(
        stepped: tuple[jax.Array, Any, jax.Array, jax.Array, Info],
        new_episode: tuple[jax.Array, Any],
    ) -> tuple[jax.Array, Any, jax.Array, jax.Array, Info]:
        """`step_only`'s results with the observation and state of `new_episode` where done."""
        obs, state, reward, done, info = stepped
        reset_obs, reset_state = new_episode
        return (jnp.where(done, reset_obs, obs), where_tree(done, reset_state, state), reward,
                done, info)


@flax.struct.dataclass
class EpisodeStatsState:
    """The wrapped env's state plus the running totals of the current episode."""

    env_state: Any
    episode_return: jax.Array  # float32 scalar: rewards summed so far this episode
    episode_length: jax.Array  # int32 scalar: steps taken so far this episode


@dataclasses.dataclass(frozen=True)
class EpisodeStats(Wrapper[TaskT]):
    """Reports each finished episode's return and length in `info`, for logging.

    `info["episode_return"]` / `info["episode_length"]` hold the totals of the episode that
    ended at this step and 0 on every other step; the length tells a learner when the episode
    started. The totals restart at every episode end, so it may sit on either side of
    `AutoReset`; `wrap_for_training` puts it inside, for `AutoReset`'s batched steps.
    """

    def reset(self, key: jax.Array, task: TaskT) -> tuple[jax.Array, EpisodeStatsState]:
        obs, env_state = self.env.reset(key, task)
        return obs, EpisodeStatsState(env_state, jnp.float32(0.0), jnp.int32(0))

    def step(
        self, key: jax.Array, state: EpisodeStatsState, action: jax.Array, task: TaskT
    ) -> tuple[jax.Array, EpisodeStatsState, jax.Array, jax.Array, Info]:
        obs, env_state, reward, done, info = self.env.step(key, state.env_state, action, task)
        episode_return = state.episode_return + reward
        episode_length = state.episode_length + 1
        info = {
            **info,
            "episode_return": jnp.where(done, episode_return, 0.0),
            "episode_length": jnp.where(done, episode_length, 0),
        }
        state = EpisodeStatsState(
            env_state,
            jnp.where(done, 0.0, episode_return),
            jnp.where(done, 0, episode_length),
        )
        return obs, state, reward, done, info


@dataclasses.dataclass(frozen=True)
class ScaleReward(Wrapper[TaskT]):
    """Multiplies every reward by `scale`: e.g. to check that learning does not depend on it."""

    scale: float = 1.0

    def step(
        self, key: jax.Array, state: Any, action: jax.Array, task: TaskT
    ) -> tuple[jax.Array, Any, jax.Array, jax.Array, Info]:
        obs, state, reward, done, info = self.env.step(key, state, action, task)
        return obs, state, reward * jnp.float32(self.scale), done, info


def wrap_for_training(env: Environment[TaskT, Any],
                      reward_scale: float = 1.0) -> AutoReset[TaskT]:
    """The standard stack for rollouts: episode statistics (of the rewards the learners see,
    scaled when `reward_scale` is not 1) inside an auto-reset, which batched rollouts can run
    as `AutoReset.step_only`, `new_episode` only where needed, `restart_ended`."""
    if reward_scale != 1.0:
        env = ScaleReward(env, reward_scale)
    return AutoReset(EpisodeStats(env))
