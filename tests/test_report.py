"""The planner's outputs: orders.csv, the headline figures, report.html and the comparison with
the previous run, checked against numbers recomputed from the written files."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import partsforecast as pf
from partsforecast.plan import ORDER_COLUMNS, PlanSettings, run_plan
from partsforecast.report import read_previous_run

BUDGET = 250_000.0


def _run(fleet, out, **settings):
    return run_plan(fleet, out, PlanSettings(horizon=4, **settings))


@pytest.fixture(scope="module")
def runs(sample_fleet, tmp_path_factory):
    """A plain run in folder ``a``; a copy of it, ``b``, then gets a budget-capped run, which
    compares itself with the plain one."""
    a = tmp_path_factory.mktemp("report") / "a"
    first = _run(sample_fleet, a)
    b = a.parent / "b"
    shutil.copytree(a, b)
    second = _run(sample_fleet, b, budget=BUDGET)
    return first, a, second, b


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"location_id": str, "part_number": str}, keep_default_na=False,
                       na_values=[""])


def _positions_after(levels: pd.DataFrame, folder: Path) -> pd.Series:
    """Position after the transfers, recomputed from the dealer files on disk."""
    index = _csv(folder / "transfers" / "index.csv")
    moves = pd.concat([_csv(folder / "transfers" / f) for f in index["file"]], ignore_index=True)
    moves = moves.drop_duplicates("transfer_id")
    key = ["location_id", "part_number"]
    pos = levels.set_index(key)[["on_hand", "on_order"]].sum(axis=1).astype(float)
    got = moves.groupby(["to_id", "part_number"])["quantity"].sum().rename_axis(key)
    sent = moves.groupby(["from_id", "part_number"])["quantity"].sum().rename_axis(key)
    return pos.add(got, fill_value=0).sub(sent, fill_value=0).reindex(pos.index)


def test_orders_csv_restocks_the_warehouse_and_what_dealers_lack(runs, sample_fleet):
    plan, folder, _, _ = runs
    levels = _csv(folder / "stock_plan.csv")
    orders = _csv(folder / "orders.csv")
    assert list(orders.columns) == ORDER_COLUMNS
    pos = _positions_after(levels, folder)
    base = levels.set_index(["location_id", "part_number"])["base_stock"]
    wh = sample_fleet.warehouse_id
    is_wh = base.index.get_level_values(0) == wh
    lacking = (base - pos).clip(lower=0)[~is_wh].groupby(level=1).sum()
    wh_gap = (base - pos)[is_wh].droplevel(0)
    want = (wh_gap + lacking.reindex(wh_gap.index).fillna(0)).clip(lower=0)
    want = want[want > 0].astype(int).sort_index()
    got = orders.set_index("part_number")["quantity"].sort_index()
    pd.testing.assert_series_equal(got, want, check_names=False)
    # the warehouse rows of stock_plan.csv say the same
    wh_rows = levels[levels["location_id"] == wh].set_index("part_number")["order_qty"]
    assert (wh_rows[wh_rows > 0].sort_index() == want).all()
    # money and dates
    cost = sample_fleet.parts.set_index("part_number")
    np.testing.assert_allclose(orders["unit_cost"], cost["unit_cost"].reindex(orders["part_number"]))
    np.testing.assert_allclose(orders["value"], (orders["quantity"] * orders["unit_cost"]).round(2), atol=1e-9)
    assert (orders["currency"] == "CNY").all()
    assert (pd.to_datetime(orders["order_by"]) == sample_fleet.as_of).all()
    lead = np.ceil(cost["lead_time_days"].reindex(orders["part_number"]).to_numpy() - 1e-9)
    days = (pd.to_datetime(orders["need_by"]) - pd.to_datetime(orders["order_by"])).dt.days
    np.testing.assert_array_equal(days, lead)
    np.testing.assert_array_equal(orders["lead_time_days"], lead)
    # expedite exactly when dealers lack more than the warehouse has left on its shelf
    wh_lv = levels[levels["location_id"] == wh].set_index("part_number")
    shelf = (pos[is_wh].droplevel(0) - wh_lv["on_order"]).clip(lower=0)
    exp = (lacking.reindex(orders["part_number"]).fillna(0).to_numpy()
           > shelf.reindex(orders["part_number"]).to_numpy())
    np.testing.assert_array_equal(orders["expedite"] == "yes", exp)
    assert 0 < exp.sum()
    assert orders["description"].str.len().gt(0).all()
    # expedited lines first, then by value
    assert list(orders["expedite"]) == sorted(orders["expedite"], key=lambda x: x != "yes")
    # the headline is the files' sums
    h = plan.headline()
    assert h["purchase_order_lines"] == len(orders) and h["purchase_order_units"] == orders["quantity"].sum()
    assert h["purchase_order_value"] == pytest.approx(orders["value"].sum(), abs=0.01)
    dealers = ~is_wh
    before = (base - levels.set_index(["location_id", "part_number"])[["on_hand", "on_order"]].sum(axis=1)).clip(lower=0)
    assert h["dealer_units_short_before"] == int(before[dealers].sum())
    assert h["dealer_units_short_after"] == int((base - pos).clip(lower=0)[dealers].sum())
    assert h["dealer_units_short_after"] < h["dealer_units_short_before"]


def test_run_json_summary_and_settings_as_applied(runs):
    first, a, second, out = runs
    meta = json.loads((a / "run.json").read_text())
    head = meta["summary"]["headline"]
    want = first.headline()
    for key, value in want.items():
        if isinstance(value, float):
            assert head[key] == pytest.approx(value, abs=0.006), key
        else:
            assert head[key] == value, key
    # money in cents, nothing printed with 17 digits
    assert head["investment"] == round(head["investment"], 2)
    assert [s["tier"] for s in meta["summary"]["service"]] == [1, 2, 3, 4]
    s = meta["settings"]
    assert s["currency"] == "CNY" and s["freight_paid_by"] == "factory"
    assert isinstance(s["backorder_cost_per_day"], dict) and set(s["backorder_cost_per_day"]) == {"1", "2", "3", "4"}


def test_report_first_screen_has_the_weeks_actions(runs):
    first, a, _, _ = runs
    page = (a / "report.html").read_text(encoding="utf-8")
    h = first.headline()
    actions = page[page.index("<section id='actions'>"):page.index("</section>")]
    assert f"{h['purchase_order_lines']:,} lines" in actions
    assert f"{h['purchase_order_value']:,.2f} CNY" in actions
    assert f"{h['transfers']:,} moves" in actions and f"freight {h['freight']:,.2f} CNY" in actions
    assert f"{h['dealer_units_short_before']:,} → {h['dealer_units_short_after']:,}" in actions
    assert f"{h['investment']:,.2f} CNY" in actions
    # the service table: one row per tier with its target
    for tier, row in first.service().iterrows():
        assert re.search(rf"<td class='num'>{tier}</td><td class='num'>{int(row['dealers'])}</td>"
                         rf"<td class='num'>{row['target']:.3f}</td>", actions)
    # the actions come before the exceptions and the charts
    assert page.index("id='actions'") < page.index("id='exceptions'") < page.index("id='charts'")
    assert "No previous run in this folder" in page
    assert "Every tier meets its fill-rate target." in page


def test_budget_capped_report_says_what_is_missed_and_why(runs):
    _, _, second, out = runs
    page = (out / "report.html").read_text(encoding="utf-8")
    assert len(second.warnings) == 4
    assert "<div class='warn' id='warnings'><strong>4 warnings</strong>" in page
    assert page.index("id='warnings'") < page.index("id='actions'")
    missed = page[page.index("Targets missed, and why"):page.index("Dealers most at risk")]
    assert missed.count("the budget of 250,000.00 CNY binds") == 4
    assert "NO</td>" in page
    meta = json.loads((out / "run.json").read_text())
    assert meta["warnings"] == second.warnings


def test_week_over_week_change_against_the_previous_run(runs):
    first, _, second, out = runs
    page = (out / "report.html").read_text(encoding="utf-8")
    since = page[page.index("<section id='since'>"):]
    since = since[:since.index("</section>")]
    a, b = first.headline(), second.headline()
    row = re.search(r"<td class='txt'>investment</td><td class='txt'>([^<]*)</td><td class='txt'>([^<]*)</td>"
                    r"<td class='txt'>([^<]*)</td>", since)
    assert row, since
    then, now, change = (float(x.split()[0].replace(",", "")) for x in row.groups())
    assert then == pytest.approx(a["investment"], abs=0.006) and now == pytest.approx(b["investment"], abs=0.006)
    assert change == pytest.approx(b["investment"] - a["investment"], abs=0.02) and change < 0
    n = re.search(r"<td class='txt'>transfers</td><td class='txt'>([^<]*)</td><td class='txt'>([^<]*)</td>"
                  r"<td class='txt'>([^<]*)</td>", since)
    assert [int(x.replace(",", "")) for x in n.groups()] == [a["transfers"], b["transfers"],
                                                              b["transfers"] - a["transfers"]]


def test_previous_run_that_cannot_be_read_is_said_and_ignored(tmp_path, sample_fleet):
    out = tmp_path / "p"
    out.mkdir()
    (out / "run.json").write_text('{"summary": {"headline": "not a table"}}')
    prev, note = read_previous_run(out)
    assert prev is None and "could not be read" in note
    (out / "run.json").write_bytes(b"\xff\xfe garbage")
    assert read_previous_run(out)[0] is None
    (out / "run.json").write_text(json.dumps({"as_of": "2026-06-24", "summary": {
        "headline": {"investment": 1e5, "freight": "=cmd()", "transfers": float("inf")},
        "service": [{"tier": 1, "target": 0.9, "expected_fill_rate": 0.8}]}}))
    prev, note = read_previous_run(out)
    assert prev.summary == {"investment": 1e5} and prev.as_of == "2026-06-24" and note == ""
    assert read_previous_run(tmp_path / "none")[0] is None


def test_currency_setting_reaches_every_output(sample_fleet, tmp_path):
    plan = _run(sample_fleet, tmp_path / "p", currency="EUR")
    orders = _csv(tmp_path / "p" / "orders.csv")
    assert (orders["currency"] == "EUR").all()
    page = (tmp_path / "p" / "report.html").read_text(encoding="utf-8")
    assert "amounts in EUR" in page and "CNY" not in page
    assert json.loads((tmp_path / "p" / "run.json").read_text())["settings"]["currency"] == "EUR"
    assert plan.headline()["currency"] == "EUR"


@pytest.mark.parametrize("key, value", [("currency", "€$"), ("currency", "=1+1"), ("currency", ""),
                                        ("currency", "ABCDEFGHI"), ("freight_paid_by", "nobody"),
                                        ("backorder_cost_per_day", {5: 100}),
                                        ("backorder_cost_per_day", {1: -1}),
                                        ("backorder_cost_per_day", float("nan"))])
def test_bad_settings_are_input_errors(key, value):
    with pytest.raises(pf.InputError, match=f"setting {key}"):
        PlanSettings(**{key: value})


def test_report_escapes_hostile_names_and_fetches_nothing(sample_dir, tmp_path):
    loc = pd.read_csv(sample_dir / "locations.csv", dtype=str, keep_default_na=False)
    loc.loc[loc["location_id"] == "D002", "dealer_name"] = "<script>alert(1)</script><img src=http://x/y>"
    loc.to_csv(sample_dir / "locations.csv", index=False)
    r = subprocess.run([sys.executable, "-m", "partsforecast", "plan", "--data", str(sample_dir), "--out",
                        str(tmp_path / "p"), "--horizon", "4"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "p" / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # self-contained: every image inline, no link or source that leaves the file
    assert _resources(page) and all(url.startswith("data:image/png;base64,") for url in _resources(page))
    assert "<img src=http" not in page


def _resources(page: str) -> list[str]:
    """Every src / href attribute value of the page's tags."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.extend(v or "" for k, v in attrs if k in ("src", "href"))

    Collect().feed(page)
    return found


