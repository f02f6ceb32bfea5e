"""The planner's page: ``report.html``, what a planning run asks of this week.

The first screen says what to do (purchase orders, transfers and what they buy, the
dealers' shortage before and after, service per tier against its target, the investment,
every amount with its currency); then the exceptions (targets missed and why, the dealers
most at risk, stock in excess, superseded part numbers merged and old stock that does not
fit, the parts whose forecast moved most); then the change since
the previous run in the same folder; then the charts. One self-contained HTML file: styles
inline, images as ``data:`` URLs, no script, nothing fetched.

The previous run is read from what a run leaves in its folder (``run.json``'s ``summary``
and ``forecast_by_part.csv``), before the new outputs replace them; a folder without them,
or with files that cannot be read, gives a page that says so and nothing more.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from partsforecast import plot
from partsforecast._page import CSS as _CSS
from partsforecast._page import escape as _e
from partsforecast._page import table as _table
from partsforecast._page import tile as _tile

__all__ = ["PreviousRun", "read_previous_run", "forecast_by_part", "write_report", "FORECAST_BY_PART_COLUMNS"]

#: Columns of ``forecast_by_part.csv``, in order.
FORECAST_BY_PART_COLUMNS = ["part_number", "description", "last_12_months", "forecast_units"]
# The largest run.json / forecast_by_part.csv read back for the comparison (a run writes a
# few kB / about 60 bytes a part); anything larger is not a file this package wrote.
_MAX_PREVIOUS_BYTES = 20_000_000
_TOP = 10


@dataclass
class PreviousRun:
    """What the previous run in an output folder left for the comparison.

    Attributes
    ----------
    as_of : str
        Its planning date.
    summary : dict
        Its :meth:`StockPlan.headline` figures.
    service : DataFrame
        Its service per tier (tier, target, expected_fill_rate).
    forecast : Series
        Its forecast units over the horizon, by part_number.
    """

    as_of: str
    summary: dict
    service: pd.DataFrame = field(default_factory=pd.DataFrame)
    forecast: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))


def read_previous_run(folder: str | Path) -> tuple[PreviousRun | None, str]:
    """The previous run's figures from ``folder``, and a note for the page.

    Returns ``(None, note)`` when there is no previous run or its files cannot be read (the
    note says which); never raises for what is in the folder.
    """
    folder = Path(folder)
    run_json = folder / "run.json"
    if not run_json.is_file():
        return None, "No previous run in this folder: the next run will be compared with this one."
    try:
        if run_json.stat().st_size > _MAX_PREVIOUS_BYTES:
            raise ValueError("run.json is too large to be one of ours")
        run = json.loads(run_json.read_text(encoding="utf-8"))
        summary = run["summary"]
        headline = {k: float(v) for k, v in summary["headline"].items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)}
        service = pd.DataFrame(summary.get("service", []), columns=["tier", "target", "expected_fill_rate"])
        service = service.apply(pd.to_numeric, errors="coerce").dropna()
        forecast = pd.Series(dtype=float)
        by_part = folder / "forecast_by_part.csv"
        if by_part.is_file() and by_part.stat().st_size <= _MAX_PREVIOUS_BYTES:
            fp = pd.read_csv(by_part, usecols=["part_number", "forecast_units"], dtype={"part_number": str})
            forecast = pd.to_numeric(fp["forecast_units"], errors="coerce").set_axis(fp["part_number"]).dropna()
        return PreviousRun(as_of=str(run.get("as_of", "?"))[:10], summary=headline, service=service,
                           forecast=forecast), ""
    except (OSError, ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        return None, f"The previous run's files in this folder could not be read ({type(exc).__name__}); no comparison."


def forecast_by_part(fleet, forecast: pd.DataFrame) -> pd.DataFrame:
    """Forecast units per part over the horizon beside the units demanded in the last 12
    months (:data:`FORECAST_BY_PART_COLUMNS`): what the next run compares with."""
    units = forecast.groupby("part_number", observed=True)["mean"].sum()
    tk = fleet.tickets
    recent = (tk["opened_at"] > fleet.as_of - pd.Timedelta(days=365)).to_numpy()
    # the two columns it needs, not a copy of the recent tickets
    last = tk["quantity"][recent].groupby(tk["part_number"][recent], observed=True).sum()
    parts = units.index.union(last.index)
    desc = fleet.parts.set_index("part_number")["description"] if "description" in fleet.parts else None
    out = pd.DataFrame({
        "part_number": parts.astype(str),
        "description": (desc.reindex(parts).fillna("").to_numpy(dtype=object) if desc is not None else ""),
        "last_12_months": last.reindex(parts).fillna(0).astype("int64").to_numpy(),
        "forecast_units": units.reindex(parts).fillna(0.0).to_numpy(),
    })
    return out[FORECAST_BY_PART_COLUMNS]


# ---------------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------------

def _money(x: float, currency: str) -> str:
    return f"{x:,.2f} {currency}"


def _cents(x: float) -> str:
    return f"{x:,.2f}"


def _n(x: float) -> str:
    return f"{x:,.0f}"


# ---------------------------------------------------------------------------------------------
# The sections
# ---------------------------------------------------------------------------------------------

def _warnings(warnings: list) -> str:
    if not warnings:
        return ""
    items = "".join(f"<li>{_e(w)}</li>" for w in warnings)
    return (f"<div class='warn' id='warnings'><strong>{len(warnings)} warning{'s' if len(warnings) != 1 else ''}"
            f"</strong><ul>{items}</ul></div>")


def _actions(plan, head: dict) -> str:
    cur = plan.currency
    expedite = int((plan.orders["expedite"] == "yes").sum()) if len(plan.orders) else 0
    service = plan.service()
    missed = int((~service["met"]).sum())
    bought = head["backorder_days_avoided"]
    tiles = [
        _tile("Purchase orders", f"{head['purchase_order_lines']:,} lines",
              [f"{head['purchase_order_units']:,} units", _money(head["purchase_order_value"], cur),
               f"{expedite:,} to expedite"], "orders.csv", alert=expedite > 0),
        _tile("Transfers", f"{head['transfers']:,} moves",
              [f"{head['transfer_units']:,} units", f"freight {_money(head['freight'], cur)}",
               f"avoid {_n(bought)} backorder-days ({_money(head['backorder_value_avoided'], cur)})"],
              "transfers/<dealer>.csv"),
        _tile("Dealers short (units)", f"{head['dealer_units_short_before']:,} → {head['dealer_units_short_after']:,}",
              ["units below base stock,", "before → after the transfers"],
              alert=head["dealer_units_short_after"] > 0),
        _tile("Service", f"{head['dealer_fill_rate']:.3f}",
              ["expected dealer fill rate", f"{len(service) - missed} of {len(service)} tiers on target"],
              alert=missed > 0),
        _tile("Investment", _money(head["investment"], cur),
              [f"warehouse {_money(head['warehouse_investment'], cur)}",
               f"dealers {_money(head['investment'] - head['warehouse_investment'], cur)}"], "stock_plan.csv"),
    ]
    table = service.reset_index()
    table["met"] = np.where(table["met"], "yes", "NO")
    return ("<section id='actions'><h2>This week</h2>"
            f"<div class='tiles'>{''.join(tiles)}</div>"
            "<h3>Service per dealer tier against its target</h3>"
            + _table(table.rename(columns={"investment": f"investment ({cur})"}),
                     {"target": lambda x: f"{x:.3f}", "expected_fill_rate": lambda x: f"{x:.3f}",
                      "units_short_after_transfers": _n, f"investment ({cur})": _cents})
            + "</section>")


def _targets_missed(plan) -> str:
    svc = plan.service()
    missed = svc[~svc["met"]]
    if not len(missed):
        return "<h3>Targets</h3><p class='ok'>Every tier meets its fill-rate target.</p>"
    rows = []
    for tier, r in missed.iterrows():
        why = []
        if plan.budget is not None:
            why.append(f"the budget of {_money(plan.budget, plan.currency)} binds")
        if r["units_short_after_transfers"] > 0:
            why.append(f"dealers lack {int(r['units_short_after_transfers']):,} units the warehouse cannot ship "
                       "today (on the purchase orders)")
        rows.append({"tier": tier, "target": r["target"], "expected_fill_rate": r["expected_fill_rate"],
                     "why": "; ".join(why) or "the targets need more stock than the plan holds"})
    return "<h3>Targets missed, and why</h3>" + _table(
        pd.DataFrame(rows), {"target": lambda x: f"{x:.3f}", "expected_fill_rate": lambda x: f"{x:.3f}"})


def _dealers_at_risk(plan, fleet) -> str:
    lv = plan.levels[plan.levels["location_id"] != plan.warehouse_id]
    short = (lv["base_stock"] - lv["position_after"]).clip(lower=0)
    g = lv.assign(short=short).groupby("location_id", observed=True).agg(
        tier=("tier", "first"), expected_backorders=("expected_backorders", "sum"), units_short=("short", "sum"))
    g = g.nlargest(_TOP, "expected_backorders").reset_index()
    names = fleet.locations.set_index("location_id").get("dealer_name")
    g.insert(1, "name", names.reindex(g["location_id"]).fillna("").to_numpy() if names is not None else "")
    g["tier"] = g["tier"].astype("Int64")
    return ("<h3>Dealers most at risk (expected backorders)</h3>"
            + _table(g.rename(columns={"units_short": "units short after transfers"}),
                     {"expected_backorders": lambda x: f"{x:.2f}"}))


def _excess(plan, fleet) -> str:
    lv = plan.levels[plan.levels["location_id"] != plan.warehouse_id]
    over = (lv["position_after"] - lv["base_stock"]).clip(lower=0)
    on_shelf = np.minimum(over, lv["on_hand"])
    cost = lv["part_number"].map(fleet.parts.set_index("part_number")["unit_cost"]).astype(float)
    hr = lv["location_id"].map(fleet.locations.set_index("location_id")["holding_rate"]).astype(float)
    ex = pd.DataFrame({"location_id": lv["location_id"], "part_number": lv["part_number"],
                       "excess_units": on_shelf.astype("int64"), "value": on_shelf * cost,
                       "holding_cost_per_year": on_shelf * cost * hr})
    ex = ex[ex["excess_units"] > 0]
    total, n = float(ex["value"].sum()), len(ex)
    top = ex.nlargest(_TOP, "holding_cost_per_year")
    cur = plan.currency
    lead = (f"<p>{n:,} dealer stock lines hold {_money(total, cur)} above their base stock, on the shelf "
            f"(holding {_money(float(ex['holding_cost_per_year'].sum()), cur)} a year); the largest:</p>"
            if n else "")
    return ("<h3>Excess stock worth pulling back</h3>" + lead
            + _table(top.rename(columns={"value": f"value ({cur})", "holding_cost_per_year": f"holding per year ({cur})"}),
                     {f"value ({cur})": _cents, f"holding per year ({cur})": _cents},
                     empty="No dealer holds stock above its base stock."))


def _stockouts(fleet, plan) -> str:
    """The stock-outs of the last 90 days: how many, how many still open and overdue, and the
    open ones oldest first (the follow-up list)."""
    from partsforecast.service import stockouts

    reg = stockouts(fleet, transfers=plan.transfers)
    counts = reg["status"].value_counts()
    n_open, n_over = int(counts.get("open", 0)), int(reg["overdue"].sum())
    lead = (f"<p>{len(reg):,} ticket lines waited for a part their dealer did not hold in the last 90 days: "
            f"<span class='{'bad' if n_over else 'ok'}'>{n_open:,} still open ({n_over:,} overdue)</span>, "
            f"{int(counts.get('transferred', 0)):,} covered by this week's transfers, "
            f"{int(counts.get('replenished', 0)):,} back in stock.</p>")
    if not len(reg):
        lead = "<p class='ok'>No ticket line waited for a part its dealer did not hold in the last 90 days.</p>"
    if fleet.tickets["parts_ready_at"].isna().all():
        lead = ("<p class='bad'>The tickets carry no parts-ready times (<code>parts_ready_at</code>): only the "
                "repairs still open can be told to wait for a part; the closed ones cannot.</p>" + lead)
    top = reg[reg["status"] == "open"].sort_values("opened_at", kind="stable").head(_TOP)
    top = top.assign(opened=top["opened_at"].dt.strftime("%Y-%m-%d"),
                     overdue=np.where(top["overdue"], "yes", ""))[
        ["location_id", "tier", "ticket_id", "serial", "part_number", "quantity", "opened", "age_days", "overdue"]]
    top["tier"] = top["tier"].astype("Int64")
    table = _table(top, {"age_days": lambda x: f"{x:,.0f}"}, empty="") if n_open else ""
    return ("<h3 id='stockouts'>Stock-outs to follow up (oldest open first; stockouts.csv of "
            "<code>partsforecast service</code> has them all)</h3>" + lead + table)


def _superseded(plan) -> str:
    """The old part numbers merged into current ones, and the old stock that does not fit."""
    rec = getattr(plan, "supersession", None)
    if rec is None or not len(rec.merged):
        return ""
    s = rec.summary(max_listed=0)
    stuck = s["not_interchangeable"]
    lead = (f"<p>{s['numbers_merged']:,} superseded part numbers were planned as their current numbers: "
            f"{s['ticket_lines_merged']:,} ticket lines count as the current numbers' demand and "
            f"{s['stock_units_counted']:,} units of interchangeable old stock as their stock.</p>")
    if stuck["units_on_hand"] or stuck["units_on_order"]:
        lead += (f"<p class='bad'>{stuck['units_on_hand']:,} units of superseded, non-interchangeable parts "
                 f"are at {stuck['locations']:,} locations ({stuck['numbers']:,} part numbers"
                 + (f"; {stuck['units_on_order']:,} more on order" if stuck["units_on_order"] else "")
                 + "): they cannot be fitted in place of the current part, so the plan does not count "
                   "them; return or scrap them.</p>")
        top = rec.stranded.sort_values(["on_hand", "location_id"], ascending=[False, True], kind="stable").head(_TOP)
        lead += _table(top.rename(columns={"part_number": "old part_number", "current": "current part_number"}))
    return "<h3 id='superseded'>Superseded part numbers</h3>" + lead


def borrowed_groups(params: pd.DataFrame, max_listed: int = 200) -> dict:
    """Which failure-model groups rest on borrowed estimates, for ``run.json`` and the page.

    A group borrows when its shape (and, if shrunk, its rate) comes from the same component
    on the other machine models (``params_["borrowed"]``): a new model, or a component with
    few failures so far. Listed by their lives seen (most exposure first).
    """
    if "borrowed" not in params.columns:
        return {"groups": int(len(params)), "borrowed": 0, "listed": []}
    b = params[params["borrowed"].to_numpy(bool)]
    b = b.assign(_lives=b["n_failures"] + b["n_censored"]).sort_values(
        ["_lives", "machine_model", "component"], ascending=[False, True, True], kind="stable")
    listed = [{"machine_model": str(r.machine_model), "component": str(r.component), "method": str(r.method),
               "failures": int(r.n_failures)} for r in b.head(max_listed).itertuples()]
    laws = params["law"].astype(str).value_counts().sort_index() if "law" in params.columns else None
    return {"groups": int(len(params)), "borrowed": int(len(b)), "listed": listed,
            "laws": {} if laws is None else {k: int(v) for k, v in laws.items()}}


def _borrowed(model, forecast: pd.DataFrame) -> str:
    """The groups whose failure law is borrowed from the same component on other models."""
    info = borrowed_groups(model.params_, max_listed=_TOP)
    new = forecast.attrs.get("borrowed_groups", [])
    if not info["borrowed"] and not new:
        return ""
    text = "<h3 id='borrowed'>Forecasts on borrowed estimates</h3>"
    if info["borrowed"]:
        text += (f"<p>{info['borrowed']:,} of {info['groups']:,} failure-model groups (machine model × component) "
                 "have too few failures of their own: their law is borrowed from the same component on the "
                 "other models (run.json lists them all; failure_models.csv says how each was fitted). Their "
                 "forecasts are as good as the family they borrow from; watch their first failures.</p>"
                 + _table(pd.DataFrame(info["listed"])))
    if new:
        models = sorted({r["machine_model"] for r in new})
        text += (f"<p>{len(new):,} components of {len(models):,} machine models with no law of their own (new "
                 f"models: {_e(', '.join(models[:10]))}{' …' if len(models) > 10 else ''}) take the law of the "
                 "same component on the closest related model (run.json: borrowed_for_new_models).</p>")
    return text


def _certificate(plan) -> str:
    """One line on how close the stock levels are to the best the model allows."""
    st = plan.stocking
    said = st.bound_statement(lambda x: _money(x, plan.currency))
    if not said:
        return ""
    return (f"<p class='quiet' id='certificate'>Stock levels: {_e(said)}; this plan is within "
            f"{st.gap:.3%} of that bound.</p>")


def _forecast_moves(by_part: pd.DataFrame, previous: PreviousRun | None) -> str:
    if previous is not None and len(previous.forecast):
        before = previous.forecast.reindex(by_part["part_number"]).fillna(0.0).to_numpy()
        label = f"previous run ({previous.as_of})"
    else:
        before = by_part["last_12_months"].to_numpy(float)
        label = "last 12 months (actual)"
    t = pd.DataFrame({"part_number": by_part["part_number"], "description": by_part["description"],
                      label: before, "forecast": by_part["forecast_units"].to_numpy(),
                      "change": by_part["forecast_units"].to_numpy() - before})
    t = t.loc[t["change"].abs().nlargest(_TOP).index]
    t = t[t["change"].abs() >= 0.05]
    return (f"<h3>Parts whose forecast moved most (units over the horizon, against the {_e(label)})</h3>"
            + _table(t, {label: lambda x: f"{x:,.1f}", "forecast": lambda x: f"{x:,.1f}",
                         "change": lambda x: f"{x:+,.1f}"}, empty=f"No part's forecast moved against the {label}."))


#: The headline figures compared week over week: (key, label, is money, decimals).
_COMPARED = [("purchase_order_value", "purchase orders", True, 2),
             ("purchase_order_units", "units to order", False, 0),
             ("transfers", "transfers", False, 0), ("freight", "freight", True, 2),
             ("dealer_units_short_after", "dealer units short after transfers", False, 0),
             ("dealer_fill_rate", "expected dealer fill rate", False, 3),
             ("investment", "investment", True, 2)]


def _since_last_run(head: dict, previous: PreviousRun | None, note: str, currency: str) -> str:
    if previous is None:
        return f"<section id='since'><h2>Since the last run</h2><p class='quiet'>{_e(note)}</p></section>"
    rows = []
    for key, label, money, dec in _COMPARED:
        if key not in previous.summary:
            continue
        now, then = float(head[key]), float(previous.summary[key])

        def f(x: float, sign: str = "") -> str:
            return f"{x:{sign},.{dec}f}" + (f" {currency}" if money else "")
        rows.append({"figure": label, f"last run ({previous.as_of})": f(then), "this run": f(now),
                     "change": f(now - then, "+")})
    return ("<section id='since'><h2>Since the last run</h2>" + _table(pd.DataFrame(rows)) + "</section>")


def write_report(path: str | Path, fleet, model, forecast: pd.DataFrame, plan,
                 previous: PreviousRun | None = None, previous_note: str = "",
                 by_part: pd.DataFrame | None = None) -> Path:
    """Write the planner's page of a planning run.

    Parameters
    ----------
    path : path-like
        The HTML file to write.
    fleet : Fleet
    model : FailureModel
    forecast : DataFrame
        The run's forecast.
    plan : StockPlan
    previous : PreviousRun, optional
        The previous run's figures (:func:`read_previous_run`), for the week-over-week change.
    previous_note : str
        What to say when there is no previous run to compare with.
    by_part : DataFrame, optional
        :func:`forecast_by_part` of this run (computed when not given).

    Returns
    -------
    Path
    """
    head = plan.headline()
    by_part = forecast_by_part(fleet, forecast) if by_part is None else by_part
    cur = plan.currency
    as_of = plan.as_of.date() if plan.as_of is not None else fleet.as_of.date()
    n_dealers = int((fleet.locations["kind"] == "dealer").sum())
    figures = [
        ("Service vs investment", plot.service_curve(plan.curve, currency=cur)),
        ("Transfers", plot.transfer_map(fleet, plan.transfers)),
        ("Forecast vs history", plot.forecast_vs_history(fleet, forecast)),
        ("Failure curves", plot.failure_curves(model)),
    ]
    status = plan.transfer_report.status
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Stocking plan {as_of}</title><style>{_CSS}</style></head><body>",
        f"<h1>Stocking plan as of {as_of}</h1>",
        f"<div class='sub'>{len(fleet.machines):,} machines · {n_dealers} dealers · "
        f"{len(plan.levels):,} stock levels · planning window {plan.window_days:g} days · "
        f"amounts in {_e(cur)} · transfer solver: {_e(status)}</div>",
        _warnings(plan.warnings),
        _actions(plan, head),
        "<section id='exceptions'><h2>Exceptions</h2>",
        _targets_missed(plan),
        "<div class='cols'><div>", _dealers_at_risk(plan, fleet), "</div><div>", _excess(plan, fleet),
        "</div></div>",
        _stockouts(fleet, plan),
        _superseded(plan),
        _borrowed(model, forecast),
        _forecast_moves(by_part, previous),
        "</section>",
        _since_last_run(head, previous, previous_note, cur),
        "<section id='charts'><h2>Charts</h2><div class='cols'>",
    ]
    for title, ax in figures:
        parts.append(f"<div><h3>{_e(title)}</h3><img alt='{_e(title)}' "
                     f"src='data:image/png;base64,{plot.png_base64(ax)}'></div>")
    parts.append("</div></section>" + _certificate(plan) + f"<p class='quiet'>{len(model.params_):,} failure-model groups · "
                 f"forecast {forecast['mean'].sum():,.0f} units over {forecast['period'].nunique()} periods</p>"
                 "</body></html>")
    path = Path(path)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
