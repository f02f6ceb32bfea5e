"""Abnormal machines: (machine, component) pairs that fail more often than their model's law.

A fitted failure model says how many failures a component of a (machine_model, component)
group should have had in the operating hours its machine has run. A pair far above that —
a *lemon*: a bad batch, a poor fit, an abusive site — is a machine to inspect, and its
failures should not drag the group's law (and so the forecast of every other machine)
towards its own.

For every (machine, component) the test compares the failures observed, ``N``, with the
law of the failure count of a component renewed at every failure over the machine's hours
``T`` under the group's fitted Weibull law (the renewal counting distribution:
``P(N ≥ n) = P(S_n ≤ T)`` with ``S_n`` the sum of ``n`` independent lives), one-sided
(only *more* failures than expected is abnormal); a false-discovery-rate procedure across
the fleet then decides which pairs to flag: the discrete step-down procedure of Döhler,
Durand & Roquain (2018), which uses the exact null law of every count p-value, or
Benjamini–Hochberg. :func:`machine_card` lists a flagged machine's tickets;
:func:`fit_excluding` refits the failure model without the flagged pairs.

See the concept page *Abnormal machines* for the test, its calibration and the measured
precision and recall.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from partsforecast._display import html_card, text_card
from partsforecast.lives import Lives, fleet_lives
from partsforecast.reliability import FailureModel, WeibullLifetimeModel

__all__ = [
    "AbnormalMachines",
    "abnormal_machines",
    "bh_qvalues",
    "discrete_qvalues",
    "fit_excluding",
    "machine_card",
    "renewal_count_sf",
]

_METHODS = ("discrete", "bh")
#: Points of the grid on which the law of a sum of lives is convolved, per group.
GRID_POINTS = 4096
#: p-values below this are reported as this: the numerical floor of the convolution (its
#: rounding error is ~1e-14), far below any Benjamini–Hochberg threshold of a real fleet.
P_FLOOR = 1e-12
#: Renewal rounds followed at most (a component with more failures gets the tail at this count).
MAX_STEPS = 400

_COLUMNS = ["serial", "machine_model", "location_id", "component", "observed", "expected", "ratio",
            "p_value", "q_value", "operating_hours", "last_failure", "in_service"]


# ---------------------------------------------------------------------------------------
# The renewal count law
# ---------------------------------------------------------------------------------------


def _tail_steps(group: np.ndarray, hours: np.ndarray, need: np.ndarray, shape: np.ndarray, scale: np.ndarray,
                grid: int = GRID_POINTS, floor: float = P_FLOOR, max_steps: int = MAX_STEPS):
    """Yield ``(m, rows, tail)`` for m = 1, 2, …: ``P(N(T_r) ≥ m)`` for rows still needed.

    Row ``r`` is a component of group ``group[r]`` (Weibull ``shape[g]``, ``scale[g]``), new
    at 0 and renewed at every failure, observed for ``hours[r]``. A row is followed until
    ``m ≥ need[r]`` and its tail has fallen below ``floor`` (or ``max_steps``).

    ``P(N(T) ≥ m) = P(S_m ≤ T)``. For ``m = 1`` it is the Weibull CDF itself; for ``m ≥ 2``
    the law of ``S_m`` is built per group on a grid of ``grid`` cells over the group's
    longest ``T``: a life's probability per cell (exact, placed at the cell's middle) is
    convolved with ``S_{m-1}``'s by FFT, all groups at once, one renewal round per step; a
    row's tail is read off the cumulative sum by linear interpolation. The loop runs over
    failure counts, never over machines.
    """
    rows = np.arange(hours.size)
    tail = -np.expm1(-np.power(hours / scale[group], shape[group]))
    yield 1, rows, tail
    alive = (tail >= floor) | (need > 1)
    rows = rows[alive]
    if rows.size == 0:
        return
    gids = np.unique(group[rows])
    t_max = np.zeros(shape.size)
    np.maximum.at(t_max, group, hours)
    t_max = np.where(t_max[gids] > 0, t_max[gids], 1.0)
    step = t_max / grid
    cum_hazard = np.power(step[:, None] * np.arange(grid + 1) / scale[gids][:, None], shape[gids][:, None])
    # P(life in cell i) = S(x_i)·(1 − exp(−(H(x_{i+1}) − H(x_i)))): accurate however small.
    conv = np.exp(-cum_hazard[:, :-1]) * -np.expm1(-np.diff(cum_hazard, axis=1))
    fft_len = 2 * grid
    life_fft = np.fft.rfft(conv, n=fft_len, axis=1)
    pos = np.full(shape.size, -1)
    pos[gids] = np.arange(gids.size)
    for m in range(2, max_steps + 1):
        conv = np.fft.irfft(np.fft.rfft(conv, n=fft_len, axis=1) * life_fft, n=fft_len, axis=1)[:, :grid]
        np.maximum(conv, 0.0, out=conv)
        cdf = np.cumsum(conv, axis=1)
        g = pos[group[rows]]
        # Cell j of S_m (a sum of m cell indices) sits at (j + m/2)Δ; its mass spread over the
        # cell around it puts cdf[j] at (j + m/2 + 1/2)Δ.
        x = hours[rows] / step[g] - m / 2.0 - 0.5
        j = np.floor(x)
        frac = x - j
        j = j.astype(np.int64)
        below = np.where(j >= 0, cdf[g, np.clip(j, 0, grid - 1)], 0.0)
        above = np.where(j >= -1, cdf[g, np.clip(j + 1, 0, grid - 1)], 0.0)
        tail = np.clip(below + frac * (above - below), 0.0, 1.0)
        yield m, rows, tail
        alive = (tail >= floor) | (need[rows] > m)
        rows = rows[alive]
        if rows.size == 0:
            return
        keep = np.zeros(gids.size, bool)
        keep[pos[group[rows]]] = True
        if not keep.all():
            gids, conv, life_fft, step = gids[keep], conv[keep], life_fft[keep], step[keep]
            pos[:] = -1
            pos[gids] = np.arange(gids.size)


def _count_p_values(group, hours, n, shape, scale, *, min_observed: int = 1, support: bool = False,
                    grid: int = GRID_POINTS, max_steps: int = MAX_STEPS):
    """Exact one-sided p-values ``P(N ≥ n)`` of each row, and the sums a discrete FDR needs.

    A row with fewer than ``min_observed`` failures gets p-value 1 (it is never flagged), so
    the law of its p-value has support ``{P(N ≥ j) : j ≥ min_observed} ∪ {1}``. With
    ``support=True`` also returns, for the observed p-values below 1 sorted increasingly
    (``cand``), ``y(t) = Σ_i F_i(t) / (1 − F_i(t))`` with ``F_i`` the CDF of row ``i``'s
    p-value under its group's law (Döhler, Durand & Roquain 2018).
    """
    group = np.asarray(group, np.int64)
    hours = np.asarray(hours, float)
    n = np.asarray(n, np.int64)
    n0 = int(min_observed)
    p = np.ones(hours.size)
    counted = n >= n0
    steps = _tail_steps(group, hours, np.where(counted, n, 0), shape, scale, grid=grid, max_steps=max_steps)
    if not support:
        for m, rows, tail in steps:
            at = rows[(n[rows] >= m) & counted[rows]]
            p[at] = tail[(n[rows] >= m) & counted[rows]]
        return np.maximum(p, np.where(counted, P_FLOOR, 1.0)), None, None
    # The observed p-values are only known once the steps have run; the candidate thresholds
    # are the tails at the observed counts, so collect the support first, then evaluate.
    sup_lo, sup_hi = [], []
    last = np.full(hours.size, np.inf)
    for m, rows, tail in steps:
        use = (n[rows] >= m) & counted[rows]
        p[rows[use]] = tail[use]
        if m >= n0:
            sup_lo.append(tail)
            # F_i(t) = tail on [tail, next support value): the previous tail, or 1 (every
            # count below min_observed has p-value 1).
            sup_hi.append(last[rows] if m > n0 else np.full(rows.size, np.inf))
        last[rows] = tail
    p = np.maximum(p, np.where(counted, P_FLOOR, 1.0))
    cand = np.unique(p[p < 1.0])
    if cand.size == 0:
        return p, cand, np.zeros(0)
    lo = np.concatenate(sup_lo)
    hi = np.concatenate(sup_hi)
    with np.errstate(divide="ignore"):
        value = np.where(lo < 1.0, lo / (1.0 - lo), np.inf)
    diff = np.zeros(cand.size + 1)
    i_lo, i_hi = np.searchsorted(cand, lo), np.searchsorted(cand, hi)
    live = i_lo < i_hi
    np.add.at(diff, i_lo[live], value[live])
    np.subtract.at(diff, i_hi[live], value[live])
    y = np.cumsum(diff)[:-1]
    # Rows left before their tail fell below the smallest threshold (max_steps reached): below
    # their last tail F_i(t) ≤ t, a conservative bound.
    left = last < np.inf
    ends = np.searchsorted(cand, last[left])
    open_rows = np.bincount(ends[ends > 0], minlength=cand.size + 1)
    still = open_rows[::-1].cumsum()[::-1][1:]  # rows whose last tail is above cand[j]
    y = y + still * cand / (1.0 - cand)
    return p, cand, y


def discrete_qvalues(p_values, cand, y) -> np.ndarray:
    """Adjusted p-values of the discrete step-down procedure [HSD] of Döhler et al. (2018).

    ``q_(k) = min(1, max_{j ≤ k} y(p_(j)) / j)`` over the p-values sorted increasingly, with
    ``y(t) = Σ_i F_i(t) / (1 − F_i(t))`` the sum over every test of its p-value's CDF under
    its null (so ``y`` replaces Benjamini–Hochberg's ``m·t``). Flagging ``q ≤ α`` controls
    the false discovery rate at ``α`` for independent tests.
    """
    p = np.asarray(p_values, float)
    q = np.ones(p.size)
    small = np.flatnonzero(p < 1.0)
    if small.size == 0:
        return q
    order = small[np.argsort(p[small], kind="stable")]
    y_sorted = y[np.searchsorted(cand, p[order])]
    q[order] = np.minimum(np.maximum.accumulate(y_sorted / np.arange(1, order.size + 1)), 1.0)
    return q


def renewal_count_sf(n, hours, shape, scale, *, grid: int = GRID_POINTS) -> np.ndarray:
    """Probability of at least ``n`` failures in ``hours`` of a Weibull renewal process.

    A component new at 0, replaced by a new one at every failure, lives iid Weibull
    (``S(t) = exp(-(t/scale)^shape)``): ``P(N(hours) ≥ n) = P(S_n ≤ hours)``, ``S_n`` the
    sum of ``n`` lives. With ``shape = 1`` this is the Poisson tail with mean
    ``hours / scale``; wear-out (``shape > 1``) makes counts more regular than Poisson,
    early failures (``shape < 1``) more scattered.

    Parameters
    ----------
    n : array_like of int
        Failure counts, ≥ 0.
    hours : array_like
        Operating hours observed, ≥ 0.
    shape, scale : array_like
        Weibull shape and scale (hours) of each row; broadcast with ``n`` and ``hours``.
    grid : int, default 4096
        Cells of the convolution grid per distinct (shape, scale) over its longest
        ``hours``; the error in ``S_n`` is of the order of √n cells.

    Returns
    -------
    ndarray
        ``P(N(hours) ≥ n)``, in the broadcast shape; accurate to ~1e-14 absolute.

    Examples
    --------
    >>> float(renewal_count_sf(2, 1000.0, 1.0, 1000.0))  # Poisson(1): 1 - 2/e  # doctest: +ELLIPSIS
    0.26424...
    """
    n, hours, shape, scale = np.broadcast_arrays(np.asarray(n), np.asarray(hours, float), np.asarray(shape, float),
                                                 np.asarray(scale, float))
    if np.any(n < 0) or np.any(n != np.round(n)):
        raise ValueError("n must hold whole numbers ≥ 0")
    if np.any(~np.isfinite(hours)) or np.any(hours < 0):
        raise ValueError("hours must be finite and ≥ 0")
    if np.any(~(shape > 0)) or np.any(~(scale > 0)):
        raise ValueError("shape and scale must be > 0")
    params, group = np.unique(np.stack([shape.ravel(), scale.ravel()], axis=1), axis=0, return_inverse=True)
    n_flat = n.ravel().astype(np.int64)
    tail = np.where(n_flat <= 0, 1.0, 0.0)
    for m, rows, t in _tail_steps(group.ravel(), hours.ravel().copy(), n_flat, params[:, 0], params[:, 1],
                                  grid=grid, floor=0.0, max_steps=max(int(n_flat.max(initial=1)), 1)):
        at = n_flat[rows] == m
        tail[rows[at]] = t[at]
    return tail.reshape(n.shape)


# ---------------------------------------------------------------------------------------
# Multiple testing
# ---------------------------------------------------------------------------------------


def bh_qvalues(p_values) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values) of a family of tests.

    ``q_(i) = min_{j ≥ i} m·p_(j)/j`` over the p-values sorted increasingly, capped at 1;
    rejecting every test with ``q ≤ α`` is the step-up procedure of Benjamini & Hochberg
    (1995), which keeps the false discovery rate at or below ``α`` for independent tests.

    Parameters
    ----------
    p_values : array_like
        One p-value per test, in [0, 1]; NaN is not allowed.

    Returns
    -------
    ndarray
        The q-values, in the order of ``p_values``.

    Examples
    --------
    >>> bh_qvalues([0.01, 0.04, 0.03, 0.5]).round(3).tolist()
    [0.04, 0.053, 0.053, 0.5]
    """
    p = np.asarray(p_values, float)
    if p.ndim != 1:
        raise ValueError("p_values must be one-dimensional")
    if np.any(~((p >= 0) & (p <= 1))):
        raise ValueError("p-values must lie in [0, 1] (and not be NaN)")
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    q = np.empty(m)
    q[order] = q_sorted
    return q


# ---------------------------------------------------------------------------------------
# The pairs of a fleet: failures and exposure
# ---------------------------------------------------------------------------------------


def _pair_table(lives: Lives) -> pd.DataFrame:
    """One row per (machine, component) with lives: failures, hours observed, last failure."""
    lv = lives.lives
    s_codes = lv["serial"].cat.codes.to_numpy(np.int64)
    c_codes = lv["component"].cat.codes.to_numpy(np.int64)
    n_comp = len(lv["component"].cat.categories)
    key = s_codes * n_comp + c_codes
    uniq, first, inv = np.unique(key, return_index=True, return_inverse=True)
    failed = lv["failed"].to_numpy(bool)
    end_hours = lv["start_hours"].to_numpy(float) + lv["duration"].to_numpy(float)
    n = np.bincount(inv, weights=failed, minlength=uniq.size).astype(np.int64)
    hours = np.zeros(uniq.size)
    np.maximum.at(hours, inv, end_hours)
    end_ns = lv["end_time"].to_numpy("datetime64[ns]").view(np.int64)
    last = np.full(uniq.size, np.iinfo(np.int64).min)
    np.maximum.at(last, inv[failed], end_ns[failed])
    return pd.DataFrame({
        "serial": lv["serial"].to_numpy()[first],
        "machine_model": lv["machine_model"].to_numpy()[first],
        "location_id": lv["location_id"].to_numpy()[first],
        "component": lv["component"].to_numpy()[first],
        "observed": n,
        "operating_hours": hours,
        "last_failure": last.view("datetime64[ns]"),
    })


def _weibull_groups(model) -> pd.DataFrame:
    if not isinstance(model, WeibullLifetimeModel):
        raise TypeError(
            "abnormal machines need a Weibull lifetime model (one with weibull_params(), such as a fitted "
            f"FailureModel), got {type(model).__name__}: the exact law of a failure count is known for Weibull lives")
    return model.weibull_params()


# ---------------------------------------------------------------------------------------
# Detection
# ---------------------------------------------------------------------------------------


class AbnormalMachines:
    """Find the (machine, component) pairs that fail more often than their group's law.

    For every (machine, component) with a law in the model: ``observed`` failures ``N``
    against ``expected`` failures ``E``, the renewal function of the group's Weibull law
    over the machine's operating hours ``T`` (:meth:`LifetimeModel.expected_renewals
    <partsforecast.reliability.LifetimeModel.expected_renewals>` from age 0: every failure
    renewed). Under the hypothesis that the pair follows its group's law, ``N`` has the
    renewal counting law ``P(N ≥ n) = P(S_n ≤ T)`` (:func:`renewal_count_sf`); the p-value
    is its upper tail at the observed count, one-sided (fewer failures than expected is no
    fault). A false-discovery-rate procedure over every pair tested then flags the pairs
    with ``q_value ≤ fdr``: on average at most a share ``fdr`` of the flagged pairs are
    normal ones.

    Parameters
    ----------
    fdr : float, default 0.05
        False discovery rate, in (0, 1).
    method : {"discrete", "bh"}, default "discrete"
        The FDR procedure. ``"bh"``: Benjamini & Hochberg (1995), :func:`bh_qvalues`.
        ``"discrete"``: the discrete step-down procedure of Döhler, Durand & Roquain (2018)
        (:func:`discrete_qvalues`), which replaces BH's ``m·t`` (the expected number of
        null p-values below ``t`` if all were uniform) by the sum over the tests of their
        exact null CDFs: a count test of a machine with few hours cannot reach a small
        p-value, and BH pays for it anyway. Both control the FDR for independent tests; the
        discrete one flags more lemons at the same rate (see the concept page).
    min_observed : int, default 2
        Pairs with fewer failures are never flagged (a single failure is no pattern to act
        on, however early): their p-value is 1 and the law of every p-value starts at this
        count. They still count in the family.

    Attributes
    ----------
    tests_ : DataFrame
        One row per (machine, component) tested: serial, machine_model, location_id,
        component, observed, expected, ratio (observed / expected), p_value, q_value,
        operating_hours (T), last_failure (time of the last failure, NaT if none),
        in_service (the machine is in service at the fleet's as-of date), flagged.
    flagged_ : DataFrame
        The flagged rows of ``tests_`` (without the ``flagged`` column), most urgent first:
        by q-value, then p-value, then ratio (descending).
    n_tests_ : int
        Pairs tested (the family of the FDR procedure).
    n_untested_ : int
        Pairs whose group has no law in the model (not tested).

    See Also
    --------
    machine_card : a flagged machine's tickets, in time order.
    fit_excluding : the failure model refitted without flagged pairs.

    Notes
    -----
    Exposure counts from the machine's entry into service (lives renew at every failure);
    ``T`` is fixed by the machine's hours, not by its failures, so the count law is exact
    under the hypothesis. A Poisson law with mean ``E`` would not be: for wear-out parts
    (shape > 1) counts are more regular than Poisson and the test too timid, for
    early-failure parts (shape < 1) more scattered and the test would flag normal
    machines. The uncertainty of the group's fitted law is ignored (a group pools hundreds
    of machines; one machine's count is the noise). p-values below ``P_FLOOR`` (1e-12)
    are reported as ``P_FLOOR``.

    Examples
    --------
    >>> import partsforecast as pf                                          # doctest: +SKIP
    >>> from partsforecast.service.abnormal import AbnormalMachines, machine_card
    >>> fleet = pf.make_fleet(n_machines=3000, lemon_share=0.01, seed=1)      # doctest: +SKIP
    >>> model = pf.FailureModel().fit(fleet)                                # doctest: +SKIP
    >>> found = AbnormalMachines(fdr=0.05).fit(fleet, model)                # doctest: +SKIP
    >>> found.flagged_.head()                                               # doctest: +SKIP
    >>> machine_card(fleet, found.flagged_["serial"].iloc[0])               # doctest: +SKIP
    """

    def __init__(self, fdr: float = 0.05, method: str = "discrete", min_observed: int = 2) -> None:
        self.fdr = fdr
        self.method = method
        self.min_observed = min_observed

    def _check_settings(self) -> None:
        if isinstance(self.fdr, bool) or not isinstance(self.fdr, (int, float, np.floating)) or not (
                0.0 < float(self.fdr) < 1.0):
            raise ValueError(f"fdr must be a number between 0 and 1 (exclusive), got {self.fdr!r}")
        if self.method not in _METHODS:
            raise ValueError(f"method={self.method!r} is not supported; use 'discrete' or 'bh'")
        if isinstance(self.min_observed, bool) or not isinstance(self.min_observed, (int, np.integer)) or (
                self.min_observed < 1):
            raise ValueError(f"min_observed must be a whole number ≥ 1, got {self.min_observed!r}")

    def fit(self, fleet, model) -> AbnormalMachines:
        """Test every (machine, component) of ``fleet`` against ``model``.

        Parameters
        ----------
        fleet : Fleet
            Its component lives (:meth:`partsforecast.Fleet.component_lives`) give each
            pair's failures and operating hours.
        model : WeibullLifetimeModel
            The group laws, e.g. a :class:`~partsforecast.FailureModel` fitted on the same
            fleet (or :meth:`FailureModel.from_params
            <partsforecast.FailureModel.from_params>` of known laws).

        Returns
        -------
        AbnormalMachines
            ``self``, with ``tests_``, ``flagged_``, ``n_tests_``, ``n_untested_``.
        """
        self._check_settings()
        params = _weibull_groups(model)
        pairs = _pair_table(fleet_lives(fleet))
        keys = pd.MultiIndex.from_frame(params[["machine_model", "component"]].astype(object))
        group = keys.get_indexer(pd.MultiIndex.from_arrays([pairs["machine_model"].astype(object),
                                                            pairs["component"].astype(object)]))
        tested = group >= 0
        self.n_untested_ = int((~tested).sum())
        pairs, group = pairs[tested].reset_index(drop=True), group[tested]
        hours = pairs["operating_hours"].to_numpy(float)
        n = pairs["observed"].to_numpy(np.int64)
        shape, scale = params["shape"].to_numpy(float), params["scale"].to_numpy(float)

        expected = (np.asarray(model.expected_renewals(group, np.zeros(hours.size), hours[:, None]), float)[:, 0]
                    if hours.size else np.zeros(0))
        discrete = self.method == "discrete"
        p, cand, y = _count_p_values(group, hours, n, shape, scale, min_observed=self.min_observed,
                                     support=discrete)
        q = discrete_qvalues(p, cand, y) if discrete else bh_qvalues(p)

        retired = fleet.machines.set_index("serial")["retired_date"]
        end = pairs["serial"].map(retired).to_numpy("datetime64[ns]")
        in_service = np.isnat(end) | (end >= np.datetime64(pd.Timestamp(fleet.as_of), "ns"))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(expected > 0, n / expected, np.where(n > 0, np.inf, np.nan))
        tests = pairs.assign(expected=expected, ratio=ratio, p_value=p, q_value=q, in_service=in_service)
        for c in ("serial", "machine_model", "location_id", "component"):
            tests[c] = tests[c].astype("str")
        tests["flagged"] = q <= self.fdr
        self.tests_ = tests[[*_COLUMNS, "flagged"]]
        self.n_tests_ = len(tests)
        flagged = self.tests_[self.tests_["flagged"].to_numpy()].drop(columns="flagged")
        self.flagged_ = flagged.sort_values(["q_value", "p_value", "ratio"], ascending=[True, True, False],
                                            kind="stable", ignore_index=True)
        return self

    def refit(self, fleet, model: FailureModel | None = None) -> FailureModel:
        """The failure model refitted on ``fleet`` without the flagged pairs' lives.

        Parameters
        ----------
        fleet : Fleet
        model : FailureModel, optional
            An unfitted model with the settings to use (default ``FailureModel()``).

        Returns
        -------
        FailureModel
            Fitted (see :func:`fit_excluding`).
        """
        if not hasattr(self, "flagged_"):
            raise ValueError("call .fit(fleet, model) first")
        return fit_excluding(fleet, self.flagged_[["serial", "component"]], model)

    # -- display -------------------------------------------------------------------------------

    def _facts(self) -> dict:
        if not hasattr(self, "flagged_"):
            return {"status": "not fitted", "fdr": self.fdr, "method": self.method}
        return {"pairs tested": self.n_tests_, "flagged": len(self.flagged_),
                "machines flagged": int(self.flagged_["serial"].nunique()), "fdr": self.fdr,
                "method": self.method}

    def __repr__(self) -> str:
        return text_card("AbnormalMachines", self._facts())

    def _repr_html_(self) -> str:
        if not hasattr(self, "flagged_"):
            return html_card("AbnormalMachines (not fitted)", self._facts())
        cols = ["serial", "machine_model", "component", "observed", "expected", "q_value"]
        return html_card("AbnormalMachines", self._facts(), self.flagged_[cols], max_rows=10)


def abnormal_machines(fleet, model, *, fdr: float = 0.05, method: str = "discrete",
                      min_observed: int = 2) -> pd.DataFrame:
    """The (machine, component) pairs that fail more often than their group's law, most urgent first.

    Shorthand for ``AbnormalMachines(fdr, method, min_observed).fit(fleet, model).flagged_``;
    see :class:`AbnormalMachines` for the test.

    Parameters
    ----------
    fleet : Fleet
    model : WeibullLifetimeModel
        E.g. a :class:`~partsforecast.FailureModel` fitted on ``fleet``.
    fdr : float, default 0.05
        False discovery rate.
    method : {"discrete", "bh"}, default "discrete"
        The FDR procedure (see :class:`AbnormalMachines`).
    min_observed : int, default 2
        Fewest failures a flagged pair has.

    Returns
    -------
    DataFrame
        serial, machine_model, location_id, component, observed, expected, ratio, p_value,
        q_value, operating_hours, last_failure, in_service; :func:`machine_card` gives a
        row's machine history.
    """
    return AbnormalMachines(fdr=fdr, method=method, min_observed=min_observed).fit(fleet, model).flagged_


# ---------------------------------------------------------------------------------------
# The machine card
# ---------------------------------------------------------------------------------------


def machine_card(fleet, serial: str, component: str | None = None) -> pd.DataFrame:
    """A machine's repair history: its tickets in time order, with component and parts.

    Parameters
    ----------
    fleet : Fleet
    serial : str
        The machine.
    component : str, optional
        Only this component's tickets.

    Returns
    -------
    DataFrame
        The machine's ticket lines (one per part), sorted by ``opened_at`` then ticket and
        part: ticket_id, opened_at, component, part_number, quantity, meter_hours, then
        the ticket's other columns; with the part's ``description`` when the parts table
        has one. ``attrs`` holds the machine's row of ``fleet.machines`` (``attrs["machine"]``,
        a dict).

    Raises
    ------
    KeyError
        When ``serial`` is not a machine of the fleet.
    """
    machines = fleet.machines
    row = machines[machines["serial"] == serial]
    if row.empty:
        raise KeyError(f"no machine with serial {serial!r} in this fleet")
    tk = fleet.tickets
    sel = (tk["serial"] == serial).to_numpy()
    if component is not None:
        sel = sel & (tk["component"] == component).to_numpy()
    card = tk[sel]
    first = ["ticket_id", "opened_at", "component", "part_number", "quantity", "meter_hours"]
    card = card[first + [c for c in card.columns if c not in first and c != "serial"]]
    if "description" in fleet.parts.columns:
        desc = fleet.parts.drop_duplicates("part_number").set_index("part_number")["description"]
        card = card.assign(description=card["part_number"].map(desc))
    card = card.sort_values(["opened_at", "ticket_id", "part_number"], kind="stable", ignore_index=True)
    card.attrs["machine"] = row.iloc[0].to_dict()
    return card


# ---------------------------------------------------------------------------------------
# Refitting without flagged pairs
# ---------------------------------------------------------------------------------------


class _FleetWithoutPairs:
    """A fleet seen through component lives that leave some (machine, component) pairs out.

    Everything but :meth:`component_lives` is the fleet's own; a failure model fitted on it
    reads the reduced lives (:func:`partsforecast.lives.fleet_lives`).
    """

    def __init__(self, fleet, lives: Lives) -> None:
        self._fleet = fleet
        self._lives = lives

    def component_lives(self) -> Lives:
        return self._lives

    def __getattr__(self, name: str):
        return getattr(self._fleet, name)


def fit_excluding(fleet, pairs: pd.DataFrame | Iterable[tuple[str, str]], model: FailureModel | None = None
                  ) -> FailureModel:
    """Fit a failure model on ``fleet`` without the lives of some (machine, component) pairs.

    The lives of a flagged pair (its failures and its running life) are left out of its
    group's fit, as if the machine never carried that component; its other components,
    and every other machine, are fitted as usual. The fitted model forecasts for the whole
    fleet, flagged machines included (at their group's normal rate: the rate they return
    to once overhauled).

    Parameters
    ----------
    fleet : Fleet
    pairs : DataFrame with columns serial, component, or iterable of (serial, component)
        The pairs to leave out (e.g. ``AbnormalMachines.flagged_``).
    model : FailureModel, optional
        An unfitted model with the settings to use; default ``FailureModel()``.

    Returns
    -------
    FailureModel
        ``model``, fitted. Its ``lives_`` are the reduced lives.
    """
    if not isinstance(pairs, pd.DataFrame):
        pairs = pd.DataFrame(list(pairs), columns=["serial", "component"])
    missing = {"serial", "component"} - set(pairs.columns)
    if missing:
        raise ValueError(f"pairs needs columns serial and component (missing: {', '.join(sorted(missing))})")
    lives = fleet_lives(fleet)
    lv = lives.lives
    s_cat, c_cat = lv["serial"].cat.categories, lv["component"].cat.categories
    ps = s_cat.get_indexer(pairs["serial"].astype(object))
    pc = c_cat.get_indexer(pairs["component"].astype(object))
    known = (ps >= 0) & (pc >= 0)
    drop_keys = ps[known].astype(np.int64) * len(c_cat) + pc[known]
    key = lv["serial"].cat.codes.to_numpy(np.int64) * len(c_cat) + lv["component"].cat.codes.to_numpy(np.int64)
    keep = ~np.isin(key, drop_keys)
    reduced = Lives(lives=lv[keep].reset_index(drop=True), ages=lives.ages, rates=lives.rates)
    model = FailureModel() if model is None else model
    return model.fit(_FleetWithoutPairs(fleet, reduced))