def test_service_curve_shows_the_plans_neighbourhood(runs):
    from partsforecast import plot

    first = runs[0]
    ax = plot.service_curve(first.curve, currency="CNY")
    x0 = float(first.curve.loc[first.curve["is_plan"].astype(bool), "investment"].iloc[0])
    xs = ax.lines[0].get_xdata()
    assert xs.min() >= 0.5 * x0 - 1e-6 and xs.max() <= 1.5 * x0 + 1e-6 and len(xs) >= 2
    assert first.curve["investment"].max() > 1.5 * x0  # the whole curve reaches further
    assert "CNY" in ax.get_xlabel()


def test_transfer_map_labels_every_location_and_keeps_tiers_apart_from_lines(runs, sample_fleet):
    from matplotlib.colors import to_hex

    from partsforecast import plot

    first = runs[0]
    ax = plot.transfer_map(sample_fleet, first.transfers)
    labels = {t.get_text() for t in ax.texts}
    assert labels == set(sample_fleet.locations["location_id"])
    lines = {to_hex(c) for coll in ax.collections if coll.__class__.__name__ == "LineCollection"
             for c in coll.get_colors()}
    dots = {to_hex(c) for coll in ax.collections if coll.__class__.__name__ == "PathCollection"
            for c in coll.get_facecolors()}
    assert lines and dots and not lines & dots
    assert {to_hex(c) for c in plot.TIER_COLOURS.values()} <= dots


