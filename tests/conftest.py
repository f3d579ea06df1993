"""Suite-wide setup, before JAX starts its backend.

- `small_disk`: a size-limited tmpfs for the full-disk tests (test_faults.py, test_checkpoint.py).
- One compilation cache shared by every test (and the CLI subprocesses they start) within one
  run of the suite, fresh for each run unless MLSH_JAX_COMPILE_CACHE is set, so a run's time
  is that of a fresh clone.
- The default suite checks behaviour, not speed: it compiles with tests/xla_flags.py's
  FAST_COMPILE, about 3x faster. The slow suite keeps XLA's defaults for its learning tests,
  which are execution-bound; its command-line runs and other compile-bound tests take longer
  there.
- The files that take longest run first: `--dist loadfile` hands whole files to the workers in
  collection order, so a long file collected last would keep one worker busy alone at the end.
"""

import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

from mlsh_jax.compile_cache import CACHE_VARIABLE, enable_compile_cache
from xla_flags import with_fast_compile

LONGEST_FIRST = ("test_mlsh.py", "test_checkpoint.py", "test_alike.py", "test_brax_tasks.py",
                 "test_selection.py", "test_transfer.py", "test_pictures.py", "test_ppo.py",
                 "test_grouped.py", "test_new_task.py", "test_algorithms.py",
                 "test_benchmarks.py", "test_api.py", "test_ant_original.py", "test_returns.py",
                 "test_envs.py", "test_cli.py", "test_specialisation.py")
"""Test files by their measured time, longest first; the others follow in name order."""
_created: list[str] = []


def pytest_configure(config):
    if config.getoption("markexpr") == "not slow":
        os.environ["XLA_FLAGS"] = with_fast_compile(os.environ.get("XLA_FLAGS", ""))
    if CACHE_VARIABLE not in os.environ:
        _created.append(tempfile.mkdtemp(prefix="mlsh-jax-test-cache-"))
        os.environ[CACHE_VARIABLE] = _created[0]
    enable_compile_cache()


def pytest_collection_modifyitems(items):
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def pytest_unconfigure(config):
    for folder in _created:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def small_disk(tmp_path):
    """mount(bytes) -> a folder on a tmpfs of that size, resize(bytes) grows it (keeping its
    files); unmounted at teardown."""
    disk = tmp_path / "disk"
    disk.mkdir()

    def mount(size: int, *options: str) -> pathlib.Path:
        command = ["mount", "-t", "tmpfs", "-o", ",".join((f"size={size}",) + options),
                   "tmpfs", str(disk)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"needs root to mount a tmpfs: {done.stderr.strip()}")
        return disk

    yield mount, lambda size: mount(size, "remount")
    if os.path.ismount(disk):
        subprocess.run(["umount", str(disk)], check=True)
