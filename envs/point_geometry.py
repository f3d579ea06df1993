"""Point-agent geometry shared by `moving_bandits` and `key_door`.

A point moves on a 400×400 arena in 20-unit steps along the axes and is "at" a landmark when
within 50 units of it (the MLSH paper's Moving Bandits numbers). Positions are float32.
"""

import jax
import jax.numpy as jnp
import numpy as np

ARENA_SIZE = 400.0
START = 200.0  # the agent starts at (START, START), the arena's centre
STEP_SIZE = 20.0
RADIUS = 50.0

STAY, PLUS_X, MINUS_X, PLUS_Y, MINUS_Y = range(5)
NUM_ACTIONS = 5
_MOVES = STEP_SIZE * np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]], np.float32)


def start_position() -> jax.Array:
    return jnp.full((2,), START, jnp.float32)


def sample_points(key: jax.Array, n: int) -> jax.Array:
    """n landmarks uniform on the arena, shape (n, 2): one RNG call for all of them."""
    return jax.random.uniform(key, (n, 2), jnp.float32, 0.0, ARENA_SIZE)


def move(position: jax.Array, action: jax.Array) -> jax.Array:
    """Applies a discrete action; the arena edge is a wall (positions are clipped to it)."""
    return jnp.clip(position + jnp.asarray(_MOVES)[action], 0.0, ARENA_SIZE)


def within_radius(position: jax.Array, point: jax.Array) -> jax.Array:
    """Euclidean distance <= RADIUS, compared squared: no sqrt, exact at integer coordinates."""
    return jnp.sum(jnp.square(position - point), axis=-1) <= RADIUS**2


def normalize(points: jax.Array) -> jax.Array:
    """Arena coordinates to [0, 1], flattened, for observations."""
    return jnp.ravel(points) / ARENA_SIZE
