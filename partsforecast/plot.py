"""Figures of a planning run (``report.html`` carries them; see :mod:`partsforecast.report`)."""

from __future__ import annotations

import base64
import functools
import io

import numpy as np
import pandas as pd

__all__ = ["failure_curves", "forecast_vs_history", "service_curve", "transfer_map", "TIER_COLOURS", "png_base64"]


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
        ax.plot(hours, model.survival(hours, row.machine_model, row.component),  # the group's own law
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
def service_curve(curve: pd.DataFrame, ax=None, currency: str = "", around_plan: float | None = 0.5):
    """The efficient curve: inventory investment against system fill rate.

    Parameters
    ----------
    curve : DataFrame
        ``StockPlan.curve`` (investment, system_fill_rate, is_plan).
    ax : matplotlib Axes, optional
    currency : str
        Shown in the axis label.
    around_plan : float or None
        Show the plan's neighbourhood: investments within this share of the plan's on
        either side (0.5: from half to one and a half times the plan's investment), where
        the choice is made; ``None`` shows the whole curve.
    """
    fig, ax = _fig(ax)
    is_plan = curve["is_plan"].astype(bool) if "is_plan" in curve else pd.Series(False, index=curve.index)
    plan = curve[is_plan]
    shown = curve
    if around_plan is not None and len(plan):
        x0 = float(plan["investment"].iloc[0])
        near = curve[(curve["investment"] >= x0 * (1 - around_plan)) & (curve["investment"] <= x0 * (1 + around_plan))]
        shown = near if len(near) >= 2 else curve
    ax.plot(shown["investment"], shown["system_fill_rate"], "-", color="tab:blue", label="best service for the money")
    if len(plan):
        x, y = float(plan["investment"].iloc[0]), float(plan["system_fill_rate"].iloc[0])
        ax.plot([x], [y], "o", color="tab:red", ms=8, label="the plan")
        ax.annotate(f"the plan: {x:,.0f} {currency}, fill rate {y:.3f}".replace("  ", " "), (x, y),
                    textcoords="offset points", xytext=(8, -14), fontsize="small")
    ax.set_xlabel(f"inventory investment ({currency})" if currency else "inventory investment")
    ax.set_ylabel("system fill rate")
    ax.set_title("Service vs investment around the plan")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    return ax


#: Dealer colours by tier (a sequential palette: tier 1 darkest), apart from the line colours.
TIER_COLOURS = {1: "#08306b", 2: "#2171b5", 3: "#6baed6", 4: "#9ecae1"}
_FACTORY_LINE = "#7f7f7f"
_DEALER_LINE = "#e6550d"


@_literal_text
def transfer_map(fleet, transfers: pd.DataFrame, ax=None, label: bool = True, max_labels: int = 40):
    """Locations on their coordinates, labelled, with a line for every lane that carries a transfer.

    Dealers are dots coloured by tier (:data:`TIER_COLOURS`, blues), the factory a black
    square; moves from the factory are grey lines, moves between dealers orange, thicker
    for more units. With ``label``, the factory and at most ``max_labels`` dealers carry
    their id: every dealer of a network that small, else the dealers that move the most
    units this week (a few hundred labels on one map are neither readable nor quick to
    draw).
    """
    fig, ax = _fig(ax, size=(7, 7))
    loc = fleet.locations.set_index("location_id")
    if loc["lat"].isna().any():
        ax.text(0.5, 0.5, "no coordinates", ha="center")
        return ax
    if len(transfers):
        moves = transfers.groupby(["from_id", "to_id"])["quantity"].sum().reset_index()
        a, b = loc.loc[moves["from_id"]], loc.loc[moves["to_id"]]
        from_wh = (moves["from_id"] == fleet.warehouse_id).to_numpy()
        from matplotlib.collections import LineCollection

        segments = np.stack([np.column_stack([a["lon"], a["lat"]]), np.column_stack([b["lon"], b["lat"]])], axis=1)
        ax.add_collection(LineCollection(
            segments, linewidths=0.5 + np.log1p(moves["quantity"].to_numpy()) / 2, alpha=0.55, zorder=1,
            colors=np.where(from_wh, _FACTORY_LINE, _DEALER_LINE)))
        ax.plot([], [], "-", c=_FACTORY_LINE, label="from the factory")
        ax.plot([], [], "-", c=_DEALER_LINE, label="between dealers")
    for tier, grp in loc[loc["kind"] == "dealer"].groupby("tier"):
        ax.scatter(grp["lon"], grp["lat"], s=30 + 12 * (5 - int(tier)), c=TIER_COLOURS.get(int(tier), "#444"),
                   edgecolors="white", linewidths=0.5, label=f"tier {int(tier)} dealer", zorder=2)
    wh = loc.loc[fleet.warehouse_id]
    ax.scatter([wh["lon"]], [wh["lat"]], marker="s", s=80, c="k", label="factory", zorder=3)
    if label:
        shown = _labelled(loc, transfers, fleet.warehouse_id, max_labels)
        for lid, x, y in zip(shown.index, shown["lon"], shown["lat"]):
            ax.annotate(str(lid)[:16], (x, y), textcoords="offset points", xytext=(4, 3), fontsize=6.5, zorder=4)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title("Transfers this week")
    ax.legend(fontsize="x-small", loc="best")
    return ax


def _labelled(loc: pd.DataFrame, transfers: pd.DataFrame, warehouse_id, max_labels: int) -> pd.DataFrame:
    """The locations whose id the map writes: all when the dealers are at most
    ``max_labels``, else the factory and the ``max_labels`` dealers with the most units in
    and out (ties by id)."""
    dealers = loc.index[loc.index != warehouse_id]
    if len(dealers) <= max_labels:
        return loc
    units = pd.Series(0.0, index=loc.index)
    if len(transfers):
        q = transfers["quantity"].to_numpy(dtype=float)
        moved = pd.concat([pd.Series(q, index=transfers["from_id"].to_numpy()),
                           pd.Series(q, index=transfers["to_id"].to_numpy())])
        units = units.add(moved.groupby(level=0).sum(), fill_value=0.0).reindex(loc.index)
    busy = (pd.DataFrame({"units": units.loc[dealers].to_numpy(), "id": dealers.astype(str)}, index=dealers)
            .sort_values(["units", "id"], ascending=[False, True], kind="stable").index[:max(max_labels, 0)])
    return loc.loc[loc.index.isin(busy) | (loc.index == warehouse_id)]


@_literal_text
def png_base64(ax) -> str:
    """The figure of ``ax`` as base64 PNG bytes (closed afterwards), for an inline image."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    # No timestamp in the PNG metadata: the same run gives the same bytes.
    ax.figure.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(ax.figure)
    return base64.b64encode(buf.getvalue()).decode("ascii")
