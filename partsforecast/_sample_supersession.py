"""A real past for the generator's superseded part numbers (:func:`add_superseded_history`).

The generator gives a few parts a ``supersedes`` number that has no rows anywhere. Here the
old numbers get their own parts rows, the ticket lines opened before each switch date carry
them, some dealers still hold a few units of them, and a few chains run two links deep
(``A → B → C``); the truth table says which number became which, and when.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["P_DEALER_HOLDS_OLD", "P_INTERCHANGEABLE", "P_TWO_LINKS", "add_superseded_history"]

#: Share of supersessions whose old stock fits in place of the new part.
P_INTERCHANGEABLE = 0.85
#: Share of superseding parts whose old number itself superseded an older one (A → B → C).
P_TWO_LINKS = 0.3
#: Share of dealers still holding a few units of an old number (of the oldest, half that).
P_DEALER_HOLDS_OLD = 0.15


def add_superseded_history(tables: dict[str, pd.DataFrame], rng: np.random.Generator,
                           as_of: pd.Timestamp) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Give the generated tables' superseded numbers a history, stock and parts rows of their own.

    For every part ``C`` whose ``supersedes`` is ``B``:

    - ``B`` gets a parts row: the component, lead time and description of ``C``, a unit cost
      a little below ``C``'s (lognormal, median 8 % less);
    - a switch date is drawn uniformly in the middle half of the ticket history; ticket
      lines of ``C`` opened before it carry ``B``;
    - with probability :data:`P_TWO_LINKS` ``B`` itself superseded an older ``A`` (a new
      number with ``C``'s family code): ``B``'s switch date is then drawn in the later part
      of the history, ``A``'s in the earlier, and lines before ``A``'s carry ``A``;
    - every link is interchangeable with probability :data:`P_INTERCHANGEABLE` (the
      ``interchangeable`` column of the newer part's row; true on every other row);
    - each dealer holds 1–3 units of ``B`` with probability :data:`P_DEALER_HOLDS_OLD` (of
      ``A``, half that), nothing on order; at least one dealer holds each old number.

    Parameters
    ----------
    tables : dict of DataFrame
        :func:`partsforecast.samples.generate_tables` output (machines, tickets, parts, bom,
        locations, lanes, stock and maintenance); not changed.
    rng : numpy.random.Generator
        The random stream of this option.
    as_of : Timestamp
        The end of the data.

    Returns
    -------
    tables : dict of DataFrame
        The same tables with parts, tickets and stock extended (the others are the objects
        given); ``parts`` gains the ``interchangeable`` column.
    truth : DataFrame
        One row per supersession link: ``old``, ``successor`` (the part that superseded
        it), ``current`` (the end of its chain), ``switch_date`` (lines opened before it
        carry ``old``), ``link_interchangeable`` (the flag on ``successor``'s row) and
        ``interchangeable`` (its stock counts as ``current``: every link of the chain is
        interchangeable).
    """
    out = dict(tables)
    parts = tables["parts"].reset_index(drop=True)
    tickets, stock = tables["tickets"], tables["stock"]
    cur_rows = np.flatnonzero(parts["supersedes"].notna().to_numpy())
    n = cur_rows.size
    columns = {"old": "str", "successor": "str", "current": "str", "switch_date": "datetime64[ns]",
               "link_interchangeable": "bool", "interchangeable": "bool"}
    if n == 0:
        out["parts"] = parts.assign(interchangeable=np.ones(len(parts), dtype=bool))
        return out, pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})

    current = parts["part_number"].to_numpy(object)[cur_rows]
    old_b = parts["supersedes"].to_numpy(object)[cur_rows]
    deep = rng.random(n) < P_TWO_LINKS
    if n >= 2 and not deep.any():
        deep[rng.integers(n)] = True  # a few two-link chains in every fleet that has supersessions
    ok_c = rng.random(n) < P_INTERCHANGEABLE  # B → C
    ok_b = rng.random(n) < P_INTERCHANGEABLE  # A → B (where there is an A)

    # Switch dates in the middle of the history (a two-link chain: A → B early, B → C late).
    opened = tickets["opened_at"]
    start = (opened.min() if len(opened) else as_of - pd.Timedelta(days=365)).normalize()
    span = (as_of - start) / pd.Timedelta(days=1)
    u_late = np.where(deep, rng.uniform(0.55, 0.85, n), rng.uniform(0.25, 0.75, n))
    u_early = rng.uniform(0.15, 0.40, n)
    switch_c = start + pd.to_timedelta(np.round(u_late * span), unit="D")
    switch_b = start + pd.to_timedelta(np.round(u_early * span), unit="D")

    # New numbers for the A's: the family code of C and a number above every one in use.
    code = pd.Series(current, dtype="str").str.replace(r"\d+$", "", regex=True)
    digits = pd.Series(parts["part_number"].astype(str)).str.extract(r"(\d+)$")[0]
    top = int(pd.to_numeric(digits, errors="coerce").max()) if digits.notna().any() else 10_000
    drawn = top + 1 + rng.choice(10 * n, size=n, replace=False)
    old_a = np.where(deep, (code + pd.Series(drawn).astype(str)).to_numpy(object), None)
    taken = set(parts["part_number"].astype(str)) | set(old_b.astype(str))
    assert not taken & set(old_a[deep]), "new old numbers must not collide"

    # Parts rows of the old numbers.
    cur_info = parts.iloc[cur_rows].reset_index(drop=True)
    cost_b = np.round(cur_info["unit_cost"].to_numpy(float) * np.exp(rng.normal(-0.08, 0.05, n)), 2)
    cost_a = np.round(cost_b * np.exp(rng.normal(-0.08, 0.05, n)), 2)
    rows_b = cur_info.assign(part_number=pd.array(old_b, dtype="str"), unit_cost=np.maximum(cost_b, 0.5),
                             supersedes=pd.array(old_a, dtype="str"), interchangeable=np.where(deep, ok_b, True))
    rows_a = cur_info[deep].assign(part_number=pd.array(old_a[deep], dtype="str"),
                                   unit_cost=np.maximum(cost_a[deep], 0.5),
                                   supersedes=pd.array([None] * int(deep.sum()), dtype="str"),
                                   interchangeable=True)
    flag = np.ones(len(parts), dtype=bool)
    flag[cur_rows] = ok_c
    new_parts = pd.concat([parts.assign(interchangeable=flag), rows_b, rows_a], ignore_index=True)
    out["parts"] = new_parts.sort_values("part_number", kind="stable", ignore_index=True)

    # Ticket lines of C opened before a switch carry the number of their day.
    which = pd.Index(current.astype(str)).get_indexer(tickets["part_number"].astype(str))
    hit = which >= 0
    if hit.any():
        t = opened.to_numpy("datetime64[ns]")[hit]
        k = which[hit]
        before_c = t < switch_c.to_numpy("datetime64[ns]")[k]
        before_b = deep[k] & (t < switch_b.to_numpy("datetime64[ns]")[k])
        number = tickets["part_number"].to_numpy(object).copy()
        number[np.flatnonzero(hit)] = np.where(before_b, old_a[k], np.where(before_c, old_b[k],
                                                                            current[k]))
        out["tickets"] = tickets.assign(part_number=pd.array(number, dtype="str"))

    # A few units of the old numbers left on dealers' shelves.
    loc = tables["locations"]
    dealers = loc.loc[loc["kind"] == "dealer", "location_id"].to_numpy(object)
    olds = np.concatenate([old_b, old_a[deep]])
    share = np.concatenate([np.full(n, P_DEALER_HOLDS_OLD), np.full(int(deep.sum()), P_DEALER_HOLDS_OLD / 2)])
    holds = rng.random((olds.size, dealers.size)) < share[:, None]
    nobody = ~holds.any(axis=1)
    holds[np.flatnonzero(nobody), rng.integers(dealers.size, size=int(nobody.sum()))] = True
    oi, di = np.nonzero(holds)
    extra = pd.DataFrame({"location_id": pd.array(dealers[di], dtype="str"),
                          "part_number": pd.array(olds[oi], dtype="str"),
                          "on_hand": rng.integers(1, 4, oi.size).astype("int64"),
                          "on_order": np.zeros(oi.size, dtype="int64")})
    out["stock"] = pd.concat([stock, extra], ignore_index=True).sort_values(
        ["location_id", "part_number"], kind="stable", ignore_index=True)

    link_b = pd.DataFrame({"old": old_b, "successor": current, "current": current, "switch_date": switch_c,
                           "link_interchangeable": ok_c, "interchangeable": ok_c})
    link_a = pd.DataFrame({"old": old_a[deep], "successor": old_b[deep], "current": current[deep],
                           "switch_date": switch_b[deep], "link_interchangeable": ok_b[deep],
                           "interchangeable": ok_b[deep] & ok_c[deep]})
    truth = pd.concat([link_b, link_a], ignore_index=True).sort_values("old", kind="stable", ignore_index=True)
    return out, truth.astype(columns)
