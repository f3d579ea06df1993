"""Learning thresholds (slow: run with `python -m pytest -q -m slow`)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs import point_geometry as geo
from experiments.config_cli import load_config_file
from mlsh_jax.meta_test import meta_test
from mlsh_jax.normalization import RunningStats
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import init_subpolicies, seed_keys
from mlsh_jax.train import train


@pytest.mark.slow
def test_moving_bandits_quick_start_specialises_on_its_default_seed(tmp_path):
    """The shipped config (alike sub-policies restarted): always heading to one goal earns
    ~23, one sub-policy per goal ~39 at the end of warmup (the optimum is ~43.8; epsilon-
    exploration costs a bit)."""
    config = dataclasses.replace(load_config_file("moving_bandits.py"), log_every=50)
    state = train(config, tmp_path, log=lambda line: None)
    result = meta_test(config, state.subpolicies, num_tasks=256,
                       updates=config.warmup_updates, seed=1000)
    assert result.mean_return[-1] >= 38.0, result.mean_return


@pytest.mark.slow
def test_four_rooms_fresh_masters_beat_a_random_walk_within_five_updates(tmp_path):
    """From the fixed start a random walk reaches a goal in ~0.24 of episodes (meta-test update
    1 of `scratch`, docs/results.md); masters over the config's sub-policies (3 seeds: 0.59,
    0.49, 0.28 at update 5; this test trains seed 0) pass 0.37 there, where flat PPO from
    scratch is at 0.35."""
    config = dataclasses.replace(load_config_file("four_rooms.py"), log_every=50)
    state = train(config, tmp_path, log=lambda line: None)
    result = meta_test(config, state.subpolicies, num_tasks=128, updates=5, seed=1000)
    assert result.mean_return[-1] >= 0.37, result.mean_return


def go_to_goal_subpolicies(spec: MLSHSpec):
    """Two hand-set Moving Bandits sub-policies, "go to goal 0" and "go to goal 1" (seed axis
    of 1): each moves along the larger signed difference between its goal and the agent."""
    fresh = jax.vmap(lambda key: init_subpolicies(spec, key))(seed_keys(0, 1))
    hidden = spec.config.network.hidden_sizes[0]

    def actor(goal: int):
        first = np.zeros((6, hidden), np.float32)
        for unit, (coordinate, sign) in enumerate([(0, 1), (0, -1), (1, 1), (1, -1)]):
            first[2 + 2 * goal + coordinate, unit] = 2.0 * sign  # goal - agent, per direction
            first[coordinate, unit] = -2.0 * sign
        second = np.zeros((hidden, hidden), np.float32)
        second[np.arange(4), np.arange(4)] = 1.0
        head = np.zeros((hidden, 5), np.float32)
        head[np.arange(4), [geo.PLUS_X, geo.MINUS_X, geo.PLUS_Y, geo.MINUS_Y]] = 50.0
        layer = lambda kernel: {"kernel": kernel, "bias": np.zeros(kernel.shape[1], np.float32)}
        return {"Dense_0": layer(first), "Dense_1": layer(second), "Dense_2": layer(head)}

    actors = jax.tree.map(lambda a, b: jnp.stack([a, b])[None], actor(0), actor(1))
    identity = RunningStats(mean=jnp.zeros((1, 6)), var=jnp.ones((1, 6)), count=jnp.ones(1))
    return fresh.replace(params={"params": {**fresh.params["params"], "actor": actors}},
                         obs_stats=identity)


def assert_same_within_noise(at_1, at_100):
    """Final meta-test returns of a run on rewards x1 and x100 (reported /100) agree."""
    mean_1, error_1 = at_1.mean_return[-1], at_1.standard_error[-1]
    mean_100, error_100 = at_100.mean_return[-1] / 100, at_100.standard_error[-1] / 100
    assert abs(mean_1 - mean_100) <= 3 * np.hypot(error_1, error_100) + 0.5, (at_1, at_100)


@pytest.mark.slow
def test_fresh_masters_over_fixed_subpolicies_learn_the_same_on_rewards_times_1_and_100():
    """Fails with one gradient clip over actor and critic (measured with 3 seeds x 8 tasks:
    41.0 at x1 against 30.1 at x100 after 10 updates); return normalisation on its own is
    checked by tests/test_ppo.py."""
    config = dataclasses.replace(load_config_file("moving_bandits.py"), envs_per_slot=64)
    results = []
    for scale in (1.0, 100.0):
        scaled = dataclasses.replace(config, reward_scale=scale)
        subpolicies = go_to_goal_subpolicies(MLSHSpec.build(scaled))
        results.append(meta_test(scaled, subpolicies, num_tasks=32, updates=8, seed=1000))
    assert results[0].mean_return[-1] >= 35.0, results[0].mean_return
    assert_same_within_noise(*results)


@pytest.mark.slow
def test_flat_ppo_from_scratch_learns_the_same_on_rewards_times_1_and_100():
    """Fails with one gradient clip over actor and critic (measured: 23.0 at x1 against 9.2 at
    x100 after 15 updates)."""
    config = dataclasses.replace(load_config_file("moving_bandits.py"), algorithm="scratch",
                                 envs_per_slot=64)
    results = [meta_test(dataclasses.replace(config, reward_scale=scale), None, num_tasks=32,
                         updates=12, seed=1000) for scale in (1.0, 100.0)]
    assert results[0].mean_return[-1] >= 20.0, results[0].mean_return
    assert_same_within_noise(*results)
