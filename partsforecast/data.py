"""The validated inputs: :class:`Fleet`, its readers and writers, and :class:`InputError`.

Every table of the data contract (``docs/data-contract.md``) is parsed into typed pandas columns and
checked before anything downstream sees it. All problems are collected first and raised
together as one :class:`InputError` that names the table, row, column, value and rule of
each, so a user can fix a file in one pass.
"""

from __future__ import annotations

import bisect
import gzip
import io
import os
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Mapping, MutableMapping
from typing import Any

import numpy as np
import pandas as pd

from partsforecast._io import atomic_dir, frame_to_csv_bytes, release_unused_memory, text_buffers, unescape_cells
from partsforecast._lookup import positions

__all__ = [
    "Fleet",
    "InputError",
    "Problem",
    "read_fleet",
    "read_fleet_sql",
    "TABLES",
    "TICKET_TIME_FINDINGS",
    "derive_lanes",
    "ticket_time_findings",
]

#: Tables in the order they are validated and written.
TABLES = ("machines", "tickets", "parts", "bom", "locations", "lanes", "stock", "maintenance")
_REQUIRED_TABLES = ("machines", "tickets", "parts", "bom", "locations")
#: Optional tables that mean "nothing" when absent (no stock; no service schedule).
_EMPTY_WHEN_ABSENT = ("stock", "maintenance")

# Tokens that mean "no value" in a number or date column of a CSV file.
_MISSING_TOKENS = {"", "na", "nan", "n/a", "null", "none", "nat"}
#: How a yes/no column may be written (case-insensitive).
_TRUE_TOKENS = {"yes", "y", "true", "t", "1", "1.0"}
_FALSE_TOKENS = {"no", "n", "false", "f", "0", "0.0"}


@dataclass(frozen=True)
class _Col:
    name: str
    kind: str  # "str", "date", "datetime", "float", "int", "bool"
    required: bool = True  # the column must be present and every value non-missing
    default: Any = None  # value used when an optional column is absent


# The data contract, column by column. Value rules live in ``_check_rules``.
SCHEMA: dict[str, tuple[_Col, ...]] = {
    "machines": (
        _Col("serial", "str"),
        _Col("machine_model", "str"),
        _Col("location_id", "str"),
        _Col("in_service_date", "date"),
        _Col("hours_per_day", "float", required=False),
        _Col("retired_date", "date", required=False),
    ),
    "tickets": (
        _Col("ticket_id", "str"),
        _Col("serial", "str"),
        _Col("location_id", "str"),
        _Col("opened_at", "datetime"),
        _Col("arrived_at", "datetime", required=False),  # technician on site
        _Col("parts_ready_at", "datetime", required=False),
        _Col("closed_at", "datetime", required=False),
        _Col("component", "str"),
        _Col("part_number", "str"),
        _Col("quantity", "int"),
        _Col("meter_hours", "float", required=False),
        # "repair" (a failure) or "service" (a scheduled service visit, never a failure).
        _Col("ticket_type", "str", required=False, default="repair"),
    ),
    "parts": (
        _Col("part_number", "str"),
        _Col("component", "str"),
        _Col("unit_cost", "float"),
        _Col("lead_time_days", "float"),
        _Col("supersedes", "str", required=False),
        # Whether stock of the numbers this part supersedes can be fitted in its place.
        _Col("interchangeable", "bool", required=False, default=True),
    ),
    "bom": (
        _Col("machine_model", "str"),
        _Col("component", "str"),
        _Col("part_number", "str"),
        _Col("qty_per_replacement", "int"),
    ),
    "locations": (
        _Col("location_id", "str"),
        _Col("kind", "str"),
        _Col("tier", "int", required=False),
        _Col("lat", "float", required=False),
        _Col("lon", "float", required=False),
        _Col("holding_rate", "float", required=False, default=0.25),
    ),
    "lanes": (
        _Col("from_id", "str"),
        _Col("to_id", "str"),
        _Col("lead_time_days", "float"),
        _Col("cost_per_unit", "float"),
        _Col("cost_per_shipment", "float", required=False, default=0.0),
    ),
    "stock": (
        _Col("location_id", "str"),
        _Col("part_number", "str"),
        _Col("on_hand", "int"),
        _Col("on_order", "int", required=False, default=0),
    ),
    # The maker's service schedule: parts replaced at every service interval of a model.
    "maintenance": (
        _Col("machine_model", "str"),
        _Col("part_number", "str"),
        _Col("quantity", "int"),
        _Col("interval_hours", "float"),
        _Col("interval_months", "float", required=False),
    ),
}

_KEYS = {
    "machines": ["serial"],
    "tickets": ["ticket_id", "part_number"],
    "parts": ["part_number"],
    "bom": ["machine_model", "component", "part_number"],
    "locations": ["location_id"],
    "lanes": ["from_id", "to_id"],
    "stock": ["location_id", "part_number"],
    "maintenance": ["machine_model", "part_number"],
}

# Derived lanes (used when the lanes table is omitted and every location has coordinates).
#: Roads are longer than the great circle; 1.3 is a common circuity factor for trucking.
ROAD_CIRCUITY = 1.3
#: Road kilometres a parts truck covers per day.
KM_PER_DAY = 500.0
#: Days for picking, packing and receiving, added to every lane.
HANDLING_DAYS = 1.0
#: Cost per unit moved: a fixed handling part plus a part per road kilometre.
COST_PER_UNIT_BASE = 2.0
COST_PER_UNIT_PER_KM = 0.01
#: Fixed cost of one shipment on a derived lane.
COST_PER_SHIPMENT = 40.0
#: Dealers closer than this (great-circle km) get a lane both ways between them.
DEALER_LANE_MAX_KM = 400.0
EARTH_RADIUS_KM = 6371.0088

#: Sane ranges of the numeric columns: (table, column) → (low, high, low is exclusive, unit).
#: A value outside is an input error; the bounds keep every stage finite (a lead time of
#: 1e30 days would never finish) and are far beyond any real fleet.
RANGES: dict[tuple[str, str], tuple[float, float, bool, str]] = {
    ("machines", "hours_per_day"): (0, 24, False, "hours per calendar day"),
    ("tickets", "quantity"): (0, 10_000, True, "units"),
    ("tickets", "meter_hours"): (0, 500_000, False, "operating hours"),
    ("parts", "unit_cost"): (0, 10_000_000, True, "(money)"),
    ("parts", "lead_time_days"): (0, 730, False, "days"),
    ("bom", "qty_per_replacement"): (0, 1_000, True, "units"),
    ("locations", "holding_rate"): (0, 5, False, "(annual fraction of unit cost)"),
    ("lanes", "lead_time_days"): (0, 365, False, "days"),
    ("lanes", "cost_per_unit"): (0, 1_000_000, False, "(money)"),
    ("lanes", "cost_per_shipment"): (0, 10_000_000, False, "(money)"),
    ("stock", "on_hand"): (0, 10_000_000, False, "units"),
    ("stock", "on_order"): (0, 10_000_000, False, "units"),
    ("maintenance", "quantity"): (0, 1_000, True, "units"),
    ("maintenance", "interval_hours"): (0, 100_000, True, "operating hours"),
    ("maintenance", "interval_months"): (0, 240, True, "months"),
}
#: Findings in the ticket times: (column, what is wrong) by code. They are data-quality
#: findings, not input errors: the lines are kept (the failure models read only
#: ``opened_at``), :meth:`Fleet.findings` lists them, and the service KPIs
#: (:mod:`partsforecast.service`) count them and leave them out of the times they affect.
TICKET_TIME_FINDINGS: dict[str, tuple[str, str]] = {
    "ready_missing": ("parts_ready_at", "missing on a closed ticket line: the parts wait is unknown"),
    "ready_before_opened": ("parts_ready_at", "earlier than opened_at: parts ready before the call"),
    "closed_before_opened": ("closed_at", "earlier than opened_at: closed before the call"),
    "arrived_before_opened": ("arrived_at", "earlier than opened_at: technician on site before the call"),
    "arrived_after_closed": ("arrived_at", "later than closed_at: technician on site after the close"),
}
#: Dates before this are input errors (no machine in a fleet is that old).
EARLIEST_DATE = pd.Timestamp("1950-01-01")
#: Longest text accepted in an id or name column.
MAX_TEXT_LENGTH = 100

_MAX_LISTED = 50  # problems spelled out in the message
_MAX_KEPT_PER_RULE = 200  # problems kept per (table, column, rule); the rest are counted


@dataclass(frozen=True)
class Problem:
    """One violation of the data contract.

    Attributes
    ----------
    table : str
        Table name (``"tickets"``...).
    row : int or None
        Row number as in the file, counting the header as row 1; for a DataFrame given
        directly, its index label. ``None`` when the problem concerns the whole table.
    column : str or None
        Column name, ``None`` when the problem concerns a whole row or table.
    value : str or None
        The offending value as text.
    rule : str
        The rule broken, phrased so that it says how to fix it.
    """

    table: str
    row: Any
    column: str | None
    value: str | None
    rule: str

    @classmethod
    def setting(cls, name: str, value: Any, rule: str) -> Problem:
        """A problem with a setting (a ``plan.toml`` key or a command-line flag)."""
        return cls("settings", None, name, _show(value), rule)

    def __str__(self) -> str:
        if self.table == "settings":  # a setting (plan.toml key or command-line flag)
            where = f"setting {self.column}"
            if self.value is not None:
                where += f", value {self.value!r}"
            return f"{where}: {self.rule}"
        where = self.table
        if self.row is not None:
            where += f" row {self.row}"
        if self.column is not None:
            where += f", column {self.column}"
        if self.value is not None:
            where += f", value {self.value!r}"
        return f"{where}: {self.rule}"


