"""The README's tour of the Python API runs as written, and gives what its comments say.

The ```python block under "A tour of the Python API" is read from README.md at test time
(so the README cannot drift from the library) and executed, statement by statement, in a
temporary working folder.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## A tour of the Python API"

#: Statements of the tour known not to run, by their first characters: why. Each is a README
#: bug; test_tour_runs_as_written fails (XPASS) once the README is fixed: then drop the entry.
KNOWN_BROKEN: dict[str, str] = {}


def tour_source() -> str:
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, f"README.md has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, f"expected one ```python block in {SECTION!r}, found {len(blocks)}"
    return blocks[0]


def _statements(source: str):
    tree = ast.parse(source, "README tour")
    for node in tree.body:
        yield node, ast.get_source_segment(source, node)


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    """Run the tour statement by statement: (namespace, {statement: value of an expression
    statement}, {statement: error}, printed output, working folder)."""
    import matplotlib.pyplot as plt

    work = tmp_path_factory.mktemp("tour")
    ns: dict = {}
    values: dict[str, object] = {}
    errors: dict[str, BaseException] = {}
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(printed):
        mp.chdir(work)
        for node, src in _statements(tour_source()):
            try:
                if isinstance(node, ast.Expr):
                    values[src] = eval(compile(ast.Expression(node.value), "README tour", "eval"), ns)
                else:
                    exec(compile(ast.Module([node], type_ignores=[]), "README tour", "exec"), ns)
            except Exception as exc:  # noqa: BLE001 - collected and asserted on below
                errors[src] = exc
    plt.close("all")
    return ns, values, errors, printed.getvalue(), work


def _value(values: dict, start: str):
    hits = [v for src, v in values.items() if src.startswith(start)]
    assert len(hits) == 1, f"no single tour statement starting {start!r}"
    return hits[0]


def test_tour_runs_as_written(tour):
    # every statement, in order, in one namespace: as a reader pastes the block
    _, _, errors, _, _ = tour
    assert not errors, {src: f"{type(e).__name__}: {e}" for src, e in errors.items()}


def test_every_other_statement_runs(tour):
    _, _, errors, _, _ = tour
    unexpected = {src: f"{type(e).__name__}: {e}" for src, e in errors.items()
                  if not any(src.startswith(k) for k in KNOWN_BROKEN)}
    assert not unexpected, unexpected


def test_fleets(tour):
    ns, values, _, _, _ = tour
    fleet, past, big = ns["fleet"], ns["past"], ns["big"]
    assert isinstance(_value(values, "fleet.summary()"), pd.DataFrame)
    assert len(fleet.machines) == 3000 and len(fleet.dealers) == 30
    assert past.as_of == pd.Timestamp("2025-07-01")
    assert (past.tickets["opened_at"] < past.as_of).all() and 0 < len(past.tickets) < len(fleet.tickets)
    assert len(big.machines) == 20_000 and len(big.dealers) == 80
    life = _value(values, 'big.truth["lifetimes"]')
    assert {"machine_model", "component", "shape", "scale"} <= set(life.columns)
    assert (life["shape"] > 0).all() and (life["scale"] > 0).all()


def test_failure_model(tour):
    ns, values, _, _, _ = tour
    model = ns["model"]
    params = _value(values, "model.params_")
    assert params is model.params_ and model.pooling == "shrink"
    # shape, scale, intervals, failures, method, fit quality
    assert {"shape", "scale", "shape_lower", "shape_upper", "scale_lower", "scale_upper",
            "n_failures", "n_censored", "method", "ks_distance"} <= set(params.columns)
    row = params.set_index(["machine_model", "component"]).loc[("EX200", "hydraulic_pump")]
    k, eta = row["shape"], row["scale"]
    # P(fail within 500 h | survived 3000 h) of the Weibull the model fitted
    want = 1 - np.exp(-((3500 / eta) ** k - (3000 / eta) ** k))
    got = _value(values, "model.conditional_failure_prob(")
    assert float(np.squeeze(got)) == pytest.approx(want, rel=1e-9)
    assert 0 < want < 1
    # the survival plot draws that model's survival curve
    ax = _value(values, 'model.plot("EX200", "hydraulic_pump"')
    assert "EX200" in ax.get_title() and "hydraulic_pump" in ax.get_title()
    fit_line = ax.lines[-1]
    x, y = np.asarray(fit_line.get_xdata()), np.asarray(fit_line.get_ydata())
    np.testing.assert_allclose(y, np.exp(-(x / eta) ** k), rtol=1e-9)


def test_forecasts(tour):
    ns, values, _, _, _ = tour
    fc, grown, fleet = ns["fc"], ns["grown"], ns["fleet"]
    head = _value(values, "fc.head()")
    assert list(head.columns) == ["location_id", "part_number", "period", "mean", "var", "q0.5",
                                  "q0.8", "q0.9", "q0.95", "q0.99"]
    assert isinstance(fc["location_id"].dtype, pd.CategoricalDtype)
    assert isinstance(fc["part_number"].dtype, pd.CategoricalDtype)
    assert fc["period"].nunique() == 12 and fc["period"].min() == fleet.as_of
    # demand over 30 days from the origin: 30/31 of July's (the first period's) mean
    ltd = _value(values, "pf.lead_time_demand(fc, 30")
    july = fc[fc["period"] == fc["period"].min()].groupby(
        ["location_id", "part_number"], observed=True)["mean"].sum()
    got = ltd.set_index(["location_id", "part_number"])["mean"]
    np.testing.assert_allclose(got.reindex(july.index).to_numpy(), july.to_numpy() * 30 / 31, rtol=1e-9)
    assert (ltd["q0.99"] >= ltd["q0.9"]).all() and (ltd["q0.9"] >= 0).all()
    # with last year's sales going on, more machines fail: more demand
    assert grown["mean"].sum() > fc["mean"].sum()
    assert callable(ns["pit_coverage"])


def test_plan_simulation_and_files(tour):
    ns, values, _, printed, work = tour
    plan, sim = ns["plan"], ns["sim"]
    levels, transfers, curve = _value(values, "plan.levels, plan.transfers, plan.curve")
    assert len(levels) > 0 and len(transfers) > 0 and len(curve) > 0
    targets = {1: 0.95, 2: 0.93, 3: 0.90, 4: 0.90}
    for tier, target in targets.items():
        assert plan.stocking.tier_fill_rate[tier] >= target - 1e-6
    assert str(plan.transfer_report) in printed and "transfers: optimal" in printed
    by_tier = _value(values, "sim.by_tier")
    assert {"fill_rate", "mean_backorders", "wait_days"} <= set(by_tier.columns)
    # simulated against the forecast it was planned on, the plan delivers its targets
    for tier, target in targets.items():
        assert abs(by_tier.loc[tier, "fill_rate"] - target) < 0.03, (tier, by_tier.loc[tier])
    assert sim.n_reps == 20 and sim.days == 180
    out = work / "out" / "my-plan"
    assert _value(values, 'plan.write("out/my-plan")') == Path("out/my-plan")
    written = pd.read_csv(out / "stock_plan.csv")
    assert len(written) == len(plan.levels)
    assert written["inventory_value"].sum() == pytest.approx(plan.stocking.investment)
    assert sorted(p.name for p in (out / "transfers").iterdir()) == sorted(
        [f"{d}.csv" for d in plan.dealer_files()] + ["index.csv"])


def test_intermittent_baselines(tour):
    ns, values, _, _, _ = tour
    fc = _value(values, "pf.intermittent.forecast(history")
    hist = ns["history"]
    assert hist["y"].sum() == ns["fleet"].tickets["quantity"].sum()
    assert set(fc["unique_id"]) == set(hist["unique_id"])
    assert (fc.groupby("unique_id").size() == 12).all()
    # SBA is Croston's forecast debiased by 1 - alpha/2 (alpha 0.1 by default)
    np.testing.assert_allclose(fc["sba"], 0.95 * fc["croston"], rtol=1e-12)
    for m in ("croston", "sba", "tsb", "imapa"):
        assert (fc[m] >= 0).all() and np.isfinite(fc[m]).all()


def test_known_parameters_backtest_and_plan_card(tour):
    ns, values, _, _, _ = tour
    got = ns["truth"].weibull_params().set_index(["machine_model", "component"]).sort_index()
    want = ns["big"].truth["lifetimes"].set_index(["machine_model", "component"]).sort_index()
    assert got.index.equals(want.index)
    np.testing.assert_array_equal(got[["shape", "scale"]].to_numpy(), want[["shape", "scale"]].to_numpy())
    bt, fleet = ns["bt"], ns["fleet"]
    assert {"cutoff", "location_id", "part_number", "period", "y", "mean", "var"} <= set(bt.columns)
    assert bt["cutoff"].nunique() == 1 and bt["period"].nunique() == 12
    # the held-out actuals are the tickets of those twelve months
    cut = bt["cutoff"].iloc[0]
    held = fleet.tickets[(fleet.tickets["opened_at"] >= cut) & (fleet.tickets["opened_at"] < bt["period"].max()
                                                                + pd.offsets.MonthBegin(1))]
    assert bt["y"].sum() <= held["quantity"].sum() and bt["y"].sum() >= 0.99 * held["quantity"].sum()
    card = values["plan"]  # the bare `plan` line shows the plan's card
    assert repr(card).startswith("StockPlan(") and f"transfers={len(card.transfers):,}" in repr(card)
