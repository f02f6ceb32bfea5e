"""Dealer service KPIs from the ticket times: response, parts wait, time to close, local-stock
share, repeat failures, tickets waiting unseen; by dealer and by tier, per period and overall.

A ticket is one ``ticket_id`` (all its part lines): it was opened at its lines' earliest
``opened_at``, the technician arrived at their earliest ``arrived_at``, its parts were ready
when the last line's ``parts_ready_at`` came, and it closed when its last line closed. The
KPIs are computed on repair tickets (:attr:`partsforecast.Fleet.repairs`; scheduled service
visits are booked, not waited for), except the repeat failures, which count failures (a
ticket's components). Every figure comes with the number of tickets (or failures) it rests on, and
every ticket left out of a figure is counted with the reason (the ticket-time findings of
:data:`partsforecast.data.TICKET_TIME_FINDINGS`, or still open).

Everything is vectorised over tickets: one sort per grouping, no Python loop over tickets,
machines or dealers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from partsforecast.data import TICKET_TIME_FINDINGS, Fleet, ticket_time_findings

__all__ = [
    "KPI_COLUMNS",
    "KPI_EXCLUSIONS",
    "LOCAL_STOCK_HOURS",
    "REPEAT_DAYS",
    "UNSEEN_AFTER_HOURS",
    "dealer_kpis",
]

#: A ticket whose parts were ready within this many hours of the call was served from the
#: dealer's own stock: a part on the dealer's shelf is at hand the same working day, while a
#: part shipped from the warehouse or another dealer takes at least a lane's handling day
#: (``partsforecast.data.HANDLING_DAYS``) plus the road. A line that waited longer is a
#: stock-out (:func:`partsforecast.service.stockouts`).
LOCAL_STOCK_HOURS = 24.0
#: An open ticket with no technician on site this many hours after the call is "waiting unseen".
UNSEEN_AFTER_HOURS = 24.0
#: Windows (days) of the repeat-failure KPIs.
REPEAT_DAYS = (30, 90)

#: Which ticket-time findings leave a ticket out of which KPI.
KPI_EXCLUSIONS: dict[str, tuple[str, ...]] = {
    "response": ("arrived_before_opened", "arrived_after_closed"),
    "parts_wait": ("ready_missing", "ready_before_opened"),
    "local_stock": ("ready_missing", "ready_before_opened"),
    "close": ("closed_before_opened",),
}

_ID_COLUMNS = ["level", "location_id", "tier", "period", "tickets"]
_TIME_KPIS = [("response", "hours"), ("parts_wait", "days"), ("close", "days")]


def _kpi_columns(repeat_days: Sequence[int]) -> list[str]:
    cols = list(_ID_COLUMNS)
    for name, unit in _TIME_KPIS[:2]:
        cols += [f"{name}_n", f"{name}_{unit}_median", f"{name}_{unit}_mean"]
    cols += ["local_stock_n", "local_stock_share"]
    name, unit = _TIME_KPIS[2]
    cols += [f"{name}_n", f"{name}_{unit}_median", f"{name}_{unit}_mean"]
    for d in repeat_days:
        cols += [f"repeat_{d}d_n", f"repeat_{d}d", f"repeat_{d}d_share"]
    cols += ["open", "waiting_for_parts", "waiting_unseen"]
    cols += [f"excluded_{code}" for code in TICKET_TIME_FINDINGS]
    return cols


#: Columns of :func:`dealer_kpis` (and ``dealer_kpis.csv``) with the default repeat windows.
KPI_COLUMNS = _kpi_columns(REPEAT_DAYS)

_H = np.timedelta64(3_600_000_000_000, "ns")  # one hour


# ---------------------------------------------------------------------------------------
# Tickets from lines
# ---------------------------------------------------------------------------------------

@dataclass
class _Tickets:
    """One entry per ticket (arrays aligned), times in hours relative to ``as_of`` (NaN:
    missing), and the line → ticket map."""

    line_ticket: np.ndarray  # line -> ticket index
    first_line: np.ndarray  # ticket -> its first line (input order)
    opened: np.ndarray
    arrived: np.ndarray
    ready: np.ndarray  # the last line's parts_ready_at
    closed: np.ndarray  # the last line's closed_at
    all_ready: np.ndarray  # bool: every line has parts_ready_at
    all_closed: np.ndarray  # bool: every line has closed_at
    findings: dict[str, np.ndarray]  # code -> bool per ticket: some line has it
    location: np.ndarray  # ticket -> index into ``locations``
    locations: pd.Index  # the location ids
    tier: np.ndarray  # ticket -> tier (0: not a dealer)


def _hours(values: pd.Series, as_of: pd.Timestamp) -> np.ndarray:
    """Times as float hours after ``as_of`` (negative: before), NaN where missing."""
    t = values.to_numpy("datetime64[ns]")
    out = (t - np.datetime64(as_of.asm8)) / _H
    return out.astype(float)


def _ticket_table(fleet: Fleet) -> _Tickets:
    tk = fleet.repairs
    codes, _ = pd.factorize(tk["ticket_id"], sort=False)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]) if len(codes) else np.array([], int)

    def reduce(ufunc, values: np.ndarray) -> np.ndarray:
        if not len(starts):
            return values[:0]
        return ufunc.reduceat(values[order], starts)

    as_of = fleet.as_of
    opened = _hours(tk["opened_at"], as_of)
    cols = {c: (_hours(tk[c], as_of) if c in tk.columns else np.full(len(tk), np.nan))
            for c in ("arrived_at", "parts_ready_at", "closed_at")}
    masks = ticket_time_findings(tk)
    findings = {code: reduce(np.logical_or, masks[code].to_numpy()) for code in TICKET_TIME_FINDINGS}

    locations = pd.Index(fleet.locations["location_id"])
    loc_of_line = locations.get_indexer(tk["location_id"])
    first_line = order[starts] if len(starts) else np.array([], int)
    location = loc_of_line[first_line]
    is_dealer = (fleet.locations["kind"] == "dealer").to_numpy()
    tiers = fleet.locations["tier"].fillna(0).to_numpy(dtype=np.int64) * is_dealer
    return _Tickets(
        line_ticket=codes,
        first_line=first_line,
        opened=reduce(np.fmin, opened),
        arrived=reduce(np.fmin, cols["arrived_at"]),
        ready=reduce(np.fmax, cols["parts_ready_at"]),
        closed=reduce(np.fmax, cols["closed_at"]),
        all_ready=~reduce(np.logical_or, np.isnan(cols["parts_ready_at"])),
        all_closed=~reduce(np.logical_or, np.isnan(cols["closed_at"])),
        findings=findings,
        location=location,
        locations=locations,
        tier=tiers[location],
    )


# ---------------------------------------------------------------------------------------
# Periods and grouped statistics
# ---------------------------------------------------------------------------------------

def check_freq(freq: Any) -> str:
    """``freq`` if it is a pandas frequency string (``"MS"``, ``"W-MON"``…), else ValueError."""
    try:
        if not isinstance(freq, str):
            raise TypeError
        to_offset(freq)
    except (TypeError, ValueError):
        raise ValueError(f"freq must be a pandas frequency such as 'MS' (months) or 'W-MON' "
                         f"(weeks), got {freq!r}") from None
    return freq


def _period_edges(first: pd.Timestamp, last: pd.Timestamp, freq: str) -> pd.DatetimeIndex:
    """Period starts covering ``first`` … ``last`` (inclusive) on the calendar of ``freq``."""
    offset = to_offset(freq)
    start = offset.rollback(first.normalize())
    edges = pd.date_range(start, last, freq=freq)
    if not len(edges) or edges[0] > first:
        edges = pd.DatetimeIndex([start]).append(edges)
    return edges.as_unit("ns")


def _period_index(times_h: np.ndarray, as_of: pd.Timestamp, freq: str) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """Period of every time (hours after ``as_of``), and the period starts."""
    if not times_h.size:
        return np.zeros(0, np.int64), pd.DatetimeIndex([], dtype="datetime64[ns]")
    ns = as_of.value + np.round(times_h * 3.6e12).astype(np.int64)
    first, last = pd.Timestamp(int(ns.min())), pd.Timestamp(int(ns.max()))
    edges = _period_edges(first, last, freq)
    idx = np.searchsorted(edges.asi8, ns, side="right") - 1
    return idx.astype(np.int64), edges


class _Ranked:
    """Values sorted once, so that each grouping needs only one integer sort: every value
    gets its rank, and a group's values are its ranks in order."""

    def __init__(self, values: np.ndarray) -> None:
        self.ok = ~np.isnan(values)
        v = values[self.ok]
        order = np.argsort(v, kind="stable")
        self.sorted = v[order]
        self.rank = np.empty(v.size, np.int64)
        self.rank[order] = np.arange(v.size)


