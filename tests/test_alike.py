"""Alike sub-policies found by the Hellinger distance of their actions, and the later one of
each alike group re-initialised after the configured updates, nothing else touched."""

import dataclasses
import re
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.config_cli import apply_overrides
from mlsh_jax.alike import hellinger, pairwise_distances, to_reinitialise
from mlsh_jax.config import ConfigError, PPOConfig, RunConfig
from mlsh_jax.distributions import Categorical, DiagGaussian
from mlsh_jax.algorithms import meta_test_config
from mlsh_jax.mlsh import mlsh_update, reinit_alike
from mlsh_jax.normalization import RunningStats, normalize
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import init_subpolicies
from compiled import init_jit

# Every slot joint (no warmup), so an update trains the sub-policies and merges their
# observation statistics before the check: what the check keeps must be the trained state.
TINY = RunConfig(algorithm="mlsh_no_warmup", num_slots=3, envs_per_slot=2, rollout_steps=20,
                 macro_duration=5, warmup_updates=1, joint_updates=1, stagger=False,
                 num_subpolicies=3, total_updates=4, log_every=4,
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


def test_hellinger_of_gaussians_with_unequal_stds_matches_numerical_integration():
    means = np.asarray([[0.3, 1.0], [-0.4, 0.9]])
    stds = np.asarray([[0.5, 0.2], [1.7, 0.3]])
    x = np.linspace(-15.0, 15.0, 600_001)
    density = lambda m, s: np.exp(-0.5 * ((x - m) / s) ** 2) / (s * np.sqrt(2 * np.pi))
    # the coefficient of a product of densities is the product of each dimension's integral
    coefficient = np.prod([np.trapezoid(np.sqrt(density(means[0, d], stds[0, d])
                                                * density(means[1, d], stds[1, d])), x)
                           for d in range(2)])
    first, second = (DiagGaussian(mean=jnp.asarray(means[i:i + 1]),
                                  log_std=jnp.log(jnp.asarray(stds[i]))) for i in range(2))
    np.testing.assert_allclose(hellinger(first, second), [np.sqrt(1 - coefficient)], rtol=1e-5)
    tiny = DiagGaussian(mean=jnp.zeros((1, 2)), log_std=jnp.full((2,), -30.0))
    np.testing.assert_allclose(hellinger(tiny, tiny), [0.0], atol=1e-3)  # no underflow to 1


def test_each_alike_group_keeps_its_first_member():
    far, near = 0.9, 0.1
    # 0 ~ 1 ~ 2 (1 and 2 both close to 0): 1 and 2 re-initialised; 3 apart from all
    distances = jnp.asarray([[0, near, near, far], [near, 0, near, far],
                             [near, near, 0, far], [far, far, far, 0]])
    np.testing.assert_array_equal(to_reinitialise(distances, 0.37),
                                  [False, True, True, False])
    # 1 is close to 0 only; 2 is close to 1 (re-initialised) but not to 0: 2 stays
    chain = jnp.asarray([[0, near, far], [near, 0, near], [far, near, 0]])
    np.testing.assert_array_equal(to_reinitialise(chain, 0.37), [False, True, False])


@pytest.fixture(scope="module")
def updated():
    """One state; an update with a check after update 1 at thresholds that find every pair
    alike (1.0) or none (1e-9), and one without checks."""
    specs = {name: MLSHSpec.build(dataclasses.replace(TINY, **changes)) for name, changes in (
        ("all", dict(reinit_alike_updates=(1,), alike_threshold=1.0)),
        ("none", dict(reinit_alike_updates=(1,), alike_threshold=1e-9)), ("off", {}))}
    state = init_jit(specs["off"], jax.random.PRNGKey(0))  # the checks change no initial state
    after = {name: jax.jit(lambda s, spec=spec: mlsh_update(spec, s))(state)
             for name, spec in specs.items()}
    first, metrics = after["all"]
    plain, _ = after["off"]
    return specs["all"], state, first, metrics, plain, after["none"]


def test_after_a_check_the_later_alike_sub_policies_start_afresh_and_the_first_is_untouched(
        updated):
    spec, state, first, metrics, plain, _ = updated
    assert bool(metrics.alike_checked)
    np.testing.assert_array_equal(metrics.subpolicy_reinitialised, [False, True, True])
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
    # sub-policy 0 and the shared statistics: as trained by this update, not reset
    for part in ("params", "opt_state", "return_stats"):
        jax.tree.map(np.testing.assert_array_equal, take(getattr(first.subpolicies, part), 0),
                     take(getattr(plain.subpolicies, part), 0))
    trained = jax.tree.map(lambda a, b: not np.array_equal(a, b),
                           take(plain.subpolicies.params, 0), take(state.subpolicies.params, 0))
    assert any(jax.tree.leaves(trained))
    jax.tree.map(np.testing.assert_array_equal, first.subpolicies.obs_stats,
                 plain.subpolicies.obs_stats)
    assert first.subpolicies.obs_stats.count > state.subpolicies.obs_stats.count + 1


def test_a_check_that_finds_no_alike_pair_leaves_the_run_as_without_checks(updated):
    _, _, _, _, plain, (unchanged, metrics) = updated
    assert bool(metrics.alike_checked) and not np.asarray(metrics.subpolicy_reinitialised).any()
    assert (np.asarray(metrics.subpolicy_distance)[~np.eye(3, dtype=bool)] > 0).all()
    jax.tree.map(np.testing.assert_array_equal, unchanged, plain)


def test_after_an_update_without_a_check_nothing_changes_even_where_all_act_alike(updated):
    _, state, _, _, _, _ = updated
    spec = MLSHSpec.build(dataclasses.replace(TINY, reinit_alike_updates=(1, 3), log_every=1,
                                              alike_threshold=1.0))
    # reinit_alike reads the rollout's observations only (eager: nothing to compile)
    traj = types.SimpleNamespace(
        obs=jax.random.normal(jax.random.PRNGKey(1), (20, 3, 2, spec.env.observation_size)),
        macro_origin=None)
    kept, check = reinit_alike(spec, state.subpolicies, traj, jnp.int32(2),
                               jax.random.PRNGKey(2))
    assert not bool(check.checked) and not np.asarray(check.reinitialised).any()
    np.testing.assert_array_equal(check.distance, np.zeros((3, 3)))
    jax.tree.map(np.testing.assert_array_equal, kept, state.subpolicies)


def test_distances_are_those_of_the_sub_policies_on_their_normalised_observations(updated):
    spec, _, first, _, _, _ = updated
    size = spec.env.observation_size
    raw = jax.random.normal(jax.random.PRNGKey(3), (64, size))
    # unit-scale random weights, so that what they do depends strongly on the input, and
    # statistics far from the identity
    leaves, tree = jax.tree.flatten(first.subpolicies.params)
    keys = jax.random.split(jax.random.PRNGKey(4), len(leaves))
    subpolicies = first.subpolicies.replace(
        params=jax.tree.unflatten(tree, [jax.random.normal(k, x.shape)
                                         for k, x in zip(keys, leaves)]),
        obs_stats=RunningStats(mean=jnp.full((size,), 3.0), var=jnp.full((size,), 4.0),
                               count=jnp.asarray(100.0)))
    normed = normalize(subpolicies.obs_stats, raw, TINY.observation_clip, True)
    one = lambda k: spec.subpolicy.apply(jax.tree.map(lambda x: x[k], subpolicies.params),
                                         normed)[0]
    expected = [[float(hellinger(one(i), one(j)).mean()) for j in range(3)] for i in range(3)]
    np.testing.assert_allclose(pairwise_distances(spec, subpolicies, raw), expected, atol=1e-6)
    # a rollout's [time, slots, envs, obs] batch: the mean over every state, axes kept
    np.testing.assert_allclose(pairwise_distances(spec, subpolicies, raw.reshape(2, 4, 8, size)),
                               expected, atol=1e-6)
    unnormalised = [[float(hellinger(*(spec.subpolicy.apply(jax.tree.map(
        lambda x: x[k], subpolicies.params), raw)[0] for k in (i, j))).mean())
        for j in range(3)] for i in range(3)]
    assert np.abs(np.asarray(expected) - unnormalised).max() > 0.05
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
    config = dataclasses.replace(TINY, reinit_alike_updates=(1, 2), log_every=1,
                                 alike_threshold=1.0)
    assert meta_test_config(config, num_tasks=2, updates=3, seed=1).reinit_alike_updates == ()


@pytest.mark.parametrize("changes,rule", [
    (dict(reinit_alike_updates=(0,)), "must be a tuple of update numbers >= 1"),
    (dict(reinit_alike_updates=[100]), "must be a tuple of update numbers >= 1"),
    (dict(alike_threshold=0.0), "must be a number in (0, 1]"),
    (dict(alike_threshold=1.5), "must be a number in (0, 1]"),
    (dict(reinit_alike_updates=(100,), total_updates=100), "no check after the last update"),
    (dict(reinit_alike_updates=(105, 110), log_every=25),
     "at most one check per log interval (log_every=25): 105 and 110 both fall in updates "
     "101-125")])
def test_bad_alike_settings_name_the_value_and_the_rule(changes, rule):
    field = next(iter(changes))
    with pytest.raises(ConfigError, match=re.escape(f"{field}={changes[field]!r}: {rule}")):
        RunConfig(**changes)


@pytest.mark.parametrize("changes", [dict(algorithm="scratch"), dict(algorithm="shared"),
                                     dict(num_subpolicies=1)])
def test_learners_that_never_check_are_not_held_to_the_checks_rules(changes):
    config = RunConfig(reinit_alike_updates=(100, 110), total_updates=100, log_every=25,
                       **changes)
    assert config.total_updates == 100


def test_an_empty_override_turns_the_checks_off():
    config = apply_overrides(RunConfig(reinit_alike_updates=(100, 200)), ["reinit_alike_updates="])
    assert config.reinit_alike_updates == ()
    assert apply_overrides(config, ["reinit_alike_updates=100,200"]).reinit_alike_updates == (
        100, 200)


def test_candidates_are_plain_runs_until_the_selection():
    with pytest.raises(ConfigError, match=re.escape(
            "reinit_alike_updates=(100, 200): with candidates=12, checks must come after "
            "selection_update=100")):
        RunConfig(candidates=12, reinit_alike_updates=(100, 200), total_updates=300)
    assert RunConfig(candidates=12, reinit_alike_updates=(200,), total_updates=300).selects


def test_one_sub_policy_is_never_checked():
    spec = MLSHSpec.build(dataclasses.replace(TINY, num_subpolicies=1, reinit_alike_updates=(1,)))
    subpolicies = init_subpolicies(spec, jax.random.PRNGKey(0))
    kept, check = reinit_alike(spec, subpolicies, None, jnp.int32(1), jax.random.PRNGKey(1))
    assert kept is subpolicies and not bool(check.checked)
