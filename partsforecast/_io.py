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
# Written with \xHH escapes so that Python's re and Arrow's RE2 read the patterns alike.
_TRIGGER_CLASS = "[" + "".join(f"\\x{ord(c):02x}" for c in FORMULA_TRIGGERS) + "]"
_NEEDS_QUOTE_PATTERN = "^'*" + _TRIGGER_CLASS
_NEEDS_QUOTE = re.compile(_NEEDS_QUOTE_PATTERN)
_QUOTED = re.compile("^'+" + _TRIGGER_CLASS)


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
    for i in range(frame.shape[1]):  # by position: column names may repeat
        col = frame.iloc[:, i]
        if isinstance(col.dtype, pd.CategoricalDtype):
            cats = col.cat.categories
            if _is_text(pd.Series(cats)):
                hit = np.asarray(cats.str.match(_NEEDS_QUOTE), dtype=bool)
                if hit.any():
                    changed[i] = col.cat.rename_categories(cats.where(~hit, "'" + cats))
        elif _is_text(col):
            hit = _formula_hits(col)
            if hit.any():
                col = col.copy()
                col[hit] = "'" + col[hit].astype(str)
                changed[i] = col
    if not changed:
        return frame
    frame = frame.copy(deep=False)
    for i, col in changed.items():
        frame.isetitem(i, col)
    return frame


