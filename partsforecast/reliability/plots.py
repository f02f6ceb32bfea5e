"""Plots of one data set: the Weibull probability plot and Kaplan-Meier against the fit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from partsforecast.reliability.nonparametric import kaplan_meier, median_ranks

if TYPE_CHECKING:
    from partsforecast.reliability.single import WeibullFit

__all__ = ["weibull_plot", "survival_plot"]


def _axes(ax: Any):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(6, 4.5))
    return ax


def weibull_plot(time: Any, failed: Any, fit: WeibullFit | None = None, ax: Any = None):
    """Weibull probability plot: median ranks of the failures on log-log axes, with the fit.

    The x axis is time on a log scale; the y axis is ``log(-log(1 - F))``, labelled with
    ``F`` in percent, on which a Weibull is the straight line ``y = k (log t - log eta)``.
    Failures are plotted at Bernard's median ranks of Johnson's adjusted ranks (see
    :func:`median_ranks`), which account for censored lives.

    Parameters
    ----------
    time, failed
        As in :func:`fit_weibull`.
    fit : WeibullFit, optional
        Fitted model to draw as a line (skipped when its shape or scale is NaN).
    ax : matplotlib Axes, optional
        Where to draw; a new figure when omitted.

    Returns
    -------
    matplotlib.axes.Axes
        With the points (first line) and the fitted line (second line, when a fit is given).
    """
    mr = median_ranks(time, failed)
    ax = _axes(ax)
    y = np.log(-np.log1p(-mr["median_rank"].to_numpy()))
    ax.plot(mr["time"].to_numpy(), y, "o", ms=4, label="failures (median ranks)")
    t_all = np.asarray(time, dtype=float)
    lo = np.min(t_all) if mr.empty else min(np.min(t_all), mr["time"].min())
    hi = np.max(t_all)
    if fit is not None and np.isfinite(fit.shape) and np.isfinite(fit.scale):
        # reach at least the 63.2% point (the scale), where the eye reads it off
        grid = np.geomspace(min(lo, float(fit.quantile(0.01))), max(hi, fit.scale), 100)
        ax.plot(grid, fit.shape * (np.log(grid) - np.log(fit.scale)), "-",
                label=f"{fit.method}: shape {fit.shape:.3g}, scale {fit.scale:.4g}")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    x0, x1 = ax.get_xlim()
    if np.log10(x1 / x0) < 3.0:  # few decades: label 1-2-5 so the axis is readable
        ax.xaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ylim = ax.get_ylim()  # setting ticks would otherwise stretch the view to 0.1%..99.9%
    probs = np.array([0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.632, 0.8, 0.9, 0.99, 0.999])
    ticks = np.log(-np.log1p(-probs))
    ax.set_yticks(ticks)
    ax.set_yticklabels([f"{100 * p:g}" for p in probs])
    ax.set_ylim(ylim)
    ax.set_xlabel("time")
    ax.set_ylabel("unreliability F(t), %")
    ax.set_title("Weibull probability plot")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return ax


def survival_plot(time: Any, failed: Any, fit: WeibullFit | None = None, ax: Any = None,
                  level: float = 0.95):
    """Kaplan-Meier estimate (step, with its confidence band) against the fitted survival.

    Parameters
    ----------
    time, failed
        As in :func:`fit_weibull`.
    fit : WeibullFit, optional
        Fitted model whose survival function is drawn as a smooth line.
    ax : matplotlib Axes, optional
    level : float, default 0.95
        Level of the Kaplan-Meier band.

    Returns
    -------
    matplotlib.axes.Axes
        Lines: the Kaplan-Meier step (first), the fitted curve (second, when a fit is given);
        the band is a filled collection.
    """
    km = kaplan_meier(time, failed, level=level)
    ax = _axes(ax)
    tt = np.concatenate([[0.0], km["time"].to_numpy()])
    ss = np.concatenate([[1.0], km["survival"].to_numpy()])
    lo = np.concatenate([[1.0], km["lower"].to_numpy()])
    hi = np.concatenate([[1.0], km["upper"].to_numpy()])
    ax.step(tt, ss, where="post", label="Kaplan-Meier")
    ax.fill_between(tt, np.nan_to_num(lo), np.nan_to_num(hi, nan=1.0), step="post", alpha=0.2,
                    label=f"{level:.0%} band")
    if fit is not None and np.isfinite(fit.shape) and np.isfinite(fit.scale):
        grid = np.linspace(0.0, tt.max(), 200)
        ax.plot(grid, fit.survival(grid), "-",
                label=f"{fit.distribution} ({fit.method})")
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel("time")
    ax.set_ylabel("survival S(t)")
    ax.set_title("Kaplan-Meier vs fitted survival")
    ax.legend(loc="best", fontsize="small")
    return ax
