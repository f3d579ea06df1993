"""Behaviour of the MLSH update: masked phi update, phase schedule, decisions, determinism."""

import dataclasses
from typing import ClassVar

import chex
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs import point_geometry as geo
from envs.base import Wrapper, wrap_for_training
from envs.four_rooms import FourRooms
from envs.moving_bandits import MovingBandits
from mlsh_jax.config import ConfigError, NetworkConfig, PPOConfig, RunConfig
from mlsh_jax.distributions import epsilon_mixture
from mlsh_jax import mlsh
from mlsh_jax.mlsh import mlsh_update, update_subpolicies
from mlsh_jax.normalization import normalize
from mlsh_jax.ppo import Batch, grouped_ppo_update, make_optimizer, ppo_update
from mlsh_jax.rollout import master_outputs, rollout, step_envs, subpolicy_outputs
from mlsh_jax.spec import MLSHSpec, initial_phases, joint_slot_capacity
from mlsh_jax.state import SlotState, fresh_masters, init_seeds, next_tasks, reset_envs, \
    sample_tasks, select_slots
from mlsh_jax.train import make_chunk
from compiled import init_jit

TINY = RunConfig(num_slots=3, envs_per_slot=2, rollout_steps=30, macro_duration=7,
                 warmup_updates=2, joint_updates=1, stagger=False, num_subpolicies=3,
                 total_updates=6, log_every=6,
                 master_ppo=PPOConfig(learning_rate=1e-2, epochs=2, num_minibatches=2),
                 sub_ppo=PPOConfig(learning_rate=3e-4, epochs=2, num_minibatches=3))


def take(tree, index):
    return jax.tree.map(lambda x: x[index], tree)


@pytest.fixture(scope="module")
def spec():
    return MLSHSpec.build(TINY)


@pytest.fixture(scope="module")
def update_fn(spec):
    return jax.jit(lambda state: mlsh_update(spec, state))


@pytest.fixture(scope="module")
def first_rollout(spec):
    state = init_jit(spec, jax.random.PRNGKey(0))
    collect = jax.jit(lambda slots, s: rollout(spec, slots, s.subpolicies, s.key))
    slots, traj = collect(state.slots, state)
    _, next_traj = collect(slots, state)
    return state, traj, next_traj


def test_idle_subpolicy_and_its_adam_state_do_not_change_while_active_one_does(spec, first_rollout):
    state, traj, _ = first_rollout
    only_first = traj.replace(subpolicy=jnp.zeros_like(traj.subpolicy))
    all_joint = jnp.full((TINY.num_slots,), TINY.warmup_updates)
    new, metrics = jax.jit(lambda s, p, t, k: update_subpolicies(spec, s, p, t, k))(
        state.subpolicies, all_joint, only_first, jax.random.PRNGKey(1))
    for idle in (1, 2):
        chex.assert_trees_all_equal(take(new.params, idle), take(state.subpolicies.params, idle))
        chex.assert_trees_all_equal(take(new.opt_state, idle),
                                    take(state.subpolicies.opt_state, idle))
        chex.assert_trees_all_equal(take(new.return_stats, idle),
                                    take(state.subpolicies.return_stats, idle))
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), take(new.params, 0),
                           take(state.subpolicies.params, 0))
    assert all(jax.tree.leaves(changed))
    np.testing.assert_array_equal(metrics.steps_taken, [TINY.sub_ppo.epochs * 3, 0, 0])


def test_ppo_with_empty_mask_leaves_params_and_optimizer_state_bit_identical(spec, first_rollout):
    state, traj, _ = first_rollout
    params = take(state.subpolicies.params, 0)
    optimizer = make_optimizer(TINY.sub_ppo)
    opt_state = optimizer.init(params)
    flat = lambda x: x.reshape((-1,) + x.shape[3:])
    batch = Batch(obs=flat(traj.obs), actions=flat(traj.action), log_probs=flat(traj.log_prob),
                  values=flat(traj.value), advantages=flat(traj.reward),
                  returns=flat(traj.reward))
    return_stats = take(state.subpolicies.return_stats, 0)
    new_params, new_opt, new_stats, metrics = ppo_update(
        params, opt_state, return_stats, batch, jnp.zeros(batch.obs.shape[0]),
        jax.random.PRNGKey(0), apply_fn=spec.subpolicy.apply, optimizer=optimizer,
        cfg=TINY.sub_ppo)
    chex.assert_trees_all_equal(new_params, params)
    chex.assert_trees_all_equal(new_opt, opt_state)
    chex.assert_trees_all_equal(new_stats, return_stats)
    assert float(metrics.steps_taken) == 0.0


