"""Suite-wide setup, before JAX starts its backend.

- One compilation cache shared by every test (and the CLI subprocesses they start) within one
  run of the suite, fresh for each run unless MLSH_JAX_COMPILE_CACHE is set, so a run's time
  is that of a fresh clone.
- The default suite checks behaviour, not speed: it compiles without XLA's backend
  optimisations, 2-3x faster (the slow learning tests keep them: they are execution-bound).
"""

import os
import shutil
import tempfile

from mlsh_jax.compile_cache import CACHE_VARIABLE, enable_compile_cache

FAST_COMPILE = "--xla_backend_optimization_level=0"
_created: list[str] = []


def pytest_configure(config):
    if config.getoption("markexpr") == "not slow":
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_backend_optimization_level" not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} {FAST_COMPILE}".strip()
    if CACHE_VARIABLE not in os.environ:
        _created.append(tempfile.mkdtemp(prefix="mlsh-jax-test-cache-"))
        os.environ[CACHE_VARIABLE] = _created[0]
    enable_compile_cache()


def pytest_unconfigure(config):
    for folder in _created:
        shutil.rmtree(folder, ignore_errors=True)
