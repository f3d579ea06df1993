"""A run's directory as the tools read it back: its config, its exported sub-policies, its
full-state checkpoints.

A directory `train` wrote (config.json, subpolicies.msgpack, checkpoints/) and a shipped
`pretrained/NAME` folder (config.json and subpolicies.msgpack only) load the same way, so
meta-test, pictures and transfer work on either.
"""

from __future__ import annotations

import pathlib

import jax

from mlsh_jax.checkpoint import CHECKPOINTS_DIR, SUBPOLICIES_FILE, CheckpointError, \
    DamagedCheckpointError, RunCheckpoints, load_subpolicies, read_json
from mlsh_jax.config import ConfigError, RunConfig, config_from_dict
from mlsh_jax.selection import CANDIDATES_FILE, first_candidates
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import Learner, TrainerState, candidate_keys, init_subpolicies
from mlsh_jax.train import CONFIG_FILE, state_template

META_TEST_SEED_OFFSET = 1000
"""Meta-test tasks are drawn from the training seed plus this (`experiments.evaluate`'s
default), so they are tasks the run never trained on."""


def read_run_config(workdir: str | pathlib.Path) -> RunConfig:
    """The config a run was trained with (DIR/config.json), validated."""
    path = pathlib.Path(workdir) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"no {CONFIG_FILE} in {workdir}; train first with "
                              f"`python -m experiments.run --config NAME.py --workdir {workdir}`")
    try:
        return config_from_dict(read_json(path))
    except ConfigError as error:
        raise ConfigError(f"{path} does not hold a valid config: {error}") from None


def load_run(workdir: str | pathlib.Path, candidates: bool = False
             ) -> tuple[RunConfig, Learner | None]:
    """A run's config and its exported sub-policies (leading axis: seeds; None for scratch),
    or with `candidates` those of every candidate at the selection (seeds x candidates,
    seed-major; `mlsh_jax.selection`)."""
    workdir = pathlib.Path(workdir)
    config = read_run_config(workdir)
    if candidates and not config.selects:
        raise ConfigError(f"the run in {workdir} trained one candidate per seed "
                          f"(candidates={config.candidates}): it has no candidates to load")
    if config.algorithm == "scratch":
        return config, None
    spec = MLSHSpec.build(config)
    count = config.candidates if candidates else 1
    template = jax.eval_shape(jax.vmap(lambda key: init_subpolicies(spec, key)),
                              candidate_keys(config.seed, config.num_seeds, count))
    return config, load_subpolicies(workdir, template,
                                    CANDIDATES_FILE if candidates else SUBPOLICIES_FILE)


def restore_checkpoint(workdir: pathlib.Path, config: RunConfig, update: int | None = None
                       ) -> tuple[int, TrainerState, list[DamagedCheckpointError]]:
    """(update, state of all seeds, damaged newer checkpoints skipped) of the run's full-state
    checkpoint at `update` (a `--checkpoint` option), or of the newest one that reads back.
    Before a best-of-k selection, each seed's state is its candidate 0 (the plain run of the
    seed), as in subpolicies.msgpack."""
    checkpoints = RunCheckpoints(workdir / CHECKPOINTS_DIR, config.max_to_keep)
    try:
        held = checkpoints.all_steps()
        if not held:
            raise CheckpointError(f"no checkpoint in {workdir / CHECKPOINTS_DIR}; train first "
                                  f"with `python -m experiments.run --config NAME.py "
                                  f"--workdir {workdir}`")
        spec = MLSHSpec.build(config)
        template = lambda step: state_template(spec, step)
        if update is None:
            update, state, damaged = checkpoints.restore_newest(template)
        elif update not in held:
            raise CheckpointError(f"--checkpoint {update}: {workdir / CHECKPOINTS_DIR} holds "
                                  f"updates {held}")
        else:
            state, damaged = checkpoints.restore(update, template(update)), []
        if config.candidate_phase(update):
            state = first_candidates(state, config)
        return update, state, damaged
    finally:
        checkpoints.close()
