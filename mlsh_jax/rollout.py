"""Collect D steps in S slots x E envs with the hierarchical policy (one `lax.scan` over time).

The master decides at the rollout's first step, at every episode start, and when the running
macro-action has lasted N steps; episodes may end at any step, cutting the macro-action short.
Where the sub-policies see positions relative to their macro-action's start, that start's
position is carried and recorded.
Where the env can truncate episodes, the master's and the active sub-policy's values at each
ended episode's final observation are recorded for bootstrapping.

The master decides once per N steps and at episode starts, and truncations are rarer still, so
the master's pass and the bootstrap passes run only at the steps where some env of the program
needs them (`when_any`); elsewhere their records hold zeros, which nothing reads. So do the
envs' resets (`step_envs`).
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from mlsh_jax.distributions import Categorical, epsilon_mixture
from mlsh_jax.networks import apply_stacked, select_subpolicy
from mlsh_jax.normalization import normalize, scale_value
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import Learner, SlotState


@flax.struct.dataclass
class Trajectory:
    """Time-major [D, S, E, ...] record of a rollout plus its bootstrap values."""

    obs: jax.Array
    macro_origin: jax.Array      # [..., P] position where the running macro-action began
    decision: jax.Array          # the master chose a sub-policy at this step
    subpolicy: jax.Array         # z in use at this step
    master_log_prob: jax.Array   # log-prob of z under the epsilon-mixed master (decision steps)
    master_value: jax.Array
    action: jax.Array
    log_prob: jax.Array          # of the action under the active sub-policy
    value: jax.Array             # the active sub-policy's critic
    reward: jax.Array
    done: jax.Array
    truncated: jax.Array         # the episode that ended at this step was truncated
    final_value: jax.Array       # active sub-policy's value at its final observation (if so)
    final_master_value: jax.Array  # master's value there
    episode_return: jax.Array    # return of the episode that ended at this step (0 otherwise)
    episode_length: jax.Array    # steps of the episode that ended at this step (0 otherwise)
    episode_end: jax.Array       # [..., M] env.episode_end_metrics where an episode ended, else 0
    last_master_value: jax.Array  # [S, E] master value at the observation after the rollout
    last_value: jax.Array         # [S, E] active sub-policy's value there


def master_outputs(spec: MLSHSpec, masters: Learner, obs: jax.Array):
    """Epsilon-mixed master distribution and value (in return units) for obs [S, E, ...]
    (each slot its theta).

    Without a master (flat baselines) the only sub-policy, 0, is chosen with probability 1.
    """
    cfg = spec.config
    if masters is None:
        batch_shape = obs.shape[:2]
        logits = jnp.zeros(batch_shape + (1,), jnp.float32)
        return Categorical(logits=logits), jnp.zeros(batch_shape, jnp.float32)

    def one_slot(learner: Learner, slot_obs):
        normed = normalize(learner.obs_stats, slot_obs, cfg.observation_clip,
                           cfg.normalize_observations)
        dist, value = spec.master.apply(learner.params, normed)
        return (epsilon_mixture(dist.logits, cfg.master_epsilon),
                scale_value(learner.return_stats, value))

    return jax.vmap(one_slot)(masters, obs)


def position(spec: MLSHSpec, obs: jax.Array) -> jax.Array:
    """[..., P] the position entries of observations that sub-policies see relative to their
    macro-action's start (P = 0 where they see the whole observation as it is)."""
    if not spec.config.subpolicies_see_relative_position:
        return obs[..., :0]
    return obs[..., jnp.asarray(spec.env.position_observation_dims)]


def subpolicy_observation(spec: MLSHSpec, obs: jax.Array, macro_origin: jax.Array) -> jax.Array:
    """What the sub-policies see of observations [..., size] (`position`'s entries minus the
    macro-action's starting position [..., P])."""
    if not spec.config.subpolicies_see_relative_position:
        return obs
    return obs.at[..., jnp.asarray(spec.env.position_observation_dims)].add(-macro_origin)


def subpolicy_outputs(spec: MLSHSpec, subpolicies: Learner, obs: jax.Array, z: jax.Array,
                      macro_origin: jax.Array):
    """Distribution and value (in return units) of the active sub-policy z for each
    observation, its macro-action begun at `macro_origin` (`position` there)."""
    cfg = spec.config
    normed = normalize(subpolicies.obs_stats, subpolicy_observation(spec, obs, macro_origin),
                       cfg.observation_clip, cfg.normalize_observations)
    dists, values = apply_stacked(spec.subpolicy, subpolicies.params, normed)
    values = jax.vmap(scale_value)(subpolicies.return_stats, values)
    return select_subpolicy((dists, values), z)


def env_action(spec: MLSHSpec, action: jax.Array) -> jax.Array:
    if spec.continuous_actions:
        return jnp.clip(action, spec.env.action_space.low, spec.env.action_space.high)
    return action


def step_envs(spec: MLSHSpec, key: jax.Array, env_state, action: jax.Array, tasks,
              run_axes: tuple[str, ...] = ()):
    """One step of every env ([S, E] batch, each slot its task), the envs whose episode ended
    restarted (`AutoReset`); the new episodes are drawn only at the steps where some env of
    the program ended one (`when_any`): most steps end none, and a Brax reset runs the
    physics' initialisation."""
    cfg = spec.config
    keys = jax.random.split(key, cfg.num_slots * cfg.envs_per_slot)
    step_keys, reset_keys = (half.reshape(cfg.num_slots, cfg.envs_per_slot, -1)
                             for half in jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0))
    per_env = lambda fn, in_axes: jax.vmap(jax.vmap(fn, in_axes=in_axes))
    stepped = per_env(spec.env.step_only, (0, 0, 0, None))(step_keys, env_state, action, tasks)
    done = stepped[3]
    new_episode = when_any(done, run_axes,
                           lambda: per_env(spec.env.new_episode, (0, None))(reset_keys, tasks))
    return per_env(spec.env.restart_ended, (0, 0))(stepped, new_episode)


