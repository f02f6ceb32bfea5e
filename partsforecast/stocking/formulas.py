"""Single-location textbook quantities of a base-stock (``S-1, S``) policy.

The lead-time demand ("pipeline") of a one-for-one policy has the package's count law for its
mean and variance (:func:`lead_time_law`, which is :func:`partsforecast.counts.count_law`):
Poisson, ``q * Poisson(mean / q)`` for a part taken ``q`` units at a time (``var = q *
mean``), or the negative binomial fitted to the two moments.  From it, in closed form and vectorised over any array shapes:
:func:`expected_backorders`, :func:`backorder_variance`, :func:`fill_rate`,
:func:`ready_rate`, :func:`expected_on_hand`, :func:`base_stock_level` and
:func:`newsvendor_quantity` -- each with a worked example from the literature in its
docstring and tests.

Also the input checks every stocking module shares (:func:`check_nonneg`,
:func:`check_levels`) and :class:`InfeasiblePlanError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from partsforecast.counts import NEGATIVE_BINOMIAL, CountLaw, count_law

__all__ = [
    "InfeasiblePlanError",
    "backorder_variance",
    "base_stock_level",
    "check_levels",
    "check_nonneg",
    "expected_backorders",
    "expected_on_hand",
    "fill_rate",
    "lead_time_law",
    "newsvendor_quantity",
    "ready_rate",
]


class InfeasiblePlanError(ValueError):
    """A stocking request that no stock levels can satisfy.

    Raised for budgets below what the service targets need, fill-rate targets of 100% (or a
    zero customer wait) on parts with positive demand, and MILP models the solver proves
    infeasible.  The message says what would be feasible.
    """


# ---------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------


def check_nonneg(x: Any, name: str) -> np.ndarray:
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


def check_levels(s: Any, name: str = "s") -> np.ndarray:
    """Stock levels: non-negative integers (given as ints or integral floats)."""
    a = check_nonneg(s, name)
    if np.any(a != np.floor(a)):
        raise ValueError(f"{name} must hold whole numbers of units; got {a[a != np.floor(a)].flat[0]!r}")
    return a


def _scalar_or_array(x: np.ndarray) -> float | np.ndarray:
    return float(x) if np.ndim(x) == 0 else x


# ---------------------------------------------------------------------------------------
# Lead-time demand distribution: the package's count law
# ---------------------------------------------------------------------------------------


def lead_time_law(mean: Any, var: Any = None) -> CountLaw:
    """The law of the pipeline (lead-time) demand: :func:`partsforecast.counts.count_law`.

    Poisson when ``var`` is ``None`` or at most ``mean``; ``q * Poisson(mean / q)`` when
    ``var / mean`` is a whole number ``q >= 2`` (a part taken ``q`` units at a time); the
    negative binomial with that mean and variance otherwise.  Negative or non-finite inputs
    raise :class:`InfeasiblePlanError` (a ``ValueError``) naming the argument.

    Parameters
    ----------
    mean : float or array
        Mean pipeline demand, >= 0.
    var : float or array, optional
        Its variance, >= 0.

    Returns
    -------
    CountLaw
    """
    mean = check_nonneg(mean, "mean")
    return count_law(mean, None if var is None else check_nonneg(var, "var"))


# ---------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------


def expected_backorders(s: Any, mean: Any, var: Any = None) -> float | np.ndarray:
    """Expected backorders EBO(s) = E[(D - s)^+] of a base-stock level.

    For a one-for-one (``S-1, S``) policy the number of units in the resupply pipeline ``D``
    (the lead-time demand) has mean ``mean``; backorders are ``(D - s)^+``.  ``D`` has the
    law of :func:`lead_time_law`: Poisson, ``q * Poisson(mean / q)`` when ``var = q * mean``
    for a whole ``q >= 2``, or the negative binomial fitted to ``mean`` and ``var``.

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
        Variance of the pipeline demand.  ``None`` or ``var <= mean`` means Poisson
        (see :func:`lead_time_law` for the other laws).

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
    s = check_levels(s)
    return _scalar_or_array(lead_time_law(mean, var).loss(s))


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
    s = check_levels(s)
    d = lead_time_law(mean, var)
    ebo = d.loss(s)
    return _scalar_or_array(np.maximum(d.second_loss(s) - ebo * ebo, 0.0))


def fill_rate(s: Any, mean: Any, var: Any = None) -> float | np.ndarray:
    """Fill rate: share of unit demands met from stock on hand, P(D <= s - 1).

    With Poisson demand an arriving unit demand sees the stationary pipeline (PASTA) and is
    filled iff fewer than ``s`` units are outstanding.  For the other laws of
    :func:`lead_time_law` the same formula is used, as is usual with the two-moment
    approximation; for a part demanded ``q`` units at a time it counts the first unit of a
    batch as filled when one unit is on hand.  ``fill_rate(0, .) = 0``.

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
    s = check_levels(s)
    return _scalar_or_array(lead_time_law(mean, var).cdf(s - 1))


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
    s = check_levels(s)
    return _scalar_or_array(lead_time_law(mean, var).cdf(s))


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
    s = check_levels(s)
    d = lead_time_law(mean, var)
    return _scalar_or_array(np.maximum(s - d.mean + d.loss(s), 0.0))


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
    d = lead_time_law(mean, var)
    t = np.broadcast_to(t, np.broadcast_shapes(t.shape, d.mean.shape))
    m = np.broadcast_to(d.mean, t.shape)
    if np.any((t >= 1) & (m > 0)):
        raise InfeasiblePlanError(
            "a service target of 100% needs unbounded stock when lead-time demand is Poisson "
            "or negative binomial with positive mean; use a target below 1 (e.g. 0.999)"
        )
    k = d.ppf(np.minimum(t, 1.0)).astype(float)
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
        ``"auto"``: the law of :func:`lead_time_law` (integer answer); ``"negbin"``: the
        negative binomial whenever ``var > mean``.  ``"normal"``: the
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
        m = check_nonneg(mean, "mean")
        sd = np.sqrt(check_nonneg(var, "var"))
        return _scalar_or_array(m + stats.norm.ppf(alpha) * sd)
    if distribution not in ("auto", "poisson", "negbin"):
        raise ValueError(f"distribution must be 'auto', 'poisson', 'negbin' or 'normal'; got {distribution!r}")
    if distribution == "poisson":
        var = None
    elif distribution == "negbin" and var is not None and np.any(np.asarray(var) <= np.asarray(mean)):
        raise ValueError("distribution='negbin' needs var > mean")
    if distribution == "negbin" and var is not None:
        m = check_nonneg(mean, "mean")
        v = check_nonneg(var, "var")
        m, v = np.broadcast_arrays(m, v)
        law = CountLaw(m, v, np.full(m.shape, NEGATIVE_BINOMIAL), np.ones(m.shape))
    else:
        law = lead_time_law(mean, var)
    return _scalar_or_array(law.ppf(alpha).astype(float))


