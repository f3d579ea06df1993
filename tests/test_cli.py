"""The command-line tools: config files, overrides, one-line errors, and a tiny train + meta-test.

Error paths run in-process through each CLI's `main` (they exit before anything is compiled),
and a few as real subprocesses, so the process's exit status and stderr are checked too; only
the end-to-end test compiles, once for training and once for the meta-test.
"""

import dataclasses
import importlib.util
import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from experiments.config_cli import apply_overrides, load_config_file
from experiments.evaluate import main as evaluate_main
from experiments.run import main as run_main
from mlsh_jax.config import ConfigError, NetworkConfig, RunConfig, config_from_dict
from xla_flags import FAST_COMPILE

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The end-to-end test checks plumbing, not speed: it compiles as the default suite does.
ENV = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": " ".join(FAST_COMPILE)}


def cli(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=300)


def in_process(capsys, *args: str, main=run_main) -> subprocess.CompletedProcess:
    """`python -m experiments.run ARGS` (or another CLI's `main`) in this process, as a
    finished process."""
    code = main(list(args))
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, captured.out, captured.err)


def assert_one_line_error(result: subprocess.CompletedProcess, *expected: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0]


def test_a_bad_override_exits_2_with_one_line_from_a_real_process():
    assert_one_line_error(cli("experiments.run", "--config", "moving_bandits.py",
                              "--config.num_subpolicies=0"), "num_subpolicies=0", ">= 1")


@pytest.mark.parametrize("override, expected", [
    (["--config.num_subpolicies=0"], ["num_subpolicies=0", ">= 1"]),
    (["--config.macro_duration=0"], ["macro_duration=0", ">= 1"]),
    (["--config.warmup_updates=-1"], ["warmup_updates=-1", ">= 0"]),
    (["--config.sub_ppo.learning_rate", "-1"], ["sub_ppo.learning_rate=-1.0", "> 0"]),
    (["--config.env=foo"], ["env='foo'", "moving_bandits"]),
    (["--config.sub_ppo.lr=1"], ["'sub_ppo.lr'", "learning_rate", "gae_lambda"]),
    (["--config.num_slots=abc"], ["num_slots='abc'", "int"]),
    (["--config.algorithm=ppo"], ["algorithm='ppo'", "mlsh, mlsh_no_warmup, shared, scratch"]),
    (["--config.checkpoint_every=0"], ["checkpoint_every=0", ">= 1"]),
    (["--config.checkpoint_minutes=-1"], ["checkpoint_minutes=-1.0", ">= 0"]),
    (["--config.num_seeds=0"], ["num_seeds=0", ">= 1"]),
    (["--config.backend=mjx"], ["backend='mjx'", "'moving_bandits' has no such option"]),
    (["--config.env=twowalk", "--config.backend=warp"],
     ["backend='warp'", "mjx, spring, positional, generalized"]),
    (["--config.episode_length=-5"], ["episode_length=-5", ">= 0"]),
    (["--config.start_cell=-2"], ["start_cell=-2", ">= -1"]),
    (["--config.start_cell=0"], ["start_cell=0", "'moving_bandits' has no such option"]),
    (["--config.env=four_rooms", "--config.start_cell=104"], ["start_cell=104", "[0, 104)"]),
    (["--config.goal_ends_episode=false"],
     ["goal_ends_episode=False", "'moving_bandits' has no such option"]),
    pytest.param(["--config.wandb_project=mine"], ["wandb_project='mine'", "pip install wandb"],
                 marks=pytest.mark.skipif(importlib.util.find_spec("wandb") is not None,
                                          reason="wandb is installed here")),
])
def test_bad_override_exits_2_with_one_line_naming_the_value(capsys, override, expected):
    assert_one_line_error(in_process(capsys, "--config", "moving_bandits.py", *override),
                          *expected)


def test_unknown_config_name_lists_the_available_configs(capsys):
    assert_one_line_error(in_process(capsys, "--config", "nope.py"),
                          "'nope.py'", "four_rooms.py", "key_door.py", "moving_bandits.py")