def _formula_hits(col: pd.Series) -> np.ndarray:
    """Which cells of a text column :func:`neutralise_cells` escapes (missing ones never)."""
    if col.dtype == object and len(col) > 1000:
        # Python's re on a million objects takes seconds: all-str columns go through Arrow.
        import pyarrow as pa

        values = col.to_numpy()
        present = ~pd.isna(values)
        if pd.api.types.infer_dtype(values[present], skipna=False) == "string":
            try:
                found = _formula_cells(pa.array(values[present], type=pa.large_string()))
            except (pa.ArrowException, UnicodeError):
                pass  # text that is not valid Unicode: the slow way reports it as before
            else:
                hit = np.zeros(len(values), dtype=bool)
                hit[present] = found
                return hit
    return col.str.match(_NEEDS_QUOTE).fillna(False).to_numpy(dtype=bool)


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

    The bytes are exactly those of
    ``neutralise_cells(frame).to_csv(index=False, lineterminator="\\n").encode("utf-8")``.
    Frames whose columns are all text, integers, booleans or float64 are formatted a whole
    column at a time with Arrow, several times faster; any other frame (dates,
    categoricals, nullable or mixed columns, a single column) is written by pandas.
    """
    if len(frame) >= _FAST_MIN_ROWS:
        data = _fast_csv_bytes(frame)
        if data is not None:
            return data
    return neutralise_cells(frame).to_csv(index=False, lineterminator="\n").encode("utf-8")


# The vectorised writer. pandas hands every cell to Python's csv module as a string: text
# as it is (missing as ""), integers and booleans through ``str``, float64 through numpy's
# ``astype(str)`` (the shortest digits that read back as the same value; NaN as ""); the
# csv module quotes a cell that holds one of a few characters (_csv_quote_chars) and
# doubles the quotes inside. The same is done here with Arrow kernels on whole columns.

#: Frames of fewer rows go through pandas. Even small frames are written faster by the fast
#: path (a dealer's 233-row transfer file: 4 ms against 15 ms; a frame of one row: about
#: half the time; benchmarks/bench_csv.py on a busy machine), so every frame it takes does.
_FAST_MIN_ROWS = 1
#: Rows formatted at once: bounds the temporary memory.
_BLOCK_ROWS = 1 << 20


@functools.cache
def _csv_quote_chars() -> tuple[str, str] | None:
    """The characters that make pandas' CSV writer quote a cell, and those it refuses to
    write, found by asking it.

    pandas writes through Python's csv module (minimal quoting, ``"`` doubled, ``\\n`` line
    ends), which quotes a cell holding the delimiter, the quote or a line-end character;
    which line-end characters has differed between Python versions, and older versions
    refuse a NUL, so both are found by writing probe rows. None when the module quotes in
    any other way than expected (the fast writer is then not used).
    """
    import csv
    import io

    def line(cells: list[str]) -> str:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(cells)
        return buf.getvalue()

    probes = [chr(i) for i in range(128)] + ["\x85", "\u2028", "\u2029", "\ufeff", "\xa0", "é", "€", "\U0001f600"]
    quoted: list[str] = []
    refused: list[str] = []
    for c in probes:
        for cell in (f"a{c}b", f"{c}a", f"a{c}", c, c + c):
            try:
                got = line([cell, "x", ""])
            except csv.Error:
                if c >= "\x80":
                    return None
                refused.append(c)
                break
            if got == f"{cell},x,\n":
                continue
            if got != '"' + cell.replace('"', '""') + '",x,\n':
                return None
            if c not in quoted:
                quoted.append(c)
    if line(["", ""]) != ",\n" or line([" ", " a "]) != " , a \n":
        return None
    if not {",", '"', "\n"} <= set(quoted) <= {",", '"', "\n", "\r"}:
        return None
    return "".join(quoted), "".join(refused)


def _fast_csv_bytes(frame: pd.DataFrame) -> bytes | None:
    """The CSV bytes of ``frame`` formatted with Arrow, or None when a column is of a kind
    not handled here (dates, categoricals, nullable dtypes, mixed objects, float32...).

    Each column becomes one Arrow text array holding its cells exactly as pandas writes
    them (the few cells in another style are fixed in place); the lines are the columns
    joined with ``,``, the last one carrying the ``\\n``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if frame.shape[1] < 2 or isinstance(frame.columns, pd.MultiIndex):
        return None  # a row of one empty cell is written '""'; several header rows
    kinds = [_cell_kind(frame.iloc[:, i]) for i in range(frame.shape[1])]
    csv_chars = _csv_quote_chars()
    if None in kinds or csv_chars is None or ("float" in kinds and not _arrow_floats_as_expected()):
        return None
    try:
        parts: list = [_header_line(frame)]
        for start in range(0, len(frame), _BLOCK_ROWS):
            block = frame.iloc[start:start + _BLOCK_ROWS]
            columns = []
            for i, kind in enumerate(kinds):
                cells = _CELLS[kind](block.iloc[:, i], csv_chars)
                if cells is None:
                    return None
                columns.append(cells)
            columns[-1] = pc.binary_join_element_wise(columns[-1], _scalar("\n"), _scalar(""))
            lines = pc.binary_join_element_wise(*columns, _scalar(","))
            parts.extend(_string_bytes(lines))
    except (pa.ArrowException, TypeError, ValueError, OverflowError, UnicodeError):
        return None  # e.g. text that is not valid Unicode: pandas reports it
    return b"".join(parts)


def _header_line(frame: pd.DataFrame) -> bytes:
    """The first line: the column names as the csv module writes them (never escaped)."""
    import csv
    import io

    names = list(frame.columns)
    if not all(type(name) is str for name in names):
        return frame.iloc[:0].to_csv(index=False, lineterminator="\n").encode("utf-8")
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(names)
    return buf.getvalue().encode("utf-8")


def _scalar(text: str):
    import pyarrow as pa

    return pa.scalar(text, pa.large_string())


def _cell_kind(col: pd.Series) -> str | None:
    """How the fast writer formats ``col``: "text", "int", "bool", "float", or None (pandas)."""
    dtype = col.dtype
    if isinstance(dtype, pd.StringDtype):
        return "text"
    if not isinstance(dtype, np.dtype):
        return None  # categorical, nullable, datetime with zone, Arrow-backed numbers...
    if dtype == object:
        return "text"  # if every value is a str or missing; checked by _text_cells
    if dtype.kind in "iu":
        return "int"
    if dtype.kind == "b":
        return "bool"
    if dtype == np.float64:
        return "float"
    return None


