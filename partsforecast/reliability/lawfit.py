"""The lognormal and gamma laws at fleet level: pooling, shrinkage and the choice by AIC.

What :class:`~partsforecast.reliability.FailureModel` does with the group engine of
:mod:`partsforecast.reliability.laws` for ``distribution="lognormal"``, ``"gamma"`` and
``"auto"`` (internal; see the class docstring and ``docs/failure-models.md``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from partsforecast.reliability.groups import group_loglik as weibull_loglik
from partsforecast.reliability.laws import (
    LAW_NAMES,
    Lives,
    fit_own,
    joint_fit,
    law_loglik,
    lifetime_law,
    moment_start,
    scale_fit,
    zero_failure_bound,
)

__all__ = ["law_lives", "fit_law_pooled", "choose_laws", "group_loglik"]

_NO_CI = ["shape_lower", "shape_upper", "scale_lower", "scale_upper"]


def law_lives(gcode: np.ndarray, t: np.ndarray, d: np.ndarray, G: int) -> Lives:
    """The fleet's lives (weight 1 each) for the group engine."""
    return Lives(np.asarray(gcode, np.int64), np.asarray(t, float), np.asarray(d, bool), np.ones(len(t)), G)


def group_loglik(codes: np.ndarray, gcode, t, d, k, eta, G) -> np.ndarray:
    """Log-likelihood of each group under its law (codes per group; Weibull groups as the
    Weibull engine computes it)."""
    out = weibull_loglik(gcode, t, d, k, eta, G)
    present = np.unique(codes[codes > 0])
    if present.size:
        lv = law_lives(gcode, t, d, G)
        for code in present:
            ll = law_loglik(lifetime_law(LAW_NAMES[code]), lv, k, eta)
            out = np.where(codes == code, ll, out)
    return out


def _dersimonian_laird(fam, F, y, v, use):
    """Between-group variance of ``y`` (sampling variances ``v``) per family, the moment
    estimate of DerSimonian & Laird (1986) (0 when it is negative or with fewer than two
    groups), and the random-effects mean."""
    w = np.where(use, 1.0 / v, 0.0)
    s1 = np.bincount(fam, w, F)
    s2 = np.bincount(fam, w * w, F)
    n = np.bincount(fam, use.astype(float), F)
    with np.errstate(invalid="ignore", divide="ignore"):
        ybar = np.bincount(fam, w * np.where(use, y, 0.0), F) / s1
        q = np.bincount(fam, w * np.where(use, (y - ybar[fam]) ** 2, 0.0), F)
        tau2 = np.where(n >= 2, np.maximum((q - (n - 1.0)) / (s1 - s2 / s1), 0.0), 0.0)
        wr = np.where(use, 1.0 / (v + tau2[fam]), 0.0)
        mu = np.bincount(fam, wr * np.where(use, y, 0.0), F) / np.bincount(fam, wr, F)
    return np.nan_to_num(tau2), mu


