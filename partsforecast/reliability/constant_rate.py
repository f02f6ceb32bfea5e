"""The constant-rate alternative to the Weibull fits: a Poisson GLM of failures per
operating hour, one rate per group times shared covariate factors, compared by AIC."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["ConstantRateFit", "fit_constant_rate"]

#: The keys of a lifetime group.
GROUP_KEYS = ["machine_model", "component"]


@dataclass(frozen=True)
class ConstantRateFit:
    """What :func:`fit_constant_rate` finds (the ``glm_*``, ``comparison_`` and ``choice_``
    attributes of :class:`partsforecast.reliability.FailureModel`)."""

    glm: Any
    terms: pd.DataFrame
    group_rates: pd.DataFrame
    comparison: pd.DataFrame
    choice: str


def fit_constant_rate(fleet, lives, gcode: np.ndarray, groups: pd.MultiIndex, params: pd.DataFrame,
                      covariates, level: float) -> ConstantRateFit:
    """Poisson GLM of failures with log-exposure offset; compare with the Weibull fits by AIC.

    Parameters
    ----------
    fleet : Fleet
    lives : partsforecast.lives.Lives
        The lives the Weibull fits were made on.
    gcode : array of int
        Group code of every life (row of ``lives.lives``), 0..G-1, in the order of ``groups``.
    groups : MultiIndex
        (machine_model, component) of every group.
    params : DataFrame
        The Weibull fits, in group order (``loglik`` and ``borrowed`` are read).
    covariates : sequence of {"tier", "usage"}
    level : float
        Level of the rate ratios' intervals.
    """
    import statsmodels.api as sm

    lv = lives.lives
    cells = pd.DataFrame({"group": gcode, "failed": lv["failed"].to_numpy(float),
                          "exposure": lv["duration"].to_numpy(float)})
    terms = []
    if "tier" in covariates:
        tier = fleet.location_tiers(lv["location_id"])
        cells["tier"] = np.nan_to_num(tier, nan=0.0).astype(int)
        terms.append("tier")
    if "usage" in covariates:
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
    z = stats.norm.ppf(0.5 + level / 2)
    terms_table = pd.DataFrame({
        "term": names, "coef": gamma, "se": se, "rate_ratio": np.exp(gamma),
        "rate_ratio_lower": np.exp(gamma - z * se), "rate_ratio_upper": np.exp(gamma + z * se),
        "p_value": 2 * stats.norm.sf(np.abs(gamma / np.where(se > 0, se, np.inf)))})
    group_rates = pd.DataFrame({
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
    comparison = pd.DataFrame({
        "machine_model": params["machine_model"].to_numpy(), "component": params["component"].to_numpy(),
        "loglik_weibull": ll_w, "loglik_constant_rate": ll_glm,
        "aic_weibull": aic_w, "aic_constant_rate": aic_g, "chosen": choice,
    }).sort_values(GROUP_KEYS, ignore_index=True)
    ok = np.isfinite(aic_g) & np.isfinite(aic_w)
    overall = "weibull" if aic_w[ok].sum() <= aic_g[ok].sum() else "constant-rate"
    return ConstantRateFit(res, terms_table, group_rates, comparison, overall)
