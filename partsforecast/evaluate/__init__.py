"""Forecast evaluation: accuracy metrics, rolling-origin backtests and plan simulation.

* :mod:`~partsforecast.evaluate.metrics`: point and distribution metrics over arrays
  (:func:`mase`, :func:`rmsse`, :func:`weighted_quantile_loss`, :func:`pit_coverage`, ...)
  and :func:`evaluate` over long frames of actuals and forecasts;
* :mod:`~partsforecast.evaluate.backtesting`: :func:`backtest` (the intermittent-demand
  methods, or any forecaster, on long frames) and :func:`backtest_forecast` (the
  installed-base forecast on a fleet cut at each origin);
* :mod:`~partsforecast.evaluate.simulation`: :func:`simulate_plan` and
  :func:`simulate_base_stock`, the service a stocking plan achieves, in
  :class:`SimulationResult`.

Every name is importable from ``partsforecast.evaluate``.
"""

from partsforecast.evaluate.backtesting import Forecaster, backtest, backtest_forecast
from partsforecast.evaluate.metrics import (
    bias,
    evaluate,
    interval_coverage,
    mae,
    mase,
    periods_in_stock,
    pit_coverage,
    pit_histogram,
    rmse,
    rmsse,
    weighted_quantile_loss,
)
from partsforecast.evaluate.simulation import (
    SimulationResult,
    daily_rates,
    simulate_base_stock,
    simulate_plan,
)

__all__ = [
    "backtest",
    "backtest_forecast",
    "bias",
    "daily_rates",
    "Forecaster",
    "evaluate",
    "interval_coverage",
    "mae",
    "mase",
    "periods_in_stock",
    "pit_coverage",
    "pit_histogram",
    "rmse",
    "rmsse",
    "simulate_base_stock",
    "simulate_plan",
    "SimulationResult",
    "weighted_quantile_loss",
]
