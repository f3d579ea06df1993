"""The Brax configs from the command line: Twowalk trains and logs the distance to its targets,
the obstacle course starts from its sub-policies (transfer), and the renders of both robots.

The runs are real CLI subprocesses on the shipped configs, shrunk by overrides (2 slots x 2
envs, 20-step episodes); a Brax training program compiles in ~12 s on a 2-core CPU even with
tests/xla_flags.py's flags (longer with XLA's defaults), so they and the renders of a run are
slow tests (test_transfer.py checks the transfer's rules by default, on a cheap env;
test_brax_tasks.py each Brax task's rules). The side views, drawn from synthetic episodes, stay
in the default suite.
"""

import json
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.humanoid import CRAWL, WALK, CourseTask, WalkCrawlTask
from experiments import render
from mlsh_jax import load_run
from tests.test_cli import cli

SHRINK = ["--config.num_slots=2", "--config.envs_per_slot=2", "--config.rollout_steps=20",
          "--config.episode_length=20", "--config.macro_duration=5", "--config.total_updates=2",
          "--config.log_every=1", "--config.network.hidden_sizes=16",
          "--config.sub_ppo.epochs=1", "--config.master_ppo.epochs=1"]


def records(workdir):
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def twowalk_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("twowalk")
    result = cli("experiments.run", "--config", "twowalk.py", "--workdir", str(workdir), *SHRINK,
                 "--config.warmup_updates=1", "--config.joint_updates=1")
    assert result.returncode == 0, result.stderr
    return workdir, result.stdout


@pytest.mark.slow
def test_twowalk_runs_from_the_cli_and_logs_the_distance_to_each_target(twowalk_run):
    workdir, stdout = twowalk_run
    assert "distance_to_target" in stdout
    for record in records(workdir):
        # 20-step episodes: every env ends one per update, under one of the two targets.
        assert record["episodes"] == 2 * 2
        assert 3.0 < record["distance_to_target"] < 7.0  # started 5 m away, 1 s of random moves
        assert len(record["distance_to_target_by_task_type"]) == 2


@pytest.mark.slow
def test_obstacle_course_starts_from_twowalk_subpolicies_and_can_keep_them_frozen(
        twowalk_run, tmp_path):
    source, _ = twowalk_run
    frozen = ["--config.warmup_updates=2", "--config.joint_updates=0"]
    result = cli("experiments.run", "--config", "ant_obstacle_course_open.py", "--workdir",
                 str(tmp_path), *SHRINK, *frozen, f"--config.init_subpolicies_from={source}")
    assert result.returncode == 0, result.stderr
    assert f"sub-policies initialised from {source}" in result.stdout
    _, twowalk_phi = load_run(source)
    _, course_phi = load_run(tmp_path)
    for transferred, trained in zip(jax.tree.leaves(course_phi.params),
                                    jax.tree.leaves(twowalk_phi.params)):
        np.testing.assert_array_equal(transferred[:, :2], trained)  # K=2 of the K=3
    assert all(r["distance_to_goal"] > 5.0 for r in records(tmp_path))  # goal ~8.5 m away


@pytest.mark.slow
@pytest.mark.parametrize("name, metric", [("ant_maze", "distance_to_goal"),
                                          ("ant_obstacle_course", "distance_to_goal"),
                                          ("ant_maze_small", "distance_to_goal"),
                                          ("walk_crawl", "torso_x"),
                                          ("walk_crawl_course", "crawl_phase"),
                                          ("walk_crawl_forward", "torso_x"),
                                          ("walk_crawl_course_section", "passed_section")])
def test_other_brax_configs_run_from_the_cli(name, metric, tmp_path):
    result = cli("experiments.run", "--config", f"{name}.py", "--workdir", str(tmp_path),
                 *SHRINK, "--config.warmup_updates=1", "--config.joint_updates=1")
    assert result.returncode == 0, result.stderr
    assert all(np.isfinite(r[metric]) for r in records(tmp_path))
    meta_test = cli("experiments.evaluate", "--workdir", str(tmp_path), "--tasks", "2",
                    "--updates", "1")
    assert meta_test.returncode == 0, meta_test.stderr
    episode_end = json.loads((tmp_path / "eval.json").read_text())["episode_end"]
    assert set(episode_end) == set(envs.make(name).episode_end_metrics)
    assert np.isfinite(episode_end[metric][0])  # 20-step episodes: every env ended one


