"""GAE on steps and on macro transitions against plain-Python references."""

import jax.numpy as jnp
import numpy as np
import pytest

from mlsh_jax.gae import compact_macros, macro_advantages, macro_capacity, step_advantages


def reference_gae(rewards, values, dones, last_value, gamma, lam):
    advantages, next_adv, next_value = [], 0.0, last_value
    for r, v, d in reversed(list(zip(rewards, values, dones))):
        cont = 0.0 if d else 1.0
        delta = r + gamma * cont * next_value - v
        next_adv = delta + gamma * lam * cont * next_adv
        next_value = v
        advantages.append(next_adv)
    return np.array(advantages[::-1])


def test_step_advantages_match_python_reference_across_episode_ends():
    rng = np.random.default_rng(0)
    rewards = rng.normal(size=12).astype(np.float32)
    values = rng.normal(size=12).astype(np.float32)
    dones = np.zeros(12, bool)
    dones[[3, 9]] = True
    adv, ret = step_advantages(jnp.asarray(rewards), jnp.asarray(values), jnp.asarray(dones),
                               jnp.asarray(0.7, jnp.float32), 0.99, 0.95)
    expected = reference_gae(rewards, values, dones, 0.7, 0.99, 0.95)
    np.testing.assert_allclose(adv, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ret, expected + values, rtol=1e-5, atol=1e-5)


def example_macros():
    """Decisions at 0, 4 (N=4), 6 (the episode ended at 5) and 10 (N); the rollout ends at 12."""
    decisions = np.zeros(12, bool)
    decisions[[0, 4, 6, 10]] = True
    dones = np.zeros(12, bool)
    dones[5] = True
    rewards = np.arange(1, 13, dtype=np.float32)
    return compact_macros(jnp.asarray(decisions), jnp.asarray(rewards), jnp.asarray(dones), 6)


def test_macro_reward_is_the_sum_over_the_macro_including_cuts_by_episode_ends():
    macros = example_macros()
    np.testing.assert_array_equal(macros.valid, [True, True, True, True, False, False])
    np.testing.assert_array_equal(macros.start[:4], [0, 4, 6, 10])
    np.testing.assert_allclose(macros.reward[:4], [1 + 2 + 3 + 4, 5 + 6, 7 + 8 + 9 + 10, 11 + 12])
    np.testing.assert_array_equal(macros.done[:4], [False, True, False, False])
    np.testing.assert_allclose(macros.reward[4:], 0.0)
    assert int(macros.overflow) == 0


def test_macro_advantages_match_reference_on_macro_transitions_and_ignore_padding():
    macros = example_macros()
    values = jnp.asarray([0.5, -1.0, 2.0, 0.25, 99.0, 99.0])
    adv, ret = macro_advantages(macros, values, jnp.asarray(3.0), 0.9, 0.8)
    expected = reference_gae([10.0, 11.0, 34.0, 23.0], [0.5, -1.0, 2.0, 0.25],
                             [False, True, False, False], 3.0, 0.9, 0.8)
    np.testing.assert_allclose(adv[:4], expected, rtol=1e-5)
    np.testing.assert_allclose(adv[4:], 0.0)
    np.testing.assert_allclose(ret[:4], expected + np.array([0.5, -1.0, 2.0, 0.25]), rtol=1e-5)


@pytest.mark.parametrize("rollout_steps,macro_duration,episode_length",
                         [(50, 10, 50), (37, 10, 50), (100, 25, 30), (64, 7, 9), (20, 30, 5)])
def test_macro_capacity_holds_every_decision_for_any_episode_phase(rollout_steps, macro_duration,
                                                                   episode_length):
    capacity = macro_capacity(rollout_steps, macro_duration, episode_length, False)
    for phase in range(episode_length):
        count, age, t_in_episode = 0, 0, phase
        must_decide = True
        for _ in range(rollout_steps):
            if must_decide or age >= macro_duration:
                count, age = count + 1, 0
            age += 1
            t_in_episode += 1
            must_decide = t_in_episode == episode_length
            if must_decide:
                t_in_episode = 0
        assert count <= capacity, (phase, count, capacity)
