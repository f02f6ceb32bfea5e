"""Safe, atomic output shared by every stage that writes files.

- **Atomic**: a write goes to a temporary sibling first and is renamed into place only
  when it is complete, so a crash or Ctrl-C never leaves a half-written file and a failed
  run leaves the previous output untouched. Temporary siblings left by a killed process
  are removed by the next write to the same place.
- **Ids never choose paths**: :func:`safe_file_names` turns any set of ids into unique,
  portable file names (the caller keeps the id → file map in an index).
- **CSV cells never start a formula**: :func:`frame_to_csv_bytes` prefixes text cells
  that begin with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return with ``'``, so a
  spreadsheet shows them as text; :func:`unescape_cells` undoes it when a file is read
  back. Number columns are never touched.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import re
import shutil
import stat
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["atomic_dir", "write_frame_atomic", "write_frame", "frame_to_csv_bytes", "safe_file_names",
           "neutralise_cells", "unescape_cells", "round_for_people", "release_unused_memory",
           "FORMULA_TRIGGERS", "MONEY_COLUMNS"]

log = logging.getLogger("partsforecast")


def release_unused_memory() -> None:
    """Give the memory freed by a large stage back to the system.

    pandas keeps text in Arrow buffers, and Arrow's pool holds on to freed buffers for reuse;
    the C allocator keeps freed work arrays of a few megabytes in its heap. After reading a
    national fleet, or computing its component lives, these hold over a gigabyte that the
    next stage could not use. Called at the end of such stages; cheap when little is held.
    """
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _glibc():
    """The C library when it is glibc (it has ``malloc_trim``), else None (macOS, musl)."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None

#: First characters that make a spreadsheet read a CSV cell as a formula (OWASP's list).
FORMULA_TRIGGERS = "=+-@\t\r"
# A text cell that would start a formula, or that already carries our escape in front of
# one: both get one more quote, so that unescaping (dropping one quote) is exact.
_NEEDS_QUOTE = re.compile("^'*[" + re.escape(FORMULA_TRIGGERS) + "]")
_QUOTED = re.compile("^'+[" + re.escape(FORMULA_TRIGGERS) + "]")


def _is_text(values: pd.Series) -> bool:
    return values.dtype == object or pd.api.types.is_string_dtype(values.dtype)


