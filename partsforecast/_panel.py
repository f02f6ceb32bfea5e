"""The long frame of demand series (``unique_id``, ``ds``, ``y``) and its panel form.

Shared by :mod:`partsforecast.intermittent` (which fits on the panel) and
:mod:`partsforecast.evaluate` (which scales errors by the training history and cuts
rolling-origin backtests on the panel's calendar). The names here are package-internal:
they are not part of the public API.

The panel is a right-aligned (time, series) array: column ``i`` holds series ``i`` with its
last period in the last row and zeros before its start row ``start[i]``; a series starts at
its first row in the long frame and ends at its last, periods in between without a row
being zero demand.
"""

from __future__ import annotations

from dataclasses import dataclass
import warnings
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Panel", "check_h", "dense_rows", "positions", "row_ref", "to_panel", "validate_frame"]


def row_ref(df: pd.DataFrame, pos: int) -> str:
    """Describe row ``pos`` (positional) of ``df`` for an error message."""
    row = df.iloc[pos]
    parts = [f"row index {df.index[pos]!r}"]
    for col in ("unique_id", "ds"):
        if col in df.columns:
            parts.append(f"{col}={row[col]!r}")
    return " (" + ", ".join(parts) + ")"


def check_h(h: Any) -> int:
    """``h`` as an int, or a ValueError saying it must be a positive whole number of periods."""
    if isinstance(h, (bool, np.bool_)) or not isinstance(h, (int, np.integer)) or h < 1:
        raise ValueError(
            f"h must be a positive integer (the number of future periods to forecast); "
            f"got {h!r}. Pass e.g. h=12 for a year of monthly forecasts."
        )
    return int(h)


def validate_frame(df: Any) -> None:
    """Check the long frame's columns and values; raise ValueError saying how to fix."""
    if not isinstance(df, pd.DataFrame):
        raise ValueError(
            f"df must be a pandas DataFrame in long format (unique_id, ds, y); got "
            f"{type(df).__name__}."
        )
    missing = [c for c in ("unique_id", "ds", "y") if c not in df.columns]
    if missing:
        raise ValueError(
            f"df is missing column(s) {missing}; it has {list(df.columns)}. The long format "
            f"needs unique_id (series id), ds (period) and y (demand): rename your columns, "
            f"e.g. df.rename(columns={{'part_number': 'unique_id', 'month': 'ds', "
            f"'qty': 'y'}})."
        )
    if len(df) == 0:
        raise ValueError("df has no rows: pass at least one observation per series.")
    for col in ("unique_id", "ds"):
        na = df[col].isna().to_numpy()
        if na.any():
            pos = int(np.flatnonzero(na)[0])
            raise ValueError(
                f"column {col} has {int(na.sum())} missing value(s), first at row index "
                f"{df.index[pos]!r}: every row needs a {col}; drop or fill those rows."
            )
    y = df["y"]
    if not (pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)):
        raise ValueError(
            f"column y must be numeric (demand quantities); got dtype {y.dtype}. Convert "
            f"it, e.g. df['y'] = pd.to_numeric(df['y'])."
        )
    yv = y.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(yv)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"column y has {int(bad.sum())} missing or infinite value(s), first "
            f"{yv[pos]!r}{row_ref(df, pos)}: a period without recorded demand is y=0, "
            f"so fill with df['y'] = df['y'].fillna(0), or drop the rows."
        )
    neg = yv < 0
    if neg.any():
        pos = int(np.flatnonzero(neg)[0])
        raise ValueError(
            f"column y has {int(neg.sum())} negative value(s), first {yv[pos]!r}"
            f"{row_ref(df, pos)}: demand must be >= 0. Book returns separately, or "
            f"clip with df['y'] = df['y'].clip(lower=0)."
        )
    ds = df["ds"]
    if not (
        pd.api.types.is_datetime64_any_dtype(ds)
        or (pd.api.types.is_integer_dtype(ds) and not pd.api.types.is_bool_dtype(ds))
    ):
        raise ValueError(
            f"column ds must hold datetimes or integer period numbers; got dtype "
            f"{ds.dtype}. Convert it, e.g. df['ds'] = pd.to_datetime(df['ds'])."
        )
    if isinstance(ds.dtype, pd.DatetimeTZDtype):
        raise ValueError(
            "column ds is timezone-aware: drop the timezone with "
            "df['ds'] = df['ds'].dt.tz_localize(None)."
        )


