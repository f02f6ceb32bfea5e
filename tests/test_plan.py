"""The plan and the batch job: outputs' contract, conservation, determinism, atomicity, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from partsforecast import FailureModel, forecast_demand
from partsforecast.plan import DEFAULT_TARGETS, STOCK_PLAN_COLUMNS, plan_stock
from partsforecast.stocking import InfeasiblePlanError
from partsforecast.transfers import DEALER_FILE_COLUMNS


@pytest.fixture(scope="module")
def forecast(sample_fleet):
    model = FailureModel().fit(sample_fleet)
    return forecast_demand(model, sample_fleet, horizon=6)


@pytest.fixture(scope="module")
def plan(forecast, sample_fleet):
    return plan_stock(forecast, sample_fleet)


def _cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "partsforecast", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def test_plan_levels_contract_and_targets(plan, sample_fleet):
    lv = plan.levels
    assert list(lv[STOCK_PLAN_COLUMNS].columns) == STOCK_PLAN_COLUMNS
    assert not lv.duplicated(["location_id", "part_number"]).any()
    assert (lv["base_stock"] >= 0).all() and (lv["order_qty"] >= 0).all()
    assert lv["expected_fill_rate"].between(0, 1).all()
    # Every stock row of the input appears with its stock unchanged.
    merged = sample_fleet.stock.merge(lv, on=["location_id", "part_number"], suffixes=("", "_plan"))
    assert len(merged) == len(sample_fleet.stock)
    assert (merged["on_hand"] == merged["on_hand_plan"]).all()
    # The tier targets are met (demand-weighted fill rate per tier).
    summary = plan.summary()
    for tier, target in DEFAULT_TARGETS.items():
        assert summary.loc[tier, "fill_rate"] >= target - 1e-9


def test_transfers_conserve_stock(plan, sample_fleet):
    t = plan.transfers
    assert (t["quantity"] > 0).all()
    lanes = set(zip(sample_fleet.lanes["from_id"], sample_fleet.lanes["to_id"]))
    assert set(zip(t["from_id"], t["to_id"])) <= lanes
    sent = t.groupby(["from_id", "part_number"])["quantity"].sum()
    on_hand = sample_fleet.stock.set_index(["location_id", "part_number"])["on_hand"]
    assert (sent <= on_hand.reindex(sent.index).fillna(0)).all()
    # Receivers are dealers below target before the move, and not pushed above it.
    lv = plan.levels.set_index(["location_id", "part_number"])
    got = t.groupby(["to_id", "part_number"])["quantity"].sum()
    pos = (lv["on_hand"] + lv["on_order"]).reindex(got.index)
    assert (pos + got <= lv["base_stock"].reindex(got.index)).all()
    files = plan.dealer_files()
    n_rows = sum(len(f) for f in files.values())
    wh_moves = (t["from_id"] == plan.warehouse_id).sum()
    assert n_rows == 2 * len(t) - wh_moves  # each dealer-to-dealer move appears twice
    for loc, f in files.items():
        assert list(f.columns) == list(DEALER_FILE_COLUMNS)
        assert ((f["direction"] == "send") == (f["from_id"] == loc)).all()


def test_plan_order_qty_is_gap_after_transfers(plan):
    lv = plan.levels.set_index(["location_id", "part_number"])
    t = plan.transfers
    net = (t.groupby(["to_id", "part_number"])["quantity"].sum().rename_axis(lv.index.names)
           .sub(t.groupby(["from_id", "part_number"])["quantity"].sum().rename_axis(lv.index.names), fill_value=0))
    pos = lv["on_hand"] + lv["on_order"] + net.reindex(lv.index).fillna(0)
    np.testing.assert_array_equal(lv["position_after"], pos)
    gap = lv["base_stock"] - pos
    is_wh = lv.index.get_level_values(0) == plan.warehouse_id
    # a dealer still lacks its gap; the warehouse orders its own gap plus what the dealers lack
    np.testing.assert_array_equal(lv.loc[~is_wh, "order_qty"], np.maximum(gap[~is_wh], 0))
    lacking = gap[~is_wh].clip(lower=0).groupby(level=1).sum()
    wh = gap[is_wh].droplevel(0)
    want = np.maximum(wh + lacking.reindex(wh.index).fillna(0), 0)
    np.testing.assert_array_equal(lv.loc[is_wh, "order_qty"].droplevel(0), want)
    assert want.sum() > 0 and lacking.sum() > 0  # the sample exercises both terms
    orders = plan.orders.set_index("part_number")["quantity"]
    pd.testing.assert_series_equal(orders.sort_index(), want[want > 0].astype("int64").sort_index(),
                                   check_names=False)


def test_higher_targets_cost_more(forecast, sample_fleet):
    low = plan_stock(forecast, sample_fleet, targets={1: 0.85, 2: 0.85, 3: 0.8, 4: 0.8})
    high = plan_stock(forecast, sample_fleet, targets={1: 0.97, 2: 0.96, 3: 0.95, 4: 0.95})
    assert high.levels["inventory_value"].sum() > low.levels["inventory_value"].sum()


def test_class_targets_hold_for_every_class_in_every_tier(forecast, sample_fleet, plan):
    from partsforecast.plan import PlanSettings
    from partsforecast.service import part_classes

    classes = {"A": 0.90, "B": 0.93, "C": 0.97}  # cheap parts on the shelf, dear ones at the warehouse
    got = plan_stock(forecast, sample_fleet, settings=PlanSettings(class_fill_rate_targets=classes))
    st = got.stocking
    abc = part_classes(sample_fleet).set_index("part_number")["abc"].reindex(st.part_ids).to_numpy()
    lam, fill, tier = st.evaluation.demand_rate, st.evaluation.fill_rate, st.dealer_tier
    for c, c_target in classes.items():
        rows = abc == c
        assert rows.any()
        for t, t_target in DEFAULT_TARGETS.items():
            w = lam[rows][:, tier == t]
            # the "max" rule: the higher of the tier's and the class's target, for the class as a whole
            assert (w * fill[rows][:, tier == t]).sum() / w.sum() >= max(c_target, t_target) - 1e-9, (c, t)
    assert st.solver_info["service_groups"] == 3 and got.warnings == []
    # the tiers as a whole are held to what the classes promise, above the tier targets
    assert all(got.targets[t] >= DEFAULT_TARGETS[t] for t in DEFAULT_TARGETS)
    assert st.investment > plan.stocking.investment
    # the "scale" rule lets C parts fall below the tier's target: it costs less than "max"
    scaled = plan_stock(forecast, sample_fleet, settings=PlanSettings(
        class_fill_rate_targets={"A": 0.97, "B": 0.93, "C": 0.85}, class_target_rule="scale"))
    strict = plan_stock(forecast, sample_fleet, settings=PlanSettings(
        class_fill_rate_targets={"A": 0.97, "B": 0.93, "C": 0.85}))
    assert scaled.stocking.investment < strict.stocking.investment


def test_class_targets_with_a_budget_alone_are_said_to_be_unused(forecast, sample_fleet, plan):
    from partsforecast.plan import PlanSettings

    budget = 0.9 * plan.stocking.investment
    got = plan_stock(forecast, sample_fleet, settings=PlanSettings(
        budget=budget, class_fill_rate_targets={"A": 0.97, "B": 0.93, "C": 0.85}))
    assert any(w.startswith("class_fill_rate_targets were not applied") for w in got.warnings)
    assert got.stocking.investment <= budget and "service_groups" not in got.stocking.solver_info


@pytest.mark.parametrize("value", [{"A": 0.97, "B": 0.93}, {"A": 0.97, "B": 0.93, "C": 1.0},
                                   {"A": 0.97, "B": "x", "C": 0.8}, 0.9])
def test_bad_class_targets_are_setting_errors(value):
    import partsforecast as pf
    from partsforecast.plan import PlanSettings

    with pytest.raises(pf.InputError, match="setting class_fill_rate_targets"):
        PlanSettings(class_fill_rate_targets=value)
    with pytest.raises(pf.InputError, match="setting class_target_rule"):
        PlanSettings(class_target_rule="min")


def test_infeasible_budget(forecast, sample_fleet):
    with pytest.raises(InfeasiblePlanError, match="budget"):
        plan_stock(forecast, sample_fleet, targets={1: 0.95, 2: 0.95, 3: 0.95, 4: 0.95}, budget=1000.0)


def test_plan_write_atomic(plan, tmp_path):
    out = tmp_path / "plan"
    plan.write(out)
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*.csv")}
    assert (out / "stock_plan.csv").exists() and (out / "transfers" / "index.csv").exists()

    class Boom(RuntimeError):
        pass

    def broken(folder):
        (folder / "stock_plan.csv").write_text("half")
        raise Boom
    orig = plan._write_into
    plan._write_into = broken
    try:
        with pytest.raises(Boom):
            plan.write(out)
    finally:
        plan._write_into = orig
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*.csv")} == first
    assert [p.name for p in tmp_path.iterdir()] == ["plan"]  # no temporary folders left


# --- the command, as a subprocess ------------------------------------------------------

@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "out"
    r = _cli("plan", "--out", out, "--horizon", "6")
    assert r.returncode == 0, r.stderr
    return out


def test_cli_plan_outputs(cli_run):
    out = cli_run
    for name in ("stock_plan.csv", "forecast.csv", "failure_models.csv", "report.html", "run.json",
                 "transfers/index.csv"):
        assert (out / name).exists(), name
    sp = pd.read_csv(out / "stock_plan.csv")
    assert list(sp.columns) == STOCK_PLAN_COLUMNS
    index = pd.read_csv(out / "transfers" / "index.csv")
    assert len(index) > 0
    for f in index["file"]:
        t = pd.read_csv(out / "transfers" / f)
        assert list(t.columns) == list(DEALER_FILE_COLUMNS) and len(t) > 0
    run = json.loads((out / "run.json").read_text())
    assert run["transfers"]["status"] in ("optimal", "feasible")
    assert run["transfers"]["solver_status"] and "message" in run["transfers"]
    assert set(run["timings_seconds"]) == {"fit", "forecast", "optimise", "write"}
    assert "tickets.csv" in run["inputs"] and run["settings"]["horizon"] == 6
    assert "src='data:image/png;base64," in (out / "report.html").read_text()


def test_cli_plan_deterministic(cli_run, tmp_path):
    again = tmp_path / "again"
    r = _cli("plan", "--out", again, "--horizon", "6", "--no-report")
    assert r.returncode == 0, r.stderr
    for p in sorted(cli_run.rglob("*.csv")):
        assert p.read_bytes() == (again / p.relative_to(cli_run)).read_bytes(), p.name


# A kill inside the write stage is tested in test_hardening.py, at a moment the test controls.


def test_cli_exit_codes(sample_dir, tmp_path):
    # 2: bad input
    bad = pd.read_csv(sample_dir / "tickets.csv")
    bad.loc[0, "quantity"] = -4
    bad.to_csv(sample_dir / "tickets.csv", index=False)
    r = _cli("plan", "--data", sample_dir, "--out", tmp_path / "o")
    assert r.returncode == 2 and "quantity" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()
    # 3: infeasible (a budget far below what the targets need)
    cfg = tmp_path / "plan.toml"
    cfg.write_text("[plan]\nhorizon = 3\nbudget = 500.0\n"
                   "fill_rate_targets = {1 = 0.95, 2 = 0.95, 3 = 0.9, 4 = 0.9}\n")
    r = _cli("plan", "--config", cfg, "--out", tmp_path / "o3")
    assert r.returncode == 3, r.stderr
    assert "infeasible" in r.stderr and "budget" in r.stderr and "Traceback" not in r.stderr
    # 2 as well: an unknown setting in the config is bad input, named
    cfg.write_text("[plan]\nhorizn = 3\n")
    r = _cli("plan", "--config", cfg, "--out", tmp_path / "o1")
    assert r.returncode == 2 and "setting horizn: unknown setting" in r.stderr and "Traceback" not in r.stderr


def test_cli_unexpected_error_is_exit_1_and_debug_shows_it(monkeypatch, tmp_path, capsys):
    from partsforecast import cli

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("partsforecast.plan.run_plan", boom)
    assert cli.main(["plan", "--out", str(tmp_path / "o"), "--horizon", "2"]) == 1
    err = capsys.readouterr().err
    assert "error: disk on fire" in err and "--debug" in err and "Traceback" not in err
    with pytest.raises(RuntimeError, match="disk on fire"):
        cli.main(["plan", "--out", str(tmp_path / "o"), "--horizon", "2", "--debug"])


def test_cli_fit_and_forecast(tmp_path):
    r = _cli("fit", "--out", tmp_path / "fm.csv")
    assert r.returncode == 0, r.stderr
    fm = pd.read_csv(tmp_path / "fm.csv")
    # The same fit, in this process: the file holds its numbers, row for row.
    from partsforecast import FailureModel, load_sample

    ref = FailureModel(pooling="shrink").fit(load_sample()).params_
    assert list(fm.columns) == list(ref.columns) and len(fm) == len(ref) == 140
    for c in ("shape", "scale", "shape_lower", "scale_upper", "n_failures", "loglik"):
        # at the precision people read: 6 decimals
        np.testing.assert_array_equal(fm[c].to_numpy(float), ref[c].to_numpy(float).round(6), err_msg=c)
    assert (fm["machine_model"] + "/" + fm["component"]).tolist() == \
        (ref["machine_model"].astype(str) + "/" + ref["component"].astype(str)).tolist()
    r = _cli("forecast", "--out", tmp_path / "fc.csv", "--horizon", "2")
    assert r.returncode == 0, r.stderr
    fc = pd.read_csv(tmp_path / "fc.csv")
    assert fc["period"].nunique() == 2 and (fc["q0.99"] >= fc["q0.5"]).all()
    # The same forecast as Parquet (by the file name): same rows and numbers.
    r = _cli("forecast", "--out", tmp_path / "fc.parquet", "--horizon", "2")
    assert r.returncode == 0, r.stderr
    fp = pd.read_parquet(tmp_path / "fc.parquet")
    assert list(fp.columns) == list(fc.columns) and len(fp) == len(fc)
    np.testing.assert_array_equal(fp["location_id"].astype(str), fc["location_id"].astype(str))
    np.testing.assert_allclose(fp["mean"], fc["mean"], rtol=1e-15)
    np.testing.assert_array_equal(fp["q0.99"], fc["q0.99"])
    assert not list(tmp_path.glob(".fc*"))  # no temporary file left behind


def test_run_plan_writes_the_forecast_as_parquet(sample_fleet, tmp_path):
    from partsforecast.plan import PlanSettings, run_plan

    with pytest.raises(ValueError, match="setting forecast_format, value 'xlsx': must be one of 'auto', 'csv', 'parquet'"):
        PlanSettings(forecast_format="xlsx")
    s = PlanSettings(horizon=3, forecast_format="parquet", use_fixed_costs=False)
    run_plan(sample_fleet, tmp_path / "p", s, report=False)
    fc = pd.read_parquet(tmp_path / "p" / "forecast.parquet")
    assert not (tmp_path / "p" / "forecast.csv").exists()
    assert fc["period"].nunique() == 3 and len(fc) > 0
    assert json.loads((tmp_path / "p" / "run.json").read_text())["settings"]["forecast_format"] == "parquet"


def test_forecast_format_auto_writes_csv_up_to_a_spreadsheet_and_parquet_above(sample_fleet, tmp_path, monkeypatch):
    import partsforecast.plan as plan_module
    from partsforecast.plan import FORECAST_CSV_MAX_ROWS, PlanSettings, forecast_file_format, run_plan

    # a spreadsheet opens 1,048,576 rows, the header one of them
    assert forecast_file_format("auto", 1_048_575) == "csv" and forecast_file_format("auto", 1_048_576) == "parquet"
    assert forecast_file_format("csv", 10**8) == "csv" and forecast_file_format("parquet", 1) == "parquet"
    assert FORECAST_CSV_MAX_ROWS == 1_048_575 and PlanSettings().forecast_format == "auto"
    s = PlanSettings(horizon=2, use_fixed_costs=False)
    run_plan(sample_fleet, tmp_path / "small", s, report=False)  # the sample: a few thousand rows
    small = json.loads((tmp_path / "small" / "run.json").read_text())["outputs"]
    assert small["forecast"] == "forecast.csv" and (tmp_path / "small" / "forecast.csv").exists()
    assert len(pd.read_csv(tmp_path / "small" / "forecast.csv")) == small["forecast_rows"] > 100
    # the same run when the limit is below its rows: Parquet, the same table
    monkeypatch.setattr(plan_module, "FORECAST_CSV_MAX_ROWS", small["forecast_rows"] - 1)
    run_plan(sample_fleet, tmp_path / "big", s, report=False)
    big = json.loads((tmp_path / "big" / "run.json").read_text())["outputs"]
    assert big == {"forecast": "forecast.parquet", "forecast_rows": small["forecast_rows"]}
    assert not (tmp_path / "big" / "forecast.csv").exists()
    a = pd.read_csv(tmp_path / "small" / "forecast.csv")
    b = pd.read_parquet(tmp_path / "big" / "forecast.parquet")
    assert len(a) == len(b) and np.allclose(a["mean"].to_numpy(), b["mean"].to_numpy(), rtol=1e-6)


def test_cli_quiet_by_default_progress_and_verbose(tmp_path):
    # Not a terminal (cron, pipes): nothing on stderr on success.
    r = _cli("plan", "--out", tmp_path / "a", "--horizon", "2", "--no-report")
    assert r.returncode == 0 and r.stderr == ""
    # and stdout holds our one summary line, no solver banner (highspy >= 1.16 prints one)
    assert r.stdout.startswith("plan written to") and len(r.stdout.strip().splitlines()) == 1
    r = _cli("plan", "--out", tmp_path / "b", "--horizon", "2", "--no-report", "--progress")
    assert r.returncode == 0 and "4/4 write" in r.stderr and "[########################]" in r.stderr
    r = _cli("-v", "plan", "--out", tmp_path / "c", "--horizon", "2", "--no-report")
    assert r.returncode == 0 and "INFO fit done in" in r.stderr and "INFO forecast done in" in r.stderr
    r = _cli("-q", "plan", "--out", tmp_path / "d", "--horizon", "2", "--no-report", "--progress")
    assert r.returncode == 0 and r.stderr == ""


def test_cli_as_of_plans_with_data_known_then(tmp_path):
    r = _cli("forecast", "--out", tmp_path / "fc.csv", "--horizon", "2", "--as-of", "2025-07-01")
    assert r.returncode == 0, r.stderr
    fc = pd.read_csv(tmp_path / "fc.csv", parse_dates=["period"])
    assert fc["period"].min() == pd.Timestamp("2025-07-01")


def test_budget_that_binds_is_written_with_warnings_and_exit_4(tmp_path):
    out = tmp_path / "capped"
    r = _cli("plan", "--out", out, "--budget", "10000", "--horizon", "3")
    assert r.returncode == 4, r.stderr
    warned = [line for line in r.stdout.splitlines() if line.startswith("warning: ")]
    assert len(warned) == 4 and all("below its target" in w and "budget of 10,000.00 binds" in w for w in warned)
    run = json.loads((out / "run.json").read_text())
    assert [f"warning: {w}" for w in run["warnings"]] == warned
    assert run["settings"]["fill_rate_targets"] is None and run["settings"]["budget"] == 10000
    assert run["settings"]["targets_checked"] == {str(k): v for k, v in DEFAULT_TARGETS.items()}
    sp = pd.read_csv(out / "stock_plan.csv")
    assert sp["inventory_value"].sum() <= 10000 + 1e-6 and run["stocking"]["investment"] <= 10000
    # each tier's warning carries the plan's own expected fill rate, as the report shows it
    report = (out / "report.html").read_text()
    assert "4 warnings" in report and report.index("4 warnings") < report.index("<img")
    for w in run["warnings"]:
        assert w.replace("&", "&amp;") in report


def test_plan_meeting_its_targets_has_no_warnings(cli_run):
    run = json.loads((cli_run / "run.json").read_text())
    assert run["warnings"] == []
    assert run["settings"]["fill_rate_targets"] == {str(k): v for k, v in DEFAULT_TARGETS.items()}


def test_numbers_at_the_precision_people_read(cli_run):
    import re

    def decimals(path, column):
        text = pd.read_csv(path, dtype=str)[column].dropna()
        return text.map(lambda v: len(v.split(".")[1]) if "." in v and "e" not in v else 0).max()

    assert decimals(cli_run / "stock_plan.csv", "inventory_value") <= 2
    assert 3 <= decimals(cli_run / "stock_plan.csv", "expected_backorders") <= 6
    assert decimals(cli_run / "forecast.csv", "mean") <= 6
    assert decimals(cli_run / "failure_models.csv", "scale") <= 6
    index = pd.read_csv(cli_run / "transfers" / "index.csv")
    assert decimals(cli_run / "transfers" / index["file"][0], "cost") <= 2
    text = (cli_run / "run.json").read_text()
    for key in ("investment", "objective"):
        value = re.search(rf'"{key}": ([0-9.]+)', text).group(1)
        assert len(value.split(".")[1]) <= 2 if "." in value else True, (key, value)


def test_as_of_after_the_data_needs_force(tmp_path):
    r = _cli("forecast", "--out", tmp_path / "f.csv", "--horizon", "2", "--as-of", "2026-08-15")
    assert r.returncode == 2 and "setting --as-of, value '2026-08-15'" in r.stderr
    assert "after the end of the data (2026-07-01)" in r.stderr and not (tmp_path / "f.csv").exists()
    r = _cli("forecast", "--out", tmp_path / "f.csv", "--horizon", "2", "--as-of", "2026-08-15", "--force-as-of")
    assert r.returncode == 0, r.stderr
    fc = pd.read_csv(tmp_path / "f.csv", parse_dates=["period"])
    # the forecast starts at the forced date: the stub to September is in the first period
    assert fc["period"].min() == pd.Timestamp("2026-09-01") and fc["period"].nunique() == 2