class InputError(ValueError):
    """The input tables break the data contract.

    Attributes
    ----------
    problems : list of Problem
        Every problem found (long runs of the same problem are truncated; ``n_problems``
        counts them all).
    n_problems : int
        Total number of problems, including those not kept in ``problems``.
    """

    def __init__(self, problems: list[Problem], n_problems: int | None = None):
        self.problems = list(problems)
        self.n_problems = len(self.problems) if n_problems is None else int(n_problems)
        super().__init__(self._message())

    def _message(self) -> str:
        n = self.n_problems
        lines = [f"{n} problem{'s' if n != 1 else ''} in the input:"]
        lines += [f"  - {p}" for p in self.problems[:_MAX_LISTED]]
        if n > _MAX_LISTED:
            lines.append(f"  ... and {n - _MAX_LISTED} more (see InputError.problems)")
        return "\n".join(lines)


def settings_from_mapping(cls, values: Mapping[str, Any], what: str = "setting"):
    """Settings dataclass ``cls`` from a mapping (a parsed TOML table): every unknown key is an
    :class:`InputError` naming the known ones; the dataclass checks the values."""
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError([Problem.setting(k, None, f"unknown {what}; known: " + ", ".join(sorted(known)))
                          for k in unknown])
    return cls(**dict(values))


