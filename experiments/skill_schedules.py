"""What `skill_walks` (Ant) and `humanoid_skills` (Humanoid) share: sub-policies run without a
master, on a fixed schedule of one sub-policy per macro-action, from a run's or a pretrained
folder's export, with the same command-line options."""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp

from experiments.config_cli import CliParser, int_at_least
from experiments.pictures import load_seed_subpolicies
from mlsh_jax.algorithms import training_config
from mlsh_jax.checkpoint import CheckpointError
from mlsh_jax.config import RunConfig
from mlsh_jax.rollout import position, subpolicy_outputs
from mlsh_jax.runs import read_run_config
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import Learner


def scheduled_action(spec: MLSHSpec, subpolicies: Learner, schedule: jax.Array, obs: jax.Array,
                     t: jax.Array, origin: jax.Array, key: jax.Array
                     ) -> tuple[jax.Array, jax.Array]:
    """(sampled action, macro-action origin) at step t of an episode in which schedule[m] runs
    the m-th macro-action (the last entry to the end); the origin is `position` where the
    running macro-action began, as in training."""
    duration = spec.config.macro_duration
    z = schedule[jnp.minimum(t // duration, len(schedule) - 1)]
    origin = jnp.where(t % duration == 0, position(spec, obs), origin)
    dist, _ = subpolicy_outputs(spec, subpolicies, obs, z, origin)
    return dist.sample(key), origin


def skill_parser(prog: str, doc: str, tasks: str, course: str, episodes: str) -> CliParser:
    """A parser with the options both tools take: `--workdir` (a run or pretrained folder on
    `tasks`), `--course` (`course`'s help), `--episodes` (per `episodes`), `--seed`,
    `--seed-index`."""
    parser = CliParser(prog=prog, description=" ".join(doc.split("\n\n")[0].split()))
    parser.add_argument("--workdir", type=pathlib.Path, required=True,
                        help="a run or a pretrained/ folder (config.json, subpolicies.msgpack) "
                             f"on {tasks}")
    parser.add_argument("--course", action="store_true", help=course)
    parser.add_argument("--episodes", type=int_at_least(1), default=8,
                        help=f"sampled episodes per {episodes} (default 8)")
    parser.add_argument("--seed", type=int_at_least(0), default=0,
                        help="key of the episodes' start noise and samples (default 0)")
    parser.add_argument("--seed-index", type=int_at_least(0), default=0,
                        help="which seed of a multi-seed run (default 0)")
    return parser


def load_skills(workdir: pathlib.Path, seed_index: int, tool: str, envs: tuple[str, ...],
                tasks: str) -> tuple[RunConfig, Learner]:
    """The run's config as its program ran it (a flat learner, e.g. the shared policy, is one
    sub-policy) and one seed's sub-policies; CheckpointError unless the run trained sub-policies
    on one of `envs` (described as `tasks` in the message)."""
    config = training_config(read_run_config(workdir))
    if config.env not in envs:
        raise CheckpointError(f"{workdir}: env={config.env!r}; {tool} needs the sub-policies of "
                              f"a run on {tasks}")
    return config, load_seed_subpolicies(workdir, seed_index)  # refuses scratch runs