@dataclasses.dataclass(frozen=True)
class TruncatedBandits(MovingBandits):
    """Moving Bandits whose time limit truncates, as a locomotion task's does."""

    truncates: ClassVar[bool] = True


@pytest.fixture(scope="module")
def truncated(spec):
    """On TruncatedBandits: the spec, the first state, the slots after a first rollout, the
    second rollout (it crosses the 50-step time limit at step 19 only), and the masters' and
    the sub-policies' updates on a trajectory from there."""
    truncating = dataclasses.replace(spec, env=wrap_for_training(TruncatedBandits()))
    state = init_jit(truncating, jax.random.PRNGKey(0))
    collect = jax.jit(lambda slots, s: rollout(truncating, slots, s.subpolicies, s.key))
    slots, _ = collect(state.slots, state)
    _, traj = collect(slots, state)
    update = jax.jit(lambda t: _updated(truncating, slots, state.subpolicies, t))
    return truncating, state, slots, traj, update


def test_rollout_records_values_at_the_final_observation_of_truncated_episodes(truncated):
    truncating, state, slots, traj, _ = truncated
    done = np.asarray(traj.done)
    assert done[19].all() and done.sum() == done[19].size
    np.testing.assert_array_equal(traj.truncated, traj.done)
    # The final observation: the agent after its last move, among the ended episode's goals.
    obs = traj.obs[19]
    moved = jax.vmap(jax.vmap(geo.move))(obs[..., :2] * 400.0, traj.action[19])
    final_obs = jnp.concatenate([moved / 400.0, obs[..., 2:]], axis=-1)
    _, expected = subpolicy_outputs(truncating, state.subpolicies, final_obs, traj.subpolicy[19],
                                    traj.macro_origin[19])
    np.testing.assert_allclose(traj.final_value[19], expected, rtol=1e-5, atol=1e-6)
    _, expected_master = master_outputs(truncating, slots.master, final_obs)
    np.testing.assert_allclose(traj.final_master_value[19], expected_master, rtol=1e-5,
                               atol=1e-6)
    assert not np.allclose(traj.final_value[19], traj.value[20])  # not the next episode's


def test_bootstrap_values_at_truncations_reach_both_updates(truncated):
    """The values recorded at truncated episodes' final observations change what the masters
    and the sub-policies learn (a time limit is not a fall)."""
    _, _, _, traj, update = truncated
    assert np.asarray(traj.truncated).any()
    shifted = traj.replace(final_value=traj.final_value + 5.0,
                           final_master_value=traj.final_master_value + 5.0)
    for learner, learner_shifted in zip(update(traj), update(shifted)):  # masters, sub-policies
        moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), learner.params,
                             learner_shifted.params)
        assert any(jax.tree.leaves(moved))


def test_rollout_of_an_env_that_never_truncates_records_no_truncation(first_rollout):
    _, _, traj = first_rollout
    assert np.asarray(traj.done).any()
    assert not np.asarray(traj.truncated).any()
    np.testing.assert_array_equal(traj.final_value, 0.0)


def test_master_decides_at_rollout_start_every_n_steps_and_after_each_episode_end(first_rollout):
    _, _, traj = first_rollout  # the second rollout crosses the 50-step episode end
    decision, done, z = map(np.asarray, (traj.decision, traj.done, traj.subpolicy))
    steps = decision.shape[0]
    assert done.any(), "the rollout must cross an episode end for this test to mean something"
    for slot in range(TINY.num_slots):
        for env in range(TINY.envs_per_slot):
            age = 0
            for t in range(steps):
                expected = t == 0 or done[t - 1, slot, env] or age >= TINY.macro_duration
                assert decision[t, slot, env] == expected, (t, slot, env)
                if not expected:
                    assert z[t, slot, env] == z[t - 1, slot, env]
                age = 1 if expected else age + 1


