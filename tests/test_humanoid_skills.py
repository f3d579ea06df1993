"""`experiments.humanoid_skills`: what Walk/Crawl sub-policies do on their own. The summary of
episodes counts only the steps taken, and reads posture and place from the torso."""

import re

import numpy as np
import pytest

from experiments import humanoid_skills
from mlsh_jax.config import RunConfig
from mlsh_jax.train import write_config


def test_a_run_on_another_task_is_refused_naming_its_env(tmp_path, capsys):
    write_config(tmp_path, RunConfig(env="walk_crawl_forward", algorithm="scratch"))
    assert humanoid_skills.main(["--workdir", str(tmp_path)]) == 2
    assert re.search(r"env='walk_crawl_forward'.*needs the sub-policies of a run on walk_crawl",
                     capsys.readouterr().err)


def test_scratch_runs_have_no_subpolicies_to_look_at(tmp_path, capsys):
    write_config(tmp_path, RunConfig(env="walk_crawl", algorithm="scratch"))
    assert humanoid_skills.main(["--workdir", str(tmp_path)]) == 2
    assert "trained no sub-policies" in capsys.readouterr().err


def test_summary_counts_only_the_steps_each_episode_took():
    # Episode 0 falls after 2 of 4 steps standing at 1.2 m; episode 1 lies at 0.3 m for all 4
    # steps, backing from x = 0 to x = -1.5 (under the box from -0.5 on), and reaches the
    # course's crawl phase at its last step. Steps after a fall carry junk that must not count.
    x = np.array([[0.1, 0.2, 9.0, 9.0], [-0.2, -0.6, -1.0, -1.5]])
    z = np.array([[1.2, 1.2, 0.1, 0.1], [0.3, 0.3, 0.3, 0.3]])
    alive = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], bool)
    reward = np.array([[5.0, 5.0, 100.0, 100.0], [1.0, 2.0, 3.0, 4.0]])
    phase = np.array([[0, 0, 1, 1], [0, 0, 0, 1]], np.float32)
    s = humanoid_skills.summarise(x, z, alive, reward, phase, start_x=np.array([0.0, 0.0]))
    assert s.episode_return == pytest.approx((10.0 + 10.0) / 2)
    assert s.return_se == pytest.approx(0.0)
    assert s.moved_x == pytest.approx((0.2 - 1.5) / 2)
    assert s.moved_x_se == pytest.approx(np.std([0.2, -1.5], ddof=1) / np.sqrt(2))
    assert s.farthest_x == pytest.approx((0.2 - 0.2) / 2)
    assert s.fell == 0.5
    assert s.mean_torso_z == pytest.approx((2 * 1.2 + 4 * 0.3) / 6)
    assert s.below_under_box_z == pytest.approx(4 / 6)
    assert s.at_walk_z == pytest.approx(2 / 6)
    assert s.under_box == pytest.approx(3 / 6)
    assert s.crawl_phase == 0.5
