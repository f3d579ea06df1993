"""The sub-policies (and the shared policy) shipped in pretrained/: they fit the shipped config
they were trained with, and (slow: real Brax physics) a fresh master over them learns its hidden
task within W updates, which is what a user starting a transfer experiment from them relies on."""

import json
import pathlib

import jax
import pytest

from experiments import evaluate
from experiments.config_cli import load_config_file
from mlsh_jax import load_run

PRETRAINED = pathlib.Path(__file__).resolve().parents[1] / "pretrained"


@pytest.mark.parametrize("name, config_name, algorithm", [
    ("twowalk", "twowalk", "mlsh"), ("twowalk_1200", "twowalk", "mlsh"),
    ("walk_crawl_forward", "walk_crawl_forward", "mlsh"), ("walk_crawl", "walk_crawl", "mlsh"),
    ("walk_crawl_shared", "walk_crawl", "shared"), ("ant_maze", "ant_maze", "mlsh"),
    ("ant_maze_shared", "ant_maze", "shared")])
def test_pretrained_skills_fit_their_shipped_config(name, config_name, algorithm):
    config, subpolicies = load_run(PRETRAINED / name)
    shipped = load_config_file(config_name)
    assert (config.env, config.network, config.algorithm) == (
        shipped.env, shipped.network, algorithm)
    # A flat learner (the shared policy) is exported as one sub-policy.
    k = shipped.num_subpolicies if config.hierarchical else 1
    seeds_and_k = {leaf.shape[:2] for leaf in jax.tree.leaves(subpolicies.params)}
    assert seeds_and_k == {(1, k)}


def meta_test_on_4_tasks(name: str, tmp_path: pathlib.Path) -> dict:
    """eval.json of `experiments.evaluate` run on pretrained/NAME, written to `tmp_path`
    (`--out`), so the shipped folder stays untouched."""
    assert evaluate.main(["--workdir", str(PRETRAINED / name), "--tasks", "4",
                          "--out", str(tmp_path)]) == 0
    assert not (PRETRAINED / name / "eval.json").exists()
    return json.loads((tmp_path / "eval.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["twowalk", "twowalk_1200"])
def test_a_fresh_master_over_the_pretrained_twowalk_skills_walks_toward_its_hidden_target(
        name, tmp_path):
    curve = meta_test_on_4_tasks(name, tmp_path)["mean_return"]
    assert len(curve) == 20  # W = 20 updates
    # The return sums progress toward the target over dt = 0.05 s: 20 per metre gained, from
    # 5 m away. A master that has not yet chosen the right skill stays near the start.
    assert curve[0] < 25.0, curve
    assert sum(curve[10:]) / 10 > 40.0, curve  # over 2 m closer to its hidden target, on average


@pytest.mark.slow
def test_a_fresh_master_over_the_pretrained_walk_crawl_forward_skills_goes_forward(tmp_path):
    result = meta_test_on_4_tasks("walk_crawl_forward", tmp_path)
    curve, torso_x = result["mean_return"], result["episode_end"]["torso_x"]
    assert len(curve) == 20  # W = 20 updates
    # Measured on 16 tasks (pretrained/walk_crawl_forward/README.md): 1456 at update 1, while
    # fresh masters still pick sub-policy 0 (which falls) about half the time; 3976 at update 20,
    # the episodes ending 2.4 m forward.
    assert curve[0] < 2200.0, curve
    assert sum(curve[10:]) / 10 > 3300.0, curve
    assert sum(torso_x[10:]) / 10 > 1.5, torso_x
