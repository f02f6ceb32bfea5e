"""Use over the year: :class:`UsageProfile`, a factor per market tier and calendar month,
estimated from meter readings and ticket timing (the rules: ``docs/concepts/installed-base.md``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from partsforecast.data import InputError, Problem
from partsforecast.lives import meter_readings, usage_rates

__all__ = ["MONTH_DAYS", "UsageProfile", "fleet_usage_profile"]

#: Mean days of each calendar month over the four-year leap cycle (they add up to 365.25).
MONTH_DAYS = np.array([31.0, 28.25, 31.0, 30.0, 31.0, 30.0, 31.0, 31.0, 30.0, 31.0, 30.0, 31.0])
_MONTH_WEIGHT = MONTH_DAYS / MONTH_DAYS.sum()  # a profile's mean is Σ weight · factor
_EPOCH = np.datetime64("1970-01-01T00:00:00", "ns")
_DAY = np.timedelta64(1, "D")
_SOURCES = ("meter", "tickets")
#: Months of repair history a tier needs before its ticket timing is used (two seasons, so
#: that the month effects are not confused with the trend).
_MIN_TICKET_MONTHS = 24
_YEAR = 365.25


def _days_since_epoch(values) -> np.ndarray:
    return (np.asarray(values, dtype="datetime64[ns]") - _EPOCH) / _DAY


# ---------------------------------------------------------------------------------------
# Calendar months: how many days of each calendar month lie between two instants
# ---------------------------------------------------------------------------------------


class _MonthGrid:
    """Month starts covering a span of time, and the days of each calendar month before each.

    Times are float days since 1970-01-01. ``cum[i, k]`` is the number of days of calendar
    month ``k`` (0 = January) from the first month start to month start ``i``, so the days
    of month ``k`` up to time ``t`` are ``cum[i, k] + (t − start[i]) · [month[i] = k]`` with
    ``i`` the month containing ``t``.
    """

    def __init__(self, t_min: float, t_max: float):
        first = pd.Timestamp(_EPOCH + np.timedelta64(int(np.floor(t_min)), "D")).to_period("M").start_time
        last = pd.Timestamp(_EPOCH + np.timedelta64(int(np.ceil(t_max)) + 1, "D")).to_period("M").start_time
        knots = pd.date_range(first, last + pd.DateOffset(months=1), freq="MS")
        self.start = _days_since_epoch(knots.to_numpy())
        self.month = knots.month.to_numpy() - 1
        length = np.diff(self.start)
        cum = np.zeros((self.start.size, 12))
        cum[np.arange(1, self.start.size), self.month[:-1]] = length
        self.cum = np.cumsum(cum, axis=0)

    def locate(self, t: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(self.start, t, side="right") - 1, 0, self.start.size - 2)

    def days_between(self, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        """(n, 12): days of each calendar month in (t0, t1], for 1-d arrays of times."""
        i0, i1 = self.locate(t0), self.locate(t1)
        out = self.cum[i1] - self.cum[i0]
        rows = np.arange(t0.size)
        out[rows, self.month[i1]] += t1 - self.start[i1]
        out[rows, self.month[i0]] -= t0 - self.start[i0]
        return out


def _normalise(f: np.ndarray) -> np.ndarray:
    """Factors (rows of 12) scaled to day-weighted mean 1; rows already all 1 are kept."""
    f = np.asarray(f, float)
    mean = f @ _MONTH_WEIGHT
    flat = (f == 1.0).all(axis=-1)
    return np.where(flat[..., None], f, f / np.where(mean > 0, mean, 1.0)[..., None])


# ---------------------------------------------------------------------------------------
# The usage profile
# ---------------------------------------------------------------------------------------


class UsageProfile:
    """Use over the year: one factor per market tier and calendar month.

    A machine of yearly mean rate ``u`` hours per day runs ``u · factor(tier, month)`` hours
    a day in a month; the factors of a tier have a day-weighted mean of 1, so a year's hours
    are those of the flat rate.

    Parameters
    ----------
    sources : sequence of {"meter", "tickets"}
        What to estimate from. ``"meter"``: pairs of meter readings of the same machine
        (ticket ``meter_hours``, service visits included, and 0 hours on the in-service
        date). ``"tickets"``: the monthly counts of repair tickets per tier against the
        operating hours of the machines in service (a Poisson regression with a smooth
        trend), used for tiers with at least 24 months of history. Where both are used, each
        month's two estimates are averaged with inverse-variance weights.
    shrink : bool
        Shrink every tier's factors towards flat (1) by an empirical-Bayes rule: factor
        ``k`` keeps the share ``τ² / (τ² + v_k)`` of its departure from 1, where ``v_k`` is
        its sampling variance and ``τ²`` the spread of the tier's factors about 1 beyond
        their noise (moments, never below 0; ``τ² = 0`` gives a flat tier). Thin data (large
        ``v_k``) give a flat profile.
    min_gap_days : float
        Pairs of readings closer than this are not used (the reading's time of day and the
        meter's rounding would swamp the hours run).
    min_spread : float
        A tier whose shrunk factors depart from 1 by less than this (root mean square,
        day-weighted) is taken as flat: a swing that small moves no month's forecast by more
        than a few percent, and it is the size of the estimators' own bias on generated
        fleets without seasonality (0.1–0.3 % from meter readings). 0 keeps every estimate.
    max_iter : int
        Iterations of the meter fit (variable projection; a handful suffice).
    max_machines : int or None
        The meter fit reads at most about this many machines: with more, every ``k``-th
        machine of the fleet's table (``k = ⌈machines / max_machines⌉``, no randomness) — 48
        factors need far fewer readings than a national fleet holds, and the fit's time grows
        with them (``rates_`` then covers those machines). ``None`` reads every machine.

    Attributes
    ----------
    profile_ : DataFrame
        One row per (tier, month): tier, month (1–12), factor (the profile), meter and
        meter_se (the meter readings' estimate and its standard error; NaN without it),
        tickets and tickets_se (the ticket timing's), weight (the share of the departure
        from flat kept by the shrinkage).
    rates_ : DataFrame
        One row per machine with usable meter pairs: serial, tier, hours_per_day (its yearly
        mean rate under the profile, least squares over its pairs), intervals (pairs used),
        days (calendar days they cover).
    tiers_ : DataFrame
        One row per tier: tier, machines and intervals (meter pairs), repairs (tickets
        counted), months (of ticket history), tau (the spread of its estimated factors
        about 1 beyond their noise, the ``√τ²`` of the shrinkage), spread (the root mean
        square departure of its final factors from 1) and source (what its profile rests on;
        ``"none (flat)"`` for a tier without estimate, ``"flat (below min_spread)"`` for one
        whose estimate was too small to keep).
    n_iter_ : int
        Iterations the meter fit took.

    Notes
    -----
    The meter fit is least squares on the hours run between consecutive readings,
    ``Δh = u_m · Σ_k D_k f_k`` (``D_k`` the days of calendar month ``k`` in the interval),
    each interval weighted by ``1 / days`` (a machine's daily hours vary independently from
    day to day), the machines' rates ``u_m`` eliminated in closed form (variable projection,
    Kaufman 1975). It is exact on noise-free readings.

    Examples
    --------
    >>> fleet = pf.make_fleet(seasonality=0.4, maintenance=True)      # doctest: +SKIP
    >>> profile = pf.UsageProfile().fit(fleet)                          # doctest: +SKIP
    >>> profile.profile_.pivot(index="month", columns="tier", values="factor")  # doctest: +SKIP
    >>> pf.forecast_demand(model, fleet, usage_profile=profile)         # doctest: +SKIP
    """

    def __init__(self, sources=_SOURCES, shrink: bool = True, min_gap_days: float = 7.0,
                 min_spread: float = 0.02, max_iter: int = 50, max_machines: int | None = 50_000) -> None:
        self.sources = sources
        self.shrink = shrink
        self.min_gap_days = min_gap_days
        self.min_spread = min_spread
        self.max_iter = max_iter
        self.max_machines = max_machines

    # -- settings ----------------------------------------------------------------------------

    def _check_settings(self) -> tuple[str, ...]:
        sources = (self.sources,) if isinstance(self.sources, str) else tuple(self.sources)
        bad = [s for s in sources if s not in _SOURCES]
        if bad or not sources:
            raise ValueError(f"sources={self.sources!r}: use 'meter', 'tickets' or both")
        if not isinstance(self.shrink, (bool, np.bool_)):
            raise ValueError(f"shrink must be True or False, got {self.shrink!r}")
        gap = self.min_gap_days
        if not isinstance(gap, (int, float, np.integer, np.floating)) or not np.isfinite(gap) or gap < 0:
            raise ValueError(f"min_gap_days must be a number of days ≥ 0, got {gap!r}")
        spread = self.min_spread
        if not isinstance(spread, (int, float, np.integer, np.floating)) or not 0 <= spread < 1:
            raise ValueError(f"min_spread must be a number in [0, 1), got {spread!r}")
        if not isinstance(self.max_iter, (int, np.integer)) or self.max_iter < 1:
            raise ValueError(f"max_iter must be a whole number ≥ 1, got {self.max_iter!r}")
        cap = self.max_machines
        if cap is not None and (isinstance(cap, (bool, np.bool_)) or not isinstance(cap, (int, np.integer))
                                or cap < 1):
            raise ValueError(f"max_machines must be a whole number ≥ 1 or None, got {cap!r}")
        return sources

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, fleet) -> UsageProfile:
        """Estimate the profile of every market tier of ``fleet``.

        Parameters
        ----------
        fleet : Fleet

        Returns
        -------
        UsageProfile
            ``self``, fitted.
        """
        sources = self._check_settings()
        tiers = np.sort(pd.unique(fleet.locations["tier"].dropna().astype("int64").to_numpy()))
        T = tiers.size
        m = fleet.machines
        machine_tier = pd.Index(tiers).get_indexer(fleet.location_tiers(m["location_id"]))

        nan = np.full((T, 12), np.nan)
        f_m, v_m, f_t, v_t = nan.copy(), nan.copy(), nan.copy(), nan.copy()
        self.n_iter_ = 0
        meter_info = {"machines": np.zeros(T, np.int64), "intervals": np.zeros(T, np.int64)}
        rates = pd.DataFrame({"serial": pd.array([], dtype="str"), "tier": np.zeros(0, np.int64),
                              "hours_per_day": np.zeros(0), "intervals": np.zeros(0, np.int64),
                              "days": np.zeros(0)})
        if "meter" in sources and T:
            pairs = _meter_pairs(fleet, machine_tier, float(self.min_gap_days), self.max_machines)
            if pairs["y"].size:
                fit = _fit_meter(pairs, T, self.max_iter)
                f_m, v_m, self.n_iter_ = fit["f"], fit["v"], fit["n_iter"]
                meter_info = {"machines": fit["machines"], "intervals": fit["intervals"]}
                mach = fit["machine"]
                rates = pd.DataFrame({"serial": pd.array(m["serial"].to_numpy()[mach], dtype="str"),
                                      "tier": tiers[machine_tier[mach]].astype("int64"),
                                      "hours_per_day": fit["rate"], "intervals": fit["n_pairs"],
                                      "days": fit["days"]})
        ticket_info = {"repairs": np.zeros(T, np.int64), "months": np.zeros(T, np.int64)}
        if "tickets" in sources and T:
            fit_t = _fit_tickets(fleet, machine_tier, T)
            f_t, v_t = fit_t["f"], fit_t["v"]
            ticket_info = {"repairs": fit_t["repairs"], "months": fit_t["months"]}

        f_hat, v_hat = _combine((f_m, v_m), (f_t, v_t))
        factor, weight, tau2 = _shrink(f_hat, v_hat, self.shrink)
        spread = np.sqrt(((factor - 1.0) ** 2) @ _MONTH_WEIGHT)
        small = spread < float(self.min_spread)
        factor[small] = 1.0
        weight[small] = 0.0
        has = {"meter": np.isfinite(f_m).all(axis=1), "tickets": np.isfinite(f_t).all(axis=1)}
        source = np.where(has["meter"] & has["tickets"], "meter and tickets",
                          np.where(has["meter"], "meter", np.where(has["tickets"], "tickets", "none (flat)")))
        source = np.where(small & (has["meter"] | has["tickets"]), "flat (below min_spread)", source)
        self.profile_ = pd.DataFrame({
            "tier": np.repeat(tiers, 12).astype("int64"), "month": np.tile(np.arange(1, 13), T).astype("int64"),
            "factor": factor.ravel(), "meter": f_m.ravel(), "meter_se": np.sqrt(v_m).ravel(),
            "tickets": f_t.ravel(), "tickets_se": np.sqrt(v_t).ravel(), "weight": weight.ravel()})
        self.rates_ = rates
        self.tiers_ = pd.DataFrame({"tier": tiers.astype("int64"), **meter_info, **ticket_info,
                                    "tau": np.sqrt(tau2), "spread": np.where(small, 0.0, spread),
                                    "source": pd.array(source, dtype="str")})
        self._set_table(tiers, factor)
        return self

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> UsageProfile:
        """A profile from known factors (an engineering estimate, a generator's truth).

        Parameters
        ----------
        table : DataFrame
            Columns tier, month (1–12) and factor (> 0), one row per (tier, month), all 12
            months of every tier given (``fleet.truth["usage_profile"]`` has this layout).
            The factors are used as given (not rescaled).

        Returns
        -------
        UsageProfile
            With ``profile_`` (tier, month, factor); nothing is fitted.

        Raises
        ------
        InputError
            A column is missing, a value is not a whole tier, a month in 1–12 or a finite
            factor > 0, a (tier, month) is given twice, or a tier lacks a month; each
            problem names the row and column.
        """
        if not isinstance(table, pd.DataFrame):
            raise TypeError(f"UsageProfile.from_table: table must be a DataFrame with columns tier, month "
                            f"and factor, got {type(table).__name__}")
        name = "usage_profile"
        missing = [c for c in ("tier", "month", "factor") if c not in table.columns]
        if missing:
            raise InputError([Problem(name, None, c, None, "column is missing; the profile needs tier, month "
                                      "(1–12) and factor, one row per (tier, month)") for c in missing])
        problems: list[Problem] = []
        tier = pd.to_numeric(table["tier"], errors="coerce").to_numpy(dtype=float)
        month = pd.to_numeric(table["month"], errors="coerce").to_numpy(dtype=float)
        factor = pd.to_numeric(table["factor"], errors="coerce").to_numpy(dtype=float)
        checks = (("tier", ~(np.isfinite(tier) & (tier == np.round(tier))), "must be a whole number (a market tier)"),
                  ("month", ~(np.isfinite(month) & (month == np.round(month)) & (month >= 1) & (month <= 12)),
                   "must be a whole month number from 1 to 12"),
                  ("factor", ~(np.isfinite(factor) & (factor > 0)), "must be a finite number > 0"))
        for column, bad, rule in checks:
            for i in np.flatnonzero(bad)[:20]:
                problems.append(Problem(name, table.index[i], column, str(table[column].iloc[i]), rule))
        if problems:
            raise InputError(problems)
        key = pd.DataFrame({"tier": tier.astype(np.int64), "month": month.astype(np.int64)})
        dup = key.duplicated(keep="first").to_numpy()
        for i in np.flatnonzero(dup)[:20]:
            problems.append(Problem(name, table.index[i], "month", str(int(month[i])),
                                    f"tier {int(tier[i])} has this month more than once; give each once"))
        counts = key.drop_duplicates().groupby("tier").size()
        for t in counts.index[counts.to_numpy() < 12]:
            problems.append(Problem(name, None, "month", None,
                                    f"tier {int(t)} has {int(counts[t])} months; give all 12"))
        if problems:
            raise InputError(problems)
        tiers = np.sort(key["tier"].unique())
        f = np.ones((tiers.size, 12))
        f[np.searchsorted(tiers, key["tier"].to_numpy()), key["month"].to_numpy() - 1] = factor
        out = cls()
        out.profile_ = pd.DataFrame({"tier": np.repeat(tiers, 12).astype("int64"),
                                     "month": np.tile(np.arange(1, 13), tiers.size).astype("int64"),
                                     "factor": f.ravel()})
        out._set_table(tiers, f)
        return out

    def _set_table(self, tiers: np.ndarray, factor: np.ndarray) -> None:
        self._tiers = pd.Index(np.asarray(tiers, float))
        # One row per tier and a last row of ones (machines of no known tier run flat).
        self._factor = np.vstack([np.asarray(factor, float).reshape(-1, 12), np.ones((1, 12))])

    # -- using the profile -------------------------------------------------------------------

    def _require(self) -> None:
        if not hasattr(self, "_factor"):
            raise ValueError("this UsageProfile is not fitted yet: call .fit(fleet) first "
                             "(or build one from known factors with UsageProfile.from_table)")

    @property
    def is_flat(self) -> bool:
        """True when every factor is exactly 1 (the profile changes nothing)."""
        self._require()
        return bool((self._factor == 1.0).all())

    def use_days(self, as_of: Any, days: np.ndarray, tier: np.ndarray) -> np.ndarray:
        """Mean-use days in the first ``days`` calendar days after ``as_of``.

        ``∫ factor(tier, month(as_of + s)) ds`` over ``s`` from 0 to ``days``: a machine of
        yearly mean rate ``u`` runs ``u · use_days`` operating hours in that time.

        Parameters
        ----------
        as_of : date-like
            The start.
        days : (R,) or (R, P) array of float
            Calendar days after ``as_of`` (finite, ≥ 0).
        tier : (R,) array
            Market tier of each row; a tier the profile does not know (or NaN) runs flat.

        Returns
        -------
        ndarray
            Same shape as ``days``.
        """
        self._require()
        days = np.asarray(days, float)
        two_d = days.ndim == 2
        x = days if two_d else days[:, None]
        t0 = float(_days_since_epoch(np.datetime64(pd.Timestamp(as_of).to_datetime64(), "ns")))
        out = self._between(np.full((x.shape[0], 1), t0), t0 + x, tier)
        return out if two_d else out[:, 0]

    def _use_between(self, start, end, tier) -> np.ndarray:
        """Mean-use days from ``start`` to ``end`` (1-d datetime64 arrays, ``end ≥ start``),
        each row on its tier's profile (flat for a tier the profile does not know): a machine
        of yearly mean rate ``u`` runs ``u ·`` this many hours in between. Exactly the
        calendar days for a flat profile."""
        self._require()
        return self._between(_days_since_epoch(start), _days_since_epoch(end), tier)

    def _between(self, t0: np.ndarray, t1: np.ndarray, tier) -> np.ndarray:
        """``∫ factor`` from ``t0`` to ``t1`` (days since the epoch; row ``r`` of either, of
        shape (R,) or (R, P), on ``tier[r]``'s profile)."""
        if t1.size == 0:
            return np.zeros(np.broadcast_shapes(t0.shape, t1.shape))
        row = self._tiers.get_indexer(np.asarray(tier, float))
        row = np.where(row >= 0, row, len(self._tiers)).reshape((-1,) + (1,) * (t1.ndim - 1))
        grid = _MonthGrid(float(min(t0.min(), t1.min())), float(max(t0.max(), t1.max())))
        cum_f = grid.cum @ self._factor.T  # (knots, tiers): use-days up to each month start

        def integral(t: np.ndarray) -> np.ndarray:
            i = grid.locate(t)
            return cum_f[i, row] + (t - grid.start[i]) * self._factor[row, grid.month[i]]

        return integral(t1) - integral(t0)

    def factors(self, tier: np.ndarray, month: np.ndarray) -> np.ndarray:
        """The factor of each (tier, calendar month 1–12) pair; 1 for an unknown tier.

        Parameters
        ----------
        tier, month : array_like
            Broadcast against each other.

        Returns
        -------
        ndarray
        """
        self._require()
        tier, month = np.broadcast_arrays(np.asarray(tier, float), np.asarray(month, np.int64))
        row = self._tiers.get_indexer(tier.ravel()).reshape(tier.shape)
        row = np.where(row >= 0, row, len(self._tiers))
        return self._factor[row, month - 1]

    def __repr__(self) -> str:
        if not hasattr(self, "_factor"):
            return "UsageProfile(not fitted)"
        f = self._factor[:-1]
        if f.size == 0:
            return "UsageProfile(no tiers)"
        return (f"UsageProfile(tiers={len(self._tiers)}, peak/trough={f.max(axis=1).max():.2f}/"
                f"{f.min(axis=1).min():.2f})")


def fleet_usage_profile(fleet) -> UsageProfile:
    """The usage profile of ``fleet`` (``UsageProfile().fit(fleet)``), fitted once per fleet.

    What ``forecast_demand(..., usage_profile="auto")`` uses, and what the fleet's component
    lives count their hours on (:mod:`partsforecast.lives`). The fleet keeps the fit while
    its machines, tickets, locations and as-of date are the same objects (a fleet cut by
    :meth:`~partsforecast.Fleet.until` gets its own).

    Parameters
    ----------
    fleet : Fleet

    Returns
    -------
    UsageProfile
    """
    keep = getattr(fleet, "_derived", None)
    if keep is None:  # not a Fleet: nowhere to keep it
        return UsageProfile().fit(fleet)
    return keep("usage_profile", (fleet.machines, fleet.tickets, fleet.locations, fleet.as_of),
                lambda: UsageProfile().fit(fleet))


def _meter_pairs(fleet, machine_tier: np.ndarray, min_gap: float, max_machines: int | None = None) -> dict[str, np.ndarray]:
    """Consecutive meter readings of every machine (0 hours on its in-service date first);
    of every ``k``-th machine when there are more than ``max_machines``."""
    m = fleet.machines
    step = 1 if max_machines is None else max(1, -(-len(m) // int(max_machines)))
    mi, opened, hours = meter_readings(fleet)
    ok = mi % step == 0
    mi, opened, hours = mi[ok], opened[ok], hours[ok]
    own = np.arange(0, len(m), step)
    machine = np.concatenate([own, mi])
    t = np.concatenate([_days_since_epoch(m["in_service_date"].to_numpy()[own]), _days_since_epoch(opened)])
    h = np.concatenate([np.zeros(own.size), hours])
    o = np.lexsort((h, t, machine))
    machine, t, h = machine[o], t[o], h[o]
    same = machine[1:] == machine[:-1]
    L = t[1:] - t[:-1]
    y = h[1:] - h[:-1]
    mc = machine[1:]
    # Readings too close, running backwards or faster than the clock are not used.
    use = same & (L >= max(min_gap, 1e-6)) & (y >= 0) & (y <= 24.0 * L) & (machine_tier[mc] >= 0)
    return {"machine": mc[use], "tier": machine_tier[mc[use]], "t0": t[:-1][use], "t1": t[1:][use],
            "y": y[use]}


def _fit_meter(p: dict[str, np.ndarray], T: int, max_iter: int) -> dict[str, Any]:
    """Factors per tier from meter pairs: weighted least squares, the machines' rates profiled
    out (Kaufman's variable projection, Gauss–Newton on the 12 factors of every tier)."""
    p = {k: v[np.argsort(p["tier"], kind="stable")] for k, v in p.items()}  # pairs by tier
    grid = _MonthGrid(float(p["t0"].min()), float(p["t1"].max()))
    D = grid.days_between(p["t0"], p["t1"])  # (n, 12)
    L = p["t1"] - p["t0"]
    w = 1.0 / L
    y = p["y"]
    machines, mc = np.unique(p["machine"], return_inverse=True)
    M = machines.size
    tc = p["tier"]
    bounds = np.searchsorted(tc, np.arange(T + 1))
    a = _MONTH_WEIGHT

    def blocks(values: np.ndarray) -> np.ndarray:
        """(T, 12, 12) per-tier blocks of Σ w · row rowᵀ for rows ``values`` (n, 12): one
        matrix product per market tier (a handful), on its run of rows."""
        out = np.zeros((T, 12, 12))
        for t in np.flatnonzero(np.diff(bounds)):
            v = values[bounds[t]:bounds[t + 1]]
            out[t] = (v * w[bounds[t]:bounds[t + 1], None]).T @ v
        return out

    def tier_sums(values: np.ndarray) -> np.ndarray:
        out = np.zeros((T, 12))
        np.add.at(out, tc, values)
        return out

    def profile_rates(f: np.ndarray):
        E = np.einsum("nk,nk->n", D, f[tc])
        see = np.bincount(mc, w * E * E, minlength=M)
        r = np.bincount(mc, w * E * y, minlength=M) / np.where(see > 0, see, 1.0)
        return E, see, r

    f = np.ones((T, 12))
    has = np.bincount(tc, minlength=T) > 0
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        E, see, r = profile_rates(f)
        res = y - r[mc] * E
        c = np.stack([np.bincount(mc, w * E * D[:, k], minlength=M) for k in range(12)], axis=1)
        c /= np.where(see > 0, see, 1.0)[:, None]
        J = r[mc][:, None] * (D - E[:, None] * c[mc])
        N = blocks(J)
        g = tier_sums(J * (w * res)[:, None])
        # The direction f itself is free (a machine's rate takes any common scale): fix it by
        # the normalisation, and keep months no interval covers where they are.
        K = _constrained(N, a, has)
        step = np.linalg.solve(K, g[:, :, None])[:, :, 0]
        f = _normalise(np.where(has[:, None], f + step, 1.0))
        if np.max(np.abs(step)) < 1e-12:
            break
    E, see, r = profile_rates(f)
    res = y - r[mc] * E
    # Sampling variances of the factors: σ² × the constrained inverse of the Gauss–Newton
    # matrix (the free direction projected out), σ² from the weighted residuals.
    c = np.stack([np.bincount(mc, w * E * D[:, k], minlength=M) for k in range(12)], axis=1)
    c /= np.where(see > 0, see, 1.0)[:, None]
    J = r[mc][:, None] * (D - E[:, None] * c[mc])
    N = blocks(J)
    n_t = np.bincount(tc, minlength=T)
    m_t = np.bincount(tc[np.unique(mc, return_index=True)[1]], minlength=T)
    dof = n_t - m_t - 11
    rss = np.bincount(tc, w * res * res, minlength=T)
    sigma2 = np.where(dof > 0, rss / np.maximum(dof, 1), np.inf)
    K = _constrained(N, a, has)
    P = np.eye(12)[None] - f[:, :, None] * a[None, None, :] / (f @ a)[:, None, None]
    cov = P @ np.linalg.inv(K) @ np.transpose(P, (0, 2, 1))
    v = np.clip(np.einsum("tkk->tk", cov), 0.0, None) * np.where(np.isfinite(sigma2), sigma2, 0.0)[:, None]
    v = np.where((np.isfinite(sigma2) & has)[:, None], v, np.inf)
    f = np.where(np.isfinite(v), f, np.nan)
    return {"f": f, "v": np.where(np.isfinite(v), v, np.nan), "n_iter": n_iter, "machine": machines, "rate": r,
            "n_pairs": np.bincount(mc, minlength=M), "days": np.bincount(mc, L, minlength=M),
            "machines": m_t.astype(np.int64), "intervals": n_t.astype(np.int64)}


def _constrained(N: np.ndarray, a: np.ndarray, has: np.ndarray) -> np.ndarray:
    """The Gauss–Newton blocks with the normalisation added (``a · step`` held at 0, at the
    blocks' own scale) and a tiny ridge for months no interval covers; the identity for a
    tier without intervals."""
    scale = np.trace(N, axis1=1, axis2=2) / 12.0
    K = N + np.where(scale > 0, scale, 1.0)[:, None, None] * (a[:, None] * a[None, :] + 1e-12 * np.eye(12))
    K[~has] = np.eye(12)
    return K


def _fit_tickets(fleet, machine_tier: np.ndarray, T: int) -> dict[str, Any]:
    """Factors per tier from the timing of repair tickets.

    Repair tickets per (tier, calendar month of the history) are Poisson with mean
    ``exposure × exp(trend) × factor(month)``: exposure the operating hours of the tier's
    machines in service that month at flat use (rate × days), the trend a quadratic in time
    per tier (the fleet ages), over-dispersion by the Pearson statistic (never below 1).
    """
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    out = {"f": np.full((T, 12), np.nan), "v": np.full((T, 12), np.nan),
           "repairs": np.zeros(T, np.int64), "months": np.zeros(T, np.int64)}
    m = fleet.machines
    # The flat rates (the lives' own rates rest on this profile: no circle).
    rates = usage_rates(fleet)["hours_per_day"].to_numpy(float)
    start = _days_since_epoch(m["in_service_date"].to_numpy())
    as_of = float(_days_since_epoch(np.datetime64(fleet.as_of.to_datetime64(), "ns")))
    end = _days_since_epoch(m["retired_date"].to_numpy())
    end = np.where(np.isfinite(end), np.minimum(end, as_of), as_of)
    known = (machine_tier >= 0) & (end > start)
    if not known.any():
        return out
    grid = _MonthGrid(float(start[known].min()), as_of)
    edges = np.minimum(grid.start, as_of)
    K = edges.size - 1
    # Exposure per (tier, month): Σ rate · days in service, from the running sums of a
    # piecewise-linear function (slope +rate from each start, −rate from each end).
    ev_t = np.concatenate([start[known], end[known]])
    ev_w = np.concatenate([rates[known], -rates[known]])
    ev_tier = np.concatenate([machine_tier[known], machine_tier[known]])
    origin = edges[0]  # every event and month edge of a tier lies in [tier · span, (tier + 1) · span)
    span = as_of - origin + 10.0
    key = ev_tier * span + (ev_t - origin)
    o = np.argsort(key, kind="stable")
    key, ev_t, ev_w = key[o], ev_t[o], ev_w[o]
    cw, cwt = np.concatenate([[0.0], np.cumsum(ev_w)]), np.concatenate([[0.0], np.cumsum(ev_w * ev_t)])
    tier_lo = np.searchsorted(key, np.arange(T) * span, side="left")
    q = np.arange(T)[:, None] * span + (edges[None, :] - origin)
    pos = np.searchsorted(key, q, side="right")
    Wt = cw[pos] - cw[tier_lo][:, None]
    WTt = cwt[pos] - cwt[tier_lo][:, None]
    F = edges[None, :] * Wt - WTt  # (T, K + 1): Σ rate · (x − start)+ − rate · (x − end)+
    exposure = np.maximum(np.diff(F, axis=1), 0.0)
    _, first = np.unique(fleet.ticket_numbers(repairs=True), return_index=True)  # one line per ticket
    mi = fleet.ticket_machine_rows(repairs=True)[first]
    ok = mi >= 0
    tt = machine_tier[mi[ok]]
    when = _days_since_epoch(fleet._repair_lines(fleet.tickets["opened_at"].to_numpy())[first][ok])
    k = grid.locate(when)
    inside = (tt >= 0) & (when < as_of) & (k < K)
    counts = np.bincount(tt[inside] * K + k[inside], minlength=T * K).reshape(T, K).astype(float)
    month = grid.month[:K]
    rows = exposure > 0
    out["repairs"] = counts.sum(axis=1).astype(np.int64)
    out["months"] = rows.sum(axis=1).astype(np.int64)
    fit_tier = out["months"] >= _MIN_TICKET_MONTHS
    if not fit_tier.any():
        return out
    ti, ki = np.nonzero(rows & fit_tier[:, None])
    mid = 0.5 * (edges[ki] + edges[ki + 1])
    tau = (mid - mid.mean()) / _YEAR
    tiers_fit = np.flatnonzero(fit_tier)
    col_of = np.full(T, -1)
    col_of[tiers_fit] = np.arange(tiers_fit.size)
    p = 14
    X = np.zeros((ti.size, p * tiers_fit.size))
    base = col_of[ti] * p
    r_idx = np.arange(ti.size)
    X[r_idx, base] = 1.0
    X[r_idx, base + 1] = tau
    X[r_idx, base + 2] = tau * tau
    mm = month[ki]
    has_m = mm > 0  # January is the reference month
    X[r_idx[has_m], base[has_m] + 2 + mm[has_m]] = 1.0
    try:
        res = GLM(counts[ti, ki], X, family=families.Poisson(),
                  offset=np.log(exposure[ti, ki])).fit()
    except Exception:  # noqa: BLE001 - a failed regression leaves ticket timing unused
        return out
    df = max(ti.size - X.shape[1], 1)
    mu = res.mu
    pearson = float(np.sum((counts[ti, ki] - mu) ** 2 / mu) / df)
    cov_all = np.asarray(res.cov_params()) * max(1.0, pearson)
    beta = np.asarray(res.params)
    idx = np.arange(tiers_fit.size)[:, None] * p + 3 + np.arange(11)[None, :]  # February … December
    gamma = np.zeros((tiers_fit.size, 12))
    gamma[:, 1:] = beta[idx]
    cov_g = np.zeros((tiers_fit.size, 12, 12))
    cov_g[:, 1:, 1:] = cov_all[idx[:, :, None], idx[:, None, :]]
    f = _normalise(np.exp(gamma - gamma.max(axis=1, keepdims=True)))
    # Delta method: ∂f_k/∂γ_j = f_k (δ_kj − a_j f_j).
    G = f[:, :, None] * (np.eye(12)[None] - (_MONTH_WEIGHT[None, :] * f)[:, None, :])
    v = np.einsum("tkk->tk", G @ cov_g @ np.transpose(G, (0, 2, 1)))
    ok_fit = np.isfinite(v).all(axis=1) & np.isfinite(f).all(axis=1)
    out["f"][tiers_fit[ok_fit]] = f[ok_fit]
    out["v"][tiers_fit[ok_fit]] = np.clip(v[ok_fit], 0.0, None)
    return out


def _combine(*estimates: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Inverse-variance average of estimates (NaN = not available) per (tier, month)."""
    num = np.zeros_like(estimates[0][0])
    den = np.zeros_like(num)
    for f, v in estimates:
        ok = np.isfinite(f) & np.isfinite(v)
        prec = np.where(ok, 1.0 / np.maximum(np.where(ok, v, 1.0), 1e-30), 0.0)
        num += np.where(ok, f, 0.0) * prec
        den += prec
    f = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return f, np.where(den > 0, 1.0 / np.where(den > 0, den, 1.0), np.inf)


def _shrink(f: np.ndarray, v: np.ndarray, shrink: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Empirical-Bayes shrinkage of every tier's factors towards 1 (see :class:`UsageProfile`).

    ``τ² = max(0, Σ_k (f_k − 1)² / 11 − mean_k v_k)`` (the factors' spread about 1 beyond
    their noise; 11 degrees of freedom as they average to 1), then
    ``f_k ← 1 + τ² / (τ² + v_k) · (f_k − 1)`` and the tier is rescaled to mean 1. A tier
    without an estimate is flat.
    """
    known = np.isfinite(f).all(axis=1) & np.isfinite(v).all(axis=1)
    d = np.where(known[:, None], f - 1.0, 0.0)
    vv = np.where(known[:, None], v, np.inf)
    tau2 = np.where(known, np.maximum(0.0, (d * d).sum(axis=1) / 11.0 - np.where(known[:, None], v, 0).mean(axis=1)),
                    0.0)
    if not shrink:
        weight = np.where(known[:, None], np.ones_like(d), 0.0)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            weight = np.where(tau2[:, None] > 0, tau2[:, None] / (tau2[:, None] + vv), 0.0)
        weight = np.where(known[:, None], weight, 0.0)
    out = 1.0 + weight * d
    out[~known] = 1.0
    return _normalise(out), weight, tau2


# ---------------------------------------------------------------------------------------
# Heavy users: a gamma frailty per machine
# ---------------------------------------------------------------------------------------
