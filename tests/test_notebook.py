"""The quick-start notebook runs from top to bottom (its code cells, in order), and what it
shows is right: the backtest's calibration, the plan's service against its targets in the
simulation, and the plan it writes."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from _notebooks import run_notebook

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"
TARGETS = {1: 0.95, 2: 0.93, 3: 0.90, 4: 0.90}  # the notebook's plan_stock(targets=...)


@pytest.fixture(scope="module")
def notebook(tmp_path_factory):
    if not NOTEBOOK.exists():
        pytest.fail(f"{NOTEBOOK} is missing")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    work = tmp_path_factory.mktemp("notebook")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        ns, results = run_notebook(NOTEBOOK)
    plt.close("all")
    return ns, results, work


def test_backtest_is_calibrated(notebook):
    ns, results, _ = notebook
    fleet, back = ns["fleet"], ns["back"]
    cut = fleet.as_of - pd.DateOffset(years=1)
    # The backtest forecast the year held out from the data before it: one cutoff a year
    # before the end, every dealer × part pair of the forecast in each of the 12 months ...
    assert (back["cutoff"] == cut).all()
    assert list(pd.DatetimeIndex(back["period"].unique())) == list(pd.date_range(cut, periods=12, freq="MS"))
    pairs = back[["location_id", "part_number"]].drop_duplicates()
    assert len(back) == 12 * len(pairs) > 0
    # ... and its actuals are that year's tickets, summed here by hand: per month over the
    # pairs the forecast covers (nearly all the units).
    later = fleet.tickets[fleet.tickets["opened_at"] >= cut]
    later = later.assign(period=later["opened_at"].dt.to_period("M").dt.start_time)
    covered = later.merge(pairs, on=["location_id", "part_number"])
    by_month = covered.groupby("period")["quantity"].sum()
    assert back.groupby("period")["y"].sum().to_dict() == by_month.to_dict()
    assert covered["quantity"].sum() >= 0.99 * later["quantity"].sum()
    # At least 90% of the cells stayed at or below the 90% quantile, as the text says, and
    # the PIT fills the central 80% band to within three points.
    assert (back["y"] <= back["q0.9"]).mean() >= 0.9
    assert abs(ns["pit_coverage"](back["cdf_below"], back["cdf_at"], 0.8) - 0.8) < 0.03
    # The monthly table the cell shows: actual units against the forecast's mean.
    table = results["cell-09"]
    assert list(table.columns) == ["actual", "forecast"] and len(table) == 12
    assert table["actual"].to_dict() == by_month.to_dict()
    assert table["forecast"].sum() == pytest.approx(back["mean"].sum(), abs=0.05 * len(table))
    assert abs(table["forecast"].sum() / table["actual"].sum() - 1) < 0.15


def test_plan_meets_the_targets(notebook):
    ns, results, _ = notebook
    plan = ns["plan"]
    st = plan.stocking
    assert dict(st.targets) == TARGETS
    for tier, target in TARGETS.items():
        assert st.tier_fill_rate[tier] >= target - 1e-6, tier
    # the levels' money is the optimiser's investment
    assert plan.levels["inventory_value"].sum() == pytest.approx(st.investment)


def test_simulated_service_matches_the_targets(notebook):
    ns, results, _ = notebook
    sim, plan = ns["sim"], ns["plan"]
    bt = results["cell-15"]  # the cell shows sim.by_tier
    assert bt is sim.by_tier
    assert list(bt.index) == [1, 2, 3, 4, "all", "warehouse"]
    assert sim.n_reps == 10 and sim.days == 180
    for tier, target in TARGETS.items():
        row = bt.loc[tier]
        assert row["target"] == target
        assert row["planned_fill_rate"] == pytest.approx(plan.stocking.tier_fill_rate[tier])
        assert row["fill_rate_lo"] <= row["fill_rate"] <= row["fill_rate_hi"]
        # The plan is made from the fitted model and simulated against the TRUE failure
        # process: the achieved fill rate is the target's to within the model's error (two
        # points) beyond the simulation's own 95% interval.
        assert row["fill_rate_lo"] - 0.02 <= target <= row["fill_rate_hi"] + 0.02, (tier, row)
        assert row["demand"] > 0 and row["inventory_value"] > 0
    # The demand simulated is the true forecast's: per tier, the units the notebook's
    # truth_fc expects over the 180 days (each month's mean pro rata), within 4 standard
    # errors of a Poisson total averaged over the replications.
    fleet, truth_fc, st = ns["fleet"], ns["truth_fc"], plan.stocking
    start, end = fleet.as_of, fleet.as_of + pd.Timedelta(days=sim.days)
    f = truth_fc[truth_fc["location_id"].isin(st.dealer_ids) & truth_fc["part_number"].isin(st.part_ids)]
    begin = pd.to_datetime(f["period"])
    stop = begin + pd.offsets.MonthBegin(1)
    days = (np.minimum(stop, end) - np.maximum(begin, start)).dt.days.clip(lower=0)
    units = f["mean"] * days / (stop - begin).dt.days
    tier_of = fleet.locations.set_index("location_id")["tier"]
    expected = units.groupby(f["location_id"].astype(str).map(tier_of).to_numpy()).sum()
    for tier in TARGETS:
        se = np.sqrt(expected[tier] / sim.n_reps)
        assert abs(bt.loc[tier, "demand"] - expected[tier]) < 4 * se + 1, (tier, expected[tier])
    assert bt.loc["all", "planned_fill_rate"] == pytest.approx(plan.stocking.system_fill_rate)
    assert abs(bt.loc["all", "fill_rate"] - plan.stocking.system_fill_rate) < 0.02
    assert bt.loc["all", "demand"] == pytest.approx(bt.loc[[1, 2, 3, 4], "demand"].sum())
    assert sim.transfer_cost == pytest.approx(plan.transfers["cost"].sum())


def test_simulation_displays(notebook):
    ns, _, _ = notebook
    sim = ns["sim"]
    from partsforecast._display import fmt

    text = repr(sim)
    all_dealers, wh = sim.by_tier.loc["all"], sim.by_tier.loc["warehouse"]
    assert text == (f"SimulationResult(days=180, replications=10, seed=0, "
                    f"dealer_fill_rate={fmt(float(all_dealers['fill_rate']))}, "
                    f"dealer_wait_days={fmt(float(all_dealers['wait_days']))}, "
                    f"warehouse_fill_rate={fmt(float(wh['fill_rate']))})")
    page = sim._repr_html_()
    assert page.startswith("<div>") and page.count("<table") == 2
    assert ">180<" in page and ">10<" in page and "transfer_cost" in page
    # the per-tier table: one row per tier, all dealers and the warehouse
    for tier in [1, 2, 3, 4, "all", "warehouse"]:
        assert f"<td>{tier}</td>" in page, tier
    assert "fill_rate_lo" in page and "inventory_value" in page


def test_written_plan_is_the_plan(notebook):
    ns, results, work = notebook
    plan = ns["plan"]
    out = work / "out" / "quickstart-plan"
    assert results["cell-17"] == ["orders.csv", "stock_plan.csv", "transfers"]
    from partsforecast.plan import STOCK_PLAN_COLUMNS

    written = pd.read_csv(out / "stock_plan.csv", dtype={"location_id": str, "part_number": str})
    assert list(written.columns) == STOCK_PLAN_COLUMNS
    from partsforecast._io import round_for_people

    # the file holds the plan at the precision people read (money to cents, rates to 6 decimals)
    want = round_for_people(plan.levels[STOCK_PLAN_COLUMNS].reset_index(drop=True))
    pd.testing.assert_frame_equal(written, want, check_dtype=False, check_exact=False, rtol=1e-15)
    assert written["inventory_value"].sum() == pytest.approx(plan.stocking.investment)
    files = plan.dealer_files()
    index = pd.read_csv(out / "transfers" / "index.csv", dtype={"location_id": str})
    assert sorted(index["location_id"]) == sorted(files) and len(files) > 0
    assert sorted(p.name for p in (out / "transfers").iterdir()) == sorted(
        [f"{d}.csv" for d in files] + ["index.csv"])
    t = plan.transfers
    assert index["units_in"].sum() == t.loc[t["to_id"] != plan.warehouse_id, "quantity"].sum()
    for loc, frame in files.items():
        back = pd.read_csv(out / "transfers" / f"{loc}.csv", dtype=str)
        assert len(back) == len(frame)
        assert np.array_equal(back["quantity"].astype(int), frame["quantity"].to_numpy()), loc
        assert np.array_equal(back["transfer_id"], frame["transfer_id"].astype(str)), loc
