"""PPO's update does not depend on the reward's scale; actor and critic are clipped apart."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

import pytest

from envs.base import Box, Discrete
from mlsh_jax.config import ConfigError, NetworkConfig, PPOConfig, RunConfig
from mlsh_jax.networks import subpolicy_network
from mlsh_jax.normalization import init_return_stats, scale_value, update_stats
from mlsh_jax.ppo import (VALUE_TARGET_CLIP, Batch, clip_actor_and_critic_apart, critic_targets,
                          every_minibatch_filled, every_step_taken, make_optimizer,
                          ppo_update, sparse_ppo_update)

NETWORK = subpolicy_network(Discrete(5), NetworkConfig(hidden_sizes=(16, 16)))
CONFIG = PPOConfig(epochs=2, num_minibatches=2)


def batch_with_returns_times(scale: float) -> Batch:
    """One batch whose rewards were multiplied by `scale`: returns, values and advantages are."""
    keys = jax.random.split(jax.random.PRNGKey(0), 5)
    size = 64
    returns = 10.0 + 5.0 * jax.random.normal(keys[0], (size,))
    values = returns + jax.random.normal(keys[1], (size,))
    return Batch(obs=jax.random.normal(keys[2], (size, 6)),
                 actions=jax.random.randint(keys[3], (size,), 0, 5),
                 log_probs=jnp.full((size,), jnp.log(0.2)),
                 values=values * scale, advantages=(returns - values) * scale,
                 returns=returns * scale)


def update(scale: float, cfg: PPOConfig = CONFIG):
    params = NETWORK.init(jax.random.PRNGKey(1), jnp.zeros(6))
    optimizer = make_optimizer(cfg)
    return ppo_update(params, optimizer.init(params), init_return_stats(),
                      batch_with_returns_times(scale), jnp.ones(64), jax.random.PRNGKey(2),
                      apply_fn=NETWORK.apply, optimizer=optimizer, cfg=cfg)


def test_an_update_on_rewards_times_100_moves_the_networks_as_on_rewards_times_1():
    params_1, _, stats_1, metrics_1 = update(1.0)
    params_100, _, stats_100, metrics_100 = update(100.0)
    chex.assert_trees_all_close(params_100, params_1, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(metrics_100.value_loss, metrics_1.value_loss, rtol=1e-3)
    # The critic's output means 100x as much at x100.
    np.testing.assert_allclose(scale_value(stats_100, 0.5), 100 * scale_value(stats_1, 0.5),
                               rtol=1e-4)


def test_without_return_normalisation_the_scale_changes_the_update():
    """The test above can fail: unnormalised critic targets make the update scale-dependent."""
    cfg = PPOConfig(epochs=2, num_minibatches=2, normalize_returns=False)
    params_1, *_ = update(1.0, cfg)
    params_100, *_ = update(100.0, cfg)
    critic_change = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))),
                                 params_1["params"]["critic"], params_100["params"]["critic"])
    assert max(jax.tree.leaves(critic_change)) > 1e-3


def test_a_huge_critic_gradient_does_not_shrink_the_actors_gradient():
    params = NETWORK.init(jax.random.PRNGKey(1), jnp.zeros(6))
    grads = jax.tree.map(lambda p: 0.01 * jnp.ones_like(p), params)
    grads["params"]["critic"] = jax.tree.map(lambda g: 1e6 * g, grads["params"]["critic"])
    clip = clip_actor_and_critic_apart(0.5)
    clipped, _ = clip.update(grads, clip.init(params), params)
    actor_only = {"params": {"actor": grads["params"]["actor"]}}
    alone, _ = optax.clip_by_global_norm(0.5).update(actor_only, optax.EmptyState())
    chex.assert_trees_all_close(clipped["params"]["actor"], alone["params"]["actor"])
    assert float(optax.tree.norm(clipped["params"]["critic"])) <= 0.5 + 1e-5


def test_a_gaussian_policys_log_std_is_clipped_with_the_actor():
    network = subpolicy_network(Box(3), NetworkConfig(hidden_sizes=(8,)))
    params = network.init(jax.random.PRNGKey(0), jnp.zeros(4))
    grads = jax.tree.map(jnp.ones_like, params)
    grads["params"]["critic"] = jax.tree.map(lambda g: 1e6 * g, grads["params"]["critic"])
    clip = clip_actor_and_critic_apart(1e9)  # the actor's norm is far below: unchanged
    clipped, _ = clip.update(grads, clip.init(params), params)
    np.testing.assert_array_equal(clipped["params"]["log_std"], grads["params"]["log_std"])


def test_a_first_sparse_reward_after_many_zero_returns_gives_a_bounded_critic_target():
    stats = init_return_stats()
    for _ in range(10):
        stats = update_stats(stats, jnp.zeros((2000, 1)), jnp.ones(2000))
    assert float(stats.var[0]) < 1e-6
    targets = critic_targets(stats, jnp.asarray([0.0, 0.5]))
    np.testing.assert_allclose(targets, [0.0, VALUE_TARGET_CLIP], atol=1e-3)


def test_fine_tuning_must_read_the_critic_on_the_scale_it_was_trained_on():
    with pytest.raises(ConfigError, match="finetune_ppo.normalize_returns=False"):
        RunConfig(finetune_ppo=PPOConfig(normalize_returns=False))


def sparse_batch(size: int = 96, selected: int = 40, padding_value: float = 0.0):
    """A batch whose first `selected` rows are samples and the rest padding (the masters'
    fixed-capacity macro lists): rows shuffled, padding filled with `padding_value`."""
    batch = batch_with_returns_times(1.0)
    batch = jax.tree.map(lambda x: jnp.concatenate([x, x[: size - 64]]), batch)
    mask = (jnp.arange(size) < selected).astype(jnp.float32)
    pad = lambda x: jnp.where(mask.reshape((-1,) + (1,) * (x.ndim - 1)) > 0, x,
                              jnp.asarray(padding_value, x.dtype))
    batch = batch.replace(obs=pad(batch.obs), advantages=pad(batch.advantages),
                          returns=pad(batch.returns), values=pad(batch.values))
    order = jax.random.permutation(jax.random.PRNGKey(3), size)
    return jax.tree.map(lambda x: x[order], batch), mask[order]


def sparse_update(batch, mask, cfg: PPOConfig, chunk_size: int, sparse: bool = True,
                  min_selected: int = 0):
    params = NETWORK.init(jax.random.PRNGKey(1), jnp.zeros(6))
    optimizer = make_optimizer(cfg)
    common = dict(apply_fn=NETWORK.apply, optimizer=optimizer, cfg=cfg)
    if sparse:
        return jax.jit(lambda p, o: sparse_ppo_update(
            p, o, init_return_stats(), batch, mask, jax.random.PRNGKey(2), chunk_size=chunk_size,
            min_selected=min_selected, **common))(params, optimizer.init(params))
    return jax.jit(lambda p, o: ppo_update(p, o, init_return_stats(), batch, mask,
                                           jax.random.PRNGKey(2), **common))(
        params, optimizer.init(params))


def test_every_minibatch_filled_is_exactly_when_no_minibatch_of_n_samples_is_empty():
    for minibatches in range(1, 9):
        for bound in range(1, 81):
            filled = all((minibatches - 1) * -(-n // minibatches) < n
                         for n in range(bound, 200))
            assert every_minibatch_filled(bound, minibatches) == filled, (bound, minibatches)


def test_every_step_is_taken_only_with_every_minibatch_filled_and_no_trust_region():
    assert every_step_taken(PPOConfig(num_minibatches=3), min_selected=5)
    assert not every_step_taken(PPOConfig(num_minibatches=3), min_selected=4)
    assert not every_step_taken(PPOConfig(num_minibatches=3, target_kl=0.01), min_selected=5)


def test_sparse_update_with_every_minibatch_filled_is_the_guarded_update():
    """A bound on the samples that fills every minibatch drops the guard of each step, which
    then changes nothing (up to the rounding of another compiled program); the bound is
    trusted: where 2 samples in 3 minibatches break it (the third is empty), that
    minibatch's step is applied, Adam's momentum moving the parameters on."""
    cfg = PPOConfig(epochs=2, num_minibatches=3)
    params = NETWORK.init(jax.random.PRNGKey(1), jnp.zeros(6))
    optimizer = make_optimizer(cfg)
    update = {bound: jax.jit(lambda batch, mask, bound=bound: sparse_ppo_update(
        params, optimizer.init(params), init_return_stats(), batch, mask, jax.random.PRNGKey(2),
        apply_fn=NETWORK.apply, optimizer=optimizer, cfg=cfg, chunk_size=8,
        min_selected=bound)) for bound in (0, 40)}
    filled = sparse_batch(selected=40)
    chex.assert_trees_all_close(update[0](*filled), update[40](*filled), rtol=1e-5, atol=1e-7)
    broken = sparse_batch(selected=2)
    guarded, trusting = update[0](*broken), update[40](*broken)
    assert float(guarded[3].steps_taken) == 4
    assert not all(jax.tree.leaves(jax.tree.map(jnp.array_equal, guarded[0], trusting[0])))


def test_sparse_update_takes_the_masked_updates_full_batch_steps_at_one_minibatch():
    """With one minibatch per epoch both updates step on the mean loss of all samples."""
    cfg = PPOConfig(epochs=3, num_minibatches=1)
    batch, mask = sparse_batch()
    sparse = sparse_update(batch, mask, cfg, chunk_size=16)
    masked = sparse_update(batch, mask, cfg, chunk_size=16, sparse=False)
    chex.assert_trees_all_close(sparse[0], masked[0], rtol=1e-4, atol=1e-6)
    chex.assert_trees_all_close(sparse[3], masked[3], rtol=1e-4, atol=1e-6)
    assert float(sparse[3].steps_taken) == 3.0


def test_sparse_update_does_not_depend_on_the_chunk_size_or_on_the_padding():
    cfg = PPOConfig(epochs=2, num_minibatches=3)
    batch, mask = sparse_batch()
    whole = sparse_update(batch, mask, cfg, chunk_size=96)
    garbage = sparse_batch(padding_value=1e4)
    for chunk_size in (1, 5, 96):
        chex.assert_trees_all_close(sparse_update(*garbage, cfg, chunk_size=chunk_size)[0],
                                    whole[0], rtol=1e-4, atol=1e-6)
    assert float(whole[3].steps_taken) == 6.0


def test_sparse_update_without_samples_leaves_the_learner_and_its_adam_state_unchanged():
    cfg = PPOConfig(epochs=2, num_minibatches=2)
    batch, mask = sparse_batch(selected=0)
    params = NETWORK.init(jax.random.PRNGKey(1), jnp.zeros(6))
    opt_state = make_optimizer(cfg).init(params)
    new_params, new_opt_state, _, metrics = sparse_update(batch, mask, cfg, chunk_size=8)
    chex.assert_trees_all_equal(new_params, params)
    chex.assert_trees_all_equal(new_opt_state, opt_state)
    assert float(metrics.steps_taken) == 0.0


def test_target_kl_stops_each_update_once_a_minibatch_is_that_far_from_the_rollouts_policy():
    """Every step taken starts within the trust region (its KL estimate, taken before the step,
    is at most target_kl); the first step always is (KL 0), a tiny target allows only it."""
    batch, mask = sparse_batch()
    dist, _ = NETWORK.apply(NETWORK.init(jax.random.PRNGKey(1), jnp.zeros(6)), batch.obs)
    batch = batch.replace(log_probs=dist.log_prob(batch.actions))  # sampled by this policy
    updates = {}
    for target_kl in (0.0, 1e-9, 0.01):
        cfg = PPOConfig(epochs=4, num_minibatches=4, learning_rate=1e-2, target_kl=target_kl)
        for sparse in (True, False):
            updates[target_kl, sparse] = sparse_update(batch, mask, cfg, chunk_size=16,
                                                       sparse=sparse)
            if target_kl:
                assert float(updates[target_kl, sparse][3].approx_kl) <= target_kl
    steps = {key: float(update[3].steps_taken) for key, update in updates.items()}
    for sparse in (True, False):
        assert steps[0.0, sparse] == 16
        assert steps[1e-9, sparse] == 1
        assert 1 < steps[0.01, sparse] < 16, steps
    far = sparse_update(batch, mask, PPOConfig(epochs=4, num_minibatches=4, learning_rate=1e-2,
                                               target_kl=1e9), chunk_size=16)
    # 0 means unbounded: two programs (a KL test or none), equal up to float rounding.
    chex.assert_trees_all_close(far[:3], updates[0.0, True][:3], rtol=1e-5, atol=1e-7)


def test_a_negative_target_kl_is_refused_with_its_value():
    with pytest.raises(ConfigError, match=r"target_kl.*-0\.1.*>= 0"):
        PPOConfig(target_kl=-0.1)