def fit_law_pooled(law, lv: Lives, fam: np.ndarray, F: int, weibull: pd.DataFrame, pooling: str,
                   min_failures: int, level: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every group's fit under ``law`` with the pooling of :class:`FailureModel`.

    ``weibull`` is the Weibull fit under the same pooling (one row per group code): it
    starts the searches, and groups the law cannot fit (their family has no shape to share,
    or their own fit is needed and failed) keep its row, with law ``"weibull"``.
    Returns the groups' table and the families' table."""
    G = lv.G
    k0, e0 = moment_start(law, lv, weibull["shape"].to_numpy(float), weibull["scale"].to_numpy(float))
    own = fit_own(law, lv, k0, e0, level)
    own_ok = (own["method"] == "mle").to_numpy() & own["converged"].to_numpy()
    r = lv.r
    # the family's shape: one shape, a scale per group with failures
    act = lv.has & (r > 0)
    R = np.bincount(fam, r, F)
    any_multi = np.bincount(fam, (lv.multi & act).astype(float), F) > 0
    n_fail_grp = np.bincount(fam, act.astype(float), F)
    identified = (R > 0) & (any_multi | (n_fail_grp >= 2))
    s_start, _ = law.to_working(k0, e0)
    s_f = np.bincount(fam, np.where(act, r * s_start, 0.0), F) / np.maximum(R, 1e-300)
    k_f0 = law.from_working(s_f, np.zeros(F))[0]
    pooled = joint_fit(law, lv, fam, F, k_f0, e0, act & identified[fam])
    fam_ok = identified & pooled["converged"] & np.isfinite(pooled["shape"])
    k_fam = np.where(fam_ok, pooled["shape"], np.nan)
    assumed = ~fam_ok[fam]
    kg = np.where(assumed, 1.0, k_fam[fam])
    mean0 = law.mean(k0, e0)
    start = np.where(np.isfinite(mean0) & (mean0 > 0), mean0, np.exp(np.bincount(lv.g, lv.lt, G)
                                                                       / np.maximum(np.bincount(lv.g, minlength=G), 1)))
    start = start / law.mean(kg, 1.0)
    z = stats.norm.ppf(0.5 + level / 2.0)
    se = pooled["se_log_shape"]
    fam_table = pd.DataFrame({
        "shape": k_fam, "shape_lower": k_fam * np.exp(-z * se), "shape_upper": k_fam * np.exp(z * se),
        "n_groups": np.bincount(fam, lv.has.astype(float), F).astype(np.int64), "n_failures": R,
        "method": np.where(fam_ok, "mle", np.where(R > 0, "single-failure-time", "no-failures")).astype(str),
        "tau_log_shape": np.nan, "law": law.name, "tau_log_scale": np.nan,
    })

    out = own[["shape", "scale", *_NO_CI, "n_failures", "n_censored", "method"]].copy()
    out["borrowed"] = False
    out["law"] = law.name
    if pooling == "none":
        take_w = ~own_ok
    else:
        borrow = lv.has & ~assumed
        if pooling == "shrink":
            borrow &= ~(own_ok & (r >= min_failures))
        take_w = ~own_ok & ~borrow
        if pooling == "shape":
            with_fail = borrow & (r > 0)
            sf = scale_fit(law, lv, kg, with_fail, start)
            zero = borrow & (r <= 0)
            bound = zero_failure_bound(law, lv, kg, zero, level) if zero.any() else np.full(G, np.nan)
            scale = np.where(with_fail, sf["scale"], bound)
            method = np.full(G, "pooled-shape", dtype=object)
        else:
            # each group's scale under the family's shape, and the spread of their logs
            base = act & ~assumed
            sf = scale_fit(law, lv, kg, base, start)
            tau2, mu = _dersimonian_laird(fam, F, np.log(sf["scale"]), 1.0 / sf["info"], base & (sf["info"] > 0))
            spread = (tau2 > 0)[fam]
            shrunk = scale_fit(law, lv, kg, borrow & spread, start, prior_mean=mu[fam], prior_var=tau2[fam])
            # no spread beyond sampling error: the family's common scale (all its lives)
            fam_lv = Lives(fam[lv.g], lv.t, lv.d, lv.w, F)
            has_f = fam_ok & (np.bincount(fam, (borrow & ~spread).astype(float), F) > 0)
            common = scale_fit(law, fam_lv, np.where(fam_ok, k_fam, 1.0), has_f,
                               np.bincount(fam, np.where(act, start, 0.0), F) / np.maximum(n_fail_grp, 1))
            scale = np.where(spread, shrunk["scale"], common["scale"][fam])
            method = np.where(spread, "pooled-shape, shrunk scale", "pooled-shape, family scale")
            fam_table["tau_log_scale"] = np.where(fam_ok, np.sqrt(tau2), np.nan)
        out.loc[borrow, "shape"] = kg[borrow]
        out.loc[borrow, "scale"] = scale[borrow]
        out.loc[borrow, "method"] = method[borrow]
        out.loc[borrow, "borrowed"] = True
        out.loc[borrow, _NO_CI] = np.nan
    # what the law cannot fit keeps the Weibull path's row (the exponential, where assumed)
    for col in ["shape", "scale", *_NO_CI, "method", "borrowed"]:
        out.loc[take_w, col] = weibull.loc[take_w, col].to_numpy()
    out.loc[take_w, "law"] = "weibull"
    out["borrowed"] = out["borrowed"].astype(bool)
    return out, fam_table


def choose_laws(fits: dict, table: dict, fam: np.ndarray, fam_keys) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Each family's law by AIC summed over its groups, and the per-group comparison.

    ``fits``: law -> (groups' table, families' table); ``table``: law -> the groups' table
    with ``loglik`` (``FailureModel._finish``). A group's parameters count 2 when it keeps
    its own fit, 1 when it borrows its shape, plus 1 per family whose groups borrow its
    pooled shape: the same for every law, so AIC orders the laws as their log-likelihoods
    do. Groups where some law has no finite log-likelihood are left out of every law's sum.
    Ties go to the first of weibull, lognormal, gamma."""
    names = list(fits)
    F = len(fam_keys)
    first = table[names[0]]
    n_params = np.where(first["method"].to_numpy(dtype=str) == "mle", 2.0,
                        np.where(np.isfinite(first["scale"].to_numpy(float)), 1.0, 0.0))
    ll = np.column_stack([table[n]["loglik"].to_numpy(float) for n in names])
    aic = 2.0 * n_params[:, None] - 2.0 * ll
    valid = np.isfinite(aic).all(axis=1)
    fam_aic = np.column_stack([np.bincount(fam, np.where(valid, aic[:, j], 0.0), F) for j in range(len(names))])
    borrowing = np.bincount(fam, (first["borrowed"].to_numpy(bool)
                                  & ~first["method"].str.contains("assumed").to_numpy()).astype(float), F) > 0
    fam_aic += 2.0 * borrowing[:, None]
    fam_choice = np.argmin(fam_aic, axis=1)
    choice_g = fam_choice[fam]
    best_g = np.where(valid, np.argmin(np.where(np.isfinite(aic), aic, np.inf), axis=1), 0)
    G = len(fam)
    params = pd.concat([fits[n][0] for n in names], keys=range(len(names))).sort_index(level=1)
    params = params.loc[list(zip(choice_g, range(G)))].droplevel(0)
    families = pd.concat([fits[n][1] for n in names], keys=range(len(names)))
    families = families.loc[list(zip(fam_choice, range(F)))].droplevel(0).reset_index(drop=True)
    comp = {"machine_model": first["machine_model"].to_numpy(), "component": first["component"].to_numpy(),
            "n_failures": first["n_failures"].to_numpy(float), "n_params": n_params}
    for j, n in enumerate(names):
        comp[f"loglik_{n}"] = ll[:, j]
    for j, n in enumerate(names):
        comp[f"aic_{n}"] = aic[:, j]
    comp["best_in_group"] = pd.array(np.asarray(names, dtype=object)[best_g].astype(str), dtype="str")
    comp["law"] = pd.array(np.asarray(names, dtype=object)[choice_g].astype(str), dtype="str")
    comparison = pd.DataFrame(comp)
    comparison.loc[~valid, "best_in_group"] = pd.NA
    comparison = comparison.sort_values(["machine_model", "component"], ignore_index=True)
    return params, families, comparison