def test_each_task_gets_exactly_w_warmup_then_u_joint_updates_and_a_fresh_master(spec, update_fn):
    state = init_jit(spec, jax.random.PRNGKey(3))
    cycle = TINY.cycle_length
    for update in range(2 * cycle):
        before = state
        state, metrics = update_fn(state)
        phase = update % cycle
        np.testing.assert_array_equal(before.slots.phase_step, phase)
        joint = phase >= TINY.warmup_updates
        assert float(metrics.joint_fraction) == float(joint)
        same_phi = jax.tree.leaves(jax.tree.map(lambda a, b: bool(jnp.all(a == b)),
                                                state.subpolicies, before.subpolicies))
        assert all(same_phi) != joint, f"phi must change exactly in joint updates (update {update})"
        adam_count = state.slots.master.opt_state[1][0].count
        if phase == cycle - 1:
            np.testing.assert_array_equal(state.slots.phase_step, 0)
            np.testing.assert_array_equal(adam_count, 0)
            np.testing.assert_allclose(state.slots.master.obs_stats.count, 1e-4)
            np.testing.assert_allclose(state.slots.master.return_stats.count, 1e-4)
            fresh = jax.tree.leaves(jax.tree.map(lambda a, b: bool(jnp.all(a != b)),
                                                 state.slots.master.params,
                                                 before.slots.master.params))
            assert all(fresh), "theta must be re-initialised when the task changes"
        else:
            assert np.all(np.asarray(adam_count) > 0)


def test_slots_restart_only_in_an_update_where_one_finishes_with_the_same_result(monkeypatch):
    """advance_phases draws new tasks, masters and env resets only in updates where some slot
    finishes its W+U updates (counted: the draw runs once per such update, also when the runs
    are vmapped), and returns what drawing them in every update and keeping those of the
    finished slots gives."""
    config = dataclasses.replace(TINY, stagger=True)
    spec = MLSHSpec.build(config)
    slots = init_jit(spec, jax.random.PRNGKey(2)).slots

    def always(slots, key):
        k_task, k_master, k_reset = jax.random.split(key, 3)
        phase = slots.phase_step + 1
        tasks = next_tasks(spec, k_task, slots.task)
        obs, env_state = reset_envs(spec, k_reset, tasks)
        restarted = SlotState(task=tasks, master=fresh_masters(spec, k_master),
                              phase_step=jnp.zeros_like(phase), env_state=env_state, obs=obs)
        return select_slots(phase >= config.cycle_length, restarted,
                            slots.replace(phase_step=phase))

    draws = []

    def counted_next_tasks(spec, key, tasks):
        jax.debug.callback(lambda: draws.append(1))
        return next_tasks(spec, key, tasks)

    reference = jax.jit(always)
    monkeypatch.setattr(mlsh, "next_tasks", counted_next_tasks)
    advance = jax.jit(lambda s, k: mlsh.advance_phases(spec, s, k))
    finishing = []
    for key in jax.random.split(jax.random.PRNGKey(7), 2 * config.cycle_length):
        finishing.append(bool(np.any(np.asarray(slots.phase_step) + 1 >= config.cycle_length)))
        expected = reference(slots, key)
        slots = jax.block_until_ready(advance(slots, key))
        chex.assert_trees_all_equal(slots, expected)
    assert any(finishing) and not all(finishing)
    assert len(draws) == sum(finishing)
    # Over vmapped runs the condition is one scalar for all of them, not a select per run.
    runs = jax.tree.map(lambda x: jnp.stack([x, x]), slots)
    batched = jax.vmap(lambda s, k: mlsh.advance_phases(spec, s, k, ("runs0",)),
                       axis_name="runs0")
    assert "cond[" in str(jax.make_jaxpr(batched)(runs, jax.random.split(jax.random.PRNGKey(0))))


def test_staggered_slots_spread_over_the_cycle_and_size_the_joint_batch():
    config = dataclasses.replace(RunConfig(), num_slots=20, warmup_updates=9, joint_updates=1)
    np.testing.assert_array_equal(initial_phases(config), -np.repeat(np.arange(10), 2))
    assert joint_slot_capacity(config) == 2
    no_warmup = dataclasses.replace(config, algorithm="mlsh_no_warmup", warmup_updates=0,
                                    joint_updates=10)
    np.testing.assert_array_equal(initial_phases(no_warmup), np.repeat(np.arange(10), 2))
    unstaggered = dataclasses.replace(config, stagger=False)
    assert joint_slot_capacity(unstaggered) == 20
    assert joint_slot_capacity(dataclasses.replace(config, joint_updates=0)) == 0


