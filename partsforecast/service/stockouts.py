"""The stock-out register: every ticket line that waited for a part its dealer did not hold,
what it cost, and where its follow-up stands; the weekly list a planner works through.

The contract holds no stock history, so a stock-out is read from the wait: a line whose
part was ready more than ``local_stock_hours`` after the call (default 24 h, see
:data:`partsforecast.service.kpis.LOCAL_STOCK_HOURS`), or that is still waiting for it
longer than that at the as-of date.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from partsforecast._io import unescape_cells
from partsforecast.data import Fleet, InputError, Problem, ticket_time_findings
from partsforecast.service.kpis import LOCAL_STOCK_HOURS

__all__ = [
    "FOLLOWUP_DAYS",
    "LOOKBACK_DAYS",
    "STATUS_ORDER",
    "STOCKOUT_COLUMNS",
    "read_plan_transfers",
    "stockouts",
]

#: A stock-out still open this many days after the call is overdue.
FOLLOWUP_DAYS = 7.0
#: The register covers the lines opened this many days before the as-of date.
LOOKBACK_DAYS = 90.0
#: Follow-up statuses, in the order the register lists them.
STATUS_ORDER = ("open", "transferred", "replenished")

#: Columns of :func:`stockouts` (and ``stockouts.csv``).
STOCKOUT_COLUMNS = ["status", "overdue", "location_id", "tier", "ticket_id", "serial", "part_number",
                    "component", "quantity", "opened_at", "parts_ready_at", "still_waiting", "wait_days",
                    "machine_days_down", "downtime_cost", "age_days", "on_hand", "transfer_qty"]

_TRANSFER_COLUMNS = ("to_id", "part_number", "quantity")


def _check_number(name: str, value: Any, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not (0 <= float(value) < np.inf):
        raise ValueError(f"{name} must be a number ≥ 0, got {value!r}")
    return float(value)


def _incoming(transfers: pd.DataFrame | None) -> pd.Series:
    """Units the transfers bring, by (to_id, part_number)."""
    if transfers is None or not len(transfers):
        return pd.Series(dtype="float64", index=pd.MultiIndex.from_arrays([[], []]))
    missing = [c for c in _TRANSFER_COLUMNS if c not in transfers.columns]
    if missing:
        raise ValueError(f"transfers needs columns {', '.join(_TRANSFER_COLUMNS)}; missing {', '.join(missing)}")
    qty = pd.to_numeric(transfers["quantity"], errors="coerce").fillna(0.0)
    moves = transfers.assign(quantity=qty)[qty > 0]
    return moves.groupby([moves["to_id"].astype(str), moves["part_number"].astype(str)])["quantity"].sum()


def stockouts(
    fleet: Fleet,
    *,
    transfers: pd.DataFrame | None = None,
    local_stock_hours: float = LOCAL_STOCK_HOURS,
    followup_days: float = FOLLOWUP_DAYS,
    lookback_days: float | None = LOOKBACK_DAYS,
    downtime_cost_per_day: float | None = None,
) -> pd.DataFrame:
    """The stock-out register: ticket lines that waited for a part the dealer did not hold.

    Parameters
    ----------
    fleet : Fleet
    transfers : DataFrame, optional
        A plan's transfers (``StockPlan.transfers``, or :func:`read_plan_transfers` of a
        plan's folder): ``to_id``, ``part_number``, ``quantity``. A stock-out whose part one
        of them brings to its dealer is ``transferred``.
    local_stock_hours : float, default 24
        A line whose part was ready later than this after the call waited for a part the
        dealer did not hold.
    followup_days : float, default 7
        A stock-out still ``open`` this many days after the call is ``overdue``.
    lookback_days : float or None, default 90
        Lines opened in the last this many days before the as-of date; ``None``: all.
    downtime_cost_per_day : float, optional
        What a machine down costs per day; gives ``downtime_cost``.

    Returns
    -------
    DataFrame
        :data:`STOCKOUT_COLUMNS`, open stock-outs first, then transferred, then
        replenished (:data:`STATUS_ORDER`); oldest call first within each:

        * ``status``: ``replenished`` when the dealer's stock now holds the part
          (``fleet.stock`` on_hand > 0), else ``transferred`` when a transfer brings it,
          else ``open``; ``overdue``: open and the call more than ``followup_days`` ago.
        * ``location_id``, ``tier``, ``ticket_id``, ``serial``, ``part_number``,
          ``component``, ``quantity``, ``opened_at``, ``parts_ready_at`` as in the ticket.
        * ``still_waiting``: no ``parts_ready_at`` yet and the ticket not closed;
          ``wait_days``: call → part ready (or → the as-of date while still waiting).
        * ``machine_days_down``: the days the machine stood waiting for parts on this
          ticket (call → its last stocked-out part ready), shared equally among the
          ticket's stocked-out lines, so that the column adds up to machine-days without
          counting a ticket twice; ``downtime_cost`` = machine_days_down ×
          ``downtime_cost_per_day`` (blank without it).
        * ``age_days``: call → the as-of date; ``on_hand``: the dealer's stock of the part
          now; ``transfer_qty``: the units the transfers bring it.

        Lines with a parts-time finding (``ready_missing``, ``ready_before_opened``; see
        :meth:`Fleet.findings`) cannot be judged and are left out.
    """
    if not isinstance(fleet, Fleet):
        raise TypeError(f"fleet must be a Fleet, got {type(fleet).__name__}")
    local_stock_hours = _check_number("local_stock_hours", local_stock_hours)
    followup_days = _check_number("followup_days", followup_days)
    lookback_days = _check_number("lookback_days", lookback_days, allow_none=True)
    cost = _check_number("downtime_cost_per_day", downtime_cost_per_day, allow_none=True)
    incoming = _incoming(transfers)

    tk = fleet.tickets
    as_of = fleet.as_of.asm8
    opened = tk["opened_at"].to_numpy("datetime64[ns]")
    ready = tk["parts_ready_at"].to_numpy("datetime64[ns]")
    day = np.timedelta64(86_400_000_000_000, "ns")
    found = ticket_time_findings(tk)
    judged = ~(found["ready_missing"] | found["ready_before_opened"]).to_numpy()
    if lookback_days is not None:
        judged &= opened >= as_of - np.timedelta64(round(lookback_days * 86_400e9), "ns")
    waiting = np.isnat(ready) & tk["closed_at"].isna().to_numpy()
    wait = np.where(waiting, (as_of - opened) / day, (ready - opened) / day)
    out_mask = judged & (wait * 24.0 > local_stock_hours)
    rows = np.flatnonzero(out_mask)
    lines = tk.iloc[rows]
    wait = wait[rows]

    # A ticket's downtime (its longest stocked-out wait) shared among its stocked-out lines.
    ticket, _ = pd.factorize(lines["ticket_id"])
    n_lines = np.bincount(ticket)
    longest = np.zeros(n_lines.size)
    np.maximum.at(longest, ticket, wait)
    down = longest[ticket] / n_lines[ticket]

    loc, part = lines["location_id"].astype(str), lines["part_number"].astype(str)
    stock = fleet.stock.set_index(["location_id", "part_number"])["on_hand"]
    pairs = pd.MultiIndex.from_arrays([loc.array, part.array])
    on_hand = stock.reindex(pairs).fillna(0).to_numpy(dtype=np.int64)
    bring = incoming.reindex(pairs).fillna(0.0).to_numpy() if len(incoming) else np.zeros(len(rows))
    status = np.where(on_hand > 0, "replenished", np.where(bring > 0, "transferred", "open"))
    age = (as_of - opened[rows]) / day
    tiers = fleet.locations.set_index("location_id")["tier"]
    reg = pd.DataFrame({
        "status": pd.array(status, dtype="str"),
        "overdue": (status == "open") & (age > followup_days),
        "location_id": lines["location_id"].array,
        "tier": tiers.reindex(loc.array).astype("Int64").array,
        "ticket_id": lines["ticket_id"].array,
        "serial": lines["serial"].array,
        "part_number": lines["part_number"].array,
        "component": lines["component"].array,
        "quantity": lines["quantity"].to_numpy(),
        "opened_at": lines["opened_at"].array,
        "parts_ready_at": lines["parts_ready_at"].array,
        "still_waiting": waiting[rows],
        "wait_days": wait,
        "machine_days_down": down,
        "downtime_cost": down * cost if cost is not None else np.full(len(rows), np.nan),
        "age_days": age,
        "on_hand": on_hand,
        "transfer_qty": bring,
    })
    rank = pd.Series(status).map({s: i for i, s in enumerate(STATUS_ORDER)}).to_numpy()
    order = np.lexsort((reg["part_number"].to_numpy(dtype=object).astype(str),
                        reg["ticket_id"].to_numpy(dtype=object).astype(str),
                        reg["opened_at"].to_numpy(), rank))
    return reg.iloc[order].reset_index(drop=True)[STOCKOUT_COLUMNS]


def read_plan_transfers(folder: str | Path) -> pd.DataFrame:
    """The transfers of a plan's output folder (``transfers/index.csv`` and the dealer files).

    Parameters
    ----------
    folder : path-like
        A folder ``partsforecast plan`` wrote.

    Returns
    -------
    DataFrame
        ``to_id``, ``part_number``, ``quantity``: every move the plan makes (the
        ``receive`` lines of the dealer files, which hold each move to a dealer once).

    Raises
    ------
    InputError
        When the folder holds no readable transfers index or a listed file lacks a column.
    """
    root = Path(folder)
    index_path = root / "transfers" / "index.csv"

    def bad(rule: str) -> InputError:
        return InputError([Problem.setting("--plan", str(folder), rule)])

    if not index_path.is_file():
        raise bad("no transfers/index.csv there: give the output folder of a plan")
    try:
        index = pd.read_csv(index_path, dtype=str, keep_default_na=False)
        names = set((root / "transfers").iterdir())
        frames = []
        for name in index.get("file", pd.Series(dtype=str)):
            path = root / "transfers" / Path(str(name)).name  # a name, never a path
            if path not in names:
                continue
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            frames.append(frame)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise bad(f"its transfer files cannot be read ({type(exc).__name__})") from None
    if "file" not in index.columns:
        raise bad("transfers/index.csv has no column 'file'")
    need = ("direction", "to_id", "part_number", "quantity")
    moves = []
    for frame in frames:
        if any(c not in frame.columns for c in need):
            raise bad("a transfer file lacks one of the columns " + ", ".join(need))
        got = frame[frame["direction"] == "receive"]
        moves.append(pd.DataFrame({"to_id": unescape_cells(got["to_id"].astype("str")),
                                   "part_number": unescape_cells(got["part_number"].astype("str")),
                                   "quantity": pd.to_numeric(got["quantity"], errors="coerce")}))
    if not moves:
        return pd.DataFrame({"to_id": pd.Series(dtype="str"), "part_number": pd.Series(dtype="str"),
                             "quantity": pd.Series(dtype="float64")})
    return pd.concat(moves, ignore_index=True)
