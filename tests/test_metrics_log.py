"""Log records: returns and episode-end metrics of the episodes that started and ended in an
interval, pooled over episodes, overall and per task type."""

import types

import jax
import numpy as np

from mlsh_jax.metrics_log import _alike_check, _scalars, interval_record, progress_line
from mlsh_jax.mlsh import EpisodeTotals, UpdateMetrics
from mlsh_jax.ppo import PPOMetrics


def metrics(episode_end_sum, episode_count, task_type, num_task_types=2):
    """One seed, one update, slots as given (episodes that started and ended in it);
    everything unrelated zero."""
    slots = len(episode_count)
    zeros = np.zeros((1, 1), np.float32)
    ppo = PPOMetrics(policy_loss=zeros, value_loss=zeros, entropy=zeros, approx_kl=zeros,
                     clip_fraction=zeros, steps_taken=np.zeros((1, 1, 2), np.float32))
    end_sum = np.asarray(episode_end_sum, np.float32)[None, None]
    return UpdateMetrics(
        slot_episodes=EpisodeTotals(
            started_here_return=np.zeros((1, 1, slots), np.float32),
            started_here_count=np.asarray(episode_count, np.float32)[None, None],
            started_before_return=np.zeros((1, 1, slots), np.float32),
            started_before_count=np.zeros((1, 1, slots), np.float32),
            started_here_end=end_sum, started_before_end=np.zeros_like(end_sum)),
        slot_task_type=np.asarray(task_type, np.int32)[None, None],
        joint_fraction=zeros, subpolicy_usage=np.full((1, 1, 2), 0.5, np.float32),
        decisions_by_task_type=np.zeros((1, 1, num_task_types, 2), np.float32),
        master=ppo, subpolicy=ppo, subpolicy_steps=np.zeros((1, 1, 2), np.float32),
        macro_overflow=np.zeros((1, 1), np.int32),
        alike_checked=np.zeros((1, 1), bool),
        subpolicy_distance=np.zeros((1, 1, 2, 2), np.float32),
        subpolicy_reinitialised=np.zeros((1, 1, 2), bool))


def test_episode_end_metrics_are_means_over_ended_episodes_overall_and_per_task_type():
    # slot 0 (type 0): 2 episodes ending 3 m and 5 m away; slot 1 (type 1): 1 at 1 m;
    # slot 2 (type 1): none ended.
    record = interval_record(metrics([[8.0], [1.0], [0.0]], [2, 1, 0], [0, 1, 1]),
                             ("distance_to_target",))
    assert record["distance_to_target"] == (8.0 + 1.0) / 3
    assert record["distance_to_target_by_task_type"] == [4.0, 1.0]
    record.update(update=5, total_updates=10, env_steps=1000, steps_per_second=100.0)
    assert progress_line(record, ("distance_to_target",)).endswith(
        "distance_to_target 3.00 (4.00/1.00)")


def test_a_task_type_without_ended_episodes_is_none_not_zero():
    record = interval_record(metrics([[8.0], [0.0]], [2, 0], [0, 1]), ("distance_to_goal",))
    assert record["distance_to_goal_by_task_type"] == [4.0, None]
    record.update(update=5, total_updates=10, env_steps=1000, steps_per_second=100.0)
    assert "distance_to_goal 4.00 (4.00/-)" in progress_line(record, ("distance_to_goal",))


def test_progress_line_shows_elapsed_time_and_eta_as_hours_minutes_seconds():
    record = interval_record(metrics([[8.0], [1.0]], [2, 1], [0, 1]), ("distance_to_target",))
    record.update(update=5, total_updates=10, env_steps=1000, steps_per_second=100.0)
    line = progress_line(record, ("distance_to_target",), elapsed=3725.4, eta=59.6)
    assert "sps 0.1k  elapsed 1:02:05  eta 0:01:00  return" in line


def test_envs_without_episode_end_metrics_add_nothing():
    record = interval_record(metrics(np.zeros((2, 0)), [1, 1], [0, 0], num_task_types=0))
    assert not any("distance" in key for key in record)


