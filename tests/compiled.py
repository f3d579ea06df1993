"""Test setup code as one compiled program each: run eagerly, a function compiles each of its
operations on its own (hundreds of small compilations for a Brax env's reset)."""

import jax

from mlsh_jax.state import init_state

init_jit = jax.jit(init_state, static_argnums=0)
"""`init_state(spec, key)` compiled once per spec."""
