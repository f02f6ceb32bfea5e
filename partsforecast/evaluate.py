"""Forecast evaluation: accuracy metrics, rolling-origin backtests (and, later, plan
simulation).

Metrics are plain functions over arrays (the last axis is time; leading axes are series,
so a (series, horizon) array gives one value per series) and, through :func:`evaluate`,
over long DataFrames grouped per series. Conventions:

* the forecast error is ``e = yhat - y`` (forecast minus actual) in :func:`bias` and
  :func:`periods_in_stock`, so a positive value means over-forecasting (stock piling up);
  the absolute and squared metrics do not depend on the sign;
* scaled metrics (:func:`mase`, :func:`rmsse`) divide by the in-sample error of the
  (seasonal) naive forecast on the training history; NaN entries of ``y_train`` (padding
  of ragged series) are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from partsforecast import intermittent
from partsforecast.intermittent import _check_h, _to_panel

__all__ = [
    "backtest",
    "bias",
    "evaluate",
    "interval_coverage",
    "mae",
    "mase",
    "periods_in_stock",
    "rmse",
    "rmsse",
    "weighted_quantile_loss",
]


# ----------------------------------------------------------------------------------------
# Array metrics
# ----------------------------------------------------------------------------------------


def _arrays(*arrs: Any) -> list[np.ndarray]:
    out = [np.asarray(a, dtype=np.float64) for a in arrs]
    shape = np.broadcast_shapes(*(a.shape for a in out))
    if len(shape) == 0:
        raise ValueError("metrics need arrays with a time axis, not scalars.")
    return out


def _naive_scale(y_train: Any, seasonality: int, power: int) -> np.ndarray:
    """Mean of ``|y_t - y_{t-m}|**power`` over the training history (last axis)."""
    if not isinstance(seasonality, (int, np.integer)) or seasonality < 1:
        raise ValueError(f"seasonality must be a positive integer; got {seasonality!r}.")
    yt = np.asarray(y_train, dtype=np.float64)
    if yt.shape[-1] <= seasonality:
        raise ValueError(
            f"y_train needs more than seasonality={seasonality} values to scale the "
            f"errors; got {yt.shape[-1]}: pass a longer training history."
        )
    d = np.abs(yt[..., seasonality:] - yt[..., :-seasonality]) ** power
    with np.errstate(invalid="ignore"):
        return np.nanmean(d, axis=-1) if np.isnan(d).any() else d.mean(axis=-1)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray | float:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.true_divide(num, den)
    return out if np.ndim(out) else float(out)


def mae(y: Any, yhat: Any) -> np.ndarray | float:
    """Mean absolute error ``mean |yhat - y|`` over the last axis."""
    y, yhat = _arrays(y, yhat)
    r = np.mean(np.abs(yhat - y), axis=-1)
    return r if np.ndim(r) else float(r)


def rmse(y: Any, yhat: Any) -> np.ndarray | float:
    """Root mean squared error over the last axis."""
    y, yhat = _arrays(y, yhat)
    r = np.sqrt(np.mean((yhat - y) ** 2, axis=-1))
    return r if np.ndim(r) else float(r)


def mase(y: Any, yhat: Any, y_train: Any, seasonality: int = 1) -> np.ndarray | float:
    """Mean absolute scaled error (Hyndman & Koehler 2006).

    ``MASE = mean_t |y_t - yhat_t| / mean_{t>m} |y_t - y_{t-m}|``, the denominator over the
    training history ``y_train`` with seasonal period ``m`` (1: the naive forecast).

    Parameters
    ----------
    y, yhat : array_like
        Actuals and forecasts over the evaluation periods (last axis).
    y_train : array_like
        Training history (last axis); NaN entries are ignored.
    seasonality : int
        Seasonal period ``m`` of the naive scale.

    Returns
    -------
    float or ndarray
        One value per series. ``inf`` when the history is constant (zero scale) and the
        forecast is wrong; NaN when both are zero.
    """
    y, yhat = _arrays(y, yhat)
    return _ratio(np.mean(np.abs(yhat - y), axis=-1), _naive_scale(y_train, seasonality, 1))


def rmsse(y: Any, yhat: Any, y_train: Any, seasonality: int = 1) -> np.ndarray | float:
    """Root mean squared scaled error (M5 competition guidelines).

    ``RMSSE = sqrt( mean_t (y_t - yhat_t)^2 / mean_{t>m} (y_t - y_{t-m})^2 )``; the M5
    computes the denominator from the first non-zero demand of the series on, so pass
    ``y_train`` from there to reproduce it exactly.

    Parameters
    ----------
    y, yhat, y_train, seasonality
        As for :func:`mase`.

    Returns
    -------
    float or ndarray
        One value per series; ``inf``/NaN for a zero scale as in :func:`mase`.
    """
    y, yhat = _arrays(y, yhat)
    r = _ratio(np.mean((yhat - y) ** 2, axis=-1), _naive_scale(y_train, seasonality, 2))
    return np.sqrt(r)


def bias(y: Any, yhat: Any, relative: bool = False) -> np.ndarray | float:
    """Forecast bias: mean of ``yhat - y`` (positive = over-forecast).

    This is minus the "mean error" ``ME = mean(y - yhat)`` of Hyndman & Koehler (2006).

    Parameters
    ----------
    y, yhat : array_like
        Actuals and forecasts (last axis is time).
    relative : bool
        If True, return ``sum(yhat - y) / sum(y)`` instead (the bias as a share of actual
        demand; ``inf``/NaN when there was no demand).

    Returns
    -------
    float or ndarray
        One value per series.
    """
    y, yhat = _arrays(y, yhat)
    if relative:
        return _ratio(np.sum(yhat - y, axis=-1), np.sum(y, axis=-1))
    r = np.mean(yhat - y, axis=-1)
    return r if np.ndim(r) else float(r)


def _pinball(y: np.ndarray, q: np.ndarray, level: float) -> np.ndarray:
    """Pinball loss ``max(level (y - q), (level - 1)(y - q))`` elementwise."""
    d = y - q
    return np.maximum(level * d, (level - 1.0) * d)


def weighted_quantile_loss(
    y: Any, q_preds: Mapping[float, Any], per_level: bool = False
) -> np.ndarray | float | dict[float, np.ndarray | float]:
    """Weighted (scaled) quantile loss as in GluonTS ``mean_wQuantileLoss``.

    For each level ``tau``: ``wQL_tau = 2 * sum_t pinball_tau(y_t, q_t) / sum_t |y_t|``, with
    ``pinball_tau(y, q) = tau (y - q)`` if ``y >= q`` else ``(1 - tau)(q - y)``; the result
    is the mean of ``wQL_tau`` over the levels.

    Parameters
    ----------
    y : array_like
        Actuals (last axis is time).
    q_preds : dict
        ``{tau: quantile forecasts}`` with ``0 < tau < 1``, each shaped like ``y``.
    per_level : bool
        Return ``{tau: wQL_tau}`` instead of the mean.

    Returns
    -------
    float, ndarray or dict
        Per series; ``inf``/NaN when ``sum |y| = 0``.
    """
    if not q_preds:
        raise ValueError("q_preds is empty: pass {level: quantile forecasts}.")
    (y,) = _arrays(y)
    denom = np.sum(np.abs(y), axis=-1)
    out: dict[float, Any] = {}
    for level, q in q_preds.items():
        if not 0 < float(level) < 1:
            raise ValueError(f"quantile levels must be in (0, 1); got {level!r}.")
        (q,) = _arrays(q)
        out[float(level)] = _ratio(2.0 * np.sum(_pinball(y, q, float(level)), axis=-1), denom)
    if per_level:
        return out
    r = np.mean(np.stack([np.asarray(v) for v in out.values()]), axis=0)
    return r if np.ndim(r) else float(r)


def interval_coverage(y: Any, lo: Any, hi: Any) -> np.ndarray | float:
    """Share of actuals inside their interval, ``lo <= y <= hi`` (bounds included)."""
    y, lo, hi = _arrays(y, lo, hi)
    r = np.mean((y >= lo) & (y <= hi), axis=-1)
    return r if np.ndim(r) else float(r)


def periods_in_stock(y: Any, yhat: Any, scale: Any = None) -> np.ndarray | float:
    """Periods in stock, PIS (Wallström & Segerstedt 2010).

    ``PIS = sum_{t=1..n} sum_{i=1..t} (yhat_i - y_i)``: if every period the forecast is
    replenished and the demand withdrawn, the inner sum is the stock left at the end of
    period ``t`` (negative: backlog), and PIS adds these up over the horizon -- the
    unit-periods of stock carried. Positive means over-forecasting (stock held), negative
    under-forecasting (shortages). Equal to ``-sum_t CFE_t`` with the cumulated forecast
    error ``CFE_t = sum_{i<=t} (y_i - yhat_i)``.

    Parameters
    ----------
    y, yhat : array_like
        Actuals and forecasts (last axis is time, in order).
    scale : array_like, optional
        Divide by this (per series), e.g. the mean training demand, for the scaled sPIS.

    Returns
    -------
    float or ndarray
        One value per series.
    """
    y, yhat = _arrays(y, yhat)
    r = np.sum(np.cumsum(yhat - y, axis=-1), axis=-1)
    if scale is not None:
        return _ratio(r, np.asarray(scale, dtype=np.float64))
    return r if np.ndim(r) else float(r)


# ----------------------------------------------------------------------------------------
# Long-format evaluation
# ----------------------------------------------------------------------------------------

_POINT_METRICS = ("mae", "rmse", "mase", "rmsse", "bias", "relative_bias", "pis", "spis")
_DIST_METRICS = ("wql", "coverage", "qcov")
_SCALED = ("mase", "rmsse", "spis")
_RESERVED = {"unique_id", "ds", "y", "cutoff", "var", "dispersion", "lead_time"}
_Q_RE = re.compile(r"^(?:(?P<model>.+)-)?q(?P<level>0?\.\d+|\d+\.\d+|\d+(?:e-?\d+)?)$")
_LOHI_RE = re.compile(r"^(?:(?P<model>.+)-)?(?P<side>lo|hi)-(?P<level>\d+(?:\.\d+)?)$")


def _distribution_columns(columns: Sequence[str]) -> tuple[dict, dict]:
    """Quantile and interval columns per model.

    ``{model}-q{tau}`` / ``q{tau}`` and ``{model}-lo-{L}`` + ``{model}-hi-{L}`` (statsforecast
    style) / ``lo-{L}`` + ``hi-{L}``; columns without a model prefix (the layout of
    :func:`partsforecast.intermittent.forecast_distribution`) belong to the model ``mean``.
    """
    quant: dict[str, dict[float, str]] = {}
    lohi: dict[str, dict[str, dict[str, str]]] = {}
    for c in columns:
        m = _Q_RE.match(str(c))
        if m:
            lvl = float(m["level"])
            if 0 < lvl < 1:
                quant.setdefault(m["model"] or "mean", {})[lvl] = c
            continue
        m = _LOHI_RE.match(str(c))
        if m:
            lohi.setdefault(m["model"] or "mean", {}).setdefault(m["level"], {})[m["side"]] = c
    intervals = {
        model: {lvl: (d["lo"], d["hi"]) for lvl, d in levels.items() if len(d) == 2}
        for model, levels in lohi.items()
    }
    return quant, {k: v for k, v in intervals.items() if v}


def _train_scales(train_df: pd.DataFrame, freq: Any, seasonality: int) -> pd.DataFrame:
    """Per-series naive scales (abs and squared) and mean demand of the training history.

    The history is densified first (missing periods inside a series are zero demand), so
    the naive differences are between consecutive calendar periods.
    """
    panel = _to_panel(train_df, freq)
    y, start = panel.y, panel.start
    m = seasonality
    T = y.shape[0]
    rows = np.arange(m, T)[:, None]
    ok = rows >= (start[None, :] + m)
    d = np.where(ok, y[m:] - y[:-m], 0.0)
    cnt = ok.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        s1 = np.where(cnt > 0, np.abs(d).sum(axis=0) / cnt, np.nan)
        s2 = np.where(cnt > 0, (d * d).sum(axis=0) / cnt, np.nan)
        ybar = y.sum(axis=0) / panel.n
    return pd.DataFrame({"_scale1": s1, "_scale2": s2, "_ybar": ybar}, index=panel.uids)


def evaluate(
    df: pd.DataFrame,
    train_df: pd.DataFrame | None = None,
    metrics: Sequence[str] = ("mase", "rmsse", "bias"),
    models: Sequence[str] | None = None,
    by: str | Sequence[str] = "unique_id",
    seasonality: int = 1,
    freq: str | int | None = None,
) -> pd.DataFrame:
    """Metrics per series (or per any grouping) from a long frame of actuals and forecasts.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per evaluated (series, period): ``unique_id``, ``ds``, ``y`` and one column
        per model with its point forecast; optionally quantile columns ``{model}-q{tau}``
        (or ``q{tau}`` for the model ``mean``, as :func:`~partsforecast.intermittent.
        forecast_distribution` writes them) and interval columns ``{model}-lo-{L}`` /
        ``{model}-hi-{L}``. Extra grouping columns such as ``cutoff`` (from
        :func:`backtest`) may be present.
    train_df : pandas.DataFrame, optional
        Training history in long format (``unique_id``, ``ds``, ``y``); needed for
        ``mase``, ``rmsse`` and ``spis``. Missing periods inside a series count as zero.
    metrics : sequence of str
        Among ``mae``, ``rmse``, ``mase``, ``rmsse``, ``bias`` (mean ``yhat - y``),
        ``relative_bias`` (``sum(yhat - y) / sum(y)``), ``pis`` (:func:`periods_in_stock`),
        ``spis`` (PIS / mean training demand), ``wql`` (:func:`weighted_quantile_loss`),
        ``coverage`` (one row ``coverage-{L}`` per interval level) and ``qcov`` (one row
        ``qcov-{tau}`` per quantile: share of ``y <= q_tau``, ideally ``tau``).
    models : sequence of str, optional
        Point-forecast columns to score; default: every column that is not ``unique_id``,
        ``ds``, ``y``, ``cutoff``, ``var``, ``dispersion``, ``lead_time``, a grouping
        column, or a quantile / interval column.
    by : str or sequence of str
        Grouping columns (default ``"unique_id"``; e.g. ``["unique_id", "cutoff"]`` for a
        backtest). Scaled metrics need ``unique_id`` among them.
    seasonality : int
        Seasonal period of the naive scale for ``mase`` / ``rmsse``.
    freq : str or int, optional
        Frequency of ``train_df.ds``; inferred when omitted.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by``, ``metric`` and one per model; one row per group and metric.
        A model without the columns a metric needs (e.g. no quantiles for ``wql``) gets NaN.
    """
    by_cols = [by] if isinstance(by, str) else list(by)
    for c in ("unique_id", "ds", "y", *by_cols):
        if c not in df.columns:
            raise ValueError(
                f"df is missing column {c!r}; it has {list(df.columns)}: evaluate needs "
                f"unique_id, ds, y, the forecast columns and the 'by' columns."
            )
    metrics = list(metrics)
    for m in metrics:
        if m not in _POINT_METRICS + _DIST_METRICS:
            raise ValueError(
                f"unknown metric {m!r}: choose from {list(_POINT_METRICS + _DIST_METRICS)}."
            )
    quant, intervals = _distribution_columns(df.columns)
    dist_cols = {c for d in quant.values() for c in d.values()} | {
        c for d in intervals.values() for pair in d.values() for c in pair
    }
    if models is None:
        models = [
            c for c in df.columns
            if c not in _RESERVED and c not in by_cols and c not in dist_cols
            and pd.api.types.is_numeric_dtype(df[c])
        ]
    models = list(models)
    for c in models:
        if c not in df.columns:
            raise ValueError(f"model column {c!r} is not in df; it has {list(df.columns)}.")
    all_models = list(dict.fromkeys([*models, *quant, *intervals]))
    if any(m in _SCALED for m in metrics):
        if train_df is None:
            raise ValueError(
                "mase, rmsse and spis scale by the training history: pass train_df "
                "(the long frame the forecasts were fitted on)."
            )
        if "unique_id" not in by_cols:
            raise ValueError(
                f"mase, rmsse and spis are per series: include 'unique_id' in by (got {by_cols})."
            )
    yv = pd.to_numeric(df["y"]).to_numpy(dtype=np.float64)
    if np.isnan(yv).any():
        raise ValueError("df.y has missing values: evaluate only periods with known actuals.")

    # Sort once so cumulative sums (PIS) run in time order within each group.
    work = df.sort_values([*by_cols, "ds"], kind="stable").reset_index(drop=True)
    y = work["y"].to_numpy(dtype=np.float64)
    keys = work[by_cols]
    grouper = [work[c] for c in by_cols]
    first = work.groupby(grouper, sort=True, observed=True).head(1).index
    groups = keys.loc[first].reset_index(drop=True)
    gsum = lambda a: pd.Series(a).groupby(grouper, sort=True, observed=True).sum().to_numpy()  # noqa: E731
    n = gsum(np.ones_like(y))
    sum_y = gsum(y)
    sum_abs_y = gsum(np.abs(y))

    scales = None
    if train_df is not None and any(m in _SCALED for m in metrics):
        scales = _train_scales(train_df, freq, seasonality).reindex(groups["unique_id"])
        if scales["_ybar"].isna().any():
            miss = groups["unique_id"][scales["_ybar"].isna().to_numpy()].iloc[0]
            raise ValueError(
                f"unique_id {miss!r} is in df but not in train_df: scaled metrics need "
                f"each series' training history."
            )

    rows: list[pd.DataFrame] = []

    def emit(name: str, values: dict[str, np.ndarray]) -> None:
        block = groups.copy()
        block["metric"] = name
        for m in all_models:
            block[m] = values.get(m, np.full(len(groups), np.nan))
        rows.append(block)

    with np.errstate(divide="ignore", invalid="ignore"):
        point: dict[str, dict[str, np.ndarray]] = {m: {} for m in _POINT_METRICS}
        for model in models:
            e = work[model].to_numpy(dtype=np.float64) - y
            if any(m in metrics for m in ("mae", "mase")):
                s_abs = gsum(np.abs(e)) / n
                point["mae"][model] = s_abs
                if scales is not None:
                    point["mase"][model] = s_abs / scales["_scale1"].to_numpy()
            if any(m in metrics for m in ("rmse", "rmsse")):
                s_sq = gsum(e * e) / n
                point["rmse"][model] = np.sqrt(s_sq)
                if scales is not None:
                    point["rmsse"][model] = np.sqrt(s_sq / scales["_scale2"].to_numpy())
            if "bias" in metrics or "relative_bias" in metrics:
                s_e = gsum(e)
                point["bias"][model] = s_e / n
                point["relative_bias"][model] = s_e / sum_y
            if "pis" in metrics or "spis" in metrics:
                cum = pd.Series(e).groupby(grouper, sort=True, observed=True).cumsum().to_numpy()
                pis = gsum(cum)
                point["pis"][model] = pis
                if scales is not None:
                    point["spis"][model] = pis / scales["_ybar"].to_numpy()
        for m in metrics:
            if m in _POINT_METRICS:
                emit(m, point[m])
        if "wql" in metrics:
            vals = {}
            for model, levels in quant.items():
                per = [
                    2.0 * gsum(_pinball(y, work[c].to_numpy(dtype=np.float64), lvl)) / sum_abs_y
                    for lvl, c in levels.items()
                ]
                vals[model] = np.mean(per, axis=0)
            emit("wql", vals)
        if "qcov" in metrics:
            for lvl in sorted({lv for d in quant.values() for lv in d}):
                vals = {
                    model: gsum(y <= work[d[lvl]].to_numpy(dtype=np.float64)) / n
                    for model, d in quant.items() if lvl in d
                }
                emit(f"qcov-{lvl:g}", vals)
        if "coverage" in metrics:
            for lvl in sorted({lv for d in intervals.values() for lv in d}, key=float):
                vals = {}
                for model, d in intervals.items():
                    if lvl in d:
                        lo = work[d[lvl][0]].to_numpy(dtype=np.float64)
                        hi = work[d[lvl][1]].to_numpy(dtype=np.float64)
                        vals[model] = gsum((y >= lo) & (y <= hi)) / n
                emit(f"coverage-{lvl}", vals)
    if not rows:
        return pd.DataFrame(columns=[*by_cols, "metric", *all_models])
    return pd.concat(rows, ignore_index=True)


# ----------------------------------------------------------------------------------------
# Backtests
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
    h = _check_h(h)
    if isinstance(n_windows, (bool, np.bool_)) or not isinstance(n_windows, (int, np.integer)) or n_windows < 1:
        raise ValueError(f"n_windows must be a positive integer; got {n_windows!r}.")
    step = h if step is None else step
    if isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(f"step must be a positive integer (periods between origins); got {step!r}.")
    if isinstance(forecaster, str) or (
        isinstance(forecaster, Sequence) and all(isinstance(m, str) for m in forecaster)
    ):
        methods = [forecaster] if isinstance(forecaster, str) else list(forecaster)
        intermittent._check_methods(methods)
        fit_freq = freq

        def forecaster(train: pd.DataFrame, hh: int) -> pd.DataFrame:  # type: ignore[no-redef]
            return intermittent.forecast(train, hh, methods=methods, freq=fit_freq)

    elif not callable(forecaster):
        raise ValueError(
            "forecaster must be a callable forecaster(train_df, h) -> DataFrame or method "
            f"name(s) of intermittent.forecast; got {type(forecaster).__name__}."
        )

    panel = _to_panel(df, freq)
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
        train = _dense_rows(panel, live & (cell_pos <= cp), cell_pos, df["unique_id"].dtype)
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
        pos = _positions(panel, fc["ds"])
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


def _dense_rows(panel: Any, mask: np.ndarray, cell_pos: np.ndarray, uid_dtype: Any) -> pd.DataFrame:
    """Long frame (unique_id, ds, y) of the panel cells in ``mask``, zeros included."""
    sid, r = np.nonzero(mask.T)  # series-major, then time: sorted like forecast() input
    return pd.DataFrame({
        "unique_id": panel.uids.take(sid).astype(uid_dtype),
        "ds": panel.dates(cell_pos[r, sid]),
        "y": panel.y[r, sid],
    })


def _positions(panel: Any, ds: pd.Series) -> np.ndarray:
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


# ----------------------------------------------------------------------------------------
# Plan simulation
# ----------------------------------------------------------------------------------------
# TODO(plan-simulation): simulate a StockPlan over future demand (achieved fill rate,
# backorder days, cost). To be added here by the stocking/evaluation owner; keep the
# metrics and backtest API above unchanged.