def test_transfer_map_of_a_large_network_labels_the_busiest_dealers(runs, sample_fleet):
    from partsforecast import plot

    moves = runs[0].transfers
    assert moves["to_id"].nunique() > 3
    units = (pd.concat([moves.groupby("from_id")["quantity"].sum(), moves.groupby("to_id")["quantity"].sum()])
             .groupby(level=0).sum().drop(sample_fleet.warehouse_id, errors="ignore"))
    ax = plot.transfer_map(sample_fleet, moves, max_labels=3)
    labels = {t.get_text() for t in ax.texts}
    busiest = units.reset_index().set_axis(["id", "units"], axis=1).sort_values(
        ["units", "id"], ascending=[False, True])["id"].head(3)
    assert labels == set(busiest) | {sample_fleet.warehouse_id}
    assert len(labels) == 4


def test_report_and_run_json_carry_the_stocking_certificate(runs):
    first, a, second, b = runs
    meta = json.loads((a / "run.json").read_text())["stocking"]
    st = first.stocking
    assert meta["algorithm"] == "frontier"
    # targets: a lower bound on the money, never above the plan's, and the gap between them
    assert meta["investment_lower_bound"] <= meta["investment"]
    assert meta["gap"] == pytest.approx((st.investment - st.investment_lower_bound) / st.investment, abs=1e-6)
    assert meta["gap"] < 0.01
    page = (a / "report.html").read_text(encoding="utf-8")
    cert = page[page.index("id='certificate'"):]
    assert f"costs less than {st.investment_lower_bound:,.2f} CNY" in cert
    assert f"within {st.gap:.3%} of that bound" in cert
    # a budget plan bounds its backorders from below instead
    meta_b = json.loads((b / "run.json").read_text())["stocking"]
    assert meta_b["investment_lower_bound"] is None
    assert 0 <= meta_b["backorders_lower_bound"] <= second.stocking.total_backorders
    assert "expected backorders" in (b / "report.html").read_text(encoding="utf-8").split("id='certificate'")[1]


