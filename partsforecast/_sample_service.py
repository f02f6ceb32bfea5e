"""Service visits of a generated fleet (``make_fleet(maintenance=True)``).

Every machine's services fall due at each multiple of its model's base interval (the
shortest ``interval_hours`` of its schedule) or of its base months, whichever comes first;
a part of interval ``m`` times the base is replaced at every ``m``-th service. The owner
has each due service done at the dealer with a probability of his own (uniform over the
compliance range; the others are done elsewhere or skipped), a few days after it falls
due. Vectorised over (machine, service); no loop over machines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from partsforecast.data import SCHEMA

_NS_PER_DAY = 86_400 * 10**9
_NS_PER_MIN = 60 * 10**9
_DAYS_PER_MONTH = 365.25 / 12
#: Mean days from a service falling due to the visit, by tier (country owners wait longer).
_TIER_DELAY_DAYS = np.array([2.0, 3.0, 5.0, 7.0])
#: Workshop hours of a service visit.
_SERVICE_HOURS = (1.5, 4.0)
_P_METER_MISSING = 0.05


def _model_plan(schedule: pd.DataFrame, models: pd.Series):
    """Per model (index of ``models``): base hours, base months, and its lines."""
    code = pd.Index(models).get_indexer(schedule["machine_model"])
    keep = code >= 0
    sch = schedule[keep].reset_index(drop=True)
    code = code[keep]
    n_models = len(models)
    base_h = np.full(n_models, np.inf)
    np.minimum.at(base_h, code, sch["interval_hours"].to_numpy(float))
    months = sch["interval_months"].to_numpy(float)
    base_m = np.full(n_models, np.inf)
    np.minimum.at(base_m, code, np.where(np.isfinite(months), months, np.inf))
    multiple = np.maximum(1, np.round(sch["interval_hours"].to_numpy(float) / base_h[code])).astype(np.int64)
    return sch, code, base_h, base_m, multiple


def service_visits(rng: np.random.Generator, schedule: pd.DataFrame, parts: pd.DataFrame, mach, loc, season,
                   as_of: pd.Timestamp, compliance: tuple[float, float],
                   first_ticket: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The service ticket lines and the truth of every due service.

    Returns
    -------
    tickets : DataFrame
        One line per part replaced at a service done at the dealer (``ticket_type`` =
        ``"service"``), in the tickets' columns.
    truth : DataFrame
        One row per due service: serial, service number, due date and hours, whether it was
        done at the dealer, its date and ticket id, and the owner's probability.
    """
    models = mach.table["machine_model"].drop_duplicates().sort_values().reset_index(drop=True)
    sch, code, base_h, base_m, multiple = _model_plan(schedule, models)
    component = sch["part_number"].map(parts.set_index("part_number")["component"]).array
    model = pd.Index(models).get_indexer(mach.table["machine_model"])
    n = model.size
    hpd = mach.hours_per_day
    tier = loc.tier[mach.dealer]
    p_done = np.round(rng.uniform(compliance[0], compliance[1], n), 3)

    # Services due before the end of observation: by hours, or by months if sooner.
    bh, bm = base_h[model], base_m[model]
    scheduled = np.isfinite(bh)
    elapsed_days = (mach.end_ns - mach.start_ns) / _NS_PER_DAY
    k_hours = np.where(scheduled, np.floor(mach.total_hours / np.where(scheduled, bh, 1.0)), 0)
    k_months = np.where(scheduled & np.isfinite(bm),
                        np.floor(elapsed_days / (np.where(np.isfinite(bm), bm, 1.0) * _DAYS_PER_MONTH)), 0)
    n_due = np.maximum(k_hours, k_months).astype(np.int64)
    m = np.repeat(np.arange(n), n_due)
    k = np.arange(m.size) - np.repeat(np.cumsum(n_due) - n_due, n_due) + 1
    by_hours = season.reach(mach.start_ns[m], k * bh[m] / hpd[m], tier[m])
    by_months = np.where(np.isfinite(bm[m]), k * bm[m] * _DAYS_PER_MONTH, np.inf)
    due_days = np.minimum(by_hours, by_months)
    due_ns = mach.start_ns[m] + np.round(due_days * _NS_PER_DAY).astype(np.int64)
    keep = due_ns < mach.end_ns[m]
    m, k, due_ns = m[keep], k[keep], due_ns[keep]

    done = rng.random(m.size) < p_done[m]
    delay = rng.exponential(_TIER_DELAY_DAYS[tier[m] - 1])
    day_ns = due_ns - due_ns % _NS_PER_DAY + np.round(delay).astype(np.int64) * _NS_PER_DAY
    opened = day_ns + (7 * 60 + rng.integers(0, 9 * 60, m.size)) * _NS_PER_MIN  # 07:00-16:00
    done &= opened < min(as_of.value, 2**63 - 1)
    done &= opened < mach.end_ns[m]
    hours_at = hpd[m] * season.span(mach.start_ns[m], opened, tier[m])
    closed = opened + np.round(rng.uniform(*_SERVICE_HOURS, m.size) * 60).astype(np.int64) * _NS_PER_MIN

    v = np.flatnonzero(done)
    width = 8
    ticket_no = np.full(m.size, -1, dtype=np.int64)
    ticket_no[v] = first_ticket + np.arange(v.size)
    ids = ("S" + pd.Series(ticket_no[v]).astype("str").str.zfill(width)).to_numpy(dtype=object)
    ticket_id = np.full(m.size, None, dtype=object)
    ticket_id[v] = ids

    # Lines: the schedule rows of the machine's model due at this service number.
    mv = model[m[v]]
    order = np.argsort(code, kind="stable")
    row_count = np.bincount(code, minlength=len(models))
    row_start = np.cumsum(row_count) - row_count
    cnt = row_count[mv]
    t = np.repeat(np.arange(v.size), cnt)
    within = np.arange(t.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    row = order[row_start[mv][t] + within]
    due_line = (k[v][t] % multiple[row]) == 0
    t, row = t[due_line], row[due_line]
    vt = v[t]
    meter = np.where(rng.random(v.size) < _P_METER_MISSING, np.nan, np.round(hours_at[v], 1))[t]
    mt = m[vt]
    closed_t = np.where(closed[vt] >= as_of.value, np.iinfo(np.int64).min, closed[vt])
    tickets = pd.DataFrame({
        "ticket_id": pd.array(ticket_id[vt], dtype="str"),
        "serial": mach.serial.array.take(mt),
        "location_id": loc.dealer_ids.array.take(mach.dealer[mt]),
        "opened_at": opened[vt].view("datetime64[ns]"),
        "arrived_at": opened[vt].view("datetime64[ns]"),
        "parts_ready_at": opened[vt].view("datetime64[ns]"),
        "closed_at": closed_t.view("datetime64[ns]"),
        "component": component.take(row),
        "part_number": sch["part_number"].array.take(row),
        "quantity": sch["quantity"].to_numpy()[row].astype(np.int64),
        "meter_hours": meter,
        "ticket_type": pd.array(np.full(t.size, "service", dtype=object), dtype="str"),
        "notes": pd.array(np.full(t.size, "scheduled service", dtype=object), dtype="str"),
    })
    contract = [c.name for c in SCHEMA["tickets"]]
    tickets = tickets[contract + [c for c in tickets.columns if c not in contract]]
    truth = pd.DataFrame({
        "serial": mach.serial.array.take(m),
        "service": k.astype(np.int64),
        "due_date": due_ns.view("datetime64[ns]"),
        "done_at_dealer": done,
        "service_date": np.where(done, opened, np.iinfo(np.int64).min).view("datetime64[ns]"),
        "ticket_id": pd.array(ticket_id, dtype="str"),
        "hours_at_service": np.where(done, np.round(hours_at, 1), np.nan),
        "p_done": p_done[m],
    })
    return tickets, truth
