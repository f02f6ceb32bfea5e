"""The fast CSV writer writes exactly the bytes pandas writes.

The independent implementation is pandas itself: ``reference(frame)`` below is the
expression :func:`partsforecast._io.frame_to_csv_bytes` stood for before it had a fast
path (``neutralise_cells(frame).to_csv(index=False, lineterminator="\\n")`` in UTF-8),
with the escaping done by a plain loop over the cells. Every test compares bytes with it,
on frames the fast path takes and on frames it hands back to pandas.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from partsforecast import _io
from partsforecast._io import frame_to_csv_bytes, neutralise_cells, unescape_cells

STOCK_PLAN = Path("/tmp/s8/out_nat/stock_plan.csv")


FORMULA = re.compile(r"'*[=+\-@\t\r]")  # a formula trigger after any quotes


def escape(value):
    """The escaping rule, cell by cell: one more ``'`` in front of a formula."""
    return "'" + value if isinstance(value, str) and FORMULA.match(value) else value


def reference(frame: pd.DataFrame) -> bytes:
    """What the writer stood for before it had a fast path: pandas' ``to_csv`` of the
    frame with its text cells escaped (here by a plain loop over the cells)."""
    out = frame.copy()
    for i in range(frame.shape[1]):
        col = frame.iloc[:, i]
        if isinstance(col.dtype, pd.CategoricalDtype):
            out.isetitem(i, col.cat.rename_categories([escape(c) for c in col.cat.categories]))
        elif col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
            out.isetitem(i, pd.Series([escape(v) for v in col], index=col.index, dtype=col.dtype))
    return out.to_csv(index=False, lineterminator="\n").encode("utf-8")


@pytest.fixture
def always_fast(monkeypatch):
    """Send frames of any length through the fast path."""
    monkeypatch.setattr(_io, "_FAST_MIN_ROWS", 0)


def assert_same(frame: pd.DataFrame, fast: bool | None = None) -> None:
    got = frame_to_csv_bytes(frame)
    want = reference(frame)
    if got != want:  # show the first differing line
        g, w = got.split(b"\n"), want.split(b"\n")
        k = next(i for i in range(min(len(g), len(w))) if g[i] != w[i]) if g != w[:len(g)] else len(g)
        raise AssertionError(f"line {k}: {g[k:k + 1]!r} != {w[k:k + 1]!r}")
    if fast is not None:
        assert (_io._fast_csv_bytes(frame) is not None) == fast


# ---------------------------------------------------------------------------- floats

def float_samples(rng: np.random.Generator, n: int) -> np.ndarray:
    """Floats of every magnitude and style: random bit patterns, decimals of a few digits,
    whole numbers, values next to the style boundaries (1e-4, 1e16), specials."""
    # (numpy takes ~10 us to write a value of a large exponent, so fewer of those)
    bits = rng.integers(0, 2**64, n // 10, dtype=np.uint64).view(np.float64)
    spread = rng.uniform(1, 10, n) * 10.0 ** rng.uniform(-25, 25, n) * rng.choice([-1, 1], n)
    rounded = np.round(spread, rng.integers(0, 10))
    whole = rng.integers(-2**60, 2**60, n).astype(np.float64) / 2.0 ** rng.integers(0, 60, n)
    edges = np.array([1e-4, 1e16, 1e15, 1e-5, 2.0**53, 1e21, 5e-324, 2.2250738585072014e-308,
                      1.7976931348623157e308, 0.1, 0.5])
    edges = np.concatenate([edges, -edges])
    with np.errstate(over="ignore"):
        near = np.repeat(edges, n // len(edges) + 1)[:n] * (1 + rng.integers(-50, 50, n) * 2.0**-52)
    special = rng.choice(np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1.0, -1.0]), n)
    return np.concatenate([bits, spread, rounded, whole, near, special])


def test_float_cells_match_numpy_on_many_random_values():
    # pandas writes float64 cells with numpy's astype(str); Arrow's shortest digits plus the
    # style fix-ups must give the same text for every value (770,000 here, plus a
    # further 100 million checked once by hand when the writer was made).
    rng = np.random.default_rng(7)
    values = float_samples(rng, 150_000)
    got = np.array(_io._float_cells(pd.Series(values), (",", "")).to_pylist(), dtype=object)
    want = values.astype(str).astype(object)
    want[np.isnan(values)] = ""
    bad = np.flatnonzero(got != want)
    assert not len(bad), [(values[i], got[i], want[i]) for i in bad[:5]]
    # and numpy's text is Python's repr, the shortest text that reads back the same value
    finite = values[np.isfinite(values)][:50_000]
    assert [str(v) for v in finite.astype(str)] == [repr(float(v)) for v in finite]
    assert (finite.astype(str).astype(np.float64) == finite).all()


