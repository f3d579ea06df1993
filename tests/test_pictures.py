"""Sub-policy pictures: the numbers drawn agree with hand-set policies; the CLI writes a PNG."""

import dataclasses
import pathlib

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs import four_rooms as rooms
from envs import point_geometry as geo
from experiments.pictures import (
    RoomsPolicy,
    load_seed_subpolicies,
    bandit_arrows,
    draw_four_rooms,
    draw_moving_bandits,
    first_goal_shares,
    greedy_actions,
    main,
    master_choices,
    train_master,
)
from mlsh_jax.checkpoint import save_subpolicies
from mlsh_jax.config import NetworkConfig, PPOConfig, RunConfig
from mlsh_jax.normalization import init_return_stats, init_stats
from mlsh_jax.spec import MLSHSpec
from mlsh_jax.state import Learner, init_subpolicies
from mlsh_jax.train import config_to_json, train

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TINY_NET = NetworkConfig(hidden_sizes=(8,))
BANDITS = RunConfig(env="moving_bandits", num_slots=1, envs_per_slot=2, rollout_steps=20,
                    network=TINY_NET)
ROOMS = RunConfig(env="four_rooms", num_subpolicies=3, macro_duration=5, warmup_updates=1,
                  joint_updates=1, num_slots=1, envs_per_slot=2, rollout_steps=20,
                  network=TINY_NET, master_ppo=PPOConfig(epochs=1, num_minibatches=1))
GOALS = ((100.0, 300.0), (300.0, 100.0))


def with_actor_head(params, kernel, bias):
    """`params` with the actor MLP's output layer (its last Dense) replaced."""
    actor = params["params"]["actor"]
    last = max(actor, key=lambda name: int(name.split("_")[-1]))
    return {"params": {**params["params"],
                       "actor": {**actor, last: {"kernel": kernel, "bias": bias}}}}


def preferring(spec: MLSHSpec, actions: list[int]) -> Learner:
    """Sub-policies where sub-policy k takes actions[k] with probability ~1 everywhere."""
    # Jitted: op by op, the initialisation compiles each small op alone (seconds here).
    subpolicies = jax.jit(init_subpolicies, static_argnums=0)(spec, jax.random.PRNGKey(0))
    kernel = jnp.zeros((len(actions), TINY_NET.hidden_sizes[-1], spec.env.action_space.n))
    bias = 30.0 * jax.nn.one_hot(jnp.asarray(actions), spec.env.action_space.n)
    return subpolicies.replace(params=with_actor_head(subpolicies.params, kernel, bias))


def assert_small_png(path: pathlib.Path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) < 100_000


@pytest.fixture(scope="module")
def bandits_spec():
    return MLSHSpec.build(BANDITS)


@pytest.fixture(scope="module")
def rooms_spec():
    return MLSHSpec.build(ROOMS)


def test_expected_movement_and_goal_fractions_follow_the_preferred_directions(bandits_spec):
    arrows = bandit_arrows(bandits_spec, preferring(bandits_spec, [geo.PLUS_X, geo.PLUS_Y]),
                           GOALS, grid_size=9)
    assert arrows.positions.shape == (81, 2)
    np.testing.assert_allclose(arrows.movement[0], np.tile([20.0, 0.0], (81, 1)), atol=1e-4)
    np.testing.assert_allclose(arrows.movement[1], np.tile([0.0, 20.0], (81, 1)), atol=1e-4)
    # Grid centres are 22.2, 66.7, ..., 377.8: 2 of 9 lie below 100 and 7 of 9 below 300, so
    # +x heads toward goal 0 (x=100) from 2 columns and toward goal 1 (x=300) from 7; +y alike.
    np.testing.assert_allclose(arrows.toward, [[2 / 9, 7 / 9], [7 / 9, 2 / 9]])


def test_standing_still_points_toward_neither_goal(bandits_spec):
    arrows = bandit_arrows(bandits_spec, preferring(bandits_spec, [geo.STAY, geo.MINUS_Y]),
                           GOALS, grid_size=9)
    np.testing.assert_allclose(arrows.toward, [[0.0, 0.0], [2 / 9, 7 / 9]])


def test_bandit_picture_is_a_small_png(bandits_spec, tmp_path):
    arrows = bandit_arrows(bandits_spec, preferring(bandits_spec, [geo.PLUS_X, geo.PLUS_Y]),
                           GOALS)
    draw_moving_bandits(arrows, tmp_path / "bandits.png")
    assert_small_png(tmp_path / "bandits.png")


