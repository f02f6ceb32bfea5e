"""Two-echelon evaluation: METRIC (Sherbrooke 1968) with the VARI-METRIC variance correction.

:func:`metric_evaluate` turns warehouse and dealer stock levels into backorders, fill rates
and effective lead times per (part, dealer): the warehouse delay EBO_0 / lambda_0 (Little's
law) lengthens each dealer's lead time, and :func:`vari_metric_pipeline` gives the mean and
variance of the dealer's lead-time demand that follow (Graves 1985; Sherbrooke 1986).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from partsforecast.stocking.formulas import check_levels, check_nonneg, lead_time_law

__all__ = ["MetricEvaluation", "check_method", "metric_evaluate", "vari_metric_pipeline"]


# ---------------------------------------------------------------------------------------
# Two-echelon evaluation (METRIC / VARI-METRIC)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricEvaluation:
    """Performance of given stock levels in the two-echelon system.

    Dealer fields are ``(parts, dealers)`` arrays, warehouse fields ``(parts,)`` arrays (NaN
    for a single-echelon evaluation, where the warehouse is never short).

    Attributes
    ----------
    backorders, fill_rate, ready_rate, on_hand
        Expected backorders, fill rate P(D <= s-1), ready rate P(D <= s), expected on hand.
    effective_lead_time
        T_j + EBO_0 / lambda_0 (days): transport time plus the mean warehouse delay.
    pipeline_mean, pipeline_var
        Mean and variance of dealer orders outstanding (the law behind the dealer figures).
    expected_wait
        Expected customer wait per demand, EBO / lambda (days; Little's law); 0 where there
        is no demand.
    wh_backorders, wh_backorder_var, wh_fill_rate, wh_ready_rate, wh_on_hand, wh_delay,
    wh_pipeline_mean, wh_pipeline_var
        Warehouse counterparts; ``wh_delay`` = EBO_0 / lambda_0.
    demand_rate
        Dealer demand rates used (parts, dealers).
    """

    backorders: np.ndarray
    fill_rate: np.ndarray
    ready_rate: np.ndarray
    on_hand: np.ndarray
    effective_lead_time: np.ndarray
    pipeline_mean: np.ndarray
    pipeline_var: np.ndarray
    expected_wait: np.ndarray
    wh_backorders: np.ndarray
    wh_backorder_var: np.ndarray
    wh_fill_rate: np.ndarray
    wh_ready_rate: np.ndarray
    wh_on_hand: np.ndarray
    wh_delay: np.ndarray
    wh_pipeline_mean: np.ndarray
    wh_pipeline_var: np.ndarray
    demand_rate: np.ndarray

    @property
    def system_fill_rate(self) -> float:
        """Demand-weighted fill rate over all (part, dealer) pairs."""
        tot = self.demand_rate.sum()
        return float((self.demand_rate * self.fill_rate).sum() / tot) if tot > 0 else 1.0

    @property
    def total_backorders(self) -> float:
        """Expected backorders summed over all dealers and parts."""
        return float(self.backorders.sum())


def vari_metric_pipeline(
    lam: np.ndarray, T: np.ndarray, vmr: np.ndarray, lam0: np.ndarray, ebo0: np.ndarray,
    vbo0: np.ndarray, method: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of dealer orders outstanding (all arrays broadcast together).

    Orders outstanding at a dealer at time t = its orders placed in (t - T_j, t] (Poisson,
    mean lambda_j T_j, independent of the rest) + its share of warehouse backorders at
    t - T_j.  Each warehouse backorder belongs to dealer j with probability f_j =
    lambda_j / lambda_0 independently (Poisson thinning), so given B_0 backorders the dealer's
    count is Binomial(B_0, f_j):  mean f_j EBO_0,  variance f_j (1 - f_j) EBO_0 + f_j^2 VBO_0.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(lam0 > 0, lam / np.where(lam0 > 0, lam0, 1.0), 0.0)
    own = lam * T
    mean = own + f * ebo0
    if method == "metric":
        return mean, mean
    return mean, vmr * own + f * (1.0 - f) * ebo0 + f * f * vbo0


def check_method(method: str) -> str:
    m = method.lower().replace("_", "-")
    if m not in ("metric", "vari-metric"):
        raise ValueError(f"method must be 'metric' or 'vari-metric'; got {method!r}")
    return m


def metric_evaluate(
    s_wh: Any,
    s_dealer: Any,
    dealer_demand_rate: Any,
    wh_lead_time: Any,
    dealer_lead_time: Any,
    *,
    demand_vmr: Any = None,
    method: str = "vari-metric",
) -> MetricEvaluation:
    """Backorders, fill and ready rates of warehouse and dealer stock levels.

    METRIC (Sherbrooke 1968): the warehouse sees the superposed dealer demand lambda_0 =
    sum_j lambda_j over its lead time T_0, so its pipeline has mean lambda_0 T_0 and it
    holds EBO_0(s_0) backorders on average.  By Little's law a dealer order waits
    EBO_0 / lambda_0 days on average, so the dealer's effective lead time is
    T_j + EBO_0 / lambda_0 and its pipeline mean lambda_j T_j + f_j EBO_0 (f_j = lambda_j /
    lambda_0).  METRIC treats that pipeline as Poisson; VARI-METRIC (Graves 1985; Sherbrooke
    1986) also carries its variance, lambda_j T_j v_j + f_j (1 - f_j) EBO_0 + f_j^2 VBO_0,
    and uses the negative binomial with that mean and variance.

    Parameters
    ----------
    s_wh : array (parts,) or None
        Warehouse base-stock levels.  ``None`` evaluates a single echelon (dealers resupplied
        in exactly their transport time).
    s_dealer : array (parts, dealers)
        Dealer base-stock levels (broadcastable).
    dealer_demand_rate : array (parts, dealers)
        Mean demand per day at each dealer.  Warehouse demand is their sum.
    wh_lead_time : array (parts,) or float or None
        Factory replenishment (production) lead time, days.
    dealer_lead_time : array (dealers,) or (parts, dealers) or float
        Transport time of each warehouse -> dealer lane, days.
    demand_vmr : array (parts, dealers) or float, optional
        Variance-to-mean ratio of demand (1 = Poisson, the METRIC assumption; > 1 for
        compound/lumpy demand).  Lead-time demand over T then has variance vmr x mean.
    method : {"vari-metric", "metric"}
        Two-moment (NB) or Poisson dealer pipeline.

    Returns
    -------
    MetricEvaluation

    References
    ----------
    Sherbrooke (1968); Sherbrooke (2004), Ch. 4-5; Graves (1985); Axsäter (2015), Sec. 5.3.
    """
    method = check_method(method)
    if (s_wh is None) != (wh_lead_time is None):
        raise ValueError("give both s_wh and wh_lead_time (two echelons) or neither (single echelon)")
    lam = check_nonneg(dealer_demand_rate, "dealer_demand_rate")
    if lam.ndim != 2:
        raise ValueError(f"dealer_demand_rate must be 2-D (parts, dealers); got shape {lam.shape}")
    P, J = lam.shape
    sd = np.broadcast_to(check_levels(s_dealer, "s_dealer"), (P, J))
    T = np.broadcast_to(check_nonneg(dealer_lead_time, "dealer_lead_time"), (P, J))
    vmr = np.broadcast_to(np.maximum(check_nonneg(1.0 if demand_vmr is None else demand_vmr, "demand_vmr"), 1.0), (P, J))
    lam0 = lam.sum(axis=1)
    nan = np.full(P, np.nan)
    if s_wh is None:
        ebo0 = vbo0 = np.zeros(P)
        wh = {"wh_backorders": nan, "wh_backorder_var": nan, "wh_fill_rate": nan, "wh_ready_rate": nan,
              "wh_on_hand": nan, "wh_delay": np.zeros(P), "wh_pipeline_mean": nan, "wh_pipeline_var": nan}
    else:
        s0 = np.broadcast_to(check_levels(s_wh, "s_wh"), (P,))
        T0 = np.broadcast_to(check_nonneg(wh_lead_time, "wh_lead_time"), (P,))
        mu0 = lam0 * T0
        v0 = T0 * (vmr * lam).sum(axis=1)
        d0 = lead_time_law(mu0, v0 if method == "vari-metric" else None)
        ebo0 = d0.loss(s0)
        vbo0 = np.maximum(d0.second_loss(s0) - ebo0**2, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            delay = np.where(lam0 > 0, ebo0 / np.where(lam0 > 0, lam0, 1.0), 0.0)
        wh = {"wh_backorders": ebo0, "wh_backorder_var": vbo0, "wh_fill_rate": d0.cdf(s0 - 1),
              "wh_ready_rate": d0.cdf(s0), "wh_on_hand": np.maximum(s0 - mu0 + ebo0, 0.0),
              "wh_delay": delay, "wh_pipeline_mean": mu0, "wh_pipeline_var": d0.var}
    mean, var = vari_metric_pipeline(lam, T, vmr, lam0[:, None], ebo0[:, None], vbo0[:, None], method)
    d = lead_time_law(mean, var)
    ebo = d.loss(sd)
    with np.errstate(divide="ignore", invalid="ignore"):
        wait = np.where(lam > 0, ebo / np.where(lam > 0, lam, 1.0), 0.0)
    return MetricEvaluation(
        backorders=ebo,
        fill_rate=d.cdf(sd - 1),
        ready_rate=d.cdf(sd),
        on_hand=np.maximum(sd - mean + ebo, 0.0),
        effective_lead_time=T + wh["wh_delay"][:, None],
        pipeline_mean=mean,
        pipeline_var=d.var,
        expected_wait=wait,
        demand_rate=lam,
        **wh,
    )


