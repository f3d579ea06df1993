"""Brax's own PPO trainer on Brax Ant, timed; run by `benchmarks.brax_ppo` with its own
interpreter (brax 0.14.2's trainer needs jax 0.9.2), so this file imports only brax and jax.

    /tmp/brax-venv/bin/python benchmarks/brax_ppo_worker.py '{"num_envs": 128, ...}'

Prints one JSON line: `training/sps` of each training epoch as Brax's trainer measures it
(env steps, action_repeat included, over the epoch's training time, evaluation excluded); the
first epoch includes compilation.
"""

from __future__ import annotations

import functools
import json
import sys
import time

import jax
from brax import envs
from brax.training.agents.ppo import networks as ppo_networks
from brax.training.agents.ppo import train as ppo


def main(request: str) -> None:
    args = json.loads(request)
    env = envs.get_environment("ant", backend=args["backend"])
    network = functools.partial(ppo_networks.make_ppo_networks,
                                policy_hidden_layer_sizes=tuple(args["hidden_sizes"]),
                                value_hidden_layer_sizes=tuple(args["hidden_sizes"]),
                                activation=getattr(jax.nn, args["activation"]))
    steps_per_training_step = args["num_envs"] * args["unroll_length"]
    epochs = []
    start = time.perf_counter()
    ppo.train(environment=env, num_timesteps=args["epochs"] * args["training_steps_per_epoch"]
              * steps_per_training_step, num_evals=args["epochs"] + 1, run_evals=False,
              num_envs=args["num_envs"], episode_length=args["episode_length"], action_repeat=1,
              unroll_length=args["unroll_length"],
              batch_size=args["num_envs"] // args["num_minibatches"],
              num_minibatches=args["num_minibatches"], num_updates_per_batch=args["ppo_epochs"],
              normalize_observations=True, network_factory=network, seed=0,
              progress_fn=lambda step, metrics: epochs.append(
                  dict(step=int(step), sps=float(metrics["training/sps"]),
                       walltime=float(metrics["training/walltime"]))))
    print(json.dumps(dict(jax_version=jax.__version__, backend=jax.default_backend(),
                          epochs=epochs, total_seconds=time.perf_counter() - start)))


if __name__ == "__main__":
    main(sys.argv[1])