class _Collector:
    """Collects problems; keeps a bounded sample per rule and counts the rest."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.n = 0
        self._kept: dict[tuple, int] = {}  # problems kept so far per (table, column, rule)

    def add(self, table, row, column, value, rule) -> None:
        self.n += 1
        self.problems.append(Problem(table, row, column, value, rule))

    def add_mask(self, table: str, frame: pd.DataFrame, mask, column: str | None, rule: str,
                 values: pd.Series | None = None) -> None:
        """Record a problem for every row where ``mask`` is true."""
        mask = np.asarray(mask, dtype=bool)
        hits = np.flatnonzero(mask)
        if hits.size == 0:
            return
        self.n += hits.size
        # At most _MAX_KEPT_PER_RULE per (table, column, rule), also over several calls (a
        # table read in chunks is checked chunk by chunk): the first rows are kept.
        key = (table, column, rule)
        kept = self._kept.get(key, 0)
        keep = hits[:max(_MAX_KEPT_PER_RULE - kept, 0)]
        self._kept[key] = kept + keep.size
        rows = frame.index[keep]
        if values is None:
            values = frame[column] if column is not None else None
        vals = [None] * keep.size if values is None else [_show(v) for v in values.iloc[keep]]
        self.problems.extend(Problem(table, r, column, v, rule) for r, v in zip(rows, vals))

    def raise_if_any(self) -> None:
        if self.n:
            # Order the listing as a reader scans files: by table order, then row.
            order = {t: i for i, t in enumerate(TABLES)}
            self.problems.sort(key=lambda p: (order.get(p.table, 99), p.row is not None,
                                              p.row if isinstance(p.row, (int, np.integer)) else 0))
            raise InputError(self.problems, self.n)


def _show(value: Any) -> str | None:
    if value is None:
        return None
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


# ---------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------

def _arrow_text(raw: pd.Series):
    """The column as an Arrow string array when pandas holds it as one (a Parquet file, a
    typed frame), else None: text rules then run in Arrow, not on Python objects."""
    if not isinstance(raw.array, pd.arrays.ArrowStringArray):
        return None
    import pyarrow as pa

    return pa.chunked_array(pa.array(raw.array))


#: Longest 'no value' token, in bytes: a longer text cannot be one (lower-casing a token's
#: letters, all ASCII, keeps its length).
_MAX_TOKEN_BYTES = max(len(t.encode()) for t in _MISSING_TOKENS)


def _trimmed_chunk(chunk):
    """:func:`_trimmed_text` of one Arrow array: (trimmed, missing mask, whether trimming
    changed anything)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    tokens = pa.array(sorted(_MISSING_TOKENS), type=chunk.type)
    offsets, data = text_buffers(chunk)
    starts, ends = offsets[:-1], offsets[1:]
    valid = np.ones(len(chunk), bool) if chunk.null_count == 0 else \
        np.asarray(chunk.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    filled = ends > starts
    # Every whitespace character (ASCII or not) begins and ends with a byte that is a
    # space or control byte (<= 0x20) or part of a multi-byte character (>= 0x80): when no
    # value begins or ends with such a byte, trimming changes nothing and is skipped.
    first = data[starts[filled]]
    last = data[ends[filled] - 1]
    if ((first <= 0x20) | (first >= 0x80) | (last <= 0x20) | (last >= 0x80)).any():
        trimmed = pc.utf8_trim_whitespace(chunk)
        token = pc.is_in(pc.utf8_lower(trimmed), value_set=tokens)
        miss = pc.or_kleene(pc.is_null(trimmed), pc.fill_null(token, True))
        return trimmed, np.asarray(miss.to_numpy(zero_copy_only=False), dtype=bool), True
    miss = ~valid
    short = np.flatnonzero(valid & (ends - starts <= _MAX_TOKEN_BYTES))  # may be a token
    if short.size:
        token = pc.is_in(pc.utf8_lower(chunk.take(pa.array(short))), value_set=tokens)
        miss[short] = np.asarray(token.to_numpy(zero_copy_only=False), dtype=bool)
    return chunk, miss, False


def _trimmed_text(arr):
    """Arrow text trimmed, the mask of values meaning 'no value' (as :func:`_missing`), and
    whether trimming changed any value. Text that needs no trimming (the usual case) is
    not copied."""
    import pyarrow as pa

    parts = [_trimmed_chunk(chunk) for chunk in arr.chunks]
    if not parts:
        return arr, np.zeros(0, bool), False
    trimmed = pa.chunked_array([t for t, _, _ in parts], type=arr.type)
    return trimmed, np.concatenate([m for _, m, _ in parts]), any(c for _, _, c in parts)


def _missing(raw: pd.Series) -> np.ndarray:
    """True where a raw value means 'no value'."""
    if raw.dtype.kind in "fiumMb":
        return raw.isna().to_numpy().copy()
    arr = _arrow_text(raw)
    if arr is not None:
        return _trimmed_text(arr)[1]
    miss = raw.isna().to_numpy().copy()
    strs = ~miss
    if strs.any():
        lowered = raw[strs].astype("str").str.strip().str.lower()
        miss[strs] = lowered.isin(_MISSING_TOKENS).to_numpy()
    return miss


def _parse(raw: pd.Series, kind: str) -> tuple[pd.Series, np.ndarray]:
    """Parse one column; return (typed values, mask of values that did not parse)."""
    arr = _arrow_text(raw) if kind == "str" else None
    if arr is not None:  # text stays in Arrow: trimmed, 'no value' tokens made missing
        import pyarrow as pa
        import pyarrow.compute as pc

        trimmed, miss, changed = _trimmed_text(arr)
        if not changed and raw.dtype == "str" and int(miss.sum()) == arr.null_count:
            return raw.copy(deep=False), np.zeros(len(raw), bool)  # nothing to change
        kept = pc.if_else(pa.chunked_array([pa.array(miss)]), pa.scalar(None, trimmed.type), trimmed)
        return pd.Series(pd.array(kept, dtype="str"), index=raw.index), np.zeros(len(raw), bool)
    miss = _missing(raw)
    if kind == "str":
        obj = raw.astype("object")
        keep = ~miss
        if raw.dtype.kind == "f":
            # 12.0 read as a float id from a DataFrame means "12".
            vals = raw[keep]
            integral = np.isfinite(vals) & (vals == np.round(vals))
            conv = vals.astype("object").where(~integral, vals[integral].astype("int64"))
            obj[keep] = conv.map(lambda v: str(v).strip())
        else:
            obj[keep] = raw[keep].astype("str").str.strip()
        obj[miss] = np.nan
        return pd.Series(obj, index=raw.index, dtype="str"), np.zeros(len(raw), bool)
    if kind in ("float", "int"):
        if raw.dtype.kind in "fiub":
            out = raw.astype("float64")
        else:
            text = raw.astype("str").str.strip().where(~miss, None)
            out = pd.to_numeric(text, errors="coerce").astype("float64")
        bad = ~miss & ~np.isfinite(out.to_numpy())
        if kind == "int":
            vals = out.to_numpy()
            with np.errstate(invalid="ignore"):
                bad |= ~miss & np.isfinite(vals) & (vals != np.round(vals))
        return out.where(~bad), bad
    if kind in ("date", "datetime"):
        if raw.dtype.kind == "M":
            out = raw
            if getattr(raw.dt, "tz", None) is not None:
                out = raw.dt.tz_convert("UTC").dt.tz_localize(None)
        else:
            text = raw.astype("str").str.strip().where(~miss, None)
            out = pd.to_datetime(text, format="ISO8601", errors="coerce")
            if getattr(out.dt, "tz", None) is not None:
                out = out.dt.tz_convert("UTC").dt.tz_localize(None)
        bad = ~miss & out.isna().to_numpy()
        # Dates past what nanoseconds hold (year 2999, year 1000) are clipped to the edge, so
        # that the date rules report them as in the future or too early, as written.
        lo, hi = pd.Timestamp("1678-01-01"), pd.Timestamp("2262-01-01")
        out = out.where(out.isna() | (out >= lo), lo).where(out.isna() | (out <= hi), hi)
        return out.astype("datetime64[ns]"), bad
    if kind == "bool":
        # 1.0 / 0.0 while validating (missing stays NaN); _finalise makes it bool.
        text = raw.astype("object").where(~miss, None).map(
            lambda v: None if v is None else str(v).strip().lower())
        out = pd.Series(np.where(text.isin(_TRUE_TOKENS), 1.0,
                                 np.where(text.isin(_FALSE_TOKENS), 0.0, np.nan)), index=raw.index)
        return out, ~miss & out.isna().to_numpy()
    raise AssertionError(kind)


def _parse_table(name: str, raw: pd.DataFrame, col: _Collector) -> pd.DataFrame | None:
    """Parse a raw table into the contract's dtypes, recording problems."""
    missing_cols = [c.name for c in SCHEMA[name] if c.required and c.name not in raw.columns]
    for c in missing_cols:
        col.add(name, None, c, None,
                f"required column is missing (columns found: {', '.join(map(str, raw.columns))})")
    if missing_cols:
        return None
    out = raw.copy()
    for spec in SCHEMA[name]:
        if spec.name not in raw.columns:
            out[spec.name] = _absent(spec, raw.index)
            continue
        values, bad = _parse(raw[spec.name], spec.kind)
        if bad.any():
            expected = {"float": "a number", "int": "a whole number",
                        "date": "an ISO 8601 date (YYYY-MM-DD)",
                        "datetime": "an ISO 8601 date-time (YYYY-MM-DD HH:MM:SS)",
                        "bool": "yes or no (also true/false, 1/0)"}[spec.kind]
            col.add_mask(name, raw, bad, spec.name, f"not {expected}")
        if spec.required:
            nulls = values.isna().to_numpy() & ~bad
            col.add_mask(name, raw, nulls, spec.name, "value is missing; this column is required")
        # Whole numbers stay float64 while validating (a bad or huge value cannot overflow
        # a cast); :func:`_finalise` gives them integer dtypes once the ranges are checked.
        if spec.default is not None:
            values = values.fillna(float(spec.default) if spec.kind == "bool" else spec.default)
        out[spec.name] = values
    # Contract columns first, extra columns kept after them.
    names = [c.name for c in SCHEMA[name]]
    return out[names + [c for c in out.columns if c not in names]]


def _finalise(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Validated table → final dtypes (required counts as int64) and a 0..n-1 index."""
    frame = frame.reset_index(drop=True)
    for spec in SCHEMA[name]:
        if spec.kind == "int":
            values = frame[spec.name].round()
            if spec.required or spec.default is not None:
                frame[spec.name] = values.astype("int64")
            else:  # optional without default (a warehouse has no tier): nullable
                frame[spec.name] = values.astype("Int64")
        elif spec.kind == "bool":
            frame[spec.name] = frame[spec.name].astype(float).fillna(float(spec.default)).astype(bool)
    return frame


def _absent(spec: _Col, index) -> pd.Series:
    if spec.kind == "str":
        return pd.Series(np.nan if spec.default is None else spec.default, index=index, dtype="str")
    if spec.kind in ("date", "datetime"):
        return pd.Series(pd.NaT, index=index, dtype="datetime64[ns]")
    return pd.Series(np.nan if spec.default is None else float(spec.default), index=index, dtype="float64")


# ---------------------------------------------------------------------------------------
# Value rules
# ---------------------------------------------------------------------------------------

def _check_rules(t: dict[str, pd.DataFrame], col: _Collector, as_of: pd.Timestamp | None,
                 lanes_given: bool, raw: dict[str, pd.DataFrame | None] | None = None) -> None:
    raw = raw or {}

    def rule(table, mask, column, text, values=None):
        if isinstance(mask, pd.Series):
            mask = mask.fillna(False).to_numpy(dtype=bool)
        if values is None and column is not None:  # show values as the user wrote them
            values = _as_written(raw, table, column)
        col.add_mask(table, t[table], mask, column, text, values)

    def dupes(table):
        keys = _KEYS[table]
        mask = _duplicated(t[table], keys)
        shown = t[table][keys].astype("object").agg("/".join, axis=1) if mask.any() else None
        col.add_mask(table, t[table], mask, "+".join(keys),
                     f"duplicate key ({', '.join(keys)}) — each must appear once; "
                     "remove or merge the repeated rows", shown)

    def ref(table, column, target, target_col, what, found=None):
        values = t[table][column]
        if found is None:  # one hash lookup in Arrow (Series.isin on Arrow strings is slow)
            found = positions(t[target][target_col].dropna(), values)
        mask = values.notna().to_numpy() & (found < 0)
        rule(table, mask, column, f"unknown {what}: not in {target}.{target_col}")

    m, tk, p, b, loc = (t[k] for k in ("machines", "tickets", "parts", "bom", "locations"))
    for table in TABLES:
        dupes(table)

    # locations
    kind_ok = loc["kind"].isin(["dealer", "warehouse"]).to_numpy()
    rule("locations", ~kind_ok & loc["kind"].notna().to_numpy(), "kind",
         "must be 'dealer' or 'warehouse'")
    n_wh = int((loc["kind"] == "warehouse").sum())
    if n_wh != 1:
        ids = ", ".join(loc.loc[loc["kind"] == "warehouse", "location_id"].astype(str))
        col.add("locations", None, "kind", ids or None,
                f"exactly one warehouse (the factory) is required, found {n_wh}"
                + ("; mark the factory's row with kind 'warehouse'" if n_wh == 0 else
                   "; keep one and make the others dealers"))
    dealer = (loc["kind"] == "dealer").to_numpy()
    tier = loc["tier"]
    bad_tier = dealer & (tier.isna().to_numpy() | ~tier.isin([1, 2, 3, 4]).fillna(False).to_numpy())
    rule("locations", bad_tier, "tier", "a dealer's market tier must be 1, 2, 3 or 4")
    rule("locations", (loc["lat"].abs() > 90).to_numpy(), "lat", "latitude must be within ±90")
    rule("locations", (loc["lon"].abs() > 180).to_numpy(), "lon", "longitude must be within ±180")
    if not dealer.any() and len(loc):
        col.add("locations", None, "kind", None,
                "no dealer: at least one location needs kind 'dealer' to plan stock for")
    _check_ranges(t, col, raw)
    _check_text(t, col)
    _check_dates(t, col, raw)

    # machines
    ref("machines", "location_id", "locations", "location_id", "location")
    rule("machines", (m["retired_date"] < m["in_service_date"]).to_numpy(), "retired_date",
         "retired before the machine entered service (retired_date < in_service_date)")
    if as_of is not None:
        rule("machines", (m["in_service_date"] > as_of).to_numpy(), "in_service_date",
             f"after the as-of date {as_of.date()}: only machines already in service belong here")

    # tickets
    machine = positions(m["serial"], tk["serial"])  # the first row of a repeated serial
    # (a serial found among the machines' is found among those not missing, and vice versa)
    ref("tickets", "serial", "machines", "serial", "machine serial", found=machine)
    ref("tickets", "location_id", "locations", "location_id", "location")
    ref("tickets", "part_number", "parts", "part_number", "part")
    # The order of opened_at, arrived_at, parts_ready_at and closed_at is not a rule: a line
    # out of order is a data-quality finding (TICKET_TIME_FINDINGS, Fleet.findings), kept.
    in_service = np.where(machine >= 0, m["in_service_date"].to_numpy("datetime64[ns]")[np.maximum(machine, 0)],
                          np.datetime64("NaT", "ns"))
    early = (tk["opened_at"].to_numpy("datetime64[ns]") < in_service) & ~np.isnat(in_service)
    rule("tickets", early, "opened_at",
         "ticket opened before its machine entered service (machines.in_service_date)")
    if as_of is not None:
        rule("tickets", (tk["opened_at"] >= as_of + pd.Timedelta(days=1)).to_numpy(), "opened_at",
             f"after the as-of date {as_of.date()}")
    if len(tk) == 0:
        col.add("tickets", None, None, None,
                "the tickets table is empty: failure models need repair history")

    kind_bad = ~tk["ticket_type"].isin(["repair", "service"]).to_numpy() & tk["ticket_type"].notna().to_numpy()
    rule("tickets", kind_bad, "ticket_type",
         "must be 'repair' (a failure) or 'service' (a scheduled service visit)")

    # parts, bom, stock, maintenance
    ref("bom", "part_number", "parts", "part_number", "part")
    ref("maintenance", "part_number", "parts", "part_number", "part")
    ref("stock", "location_id", "locations", "location_id", "location")
    ref("stock", "part_number", "parts", "part_number", "part")
    # supersession chains end: no part supersedes itself, no fork, no cycle
    from partsforecast.supersession import supersession_rules

    for mask, text in supersession_rules(p):
        rule("parts", mask, "supersedes", text)

    # lanes
    ln = t["lanes"]
    ref("lanes", "from_id", "locations", "location_id", "location")
    ref("lanes", "to_id", "locations", "location_id", "location")
    rule("lanes", (ln["from_id"] == ln["to_id"]).to_numpy(), "to_id", "a lane from a location to itself")
    if lanes_given and n_wh == 1:
        wh = loc.loc[loc["kind"] == "warehouse", "location_id"].iloc[0]
        served = set(ln.loc[ln["from_id"] == wh, "to_id"])
        orphan = dealer & ~loc["location_id"].isin(served).to_numpy()
        rule("locations", orphan, "location_id",
             f"dealer has no lane from the warehouse {wh}: add a lanes row {wh} → this dealer")


def _as_written(raw: dict[str, pd.DataFrame | None], table: str, column: str) -> pd.Series | None:
    """A column's values as the user wrote them (for messages), when the raw table has it."""
    frame = raw.get(table)
    return frame[column] if frame is not None and column in frame.columns else None


def _check_ranges(t: dict[str, pd.DataFrame], col: _Collector, raw: dict[str, pd.DataFrame | None]) -> None:
    """Every numeric column within its sane range (:data:`RANGES`)."""
    for (table, column), (low, high, open_low, unit) in RANGES.items():
        values = t[table][column].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            bad = (values <= low if open_low else values < low) | (values > high)
        lo = f"> {low:,g}" if open_low else f"≥ {low:,g}"
        col.add_mask(table, t[table], bad, column, f"must be {lo} and at most {high:,g} {unit}".rstrip(),
                     _as_written(raw, table, column))


_CONTROL = r"[\x00-\x1f\x7f]"


def _no_control_bytes(values: pd.Series) -> bool:
    """True when no value can hold a control character: none of the bytes 0x00–0x1F, 0x7F
    is in the column's Arrow data (in UTF-8 they never occur inside another character).
    False means "look row by row" (also for columns not held in Arrow)."""
    arr = _arrow_text(values)
    if arr is None:
        return False
    for chunk in arr.chunks:
        data = chunk.buffers()[2]
        if data is None:
            continue
        b = np.frombuffer(data, dtype=np.uint8)
        if b.size and (b.min() < 0x20 or (b == 0x7F).any()):  # reductions, no big temporaries
            return False
    return True


def _max_text_bytes(values: pd.Series) -> float:
    """The longest value's length in UTF-8 bytes when the column is held in Arrow, else
    infinity ("look row by row")."""
    arr = _arrow_text(values)
    if arr is None:
        return np.inf
    longest = 0
    for chunk in arr.chunks:
        offsets, _ = text_buffers(chunk)
        if offsets.size > 1:
            longest = max(longest, int(np.diff(offsets).max()))
    return longest


def _duplicated(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """True on every row whose key repeats an earlier row's (``DataFrame.duplicated``, keep
    the first; missing equals missing). Text keys held in Arrow are numbered by Arrow's
    hash (``dictionary_encode``) and the numbers' first occurrences found by sorting."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays = [_arrow_text(frame[k]) for k in keys]
    if any(a is None for a in arrays) or len(frame) == 0:
        return frame.duplicated(keys, keep="first").to_numpy()
    code = np.zeros(len(frame), np.int64)
    span = 1
    for arr in arrays:
        enc = pc.dictionary_encode(arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr)
        size = len(enc.dictionary) + 1  # the last number for a missing value
        span *= size
        if span >= 2**62:  # the numbers would overflow: pandas' own way
            return frame.duplicated(keys, keep="first").to_numpy()
        idx = np.asarray(pc.fill_null(enc.indices, size - 1).to_numpy(zero_copy_only=False), dtype=np.int64)
        code = code * size + idx
    _, first = np.unique(code, return_index=True)
    mask = np.ones(len(frame), bool)
    mask[first] = False
    return mask


def _check_text(t: dict[str, pd.DataFrame], col: _Collector) -> None:
    """Ids and names are printable text of sane length: no tab, newline, NUL or other control."""
    for table, frame in t.items():
        for spec in SCHEMA[table]:
            if spec.kind != "str":
                continue
            values = frame[spec.name]
            if _no_control_bytes(values):  # the usual case, decided on the raw bytes
                control = np.zeros(len(values), bool)
            else:
                control = values.str.contains(_CONTROL, regex=True).fillna(False).to_numpy(dtype=bool)
            col.add_mask(table, frame, control, spec.name,
                         "contains a control character (tab, line break, NUL, …): ids and names "
                         "must be printable text")
            if _max_text_bytes(values) <= MAX_TEXT_LENGTH:  # no more characters than bytes
                continue
            long = (values.str.len() > MAX_TEXT_LENGTH).fillna(False).to_numpy(dtype=bool) & ~control
            if long.any():
                col.add_mask(table, frame, long, spec.name,
                             f"longer than {MAX_TEXT_LENGTH} characters; ids and names must be shorter",
                             values.str.slice(0, 40) + "…")


def _check_dates(t: dict[str, pd.DataFrame], col: _Collector, raw: dict[str, pd.DataFrame | None]) -> None:
    """No date in the future (after tomorrow, or after the as-of date when one is given for
    tickets) and none before :data:`EARLIEST_DATE`: one wrong year must not move a plan."""
    today = pd.Timestamp.now().normalize()
    latest = today + pd.Timedelta(days=1)
    for table, frame in t.items():
        for spec in SCHEMA[table]:
            if spec.kind not in ("date", "datetime"):
                continue
            values = frame[spec.name]
            shown = _as_written(raw, table, spec.name)
            col.add_mask(table, frame, (values >= latest).to_numpy(dtype=bool), spec.name,
                         f"in the future (today is {today.date()}); correct the date", shown)
            col.add_mask(table, frame, (values < EARLIEST_DATE).to_numpy(dtype=bool), spec.name,
                         f"before {EARLIEST_DATE.date()}; correct the date", shown)


def ticket_time_findings(tickets: pd.DataFrame) -> pd.DataFrame:
    """Which ticket lines break the order of their times (:data:`TICKET_TIME_FINDINGS`).

    The call comes first (``opened_at``); the technician's arrival (``arrived_at``), the
    parts (``parts_ready_at``) and the close (``closed_at``) follow it, and the arrival
    precedes the close. A closed line without ``parts_ready_at`` has an unknown parts wait.
    A missing time is no finding by itself (an open ticket has no close yet; ``arrived_at``
    is optional).

    Parameters
    ----------
    tickets : DataFrame
        The tickets table (``Fleet.tickets``); ``arrived_at`` may be absent.

    Returns
    -------
    DataFrame
        One boolean column per finding code, in the order of :data:`TICKET_TIME_FINDINGS`,
        aligned with ``tickets``: true where the line has that finding. A line can have
        several.
    """
    opened = tickets["opened_at"].to_numpy("datetime64[ns]")
    nat = np.full(len(tickets), np.datetime64("NaT"), "datetime64[ns]")

    def col(name: str) -> np.ndarray:
        return tickets[name].to_numpy("datetime64[ns]") if name in tickets.columns else nat

    ready, closed, arrived = col("parts_ready_at"), col("closed_at"), col("arrived_at")
    # Comparisons with NaT are false, so a missing time never makes an order finding.
    masks = {
        "ready_missing": np.isnat(ready) & ~np.isnat(closed),
        "ready_before_opened": ready < opened,
        "closed_before_opened": closed < opened,
        "arrived_before_opened": arrived < opened,
        "arrived_after_closed": arrived > closed,
    }
    assert list(masks) == list(TICKET_TIME_FINDINGS)
    return pd.DataFrame(masks, index=tickets.index)


# ---------------------------------------------------------------------------------------
# Derived lanes
# ---------------------------------------------------------------------------------------

def great_circle_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km by the haversine formula (broadcasts)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


def derive_lanes(locations: pd.DataFrame) -> pd.DataFrame:
    """Lanes from coordinates: warehouse → every dealer, and dealer ↔ dealer when close.

    Road distance is the great-circle distance × :data:`ROAD_CIRCUITY`; lead time is
    :data:`HANDLING_DAYS` + road km / :data:`KM_PER_DAY`; cost per unit is
    :data:`COST_PER_UNIT_BASE` + :data:`COST_PER_UNIT_PER_KM` × road km; every shipment
    costs :data:`COST_PER_SHIPMENT`. Dealers within :data:`DEALER_LANE_MAX_KM` of each
    other get lanes both ways, so the factory can move parts between neighbours.

    Parameters
    ----------
    locations : DataFrame
        The locations table with ``location_id``, ``kind``, ``lat``, ``lon``.

    Returns
    -------
    DataFrame
        The lanes table (from_id, to_id, lead_time_days, cost_per_unit, cost_per_shipment,
        distance_km).
    """
    loc = locations.reset_index(drop=True)
    ids = loc["location_id"].to_numpy(dtype=object)
    lat, lon = loc["lat"].to_numpy(float), loc["lon"].to_numpy(float)
    km = great_circle_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    is_wh = (loc["kind"] == "warehouse").to_numpy()
    is_dealer = ~is_wh
    pair = (is_wh[:, None] & is_dealer[None, :]) | (
        is_dealer[:, None] & is_dealer[None, :] & (km <= DEALER_LANE_MAX_KM))
    np.fill_diagonal(pair, False)
    i, j = np.nonzero(pair)
    road = km[i, j] * ROAD_CIRCUITY
    lanes = pd.DataFrame({
        "from_id": pd.array(ids[i], dtype="str"),
        "to_id": pd.array(ids[j], dtype="str"),
        "lead_time_days": np.round(HANDLING_DAYS + road / KM_PER_DAY, 2),
        "cost_per_unit": np.round(COST_PER_UNIT_BASE + COST_PER_UNIT_PER_KM * road, 2),
        "cost_per_shipment": np.full(i.size, COST_PER_SHIPMENT),
        "distance_km": np.round(road, 1),
    })
    return lanes


# ---------------------------------------------------------------------------------------
# Fleet
# ---------------------------------------------------------------------------------------

class Fleet:
    """The validated input tables of one dealer network.

    Parameters
    ----------
    machines, tickets, parts, bom, locations : DataFrame
        The tables of the data contract (see the data-contract page); extra columns are kept.
    lanes : DataFrame, optional
        Transport lanes. When omitted, every location needs ``lat``/``lon`` and lanes are
        derived from great-circle distances (:func:`derive_lanes`).
    stock : DataFrame, optional
        Stock on hand and on order; omitted means nothing in stock anywhere.
    maintenance : DataFrame, optional
        The maker's service schedule: per machine model, the parts replaced at every
        ``interval_hours`` operating hours (or every ``interval_months``, whichever comes
        first). Omitted means no scheduled service demand is forecast.
    as_of : date-like, optional
        The date the data end. Inferred when omitted: the day after the latest ticket or
        in-service date (the data are taken as complete up to then).
    truth : dict of DataFrame, optional
        For generated fleets, the parameters that generated them (``truth["lifetimes"]``).

    Raises
    ------
    InputError
        When any table breaks the contract; the error lists every problem.

    Attributes
    ----------
    machines, tickets, parts, bom, locations, lanes, stock, maintenance : DataFrame
        Typed tables with a fresh 0..n-1 index; dates as ``datetime64[ns]``, identifiers as
        strings.
    as_of : Timestamp
    warehouse_id : str
    lanes_derived : bool
        True when lanes were derived from coordinates.
    """

    def __init__(
        self,
        machines: pd.DataFrame,
        tickets: pd.DataFrame,
        parts: pd.DataFrame,
        bom: pd.DataFrame,
        locations: pd.DataFrame,
        lanes: pd.DataFrame | None = None,
        stock: pd.DataFrame | None = None,
        maintenance: pd.DataFrame | None = None,
        *,
        as_of: Any = None,
        truth: dict[str, pd.DataFrame] | None = None,
    ) -> None:
        raw = {"machines": machines, "tickets": tickets, "parts": parts, "bom": bom,
               "locations": locations, "lanes": lanes, "stock": stock, "maintenance": maintenance}
        col = _Collector()
        for name in _REQUIRED_TABLES:
            if not isinstance(raw[name], pd.DataFrame):
                col.add(name, None, None, None,
                        f"table is missing (got {type(raw[name]).__name__}); pass a DataFrame")
        col.raise_if_any()
        self._build(raw, col, as_of)
        self.truth = {} if truth is None else dict(truth)

    # The constructor's work, shared with the readers (which pass frames indexed by file line).
    def _build(self, raw: dict[str, pd.DataFrame | None], col: _Collector, as_of: Any) -> None:
        lanes_given = raw["lanes"] is not None
        for name in _EMPTY_WHEN_ABSENT:
            if raw.get(name) is None:
                raw[name] = pd.DataFrame({c.name: [] for c in SCHEMA[name]})
        parsed: dict[str, pd.DataFrame | None] = {}
        for name in TABLES:
            if name == "lanes" and not lanes_given:
                continue
            parsed[name] = _parse_table(name, raw[name], col)
        self._validate(parsed, col, as_of, lanes_given, raw)

    def _validate(self, parsed: dict[str, pd.DataFrame | None], col: _Collector, as_of: Any,
                  lanes_given: bool, raw: Mapping[str, Any]) -> None:
        """The rules across tables on the parsed tables, then the fleet's attributes.
        ``raw`` gives, per table, the values as written for the messages."""
        if any(frame is None for frame in parsed.values()):
            col.raise_if_any()  # rules need every required column; bad values are NaN by now

        as_of_ts = None if as_of is None else _as_of_date(as_of)

        loc = parsed["locations"]
        if not lanes_given:
            has_xy = loc["lat"].notna() & loc["lon"].notna()
            if not has_xy.all():
                col.add_mask("locations", loc, ~has_xy.to_numpy(), "lat",
                             "no lanes table was given, so every location needs lat and lon to "
                             "derive lanes: add coordinates or provide lanes")
                col.raise_if_any()
            parsed["lanes"] = _parse_table("lanes", derive_lanes(loc), col)
        _check_rules(parsed, col, as_of_ts, lanes_given, raw)
        col.raise_if_any()

        if as_of_ts is None:
            m = parsed["machines"]
            latest = max(parsed["tickets"]["opened_at"].max(), m["in_service_date"].max(),
                         m["retired_date"].max() if m["retired_date"].notna().any() else pd.NaT)
            as_of_ts = latest.normalize() + pd.Timedelta(days=1)
        self.as_of: pd.Timestamp = as_of_ts
        self.lanes_derived = not lanes_given
        # The tickets' rows as in the input (file lines), for the findings' listing.
        self._ticket_rows = np.asarray(parsed["tickets"].index)
        for name in TABLES:
            setattr(self, name, _finalise(name, parsed[name]))
        self.warehouse_id: str = str(
            self.locations.loc[self.locations["kind"] == "warehouse", "location_id"].iloc[0])

    # -- derived views --------------------------------------------------------------------

    @property
    def dealers(self) -> pd.DataFrame:
        """The dealer rows of ``locations``."""
        return self.locations[self.locations["kind"] == "dealer"].reset_index(drop=True)

    @property
    def repairs(self) -> pd.DataFrame:
        """The ticket lines of repairs (``ticket_type`` ``"repair"``): the failures.

        Service visits (``"service"``) are parts demand but not failures: the failure models,
        the repeat-failure and response figures and the abnormal-machine test read these rows.
        """
        return self._repair_lines(self.tickets)

    def _service_mask(self) -> np.ndarray:
        return self._derived("service_mask", (self.tickets,),
                             lambda: (self.tickets["ticket_type"] == "service").to_numpy(bool))

    def ticket_machine_rows(self, repairs: bool = False) -> np.ndarray:
        """Row of :attr:`machines` of every ticket line, computed once per fleet.

        Parameters
        ----------
        repairs : bool
            The rows of :attr:`repairs` only (in their order) instead of every ticket line.

        Returns
        -------
        ndarray of int64
            Positions into ``machines`` (every ticket of a validated fleet names a machine).
        """
        from partsforecast._lookup import positions

        rows = self._derived("ticket_machine_rows", (self.machines, self.tickets),
                             lambda: positions(self.machines["serial"], self.tickets["serial"]))
        return self._repair_lines(rows) if repairs else rows

    def _repair_lines(self, values):
        """The entries of a per-ticket-line array (or frame) that belong to repair lines."""
        service = self._service_mask()
        return values[~service] if service.any() else values

    def ticket_numbers(self, repairs: bool = False) -> np.ndarray:
        """A dense integer per ``ticket_id`` for every ticket line, computed once per fleet.

        Parameters
        ----------
        repairs : bool
            The lines of :attr:`repairs` only (in their order).

        Returns
        -------
        ndarray of int64
            Equal numbers for the lines of one ticket (numbered in order of first appearance).
        """
        codes = self._derived("ticket_numbers", (self.tickets,),
                              lambda: pd.factorize(self.tickets["ticket_id"])[0].astype(np.int64))
        return self._repair_lines(codes) if repairs else codes

    def location_tiers(self, location_id) -> np.ndarray:
        """The market tier of every entry of ``location_id`` (NaN where it has none).

        Parameters
        ----------
        location_id : Series or array of str
            Location ids (a categorical is looked up once per category).

        Returns
        -------
        ndarray of float64
        """
        from partsforecast._lookup import positions

        tier = self.locations["tier"].astype("Float64").astype("float64").to_numpy()
        pos = positions(self.locations["location_id"], location_id
                        if isinstance(location_id, (pd.Series, pd.Index)) else pd.Series(location_id))
        return np.where(pos >= 0, tier[np.maximum(pos, 0)], np.nan)

    def _forget_derived(self) -> None:
        """Drop the values computed from the tables (the lives, the id lookups): a planning
        run needs them no more once its forecast is made (about 0.4 GB nationally)."""
        self.__dict__.pop("_derived_cache", None)

    def _derived(self, name: str, sources: tuple, compute):
        """A value computed from ``sources`` once and kept while they are the same objects."""
        store = self.__dict__.setdefault("_derived_cache", {})
        cached = store.get(name)
        if cached is None or any(a is not b for a, b in zip(cached[0], sources)):
            cached = (sources, compute())
            store[name] = cached
        return cached[1]

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by name."""
        return {name: getattr(self, name) for name in TABLES}

    def component_lives(self):
        """The component lives of every machine and the ages of the running components.

        :func:`partsforecast.lives.component_lives` of this fleet, computed on the first call
        and kept: the failure model and the forecasts made on one fleet share them. A fleet
        is not changed after validation (:meth:`until` makes a new one, with lives of its
        own); should one of the tables the lives come from be replaced, they are computed
        again.

        Returns
        -------
        partsforecast.lives.Lives
        """
        from partsforecast.lives import component_lives

        def compute():
            lives = component_lives(self)
            release_unused_memory()  # its work arrays
            return lives

        return self._derived("lives", (self.machines, self.tickets, self.bom, self.locations, self.as_of),
                             compute)

    def until(self, date: Any) -> Fleet:
        """The fleet as it was known on ``date``, for backtests.

        Keeps machines in service before ``date`` and tickets opened before it; facts
        learnt later (a retirement after ``date``, parts ready or closed after it) are
        blanked. Parts, BOM, locations, lanes and stock are kept as they are (the stock
        history is not part of the contract).

        Parameters
        ----------
        date : date-like
            The cut-off; becomes the new fleet's ``as_of``.

        Returns
        -------
        Fleet
        """
        cut = _as_of_date(date)
        m = self.machines[self.machines["in_service_date"] < cut].copy()
        m.loc[m["retired_date"] >= cut, "retired_date"] = pd.NaT
        before = (self.tickets["opened_at"] < cut).to_numpy()
        tk = self.tickets[before].copy()
        for c in ("arrived_at", "parts_ready_at", "closed_at"):
            if c in tk.columns:
                tk.loc[tk[c] >= cut, c] = pd.NaT
        new = object.__new__(Fleet)
        new.__dict__.update(self.__dict__)
        new.__dict__.pop("_derived_cache", None)  # the cut fleet's lives and lookups are its own
        new.machines = m.reset_index(drop=True)
        new.tickets = tk.reset_index(drop=True)
        rows = self.__dict__.get("_ticket_rows")
        new._ticket_rows = rows[before] if rows is not None and len(rows) == before.size else None
        new.as_of = cut
        if len(new.tickets) == 0:
            raise InputError([Problem("tickets", None, "opened_at", str(cut.date()),
                                      "no ticket was opened before this date; pick a later one")])
        return new

    def findings(self) -> pd.DataFrame:
        """The ticket lines whose times are out of order or incomplete: kept, and listed here.

        A line whose ``parts_ready_at`` or ``closed_at`` is earlier than its ``opened_at``,
        whose technician arrived before the call or after the close, or that was closed
        without a parts-ready time (:data:`TICKET_TIME_FINDINGS`) is a data-quality finding,
        not an input error: the failure models read only ``opened_at``, and the service KPIs
        (:func:`partsforecast.service.dealer_kpis`) count such lines and leave them out of
        the times they affect.

        Returns
        -------
        DataFrame
            One row per (line, finding), in input order: table (``tickets``), row (the line
            in the file, header = row 1, as in :class:`Problem`), ticket_id, part_number,
            location_id, column, value (the time as read, blank when missing), finding
            (the code) and rule (what is wrong).
        """
        tk = self.tickets
        masks = ticket_time_findings(tk)
        rows = self.__dict__.get("_ticket_rows")
        if rows is None or len(rows) != len(tk):
            rows = np.arange(len(tk))
        pieces = []
        for code, (column, rule) in TICKET_TIME_FINDINGS.items():
            hit = np.flatnonzero(masks[code].to_numpy())
            values = tk[column].iloc[hit] if column in tk.columns else pd.Series(pd.NaT, index=hit)
            pieces.append(pd.DataFrame({
                "table": "tickets", "row": rows[hit], "ticket_id": tk["ticket_id"].iloc[hit].array,
                "part_number": tk["part_number"].iloc[hit].array,
                "location_id": tk["location_id"].iloc[hit].array, "column": column,
                "value": values.dt.strftime("%Y-%m-%d %H:%M:%S").fillna("").to_numpy(dtype=object),
                "finding": code, "rule": rule, "_order": hit}))
        out = pd.concat(pieces, ignore_index=True).sort_values("_order", kind="stable")
        out = out.drop(columns="_order").reset_index(drop=True)
        return out.astype({c: "str" for c in ("table", "column", "value", "finding", "rule")})

    def summary(self) -> pd.DataFrame:
        """One row per table: rows, and the key facts an analyst checks first."""
        tk, m = self.tickets, self.machines
        dealers = self.dealers
        n_findings = int(ticket_time_findings(tk).any(axis=1).sum())
        facts = {
            "machines": f"{m['machine_model'].nunique()} models: "
                        + ", ".join(f"{k} {v}" for k, v in m["machine_model"].value_counts().sort_index().items()),
            "tickets": f"{tk['ticket_id'].nunique()} tickets, opened "
                       f"{tk['opened_at'].min().date()} … {tk['opened_at'].max().date()}"
                       + (f"; {n_findings} lines with times out of order or incomplete "
                          "(Fleet.findings())" if n_findings else ""),
            "parts": f"{self.parts['component'].nunique()} components",
            "bom": f"{self.bom['machine_model'].nunique()} models × "
                   f"{self.bom['component'].nunique()} components",
            "locations": f"warehouse {self.warehouse_id}; dealers by tier: "
                         + ", ".join(f"{int(k)}: {v}" for k, v in
                                     dealers["tier"].value_counts().sort_index().items()),
            "lanes": "derived from coordinates" if self.lanes_derived else "given",
            "stock": f"{int(self.stock['on_hand'].sum())} units on hand",
            "maintenance": (f"{self.maintenance['machine_model'].nunique()} models' service schedules"
                            if len(self.maintenance) else "no service schedule"),
        }
        return pd.DataFrame({"table": list(TABLES),
                             "rows": [len(getattr(self, t)) for t in TABLES],
                             "details": [facts[t] for t in TABLES]})

    def __repr__(self) -> str:
        return (f"Fleet(as_of={self.as_of.date()}, machines={len(self.machines)}, "
                f"tickets={len(self.tickets)}, parts={len(self.parts)}, "
                f"dealers={len(self.dealers)})")

    def _repr_html_(self) -> str:
        from partsforecast._display import html_card

        return html_card("Fleet", {"as of": self.as_of, "machines": len(self.machines),
                                   "dealers": len(self.dealers), "parts": len(self.parts)},
                         self.summary())

    # -- writing ----------------------------------------------------------------------------

    def to_dir(self, path: str | os.PathLike, format: str = "csv") -> Path:
        """Write the tables (and ``truth``, if any) to a folder, atomically.

        Parameters
        ----------
        path : path-like
            Target folder; replaced whole on success, untouched on failure.
        format : {"csv", "parquet"}

        Returns
        -------
        Path
            The folder written. ``read_fleet(path)`` gives back an equal fleet.
        """
        if format not in ("csv", "parquet"):
            raise ValueError(f"format must be 'csv' or 'parquet', got {format!r}")
        with atomic_dir(path) as tmp:
            for name in TABLES:
                if name == "lanes" and self.lanes_derived:
                    continue
                _write_table(getattr(self, name), tmp / f"{name}.{format}", format)
            (tmp / "as_of.txt").write_text(self.as_of.isoformat() + "\n", encoding="utf-8")
            if self.truth:
                (tmp / "truth").mkdir()
                for key, frame in self.truth.items():
                    _write_table(frame, tmp / "truth" / f"{key}.{format}", format)
        return Path(path)


def _as_of_date(value: Any) -> pd.Timestamp:
    """An as-of date from text or a date: a real day, not in the future, not absurdly early."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        ts = pd.NaT
    if pd.isna(ts):
        raise InputError([Problem("fleet", None, "as_of", _show(value),
                                  "not a date; give it as YYYY-MM-DD")])
    ts = ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts
    today = pd.Timestamp.now().normalize()
    if ts > today + pd.Timedelta(days=1):
        raise InputError([Problem("fleet", None, "as_of", _show(value),
                                  f"in the future (today is {today.date()}); plan as of a date "
                                  "the data have reached")])
    if ts < EARLIEST_DATE:
        raise InputError([Problem("fleet", None, "as_of", _show(value),
                                  f"before {EARLIEST_DATE.date()}; correct the date")])
    return ts


def _write_table(frame: pd.DataFrame, path: Path, format: str) -> None:
    if format == "csv":
        path.write_bytes(frame_to_csv_bytes(frame))
    else:
        frame.to_parquet(path, index=False)


# ---------------------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------------------

def _read_csv_checked(data: bytes, filename: str, table: str, col: _Collector) -> pd.DataFrame | None:
    """Decode (UTF-8 or report where it is not) and parse CSV bytes, every column as text."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col.add(table, line, None, repr(data[exc.start: exc.start + 4]),
                f"file {filename} is not UTF-8 (byte {exc.start}); re-save it as UTF-8")
        return None
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        col.add(table, None, None, None, f"file {filename} is not a readable CSV: {exc}")
        return None
    # Row numbers as in the file: the header is row 1.
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    # Text our writer escaped against spreadsheet formulas ('=x) reads back as written.
    for name in frame.columns:
        frame[name] = unescape_cells(frame[name])
    # Extra columns are kept; give numeric ones a number dtype, as pandas would.
    known = {c.name for c in SCHEMA[table]}
    for name in frame.columns:
        if name not in known:
            frame[name] = _infer_extra(frame[name])
    return frame


def _infer_extra(column: pd.Series) -> pd.Series:
    """A text column as int64 or float64 when every value is a number, else unchanged."""
    values = pd.to_numeric(column, errors="coerce")
    if values.notna().sum() != column.notna().sum():
        return column
    if values.notna().all() and (values == np.round(values)).all() and not column.str.contains(r"[.eE]").any():
        return values.astype("int64")
    return values.astype("float64")


def _read_table(folder: Path, table: str, col: _Collector) -> pd.DataFrame | None:
    for suffix in (".csv", ".csv.gz", ".parquet"):
        path = folder / f"{table}{suffix}"
        if path.exists():
            break
    else:
        return None
    if suffix == ".parquet":
        frame = pd.read_parquet(path)
        frame.index = pd.RangeIndex(2, len(frame) + 2)
        return frame
    data = path.read_bytes()
    if suffix == ".csv.gz":
        data = gzip.decompress(data)
    return _read_csv_checked(data, path.name, table, col)


def read_fleet(path: str | os.PathLike, as_of: Any = None) -> Fleet:
    """Read a fleet from a folder of ``<table>.csv`` (or ``.csv.gz`` / ``.parquet``) files.

    Parameters
    ----------
    path : path-like
        Folder holding machines, tickets, parts, bom, locations and optionally lanes and
        stock. A ``truth/`` sub-folder (generated fleets) becomes ``fleet.truth``, each of
        its tables read when first looked up; an ``as_of.txt`` file gives the as-of date
        unless ``as_of`` is passed.
    as_of : date-like, optional

    Returns
    -------
    Fleet

    Raises
    ------
    InputError
        Listing every problem, with row numbers as in the files (header = row 1).
    """
    folder = Path(path)
    col = _Collector()
    if not folder.is_dir():
        raise InputError([Problem("fleet", None, None, str(folder),
                                  "no such folder; give the folder holding machines.csv, tickets.csv, …")])
    raw: dict[str, pd.DataFrame | None] = {}
    for table in TABLES:
        raw[table] = _read_table(folder, table, col)
        if raw[table] is None and table in _REQUIRED_TABLES and not any(
                p.table == table for p in col.problems):
            col.add(table, None, None, str(folder / f"{table}.csv"),
                    "file is missing; every fleet needs machines, tickets, parts, bom and locations")
    col.raise_if_any()
    if as_of is None and (folder / "as_of.txt").exists():
        as_of = (folder / "as_of.txt").read_text(encoding="utf-8").strip()
    fleet = object.__new__(Fleet)
    fleet._build(raw, col, as_of)
    del raw  # the raw text tables: give their memory back before the next stage
    release_unused_memory()
    truth_dir = folder / "truth"
    files = sorted(truth_dir.iterdir()) if truth_dir.is_dir() else []
    fleet.truth = _TablesOnDemand({f.stem: f for f in files if f.suffix in (".csv", ".parquet")})
    return fleet


class _TablesOnDemand(MutableMapping):
    """Tables by name, each read from its file when first looked up: a generated fleet's
    ``truth/`` (millions of rows of simulated lives and services that a planning run never
    reads; about 2 s and a few hundred MB nationally)."""

    def __init__(self, files: dict[str, Path]) -> None:
        self._files: dict[str, Path | None] = dict(files)
        self._tables: dict[str, pd.DataFrame] = {}

    def __getitem__(self, key: str) -> pd.DataFrame:
        if key not in self._tables:
            path = self._files[key]
            self._tables[key] = _read_truth_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
        return self._tables[key]

    def __setitem__(self, key: str, value: pd.DataFrame) -> None:
        self._files[key] = None
        self._tables[key] = value

    def __delitem__(self, key: str) -> None:
        del self._files[key]
        self._tables.pop(key, None)

    def __iter__(self):
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({sorted(self._files)})"


def _read_truth_csv(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    for c in frame.columns:
        frame[c] = unescape_cells(frame[c])
        if frame[c].dtype == "str" and (c.endswith("_date") or c.endswith("_time") or c.endswith("_at")):
            frame[c] = pd.to_datetime(frame[c], format="ISO8601").astype("datetime64[ns]")
    return frame


#: Rows fetched from a database per chunk by :func:`read_fleet_sql`: each chunk is parsed
#: into the contract's types as it arrives, so the raw rows of one chunk are all that is held
#: besides the typed tables.
_SQL_CHUNK_ROWS = 100_000


def read_fleet_sql(url: str, tables: dict[str, str] | None = None, as_of: Any = None) -> Fleet:
    """Read a fleet from a SQL database through SQLAlchemy.

    Parameters
    ----------
    url : str
        A SQLAlchemy URL, e.g. ``sqlite:///fleet.db`` or
        ``postgresql+psycopg2://user:pass@host/db`` (install the ``db`` or ``postgres``
        extra).
    tables : dict, optional
        Table names in the database by contract name, e.g. ``{"tickets": "repair_lines"}``;
        contract names are the default. ``lanes`` and ``stock`` may be absent.
    as_of : date-like, optional

    Returns
    -------
    Fleet
        Validated like a folder. Rows are taken in key order (a database keeps none), and a
        problem's row is the row's position in that order (first row = 1).

    Notes
    -----
    Each table is read in chunks of rows through a server-side cursor, in the order of its
    key columns compared as text (``ORDER BY``), and every chunk is parsed into the typed
    columns as it arrives: the process holds the typed tables and one chunk of raw rows,
    never a whole table of raw values.
    """
    try:
        import sqlalchemy as sa
    except ModuleNotFoundError:  # pragma: no cover - depends on the install
        raise InputError([Problem("fleet", None, None, url, "reading a database needs SQLAlchemy: "
                                  "pip install 'partsforecast[db]'")]) from None
    names = {t: t for t in TABLES}
    names.update(tables or {})
    col = _Collector()
    try:
        engine = sa.create_engine(url)
        present = set(sa.inspect(engine).get_table_names())
    except Exception as exc:  # a bad URL or an unreachable server: say which, no traceback
        raise InputError([Problem("fleet", None, None, url, f"cannot open the database: {exc}")]) from None
    parsed: dict[str, pd.DataFrame | None] = {}
    written: dict[str, _WrittenTable | None] = {}
    for table in _REQUIRED_TABLES:
        if names[table] not in present:
            col.add(table, None, None, names[table], f"table {names[table]!r} is missing from the database")
    if col.n:
        engine.dispose()
        col.raise_if_any()
    try:
        with engine.connect() as conn:
            for table in TABLES:
                if names[table] not in present:
                    written[table] = None
                    continue
                parsed[table], written[table] = _read_sql_table(conn, names[table], table, col)
    finally:
        engine.dispose()
    lanes_given = written["lanes"] is not None
    for name in _EMPTY_WHEN_ABSENT:
        if name not in parsed:
            parsed[name] = _parse_table(name, pd.DataFrame({c.name: [] for c in SCHEMA[name]}), col)
    fleet = object.__new__(Fleet)
    fleet._validate(parsed, col, as_of, lanes_given, written)
    del parsed, written
    release_unused_memory()
    fleet.truth = {}
    return fleet


def _read_sql_table(conn, db_name: str, table: str, col: _Collector,
                    chunk_rows: int | None = None) -> tuple[pd.DataFrame | None, _WrittenTable | None]:
    """One table of a database, parsed chunk by chunk in key order.

    Returns the typed table (index 1..n: a row's position in key order), or None when a
    required column is missing, and the values as the database gave them (for messages).
    """
    import sqlalchemy as sa

    source = sa.Table(db_name, sa.MetaData(), autoload_with=conn)
    columns = [c.name for c in source.columns]
    missing = [c.name for c in SCHEMA[table] if c.required and c.name not in columns]
    for c in missing:
        col.add(table, None, c, None,
                f"required column is missing (columns found: {', '.join(map(str, columns))})")
    if missing:
        return None, None
    # The row count (to allocate the typed columns once) and which number columns hold
    # NULLs (their dtype depends on it; see _sql_dtypes).
    counted = [c for c in source.columns if isinstance(c.type, (sa.Integer, sa.Numeric, sa.Boolean))
               and not isinstance(c.type, sa.Float)]
    counts = conn.execute(sa.select(sa.func.count(), *[sa.func.count(c) for c in counted])).one()
    n = int(counts[0])
    nulls = dict.fromkeys(columns, (False, n == 0))
    nulls.update({c.name: (int(k) < n, int(k) == 0) for c, k in zip(counted, counts[1:])})
    # A database keeps no row order: take the rows in key order, the keys compared as text
    # by code point (as Python compares str; PostgreSQL's collation "C"), missing keys last,
    # so that runs repeat exactly.
    order = []
    for k in (k for k in _KEYS[table] if k in columns):
        expr = sa.cast(source.c[k], sa.Text)
        if conn.dialect.name == "postgresql":
            expr = expr.collate("C")
        order.append(expr.nulls_last())
    if conn.dialect.name == "postgresql":
        # rows of equal keys (a duplicate, an error) in the table's own order, as a plain
        # read returns them (SQLite's sort keeps that order by itself)
        order.append(sa.literal_column("ctid"))
    rows_per_chunk = int(chunk_rows or _SQL_CHUNK_ROWS)
    stmt = sa.select(source).order_by(*order).execution_options(yield_per=rows_per_chunk)
    typed_columns = _TypedColumns(n)
    written = _WrittenTable(table)
    start = 0
    result = conn.execute(stmt)
    try:
        for rows in _fetched(_partitions(result), table, db_name, lambda: start):
            # plain tuples: pandas probes each SQLAlchemy Row for attributes, at a cost
            raw = pd.DataFrame.from_records([tuple(r) for r in rows], columns=columns,
                                            coerce_float=True)
            del rows
            _sql_dtypes(raw, source, nulls)
            raw.index = pd.RangeIndex(start + 1, start + len(raw) + 1)
            typed = _parse_table(table, _as_sql_text(table, raw), col)
            written.add(start, raw, typed)
            typed_columns.add(typed)
            start += len(raw)
            del raw, typed
    finally:
        result.close()
    frame = typed_columns.frame()
    written.attach(frame)
    return frame, written


def _fetched(chunks, table: str, db_name: str, start):
    """``chunks`` as they come, a value the database driver cannot convert (a text that is
    no date in a column declared as a date, say) an ``InputError`` naming the table and
    where the chunk starts, not the driver's traceback."""
    while True:
        try:
            rows = next(chunks)
        except StopIteration:
            return
        except (ValueError, TypeError, OverflowError) as exc:
            first = start() + 1
            raise InputError([Problem(table, None, None, db_name,
                                      f"the database driver could not convert a value in the rows from "
                                      f"row {first:,} on (in key order) ({type(exc).__name__}): store dates "
                                      f"as dates or as ISO text (YYYY-MM-DD), numbers as numbers")]) from None
        yield rows


def _partitions(result):
    """The result's rows in lists of its ``yield_per`` size; one empty list for no rows."""
    any_rows = False
    for rows in result.partitions():
        any_rows = True
        yield rows
    if not any_rows:
        yield []


def _sql_dtypes(frame: pd.DataFrame, source, nulls: dict[str, tuple[bool, bool]]) -> None:
    """Give a chunk the dtypes ``pd.read_sql_table`` gives the whole table (in place).

    pandas infers a column's dtype from the values it reads: a whole number column with a
    NULL anywhere is float64, without one int64. A chunk sees only its own rows, so the
    table's NULLs (``nulls``: column → (has a NULL, is all NULL)) decide instead, and every
    chunk gets the dtype the whole table would: same values, same messages.
    """
    import sqlalchemy as sa

    for sql_col in source.columns:
        name, sqltype = sql_col.name, sql_col.type
        values = frame[name]
        has_null, all_null = nulls[name]
        chunk_null = bool(values.isna().any())
        if isinstance(sqltype, sa.Float):
            frame[name] = values.astype(float)
        elif isinstance(sqltype, (sa.DateTime, sa.Date)):  # TIMESTAMP is a DateTime
            utc = isinstance(sqltype, sa.TIMESTAMP) and bool(sqltype.timezone)
            if values.dtype.kind in "fiu":
                frame[name] = pd.to_datetime(values, errors="coerce", unit="s", utc=utc)
            elif isinstance(values.dtype, pd.DatetimeTZDtype):
                frame[name] = pd.to_datetime(values, utc=True)
            else:
                frame[name] = pd.to_datetime(values, errors="coerce", utc=utc)
        elif isinstance(sqltype, sa.String) and values.dtype == object:
            frame[name] = values.astype("str")
        elif isinstance(sqltype, (sa.Integer, sa.Boolean)) and not has_null:
            if not chunk_null:
                frame[name] = values.astype("int64" if isinstance(sqltype, sa.Integer) else bool)
        elif isinstance(sqltype, (sa.Integer, sa.Numeric)) and has_null and not all_null:
            # the whole table's numbers with NULLs among them: float64 with NaN
            if values.dtype.kind in "iu" or (values.dtype == object and values.isna().all()):
                frame[name] = values.astype("float64")


def _as_sql_text(table: str, raw: pd.DataFrame) -> pd.DataFrame:
    """A chunk as the parser takes it: contract columns as the database's Python values
    (text as str, whole numbers and reals as float64 or int64, date-times as datetime64, which
    parse as their text would), other extra text columns as str."""
    kinds = {c.name: c.kind for c in SCHEMA[table]}
    casts = {}
    for name in raw.columns:
        values, kind = raw[name], kinds.get(name)
        if kind is None:
            if values.dtype == object:
                casts[name] = "str"
        elif values.dtype == "str":
            continue
        elif kind in ("float", "int") and values.dtype in (np.int64, np.float64):
            continue
        elif kind in ("date", "datetime") and values.dtype.kind == "M":
            continue
        else:
            casts[name] = "object"
    return raw.astype(casts) if casts else raw


class _TypedColumns:
    """The typed chunks of one table, put together into one frame without a second copy:
    number and date columns are filled into arrays allocated once, text columns keep their
    chunks' Arrow arrays."""

    def __init__(self, n_rows: int) -> None:
        self.n_rows = n_rows
        self.rows = 0
        self.names: list[str] | None = None
        self.arrays: dict[str, np.ndarray] = {}
        self.pieces: dict[str, list[pd.Series]] = {}

    def add(self, typed: pd.DataFrame) -> None:
        m = len(typed)
        if self.names is None:
            self.names = list(typed.columns)
        for name in self.names:
            values = typed[name]
            if name in self.arrays or (not self.pieces.get(name) and values.dtype in (
                    np.dtype("float64"), np.dtype("datetime64[ns]"))):
                arr = self.arrays.get(name)
                if arr is None:
                    arr = self.arrays[name] = np.empty(max(self.n_rows, m), values.dtype)
                if self.rows + m > arr.size:  # the table grew since it was counted
                    arr = self.arrays[name] = np.concatenate([arr[: self.rows], np.empty(m, arr.dtype)])
                arr[self.rows: self.rows + m] = values.to_numpy(arr.dtype)
            else:
                self.pieces.setdefault(name, []).append(values.reset_index(drop=True))
        self.rows += m

    def frame(self) -> pd.DataFrame:
        cols = {}
        for name in self.names or []:
            if name in self.arrays:
                arr = self.arrays.pop(name)
                cols[name] = arr[: self.rows] if arr.size == self.rows else arr[: self.rows].copy()
            else:
                pieces = self.pieces.pop(name)
                cols[name] = pieces[0] if len(pieces) == 1 else pd.concat(pieces, ignore_index=True)
                del pieces
        frame = pd.DataFrame(cols, copy=False)
        frame.index = pd.RangeIndex(1, self.rows + 1)
        return frame


class _WrittenTable:
    """A table's values as the database gave them, for the messages of the rules that show
    a value as written (a whole number read as 5, not 5.0; text before trimming).

    Only what differs from the typed value is kept: for most columns nothing, for text the
    few cells that trimming changed. Indexed like the typed table; ``columns`` and
    ``[name]`` are what the rules use of a raw table.
    """

    def __init__(self, table: str) -> None:
        self.table = table
        self.starts: list[int] = []
        self.full: dict[str, dict[int, pd.Series]] = {}  # column → chunk → its values
        self.sparse: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}  # column → (rows, values)
        self.typed: pd.DataFrame | None = None

    @property
    def columns(self) -> set[str]:
        return set(self.full) | set(self.sparse)

    def add(self, start: int, raw: pd.DataFrame, typed: pd.DataFrame) -> None:
        chunk = len(self.starts)
        self.starts.append(start)
        for spec in SCHEMA[self.table]:
            if spec.name not in raw.columns:
                continue
            given, parsed = raw[spec.name], typed[spec.name]
            diff = _differs(given, parsed, spec.kind)
            if diff is None:  # shown differently everywhere: keep the chunk's values
                self.full.setdefault(spec.name, {})[chunk] = given.reset_index(drop=True).copy()
                continue
            hits = np.flatnonzero(diff)
            if hits.size > max(64, diff.size // 8):  # many: cheaper to keep them all
                self.full.setdefault(spec.name, {})[chunk] = given.reset_index(drop=True).copy()
            elif hits.size:
                self.sparse.setdefault(spec.name, []).append(
                    (start + hits, given.iloc[hits].to_numpy(dtype=object)))

    def attach(self, typed: pd.DataFrame) -> None:
        self.typed = typed

    def __getitem__(self, name: str) -> _WrittenColumn:
        return _WrittenColumn(self, name)


def _differs(given: pd.Series, parsed: pd.Series, kind: str) -> np.ndarray | None:
    """Where a value as the database gave it shows differently from its typed value
    (``_show``); None when that cannot be told cheaply (then every value is kept)."""
    if kind in ("float", "int") and given.dtype == np.float64:
        a, b = given.to_numpy(), parsed.to_numpy()
        with np.errstate(invalid="ignore"):
            return ~((a == b) | (np.isnan(a) & np.isnan(b)))
    if kind in ("date", "datetime") and given.dtype.kind == "M" and getattr(given.dtype, "tz", None) is None:
        a, b = given.to_numpy(), parsed.to_numpy("datetime64[ns]")
        na, nb = np.isnat(a), np.isnat(b)
        return (na != nb) | (~na & ~nb & (a != b))
    if kind == "str" and given.dtype == "str":
        na, nb = given.isna().to_numpy(), parsed.isna().to_numpy()
        same = (given == parsed).to_numpy(dtype=bool, na_value=False)
        return (na != nb) | (~na & ~nb & ~same)
    return None


class _WrittenColumn:
    """One column of a :class:`_WrittenTable`; ``.iloc[positions]`` gives its values."""

    def __init__(self, table: _WrittenTable, name: str) -> None:
        self.table, self.name = table, name

    @property
    def iloc(self) -> _WrittenColumn:
        return self

    def __getitem__(self, positions) -> list:
        t = self.table
        full = t.full.get(self.name, {})
        sparse = t.sparse.get(self.name, [])
        rows = np.concatenate([r for r, _ in sparse]) if sparse else np.zeros(0, np.int64)
        vals = np.concatenate([v for _, v in sparse]) if sparse else np.zeros(0, object)
        typed = t.typed[self.name]
        out = []
        for p in np.asarray(positions, dtype=np.int64):
            chunk = bisect.bisect_right(t.starts, p) - 1
            if chunk in full:
                out.append(full[chunk].iloc[p - t.starts[chunk]])
                continue
            j = np.searchsorted(rows, p)
            out.append(vals[j] if j < rows.size and rows[j] == p else typed.iloc[p])
        return out
