"""Lifetime fitting: Weibull and exponential models with right censoring, pooling, estimators.

This module is the numerical core of the failure model. Everything here works on plain
arrays of lifetimes:

``time``
    Positive, finite lifetimes (operating hours, or any consistent unit).
``failed``
    1 (or True) when the life ended in a failure, 0 when it was right-censored (still
    running at the as-of date, or the machine was retired).
``weights``
    Optional non-negative case weights (frequency weights: a weight of 3 is three identical
    lives). Rows of weight 0 are ignored.

The Weibull model is parameterised by shape ``k`` and scale ``eta``:
``S(t) = exp(-(t / eta) ** k)``; its *rate* is ``lambda = eta ** -k`` so that the cumulative
hazard is ``H(t) = lambda * t ** k``. The exponential model is the Weibull with ``k = 1``.

Contents
--------
Single data set
    :func:`fit_weibull`, :func:`fit_exponential`, :func:`fit_weibayes`,
    :func:`compare_weibull_exponential`; results are :class:`WeibullFit` objects.
Many groups at once (vectorised, no Python loop over groups)
    :func:`fit_weibull_groups` (maximum likelihood or Weibayes per group),
    :func:`pooled_shape` (a shape shared by the groups of a pool),
    :func:`borrowed_shape` (each group's borrowed shape with the uncertainty it carries),
    :func:`shrink_scale` (empirical-Bayes gamma-Poisson shrinkage of each group's rate).
Nonparametric estimators
    :func:`kaplan_meier`, :func:`nelson_aalen`, :func:`median_ranks`.
Plots
    :func:`weibull_plot`, :func:`survival_plot`.

Method labels
-------------
Every fit says which method produced it (``method``):

``"mle"``
    exact maximum likelihood (shape and scale, or the exponential rate).
``"weibayes"``
    shape given (known, or borrowed from a pool); the scale is its maximum-likelihood value
    given that shape, ``eta = (sum w t**k / r) ** (1/k)`` with ``r`` failures.
``"weibayes-zero-failure"``
    shape given and no failures: the scale reported is the one-sided lower confidence
    bound at the stated level (chi-square with 2 degrees of freedom).
``"no-failures"``
    no failures and no shape given: shape and scale are NaN (borrow a shape, then use
    Weibayes or :func:`shrink_scale`).
``"single-failure-time"``
    every failure happened at one and the same time (this includes exactly one failure):
    the shape is not estimable from these data (its MLE is infinite or rests only on the
    censoring pattern), so shape and scale are NaN.
``"no-data"``
    the group has no lives (only in the group engine).

References
----------
- Lawless, J. F. (2003). *Statistical Models and Methods for Lifetime Data*, 2nd ed. Wiley.
  (Weibull likelihood, profile likelihood for the shape, observed information.)
- Nelson, W. (1982). *Applied Life Data Analysis*. Wiley. (Chi-square bounds for the
  exponential / known-shape Weibull; zero-failure bounds.)
- Abernethy, R. B. (2006). *The New Weibull Handbook*, 5th ed. (Weibayes; median ranks;
  Johnson's adjusted ranks; Bernard's approximation.)
- Klein, J. P. & Moeschberger, M. L. (2003). *Survival Analysis*, 2nd ed. Springer.
  (Kaplan-Meier, Greenwood, Nelson-Aalen.)
- Meeker, W. Q. & Escobar, L. A. (1998). *Statistical Methods for Reliability Data*. Wiley.
  (Likelihood-ratio intervals; why Wald intervals fail with heavy censoring.)
- Morris, C. N. & Tang, R. (2011), Estimating random effects via adjustment for density
  maximization, *Statistical Science* 26, 271-287; Li, H. & Lahiri, P. (2010), *Journal of
  Multivariate Analysis* 101, 882-892 (between-group spread of shapes, never 0); Prasad,
  N. G. N. & Rao, J. N. K. (1990), *JASA* 85, 163-171 (error of empirical-Bayes estimates).

How the intervals of each method are built, and their measured coverage on generated
fleets, is in ``docs/failure-models.md``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

__all__ = [
    "FailureModel",
    "NotFittedError",
    "WeibullFit",
    "WeibullExponentialTest",
    "fit_weibull",
    "fit_exponential",
    "fit_weibayes",
    "compare_weibull_exponential",
    "fit_weibull_groups",
    "pooled_shape",
    "borrowed_shape",
    "shrink_scale",
    "kaplan_meier",
    "nelson_aalen",
    "median_ranks",
    "weibull_plot",
    "survival_plot",
]

#: Relative step in the shape at which Newton iterations stop.
_SHAPE_RTOL = 1e-13
#: Iteration cap of the safeguarded Newton search (bisection alone needs ~90 from any start).
_MAX_ITER = 200
#: A shape beyond this is reported as not converged (failures closer together than
#: 1e-7 relative; no lifetime data is that regular).
_SHAPE_MAX = 1e7

_GROUP_COLUMNS = [
    "method",
    "converged",
    "n_iter",
    "n_failures",
    "n_censored",
    "shape",
    "scale",
    "se_shape",
    "se_scale",
    "shape_lower",
    "shape_upper",
    "scale_lower",
    "scale_upper",
    "cov_log_shape_scale",
    "rate_upper",
    "loglik",
]


# ---------------------------------------------------------------------------------------
# input validation
# ---------------------------------------------------------------------------------------


def _label(values: Any, pos: int) -> str:
    """Position, plus the index label when the caller passed a pandas object."""
    if isinstance(values, (pd.Series, pd.Index)) and not isinstance(values.index, pd.RangeIndex):
        return f"position {pos} (index label {values.index[pos]!r})"
    return f"position {pos}"


def _complain(func: str, name: str, values: Any, bad: np.ndarray, arr: np.ndarray, what: str, fix: str):
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
        _complain(func, name, values, bad, arr, "which is not a number",
                  f"Convert {name} to numbers before fitting.")
    return out


def _validate(
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
        _complain(func, "time", time, bad, t, "a missing lifetime",
                  "Drop the lives whose length is unknown (or fill them) before fitting.")
    bad = ~np.isfinite(t) | (t <= 0)
    if bad.any():
        _complain(func, "time", time, bad, t, "but lifetimes must be finite and > 0",
                  "Drop or correct those records: a zero or negative life usually means swapped "
                  "or equal start/end dates; an infinite one is better entered as censored at the "
                  "as-of age.")

    f = _to_float(func, "failed", failed, f_raw)
    bad = np.isnan(f) | ((f != 0) & (f != 1))
    if bad.any():
        _complain(func, "failed", failed, bad, f, "but failed must be 0 or 1",
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
            _complain(func, "weights", weights, bad, w, "but weights must be finite and >= 0",
                      "Use 0 to leave a life out and a count (e.g. 3) for identical lives.")
    return t, f, w


def _validate_level(func: str, level: float) -> float:
    try:
        lv = float(level)
    except (TypeError, ValueError):
        raise ValueError(f"{func}: level is {level!r}; pass a confidence level such as 0.95") from None
    if not 0.0 < lv < 1.0:
        raise ValueError(f"{func}: level is {level!r} but must be strictly between 0 and 1 (e.g. 0.95)")
    return lv


def _validate_codes(func: str, name: str, codes: Any, n_expected: int | None, size_name: str,
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
            _complain(func, name, codes, bad, raw, f"but {name} must be integer codes",
                      f"Encode {name} with pandas.factorize (codes 0..{count_name}-1).")
        raw = as_f
    c = raw.astype(np.int64)
    bad = c < 0
    if bad.any():
        _complain(func, name, codes, bad, c, f"but {name} codes must be >= 0",
                  f"Encode {name} with pandas.factorize (codes 0..{count_name}-1).")
    if n_codes is None:
        n = int(c.max()) + 1 if c.size else 0
    else:
        n = int(n_codes)
        if n < 0:
            raise ValueError(f"{func}: {count_name} is {n_codes!r} but must be >= 0")
        bad = c >= n
        if bad.any():
            _complain(func, name, codes, bad, c, f"but {count_name} is {n} so codes must be < {n}",
                      f"Raise {count_name} or recode {name} to 0..{count_name}-1.")
    return c, n


def _per_group(func: str, name: str, values: Any, n: int, *, positive: bool = True) -> np.ndarray:
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
            _complain(func, name, values, bad, arr, f"but a {name} must be finite and > 0",
                      f"Pass a positive {name}, or NaN to have it estimated.")
    return arr


# ---------------------------------------------------------------------------------------
# the vectorised engine
# ---------------------------------------------------------------------------------------


def _group_setup(g: np.ndarray, t: np.ndarray, d: np.ndarray, w: np.ndarray, G: int) -> dict:
    """Per-group sufficient pieces. Log-times are shifted by the group maximum so that
    exp(k * L) <= 1 for every k: no overflow for any shape or time unit (rescaling)."""
    keep = w > 0
    if not keep.all():
        g, t, d, w = g[keep], t[keep], d[keep], w[keep]
    logt = np.log(t)
    m = np.full(G, -np.inf)
    np.maximum.at(m, g, logt)
    L = logt - m[g]
    wd = w * d
    r = np.bincount(g, wd, G)
    n_cens = np.bincount(g, w - wd, G)
    fail = d > 0
    fmin = np.full(G, np.inf)
    fmax = np.full(G, -np.inf)
    np.minimum.at(fmin, g[fail], logt[fail])
    np.maximum.at(fmax, g[fail], logt[fail])
    return {
        "g": g, "w": w, "d": d, "logt": logt, "L": L, "M": m, "wd": wd,
        "r": r, "n_cens": n_cens,
        "SL": np.bincount(g, wd * L, G),          # sum of w*delta*L (shifted log-times)
        "SLog": np.bincount(g, wd * logt, G),     # sum of w*delta*log t (original units)
        "has_data": np.bincount(g, w, G) > 0,
        "multi": fmax > fmin,                     # >= 2 distinct failure times
    }


def _shape_search(
    L: np.ndarray, w: np.ndarray, g: np.ndarray, G: int, pool: np.ndarray, P: int,
    r: np.ndarray, SL: np.ndarray, k0: np.ndarray, active: np.ndarray,
    r_log: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Maximise the profile log-likelihood of a shape shared by the groups of each pool.

    With the scale of every group profiled out (eta_g**k = sum w t**k / r_g), the log-likelihood
    of pool p is, up to a constant, ``sum_g r_g log k - r_g log(sum w t**k) + k SL_g``. Its score is
    ``R/k - sum_g r_g m_g(k) + SL`` and its second derivative ``-R/k**2 - sum_g r_g v_g(k)`` where
    m_g, v_g are the mean and variance of log t under weights w t**k: strictly concave in k, so the
    score has at most one root and bisection on its sign is always valid. Newton steps are
    taken when they stay inside the current bracket, else the bracket is bisected in log k; all
    pools iterate together with a convergence mask. A plain group fit is the case pool = group.
    ``r_log`` (per pool) replaces the coefficient ``R`` of ``log k`` (e.g. ``r - 1`` for the
    Cox-Reid adjusted profile likelihood of a group's shape); it must stay > 0.
    """
    k = np.where(active, k0, 1.0).astype(float)
    lo = np.zeros(P)
    hi = np.full(P, np.inf)
    R = np.bincount(pool, r, P) if r_log is None else r_log
    SLp = np.bincount(pool, SL, P)
    done = ~active
    n_iter = np.zeros(P, dtype=np.int64)
    rows_g = g
    rows_L = L
    rows_w = w
    for _ in range(_MAX_ITER):
        if done.all():
            break
        # Only the rows of pools still iterating: cheaper as pools converge.
        row_active = ~done[pool[rows_g]]
        if row_active.mean() < 0.5:
            rows_g, rows_L, rows_w = rows_g[row_active], rows_L[row_active], rows_w[row_active]
        kr = k[pool[rows_g]]
        x = rows_w * np.exp(kr * rows_L)
        A0 = np.bincount(rows_g, x, G)
        A1 = np.bincount(rows_g, x * rows_L, G)
        A2 = np.bincount(rows_g, x * rows_L * rows_L, G)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(A0 > 0, A1 / A0, 0.0)
            var = np.where(A0 > 0, np.maximum(A2 / A0 - mean * mean, 0.0), 0.0)
        rm = np.bincount(pool, r * mean, P)
        rv = np.bincount(pool, r * var, P)
        score = R / k - rm + SLp
        curv = -R / (k * k) - rv  # < 0 wherever R > 0
        upd = ~done
        n_iter[upd] += 1
        pos = score > 0
        lo = np.where(upd & pos, k, lo)
        hi = np.where(upd & ~pos, k, hi)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            newton = k - score / curv
            ok = np.isfinite(newton) & (newton > lo) & (newton < hi)
            bis = np.where(np.isinf(hi), np.maximum(lo, k) * 4.0,
                           np.where(lo > 0, np.sqrt(lo * hi), hi / 4.0))
        k_new = np.where(ok, newton, bis)
        step = np.abs(k_new - k)
        converged_now = upd & ((step <= _SHAPE_RTOL * k) | (score == 0)
                               | (np.isfinite(hi) & ((hi - lo) <= _SHAPE_RTOL * hi)))
        runaway = upd & (k_new > _SHAPE_MAX)
        k = np.where(upd & ~converged_now & ~runaway, k_new, k)
        done = done | converged_now | runaway
    converged = done & (k <= _SHAPE_MAX) & active
    return k, converged, n_iter, active & ~converged


def _scale_and_stats(S: dict, k_g: np.ndarray, G: int) -> dict:
    """Given a shape per group, the profile scale, log-likelihood and observed information."""
    g, w, L, logt = S["g"], S["w"], S["L"], S["logt"]
    r, M = S["r"], S["M"]
    kr = k_g[g]
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        x = w * np.exp(kr * L)
        A0 = np.bincount(g, np.nan_to_num(x), G)
        logA0 = np.log(A0)
        log_T = k_g * M + logA0                     # log of sum w t**k, original units
        log_eta = M + (logA0 - np.log(r)) / k_g     # NaN/inf where r == 0
        # z = (t/eta)**k = x * r / A0, y = log t - log eta
        y = logt - log_eta[g]
        z = x * (r / A0)[g]
        B1 = np.bincount(g, np.nan_to_num(z * y), G)  # z already carries w
        B2 = np.bincount(g, np.nan_to_num(z * y * y), G)
        loglik = r * np.log(k_g) - r * k_g * log_eta + (k_g - 1.0) * S["SLog"] - r
        # mean of log t under weights w t**k: d log eta(k) / d log k = mean_logt - log eta
        mean_logt = M + np.bincount(g, np.nan_to_num(x * L), G) / A0
    return {"log_T": log_T, "log_eta": log_eta, "B1": B1, "B2": B2, "loglik": loglik,
            "mean_logt": mean_logt}


# ---------------------------------------------------------------------------------------
# profile-likelihood (likelihood-ratio) intervals of maximum-likelihood fits
# ---------------------------------------------------------------------------------------