@pytest.mark.parametrize("value, text", [
    (0.0, "0.0"), (-0.0, "-0.0"), (1e-05, "1e-05"), (1.5e-07, "1.5e-07"), (0.0001, "0.0001"),
    (123456789.0, "123456789.0"), (1e16, "1e+16"), (9999999999999998.0, "9999999999999998.0"),
    (1e15, "1000000000000000.0"), (np.inf, "inf"), (-np.inf, "-inf"), (np.nan, ""),
    (5e-324, "5e-324"), (0.1 + 0.2, "0.30000000000000004"), (2.5, "2.5"), (-7.0, "-7.0"),
])
def test_float_cells_worked_examples(value, text):
    assert _io._float_cells(pd.Series([value, 1.0]), (",", "")).to_pylist()[0] == text


# ---------------------------------------------------------------------------- text

HOSTILE_TEXT = ["plain", "", "a,b", 'say "hi"', '"', "line\nbreak", "cr\rinside", "crlf\r\n",
                "=SUM(A1)", "+1", "-2", "@x", "\tx", "\rx", "'=already", "''+twice", "'plain",
                "'", "''", "ünïcödé", "日本語,テキスト", "emoji 😀", "=", ",", " lead", "trail ",
                "a;b", "x\x00y", "tab\tinside", "\u2028sep", "=\"q\",\n"]


