"""Base-stock levels for a factory warehouse and its dealers (METRIC / VARI-METRIC).

The module has three layers, each usable on its own:

1. **Building blocks** -- plain, vectorised functions named after the textbook quantity of a
   base-stock (``S-1, S``) policy whose lead-time demand ("pipeline") is Poisson, or negative
   binomial when its variance exceeds its mean: :func:`expected_backorders`,
   :func:`backorder_variance`, :func:`fill_rate`, :func:`ready_rate`,
   :func:`expected_on_hand`, :func:`base_stock_level`, :func:`newsvendor_quantity`.
2. **Two-echelon evaluation** -- :func:`metric_evaluate` turns warehouse and dealer stock levels
   into backorders, fill rates and effective lead times per (part, dealer), following METRIC
   (Sherbrooke 1968) with the VARI-METRIC variance correction (Graves 1985; Sherbrooke 1986).
3. **Optimisation** -- :func:`optimize_stock` (greedy marginal analysis with a warehouse step
   through the METRIC delay, plus the whole cost-versus-service curve) and
   :func:`optimize_stock_milp` (a pulp MILP for constraints that break separability: shelf
   capacity, budgets per tier).

Conventions
-----------
* Time is in days: demand rates are per day, lead times in days, waits in days.
* Arrays are ``(parts,)`` for part attributes and the warehouse, ``(parts, dealers)`` for
  (part, dealer) quantities.  Site index 0 is the factory warehouse wherever sites are
  numbered together (holding rates, the long output table); dealers are sites ``1..J``.
* Replenishment is one-for-one (base stock), lead times are deterministic, unmet demand is
  backordered, the warehouse serves dealer orders first come first served.
* The module takes plain arrays, so it does not depend on the data layer.

Design choices
--------------
* **Service per tier is the system measure**: a tier's fill rate is the demand-weighted fill
  rate over all parts at all its dealers (Sherbrooke's system approach), not a per-part
  floor.  Wait targets bound sum EBO / sum lambda per tier (Little's law).
* **Fill-rate targets are optimised on the fill rate itself**, through the concave hull of
  each pair's fill-rate curve (the fill rate is S-shaped below the mode), and wait targets
  and budgets on expected backorders (convex).  Along either sequence every greedy prefix
  is optimal for its cost.
* **Two echelons**: dealer units by greedy marginal analysis with the warehouse fixed,
  warehouse units by their effect through the METRIC delay at the dealers' exchange rates,
  alternated until stable.  The warehouse step is a local search, so two-echelon plans are
  heuristic (on tiny 2-part systems the tests allow a mean gap to brute force below 3%,
  at most 6%; the greedy's discreteness weighs less on large systems).
* **The MILP holds the warehouse levels fixed** and re-optimises dealer levels in a window
  around a greedy plan: exact within that window for the coupling constraints.
* **Fast path vs closed forms**: the optimiser walks each pair's levels by the Panjer
  recursion (cheap, ~1e-13 agreement); every reported figure is recomputed in closed form.
* Negative or non-finite numbers raise :class:`InfeasiblePlanError` (a ``ValueError``);
  wrong shapes, types or missing settings raise a plain ``ValueError``.

Sources
-------
* Sherbrooke, C. C. (2004). *Optimal Inventory Modeling of Systems: Multi-Echelon
  Techniques*, 2nd ed. Kluwer.  Ch. 2 (single-site backorders, marginal analysis),
  Ch. 4-5 (METRIC, VARI-METRIC).
* Sherbrooke, C. C. (1968). METRIC: A multi-echelon technique for recoverable item control.
  *Operations Research* 16, 122-141.
* Graves, S. C. (1985). A multi-echelon inventory model for a repairable item with
  one-for-one replenishment. *Management Science* 31, 1247-1256.
* Sherbrooke, C. C. (1986). VARI-METRIC: Improved approximations for multi-indenture,
  multi-echelon availability models. *Operations Research* 34, 311-319.
* Muckstadt, J. A. (2005). *Analysis and Algorithms for Service Parts Supply Chains*.
  Springer.  (Lagrangian / marginal-analysis allocation across items and sites.)
* Snyder, L. V. & Shen, Z.-J. M. (2019). *Fundamentals of Supply Chain Theory*, 2nd ed.
  Wiley.  Ch. 4 (newsvendor, base-stock).
* Axsäter, S. (2015). *Inventory Control*, 3rd ed. Springer.  Ch. 5 (one-for-one
  replenishment, METRIC).
"""

from __future__ import annotations

import functools
import os
import re
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy import special, stats

__all__ = [
    "InfeasiblePlanError",
    "expected_backorders",
    "backorder_variance",
    "fill_rate",
    "ready_rate",
    "expected_on_hand",
    "base_stock_level",
    "newsvendor_quantity",
    "MetricEvaluation",
    "metric_evaluate",
    "StockingResult",
    "optimize_stock",
    "optimize_stock_milp",
]

#: A variance this close above the mean is treated as Poisson; the NB fit r = m^2/(v-m)
#: explodes as v -> m and the Poisson limit is then the better-conditioned answer.
_NB_RTOL = 1e-9


class InfeasiblePlanError(ValueError):
    """A stocking request that no stock levels can satisfy.

    Raised for budgets below what the service targets need, fill-rate targets of 100% (or a
    zero customer wait) on parts with positive demand, and MILP models the solver proves
    infeasible.  The message says what would be feasible.
    """


# ---------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------


def _nonneg(x: Any, name: str) -> np.ndarray:
    """Float array of finite, non-negative values.

    Negative or non-finite values raise InfeasiblePlanError (a ValueError): no plan can
    satisfy such a request; the message names the culprits.
    """
    a = np.asarray(x, dtype=float)
    bad = ~np.isfinite(a) | (a < 0)
    if bad.any():
        where = np.argwhere(bad)
        first = tuple(int(i) for i in where[0]) if a.ndim else ()
        raise InfeasiblePlanError(
            f"{name} must be finite and >= 0; {int(bad.sum())} value(s) are not "
            f"(first at index {first}: {a[bad].flat[0]!r})"
        )
    return a


def _levels(s: Any, name: str = "s") -> np.ndarray:
    """Stock levels: non-negative integers (given as ints or integral floats)."""
    a = _nonneg(s, name)
    if np.any(a != np.floor(a)):
        raise ValueError(f"{name} must hold whole numbers of units; got {a[a != np.floor(a)].flat[0]!r}")
    return a


def _scalar_or_array(x: np.ndarray) -> float | np.ndarray:
    return float(x) if np.ndim(x) == 0 else x


# ---------------------------------------------------------------------------------------
# Lead-time demand distribution: Poisson, or negative binomial fitted to (mean, var)
# ---------------------------------------------------------------------------------------


class _Dist:
    """Poisson(mean), or NB(r, p) with r = m^2/(v-m), p = m/v when var > mean.

    ``shift`` selects NB(r + shift, p) (for Poisson: the same Poisson).  The shifted laws give
    the partial moments in closed form:  x p_r(x) = m p_{r+1}(x-1)  and
    x (x-1) p_r(x) = E[D(D-1)] p_{r+2}(x-2),  so  sum_{x>s} x p(x) = m P(D_1 >= s)  -- the
    "size-biased" identity that also gives Poisson EBO(s) = m P(D >= s) - s P(D > s).
    """

    def __init__(self, mean: Any, var: Any = None):
        mean = _nonneg(mean, "mean")
        var = mean if var is None else _nonneg(var, "var")
        mean, var = np.broadcast_arrays(mean, var)
        self.mean = mean.astype(float)
        self.nb = (var > mean * (1.0 + _NB_RTOL)) & (mean > 0)
        # var <= mean is documented as "Poisson": the lead-time demand is then Poisson(mean).
        self.var = np.where(self.nb, var, mean)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.p = np.where(self.nb, mean / self.var, 1.0)
            self.r = np.where(self.nb, mean * mean / (self.var - mean), 1.0)

    def cdf(self, k: np.ndarray, shift: int = 0) -> np.ndarray:
        """P(D_shift <= k) for integer-valued k (0 for k < 0)."""
        k, m, nb, r, p = np.broadcast_arrays(k, self.mean, self.nb, self.r, self.p)
        out = np.zeros(k.shape)
        ok = k >= 0
        po, nn = ok & ~nb, ok & nb
        out[po] = special.gammaincc(k[po] + 1.0, m[po])
        out[nn] = special.betainc(r[nn] + shift, k[nn] + 1.0, p[nn])
        return out

    def sf(self, k: np.ndarray, shift: int = 0) -> np.ndarray:
        """P(D_shift > k) computed directly (not 1 - cdf) to keep the tail accurate."""
        k, m, nb, r, p = np.broadcast_arrays(k, self.mean, self.nb, self.r, self.p)
        out = np.ones(k.shape)
        ok = k >= 0
        po, nn = ok & ~nb, ok & nb
        out[po] = special.gammainc(k[po] + 1.0, m[po])
        # I_{1-p}(k+1, r) = 1 - I_p(r, k+1); scipy's betaincc is ~10x slower than this form.
        out[nn] = special.betainc(k[nn] + 1.0, r[nn] + shift, 1.0 - p[nn])
        return out

    def pmf(self, k: np.ndarray) -> np.ndarray:
        # scipy's pmf, not exp(logpmf): for NB with large r the log form loses ~1e-9 to
        # gammaln cancellation, which the Panjer recursion would carry into every level
        k, m, nb, r, p = np.broadcast_arrays(k, self.mean, self.nb, self.r, self.p)
        out = np.zeros(k.shape)
        po, nn = ~nb, nb
        out[po] = stats.poisson.pmf(k[po], m[po])
        out[nn] = stats.nbinom.pmf(k[nn], r[nn], p[nn])
        return out

    # Partial expectations.  Each has an "upper" form (sums over x > s; tiny, accurate terms
    # when s >= mean) and a "lower" form (sums over x <= s; accurate when s < mean).  Both
    # are exact; picking per element avoids cancellation between large terms.

    def loss(self, s: np.ndarray) -> np.ndarray:
        """E[(D - s)^+]."""
        s = np.asarray(s, dtype=float)
        m = self.mean
        upper = m * self.sf(s - 1, 1) - s * self.sf(s)
        lower = (m - s) + s * self.cdf(s) - m * self.cdf(s - 1, 1)
        return np.maximum(np.where(s >= m, upper, lower), 0.0)

    def second_loss(self, s: np.ndarray) -> np.ndarray:
        """E[((D - s)^+)^2]."""
        s = np.asarray(s, dtype=float)
        m, v = self.mean, self.var
        a2 = v + m * m - m  # E[D(D-1)]
        upper = a2 * self.sf(s - 2, 2) + (1 - 2 * s) * m * self.sf(s - 1, 1) + s * s * self.sf(s)
        low_part = a2 * self.cdf(s - 2, 2) + (1 - 2 * s) * m * self.cdf(s - 1, 1) + s * s * self.cdf(s)
        lower = v + (m - s) ** 2 - low_part
        return np.maximum(np.where(s >= m, upper, lower), 0.0)


# ---------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------


def expected_backorders(s: Any, mean: Any, var: Any = None) -> float | np.ndarray:
    """Expected backorders EBO(s) = E[(D - s)^+] of a base-stock level.

    For a one-for-one (``S-1, S``) policy the number of units in the resupply pipeline ``D``
    (the lead-time demand) has mean ``mean``; backorders are ``(D - s)^+``.  ``D`` is Poisson,
    or negative binomial fitted to ``mean`` and ``var`` when ``var > mean``.

    Closed forms (no loop over ``x``):  EBO(s) = E[D] - sum_{x<s} P(D > x), evaluated as
    ``m P(D_1 >= s) - s P(D > s)`` with ``D_1`` = ``D`` for Poisson and NB(r+1, p) for
    NB(r, p) (the identity ``x p_r(x) = m p_{r+1}(x-1)``), or through the equivalent
    lower-tail form when ``s < mean``.

    Parameters
    ----------
    s : int or array of int
        Base-stock level(s), >= 0.
    mean : float or array
        Mean pipeline (lead-time) demand, >= 0.
    var : float or array, optional
        Variance of the pipeline demand.  ``None`` or ``var <= mean`` means Poisson.

    Returns
    -------
    float or ndarray
        EBO, broadcast over the inputs.

    References
    ----------
    Sherbrooke (2004), Ch. 2, "expected backorders" of a Poisson pipeline; e.g. for mean 2:
    EBO(0) = 2, EBO(1) = 1 + e^-2 = 1.1353, EBO(2) = 4 e^-2 = 0.5413.
    Axsäter (2015), Sec. 5.2 (one-for-one replenishment).
    """
    s = _levels(s)
    return _scalar_or_array(_Dist(mean, var).loss(s))


def backorder_variance(s: Any, mean: Any, var: Any = None) -> float | np.ndarray:
    """Variance of backorders VBO(s) = Var[(D - s)^+] of a base-stock level.

    Needed by VARI-METRIC, which passes the warehouse backorder variance on to the dealers.
    Computed in closed form from E[((D-s)^+)^2] via the second factorial moment identity
    ``x(x-1) p_r(x) = E[D(D-1)] p_{r+2}(x-2)`` (Poisson: ``m^2 p(x-2)``).

    Parameters
    ----------
    s, mean, var
        As in :func:`expected_backorders`.

    Returns
    -------
    float or ndarray

    References
    ----------
    Sherbrooke (1986) and Sherbrooke (2004), Ch. 5 (VARI-METRIC, variance of backorders).
    """
    s = _levels(s)
    d = _Dist(mean, var)
    ebo = d.loss(s)
    return _scalar_or_array(np.maximum(d.second_loss(s) - ebo * ebo, 0.0))