def test_greedy_action_of_every_cell_is_each_subpolicys_preferred_action(rooms_spec):
    actions = [rooms.UP, rooms.RIGHT, rooms.LEFT]
    greedy = greedy_actions(rooms_spec, preferring(rooms_spec, actions))
    np.testing.assert_array_equal(greedy, np.repeat(np.array(actions)[:, None],
                                                    rooms.NUM_CELLS, axis=1))


def test_master_choice_map_follows_a_hand_set_master(rooms_spec):
    """Hidden unit 0 is +1 in the right half (column > 6) and -1 in the left half; logits are
    (-h, h, 0), so the master picks sub-policy 1 on the right and 0 on the left."""
    params = rooms_spec.master.init(jax.random.PRNGKey(0), jnp.zeros(rooms.NUM_CELLS))
    right = rooms.FREE_CELLS[:, 1] > 6
    first = np.zeros((rooms.NUM_CELLS, 8), np.float32)
    first[:, 0] = np.where(right, 3.0, -3.0)
    head = np.zeros((8, 3), np.float32)
    head[0] = [-1.0, 1.0, 0.0]
    actor = {"Dense_0": {"kernel": first, "bias": np.zeros(8, np.float32)},
             "Dense_1": {"kernel": head, "bias": np.zeros(3, np.float32)}}
    params = {"params": {**params["params"], "actor": actor}}
    master = Learner(params=params, opt_state=None, obs_stats=init_stats(rooms.NUM_CELLS),
                     return_stats=init_return_stats())
    np.testing.assert_array_equal(master_choices(rooms_spec, master), right.astype(int))


@pytest.fixture(scope="module")
def trained(rooms_spec):
    subpolicies = preferring(rooms_spec, [rooms.UP, rooms.RIGHT, rooms.LEFT])
    spec, master = train_master(ROOMS, subpolicies, rooms.cell_index(10, 10), updates=2, seed=0)
    return spec, master, subpolicies


def test_trained_master_keeps_what_it_learned_and_picks_valid_subpolicies(trained):
    spec, master, _ = trained
    # A master reset at the end of its task cycle would have the fresh prior count (1e-4).
    assert float(master.obs_stats.count) > 1.0
    choice = master_choices(spec, master)
    assert choice.shape == (rooms.NUM_CELLS,)
    assert set(choice.tolist()) <= {0, 1, 2}


def test_training_a_master_leaves_the_callers_subpolicies_usable(trained, rooms_spec):
    _, _, subpolicies = trained  # the jitted training donates its input state
    assert greedy_actions(rooms_spec, subpolicies).shape == (3, rooms.NUM_CELLS)


def test_four_rooms_picture_is_a_small_png(trained, tmp_path):
    spec, master, subpolicies = trained
    policy = RoomsPolicy(goal=rooms.cell_index(10, 10), choice=master_choices(spec, master),
                         greedy=greedy_actions(spec, subpolicies), start=rooms.TOP_LEFT)
    draw_four_rooms(policy, tmp_path / "rooms.png")
    assert_small_png(tmp_path / "rooms.png")


def write_run(workdir: pathlib.Path, config: RunConfig, seeds: list[Learner] | None) -> None:
    """A run directory as training leaves it: config.json and phi with a leading seed axis."""
    workdir.mkdir()
    (workdir / "config.json").write_text(config_to_json(config))
    if seeds:
        save_subpolicies(workdir, jax.tree.map(lambda *xs: jnp.stack(xs), *seeds))


def test_cli_draws_the_chosen_seed_of_a_moving_bandits_run(bandits_spec, tmp_path, capsys):
    workdir, out = tmp_path / "run", tmp_path / "pictures" / "bandits.png"
    write_run(workdir, dataclasses.replace(BANDITS, num_seeds=2), [
        preferring(bandits_spec, [geo.PLUS_X, geo.PLUS_Y]),
        preferring(bandits_spec, [geo.PLUS_Y, geo.PLUS_X])])
    assert main(["--workdir", str(workdir), "--out", str(out), "--seed-index", "1"]) == 0
    assert "sub-policy 0 toward goal 0/1: 78%/22%" in capsys.readouterr().out
    assert_small_png(out)


def test_seed_index_beyond_the_run_exits_2(bandits_spec, tmp_path, capsys):
    write_run(tmp_path / "run", BANDITS, [preferring(bandits_spec, [geo.PLUS_X, geo.PLUS_Y])])
    assert main(["--workdir", str(tmp_path / "run"), "--out", str(tmp_path / "x.png"),
                 "--seed-index", "1"]) == 2
    assert "1 seed(s), indices 0..0" in capsys.readouterr().err


