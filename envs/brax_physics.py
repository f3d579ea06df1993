"""What every Brax-backed task shares: the physics backends, Brax's physics per (system,
backend), the episode state, and the check of the backend setting.

Each robot's tasks live in their own module (`envs.ant`, `envs.humanoid`) and wrap the physics
of Brax's own Ant / Humanoid systems (brax 0.14, `brax.envs`) behind the functional API of
`envs.base`: the env is a frozen, hashable dataclass of static settings, the Brax pipeline
state travels in an explicit `BraxState`, and the hidden task is a pytree argument that is
never observed. A fall terminates an episode; the time limit only truncates it
(`info["truncated"]`: the walker could go on, so learners bootstrap from its last state, as
Brax's PPO does).

Brax (and MuJoCo/MJX behind it) is imported on first use of the physics, not when this module
is imported, so `import envs` stays fast. The physics of each (system, backend) is built once
per process (`physics`) and closed over by every jitted step, like `brax.envs` does.

Backends: `mjx` (MuJoCo XLA, the one Brax maintains), `spring`, `positional`, `generalized`,
a field of every Brax task; `python -m benchmarks.brax_backends` measures them and
`DEFAULT_BACKEND` is its pick (see there).
"""

from __future__ import annotations

import functools
from typing import Any

import flax.struct
import jax

BACKENDS = ("mjx", "spring", "positional", "generalized")
DEFAULT_BACKEND = "spring"
"""Chosen by measurement (`python -m benchmarks.brax_backends` on one core of a 2-core CPU,
docs/benchmarks.md): env steps/s with random actions through the training wrappers, batch
128 / 1024,

    twowalk (Ant)       spring 13.4k / 10.4k   mjx 9.6k / 9.9k   generalized 5.3k / 5.5k
                        positional 4.3k / 4.8k
    walk_crawl_forward  spring  8.4k /  7.7k   mjx 4.8k / 5.0k   positional 3.6k / 3.6k
                        generalized 2.0k / 2.4k

and compile 20-40 s for spring against 45-80 s for mjx; every backend stayed finite over the
NaN check. `spring` is the fastest for both systems at both sizes. Choose `mjx` for
MuJoCo-faithful dynamics (MuJoCo's solver; the backend Brax maintains) at ~0.6-0.95x speed.
The backends are different physics, not just different speeds: with random actions the Ant's
episodes end after ~38 steps on mjx and generalized (it bounces above the 1 m height limit)
against ~600-900 on spring and positional."""


@functools.lru_cache(maxsize=None)
def physics(system: str, backend: str) -> Any:
    """Brax's `system` env ("ant" or "humanoid") on `backend`: its sys, dt and pipeline.

    Only the physics of the returned `brax.envs.PipelineEnv` is used (`sys`, `dt`,
    `pipeline_init`, `pipeline_step`, and for Humanoid its observation and centre of mass);
    rewards, terminations and resets are the task's. Brax's per-backend tuning of the
    system (time step, frames per step, solver, actuator gears) is kept as Brax ships it.
    """
    from brax import envs as brax_envs  # deferred: importing brax/mujoco takes seconds

    # Built once and cached: its arrays must be concrete even when first asked for inside a
    # jit trace, or the cache would hold leaked tracers.
    with jax.ensure_compile_time_eval():
        return brax_envs.get_environment(system, backend=backend)


@flax.struct.dataclass
class BraxState:
    """One Brax episode: the physics pipeline's state and the step counter."""

    pipeline_state: Any  # the backend's pipeline state (q, qd, x, xd, ... as Brax defines)
    t: jax.Array  # int32 steps taken this episode


def validate_backend(backend: object) -> None:
    """A Brax task's settings are checked when it is built, before any physics is compiled."""
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}: must be one of {', '.join(BACKENDS)}")
