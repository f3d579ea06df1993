"""`experiments.skill_walks`: what the shipped Twowalk skills do on their own. Seen in world
coordinates they are walks to Twowalk's targets, which no sequence of them turns into the way to
the obstacle course's goal; seen relative to their macro-action's start they are directions
(slow: real Brax episodes)."""

import pathlib
import re

import numpy as np
import pytest

from experiments import skill_walks
from mlsh_jax.config import RunConfig
from mlsh_jax.train import write_config

PRETRAINED = pathlib.Path(__file__).resolve().parents[1] / "pretrained" / "twowalk_1200"


def displacements(stdout: str) -> dict[tuple[int, tuple[float, float]], tuple[float, float]]:
    """{(sub-policy, start): (mean x, mean y)} of the walks' table."""
    rows = re.findall(r"sub-policy (\d) from \(\s*([-\d.]+),\s*([-\d.]+)\): x\s*([-+\d.]+) ± "
                      r"[\d.]+, y\s*([-+\d.]+)", stdout)
    return {(int(k), (float(x0), float(y0))): (float(x), float(y)) for k, x0, y0, x, y in rows}


def test_a_run_without_ant_subpolicies_is_refused_naming_its_env(tmp_path, capsys):
    write_config(tmp_path, RunConfig(env="moving_bandits", algorithm="scratch"))
    assert skill_walks.main(["--workdir", str(tmp_path)]) == 2
    assert re.search(r"env='moving_bandits'.*needs the sub-policies of a run on an Ant task",
                     capsys.readouterr().err)


@pytest.mark.slow
def test_twowalk_skills_walk_to_their_targets_unless_positions_are_relative(capsys):
    assert skill_walks.main(["--workdir", str(PRETRAINED), "--episodes", "4"]) == 0
    world = displacements(capsys.readouterr().out)
    assert len(world) == 2 * len(skill_walks.STARTS)
    east, north = world[0, (0.0, 0.0)], world[1, (0.0, 0.0)]
    assert east[0] > 4.0 > abs(east[1]) and north[1] > 3.5 > abs(north[0])
    # Started at its own target a skill stays there, and so does the "east" one at (0, 5): a
    # walk to a place, not a direction.
    for k, start in ((0, (5.0, 0.0)), (1, (0.0, 5.0)), (0, (0.0, 5.0))):
        assert max(map(abs, world[k, start])) < 1.5, (k, start, world[k, start])

    assert skill_walks.main(["--workdir", str(PRETRAINED), "--episodes", "4",
                             "--relative-position", "true"]) == 0
    relative = displacements(capsys.readouterr().out)
    # The same way from everywhere, and far (8 episodes: 18-23 m east, 11-17 m north).
    assert min(relative[0, start][0] for start in skill_walks.STARTS) > 10.0, relative
    assert np.mean([relative[1, start][1] for start in skill_walks.STARTS]) > 8.0, relative


@pytest.mark.slow
def test_only_relative_skills_take_open_loop_masters_into_the_course_goal_region(capsys):
    entered = {}
    for relative in ("false", "true"):
        assert skill_walks.main(["--workdir", str(PRETRAINED), "--course",
                                 "--relative-position", relative]) == 0
        shares = re.findall(r"([\d.]+) of episodes enter it", capsys.readouterr().out)
        assert len(shares) == 2 * 2 * 9  # layouts x ordered pairs x 0 < m < 10
        entered[relative] = max(map(float, shares))
    # Measured (8 episodes per schedule): no episode with world positions; with relative ones
    # 3 of 8 on layout 0 and 4 of 8 on layout 1 in the best schedules.
    assert entered["false"] <= 1 / 8 and entered["true"] >= 2 / 8, entered
