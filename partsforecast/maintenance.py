"""Scheduled-service demand: the parts replaced at service intervals, forecast per dealer.

Filters, belts and oils are replaced when a service falls due, not when they fail. A maker's
schedule (the ``maintenance`` table) says, per machine model, which parts are replaced every
``interval_hours`` operating hours (or every ``interval_months``, whichever comes first).
:class:`ServiceModel` learns from the service visits in the tickets (``ticket_type =
"service"``) how often owners have a due service done at their dealer, and forecasts the
units each dealer will fit, per period, as a count distribution that
:func:`partsforecast.forecast_demand` adds to the failure demand.

The rule, per running machine and schedule line (part ``p`` every ``I`` hours or ``M``
months, ``q`` units):

* the machine's rate ``r`` (hours per day, :func:`partsforecast.lives.usage_rates`) makes the
  interval ``Δ = min(I / r, M · 30.44)`` days;
* the last service of ``p`` is the last service ticket of the machine naming ``p``; without one
  the machine is taken to be on its schedule from the day it entered service (the last due
  point of the grid ``in_service + kΔ``);
* services fall due every ``Δ`` days after the last one; a service falling due in period
  ``t`` is done at the dealer with the machine's compliance ``c`` (below), so the units in
  ``t`` are ``q · Binomial(n_t, c)``: mean ``q c n_t``, variance ``q² c (1 − c) n_t``.

Compliance is the share of due services an owner has done at the dealer. Per machine, the
due services so far (``max(⌊hours / I₀⌋, ⌊months / M₀⌋)`` for the model's shortest
interval ``I₀``, ``M₀``) and the visits seen give ``done / due``; the tier's share
``Σ done / Σ due`` is the prior, and each machine's share is shrunk towards it
(beta-binomial, ``(done + κ c_tier) / (due + κ)``, the prior's weight ``κ`` from the spread of
the machines' shares by moments). A machine with nothing due yet takes its tier's share.

Everything is vectorised over (machine, schedule line); no loop over machines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from partsforecast._lookup import positions
from partsforecast.lives import fleet_lives

__all__ = ["ServiceModel"]

_DAYS_PER_MONTH = 365.25 / 12
_DAY = np.timedelta64(1, "D")
#: Bounds of the prior's weight κ (in due services) when the moments say little.
_KAPPA_RANGE = (1.0, 200.0)


class ServiceModel:
    """Scheduled-service demand of a fleet: the owners' compliance, learnt from the visits.

    Parameters
    ----------
    prior_weight : float or None
        Weight ``κ`` (in due services) of the tier's share in each machine's compliance;
        ``None`` (default) estimates it from the spread of the machines' shares.

    Attributes
    ----------
    compliance_ : DataFrame
        Per tier: ``due`` and ``done`` services so far, and ``share`` (done at a dealer).
    machines_ : DataFrame
        Per machine in service: serial, location_id, tier, hours_per_day, due, done and its
        shrunk ``compliance``.
    prior_weight_ : float
        The ``κ`` used.

    Examples
    --------
    >>> fleet = pf.make_fleet(n_machines=500, n_dealers=6, maintenance=True)  # doctest: +SKIP
    >>> pf.ServiceModel().fit(fleet).compliance_                                # doctest: +SKIP
    """

    def __init__(self, prior_weight: float | None = None) -> None:
        self.prior_weight = prior_weight

    def fit(self, fleet) -> ServiceModel:
        """Learn each machine's compliance from the fleet's schedule and service visits.

        Returns
        -------
        ServiceModel
            ``self``.
        """
        if self.prior_weight is not None and not (
                np.isfinite(self.prior_weight) and self.prior_weight >= 0):
            raise ValueError(f"prior_weight must be a number ≥ 0 or None, got {self.prior_weight!r}")
        rates = fleet_lives(fleet).rates
        m = fleet.machines
        running = m["retired_date"].isna().to_numpy() | (m["retired_date"] > fleet.as_of).to_numpy()
        # Services fell due up to the as-of date, or up to a machine's retirement.
        end = np.where(running, np.datetime64(fleet.as_of.asm8), m["retired_date"].to_numpy("datetime64[ns]"))
        days = (end - m["in_service_date"].to_numpy("datetime64[ns]")) / _DAY
        rate = rates["hours_per_day"].to_numpy(float)
        base = _base_intervals(fleet.maintenance, m["machine_model"])
        bh, bm = base.hours.to_numpy(float), base.months.to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            by_hours = np.floor(rate * days / bh)
            by_months = np.floor(days / (bm * _DAYS_PER_MONTH))
        due = np.fmax(np.nan_to_num(by_hours, nan=0.0), np.nan_to_num(by_months, nan=0.0))
        done = _visits(fleet)
        tier = rates["tier"].to_numpy(float)
        table = pd.DataFrame({"tier": tier, "due": due, "done": done})[np.isfinite(bh)]
        by_tier = table.groupby("tier")[["due", "done"]].sum()
        overall = by_tier["done"].sum() / by_tier["due"].sum() if by_tier["due"].sum() > 0 else 1.0
        share = (by_tier["done"] / by_tier["due"]).where(by_tier["due"] > 0, overall).clip(0, 1)
        prior = pd.Series(tier).map(share).fillna(overall).to_numpy(float)
        kappa = self.prior_weight if self.prior_weight is not None else _moment_weight(due, done, prior)
        compliance = np.clip((done + kappa * prior) / (due + kappa), 0.0, 1.0) if kappa > 0 else \
            np.where(due > 0, np.clip(done / np.maximum(due, 1), 0, 1), prior)
        self.compliance_ = pd.DataFrame({"tier": share.index.astype("int64"),
                                         "due": by_tier["due"].to_numpy(), "done": by_tier["done"].to_numpy(),
                                         "share": share.to_numpy()})
        self.prior_weight_ = float(kappa)
        self.machines_ = pd.DataFrame({
            "serial": m["serial"], "machine_model": m["machine_model"], "location_id": m["location_id"],
            "tier": tier, "in_service_date": m["in_service_date"], "hours_per_day": rate,
            "due": due, "done": done, "compliance": compliance})[running].reset_index(drop=True)
        self._tier_share = share
        self._overall = float(overall)
        return self

    def forecast(self, fleet, starts: pd.DatetimeIndex, end: pd.Timestamp,
                 new_machines: pd.DataFrame | None = None, new_usage: np.ndarray | None = None) -> pd.DataFrame:
        """Expected service units per (location, part, period) and their variance.

        Parameters
        ----------
        fleet : Fleet
            The fleet the model was fitted on.
        starts : DatetimeIndex
            Start of every period; ``end`` closes the last.
        new_machines : DataFrame, optional
            Machines entering service (machine_model, location_id, per_period), as in
            :func:`partsforecast.forecast_demand`; ``new_usage`` their hours per day.

        Returns
        -------
        DataFrame
            location_id, part_number, period_idx, mean, var (rows with demand only).
        """
        if not hasattr(self, "machines_"):
            raise ValueError("ServiceModel is not fitted: call fit(fleet) first")
        as_of = np.datetime64(fleet.as_of.asm8)
        bounds = np.array([(np.datetime64(t.asm8) - as_of) / _DAY for t in list(starts) + [end]])
        mach = self.machines_
        sch = fleet.maintenance
        locations = pd.Index(fleet.locations["location_id"].astype(str)).sort_values()
        parts = pd.Index(sch["part_number"].astype(str).unique()).sort_values()
        # One line per (machine, schedule row of its model), on integer codes.
        machine, row = _expand(mach["machine_model"], sch["machine_model"])
        out = []
        if machine.size:
            rate = mach["hours_per_day"].to_numpy(float)[machine]
            step = _interval_days(sch["interval_hours"].to_numpy(float)[row],
                                  sch["interval_months"].to_numpy(float)[row], rate)
            part = parts.get_indexer(sch["part_number"].astype(str))[row]
            since = (as_of - mach["in_service_date"].to_numpy("datetime64[ns]")[machine]) / _DAY
            last = _last_service_days(fleet, mach["serial"], parts, machine, part, since, step, as_of)
            n = _dues_per_period(last, step, bounds)  # (lines, periods)
            loc = locations.get_indexer(mach["location_id"].astype(str))[machine]
            out.append(_cells(loc, part, sch["quantity"].to_numpy(float)[row],
                              mach["compliance"].to_numpy(float)[machine], n))
        if new_machines is not None and len(new_machines):
            out.append(self._new_machine_cells(fleet, new_machines, new_usage, bounds, locations, parts))
        return _sum_cells(out, locations, parts, bounds.size - 1)

    def _new_machine_cells(self, fleet, new: pd.DataFrame, usage: np.ndarray, bounds: np.ndarray,
                           locations: pd.Index, parts: pd.Index) -> tuple:
        """Services of machines entering service mid-period at ``per_period`` a period."""
        sch = fleet.maintenance
        tier = pd.Series(fleet.location_tiers(new["location_id"]))
        share = tier.map(self._tier_share).fillna(self._overall).to_numpy(float)
        line, row = _expand(new["machine_model"].astype(str), sch["machine_model"])
        P = bounds.size - 1
        step = _interval_days(sch["interval_hours"].to_numpy(float)[row],
                              sch["interval_months"].to_numpy(float)[row], np.asarray(usage, float)[line])
        mids = (bounds[:-1] + bounds[1:]) / 2
        per_period = new["per_period"].to_numpy(float)[line]
        n = np.zeros((line.size, P))
        for c in range(P):  # one cohort per period (a dozen), vectorised over lines
            n += per_period[:, None] * _dues_per_period(np.full(line.size, mids[c]), step, bounds)
        loc = locations.get_indexer(new["location_id"].astype(str))[line]
        return _cells(loc, parts.get_indexer(sch["part_number"].astype(str))[row],
                      sch["quantity"].to_numpy(float)[row], share[line], n)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({"location_id": pd.array([], dtype="str"), "part_number": pd.array([], dtype="str"),
                         "period_idx": np.zeros(0, np.int64), "mean": np.zeros(0), "var": np.zeros(0)})


def _base_intervals(schedule: pd.DataFrame, models: pd.Series):
    """Each machine's shortest interval in hours and in months (NaN without a schedule)."""
    base = schedule.groupby("machine_model")[["interval_hours", "interval_months"]].min()
    return pd.DataFrame({"hours": models.map(base["interval_hours"]).astype("float64"),
                         "months": models.map(base["interval_months"]).astype("float64")})


