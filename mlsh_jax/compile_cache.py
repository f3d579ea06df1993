"""JAX's persistent compilation cache, on by default in a per-user folder.

A run, an `evaluate` or a test compiles the same programs as the last identical one did; with
the cache the second start loads them from disk instead of compiling them again.

    MLSH_JAX_COMPILE_CACHE=/some/dir   move the cache
    MLSH_JAX_COMPILE_CACHE=off         disable it
    (unset)                            $XDG_CACHE_HOME/mlsh-jax/xla, else ~/.cache/mlsh-jax/xla

A cache folder set through JAX itself (`JAX_COMPILATION_CACHE_DIR` or `jax.config`) is left
as it is.
"""

from __future__ import annotations

import os
import pathlib
import warnings

import jax

CACHE_VARIABLE = "MLSH_JAX_COMPILE_CACHE"
DISABLED = ("off", "0", "false", "no", "")
MIN_COMPILE_SECONDS = 0.5
"""Programs that compile faster than this are not worth a disk round trip."""


def default_cache_dir() -> pathlib.Path:
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "mlsh-jax" / "xla"


def cache_dir_from_environment() -> pathlib.Path | None:
    """The folder `MLSH_JAX_COMPILE_CACHE` asks for (None: disabled)."""
    value = os.environ.get(CACHE_VARIABLE)
    if value is None:
        return default_cache_dir()
    if value.strip().lower() in DISABLED:
        return None
    return pathlib.Path(value).expanduser()


def enable_compile_cache() -> pathlib.Path | None:
    """Point JAX's persistent cache at the configured folder; returns the folder in use.

    Call before the first compilation. A folder that cannot be created turns the cache off
    with a warning rather than stopping the run: without it compiling is slower, never wrong.
    """
    if jax.config.jax_compilation_cache_dir:
        return pathlib.Path(jax.config.jax_compilation_cache_dir)
    folder = cache_dir_from_environment()
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        warnings.warn(f"compilation cache off: cannot create {str(folder)!r} ({error.strerror});"
                      f" set {CACHE_VARIABLE} to a writable folder or to 'off'")
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return folder
