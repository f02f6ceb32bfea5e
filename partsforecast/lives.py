"""Component lives from repair tickets: the renewal bookkeeping behind every failure model.

A component failure is one (ticket_id, component) pair. Replacing the component ends one
life and starts the next; the life still running at ``fleet.as_of`` (or at the machine's
retirement) is right-censored, and so is the whole service life of a machine that never had
a ticket for a component its model carries (per the BOM).

A fleet computes its lives once (:meth:`partsforecast.Fleet.component_lives`, which calls
:func:`component_lives`); the failure model and the demand forecast both read them from
there (:func:`fleet_lives`).

The clock is operating hours. A machine's usage rate (hours per calendar day, its yearly
mean) is, in order of preference: ``machines.hours_per_day`` when given; else estimated from
its own meter readings by least squares through the origin (meter_hours = rate × use-days in
service); else the median rate of machines of the same model at dealers of the same market
tier, then of the same model, then of the whole fleet. Hours at a failure are the ticket's
meter reading where present, else rate × use-days in service; a running life's age at the
end of observation is rate × use-days in service minus the hours at its last failure.

Use-days are the calendar days weighted by the fleet's use profile
(:func:`partsforecast.usage.fleet_usage_profile`, fitted from the meter readings and the
timing of the tickets, which need only the flat rates: the profile does not rest on the
lives): a seasonal machine runs more hours in a summer month than in a winter one. Where
the profile is flat (every fleet without a measurable season), use-days are the calendar
days and the lives are those of flat use, value for value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["usage_rates", "component_lives", "fleet_lives", "meter_readings", "Lives"]

#: A failure life shorter than this (hours) is set to it: two tickets for one component on the
#: same day, or a meter reading below the previous one, would otherwise give a zero life.
MIN_LIFE_HOURS = 1.0

_DAY = np.timedelta64(1, "D")


def _days(later: pd.Series | np.ndarray, earlier: pd.Series | np.ndarray) -> np.ndarray:
    return (np.asarray(later, dtype="datetime64[ns]") - np.asarray(earlier, dtype="datetime64[ns]")) / _DAY


def usage_rates(fleet, profile=None) -> pd.DataFrame:
    """Operating hours per calendar day of every machine, and where each figure came from.

    Parameters
    ----------
    fleet : Fleet
    profile : UsageProfile, optional
        The use over the year the meter readings are read against (meter_hours = rate ×
        use-days since the in-service date). None (or a flat profile): rate × calendar days.

    Returns
    -------
    DataFrame
        One row per machine: serial, machine_model, location_id, tier, hours_per_day,
        rate_source (``"given"``, ``"meter"``, ``"model-tier median"``, ``"model median"``
        or ``"fleet median"``).
    """
    m = fleet.machines[["serial", "machine_model", "location_id", "in_service_date", "hours_per_day"]]
    out = m[["serial", "machine_model", "location_id"]].copy()
    out["tier"] = fleet.location_tiers(m["location_id"])

    meter_rate, has_meter = _meter_rates(fleet, profile)
    rate = m["hours_per_day"].to_numpy(dtype=float).copy()
    source = np.where(np.isfinite(rate), "given", "").astype(object)
    from_meter = ~np.isfinite(rate) & has_meter
    rate[from_meter] = meter_rate[from_meter]
    source[from_meter] = "meter"

    known = pd.DataFrame({"machine_model": out["machine_model"], "tier": out["tier"], "rate": rate})
    for keys, label in ((["machine_model", "tier"], "model-tier median"),
                        (["machine_model"], "model median")):
        med = known.groupby(keys, dropna=False)["rate"].transform("median").to_numpy()
        fill = ~np.isfinite(rate) & np.isfinite(med)
        rate[fill] = med[fill]
        source[fill] = label
    fill = ~np.isfinite(rate)
    if fill.any():
        overall = np.nanmedian(known["rate"]) if np.isfinite(known["rate"]).any() else 8.0
        rate[fill] = overall
        source[fill] = "fleet median"
    out["hours_per_day"] = rate
    out["rate_source"] = pd.array(source, dtype="str")
    return out


def meter_readings(fleet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fleet's meter readings, one per machine and instant (the lines of one ticket
    repeat it; the first line's counts), in ticket order.

    Kept by a :class:`~partsforecast.Fleet`: the lives and the use profile both read them.

    Parameters
    ----------
    fleet : Fleet

    Returns
    -------
    (ndarray, ndarray, ndarray)
        Machine row (in ``fleet.machines``), time (datetime64[ns]) and meter hours.
    """
    def compute():
        tk = fleet.tickets
        meter = tk["meter_hours"].to_numpy(float)
        mi = fleet.ticket_machine_rows()
        has = ~np.isnan(meter) & (mi >= 0)
        mi, meter = mi[has], meter[has]
        opened = tk["opened_at"].to_numpy("datetime64[ns]")[has]
        first = ~pd.DataFrame({"m": mi, "t": opened.view(np.int64)}).duplicated().to_numpy()
        return mi[first], opened[first], meter[first]

    keep = getattr(fleet, "_derived", None)
    return compute() if keep is None else keep("meter_readings", (fleet.machines, fleet.tickets), compute)


