"""Borrowing strength across groups: a pooled shape, each group's borrowed shape with its
uncertainty, and empirical-Bayes shrinkage of each group's rate towards its family.

:func:`pooled_core` and :func:`borrowed_core` are the computations behind
:func:`pooled_shape` and :func:`borrowed_shape` on the sums of
:func:`partsforecast.reliability.groups.group_setup`, for callers that already hold them
(:class:`partsforecast.reliability.FailureModel`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from partsforecast.reliability._common import complain, per_group, validate, validate_codes, validate_level
from partsforecast.reliability.groups import group_setup, shape_search

__all__ = ["pooled_shape", "borrowed_shape", "shrink_scale"]



def _pooled_inputs(func, group, time, failed, pool, weights, n_groups, n_pools, level):
    """The checked inputs of a pooled fit: group statistics, pool codes, pool count, level."""
    t, d, w = validate(func, time, failed, weights, allow_empty=True)
    g, G = validate_codes(func, "group", group, t.shape[0], "time", n_groups, "n_groups")
    pl, P = validate_codes(func, "pool", pool, None, "", n_pools, "n_pools")
    if pl.shape[0] != G:
        raise ValueError(f"{func}: pool has {pl.shape[0]} values but there are {G} groups; pass one "
                         "pool code per group (pool[g] is the pool of group g)")
    return group_setup(g, t, d, w, G), pl, P, validate_level(func, level)

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
    S, pl, P, lv = _pooled_inputs(func, group, time, failed, pool, weights, n_groups, n_pools, level)
    return pooled_core(S, pl, P, lv)[0]


def pooled_core(S: dict, pl: np.ndarray, P: int, lv: float) -> tuple[pd.DataFrame, np.ndarray]:
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
    k, conv, n_iter, _ = shape_search(S["L"], S["w"], gg, G, pl, P, r, S["SL"], k0, identified)

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
    k, conv, _, _ = shape_search(S["L"], S["w"], S["g"], G, np.arange(G), G, r, S["SL"],
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


def shape_spread_terms(S: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group: the Cox-Reid log shape, its variance and the failure count, the only
    inputs of the spread ``tau**2`` (:func:`shape_spread`); groups are independent here."""
    own_logk, own_var = _cox_reid_shapes(S)
    return own_logk, own_var, np.asarray(S["r"], float)


def shape_spread(pl: np.ndarray, P: int, own_logk: np.ndarray, own_var: np.ndarray,
                 r: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The one spread ``tau**2`` of log shapes for all pools (see :func:`borrowed_core`), from
    the groups' :func:`shape_spread_terms`; also the groups used and the pools with two."""
    ok_all = np.isfinite(own_logk) & np.isfinite(own_var) & (own_var > 0)
    for ok_own in (ok_all & (r >= _TAU_MIN_FAILURES), ok_all):
        y = np.where(ok_own, own_logk, 0.0)
        n_p = np.bincount(pl, ok_own.astype(float), P)
        use = n_p >= 2
        if use.any():
            break
    tau2 = _adjusted_reml_tau2(pl, P, y, np.where(ok_own, own_var, np.inf), ok_own & use[pl])
    return tau2, ok_own, n_p


def borrowed_core(S: dict, pl: np.ndarray, P: int, pooled: pd.DataFrame,
                  info_g: np.ndarray, tau2: float | None = None) -> dict[str, Any]:
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
    spread, ok_own, n_p = shape_spread(pl, P, *shape_spread_terms(S))
    use = n_p >= 2
    df_q = float(np.sum(np.where(use, n_p - 1.0, 0.0)))
    # a given tau2: the spread of a larger fleet this one is a part of (a partitioned fit)
    tau2 = spread if tau2 is None else float(tau2)

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
    S, pl, P, lv = _pooled_inputs(func, group, time, failed, pool, weights, n_groups, n_pools, level)
    G = pl.shape[0]
    pooled, info_g = pooled_core(S, pl, P, lv)
    b = borrowed_core(S, pl, P, pooled, info_g)
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
    t, d, w = validate(func, time, failed, weights, allow_empty=True)
    g, G = validate_codes(func, "group", group, t.shape[0], "time", n_groups, "n_groups")
    fam, F = validate_codes(func, "family", family, None, "", n_families, "n_families")
    if fam.shape[0] != G:
        raise ValueError(f"{func}: family has {fam.shape[0]} values but there are {G} groups; pass "
                         "one family code per group")
    lv = validate_level(func, level)
    k = per_group(func, "shape", shape, G)
    S = group_setup(g, t, d, w, G)
    has = S["has_data"]
    if np.isnan(k[has]).any():
        bad = np.isnan(k) & has
        complain(func, "shape", shape, bad, k, "but every group with lives needs a shape",
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
        se_k = per_group(func, "shape_log_se", shape_log_se, G, positive=False)
        bad = ~np.isnan(se_k) & ~(np.isfinite(se_k) & (se_k >= 0))
        if bad.any():
            complain(func, "shape_log_se", shape_log_se, bad, se_k,
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
