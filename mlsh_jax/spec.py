"""Everything static about a run, derived once from its config: env, networks, optimizers, sizes.

Jitted functions close over one `MLSHSpec`, so a configuration compiles once.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import optax

import envs
from envs.base import AutoReset, Box
from mlsh_jax.algorithms import training_config
from mlsh_jax.config import RunConfig
from mlsh_jax.gae import macro_capacity
from mlsh_jax.networks import ActorCritic, master_network, subpolicy_network
from mlsh_jax.ppo import make_optimizer


def initial_phases(config: RunConfig) -> np.ndarray:
    """Each slot's phase counter at start; staggered: offsets evenly spread over the W+U cycle.

    With warmup (W > 0) a slot's offset o lengthens its first warmup (the phase starts at -o),
    as the original did, so no slot trains phi behind a master with fewer than W updates on its
    task, and the slots still reach their joint phases at spread-out times. Without warmup
    (the flat baselines, mlsh_no_warmup) slots start at phase +o. (The original computed the
    offset as W + U/10 instead of (W+U)/10; spreading over the whole cycle is what keeps a
    steady share of slots in the joint phase.)
    """
    slots = np.arange(config.num_slots)
    if not config.stagger:
        return np.zeros_like(slots, dtype=np.int32)
    offsets = (slots * config.cycle_length) // config.num_slots
    return (-offsets if config.warmup_updates > 0 else offsets).astype(np.int32)


def finishing_ranks(config: RunConfig) -> np.ndarray:
    """Each slot's place in the order in which the slots finish their tasks (ties by slot
    index): the same in every cycle, since every slot spends W+U updates on each task. Slot
    order with warmup, the reverse without (`initial_phases`)."""
    first_finish = config.cycle_length - initial_phases(config)
    ranks = np.empty(config.num_slots, np.int32)
    ranks[np.argsort(first_finish, kind="stable")] = np.arange(config.num_slots)
    return ranks


def joint_slot_capacity(config: RunConfig) -> int:
    """Most slots that are ever in the joint phase at once (static size of the phi batch).

    All slots advance one phase per update and restart at the cycle's end, so the joint
    count is periodic in the cycle (a lengthened first warmup only removes joint updates)
    and its maximum is found by checking one cycle.
    """
    if config.joint_updates == 0:
        return 0
    phases = initial_phases(config)
    counts = [int(np.sum((phases + shift) % config.cycle_length >= config.warmup_updates))
              for shift in range(config.cycle_length)]
    return max(counts)


def master_chunk_size(config: RunConfig) -> int:
    """Rows per gradient chunk of a master's minibatch: a minibatch's size when no episode
    ends inside the rollout (E * ceil(D/N) decisions), so that fixed-length tasks take one
    chunk and early episode ends add chunks only as their extra decisions need."""
    decisions = config.envs_per_slot * -(-config.rollout_steps // config.macro_duration)
    return -(-decisions // config.master_ppo.num_minibatches)


@dataclasses.dataclass(frozen=True, eq=False)
class MLSHSpec:
    config: RunConfig  # as run: `training_config` of the user's config
    env: AutoReset  # `wrap_for_training` of the config's env
    master: ActorCritic
    subpolicy: ActorCritic
    master_optimizer: optax.GradientTransformation
    sub_optimizer: optax.GradientTransformation
    macro_capacity: int
    master_chunk_size: int
    joint_capacity: int

    @property
    def continuous_actions(self) -> bool:
        return isinstance(self.env.action_space, Box)

    @classmethod
    def build(cls, config: RunConfig) -> "MLSHSpec":
        config = training_config(config)
        raw_env = config.make_env()
        return cls(
            config=config,
            env=envs.base.wrap_for_training(raw_env, config.reward_scale),
            master=master_network(config.num_subpolicies, config.network),
            subpolicy=subpolicy_network(raw_env.action_space, config.network),
            master_optimizer=make_optimizer(config.master_ppo),
            sub_optimizer=make_optimizer(config.sub_ppo),
            macro_capacity=macro_capacity(config.rollout_steps, config.macro_duration,
                                          raw_env.episode_length, raw_env.terminates_early),
            master_chunk_size=master_chunk_size(config),
            joint_capacity=joint_slot_capacity(config),
        )
