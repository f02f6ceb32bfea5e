"""Nonparametric estimators: Kaplan-Meier, Nelson-Aalen, median ranks, and the largest gap
between each group's Kaplan-Meier curve and a fitted Weibull (:func:`km_distance`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from partsforecast.reliability._common import validate, validate_level

__all__ = ["kaplan_meier", "nelson_aalen", "median_ranks"]


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
    t, d, w = validate(func, time, failed, weights)
    lv = validate_level(func, level)
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
    t, d, w = validate(func, time, failed, weights)
    lv = validate_level(func, level)
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
    t, d, _ = validate(func, time, failed)
    order = np.lexsort((1 - d, t))  # by time, failures first at ties
    ts, ds = t[order], d[order]
    N = ts.size
    rr = N - np.arange(N)  # reverse rank of each sorted life
    fail = ds > 0
    factor = rr[fail] / (rr[fail] + 1.0)
    adj = (N + 1.0) * (1.0 - np.cumprod(factor))
    return pd.DataFrame({"time": ts[fail], "adjusted_rank": adj,
                         "median_rank": (adj - 0.3) / (N + 0.4)})


def km_distance(g, t, d, k_g, eta_g, G, min_at_risk: int = 10, law=None) -> np.ndarray:
    """Largest gap between each group's Kaplan–Meier curve and its fitted survival.

    The fitted survival is Weibull, or with ``law`` (codes per group, indices in
    ``laws.LAW_NAMES``) each group's law.

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
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if law is None or not np.any(law):
            fitted = np.exp(-np.power(ts / eta_g[gs], k_g[gs]))
        else:
            from partsforecast.reliability.laws import by_law

            ok = np.isfinite(k_g) & np.isfinite(eta_g) & (k_g > 0) & (eta_g > 0)
            fitted = np.exp(by_law(np.asarray(law)[gs], "log_sf", ts, np.where(ok, k_g, 1.0)[gs],
                                   np.where(ok, eta_g, 1.0)[gs]))
    gap = np.maximum(np.abs(km_after - fitted), np.abs(km_before - fitted))
    gap = np.where(ds & (at_risk >= min_at_risk), gap, 0.0)
    out = np.zeros(G)
    np.maximum.at(out, gs, np.nan_to_num(gap, nan=0.0))
    return np.where(np.isfinite(k_g) & np.isfinite(eta_g), out, np.nan)
