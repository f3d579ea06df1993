"""Typed, frozen, validated configuration.

Every knob of a run lives in one `RunConfig`. The public names users and scripts rely on
(`env`, `num_subpolicies`, `macro_duration`, ...) are flat fields of `RunConfig`; network and
PPO settings are nested groups. Validation happens at construction, so a bad value fails
before anything is compiled, with a message naming the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Literal

import envs

Algorithm = Literal["mlsh", "mlsh_no_warmup", "shared", "scratch"]
HIERARCHICAL_ALGORITHMS = ("mlsh", "mlsh_no_warmup")
ENV_OPTIONS_UNSET = {"backend": "", "episode_length": 0, "start_cell": -1,
                     "goal_ends_episode": True}
"""RunConfig fields passed to the env as options, each with its value meaning "env default"."""


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field, the value and the rule."""


def _require(condition: bool, field: str, value: object, rule: str) -> None:
    if not condition:
        raise ConfigError(f"{field}={value!r}: {rule}")


def _require_positive_int(field: str, value: object) -> None:
    _require(isinstance(value, int) and not isinstance(value, bool) and value >= 1, field, value,
             "must be an integer >= 1")


def _require_nonnegative_int(field: str, value: object) -> None:
    _require(isinstance(value, int) and not isinstance(value, bool) and value >= 0, field, value,
             "must be an integer >= 0")


def _require_positive_float(field: str, value: object) -> None:
    _require(isinstance(value, (int, float)) and not isinstance(value, bool)
             and math.isfinite(value) and value > 0, field, value, "must be a finite number > 0")


def _require_fraction(field: str, value: object, *, closed_top: bool = True) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 and (
        value <= 1 if closed_top else value < 1)
    _require(ok, field, value, "must be a number in [0, 1]" if closed_top else "must be in [0, 1)")


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Actor and critic MLPs (separate networks, as in the original)."""

    hidden_sizes: tuple[int, ...] = (64, 64)
    """Width of each hidden layer of the actor and of the critic (paper: 2x64)."""
    activation: Literal["tanh", "relu"] = "tanh"
    """Hidden-layer non-linearity."""
    initial_log_std: float = 0.0
    """Initial state-independent log standard deviation of Gaussian (continuous) heads."""

    def __post_init__(self):
        _require(isinstance(self.hidden_sizes, tuple) and len(self.hidden_sizes) >= 1
                 and all(isinstance(h, int) and h >= 1 for h in self.hidden_sizes),
                 "hidden_sizes", self.hidden_sizes,
                 "must be a non-empty tuple of integers >= 1, e.g. (64, 64)")
        _require(self.activation in ("tanh", "relu"), "activation", self.activation,
                 "must be one of: tanh, relu")
        _require(isinstance(self.initial_log_std, (int, float))
                 and math.isfinite(self.initial_log_std), "initial_log_std",
                 self.initial_log_std, "must be a finite number")


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Clipped-PPO settings for one learner (the masters or the sub-policies)."""

    learning_rate: float = 3e-4
    """Adam step size."""
    epochs: int = 10
    """Passes over the batch per update."""
    num_minibatches: int = 4
    """Minibatches per epoch."""
    clip_epsilon: float = 0.2
    """PPO ratio clip."""
    clip_value_loss: bool = False
    """Clip the value prediction around the rollout's value by clip_epsilon (on the critic's
    scale: normalised when normalize_returns), as the original did. Off by default: it limits
    each critic's move per update, and a master has only W+U updates to learn its critic."""
    value_coef: float = 1.0
    """Weight of the critic loss (actor and critic are separate networks)."""
    entropy_coef: float = 0.0
    """Entropy bonus weight (the original used 0)."""
    max_grad_norm: float = 0.5
    """Global-norm clip of the actor's gradient and, apart, of the critic's."""
    target_kl: float = 0.0
    """A trust region on each update, free of the reward's scale: once a minibatch's KL
    estimate from the rollout's policy exceeds this, that learner takes no more optimizer
    steps in the update (as Stable-Baselines3's target_kl, without its 1.5 factor). 0: off."""
    normalize_returns: bool = True
    """The critic learns value targets normalised by running statistics of the returns, so
    that learning does not depend on the reward's scale (values in GAE are scaled back)."""
    gamma: float = 0.99
    """Discount per transition (per macro-action for the master)."""
    gae_lambda: float = 0.98
    """GAE lambda."""
    recompute_old_log_probs: bool = False
    """The PPO ratio's old log-probabilities recomputed from the batch normalised by the
    statistics the update has just merged the batch into, so each update's first step starts
    at ratio 1 (the original's master update and Baselines' PPO do this). False: the
    rollout's, computed under the previous statistics (the original's sub-policy update and
    Brax's PPO do this), so a shift of the statistics alone moves the ratio."""

    def __post_init__(self):
        _require_positive_float("learning_rate", self.learning_rate)
        _require_positive_int("epochs", self.epochs)
        _require_positive_int("num_minibatches", self.num_minibatches)
        _require_positive_float("clip_epsilon", self.clip_epsilon)
        _require(isinstance(self.clip_value_loss, bool), "clip_value_loss", self.clip_value_loss,
                 "must be true or false")
        _require(isinstance(self.value_coef, (int, float)) and self.value_coef >= 0, "value_coef",
                 self.value_coef, "must be a number >= 0")
        _require(isinstance(self.entropy_coef, (int, float)) and self.entropy_coef >= 0,
                 "entropy_coef", self.entropy_coef, "must be a number >= 0")
        _require_positive_float("max_grad_norm", self.max_grad_norm)
        _require(isinstance(self.target_kl, (int, float)) and self.target_kl >= 0, "target_kl",
                 self.target_kl, "must be a number >= 0 (0: no early stop)")
        _require(isinstance(self.normalize_returns, bool), "normalize_returns",
                 self.normalize_returns, "must be true or false")
        _require_fraction("gamma", self.gamma)
        _require_fraction("gae_lambda", self.gae_lambda)
        _require(isinstance(self.recompute_old_log_probs, bool), "recompute_old_log_probs",
                 self.recompute_old_log_probs, "must be true or false")


