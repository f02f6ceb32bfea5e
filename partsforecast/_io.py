"""Atomic file and folder writes shared by every stage that produces output.

A write goes to a temporary sibling first and is renamed into place only when it is
complete, so a crash or Ctrl-C never leaves a half-written file and a failed run leaves
the previous output untouched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

__all__ = ["atomic_dir", "write_frame_atomic", "write_frame", "frame_to_csv_bytes"]


def frame_to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """Serialise a frame to CSV bytes deterministically.

    Floats are written with ``repr`` precision (pandas' default), so reading the file back
    gives the same float64 values; line endings are ``\\n`` on every platform.
    """
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def write_frame(frame: pd.DataFrame, path: str | os.PathLike, fmt: str | None = None) -> None:
    """Write ``frame`` as CSV (deterministic bytes) or Parquet.

    ``fmt`` is ``"csv"`` or ``"parquet"``; by default Parquet for a ``.parquet`` name.
    """
    path = Path(path)
    fmt = fmt or ("parquet" if path.suffix.lower() == ".parquet" else "csv")
    if fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        path.write_bytes(frame_to_csv_bytes(frame))


def write_frame_atomic(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` to ``path`` (CSV, or Parquet for a ``.parquet`` name) through a
    temporary file and a rename: the file is whole or not there."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write_frame(frame, tmp, "parquet" if path.suffix.lower() == ".parquet" else "csv")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Build a folder's content in a temporary sibling and swap it in on success.

    Yields the temporary folder. When the ``with`` block ends without an exception, the
    previous ``target`` (if any) is moved aside, the new folder renamed into place, and the
    old one deleted; on any exception (including ``KeyboardInterrupt``) the temporary
    folder is removed and ``target`` is left exactly as it was.
    """
    target = Path(target).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    # mkdtemp makes a private (0700) folder; the output should have ordinary permissions.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        old.rmdir()
        os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        # Put the previous output back before giving up.
        if old is not None:
            os.replace(old, target)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