def fill_rate(s: Any, mean: Any, var: Any = None) -> float | np.ndarray:
    """Fill rate: share of unit demands met from stock on hand, P(D <= s - 1).

    With Poisson demand an arriving unit demand sees the stationary pipeline (PASTA) and is
    filled iff fewer than ``s`` units are outstanding.  For the NB pipeline the same formula
    is used, as is usual with the two-moment approximation.  ``fill_rate(0, .) = 0``.

    Parameters
    ----------
    s, mean, var
        As in :func:`expected_backorders`.

    Returns
    -------
    float or ndarray

    References
    ----------
    Sherbrooke (2004), Ch. 2 (fill rate of an (s-1, s) policy); Axsäter (2015), Sec. 5.2.
    """
    s = _levels(s)
    return _scalar_or_array(_Dist(mean, var).cdf(s - 1))


def ready_rate(s: Any, mean: Any, var: Any = None) -> float | np.ndarray:
    """Ready rate: probability of no backorder outstanding, P(D <= s).

    Parameters
    ----------
    s, mean, var
        As in :func:`expected_backorders`.

    Returns
    -------
    float or ndarray

    References
    ----------
    Axsäter (2015), Sec. 5.2 ("ready rate"); Sherbrooke (2004), Ch. 2.
    """
    s = _levels(s)
    return _scalar_or_array(_Dist(mean, var).cdf(s))


def expected_on_hand(s: Any, mean: Any, var: Any = None) -> float | np.ndarray:
    """Expected stock on hand E[(s - D)^+] = s - E[D] + EBO(s).

    Parameters
    ----------
    s, mean, var
        As in :func:`expected_backorders`.

    Returns
    -------
    float or ndarray

    References
    ----------
    Sherbrooke (2004), Ch. 2 (on hand + due in - backorders = s).
    """
    s = _levels(s)
    d = _Dist(mean, var)
    return _scalar_or_array(np.maximum(s - d.mean + d.loss(s), 0.0))


def _quantile(d: _Dist, q: np.ndarray) -> np.ndarray:
    """Smallest integer k >= 0 with P(D <= k) >= q, using the same cdf as the other blocks
    (so that base_stock_level and fill_rate never disagree on a boundary)."""
    q = np.asarray(q, dtype=float)
    shape = np.broadcast_shapes(q.shape, d.mean.shape)
    if shape != d.mean.shape:
        d = _Dist(np.broadcast_to(d.mean, shape), np.broadcast_to(d.var, shape))
    q = np.broadcast_to(q, shape)
    m, v = d.mean, d.var
    hi = np.ceil(m + 6.0 * np.sqrt(v) + 5.0)
    # Grow the bracket until it holds the quantile (only heavy NB tails need this).
    while True:
        short = d.cdf(hi) < q
        if not short.any():
            break
        hi = np.where(short, 2.0 * hi + 1.0, hi)
    lo = np.full(q.shape, -1.0)  # cdf(-1) = 0 < q for q > 0; q <= 0 answers 0 below
    while np.any(hi - lo > 1):
        mid = np.floor((lo + hi) / 2.0)
        ge = d.cdf(mid) >= q
        hi = np.where(ge, mid, hi)
        lo = np.where(ge, lo, mid)
    return np.where(q <= 0, 0.0, hi)


def base_stock_level(
    mean: Any,
    var: Any = None,
    fill_rate: Any = None,
    ready_rate: Any = None,
) -> int | np.ndarray:
    """Smallest base-stock level reaching a fill-rate or ready-rate target.

    Parameters
    ----------
    mean, var
        Pipeline (lead-time) demand, as in :func:`expected_backorders`.
    fill_rate : float or array, optional
        Target P(D <= s - 1), in [0, 1).
    ready_rate : float or array, optional
        Target P(D <= s), in [0, 1).  Give exactly one of the two targets.

    Returns
    -------
    int or ndarray of int

    Raises
    ------
    InfeasiblePlanError
        A target of 1 with positive mean demand: Poisson/NB demand is unbounded, so no finite
        level reaches it.

    References
    ----------
    Axsäter (2015), Sec. 5.2; Snyder & Shen (2019), Ch. 4 (base-stock level for a service
    target).
    """
    if (fill_rate is None) == (ready_rate is None):
        raise ValueError("give exactly one of fill_rate= or ready_rate=")
    target = fill_rate if fill_rate is not None else ready_rate
    t = np.asarray(target, dtype=float)
    if np.any(~np.isfinite(t) | (t < 0) | (t > 1)):
        raise ValueError(f"service targets must lie in [0, 1]; got {target!r}")
    d = _Dist(mean, var)
    t = np.broadcast_to(t, np.broadcast_shapes(t.shape, d.mean.shape))
    m = np.broadcast_to(d.mean, t.shape)
    if np.any((t >= 1) & (m > 0)):
        raise InfeasiblePlanError(
            "a service target of 100% needs unbounded stock when lead-time demand is Poisson "
            "or negative binomial with positive mean; use a target below 1 (e.g. 0.999)"
        )
    k = _quantile(d, np.minimum(t, 1.0))
    if fill_rate is not None:
        # fill_rate(s) = P(D <= s-1) >= t  <=>  s - 1 >= quantile;  s = 0 only for t = 0.
        k = np.where(t <= 0, 0.0, k + 1.0)
    k = k.astype(np.int64)
    return int(k) if k.ndim == 0 else k


def newsvendor_quantity(
    mean: Any,
    var: Any = None,
    *,
    holding_cost: Any = None,
    stockout_cost: Any = None,
    critical_ratio: Any = None,
    distribution: str = "auto",
) -> float | np.ndarray:
    """Newsvendor (critical-ratio) order-up-to level.

    The optimal level is the smallest ``Q`` with ``F(Q) >= p / (p + h)`` (Snyder & Shen eq.
    4.24 for continuous demand, its discrete analogue otherwise).

    Parameters
    ----------
    mean, var
        Demand over the period (or lead time + review period).
    holding_cost, stockout_cost : float or array, optional
        Overage cost ``h`` and underage cost ``p`` per unit; give both, or ``critical_ratio``.
    critical_ratio : float or array, optional
        ``p / (p + h)`` directly, in (0, 1).
    distribution : {"auto", "poisson", "negbin", "normal"}
        ``"auto"``: Poisson, or NB when ``var > mean`` (integer answer).  ``"normal"``: the
        continuous answer ``mean + z_alpha sqrt(var)`` (``var`` required).

    Returns
    -------
    float or ndarray
        Integer-valued for discrete laws, real for the normal.

    References
    ----------
    Snyder & Shen (2019), Sec. 4.3, Example 4.3: h = 0.18, p = 0.70, D ~ N(50, 8^2)
    gives S* = 56.6040.
    """
    if critical_ratio is None:
        if holding_cost is None or stockout_cost is None:
            raise ValueError("give holding_cost= and stockout_cost=, or critical_ratio=")
        h = np.asarray(holding_cost, dtype=float)
        p = np.asarray(stockout_cost, dtype=float)
        if np.any(~(h > 0)) or np.any(~(p > 0)):
            raise ValueError("holding_cost and stockout_cost must be > 0")
        alpha = p / (p + h)
    else:
        alpha = np.asarray(critical_ratio, dtype=float)
        if np.any(~((alpha > 0) & (alpha < 1))):
            raise ValueError(f"critical_ratio must lie in (0, 1); got {critical_ratio!r}")
    if distribution == "normal":
        if var is None:
            raise ValueError("distribution='normal' needs var=")
        m = _nonneg(mean, "mean")
        sd = np.sqrt(_nonneg(var, "var"))
        return _scalar_or_array(m + stats.norm.ppf(alpha) * sd)
    if distribution not in ("auto", "poisson", "negbin"):
        raise ValueError(f"distribution must be 'auto', 'poisson', 'negbin' or 'normal'; got {distribution!r}")
    if distribution == "poisson":
        var = None
    elif distribution == "negbin" and var is not None and np.any(np.asarray(var) <= np.asarray(mean)):
        raise ValueError("distribution='negbin' needs var > mean")
    q = _quantile(_Dist(mean, var), alpha)
    return _scalar_or_array(q)


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


