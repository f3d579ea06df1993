"""The benchmark functions at a tiny size: sane numbers, correct ratios, a truly flat baseline.

No timing is asserted (the machine is shared); only that what the tables print is well formed.
"""

import math

import jax
from benchmarks import scaling, sps
from mlsh_jax.config import NetworkConfig, PPOConfig, RunConfig
from mlsh_jax.spec import MLSHSpec
from compiled import init_jit

TINY = RunConfig(num_slots=2, envs_per_slot=2, rollout_steps=4, macro_duration=2,
                 warmup_updates=1, joint_updates=1, network=NetworkConfig(hidden_sizes=(8,)),
                 master_ppo=PPOConfig(epochs=1, num_minibatches=1),
                 sub_ppo=PPOConfig(epochs=1, num_minibatches=1))


def _positive_finite(x: float) -> bool:
    return math.isfinite(x) and x > 0


def test_env_only_and_flat_training_give_positive_finite_steps_per_second():
    programs = dict(env=sps.compile_env_only(TINY),
                    flat=sps.compile_training(sps.flat_config(TINY), updates=1))
    rates = sps.steps_per_second(programs, rounds=1)
    assert _positive_finite(rates["env"][0]) and _positive_finite(rates["flat"][0])
    assert programs["env"].compile_seconds > 0 and programs["flat"].compile_seconds > 0


def test_row_ratios_are_the_quotients_of_the_printed_throughputs():
    row = sps.make_row(TINY, env=(1.0, 400.0), mlsh=(2.0, 100.0), all_joint=(3.0, 50.0),
                       flat=(4.0, 200.0))
    assert row["mlsh_over_flat"] == 0.5 and row["mlsh_all_joint_over_flat"] == 0.25
    assert row["mlsh_over_env_only"] == 0.25
    assert (row["env_compile_s"], row["flat_compile_s"]) == (1.0, 4.0)
    assert row["joint_share"] == 0.5


def test_flat_baseline_is_one_subpolicy_without_master_at_equal_batch():
    spec = MLSHSpec.build(sps.flat_config(TINY))
    assert spec.config.num_subpolicies == 1 and not spec.config.hierarchical
    assert spec.config.env_steps_per_update == TINY.env_steps_per_update
    assert spec.joint_capacity == TINY.num_slots  # its one policy trains on every slot
    state = init_jit(spec, jax.random.PRNGKey(0))
    assert state.slots.master is None
    assert jax.tree.leaves(state.subpolicies.params)[0].shape[0] == 1


def test_all_joint_mlsh_trains_phi_on_every_slot():
    spec = MLSHSpec.build(sps.all_joint_config(TINY))
    assert spec.config.hierarchical and spec.joint_capacity == TINY.num_slots


def test_scaling_row_reports_mlsh_speed_and_memory():
    row = scaling.measure(TINY, updates=1, repeats=1)
    assert _positive_finite(row["steps_per_s"]) and row["compile_s"] > 0
    assert row["peak_rss_bytes"] >= row["rss_before_compile_bytes"] > 0
    if "xla_total_bytes" in row:
        assert row["xla_total_bytes"] > 0
