"""Alike sub-policies found by the Hellinger distance of their actions, and the later one of
each alike group re-initialised after the configured updates, nothing else touched."""

import dataclasses
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.config_cli import apply_overrides
from mlsh_jax.alike import alike_later, hellinger, pairwise_distances
from mlsh_jax.config import ConfigError, PPOConfig, RunConfig
from mlsh_jax.distributions import Categorical, DiagGaussian
from mlsh_jax.algorithms import meta_test_config
from mlsh_jax.mlsh import mlsh_update, reinit_alike
from mlsh_jax.normalization import normalize
from mlsh_jax.rollout import rollout
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import init_subpolicies
from compiled import init_jit

TINY = RunConfig(num_slots=3, envs_per_slot=2, rollout_steps=20, macro_duration=5,
                 warmup_updates=1, joint_updates=1, stagger=False, num_subpolicies=3,
                 total_updates=4, log_every=4,
                 master_ppo=PPOConfig(epochs=1, num_minibatches=1),
                 sub_ppo=PPOConfig(epochs=1, num_minibatches=1))


def test_hellinger_is_zero_for_equal_one_for_disjoint_and_exact_for_gaussians():
    logits = jnp.log(jnp.asarray([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]]) + 1e-30)
    same = hellinger(Categorical(logits), Categorical(logits))
    disjoint = hellinger(Categorical(logits[:1]), Categorical(jnp.log(
        jnp.asarray([[0.0, 0.0, 1.0]]) + 1e-30)))
    np.testing.assert_allclose(same, 0.0, atol=1e-3)
    np.testing.assert_allclose(disjoint, 1.0, atol=1e-6)
    # equal standard deviations s: H^2 = 1 - exp(-(m1 - m2)^2 / (8 s^2)) per dimension
    first = DiagGaussian(mean=jnp.asarray([[0.0, 0.0]]), log_std=jnp.log(jnp.asarray([0.5, 0.5])))
    second = DiagGaussian(mean=jnp.asarray([[1.0, 0.0]]), log_std=first.log_std)
    expected = np.sqrt(1 - np.exp(-1.0 / (8 * 0.25)))
    np.testing.assert_allclose(hellinger(first, second), [expected], rtol=1e-5)


def test_each_alike_group_keeps_its_first_member():
    far, near = 0.9, 0.1
    # 0 ~ 1 ~ 2 (1 and 2 both close to 0): 1 and 2 re-initialised; 3 apart from all
    distances = jnp.asarray([[0, near, near, far], [near, 0, near, far],
                             [near, near, 0, far], [far, far, far, 0]])
    np.testing.assert_array_equal(alike_later(distances, 0.37), [False, True, True, False])
    # 1 is close to 0 only; 2 is close to 1 (re-initialised) but not to 0: 2 stays
    chain = jnp.asarray([[0, near, far], [near, 0, near], [far, near, 0]])
    np.testing.assert_array_equal(alike_later(chain, 0.37), [False, True, False])


@pytest.fixture(scope="module")
def updated():
    """One state; an update with a check after update 1 at a threshold that finds every pair
    alike (1.0), and updates without checks."""
    specs = {name: MLSHSpec.build(dataclasses.replace(TINY, **changes)) for name, changes in (
        ("all", dict(reinit_alike_updates=(1,), alike_threshold=1.0)), ("off", {}))}
    state = init_jit(specs["off"], jax.random.PRNGKey(0))  # the checks change no initial state
    step = {name: jax.jit(lambda s, spec=spec: mlsh_update(spec, s))
            for name, spec in specs.items()}
    first, metrics = step["all"](state)
    plain, _ = step["off"](state)
    return specs["all"], state, first, metrics, plain


def test_after_a_check_the_later_alike_sub_policies_start_afresh_and_the_first_is_untouched(
        updated):
    spec, state, first, metrics, plain = updated
    np.testing.assert_array_equal(metrics.subpolicy_reinitialised, [0.0, 1.0, 1.0])
    distances = np.asarray(metrics.subpolicy_distance)
    assert distances.shape == (3, 3) and (distances[~np.eye(3, dtype=bool)] > 0).all()
    take = lambda tree, k: jax.tree.map(lambda x: np.asarray(x[k]), tree)
    fresh = init_subpolicies(spec, jax.random.fold_in(state.key, 5))
    for k in (1, 2):
        jax.tree.map(np.testing.assert_array_equal, take(first.subpolicies.params, k),
                     take(fresh.params, k))
        jax.tree.map(np.testing.assert_array_equal, take(first.subpolicies.opt_state, k),
                     take(fresh.opt_state, k))
        jax.tree.map(np.testing.assert_array_equal, take(first.subpolicies.return_stats, k),
                     take(fresh.return_stats, k))
    for part in ("params", "opt_state", "return_stats"):
        jax.tree.map(np.testing.assert_array_equal, take(getattr(first.subpolicies, part), 0),
                     take(getattr(plain.subpolicies, part), 0))
    jax.tree.map(np.testing.assert_array_equal, first.subpolicies.obs_stats,
                 plain.subpolicies.obs_stats)