def test_workdir_that_is_a_file_is_refused_before_training(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_one_line_error(in_process(capsys, "--config", "moving_bandits",
                                     "--workdir", str(blocker)), "not a directory")


def test_workdir_that_cannot_be_created_is_refused_before_training(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_one_line_error(in_process(capsys, "--config", "moving_bandits",
                                     "--workdir", str(blocker / "run")), "is not writable")


def test_help_lists_the_available_configs():
    result = cli("experiments.run", "--help")
    assert result.returncode == 0
    assert "moving_bandits.py" in result.stdout and "four_rooms.py" in result.stdout


def test_evaluate_without_a_checkpoint_exits_2(capsys, tmp_path):
    evaluate = lambda: in_process(capsys, "--workdir", str(tmp_path), main=evaluate_main)
    assert_one_line_error(evaluate(), "config.json")
    (tmp_path / "config.json").write_text(json.dumps(dataclasses.asdict(RunConfig())))
    assert_one_line_error(evaluate(), "no sub-policy checkpoint")


def test_overrides_are_parsed_by_field_type():
    config = apply_overrides(RunConfig(), [
        "network.hidden_sizes=32,16", "stagger=no", "normalize_observations=TRUE",
        "sub_ppo.learning_rate=1e-4", "network.activation=relu", "num_slots=8", "env=four_rooms",
    ])
    assert config.network == NetworkConfig(hidden_sizes=(32, 16), activation="relu")
    assert config.stagger is False and config.normalize_observations is True
    assert config.sub_ppo.learning_rate == 1e-4
    assert config.sub_ppo.epochs == RunConfig().sub_ppo.epochs
    assert config.num_slots == 8 and config.env == "four_rooms"


def test_overrides_are_validated_together_not_one_by_one():
    config = apply_overrides(RunConfig(), ["warmup_updates=0", "joint_updates=0",
                                           "joint_updates=5"])
    assert (config.warmup_updates, config.joint_updates) == (0, 5)


@pytest.mark.parametrize("override, message", [
    ("network.activation=sigmoid", "network.activation='sigmoid': must be one of tanh, relu"),
    ("network.hidden_sizes=64,x", "network.hidden_sizes='64,x': expected comma-separated int"),
    ("network.hidden_sizes=", "hidden_sizes=(): must be"),
    ("stagger=maybe", "stagger='maybe': expected bool"),
    ("master_ppo.gamma=2", "master_ppo.gamma=2.0: must be a number in [0, 1]"),
    ("network=64", "'network' is a group"),
    ("num_slots", "expected key=value"),
    ("foo=1", "unknown key 'foo'; valid keys: env, backend, episode_length, start_cell, "
              "goal_ends_episode, reward_scale, algorithm"),
])
def test_bad_override_message_names_key_and_value(override, message):
    with pytest.raises(ConfigError) as error:
        apply_overrides(RunConfig(), [override])
    assert message in str(error.value)


@pytest.mark.parametrize("name", ["moving_bandits", "four_rooms.py", "key_door", "twowalk",
                                  "ant_maze", "ant_obstacle_course", "ant_maze_small",
                                  "ant_obstacle_course_open", "walk_crawl",
                                  "walk_crawl_course", "walk_crawl_forward",
                                  "walk_crawl_course_section"])
def test_config_json_round_trips_to_an_equal_config(name):
    config = apply_overrides(load_config_file(name), ["network.hidden_sizes=16,8"])
    assert config_from_dict(json.loads(json.dumps(dataclasses.asdict(config)))) == config


def test_config_file_is_loaded_from_any_path(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("from mlsh_jax.config import RunConfig\n\n"
                    "def get_config():\n    return RunConfig(num_slots=3)\n")
    assert load_config_file(str(path)) == RunConfig(num_slots=3)


def test_shipped_configs_use_the_paper_k_n_w_u_and_episode_lengths():
    kwnu = {name: (c.num_subpolicies, c.macro_duration, c.warmup_updates, c.joint_updates,
                   c.make_env().episode_length)
            for name in ("moving_bandits", "four_rooms", "twowalk", "ant_maze",
                         "ant_obstacle_course", "ant_maze_small", "ant_obstacle_course_open",
                         "walk_crawl", "walk_crawl_course", "walk_crawl_forward",
                         "walk_crawl_course_section")
            for c in [load_config_file(name)]}
    assert kwnu == {"moving_bandits": (2, 10, 9, 1, 50), "four_rooms": (4, 25, 20, 30, 100),
                    "twowalk": (2, 200, 20, 40, 1000), "ant_maze": (3, 200, 20, 40, 1000),
                    "ant_obstacle_course": (3, 200, 20, 40, 3000),
                    "ant_maze_small": (3, 200, 20, 40, 1000),
                    "ant_obstacle_course_open": (3, 200, 20, 40, 2000),
                    "walk_crawl": (2, 200, 20, 40, 1000),
                    "walk_crawl_course": (2, 200, 20, 40, 3000),
                    "walk_crawl_forward": (2, 200, 20, 40, 1000),
                    "walk_crawl_course_section": (2, 200, 20, 40, 1000)}


@pytest.mark.parametrize("name,envs_per_slot", [
    ("twowalk", 24), ("ant_maze", 24), ("walk_crawl", 24), ("walk_crawl_course", 8),
    ("ant_obstacle_course", 8), ("ant_maze_small", 24), ("ant_obstacle_course_open", 12),
    ("walk_crawl_forward", 24), ("walk_crawl_course_section", 24)])
def test_the_documented_paper_scale_overrides_collect_the_papers_240k_steps_per_update(
        name, envs_per_slot):
    """10 groups x 12 cores x 2000 steps (docs/results.md, "Brax budgets"), one slot per group."""
    config = apply_overrides(load_config_file(name), [
        "num_slots=10", f"envs_per_slot={envs_per_slot}"])
    assert config.env_steps_per_update == 10 * 12 * 2000
    assert config.rollout_steps == config.make_env().episode_length  # whole episodes


def test_env_options_reach_the_env_and_are_checked_against_it():
    config = apply_overrides(load_config_file("twowalk"), ["backend=mjx", "episode_length=300"])
    assert config.make_env() == RunConfig(env="twowalk", backend="mjx",
                                          episode_length=300).make_env()
    assert config.make_env().backend == "mjx" and config.make_env().episode_length == 300
    assert load_config_file("twowalk").make_env().backend == "spring"


def test_start_cell_fixes_the_four_rooms_start_and_minus_one_keeps_random_starts():
    from envs.four_rooms import TOP_LEFT, cell_index
    corner = cell_index(11, 11)
    assert RunConfig(env="four_rooms", start_cell=corner).make_env().start_cell == corner
    assert RunConfig(env="four_rooms").make_env().start_cell is None
    assert load_config_file("four_rooms").make_env().start_cell == TOP_LEFT


def test_goal_ends_episode_false_reaches_four_rooms_and_true_keeps_its_default():
    assert not RunConfig(env="four_rooms", goal_ends_episode=False).make_env().terminates_early
    assert RunConfig(env="four_rooms").make_env().terminates_early


@pytest.mark.slow
def test_tiny_run_trains_logs_and_meta_tests(tmp_path):
    workdir = tmp_path / "run"
    # D=50 is one moving-bandits episode, so every meta-test update ends one episode per env.
    train = cli("experiments.run", "--config", "moving_bandits.py", "--workdir", str(workdir),
                "--config.num_slots=4", "--config.envs_per_slot=2", "--config.total_updates=4",
                "--config.log_every=2", "--config.rollout_steps=50", "--config.candidates=3",
                "--config.reinit_alike_updates=")
    assert train.returncode == 0, train.stderr

    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [r["update"] for r in records] == [2, 4]
    for record in records:
        assert {"update", "env_steps", "steps_per_second", "episode_return", "joint_fraction",
                "subpolicy_usage"} <= set(record)
    # k candidates per seed train until update 100: each one's steps count.
    k = 3
    assert records[-1]["env_steps"] == k * 4 * 4 * 2 * 50
    assert len(records[-1]["candidate_episode_return"][0]) == k
    events = EventAccumulator(str(workdir / "tensorboard"))
    events.Reload()
    curve = events.Scalars("episode_return")
    assert [e.step for e in curve] == [r["env_steps"] for r in records]
    np.testing.assert_allclose([e.value for e in curve], [r["episode_return"] for r in records],
                               rtol=1e-6)
    assert {"subpolicy_usage/0", "subpolicy_usage/1"} <= set(events.Tags()["scalars"])
    saved = config_from_dict(json.loads((workdir / "config.json").read_text()))
    assert saved == dataclasses.replace(load_config_file("moving_bandits"), num_slots=4,
                                        envs_per_slot=2, total_updates=4, log_every=2,
                                        rollout_steps=50, candidates=3,
                                        reinit_alike_updates=())

    evaluate = cli("experiments.evaluate", "--workdir", str(workdir), "--tasks", "4",
                   "--updates", "2")
    assert evaluate.returncode == 0, evaluate.stderr
    assert "meta-test mlsh on moving_bandits: 4 fresh tasks, 2 updates; mean episode return at " \
        "update 2" in evaluate.stdout
    progress = [line.split()[0] for line in evaluate.stdout.splitlines() if line.startswith("[")]
    assert progress == ["[1/3]", "[2/3]", "[3/3]"]  # 2 updates, one more finishes episodes
    report = json.loads((workdir / "eval.json").read_text())
    assert (report["tasks"], report["updates"], report["seed"]) == (4, 2, 1000)
    assert len(report["mean_return"]) == 2 and report["tasks_with_episodes"] == [4, 4]
    assert all(r is not None and math.isfinite(r) and 0 <= r <= 50
               for r in report["mean_return"])
    assert report["final_mean_return"] == report["mean_return"][-1]
    assert report["episode_end"] == {}  # Moving Bandits reports no episode-end metric
    assert report["envs_per_task"] == 2
    by_type = report["by_task_type"]  # Moving Bandits: which of the two goals pays
    assert sum(by_type["tasks"]) == 4 and by_type["episode_end"] == {}
    for update, overall in enumerate(report["mean_return"]):
        # every task had episodes, so the pooled mean lies between the two types' means
        per_type = [curve[update] for curve, n in zip(by_type["mean_return"], by_type["tasks"])
                    if n]
        assert min(per_type) - 1e-9 <= overall <= max(per_type) + 1e-9
    assert "; return by task type: " in evaluate.stdout

    # The meta-test budget may differ from the training layout: the same tasks, 3 envs each.
    assert evaluate_main(["--workdir", str(workdir), "--tasks", "4", "--updates", "2",
                          "--envs-per-task", "3"]) == 0
    wider = json.loads((workdir / "eval.json").read_text())
    assert wider["envs_per_task"] == 3 and wider["tasks_with_episodes"] == [4, 4]
    assert wider["mean_return"] != report["mean_return"]