def text_buffers(arr) -> tuple[np.ndarray, np.ndarray]:
    """The offsets (one more than values: value ``i`` is ``data[offsets[i]:offsets[i + 1]]``)
    and the UTF-8 bytes of an Arrow string or large_string array, as numpy views of its
    buffers (no copy)."""
    import pyarrow as pa

    _, offsets, data = arr.buffers()
    n = len(arr)
    if offsets is None or n == 0:
        return np.zeros(n + 1, np.int64), np.zeros(0, np.uint8)
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(offsets, dtype=width)[arr.offset:arr.offset + n + 1]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    return offsets, data


def _string_bytes(arr) -> list[memoryview]:
    """The UTF-8 bytes of all the cells of a large_string array, one after another."""
    import pyarrow as pa

    out = []
    for chunk in arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]:
        if len(chunk):
            offsets, data = text_buffers(chunk)
            out.append(memoryview(data[offsets[0]:offsets[-1]]))
    return out


def _byte_table(chars: str) -> np.ndarray:
    """A 256-entry lookup table, True at the bytes of the (ASCII) ``chars``."""
    table = np.zeros(256, dtype=bool)
    table[[ord(c) for c in chars]] = True
    return table


def _cells_with(arr, chars: str) -> np.ndarray:
    """Which cells of a large_string array without nulls hold one of the ASCII ``chars``.

    A byte below 128 is that character in UTF-8 (the bytes of longer characters are all
    above), so this looks at the bytes and maps the hits back to their cells.
    """
    offsets, data = text_buffers(arr)
    where = np.flatnonzero(_byte_table(chars)[data[offsets[0]:offsets[-1]]]) + offsets[0]
    hit = np.zeros(len(arr), dtype=bool)
    hit[np.searchsorted(offsets, where, side="right") - 1] = True
    return hit


def _formula_cells(arr) -> np.ndarray:
    """Which cells of a large_string array without nulls :func:`neutralise_cells` escapes:
    their first byte is a formula trigger (all ASCII), or, for the few starting with a quote,
    the whole rule (``_NEEDS_QUOTE``)."""
    import pyarrow.compute as pc

    offsets, data = text_buffers(arr)
    first = np.zeros(len(arr), dtype=np.uint8)
    filled = offsets[1:] > offsets[:-1]
    first[filled] = data[offsets[:-1][filled]]
    escape = _byte_table(FORMULA_TRIGGERS)[first]
    if (first == ord("'")).any():  # cells that already start with quotes: the full rule
        escape |= pc.match_substring_regex(arr, _NEEDS_QUOTE_PATTERN).to_numpy(zero_copy_only=False)
    return escape