def test_interval_return_counts_the_episodes_that_started_and_ended_within_the_interval():
    """2 seeds x 3 updates x 2 slots. Seed 0: 7 episodes started and ended in an update
    (return 6), 3 ended in updates 2-3 after starting in an earlier one (return 1); the 6
    that ended in update 1 but started before the interval (return 6) are left out: 7/10.
    Seed 1 only ended episodes that started before the interval."""
    here_count = np.array([[[2, 1], [1, 1], [0, 2]], np.zeros((3, 2))])
    here_return = np.array([[[2, 0], [1, 1], [0, 2]], np.zeros((3, 2))])
    before_count = np.array([[[3, 3], [1, 0], [1, 1]], [[2, 0], [0, 0], [0, 0]]])
    before_return = np.array([[[3, 3], [0, 0], [1, 0]], [[2, 0], [0, 0], [0, 0]]])
    # The episode-end metric 'fell' is 1 for every episode but those that started before the
    # interval, which score 5 each: left out as their returns are.
    totals = EpisodeTotals(started_here_return=here_return, started_here_count=here_count,
                           started_before_return=before_return,
                           started_before_count=before_count,
                           started_here_end=here_count[..., None].astype(float),
                           started_before_end=np.where(
                               np.arange(3)[None, :, None] == 0, 5.0, 1.0)[..., None]
                           * before_count[..., None])
    record = interval_record(metrics(np.zeros((2, 1)), [0, 0], [0, 0], num_task_types=0)
                             .replace(slot_episodes=totals), ("fell",))
    assert record["episodes"] == 10
    assert record["episode_return"] == 0.7
    assert record["seed_episode_return"] == [0.7, None]
    assert record["fell"] == 1.0


def test_routing_is_reported_per_seed_where_pooling_would_cancel_it():
    """Seed 0's masters send task type 0 to sub-policy 0 and type 1 to sub-policy 1; seed 1's
    the other way round. Pooled, both types look evenly split; per seed, each is one-sided."""
    one_seed = metrics(np.zeros((2, 0)), [1, 1], [0, 1])
    two_seeds = jax.tree.map(lambda leaf: np.concatenate([leaf, leaf]), one_seed)
    decisions = np.array([[[[3, 1], [0, 4]]], [[[1, 3], [4, 0]]]], np.float32)
    record = interval_record(two_seeds.replace(decisions_by_task_type=decisions))
    assert record["subpolicy_usage_by_task_type"] == [[0.5, 0.5], [0.5, 0.5]]
    assert record["seed_subpolicy_usage_by_task_type"] == [[[0.75, 0.25], [0.0, 1.0]],
                                                           [[0.25, 0.75], [1.0, 0.0]]]


def test_one_seed_gets_no_per_seed_routing():
    record = interval_record(metrics(np.zeros((2, 0)), [1, 1], [0, 1]))
    assert "seed_subpolicy_usage_by_task_type" not in record


def test_a_check_for_alike_sub_policies_is_recorded_with_its_distances_and_restarts():
    plain = metrics(np.zeros((1, 0)), [1.0], [0], num_task_types=0)
    record = interval_record(plain)
    record.update(update=100, total_updates=300, env_steps=0, steps_per_second=1.0)
    assert "alike_check" not in record and "alike" not in progress_line(record)
    checked = plain.replace(
        alike_checked=np.ones((1, 1), bool),
        subpolicy_distance=np.asarray([[[[0.0, 0.125], [0.125, 0.0]]]], np.float32),
        subpolicy_reinitialised=np.asarray([[[False, True]]]))
    record = interval_record(checked)
    assert record["alike_check"] == {"seed_distances": [[[0.0, 0.125], [0.125, 0.0]]],
                                     "seed_reinitialised": [[0, 1]]}
    record.update(update=100, total_updates=300, env_steps=0, steps_per_second=1.0)
    assert progress_line(record).endswith("alike: re-initialised in 1/1 runs")
    curves = dict(_scalars("alike_check", record["alike_check"]))  # TensorBoard and W&B tags
    assert curves["alike_check/seed_distances/0/0/1"] == 0.125
    assert curves["alike_check/seed_reinitialised/0/1"] == 1


def test_the_check_recorded_is_the_update_of_the_interval_that_had_one():
    # 3 updates in the interval, the check after the second; the others carry no distances
    distance = np.zeros((1, 3, 2, 2), np.float32)
    distance[0, 1] = [[0.0, 0.25], [0.25, 0.0]]
    restarted = np.zeros((1, 3, 2), bool)
    restarted[0, 1, 1] = True
    interval = types.SimpleNamespace(subpolicy_distance=distance,
                                     subpolicy_reinitialised=restarted)
    record = _alike_check(interval, np.asarray([[False, True, False]]))
    assert record == {"seed_distances": [[[0.0, 0.25], [0.25, 0.0]]],
                      "seed_reinitialised": [[0, 1]]}