def _grouped(key: np.ndarray, ranked: _Ranked, n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, median, mean) of the values per group ``key`` (0 … n_groups-1; -1 and NaN skipped)."""
    k = key[ranked.ok]
    size = max(ranked.rank.size, 1)
    composite = (k * size + ranked.rank)[k >= 0]
    composite.sort()
    k, v = composite // size, ranked.sorted[composite % size]
    n = np.bincount(k, minlength=n_groups)
    start = np.cumsum(n) - n
    median = np.full(n_groups, np.nan)
    mean = np.full(n_groups, np.nan)
    has = n > 0
    lo = start[has] + (n[has] - 1) // 2
    hi = start[has] + n[has] // 2
    median[has] = (v[lo] + v[hi]) / 2
    mean[has] = np.bincount(k, weights=v, minlength=n_groups)[has] / n[has]
    return n, median, mean


def _count(key: np.ndarray, mask: np.ndarray, n_groups: int) -> np.ndarray:
    ok = (key >= 0) & mask
    return np.bincount(key[ok], minlength=n_groups)


# ---------------------------------------------------------------------------------------
# The KPIs
# ---------------------------------------------------------------------------------------

def _repeat_flags(fleet: Fleet, t: _Tickets, repeat_days: Sequence[int]) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Failures (ticket × component): their ticket, and per window whether the same machine's
    same component failed again within it (and whether the window has ended by as_of)."""
    tk = fleet.repairs
    comp, _ = pd.factorize(tk["component"])
    serial, _ = pd.factorize(tk["serial"])
    n_comp = max(int(comp.max()) + 1, 1) if len(comp) else 1
    fail_key = t.line_ticket.astype(np.int64) * n_comp + comp
    _, first = np.unique(fail_key, return_index=True)
    ticket = t.line_ticket[first]
    opened = t.opened[ticket]
    machine_comp = serial[first].astype(np.int64) * n_comp + comp[first]
    order = np.lexsort((opened, machine_comp))
    same = np.r_[machine_comp[order][1:] == machine_comp[order][:-1], False]
    gap = np.r_[np.diff(opened[order]), np.inf]
    out = {}
    for d in repeat_days:
        again = np.zeros(first.size, bool)
        again[order] = same & (gap <= 24.0 * d)
        ended = opened <= -24.0 * d  # the window closed by as_of: no censoring
        out[d] = (ended, again & ended)
    return ticket, out


