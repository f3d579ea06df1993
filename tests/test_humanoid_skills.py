"""`experiments.humanoid_skills`: what Walk/Crawl sub-policies do on their own. The summary of
episodes counts only the steps taken, and reads posture and place from the torso."""

import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.humanoid import CRAWL, WALK
from experiments import humanoid_skills
from experiments.skill_schedules import load_skills
from mlsh_jax.config import RunConfig
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import init_subpolicies
from mlsh_jax.train import write_config

PRETRAINED = pathlib.Path(__file__).resolve().parents[1] / "pretrained" / "walk_crawl"


def test_a_run_on_another_task_is_refused_naming_its_env(tmp_path, capsys):
    write_config(tmp_path, RunConfig(env="walk_crawl_forward", algorithm="scratch"))
    assert humanoid_skills.main(["--workdir", str(tmp_path)]) == 2
    assert re.search(r"env='walk_crawl_forward'.*needs the sub-policies of a run on walk_crawl",
                     capsys.readouterr().err)


def test_scratch_runs_have_no_subpolicies_to_look_at(tmp_path, capsys):
    write_config(tmp_path, RunConfig(env="walk_crawl", algorithm="scratch"))
    assert humanoid_skills.main(["--workdir", str(tmp_path)]) == 2
    assert "trained no sub-policies" in capsys.readouterr().err


def test_a_shared_policy_is_looked_at_as_its_one_sub_policy():
    config, one_seed = load_skills(PRETRAINED.parent / "walk_crawl_shared", 0, "humanoid_skills",
                                   ("walk_crawl",), "walk_crawl")
    assert (config.algorithm, config.num_subpolicies) == ("shared", 1)
    assert {leaf.shape[0] for leaf in jax.tree.leaves(one_seed.params)} == {1}


def test_summary_counts_only_the_steps_each_episode_took():
    # Episode 0 falls after 2 of 4 steps standing at 1.2 m; episode 1 lies at 0.3 m for all 4
    # steps, backing from x = 0.5 to x = -1.5 (under the box from -0.5 on, but at y = 12 at
    # its last step: beside the box), and reaches the course's crawl phase at its last step.
    # Steps after a fall carry junk that must not count.
    x = np.array([[0.1, 0.2, 9.0, 9.0], [-0.2, -0.6, -1.0, -1.5]])
    y = np.array([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 12.0]])
    z = np.array([[1.2, 1.2, 0.1, 0.1], [0.3, 0.3, 0.3, 0.3]])
    xyz = np.stack([x, y, z], axis=-1)
    alive = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], bool)
    reward = np.array([[5.0, 5.0, 100.0, 100.0], [1.0, 2.0, 3.0, 4.0]])
    phase = np.array([[0, 0, 1, 1], [0, 0, 0, 1]], np.float32)
    start_x = np.array([0.05, 0.5])
    s = humanoid_skills.summarise(xyz, alive, reward, phase, start_x, box_span=(-23.5, -0.5))
    assert s.episode_return == pytest.approx((10.0 + 10.0) / 2)
    assert s.return_se == pytest.approx(0.0)
    assert s.moved_x == pytest.approx((0.15 - 2.0) / 2)
    assert s.moved_x_se == pytest.approx(np.std([0.15, -2.0], ddof=1) / np.sqrt(2))
    assert s.end_x == pytest.approx((0.2 - 1.5) / 2)
    assert s.farthest_x == pytest.approx((0.2 - 0.2) / 2)
    assert s.fell == 0.5
    assert s.mean_torso_z == pytest.approx((2 * 1.2 + 4 * 0.3) / 6)
    assert s.below_under_box_z == pytest.approx(4 / 6)
    assert s.at_walk_z == pytest.approx(2 / 6)
    assert s.under_box == pytest.approx(2 / 6)
    assert s.crawl_phase == 0.5
    no_box = humanoid_skills.summarise(xyz, alive, reward, phase, start_x, box_span=None)
    assert np.isnan(no_box.under_box)


@pytest.mark.slow
def test_episodes_follow_their_schedule_from_the_reset_pose():
    config = RunConfig(env="walk_crawl", episode_length=6, macro_duration=2, rollout_steps=6)
    spec, env = MLSHSpec.build(config), config.make_env()
    subpolicies = init_subpolicies(spec, jax.random.PRNGKey(0))
    tasks = jax.vmap(env.sample_task_of_type, in_axes=(None, 0))(
        jax.random.PRNGKey(0), jnp.asarray([WALK, CRAWL], jnp.int32))
    keys = jax.random.split(jax.random.PRNGKey(1), 2)
    schedules = jnp.asarray([[0, 0, 0], [0, 1, 1], [1, 1, 1]])
    (xyz, alive, reward, phase), start_x = jax.device_get(
        humanoid_skills._episodes(spec, subpolicies, tasks, schedules, keys))
    assert xyz.shape == (3, 2, 2, 6, 3) and alive.all() and not phase.any()
    for task in range(2):
        for episode, key in enumerate(keys):
            _, reset = env.reset(jax.random.split(key)[0], jax.tree.map(
                lambda leaf: leaf[task], tasks))
            assert start_x[0, task, episode] == pytest.approx(float(
                reset.pipeline_state.q[0]))
    # The same keys: schedules agree while they run the same sub-policy (the first macro-action,
    # 2 steps) and part from the step after the switch on; both sub-policies really act.
    np.testing.assert_array_equal(xyz[0, :, :, :2], xyz[1, :, :, :2])
    assert np.abs(xyz[0, :, :, 2:] - xyz[1, :, :, 2:]).max() > 0
    assert np.abs(xyz[1, :, :, :2] - xyz[2, :, :, :2]).max() > 0


def skill_rows(stdout: str) -> dict[tuple[int, str], dict[str, float]]:
    """{(sub-policy, task): the figures of its line} of the skills table."""
    rows = re.findall(r"sub-policy (\d) on (\w+)\s*: return\s+([-\d.]+) .*?torso x moved\s+"
                      r"([-+\d.]+) .*?fell ([\d.]+); torso z mean ([\d.]+) m, below 0.93 m "
                      r"([\d.]+), at >= 1.0 m ([\d.]+), under the box ([-\d.]+)", stdout)
    names = ("return", "moved_x", "fell", "mean_z", "below_0.93", "at_1.0", "under_box")
    number = lambda figure: float("nan") if figure == "-" else float(figure)  # "-": no box
    return {(int(k), task): dict(zip(names, map(number, figures))) for k, task, *figures in rows}


@pytest.mark.slow
def test_the_shipped_walk_crawl_skills_are_one_crawl_under_the_box_and_one_upright_stand(capsys):
    assert humanoid_skills.main(["--workdir", str(PRETRAINED), "--episodes", "4"]) == 0
    rows = skill_rows(capsys.readouterr().out)
    assert len(rows) == 4, rows
    # Measured with 8 episodes (pretrained/walk_crawl/README.md): sub-policy 1 went 2.65 m back
    # under the box, torso at 0.25 m; sub-policy 0 kept the torso at 1.21 m until it fell.
    crawl = rows[1, "crawl"]
    assert crawl["moved_x"] < -1.5 and crawl["under_box"] > 0.8 and crawl["below_0.93"] > 0.8
    stand = rows[0, "walk"]
    assert stand["at_1.0"] > 0.95 and stand["return"] > 3 * rows[1, "walk"]["return"]