def _service_lines(fleet, columns: list[str]) -> pd.DataFrame:
    """These columns of the service ticket lines (selected before filtering: tickets are many)."""
    return fleet.tickets[columns][fleet._service_mask()]


def _visits(fleet) -> np.ndarray:
    """Service visits (distinct tickets) of every machine (in the order of ``fleet.machines``)."""
    service = fleet._service_mask()
    _, first = np.unique(fleet.ticket_numbers()[service], return_index=True)
    mi = fleet.ticket_machine_rows()[service][first]
    return np.bincount(mi[mi >= 0], minlength=len(fleet.machines)).astype(float)


def _moment_weight(due: np.ndarray, done: np.ndarray, prior: np.ndarray) -> float:
    """κ of a beta prior from the machines' shares: between-machine variance by moments."""
    ok = due >= 2
    if ok.sum() < 10:
        return _KAPPA_RANGE[1]
    share = np.clip(done[ok] / due[ok], 0, 1)
    c = prior[ok]
    binomial = np.mean(c * (1 - c) / due[ok])
    between = np.mean((share - c) ** 2) - binomial
    if between <= 0:
        return _KAPPA_RANGE[1]
    return float(np.clip(np.mean(c * (1 - c)) / between - 1.0, *_KAPPA_RANGE))


