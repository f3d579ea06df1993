"""Suite-wide setup: one compilation cache shared by every test (and the CLI subprocesses
they start) within one run of the suite, fresh for each run unless MLSH_JAX_COMPILE_CACHE is
set, so a run's time is that of a fresh clone."""

import os
import shutil
import tempfile

from mlsh_jax.compile_cache import CACHE_VARIABLE, enable_compile_cache

_created: list[str] = []


def pytest_configure(config):
    if CACHE_VARIABLE not in os.environ:
        _created.append(tempfile.mkdtemp(prefix="mlsh-jax-test-cache-"))
        os.environ[CACHE_VARIABLE] = _created[0]
    enable_compile_cache()


def pytest_unconfigure(config):
    for folder in _created:
        shutil.rmtree(folder, ignore_errors=True)
