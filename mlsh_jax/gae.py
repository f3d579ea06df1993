"""Generalized advantage estimation on per-step and on macro (master) transitions.

Master transitions are variable-length: a macro-action lasts N steps unless an episode ends
inside it or the rollout ends. `compact_macros` turns one env's per-step timeline into a
fixed-capacity list of macro transitions (static shape; unused entries masked), so the master
trains on ~D/N samples instead of D mostly-empty ones.

On both timescales an episode end cuts the advantage's chain; a termination adds nothing after
it, while a truncation (a time limit that is not part of the task) bootstraps from the value of
the episode's final observation (`final_values`), as if the episode went on.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp


def generalized_advantages(rewards: jax.Array, values: jax.Array, next_values: jax.Array,
                           bootstraps: jax.Array, continues: jax.Array, gamma: float,
                           lam: float) -> jax.Array:
    """GAE along axis 0. `bootstraps[t]` is 0 where the episode terminated at t (nothing
    follows), `continues[t]` 0 where it ended at t in any way (the next step is another
    episode's)."""
    deltas = rewards + gamma * bootstraps * next_values - values

    def backward(next_advantage, inputs):
        delta, cont = inputs
        advantage = delta + gamma * lam * cont * next_advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(deltas[0]), (deltas, continues),
                                 reverse=True)
    return advantages


def _bootstraps_and_continues(dones: jax.Array, truncated: jax.Array):
    terminated = dones & ~truncated
    return 1.0 - terminated.astype(jnp.float32), 1.0 - dones.astype(jnp.float32)


def step_advantages(rewards, values, dones, truncated, final_values, last_value, gamma: float,
                    lam: float):
    """Per-step GAE over a [T, ...] trajectory; returns (advantages, returns).

    `truncated[t]`: the episode ending at t was truncated, and `final_values[t]` is the value
    of its final observation (read only there).
    """
    next_values = jnp.concatenate([values[1:], last_value[None]], axis=0)
    next_values = jnp.where(truncated, final_values, next_values)
    bootstraps, continues = _bootstraps_and_continues(dones, truncated)
    advantages = generalized_advantages(rewards, values, next_values, bootstraps, continues,
                                        gamma, lam)
    return advantages, advantages + values


@flax.struct.dataclass
class MacroTransitions:
    """Fixed-capacity list of one env's macro transitions, in time order."""

    start: jax.Array      # [M] int32 step index of the master decision
    valid: jax.Array      # [M] bool: entry holds a real transition
    reward: jax.Array     # [M] sum of env rewards during the macro-action
    done: jax.Array       # [M] bool: the episode ended inside the macro-action
    truncated: jax.Array  # [M] bool: ... and that end was a truncation (truncated implies done)
    final_value: jax.Array  # [M] master value at the truncated episode's final observation
    overflow: jax.Array   # [] int32: decisions that did not fit (0 when capacity is right)


def compact_macros(decisions: jax.Array, rewards: jax.Array, dones: jax.Array,
                   truncated: jax.Array, final_values: jax.Array,
                   capacity: int) -> MacroTransitions:
    """Macro transitions of one env from its [D] per-step decision flags, rewards, dones,
    truncation flags and master values at final observations.

    A macro-action runs from its decision step up to (excluding) the next decision step or the
    rollout end. An episode end forces a decision at the next step, so a macro-action's episode
    can only end at its last step.
    """
    num_steps = decisions.shape[0]
    count = decisions.sum().astype(jnp.int32)
    (start,) = jnp.nonzero(decisions, size=capacity, fill_value=0)
    start = start.astype(jnp.int32)
    slot = jnp.arange(capacity)
    valid = slot < count
    next_start = jnp.where(slot + 1 < count, jnp.roll(start, -1), num_steps)
    cumulative = jnp.concatenate([jnp.zeros((1,), rewards.dtype), jnp.cumsum(rewards)])
    reward = jnp.where(valid, cumulative[next_start] - cumulative[start], 0.0)
    last = jnp.maximum(next_start - 1, 0)
    return MacroTransitions(start=start, valid=valid, reward=reward, done=valid & dones[last],
                            truncated=valid & truncated[last],
                            final_value=final_values[last],
                            overflow=jnp.maximum(count - capacity, 0))


def macro_advantages(macros: MacroTransitions, values: jax.Array, last_value: jax.Array,
                     gamma: float, lam: float):
    """GAE over [M] macro transitions whose master values are `values` (padding masked)."""
    next_valid = jnp.concatenate([macros.valid[1:], jnp.zeros((1,), bool)])
    next_values = jnp.where(next_valid, jnp.roll(values, -1), last_value)
    next_values = jnp.where(macros.truncated, macros.final_value, next_values)
    bootstraps, continues = _bootstraps_and_continues(macros.done | ~macros.valid,
                                                      macros.truncated)
    values = jnp.where(macros.valid, values, 0.0)
    advantages = generalized_advantages(macros.reward, values, next_values, bootstraps,
                                        continues, gamma, lam)
    advantages = jnp.where(macros.valid, advantages, 0.0)
    return advantages, advantages + values


def macro_capacity(rollout_steps: int, macro_duration: int, episode_length: int,
                   terminates_early: bool) -> int:
    """Most macro transitions one env can produce in a rollout.

    Decisions happen at the rollout start, after every episode end, and every N steps in
    between. With fixed-length episodes the rollout is cut into at most ceil(D/L)+1
    episode fragments of lengths l_i, each holding ceil(l_i/N) <= l_i/N + 1 decisions.
    With early termination any step may end an episode, so the bound is D.
    """
    if terminates_early:
        return rollout_steps
    fragments = -(-rollout_steps // episode_length) + 1
    return min(rollout_steps, rollout_steps // macro_duration + fragments)
