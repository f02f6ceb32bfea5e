"""Forecast accuracy metrics: plain functions over arrays, and :func:`evaluate` over long frames.

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
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from partsforecast._panel import to_panel

__all__ = [
    "bias",
    "evaluate",
    "interval_coverage",
    "mae",
    "mase",
    "periods_in_stock",
    "pit_coverage",
    "pit_histogram",
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


def _pit_inputs(cdf_below: Any, cdf_at: Any) -> tuple[np.ndarray, np.ndarray]:
    """Check ``0 <= F(y-1) <= F(y) <= 1`` (same shapes, with a time axis) and return both."""
    lo = np.asarray(cdf_below, dtype=np.float64)
    hi = np.asarray(cdf_at, dtype=np.float64)
    if lo.shape != hi.shape:
        raise ValueError(
            f"cdf_below and cdf_at must have the same shape (F(y-1) and F(y) of the same "
            f"observations); got {lo.shape} and {hi.shape}."
        )
    if lo.ndim == 0:
        raise ValueError("cdf_below and cdf_at need a time axis: pass arrays, not scalars.")
    for name, a in (("cdf_below", lo), ("cdf_at", hi)):
        if np.isnan(a).any():
            i = np.unravel_index(np.flatnonzero(np.isnan(a))[0], a.shape)
            raise ValueError(f"{name} has NaN (first at index {tuple(map(int, i))}): "
                             "pass a probability for every observation.")
    tol = _PIT_TOL
    bad = (lo < -tol) | (hi > 1.0 + tol) | (lo > hi + tol)
    if bad.any():
        k = np.flatnonzero(bad.ravel())
        i = tuple(map(int, np.unravel_index(k[0], lo.shape)))
        raise ValueError(
            f"PIT inputs must satisfy 0 <= cdf_below <= cdf_at <= 1 (F(y-1) <= F(y)); "
            f"{k.size} entr{'y does' if k.size == 1 else 'ies do'} not, the first at index "
            f"{i}: cdf_below={float(lo.flat[k[0]])!r}, cdf_at={float(hi.flat[k[0]])!r}."
        )
    # Round-off within the tolerance is clipped away.
    lo = np.clip(lo, 0.0, 1.0)
    hi = np.clip(hi, lo, 1.0)
    return lo, hi


# F(y-1) and F(y) from a recursion or a library CDF may overshoot [0, 1] or cross by
# round-off; more than this is an input error.
_PIT_TOL = 1e-9


def _pit_cdf(u: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Czado et al.'s ``F̄(u | y)``: the CDF of the PIT, uniform on ``[F(y-1), F(y)]``.

    ``0`` for ``u <= F(y-1)``, ``(u - F(y-1)) / (F(y) - F(y-1))`` between, ``1`` for
    ``u >= F(y)``; where ``F(y-1) = F(y)`` (a continuous forecast, or an observation of
    probability zero) the PIT is the point ``F(y)`` and ``F̄`` jumps there.
    """
    width = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = np.clip((u - lo) / width, 0.0, 1.0)
    return np.where(width > 0, inside, (u >= hi).astype(np.float64))


