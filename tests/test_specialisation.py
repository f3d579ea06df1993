"""The specialisation rate: the definition's two tests, its interval, and the command."""

import dataclasses
import json

import jax
import numpy as np
import pytest

from experiments.pictures import _logits, first_goal_shares
from experiments.specialisation import covers_both_goals, judge, main, wilson_interval
from mlsh_jax.config import NetworkConfig, PPOConfig, RunConfig
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.train import CONFIG_FILE, config_to_json, train
from tests.test_learning import go_to_goal_subpolicies

TINY = RunConfig(num_slots=2, envs_per_slot=2, rollout_steps=10, macro_duration=5,
                 episode_length=10, warmup_updates=1, joint_updates=1, total_updates=2,
                 log_every=1, candidates=2, selection_update=2, selection_window=1,
                 network=NetworkConfig(hidden_sizes=(8,)),
                 master_ppo=PPOConfig(epochs=1, num_minibatches=1),
                 sub_ppo=PPOConfig(epochs=1, num_minibatches=1))


def test_wilson_interval_matches_the_known_bounds_of_a_rate_without_failures():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    for trials, lower in ((35, 0.901), (64, 0.943), (73, 0.950)):
        low, high = wilson_interval(trials, trials)
        assert low == pytest.approx(lower, abs=1e-3) and high == pytest.approx(1.0)
    low, high = wilson_interval(7, 16)
    assert low < 7 / 16 < high and low == pytest.approx(0.231, abs=1e-3)


@pytest.mark.parametrize("shares,expected", [
    ([[0.9, 0.1], [0.1, 0.9]], True),
    ([[0.1, 0.9], [0.88, 0.12]], True),
    ([[0.9, 0.1], [0.9, 0.1]], False),    # both on goal 0: collapsed
    ([[0.5, 0.5], [0.9, 0.1]], False),    # one walks to the nearer goal
    ([[0.7, 0.7], [0.2, 0.2]], False),    # one sub-policy cannot serve both goals
])
def test_both_goals_need_their_own_sub_policy(shares, expected):
    assert covers_both_goals(np.asarray(shares)) is expected


def test_go_to_goal_sub_policies_cover_both_goals_and_a_copied_one_does_not():
    spec = MLSHSpec.build(dataclasses.replace(TINY, network=NetworkConfig(hidden_sizes=(8, 8))))
    phi = jax.tree.map(lambda x: x[0], go_to_goal_subpolicies(spec))
    shares = lambda p: first_goal_shares(spec, lambda obs: _logits(spec, True, p.params,
                                                                  p.obs_stats, obs),
                                         jax.random.PRNGKey(0), layouts=256)
    assert covers_both_goals(shares(phi))
    copied = jax.tree.map(lambda x: x.at[1].set(x[0]) if x.ndim and x.shape[0] == 2 else x, phi)
    assert not covers_both_goals(shares(copied))


@pytest.mark.parametrize("shares,meta,verdict", [
    ([[0.9, 0.1], [0.1, 0.9]], 35.0, (True, True)),
    ([[0.9, 0.1], [0.1, 0.9]], 28.0, (True, False)),  # one per goal, masters still below 30
    ([[0.9, 0.1], [0.9, 0.1]], 35.0, (False, False)),
    ([[0.9, 0.1], [0.1, 0.9]], float("nan"), (True, False))])  # no episode ended
def test_a_seed_is_one_per_goal_by_its_shares_and_specialised_by_both_tests(shares, meta,
                                                                             verdict):
    judged = judge(np.asarray(shares), meta)
    assert (judged["one_per_goal"], judged["specialised"]) == verdict


@pytest.mark.slow
def test_the_command_judges_every_candidate_and_writes_the_rate(tmp_path, capsys):
    train(TINY, tmp_path, log=lambda _: None)
    assert main(["--workdir", str(tmp_path), "--candidates", "--tasks", "2"]) == 0
    report = json.loads((tmp_path / "candidates_specialisation.json").read_text())
    assert [(row["seed"], row["candidate"]) for row in report["rows"]] == [(0, 0), (0, 1)]
    assert report["specialised"] == 0  # two updates: random walks, no skill per goal
    assert report["one_per_goal"] == sum(row["one_per_goal"] for row in report["rows"]) == 0
    assert capsys.readouterr().out.strip().endswith(
        "0 of 2 specialised (0.0%; Wilson 95 % interval 0.000-0.658); 0 of 2 with one "
        "sub-policy per goal (0.000-0.658)")


def test_the_command_refuses_candidates_of_a_run_that_had_one(tmp_path, capsys):
    """The run's config.json alone decides: the command stops before reading sub-policies."""
    (tmp_path / CONFIG_FILE).write_text(config_to_json(
        dataclasses.replace(TINY, candidates=1, total_updates=1)))
    assert main(["--workdir", str(tmp_path), "--candidates"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "trained one candidate per seed" in error