def test_staggered_slots_train_phi_only_behind_masters_warmed_up_on_their_task():
    """W=2, U=1, 3 slots: slot offsets 0, 1, 2 lengthen the first warmups to 2, 3, 4 updates.
    phi stays bit-identical for the first W updates; afterwards one slot is joint in every
    update, and each joint slot's master has had at least W updates on its task."""
    config = dataclasses.replace(TINY, stagger=True, total_updates=12)
    spec = MLSHSpec.build(config)
    state = init_jit(spec, jax.random.PRNGKey(2))
    start_phi = state.subpolicies
    phases, joint_fractions, phi_steps = [], [], []
    step = jax.jit(lambda s: mlsh_update(spec, s))
    for _ in range(4 * config.cycle_length):
        phases.append(np.asarray(state.slots.phase_step))
        state, metrics = step(state)
        joint_fractions.append(float(metrics.joint_fraction))
        phi_steps.append(np.asarray(metrics.subpolicy_steps).sum())
        if len(phases) == config.warmup_updates:
            chex.assert_trees_all_equal(state.subpolicies, start_phi)
    phases = np.stack(phases)  # [updates, slots] phase before each update
    assert phi_steps[:config.warmup_updates] == [0] * config.warmup_updates
    np.testing.assert_allclose(joint_fractions[:config.warmup_updates], 0.0)
    np.testing.assert_allclose(joint_fractions[config.warmup_updates:], 1 / 3)
    updates_on_task = np.zeros(config.num_slots, int)
    for update in range(len(phases)):
        if update and np.any(restarted := phases[update] < phases[update - 1]):
            updates_on_task[restarted] = 0
        joint = phases[update] >= config.warmup_updates
        assert np.all(updates_on_task[joint] >= config.warmup_updates), update
        updates_on_task += 1


def test_same_seed_gives_identical_metrics_and_another_seed_does_not(spec, update_fn):
    def three_updates(seed):
        state, metrics = init_jit(spec, jax.random.PRNGKey(seed)), []
        for _ in range(3):
            state, update_metrics = update_fn(state)
            metrics.append(update_metrics)
        return jax.tree.map(lambda *xs: jnp.stack(xs), *metrics)

    runs = [three_updates(seed) for seed in (7, 7, 8)]
    chex.assert_trees_all_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0].slot_episodes.started_here_return,
                              runs[2].slot_episodes.started_here_return) or \
        not np.array_equal(runs[0].master.policy_loss, runs[2].master.policy_loss)


def test_epsilon_mixture_keeps_every_choice_possible_and_sums_to_one():
    logits = jnp.asarray([[10.0, -10.0, 0.0]])
    probs = jnp.exp(epsilon_mixture(logits, 0.1).logits)
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-6)
    assert float(probs.min()) >= 0.1 / 3 - 1e-7
    np.testing.assert_allclose(jnp.exp(epsilon_mixture(logits, 1.0).logits), 1 / 3, rtol=1e-6)


def test_epsilon_free_master_with_saturated_logits_has_finite_entropy_and_gradients():
    logits = jnp.asarray([[200.0, -200.0, 0.0]])
    dist = epsilon_mixture(logits, 0.0)
    assert np.isfinite(float(dist.entropy()[0]))
    grads = jax.grad(lambda x: epsilon_mixture(x, 0.0).entropy().sum()
                     + epsilon_mixture(x, 0.0).log_prob(jnp.asarray([1])).sum())(logits)
    assert np.isfinite(np.asarray(grads)).all()
    np.testing.assert_allclose(jnp.exp(dist.logits), jax.nn.softmax(logits), atol=1e-7)


def test_subpolicies_normalise_their_batch_with_statistics_that_include_it(
        spec, first_rollout, monkeypatch):
    """One order for every learner, as the masters' update has it: the observation
    statistics take in the batch, then PPO sees the batch normalised by them."""
    state, traj, _ = first_rollout
    seen = []

    def capture(params, opt_state, return_stats, batch, *args, **kwargs):
        seen.append(batch.obs)
        return grouped_ppo_update(params, opt_state, return_stats, batch, *args, **kwargs)

    monkeypatch.setattr(mlsh, "grouped_ppo_update", capture)
    all_joint = jnp.full((TINY.num_slots,), TINY.warmup_updates)
    new_subs, _ = update_subpolicies(spec, state.subpolicies, all_joint, traj,
                                     jax.random.PRNGKey(1))
    flat = traj.obs.reshape(-1, traj.obs.shape[-1])
    expected = normalize(new_subs.obs_stats, flat, TINY.observation_clip, True)
    np.testing.assert_allclose(seen[0], expected, rtol=1e-6, atol=1e-6)
    before = normalize(state.subpolicies.obs_stats, flat, TINY.observation_clip, True)
    assert not np.allclose(seen[0], before, atol=1e-3)


