"""Episode returns are attributed to the update each episode started in, so early termination
and aligned starts do not over-count short episodes."""

import dataclasses
from typing import ClassVar

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.base import Discrete, Environment, wrap_for_training
from mlsh_jax.algorithms import meta_test_config
from mlsh_jax.config import NetworkConfig, PPOConfig, RunConfig
from mlsh_jax.gae import macro_capacity
from mlsh_jax.meta_test import episode_end_means, hierarchical_meta_test_state, summarize_returns
from mlsh_jax.mlsh import EpisodeTotals
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import init_subpolicies, seed_keys
from mlsh_jax.train import make_chunk


@flax.struct.dataclass
class CoinState:
    succeeds: jax.Array  # bool, drawn at reset
    t: jax.Array         # int32 steps taken


@dataclasses.dataclass(frozen=True)
class SucceedOrTimeOut(Environment):
    """Actions are ignored: with probability 1/2 an episode succeeds at step 10 (reward 1, it
    ends), else it times out at step 20 with return 0. The mean episode return is 1/2."""

    episode_length: int = 20
    terminates_early: ClassVar[bool] = True

    @property
    def observation_size(self) -> int:
        return 1

    @property
    def action_space(self) -> Discrete:
        return Discrete(5)  # the config's moving-bandits sub-policy network

    def sample_task(self, key):
        return jnp.zeros((), jnp.int32)

    def reset(self, key, task):
        return jnp.zeros((1,), jnp.float32), CoinState(jax.random.bernoulli(key), jnp.int32(0))

    def step(self, key, state, action, task):
        t = state.t + 1
        success = state.succeeds & (t == 10)
        done = success | (t >= self.episode_length)
        obs = jnp.full((1,), t / self.episode_length, jnp.float32)
        info = {"truncated": jnp.zeros((), bool)}  # the time limit is part of the task
        return obs, CoinState(state.succeeds, t), success.astype(jnp.float32), done, info


TASKS, ENVS, UPDATES = 64, 256, 3
CONFIG = RunConfig(num_slots=TASKS, envs_per_slot=ENVS, rollout_steps=20, macro_duration=5,
                   network=NetworkConfig(hidden_sizes=(8,)),
                   master_ppo=PPOConfig(epochs=1, num_minibatches=1))
# Each env starts at most 2 episodes per update (episodes last >= 10 of its 20 steps) and at
# least 1, so (return - 1/2 x count) per env is within +-1 and the ratio's standard error is at
# most 1 / sqrt(envs); 4 of those.
TOLERANCE = 4 / np.sqrt(TASKS * ENVS)


@pytest.fixture(scope="module")
def episodes() -> EpisodeTotals:
    """Totals [1 seed, UPDATES + 1, TASKS] of a meta-test on SucceedOrTimeOut: every env
    starts an episode at the first step of update 1 (aligned starts)."""
    config = meta_test_config(CONFIG, TASKS, UPDATES + 1, seed=0)
    env = SucceedOrTimeOut()
    spec = dataclasses.replace(
        MLSHSpec.build(config), env=wrap_for_training(env),
        macro_capacity=macro_capacity(config.rollout_steps, config.macro_duration,
                                      env.episode_length, env.terminates_early))
    subpolicies = jax.vmap(lambda key: init_subpolicies(spec, key))(seed_keys(0, 1))
    state = hierarchical_meta_test_state(spec, subpolicies, TASKS, seed=0)
    _, metrics = make_chunk(spec, UPDATES + 1, batch_dims=1)(state)
    return jax.tree.map(lambda x: np.asarray(x, np.float64), metrics.slot_episodes)


def test_returns_of_episodes_started_in_each_update_are_unbiased_from_aligned_starts(episodes):
    result = summarize_returns(episodes)
    np.testing.assert_allclose(result.mean_return, 0.5, atol=TOLERANCE)
    assert result.tasks_with_episodes == [TASKS] * UPDATES


def test_averaging_the_episodes_that_ended_would_over_count_short_ones(episodes):
    """Update 1 from aligned starts ends the first episode of every env and the second of
    those whose first succeeded: E[return sum] 0.75 / E[count] 1.25 = 0.6."""
    zeros = np.zeros_like(episodes.started_here_count)
    ended = EpisodeTotals(
        started_here_return=episodes.started_here_return + episodes.started_before_return,
        started_here_count=episodes.started_here_count + episodes.started_before_count,
        started_before_return=zeros, started_before_count=zeros)
    old = summarize_returns(ended).mean_return
    new = summarize_returns(episodes).mean_return
    assert abs(old[0] - 0.6) < TOLERANCE
    assert abs(new[0] - 0.5) < abs(old[0] - 0.5) - TOLERANCE


def test_summarize_returns_attributes_episodes_to_the_update_they_started_in():
    """[1 seed, 2 updates + 1, 2 tasks]. Task 0, update 1: 1 episode started and ended in it
    (return 1) and 2 that ended in update 2 after starting earlier (return 2 in all), so 3/3;
    the 9 that ended in update 1 but started before it belong to update 0. Update 2: 1 started
    and ended (return 0) and 1 finished in update 3 (return 0). Task 1 finishes one episode of
    update 2 only, in update 3, with return 1."""
    totals = EpisodeTotals(
        started_here_return=np.array([[[1.0, 0.0], [0.0, 0.0], [5.0, 0.0]]]),
        started_here_count=np.array([[[1.0, 0.0], [1.0, 0.0], [5.0, 0.0]]]),
        started_before_return=np.array([[[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]]]),
        started_before_count=np.array([[[9.0, 0.0], [2.0, 0.0], [1.0, 1.0]]]))
    result = summarize_returns(totals)
    assert result.mean_return == [1.0, 0.5]
    assert result.tasks_with_episodes == [1, 2]
    assert result.error_over == "tasks"
    assert np.isnan(result.standard_error[0])
    np.testing.assert_allclose(result.standard_error[1], 0.5)
    assert result.seed_mean_return == [[1.0, 0.5]]


def test_episode_end_means_average_the_episodes_that_ended_in_each_update():
    """2 seeds x 2 tasks, U = 2 (+1 finishing update, not reported); metric 'passed' summed
    over the episodes that ended: update 1 has 3 + 1 episodes ending, 2 of them passed;
    update 2 none ended."""
    zeros = np.zeros((2, 3, 2))
    here, before = zeros.copy(), zeros.copy()
    here[0, 0, 0], before[1, 0, 1] = 3, 1
    here[:, 2] = 5  # the finishing update: ignored
    totals = EpisodeTotals(started_here_return=zeros, started_here_count=here,
                           started_before_return=zeros, started_before_count=before)
    sums = np.zeros((2, 3, 2, 2))
    sums[0, 0, 0] = [2.0, 6.0]
    sums[1, 0, 1] = [0.0, 1.5]
    sums[:, 2] = 7.0
    means = episode_end_means(totals, sums, ("passed", "torso_x"))
    assert means == {"passed": [0.5, None], "torso_x": [7.5 / 4, None]}
