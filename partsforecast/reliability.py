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
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Maximise the profile log-likelihood of a shape shared by the groups of each pool.

    With the scale of every group profiled out (eta_g**k = sum w t**k / r_g), the log-likelihood
    of pool p is, up to a constant, ``sum_g r_g log k - r_g log(sum w t**k) + k SL_g``. Its score is
    ``R/k - sum_g r_g m_g(k) + SL`` and its second derivative ``-R/k**2 - sum_g r_g v_g(k)`` where
    m_g, v_g are the mean and variance of log t under weights w t**k: strictly concave in k, so the
    score has at most one root and bisection on its sign is always valid. Newton steps are
    taken when they stay inside the current bracket, else the bracket is bisected in log k; all
    pools iterate together with a convergence mask. A plain group fit is the case pool = group.
    """
    k = np.where(active, k0, 1.0).astype(float)
    lo = np.zeros(P)
    hi = np.full(P, np.inf)
    R = np.bincount(pool, r, P)
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
    return {"log_T": log_T, "log_eta": log_eta, "B1": B1, "B2": B2, "loglik": loglik}


def _fit_core(
    group: np.ndarray, t: np.ndarray, d: np.ndarray, w: np.ndarray, G: int,
    shape: np.ndarray | None, level: float, fixed_ci: str = "chi2",
) -> dict[str, np.ndarray]:
    """All groups at once; returns a dict of per-group arrays (the _GROUP_COLUMNS)."""
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
        k_lo[m], k_hi[m] = np.exp(lb - z * np.sqrt(var_b)), np.exp(lb + z * np.sqrt(var_b))
        e_lo[m], e_hi[m] = np.exp(la - z * np.sqrt(var_a)), np.exp(la + z * np.sqrt(var_a))
        cov[m] = cov_ab
        loglik[m] = st["loglik"][m]
    out["converged"] = converged

    # --- given shape: the scale is exact ML given k; chi-square bounds (Nelson 1982) -------
    gv = has & given
    if gv.any():
        k = k_g[gv]
        rr = r[gv]
        logT = st["log_T"][gv]
        pos = rr > 0
        shape_o[gv] = k
        se_k[gv] = 0.0           # treated as known
        k_lo[gv] = k
        k_hi[gv] = k
        cov[gv] = 0.0
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
            se_e[gv] = np.where(pos, np.exp(la) / (k * np.sqrt(np.where(pos, rr, 1.0))), np.nan)
            e_lo[gv] = np.where(pos, lo_e, eta_bound)
            e_hi[gv] = np.where(pos, hi_e, np.inf)
            loglik[gv] = np.where(pos, st["loglik"][gv], np.nan)

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
            shape's is 0 when the shape was given.
        ``shape_lower``, ``shape_upper``, ``scale_lower``, ``scale_upper``
            Two-sided intervals at ``level``: Wald on the log scale for ``"mle"``; for Weibayes
            the chi-square interval of the rate (2r and 2r+2 degrees of freedom); for zero
            failures the one-sided lower bound of the scale (upper = inf).
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
    return _frame(_fit_core(g, t, d, w, G, k_given, lv), G)


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
        Confidence intervals at ``level`` (Wald on the log scale for ML; chi-square for
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

    Standard errors come from the observed information in ``(log eta, log k)``; the
    intervals are Wald intervals on the log scale, ``exp(log est +/- z se_log)``.

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
    return df


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
    (``Z = 0``, ``a = inf``). The shrunk scale is ``lambda_g* ** (-1/k)``, and its interval maps
    the posterior's equal-tailed interval of ``lambda_g``. Groups without failures get a finite,
    sensible scale from their family.

    Sources: Clayton, D. & Kaldor, J. (1987), Empirical Bayes estimates of age-standardized
    relative risks for use in disease mapping, *Biometrics* 43, 671-681; Marshall, R. J.
    (1991), Mapping disease and mortality rates using empirical Bayes estimators, *Applied
    Statistics* 40, 283-294; Gelman et al., *Bayesian Data Analysis*, 3rd ed., sec. 2.6
    (gamma-Poisson model with exposure).

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
        Level of the posterior (credible) interval.

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
    r = S["r"]

    # Exposure in a per-family reference unit c_f (mean of the groups' log maxima) keeps
    # E and lambda representable for any time unit and shape.
    cnt = np.bincount(fam, has.astype(float), F)
    with np.errstate(invalid="ignore", divide="ignore"):
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
        af, bf, mf = a[fam], b[fam], m[fam]
        Z = np.where(pooled[fam], 0.0, E / (E + bf))
        lam = np.where(pooled[fam], mf, (r + af) / (E + bf))
        q_lo, q_hi = (1.0 - lv) / 2.0, (1.0 + lv) / 2.0
        # With no spread beyond Poisson noise every group shares the family rate, so its
        # interval is the family rate's: Gamma(R_f, sumE_f) under a flat prior.
        Rf = np.bincount(fam, rh, F)[fam]
        sEf = sumE[fam]
        lam_lo = np.where(pooled[fam], stats.gamma.ppf(q_lo, np.maximum(Rf, 1e-12)) / sEf,
                          stats.gamma.ppf(q_lo, r + af) / (E + bf))
        lam_hi = np.where(pooled[fam], stats.gamma.ppf(q_hi, Rf + 1.0) / sEf,
                          stats.gamma.ppf(q_hi, r + af) / (E + bf))
        inv_k = 1.0 / kg
        # back to original units: scale = c_f * lambda' ** (-1/k)
        c = np.exp(logc[fam])
        scale = c * lam ** -inv_k
        scale_lo = c * lam_hi ** -inv_k
        scale_hi = c * lam_lo ** -inv_k
        scale_mle = np.where(r > 0, c * theta ** -inv_k, np.nan)
        prior_scale = c * mf ** -inv_k

    fam_fail = m[fam] > 0
    method = np.full(G, "shrunk", dtype=object)
    method[pooled[fam]] = "pooled"
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
        One row per component family: pooled shape and its interval, n_groups, n_failures.
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
        own = fit_weibull_groups(gcode, t, d, n_groups=G, level=self.level)
        own_ok = (own["method"] == "mle").to_numpy() & own["converged"].to_numpy()
        pooled = pooled_shape(gcode, t, d, fam, n_groups=G, n_pools=F, level=self.level)
        fam_shape = pooled["shape"].to_numpy()
        # A family with fewer than two distinct failure times has no shape to share:
        # assume a constant hazard (shape 1), flagged in `method`.
        fam_k = np.where(np.isfinite(fam_shape), fam_shape, 1.0)
        fam_table = pooled[["shape", "shape_lower", "shape_upper", "n_groups", "n_failures", "method"]].copy()

        if self.pooling == "none":
            given = np.where(own_ok, np.nan, 1.0)
            params = fit_weibull_groups(gcode, t, d, n_groups=G, shape=given, level=self.level)
            params["borrowed"] = False
            params.loc[~own_ok, "method"] = params.loc[~own_ok, "method"] + " (shape 1 assumed)"
            return params, fam_table

        k_g = fam_k[fam]
        under_pool = fit_weibull_groups(gcode, t, d, n_groups=G, shape=k_g, level=self.level)
        # The pooled shape's own uncertainty, carried into every group that uses it.
        for side in ("shape_lower", "shape_upper"):
            under_pool[side] = np.where(np.isfinite(fam_shape[fam]), pooled[side].to_numpy()[fam], np.nan)
        under_pool["method"] = np.where(np.isfinite(fam_shape[fam]), "pooled-shape", "pooled-shape (shape 1 assumed)")
        under_pool["borrowed"] = True
        if self.pooling == "shape":
            return under_pool, fam_table

        shrunk = shrink_scale(gcode, t, d, shape=k_g, family=fam, n_groups=G, n_families=F, level=self.level)
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
        params.loc[take, "method"] = np.where(
            shrunk.loc[take, "method"].to_numpy() == "shrunk", "pooled-shape, shrunk scale",
            "pooled-shape, family rate")
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