def _replace_cells(arr, fixes: list[tuple[np.ndarray, object]]):
    """``arr`` with the cells at each ``fixes`` entry's (sorted, disjoint) positions
    replaced by that entry's texts (an Arrow array, in position order)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    fixes = [(at, texts) for at, texts in fixes if len(at)]
    if not fixes:
        return arr
    at = np.concatenate([f[0] for f in fixes])
    texts = pa.concat_arrays([f[1] for f in fixes])
    if len(fixes) > 1:
        order = np.argsort(at, kind="stable")
        at, texts = at[order], texts.take(pa.array(order))
    mask = np.zeros(len(arr), dtype=bool)
    mask[at] = True
    return pc.replace_with_mask(arr, pa.array(mask), texts)


def _int_cells(col: pd.Series, csv_chars: tuple[str, str]):
    import pyarrow as pa

    return pa.array(col.to_numpy()).cast(pa.large_string())


def _bool_cells(col: pd.Series, csv_chars: tuple[str, str]):
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.if_else(pa.array(col.to_numpy()), _scalar("True"), _scalar("False"))


def _text_cells(col: pd.Series, csv_chars: tuple[str, str]):
    """Text cells escaped as :func:`neutralise_cells` does (a ``'`` in front), quoted as
    the csv module does (``"`` around, ``"`` doubled), missing ones as "" (never escaped).
    None for an object column holding anything but str and missing values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(col.dtype, pd.StringDtype):
        arr = pa.array(col.array)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        arr = arr.cast(pa.large_string())
        if arr.null_count:
            arr = arr.fill_null(_scalar(""))
    else:
        values = col.to_numpy(dtype=object, copy=True)
        values[pd.isna(values)] = ""
        if pd.api.types.infer_dtype(values, skipna=False) != "string":
            return None
        arr = pa.array(values, type=pa.large_string())
    escape = _formula_cells(arr)
    quote_chars, refused = csv_chars  # see _csv_quote_chars
    if refused and _cells_with(arr, refused).any():
        return None  # pandas reports the error
    quote = _cells_with(arr, quote_chars)
    at = np.flatnonzero(escape | quote)
    if not len(at):
        return arr
    body = arr.take(pa.array(at))
    quote, escape = quote[at], escape[at]
    if quote.any():
        body = pc.replace_substring(body, '"', '""')  # only quoted cells hold '"'
    mark = pc.if_else(pa.array(quote), _scalar('"'), _scalar(""))
    front = pc.binary_join_element_wise(mark, pc.if_else(pa.array(escape), _scalar("'"), _scalar("")),
                                        _scalar(""))
    return _replace_cells(arr, [(at, pc.binary_join_element_wise(front, body, mark, _scalar("")))])


def _float_cells(col: pd.Series, csv_chars: tuple[str, str]):
    """float64 cells exactly as numpy's ``astype(str)`` writes them, NaN as "".

    Arrow's cast to text gives the same shortest round-trip digits in another style: no
    ``.0`` on whole numbers (``0``, ``-0``, ``123``), and exponents from other magnitudes
    and with one digit (``1.5e-7``). Where numpy writes plain digits (zero, and
    1e-4 <= |x| < 1e16) and Arrow did too (no ``e``), the two are equal once whole numbers
    get their ``.0`` (plain digits of a whole number have no point, those of any other
    number have one); the other cells (tiny or huge magnitudes, inf, NaN) are formatted by
    numpy itself.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    values = col.to_numpy()
    text = pa.array(values).cast(pa.large_string())
    size = np.abs(values)
    with np.errstate(invalid="ignore"):
        plain = (size == 0) | ((size >= 1e-4) & (size < 1e16))
        plain &= ~_cells_with(text, "e")
        whole = np.flatnonzero(plain & (np.trunc(values) == values))
    other = np.flatnonzero(~plain)
    rest = values[other].astype(str).astype(object)
    rest[np.isnan(values[other])] = ""
    return _replace_cells(text, [
        (whole, pc.binary_join_element_wise(text.take(pa.array(whole)), _scalar(".0"), _scalar(""))),
        (other, pa.array(rest, type=pa.large_string()))])


@functools.cache
def _arrow_floats_as_expected() -> bool:
    """Whether Arrow writes floats in the style :func:`_float_cells` expects (checked once
    on values of every kind; the fast writer is not used otherwise)."""
    import pyarrow as pa

    values = np.array([0.0, -0.0, 1.0, -7.0, 123.0, 0.5, -0.25, 1e-4, 0.00012, 0.1, 2.5e-3, 1 / 3,
                       123456789.0, 123456789012345.0, 9007199254740993.0, 9999999999999998.0])
    got = pa.array(values).cast(pa.large_string()).to_pylist()
    for x, text in zip(values.tolist(), got):
        if "e" in text:
            continue
        if ("." in text) == x.is_integer() or (text if "." in text else text + ".0") != repr(x):
            return False
    return True


_CELLS = {"text": _text_cells, "int": _int_cells, "bool": _bool_cells, "float": _float_cells}


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