def _meter_rates(fleet, profile=None) -> tuple[np.ndarray, np.ndarray]:
    """Each machine's rate from its own meter readings (least squares through the origin on
    the use-days since its in-service date, within 0–24 h/day) and whether it has a usable
    reading."""
    M = len(fleet.machines)
    mi, opened, meter = meter_readings(fleet)
    start = fleet.machines["in_service_date"].to_numpy("datetime64[ns]")[mi]
    d = _days(opened, start)
    ok = d > 0.5  # a reading on the first day says nothing about the rate
    if _seasonal(profile):
        d = profile._use_between(start, opened, _machine_tiers(fleet)[mi])
    md = np.bincount(mi[ok], weights=meter[ok] * d[ok], minlength=M)
    dd = np.bincount(mi[ok], weights=d[ok] ** 2, minlength=M)
    seen = np.bincount(mi[ok], minlength=M) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.clip(np.where(seen, md / np.where(seen, dd, 1.0), np.nan), 0, 24), seen


@dataclass(frozen=True)
class Lives:
    """The lives of every (machine, component) and the age of the running ones.

    Attributes
    ----------
    lives : DataFrame
        Identifier columns are categoricals (millions of rows share a few thousand
        values). One row per life: serial, machine_model, component, location_id, start_hours,
        duration (operating hours), failed (bool), end_time (failure time, or the censoring
        date).
    ages : DataFrame
        One row per (machine in service at ``as_of``, component): serial, machine_model,
        component, location_id, age_hours (since the last replacement or since the machine
        entered service), hours_per_day, n_failures so far.
    rates : DataFrame
        :func:`usage_rates` of the fleet.
    """

    lives: pd.DataFrame
    ages: pd.DataFrame
    rates: pd.DataFrame