def random_text(rng: np.random.Generator, n: int, with_missing: bool) -> list:
    pool = HOSTILE_TEXT + [f"P{i:05d}" for i in range(50)]
    cells = [pool[i] for i in rng.integers(0, len(pool), n)]
    if with_missing:
        for i in rng.integers(0, n, n // 10):
            cells[i] = None
    return cells


def random_frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    cols = {
        "loc": pd.Series(random_text(rng, n, False), dtype="str"),
        "text_missing": pd.Series(random_text(rng, n, True), dtype="str"),
        "obj": pd.Series(random_text(rng, n, True), dtype=object),
        "py_str": pd.Series(random_text(rng, n, True), dtype=pd.StringDtype("python", na_value=np.nan)),
        "i64": rng.integers(-2**63, 2**63 - 1, n, dtype=np.int64),
        "small": rng.integers(-5, 5, n),
        "u64": rng.integers(0, 2**64 - 1, n, dtype=np.uint64),
        "i8": rng.integers(-128, 127, n, dtype=np.int8),
        "flag": rng.random(n) < 0.5,
        "x": rng.choice(float_samples(rng, max(n // 6, 1)), n),
        "rounded": np.round(rng.lognormal(0, 3, n), 6),
    }
    frame = pd.DataFrame(cols)
    order = rng.permutation(frame.columns)[: rng.integers(2, len(frame.columns) + 1)]
    return frame[order]


@pytest.mark.parametrize("seed", range(12))
def test_random_frames_match_pandas(seed, always_fast):
    rng = np.random.default_rng(seed)
    frame = random_frame(rng, int(rng.integers(1, 3000)))
    assert_same(frame, fast=True)


def test_large_random_frame_through_the_public_path():
    # Over _FAST_MIN_ROWS and over one block of rows: the real fast path, several blocks.
    rng = np.random.default_rng(99)
    frame = random_frame(rng, 5_000)
    assert len(frame) >= _io._FAST_MIN_ROWS
    old = _io._BLOCK_ROWS
    try:
        _io._BLOCK_ROWS = 1_234
        assert_same(frame, fast=True)
    finally:
        _io._BLOCK_ROWS = old


def test_quoting_and_escaping_worked_example(always_fast):
    frame = pd.DataFrame({"id": ["=1+2", 'a"b', "x,y", "'@z", "ok", None],
                          "n": [1, 2, 3, 4, 5, 6]}).astype({"id": "str"})
    data = frame_to_csv_bytes(frame)
    assert data == reference(frame)
    assert data.decode().split("\n") == [
        "id,n", "'=1+2,1", '"a""b",2', '"x,y",3', "''@z,4", "ok,5", ",6", ""]
    back = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    assert unescape_cells(back["id"]).tolist() == ["=1+2", 'a"b', "x,y", "'@z", "ok", ""]


def test_quote_chars_are_what_the_csv_module_quotes():
    chars, refused = _io._csv_quote_chars()
    assert {",", '"', "\n"} <= set(chars)
    for c in map(chr, range(256)):
        buf = io.StringIO()
        try:
            csv.writer(buf, lineterminator="\n").writerow([f"a{c}b", "x"])
        except csv.Error:
            assert c in refused
        else:
            assert buf.getvalue().startswith('"') == (c in chars), repr(c)


# ---------------------------------------------------------------------------- fallbacks

@pytest.mark.parametrize("make", [
    lambda n: pd.DataFrame({"d": pd.date_range("2026-01-01", periods=n, freq="h"), "n": range(n)}),
    lambda n: pd.DataFrame({"c": pd.Categorical(["=a", "b,c"] * (n // 2)), "n": range(n // 2 * 2)}),
    lambda n: pd.DataFrame({"i": pd.array([1, None] * (n // 2), dtype="Int64"), "s": ["x"] * (n // 2 * 2)}),
    lambda n: pd.DataFrame({"o": [1, "a", 2.5, None] * (n // 4), "n": range(n // 4 * 4)}),
    lambda n: pd.DataFrame({"f": np.linspace(0, 1, n, dtype=np.float32), "n": range(n)}),
    lambda n: pd.DataFrame({"only": ["", "=x", "a,b", None] * (n // 4)}),
    lambda n: pd.DataFrame({"t": pd.to_timedelta(np.arange(n), unit="s"), "n": range(n)}),
    lambda n: pd.DataFrame({"b": pd.array([True, None] * (n // 2), dtype="boolean"), "n": range(n // 2 * 2)}),
    lambda n: pd.DataFrame({"o": [b"ab", "c"] * (n // 2), "n": range(n // 2 * 2)}),
    lambda n: pd.DataFrame(np.arange(2 * n).reshape(n, 2), columns=pd.MultiIndex.from_tuples([("a", "b"), ("a", "c")])),
])
def test_other_kinds_are_left_to_pandas(make, always_fast):
    frame = make(3000)
    assert _io._fast_csv_bytes(frame) is None
    assert_same(frame)


@pytest.mark.parametrize("frame", [
    pd.DataFrame(),
    pd.DataFrame({"a": pd.Series([], dtype="str"), "b": pd.Series([], dtype=float)}),
    pd.DataFrame({"a": ["x"], "b": [np.nan]}),
    pd.DataFrame({"a": [np.nan, np.nan], "b": [None, None]}, dtype=object),
    pd.DataFrame({"a": ["", ""], "b": ["", ""]}),
    pd.DataFrame({0: [1.5, 2.0], 1: ["x", "y"]}),
    pd.DataFrame([[1, 2]], columns=["dup", "dup"]),
    pd.DataFrame({"a,b": [1], 'q"': ["=x"]}),
    pd.DataFrame({"a": [1.0, 2.0], "b": [3, 4]}, index=[10, 20]),
])
def test_edge_frames(frame, always_fast):
    assert_same(frame)


def test_unencodable_text_is_reported_as_before(always_fast):
    frame = pd.DataFrame({"a": pd.Series(["ok", "bad \ud800"], dtype=object), "b": [1, 2]})
    with pytest.raises(UnicodeEncodeError):
        reference(frame)
    with pytest.raises(UnicodeEncodeError):
        frame_to_csv_bytes(frame)


# ---------------------------------------------------------------------------- escaping

@pytest.mark.parametrize("seed", range(4))
def test_neutralise_cells_follows_the_cell_rule(seed):
    # The library's column-wise escaping (Arrow on text columns) against the cell loop.
    frame = random_frame(np.random.default_rng(seed), 3000)
    frame["cat"] = pd.Categorical(random_text(np.random.default_rng(seed), 3000, True))
    frame.columns = [*frame.columns[:-2], 7, frame.columns[-2]]  # a number and a repeated name
    old_expression = neutralise_cells(frame).to_csv(index=False, lineterminator="\n").encode("utf-8")
    assert old_expression == reference(frame)
    assert frame_to_csv_bytes(frame) == reference(frame)


def test_neutralise_then_unescape_round_trips():
    cells = HOSTILE_TEXT + [None]
    for dtype in ("str", object):
        col = pd.Series(cells, dtype=dtype)
        escaped = neutralise_cells(pd.DataFrame({"c": col}))["c"]
        assert escaped.tolist()[8:12] == ["'=SUM(A1)", "'+1", "'-2", "'@x"]
        assert escaped[HOSTILE_TEXT.index("'=already")] == "''=already"
        assert escaped[HOSTILE_TEXT.index("'plain")] == "'plain"  # no formula behind: untouched
        back = unescape_cells(escaped.astype("str"))
        assert back.iloc[:-1].tolist() == HOSTILE_TEXT and pd.isna(back.iloc[-1])


# ---------------------------------------------------------------------------- real output

@pytest.mark.skipif(not STOCK_PLAN.exists(), reason="needs a national plan's stock_plan.csv")
def test_national_stock_plan_is_written_byte_for_byte(monkeypatch):
    # The file was written by pandas (the reference expression) in a national plan run;
    # read back, the fast path must write it again to the byte (1.2 million rows).
    frame = pd.read_csv(STOCK_PLAN)
    fast = []
    original = _io._fast_csv_bytes
    monkeypatch.setattr(_io, "_fast_csv_bytes", lambda f: fast.append(original(f)) or fast[-1])
    data = frame_to_csv_bytes(frame)
    assert fast and fast[0] is not None
    assert data == STOCK_PLAN.read_bytes()


def test_small_dealer_like_frame(always_fast):
    rng = np.random.default_rng(3)
    n = 233
    frame = pd.DataFrame({
        "transfer_id": [f"TR-20260701-{i:05d}" for i in range(n)],
        "direction": rng.choice(["send", "receive"], n),
        "from_name": rng.choice(["Factory central warehouse, Xuzhou", "South City 104"], n),
        "quantity": rng.integers(1, 50, n),
        "cost": np.round(rng.lognormal(3, 1, n), 2),
        "reason": [f'you hold {i} of "{i * 2}", send {i % 7}' for i in range(n)],
    }).astype({"transfer_id": "str", "direction": "str", "from_name": "str", "reason": "str"})
    assert_same(frame, fast=True)