def test_report_lists_the_stockouts_to_follow_up(runs, sample_fleet):
    from partsforecast.service import stockouts

    first, a, _, _ = runs
    reg = stockouts(sample_fleet, transfers=first.transfers)
    page = (a / "report.html").read_text(encoding="utf-8")
    sec = page[page.index("id='stockouts'"):]
    sec = sec[:sec.index("<h3")]  # up to the next part of the exceptions
    n_open = int((reg["status"] == "open").sum())
    assert n_open > 0 and len(reg) > n_open
    assert f"{len(reg):,} ticket lines waited for a part" in sec
    assert f"{n_open:,} still open ({int(reg['overdue'].sum()):,} overdue)" in sec
    assert f"{int((reg['status'] == 'transferred').sum()):,} covered by this week's transfers" in sec
    # the follow-up list: the oldest open stock-outs, oldest first
    oldest = reg[reg["status"] == "open"].sort_values("opened_at", kind="stable").head(10)
    rows = sec.split("<tbody>")[1].split("</tr>")[:-1]
    assert len(rows) == len(oldest)
    for row, ticket in zip(rows, oldest["ticket_id"]):
        assert f">{ticket}<" in row
    assert page.index("id='exceptions'") < page.index("id='stockouts'") < page.index("id='charts'")


def test_stockout_section_says_when_the_tickets_cannot_tell(runs, sample_fleet):
    import copy

    from partsforecast.report import _stockouts

    first = runs[0]
    blind = copy.copy(sample_fleet)
    blind.tickets = sample_fleet.tickets.assign(parts_ready_at=pd.NaT)
    assert "carry no parts-ready times" in _stockouts(blind, first)
    assert "carry no parts-ready times" not in _stockouts(sample_fleet, first)