def test_unsupported_env_exits_2_naming_it_and_the_supported_ones(tmp_path, capsys):
    write_run(tmp_path / "run", RunConfig(env="key_door"), None)
    assert main(["--workdir", str(tmp_path / "run"), "--out", str(tmp_path / "x.png")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert all(name in error for name in ("'key_door'", "four_rooms", "moving_bandits"))
    assert not (tmp_path / "x.png").exists()


def test_four_rooms_run_without_a_master_exits_2_naming_the_hierarchical_algorithms(
        tmp_path, capsys):
    write_run(tmp_path / "run", dataclasses.replace(ROOMS, algorithm="shared"), None)
    assert main(["--workdir", str(tmp_path / "run"), "--out", str(tmp_path / "x.png")]) == 2
    error = capsys.readouterr().err
    assert all(name in error for name in ("'shared'", "mlsh", "mlsh_no_warmup"))


def toward_goal_logits(obs: jax.Array) -> jax.Array:
    """Scripted K = 3: sub-policy 0 steps toward goal 0, 1 toward goal 1, 2 stays."""
    agent, goals = obs[:, :2], obs[:, 2:].reshape(-1, 2, 2)

    def toward(goal):
        dx, dy = (goal - agent).T
        action = jnp.where(jnp.abs(dx) > jnp.abs(dy), jnp.where(dx > 0, geo.PLUS_X, geo.MINUS_X),
                           jnp.where(dy > 0, geo.PLUS_Y, geo.MINUS_Y))
        return 30.0 * jax.nn.one_hot(action, geo.NUM_ACTIONS)

    stay = jnp.broadcast_to(30.0 * jax.nn.one_hot(geo.STAY, geo.NUM_ACTIONS), (len(obs), 5))
    return jnp.stack([toward(goals[:, 0]), toward(goals[:, 1]), stay])


def test_first_goal_shares_tell_which_goal_each_sub_policy_walks_to():
    spec = MLSHSpec.build(dataclasses.replace(BANDITS, num_subpolicies=3))
    shares = first_goal_shares(spec, toward_goal_logits, jax.random.PRNGKey(0), 512)
    assert shares[0, 0] > 0.85 and shares[1, 1] > 0.85
    assert shares[0, 1] > 0 and shares[1, 0] > 0  # first, not ever: some paths cross the other
    np.testing.assert_allclose(shares.sum(axis=1)[:2], 1.0)  # 50 steps reach any goal
    # Standing still reaches a goal only where one lies within its radius of the start (the
    # arena's centre): pi 50^2 / 400^2 = 4.9 % of layouts per goal.
    np.testing.assert_allclose(shares[2], np.pi * geo.RADIUS**2 / geo.ARENA_SIZE**2, atol=0.02)


@pytest.fixture(scope="module")
def trained_bandits(tmp_path_factory):
    """A tiny trained Moving Bandits run with full-state checkpoints at updates 2 and 4."""
    workdir = tmp_path_factory.mktemp("trained") / "run"
    config = dataclasses.replace(BANDITS, warmup_updates=1, joint_updates=1, total_updates=4,
                                 log_every=2, checkpoint_every=2)
    train(config, workdir, log=lambda _: None)
    return workdir


def summary(capsys, workdir: pathlib.Path, tmp_path: pathlib.Path, *extra: str) -> str:
    assert main(["--workdir", str(workdir), "--out", str(tmp_path / "p.png"), *extra]) == 0
    return capsys.readouterr().out.split(": ", 1)[1]


def test_checkpoint_option_draws_the_sub_policies_of_that_update(trained_bandits, tmp_path,
                                                                 capsys):
    final = summary(capsys, trained_bandits, tmp_path)
    assert summary(capsys, trained_bandits, tmp_path, "--checkpoint", "4") == final
    earlier = load_seed_subpolicies(trained_bandits, 0, 2)
    with pytest.raises(AssertionError):
        chex.assert_trees_all_equal(earlier.params,
                                    load_seed_subpolicies(trained_bandits, 0).params)


def test_checkpoint_option_names_the_updates_a_run_holds(trained_bandits, tmp_path, capsys):
    assert main(["--workdir", str(trained_bandits), "--out", str(tmp_path / "p.png"),
                 "--checkpoint", "3"]) == 2
    assert "--checkpoint 3" in (err := capsys.readouterr().err) and "[2, 4]" in err
