"""docs/new-task.md runs as printed: its environment, its check, its config, then a short
training run and a meta-test of it through the documented commands (sizes cut down)."""

from __future__ import annotations

import json
import pathlib
import re
import shlex
import sys

import pytest

import envs
from experiments.evaluate import main as evaluate_main
from experiments.run import main as run_main
from mlsh_jax.config import ConfigError, RunConfig

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "new-task.md"
SMALL = ["--config.num_slots=2", "--config.envs_per_slot=4", "--config.rollout_steps=10",
         "--config.total_updates=6", "--config.log_every=3"]


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(), re.S)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """The reader's directory: the page's module and config saved where it says."""
    environment, _, config = code_blocks("python")
    (tmp_path / "my_tasks").mkdir()
    (tmp_path / "my_tasks" / "corridor.py").write_text(environment)
    (tmp_path / "my_corridor.py").write_text(config)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [name for name in sys.modules if name.startswith("my_tasks")]:
        del sys.modules[name]


def test_the_pages_check_of_the_environment_passes(project, capsys):
    _, check, _ = code_blocks("python")
    exec(compile(check, "docs/new-task.md", "exec"), {})
    assert "goal end" in capsys.readouterr().out


def test_the_pages_commands_train_and_meta_test_the_task_by_its_import_path(project, capsys):
    train, evaluate = [shlex.split(line) for line in code_blocks("bash")[0].strip().splitlines()]
    assert train[:3] == ["python", "-m", "experiments.run"]
    assert evaluate[:3] == ["python", "-m", "experiments.evaluate"]
    assert run_main(train[3:] + SMALL) == 0
    workdir = project / "runs" / "corridor"
    assert json.loads((workdir / "config.json").read_text())["env"] == \
        "my_tasks.corridor:Corridor"
    assert evaluate_main(evaluate[3:] + ["--tasks", "2", "--updates", "2"]) == 0
    returns = json.loads((workdir / "eval.json").read_text())["mean_return"]
    assert len(returns) == 2 and all(0.0 <= r <= 1.0 for r in returns)


def test_the_task_is_refused_by_name_until_importable_and_its_settings_are_checked(project):
    assert isinstance(envs.make("my_tasks.corridor:Corridor"), envs.Environment)
    with pytest.raises(ValueError, match="length=2: must be an integer >= 3"):
        envs.make("my_tasks.corridor:Corridor", length=2)
    with pytest.raises(ConfigError, match=r"env='my_tasks.nowhere:Corridor': cannot import "
                       r"module 'my_tasks.nowhere'"):
        RunConfig(env="my_tasks.nowhere:Corridor")
    with pytest.raises(ConfigError, match=r"my_tasks.corridor has no dataclass 'CorridorTask' "
                       r"subclassing envs.Environment"):
        RunConfig(env="my_tasks.corridor:CorridorTask")
