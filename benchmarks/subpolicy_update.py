"""The sub-policies' PPO update against flat PPO's on the same batch.

    python -m benchmarks.subpolicy_update [--rows 102400] [--subpolicies 2,4] [--repeats 5]

Per K, one batch of `--rows` samples (default: 256 slots x 8 envs x D=50, every slot joint),
each sample owned by a uniformly drawn sub-policy, with the default sub-policy PPO (10 epochs x
15 minibatches) and 2x64 networks on Moving Bandits' observations and actions. Timed, one after
the other in each round so that load hits them alike (median of `--repeats` rounds):
- grouped: `ppo.grouped_ppo_update`, each sample through its own sub-policy (what training runs);
- masked: `ppo.ppo_update` vmapped over the K sub-policies, each over the whole batch masked to
  its own samples (the update before the grouped one; same result, tested);
- flat: `ppo.ppo_update` of one policy over the same batch (flat PPO's update).
Prints one table row (milliseconds per update and the ratios to flat) and one JSON line per K.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time

import jax
import jax.numpy as jnp

import envs
from experiments.config_cli import CliParser, comma_list, description_from, int_at_least
from mlsh_jax.config import NetworkConfig, PPOConfig
from mlsh_jax.grouped import grouped_apply
from mlsh_jax.networks import init_stacked, subpolicy_network
from mlsh_jax.normalization import init_return_stats
from mlsh_jax.ppo import Batch, grouped_ppo_update, make_optimizer, ppo_update

PPO = PPOConfig(num_minibatches=15)
"""The default sub-policy PPO (10 epochs) with 15 minibatches."""


def random_batch(key: jax.Array, rows: int, obs_size: int, num_actions: int) -> Batch:
    keys = jax.random.split(key, 4)
    returns = jax.random.normal(keys[0], (rows,))
    values = returns + 0.5 * jax.random.normal(keys[1], (rows,))
    return Batch(obs=jax.random.normal(keys[2], (rows, obs_size)),
                 actions=jax.random.randint(keys[3], (rows,), 0, num_actions),
                 log_probs=jnp.full((rows,), -jnp.log(float(num_actions))),
                 values=values, advantages=returns - values, returns=returns)


def programs(rows: int, num_subpolicies: int, cfg: PPOConfig):
    """(compiled function, arguments) of the grouped, masked and flat updates."""
    env = envs.make("moving_bandits")
    module = subpolicy_network(env.action_space, NetworkConfig())
    optimizer = make_optimizer(cfg)
    batch = random_batch(jax.random.PRNGKey(0), rows, env.observation_size, env.action_space.n)
    owner = jax.random.randint(jax.random.PRNGKey(1), (rows,), 0, num_subpolicies)
    key = jax.random.PRNGKey(2)

    def learners(count: int):
        params = init_stacked(module, jax.random.PRNGKey(3), count, env.observation_size)
        stats = jax.tree.map(lambda x: jnp.stack([x] * count), init_return_stats())
        return params, jax.vmap(optimizer.init)(params), stats

    def grouped(params, opt_state, stats):
        return grouped_ppo_update(params, opt_state, stats, batch, owner, key,
                                  grouped_apply_fn=functools.partial(grouped_apply, module),
                                  optimizer=optimizer, cfg=cfg)

    one = functools.partial(ppo_update, batch=batch, key=key, apply_fn=module.apply,
                            optimizer=optimizer, cfg=cfg)
    masks = (owner[None] == jnp.arange(num_subpolicies)[:, None]).astype(jnp.float32)

    def masked(params, opt_state, stats):
        return jax.vmap(lambda p, o, s, m: one(p, o, s, mask=m))(params, opt_state, stats,
                                                                 masks)

    def flat(params, opt_state, stats):
        first = lambda tree: jax.tree.map(lambda x: x[0], tree)
        return one(first(params), first(opt_state), first(stats), mask=jnp.ones(rows))

    made = {}
    for name, function, count in (("grouped", grouped, num_subpolicies),
                                  ("masked", masked, num_subpolicies), ("flat", flat, 1)):
        args = learners(count)
        made[name] = (jax.jit(function).lower(*args).compile(), args)
    return made


def median_seconds(made: dict, repeats: int) -> dict[str, float]:
    seconds = {name: [] for name in made}
    for _ in range(repeats):
        for name, (compiled, args) in made.items():
            start = time.perf_counter()
            jax.block_until_ready(compiled(*args))
            seconds[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in seconds.items()}


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m benchmarks.subpolicy_update",
                       description=description_from(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int_at_least(PPO.num_minibatches), default=256 * 8 * 50,
                        help=f"samples in the batch, at least one per minibatch "
                             f"({PPO.num_minibatches}) (default: {256 * 8 * 50})")
    parser.add_argument("--subpolicies", type=comma_list(int_at_least(1), "2,4"), default="2,4",
                        metavar="K,...", help="sub-policy counts, one row each (default: 2,4)")
    parser.add_argument("--repeats", type=int_at_least(1), default=5,
                        help="interleaved timed rounds; the figure is their median (default: 5)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    print(f"sub-policy PPO update, {args.rows} rows, {PPO.epochs} epochs x "
          f"{PPO.num_minibatches} minibatches, median of {args.repeats} interleaved rounds")
    print(f"{'K':>3} {'grouped ms':>11} {'masked ms':>10} {'flat ms':>8} "
          f"{'grouped/flat':>13} {'masked/flat':>12}")
    for num_subpolicies in args.subpolicies:
        seconds = median_seconds(programs(args.rows, num_subpolicies, PPO), args.repeats)
        print(f"{num_subpolicies:>3} {seconds['grouped'] * 1e3:>11.1f} "
              f"{seconds['masked'] * 1e3:>10.1f} {seconds['flat'] * 1e3:>8.1f} "
              f"{seconds['grouped'] / seconds['flat']:>13.3f} "
              f"{seconds['masked'] / seconds['flat']:>12.3f}")
        print(json.dumps({"benchmark": "subpolicy_update", "rows": args.rows,
                          "subpolicies": num_subpolicies, "seconds": seconds}))


if __name__ == "__main__":
    main()
