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
from mlsh_jax.meta_test import (episode_end_means, hierarchical_meta_test_state,
                                summarize_returns, task_type_curves)
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
        started_before_return=zeros, started_before_count=zeros,
        started_here_end=episodes.started_here_end + episodes.started_before_end,
        started_before_end=np.zeros_like(episodes.started_before_end))
    old = summarize_returns(ended).mean_return
    new = summarize_returns(episodes).mean_return
    assert abs(old[0] - 0.6) < TOLERANCE
    assert abs(new[0] - 0.5) < abs(old[0] - 0.5) - TOLERANCE


def totals_of(here_return, here_count, before_return, before_count, here_end=None,
              before_end=None) -> EpisodeTotals:
    """EpisodeTotals from nested lists [seeds, updates, tasks] (episode-end sums: [..., M],
    none by default)."""
    arrays = [np.asarray(x, np.float64) for x in (here_return, here_count, before_return,
                                                  before_count)]
    no_end = np.zeros(arrays[0].shape + (0,))
    return EpisodeTotals(*arrays, no_end if here_end is None else here_end,
                         no_end if before_end is None else before_end)


def test_summarize_returns_attributes_episodes_to_the_update_they_started_in():
    """[1 seed, 2 updates + 1, 2 tasks]. Task 0, update 1: 1 episode started and ended in it
    (return 1) and 2 that ended in update 2 after starting earlier (return 2 in all), so 3/3;
    the 9 that ended in update 1 but started before it belong to update 0. Update 2: 1 started
    and ended (return 0) and 1 finished in update 3 (return 0). Task 1 finishes one episode of
    update 2 only, in update 3, with return 1: update 2 pools 1 over 3 episodes."""
    totals = totals_of([[[1.0, 0.0], [0.0, 0.0], [5.0, 0.0]]],
                       [[[1.0, 0.0], [1.0, 0.0], [5.0, 0.0]]],
                       [[[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]]],
                       [[[9.0, 0.0], [2.0, 0.0], [1.0, 1.0]]])
    result = summarize_returns(totals)
    np.testing.assert_allclose(result.mean_return, [1.0, 1 / 3])
    assert result.tasks_with_episodes == [1, 2]
    assert result.error_over == "tasks"
    # Ratio estimator's error over both tasks (a task without episodes is a sample too):
    # update 1's residuals vanish (3 - 1 x 3, 0 - 1 x 0); update 2's are 0 - 2/3 and 1 - 1/3:
    # sqrt((8/9) / 2) / 1.5 episodes per task.
    np.testing.assert_allclose(result.standard_error, [0.0, 4 / 9])
    np.testing.assert_allclose(result.seed_mean_return, [[1.0, 1 / 3]])


def test_pooling_the_tasks_episodes_is_unbiased_where_averaging_each_tasks_mean_is_not():
    """SucceedOrTimeOut with one env per task, from an aligned start: a success (p = 1/2)
    ends the first episode at step 10 and starts a second, which ends by step 20 (success)
    or times out in the next update. Tasks in proportion: success-success (2 episodes,
    return 2), success-failure (1 + 0, the second ending in update 2), failure twice (one
    episode, return 0). The mean return per episode started is 1/2; the mean of the tasks'
    own means is (1 + 1/2 + 0 + 0) / 4 = 0.375."""
    totals = totals_of([[[2.0, 1.0, 0.0, 0.0], [0.0] * 4]], [[[2.0, 1.0, 1.0, 1.0], [0.0] * 4]],
                       [[[0.0] * 4, [0.0] * 4]], [[[0.0] * 4, [0.0, 1.0, 0.0, 0.0]]])
    assert summarize_returns(totals).mean_return == [0.5]


def test_episode_end_means_average_the_episodes_that_started_in_each_update():
    """2 seeds x 2 tasks, U = 2 (+1 finishing update, not reported); metrics 'passed' and
    'torso_x' summed over episodes. Update 1: 3 episodes started and ended in it (2 passed)
    and 1 that started in it and ended in update 2 (none passed); the 4 that ended in update
    1 but started before it are not update 1's. Update 2: none started and ended."""
    zeros = np.zeros((2, 3, 2))
    here, before = zeros.copy(), zeros.copy()
    here_end, before_end = np.zeros((2, 3, 2, 2)), np.zeros((2, 3, 2, 2))
    here[0, 0, 0], here_end[0, 0, 0] = 3, [2.0, 6.0]
    before[1, 1, 1], before_end[1, 1, 1] = 1, [0.0, 1.5]
    before[0, 0, 1], before_end[0, 0, 1] = 4, [4.0, 4.0]
    here[:, 2], here_end[:, 2] = 5, 7.0  # the finishing update's own episodes: ignored
    totals = totals_of(zeros, here, zeros, before, here_end, before_end)
    means = episode_end_means(totals, ("passed", "torso_x"))
    assert means == {"passed": [0.5, None], "torso_x": [7.5 / 4, None]}


def test_task_type_curves_pool_each_types_episodes_over_seeds_and_tasks():
    """2 seeds x 3 tasks, U = 1 (+1 finishing update); types [[0, 1, 0], [1, 1, 0]]. Type 0:
    seed 0's tasks 0 and 2 and seed 1's task 2; type 1 the other three. Walk-like returns for
    type 0 (positive torso_x), crawl-like for type 1 (negative), so the overall mean of
    torso_x hides what each type does."""
    zeros = np.zeros((2, 2, 3))
    returns, counts = zeros.copy(), zeros.copy()
    ends = np.zeros((2, 2, 3, 1))
    for (seed, task), (total, count, torso_x) in {
            (0, 0): (10.0, 1, 2.0), (0, 2): (20.0, 1, 4.0), (1, 2): (30.0, 2, 6.0),
            (0, 1): (5.0, 1, -1.0), (1, 0): (7.0, 1, -3.0), (1, 1): (0.0, 0, 0.0)}.items():
        returns[seed, 0, task], counts[seed, 0, task] = total, count
        ends[seed, 0, task] = torso_x
    totals = totals_of(returns, counts, zeros, zeros, ends, np.zeros_like(ends))
    types = np.array([[0, 1, 0], [1, 1, 0]])
    curves = task_type_curves(totals, types, 3, ("torso_x",))
    assert curves.tasks == [3, 3, 0]
    assert curves.mean_return == [[60.0 / 4], [12.0 / 2], [None]]
    assert curves.episode_end == {"torso_x": [[12.0 / 4], [-4.0 / 2], [None]]}
    overall = episode_end_means(totals, ("torso_x",))["torso_x"]
    assert overall == [8.0 / 6]  # both types' episodes pooled: (12 - 4) / 6
