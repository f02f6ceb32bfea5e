"""Figures of a planning run, and the self-contained ``report.html`` that carries them."""

from __future__ import annotations

import base64
import functools
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["failure_curves", "forecast_vs_history", "service_curve", "transfer_map", "write_report"]


def _literal_text(func):
    """Run a plotting function with mathtext off: ids such as ``EX$200`` are drawn as written
    (matplotlib would parse ``$…$`` as a formula and fail on unbalanced dollars)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False}):
            return func(*args, **kwargs)
    return wrapper


def _fig(ax=None, size=(7, 4.2)):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax.figure, ax
    return plt.subplots(figsize=size)


@_literal_text
def failure_curves(model, n: int = 6, ax=None):
    """Fitted survival of the ``n`` groups with the most failures, against operating hours."""
    fig, ax = _fig(ax)
    top = model.params_.nlargest(n, "n_failures")
    hours = np.linspace(0, float((top["scale"] * 1.5).max()), 200)
    for row in top.itertuples():
        ax.plot(hours, np.exp(-(hours / row.scale) ** row.shape),
                label=f"{row.machine_model} · {row.component} (k={row.shape:.2f})")
    ax.set_xlabel("operating hours")
    ax.set_ylabel("survival")
    ax.set_title("Failure curves of the most-replaced components")
    ax.legend(fontsize="x-small")
    return ax


@_literal_text
def forecast_vs_history(fleet, forecast: pd.DataFrame, ax=None):
    """Monthly part lines demanded in the tickets and the forecast's mean and 90% band."""
    fig, ax = _fig(ax)
    tk = fleet.tickets
    hist = tk.groupby(tk["opened_at"].dt.to_period("M").dt.start_time)["quantity"].sum()
    ax.plot(hist.index, hist.to_numpy(), label="history (units)")
    tot = forecast.groupby("period")[["mean", "var"]].sum()
    sd = np.sqrt(tot["var"].to_numpy())
    ax.plot(tot.index, tot["mean"].to_numpy(), label="forecast mean")
    ax.fill_between(tot.index, tot["mean"] - 1.645 * sd, tot["mean"] + 1.645 * sd, alpha=0.25,
                    label="90% band")
    ax.set_title("Parts demand: history and forecast, all dealers")
    ax.set_ylabel("units per month")
    ax.legend(fontsize="small")
    return ax


@_literal_text
def service_curve(curve: pd.DataFrame, ax=None):
    """The efficient curve: inventory investment against system fill rate."""
    fig, ax = _fig(ax)
    ax.plot(curve["investment"], curve["system_fill_rate"], "-")
    plan = curve[curve.get("is_plan", pd.Series(False, index=curve.index)).astype(bool)]
    if len(plan):
        ax.plot(plan["investment"], plan["system_fill_rate"], "o", label="the plan")
        ax.legend()
    ax.set_xlabel("inventory investment")
    ax.set_ylabel("system fill rate")
    ax.set_title("Service vs investment")
    return ax


@_literal_text
def transfer_map(fleet, transfers: pd.DataFrame, ax=None):
    """Locations on their coordinates, with a line for every lane that carries a transfer."""
    fig, ax = _fig(ax, size=(6, 6))
    loc = fleet.locations.set_index("location_id")
    if loc["lat"].isna().any():
        ax.text(0.5, 0.5, "no coordinates", ha="center")
        return ax
    for tier, grp in loc[loc["kind"] == "dealer"].groupby("tier"):
        ax.scatter(grp["lon"], grp["lat"], s=12 + 4 * (5 - int(tier)), label=f"tier {tier}")
    wh = loc.loc[fleet.warehouse_id]
    ax.scatter([wh["lon"]], [wh["lat"]], marker="s", s=60, c="k", label="factory")
    if len(transfers):
        moves = transfers.groupby(["from_id", "to_id"])["quantity"].sum().reset_index()
        for m in moves.itertuples():
            a, b = loc.loc[m.from_id], loc.loc[m.to_id]
            ax.plot([a["lon"], b["lon"]], [a["lat"], b["lat"]], "-", lw=0.5 + np.log1p(m.quantity) / 2,
                    alpha=0.5, c="tab:red" if m.from_id != fleet.warehouse_id else "tab:gray")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title("Transfers (red: between dealers, grey: from the factory)")
    ax.legend(fontsize="x-small")
    return ax


@_literal_text
def _png(ax) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    # No timestamp in the PNG metadata: the same run gives the same bytes.
    ax.figure.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(ax.figure)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _warnings_html(warnings: list) -> str:
    """The plan's warnings (targets missed) first, where the planner looks."""
    if not warnings:
        return ""
    items = "".join(f"<li>{html.escape(w)}</li>" for w in warnings)
    return (f"<div style='border:2px solid #b00;padding:4px 12px;margin:8px 0'><strong>"
            f"{len(warnings)} warning{'s' if len(warnings) != 1 else ''}</strong><ul>{items}</ul></div>")


def write_report(path: str | Path, fleet, model, forecast: pd.DataFrame, plan) -> Path:
    """A self-contained HTML page with the key figures and plots of a planning run."""
    levels = plan.levels
    figures = {
        "Failure curves": failure_curves(model),
        "Forecast vs history": forecast_vs_history(fleet, forecast),
        "Service vs investment": service_curve(plan.curve),
        "Transfers": transfer_map(fleet, plan.transfers),
    }
    key = pd.DataFrame({
        "figure": ["as of", "machines", "failure-model groups", "forecast units, next 12 periods",
                   "inventory value of the plan", "transfers", "transfer solver status"],
        "value": [str(fleet.as_of.date()), f"{len(fleet.machines):,}", f"{len(model.params_):,}",
                  f"{forecast['mean'].sum():,.0f}", f"{levels['inventory_value'].sum():,.0f}",
                  f"{len(plan.transfers):,}", str(plan.transfer_report.status)],
    })
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>partsforecast plan</title>",
             "<style>body{font-family:sans-serif;max-width:960px;margin:auto}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}</style>",
             "</head><body><h1>Stocking plan</h1>", _warnings_html(getattr(plan, "warnings", [])),
             key.to_html(index=False),
             "<h2>Service by tier</h2>", plan.summary().to_html(float_format=lambda x: f"{x:,.3f}")]
    for title, ax in figures.items():
        parts.append(f"<h2>{html.escape(title)}</h2><img src='data:image/png;base64,{_png(ax)}'>")
    parts.append("</body></html>")
    path = Path(path)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