@dataclass
class Panel:
    """A validated long frame as a right-aligned (time, series) array.

    Attributes
    ----------
    y : ndarray, shape (T, S)
        Demand; column ``i`` holds series ``i`` in rows ``start[i]..T-1``, zeros above.
    start : ndarray of int, shape (S,)
        First row of each series.
    uids : pandas.Index
        Series ids, sorted; position ``i`` is column ``i``.
    last_pos : ndarray of int, shape (S,)
        Position of each series' last period on the calendar ``grid``.
    grid_start, freq, is_datetime :
        The calendar: ``ds`` of position ``k`` is ``grid_start + k * freq``.
    """

    y: np.ndarray
    start: np.ndarray
    uids: pd.Index
    last_pos: np.ndarray
    grid_start: Any
    freq: Any
    is_datetime: bool

    @property
    def n(self) -> np.ndarray:
        """Number of periods of each series."""
        return self.y.shape[0] - self.start

    def dates(self, pos: np.ndarray) -> Any:
        """Calendar ``ds`` values at integer grid positions ``pos`` (1-D)."""
        pos = np.asarray(pos, dtype=np.int64)
        if not self.is_datetime:
            return self.grid_start + pos * self.freq
        top = int(pos.max()) + 1 if pos.size else 1
        grid = pd.date_range(self.grid_start, periods=top, freq=self.freq,
                             unit=self.grid_start.unit)
        return grid[pos]

    def future_ds(self, h: int) -> Any:
        """``ds`` of the ``h`` periods after each series' end, series-major, (S*h,)."""
        pos = (self.last_pos[:, None] + np.arange(1, h + 1)[None, :]).ravel()
        return self.dates(pos)


def to_panel(df: pd.DataFrame, freq: Any = None) -> Panel:
    """Validate ``df`` and turn it into a :class:`Panel` (see module docs)."""
    validate_frame(df)
    uid_codes, uids = pd.factorize(df["unique_id"], sort=True)
    ds_codes, ds_uniques = pd.factorize(df["ds"], sort=True)
    n_series = len(uids)

    if pd.api.types.is_datetime64_any_dtype(df["ds"]):
        is_dt = True
        uniq = pd.DatetimeIndex(ds_uniques)
        if freq is None:
            inferred = None
            if len(uniq) >= 3:
                with warnings.catch_warnings():
                    # pandas 3 warns that infer_freq will return an offset; both work below.
                    warnings.simplefilter("ignore")
                    inferred = pd.infer_freq(uniq)
            if inferred is None and len(uniq) >= 3:
                # Holes in the union calendar defeat infer_freq; the smallest gap between
                # consecutive dates usually reveals the step (e.g. 28-31 days -> monthly).
                inferred = _infer_from_gaps(uniq)
            if inferred is None:
                raise ValueError(
                    "could not infer the frequency of ds from its "
                    f"{len(uniq)} distinct date(s): pass freq explicitly, e.g. "
                    "freq='MS' for month starts, 'ME' for month ends, 'W-MON' for weeks."
                )
            freq = inferred
        try:
            off = pd.tseries.frequencies.to_offset(freq)
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"freq {freq!r} is not a pandas frequency: use e.g. 'MS', 'ME', 'W-MON', 'D'."
            ) from exc
        grid = pd.date_range(uniq[0], uniq[-1], freq=off, unit=uniq.unit)
        uniq_pos = grid.get_indexer(uniq)
        if len(grid) == 0 or grid[0] != uniq[0]:
            uniq_pos = np.full(len(uniq), -1)
        if (uniq_pos < 0).any():
            bad = uniq[int(np.flatnonzero(uniq_pos < 0)[0])]
            rows = np.flatnonzero(ds_codes == int(np.flatnonzero(uniq_pos < 0)[0]))
            raise ValueError(
                f"ds value {bad} does not lie on the {off.freqstr!r} calendar that starts at "
                f"{uniq[0]}{row_ref(df, int(rows[0]))}: give all dates on one regular "
                f"calendar (e.g. month starts: df['ds'] = df['ds'].dt.to_period('M')"
                f".dt.to_timestamp()) or pass the matching freq."
            )
        grid_start = grid[0]
    else:
        is_dt = False
        uniq = np.asarray(ds_uniques, dtype=np.int64)
        if freq is None:
            freq = 1
        if isinstance(freq, (bool, np.bool_)) or not isinstance(freq, (int, np.integer)) or freq < 1:
            raise ValueError(
                f"ds holds integers, so freq must be a positive integer step; got {freq!r}."
            )
        freq = int(freq)
        off_ = uniq - uniq[0]
        if (off_ % freq != 0).any():
            k = int(np.flatnonzero(off_ % freq != 0)[0])
            rows = np.flatnonzero(ds_codes == k)
            raise ValueError(
                f"ds value {uniq[k]} is not a multiple of freq={freq} from {uniq[0]}"
                f"{row_ref(df, int(rows[0]))}: pass the right freq or fix the periods."
            )
        uniq_pos = off_ // freq
        grid_start = int(uniq[0])

    pos = np.asarray(uniq_pos, dtype=np.int64)[ds_codes]
    first = np.full(n_series, np.iinfo(np.int64).max, dtype=np.int64)
    last = np.full(n_series, -1, dtype=np.int64)
    np.minimum.at(first, uid_codes, pos)
    np.maximum.at(last, uid_codes, pos)
    n = last - first + 1
    T = int(n.max())
    start = T - n
    row = pos - last[uid_codes] + (T - 1)
    key = row * n_series + uid_codes
    counts = np.bincount(key, minlength=T * n_series)
    if counts.max() > 1:
        dup = np.flatnonzero(counts[key] > 1)
        raise ValueError(
            f"df has {dup.size} rows that share a (unique_id, ds) pair with another row, "
            f"first{row_ref(df, int(dup[0]))}: give one row per series and period, e.g. "
            f"df = df.groupby(['unique_id', 'ds'], as_index=False)['y'].sum()."
        )
    y = np.zeros(T * n_series, dtype=np.float64)
    y[key] = df["y"].to_numpy(dtype=np.float64)
    return Panel(
        y=y.reshape(T, n_series),
        start=start,
        uids=pd.Index(uids),
        last_pos=last,
        grid_start=grid_start,
        freq=freq if not is_dt else pd.tseries.frequencies.to_offset(freq),
        is_datetime=is_dt,
    )