def dealer_kpis(
    fleet: Fleet,
    *,
    freq: str = "MS",
    unseen_after_hours: float = UNSEEN_AFTER_HOURS,
    local_stock_hours: float = LOCAL_STOCK_HOURS,
    repeat_days: Sequence[int] = REPEAT_DAYS,
    start: Any = None,
    end: Any = None,
) -> pd.DataFrame:
    """Service KPIs of every dealer and tier, per period and overall, from the ticket times.

    Parameters
    ----------
    fleet : Fleet
    freq : str, default "MS"
        The periods (a pandas frequency: ``"MS"`` months, ``"W-MON"`` weeks…); a ticket
        belongs to the period it was opened in.
    unseen_after_hours : float, default 24
        An open ticket with no technician on site this long after the call (at the as-of
        date) is "waiting unseen".
    local_stock_hours : float, default 24
        A ticket whose parts were all ready within this long of the call was served from
        local stock (:data:`LOCAL_STOCK_HOURS` explains the default).
    repeat_days : sequence of int, default (30, 90)
        Windows of the repeat-failure KPIs.
    start, end : date-like, optional
        Only tickets opened in ``[start, end)``; by default all of them. Times learnt after
        ``end`` still count (a ticket opened before ``end`` whose parts came later has its
        real wait).

    Returns
    -------
    DataFrame
        :data:`KPI_COLUMNS`, one row per (dealer, period) with tickets, per (tier, period),
        per period for the whole network, and the same three levels over the whole window:

        * ``level`` (``dealer`` / ``tier`` / ``all``), ``location_id`` (dealer rows),
          ``tier`` (dealer and tier rows; blank for a location that is not a dealer),
          ``period`` (its first day; blank on the rows over the whole window), ``tickets``
          (opened in it).
        * ``response_n``, ``response_hours_median``, ``response_hours_mean``: call →
          technician on site (``arrived_at``), over the tickets that have it.
        * ``parts_wait_n``, ``parts_wait_days_median``, ``parts_wait_days_mean``: call →
          all parts ready (the last line's ``parts_ready_at``), over the tickets whose
          parts are all ready.
        * ``local_stock_n`` (= ``parts_wait_n``), ``local_stock_share``: the share of them
          with all parts ready within ``local_stock_hours``.
        * ``close_n``, ``close_days_median``, ``close_days_mean``: call → closed (the last
          line's ``closed_at``), over the closed tickets.
        * ``repeat_<d>d_n``, ``repeat_<d>d``, ``repeat_<d>d_share``: failures (a ticket's
          components) whose ``d``-day window had ended by the as-of date; of them, those
          after which the same machine's same component was opened again on another ticket
          within ``d`` days; the share. Attributed to the dealer and period of the first
          repair (the one that did not hold).
        * ``open`` (tickets not closed), ``waiting_for_parts`` (open, not every part ready),
          ``waiting_unseen`` (open, no ``arrived_at``, opened more than
          ``unseen_after_hours`` before the as-of date; blank for a dealer that records no
          ``arrived_at`` at all).
        * ``excluded_<finding>``: tickets with a line that has this ticket-time finding
          (:data:`partsforecast.data.TICKET_TIME_FINDINGS`), left out of the KPIs of
          :data:`KPI_EXCLUSIONS`. A ticket can count under two findings.

        Per KPI, the tickets add up: ``parts_wait_n`` + those with a parts finding +
        ``waiting_for_parts`` = ``tickets``; ``close_n`` + ``excluded_closed_before_opened``
        + ``open`` = ``tickets`` (a ticket closed before its call is closed, not open).
    """
    if not isinstance(fleet, Fleet):
        raise TypeError(f"fleet must be a Fleet, got {type(fleet).__name__}")
    freq = check_freq(freq)
    for name, value in (("unseen_after_hours", unseen_after_hours), ("local_stock_hours", local_stock_hours)):
        if not (isinstance(value, (int, float, np.integer, np.floating)) and 0 < float(value) < np.inf):
            raise ValueError(f"{name} must be a number of hours > 0, got {value!r}")
    repeat_days = tuple(int(d) for d in repeat_days)
    if any(d <= 0 for d in repeat_days):
        raise ValueError(f"repeat_days must be whole days > 0, got {repeat_days!r}")

    t = _ticket_table(fleet)
    as_of = fleet.as_of
    keep = np.ones(t.opened.size, bool)
    for bound, op in ((start, np.greater_equal), (end, np.less)):
        if bound is not None:
            keep &= op(t.opened, (pd.Timestamp(bound) - as_of) / pd.Timedelta(hours=1))
    period, edges = _period_index(t.opened, as_of, freq)
    fails_ticket, repeats = _repeat_flags(fleet, t, repeat_days)

    f = t.findings
    excluded = {k: np.logical_or.reduce([f[c] for c in codes]) for k, codes in KPI_EXCLUSIONS.items()}
    response = np.where(~excluded["response"], t.arrived - t.opened, np.nan)
    parts_ok = ~excluded["parts_wait"]
    wait_h = np.where(parts_ok & t.all_ready, t.ready - t.opened, np.nan)
    close = np.where(~excluded["close"] & t.all_closed, (t.closed - t.opened) / 24.0, np.nan)
    is_open = ~t.all_closed
    # "Waiting unseen" needs a dealer that records arrivals: one that never does has none.
    records = (np.bincount(t.location, weights=(~np.isnan(t.arrived)).astype(float),
                           minlength=len(t.locations)) > 0)[t.location]
    unseen = records & is_open & np.isnan(t.arrived) & (-t.opened > unseen_after_hours)

    measures = {"tickets": np.ones(t.opened.size, bool), "open": is_open,
                "waiting_for_parts": is_open & parts_ok & ~t.all_ready, "waiting_unseen": unseen,
                "_recording": records}
    measures.update({f"excluded_{c}": f[c] for c in TICKET_TIME_FINDINGS})
    values = {"response": (_Ranked(response), "hours"), "parts_wait": (_Ranked(wait_h / 24.0), "days"),
              "close": (_Ranked(close), "days")}
    local = _Ranked(np.where(np.isnan(wait_h), np.nan, (wait_h <= local_stock_hours).astype(float)))

    n_loc, n_per = len(t.locations), max(len(edges), 1)
    frames = []
    for level in ("dealer", "tier", "all"):
        unit = {"dealer": t.location, "tier": np.where(t.tier > 0, t.tier - 1, -1),
                "all": np.zeros(t.opened.size, np.int64)}[level]
        n_units = {"dealer": n_loc, "tier": 4, "all": 1}[level]
        for by_period in (True, False):
            n_groups = n_units * (n_per if by_period else 1)
            key = unit * n_per + period if by_period else unit.copy()
            key = np.where(keep & (unit >= 0), key, -1)
            cols: dict[str, np.ndarray] = {name: _count(key, m, n_groups) for name, m in measures.items()}
            for name, (v, u) in values.items():
                cols[f"{name}_n"], cols[f"{name}_{u}_median"], cols[f"{name}_{u}_mean"] = _grouped(key, v, n_groups)
            cols["local_stock_n"], _, cols["local_stock_share"] = _grouped(key, local, n_groups)
            fkey = key[fails_ticket]
            for d, (ended, again) in repeats.items():
                cols[f"repeat_{d}d_n"] = _count(fkey, ended, n_groups)
                cols[f"repeat_{d}d"] = _count(fkey, again, n_groups)
                with np.errstate(invalid="ignore", divide="ignore"):
                    cols[f"repeat_{d}d_share"] = cols[f"repeat_{d}d"] / np.where(
                        cols[f"repeat_{d}d_n"] > 0, cols[f"repeat_{d}d_n"], np.nan)
            g = np.arange(n_groups)
            u_of = g // n_per if by_period else g
            frame = pd.DataFrame(cols)
            frame["_unit"], frame["_period"] = u_of, (g % n_per if by_period else -1)
            frame["level"] = level
            frames.append(frame[frame["tickets"] > 0])
    out = pd.concat(frames, ignore_index=True)
    return _finish(out, t, edges, repeat_days)


