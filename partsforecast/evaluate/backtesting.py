"""Rolling-origin backtests: refit at each origin on the data known then, score what followed.

:func:`backtest` runs the intermittent-demand methods (or any ``forecaster(train_df, h)``)
on a long frame of demand series; :func:`backtest_forecast` runs the installed-base
forecast (:class:`~partsforecast.FailureModel` and
:func:`~partsforecast.forecast_demand`) on a fleet cut at each origin with
:meth:`Fleet.until <partsforecast.Fleet.until>`. Both return long frames of actuals next to
forecasts for :func:`~partsforecast.evaluate.evaluate`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from partsforecast import intermittent
from partsforecast._panel import check_h, dense_rows, positions, to_panel
from partsforecast.counts import count_law
from partsforecast.demand import DEFAULT_QUANTILES, forecast_demand
from partsforecast.reliability import FailureModel
from partsforecast.supersession import current_fleet

__all__ = ["Forecaster", "backtest", "backtest_forecast"]


# ----------------------------------------------------------------------------------------
# Intermittent-demand methods on long frames
# ----------------------------------------------------------------------------------------

Forecaster = Callable[[pd.DataFrame, int], pd.DataFrame]


def backtest(
    df: pd.DataFrame,
    h: int,
    n_windows: int = 1,
    step: int | None = None,
    forecaster: Forecaster | str | Sequence[str] = "sba",
    freq: str | int | None = None,
) -> pd.DataFrame:
    """Rolling-origin backtest: refit at each origin on the data up to it, forecast ``h``.

    The origins (cutoffs) lie on the common calendar of ``df``: the last one is ``h``
    periods before the last ``ds`` of the frame, and each earlier one ``step`` periods
    before the next. At cutoff ``c`` the forecaster receives the history up to ``c`` and
    nothing later: for every series that started by ``c``, one row per period from its
    first row to ``c`` (or to its last row, if earlier), periods without a row in ``df``
    filled with ``y = 0`` (columns ``unique_id``, ``ds``, ``y``). So a series that is
    still observed after ``c`` ends exactly at ``c``, and its forecasts cover
    ``c < ds <= c + h``. Forecast rows in that window are joined to the actuals (a period
    without a row inside a series' observed span is ``y = 0``); rows outside it, and
    periods after a series' last row (no actual to compare with), are dropped.

    Parameters
    ----------
    df : pandas.DataFrame
        Long format (``unique_id``, ``ds``, ``y``).
    h : int
        Forecast horizon (periods) at each origin.
    n_windows : int
        Number of origins.
    step : int, optional
        Periods between origins; default ``h`` (non-overlapping test windows).
    forecaster : callable, str or list of str
        ``forecaster(train_df, h) -> DataFrame`` with ``unique_id``, ``ds`` and forecast
        columns; or method name(s) of :func:`partsforecast.intermittent.forecast`.
    freq : str or int, optional
        Frequency of ``ds``; inferred when omitted.

    Returns
    -------
    pandas.DataFrame
        ``cutoff``, ``unique_id``, ``ds``, ``y`` and the forecaster's columns, sorted by
        cutoff, unique_id, ds. Feed it to :func:`evaluate` with
        ``by=["unique_id", "cutoff"]`` or ``by="unique_id"``.
    """
    h = check_h(h)
    if isinstance(n_windows, (bool, np.bool_)) or not isinstance(n_windows, (int, np.integer)) or n_windows < 1:
        raise ValueError(f"n_windows must be a positive integer; got {n_windows!r}.")
    step = h if step is None else step
    if isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(f"step must be a positive integer (periods between origins); got {step!r}.")
    if isinstance(forecaster, str) or (
        isinstance(forecaster, Sequence) and all(isinstance(m, str) for m in forecaster)
    ):
        methods = [forecaster] if isinstance(forecaster, str) else list(forecaster)
        intermittent.check_methods(methods)
        fit_freq = freq

        def forecaster(train: pd.DataFrame, hh: int) -> pd.DataFrame:  # type: ignore[no-redef]
            return intermittent.forecast(train, hh, methods=methods, freq=fit_freq)

    elif not callable(forecaster):
        raise ValueError(
            "forecaster must be a callable forecaster(train_df, h) -> DataFrame or method "
            f"name(s) of intermittent.forecast; got {type(forecaster).__name__}."
        )

    panel = to_panel(df, freq)
    T, S = panel.y.shape
    end = int(panel.last_pos.max())
    cut_pos = [end - h - step * (n_windows - 1 - w) for w in range(n_windows)]
    if cut_pos[0] < 0:
        raise ValueError(
            f"the history spans {end + 1} periods, too few for n_windows={n_windows}, "
            f"step={step}, h={h} (needs more than {h + step * (n_windows - 1)}): reduce "
            f"n_windows, step or h."
        )
    first_pos = panel.last_pos - panel.n + 1
    # Calendar position of every panel cell (row r of series i).
    cell_pos = panel.last_pos[None, :] - (T - 1 - np.arange(T))[:, None]
    live = np.arange(T)[:, None] >= panel.start[None, :]
    out_frames = []
    for cp in cut_pos:
        cutoff = panel.dates(np.array([cp]))[0]
        train = dense_rows(panel, live & (cell_pos <= cp), cell_pos, df["unique_id"].dtype)
        if len(train) == 0:
            continue
        fc = forecaster(train, h)
        if not isinstance(fc, pd.DataFrame) or not {"unique_id", "ds"} <= set(fc.columns):
            raise ValueError(
                "the forecaster must return a DataFrame with columns unique_id, ds and "
                "its forecast columns."
            )
        sid = panel.uids.get_indexer(fc["unique_id"])
        if (sid < 0).any():
            bad = fc["unique_id"].iloc[int(np.flatnonzero(sid < 0)[0])]
            raise ValueError(f"the forecaster returned unique_id {bad!r}, which is not in df.")
        pos = positions(panel, fc["ds"])
        keep = (pos > cp) & (pos <= cp + h) & (pos <= panel.last_pos[sid]) & (pos >= first_pos[sid])
        fc = fc.loc[keep].reset_index(drop=True)
        sid, pos = sid[keep], pos[keep]
        row = pos - panel.last_pos[sid] + (T - 1)
        block = pd.DataFrame({"cutoff": np.repeat(cutoff, len(fc))})
        block["unique_id"] = fc["unique_id"].to_numpy()
        block["ds"] = fc["ds"].to_numpy()
        block["y"] = panel.y[row, sid]
        for c in fc.columns:
            if c not in ("unique_id", "ds", "y", "cutoff"):
                block[c] = fc[c].to_numpy()
        out_frames.append(block)
    out = pd.concat(out_frames, ignore_index=True)
    out["unique_id"] = out["unique_id"].astype(df["unique_id"].dtype)
    return out.sort_values(["cutoff", "unique_id", "ds"], kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------------------
# The installed-base forecast on a fleet
# ----------------------------------------------------------------------------------------


def backtest_forecast(
    fleet: Any,
    cutoffs: Sequence[Any] | None = None,
    *,
    n_windows: int | None = None,
    horizon: int = 12,
    step: int | None = None,
    freq: str = "MS",
    model_factory: Callable[[Any], Any] | None = None,
    new_machines: Callable[[Any], pd.DataFrame] | None = None,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    pit: bool = False,
) -> pd.DataFrame:
    """Backtest the installed-base forecast: at each cutoff, fit and forecast on the fleet
    as it was known then, and set the demand that followed next to the forecast.

    At cutoff ``c`` the model is fitted on ``fleet.until(c)`` (machines in service and
    tickets opened before ``c``), :func:`~partsforecast.forecast_demand` forecasts the
    ``horizon`` periods from ``c``, and the actual demand of each (location_id,
    part_number, period) is the sum of ``quantity`` over the fleet's tickets opened in that
    period. Every dealer × part pair the forecast covers gets a row for every period of the
    horizon: ``y = 0`` where no ticket asked for the part, and mean, variance and
    quantiles 0 in a period the forecast left out (it lists cells with demand only).
    Demand of a pair the forecast does not cover at all (a part outside the fitted
    models' BOM lines) is not in the frame.

    Parameters
    ----------
    fleet : Fleet
        The whole history; the actuals come from its tickets. Part numbers are current
        ones (:func:`~partsforecast.supersession.current_fleet`): the lines of superseded
        numbers are the demand of the numbers that replaced them.
    cutoffs : sequence of date-like, optional
        The forecast origins. Each one's horizon must end by ``fleet.as_of`` (its actuals
        complete). Give ``cutoffs`` or ``n_windows``, not both.
    n_windows : int, optional
        Number of origins on the ``freq`` calendar instead: the last one ``horizon``
        periods before the last period start at or before ``fleet.as_of``, each earlier
        one ``step`` periods before the next. Default 1 when ``cutoffs`` is not given.
    horizon : int
        Periods forecast at each origin.
    step : int, optional
        Periods between origins with ``n_windows``; default ``horizon`` (test windows
        that do not overlap).
    freq : str
        pandas frequency of the periods, as in :func:`~partsforecast.forecast_demand`
        (``"MS"`` months, ``"QS"`` quarters, ``"W-MON"`` weeks).
    model_factory : callable, optional
        ``model_factory(past) -> fitted model`` (anything with ``params_``), called with
        the fleet as known at each cutoff; default ``FailureModel().fit(past)``, e.g.
        ``lambda past: FailureModel(pooling="shrink").fit(past)``.
    new_machines : callable, optional
        ``new_machines(past) -> DataFrame`` for ``forecast_demand``'s ``new_machines``,
        from the fleet as known at the cutoff, e.g. ``lambda past: recent_sales(past)``;
        default none (the installed base at the cutoff only).
    quantiles : sequence of float
        Quantile levels to forecast (columns ``q0.5`` ...).
    pit : bool
        Also compute ``cdf_below`` = P(D ≤ y − 1) and ``cdf_at`` = P(D ≤ y) of each actual
        under the forecast's count law (:func:`partsforecast.counts.count_law` of its mean
        and variance, the law its quantiles come from), the inputs of
        :func:`~partsforecast.evaluate.pit_coverage` and
        :func:`~partsforecast.evaluate.pit_histogram`.

    Returns
    -------
    pandas.DataFrame
        One row per (cutoff, location_id, part_number, period): ``cutoff``,
        ``location_id``, ``part_number`` (strings), ``period`` (period start), ``y`` (units
        demanded), the forecast's ``mean``, ``var`` and quantile columns, with ``pit`` the
        columns ``cdf_below`` and ``cdf_at``, and ``unique_id`` (``"location|part"``) and
        ``ds`` (= ``period``) for :func:`~partsforecast.evaluate.evaluate`. Sorted by
        cutoff, location_id, part_number, period.

    Raises
    ------
    ValueError
        If both or neither of ``cutoffs`` and ``n_windows`` are usable (bad counts, a
        horizon running past ``fleet.as_of``, repeated cutoffs), or the callables are not
        callable.

    Examples
    --------
    >>> bt = backtest_forecast(fleet, n_windows=2, horizon=6, pit=True)   # doctest: +SKIP
    >>> pit_coverage(bt["cdf_below"], bt["cdf_at"], 0.8)                  # doctest: +SKIP
    >>> evaluate(bt, metrics=["mae", "bias", "wql", "qcov"], models=["mean"],
    ...          by=["cutoff"])                                           # doctest: +SKIP
    """
    from partsforecast.data import Fleet

    if not isinstance(fleet, Fleet):
        raise TypeError(f"fleet must be a Fleet (e.g. pf.load_sample()); got {type(fleet).__name__}.")
    # Old part numbers' history is the current numbers' demand, in the fits and the actuals.
    fleet = current_fleet(fleet)
    horizon = _positive_int(horizon, "horizon", "the number of periods to forecast, e.g. 12")
    if model_factory is None:
        def model_factory(past: Any) -> Any:
            return FailureModel().fit(past)
    elif not callable(model_factory):
        raise TypeError("model_factory must be a callable model_factory(past_fleet) -> fitted model; "
                        f"got {type(model_factory).__name__}.")
    if new_machines is not None and not callable(new_machines):
        raise TypeError("new_machines must be a callable new_machines(past_fleet) -> DataFrame, so that "
                        f"each cutoff sees only its own past; got {type(new_machines).__name__}.")
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"freq {freq!r} is not a pandas frequency: use e.g. 'MS', 'QS', 'W-MON'.") from exc
    cuts = _cutoffs(fleet.as_of, cutoffs, n_windows, step, horizon, offset)
    frames = []
    for cut in cuts:
        past = fleet.until(cut)
        model = model_factory(past)
        nm = new_machines(past) if new_machines is not None else None
        fc = forecast_demand(model, past, horizon=horizon, freq=freq, quantiles=quantiles, new_machines=nm)
        periods, end = _forecast_periods(past.as_of, horizon, offset)
        block = _dense_forecast(fc, periods)
        block.insert(3, "y", _actuals(fleet.tickets, block, periods, end))
        if pit:
            # the forecast's own law (the one its quantiles come from) at the actuals
            law = count_law(block["mean"].to_numpy(float), block["var"].to_numpy(float))
            y = block["y"].to_numpy(np.int64)
            block["cdf_below"] = law.cdf(y - 1)
            block["cdf_at"] = law.cdf(y)
        block.insert(0, "cutoff", past.as_of)
        block["unique_id"] = block["location_id"] + "|" + block["part_number"]
        block["ds"] = block["period"]
        frames.append(block)
    return pd.concat(frames, ignore_index=True)


def _positive_int(value: Any, name: str, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer ({what}); got {value!r}.")
    return int(value)


def _forecast_periods(as_of: pd.Timestamp, horizon: int, offset: Any) -> tuple[pd.DatetimeIndex, pd.Timestamp]:
    """The starts of the ``horizon`` full periods a forecast made on ``as_of`` covers, and
    the end of the last (as :func:`~partsforecast.forecast_demand` lays them out)."""
    grid = pd.date_range(as_of.normalize(), periods=horizon + 2, freq=offset)
    if grid[0] < as_of:
        grid = grid[1:]
    return grid[:horizon], grid[horizon]


def _cutoffs(as_of: pd.Timestamp, cutoffs: Sequence[Any] | None, n_windows: int | None,
             step: int | None, horizon: int, offset: Any) -> list[pd.Timestamp]:
    """The forecast origins, checked: in order, distinct, each horizon ending by ``as_of``."""
    if cutoffs is not None and n_windows is not None:
        raise ValueError("give cutoffs or n_windows, not both.")
    if cutoffs is None:
        n = _positive_int(1 if n_windows is None else n_windows, "n_windows", "the number of origins")
        step = horizon if step is None else _positive_int(step, "step", "periods between origins")
        last_start = offset.rollback(as_of.normalize())
        grid = pd.date_range(end=last_start, periods=horizon + step * (n - 1) + 1, freq=offset)
        return [grid[step * w] for w in range(n)]
    if step is not None:
        raise ValueError("step spaces the origins of n_windows; with explicit cutoffs leave it out.")
    if isinstance(cutoffs, (str, pd.Timestamp)) or not isinstance(cutoffs, (Sequence, pd.Index, pd.Series, np.ndarray)):
        cutoffs = [cutoffs]
    if len(cutoffs) == 0:
        raise ValueError("cutoffs is empty: give at least one forecast origin.")
    try:
        cuts = sorted(pd.Timestamp(c) for c in cutoffs)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"cutoffs must be dates (e.g. '2025-07-01'); got {list(cutoffs)!r}.") from exc
    if any(pd.isna(c) for c in cuts):
        raise ValueError(f"cutoffs must be dates; got a missing value in {list(cutoffs)!r}.")
    if len(set(cuts)) < len(cuts):
        raise ValueError(f"cutoffs lists a date twice: {[str(c.date()) for c in cuts]}.")
    for c in cuts:
        end = _forecast_periods(c, horizon, offset)[1]
        if end > as_of:
            raise ValueError(
                f"the {horizon}-period horizon from cutoff {c.date()} runs to {end.date()}, past the "
                f"fleet's as_of {as_of.date()}: its actual demand is not all known yet. Use an "
                f"earlier cutoff or a shorter horizon.")
    return cuts


def _dense_forecast(fc: pd.DataFrame, periods: pd.DatetimeIndex) -> pd.DataFrame:
    """The forecast on every period for every (location_id, part_number) pair it has, as
    strings; 0 where it left a period out."""
    keys = ["location_id", "part_number"]
    fc = fc.astype({k: str for k in keys})
    pairs = fc[keys].drop_duplicates()
    full = pd.MultiIndex.from_arrays([np.repeat(pairs[k].to_numpy(), len(periods)) for k in keys]
                                     + [np.tile(periods, len(pairs))], names=[*keys, "period"])
    values = fc.set_index([*keys, "period"])
    dense = values.reindex(full, fill_value=0).astype(values.dtypes.to_dict())
    return dense.reset_index()


def _actuals(tickets: pd.DataFrame, cells: pd.DataFrame, periods: pd.DatetimeIndex,
             end: pd.Timestamp) -> np.ndarray:
    """Units the tickets asked for per row of ``cells`` (location_id, part_number, period)."""
    bounds = periods.append(pd.DatetimeIndex([end]))
    k = bounds.searchsorted(tickets["opened_at"], side="right") - 1
    inside = (k >= 0) & (k < len(periods))
    t = tickets.loc[inside]
    key = pd.MultiIndex.from_arrays([t["location_id"].astype(str), t["part_number"].astype(str),
                                     periods[k[inside]]])
    units = pd.Series(t["quantity"].to_numpy(np.int64), index=key).groupby(level=[0, 1, 2]).sum()
    where = pd.MultiIndex.from_frame(cells[["location_id", "part_number", "period"]])
    return units.reindex(where, fill_value=0).to_numpy(np.int64)
