"""Input checks shared by the fits of :mod:`partsforecast.reliability` (internal).

Every message names the function, the argument, the position (with the index label of a
pandas input), the offending value and the fix.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["complain", "validate", "validate_level", "validate_codes", "per_group"]


def _label(values: Any, pos: int) -> str:
    """Position, plus the index label when the caller passed a pandas object."""
    if isinstance(values, (pd.Series, pd.Index)) and not isinstance(values.index, pd.RangeIndex):
        return f"position {pos} (index label {values.index[pos]!r})"
    return f"position {pos}"


def complain(func: str, name: str, values: Any, bad: np.ndarray, arr: np.ndarray, what: str, fix: str):
    where = np.flatnonzero(bad)
    first = int(where[0])
    more = ""
    if where.size > 1:
        shown = ", ".join(str(int(i)) for i in where[1:6])
        more = f" ({where.size - 1} more at positions {shown}{', ...' if where.size > 6 else ''})"
    value = arr[first]
    if isinstance(value, np.generic):
        value = value.item()  # show 2.0, not np.float64(2.0)
    raise ValueError(f"{func}: {name} at {_label(values, first)} is {value!r}, {what}{more}. {fix}")


def _as_1d(func: str, name: str, values: Any) -> np.ndarray:
    if values is None:
        raise ValueError(f"{func}: {name} is required")
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(
            f"{func}: {name} must be one-dimensional, got shape {arr.shape}; pass a flat array "
            "or a pandas Series"
        )
    return arr


def _to_float(func: str, name: str, values: Any, arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind in "fiub":
        return arr.astype(float)
    out = pd.to_numeric(pd.Series(arr, dtype=object), errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(out) & ~pd.isna(pd.Series(arr, dtype=object)).to_numpy()
    if bad.any():
        complain(func, name, values, bad, arr, "which is not a number",
                  f"Convert {name} to numbers before fitting.")
    return out


def validate(
    func: str,
    time: Any,
    failed: Any,
    weights: Any = None,
    *,
    allow_empty: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check and convert (time, failed, weights); every message names argument, position, value, fix."""
    t_raw = _as_1d(func, "time", time)
    f_raw = _as_1d(func, "failed", failed)
    if f_raw.shape[0] != t_raw.shape[0]:
        raise ValueError(
            f"{func}: time has {t_raw.shape[0]} values but failed has {f_raw.shape[0]}; pass one "
            "failed flag (1 = failure, 0 = censored) for every lifetime"
        )
    if t_raw.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{func}: time is empty; pass at least one lifetime")
    t = _to_float(func, "time", time, t_raw)
    bad = np.isnan(t)
    if bad.any():
        complain(func, "time", time, bad, t, "a missing lifetime",
                  "Drop the lives whose length is unknown (or fill them) before fitting.")
    bad = ~np.isfinite(t) | (t <= 0)
    if bad.any():
        complain(func, "time", time, bad, t, "but lifetimes must be finite and > 0",
                  "Drop or correct those records: a zero or negative life usually means swapped "
                  "or equal start/end dates; an infinite one is better entered as censored at the "
                  "as-of age.")

    f = _to_float(func, "failed", failed, f_raw)
    bad = np.isnan(f) | ((f != 0) & (f != 1))
    if bad.any():
        complain(func, "failed", failed, bad, f, "but failed must be 0 or 1",
                  "Pass 1 (True) for a life that ended in a failure and 0 (False) for a "
                  "right-censored life that was still running.")
    if weights is None:
        w = np.ones_like(t)
    else:
        w_raw = _as_1d(func, "weights", weights)
        if w_raw.shape[0] != t.shape[0]:
            raise ValueError(
                f"{func}: time has {t.shape[0]} values but weights has {w_raw.shape[0]}; pass one "
                "weight per lifetime, or weights=None"
            )
        w = _to_float(func, "weights", weights, w_raw)
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            complain(func, "weights", weights, bad, w, "but weights must be finite and >= 0",
                      "Use 0 to leave a life out and a count (e.g. 3) for identical lives.")
    return t, f, w


def validate_level(func: str, level: float) -> float:
    try:
        lv = float(level)
    except (TypeError, ValueError):
        raise ValueError(f"{func}: level is {level!r}; pass a confidence level such as 0.95") from None
    if not 0.0 < lv < 1.0:
        raise ValueError(f"{func}: level is {level!r} but must be strictly between 0 and 1 (e.g. 0.95)")
    return lv


def validate_codes(func: str, name: str, codes: Any, n_expected: int | None, size_name: str,
                    n_codes: int | None, count_name: str) -> tuple[np.ndarray, int]:
    """Integer codes 0..n-1 (as from pandas.factorize); returns (codes, n)."""
    raw = _as_1d(func, name, codes)
    if n_expected is not None and raw.shape[0] != n_expected:
        raise ValueError(
            f"{func}: {name} has {raw.shape[0]} values but {size_name} has {n_expected}; pass one "
            f"{name} code per {'lifetime' if size_name == 'time' else 'group'}"
        )
    if raw.dtype.kind in "OUS" and raw.size and isinstance(raw[0], (str, bytes)):
        raise ValueError(
            f"{func}: {name} holds labels such as {str(raw[0])!r}; pass integer codes 0..{count_name}-1 "
            f"instead, e.g. codes, labels = pandas.factorize({name})"
        )
    if raw.dtype.kind not in "iub":
        as_f = _to_float(func, name, codes, raw)
        bad = ~np.isfinite(as_f) | (as_f != np.round(as_f))
        if bad.any():
            complain(func, name, codes, bad, raw, f"but {name} must be integer codes",
                      f"Encode {name} with pandas.factorize (codes 0..{count_name}-1).")
        raw = as_f
    c = raw.astype(np.int64)
    bad = c < 0
    if bad.any():
        complain(func, name, codes, bad, c, f"but {name} codes must be >= 0",
                  f"Encode {name} with pandas.factorize (codes 0..{count_name}-1).")
    if n_codes is None:
        n = int(c.max()) + 1 if c.size else 0
    else:
        n = int(n_codes)
        if n < 0:
            raise ValueError(f"{func}: {count_name} is {n_codes!r} but must be >= 0")
        bad = c >= n
        if bad.any():
            complain(func, name, codes, bad, c, f"but {count_name} is {n} so codes must be < {n}",
                      f"Raise {count_name} or recode {name} to 0..{count_name}-1.")
    return c, n


def per_group(func: str, name: str, values: Any, n: int, *, positive: bool = True) -> np.ndarray:
    """A scalar or per-group array of length n; NaN allowed (means 'not given')."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    arr = _as_1d(func, name, arr)
    if arr.shape[0] != n:
        raise ValueError(f"{func}: {name} has {arr.shape[0]} values but there are {n} groups; pass "
                         f"a scalar or one {name} per group (NaN = estimate it)")
    if positive:
        bad = ~np.isnan(arr) & ~(np.isfinite(arr) & (arr > 0))
        if bad.any():
            complain(func, name, values, bad, arr, f"but a {name} must be finite and > 0",
                      f"Pass a positive {name}, or NaN to have it estimated.")
    return arr