def _infer_from_gaps(uniq: pd.DatetimeIndex) -> str | None:
    """Guess the frequency from the smallest run of consecutive dates without holes."""
    gaps = np.diff(uniq.asi8) / (np.timedelta64(1, "D") / np.timedelta64(1, uniq.unit))
    small = gaps.min()
    for cand, lo, hi in (("D", 1, 1), ("W", 7, 7), ("MS", 28, 31), ("QS", 89, 92), ("YS", 365, 366)):
        if lo <= small <= hi:
            if cand in ("MS", "QS", "YS"):
                if (uniq.day == 1).all():
                    return cand
                if uniq.is_month_end.all():
                    return cand.replace("S", "E")
                return None
            if cand == "W":
                return "W-" + uniq[0].day_name()[:3].upper()
            return cand
    return None


def dense_rows(panel: Panel, mask: np.ndarray, cell_pos: np.ndarray, uid_dtype: Any) -> pd.DataFrame:
    """Long frame (unique_id, ds, y) of the panel cells in ``mask``, zeros included."""
    sid, r = np.nonzero(mask.T)  # series-major, then time: sorted like forecast() input
    return pd.DataFrame({
        "unique_id": panel.uids.take(sid).astype(uid_dtype),
        "ds": panel.dates(cell_pos[r, sid]),
        "y": panel.y[r, sid],
    })


def positions(panel: Panel, ds: pd.Series) -> np.ndarray:
    """Calendar positions of ``ds`` values on the panel's grid (-1 if off the grid)."""
    if panel.is_datetime:
        vals = pd.DatetimeIndex(ds)
        grid = pd.date_range(panel.grid_start, max(vals.max(), panel.grid_start), freq=panel.freq)
        pos = grid.get_indexer(vals)
        if (pos < 0).any():
            bad = vals[int(np.flatnonzero(pos < 0)[0])]
            raise ValueError(f"the forecaster returned ds {bad}, which is not on the calendar of df.")
        return pos.astype(np.int64)
    off = np.asarray(ds, dtype=np.int64) - panel.grid_start
    return off // panel.freq
