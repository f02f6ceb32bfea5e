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
        done = _visits(fleet, m["serial"])
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
        lines = mach[["serial", "machine_model", "location_id", "in_service_date", "hours_per_day",
                      "compliance"]].merge(sch, on="machine_model", how="inner")
        if len(lines) == 0 and (new_machines is None or not len(new_machines)):
            return _empty()
        rate = lines["hours_per_day"].to_numpy(float)
        step = _interval_days(lines["interval_hours"].to_numpy(float),
                              lines["interval_months"].to_numpy(float), rate)
        last = _last_service_days(fleet, lines, as_of, step)
        n = _dues_per_period(last, step, bounds)  # (lines, periods)
        out = [_cells(lines["location_id"], lines["part_number"], lines["quantity"].to_numpy(float),
                      lines["compliance"].to_numpy(float), n)]
        if new_machines is not None and len(new_machines):
            out.append(self._new_machine_cells(fleet, new_machines, new_usage, bounds))
        return _sum_cells(pd.concat(out, ignore_index=True))

    def _new_machine_cells(self, fleet, new: pd.DataFrame, usage: np.ndarray, bounds: np.ndarray) -> pd.DataFrame:
        """Services of machines entering service mid-period at ``per_period`` a period."""
        tier = new["location_id"].map(fleet.locations.set_index("location_id")["tier"]).astype("float64")
        share = tier.map(self._tier_share).fillna(self._overall).to_numpy(float)
        lines = new.assign(_share=share, _rate=usage).merge(fleet.maintenance, on="machine_model", how="inner")
        if not len(lines):
            return _empty()
        P = bounds.size - 1
        step = _interval_days(lines["interval_hours"].to_numpy(float),
                              lines["interval_months"].to_numpy(float), lines["_rate"].to_numpy(float))
        mids = (bounds[:-1] + bounds[1:]) / 2
        n = np.zeros((len(lines), P))
        for c in range(P):  # one cohort per period (a dozen), vectorised over lines
            n += lines["per_period"].to_numpy(float)[:, None] * _dues_per_period(
                np.full(len(lines), mids[c]), step, bounds)
        return _cells(lines["location_id"], lines["part_number"], lines["quantity"].to_numpy(float),
                      lines["_share"].to_numpy(float), n)


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
    tk = fleet.tickets
    return tk[columns][(tk["ticket_type"] == "service").to_numpy()]


def _visits(fleet, serials: pd.Series) -> np.ndarray:
    """Service visits (distinct tickets) of every machine."""
    service = _service_lines(fleet, ["ticket_id", "serial"])
    per = service.drop_duplicates("ticket_id").groupby("serial").size()
    return serials.map(per).fillna(0).to_numpy(float)


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


def _last_service_days(fleet, lines: pd.DataFrame, as_of: np.datetime64, step: np.ndarray) -> np.ndarray:
    """Days from ``as_of`` (≤ 0) of each line's last service: its last service ticket for
    the part, else the last due point of the grid from the machine's in-service date."""
    since = (as_of - lines["in_service_date"].to_numpy("datetime64[ns]")) / _DAY
    with np.errstate(invalid="ignore"):
        grid = -np.where(np.isfinite(step), np.mod(since, step), since)
    service = _service_lines(fleet, ["serial", "part_number", "opened_at"])
    if len(service):
        latest = service.groupby(["serial", "part_number"])["opened_at"].max()
        key = pd.MultiIndex.from_arrays([lines["serial"], lines["part_number"]])
        when = latest.reindex(key).to_numpy("datetime64[ns]")
        seen = ~np.isnat(when)
        grid = np.where(seen, (when - as_of) / _DAY, grid)
    return grid


def _dues_per_period(last: np.ndarray, step: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Due points ``last + kΔ`` (k ≥ 1) in every period ``(bounds[t], bounds[t+1]]``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.floor((bounds[None, :] - last[:, None]) / step[:, None])
    k = np.where(np.isfinite(k), np.maximum(k, 0.0), 0.0)  # due points up to each bound
    return np.diff(k, axis=1)


def _cells(location, part, qty: np.ndarray, share: np.ndarray, n: np.ndarray) -> pd.DataFrame:
    """Long rows (line × period with dues) of mean ``q c n`` and variance ``q² c(1−c) n``."""
    r, p = np.nonzero(n > 0)
    nn = n[r, p]
    return pd.DataFrame({"location_id": location.to_numpy()[r], "part_number": part.to_numpy()[r],
                         "period_idx": p.astype(np.int64), "mean": qty[r] * share[r] * nn,
                         "var": qty[r] ** 2 * share[r] * (1 - share[r]) * nn})


def _sum_cells(frame: pd.DataFrame) -> pd.DataFrame:
    if not len(frame):
        return _empty()
    out = frame.groupby(["location_id", "part_number", "period_idx"], sort=True, observed=True)[
        ["mean", "var"]].sum().reset_index()
    return out[out["mean"] > 0].reset_index(drop=True)
