"""The vectorised group engine: Weibull fits of many groups at once, no loop over groups.

:func:`fit_weibull_groups` is the public entry. The pieces the other modules of the package
build on are public here too: :func:`group_setup` (per-group sufficient sums),
:func:`shape_search` (the safeguarded Newton search for a shape shared by the groups of each
pool), :func:`fit_core` (every group's fit as a dict of arrays, with ``GROUP_COLUMNS``) and
:func:`group_loglik` (the log-likelihood of each group at given parameters).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from partsforecast.reliability._common import complain, per_group, validate, validate_codes, validate_level
from partsforecast.reliability.profile import profile_bounds

__all__ = ["fit_weibull_groups"]


#: Relative step in the shape at which Newton iterations stop.
_SHAPE_RTOL = 1e-13
#: Iteration cap of the safeguarded Newton search (bisection alone needs ~90 from any start).
_MAX_ITER = 200
#: A shape beyond this is reported as not converged (failures closer together than
#: 1e-7 relative; no lifetime data is that regular).
_SHAPE_MAX = 1e7

GROUP_COLUMNS = [
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

#: The columns every law's group fit reports (the Weibull engine adds its standard errors,
#: the shape-scale covariance and the rate's upper bound).
LAW_GROUP_COLUMNS = [c for c in GROUP_COLUMNS
                     if c not in ("se_shape", "se_scale", "cov_log_shape_scale", "rate_upper")]


def group_setup(g: np.ndarray, t: np.ndarray, d: np.ndarray, w: np.ndarray, G: int) -> dict:
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


def shape_search(
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


def fit_core(
    group: np.ndarray, t: np.ndarray, d: np.ndarray, w: np.ndarray, G: int,
    shape: np.ndarray | None, level: float, fixed_ci: str = "chi2", ml_ci: str = "profile",
    shape_log_se: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """All groups at once; returns a dict of per-group arrays (the GROUP_COLUMNS).

    ``ml_ci``: ``"profile"`` (likelihood-ratio) or ``"wald"`` intervals for ML fits.
    ``shape_log_se``: standard error of the log of a given shape (NaN or 0: known exactly);
    it widens the given-shape scale intervals by the delta method (see fit_weibull_groups).
    """
    S = group_setup(group, t, d, w, G)
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
    k_hat, conv, n_iter, _ = shape_search(S["L"], S["w"], S["g"], G, ident, G, r, S["SL"],
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
            pk_lo, pk_hi, pe_lo, pe_hi = profile_bounds(S, st, k_g, vb, va, cv, m, G, level)
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


def group_frame(out: dict[str, np.ndarray], G: int, columns: list[str] = GROUP_COLUMNS) -> pd.DataFrame:
    """The per-group result table (indexed 0..G-1 as ``group``) of any law's group fit."""
    df = pd.DataFrame({c: out[c] for c in columns}, index=pd.RangeIndex(G, name="group"))
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
            ``"single-failure-time"`` or ``"no-data"`` (see "Method labels" in
            :mod:`partsforecast.reliability`).
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
    t, d, w = validate(func, time, failed, weights, allow_empty=True)
    g, G = validate_codes(func, "group", group, t.shape[0], "time", n_groups, "n_groups")
    lv = validate_level(func, level)
    k_given = None if shape is None else per_group(func, "shape", shape, G)
    se_given = None
    if shape_log_se is not None:
        se_given = per_group(func, "shape_log_se", shape_log_se, G, positive=False)
        bad = ~np.isnan(se_given) & ~(np.isfinite(se_given) & (se_given >= 0))
        if bad.any():
            complain(func, "shape_log_se", shape_log_se, bad, se_given,
                      "but a standard error must be finite and >= 0", "Pass NaN or 0 for a known shape.")
    return group_frame(fit_core(g, t, d, w, G, k_given, lv, shape_log_se=se_given), G)


def group_loglik(g, t, d, k_g, eta_g, G) -> np.ndarray:
    """Weibull log-likelihood (time density) of each group at given parameters."""
    k, eta = k_g[g], eta_g[g]
    with np.errstate(invalid="ignore", divide="ignore"):
        z = t / eta
        ll = np.where(d, np.log(k / eta) + (k - 1) * np.log(z), 0.0) - np.power(z, k)
    out = np.bincount(g, np.nan_to_num(ll, nan=0.0), G)
    return np.where(np.isfinite(k_g) & np.isfinite(eta_g), out, np.nan)