class _Rows:
    """The rows of a set of *items* (a group, or one side of a group's interval), with the
    subset of rows of still-active items refreshed when it halves (as in _shape_search)."""

    def __init__(self, item: np.ndarray, L: np.ndarray, w: np.ndarray, n_items: int):
        self.all = (item, L, w)
        self.item, self.L, self.w, self.n = item, L, w, n_items
        self.covered = np.ones(n_items, bool)     # items whose rows are all in the subset

    def sums(self, k_item: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``A0 = sum w exp(k L)`` and ``A1 = sum w L exp(k L)`` per item (active items only)."""
        if (active & ~self.covered).any():         # a new search: start from all rows again
            self.item, self.L, self.w = self.all
            self.covered = np.ones(self.n, bool)
        row_active = active[self.item]
        if row_active.mean() < 0.5:
            self.item, self.L, self.w = self.item[row_active], self.L[row_active], self.w[row_active]
            self.covered = active.copy()
        with np.errstate(over="ignore", invalid="ignore"):
            x = self.w * np.exp(k_item[self.item] * self.L)
        return np.bincount(self.item, x, self.n), np.bincount(self.item, x * self.L, self.n)


def _solve_v(s: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """The root of ``v + exp(-v) = s`` (``s >= 1``) on the positive or the negative branch, i.e.
    ``v = s + W(-exp(-s))`` with Lambert's W on its principal (positive ``v``) or ``-1`` branch.
    Newton's method from the series ``v = p + p**2/3 + p**3/36``, ``p = +-sqrt(2 (s - 1))``
    (exact to ``O(p**4)`` near the branch point); ``v + exp(-v)`` is convex, so the iterates
    approach the root monotonically after the first step."""
    with np.errstate(invalid="ignore"):
        p = np.sqrt(2.0 * np.maximum(s - 1.0, 0.0)) * np.where(positive, 1.0, -1.0)
        v = p + p * p / 3.0 + p ** 3 / 36.0
    for _ in range(6):
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            e = np.exp(-v)
            step = (v + e - s) / (1.0 - e)
        v = np.where(np.isfinite(step) & (v != 0.0), v - step, v)
    return v


def _root_bracketed(fun, a: np.ndarray, b: np.ndarray, fa: np.ndarray, fb: np.ndarray,
                    x0: np.ndarray | None = None, tol: float = 1e-10,
                    max_iter: int = 100) -> np.ndarray:
    """Root of ``fun`` in ``[a, b]`` for many items at once, given ``fa < 0 < fb`` (end values
    may be infinite). ``fun(x, active) -> (value, slope or None)``. Each step takes, in order of
    preference, a Newton step (when a slope is given), a secant or regula falsi step with the Illinois
    modification, or the midpoint -- whichever first lands strictly inside the bracket, which
    then shrinks around the root. Without a slope, the secant through the last two points
    comes before regula falsi. ``x0`` is an optional first guess."""
    a, b, fa, fb = a.copy(), b.copy(), fa.copy(), fb.copy()
    last = np.zeros(a.size, np.int8)            # which end was replaced last: -1 a, +1 b
    x = 0.5 * (a + b) if x0 is None else np.where((x0 > a) & (x0 < b), x0, 0.5 * (a + b))
    # the previous point, for a plain secant step while one end value is still infinite
    x_prev, f_prev = np.where(np.isfinite(fa), a, b), np.where(np.isfinite(fa), fa, fb)
    active = (b - a) > tol * (1.0 + np.abs(a))
    for _ in range(max_iter):
        if not active.any():
            break
        fx, dfx = fun(x, active)
        neg = active & (fx < 0)
        pos = active & (fx > 0)
        fb = np.where(neg & (last == -1), 0.5 * fb, fb)
        fa = np.where(pos & (last == 1), 0.5 * fa, fa)
        a, fa = np.where(neg, x, a), np.where(neg, fx, fa)
        b, fb = np.where(pos, x, b), np.where(pos, fx, fb)
        last = np.where(neg, -1, np.where(pos, 1, last)).astype(np.int8)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            falsi = b - fb * (b - a) / (fb - fa)
            sec = x - fx * (x - x_prev) / (fx - f_prev)
            newton = x - fx / dfx if dfx is not None else np.full(x.size, np.nan)
        x_prev, f_prev = np.where(active, x, x_prev), np.where(active, fx, f_prev)
        inside_n = np.isfinite(newton) & (newton > a) & (newton < b)
        inside_s = np.isfinite(sec) & (sec > a) & (sec < b)
        inside_f = np.isfinite(falsi) & (falsi > a) & (falsi < b)
        x_new = np.where(inside_n, newton, np.where(inside_s, sec, np.where(inside_f, falsi, 0.5 * (a + b))))
        done = active & (~(neg | pos) | (np.abs(x_new - x) <= tol * (1.0 + np.abs(x)))
                         | ((b - a) <= tol * (1.0 + np.abs(x))))
        x = np.where(active & ~done, x_new, x)
        active &= ~done
    return x


def _profile_bounds(
    S: dict, st: dict, k_hat: np.ndarray, var_b: np.ndarray, var_a: np.ndarray,
    cov_ab: np.ndarray, m: np.ndarray, G: int, level: float,
) -> tuple[np.ndarray, ...]:
    """Likelihood-ratio (profile-likelihood) intervals of shape and scale of the groups in ``m``.

    The interval of a parameter is the set of its values whose profile log-likelihood is
    within ``chi2_level(1) / 2`` of the maximum (Lawless 2003, sec. 5.2; Meeker & Escobar
    1998, sec. 8.3). With ``b = log k`` and shifted log-times ``L`` (see _group_setup):

    * shape: the profile is ``f(b) = r b - r log sum w exp(k L) + k SL`` (+ constant), concave in
      ``k``; its two crossings of ``f(b_hat) - q/2`` are found by safeguarded Newton steps.
    * scale: for fixed ``k`` the log-likelihood in ``u = log eta`` is
      ``lp(k) - r h(v)`` with ``v = k u - log(sum w t**k / r)`` and ``h(v) = v + exp(-v) - 1``, so
      the values of ``u`` allowed at ``k`` form ``[u_-(k), u_+(k)]`` where ``v_+-`` solve
      ``v + exp(-v) = s``, ``s = 1 + (lp(k) - lp_max + q/2) / r`` (``v = s + W(-exp(-s))`` on the
      two real branches of Lambert's W). The scale's profile interval is the union over the
      shape's interval, ``[min u_-(k), max u_+(k)]``; each extremum is the root of ``du/db``,
      found by regula falsi (Illinois) from the Wald ellipse's extreme.

    Wald intervals (from the observed information) are kept where a search does not
    converge. Returns ``k_lo, k_hi, eta_lo, eta_hi`` (arrays of length G, NaN outside ``m``).
    """
    q2 = stats.chi2.ppf(level, 1) / 2.0
    z = stats.norm.ppf(0.5 + level / 2.0)
    idx = np.flatnonzero(m)
    n = idx.size
    out = tuple(np.full(G, np.nan) for _ in range(4))
    if n == 0:
        return out
    pos_of = np.full(G, -1)
    pos_of[idx] = np.arange(n)
    sel = m[S["g"]]
    g_rows, L_rows, w_rows = pos_of[S["g"][sel]], S["L"][sel], S["w"][sel]
    r, SL, M = S["r"][idx], S["SL"][idx], S["M"][idx]
    bh = np.log(k_hat[idx])
    sb = np.sqrt(var_b[idx])

    # two items per group: side 0 = lower end, side 1 = upper end
    item = np.concatenate([g_rows, g_rows + n])
    rows = _Rows(item, np.concatenate([L_rows, L_rows]), np.concatenate([w_rows, w_rows]), 2 * n)
    r2, SL2, M2, bh2 = (np.tile(v, 2) for v in (r, SL, M, bh))
    upper = np.r_[np.zeros(n, bool), np.ones(n, bool)]

    def f_of(b, active):
        k = np.exp(b)
        A0, A1 = rows.sums(k, active)
        with np.errstate(divide="ignore", invalid="ignore"):
            f = r2 * b - r2 * np.log(A0) + k * SL2
            df = r2 - r2 * k * A1 / A0 + k * SL2
        return f, df, A0, A1

    all2 = np.ones(2 * n, bool)
    # at the MLE, from the fit's sums: log A0 = log T - k M
    kh2 = np.exp(bh2)
    log_A0_hat = np.tile(st["log_T"][idx], 2) - kh2 * M2
    f_hat = r2 * bh2 - r2 * log_A0_hat + kh2 * SL2
    cut = f_hat - q2

    # --- shape: Newton in k on each side. f is concave in k, so every tangent lies above it
    # and from the second step on the iterates approach each crossing monotonically from
    # outside the interval (no bracket needed; a step to k <= 0 is replaced by k / 4).
    kk = kh2 * np.exp(np.where(upper, z, -z) * np.tile(sb, 2))   # Wald ends
    active = all2.copy()
    df_root = np.full(2 * n, np.nan)              # df/db at the crossings
    for _ in range(100):
        if not active.any():
            break
        f, df = f_of(np.log(kk), active)[:2]
        df_root = np.where(active, df, df_root)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            k_new = kk - (f - cut) / (df / kk)
        k_new = np.where(np.isfinite(k_new), np.where(k_new > 0, k_new, kk / 4.0), np.nan)
        conv = np.abs(k_new - kk) <= 1e-13 * kk
        kk = np.where(active, k_new, kk)
        active &= ~conv & np.isfinite(kk)
    bk = np.log(kk)
    ok_k = ~active & np.isfinite(bk) & np.where(upper, bk > bh2, bk < bh2)
    ok_k = np.tile(ok_k[:n] & ok_k[n:], 2)
    b_lo, b_hi = bk[:n], bk[n:]
    wald_b = bh2 + np.where(upper, z, -z) * np.tile(sb, 2)

    # --- scale: extremes of u_+-(k) over the shape's interval --------------------------------
    # side 1: max of u_+ (positive branch of v); side 0: min of u_- (negative branch)
    u_last = np.full(2 * n, np.nan)               # u - M at the last point evaluated

    def u_and_slope(x, active):
        f, df, A0, A1 = f_of(x, active)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            k = np.exp(x)
            s = np.maximum(1.0 + (f - cut) / r2, 1.0)
            v = _solve_v(s, upper)
            u_m = (v + np.log(A0) - np.log(r2)) / k          # u - M
            dv = 1.0 / (1.0 - s + v)                          # dv/ds, from v + exp(-v) = s
            slope = dv * (df / r2) / k + A1 / A0 - u_m        # sign of du/db
        u_last[active] = u_m[active]
        return slope

    # Search in theta, b = mid + half sin(theta): near the ends of the shape's interval v grows
    # like sqrt(distance), so du/db is infinite there, but du/dtheta is finite and smooth;
    # its end values follow from the slopes of f at the shape's bounds (alpha = |f'| / r):
    # u_+: +sqrt(alpha_lo half) / k_lo at the lower end, -sqrt(alpha_hi half) / k_hi at the
    # upper end; u_- the opposite. So regula falsi works on finite values from the start.
    mid = np.tile(0.5 * (b_lo + b_hi), 2)
    half = np.tile(0.5 * (b_hi - b_lo), 2)
    end_lo = np.sqrt(np.tile(np.abs(df_root[:n]) / r, 2) * half) / np.tile(np.exp(b_lo), 2)
    end_hi = np.sqrt(np.tile(np.abs(df_root[n:]) / r, 2) * half) / np.tile(np.exp(b_hi), 2)
    sgn2 = np.where(upper, -1.0, 1.0)             # oriented: negative at -pi/2, positive at pi/2
    fa2 = sgn2 * np.where(upper, end_lo, -end_lo)
    fb2 = sgn2 * np.where(upper, -end_hi, end_hi)

    def theta_fun(th, active):
        return sgn2 * u_and_slope(mid + half * np.sin(th), active) * half * np.cos(th), None

    # first guess: where the Wald ellipse of (log eta, log k) reaches its extreme log eta
    guess = bh2 + np.where(upper, 1.0, -1.0) * z * np.tile(cov_ab[idx] / np.sqrt(var_a[idx]), 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        th0 = np.arcsin(np.clip((guess - mid) / half, -0.95, 0.95))
    ok_k &= half > 0
    _root_bracketed(theta_fun, np.full(2 * n, -np.pi / 2), np.full(2 * n, np.pi / 2), fa2, fb2,
                    x0=np.where(ok_k, th0, 0.0), tol=1e-8)
    u_m = u_last
    ok_u = ok_k & np.isfinite(u_m)

    la = np.tile(st["log_eta"][idx], 2)
    sa = np.tile(np.sqrt(var_a[idx]), 2)
    wald_u = np.where(upper, la + z * sa, la - z * sa)
    b_fin = np.where(ok_k, bk, wald_b)
    u_fin = np.where(ok_u, M2 + u_m, wald_u)
    k_lo, k_hi, e_lo, e_hi = out
    k_lo[idx], k_hi[idx] = np.exp(b_fin[:n]), np.exp(b_fin[n:])
    e_lo[idx], e_hi[idx] = np.exp(u_fin[:n]), np.exp(u_fin[n:])
    return k_lo, k_hi, e_lo, e_hi


def _fit_core(
    group: np.ndarray, t: np.ndarray, d: np.ndarray, w: np.ndarray, G: int,
    shape: np.ndarray | None, level: float, fixed_ci: str = "chi2", ml_ci: str = "profile",
    shape_log_se: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """All groups at once; returns a dict of per-group arrays (the _GROUP_COLUMNS).

    ``ml_ci``: ``"profile"`` (likelihood-ratio) or ``"wald"`` intervals for ML fits.
    ``shape_log_se``: standard error of the log of a given shape (NaN or 0: known exactly);
    it widens the given-shape scale intervals by the delta method (see fit_weibull_groups).
    """
    S = _group_setup(group, t, d, w, G)
    r, has = S["r"], S["has_data"]
    given = np.zeros(G, bool) if shape is None else ~np.isnan(shape)
    want_mle = has & ~given & (r > 0) & S["multi"]

    # Starting shape from the spread of log failure times (Menon 1963: k ~ pi/sqrt(6)/sd).
    wd, Lf = S["wd"], S["L"]
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.bincount(S["g"], wd * Lf, G) / r
        sd = np.sqrt(np.bincount(S["g"], wd * (Lf - mu[S["g"]]) ** 2, G) / r)
        k0 = np.clip(np.where(sd > 0, 1.2825 / sd, 1.0), 1e-2, 1e2)
    k0 = np.where(np.isfinite(k0), k0, 1.0)
    ident = np.arange(G)
    k_hat, conv, n_iter, _ = _shape_search(S["L"], S["w"], S["g"], G, ident, G, r, S["SL"],
                                           k0, want_mle)

    k_g = np.full(G, np.nan)
    k_g[want_mle] = k_hat[want_mle]
    if shape is not None:
        k_g[given] = shape[given]
    st = _scale_and_stats(S, np.where(np.isnan(k_g), 1.0, k_g), G)

    z = stats.norm.ppf(0.5 + level / 2.0)
    out: dict[str, np.ndarray] = {}
    method = np.full(G, "mle", dtype=object)
    method[has & ~given & (r <= 0)] = "no-failures"
    method[has & ~given & (r > 0) & ~S["multi"]] = "single-failure-time"
    method[has & given & (r > 0)] = "weibayes"
    method[has & given & (r <= 0)] = "weibayes-zero-failure"
    method[~has] = "no-data"
    out["method"] = method
    converged = np.where(want_mle, conv, has & given)
    out["converged"] = converged
    out["n_iter"] = np.where(want_mle, n_iter, 0)
    out["n_failures"] = r
    out["n_censored"] = S["n_cens"]

    nan = np.full(G, np.nan)
    shape_o, scale_o = nan.copy(), nan.copy()
    se_k, se_e, k_lo, k_hi, e_lo, e_hi, cov = (nan.copy() for _ in range(7))
    loglik, rate_up = nan.copy(), nan.copy()

    # --- maximum likelihood: observed information in (log eta, log k) at the MLE ---------
    m = want_mle & conv
    if m.any():
        k = k_g[m]
        rr = r[m]
        B1, B2 = st["B1"][m], st["B2"][m]
        # I_aa = k^2 r, I_ab = -k^2 B1, I_bb = r + k^2 B2  (a = log eta, b = log k);
        # sum w z = r at the MLE, which is what makes these short.
        det = k * k * (rr * rr + k * k * np.maximum(rr * B2 - B1 * B1, 0.0))
        var_a = (rr + k * k * B2) / det
        var_b = k * k * rr / det
        cov_ab = k * k * B1 / det
        la = st["log_eta"][m]
        lb = np.log(k)
        shape_o[m], scale_o[m] = k, np.exp(la)
        se_k[m], se_e[m] = k * np.sqrt(var_b), np.exp(la) * np.sqrt(var_a)
        cov[m] = cov_ab
        loglik[m] = st["loglik"][m]
        if ml_ci == "profile":
            # Likelihood-ratio intervals: Wald intervals on the log scale under-cover with
            # few failures and heavy censoring (the scale is then an extrapolation).
            vb, va, cv = np.full(G, np.nan), np.full(G, np.nan), np.full(G, np.nan)
            vb[m], va[m], cv[m] = var_b, var_a, cov_ab
            pk_lo, pk_hi, pe_lo, pe_hi = _profile_bounds(S, st, k_g, vb, va, cv, m, G, level)
            k_lo[m], k_hi[m], e_lo[m], e_hi[m] = pk_lo[m], pk_hi[m], pe_lo[m], pe_hi[m]
        else:
            k_lo[m], k_hi[m] = np.exp(lb - z * np.sqrt(var_b)), np.exp(lb + z * np.sqrt(var_b))
            e_lo[m], e_hi[m] = np.exp(la - z * np.sqrt(var_a)), np.exp(la + z * np.sqrt(var_a))
    out["converged"] = converged

    # --- given shape: the scale is exact ML given k; chi-square bounds (Nelson 1982) -------
    gv = has & given
    if gv.any():
        k = k_g[gv]
        rr = r[gv]
        logT = st["log_T"][gv]
        pos = rr > 0
        shape_o[gv] = k
        with np.errstate(divide="ignore", invalid="ignore"):
            la = st["log_eta"][gv]
            if fixed_ci == "wald":
                sa = 1.0 / (k * np.sqrt(rr))
                lo_e = np.exp(la - z * sa)
                hi_e = np.exp(la + z * sa)
            else:
                # lambda in [chi2_{a/2}(2r) / 2T, chi2_{1-a/2}(2r+2) / 2T]; eta = lambda**(-1/k)
                a2 = (1.0 - level) / 2.0
                log_lam_lo = np.log(stats.chi2.ppf(a2, 2.0 * rr) / 2.0) - logT
                log_lam_hi = np.log(stats.chi2.ppf(1.0 - a2, 2.0 * rr + 2.0) / 2.0) - logT
                lo_e = np.exp(-log_lam_hi / k)
                hi_e = np.exp(-log_lam_lo / k)
            # zero failures: one-sided bound at `level`, chi-square with 2 dof
            log_lam_up1 = np.log(stats.chi2.ppf(level, 2.0 * rr + 2.0) / 2.0) - logT
            eta_bound = np.exp(-log_lam_up1 / k)
            scale_o[gv] = np.where(pos, np.exp(la), eta_bound)
            se_log_e = 1.0 / (k * np.sqrt(np.where(pos, rr, 1.0)))
            e_lo[gv] = np.where(pos, lo_e, eta_bound)
            e_hi[gv] = np.where(pos, hi_e, np.inf)
            loglik[gv] = np.where(pos, st["loglik"][gv], np.nan)
            # A shape known only up to a standard error s (on log k) moves the scale by
            # d log eta / d log k = mean_k(log t) - log eta per unit of log k (delta method):
            # add z*d*s in quadrature to each side's half-width on the log scale; a
            # zero-failure bound (no estimate to centre on) moves down by z*|d|*s.
            s_k = np.zeros(k.size) if shape_log_se is None else np.nan_to_num(shape_log_se[gv])
            dk = st["mean_logt"][gv] - np.log(scale_o[gv])
            extra = (z * dk * s_k) ** 2
            log_s = np.log(scale_o[gv])
            wide_lo = log_s - np.sqrt((log_s - np.log(e_lo[gv])) ** 2 + extra)
            wide_hi = log_s + np.sqrt((np.log(e_hi[gv]) - log_s) ** 2 + extra)
            e_lo[gv] = np.exp(np.where(pos, wide_lo, log_s - z * np.abs(dk) * s_k))
            e_hi[gv] = np.where(pos, np.exp(wide_hi), np.inf)
            se_k[gv] = k * s_k           # 0: treated as known
            k_lo[gv] = k * np.exp(-z * s_k)
            k_hi[gv] = k * np.exp(z * s_k)
            cov[gv] = dk * s_k * s_k
            se_e[gv] = np.where(pos, scale_o[gv] * np.sqrt(se_log_e ** 2 + (dk * s_k) ** 2), np.nan)

    # --- upper bound on the rate, conditional on the shape used --------------------------
    have_k = ~np.isnan(shape_o)
    if have_k.any():
        rr = r[have_k]
        lu = np.log(stats.chi2.ppf(level, 2.0 * rr + 2.0) / 2.0) - st["log_T"][have_k]
        with np.errstate(over="ignore"):
            rate_up[have_k] = np.exp(lu)

    out.update(shape=shape_o, scale=scale_o, se_shape=se_k, se_scale=se_e, shape_lower=k_lo,
               shape_upper=k_hi, scale_lower=e_lo, scale_upper=e_hi, cov_log_shape_scale=cov,
               rate_upper=rate_up, loglik=loglik)
    return out


def _frame(out: dict[str, np.ndarray], G: int) -> pd.DataFrame:
    df = pd.DataFrame({c: out[c] for c in _GROUP_COLUMNS}, index=pd.RangeIndex(G, name="group"))
    df["method"] = df["method"].astype(str)
    df["converged"] = df["converged"].astype(bool)
    df["n_iter"] = df["n_iter"].astype(np.int64)
    return df


def fit_weibull_groups(
    group: Any,
    time: Any,
    failed: Any,
    weights: Any = None,
    n_groups: int | None = None,
    shape: Any = None,
    level: float = 0.95,
    shape_log_se: Any = None,
) -> pd.DataFrame:
    """Fit a Weibull model to every group at once (vectorised; no Python loop over groups).

    Each group is fitted by exact maximum likelihood with right censoring, or -- where a
    shape is given -- by Weibayes (the scale's maximum likelihood given the shape). All groups
    iterate together: the scale is profiled out in closed form and the concave profile
    log-likelihood of each group's shape is maximised by Newton steps with a per-group
    bracket and bisection fallback (see :func:`fit_weibull` for the formulas); the sums are
    ``np.bincount`` over the group codes.

    Parameters
    ----------
    group : array of int, shape (n,)
        Group code of every life, 0..G-1 (e.g. from ``pandas.factorize``).
    time : array of float, shape (n,)
        Lifetimes, finite and > 0.
    failed : array of {0, 1} or bool, shape (n,)
        1 for a failure, 0 for a right-censored life.
    weights : array of float, shape (n,), optional
        Non-negative frequency weights; rows with weight 0 are ignored.
    n_groups : int, optional
        Number of groups G (default ``max(group) + 1``); groups without rows get
        ``method = "no-data"``.
    shape : float or array of float, shape (G,), optional
        A known or borrowed shape per group. Where given (not NaN), only the scale is
        estimated: ``"weibayes"`` or, with no failures, ``"weibayes-zero-failure"``. Where NaN,
        the shape is estimated. Pass a pooled shape here to fit separate scales under a
        shared shape (see :func:`pooled_shape`).
    level : float, default 0.95
        Confidence level of the intervals and of the one-sided ``rate_upper``.
    shape_log_se : float or array of float, shape (G,), optional
        Standard error of ``log(shape)`` where a shape is given but only estimated (e.g.
        ``borrowed_shape(...)["se_log_shape"]``); NaN or 0 means known exactly. The shape's
        interval becomes ``shape * exp(+/- z se)`` and the scale's interval widens by the delta
        method: the scale given ``k`` moves by ``d = d log eta / d log k = mean_k(log t) - log eta``
        (``mean_k`` weighted by ``w t**k``) per unit of ``log k``, so ``z |d| se`` is added in
        quadrature to each side's half-width on the log scale (to a zero-failure bound, it is
        subtracted). The point estimates do not change.

    Returns
    -------
    DataFrame
        Indexed 0..G-1 (``group``), columns:

        ``method``
            ``"mle"``, ``"weibayes"``, ``"weibayes-zero-failure"``, ``"no-failures"``,
            ``"single-failure-time"`` or ``"no-data"`` (see the module docstring).
        ``converged``, ``n_iter``
            Whether the shape search converged, and its iterations.
        ``n_failures``, ``n_censored``
            Weighted counts.
        ``shape``, ``scale``
            Estimates; NaN where not estimable (methods ``"no-failures"``,
            ``"single-failure-time"``, ``"no-data"``) -- borrow a shape for those groups.
        ``se_shape``, ``se_scale``
            Standard errors (observed information, delta method from the log scale); the
            shape's is ``shape * shape_log_se`` (0 when the shape is known) for a given shape.
        ``shape_lower``, ``shape_upper``, ``scale_lower``, ``scale_upper``
            Two-sided intervals at ``level``. For ``"mle"``: likelihood-ratio (profile
            likelihood) intervals -- every value whose profile log-likelihood is within
            ``chi2_level(1) / 2`` of the maximum (Lawless 2003, sec. 5.2; Meeker & Escobar 1998,
            sec. 8.3); Wald intervals on the log scale under-cover with few failures and heavy
            censoring, where the scale is an extrapolation. For Weibayes: the chi-square
            interval of the rate (2r and 2r+2 degrees of freedom) given the shape, widened by
            ``shape_log_se``; for zero failures the one-sided lower bound of the scale (upper
            = inf).
        ``cov_log_shape_scale``
            Covariance of (log shape, log scale) estimates.
        ``rate_upper``
            One-sided upper confidence bound on the rate ``lambda = scale**-shape`` given the
            shape: ``chi2_level(2r + 2) / (2 sum w t**shape)``.
        ``loglik``
            Log-likelihood (of the time density) at the estimates; NaN without failures.

    See Also
    --------
    fit_weibull : the same fit for one data set, returned as a :class:`WeibullFit`.
    pooled_shape, shrink_scale : borrowing strength across groups.
    """
    func = "fit_weibull_groups"
    t, d, w = _validate(func, time, failed, weights, allow_empty=True)
    g, G = _validate_codes(func, "group", group, t.shape[0], "time", n_groups, "n_groups")
    lv = _validate_level(func, level)
    k_given = None if shape is None else _per_group(func, "shape", shape, G)
    se_given = None
    if shape_log_se is not None:
        se_given = _per_group(func, "shape_log_se", shape_log_se, G, positive=False)
        bad = ~np.isnan(se_given) & ~(np.isfinite(se_given) & (se_given >= 0))
        if bad.any():
            _complain(func, "shape_log_se", shape_log_se, bad, se_given,
                      "but a standard error must be finite and >= 0", "Pass NaN or 0 for a known shape.")
    return _frame(_fit_core(g, t, d, w, G, k_given, lv, shape_log_se=se_given), G)


# ---------------------------------------------------------------------------------------
# single data set
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeibullFit:
    """A fitted Weibull (or exponential) lifetime model for one data set.

    ``S(t) = exp(-(t / scale) ** shape)``; ``rate = scale ** -shape``.

    Attributes
    ----------
    distribution : str
        ``"weibull"`` or ``"exponential"``.
    method : str
        ``"mle"``, ``"weibayes"``, ``"weibayes-zero-failure"``, ``"no-failures"`` or
        ``"single-failure-time"`` (see the module docstring).
    shape, scale : float
        Estimates (NaN when not estimable).
    se_shape, se_scale : float
        Standard errors (0 for a shape that was given).
    shape_lower, shape_upper, scale_lower, scale_upper : float
        Confidence intervals at ``level`` (likelihood-ratio for ML; chi-square for
        Weibayes; one-sided for zero failures).
    cov_log_shape_scale : float
        Covariance of the (log shape, log scale) estimates.
    rate_upper : float
        One-sided upper confidence bound on the rate given the shape.
    loglik : float
        Log-likelihood of the time density at the estimates (NaN with no failures).
    n_failures, n_censored : float
        Weighted counts.
    level : float
        Confidence level of the intervals.
    converged : bool
    n_iter : int
    """

    distribution: str
    method: str
    shape: float
    scale: float
    se_shape: float
    se_scale: float
    shape_lower: float
    shape_upper: float
    scale_lower: float
    scale_upper: float
    cov_log_shape_scale: float
    rate_upper: float
    loglik: float
    n_failures: float
    n_censored: float
    level: float
    converged: bool
    n_iter: int

    # -- derived quantities ------------------------------------------------------------
    @property
    def rate(self) -> float:
        """The rate ``lambda = scale ** -shape`` (cumulative hazard ``lambda * t**shape``)."""
        return float(self.scale ** -self.shape)

    @property
    def n_params(self) -> int:
        """Number of estimated parameters (for AIC)."""
        if self.method == "mle":
            return 2 if self.distribution == "weibull" else 1
        return 1

    @property
    def aic(self) -> float:
        """Akaike's information criterion, ``2 p - 2 loglik``."""
        return 2.0 * self.n_params - 2.0 * self.loglik

    @property
    def mean(self) -> float:
        """Mean lifetime, ``scale * Gamma(1 + 1/shape)``."""
        return float(self.scale * special.gamma(1.0 + 1.0 / self.shape))

    def cumulative_hazard(self, t: Any) -> np.ndarray:
        """Cumulative hazard ``(t / scale) ** shape``."""
        return (np.asarray(t, dtype=float) / self.scale) ** self.shape

    def survival(self, t: Any) -> np.ndarray:
        """Survival function ``exp(-(t / scale) ** shape)``."""
        return np.exp(-self.cumulative_hazard(t))

    def cdf(self, t: Any) -> np.ndarray:
        """Probability of failure by ``t``."""
        return -np.expm1(-self.cumulative_hazard(t))

    def hazard(self, t: Any) -> np.ndarray:
        """Hazard rate ``shape / scale * (t / scale) ** (shape - 1)``."""
        tt = np.asarray(t, dtype=float)
        return self.shape / self.scale * (tt / self.scale) ** (self.shape - 1.0)

    def quantile(self, p: Any) -> np.ndarray:
        """Time by which a fraction ``p`` has failed (``p = 0.1`` gives the B10 life)."""
        pp = np.asarray(p, dtype=float)
        return self.scale * (-np.log1p(-pp)) ** (1.0 / self.shape)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)

    def summary(self) -> pd.DataFrame:
        """Estimates with standard errors and intervals, one row per parameter."""
        lv = f"{self.level:.0%}"
        return pd.DataFrame(
            {
                "estimate": [self.shape, self.scale],
                "se": [self.se_shape, self.se_scale],
                f"lower {lv}": [self.shape_lower, self.scale_lower],
                f"upper {lv}": [self.shape_upper, self.scale_upper],
            },
            index=pd.Index(["shape", "scale"], name="parameter"),
        )

    def __str__(self) -> str:
        head = (f"{self.distribution} fit ({self.method}): {self.n_failures:g} failures, "
                f"{self.n_censored:g} censored, log-likelihood {self.loglik:.6g}, "
                f"rate upper bound {self.rate_upper:.4g}")
        return head + "\n" + self.summary().to_string(float_format=lambda v: f"{v:.6g}")


def _result(out: dict[str, np.ndarray], distribution: str, level: float) -> WeibullFit:
    vals = {c: out[c][0] for c in _GROUP_COLUMNS}
    return WeibullFit(
        distribution=distribution, level=level,
        method=str(vals.pop("method")), converged=bool(vals.pop("converged")),
        n_iter=int(vals.pop("n_iter")),
        **{c: float(v) for c, v in vals.items()},
    )


_NOT_ESTIMABLE = {
    "no-failures": "there are no failures, so neither shape nor scale can be estimated",
    "single-failure-time": "all failures happened at one time, so the shape cannot be estimated",
    "no-data": "every weight is zero, so there is nothing to fit",
}


def fit_weibull(time: Any, failed: Any, weights: Any = None, level: float = 0.95) -> WeibullFit:
    """Exact maximum-likelihood Weibull fit with right censoring.

    The log-likelihood with weights ``w`` and failure flags ``d`` is

    ``l(k, eta) = sum w d [log k - k log eta + (k-1) log t] - sum w (t/eta)**k``.

    For fixed shape ``k`` the maximising scale is ``eta(k) = (sum w t**k / r) ** (1/k)``
    (``r = sum w d``), which leaves the profile log-likelihood
    ``lp(k) = r log k - r log(sum w t**k / r) + (k-1) sum w d log t - r``, whose second
    derivative ``-r/k**2 - r Var_k(log t)`` is negative: ``lp`` is strictly concave, so its single
    stationary point is the global maximum (Lawless 2003, sec. 5.2). It is found by Newton
    steps safeguarded by a bracket with bisection in ``log k``. Times are shifted by their
    maximum on the log scale so ``t**k`` never overflows, for any unit or spread of times.
    The maximum exists (finite) exactly when some failure precedes the largest time; with
    fewer than two distinct failure times the shape is reported as not estimable.

    Standard errors come from the observed information in ``(log eta, log k)``. The
    intervals are likelihood-ratio (profile-likelihood) intervals: every shape (scale) whose
    profile log-likelihood, maximised over the other parameter, is within
    ``chi2_level(1) / 2`` of the maximum. Unlike Wald intervals ``exp(log est +/- z se_log)``
    they follow the skewed likelihood of a scale that lies beyond most observed lives (few
    failures, heavy censoring), where Wald intervals cover far less than ``level``
    (Meeker & Escobar 1998, sec. 8.3). See :func:`_profile_bounds` for the computation.

    Parameters
    ----------
    time : array of float
        Lifetimes, finite and > 0.
    failed : array of {0, 1} or bool
        1 for a failure, 0 for a right-censored life.
    weights : array of float, optional
        Non-negative frequency weights.
    level : float, default 0.95
        Confidence level.

    Returns
    -------
    WeibullFit
        ``method == "mle"``; or, when the shape is not estimable (``"no-failures"``,
        ``"single-failure-time"``), NaN shape and scale and a warning telling what to do.

    Raises
    ------
    ValueError
        Bad input: the message names the argument, the position, the value and the fix.

    See Also
    --------
    fit_weibayes : when the shape is known or borrowed (and for zero failures).
    fit_weibull_groups : many groups at once.
    """
    func = "fit_weibull"
    t, d, w = _validate(func, time, failed, weights)
    lv = _validate_level(func, level)
    res = _result(_fit_core(np.zeros(t.shape[0], np.int64), t, d, w, 1, None, lv), "weibull", lv)
    if res.method in _NOT_ESTIMABLE:
        warnings.warn(
            f"fit_weibull: {_NOT_ESTIMABLE[res.method]}; shape and scale are NaN. Borrow a shape "
            "(from the component family, pooled_shape, or engineering knowledge) and call "
            "fit_weibayes(time, failed, shape) for the scale and a bound on the rate.",
            stacklevel=2,
        )
    return res


def fit_weibayes(
    time: Any, failed: Any, shape: float, weights: Any = None, level: float = 0.95
) -> WeibullFit:
    """Weibayes: the Weibull scale given a known or borrowed shape, with chi-square bounds.

    With shape ``k`` known, ``t**k`` is exponential with rate ``lambda = eta**-k``, so with ``r``
    failures and transformed exposure ``T = sum w t**k``:

    * ``r > 0``: ``eta = (T / r) ** (1/k)`` (the maximum-likelihood scale given ``k``);
      the interval at ``level`` maps ``lambda`` in
      ``[chi2_{a/2}(2r) / 2T, chi2_{1-a/2}(2r+2) / 2T]`` (``a = 1 - level``) through
      ``eta = lambda ** (-1/k)``;
    * ``r = 0`` (``"weibayes-zero-failure"``): the one-sided upper bound on the rate is
      ``lambda_U = chi2_level(2) / 2T = -log(1 - level) / T``, so the reported scale is the lower
      bound ``eta_L = (T / -log(1 - level)) ** (1/k)``; ``scale_upper`` is infinite and
      ``loglik`` is NaN. With ``level = 1 - exp(-1) = 0.632`` this is Abernethy's classic
      Weibayes assumption of "one failure about to happen", ``eta = T ** (1/k)``.

    ``rate_upper`` is ``chi2_level(2r + 2) / 2T`` in every case (time-censored data, hence the
    ``2r + 2`` degrees of freedom).

    Sources: Abernethy, R. B., *The New Weibull Handbook*, 5th ed. (2006), ch. 6 (Weibayes);
    Nelson, W., *Applied Life Data Analysis* (1982), ch. 7 sec. 2 (chi-square confidence limits
    for the exponential mean, incl. no failures).

    Parameters
    ----------
    time, failed, weights
        As in :func:`fit_weibull`.
    shape : float
        The known or borrowed Weibull shape, > 0.
    level : float, default 0.95
        Confidence level.

    Returns
    -------
    WeibullFit
        ``method`` is ``"weibayes"`` or ``"weibayes-zero-failure"``.
    """
    func = "fit_weibayes"
    t, d, w = _validate(func, time, failed, weights)
    lv = _validate_level(func, level)
    k = _per_group(func, "shape", shape, 1)
    if np.isnan(k).any():
        raise ValueError(f"{func}: shape is NaN; pass a known or borrowed shape (> 0)")
    return _result(_fit_core(np.zeros(t.shape[0], np.int64), t, d, w, 1, k, lv), "weibull", lv)


def fit_exponential(time: Any, failed: Any, weights: Any = None, level: float = 0.95) -> WeibullFit:
    """Maximum-likelihood exponential fit (a Weibull with shape 1) with right censoring.

    ``rate = r / sum w t``, ``scale = 1 / rate``, ``loglik = r log rate - r``; the interval is
    Wald on the log scale, ``se(log scale) = 1 / sqrt(r)``. With no failures the result is the
    zero-failure bound of :func:`fit_weibayes` with shape 1 (``"weibayes-zero-failure"``).

    Parameters
    ----------
    time, failed, weights, level
        As in :func:`fit_weibull`.

    Returns
    -------
    WeibullFit
        ``distribution == "exponential"``, ``shape == 1``.
    """
    func = "fit_exponential"
    t, d, w = _validate(func, time, failed, weights)
    lv = _validate_level(func, level)
    out = _fit_core(np.zeros(t.shape[0], np.int64), t, d, w, 1, np.ones(1), lv, fixed_ci="wald")
    out["method"] = np.where(out["method"] == "weibayes", "mle", out["method"])
    return _result(out, "exponential", lv)


@dataclass(frozen=True)
class WeibullExponentialTest:
    """Likelihood-ratio test of a Weibull shape against 1 (the exponential).

    Attributes
    ----------
    weibull, exponential : WeibullFit
        The two fits.
    lr_statistic : float
        ``2 (loglik_weibull - loglik_exponential)``, >= 0.
    p_value : float
        From the chi-square distribution with 1 degree of freedom (Wilks).
    aic_weibull, aic_exponential : float
        Akaike's information criterion of each model.
    shape_differs : bool
        ``p_value < 1 - level``: the data say the shape is not 1.
    preferred : str
        The model with the lower AIC (``"exponential"`` when the Weibull is not estimable).
    level : float
    """

    weibull: WeibullFit
    exponential: WeibullFit
    lr_statistic: float
    p_value: float
    aic_weibull: float
    aic_exponential: float
    shape_differs: bool
    preferred: str
    level: float

    def __str__(self) -> str:
        return (f"Weibull shape {self.weibull.shape:.4g} vs exponential: LR = {self.lr_statistic:.4g}, "
                f"p = {self.p_value:.4g}; AIC weibull {self.aic_weibull:.6g}, exponential "
                f"{self.aic_exponential:.6g}; shape differs from 1 at {self.level:.0%}: "
                f"{self.shape_differs}; preferred: {self.preferred}")


def compare_weibull_exponential(
    time: Any, failed: Any, weights: Any = None, level: float = 0.95
) -> WeibullExponentialTest:
    """Does the shape differ from 1? Likelihood-ratio test and AIC, Weibull vs exponential.

    The exponential is the Weibull with shape 1, so ``LR = 2 (l_W - l_E)`` is asymptotically
    chi-square with 1 degree of freedom under shape = 1 (Lawless 2003, sec. 5.2).

    Parameters
    ----------
    time, failed, weights, level
        As in :func:`fit_weibull`; ``level`` sets the test's size ``1 - level``.

    Returns
    -------
    WeibullExponentialTest
    """
    func = "compare_weibull_exponential"
    t, d, w = _validate(func, time, failed, weights)
    lv = _validate_level(func, level)
    zero = np.zeros(t.shape[0], np.int64)
    wb = _result(_fit_core(zero, t, d, w, 1, None, lv), "weibull", lv)
    ex = fit_exponential(t, d, w, lv)
    if wb.method == "mle" and ex.method == "mle":
        lr = max(2.0 * (wb.loglik - ex.loglik), 0.0)
        p = float(stats.chi2.sf(lr, 1))
        aic_w, aic_e = wb.aic, ex.aic
        differs = p < 1.0 - lv
        preferred = "weibull" if aic_w < aic_e else "exponential"
    else:
        lr = p = aic_w = math.nan
        aic_e = ex.aic if ex.method == "mle" else math.nan
        differs = False
        preferred = "exponential"
    return WeibullExponentialTest(wb, ex, lr, p, aic_w, aic_e, bool(differs), preferred, lv)


# ---------------------------------------------------------------------------------------
# pooling
# ---------------------------------------------------------------------------------------


def pooled_shape(
    group: Any,
    time: Any,
    failed: Any,
    pool: Any,
    weights: Any = None,
    n_groups: int | None = None,
    n_pools: int | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Maximum-likelihood shape shared by the groups of each pool, with separate scales.

    For pool ``p`` with groups ``g`` (each with its own scale), profiling every scale out gives

    ``lp(k) = sum_g [ r_g log k - r_g log(sum_i w t_i**k / r_g) + (k-1) sum_i w d log t_i - r_g ]``

    summed over groups with failures (a group without failures contributes nothing: its scale
    goes to infinity). ``lp`` is strictly concave in ``k`` -- its second derivative is
    ``-R/k**2 - sum_g r_g Var_{g,k}(log t)`` -- and all pools are solved together by the same
    safeguarded Newton search as :func:`fit_weibull_groups`. The standard error of ``log k`` is
    ``1 / sqrt(R + k**2 sum_g r_g Var_g)`` (the profile's curvature equals the inverse of the
    full information's shape element), and the interval is Wald on the log scale.

    Then fit the scales under the pooled shape with
    ``fit_weibull_groups(group, time, failed, shape=pooled["shape"].to_numpy()[pool])``.

    Parameters
    ----------
    group : array of int, shape (n,)
        Group code of every life, 0..G-1.
    time, failed : arrays, shape (n,)
        Lifetimes and failure flags.
    pool : array of int, shape (G,)
        Pool code of every group, 0..P-1 (e.g. the component family).
    weights : array of float, shape (n,), optional
    n_groups, n_pools : int, optional
        G and P (default: max code + 1).
    level : float, default 0.95

    Returns
    -------
    DataFrame
        Indexed 0..P-1 (``pool``): ``method`` (``"mle"``, ``"no-failures"``,
        ``"single-failure-time"`` when no group has two distinct failure times and only one
        group has failures, or ``"no-data"``), ``converged``, ``n_iter``, ``n_groups`` (groups
        with lives), ``n_groups_failed``, ``n_failures``, ``shape``, ``se_shape``,
        ``shape_lower``, ``shape_upper``, ``loglik`` (the pool's profile log-likelihood).
    """
    func = "pooled_shape"
    t, d, w = _validate(func, time, failed, weights, allow_empty=True)
    g, G = _validate_codes(func, "group", group, t.shape[0], "time", n_groups, "n_groups")
    pl, P = _validate_codes(func, "pool", pool, None, "", n_pools, "n_pools")
    if pl.shape[0] != G:
        raise ValueError(f"{func}: pool has {pl.shape[0]} values but there are {G} groups; pass one "
                         "pool code per group (pool[g] is the pool of group g)")
    lv = _validate_level(func, level)
    S = _group_setup(g, t, d, w, G)
    return _pooled_core(S, pl, P, lv)[0]


def _pooled_core(S: dict, pl: np.ndarray, P: int, lv: float) -> tuple[pd.DataFrame, np.ndarray]:
    """The pooled fit of :func:`pooled_shape` and, per group, its information on log k at the
    pooled shape, ``I_g = r_g (1 + k**2 Var_g(log t))`` (the pool's total is 1 / var(log k))."""
    G = S["r"].size
    r = S["r"]
    R = np.bincount(pl, r, P)
    n_grp = np.bincount(pl, S["has_data"].astype(float), P)
    n_fail_grp = np.bincount(pl, (r > 0).astype(float), P)
    any_multi = np.bincount(pl, S["multi"].astype(float), P) > 0
    SLp = np.bincount(pl, S["SL"], P)
    finite = SLp < 0  # some failure precedes its group's last time: the maximum is finite
    identified = (R > 0) & finite & (any_multi | (n_fail_grp >= 2))

    # start: failure-count-weighted mean of per-group Menon starts
    wd, Lf, gg = S["wd"], S["L"], S["g"]
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.bincount(gg, wd * Lf, G) / r
        ss = np.bincount(gg, wd * (Lf - mu[gg]) ** 2, G)
        sd = np.sqrt(np.bincount(pl, np.nan_to_num(ss), P) / np.maximum(R - n_fail_grp, 1e-300))
        k0 = np.clip(np.where(sd > 0, 1.2825 / sd, 1.0), 1e-2, 1e2)
    k0 = np.where(np.isfinite(k0), k0, 1.0)
    k, conv, n_iter, _ = _shape_search(S["L"], S["w"], gg, G, pl, P, r, S["SL"], k0, identified)

    # curvature and profile log-likelihood at the optimum
    kr = k[pl][gg]
    x = S["w"] * np.exp(kr * S["L"])
    A0 = np.bincount(gg, x, G)
    A1 = np.bincount(gg, x * S["L"], G)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(A0 > 0, A1 / A0, 0.0)
        var = np.where(A0 > 0, np.bincount(gg, x * (S["L"] - mean[gg]) ** 2, G) / A0, 0.0)
        rv = np.bincount(pl, r * var, P)
        var_b = 1.0 / (R + k * k * rv)
        kg = k[pl]
        log_eta = S["M"] + (np.log(A0) - np.log(r)) / kg
        ll_g = np.where(r > 0, r * np.log(kg) - r * kg * log_eta + (kg - 1.0) * S["SLog"] - r, 0.0)
    loglik = np.bincount(pl, ll_g, P)

    z = stats.norm.ppf(0.5 + lv / 2.0)
    ok = identified & conv
    method = np.full(P, "mle", dtype=object)
    method[(R > 0) & ~identified] = "single-failure-time"
    method[R <= 0] = "no-failures"
    method[n_grp == 0] = "no-data"
    nan = np.full(P, np.nan)
    se_b = np.sqrt(var_b)
    df = pd.DataFrame(
        {
            "method": method.astype(str),
            "converged": ok,
            "n_iter": n_iter,
            "n_groups": n_grp.astype(np.int64),
            "n_groups_failed": n_fail_grp.astype(np.int64),
            "n_failures": R,
            "shape": np.where(ok, k, nan),
            "se_shape": np.where(ok, k * se_b, nan),
            "shape_lower": np.where(ok, k * np.exp(-z * se_b), nan),
            "shape_upper": np.where(ok, k * np.exp(z * se_b), nan),
            "loglik": np.where(ok, loglik, nan),
        },
        index=pd.RangeIndex(P, name="pool"),
    )
    info_g = np.where(r > 0, r * (1.0 + kg * kg * var), 0.0)
    return df, np.where(ok[pl], info_g, np.nan)


#: Failures a group needs for its own shape to enter the estimate of the between-group spread
#: (below that the sampling law of log k_hat is too far from normal for a moment estimate).
_TAU_MIN_FAILURES = 10


def _cox_reid_shapes(S: dict) -> tuple[np.ndarray, np.ndarray]:
    """Each group's own shape from the Cox-Reid adjusted profile likelihood, and the variance
    of its log.

    With the scale profiled out, the adjustment ``-1/2 log j_{eta eta}`` (``j = k**2 r`` on the
    log-scale) turns the profile ``r log k - r log sum w t**k + k SL`` into one with ``(r - 1) log k``
    (Cox & Reid 1987): this removes the O(1/r) upward bias of the shape's maximum-likelihood
    estimate from small groups. ``var(log k) = 1 / ((r - 1) + k**2 r Var_k(log t))``. NaN where a
    group has fewer than 2 failures or fewer than two distinct failure times.
    """
    G = S["r"].size
    r = S["r"]
    act = S["has_data"] & (r > 1.0) & S["multi"]
    k, conv, _, _ = _shape_search(S["L"], S["w"], S["g"], G, np.arange(G), G, r, S["SL"],
                                  np.ones(G), act, r_log=r - 1.0)
    x = S["w"] * np.exp(np.where(act, k, 1.0)[S["g"]] * S["L"])
    A0 = np.bincount(S["g"], x, G)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(S["g"], x * S["L"], G) / A0
        var = np.bincount(S["g"], x * (S["L"] - mean[S["g"]]) ** 2, G) / A0
        v = 1.0 / ((r - 1.0) + k * k * r * var)
    ok = act & conv
    return np.where(ok, np.log(k), np.nan), np.where(ok, v, np.nan)


def _adjusted_reml_tau2(pl: np.ndarray, P: int, y: np.ndarray, v: np.ndarray, use: np.ndarray) -> float:
    """One between-group variance ``tau**2`` for all pools (each with its own mean), from
    estimates ``y`` with sampling variances ``v``: the maximum of the *adjusted* restricted
    likelihood ``l_R(tau2) + log tau2`` (Morris & Tang 2011; Li & Lahiri 2010). Unlike the
    moment or REML estimates it is never 0 -- a spread of exactly 0 would make every pooled
    interval as narrow as the pool's own sampling error -- and it is close to REML whenever
    the data pin tau2 down. Scalar root of the score, by bisection in ``log tau2``."""
    if np.sum(use) < 2:
        return 0.0
    yy, vv, pp = y[use], v[use], pl[use]

    def score(t2: float) -> float:
        wt = 1.0 / (t2 + vv)
        s1 = np.bincount(pp, wt, P)
        mu = np.bincount(pp, wt * yy, P) / np.where(s1 > 0, s1, 1.0)
        res2 = (yy - mu[pp]) ** 2
        s2 = np.bincount(pp, wt * wt, P)
        reml = np.where(s1 > 0, s2 / np.where(s1 > 0, s1, 1.0), 0.0)
        return float(-0.5 * np.sum(wt) + 0.5 * np.sum(reml) + 0.5 * np.sum(wt * wt * res2) + 1.0 / t2)

    scale = float(np.median(vv))
    lo, hi = np.log(scale * 1e-8), np.log(scale * 1e4)
    if score(np.exp(hi)) > 0:          # no interior maximum (too few groups): the upper end
        return float(np.exp(hi))
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if score(np.exp(mid)) > 0:
            lo = mid
        else:
            hi = mid
    return float(np.exp(0.5 * (lo + hi)))


def _borrowed_core(S: dict, pl: np.ndarray, P: int, pooled: pd.DataFrame,
                   info_g: np.ndarray) -> dict[str, Any]:
    """Per-group uncertainty of a borrowed (pooled) shape as an estimate of the group's own.

    Random-effects model on the log scale: ``log k_g = mu_p + delta_g``, ``delta_g ~ (0, tau**2)``
    with one ``tau**2`` for all pools (the spread of log shapes is scale-free). The pooled
    estimate is, to first order, the information-weighted mean ``sum_j w_j log k_hat_j`` with
    ``w_j = I_j / sum_pool I``, so as an estimate of group g's shape its error has variance

    ``V_g = 1 / sum_pool I + tau**2 (1 - 2 w_g + sum_pool w_j**2)``

    (sampling error of the pool, plus the group's own deviation from the weighted mean of its
    pool's deviations; Higgins, Thompson & Spiegelhalter 2009 for the prediction view).
    ``tau**2`` comes from the groups' own shapes (``y = log k``, Cox-Reid adjusted, with
    variances ``v``; groups with at least ``_TAU_MIN_FAILURES`` failures, or all estimable
    groups when no pool has two such), by the adjusted restricted likelihood of
    :func:`_adjusted_reml_tau2`. A moment (DerSimonian-Laird) estimate was tried: with few
    failures per group it is 0 in a third to a half of small fleets, which makes the pooled
    intervals as narrow as the pool's own error (coverage ~0.92); the adjusted estimate is
    never 0 and errs on the wide side when the data cannot pin the spread down. Returns
    ``tau2``, ``se`` (per group, sqrt V_g), ``weight`` (w_g), ``n_used`` and ``df``.
    """
    own_logk, own_var = _cox_reid_shapes(S)
    ok_all = np.isfinite(own_logk) & np.isfinite(own_var) & (own_var > 0)
    for ok_own in (ok_all & (S["r"] >= _TAU_MIN_FAILURES), ok_all):
        y = np.where(ok_own, own_logk, 0.0)
        n_p = np.bincount(pl, ok_own.astype(float), P)
        use = n_p >= 2
        if use.any():
            break
    df_q = float(np.sum(np.where(use, n_p - 1.0, 0.0)))
    tau2 = _adjusted_reml_tau2(pl, P, y, np.where(ok_own, own_var, np.inf), ok_own & use[pl])

    info = np.nan_to_num(info_g)
    tot = np.bincount(pl, info, P)
    with np.errstate(invalid="ignore", divide="ignore"):
        w_g = info / tot[pl]
        sum_w2 = np.bincount(pl, w_g * w_g, P)
        var_pool = (pooled["se_shape"].to_numpy() / pooled["shape"].to_numpy()) ** 2
        V = var_pool[pl] + tau2 * (1.0 - 2.0 * w_g + sum_w2[pl])
    return {"tau2": tau2, "se": np.sqrt(V), "weight": w_g,
            "n_used": int(np.sum(np.where(use[pl], ok_own, False))), "df": df_q}


def borrowed_shape(
    group: Any,
    time: Any,
    failed: Any,
    pool: Any,
    weights: Any = None,
    n_groups: int | None = None,
    n_pools: int | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Each group's borrowed shape -- its pool's :func:`pooled_shape` -- with an honest interval.

    The pooled shape estimates a shape *shared* by the groups of a pool; a group's own shape
    differs from it by the group's deviation from the pool. The interval reported per group
    covers the group's own shape: on the log scale it is
    ``log k_pool +/- z sqrt(V_g)`` with ``V_g = var(log k_pool) + tau**2 (1 - 2 w_g + sum w**2)``,
    where ``tau`` is the spread of log shapes between groups (adjusted restricted likelihood,
    from the groups' own shapes, Cox-Reid adjusted; one value for all pools) and ``w_g`` the group's
    share of its pool's information on the shape. This is a random-effects prediction
    interval: its coverage is nominal on average over the groups of a pool, not for every
    group. Pass ``se_log_shape`` to :func:`fit_weibull_groups` or :func:`shrink_scale` as
    ``shape_log_se`` to carry the shape's uncertainty into the scale's interval.

    Parameters
    ----------
    group, time, failed, pool, weights, n_groups, n_pools, level
        As in :func:`pooled_shape`.

    Returns
    -------
    DataFrame
        Indexed 0..G-1 (``group``): ``pool``, ``shape`` (the pool's; NaN where the pool has
        none), ``se_log_shape``, ``shape_lower``, ``shape_upper``, ``weight`` (``w_g``) and
        ``tau_log_shape`` (the same for every group).
    """
    func = "borrowed_shape"
    t, d, w = _validate(func, time, failed, weights, allow_empty=True)
    g, G = _validate_codes(func, "group", group, t.shape[0], "time", n_groups, "n_groups")
    pl, P = _validate_codes(func, "pool", pool, None, "", n_pools, "n_pools")
    if pl.shape[0] != G:
        raise ValueError(f"{func}: pool has {pl.shape[0]} values but there are {G} groups; pass one "
                         "pool code per group (pool[g] is the pool of group g)")
    lv = _validate_level(func, level)
    S = _group_setup(g, t, d, w, G)
    pooled, info_g = _pooled_core(S, pl, P, lv)
    b = _borrowed_core(S, pl, P, pooled, info_g)
    z = stats.norm.ppf(0.5 + lv / 2.0)
    k = pooled["shape"].to_numpy()[pl]
    return pd.DataFrame(
        {
            "pool": pl,
            "shape": k,
            "se_log_shape": np.where(np.isfinite(k), b["se"], np.nan),
            "shape_lower": k * np.exp(-z * b["se"]),
            "shape_upper": k * np.exp(z * b["se"]),
            "weight": b["weight"],
            "tau_log_shape": np.full(G, np.sqrt(b["tau2"])),
        },
        index=pd.RangeIndex(G, name="group"),
    )


def shrink_scale(
    group: Any,
    time: Any,
    failed: Any,
    shape: Any,
    family: Any,
    weights: Any = None,
    n_groups: int | None = None,
    n_families: int | None = None,
    level: float = 0.95,
    shape_log_se: Any = None,
) -> pd.DataFrame:
    """Empirical-Bayes (gamma-Poisson) shrinkage of each group's Weibull rate towards its family.

    Given the shape ``k`` (shared within a family, e.g. from :func:`pooled_shape`), a group's
    failures follow a Poisson law in the transformed exposure ``E_g = sum w t**k`` with rate
    ``lambda_g = scale_g**-k``: the likelihood of ``lambda_g`` is ``lambda**r exp(-lambda E)``.
    The rates of a family get a gamma prior ``lambda_g ~ Gamma(a, b)`` (shape ``a``, rate ``b``),
    so the failure counts are negative-binomial given exposure, and the posterior is
    ``Gamma(r_g + a, E_g + b)`` with mean

    ``lambda_g* = (r_g + a) / (E_g + b) = Z_g r_g/E_g + (1 - Z_g) a/b``,  ``Z_g = E_g / (E_g + b)``

    (the credibility ``Z_g`` grows with exposure). The prior is fitted to the groups of each
    family by the method of moments of Clayton & Kaldor (1987) in Marshall's (1991) form:
    ``m = sum r / sum E``, ``s2 = sum E_g (r_g/E_g - m)**2 / sum E_g``,
    ``tau2 = s2 - m / mean(E)``; then ``a = m**2 / tau2``, ``b = m / tau2``. When ``tau2 <= 0``
    the spread is no more than Poisson noise and every group gets the family rate ``m``
    (``Z = 0``, ``a = inf``). The shrunk scale is ``lambda_g* ** (-1/k)``. Groups without
    failures get a finite, sensible scale from their family.

    The interval. The posterior ``Gamma(r_g + a, E_g + b)`` treats the prior (``a``, ``b``) as
    known, and at ``tau2 <= 0`` collapses to the family rate's own sampling error: fitted prior
    parameters from a handful of groups make such intervals far too narrow (Morris 1983). Here
    the estimate's mean squared error is taken in Prasad & Rao's (1990) second-order form --
    Marshall's estimator is the Fay-Herriot predictor ``m + Z (r/E - m)`` with sampling variance
    ``v = m / E`` --

    ``MSE_g = Var(lambda_g | r, a, b) + (1 - Z_g)**2 Var(m) + 2 Var(tau2_hat) v_g**2 D_g / (tau2 + v_g)**4``

    with ``Var(m) = (tau2 sum E**2 + m sum E) / (sum E)**2``, ``D_g = (tau2 + v_g)(1 - 2 E_g/sum E) + Var(m)``
    (the variance of ``r_g/E_g - m``) and ``Var(tau2_hat) = 2 sum E_g**2 D_g**2 / (sum E)**2``: the
    posterior variance, the error of the estimated prior mean, and twice that of the
    estimated spread (once as error, once as the low bias of the plug-in posterior
    variance). The interval of ``lambda_g`` is the equal-tailed interval of the gamma law with
    mean ``lambda_g*`` and variance ``MSE_g``, mapped to the scale. With ``shape_log_se`` (the
    shape's own uncertainty, e.g. from :func:`borrowed_shape`), ``z |d_g| shape_log_se`` is
    added in quadrature to each side's half-width on the log scale, ``d_g`` being the
    derivative of the log shrunk scale with respect to the log shape (central differences of
    the whole estimator, the family's shape moved as one).

    Sources: Clayton, D. & Kaldor, J. (1987), Empirical Bayes estimates of age-standardized
    relative risks for use in disease mapping, *Biometrics* 43, 671-681; Marshall, R. J.
    (1991), Mapping disease and mortality rates using empirical Bayes estimators, *Applied
    Statistics* 40, 283-294; Morris, C. N. (1983), Parametric empirical Bayes inference:
    theory and applications, *JASA* 78, 47-55; Prasad, N. G. N. & Rao, J. N. K. (1990), The
    estimation of the mean squared error of small-area estimators, *JASA* 85, 163-171;
    Gelman et al., *Bayesian Data Analysis*, 3rd ed., sec. 2.6 (gamma-Poisson model with
    exposure).

    Parameters
    ----------
    group : array of int, shape (n,)
        Group code of every life, 0..G-1.
    time, failed : arrays, shape (n,)
    shape : float or array of float, shape (G,)
        Weibull shape of each group; must be equal within a family (rates with different
        shapes have different units and cannot share a prior).
    family : array of int, shape (G,)
        Family code of every group, 0..F-1.
    weights : array of float, shape (n,), optional
    n_groups, n_families : int, optional
    level : float, default 0.95
        Level of the interval.
    shape_log_se : float or array of float, shape (G,), optional
        Standard error of ``log(shape)`` per group (NaN or 0: the shape is known).

    Returns
    -------
    DataFrame
        Indexed 0..G-1 (``group``): ``family``, ``method`` (``"shrunk"``, ``"pooled"`` when
        ``tau2 <= 0``, ``"no-failures"`` when the family has no failure, ``"no-data"``),
        ``n_failures``, ``shape``, ``scale_mle`` (NaN without failures), ``scale`` (shrunk),
        ``scale_lower``, ``scale_upper``, ``credibility`` (``Z``), ``prior_shape`` (``a``),
        ``prior_scale`` (the scale of the prior mean rate, ``(a/b) ** (-1/k)``).
    """
    func = "shrink_scale"
    t, d, w = _validate(func, time, failed, weights, allow_empty=True)
    g, G = _validate_codes(func, "group", group, t.shape[0], "time", n_groups, "n_groups")
    fam, F = _validate_codes(func, "family", family, None, "", n_families, "n_families")
    if fam.shape[0] != G:
        raise ValueError(f"{func}: family has {fam.shape[0]} values but there are {G} groups; pass "
                         "one family code per group")
    lv = _validate_level(func, level)
    k = _per_group(func, "shape", shape, G)
    S = _group_setup(g, t, d, w, G)
    has = S["has_data"]
    if np.isnan(k[has]).any():
        bad = np.isnan(k) & has
        _complain(func, "shape", shape, bad, k, "but every group with lives needs a shape",
                  "Fill missing shapes from pooled_shape (per family) first.")
    kk = np.where(has, k, np.nan)
    # a family's shape must be unique: compare min and max per family
    kmin = np.full(F, np.inf)
    kmax = np.full(F, -np.inf)
    np.minimum.at(kmin, fam[has], kk[has])
    np.maximum.at(kmax, fam[has], kk[has])
    bad_f = np.isfinite(kmin) & (kmax - kmin > 1e-12 * kmax)
    if bad_f.any():
        f0 = int(np.flatnonzero(bad_f)[0])
        raise ValueError(
            f"{func}: family {f0} has groups with different shapes ({kmin[f0]:.6g} to {kmax[f0]:.6g}); "
            "rates under different shapes cannot share a prior. Use one shape per family, e.g. "
            "pooled_shape(..., pool=family)['shape'].to_numpy()[family]"
        )
    kf = np.where(np.isfinite(kmin), kmin, np.nan)
    kg = np.where(has, kf[fam], np.nan)
    se_k = np.zeros(G)
    if shape_log_se is not None:
        se_k = _per_group(func, "shape_log_se", shape_log_se, G, positive=False)
        bad = ~np.isnan(se_k) & ~(np.isfinite(se_k) & (se_k >= 0))
        if bad.any():
            _complain(func, "shape_log_se", shape_log_se, bad, se_k,
                      "but a standard error must be finite and >= 0", "Pass NaN or 0 for a known shape.")
        se_k = np.nan_to_num(se_k)
    r = S["r"]
    est = _shrink_core(S, kg, fam, F, has)
    E, m, tau2, pooled, Z, lam = (est[c] for c in ("E", "m", "tau2", "pooled", "Z", "lam"))
    af, bf, mf = est["a"][fam], est["b"][fam], m[fam]
    pf_ = pooled[fam]

    # Error of the empirical-Bayes estimate (in the family's reference unit): the posterior
    # variance given the prior, plus what estimating the prior's mean and spread adds
    # (Prasad & Rao 1990; Marshall's estimator is the Fay-Herriot predictor with sampling
    # variance v = m / E). With w_j = E_j / sum E, the E-weighted mean m has
    # var(m) = (tau2 sum E**2 + m sum E) / (sum E)**2, theta_j - m has variance
    # D_j = (tau2 + v_j)(1 - 2 w_j) + var(m), var(tau2_hat) = 2 sum E_j**2 D_j**2 / (sum E)**2, and
    # MSE_j = post_var_j + (1 - Z_j)**2 var(m) + 2 var(tau2_hat) v_j**2 D_j / (tau2 + v_j)**4
    # (the last: estimating tau2, counted twice as the plug-in posterior variance is biased
    # low by as much). At tau2_hat <= 0 ("pooled") the posterior term is 0 but the others are
    # not: a family rate is never treated as every group's exact rate.
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        Eh = np.where(has, E, 0.0)
        sumE = np.bincount(fam, Eh, F)
        sumE2 = np.bincount(fam, Eh * Eh, F)
        t2 = np.maximum(np.where(np.isfinite(tau2), tau2, 0.0), 0.0)
        var_m = (t2 * sumE2 + m * sumE) / sumE ** 2
        v = mf / E
        wj = E / sumE[fam]
        D = np.maximum((t2[fam] + v) * (1.0 - 2.0 * wj) + var_m[fam], 0.0)
        var_t2 = 2.0 * np.bincount(fam, np.where(has, (E * D) ** 2, 0.0), F) / sumE ** 2
        post = np.where(pf_, 0.0, lam / (E + bf))
        g3 = var_t2[fam] * v * v * D / (t2[fam] + v) ** 4
        mse = post + (1.0 - Z) ** 2 * var_m[fam] + 2.0 * g3
        # moment-matched gamma for the rate: mean lam, variance mse
        alpha = lam * lam / mse
        q_lo, q_hi = (1.0 - lv) / 2.0, (1.0 + lv) / 2.0
        lam_lo = np.minimum(stats.gamma.ppf(q_lo, alpha) * mse / lam, lam)
        lam_hi = np.maximum(stats.gamma.ppf(q_hi, alpha) * mse / lam, lam)
        inv_k = 1.0 / kg
        c = np.exp(est["logc"][fam])
        scale = c * lam ** -inv_k
        log_s = np.log(scale)
        h_lo = log_s - np.log(c * lam_hi ** -inv_k)
        h_hi = np.log(c * lam_lo ** -inv_k) - log_s
        # the shape's uncertainty, by the delta method: d = d log scale / d log k of the whole
        # estimator (the shape of every group of the family moved together), by central
        # differences; z d se added in quadrature to each side's half-width
        z = stats.norm.ppf(0.5 + lv / 2.0)
        extra = np.zeros(G)
        if np.any(se_k > 0):
            h = 1e-4
            up = _shrink_core(S, kg * np.exp(h), fam, F, has)
            dn = _shrink_core(S, kg * np.exp(-h), fam, F, has)
            d = (np.log(up["lam"]) * (-inv_k * np.exp(-h)) - np.log(dn["lam"]) * (-inv_k * np.exp(h))) / (2 * h)
            extra = np.nan_to_num((z * d * se_k) ** 2)
        scale_lo = np.exp(log_s - np.sqrt(h_lo ** 2 + extra))
        scale_hi = np.exp(log_s + np.sqrt(h_hi ** 2 + extra))
        theta = np.where(has, r, 0.0) / np.where(has, E, 1.0)
        scale_mle = np.where(r > 0, c * theta ** -inv_k, np.nan)
        prior_scale = c * mf ** -inv_k

    fam_fail = mf > 0
    method = np.full(G, "shrunk", dtype=object)
    method[pf_] = "pooled"
    method[~fam_fail] = "no-failures"
    method[~has] = "no-data"
    valid = has & fam_fail
    nan = np.full(G, np.nan)
    return pd.DataFrame(
        {
            "family": fam,
            "method": method.astype(str),
            "n_failures": r,
            "shape": np.where(has, kg, nan),
            "scale_mle": np.where(has, scale_mle, nan),
            "scale": np.where(valid, scale, nan),
            "scale_lower": np.where(valid, scale_lo, nan),
            "scale_upper": np.where(valid, scale_hi, nan),
            "credibility": np.where(valid, Z, nan),
            "prior_shape": np.where(valid, af, nan),
            "prior_scale": np.where(valid, prior_scale, nan),
        },
        index=pd.RangeIndex(G, name="group"),
    )


def _shrink_core(S: dict, kg: np.ndarray, fam: np.ndarray, F: int, has: np.ndarray) -> dict:
    """The gamma-Poisson method-of-moments estimate of :func:`shrink_scale` at shapes ``kg``.

    Exposure is in a per-family reference unit c_f (the mean of the groups' log maxima), which
    keeps E and lambda representable for any time unit and shape. Returns per-family ``logc``,
    ``m``, ``tau2``, ``pooled`` (tau2 <= 0), ``a``, ``b`` and per-group ``E``, ``Z``, ``lam``.
    """
    G = kg.size
    r = S["r"]
    cnt = np.bincount(fam, has.astype(float), F)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        logc = np.bincount(fam, np.where(has, S["M"], 0.0), F) / cnt
        x = S["w"] * np.exp(np.nan_to_num(kg)[S["g"]] * S["L"])
        logsum = np.log(np.bincount(S["g"], x, G))
        logE = np.where(has, kg * (S["M"] - logc[fam]) + logsum, np.nan)
        E = np.exp(logE)
        Eh = np.where(has, E, 0.0)
        rh = np.where(has, r, 0.0)
        sumE = np.bincount(fam, Eh, F)
        m = np.bincount(fam, rh, F) / sumE
        theta = rh / np.where(has, E, 1.0)
        s2 = np.bincount(fam, Eh * (theta - m[fam]) ** 2, F) / sumE
        tau2 = s2 - m / (sumE / cnt)
        pooled = ~(tau2 > 0)
        a = np.where(pooled, np.inf, m * m / tau2)
        b = np.where(pooled, np.inf, m / tau2)
        Z = np.where(pooled[fam], 0.0, E / (E + b[fam]))
        lam = np.where(pooled[fam], m[fam], (r + a[fam]) / (E + b[fam]))
    return {"logc": logc, "m": m, "tau2": tau2, "pooled": pooled, "a": a, "b": b, "E": E, "Z": Z,
            "lam": lam}


# ---------------------------------------------------------------------------------------
# nonparametric estimators
# ---------------------------------------------------------------------------------------


def _risk_table(t: np.ndarray, d: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """Distinct times with weighted at-risk, events and censored counts.

    Lives censored at a time when failures occur count as at risk at that time (the usual
    convention: censoring is taken to happen just after the failures)."""
    keep = w > 0
    t, d, w = t[keep], d[keep], w[keep]
    ut, inv = np.unique(t, return_inverse=True)
    ev = np.bincount(inv, w * d, ut.size)
    tot = np.bincount(inv, w, ut.size)
    at_risk = np.cumsum(tot[::-1])[::-1]
    return ut, at_risk, ev, tot - ev


def _check_ci(func: str, ci: str, allowed: tuple[str, ...]) -> None:
    if ci not in allowed:
        raise ValueError(f"{func}: ci is {ci!r}; choose one of {', '.join(map(repr, allowed))}")


def kaplan_meier(
    time: Any, failed: Any, weights: Any = None, level: float = 0.95, ci: str = "log-log"
) -> pd.DataFrame:
    """Kaplan-Meier (product-limit) estimate of the survival function, weighted, with ties.

    At each distinct time ``t_j`` with ``n_j`` (weighted) at risk and ``d_j`` failures,
    ``S(t) = prod_{t_j <= t} (1 - d_j / n_j)``; Greenwood's variance is
    ``Var S(t) = S(t)**2 sum_{t_j <= t} d_j / (n_j (n_j - d_j))`` (Klein & Moeschberger 2003,
    eq. 4.2.1-4.2.2). Tied failures are handled together; lives censored at a failure time
    count as at risk at it.

    Parameters
    ----------
    time, failed, weights
        As in :func:`fit_weibull`.
    level : float, default 0.95
        Pointwise confidence level.
    ci : {"log-log", "plain", "log"}
        Interval: ``"log-log"`` (Kalbfleisch-Prentice, on ``log(-log S)``, stays in [0, 1]),
        ``"plain"`` (``S +/- z se``, clipped) or ``"log"`` (on ``log S``).

    Returns
    -------
    DataFrame
        One row per distinct time: ``time``, ``at_risk``, ``events``, ``censored``,
        ``survival``, ``std_err`` (Greenwood), ``lower``, ``upper``.
    """
    func = "kaplan_meier"
    t, d, w = _validate(func, time, failed, weights)
    lv = _validate_level(func, level)
    _check_ci(func, ci, ("log-log", "plain", "log"))
    ut, n, ev, cen = _risk_table(t, d, w)
    z = stats.norm.ppf(0.5 + lv / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - ev / n)
        gw = np.cumsum(np.where(ev > 0, ev / (n * (n - ev)), 0.0))
        se = surv * np.sqrt(gw)
        if ci == "plain":
            lower = np.clip(surv - z * se, 0.0, 1.0)
            upper = np.clip(surv + z * se, 0.0, 1.0)
        elif ci == "log":
            lower = surv * np.exp(-z * np.sqrt(gw))
            upper = np.minimum(surv * np.exp(z * np.sqrt(gw)), 1.0)
        else:
            se_ll = np.sqrt(gw) / np.abs(np.log(surv))
            lower = surv ** np.exp(z * se_ll)
            upper = surv ** np.exp(-z * se_ll)
        # before any failure the estimate is exactly 1 with no variance
        none_yet = gw == 0
        lower = np.where(none_yet & (surv == 1.0), 1.0, lower)
        upper = np.where(none_yet & (surv == 1.0), 1.0, upper)
        dead = surv == 0  # everyone left at risk failed: Greenwood is undefined there
        se = np.where(dead, np.nan, se)
        lower = np.where(dead, np.nan, lower)
        upper = np.where(dead, np.nan, upper)
    return pd.DataFrame({"time": ut, "at_risk": n, "events": ev, "censored": cen,
                         "survival": surv, "std_err": se, "lower": lower, "upper": upper})


def nelson_aalen(time: Any, failed: Any, weights: Any = None, level: float = 0.95) -> pd.DataFrame:
    """Nelson-Aalen estimate of the cumulative hazard, weighted, with ties.

    ``H(t) = sum_{t_j <= t} d_j / n_j`` with variance ``sum d_j / n_j**2`` (Klein & Moeschberger
    2003, eq. 4.2.3-4.2.4); tied failures at ``t_j`` enter together as ``d_j / n_j``. The
    interval is taken on ``log H``: ``H exp(+/- z se / H)``.

    Parameters
    ----------
    time, failed, weights, level
        As in :func:`kaplan_meier`.

    Returns
    -------
    DataFrame
        One row per distinct time: ``time``, ``at_risk``, ``events``, ``censored``,
        ``cumulative_hazard``, ``std_err``, ``lower``, ``upper``, and ``survival``
        (``exp(-H)``, the Fleming-Harrington/Breslow estimate).
    """
    func = "nelson_aalen"
    t, d, w = _validate(func, time, failed, weights)
    lv = _validate_level(func, level)
    ut, n, ev, cen = _risk_table(t, d, w)
    z = stats.norm.ppf(0.5 + lv / 2.0)
    H = np.cumsum(ev / n)
    var = np.cumsum(ev / (n * n))
    se = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.exp(z * se / H)
        lower = np.where(H > 0, H / f, 0.0)
        upper = np.where(H > 0, H * f, 0.0)
    return pd.DataFrame({"time": ut, "at_risk": n, "events": ev, "censored": cen,
                         "cumulative_hazard": H, "std_err": se, "lower": lower, "upper": upper,
                         "survival": np.exp(-H)})


def median_ranks(time: Any, failed: Any) -> pd.DataFrame:
    """Plotting positions of the failures: Johnson's adjusted ranks and Bernard's median ranks.

    Lives are sorted by time (a failure before a censoring at the same time). For the failure
    at sorted position ``i`` (1-based) of ``N``, with reverse rank ``N - i + 1``, Johnson's adjusted
    rank is ``O_i = O_prev + (N + 1 - O_prev) / (reverse rank + 1)``, i.e.
    ``N + 1 - O_i = (N + 1) prod (rr_j / (rr_j + 1))`` over the failures so far, and Bernard's
    approximation of the median rank is ``F = (O - 0.3) / (N + 0.4)`` (Abernethy 2006, ch. 2
    and 5).

    Parameters
    ----------
    time, failed
        As in :func:`fit_weibull` (weights are not used for plotting positions).

    Returns
    -------
    DataFrame
        One row per failure: ``time``, ``adjusted_rank``, ``median_rank``.
    """
    func = "median_ranks"
    t, d, _ = _validate(func, time, failed)
    order = np.lexsort((1 - d, t))  # by time, failures first at ties
    ts, ds = t[order], d[order]
    N = ts.size
    rr = N - np.arange(N)  # reverse rank of each sorted life
    fail = ds > 0
    factor = rr[fail] / (rr[fail] + 1.0)
    adj = (N + 1.0) * (1.0 - np.cumprod(factor))
    return pd.DataFrame({"time": ts[fail], "adjusted_rank": adj,
                         "median_rank": (adj - 0.3) / (N + 0.4)})


# ---------------------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------------------


def _axes(ax: Any):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(6, 4.5))
    return ax


def weibull_plot(time: Any, failed: Any, fit: WeibullFit | None = None, ax: Any = None):
    """Weibull probability plot: median ranks of the failures on log-log axes, with the fit.

    The x axis is time on a log scale; the y axis is ``log(-log(1 - F))``, labelled with
    ``F`` in percent, on which a Weibull is the straight line ``y = k (log t - log eta)``.
    Failures are plotted at Bernard's median ranks of Johnson's adjusted ranks (see
    :func:`median_ranks`), which account for censored lives.

    Parameters
    ----------
    time, failed
        As in :func:`fit_weibull`.
    fit : WeibullFit, optional
        Fitted model to draw as a line (skipped when its shape or scale is NaN).
    ax : matplotlib Axes, optional
        Where to draw; a new figure when omitted.

    Returns
    -------
    matplotlib.axes.Axes
        With the points (first line) and the fitted line (second line, when a fit is given).
    """
    mr = median_ranks(time, failed)
    ax = _axes(ax)
    y = np.log(-np.log1p(-mr["median_rank"].to_numpy()))
    ax.plot(mr["time"].to_numpy(), y, "o", ms=4, label="failures (median ranks)")
    t_all = np.asarray(time, dtype=float)
    lo = np.min(t_all) if mr.empty else min(np.min(t_all), mr["time"].min())
    hi = np.max(t_all)
    if fit is not None and np.isfinite(fit.shape) and np.isfinite(fit.scale):
        # reach at least the 63.2% point (the scale), where the eye reads it off
        grid = np.geomspace(min(lo, float(fit.quantile(0.01))), max(hi, fit.scale), 100)
        ax.plot(grid, fit.shape * (np.log(grid) - np.log(fit.scale)), "-",
                label=f"{fit.method}: shape {fit.shape:.3g}, scale {fit.scale:.4g}")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    x0, x1 = ax.get_xlim()
    if np.log10(x1 / x0) < 3.0:  # few decades: label 1-2-5 so the axis is readable
        ax.xaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ylim = ax.get_ylim()  # setting ticks would otherwise stretch the view to 0.1%..99.9%
    probs = np.array([0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.632, 0.8, 0.9, 0.99, 0.999])
    ticks = np.log(-np.log1p(-probs))
    ax.set_yticks(ticks)
    ax.set_yticklabels([f"{100 * p:g}" for p in probs])
    ax.set_ylim(ylim)
    ax.set_xlabel("time")
    ax.set_ylabel("unreliability F(t), %")
    ax.set_title("Weibull probability plot")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return ax


def survival_plot(time: Any, failed: Any, fit: WeibullFit | None = None, ax: Any = None,
                  level: float = 0.95):
    """Kaplan-Meier estimate (step, with its confidence band) against the fitted survival.

    Parameters
    ----------
    time, failed
        As in :func:`fit_weibull`.
    fit : WeibullFit, optional
        Fitted model whose survival function is drawn as a smooth line.
    ax : matplotlib Axes, optional
    level : float, default 0.95
        Level of the Kaplan-Meier band.

    Returns
    -------
    matplotlib.axes.Axes
        Lines: the Kaplan-Meier step (first), the fitted curve (second, when a fit is given);
        the band is a filled collection.
    """
    km = kaplan_meier(time, failed, level=level)
    ax = _axes(ax)
    tt = np.concatenate([[0.0], km["time"].to_numpy()])
    ss = np.concatenate([[1.0], km["survival"].to_numpy()])
    lo = np.concatenate([[1.0], km["lower"].to_numpy()])
    hi = np.concatenate([[1.0], km["upper"].to_numpy()])
    ax.step(tt, ss, where="post", label="Kaplan-Meier")
    ax.fill_between(tt, np.nan_to_num(lo), np.nan_to_num(hi, nan=1.0), step="post", alpha=0.2,
                    label=f"{level:.0%} band")
    if fit is not None and np.isfinite(fit.shape) and np.isfinite(fit.scale):
        grid = np.linspace(0.0, tt.max(), 200)
        ax.plot(grid, fit.survival(grid), "-",
                label=f"{fit.distribution} ({fit.method})")
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel("time")
    ax.set_ylabel("survival S(t)")
    ax.set_title("Kaplan-Meier vs fitted survival")
    ax.legend(loc="best", fontsize="small")
    return ax


# =======================================================================================
# Fleet level: the FailureModel class (per (machine_model, component) lifetime models,
# built on fit_weibull_groups / pooled_shape / shrink_scale above) is added below this line
# by its owner. Keep the numerical core above free of fleet-specific code.
# =======================================================================================


_POOLING = ("shrink", "shape", "none")
_DISTRIBUTIONS = ("weibull", "exponential")
_GROUP_KEYS = ["machine_model", "component"]


class NotFittedError(ValueError, AttributeError):
    """A model was used before ``fit``."""


class FailureModel:
    """Lifetime models for every (machine_model, component) of a fleet.

    Lives come from the tickets (:func:`partsforecast.lives.component_lives`): a replacement
    ends one life and starts the next, the life running at ``fleet.as_of`` is right-censored,
    and a machine that never had a ticket for a component contributes its whole service life
    as one censored observation. Lifetimes are operating hours.

    Parameters
    ----------
    distribution : {"weibull", "exponential"}
        Lifetime law of every group.
    pooling : {"shrink", "shape", "none"}
        How sparse groups borrow strength from their component family (the same component
        on other machine models):

        ``"shrink"`` (default)
            A group with at least ``min_failures`` failures keeps its own maximum-likelihood
            fit. Sparser groups take the family's pooled shape (:func:`pooled_shape`: one
            shape, separate scales) and an empirical-Bayes gamma-Poisson shrinkage of their
            rate towards the family (:func:`shrink_scale`, Clayton & Kaldor 1987).
        ``"shape"``
            Every group takes its family's pooled shape; scales are their own (Weibayes).
        ``"none"``
            Every group on its own; a group with fewer than two distinct failure times gets
            Weibayes with shape 1 (an exponential fit, flagged).

        Whatever the pooling, a group without failures still gets a usable scale: the
        family's (shrunk) rate, or with ``"none"`` the zero-failure lower bound, and its
        ``method`` says so.

        Intervals (``level``) are built to cover each group's *own* shape and scale:
        ``"mle"`` groups get likelihood-ratio intervals; a borrowed shape's interval adds the
        spread of shapes between the groups of a family to the pool's sampling error
        (:func:`borrowed_shape`); the scale interval of a pooled-shape or shrunk group adds
        the borrowed shape's uncertainty (delta method) and, when shrunk, the error of the
        fitted prior (:func:`shrink_scale`). A group whose shape is *assumed* (method ending
        in ``"(shape 1 assumed)"``) gets no intervals (NaN): an assumption is not an
        estimate. Measured coverage: ``docs/failure-models.md``.
    min_failures : int
        Failures a group needs to keep its own shape under ``"shrink"``.
    level : float
        Confidence level of the intervals.
    covariates : sequence of {"tier", "usage"} or None
        Terms of the constant-rate alternative: a Poisson GLM of failures per operating
        hour with an exposure offset, one rate per group times a factor per market tier
        and/or per band of usage (hours per day). ``None`` skips it.

    Attributes
    ----------
    params_ : DataFrame
        One row per group: machine_model, component, shape, scale, shape_lower,
        shape_upper, scale_lower, scale_upper, n_failures, n_censored, method, borrowed
        (bool), loglik, ks_distance (the largest gap between the Kaplan–Meier curve and the
        fitted survival, a goodness-of-fit figure; ≤ ~1.36/√n is a good fit).
    families_ : DataFrame
        One row per component family: pooled shape and its interval, n_groups, n_failures,
        and ``tau_log_shape``, the spread (sd of log shape) between groups of a family
        (one value for the fleet).
    glm_ : statsmodels GLMResults or None
        The constant-rate Poisson GLM's covariate terms (tier, usage factors), fitted with
        each group's rate profiled into the offset; ``glm_group_rates_`` holds those rates
        (failures per operating hour at the baseline levels) and ``glm_terms_`` each term's
        rate ratio with its profile-likelihood standard error and interval (use these, not
        ``glm_.bse``, which treat the group rates as known).
    comparison_ : DataFrame or None
        Per group: log-likelihood and AIC of the Weibull fit and of the constant-rate GLM,
        and the model chosen by AIC.
    choice_ : str or None
        The model preferred by total AIC over all groups: ``"weibull"`` or
        ``"constant-rate"``.
    lives_ : partsforecast.lives.Lives
        The lives the model was fitted on, and the current ages.

    Examples
    --------
    >>> import partsforecast as pf
    >>> model = pf.FailureModel().fit(pf.load_sample())        # doctest: +SKIP
    >>> model.params_.head()                                    # doctest: +SKIP
    >>> model.conditional_failure_prob(2000, 500, "EX200", "hydraulic pump")  # doctest: +SKIP
    """

    def __init__(
        self,
        distribution: str = "weibull",
        pooling: str = "shrink",
        min_failures: int = 20,
        level: float = 0.95,
        covariates: Sequence[str] | None = ("tier",),
    ) -> None:
        self.distribution = distribution
        self.pooling = pooling
        self.min_failures = min_failures
        self.level = level
        self.covariates = covariates

    # -- fitting ---------------------------------------------------------------------------

    def _check_settings(self) -> None:
        if self.distribution not in _DISTRIBUTIONS:
            raise ValueError(f"distribution={self.distribution!r} is not supported; "
                             f"use one of {', '.join(map(repr, _DISTRIBUTIONS))}")
        if self.pooling not in _POOLING:
            raise ValueError(f"pooling={self.pooling!r} is not supported; use one of "
                             f"{', '.join(map(repr, _POOLING))}")
        if not isinstance(self.min_failures, (int, np.integer)) or self.min_failures < 2:
            raise ValueError(f"min_failures must be a whole number ≥ 2, got {self.min_failures!r}")
        _validate_level("FailureModel", self.level)
        allowed = {"tier", "usage"}
        if self.covariates is not None and not set(self.covariates) <= allowed:
            raise ValueError(f"covariates={self.covariates!r}: allowed terms are 'tier' and 'usage' "
                             "(or None to skip the constant-rate model)")

    def fit(self, fleet) -> FailureModel:
        """Fit every (machine_model, component) group of ``fleet``.

        Parameters
        ----------
        fleet : Fleet

        Returns
        -------
        FailureModel
            ``self``, fitted.
        """
        from partsforecast.lives import component_lives

        self._check_settings()
        lives = component_lives(fleet)
        lv = lives.lives
        # Group codes from the categorical codes (factorising 10⁶ string pairs is slow).
        mm, cc = lv["machine_model"].cat, lv["component"].cat
        pair = mm.codes.to_numpy(np.int64) * len(cc.categories) + cc.codes.to_numpy(np.int64)
        present = np.bincount(pair, minlength=1) > 0  # a small range: models × components
        uniq = np.flatnonzero(present)
        gcode = (np.cumsum(present) - 1)[pair]
        groups = pd.MultiIndex.from_arrays([mm.categories[uniq // len(cc.categories)],
                                            cc.categories[uniq % len(cc.categories)]])
        G = len(groups)
        fam, families = pd.factorize(groups.get_level_values(1))
        F = len(families)
        t = lv["duration"].to_numpy(float)
        d = lv["failed"].to_numpy(bool)

        if self.distribution == "exponential":
            params = fit_weibull_groups(gcode, t, d, n_groups=G, shape=np.ones(G), level=self.level)
            params["method"] = np.where(params["method"] == "weibayes", "mle", params["method"])
            params["borrowed"] = False
            fam_table = pd.DataFrame({"shape": np.ones(F)})
        else:
            params, fam_table = self._fit_weibull(gcode, t, d, G, fam, F)

        params.insert(0, "machine_model", pd.array(groups.get_level_values(0), dtype="str"))
        params.insert(1, "component", pd.array(groups.get_level_values(1), dtype="str"))
        params["loglik"] = _group_loglik(gcode, t, d, params["shape"].to_numpy(), params["scale"].to_numpy(), G)
        params["ks_distance"] = _km_distance(gcode, t, d, params["shape"].to_numpy(), params["scale"].to_numpy(), G)
        cols = ["machine_model", "component", "shape", "scale", "shape_lower", "shape_upper",
                "scale_lower", "scale_upper", "n_failures", "n_censored", "method", "borrowed",
                "loglik", "ks_distance"]
        self.params_ = params[cols].sort_values(_GROUP_KEYS, ignore_index=True)
        fam_table.insert(0, "component", pd.array(families, dtype="str"))
        self.families_ = fam_table.reset_index(drop=True)
        self.lives_ = lives
        self._fleet_ref = fleet
        self.glm_ = self.comparison_ = self.choice_ = None
        if self.covariates is not None:
            self._fit_constant_rate(fleet, lives, gcode, groups, params)
        return self

    def _fit_weibull(self, gcode, t, d, G, fam, F):
        """Per-group Weibull fits under the pooling setting; see the class docstring and
        docs/failure-models.md for how each method's intervals are built."""
        own = fit_weibull_groups(gcode, t, d, n_groups=G, level=self.level)
        own_ok = (own["method"] == "mle").to_numpy() & own["converged"].to_numpy()
        w = np.ones_like(t, dtype=float)
        S = _group_setup(gcode.astype(np.int64), t.astype(float), d.astype(float), w, G)
        pooled, info_g = _pooled_core(S, fam, F, self.level)
        fam_shape = pooled["shape"].to_numpy()
        # A family with fewer than two distinct failure times has no shape to share:
        # assume a constant hazard (shape 1), flagged in `method`.
        fam_k = np.where(np.isfinite(fam_shape), fam_shape, 1.0)
        # How far a borrowed shape may be from the group's own: the pool's sampling error plus
        # the spread of shapes between the groups of a family (random effects, one spread for
        # all families, estimated from the groups' own shapes).
        bor = _borrowed_core(S, fam, F, pooled, info_g)
        fam_table = pooled[["shape", "shape_lower", "shape_upper", "n_groups", "n_failures", "method"]].copy()
        fam_table["tau_log_shape"] = np.sqrt(bor["tau2"])
        assumed = ~np.isfinite(fam_shape[fam])
        no_ci = ["shape_lower", "shape_upper", "scale_lower", "scale_upper"]

        if self.pooling == "none":
            given = np.where(own_ok, np.nan, 1.0)
            params = fit_weibull_groups(gcode, t, d, n_groups=G, shape=given, level=self.level)
            params["borrowed"] = False
            params.loc[~own_ok, "method"] = params.loc[~own_ok, "method"] + " (shape 1 assumed)"
            # An assumed shape is not an estimate: no interval can claim coverage of the
            # group's shape or scale (the one the shape-1 fit would give misses most of them).
            params.loc[~own_ok, no_ci] = np.nan
            return params, fam_table

        k_g = fam_k[fam]
        se_g = np.where(assumed, np.nan, bor["se"])
        under_pool = fit_weibull_groups(gcode, t, d, n_groups=G, shape=k_g, level=self.level,
                                        shape_log_se=np.nan_to_num(se_g))
        under_pool["method"] = np.where(assumed, "pooled-shape (shape 1 assumed)", "pooled-shape")
        under_pool["borrowed"] = True
        under_pool.loc[assumed, no_ci] = np.nan
        if self.pooling == "shape":
            return under_pool, fam_table

        shrunk = shrink_scale(gcode, t, d, shape=k_g, family=fam, n_groups=G, n_families=F, level=self.level,
                              shape_log_se=np.nan_to_num(se_g))
        sparse = ~(own_ok & (own["n_failures"].to_numpy() >= self.min_failures))
        params = own.copy()
        params["borrowed"] = False
        has_shrunk = np.isfinite(shrunk["scale"].to_numpy())
        take = sparse & has_shrunk
        for c in ("shape", "shape_lower", "shape_upper", "method", "borrowed"):
            params.loc[sparse, c] = under_pool.loc[sparse, c]
        params.loc[sparse, ["scale", "scale_lower", "scale_upper"]] = under_pool.loc[
            sparse, ["scale", "scale_lower", "scale_upper"]].to_numpy()
        params.loc[take, ["scale", "scale_lower", "scale_upper"]] = shrunk.loc[
            take, ["scale", "scale_lower", "scale_upper"]].to_numpy()
        label = np.where(shrunk.loc[take, "method"].to_numpy() == "shrunk", "pooled-shape, shrunk scale",
                         "pooled-shape, family rate")
        params.loc[take, "method"] = np.where(assumed[take], np.char.add(label.astype(str), " (shape 1 assumed)"),
                                              label)
        params.loc[sparse & assumed, no_ci] = np.nan
        return params, fam_table

    def _fit_constant_rate(self, fleet, lives, gcode, groups, params) -> None:
        """Poisson GLM of failures with log-exposure offset; compare with Weibull by AIC."""
        import statsmodels.api as sm

        lv = lives.lives
        cells = pd.DataFrame({"group": gcode, "failed": lv["failed"].to_numpy(float),
                              "exposure": lv["duration"].to_numpy(float)})
        terms = []
        if "tier" in self.covariates:
            tier = lv["location_id"].map(fleet.locations.set_index("location_id")["tier"])
            cells["tier"] = tier.astype("float64").fillna(0).astype(int).to_numpy()
            terms.append("tier")
        if "usage" in self.covariates:
            rate = lv["serial"].map(lives.rates.set_index("serial")["hours_per_day"]).to_numpy(float)
            cells["usage"] = np.digitize(rate, [4.0, 6.0, 8.0, 10.0])  # bands of hours per day
            terms.append("usage")
        agg = cells.groupby(["group", *terms], as_index=False).agg(
            failures=("failed", "sum"), exposure=("exposure", "sum"))
        G = len(groups)
        names, cols = [], []
        for term in terms:
            levels = np.sort(agg[term].unique())[1:]  # first level is the baseline
            cols.append((agg[term].to_numpy()[:, None] == levels[None, :]).astype(float))
            names += [f"{term}[{lvl}]" for lvl in levels]
        has_fail = np.bincount(agg["group"], agg["failures"], G) > 0
        rows = has_fail[agg["group"].to_numpy()]
        g_rows = agg["group"].to_numpy()[rows]
        y = agg["failures"].to_numpy()[rows]
        log_e = np.log(agg["exposure"].to_numpy()[rows])
        Xc = np.hstack(cols)[rows] if cols else np.zeros((int(rows.sum()), 0))
        # One rate per group times shared covariate factors. The group effects are profiled
        # out in closed form (exp β_g = Σ_g y / Σ_g E·exp(Xγ)), leaving a GLM in the few
        # covariate terms; for the Poisson this is the full MLE (the group totals are
        # sufficient for β), at a cost linear in the number of groups instead of cubic.
        gamma = np.zeros(Xc.shape[1])
        r_g = np.bincount(g_rows, y, G)
        res = None
        for _ in range(100):
            beta = np.log(np.maximum(r_g, 1e-300)) - np.log(
                np.bincount(g_rows, np.exp(log_e + Xc @ gamma), G) + 1e-300)
            if Xc.shape[1] == 0:
                break
            res = sm.GLM(y, Xc, family=sm.families.Poisson(), offset=log_e + beta[g_rows]).fit(
                start_params=gamma)
            step = np.max(np.abs(res.params - gamma))
            gamma = np.asarray(res.params)
            if step < 1e-10:
                break
        if res is not None:
            res.model.exog_names[:] = names
        self.glm_ = res
        mu_c = np.exp(log_e + beta[g_rows] + Xc @ gamma)
        # Standard errors from the profile information of γ (Schur complement of the
        # diagonal group block): the GLM above treats the profiled β as known.
        info = Xc.T @ (Xc * mu_c[:, None])
        a = np.zeros((G, Xc.shape[1]))
        np.add.at(a, g_rows, Xc * mu_c[:, None])
        m_g = np.bincount(g_rows, mu_c, G)
        ok_g = m_g > 0
        info -= (a[ok_g] / m_g[ok_g, None]).T @ a[ok_g]
        se = np.sqrt(np.diag(np.linalg.inv(info))) if Xc.shape[1] else np.zeros(0)
        z = stats.norm.ppf(0.5 + self.level / 2)
        self.glm_terms_ = pd.DataFrame({
            "term": names, "coef": gamma, "se": se, "rate_ratio": np.exp(gamma),
            "rate_ratio_lower": np.exp(gamma - z * se), "rate_ratio_upper": np.exp(gamma + z * se),
            "p_value": 2 * stats.norm.sf(np.abs(gamma / np.where(se > 0, se, np.inf)))})
        self.glm_group_rates_ = pd.DataFrame({
            "machine_model": groups.get_level_values(0), "component": groups.get_level_values(1),
            "rate_per_hour": np.where(has_fail, np.exp(beta), 0.0)})
        # Per-group log-likelihood of the lives under the GLM rates (exponential lives).
        mu = np.exp(log_e + beta[g_rows] + Xc @ gamma)  # expected failures per cell
        lam = mu / np.exp(log_e)
        ll_cells = y * np.log(np.where(y > 0, lam, 1.0)) - mu
        ll_glm = np.full(G, np.nan)
        ll_glm[has_fail] = np.bincount(g_rows, ll_cells, G)[has_fail]
        n_shared = Xc.shape[1]
        share = n_shared / max(int(has_fail.sum()), 1)
        ll_w = params["loglik"].to_numpy()
        k_w = np.where(params["borrowed"].to_numpy(bool), 1.0, 2.0)
        aic_w = 2 * k_w - 2 * ll_w
        aic_g = 2 * (1.0 + share) - 2 * ll_glm
        choice = np.where(~np.isfinite(aic_g), "weibull", np.where(aic_w <= aic_g, "weibull", "constant-rate"))
        self.comparison_ = pd.DataFrame({
            "machine_model": params["machine_model"].to_numpy(), "component": params["component"].to_numpy(),
            "loglik_weibull": ll_w, "loglik_constant_rate": ll_glm,
            "aic_weibull": aic_w, "aic_constant_rate": aic_g, "chosen": choice,
        }).sort_values(_GROUP_KEYS, ignore_index=True)
        ok = np.isfinite(aic_g) & np.isfinite(aic_w)
        self.choice_ = "weibull" if aic_w[ok].sum() <= aic_g[ok].sum() else "constant-rate"

    # -- using the fit ---------------------------------------------------------------------

    def _params_for(self, machine_model, component) -> tuple[np.ndarray, np.ndarray]:
        if not hasattr(self, "params_"):
            raise NotFittedError("this FailureModel is not fitted yet: call .fit(fleet) first")
        idx = self.params_.set_index(_GROUP_KEYS)
        key = pd.MultiIndex.from_arrays([np.atleast_1d(np.asarray(machine_model, dtype=object)),
                                         np.atleast_1d(np.asarray(component, dtype=object))])
        pos = idx.index.get_indexer(key)
        if (pos < 0).any():
            bad = key[np.flatnonzero(pos < 0)[0]]
            raise KeyError(f"no fitted group for machine_model={bad[0]!r}, component={bad[1]!r}; "
                           "see params_ for the groups")
        return idx["shape"].to_numpy()[pos], idx["scale"].to_numpy()[pos]

    def cumulative_hazard(self, t, machine_model, component) -> np.ndarray:
        """H(t) = (t/scale)^shape of a group, for operating hours ``t`` (broadcasts)."""
        k, eta = self._params_for(machine_model, component)
        return np.power(np.asarray(t, float) / eta, k)

    def survival(self, t, machine_model, component) -> np.ndarray:
        """Probability that a new component survives ``t`` operating hours."""
        return np.exp(-self.cumulative_hazard(t, machine_model, component))

    def hazard(self, t, machine_model, component) -> np.ndarray:
        """Failure rate (per operating hour) of a component aged ``t`` hours."""
        k, eta = self._params_for(machine_model, component)
        t = np.asarray(t, float)
        return k / eta * np.power(t / eta, k - 1)

    def conditional_failure_prob(self, age, horizon, machine_model, component) -> np.ndarray:
        """Probability that a component aged ``age`` hours fails within the next ``horizon`` hours.

        ``1 − S(age + horizon) / S(age)`` (the first failure only; see
        :func:`partsforecast.demand.expected_failures` for renewals).
        """
        k, eta = self._params_for(machine_model, component)
        age = np.asarray(age, float)
        return -np.expm1(-(np.power((age + np.asarray(horizon, float)) / eta, k) - np.power(age / eta, k)))

    def group_fit(self, machine_model: str, component: str) -> WeibullFit:
        """The fit of one group as a :class:`WeibullFit` (prints a summary, plots)."""
        k, eta = self._params_for(machine_model, component)
        row = self.params_[(self.params_["machine_model"] == machine_model)
                           & (self.params_["component"] == component)].iloc[0]
        nan = float("nan")
        return WeibullFit(
            distribution=self.distribution, method=str(row["method"]), shape=float(k[0]), scale=float(eta[0]),
            se_shape=nan, se_scale=nan, shape_lower=float(row["shape_lower"]), shape_upper=float(row["shape_upper"]),
            scale_lower=float(row["scale_lower"]), scale_upper=float(row["scale_upper"]),
            cov_log_shape_scale=nan, rate_upper=nan, loglik=float(row["loglik"]),
            n_failures=float(row["n_failures"]), n_censored=float(row["n_censored"]), level=self.level,
            converged=True, n_iter=0)

    def group_lives(self, machine_model: str, component: str) -> pd.DataFrame:
        """The lives (duration, failed, ...) the group was fitted on."""
        if not hasattr(self, "lives_"):
            raise NotFittedError("this FailureModel is not fitted yet: call .fit(fleet) first")
        lv = self.lives_.lives
        return lv[(lv["machine_model"] == machine_model) & (lv["component"] == component)]

    def plot(self, machine_model: str, component: str, kind: str = "probability", ax=None):
        """Weibull probability plot (``kind="probability"``) or Kaplan–Meier against the
        fitted survival (``kind="survival"``) of one group; returns the Axes."""
        lv = self.group_lives(machine_model, component)
        fit = self.group_fit(machine_model, component)
        if kind == "probability":
            ax = weibull_plot(lv["duration"], lv["failed"], fit, ax=ax)
        elif kind == "survival":
            ax = survival_plot(lv["duration"], lv["failed"], fit, ax=ax, level=self.level)
        else:
            raise ValueError(f"kind must be 'probability' or 'survival', got {kind!r}")
        ax.set_title(f"{machine_model} · {component}: {ax.get_title()}")
        ax.set_xlabel("operating hours")
        return ax

    def summary(self) -> pd.DataFrame:
        """Groups per fitting method, with failures and median shape: what was borrowed."""
        if not hasattr(self, "params_"):
            raise NotFittedError("this FailureModel is not fitted yet: call .fit(fleet) first")
        return (self.params_.groupby("method")
                .agg(groups=("component", "size"), failures=("n_failures", "sum"),
                     median_shape=("shape", "median"), median_ks=("ks_distance", "median"))
                .sort_values("groups", ascending=False))

    def __repr__(self) -> str:
        head = (f"FailureModel(distribution={self.distribution!r}, pooling={self.pooling!r}, "
                f"min_failures={self.min_failures})")
        if not hasattr(self, "params_"):
            return head + " — not fitted"
        p = self.params_
        lines = [head, f"  {len(p)} groups, {int(p['n_failures'].sum())} failures, "
                       f"{int(p['n_censored'].sum())} censored lives; "
                       f"{int(p['borrowed'].sum())} groups borrow from their family"]
        if self.choice_ is not None:
            n_cr = int((self.comparison_["chosen"] == "constant-rate").sum())
            lines.append(f"  by AIC: {self.choice_} overall; constant rate preferred in {n_cr} groups")
        with pd.option_context("display.width", 120):
            lines.append(self.summary().to_string())
        return "\n".join(lines)


def _group_loglik(g, t, d, k_g, eta_g, G) -> np.ndarray:
    """Weibull log-likelihood (time density) of each group at given parameters."""
    k, eta = k_g[g], eta_g[g]
    with np.errstate(invalid="ignore", divide="ignore"):
        z = t / eta
        ll = np.where(d, np.log(k / eta) + (k - 1) * np.log(z), 0.0) - np.power(z, k)
    out = np.bincount(g, np.nan_to_num(ll, nan=0.0), G)
    return np.where(np.isfinite(k_g) & np.isfinite(eta_g), out, np.nan)


def _km_distance(g, t, d, k_g, eta_g, G, min_at_risk: int = 10) -> np.ndarray:
    """Largest gap between each group's Kaplan–Meier curve and its fitted survival.

    Lives are sorted by (group, time, failures first); with that order the product of
    (1 − 1/at-risk) over tied failures equals the Kaplan–Meier factor (n − d)/n, so the
    estimator is one cumulative sum of logs per group, vectorised over all groups. The gap
    is measured only while at least ``min_at_risk`` lives are at risk: beyond that the
    Kaplan–Meier curve rests on a handful of lives and any gap there is noise.
    """
    order = np.lexsort((~d, t, g))
    gs, ts, ds = g[order], t[order], d[order]
    size = np.bincount(gs, minlength=G)
    first = np.concatenate([[0], np.cumsum(size)[:-1]])
    at_risk = size[gs] - (np.arange(gs.size) - first[gs])
    with np.errstate(divide="ignore"):
        logf = np.where(ds, np.log1p(-1.0 / at_risk), 0.0)  # −inf when the last life fails
    cum = np.cumsum(np.where(np.isfinite(logf), logf, 0.0))
    base = np.concatenate([[0.0], cum])[first[gs]]
    km_before = np.exp(cum - base - np.where(np.isfinite(logf), logf, 0.0))
    km_after = np.where(np.isfinite(logf), np.exp(cum - base), 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        fitted = np.exp(-np.power(ts / eta_g[gs], k_g[gs]))
    gap = np.maximum(np.abs(km_after - fitted), np.abs(km_before - fitted))
    gap = np.where(ds & (at_risk >= min_at_risk), gap, 0.0)
    out = np.zeros(G)
    np.maximum.at(out, gs, np.nan_to_num(gap, nan=0.0))
    return np.where(np.isfinite(k_g) & np.isfinite(eta_g), out, np.nan)