def component_lives(fleet) -> Lives:
    """Turn a fleet's tickets and installed base into component lives (vectorised).

    Everything runs on integer codes (machine index, component code) with numpy sorts and
    bincounts; the string columns of the result are categoricals built once at the end.

    Parameters
    ----------
    fleet : Fleet

    Returns
    -------
    Lives
    """
    profile = _lives_profile(fleet)
    rates = usage_rates(fleet, profile)
    m = fleet.machines
    M = len(m)
    rate = rates["hours_per_day"].to_numpy(float)  # same row order as fleet.machines
    in_service = m["in_service_date"].to_numpy("datetime64[ns]")
    retired = m["retired_date"].to_numpy("datetime64[ns]")
    as_of = np.datetime64(fleet.as_of, "ns")
    ended = ~np.isnat(retired) & (retired < as_of)
    end_date = np.where(ended, retired, as_of)
    tiers = _machine_tiers(fleet) if _seasonal(profile) else None

    def use_days(rows: np.ndarray, when: np.ndarray) -> np.ndarray:
        """Use-days of machines ``rows`` from their in-service date to ``when``."""
        if tiers is None:
            return _days(when, in_service[rows])
        start = in_service[rows]
        return np.where(when > start, profile._use_between(start, np.maximum(when, start), tiers[rows]),
                        _days(when, start))

    end_hours = np.maximum(use_days(np.arange(M), end_date), 0.0) * rate
    active = ~ended

    model_codes, model_names = pd.factorize(m["machine_model"])
    loc_codes, loc_names = pd.factorize(m["location_id"])
    # Service visits are neither failures nor renewals of a life: repair lines only (the
    # columns needed selected first: the tickets are the largest table).
    tk = fleet._repair_lines(fleet.tickets[["component", "meter_hours", "opened_at"]])
    tk_machine = fleet.ticket_machine_rows(repairs=True)
    comp_names = pd.Index(pd.unique(pd.concat([fleet.bom["component"], tk["component"]], ignore_index=True)))
    C = len(comp_names)

    # Failures: one per (ticket, component); its hours from the meter, else from the calendar.
    t_code = fleet.ticket_numbers(repairs=True)
    c_code = comp_names.get_indexer(tk["component"]).astype(np.int64)
    meter = tk["meter_hours"].to_numpy(float)
    # Sort so that, within a (ticket, component), a line with a meter reading comes first.
    order = np.lexsort((np.isnan(meter), c_code, t_code))
    key = t_code[order] * C + c_code[order]
    first = np.concatenate([[True], key[1:] != key[:-1]])
    rows = order[first]
    ev_machine = tk_machine[rows]
    ev_comp = c_code[rows]
    ev_time = tk["opened_at"].to_numpy("datetime64[ns]")[rows]
    cal = use_days(ev_machine, ev_time) * rate[ev_machine]
    ev_hours = np.maximum(np.where(np.isnan(meter[rows]), cal, meter[rows]), 0.0)
    o = np.lexsort((ev_time, ev_comp, ev_machine))
    ev_machine, ev_comp, ev_time, ev_hours = ev_machine[o], ev_comp[o], ev_time[o], ev_hours[o]
    pair_key = ev_machine.astype(np.int64) * C + ev_comp
    new_pair = np.concatenate([[True], pair_key[1:] != pair_key[:-1]]) if pair_key.size else np.zeros(0, bool)
    starts = np.flatnonzero(new_pair)
    # Meter readings can run backwards (a replaced meter, a typo): keep the clock monotone.
    seg = np.cumsum(new_pair) - 1
    ev_hours = _segment_cummax(ev_hours, starts, seg)
    prev = np.concatenate([[0.0], ev_hours[:-1]])
    prev[new_pair] = 0.0
    failed = {"machine": ev_machine, "comp": ev_comp, "start": prev,
              "duration": np.maximum(ev_hours - prev, MIN_LIFE_HOURS), "end_time": ev_time}

    # Every (machine, component) its model carries, plus any pair seen in the tickets.
    bom_pairs = fleet.bom[["machine_model", "component"]].drop_duplicates()
    bm = pd.Index(model_names).get_indexer(bom_pairs["machine_model"])
    bc = comp_names.get_indexer(bom_pairs["component"]).astype(np.int64)
    keep = bm >= 0
    bm, bc = bm[keep], bc[keep]
    per_model = np.bincount(bm, minlength=len(model_names))
    bo = np.argsort(bm, kind="stable")
    model_start = np.concatenate([[0], np.cumsum(per_model)[:-1]])
    n_per = per_model[model_codes]
    pm = np.repeat(np.arange(M), n_per)
    offset = np.arange(pm.size) - np.repeat(np.cumsum(n_per) - n_per, n_per)
    pc = bc[bo][model_start[model_codes][pm] + offset]
    seen = np.zeros(M * C, dtype=bool)  # sorted union of the keys, without a sort
    seen[pm.astype(np.int64) * C + pc] = True
    seen[pair_key] = True
    all_keys = np.flatnonzero(seen)
    pm, pc = all_keys // C, all_keys % C
    # Last failure hours and count per pair, from the segment ends of the sorted events.
    last_hours = np.zeros(all_keys.size)
    n_fail = np.zeros(all_keys.size, dtype=np.int64)
    if pair_key.size:
        seg_keys = pair_key[starts]
        ends = np.concatenate([starts[1:], [pair_key.size]]) - 1
        pos = np.searchsorted(all_keys, seg_keys)
        last_hours[pos] = ev_hours[ends]
        n_fail[pos] = ends - starts + 1
    run = end_hours[pm] - last_hours
    age = np.maximum(run, 0.0)
    cens = run > 0

    machine = np.concatenate([failed["machine"], pm[cens]])
    comp = np.concatenate([failed["comp"], pc[cens]])
    lives = pd.DataFrame({
        "serial": pd.Categorical.from_codes(machine, categories=pd.Index(m["serial"])),
        "machine_model": pd.Categorical.from_codes(model_codes[machine], categories=model_names),
        "component": pd.Categorical.from_codes(comp, categories=comp_names),
        "location_id": pd.Categorical.from_codes(loc_codes[machine], categories=loc_names),
        "start_hours": np.concatenate([failed["start"], last_hours[cens]]),
        "duration": np.concatenate([failed["duration"], run[cens]]),
        "failed": np.concatenate([np.ones(failed["machine"].size, bool), np.zeros(int(cens.sum()), bool)]),
        "end_time": np.concatenate([failed["end_time"], end_date[pm[cens]]]).astype("datetime64[ns]"),
    })
    order = np.lexsort((lives["start_hours"].to_numpy(), machine, comp, model_codes[machine]))
    lives = lives.take(order).reset_index(drop=True)

    act = active[pm]
    am, ac = pm[act], pc[act]
    ages = pd.DataFrame({
        "serial": pd.Categorical.from_codes(am, categories=pd.Index(m["serial"])),
        "machine_model": pd.Categorical.from_codes(model_codes[am], categories=model_names),
        "component": pd.Categorical.from_codes(ac, categories=comp_names),
        "location_id": pd.Categorical.from_codes(loc_codes[am], categories=loc_names),
        "age_hours": age[act], "hours_per_day": rate[am], "n_failures": n_fail[act],
    })
    ages = ages.take(np.lexsort((am, ac, model_codes[am]))).reset_index(drop=True)
    return Lives(lives=lives, ages=ages, rates=rates)