def _interval_days(hours: np.ndarray, months: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Calendar days between services: the hours at the machine's rate, or the months."""
    with np.errstate(divide="ignore", invalid="ignore"):
        by_hours = np.where(rate > 0, hours / rate, np.inf)
    by_months = np.where(np.isfinite(months), months * _DAYS_PER_MONTH, np.inf)
    return np.minimum(by_hours, by_months)


def _expand(models: pd.Series, schedule_models: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Every (row of ``models``, schedule row of that model): two index arrays."""
    names = pd.Index(schedule_models.astype(str).unique())
    code = names.get_indexer(schedule_models.astype(str))
    order = np.argsort(code, kind="stable")
    count = np.bincount(code, minlength=len(names))
    first = np.cumsum(count) - count
    mcode = names.get_indexer(models.astype(str))
    per = np.where(mcode >= 0, count[np.maximum(mcode, 0)], 0)
    item = np.repeat(np.arange(mcode.size), per)
    within = np.arange(item.size) - np.repeat(np.cumsum(per) - per, per)
    return item, order[first[mcode[item]] + within]


def _last_service_days(fleet, serials: pd.Series, parts: pd.Index, machine: np.ndarray, part: np.ndarray,
                       since: np.ndarray, step: np.ndarray, as_of: np.datetime64) -> np.ndarray:
    """Days from ``as_of`` (≤ 0) of each line's last service: its machine's last service
    ticket for the part, else the last due point of the grid from the in-service date."""
    with np.errstate(invalid="ignore"):
        last = -np.where(np.isfinite(step), np.mod(since, step), since)
    service = _service_lines(fleet, ["part_number", "opened_at"])
    if len(service):
        own = positions(serials, fleet.machines["serial"])  # fleet machine → row of ``serials``
        mi = fleet.ticket_machine_rows()[fleet._service_mask()]
        sm = np.where(mi >= 0, own[np.maximum(mi, 0)], -1)
        sp = positions(parts, service["part_number"])
        ok = (sm >= 0) & (sp >= 0)
        key = sm[ok].astype(np.int64) * len(parts) + sp[ok]
        when = pd.Series(service["opened_at"].to_numpy("datetime64[ns]")[ok].view(np.int64)).groupby(key).max()
        pos = pd.Index(when.index).get_indexer(machine.astype(np.int64) * len(parts) + part)
        seen = pos >= 0
        last[seen] = (when.to_numpy()[pos[seen]].view("datetime64[ns]") - as_of) / _DAY
    return last


def _dues_per_period(last: np.ndarray, step: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Due points ``last + kΔ`` (k ≥ 1) in every period ``(bounds[t], bounds[t+1]]``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.floor((bounds[None, :] - last[:, None]) / step[:, None])
    k = np.where(np.isfinite(k), np.maximum(k, 0.0), 0.0)  # due points up to each bound
    return np.diff(k, axis=1)


def _cells(loc: np.ndarray, part: np.ndarray, qty: np.ndarray, share: np.ndarray, n: np.ndarray) -> tuple:
    """(line, period) cells with dues: location and part codes, period, mean ``q c n`` and
    variance ``q² c(1−c) n``."""
    r, p = np.nonzero(n > 0)
    nn = n[r, p]
    return loc[r], part[r], p, qty[r] * share[r] * nn, qty[r] ** 2 * share[r] * (1 - share[r]) * nn


def _sum_cells(cells: list, locations: pd.Index, parts: pd.Index, n_periods: int) -> pd.DataFrame:
    """The cells summed per (location, part, period), rows with demand, as a frame."""
    if not cells:
        return _empty()
    loc, part, period, mean, var = (np.concatenate(c) for c in zip(*cells))
    key = (loc.astype(np.int64) * len(parts) + part) * n_periods + period
    keys, inv = np.unique(key, return_inverse=True)
    mean_sum = np.bincount(inv, mean, keys.size)
    var_sum = np.bincount(inv, var, keys.size)
    keep = mean_sum > 0
    keys, mean_sum, var_sum = keys[keep], mean_sum[keep], var_sum[keep]
    pair, period = np.divmod(keys, n_periods)
    loc, part = np.divmod(pair, len(parts))
    return pd.DataFrame({"location_id": pd.array(locations.to_numpy()[loc], dtype="str"),
                         "part_number": pd.array(parts.to_numpy()[part], dtype="str"),
                         "period_idx": period.astype(np.int64), "mean": mean_sum, "var": var_sum})
