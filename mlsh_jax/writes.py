"""Failed writes of a run's files, named by file.

A full disk (or quota, or a read-only remount) can hit any file a run writes, and the user must
learn which file and that the newest checkpoint is intact. Python's `write()` and `flush()`
raise an `OSError` without a file name, so each writer names its file with `writing(path)`;
a file replaced whole goes through `replace_file`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pathlib


class WriteFailed(OSError):
    """Writing a file of the run failed; `filename` names it, `strerror` says why."""

    @property
    def disk_full(self) -> bool:
        return self.errno in (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def writing(path: pathlib.Path | str):
    """Turn an `OSError` raised inside into a `WriteFailed` naming `path`."""
    try:
        yield
    except WriteFailed:
        raise
    except OSError as error:
        raise WriteFailed(error.errno, error.strerror, str(path)) from None


def replace_file(path: pathlib.Path, data: bytes) -> None:
    """Replace `path` whole with `data` (temp file + rename), so a kill leaves the old or the
    new file, never part of one; a failed write (`WriteFailed` naming `path`) leaves no temp
    file behind, giving back the space it took."""
    tmp = path.with_suffix(".tmp")
    with writing(path):
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