@pytest.mark.parametrize("field,value", [("num_subpolicies", 0), ("macro_duration", 0),
                                         ("warmup_updates", -1), ("master_epsilon", 1.5),
                                         ("num_slots", 2.5), ("env", "foo")])
def test_bad_config_values_raise_an_error_naming_the_value(field, value):
    with pytest.raises(ConfigError, match=f"{field}={value!r}"):
        RunConfig(**{field: value})


def test_negative_learning_rate_is_rejected():
    with pytest.raises(ConfigError, match="learning_rate=-0.1"):
        PPOConfig(learning_rate=-0.1)


def test_decisions_by_task_type_split_each_slots_decisions_by_its_correct_goal(spec, update_fn):
    state = init_jit(spec, jax.random.PRNGKey(5))
    _, metrics = update_fn(state)
    by_type = np.asarray(metrics.decisions_by_task_type)  # [2 goals, K]
    goals = np.asarray(state.slots.task.correct_goal)
    assert by_type.shape == (2, TINY.num_subpolicies)
    decisions_per_update = TINY.envs_per_slot * -(-TINY.rollout_steps // TINY.macro_duration)
    np.testing.assert_array_equal(by_type.sum(axis=1),
                                  [np.sum(goals == g) * decisions_per_update for g in (0, 1)])


def test_balanced_task_types_give_every_cohort_and_every_phi_update_both_goals_equally():
    """8 slots over a W+U = 4 cycle start in cohorts of 2 consecutive slots; with
    balance_task_types each cohort holds one task of each goal at every update, including
    after restarts, so the joint slots of every update hold the goals in equal numbers."""
    config = dataclasses.replace(TINY, num_slots=8, warmup_updates=3, stagger=True,
                                 rollout_steps=10, balance_task_types=True)
    spec = MLSHSpec.build(config)
    state = init_jit(spec, jax.random.PRNGKey(3))
    step = jax.jit(lambda s: mlsh_update(spec, s))
    restarts = 0
    for _ in range(3 * config.cycle_length):
        joint = np.asarray(state.slots.phase_step) >= config.warmup_updates
        state, metrics = step(state)
        types = np.asarray(metrics.slot_task_type)
        np.testing.assert_array_equal(np.sort(types.reshape(4, 2), axis=1), [[0, 1]] * 4)
        assert 2 * types[joint].sum() == joint.sum()
        restarts += int(np.sum(np.asarray(state.slots.phase_step) == 0))
    assert restarts >= 8


@flax.struct.dataclass
class LabelledTask:
    inner: object
    label: jax.Array  # int32 in 0..4: the task type


@dataclasses.dataclass(frozen=True)
class FiveTypes(Wrapper):
    """The wrapped env's tasks, each with a label 0..4 as its type (the label changes nothing
    else): more types than a few slots."""

    @property
    def num_task_types(self) -> int:
        return 5

    def task_type(self, task):
        return task.label

    def sample_task_of_type(self, key, task_type):
        return LabelledTask(self.env.sample_task(key), jnp.int32(task_type))

    def sample_task(self, key):
        k_task, k_label = jax.random.split(key)
        return LabelledTask(self.env.sample_task(k_task),
                            jax.random.randint(k_label, (), 0, 5, jnp.int32))

    def reset(self, key, task):
        return self.env.reset(key, task.inner)

    def step(self, key, state, action, task):
        return self.env.step(key, state, action, task.inner)


@pytest.mark.parametrize("warmup", [2, 0])
def test_balanced_task_types_are_dealt_in_turn_through_restarts_one_slot_at_a_time(warmup):
    """3 staggered slots over a W+U = 3 cycle finish one at a time (in slot order with warmup,
    the reverse without), and 5 task types are more than the slots: each restart deals the
    slot its type plus S, so at every update the slots hold 3 consecutive types of the deal (3
    different ones) and every type comes round."""
    config = dataclasses.replace(TINY, num_slots=3, warmup_updates=warmup,
                                 joint_updates=3 - warmup, stagger=True,
                                 balance_task_types=True)
    spec = dataclasses.replace(MLSHSpec.build(config),
                               env=wrap_for_training(FiveTypes(MovingBandits())))
    slots = init_jit(spec, jax.random.PRNGKey(5)).slots
    advance = jax.jit(lambda s, k: mlsh.advance_phases(spec, s, k))
    types_of = lambda slots: np.asarray(jax.vmap(spec.env.task_type)(slots.task))
    first = types_of(slots)
    order = np.arange(3) if warmup else np.arange(3)[::-1]
    np.testing.assert_array_equal(first[order], (first[order[0]] + np.arange(3)) % 5)
    held, restarts = [first], 0
    for key in jax.random.split(jax.random.PRNGKey(6), 5 * config.cycle_length):
        before = types_of(slots)
        restarted = np.asarray(slots.phase_step) + 1 >= config.cycle_length
        slots = advance(slots, key)
        after = types_of(slots)
        np.testing.assert_array_equal(after, np.where(restarted, (before + 3) % 5, before))
        assert len(set(after)) == 3
        held.append(after)
        restarts += int(restarted.sum())
    assert restarts >= 12 and set(np.concatenate(held)) == set(range(5))


def test_balanced_task_types_leave_each_slots_task_uniform_and_random():
    spec = MLSHSpec.build(dataclasses.replace(TINY, num_slots=4, balance_task_types=True))
    draw = jax.jit(jax.vmap(lambda key: sample_tasks(spec, key).correct_goal))
    goals = np.asarray(draw(jax.random.split(jax.random.PRNGKey(0), 400)))  # [400, 4]
    np.testing.assert_array_equal(goals[:, 1], 1 - goals[:, 0])
    assert 0.42 < goals[:, 0].mean() < 0.58


def test_balance_task_types_needs_an_env_with_task_types():
    with pytest.raises(ConfigError, match="balance_task_types=True.*'four_rooms' has no "
                                          "discrete task types"):
        RunConfig(env="four_rooms", balance_task_types=True)


RELATIVE = RunConfig(env="twowalk", backend="spring", episode_length=6, num_slots=2,
                     envs_per_slot=2, rollout_steps=10, macro_duration=4, warmup_updates=0,
                     joint_updates=1, stagger=False, num_subpolicies=2,
                     subpolicies_see_relative_position=True,
                     network=NetworkConfig(hidden_sizes=(16,)),
                     sub_ppo=PPOConfig(epochs=1, num_minibatches=2))


@pytest.fixture(scope="module")
def relative_rollout():
    spec = MLSHSpec.build(RELATIVE)
    state = init_jit(spec, jax.random.PRNGKey(0))
    return spec, state, jax.jit(lambda s: rollout(spec, s.slots, s.subpolicies, s.key))(state)[1]


def test_a_macro_action_starts_where_the_master_chose_it_and_acts_from_there(relative_rollout):
    spec, state, traj = relative_rollout
    decision, origin, xy = (np.asarray(x) for x in (traj.decision, traj.macro_origin,
                                                    traj.obs[..., :2]))
    # Every N = 4 steps, and at the episode start after the 6-step episode ended at step 5.
    starts = [0, 0, 0, 0, 4, 4, 6, 6, 6, 6]
    np.testing.assert_array_equal(np.flatnonzero(decision.all(axis=(1, 2))), [0, 4, 6])
    assert decision.sum() == 3 * decision[0].size
    for t, start in enumerate(starts):
        np.testing.assert_array_equal(origin[t], xy[start])
    assert np.abs(xy[3] - xy[0]).max() > 0.0  # the Ant moved within the macro-action
    # The recorded log-probs and values are the sub-policies' outputs from that origin.
    dist, value = subpolicy_outputs(spec, state.subpolicies, traj.obs, traj.subpolicy,
                                    traj.macro_origin)
    np.testing.assert_allclose(dist.log_prob(traj.action), traj.log_prob, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(value, traj.value, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("relative", [True, False])
def test_subpolicies_act_and_learn_alike_wherever_they_are_only_if_positions_are_relative(
        relative_rollout, relative):
    spec, state, traj = relative_rollout
    spec = dataclasses.replace(spec, config=dataclasses.replace(
        spec.config, subpolicies_see_relative_position=relative))
    if not relative:
        traj = traj.replace(macro_origin=traj.macro_origin[..., :0])
    shift = jnp.asarray([3.0, -2.0])  # the same episodes, 3 m east and 2 m south
    elsewhere = traj.replace(obs=traj.obs.at[..., :2].add(shift),
                             macro_origin=traj.macro_origin + shift[:traj.macro_origin.shape[-1]])
    act = lambda t: subpolicy_outputs(spec, state.subpolicies, t.obs, t.subpolicy,
                                      t.macro_origin)
    update = jax.jit(lambda t: update_subpolicies(
        spec, state.subpolicies, jnp.zeros((RELATIVE.num_slots,), jnp.int32), t,
        jax.random.PRNGKey(1))[0])  # parameters, Adam state, observation and return stats
    for here, there in ((act(traj), act(elsewhere)), (update(traj), update(elsewhere))):
        same = jax.tree.leaves(jax.tree.map(lambda a, b: bool(jnp.allclose(a, b, atol=1e-5)),
                                            here, there))
        assert all(same) if relative else not all(same)
    masters = [master_outputs(spec, state.slots.master, t.obs[0])[1] for t in (traj, elsewhere)]
    assert bool(jnp.all(masters[0] != masters[1]))  # the masters see the world position


def test_relative_positions_need_an_env_that_observes_a_position():
    with pytest.raises(ConfigError, match="subpolicies_see_relative_position=True.*"
                                          "'four_rooms' declares no position_observation_dims"):
        RunConfig(env="four_rooms", subpolicies_see_relative_position=True)


def _filled(recorded, computed, skipped):
    """`recorded` with `computed` at the `skipped` steps [D]."""
    return jnp.where(skipped.reshape((-1,) + (1,) * (recorded.ndim - 1)), computed, recorded)


def _every_step(spec, masters, subpolicies, traj, final_obs=None):
    """`traj` with the master's outputs (and, given final observations, the bootstrap values)
    filled in at the steps the rollout skipped, as a rollout that never skips would record."""
    skipped = ~traj.decision.any(axis=(1, 2))
    dist, value = jax.vmap(lambda obs: master_outputs(spec, masters, obs))(traj.obs)
    traj = traj.replace(
        master_value=_filled(traj.master_value, value, skipped),
        master_log_prob=_filled(traj.master_log_prob, dist.log_prob(traj.subpolicy), skipped))
    if final_obs is None:
        return traj
    skipped = ~traj.truncated.any(axis=(1, 2))
    _, final_master = jax.vmap(lambda obs: master_outputs(spec, masters, obs))(final_obs)
    _, final = jax.vmap(lambda obs, z, origin: subpolicy_outputs(
        spec, subpolicies, obs, z, origin))(final_obs, traj.subpolicy, traj.macro_origin)
    return traj.replace(final_value=_filled(traj.final_value, final, skipped),
                        final_master_value=_filled(traj.final_master_value, final_master,
                                                   skipped))


def _updated(spec, slots, subpolicies, traj):
    all_joint = jnp.full((TINY.num_slots,), TINY.warmup_updates)
    masters, _, _ = mlsh.update_masters(spec, slots.master, traj, jax.random.PRNGKey(2))
    subs, _ = update_subpolicies(spec, subpolicies, all_joint, traj, jax.random.PRNGKey(1))
    return masters, subs


def test_the_master_runs_only_at_steps_where_some_env_decides_and_nothing_else_reads_it(
        spec, first_rollout):
    state, traj, _ = first_rollout
    decides = np.asarray(traj.decision).any(axis=(1, 2))
    assert decides.any() and not decides.all()
    np.testing.assert_array_equal(np.asarray(traj.master_value)[~decides], 0.0)
    full = _every_step(spec, state.slots.master, state.subpolicies, traj)
    np.testing.assert_allclose(np.asarray(traj.master_value)[decides],
                               np.asarray(full.master_value)[decides], rtol=1e-6, atol=1e-6)
    update = jax.jit(lambda t: _updated(spec, state.slots, state.subpolicies, t))
    chex.assert_trees_all_equal(update(traj), update(full))


def test_bootstrap_values_are_computed_only_at_steps_with_a_truncation_and_suffice(truncated):
    truncating, state, slots, traj, update = truncated
    truncates = np.asarray(traj.truncated).any(axis=(1, 2))
    np.testing.assert_array_equal(np.flatnonzero(truncates), [19])
    np.testing.assert_array_equal(np.asarray(traj.final_value)[~truncates], 0.0)
    np.testing.assert_array_equal(np.asarray(traj.final_master_value)[~truncates], 0.0)
    # Values at every other step, of any observations (here each step's own): none is read.
    full = _every_step(truncating, slots.master, state.subpolicies, traj, traj.obs)
    assert not np.allclose(full.final_value, traj.final_value)
    chex.assert_trees_all_equal(update(traj), update(full))


@dataclasses.dataclass(frozen=True)
class CountedRestarts(FourRooms):
    """Four Rooms that counts the new episodes it draws in `calls` (host-side; a callback
    batched by `vmap` may be called once per element or once for the batch)."""

    calls: list = dataclasses.field(default_factory=list, compare=False, hash=False)

    def reset(self, key, task):
        jax.debug.callback(lambda keys: self.calls.append(np.asarray(keys).size // 2), key)
        return super().reset(key, task)


def test_envs_restart_only_at_steps_where_some_episode_ended_exactly_as_auto_reset_does():
    """Four Rooms' episodes end at the goal, at any step: the batched step draws new episodes
    only at steps where some env ended one, with every output `AutoReset.step`'s."""
    config = dataclasses.replace(TINY, env="four_rooms", num_slots=2)
    raw = CountedRestarts(slip_probability=0.0)
    spec = dataclasses.replace(MLSHSpec.build(config), env=wrap_for_training(raw))
    tasks = sample_tasks(spec, jax.random.PRNGKey(3))
    _, env_state = reset_envs(spec, jax.random.PRNGKey(4), tasks)
    shape = (config.num_slots, config.envs_per_slot)

    def run(step):
        def body(env_state, key):
            k_action, k_env = jax.random.split(key)
            out = step(k_env, env_state, jax.random.randint(k_action, shape, 0, 4))
            return out[1], out
        return jax.lax.scan(body, env_state, jax.random.split(jax.random.PRNGKey(5), 200))[1]

    def every_env(key, env_state, action):
        keys = jax.random.split(key, np.prod(shape)).reshape(shape + (-1,))
        return jax.vmap(jax.vmap(spec.env.step, in_axes=(0, 0, 0, None)))(
            keys, env_state, action, tasks)

    raw.calls.clear()
    batched = jax.jit(lambda: run(lambda k, s, a: step_envs(spec, k, s, a, tasks)))()
    jax.block_until_ready(batched)
    restarts = sum(raw.calls) // np.prod(shape)
    steps_ending = int(np.asarray(batched[3]).any(axis=(1, 2)).sum())
    assert 0 < steps_ending < 200 and restarts == steps_ending
    chex.assert_trees_all_equal(batched, jax.jit(lambda: run(every_env))())


@pytest.mark.slow
def test_a_run_alone_skips_the_master_where_a_run_beside_it_needs_it_with_the_same_result():
    """Four Rooms' episodes end at the goal, so two seeds decide at different steps: in one
    program the master runs wherever either needs it, alone only where its own envs do."""
    config = dataclasses.replace(TINY, env="four_rooms", seed=4, num_seeds=2)
    spec = MLSHSpec.build(config)
    _, together = make_chunk(spec, 2, batch_dims=1)(init_seeds(spec))
    alone_spec = MLSHSpec.build(dataclasses.replace(config, seed=5, num_seeds=1))
    _, alone = make_chunk(alone_spec, 2)(init_jit(alone_spec, jax.random.PRNGKey(5)))
    chex.assert_trees_all_close(jax.tree.map(lambda x: x[1], together), alone, rtol=1e-4,
                                atol=1e-5)


def _one_step_each(recompute: bool) -> MLSHSpec:
    """TINY with one PPO step per update, so the metrics are those of the update's first step,
    taken before any parameter moved."""
    one_step = dict(epochs=1, num_minibatches=1, recompute_old_log_probs=recompute)
    return MLSHSpec.build(dataclasses.replace(
        TINY, master_ppo=dataclasses.replace(TINY.master_ppo, **one_step),
        sub_ppo=dataclasses.replace(TINY.sub_ppo, **one_step)))


@pytest.mark.parametrize("recompute", [False, True])
def test_recomputed_old_log_probs_start_every_update_at_ratio_one(first_rollout, recompute):
    """The first rollout moves the fresh statistics far; with the rollout's log-probs that
    shift alone puts the first step's ratio away from 1, recomputed ones start it at 1."""
    state, traj, _ = first_rollout
    spec = _one_step_each(recompute)
    all_joint = jnp.full((TINY.num_slots,), TINY.warmup_updates)
    _, sub_metrics = jax.jit(lambda s, t: update_subpolicies(spec, s, all_joint, t,
                                                             jax.random.PRNGKey(1)))(
        state.subpolicies, traj)
    _, master_metrics, _ = jax.jit(lambda m, t: mlsh.update_masters(spec, m, t,
                                                                   jax.random.PRNGKey(2)))(
        state.slots.master, traj)
    sub_kl = np.asarray(sub_metrics.approx_kl)[np.asarray(sub_metrics.steps_taken) > 0]
    master_kl = float(master_metrics.approx_kl)
    if recompute:
        assert np.abs(sub_kl).max() < 1e-9 and abs(master_kl) < 1e-9, (sub_kl, master_kl)
    else:
        assert sub_kl.min() > 1e-6 and master_kl > 1e-6, (sub_kl, master_kl)
