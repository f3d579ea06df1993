"""Action heads: categorical and diagonal Gaussian, single and stacked over K sub-policies."""

import math

import jax
import jax.numpy as jnp
import numpy as np

from envs.base import Box, Discrete
from mlsh_jax.config import NetworkConfig
from mlsh_jax.distributions import DiagGaussian
from mlsh_jax.networks import apply_stacked, init_stacked, select_subpolicy, subpolicy_network


def test_gaussian_log_prob_and_entropy_match_the_closed_form():
    mean, log_std = jnp.asarray([0.5, -1.0]), jnp.asarray([0.0, math.log(2.0)])
    action = jnp.asarray([1.5, 1.0])
    dist = DiagGaussian(mean=mean, log_std=log_std)
    expected = sum(-0.5 * ((a - m) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)
                   for a, m, s in zip([1.5, 1.0], [0.5, -1.0], [1.0, 2.0]))
    np.testing.assert_allclose(dist.log_prob(action), expected, rtol=1e-6)
    np.testing.assert_allclose(dist.entropy(),
                               sum(0.5 * math.log(2 * math.pi * math.e * s**2) for s in (1, 2)),
                               rtol=1e-6)


def test_continuous_subpolicies_have_a_state_independent_log_std_per_action_dimension():
    network = subpolicy_network(Box(dim=3), NetworkConfig(initial_log_std=-0.5))
    params = init_stacked(network, jax.random.PRNGKey(0), 2, observation_size=5)
    obs = jax.random.normal(jax.random.PRNGKey(1), (4, 5))
    dists, values = apply_stacked(network, params, obs)
    assert dists.mean.shape == (2, 4, 3) and values.shape == (2, 4)
    np.testing.assert_allclose(dists.log_std, -0.5)
    chosen, _ = select_subpolicy((dists, values), jnp.asarray([1, 0, 1, 1]))
    np.testing.assert_allclose(chosen.mean[0], dists.mean[1, 0])
    np.testing.assert_allclose(chosen.mean[1], dists.mean[0, 1])


def test_stacked_subpolicies_are_initialised_independently():
    network = subpolicy_network(Discrete(5), NetworkConfig())
    params = init_stacked(network, jax.random.PRNGKey(0), 3, observation_size=6)
    dists, _ = apply_stacked(network, params, jnp.ones((6,)))
    assert not np.allclose(dists.logits[0], dists.logits[1])
    assert not np.allclose(dists.logits[1], dists.logits[2])