def _default_master_ppo() -> PPOConfig:
    return PPOConfig(learning_rate=1e-2, num_minibatches=2)


def _default_sub_ppo() -> PPOConfig:
    return PPOConfig(learning_rate=3e-5, num_minibatches=15)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """One MLSH meta-training run. Defaults: the paper's algorithm alone on Moving Bandits (its
    K, N, W, U; 20 slots of 128 envs, 600 updates, no restarts); the shipped setting of each
    task, restarts included where they are used, is experiments/configs/<task>.py."""

    env: str = "moving_bandits"
    """Environment name from the `envs` registry."""
    backend: str = ""
    """Physics backend of the Brax tasks: mjx, spring, positional or generalized; empty: the
    env's default (`envs.brax_physics.DEFAULT_BACKEND`). Envs without physics reject it."""
    episode_length: int = 0
    """Most steps per episode; 0: the env's default (e.g. 50 for moving_bandits, 1000 for
    twowalk)."""
    start_cell: int = -1
    """Four Rooms: the free cell every episode starts on (`envs.four_rooms.TOP_LEFT` = 0 is the
    paper's fixed start); -1: the env's default, a random cell other than the goal."""
    goal_ends_episode: bool = True
    """Four Rooms: reaching the goal pays 1 and ends the episode; false: every step on the goal
    pays 1 and episodes last their full length (the original code's reward)."""
    reward_scale: float = 1.0
    """Multiplies every reward the learners see, and the returns reported. Learning does not
    depend on it (tested at x1 and x100); it exists to check that, and to compare with code
    that scales rewards."""
    algorithm: Algorithm = "mlsh"
    """mlsh; mlsh_no_warmup (every update of a task also trains phi: W=0, U=W+U); shared (one
    flat policy trained on all tasks, fine-tuned per new task at meta-test); scratch (no
    meta-training; a flat policy learns each new task from random initialisation). The
    baselines run the same rollout and PPO code; see `mlsh_jax.algorithms`."""
    init_subpolicies_from: str = ""
    """Transfer: workdir of a run whose exported sub-policies (with their observation
    statistics; seed r from its seed r, or from its only seed) replace phi's random start. Same
    observation size and network required; a source with fewer sub-policies fills the first
    ones. Empty: random start. With joint_updates=0 phi stays frozen and only the masters
    learn."""
    num_subpolicies: int = 2
    """K: shared sub-policies the master chooses among."""
    macro_duration: int = 10
    """N: environment steps per master decision (a decision also happens at each episode start)."""
    warmup_updates: int = 9
    """W: updates per task that train the master only."""
    joint_updates: int = 1
    """U: updates per task that train master and sub-policies."""
    num_slots: int = 20
    """S: task slots trained at once, each with its own task and master."""
    envs_per_slot: int = 128
    """E: parallel environments per slot (they share the slot's task)."""
    rollout_steps: int = 50
    """D: environment steps per env per update (a master decision is forced at its start)."""
    total_updates: int = 600
    """Updates to run (every slot does one update per iteration). 0 only initialises the run
    (with `init_subpolicies_from`: transfers φ) and writes config.json and the φ export, so that
    `experiments.evaluate` meta-tests sub-policies trained on another task as they are."""
    seed: int = 0
    """Root of every random key of the run."""
    num_seeds: int = 1
    """Independent runs trained at once in one compiled program (vmapped): seeds seed,
    seed+1, ..., each identical to a single-seed run with that seed."""
    candidates: int = 1
    """k: independent starts of each seed (phi, slots, masters and keys; candidate 0 is the
    plain run of the seed) trained side by side in one program until `selection_update`;
    then each seed keeps the candidate with the highest training return over the last
    `selection_window` updates and trains it alone to the end (selection.json says which and
    why). MLSH's sub-policies collapse onto one behaviour in some runs (docs/results.md); a
    collapsed run earns less, so the selection favours a specialised candidate.
    1: no selection, the algorithm alone. No effect with `scratch`, which meta-trains nothing."""
    selection_update: int = 100
    """With candidates > 1: the update after which each seed keeps its best candidate."""
    selection_window: int = 25
    """With candidates > 1: the updates before `selection_update` whose training return
    ranks the candidates (run as one chunk of updates)."""
    reinit_alike_updates: tuple[int, ...] = ()
    """After each of these updates, sub-policies that act alike on the last rollout's states
    (mean Hellinger distance of their actions below `alike_threshold`) keep only the first of
    them; the others are re-initialised (`mlsh_jax.alike`). MLSH's sub-policies can settle on
    one skill, and nothing in its updates separates them again; a fresh one beside a committed
    one is separated by the masters that the committed skill does not serve. Empty: never,
    the algorithm alone. None at `total_updates` (it could export an untrained sub-policy) and
    at most one per `log_every` interval (the log records one); flat learners never check."""
    alike_threshold: float = 0.37
    """Mean Hellinger distance in [0, 1] below which two sub-policies count as alike. Set on
    Moving Bandits' sub-policies at update 100, where, on states of random walks, those heading
    to one goal measured at most 0.33 and those heading to different goals at least 0.42
    (docs/results.md). A task's own value: the distance depends on the action space (for
    Gaussian actions it grows with their dimension) and on when skills form."""
    master_epsilon: float = 0.1
    """Probability that a macro-action's sub-policy is uniform random instead of the master's."""
    stagger: bool = True
    """Spread the slots over their W+U cycle (lengthening each slot's first warmup), so that
    after the first W updates a steady share of them is joint in every update."""
    balance_task_types: bool = False
    """Draw the slots' tasks with their task types (e.g. which goal pays) in turn, from a
    random first type, instead of independently: the slots that start a cycle together, and
    so train phi together, then hold the types in equal numbers when their count
    (num_slots / (W+U)) is a multiple of the number of types, else within one, and phi's update
    sees no chance majority of one type. Each slot's task is still uniform over the types.
    Needs an env with discrete task types."""
    subpolicies_see_relative_position: bool = False
    """True: the sub-policies see the body's position (the env's `position_observation_dims`)
    relative to where their macro-action began; the masters still see it in world
    coordinates. A skill then is a way of moving from wherever it is chosen, not a walk to
    the place where it was trained: Twowalk's skills, trained on world positions, walk to
    (5, 0) and (0, 5) and stop there, of no use toward a goal elsewhere (docs/results.md).
    A flat baseline's policy is a sub-policy too: it sees its position relative to where it
    stood N steps ago at most (at the last macro boundary). Needs an env whose observation
    holds a position."""
    normalize_observations: bool = True
    """Running mean/std observation normalisation (per slot for masters, shared for subs)."""
    observation_clip: float = 5.0
    """Normalised observations are clipped to +-this value."""
    network: NetworkConfig = NetworkConfig()
    """Actor-critic MLP shape, shared by the master and the sub-policies."""
    master_ppo: PPOConfig = dataclasses.field(default_factory=_default_master_ppo)
    """PPO for the per-slot masters (paper and original: lr 0.01)."""
    sub_ppo: PPOConfig = dataclasses.field(default_factory=_default_sub_ppo)
    """PPO for the shared sub-policies (original code: lr 3e-5; the paper says 3e-4, with
    which our sub-policies collapsed onto the same behaviour on Moving Bandits)."""
    finetune_ppo: PPOConfig = PPOConfig()
    """PPO of the flat per-task learner at meta-test of the baselines (shared: fine-tuning the
    shared policy with a fresh Adam state; scratch: learning from random initialisation).
    Standard PPO settings (lr 3e-4, the paper's), not the shared policy's slow meta-training
    rate, so the baselines can adapt within the meta-test budget."""
    log_every: int = 20
    """Updates between progress lines and metrics.jsonl records (also the jit chunk length)."""
    checkpoint_every: int = 100
    """Updates between full-state checkpoints (DIR/checkpoints), each taken at the first log
    boundary at or after a multiple of it; the last update and a Ctrl-C are always
    checkpointed."""
    checkpoint_minutes: float = 10.0
    """Also take a full-state checkpoint at the first log boundary after this many minutes
    since the last one (or the command's start, compiling included), so that a run killed
    without warning (a preempted machine, an out-of-memory kill) loses about this much at
    most, plus one log interval, whatever `checkpoint_every` is; 0: only `checkpoint_every`.
    These checkpoints count towards `max_to_keep`."""
    max_to_keep: int = 3
    """Newest full-state checkpoints kept on disk."""
    wandb_project: str = ""
    """Also log metrics to this Weights & Biases project (needs `pip install wandb`); empty:
    off."""
    num_devices: int = 1
    """Devices the task slots are split over (`mlsh_jax.sharding`; all processes' devices in a
    multi-host run): each trains S/num_devices slots, phi is replicated. Must divide num_slots.
    Changes the compiled program, not what an update computes (up to float rounding)."""

    def __post_init__(self):
        self._check_env_name()
        _require(isinstance(self.episode_length, int) and not isinstance(
            self.episode_length, bool) and self.episode_length >= 0, "episode_length",
            self.episode_length, "must be an integer >= 0 (0: the env's default)")
        _require(isinstance(self.start_cell, int) and not isinstance(self.start_cell, bool)
                 and self.start_cell >= -1, "start_cell", self.start_cell,
                 "must be an integer >= -1 (-1: the env's default)")
        _require(isinstance(self.goal_ends_episode, bool), "goal_ends_episode",
                 self.goal_ends_episode, "must be true or false")
        env = self._check_env_options()
        _require_positive_float("reward_scale", self.reward_scale)
        _require(isinstance(self.init_subpolicies_from, str), "init_subpolicies_from",
                 self.init_subpolicies_from, "must be a path (empty: random start)")
        _require(self.algorithm in typing.get_args(Algorithm), "algorithm", self.algorithm,
                 f"must be one of: {', '.join(typing.get_args(Algorithm))}")
        _require_positive_int("num_subpolicies", self.num_subpolicies)
        _require_positive_int("macro_duration", self.macro_duration)
        _require_nonnegative_int("warmup_updates", self.warmup_updates)
        _require_nonnegative_int("joint_updates", self.joint_updates)
        _require(self.warmup_updates + self.joint_updates >= 1, "warmup_updates+joint_updates",
                 self.warmup_updates + self.joint_updates, "must be >= 1")
        _require_positive_int("num_slots", self.num_slots)
        _require_positive_int("envs_per_slot", self.envs_per_slot)
        _require_positive_int("rollout_steps", self.rollout_steps)
        _require_nonnegative_int("total_updates", self.total_updates)
        _require(isinstance(self.seed, int) and not isinstance(self.seed, bool) and self.seed >= 0,
                 "seed", self.seed, "must be an integer >= 0")
        _require_positive_int("num_seeds", self.num_seeds)
        _require_positive_int("candidates", self.candidates)
        _require(isinstance(self.reinit_alike_updates, tuple) and all(
            isinstance(u, int) and not isinstance(u, bool) and u >= 1
            for u in self.reinit_alike_updates), "reinit_alike_updates",
            self.reinit_alike_updates, "must be a tuple of update numbers >= 1")
        _require(isinstance(self.alike_threshold, (int, float))
                 and not isinstance(self.alike_threshold, bool)
                 and 0 < self.alike_threshold <= 1, "alike_threshold", self.alike_threshold,
                 "must be a number in (0, 1]")
        _require_positive_int("selection_update", self.selection_update)
        _require_positive_int("selection_window", self.selection_window)
        if self.selects:
            self._check_selection()
        _require_fraction("master_epsilon", self.master_epsilon)
        _require(isinstance(self.stagger, bool), "stagger", self.stagger, "must be true or false")
        _require(isinstance(self.balance_task_types, bool), "balance_task_types",
                 self.balance_task_types, "must be true or false")
        _require(not self.balance_task_types or env.num_task_types > 1,
                 "balance_task_types", self.balance_task_types,
                 f"env {self.env!r} has no discrete task types to balance")
        _require(isinstance(self.subpolicies_see_relative_position, bool),
                 "subpolicies_see_relative_position", self.subpolicies_see_relative_position,
                 "must be true or false")
        _require(not self.subpolicies_see_relative_position or env.position_observation_dims,
                 "subpolicies_see_relative_position", self.subpolicies_see_relative_position,
                 f"env {self.env!r} declares no position_observation_dims (the Ant and "
                 f"Humanoid tasks do)")
        _require(isinstance(self.normalize_observations, bool), "normalize_observations",
                 self.normalize_observations, "must be true or false")
        _require_positive_float("observation_clip", self.observation_clip)
        _require_positive_int("log_every", self.log_every)
        if self.hierarchical and self.num_subpolicies > 1:  # flat learners never check
            self._check_alike_updates()
        _require_positive_int("checkpoint_every", self.checkpoint_every)
        _require(isinstance(self.checkpoint_minutes, (int, float))
                 and not isinstance(self.checkpoint_minutes, bool)
                 and math.isfinite(self.checkpoint_minutes) and self.checkpoint_minutes >= 0,
                 "checkpoint_minutes", self.checkpoint_minutes,
                 "must be a finite number >= 0 (0: only checkpoint_every)")
        _require_positive_int("max_to_keep", self.max_to_keep)
        _require(isinstance(self.wandb_project, str), "wandb_project", self.wandb_project,
                 "must be a string (empty: Weights & Biases off)")
        self._check_num_devices()
        _require(isinstance(self.network, NetworkConfig), "network", self.network,
                 "must be a NetworkConfig")
        for name in ("master_ppo", "sub_ppo", "finetune_ppo"):
            _require(isinstance(getattr(self, name), PPOConfig), name, getattr(self, name),
                     "must be a PPOConfig")
        # Fine-tuning reads the shared policy's critic on the scale it was trained on.
        _require(self.finetune_ppo.normalize_returns == self.sub_ppo.normalize_returns,
                 "finetune_ppo.normalize_returns", self.finetune_ppo.normalize_returns,
                 f"must equal sub_ppo.normalize_returns={self.sub_ppo.normalize_returns}")

    def _check_selection(self) -> None:
        """The window runs as one chunk of updates and must run whole: a run that stopped
        inside it and was extended would rank the candidates on part of it."""
        _require(self.selection_window <= self.selection_update, "selection_window",
                 self.selection_window,
                 f"must be at most selection_update={self.selection_update}")
        window_start = self.selection_update - self.selection_window
        _require(not window_start < self.total_updates < self.selection_update, "total_updates",
                 self.total_updates,
                 f"must not end inside the selection window (updates {window_start + 1}-"
                 f"{self.selection_update}): at most {window_start} or at least "
                 f"{self.selection_update}")
        _require(all(u > self.selection_update for u in self.reinit_alike_updates),
                 "reinit_alike_updates", self.reinit_alike_updates,
                 f"with candidates={self.candidates}, checks must come after "
                 f"selection_update={self.selection_update} (the candidates are plain runs of "
                 "the algorithm; --config.reinit_alike_updates= for none)")

    def _check_alike_updates(self) -> None:
        """No check after the last update, where a restart would go out untrained with the
        export; at most one per log interval, as the log records one (metrics.jsonl's
        `alike_check`) and two would hide the first."""
        _require(self.total_updates not in self.reinit_alike_updates, "reinit_alike_updates",
                 self.reinit_alike_updates,
                 f"no check after the last update (total_updates={self.total_updates}): it "
                 "could export a freshly initialised sub-policy; check earlier, train longer, "
                 "or --config.reinit_alike_updates= for none")
        by_interval: dict[int, int] = {}
        for update in sorted(set(self.reinit_alike_updates)):
            interval = (update - 1) // self.log_every
            _require(interval not in by_interval, "reinit_alike_updates",
                     self.reinit_alike_updates,
                     f"at most one check per log interval (log_every={self.log_every}): "
                     f"{by_interval.get(interval)} and {update} both fall in updates "
                     f"{interval * self.log_every + 1}-{(interval + 1) * self.log_every}")
            by_interval[interval] = update

    def _check_env_options(self) -> envs.base.Environment:
        """The env these options build (checked by building it)."""
        accepted = envs.options(self.env)
        for name in self.env_options:
            _require(name in accepted, name, getattr(self, name),
                     f"env {self.env!r} has no such option (it accepts: {', '.join(accepted)})")
        try:
            return self.make_env()
        except ValueError as error:
            raise ConfigError(f"env {self.env!r}: {error}") from None

    def _check_env_name(self) -> None:
        try:
            envs.options(self.env)
        except envs.UnknownEnvironmentError as error:
            raise ConfigError(f"env={self.env!r}: {error.reason}") from None

    @property
    def env_options(self) -> dict[str, object]:
        """The env settings this config overrides (`envs.make(env, **env_options)`)."""
        return {name: getattr(self, name) for name, unset in ENV_OPTIONS_UNSET.items()
                if getattr(self, name) != unset}

    def make_env(self) -> envs.base.Environment:
        """The environment this config runs on, with its options, without training wrappers."""
        return envs.make(self.env, **self.env_options)

    def _check_num_devices(self) -> None:
        """Whether that many devices exist is checked when training starts
        (`mlsh_jax.sharding.slot_mesh`): a stored config must load anywhere, e.g. for
        meta-test on one device."""
        _require_positive_int("num_devices", self.num_devices)
        _require(self.num_slots % self.num_devices == 0, "num_devices", self.num_devices,
                 f"must divide num_slots={self.num_slots}")

    @property
    def hierarchical(self) -> bool:
        """A master chooses among sub-policies (False for the flat baselines)."""
        return self.algorithm in HIERARCHICAL_ALGORITHMS

    @property
    def cycle_length(self) -> int:
        """Updates a slot spends on one task: W + U."""
        return self.warmup_updates + self.joint_updates

    @property
    def selects(self) -> bool:
        """Candidates are trained side by side, then one per seed is kept."""
        return self.candidates > 1

    def candidate_phase(self, done: int) -> bool:
        """Whether the run is still training all candidates after `done` updates."""
        return self.selects and done < self.selection_update

    def env_steps_done(self, done: int) -> int:
        """Env steps one seed has simulated after `done` updates, every candidate's counted:
        the budget to compare methods by."""
        together = min(done, self.selection_update) if self.selects else 0
        return (together * self.candidates + done - together) * self.env_steps_per_update

    @property
    def env_steps_per_update(self) -> int:
        return self.num_slots * self.envs_per_slot * self.rollout_steps


def config_from_dict(data: dict) -> RunConfig:
    """Inverse of `dataclasses.asdict` for a RunConfig (as read back from config.json); a field
    the dict lacks, in a group too (a run saved before the field existed), takes its default."""
    return _from_dict(RunConfig, data, prefix="")


def _from_dict(cls: type, data: object, prefix: str) -> object:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix[:-1] or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(prefix + u for u in unknown)}; valid keys: "
                          f"{', '.join(prefix + n for n in names)}")
    values = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            value = _from_dict(hint, value, f"{prefix}{name}.")
        elif typing.get_origin(hint) is tuple and isinstance(value, list):
            value = tuple(value)
        values[name] = value
    try:
        return cls(**values)
    except ConfigError as error:
        raise ConfigError(f"{prefix}{error}") from None