def _lives_profile(fleet):
    """The use profile the lives are read against: the fleet's fitted one (kept by the fleet,
    so the forecast's ``usage_profile="auto"`` reuses it); None for a fleet without tiers."""
    from partsforecast.usage.profile import fleet_usage_profile

    if not len(fleet.machines) or not fleet.locations["tier"].notna().any():
        return None
    return fleet_usage_profile(fleet)


def _seasonal(profile) -> bool:
    return profile is not None and not profile.is_flat


def _machine_tiers(fleet) -> np.ndarray:
    return fleet.location_tiers(fleet.machines["location_id"])


def fleet_lives(fleet) -> Lives:
    """The lives of ``fleet``, computed once per fleet.

    :meth:`Fleet.component_lives <partsforecast.Fleet.component_lives>` (cached by the
    fleet) for a :class:`~partsforecast.Fleet`; :func:`component_lives`, computed now, for
    any other object with the fleet's tables.

    Parameters
    ----------
    fleet : Fleet

    Returns
    -------
    Lives
    """
    cached = getattr(fleet, "component_lives", None)
    return cached() if callable(cached) else component_lives(fleet)


def _segment_cummax(values: np.ndarray, starts: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Running maximum within consecutive segments (segment ``i`` begins at ``starts[i]``)."""
    if values.size == 0:
        return values
    # Shift each segment above all earlier ones, take one global running max, shift back.
    span = values.max() - values.min() + 1.0
    lifted = values + seg * span
    return np.maximum.accumulate(lifted) - seg * span