def _finish(out: pd.DataFrame, t: _Tickets, edges: pd.DatetimeIndex, repeat_days: Sequence[int]) -> pd.DataFrame:
    """Ids, tiers and periods on the grouped rows; counts as integers; the column order."""
    dealer = (out["level"] == "dealer").to_numpy()
    unit = out["_unit"].to_numpy()
    ids = np.where(dealer, t.locations.to_numpy(dtype=object)[np.where(dealer, unit, 0)], None)
    loc_tier = np.zeros(len(t.locations), np.int64)
    loc_tier[t.location] = t.tier
    tier = np.where(dealer, loc_tier[np.where(dealer, unit, 0)],
                    np.where(out["level"] == "tier", unit + 1, 0))
    period = out["_period"].to_numpy()
    starts = pd.DatetimeIndex(edges if len(edges) else [pd.NaT]).as_unit("ns")
    out["location_id"] = pd.array(ids, dtype="str")
    out["tier"] = pd.Series(tier, dtype="Int64").where(tier > 0).array
    out["period"] = pd.Series(starts[np.maximum(period, 0)]).where(period >= 0).astype("datetime64[ns]").array
    out["level"] = out["level"].astype("str")
    # Groups with no ticket at a dealer that records arrived_at have no "waiting unseen".
    out["waiting_unseen"] = out["waiting_unseen"].astype("Int64").where(out["_recording"] > 0)
    columns = _kpi_columns(repeat_days)
    for c in columns:
        if c.endswith("_n") or c in ("tickets", "open", "waiting_for_parts") or c.startswith("excluded_") \
                or (c.startswith("repeat_") and c.endswith("d")):
            out[c] = out[c].astype("int64")
    order = np.lexsort((out["period"].isna().to_numpy(), out["period"].to_numpy(),
                        out["location_id"].fillna("").to_numpy(dtype=object).astype(str),
                        out["tier"].fillna(9).to_numpy(dtype=np.int64),
                        out["level"].map({"all": 0, "tier": 1, "dealer": 2}).to_numpy()))
    return out.iloc[order][columns].reset_index(drop=True)