def neutralise_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell that would start a spreadsheet formula prefixed by ``'``.

    A cell is escaped when it begins with one of :data:`FORMULA_TRIGGERS` (after any
    quotes already in front, so that :func:`unescape_cells` gives back the exact text).
    Number, date and boolean columns are left as they are; categoricals are escaped in
    their categories. Returns ``frame`` itself when nothing needs escaping.
    """
    changed = {}
    for name in frame.columns:
        col = frame[name]
        if isinstance(col.dtype, pd.CategoricalDtype):
            cats = col.cat.categories
            if _is_text(pd.Series(cats)):
                hit = np.asarray(cats.str.match(_NEEDS_QUOTE), dtype=bool)
                if hit.any():
                    changed[name] = col.cat.rename_categories(cats.where(~hit, "'" + cats))
        elif _is_text(col):
            hit = col.str.match(_NEEDS_QUOTE).fillna(False).to_numpy(dtype=bool)
            if hit.any():
                col = col.copy()
                col[hit] = "'" + col[hit].astype(str)
                changed[name] = col
    return frame.assign(**changed) if changed else frame


def unescape_cells(values: pd.Series) -> pd.Series:
    """Undo :func:`neutralise_cells` on a text column read from a CSV file."""
    if not _is_text(values):
        return values
    hit = values.str.match(_QUOTED).fillna(False).to_numpy(dtype=bool)
    if not hit.any():
        return values
    values = values.copy()
    values[hit] = values[hit].str.slice(1)
    return values


def frame_to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """Serialise a frame to CSV bytes deterministically, safe to open in a spreadsheet.

    Floats are written with ``repr`` precision (pandas' default), so reading the file back
    gives the same float64 values; line endings are ``\\n`` on every platform. Text cells
    that would start a formula are escaped (:func:`neutralise_cells`).
    """
    return neutralise_cells(frame).to_csv(index=False, lineterminator="\n").encode("utf-8")


#: Column names that hold money: written to the cent.
MONEY_COLUMNS = frozenset({"inventory_value", "cost", "unit_cost", "value", "investment", "transport_cost"})


def round_for_people(frame: pd.DataFrame, decimals: int = 6) -> pd.DataFrame:
    """``frame`` with money columns (:data:`MONEY_COLUMNS`) rounded to cents and every other
    float column to ``decimals`` decimals: the precision a person reads, and the same bytes
    whichever source (CSV, Parquet, a database) the inputs came from."""
    out = {}
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_float_dtype(col.dtype):
            out[name] = col.round(2 if name in MONEY_COLUMNS else decimals)
    return frame.assign(**out) if out else frame


# Names that Windows refuses as files whatever the extension, and our own index file.
_RESERVED = {"con", "prn", "aux", "nul", "index"} | {f"{d}{i}" for d in ("com", "lpt") for i in range(1, 10)}
_MAX_STEM = 40


def _plain_stem(key: str) -> str:
    """``key`` reduced to letters, digits, ``-``, ``_`` and inner dots, at most 40 characters,
    never starting with a dot or a dash."""
    text = unicodedata.normalize("NFC", key)
    stem = "".join(ch if (ch.isalnum() or ch in "-_.") else "_" for ch in text)
    # No leading dot (hidden) or dash (read as an option by shell tools), no trailing dot.
    return stem.lstrip(".-")[:_MAX_STEM].rstrip(".") or "_"


def safe_file_names(keys: Iterable[str], suffix: str = ".csv") -> dict[str, str]:
    """Unique, portable file names for ids that must never choose a path.

    An id that is already a plain name (letters, digits, ``-``, ``_``, inner dots; at most
    40 characters; not starting with a dash; not a reserved device name or ``index``) keeps it: ``D002`` →
    ``D002.csv``. Any other id, and every id of a group whose names would clash on a
    case-insensitive file system, gets its plain form and a hash of the full id:
    ``../x`` → ``x_<10 hex>.csv``. The result never contains a path separator, never
    starts with a dot or a dash, and maps distinct ids to distinct names (case-insensitively).

    Parameters
    ----------
    keys : iterable of str
    suffix : str

    Returns
    -------
    dict
        id → file name.
    """
    keys = sorted({str(k) for k in keys})
    stems = {k: _plain_stem(k) for k in keys}
    plain = {k for k, s in stems.items() if s == k and s.lower() not in _RESERVED}
    folded: dict[str, list[str]] = {}
    for k in plain:
        folded.setdefault(k.lower(), []).append(k)
    plain -= {k for group in folded.values() if len(group) > 1 for k in group}
    names: dict[str, str] = {}
    for k in keys:
        if k in plain:
            names[k] = k + suffix
        else:
            digest = hashlib.sha256(k.encode("utf-8", "surrogatepass")).hexdigest()
            names[k] = f"{stems[k].rstrip('.')}_{digest[:10]}{suffix}"
    taken = [n.lower() for n in names.values()]
    if len(set(taken)) != len(taken):  # pragma: no cover - a 40-bit hash collision
        raise RuntimeError("two ids map to one file name; rename one of them")
    return names


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
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(path)
    fd, tmp = tempfile.mkstemp(prefix=_sibling_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write_frame(frame, tmp, "parquet" if path.suffix.lower() == ".parquet" else "csv")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def _sibling_prefix(target: Path) -> str:
    """Prefix of the temporary siblings of ``target``: hidden, with the writer's process id."""
    return f".{target.name}.{os.getpid()}."


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's), or we cannot tell: leave it alone
    return True


def _remove_tree(path: Path) -> bool:
    """Delete a file or folder, making read-only entries writable on the way; True if gone."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
        if os.path.lexists(path):  # read-only folders inside: make them writable, then again
            with contextlib.suppress(OSError):
                os.chmod(path, stat.S_IRWXU)
                for root, dirs, _files in os.walk(path):
                    for d in dirs:
                        os.chmod(os.path.join(root, d), stat.S_IRWXU)
            shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return not os.path.lexists(path)


def remove_stale_siblings(target: str | os.PathLike) -> list[Path]:
    """Remove the temporary siblings of ``target`` that a dead process left behind.

    A write that was killed (``SIGKILL``, a power cut) cannot clean up after itself; its
    hidden ``.<name>.<pid>.*.tmp`` / ``.old`` siblings are removed here, by the next
    write to the same place, once no process with that id runs. Returns what was removed.
    """
    target = Path(target).absolute()
    pattern = re.compile(r"^\." + re.escape(target.name) + r"\.(\d+)\.[a-z0-9_]{8}\.(tmp|old)$")
    removed = []
    with contextlib.suppress(OSError):
        for entry in target.parent.iterdir():
            m = pattern.match(entry.name)
            if m and not _process_alive(int(m.group(1))) and _remove_tree(entry):
                removed.append(entry)
    for entry in removed:
        log.info("removed %s, left by an interrupted earlier run", entry)
    return removed


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Build a folder's content in a temporary sibling and swap it in on success.

    Yields the temporary folder. When the ``with`` block ends without an exception, the
    previous ``target`` (if any) is moved aside, the new folder renamed into place, and the
    old one deleted; on any exception (including ``KeyboardInterrupt``) the temporary
    folder is removed and ``target`` is left exactly as it was. Siblings left by a killed
    earlier write are removed first (:func:`remove_stale_siblings`).

    Raises
    ------
    NotADirectoryError
        When ``target`` exists and is not a folder (a file is never replaced by a folder).
    """
    target = Path(target).absolute()
    if os.path.lexists(target) and not target.is_dir():
        raise NotADirectoryError(f"{target} exists and is not a folder; give a folder to write into")
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(target)
    tmp = Path(tempfile.mkdtemp(prefix=_sibling_prefix(target), suffix=".tmp", dir=target.parent))
    # mkdtemp makes a private (0700) folder; the output should have ordinary permissions.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        yield tmp
    except BaseException:
        _remove_tree(tmp)
        raise
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=_sibling_prefix(target), suffix=".old", dir=target.parent))
        old.rmdir()
        os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        # Put the previous output back before giving up.
        if old is not None:
            os.replace(old, target)
        _remove_tree(tmp)
        raise
    if old is not None and not _remove_tree(old):
        log.warning("could not delete the previous output, moved aside to %s; the next run "
                    "removes it", old)