def test_no_alike_pair_or_no_check_due_leaves_the_sub_policies_as_they_were(updated):
    _, state, _, _, _ = updated
    spec = MLSHSpec.build(dataclasses.replace(TINY, reinit_alike_updates=(1,),
                                              alike_threshold=1e-9))
    _, traj = jax.jit(lambda s: rollout(spec, s.slots, s.subpolicies, jax.random.PRNGKey(1)))(
        state)
    check = jax.jit(lambda sub, t, done: reinit_alike(spec, sub, t, done,
                                                      jax.random.PRNGKey(2)))
    for done, due in ((1, True), (2, False)):
        kept, checked, _, fresh = check(state.subpolicies, traj, jnp.int32(done))
        assert bool(checked) == due and not np.asarray(fresh).any()
        jax.tree.map(np.testing.assert_array_equal, kept, state.subpolicies)


def test_distances_are_those_of_the_sub_policies_on_their_normalised_observations(updated):
    spec, _, first, _, _ = updated
    raw = jax.random.normal(jax.random.PRNGKey(3), (64, spec.env.observation_size))
    subpolicies = first.subpolicies
    normed = normalize(subpolicies.obs_stats, raw, TINY.observation_clip, True)
    one = lambda k: spec.subpolicy.apply(jax.tree.map(lambda x: x[k], subpolicies.params),
                                         normed)[0]
    expected = [[float(hellinger(one(i), one(j)).mean()) for j in range(3)] for i in range(3)]
    np.testing.assert_allclose(pairwise_distances(spec, subpolicies, raw), expected, atol=1e-6)
    identical = subpolicies.replace(params=jax.tree.map(
        lambda x: jnp.broadcast_to(x[:1], x.shape), subpolicies.params))
    np.testing.assert_allclose(pairwise_distances(spec, identical, raw), 0.0, atol=1e-3)


def test_a_gaussian_policys_sub_policies_are_compared_too():
    spec = MLSHSpec.build(dataclasses.replace(TINY, env="twowalk", backend="spring"))
    subpolicies = init_subpolicies(spec, jax.random.PRNGKey(0))
    # Means apart by 0.5 per action dimension between neighbours, log-std 0 (std 1):
    # H^2 = 1 - exp(-dims * delta^2 / 8) for mean gaps delta.
    shift = lambda bias: bias + 0.5 * jnp.arange(3.0)[:, None]
    params = subpolicies.params
    params["params"]["actor"]["Dense_2"]["bias"] = shift(
        params["params"]["actor"]["Dense_2"]["bias"])
    params["params"]["log_std"] = jnp.zeros_like(params["params"]["log_std"])
    obs = jnp.zeros((4, spec.env.observation_size))
    distances = np.asarray(pairwise_distances(spec, subpolicies.replace(params=params), obs))
    dims = spec.env.action_space.dim
    gap = 0.5 * np.abs(np.arange(3)[:, None] - np.arange(3)[None])
    np.testing.assert_allclose(distances, np.sqrt(1 - np.exp(-dims * gap ** 2 / 8)), atol=2e-3)


def test_meta_test_never_restarts_the_frozen_sub_policies():
    config = dataclasses.replace(TINY, reinit_alike_updates=(1, 2), alike_threshold=1.0)
    assert meta_test_config(config, num_tasks=2, updates=3, seed=1).reinit_alike_updates == ()


def test_candidates_are_plain_runs_until_the_selection():
    with pytest.raises(ConfigError, match=re.escape(
            "reinit_alike_updates=(100, 200): with candidates=12, checks must come after "
            "selection_update=100")):
        RunConfig(candidates=12, reinit_alike_updates=(100, 200), total_updates=300)
    assert RunConfig(candidates=12, reinit_alike_updates=(200,), total_updates=300).selects


def test_one_sub_policy_is_never_checked():
    spec = MLSHSpec.build(dataclasses.replace(TINY, num_subpolicies=1, reinit_alike_updates=(1,)))
    subpolicies = init_subpolicies(spec, jax.random.PRNGKey(0))
    kept, checked, _, _ = reinit_alike(spec, subpolicies, None, jnp.int32(1),
                                       jax.random.PRNGKey(1))
    assert kept is subpolicies and not bool(checked)
