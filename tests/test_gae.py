"""GAE on steps and on macro transitions against plain-Python references."""

import jax.numpy as jnp
import numpy as np
import pytest

from mlsh_jax.gae import compact_macros, macro_advantages, macro_capacity, step_advantages


def reference_gae(rewards, values, dones, last_value, gamma, lam, truncated=None,
                  final_values=None):
    """Plain-Python GAE: a termination adds nothing after it; a truncation bootstraps from the
    final observation's value; either end stops the sum at the episode's boundary."""
    count = len(rewards)
    truncated = [False] * count if truncated is None else truncated
    advantages, next_adv, next_value = [], 0.0, last_value
    for t in reversed(range(count)):
        if truncated[t]:
            delta = rewards[t] + gamma * final_values[t] - values[t]
        elif dones[t]:
            delta = rewards[t] - values[t]
        else:
            delta = rewards[t] + gamma * next_value - values[t]
        next_adv = delta + (0.0 if dones[t] else gamma * lam * next_adv)
        next_value = values[t]
        advantages.append(next_adv)
    return np.array(advantages[::-1])


def step_gae(rewards, values, dones, truncated, final_values, last_value, gamma, lam):
    as_jax = lambda x: jnp.asarray(np.asarray(x))
    return step_advantages(as_jax(rewards), as_jax(values), as_jax(dones), as_jax(truncated),
                           as_jax(final_values), jnp.asarray(last_value, jnp.float32), gamma, lam)


def test_step_advantages_match_python_reference_across_episode_ends():
    rng = np.random.default_rng(0)
    rewards = rng.normal(size=12).astype(np.float32)
    values = rng.normal(size=12).astype(np.float32)
    dones = np.zeros(12, bool)
    dones[[3, 9]] = True
    no_truncation = np.zeros(12, bool)
    adv, ret = step_gae(rewards, values, dones, no_truncation, np.full(12, 99.0, np.float32),
                        0.7, 0.99, 0.95)
    expected = reference_gae(rewards, values, dones, 0.7, 0.99, 0.95)
    np.testing.assert_allclose(adv, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ret, expected + values, rtol=1e-5, atol=1e-5)


def test_step_advantages_bootstrap_at_truncations_and_not_at_terminations():
    """Termination at 2, truncation at 6, truncation on the last step (11)."""
    rng = np.random.default_rng(1)
    rewards = rng.normal(size=12).astype(np.float32)
    values = rng.normal(size=12).astype(np.float32)
    final_values = rng.normal(size=12).astype(np.float32) * 10
    dones = np.zeros(12, bool)
    dones[[2, 6, 11]] = True
    truncated = np.zeros(12, bool)
    truncated[[6, 11]] = True
    adv, ret = step_gae(rewards, values, dones, truncated, final_values, 0.7, 0.99, 0.95)
    expected = reference_gae(rewards, values, dones, 0.7, 0.99, 0.95, truncated, final_values)
    np.testing.assert_allclose(adv, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ret, expected + values, rtol=1e-5, atol=1e-5)
    # The truncated step's TD error uses the final observation's value, not the next
    # episode's first one, and not zero.
    np.testing.assert_allclose(adv[6], rewards[6] + 0.99 * final_values[6] - values[6],
                               rtol=1e-5)
    np.testing.assert_allclose(adv[2], rewards[2] - values[2], rtol=1e-5)


def example_macros():
    """Decisions at 0, 4 (N=4), 6 (the episode ended at 5) and 10 (N); the rollout ends at 12."""
    decisions = np.zeros(12, bool)
    decisions[[0, 4, 6, 10]] = True
    dones = np.zeros(12, bool)
    dones[5] = True
    rewards = np.arange(1, 13, dtype=np.float32)
    return compact_macros(jnp.asarray(decisions), jnp.asarray(rewards), jnp.asarray(dones),
                          jnp.zeros(12, bool), jnp.zeros(12, jnp.float32), 6)


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


def test_macro_advantages_bootstrap_at_truncations_and_not_at_terminations():
    """Macros from decisions at 0, 4 (N=4), 6 (after a termination at 5), 9 (after a
    truncation at 8) and 11 (a truncation at 11, the rollout's last step): both kinds of end
    in one rollout."""
    decisions = np.zeros(12, bool)
    decisions[[0, 4, 6, 9, 11]] = True
    dones = np.zeros(12, bool)
    dones[[5, 8, 11]] = True
    truncated = np.zeros(12, bool)
    truncated[[8, 11]] = True
    final_values = np.zeros(12, np.float32)
    final_values[[5, 8, 11]] = [-50.0, 7.0, 4.0]  # -50 would show if a termination bootstrapped
    rewards = np.arange(1, 13, dtype=np.float32)
    macros = compact_macros(*map(jnp.asarray, (decisions, rewards, dones, truncated,
                                               final_values)), 8)
    macro_dones = [False, True, True, False, True]
    macro_truncated = [False, False, True, False, True]
    np.testing.assert_array_equal(macros.done[:5], macro_dones)
    np.testing.assert_array_equal(macros.truncated[:5], macro_truncated)
    values = np.asarray([0.5, -1.0, 2.0, 0.25, 1.5, 99.0, 99.0, 99.0], np.float32)
    adv, ret = macro_advantages(macros, jnp.asarray(values), jnp.asarray(3.0), 0.9, 0.8)
    expected = reference_gae([1 + 2 + 3 + 4.0, 5 + 6.0, 7 + 8 + 9.0, 10 + 11.0, 12.0],
                             values[:5], macro_dones, 3.0, 0.9, 0.8, macro_truncated,
                             [0.0, 0.0, 7.0, 0.0, 4.0])
    np.testing.assert_allclose(adv[:5], expected, rtol=1e-5)
    np.testing.assert_allclose(adv[5:], 0.0)
    np.testing.assert_allclose(ret[:5], expected + values[:5], rtol=1e-5)


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