def pit_coverage(cdf_below: Any, cdf_at: Any, level: float = 0.8) -> np.ndarray | float:
    """Expected coverage of the central interval under the non-randomised PIT for counts.

    For a count ``y`` with predictive CDF ``F`` the probability integral transform is
    spread uniformly over ``[F(y-1), F(y)]`` (Czado, Gneiting & Held 2009); its CDF is

    ``F̄(u | y) = 0`` for ``u <= F(y-1)``, ``(u - F(y-1)) / (F(y) - F(y-1))`` between,
    ``1`` for ``u >= F(y)``.

    The coverage of the central ``level`` interval is the mean over the observations of
    ``F̄(1 - a/2 | y) - F̄(a/2 | y)`` with ``a = 1 - level``: the share of the PIT mass that
    falls between the ``a/2`` and ``1 - a/2`` levels. For a calibrated forecast its
    expectation is ``level`` exactly, however small the counts, unlike the share of
    ``y`` inside ``[q_{a/2}, q_{1-a/2}]`` (:func:`interval_coverage`), which a calibrated
    discrete forecast overshoots (``[q0.1, q0.9] = [0, 0]`` holds every zero).

    Parameters
    ----------
    cdf_below : array_like
        ``F(y - 1) = P(Y <= y - 1)`` per observation (0 where ``y = 0``); last axis is time.
    cdf_at : array_like
        ``F(y) = P(Y <= y)``, the same shape. For a continuous forecast pass the PIT
        ``F(y)`` as both: the result is then the share of ``a/2 < F(y) <= 1 - a/2``.
    level : float
        Nominal coverage of the central interval, in (0, 1) (0.8: the 10%-90% band).

    Returns
    -------
    float or ndarray
        One value per series (mean over the last axis): a float for 1-D input, so pass
        flattened arrays for the coverage pooled over all series and periods.

    Raises
    ------
    ValueError
        If the shapes differ, a value is NaN, ``0 <= cdf_below <= cdf_at <= 1`` fails by
        more than 1e-9 (round-off), or ``level`` is not in (0, 1).

    References
    ----------
    Czado, C., Gneiting, T. and Held, L. (2009). Predictive model assessment for count
    data. *Biometrics* 65(4), 1254-1261, Section 2.1 (non-randomised PIT).

    Examples
    --------
    ``F(y-1) = 0.2``, ``F(y) = 0.6``: the PIT is uniform on [0.2, 0.6], of which
    [0.2, 0.6] lies inside the 80% band [0.1, 0.9]: coverage 1. Against the 50% band
    [0.25, 0.75] only [0.25, 0.6] does: (0.6 - 0.25) / 0.4 = 0.875.

    >>> pit_coverage([0.2], [0.6], level=0.5)
    0.875
    """
    lv = float(level)
    if not 0.0 < lv < 1.0:
        raise ValueError(f"level must be in (0, 1), e.g. 0.8 for the 10%-90% interval; got {level!r}.")
    lo, hi = _pit_inputs(cdf_below, cdf_at)
    a = (1.0 - lv) / 2.0
    r = np.mean(_pit_cdf(1.0 - a, lo, hi) - _pit_cdf(a, lo, hi), axis=-1)
    return r if np.ndim(r) else float(r)


def pit_histogram(cdf_below: Any, cdf_at: Any, bins: int = 10) -> np.ndarray:
    """Histogram of the non-randomised PIT for counts (Czado, Gneiting & Held 2009).

    With ``F̄(u | y)`` the CDF of the PIT of one observation (see :func:`pit_coverage`),
    bar ``j`` of ``J = bins`` equal bins is ``f_j = mean_y [F̄(j/J | y) - F̄((j-1)/J | y)]``:
    the share of PIT mass in ``((j-1)/J, j/J]``. The bars sum to 1 and are all ``1/J`` in
    expectation for a calibrated forecast; a U shape means the forecast is too narrow
    (or biased both ways), a hump too wide, a slope biased.

    Parameters
    ----------
    cdf_below, cdf_at : array_like
        ``F(y - 1)`` and ``F(y)`` per observation, any (equal) shape; pooled over all
        entries.
    bins : int
        Number of equal-width bins on [0, 1].

    Returns
    -------
    ndarray, shape (bins,)
        The bar heights as shares (sum 1); multiply by ``bins`` for densities.

    Raises
    ------
    ValueError
        As for :func:`pit_coverage`, or if ``bins`` is not a positive integer.

    References
    ----------
    Czado, C., Gneiting, T. and Held, L. (2009). Predictive model assessment for count
    data. *Biometrics* 65(4), 1254-1261, Section 2.1.
    """
    if isinstance(bins, (bool, np.bool_)) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be a positive integer; got {bins!r}.")
    lo, hi = _pit_inputs(cdf_below, cdf_at)
    lo, hi = lo.ravel(), hi.ravel()
    grid = np.linspace(0.0, 1.0, int(bins) + 1)
    cdf = np.array([_pit_cdf(u, lo, hi).mean() for u in grid[1:-1]])
    # F̄(0) = 0 and F̄(1) = 1 by definition: a PIT that is exactly 0 (F(y) = 0) counts in
    # the first bin.
    return np.diff(np.concatenate([[0.0], cdf, [1.0]]))


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
    panel = to_panel(train_df, freq)
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