@pytest.mark.slow
def test_render_plays_the_longest_trained_slot_with_its_master_choosing_every_n_steps(
        twowalk_run, tmp_path):
    workdir, _ = twowalk_run
    config, state = render.load_state(workdir)
    agent = render.pick_agent(state, seed_index=0, slot=None)
    assert agent.slot == int(np.argmax(np.asarray(state.slots.phase_step[0])))
    episode = render.play_episode(config, agent, jax.random.PRNGKey(0), sample=False)
    assert 1 <= episode.length <= 20 and episode.xy.shape == (episode.length + 1, 2)
    assert np.linalg.norm(episode.xy[0]) < 0.2  # the Ant starts at the origin
    blocks = episode.subpolicy[: episode.length // 5 * 5].reshape(-1, 5)
    assert np.all(blocks == blocks[:, :1])  # N=5: z changes only at macro boundaries
    again = render.play_episode(config, agent, jax.random.PRNGKey(0), sample=False)
    np.testing.assert_array_equal(again.xy, episode.xy)
    render.draw_path(envs.make("twowalk"), agent.task, episode, tmp_path / "path.png", "t")
    assert (tmp_path / "path.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_render_command_writes_brax_viewer_html(twowalk_run, tmp_path, capsys):
    workdir, _ = twowalk_run
    out = tmp_path / "ant.html"
    assert render.main(["--workdir", str(workdir), "--out", str(out), "--slot", "1"]) == 0
    assert "twowalk, slot 1" in capsys.readouterr().out
    html = out.read_text()
    assert "<html" in html and "brax" in html.lower()


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["--out", "x.gif"], "must end in .html or .png"),
    (["--out", "x.png", "--slot", "7"], "--slot 7: the run has slots 0..1"),
])
def test_render_refuses_bad_arguments_in_one_line(twowalk_run, args, message, capsys):
    assert render.main(["--workdir", str(twowalk_run[0]), *args]) == 2
    assert message in capsys.readouterr().err


def test_humanoid_side_view_draws_each_task_s_ceiling_where_it_covers_the_way(tmp_path):
    course = envs.make("walk_crawl_course_section")
    walk_crawl = envs.make("walk_crawl_forward")
    x = np.linspace(-0.5, 7.0, 8)
    assert render.ceiling_span(course, CourseTask(jnp.int32(1)), x) == (4.0, 7.0)
    assert render.ceiling_span(course, CourseTask(jnp.int32(1)), x[:3]) == (4.0, 7.0)  # not reached
    assert render.ceiling_span(walk_crawl, WalkCrawlTask(jnp.int32(CRAWL)), x) == (-0.5, 7.0)
    assert render.ceiling_span(walk_crawl, WalkCrawlTask(jnp.int32(WALK)), x) is None
    q = np.zeros((8, 7), np.float32)
    q[:, 0], q[:, 2], q[:, 3] = x, 1.0, 1.0  # upright torso at 1 m along the way
    episode = render.Episode(pipeline_states=types.SimpleNamespace(q=q),
                             xy=np.stack([np.r_[0.0, x], np.zeros(9)], axis=1),
                             subpolicy=np.repeat([0, 1], 4), reward=np.zeros(8))
    render.draw_side_view(course, CourseTask(jnp.int32(1)), episode, tmp_path / "side.png", "t")
    assert (tmp_path / "side.png").read_bytes()[:4] == b"\x89PNG"


def test_side_view_of_the_original_tasks_draws_their_box_where_it_is(tmp_path):
    walk_crawl, course = envs.make("walk_crawl"), envs.make("walk_crawl_course")
    box = (-23.5, -0.5, 1.0, "box underside")
    backward = np.linspace(1.0, -3.0, 8)
    assert render.overhead(walk_crawl, WalkCrawlTask(jnp.int32(CRAWL)), backward) == box
    assert render.overhead(walk_crawl, WalkCrawlTask(jnp.int32(WALK)), backward) is None
    one_course = course.sample_task(jax.random.PRNGKey(0))
    # the course's box stands over [0.5, 23.5] only once the torso has passed x = 25 m
    assert render.overhead(course, one_course, np.linspace(0.0, 24.9, 8)) is None
    assert render.overhead(course, one_course, np.linspace(0.0, 25.1, 8)) == (
        0.5, 23.5, 1.0, "box underside")
    q = np.zeros((8, 7), np.float32)
    q[:, 0], q[:, 2], q[:, 3] = backward, 0.3, 1.0  # a body low along the floor, going back
    episode = render.Episode(pipeline_states=types.SimpleNamespace(q=q),
                             xy=np.stack([np.r_[0.0, backward], np.zeros(9)], axis=1),
                             subpolicy=np.repeat([0, 1], 4), reward=np.zeros(8))
    render.draw_side_view(walk_crawl, WalkCrawlTask(jnp.int32(CRAWL)), episode,
                          tmp_path / "crawl.png", "t")
    assert (tmp_path / "crawl.png").read_bytes()[:4] == b"\x89PNG"
