"""Component lives from repair tickets: the renewal bookkeeping behind every failure model.

A component failure is one (ticket_id, component) pair. Replacing the component ends one
life and starts the next; the life still running at ``fleet.as_of`` (or at the machine's
retirement) is right-censored, and so is the whole service life of a machine that never had
a ticket for a component its model carries (per the BOM).

The clock is operating hours. A machine's usage rate (hours per calendar day) is, in order
of preference: ``machines.hours_per_day`` when given; else estimated from its own meter
readings by least squares through the origin (meter_hours = rate × days in service); else
the median rate of machines of the same model at dealers of the same market tier, then of
the same model, then of the whole fleet. Hours at a failure are the ticket's meter reading
where present, else days in service × rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["usage_rates", "component_lives", "Lives"]

#: A failure life shorter than this (hours) is set to it: two tickets for one component on the
#: same day, or a meter reading below the previous one, would otherwise give a zero life.
MIN_LIFE_HOURS = 1.0

_DAY = np.timedelta64(1, "D")


def _days(later: pd.Series | np.ndarray, earlier: pd.Series | np.ndarray) -> np.ndarray:
    return (np.asarray(later, dtype="datetime64[ns]") - np.asarray(earlier, dtype="datetime64[ns]")) / _DAY


def usage_rates(fleet) -> pd.DataFrame:
    """Operating hours per calendar day of every machine, and where each figure came from.

    Parameters
    ----------
    fleet : Fleet

    Returns
    -------
    DataFrame
        One row per machine: serial, machine_model, location_id, tier, hours_per_day,
        rate_source (``"given"``, ``"meter"``, ``"model-tier median"``, ``"model median"``
        or ``"fleet median"``).
    """
    m = fleet.machines[["serial", "machine_model", "location_id", "in_service_date", "hours_per_day"]]
    tier = fleet.locations.set_index("location_id")["tier"]
    out = m[["serial", "machine_model", "location_id"]].copy()
    out["tier"] = m["location_id"].map(tier).astype("Float64").astype("float64")

    tk = fleet.tickets[["serial", "opened_at", "meter_hours"]].dropna(subset=["meter_hours"])
    tk = tk.drop_duplicates(["serial", "opened_at"])
    in_service = tk["serial"].map(m.set_index("serial")["in_service_date"])
    d = _days(tk["opened_at"], in_service)
    ok = d > 0.5  # a reading on the first day says nothing about the rate
    per = pd.DataFrame({"serial": tk["serial"].to_numpy()[ok],
                        "md": tk["meter_hours"].to_numpy()[ok] * d[ok], "dd": d[ok] ** 2})
    sums = per.groupby("serial", sort=False)[["md", "dd"]].sum()
    meter_rate = (sums["md"] / sums["dd"]).clip(0, 24)

    rate = m["hours_per_day"].to_numpy(dtype=float).copy()
    source = np.where(np.isfinite(rate), "given", "").astype(object)
    from_meter = ~np.isfinite(rate) & m["serial"].isin(meter_rate.index).to_numpy()
    rate[from_meter] = m.loc[from_meter, "serial"].map(meter_rate).to_numpy()
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


@dataclass(frozen=True)
class Lives:
    """The lives of every (machine, component) and the age of the running ones.

    Attributes
    ----------
    lives : DataFrame
        One row per life: serial, machine_model, component, location_id, start_hours,
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

    Parameters
    ----------
    fleet : Fleet

    Returns
    -------
    Lives
    """
    rates = usage_rates(fleet)
    m = fleet.machines.merge(rates[["serial", "hours_per_day"]].rename(columns={"hours_per_day": "rate"}),
                             on="serial", validate="one_to_one")
    end_date = m["retired_date"].where(m["retired_date"].notna() & (m["retired_date"] < fleet.as_of),
                                       fleet.as_of)
    m["end_hours"] = np.maximum(_days(end_date, m["in_service_date"]), 0.0) * m["rate"].to_numpy()
    m["end_date"] = end_date
    m["active"] = m["retired_date"].isna() | (m["retired_date"] >= fleet.as_of)

    # Failures: one per (ticket, component); its hours from the meter, else from the calendar.
    tk = fleet.tickets
    ev = (tk.sort_values(["ticket_id", "component", "meter_hours"], na_position="last")
            .drop_duplicates(["ticket_id", "component"])[["serial", "component", "opened_at", "meter_hours"]])
    minfo = m.set_index("serial")
    ev = ev.assign(machine_model=ev["serial"].map(minfo["machine_model"]).to_numpy(),
                   location_id=ev["serial"].map(minfo["location_id"]).to_numpy())
    cal = _days(ev["opened_at"], ev["serial"].map(minfo["in_service_date"])) * ev["serial"].map(minfo["rate"]).to_numpy()
    hours = np.where(ev["meter_hours"].notna(), ev["meter_hours"].to_numpy(dtype=float), cal)
    ev["hours"] = np.maximum(hours, 0.0)
    ev = ev.sort_values(["serial", "component", "opened_at"], kind="stable").reset_index(drop=True)
    # Meter readings can run backwards (a replaced meter, a typo): keep the clock monotone.
    ev["hours"] = ev.groupby(["serial", "component"], sort=False)["hours"].cummax()
    prev = ev.groupby(["serial", "component"], sort=False)["hours"].shift(1).fillna(0.0)
    failed_lives = pd.DataFrame({
        "serial": ev["serial"], "machine_model": ev["machine_model"], "component": ev["component"],
        "location_id": ev["location_id"], "start_hours": prev.to_numpy(),
        "duration": np.maximum(ev["hours"].to_numpy() - prev.to_numpy(), MIN_LIFE_HOURS),
        "failed": True, "end_time": ev["opened_at"].to_numpy(),
    })

    # Every (machine, component) its model carries, plus any pair seen in the tickets.
    carried = fleet.bom[["machine_model", "component"]].drop_duplicates()
    pairs = m[["serial", "machine_model", "location_id", "end_hours", "end_date", "active", "rate"]].merge(
        carried, on="machine_model")
    seen = ev[["serial", "component"]].drop_duplicates()
    extra = seen.merge(pairs[["serial", "component"]], how="left", indicator=True)
    extra = extra[extra["_merge"] == "left_only"][["serial", "component"]]
    if len(extra):
        extra = extra.merge(m[["serial", "machine_model", "location_id", "end_hours", "end_date", "active", "rate"]],
                            on="serial")
        pairs = pd.concat([pairs, extra[pairs.columns]], ignore_index=True)
    last = ev.groupby(["serial", "component"], sort=False).agg(last_hours=("hours", "max"),
                                                               n_failures=("hours", "size")).reset_index()
    pairs = pairs.merge(last, on=["serial", "component"], how="left")
    pairs["last_hours"] = pairs["last_hours"].fillna(0.0)
    pairs["n_failures"] = pairs["n_failures"].fillna(0).astype("int64")
    # The running life: from the last replacement to the end of observation.
    run = pairs["end_hours"].to_numpy() - pairs["last_hours"].to_numpy()
    pairs["age_hours"] = np.maximum(run, 0.0)

    cens = pairs[run > 0]
    censored_lives = pd.DataFrame({
        "serial": cens["serial"], "machine_model": cens["machine_model"], "component": cens["component"],
        "location_id": cens["location_id"], "start_hours": cens["last_hours"].to_numpy(),
        "duration": run[run > 0], "failed": False, "end_time": cens["end_date"].to_numpy(),
    })
    lives = pd.concat([failed_lives, censored_lives], ignore_index=True)
    lives = lives.sort_values(["machine_model", "component", "serial", "start_hours"], kind="stable",
                              ignore_index=True)
    lives["end_time"] = lives["end_time"].astype("datetime64[ns]")

    ages = pairs.loc[pairs["active"].to_numpy(),
                     ["serial", "machine_model", "component", "location_id", "age_hours", "rate", "n_failures"]]
    ages = ages.rename(columns={"rate": "hours_per_day"}).sort_values(
        ["machine_model", "component", "serial"], kind="stable", ignore_index=True)
    return Lives(lives=lives, ages=ages, rates=rates)