def episode_end_values(spec: MLSHSpec, info, done: jax.Array) -> jax.Array:
    """[..., M] the env's episode-end metrics at the steps where an episode ended, else 0."""
    values = [jnp.where(done, info[name], 0.0) for name in spec.env.episode_end_metrics]
    return jnp.stack(values, axis=-1) if values else jnp.zeros(done.shape + (0,), jnp.float32)


def anywhere(flags: jax.Array, run_axes: tuple[str, ...]) -> jax.Array:
    """Whether some element of `flags` holds in some run of the program: one scalar, reduced
    over the named `vmap` axes `run_axes` of the runs (seeds, candidates) that enclose this
    call. A predicate batched by an outer `vmap` would turn `lax.cond` into a select that
    computes both branches."""
    found = jnp.any(flags)
    if not run_axes:
        return found
    return jax.lax.pmax(found.astype(jnp.int32), run_axes) > 0


def when_any(flags: jax.Array, run_axes: tuple[str, ...], compute):
    """`compute()` at a step where some element of `flags` holds (`anywhere`), zeros of its
    shapes otherwise: for values read only where `flags` hold."""
    shapes = jax.eval_shape(compute)
    zeros = lambda: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
    return jax.lax.cond(anywhere(flags, run_axes), compute, zeros)


def final_values(spec: MLSHSpec, masters: Learner, subpolicies: Learner, final_obs: jax.Array,
                 z: jax.Array, macro_origin: jax.Array, truncated: jax.Array,
                 run_axes: tuple[str, ...]) -> dict[str, jax.Array]:
    """Master and active sub-policy values at the final observations of truncated episodes,
    computed only at the steps where some episode was truncated; zeros, at no cost, for envs
    that never truncate (nothing bootstraps from them)."""
    if not spec.env.truncates:
        zeros = jnp.zeros(z.shape, jnp.float32)
        return dict(final_value=zeros, final_master_value=zeros)

    def compute():
        _, master_value = master_outputs(spec, masters, final_obs)
        _, value = subpolicy_outputs(spec, subpolicies, final_obs, z, macro_origin)
        return dict(final_value=value, final_master_value=master_value)

    return when_any(truncated, run_axes, compute)


@flax.struct.dataclass
class _Carry:
    env_state: object
    obs: jax.Array
    subpolicy: jax.Array
    macro_origin: jax.Array  # [S, E, P] `position` where the running macro-action began
    macro_age: jax.Array     # steps the running macro-action has lasted
    must_decide: jax.Array   # rollout start or episode start


def rollout(spec: MLSHSpec, slots: SlotState, subpolicies: Learner, key: jax.Array,
            run_axes: tuple[str, ...] = ()):
    """Returns (slots with advanced env states and observations, Trajectory).

    `run_axes`: the names of the `vmap` axes over runs that enclose this call (`make_chunk`
    names them), over which "some env needs the master here" is decided.
    """
    cfg = spec.config
    batch_shape = (cfg.num_slots, cfg.envs_per_slot)

    def step(carry: _Carry, step_key):
        k_master, k_action, k_env = jax.random.split(step_key, 3)
        decision = carry.must_decide | (carry.macro_age >= cfg.macro_duration)
        master_dist, master_value = when_any(
            decision, run_axes, lambda: master_outputs(spec, slots.master, carry.obs))
        z = jnp.where(decision, master_dist.sample(k_master), carry.subpolicy)
        origin = jnp.where(decision[..., None], position(spec, carry.obs), carry.macro_origin)
        dist, value = subpolicy_outputs(spec, subpolicies, carry.obs, z, origin)
        action = dist.sample(k_action)
        obs, env_state, reward, done, info = step_envs(
            spec, k_env, carry.env_state, env_action(spec, action), slots.task, run_axes)
        truncated = done & info["truncated"]
        record = dict(obs=carry.obs, macro_origin=origin, decision=decision, subpolicy=z,
                      master_log_prob=master_dist.log_prob(z), master_value=master_value,
                      action=action, log_prob=dist.log_prob(action), value=value,
                      reward=reward, done=done, truncated=truncated,
                      **final_values(spec, slots.master, subpolicies, info["final_obs"], z,
                                     origin, truncated, run_axes),
                      episode_return=info["episode_return"],
                      episode_length=info["episode_length"],
                      episode_end=episode_end_values(spec, info, done))
        next_carry = _Carry(env_state=env_state, obs=obs, subpolicy=z, macro_origin=origin,
                            macro_age=jnp.where(decision, 1, carry.macro_age + 1),
                            must_decide=done)
        return next_carry, record

    start = _Carry(env_state=slots.env_state, obs=slots.obs,
                   subpolicy=jnp.zeros(batch_shape, jnp.int32),
                   macro_origin=jnp.zeros_like(position(spec, slots.obs)),
                   macro_age=jnp.zeros(batch_shape, jnp.int32),
                   must_decide=jnp.ones(batch_shape, bool))
    end, records = jax.lax.scan(step, start, jax.random.split(key, cfg.rollout_steps))
    _, last_master_value = master_outputs(spec, slots.master, end.obs)
    _, last_value = subpolicy_outputs(spec, subpolicies, end.obs, end.subpolicy,
                                      end.macro_origin)
    trajectory = Trajectory(**records, last_master_value=last_master_value, last_value=last_value)
    return slots.replace(env_state=end.env_state, obs=end.obs), trajectory