def _vari_metric_pipeline(
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


def _check_method(method: str) -> str:
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
    method = _check_method(method)
    if (s_wh is None) != (wh_lead_time is None):
        raise ValueError("give both s_wh and wh_lead_time (two echelons) or neither (single echelon)")
    lam = _nonneg(dealer_demand_rate, "dealer_demand_rate")
    if lam.ndim != 2:
        raise ValueError(f"dealer_demand_rate must be 2-D (parts, dealers); got shape {lam.shape}")
    P, J = lam.shape
    sd = np.broadcast_to(_levels(s_dealer, "s_dealer"), (P, J))
    T = np.broadcast_to(_nonneg(dealer_lead_time, "dealer_lead_time"), (P, J))
    vmr = np.broadcast_to(np.maximum(_nonneg(1.0 if demand_vmr is None else demand_vmr, "demand_vmr"), 1.0), (P, J))
    lam0 = lam.sum(axis=1)
    nan = np.full(P, np.nan)
    if s_wh is None:
        ebo0 = vbo0 = np.zeros(P)
        wh = dict(wh_backorders=nan, wh_backorder_var=nan, wh_fill_rate=nan, wh_ready_rate=nan,
                  wh_on_hand=nan, wh_delay=np.zeros(P), wh_pipeline_mean=nan, wh_pipeline_var=nan)
    else:
        s0 = np.broadcast_to(_levels(s_wh, "s_wh"), (P,))
        T0 = np.broadcast_to(_nonneg(wh_lead_time, "wh_lead_time"), (P,))
        mu0 = lam0 * T0
        v0 = T0 * (vmr * lam).sum(axis=1)
        d0 = _Dist(mu0, v0 if method == "vari-metric" else None)
        ebo0 = d0.loss(s0)
        vbo0 = np.maximum(d0.second_loss(s0) - ebo0**2, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            delay = np.where(lam0 > 0, ebo0 / np.where(lam0 > 0, lam0, 1.0), 0.0)
        wh = dict(wh_backorders=ebo0, wh_backorder_var=vbo0, wh_fill_rate=d0.cdf(s0 - 1),
                  wh_ready_rate=d0.cdf(s0), wh_on_hand=np.maximum(s0 - mu0 + ebo0, 0.0),
                  wh_delay=delay, wh_pipeline_mean=mu0, wh_pipeline_var=d0.var)
    mean, var = _vari_metric_pipeline(lam, T, vmr, lam0[:, None], ebo0[:, None], vbo0[:, None], method)
    d = _Dist(mean, var)
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


# ---------------------------------------------------------------------------------------
# Fast per-pair scans used by the optimiser
# ---------------------------------------------------------------------------------------
#
# The optimiser needs, for ~10^6 (part, dealer) pairs at a time, the marginal-analysis
# sequence of each pair's units: the gain (fill or backorder reduction) of stocking unit
# s+1.  The Panjer recursion p(k) = p(k-1) (a + b/k) (Poisson: a = 0, b = m;
# NB(r, p): a = 1-p, b = (r-1)(1-p)) walks all pairs one level at a time with a shrinking
# active set, which is ~20x faster than calling the incomplete beta/gamma functions per
# level.  Reported figures are recomputed in closed form by metric_evaluate afterwards.


@dataclass
class _PairState:
    mean: np.ndarray
    a: np.ndarray
    b: np.ndarray
    p0: np.ndarray  # P(D = 0), for the ready rate of pairs left at level 0
    k0: np.ndarray  # first level the recursion starts from (0 unless p(0) underflows)
    F0: np.ndarray  # F(k0 - 1)
    pmf0: np.ndarray  # p(k0)
    ebo0: np.ndarray  # EBO(k0)
    var: np.ndarray
    mode: np.ndarray  # a mode of the pmf


def _pair_state(mean: np.ndarray, var: np.ndarray) -> _PairState:
    mean = np.asarray(mean, dtype=float)
    var = np.maximum(np.asarray(var, dtype=float), mean)
    nb = var > mean * (1.0 + _NB_RTOL)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        p = np.where(nb, mean / var, 1.0)
        q = 1.0 - p
        r = np.where(nb, mean * p / np.where(nb, q, 1.0), 1.0)
        a = np.where(nb, q, 0.0)
        b = np.where(nb, (r - 1.0) * q, mean)
        logp0 = np.where(nb, r * np.log(p), -mean)
    p0 = np.exp(logp0)
    k0 = np.zeros(mean.shape, dtype=np.int64)
    F0 = np.zeros(mean.shape)
    pmf0 = p0.copy()
    ebo0 = mean.copy()
    big = logp0 < -600.0
    if big.any():
        # p(0) would underflow (pipeline of hundreds of units): start the recursion a safe
        # distance below the mean from closed-form values.  Levels below k0 have P(D > k)
        # = 1 to machine precision, so they enter as one bundle of k0 units.
        d = _Dist(mean[big], var[big])
        kb = np.maximum(np.floor(mean[big] - 10.0 * np.sqrt(d.var)), 0.0)
        k0[big] = kb.astype(np.int64)
        F0[big] = d.cdf(kb - 1)
        pmf0[big] = (d.pmf(kb))
        ebo0[big] = d.loss(kb)
    with np.errstate(invalid="ignore"):
        mode = np.where(nb, np.floor(np.maximum(b, 0.0) / np.where(nb, p, 1.0)), np.floor(mean))
    # NB mode: floor((r-1)(1-p)/p) for r > 1, else 0;  Poisson: floor(mean)
    return _PairState(mean, a, b, p0, k0, F0, pmf0, ebo0, var, mode)


@dataclass
class _ScanOut:
    level: np.ndarray
    fill: np.ndarray  # F(s - 1)
    ready: np.ndarray  # F(s)
    ebo: np.ndarray  # EBO(s)
    entries: dict[str, np.ndarray] | None = None
    n_cut: int = 0  # pairs whose scan stopped at the ratio floor (not at saturation)


def _scan(
    st: _PairState,
    mult: np.ndarray,
    cost: np.ndarray,
    thresh: np.ndarray | float,
    objective: str,
    *,
    record: bool = False,
    eps_sat: float = 0.0,
    max_level: int = 100_000,
) -> _ScanOut:
    """Walk each pair's marginal-analysis steps while their ratio stays >= ``thresh``.

    A step adds ``u`` units and gains ``g``: objective ``"ebo"``: g = EBO reduction,
    ``"fill"``: g = increase of F(s-1) (the fill rate).  Its ratio is ``mult * g / (cost * u)``
    (``mult`` = the pair's demand rate for "fill", 1 for "ebo"; a Lagrange multiplier may be
    folded into ``mult``).  Ratios must fall along a pair's steps for greedy marginal
    analysis to be optimal: EBO is convex in s (gains P(D > s) fall), but the fill rate is
    only concave above the mode, so for "fill" the first step is the bundle up to the
    tangent point of the fill-rate curve's concave hull (the smallest s >= 1 with
    p(s) <= F(s-1)/s), after which unit gains p(s) fall.  For "ebo" the first step is a
    bundle only for pairs whose recursion starts above 0 (huge pipelines).

    A pair stops at the first step whose ratio is below its threshold, or (``eps_sat``)
    once P(D > s) < eps_sat -- stock beyond that buys nothing measurable.
    """
    n = st.mean.size
    thresh = np.broadcast_to(np.asarray(thresh, dtype=float), (n,))
    level = np.zeros(n, dtype=np.int64)
    fill = np.zeros(n)
    ready = np.where(st.k0 == 0, st.p0, 0.0)
    ebo = st.mean.copy()
    rec: dict[str, list[np.ndarray]] = {k: [] for k in ("pair", "start", "units", "gfill", "gebo", "ratio")}
    n_cut = 0

    def emit(idx, start, units, gfill, gebo, ratio):
        if record and idx.size:
            rec["pair"].append(idx)
            rec["start"].append(start)
            rec["units"].append(units)
            rec["gfill"].append(gfill)
            rec["gebo"].append(gebo)
            rec["ratio"].append(ratio)

    # Upper bound of any step's ratio is mult/cost (gains per unit are <= 1): pairs below
    # their threshold even then never stock a unit.
    with np.errstate(divide="ignore", invalid="ignore"):
        can = mult / cost >= thresh
    idx = np.flatnonzero(can)
    n_cut += int((~can).sum())
    k = st.k0[idx].copy()
    Fp = st.F0[idx].copy()
    pm = st.pmf0[idx].copy()
    e = st.ebo0[idx].copy()
    a, b = st.a[idx], st.b[idx]
    m = st.mean[idx]

    # --- bundle phase ------------------------------------------------------------------
    if objective == "fill":
        # Climb to the hull tangent point: the smallest s >= 1 with p(s) s <= F(s-1).  Every
        # s <= mode satisfies p(s) s >= F(s-1) (the pmf rises up to the mode), so pairs with a
        # far mode start there from closed-form values instead of climbing from 0.
        far = (k == 0) & (st.mode[idx] >= 16)
        if far.any():
            fi = np.flatnonzero(far)
            d = _Dist(m[fi], st.var[idx[fi]])
            km = st.mode[idx[fi]]
            k[fi] = km.astype(np.int64)
            Fp[fi] = d.cdf(km - 1)
            pm[fi] = (d.pmf(km))
            e[fi] = d.loss(km)
        cl = np.flatnonzero((k == 0) | (pm * k > Fp))
        ck, cF, cp, ce, ca, cb = k[cl], Fp[cl], pm[cl], e[cl], a[cl], b[cl]
        while cl.size:
            # one unit up for the climbing pairs, kept compact
            ce -= np.maximum(1.0 - cF - cp, 0.0)
            cF += cp
            ck += 1
            cp *= ca + cb / ck
            more = (cp * ck > cF) & (ck < max_level)
            if not more.all():
                done = ~more
                di = cl[done]
                k[di], Fp[di], pm[di], e[di] = ck[done], cF[done], cp[done], ce[done]
                cl, ck, cF, cp, ce, ca, cb = (x[more] for x in (cl, ck, cF, cp, ce, ca, cb))
        has_bundle = np.ones(idx.size, dtype=bool)
        g_b = Fp.copy()
    else:
        has_bundle = k > 0
        g_b = m - e
    if has_bundle.any():
        u_b = k.astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio_b = np.where(has_bundle, mult[idx] * g_b / (cost[idx] * np.maximum(u_b, 1.0)), np.inf)
        take = ratio_b >= thresh[idx]
        bsel = has_bundle & take
        emit(idx[bsel], np.zeros(int(bsel.sum()), dtype=np.int64), k[bsel], Fp[bsel], (m - e)[bsel], ratio_b[bsel])
        drop = has_bundle & ~take  # stays at level 0
        n_cut += int(drop.sum())
        keep = ~drop
        idx, k, Fp, pm, e, a, b, m = (x[keep] for x in (idx, k, Fp, pm, e, a, b, m))

    # --- unit phase --------------------------------------------------------------------
    mu_c = mult[idx] / cost[idx]
    th = thresh[idx]
    while idx.size:
        # P(D > k) = 1 - F(k) loses its relative accuracy as F -> 1.  The pmf ratio
        # p(x+1)/p(x) = a + b/(x+1) is at most rho = a + max(b, 0)/(k+1) for all x >= k (it
        # falls for b >= 0 and rises towards a = 1-p for NB with r < 1, b < 0), so when
        # rho < 1:  P(D > k) <= p(k) rho / (1 - rho), a bound that stays accurate in the tail
        rho = a + np.maximum(b, 0.0) / (k + 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            tail = np.where(rho < 1.0, pm * rho / (1.0 - rho), np.inf)
        sf = np.maximum(np.minimum(1.0 - Fp - pm, tail), 0.0)
        gain = pm if objective == "fill" else sf
        ratio = mu_c * gain
        sat = sf < eps_sat
        go = (ratio >= th) & ~sat & (k < max_level)
        stop = ~go
        if stop.any():
            n_cut += int((stop & ~sat).sum())
            ii = idx[stop]
            level[ii] = k[stop]
            fill[ii] = Fp[stop]
            ready[ii] = Fp[stop] + pm[stop]
            ebo[ii] = e[stop]
            idx, k, Fp, pm, e, a, b, mu_c, th, sf, gain, ratio = (
                x[go] for x in (idx, k, Fp, pm, e, a, b, mu_c, th, sf, gain, ratio)
            )
        if not idx.size:
            break
        emit(idx, k.copy(), np.ones(idx.size, dtype=np.int64), pm.copy(), np.maximum(sf, 0.0), ratio)
        e -= np.maximum(sf, 0.0)
        Fp += pm
        k += 1
        pm *= a + b / k

    entries = None
    if record:
        entries = {
            key: (np.concatenate(v) if v else np.zeros(0, dtype=np.int64 if key in ("pair", "start", "units") else float))
            for key, v in rec.items()
        }
        entries["units"] = entries["units"].astype(np.int64)
    return _ScanOut(level, fill, ready, ebo, entries, n_cut)


# ---------------------------------------------------------------------------------------
# Optimisation
# ---------------------------------------------------------------------------------------


@dataclass
class _Problem:
    """Validated inputs, with the (part, dealer) pairs that have demand kept as flat arrays
    sorted by part (the optimiser never touches the zero-demand pairs)."""

    c: np.ndarray  # (P,)
    lam: np.ndarray  # (P, J)
    T: np.ndarray  # (P, J)
    T0: np.ndarray | None  # (P,)
    vmr: np.ndarray  # (P, J)
    tier: np.ndarray  # (J,)
    method: str
    lam0: np.ndarray  # (P,)
    mu0: np.ndarray
    v0: np.ndarray
    # active pairs
    pp: np.ndarray
    pj: np.ndarray
    plam: np.ndarray
    pT: np.ndarray
    pvmr: np.ndarray
    pc: np.ndarray
    ptier: np.ndarray
    ptr: np.ndarray  # (P+1,) offsets of each part's pairs

    @property
    def P(self) -> int:
        return self.lam.shape[0]

    @property
    def J(self) -> int:
        return self.lam.shape[1]

    @property
    def two_echelon(self) -> bool:
        return self.T0 is not None

    def pairs_of(self, parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat indices of the active pairs of ``parts`` and their row in ``parts``."""
        lo, hi = self.ptr[parts], self.ptr[parts + 1]
        cnt = hi - lo
        rows = np.repeat(np.arange(parts.size), cnt)
        starts = np.repeat(lo - np.concatenate(([0], np.cumsum(cnt)[:-1])), cnt)
        return starts + np.arange(cnt.sum()), rows

    def wh_backorders(self, parts: np.ndarray, s0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.two_echelon:
            z = np.zeros(parts.size)
            return z, z
        d = _Dist(self.mu0[parts], self.v0[parts] if self.method == "vari-metric" else None)
        s0 = np.asarray(s0, dtype=float)
        ebo0 = d.loss(s0)
        return ebo0, np.maximum(d.second_loss(s0) - ebo0**2, 0.0)

    def pipeline(self, parts: np.ndarray, s0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Dealer pipeline mean/var of the active pairs of ``parts`` given warehouse levels."""
        pidx, rows = self.pairs_of(parts)
        ebo0, vbo0 = self.wh_backorders(parts, s0)
        pp = self.pp[pidx]
        mean, var = _vari_metric_pipeline(
            self.plam[pidx], self.pT[pidx], self.pvmr[pidx], self.lam0[pp], ebo0[rows], vbo0[rows], self.method
        )
        return pidx, rows, mean, var


def _prepare(unit_cost, dealer_demand_rate, dealer_lead_time, wh_lead_time, demand_vmr, dealer_tier, method) -> _Problem:
    method = _check_method(method)
    lam = _nonneg(dealer_demand_rate, "dealer_demand_rate")
    if lam.ndim != 2:
        raise ValueError(f"dealer_demand_rate must be 2-D (parts, dealers); got shape {lam.shape}")
    P, J = lam.shape
    c = np.broadcast_to(_nonneg(unit_cost, "unit_cost"), (P,)).astype(float)
    if np.any(c <= 0):
        raise ValueError(
            f"unit_cost must be > 0 (it prices every unit of stock); {int((c <= 0).sum())} part(s) "
            f"have 0, e.g. part index {int(np.flatnonzero(c <= 0)[0])}"
        )
    try:
        T = np.broadcast_to(_nonneg(dealer_lead_time, "dealer_lead_time"), (P, J)).astype(float)
    except ValueError as exc:
        if "broadcast" in str(exc):
            raise ValueError(f"dealer_lead_time must be a scalar, (dealers,)={J} or (parts, dealers); got shape {np.shape(dealer_lead_time)}") from None
        raise
    vmr = np.broadcast_to(np.maximum(_nonneg(1.0 if demand_vmr is None else demand_vmr, "demand_vmr"), 1.0), (P, J)).astype(float)
    if dealer_tier is None:
        tier = np.ones(J, dtype=np.int64)
    else:
        tier = np.asarray(dealer_tier)
        if tier.shape != (J,):
            raise ValueError(f"dealer_tier must have one entry per dealer ({J}); got shape {tier.shape}")
        if not np.issubdtype(tier.dtype, np.integer) or np.any(tier < 0):
            raise ValueError(f"dealer_tier must hold non-negative integers (1 = provincial capital ... 4 = county); got {tier[:5]!r}...")
        tier = tier.astype(np.int64)
    lam0 = lam.sum(axis=1)
    if wh_lead_time is None:
        T0 = None
        mu0 = v0 = np.zeros(P)
    else:
        T0 = np.broadcast_to(_nonneg(wh_lead_time, "wh_lead_time"), (P,)).astype(float)
        mu0 = lam0 * T0
        v0 = T0 * (vmr * lam).sum(axis=1)
    pp, pj = np.nonzero(lam > 0)  # row-major: sorted by part
    ptr = np.zeros(P + 1, dtype=np.int64)
    np.cumsum(np.bincount(pp, minlength=P), out=ptr[1:])
    return _Problem(c, lam, T, T0, vmr, tier, method, lam0, mu0, v0,
                    pp, pj, lam[pp, pj], T[pp, pj], vmr[pp, pj], c[pp], tier[pj], ptr)


def _lagrangian_part_values(prob: _Problem, parts: np.ndarray, s0: np.ndarray, theta_pair: np.ndarray,
                            objective: str) -> np.ndarray:
    """G_p(s0) = c_p s0 + sum_j min_s [c_p s + theta_j * penalty_pj(s | s0)] for each part.

    penalty = EBO ("ebo") or -lambda F(s-1) ("fill").  For fixed multipliers the dealer terms
    are separable and convex along the marginal-analysis steps, so a threshold scan gives
    each minimum exactly; the warehouse level acts only through the METRIC pipeline.
    """
    pidx, rows, mean, var = prob.pipeline(parts, s0)
    th = theta_pair[pidx]
    live = th > 0
    # pairs with theta = 0 (a tier without a target) add nothing whatever their stock
    G = prob.c[parts] * np.asarray(s0, dtype=float)
    if live.any():
        li = np.flatnonzero(live)
        st = _pair_state(mean[li], var[li])
        mult = prob.plam[pidx[li]] if objective == "fill" else np.ones(li.size)
        out = _scan(st, mult * th[li], prob.pc[pidx[li]], 1.0, objective)
        if objective == "fill":
            val = prob.pc[pidx[li]] * out.level - th[li] * prob.plam[pidx[li]] * out.fill
        else:
            val = prob.pc[pidx[li]] * out.level + th[li] * out.ebo
        G = G + np.bincount(rows[li], weights=val, minlength=parts.size)
    return G


def _optimise_wh(prob: _Problem, s0: np.ndarray, theta_pair: np.ndarray, objective: str,
                 step0: np.ndarray) -> np.ndarray:
    """Warehouse levels minimising the Lagrangian G_p(s0) per part, by pattern search.

    Each warehouse unit is judged by its effect through the METRIC delay on all the part's
    dealers (with their levels re-optimised at the same multipliers), which is Sherbrooke's
    marginal analysis of a warehouse unit.  G is not guaranteed convex in s0, so the search
    starts with steps of about half a pipeline standard deviation, doubles a step that
    improves and halves one that does not, and stops at step 0; only parts still moving are
    re-evaluated.
    """
    parts = np.flatnonzero(prob.lam0 > 0)
    s0 = s0.astype(np.int64).copy()
    if not parts.size:
        return s0
    G = _lagrangian_part_values(prob, parts, s0[parts], theta_pair, objective)
    h = np.maximum(step0[parts].astype(np.int64), 1)
    act = np.arange(parts.size)
    while act.size:
        cur = s0[parts[act]]
        up = cur + h[act]
        dn = np.maximum(cur - h[act], 0)
        g_up = _lagrangian_part_values(prob, parts[act], up, theta_pair, objective)
        g_dn = _lagrangian_part_values(prob, parts[act], dn, theta_pair, objective)
        g_dn = np.where(dn == cur, np.inf, g_dn)
        tol = 1e-12 * np.maximum(np.abs(G[act]), 1.0)
        best_up = (g_up < G[act] - tol) & (g_up <= g_dn)
        best_dn = (g_dn < G[act] - tol) & ~best_up
        moved = best_up | best_dn
        new = np.where(best_up, up, np.where(best_dn, dn, cur))
        s0[parts[act]] = new
        G[act] = np.where(best_up, g_up, np.where(best_dn, g_dn, G[act]))
        # expand after a success (long walks take log steps), halve after a failure
        h[act] = np.where(moved, 2 * h[act], h[act] // 2)
        act = act[h[act] > 0]
    return s0


@dataclass
class StockingResult:
    """Stock levels chosen by :func:`optimize_stock` / :func:`optimize_stock_milp`.

    Attributes
    ----------
    s_wh : ndarray (parts,) of int, or None
        Warehouse base-stock levels (``None`` for a single-echelon problem).
    s_dealer : ndarray (parts, dealers) of int
        Dealer base-stock levels.
    evaluation : MetricEvaluation
        Closed-form METRIC / VARI-METRIC figures of these levels.
    investment, wh_investment, dealer_investment : float
        Value of the base stock, sum unit_cost x level.
    tier_fill_rate, tier_wait : dict
        Demand-weighted fill rate and expected customer wait (days) per dealer tier.
    system_fill_rate, total_backorders, expected_wait : float
        Over all dealers: demand-weighted fill rate, expected backorders, mean wait (days).
    annual_holding_cost : float
        sum holding_rate x unit_cost x expected on hand (reporting only).
    multipliers : dict
        Lagrange multipliers (value of one unit of the service measure) per tier at the plan.
    curve : pandas.DataFrame
        Efficient curve: ``investment``, ``wh_investment``, ``dealer_investment``,
        ``total_backorders``, ``expected_wait``, ``system_fill_rate``,
        ``fill_rate_tier_<t>`` per tier, ``is_plan`` (the chosen point).
    status : str
        What was achieved ("targets met", "best service within budget", "Optimal", "Feasible (time limit
        ...)", ...).
    solver_info : dict
        Solver details for the MILP (status, gap, bound, timings); iteration log otherwise.
    """

    s_wh: np.ndarray | None
    s_dealer: np.ndarray
    evaluation: MetricEvaluation
    unit_cost: np.ndarray
    dealer_tier: np.ndarray
    investment: float
    wh_investment: float
    dealer_investment: float
    tier_fill_rate: dict
    tier_wait: dict
    system_fill_rate: float
    total_backorders: float
    expected_wait: float
    annual_holding_cost: float
    multipliers: dict
    curve: pd.DataFrame
    status: str
    targets: dict = field(default_factory=dict)
    solver_info: dict = field(default_factory=dict)
    holding_rate: np.ndarray | None = None
    part_ids: np.ndarray | None = None
    dealer_ids: np.ndarray | None = None
    warehouse_id: str = "WH"

    def summary(self) -> pd.DataFrame:
        """One row per dealer tier: dealers, demand, target, fill rate, wait, investment."""
        ev = self.evaluation
        rows = []
        for t in np.unique(self.dealer_tier):
            cols = self.dealer_tier == t
            rows.append({
                "tier": int(t),
                "dealers": int(cols.sum()),
                "demand_per_day": float(ev.demand_rate[:, cols].sum()),
                "target": self.targets.get(int(t), np.nan),
                "fill_rate": self.tier_fill_rate.get(int(t), np.nan),
                "expected_wait_days": self.tier_wait.get(int(t), np.nan),
                "investment": float((self.unit_cost[:, None] * self.s_dealer[:, cols]).sum()),
            })
        return pd.DataFrame(rows).set_index("tier")

    def to_frame(self, include_zero: bool = False) -> pd.DataFrame:
        """Long table, one row per (location, part): the stock_plan columns this stage owns.

        Columns: ``location_id``, ``part_number``, ``site`` (0 = warehouse, 1..J dealers),
        ``tier`` (0 for the warehouse), ``base_stock``, ``demand_per_day``,
        ``expected_backorders``, ``expected_fill_rate``, ``ready_rate``,
        ``effective_lead_time_days``, ``expected_on_hand``, ``inventory_value``,
        ``annual_holding_cost``.  Rows with neither demand nor stock are left out unless
        ``include_zero``.
        """
        ev = self.evaluation
        P, J = self.s_dealer.shape
        parts = self.part_ids if self.part_ids is not None else np.array([f"P{i}" for i in range(P)], dtype=object)
        dealers = self.dealer_ids if self.dealer_ids is not None else np.array([f"D{j + 1}" for j in range(J)], dtype=object)
        hr = self.holding_rate if self.holding_rate is not None else np.zeros(J + 1)
        frames = []
        if self.s_wh is not None:
            wh = pd.DataFrame({
                "location_id": self.warehouse_id, "part_number": parts, "site": 0, "tier": 0,
                "base_stock": self.s_wh, "demand_per_day": ev.demand_rate.sum(axis=1),
                "expected_backorders": ev.wh_backorders, "expected_fill_rate": ev.wh_fill_rate,
                "ready_rate": ev.wh_ready_rate, "effective_lead_time_days": np.nan,
                "expected_on_hand": ev.wh_on_hand, "inventory_value": self.unit_cost * self.s_wh,
                "annual_holding_cost": hr[0] * self.unit_cost * ev.wh_on_hand,
            })
            if not include_zero:
                wh = wh[(wh["base_stock"] > 0) | (wh["demand_per_day"] > 0)]
            frames.append(wh)
        keep = np.ones((P, J), dtype=bool) if include_zero else (self.s_dealer > 0) | (ev.demand_rate > 0)
        pi, dj = np.nonzero(keep)
        frames.append(pd.DataFrame({
            "location_id": dealers[dj], "part_number": parts[pi], "site": dj + 1,
            "tier": self.dealer_tier[dj], "base_stock": self.s_dealer[pi, dj],
            "demand_per_day": ev.demand_rate[pi, dj], "expected_backorders": ev.backorders[pi, dj],
            "expected_fill_rate": ev.fill_rate[pi, dj], "ready_rate": ev.ready_rate[pi, dj],
            "effective_lead_time_days": ev.effective_lead_time[pi, dj],
            "expected_on_hand": ev.on_hand[pi, dj],
            "inventory_value": self.unit_cost[pi] * self.s_dealer[pi, dj],
            "annual_holding_cost": hr[dj + 1] * self.unit_cost[pi] * ev.on_hand[pi, dj],
        }))
        return pd.concat(frames, ignore_index=True)

    def __repr__(self) -> str:
        P, J = self.s_dealer.shape
        tiers = ", ".join(f"{t}: {fr:.4f}" for t, fr in self.tier_fill_rate.items())
        return (
            f"StockingResult({P} parts x {J} dealers, status={self.status!r})\n"
            f"  investment           {self.investment:,.2f} (warehouse {self.wh_investment:,.2f}, "
            f"dealers {self.dealer_investment:,.2f})\n"
            f"  system fill rate     {self.system_fill_rate:.4f}\n"
            f"  fill rate by tier    {tiers}\n"
            f"  expected backorders  {self.total_backorders:.4f} (mean wait {self.expected_wait:.3f} days)\n"
            f"  annual holding cost  {self.annual_holding_cost:,.2f}"
        )


def _targets_by_tier(targets: Any, tiers: np.ndarray, name: str) -> dict[int, float]:
    present = [int(t) for t in np.unique(tiers)]
    if isinstance(targets, Mapping):
        out = {int(k): float(v) for k, v in targets.items()}
        missing = [t for t in present if t not in out]
        if missing:
            raise ValueError(
                f"{name} has no target for dealer tier(s) {missing}; give one per tier present "
                f"{present} (a single number applies to all tiers)"
            )
        return {t: out[t] for t in present}
    return {t: float(targets) for t in present}


def _holding(holding_rate: Any, J: int) -> np.ndarray:
    hr = _nonneg(0.0 if holding_rate is None else holding_rate, "holding_rate")
    if hr.ndim == 0:
        return np.full(J + 1, float(hr))
    if hr.shape != (J + 1,):
        raise ValueError(f"holding_rate must be a scalar or have J+1 = {J + 1} entries (index 0 = warehouse); got {hr.shape}")
    return hr


def _finish(prob: _Problem, s_wh, s_dealer, *, status, targets, multipliers, curve, solver_info,
            holding_rate, part_ids, dealer_ids, warehouse_id) -> StockingResult:
    ev = metric_evaluate(s_wh, s_dealer, prob.lam, prob.T0, prob.T, demand_vmr=prob.vmr, method=prob.method)
    c = prob.c
    wh_inv = float((c * s_wh).sum()) if s_wh is not None else 0.0
    d_inv = float((c[:, None] * s_dealer).sum())
    tier_fr, tier_wait = {}, {}
    for t in np.unique(prob.tier):
        cols = prob.tier == t
        L = prob.lam[:, cols].sum()
        tier_fr[int(t)] = float((prob.lam[:, cols] * ev.fill_rate[:, cols]).sum() / L) if L > 0 else 1.0
        tier_wait[int(t)] = float(ev.backorders[:, cols].sum() / L) if L > 0 else 0.0
    hr = _holding(holding_rate, prob.J)
    hold = float((hr[1:][None, :] * c[:, None] * ev.on_hand).sum())
    if s_wh is not None:
        hold += float((hr[0] * c * ev.wh_on_hand).sum())
    Ltot = prob.lam.sum()
    return StockingResult(
        s_wh=None if s_wh is None else np.asarray(s_wh, dtype=np.int64),
        s_dealer=np.asarray(s_dealer, dtype=np.int64),
        evaluation=ev, unit_cost=c, dealer_tier=prob.tier,
        investment=wh_inv + d_inv, wh_investment=wh_inv, dealer_investment=d_inv,
        tier_fill_rate=tier_fr, tier_wait=tier_wait, system_fill_rate=ev.system_fill_rate,
        total_backorders=ev.total_backorders,
        expected_wait=float(ev.backorders.sum() / Ltot) if Ltot > 0 else 0.0,
        annual_holding_cost=hold, multipliers=multipliers, curve=curve, status=status,
        targets=targets, solver_info=solver_info, holding_rate=hr,
        part_ids=None if part_ids is None else np.asarray(part_ids, dtype=object),
        dealer_ids=None if dealer_ids is None else np.asarray(dealer_ids, dtype=object),
        warehouse_id=warehouse_id,
    )


@dataclass
class _Walk:
    s_pairs: np.ndarray  # level per active pair
    theta_tier: dict  # multiplier per tier (1 / ratio of the last unit bought)
    dealer_cost: float
    ok: bool  # stop rule reached with all needed entries generated
    entries: dict
    last_ratio: dict
    chosen: np.ndarray  # entries bought (a prefix of each pair's steps)


def _generate(prob: _Problem, s0: np.ndarray, objective: str, floor: np.ndarray, eps_sat: float):
    parts = np.arange(prob.P)
    pidx, _, mean, var = prob.pipeline(parts, s0)
    st = _pair_state(mean, var)
    mult = prob.plam if objective == "fill" else np.ones(prob.plam.size)
    out = _scan(st, mult, prob.pc, floor[prob.ptier] if floor.ndim else floor, objective, record=True, eps_sat=eps_sat)
    ent = out.entries
    ent["tier"] = prob.ptier[ent["pair"]]
    ent["cost"] = prob.pc[ent["pair"]] * ent["units"]
    # service gains in the units of the targets: demand-weighted fill, backorders
    ent["wfill"] = prob.plam[ent["pair"]] * ent["gfill"]
    return ent, st.mean, out.n_cut


def _trim(prob: _Problem, s0: np.ndarray, s_pairs: np.ndarray, targets: dict, objective: str,
          rounds: int = 50) -> np.ndarray:
    """Drop units the targets do not need.

    The walk stops at the first entry that reaches a tier's target, so the tier overshoots
    by up to one entry (a whole hull bundle for fill rates) -- large on small systems.  Any
    unit whose loss of service fits within the overshoot is removed, most cost per unit of
    service first, one unit per pair per round.  Removal keeps every target met and only
    lowers cost.
    """
    s_pairs = s_pairs.copy()
    parts = np.arange(prob.P)
    _, _, mean, var = prob.pipeline(parts, s0)
    d = _Dist(mean, var)
    sp = s_pairs.astype(float)
    have = prob.plam * d.cdf(sp - 1) if objective == "fill" else d.loss(sp)
    slack = {}
    for t, target in targets.items():
        in_t = prob.ptier == t
        L = prob.plam[in_t].sum()
        if L <= 0:
            continue
        if objective == "fill":
            slack[t] = float(have[in_t].sum()) - target * L * (1.0 + 1e-12)
        else:
            slack[t] = target * L * (1.0 - 1e-12) - float(have[in_t].sum())
    if not any(v > 0 for v in slack.values()):
        return s_pairs
    in_slack = np.isin(prob.ptier, [t for t, v in slack.items() if v > 0])
    cand = np.flatnonzero((s_pairs > 0) & in_slack)

    def unit_loss(idx):
        # service lost by removing the top unit of each pair in idx
        sc = s_pairs[idx].astype(float)
        dc = _Dist(mean[idx], var[idx])
        if objective == "fill":
            return prob.plam[idx] * (dc.cdf(sc - 1) - dc.cdf(sc - 2))
        return dc.sf(sc - 1)  # EBO(s-1) - EBO(s) = P(D > s-1)

    loss = unit_loss(cand)
    for _ in range(rounds):
        removed = []
        for t, sl in slack.items():
            if sl <= 0:
                continue
            ci = np.flatnonzero((prob.ptier[cand] == t) & (loss <= sl))
            if not ci.size:
                continue
            worth = prob.pc[cand[ci]] / np.maximum(loss[ci], 1e-300)
            ci = ci[np.argsort(-worth, kind="stable")]
            cum = np.cumsum(loss[ci])
            k = int(np.searchsorted(cum, sl, side="right"))
            if k == 0:
                continue
            s_pairs[cand[ci[:k]]] -= 1
            slack[t] = sl - float(cum[k - 1])
            removed.append(ci[:k])
        if not removed:
            break
        # only the pairs that lost a unit need a new loss
        r = np.concatenate(removed)
        keep = s_pairs[cand] > 0
        loss[r] = np.where(s_pairs[cand[r]] > 0, unit_loss(cand[r]), np.inf)
        cand, loss = cand[keep], loss[keep]
    return s_pairs


def _ratio_bins(ratio: np.ndarray, nbins: int) -> np.ndarray:
    """Bin index of each entry by log-ratio, bin 0 holding the highest ratios."""
    lr = np.log(np.maximum(ratio, 1e-300))
    hi, lo = float(lr.max()), float(lr.min())
    if hi <= lo:
        return np.zeros(ratio.size, dtype=np.int64)
    return np.minimum(((hi - lr) / (hi - lo) * nbins).astype(np.int64), nbins - 1)


def _prefix_by_ratio(ratio: np.ndarray, weight: np.ndarray, need: float, rule: str) -> np.ndarray:
    """Indices of the entries the greedy takes, in ratio order (stable: for equal ratios the
    generation order, which keeps each pair's units in level order).

    ``rule="reach"``: the shortest prefix whose weights sum to >= need (a service target);
    ``rule="fit"``: the longest prefix whose weights sum to <= need (a budget).  Instead of
    sorting millions of entries, entries are bucketed by log-ratio, whole buckets above the
    crossing are taken and only the crossing bucket is sorted -- same answer, O(n).
    """
    n = ratio.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    nbins = 1 if n <= 50_000 else 4096
    b = _ratio_bins(ratio, nbins) if nbins > 1 else np.zeros(n, dtype=np.int64)
    cum = np.cumsum(np.bincount(b, weights=weight, minlength=nbins))
    kb = int(np.searchsorted(cum, need, side="left" if rule == "reach" else "right"))
    if kb >= nbins:
        kb = nbins - 1
    above = np.flatnonzero(b < kb)
    inbin = np.flatnonzero(b == kb)
    inbin = inbin[np.argsort(-ratio[inbin], kind="stable")]
    base = cum[kb - 1] if kb > 0 else 0.0
    c = base + np.cumsum(weight[inbin])
    if rule == "reach":
        pos = int(np.searchsorted(c, need, side="left")) + 1
    else:
        pos = int(np.searchsorted(c, need, side="right"))
    pos = min(pos, inbin.size)
    # order of the "above" part does not matter to callers except for the last entry,
    # which is always in the crossing bucket when that bucket contributes
    return np.concatenate((above, inbin[:pos]))


def _walk(prob: _Problem, s0: np.ndarray, mode: str, objective: str, targets: dict, budget_left: float,
          floor_t: dict, eps_sat: float) -> _Walk:
    """Greedy marginal analysis over dealer units with the warehouse levels fixed.

    Entries (units or hull bundles) of every pair are ranked by gain per unit cost; the walk
    takes them in that order until the stop rule holds: per tier for service targets (the
    tier's demand-weighted fill rate, or backorders for a wait target), over all dealers for
    a budget (stop before the first unit that does not fit).  For a separable problem with
    falling gains every prefix of this sequence is optimal for its own cost (Sherbrooke
    2004, Ch. 2 marginal analysis; Fox 1966).
    """
    tiers = sorted(targets) if mode == "targets" else sorted(int(t) for t in np.unique(prob.tier))
    floor = np.zeros(int(max(tiers)) + 1)
    for t in tiers:
        floor[t] = floor_t.get(t, 0.0)
    ent, pmean, n_cut = _generate(prob, s0, objective, floor, eps_sat)
    A = prob.plam.size
    theta, last = {}, {}
    ok = True
    chosen = np.zeros(ent["pair"].size, dtype=bool)
    gain = ent["wfill"] if objective == "fill" else ent["gebo"]
    if mode == "targets":
        by_tier = np.argsort(ent["tier"], kind="stable")
        bounds = np.searchsorted(ent["tier"][by_tier], np.array(tiers + [np.iinfo(np.int64).max]), side="left")
        for i, t in enumerate(tiers):
            o = by_tier[bounds[i]:bounds[i + 1]]
            in_t = prob.ptier == t
            L = prob.plam[in_t].sum()
            if objective == "fill":
                need = targets[t] * L * (1.0 + 1e-12)
            else:
                need = pmean[in_t].sum() - targets[t] * L * (1.0 - 1e-12)
            if need <= 0 or L <= 0 or o.size == 0:
                theta[t], last[t] = 0.0, np.inf
                if need > 0 and L > 0:
                    ok = False
                continue
            if gain[o].sum() < need:
                ok = False  # the entries generated cannot reach the target: generate deeper
            sel = o[_prefix_by_ratio(ent["ratio"][o], gain[o], need, "reach")]
            chosen[sel] = True
            last[t] = float(ent["ratio"][sel].min())
            theta[t] = 1.0 / last[t]
    else:
        sel = _prefix_by_ratio(ent["ratio"], ent["cost"], budget_left * (1 + 1e-12), "fit")
        if sel.size == ent["pair"].size and n_cut > 0:
            ok = False  # budget left over while the floor cut some pairs: generate deeper
        chosen[sel] = True
        lr = float(ent["ratio"][sel].min()) if sel.size else np.inf
        for t in tiers:
            last[t] = lr
            theta[t] = 1.0 / lr if sel.size else 0.0
    s_pairs = np.bincount(ent["pair"][chosen], weights=ent["units"][chosen], minlength=A).astype(np.int64)
    return _Walk(s_pairs, theta, float((prob.pc * s_pairs).sum()), ok, ent, last, chosen)


def _curve(prob: _Problem, walk: _Walk, s0: np.ndarray, pmean_total: float, points: int) -> pd.DataFrame:
    """Investment versus service along the greedy path (warehouse held at the plan's levels).

    Entries are ordered by ratio x theta_tier (one common scaling of the tier multipliers);
    every row is an exact prefix of that order -- each greedy step on small systems, all
    entries above a log-ratio bin boundary on large ones -- hence a point of the efficient
    curve, never an interpolation.  ``points`` rows are kept, evenly spread in investment.
    """
    ent = walk.entries
    tiers = sorted(int(t) for t in np.unique(prob.tier))
    th = np.zeros(int(max(tiers)) + 1)
    for t, v in walk.theta_tier.items():
        th[t] = v
    rho = ent["ratio"] * th[ent["tier"]] if np.any(th > 0) else ent["ratio"].copy()
    rho = np.where(rho > 0, rho, ent["ratio"] * 1e-300)  # tiers without a target come last
    if rho.size <= 50_000:
        # small systems: every greedy step is a row (rank of each entry in the stable order)
        nb = max(rho.size, 1)
        b = np.empty(rho.size, dtype=np.int64)
        b[np.argsort(-rho, kind="stable")] = np.arange(rho.size)
    else:
        nb = 4 * max(points, 2)
        b = _ratio_bins(rho, nb)
    wh_inv = float((prob.c * s0).sum()) if prob.two_echelon else 0.0
    L = prob.plam.sum()

    def cum(w):
        return np.concatenate(([0.0], np.cumsum(np.bincount(b, weights=w, minlength=nb))))

    cum_cost = cum(ent["cost"])
    cum_ebo = np.maximum(pmean_total - cum(ent["gebo"]), 0.0)
    cols = {"investment": wh_inv + cum_cost, "wh_investment": np.full(cum_cost.size, wh_inv),
            "dealer_investment": cum_cost, "total_backorders": cum_ebo,
            "expected_wait": cum_ebo / L if L > 0 else np.zeros(cum_cost.size)}
    tot_fill = np.zeros(cum_cost.size)
    for t in tiers:
        Lt = prob.plam[prob.ptier == t].sum()
        cf = cum(np.where(ent["tier"] == t, ent["wfill"], 0.0))
        tot_fill += cf
        cols[f"fill_rate_tier_{t}"] = cf / Lt if Lt > 0 else np.ones(cum_cost.size)
    cols["system_fill_rate"] = tot_fill / L if L > 0 else np.ones(cum_cost.size)
    df = pd.DataFrame(cols).drop_duplicates(subset=["dealer_investment"]).reset_index(drop=True)
    if len(df) > points:
        grid = np.linspace(df["investment"].iloc[0], df["investment"].iloc[-1], points)
        keep = np.unique(np.searchsorted(df["investment"].to_numpy(), grid, side="left").clip(0, len(df) - 1))
        df = df.iloc[keep].reset_index(drop=True)
    df["is_plan"] = False
    order_cols = ["investment", "wh_investment", "dealer_investment", "total_backorders", "expected_wait",
                  "system_fill_rate"] + [f"fill_rate_tier_{t}" for t in tiers] + ["is_plan"]
    return df[order_cols]


def optimize_stock(
    unit_cost: Any,
    dealer_demand_rate: Any,
    dealer_lead_time: Any,
    wh_lead_time: Any = None,
    *,
    dealer_tier: Any = None,
    fill_rate_targets: Any = None,
    wait_targets: Any = None,
    budget: float | None = None,
    objective: str = "backorders",
    demand_vmr: Any = None,
    method: str = "vari-metric",
    holding_rate: Any = None,
    max_iter: int = 6,
    tol_rel: float = 1e-5,
    curve_points: int = 200,
    part_ids: Any = None,
    dealer_ids: Any = None,
    warehouse_id: str = "WH",
) -> StockingResult:
    """Cheapest stock levels for service targets per dealer tier, or best service for a budget.

    **Service measure (the classic system approach).**  A fill-rate target for a tier means
    the demand-weighted fill rate over all parts at all dealers of that tier,
    sum lambda_pj FR_pj / sum lambda_pj, reaches the target -- not every part on its own.
    This lets cheap, fast-moving parts carry the average and is what Sherbrooke (2004, Ch. 2)
    calls the system approach; it needs far less investment than item-by-item targets.  A
    wait target for a tier bounds the expected customer wait there, sum EBO_pj / sum
    lambda_pj (days, Little's law).

    **Algorithm.**  Greedy marginal analysis (Sherbrooke 2004, Ch. 2 and 4) in batches:

    1. with the warehouse levels fixed, every (part, dealer) pair's units are ranked by
       service gain per unit cost (fill-rate gain through the concave hull of the fill-rate
       curve, or backorder reduction, which is convex) and taken in that order, tier by
       tier, until each tier's target is met (or, in budget mode, until the next unit would
       not fit).  The ratio of the last unit bought in a tier is its exchange rate 1/theta_t;
    2. with those multipliers the warehouse level of each part is re-chosen by its effect
       through the METRIC delay on all of the part's dealers (dealer levels re-optimised at
       the same multipliers) -- a warehouse unit is worth buying if it saves more than it
       costs at the dealers' exchange rate;
    3. repeat until the warehouse levels stop changing (``max_iter``) and keep the cheapest
       plan that meets the targets (the best-service plan within the budget).

    Every dealer plan in step 1 meets the targets exactly on the greedy path, so all
    iterates are feasible; for a single echelon (``wh_lead_time=None``) the result is the
    greedy optimum, which is optimal at every point of the efficient curve.  With two
    echelons the warehouse step is a local search (the Lagrangian is not convex in s0), so
    the plan is a good heuristic, as in METRIC itself.

    Parameters
    ----------
    unit_cost : array (parts,)
        Unit cost (> 0); investment = sum unit_cost x base stock.
    dealer_demand_rate : array (parts, dealers)
        Mean demand per day of each part at each dealer.
    dealer_lead_time : float, array (dealers,) or (parts, dealers)
        Warehouse -> dealer transport time, days.
    wh_lead_time : float or array (parts,), optional
        Factory replenishment lead time per part, days.  ``None``: single echelon (dealers
        resupplied in their transport time, no warehouse stock).
    dealer_tier : array (dealers,) of int, optional
        Market tier per dealer (default: all tier 1).
    fill_rate_targets : float or {tier: target}, optional
        Demand-weighted fill-rate target per tier, each in [0, 1).
    wait_targets : float or {tier: days}, optional
        Expected customer wait target per tier, days (> 0).
    budget : float, optional
        Total inventory investment (warehouse + dealers).  Alone: the best service for this
        money (``objective``).  With targets: an upper limit; the plan must fit.
    objective : {"backorders", "fill_rate"}
        Service to maximise in budget mode: fewest total expected backorders (Sherbrooke's
        classic, equivalent to the shortest mean wait) or highest system fill rate.
    demand_vmr : float or array (parts, dealers), optional
        Variance-to-mean ratio of demand (1 = Poisson).
    method : {"vari-metric", "metric"}
        Dealer pipeline law used by the optimiser and the reported figures.
    holding_rate : float or array (dealers + 1,), optional
        Annual holding cost rate per site (index 0 = warehouse), for reporting only.
    max_iter : int
        Warehouse/dealer alternations (two echelons).
    tol_rel : float
        Stop alternating once an iteration changes the investment (targets) or the service
        objective (budget) by less than this fraction.
    curve_points : int
        Rows of the efficient curve kept (plus the plan's own point).
    part_ids, dealer_ids, warehouse_id
        Labels for :meth:`StockingResult.to_frame`.

    Returns
    -------
    StockingResult

    Raises
    ------
    InfeasiblePlanError
        Targets of 1 (fill) or 0 (wait) where there is demand; a budget below what the
        targets need (the message gives that budget and the fill rates the budget reaches).
        Negative or non-finite inputs (the message names the first offender).
    ValueError
        Malformed inputs (wrong shapes, missing tier targets, none or several modes).

    References
    ----------
    Sherbrooke (2004), Ch. 2 (marginal analysis, system approach), Ch. 4 (METRIC
    optimisation); Muckstadt (2005), Ch. 5 (Lagrangian allocation); Fox, B. (1966).
    Discrete optimization via marginal analysis. *Management Science* 13, 210-216.
    """
    t_start = time.perf_counter()
    prob = _prepare(unit_cost, dealer_demand_rate, dealer_lead_time, wh_lead_time, demand_vmr, dealer_tier, method)
    if fill_rate_targets is not None and wait_targets is not None:
        raise ValueError("give fill_rate_targets= or wait_targets=, not both")
    has_targets = fill_rate_targets is not None or wait_targets is not None
    if not has_targets and budget is None:
        raise ValueError("give service targets (fill_rate_targets= or wait_targets=) and/or budget=")
    if budget is not None:
        budget = float(budget)
        if not np.isfinite(budget) or budget < 0:
            raise InfeasiblePlanError(f"budget must be a finite number >= 0; got {budget!r}")
    if objective not in ("backorders", "fill_rate"):
        raise ValueError(f"objective must be 'backorders' or 'fill_rate'; got {objective!r}")
    _holding(holding_rate, prob.J)  # fail before the work, not after
    tier_L = {int(t): float(prob.lam[:, prob.tier == t].sum()) for t in np.unique(prob.tier)}

    targets: dict = {}
    if fill_rate_targets is not None:
        targets = _targets_by_tier(fill_rate_targets, prob.tier, "fill_rate_targets")
        bad = {t: v for t, v in targets.items() if not (0.0 <= v <= 1.0)}
        if bad:
            raise ValueError(f"fill-rate targets must lie in [0, 1); got {bad}")
        full = [t for t, v in targets.items() if v >= 1.0 and tier_L[t] > 0]
        if full:
            raise InfeasiblePlanError(
                f"a fill-rate target of 100% for tier(s) {full} needs unbounded stock: Poisson/NB "
                f"lead-time demand has no upper bound, so every finite plan misses some demand. "
                f"Any target below 1 is reachable (e.g. 0.999)."
            )
        mode, obj = "targets", "fill"
    elif wait_targets is not None:
        targets = _targets_by_tier(wait_targets, prob.tier, "wait_targets")
        bad = {t: v for t, v in targets.items() if not (v >= 0.0 and np.isfinite(v))}
        if bad:
            raise ValueError(f"wait targets must be finite and >= 0 days; got {bad}")
        zero = [t for t, v in targets.items() if v <= 0.0 and tier_L[t] > 0]
        if zero:
            raise InfeasiblePlanError(
                f"a zero expected wait for tier(s) {zero} needs unbounded stock; any positive "
                f"wait target is reachable"
            )
        mode, obj = "targets", "ebo"
    else:
        mode, obj = "budget", ("fill" if objective == "fill_rate" else "ebo")

    max_target = max(targets.values(), default=0.0) if (obj == "fill" and mode == "targets") else 0.0
    # Units beyond P(D > s) < eps buy nothing measurable.  For fill targets the bound sits
    # three orders of magnitude below the largest allowed shortfall; for wait targets below
    # 1/1000 of the backorders a tier may hold per (part, dealer) pair (a pair stopped there
    # keeps EBO of the order of eps, so all of them together use < ~0.1% of the allowance).
    eps_sat = 1e-10
    if mode == "targets" and obj == "fill":
        eps_sat = (1.0 - max_target) * 1e-3
    elif mode == "targets":
        allowed = [targets[t] * tier_L[t] / max(int(np.sum(prob.ptier == t)), 1)
                   for t in targets if tier_L[t] > 0]
        eps_sat = max(min(allowed, default=1e-7) * 1e-3, 1e-12)

    s0 = np.zeros(prob.P, dtype=np.int64)
    step0 = np.ones(prob.P)
    if prob.two_echelon:
        step0 = np.maximum(np.sqrt(np.maximum(prob.v0, prob.mu0)) / 2.0, 1.0)
        step0 = 2.0 ** np.floor(np.log2(step0))
        if mode == "targets":
            # start where the warehouse alone gives about the service asked of the dealers;
            # in budget mode start empty, so the first walk prices dealer stock alone
            start_fr = min(max_target, 0.99) if max_target > 0 else 0.9
            v0 = prob.v0 if prob.method == "vari-metric" else None
            s0 = np.asarray(base_stock_level(prob.mu0, v0, fill_rate=start_fr), dtype=np.int64).reshape(prob.P)
            s0[prob.lam0 <= 0] = 0  # no demand, no stock

    # Entries are generated down to a ratio floor per tier (lowered if the walk runs out);
    # the first walk has no floor in target mode (saturation bounds it).
    floor_t = {t: 0.0 for t in tier_L}
    if mode == "budget" and prob.plam.size:
        floor_t = {t: float(np.min(prob.plam / prob.pc if obj == "fill" else 1.0 / prob.pc)) * 1e-3 for t in tier_L}
    best = None  # (key, s0, walk)
    prev_key = np.inf
    log = []
    max_tier = int(max(tier_L)) if tier_L else 0
    for it in range(max(1, max_iter) if prob.two_echelon else 1):
        wh_cost = float((prob.c * s0).sum()) if prob.two_echelon else 0.0
        left = (budget - wh_cost) if budget is not None else np.inf
        eps_it = eps_sat
        for _ in range(5):
            walk = _walk(prob, s0, mode, obj, targets if mode == "targets" else {}, left, floor_t, eps_it)
            if walk.ok:
                break
            # the entries ran out before the stop rule: generate deeper (lower ratio floor, and
            # for targets a lower saturation bound, which is what binds once the floor is 0)
            floor_t = {t: v * 1e-3 for t, v in floor_t.items()}
            if mode == "targets":
                eps_it *= 1e-3
        s_pairs = walk.s_pairs
        if mode == "targets":
            s_pairs = _trim(prob, s0, s_pairs, targets, obj)
        total = wh_cost + float((prob.pc * s_pairs).sum())
        key = total if mode == "targets" else _service_of(prob, s0, walk, obj)
        log.append({"iteration": it, "investment": total, "wh_investment": wh_cost,
                    "multipliers": dict(walk.theta_tier), "key": key})
        if not walk.ok and mode == "targets":
            key = np.inf  # this warehouse plan left a target unmet even at saturation
        improved = best is None or (np.isfinite(key) and (not np.isfinite(best[0])
                                                          or key < best[0] - 1e-12 * abs(best[0])))
        if improved:
            best = (key, s0.copy(), walk, s_pairs)
        if not prob.two_echelon:
            break
        if it > 0 and abs(key - prev_key) <= tol_rel * max(abs(key), 1e-300):
            break  # the alternation has settled: further rounds move investment < tol_rel
        prev_key = key
        # next floors: well below this iteration's exchange rates
        floor_t = {t: (walk.last_ratio[t] * 1e-3 if np.isfinite(walk.last_ratio.get(t, np.inf)) else floor_t[t])
                   for t in tier_L}
        th = np.zeros(max_tier + 1)
        for t, v in walk.theta_tier.items():
            th[t] = v
        theta_pair = th[prob.ptier]
        new_s0 = _optimise_wh(prob, s0, theta_pair, obj, step0 if it == 0 else np.ones(prob.P))
        if mode == "budget":
            # the warehouse must leave money for the dealers: lower its exchange rate until
            # its stock fits in the budget
            for _ in range(30):
                if float((prob.c * new_s0).sum()) <= budget:
                    break
                theta_pair = theta_pair * 0.5
                new_s0 = _optimise_wh(prob, np.minimum(s0, new_s0), theta_pair, obj, np.ones(prob.P))
        if np.array_equal(new_s0, s0):
            break
        s0 = new_s0

    key, s0, walk, s_pairs = best
    if not np.isfinite(key):
        raise RuntimeError(
            "the greedy walk could not reach the service targets with the stock depths it "
            "considers (P(D > s) down to 1e-13 per pair); the targets are too close to perfect "
            "service -- relax them slightly")
    s_dealer = np.zeros((prob.P, prob.J), dtype=np.int64)
    s_dealer[prob.pp, prob.pj] = s_pairs
    pmean = _pair_means(prob, s0)
    curve = _curve(prob, walk, s0, pmean, curve_points)
    status = "targets met" if mode == "targets" else "best service within budget"
    res = _finish(prob, s0 if prob.two_echelon else None, s_dealer, status=status, targets=targets,
                  multipliers=dict(walk.theta_tier), curve=curve,
                  solver_info={"iterations": log, "seconds": time.perf_counter() - t_start},
                  holding_rate=holding_rate, part_ids=part_ids, dealer_ids=dealer_ids, warehouse_id=warehouse_id)
    # the plan's row of the curve, in the same closed-form figures as the result
    plan = {"investment": res.investment, "wh_investment": res.wh_investment,
            "dealer_investment": res.dealer_investment, "total_backorders": res.total_backorders,
            "expected_wait": res.expected_wait, "system_fill_rate": res.system_fill_rate,
            **{f"fill_rate_tier_{t}": v for t, v in res.tier_fill_rate.items()}, "is_plan": True}
    curve = pd.concat([curve, pd.DataFrame([plan])], ignore_index=True)
    res.curve = curve.sort_values(["investment", "is_plan"], kind="stable").reset_index(drop=True)
    investment = res.investment
    if mode == "targets" and budget is not None and investment > budget * (1 + 1e-12):
        raise InfeasiblePlanError(_budget_message(res, budget, curve, targets, obj))
    return res


def _pair_means(prob: _Problem, s0: np.ndarray) -> float:
    _, _, mean, _ = prob.pipeline(np.arange(prob.P), s0)
    return float(mean.sum())


def _service_of(prob: _Problem, s0: np.ndarray, walk: _Walk, obj: str) -> float:
    """Objective value of a budget-mode plan, smaller is better: total dealer EBO, or minus
    the demand-weighted fill."""
    ent, ch = walk.entries, walk.chosen
    if obj == "fill":
        return -float(ent["wfill"][ch].sum())
    return _pair_means(prob, s0) - float(ent["gebo"][ch].sum())


def _budget_message(res: StockingResult, budget: float, curve: pd.DataFrame, targets: dict, obj: str) -> str:
    within = curve[curve["investment"] <= budget * (1 + 1e-12)]
    need = ", ".join(f"tier {t}: {v:g}" for t, v in targets.items())
    msg = (f"the service targets ({need}) need an investment of {res.investment:,.2f} "
           f"(warehouse {res.wh_investment:,.2f} + dealers {res.dealer_investment:,.2f}), more than "
           f"the budget of {budget:,.2f}. Raise the budget to at least {res.investment:,.2f} or lower "
           f"the targets")
    if len(within):
        row = within.iloc[-1]
        tiers = [c for c in curve.columns if c.startswith("fill_rate_tier_")]
        if obj == "fill":
            reach = ", ".join(f"tier {c.rsplit('_', 1)[1]}: {row[c]:.4f}" for c in tiers)
            msg += f"; within the budget the same priorities reach fill rates of {reach}"
        else:
            msg += f"; within the budget the same priorities reach an expected wait of {row['expected_wait']:.3f} days"
        msg += " (warehouse levels held at the targets' plan)"
    elif res.wh_investment > budget:
        msg += "; the warehouse stock of that plan alone exceeds the budget"
    return msg + "."


# ---------------------------------------------------------------------------------------
# MILP for constraints that break separability
# ---------------------------------------------------------------------------------------


_HIGHS_BANNER_SILENCED = False


def _quiet_highs_banner() -> None:
    """Make the process's first ``Highs`` object with stdout pointed at /dev/null.

    highspy 1.16 prints "Running HiGHS ..." from the C++ constructor of the first ``Highs``
    object in a process, before any option can turn output off; a batch job's stdout (and
    cron's mail) would carry it on every run. Later objects print nothing.
    """
    global _HIGHS_BANNER_SILENCED
    if _HIGHS_BANNER_SILENCED:
        return
    _HIGHS_BANNER_SILENCED = True
    try:
        import highspy
    except ImportError:
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


@functools.cache
def highs_solver_class() -> type:
    """pulp's highspy-backed HiGHS solver, as every HiGHS solve in the package uses it.

    Two things differ from ``pulp.HiGHS``, both for highspy ≥ 1.16 (a fresh install's):

    * the start-up banner stays off standard output (see :func:`_quiet_highs_banner`);
    * HiGHS keeps one thread scheduler per process, and a solve whose ``threads`` option
      differs from the one an earlier solve started refuses to run ("the scheduler has
      already been initialized"), leaving the model status "Not Set". With a thread count
      given, the scheduler is reset first, as HiGHS's message advises
      (``Highs.resetThreadScheduler``; older highspy has neither the method nor the refusal).
    """
    import pulp

    class HiGHS(pulp.HiGHS):
        def createAndConfigureSolver(self, lp):  # noqa: N802 (pulp API)
            _quiet_highs_banner()
            return super().createAndConfigureSolver(lp)

        def callSolver(self, lp):  # noqa: N802 (pulp API)
            if self.threads is not None:
                import highspy

                reset = getattr(highspy.Highs, "resetThreadScheduler", None)
                if reset is not None:
                    reset(True)  # blocking: wait for the old workers to stop
            return super().callSolver(lp)

    return HiGHS


def _make_solver(solver: str, time_limit: float | None, mip_gap: float | None, threads: int | None):
    """A pulp solver object and its name.  HiGHS through highspy (``pulp.HiGHS``) first, the
    HiGHS executable (``HiGHS_CMD``) next, CBC (bundled with pulp) as the fallback."""
    import pulp

    if solver not in ("highs", "cbc"):
        raise ValueError(f"solver must be 'highs' or 'cbc'; got {solver!r}")
    if solver == "highs":
        api = highs_solver_class()(msg=False, timeLimit=time_limit, gapRel=mip_gap, threads=threads)
        if api.available():
            return api, "HiGHS"
        cmd = pulp.HiGHS_CMD(msg=False, timeLimit=time_limit, gapRel=mip_gap, threads=threads)
        if cmd.available():
            return cmd, "HiGHS_CMD"
    log = tempfile.NamedTemporaryFile(prefix="partsforecast_cbc_", suffix=".log", delete=False)
    log.close()
    with warnings.catch_warnings():
        # pulp 3.3 flags its bundled CBC for removal in 4.0; it is still the documented fallback
        warnings.simplefilter("ignore", DeprecationWarning)
        cbc = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, gapRel=mip_gap, threads=threads, logPath=log.name)
    if not cbc.available():
        raise RuntimeError("no MILP solver available: install highspy (HiGHS) or use pulp's bundled CBC")
    return cbc, "CBC"


def _solver_outcome(model, solver_obj, name: str) -> dict:
    """The solver's own verdict: status, whether a plan exists, relative gap and bound.

    pulp maps a HiGHS time-limit stop to "Optimal"; the true model status is read back from
    highspy (or the CBC log) so a timed-out run is never reported as optimal.
    """
    import pulp

    out = {"solver": name, "objective": pulp.value(model.objective), "gap": None, "bound": None}
    if name == "HiGHS":
        import highspy

        h = model.solverModel
        st = h.getModelStatus()
        info = h.getInfo()
        has_sol = int(info.primal_solution_status) == 2  # kSolutionStatusFeasible
        out["gap"] = float(info.mip_gap) if np.isfinite(info.mip_gap) else None
        # HiGHS never sees the objective's constant term: add it back to the bound it reports
        const = float(model.objective.constant) if model.objective is not None else 0.0
        out["bound"] = float(info.mip_dual_bound) + const if np.isfinite(info.mip_dual_bound) else None
        out["solver_runtime"] = float(h.getRunTime())  # HiGHS alone, without pulp's model transfer
        MS = highspy.HighsModelStatus
        if st == MS.kOptimal:
            out["status"], out["has_solution"] = "Optimal", True
        elif st in (MS.kInfeasible, MS.kUnboundedOrInfeasible):
            out["status"], out["has_solution"] = "Infeasible", False
        else:
            reason = {MS.kTimeLimit: "time limit reached", MS.kIterationLimit: "iteration limit reached"}.get(
                st, f"stopped: {h.modelStatusToString(st)}")
            gap = f"; relative gap {out['gap']:.3%}" if out["gap"] is not None else ""
            out["status"] = f"Feasible ({reason}{gap})" if has_sol else f"No solution ({reason})"
            out["has_solution"] = has_sol
        return out
    # CBC / HiGHS_CMD: pulp's status pair, plus the CBC log for the gap
    st, sol = model.status, model.sol_status
    if st == pulp.LpStatusInfeasible:
        out["status"], out["has_solution"] = "Infeasible", False
    elif sol == pulp.LpSolutionOptimal and st == pulp.LpStatusOptimal:
        out["status"], out["has_solution"] = "Optimal", True
    elif sol == pulp.LpSolutionIntegerFeasible:
        gap = None
        path = getattr(solver_obj, "optionsDict", {}).get("logPath")
        if path and os.path.exists(path):
            text = open(path, encoding="utf-8", errors="replace").read()
            # CBC prints the gap with two decimals only; recompute it from the objective and
            # bound it reports (both without the objective's constant, like HiGHS's gap)
            ov = re.findall(r"Objective value:\s*([0-9.eE+-]+)", text)
            lb = re.findall(r"Lower bound:\s*([0-9.eE+-]+)", text)
            if lb:
                out["bound"] = float(lb[-1]) + float(model.objective.constant)
            if ov and lb:
                o, b_ = float(ov[-1]), float(lb[-1])
                gap = abs(o - b_) / max(abs(o), 1e-12)
        out["gap"] = gap
        g = f"; relative gap {gap:.3%}" if gap is not None else "; gap not reported"
        out["status"], out["has_solution"] = f"Feasible (time limit reached{g})", True
    else:
        out["status"], out["has_solution"] = f"No solution ({pulp.LpStatus.get(st, st)})", False
    return out


def optimize_stock_milp(
    unit_cost: Any,
    dealer_demand_rate: Any,
    dealer_lead_time: Any,
    wh_lead_time: Any = None,
    *,
    dealer_tier: Any = None,
    fill_rate_targets: Any = None,
    budget: float | None = None,
    tier_budget: Mapping[int, float] | None = None,
    shelf_units: Any = None,
    shelf_value: Any = None,
    objective: str = "backorders",
    s_wh: Any = None,
    start: StockingResult | None = None,
    window: tuple[int, int] = (3, 2),
    demand_vmr: Any = None,
    method: str = "vari-metric",
    solver: str = "highs",
    time_limit: float | None = 60.0,
    mip_gap: float | None = 1e-4,
    threads: int | None = None,
    holding_rate: Any = None,
    part_ids: Any = None,
    dealer_ids: Any = None,
    warehouse_id: str = "WH",
) -> StockingResult:
    """Dealer stock levels under constraints that couple parts: a MILP solved with pulp.

    Shelf capacity per dealer (units or value) and budgets per tier couple the parts at a
    dealer or in a tier, so marginal analysis is no longer exact.  Each (part, dealer) pair
    chooses its level from a small window ``[s_g - down, s_g + up]`` around a greedy
    solution ``s_g`` through binary increments y_k (s = lo + sum_k y_k).  The expected
    backorders are piecewise linear in the increments with falling slopes (EBO is convex in
    s), so they need no ordering constraints; the fill rate is concave only above the mode,
    so pairs whose fill increments rise inside the window get y_{k+1} <= y_k.

    The warehouse levels are held fixed -- given (``s_wh``), taken from ``start``, or from
    :func:`optimize_stock` with the same targets/budget -- because the METRIC delay makes the
    dealer figures non-linear in them; the dealer pipelines follow from those levels.

    Modes: with ``fill_rate_targets`` the model minimises investment subject to the tier
    targets and the limits; without, it minimises total expected backorders (``objective=
    "backorders"``) or maximises demand-weighted fill (``"fill_rate"``) within the limits.

    Parameters
    ----------
    unit_cost, dealer_demand_rate, dealer_lead_time, wh_lead_time, dealer_tier, demand_vmr,
    method, holding_rate, part_ids, dealer_ids, warehouse_id
        As in :func:`optimize_stock`.
    fill_rate_targets : float or {tier: target}, optional
        Demand-weighted fill-rate target per tier.
    budget : float, optional
        Total investment limit, warehouse (fixed) + dealers.
    tier_budget : {tier: value}, optional
        Dealer stock value limit per tier.
    shelf_units, shelf_value : array (dealers,), optional
        Per-dealer limit on units held / on stock value (``inf`` = no limit).
    objective : {"backorders", "fill_rate"}
        Service to optimise when no targets are given.
    s_wh : array (parts,), optional
        Warehouse levels to hold fixed (two echelons).
    start : StockingResult, optional
        Greedy plan centring the windows (and giving s_wh).  Computed when not given.
    window : (int, int)
        Levels below / above the start level each pair may take.
    solver : {"highs", "cbc"}
        HiGHS via highspy (default; falls back to HiGHS_CMD, then CBC) or CBC.
    time_limit : float, optional
        Seconds; a stopped run reports "Feasible (time limit reached; relative gap x%)".
    mip_gap : float, optional
        Relative optimality gap at which the solver may stop and report "Optimal".
    threads : int, optional
        Solver threads.

    Returns
    -------
    StockingResult
        ``status`` is the solver's own verdict; ``solver_info`` holds solver name, status,
        gap, bound, objective, model size and timings.  ``curve`` has the plan's row only.

    Raises
    ------
    InfeasiblePlanError
        The solver proves that no levels within the window meet the constraints; the message
        gives the limits that would be feasible within the window.
    """
    import pulp

    t0 = time.perf_counter()
    prob = _prepare(unit_cost, dealer_demand_rate, dealer_lead_time, wh_lead_time, demand_vmr, dealer_tier, method)
    P, J = prob.P, prob.J
    if objective not in ("backorders", "fill_rate"):
        raise ValueError(f"objective must be 'backorders' or 'fill_rate'; got {objective!r}")
    down, up = (int(w) for w in window)
    if down < 0 or up < 0:
        raise ValueError(f"window must be two non-negative integers (down, up); got {window!r}")
    targets = {}
    if fill_rate_targets is not None:
        targets = _targets_by_tier(fill_rate_targets, prob.tier, "fill_rate_targets")
        full = [t for t, v in targets.items() if v >= 1.0 and prob.lam[:, prob.tier == t].sum() > 0]
        if full:
            raise InfeasiblePlanError(f"a fill-rate target of 100% for tier(s) {full} needs unbounded stock; use a target below 1")
        if any(not (0 <= v < 1) for v in targets.values()):
            raise ValueError(f"fill-rate targets must lie in [0, 1); got {targets}")
    if budget is not None and (not np.isfinite(budget) or budget < 0):
        raise InfeasiblePlanError(f"budget must be a finite number >= 0; got {budget!r}")
    tb = {int(k): float(v) for k, v in (tier_budget or {}).items()}
    if any(v < 0 or not np.isfinite(v) for v in tb.values()):
        raise InfeasiblePlanError(f"tier_budget values must be finite and >= 0; got {tb}")
    su = _limit(shelf_units, J, "shelf_units")
    sv = _limit(shelf_value, J, "shelf_value")
    if not targets and budget is None and not tb and su is None and sv is None:
        raise ValueError("give fill_rate_targets= and/or limits (budget=, tier_budget=, shelf_units=, shelf_value=)")

    # --- warehouse levels and window centre -----------------------------------------------
    if start is None:
        kw = dict(dealer_tier=prob.tier, demand_vmr=prob.vmr, method=prob.method)
        if targets:
            start = optimize_stock(prob.c, prob.lam, prob.T, prob.T0, fill_rate_targets=targets, **kw)
        elif budget is not None or tb:
            spend = budget if budget is not None else sum(tb.values())
            start = optimize_stock(prob.c, prob.lam, prob.T, prob.T0, budget=spend, objective=objective, **kw)
        else:
            raise ValueError("give start= (e.g. an optimize_stock result) or a budget/target to centre the "
                             "candidate window on")
    if prob.two_echelon:
        s0 = np.broadcast_to(_levels(s_wh, "s_wh"), (P,)).astype(np.int64) if s_wh is not None else start.s_wh
        if s0 is None:
            raise ValueError("two-echelon problem: give s_wh= or a two-echelon start=")
    else:
        s0 = None
    centre = np.asarray(start.s_dealer, dtype=np.int64)[prob.pp, prob.pj]
    lo = np.maximum(centre - down, 0)
    hi = centre + up
    K = hi - lo
    A = prob.plam.size
    wh_inv = float((prob.c * s0).sum()) if s0 is not None else 0.0

    # --- per-pair value tables (closed form, one vectorised call) --------------------------
    _, _, mean, var = prob.pipeline(np.arange(P), s0 if s0 is not None else np.zeros(P))
    Kmax = int(K.max()) if A else 0
    lev = lo[:, None] + np.arange(Kmax + 1)[None, :]
    d = _Dist(mean[:, None], var[:, None])
    FR = d.cdf(lev - 1.0)
    EBO = d.loss(lev.astype(float))
    # column c of the increment tables is the unit lo+c -> lo+c+1, present when c < K
    dfr = np.diff(FR, axis=1)
    debo = -np.diff(EBO, axis=1)
    valid = np.arange(Kmax)[None, :] < K[:, None]
    ii, cc = np.nonzero(valid)  # flat increments, pair-major, c ascending within a pair
    N = ii.size
    c_inc = prob.pc[ii]
    wfill = prob.plam[ii] * dfr[ii, cc]
    webo = debo[ii, cc]

    # --- model (built in bulk from the arrays) --------------------------------------------
    model = pulp.LpProblem("dealer_stock", pulp.LpMinimize)
    if hasattr(model, "add_variable_dict"):  # pulp >= 3.3 (LpVariable(...) is deprecated there)
        ydict = model.add_variable_dict("y", range(N), cat=pulp.LpBinary)
    else:
        ydict = pulp.LpVariable.dicts("y", range(N), cat=pulp.LpBinary)
    y = np.empty(N, dtype=object)
    y[:] = [ydict[n] for n in range(N)]

    def expr(idx, coefs, const=0.0):
        return pulp.LpAffineExpression(list(zip(y[idx].tolist(), coefs.tolist())), constant=const)

    base_cost = float((prob.pc * lo).sum())
    if targets:
        model += expr(np.arange(N), c_inc, wh_inv + base_cost), "investment"
    elif objective == "backorders":
        model += expr(np.arange(N), -webo, float(EBO[:, 0].sum())), "total_backorders"
    else:
        model += expr(np.arange(N), -wfill, -float((prob.plam * FR[:, 0]).sum())), "minus_weighted_fill"

    def grouped(keys, coefs, sense, rhs_by_key, label):
        order = np.argsort(keys, kind="stable")
        ks = keys[order]
        cuts = np.flatnonzero(np.diff(ks)) + 1
        for grp in np.split(order, cuts):
            if not grp.size:
                continue
            key = int(keys[grp[0]])
            if key not in rhs_by_key:
                continue
            e = expr(grp, coefs[grp])
            model.addConstraint(pulp.LpConstraint(e, sense, rhs=rhs_by_key[key]), f"{label}_{key}")

    inc_dealer = prob.pj[ii]
    inc_tier = prob.ptier[ii]
    if budget is not None:
        model.addConstraint(pulp.LpConstraint(expr(np.arange(N), c_inc), pulp.LpConstraintLE,
                                              rhs=budget - wh_inv - base_cost), "budget")
    if tb:
        base_t = {t: float((prob.pc * lo)[prob.ptier == t].sum()) for t in tb}
        grouped(inc_tier, c_inc, pulp.LpConstraintLE, {t: v - base_t[t] for t, v in tb.items()}, "tier_budget")
    if su is not None:
        base_u = np.bincount(prob.pj, weights=lo, minlength=J)
        rhs = {j: float(su[j] - base_u[j]) for j in range(J) if np.isfinite(su[j])}
        grouped(inc_dealer, np.ones(N), pulp.LpConstraintLE, rhs, "shelf_units")
    if sv is not None:
        base_v = np.bincount(prob.pj, weights=prob.pc * lo, minlength=J)
        rhs = {j: float(sv[j] - base_v[j]) for j in range(J) if np.isfinite(sv[j])}
        grouped(inc_dealer, c_inc, pulp.LpConstraintLE, rhs, "shelf_value")
    if targets:
        rhs = {}
        for t, f in targets.items():
            in_t = prob.ptier == t
            L = prob.plam[in_t].sum()
            if L > 0 and f > 0:
                rhs[t] = f * L * (1.0 + 1e-12) - float((prob.plam * FR[:, 0])[in_t].sum())
        grouped(inc_tier, wfill, pulp.LpConstraintGE, rhs, "fill_target")
    if targets or objective == "fill_rate":
        # ordering only where the fill increments rise inside the window (below the mode)
        rising = np.zeros(A, dtype=bool)
        if Kmax > 1:
            rising = np.any((np.diff(dfr, axis=1) > 1e-15) & valid[:, 1:], axis=1)
        if rising.any():
            pos = np.full((A, Kmax), -1, dtype=np.int64)
            pos[ii, cc] = np.arange(N)
            ri, rc = np.nonzero(rising[:, None] & valid[:, 1:])
            # the unit in column rc+1 may only be bought together with the one in column rc
            for a_, b_ in zip(pos[ri, rc + 1].tolist(), pos[ri, rc].tolist()):
                model.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression([(y[a_], 1.0), (y[b_], -1.0)]),
                                                      pulp.LpConstraintLE, rhs=0.0))
    build_s = time.perf_counter() - t0

    solver_obj, sname = _make_solver(solver, time_limit, mip_gap, threads)
    t1 = time.perf_counter()
    try:
        model.solve(solver_obj)
    except KeyError:
        pass  # pulp's HiGHS status table lacks some statuses; the true status is read below
    solve_s = time.perf_counter() - t1
    out = _solver_outcome(model, solver_obj, sname)
    log_path = getattr(solver_obj, "optionsDict", {}).get("logPath")
    if log_path and os.path.exists(log_path):
        os.unlink(log_path)
    out.update(n_variables=N, n_constraints=model.numConstraints(), build_seconds=build_s, solve_seconds=solve_s,
               window=(down, up))
    if out["status"] == "Infeasible":
        msg = _milp_infeasible_message(prob, lo, hi, FR, targets, budget, tb, su, sv, wh_inv)
        if targets and (budget is not None or tb or su is not None or sv is not None):
            # what the limits allow: the same window, maximising demand-weighted fill
            try:
                best = optimize_stock_milp(
                    prob.c, prob.lam, prob.T, prob.T0, dealer_tier=prob.tier, budget=budget, tier_budget=tb or None,
                    shelf_units=su, shelf_value=sv, objective="fill_rate", s_wh=s0, start=start, window=window,
                    demand_vmr=prob.vmr, method=prob.method, solver=solver, time_limit=time_limit,
                    mip_gap=mip_gap, threads=threads)
                reach = ", ".join(f"tier {t}: {v:.4f}" for t, v in best.tier_fill_rate.items())
                msg = msg.replace("; relax a limit", f"; within the limits the window reaches fill rates of {reach} "
                                  f"(plan maximising demand-weighted fill, {best.status.lower()}); relax a limit")
            except (InfeasiblePlanError, RuntimeError):
                pass
        raise InfeasiblePlanError(msg)
    if not out["has_solution"]:
        raise RuntimeError(f"{sname} stopped without a feasible plan ({out['status']}); raise time_limit "
                           f"(now {time_limit}) or narrow the window")
    yv = np.array([v.varValue or 0.0 for v in y.tolist()]) if N else np.zeros(0)
    s_pairs = lo + np.bincount(ii, weights=np.round(yv), minlength=A).astype(np.int64)
    s_dealer = np.zeros((P, J), dtype=np.int64)
    s_dealer[prob.pp, prob.pj] = s_pairs
    res = _finish(prob, s0, s_dealer, status=out["status"], targets=targets, multipliers={}, curve=pd.DataFrame(),
                  solver_info=out, holding_rate=holding_rate, part_ids=part_ids, dealer_ids=dealer_ids,
                  warehouse_id=warehouse_id)
    plan = {"investment": res.investment, "wh_investment": res.wh_investment,
            "dealer_investment": res.dealer_investment, "total_backorders": res.total_backorders,
            "expected_wait": res.expected_wait, "system_fill_rate": res.system_fill_rate,
            **{f"fill_rate_tier_{t}": v for t, v in res.tier_fill_rate.items()}, "is_plan": True}
    res.curve = pd.DataFrame([plan])
    return res


def _limit(x: Any, J: int, name: str) -> np.ndarray | None:
    """A per-dealer limit: (dealers,) floats >= 0, ``inf`` meaning no limit."""
    if x is None:
        return None
    a = np.asarray(x, dtype=float)
    if np.any(np.isnan(a) | (a < 0)):
        raise InfeasiblePlanError(f"{name} must be >= 0 (use inf for no limit); got {a[np.isnan(a) | (a < 0)].flat[0]!r}")
    try:
        return np.broadcast_to(a, (J,))
    except ValueError:
        raise ValueError(f"{name} must be a scalar or have one entry per dealer ({J}); got shape {a.shape}") from None


def _milp_infeasible_message(prob, lo, hi, FR, targets, budget, tb, su, sv, wh_inv) -> str:
    """What is reachable inside the candidate window, limit by limit."""
    parts = ["no stock levels within the candidate window meet all constraints"]
    lo_cost = float((prob.pc * lo).sum())
    if budget is not None and wh_inv + lo_cost > budget:
        parts.append(f"the lowest levels in the window already cost {wh_inv + lo_cost:,.2f} "
                     f"(warehouse {wh_inv:,.2f}) against a budget of {budget:,.2f}")
    if su is not None:
        need_u = np.bincount(prob.pj, weights=lo, minlength=prob.J)
        over = np.flatnonzero(need_u > su)
        if over.size:
            parts.append(f"{over.size} dealer(s) need more shelf units than allowed even at the window's lowest "
                         f"levels (e.g. dealer index {over[0]}: {need_u[over[0]]:.0f} > {su[over[0]]:.0f})")
    if targets:
        Kmax = FR.shape[1] - 1
        top = FR[np.arange(lo.size), np.minimum(hi - lo, Kmax)]
        reach = []
        for t, f in targets.items():
            in_t = prob.ptier == t
            L = prob.plam[in_t].sum()
            if L > 0:
                fr_max = float((prob.plam * top)[in_t].sum() / L)
                lo_cost_t = float((prob.pc * lo)[in_t].sum())
                reach.append(f"tier {t}: at most {fr_max:.4f} (target {f:g})")
                if t in tb and lo_cost_t > tb[t]:
                    parts.append(f"tier {t}'s budget {tb[t]:,.2f} is below the window's lowest levels ({lo_cost_t:,.2f})")
        parts.append("without the limits the window reaches fill rates of " + ", ".join(reach))
    parts.append("relax a limit (e.g. raise the budget to what optimize_stock reports for the targets), lower "
                 "the targets, or widen window=(down, up)")
    return "; ".join(parts) + "."
