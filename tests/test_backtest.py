"""backtest_forecast: the installed-base forecast refitted at each cutoff on the fleet as
known then, next to the demand that followed. The actuals are checked against ticket sums
made here independently, the forecast columns against forecast_demand called directly,
and the predictive CDFs against the quantiles and, with the true lifetimes, against the
nominal coverage."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest

import partsforecast as pf
from partsforecast import FailureModel, forecast_demand
from partsforecast.data import InputError
from partsforecast.demand import recent_sales
from partsforecast.evaluate import backtest_forecast, evaluate, pit_coverage, pit_histogram

KEYS = ["location_id", "part_number", "period"]


def true_model(fleet):
    """A model holding the lifetimes that generated ``fleet``."""
    table = fleet.truth["lifetimes"]
    if hasattr(FailureModel, "from_params"):
        return FailureModel.from_params(table)
    return types.SimpleNamespace(params_=table)


def ticket_sums(fleet, cutoff, periods_per_bucket: int) -> pd.Series:
    """Units per (location, part, period start) from the tickets opened at or after the
    cutoff, bucketed by calendar months (``periods_per_bucket`` months to a period)."""
    t = fleet.tickets[fleet.tickets["opened_at"] >= cutoff]
    month = t["opened_at"].dt.year * 12 + t["opened_at"].dt.month - 1
    first = cutoff.year * 12 + cutoff.month - 1
    start = first + (month - first) // periods_per_bucket * periods_per_bucket
    period = pd.to_datetime({"year": start // 12, "month": start % 12 + 1, "day": 1})
    return t.groupby([t["location_id"], t["part_number"], period.rename("period")])["quantity"].sum()


@pytest.fixture(scope="module")
def truth_backtest(sample_fleet):
    truth = true_model(sample_fleet)
    return backtest_forecast(sample_fleet, n_windows=2, horizon=3, step=2,
                             model_factory=lambda past: truth, pit=True)


@pytest.mark.parametrize("freq, months", [("MS", 1), ("QS", 3)])
def test_actuals_are_the_ticket_sums(sample_fleet, freq, months):
    fleet = sample_fleet
    truth = true_model(fleet)
    bt = backtest_forecast(fleet, n_windows=2, horizon=2, freq=freq, model_factory=lambda past: truth)
    # origins on the calendar, the last one `horizon` periods before as_of (2026-07-01)
    want_cuts = {"MS": ["2026-03-01", "2026-05-01"], "QS": ["2025-07-01", "2026-01-01"]}[freq]
    assert list(bt["cutoff"].unique()) == list(pd.to_datetime(want_cuts))
    for cut, block in bt.groupby("cutoff"):
        sums = ticket_sums(fleet, cut, months)
        periods = pd.date_range(cut, periods=2, freq=freq)
        assert sorted(block["period"].unique()) == list(periods)
        # every pair of the forecast, every period: a complete grid
        pairs = block[["location_id", "part_number"]].drop_duplicates()
        assert len(block) == 2 * len(pairs)
        got = block.set_index(KEYS)["y"]
        want = sums.reindex(got.index, fill_value=0)
        np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())
        # zero-demand cells are there, and the units outside the frame are those of pairs
        # the forecast does not cover
        assert (got == 0).sum() > 0 and got.sum() > 0
        inside = sums[sums.index.get_level_values("period").isin(periods)]
        covered = inside[inside.index.droplevel("period").isin(pd.MultiIndex.from_frame(pairs))]
        assert got.sum() == covered.sum() and covered.sum() >= 0.99 * inside.sum()
    assert bt["y"].dtype == np.int64
    assert (bt["unique_id"] == bt["location_id"] + "|" + bt["part_number"]).all()
    assert (bt["ds"] == bt["period"]).all()


def test_forecast_columns_equal_a_direct_forecast(sample_fleet):
    fleet = sample_fleet
    cut = pd.Timestamp("2025-10-01")
    bt = backtest_forecast(fleet, [cut], horizon=4, quantiles=(0.5, 0.9))
    assert list(bt.columns) == ["cutoff", *KEYS, "y", "mean", "var", "q0.5", "q0.9", "unique_id", "ds"]
    past = fleet.until(cut)
    direct = forecast_demand(FailureModel().fit(past), past, horizon=4, quantiles=(0.5, 0.9))
    direct = direct.astype({"location_id": str, "part_number": str})
    merged = direct.merge(bt, on=KEYS, how="left", suffixes=("", "_bt"), validate="one_to_one")
    for col in ("mean", "var", "q0.5", "q0.9"):
        np.testing.assert_array_equal(merged[f"{col}_bt"].to_numpy(), merged[col].to_numpy(), err_msg=col)
        assert bt[col].dtype == direct[col].dtype
    # rows beyond the direct forecast are periods it left out (no demand expected)
    extra = bt.merge(direct[KEYS], on=KEYS, how="left", indicator=True)
    assert (extra.loc[extra["_merge"] == "left_only", ["mean", "var", "q0.5", "q0.9"]] == 0).all().all()
    assert (bt["cutoff"] == cut).all()


def test_model_factory_and_new_machines_see_only_the_past(sample_fleet):
    fleet = sample_fleet
    seen = []

    def factory(past):
        seen.append(("model", past.as_of, past.tickets["opened_at"].max()))
        return FailureModel(pooling="shrink").fit(past)

    def sales(past):
        seen.append(("sales", past.as_of, past.machines["in_service_date"].max()))
        return recent_sales(past)

    cut = pd.Timestamp("2025-07-01")
    bt = backtest_forecast(fleet, [cut], horizon=2, model_factory=factory, new_machines=sales)
    assert [s[:2] for s in seen] == [("model", cut), ("sales", cut)]
    assert all(s[2] < cut for s in seen)
    past = fleet.until(cut)
    direct = forecast_demand(FailureModel(pooling="shrink").fit(past), past, horizon=2,
                             new_machines=recent_sales(past)).astype({"location_id": str, "part_number": str})
    merged = direct.merge(bt, on=KEYS, suffixes=("", "_bt"))
    assert len(merged) == len(direct)
    np.testing.assert_array_equal(merged["mean_bt"].to_numpy(), merged["mean"].to_numpy())


def test_cdfs_agree_with_the_quantiles(truth_backtest):
    # The CDFs (Panjer's recursion on per-component rates) and the quantiles (forecast_demand's
    # own route) describe one law: y <= q_tau exactly when F(y - 1) < tau, and y >= q_tau
    # exactly when F(y) >= tau.
    bt = truth_backtest
    below, at, y = bt["cdf_below"].to_numpy(), bt["cdf_at"].to_numpy(), bt["y"].to_numpy()
    assert ((0 <= below) & (below <= at) & (at <= 1)).all()
    assert (below[y == 0] == 0).all()
    for tau in (0.5, 0.8, 0.9, 0.95, 0.99):
        q = bt[f"q{tau:g}"].to_numpy()
        clear = (np.abs(below - tau) > 1e-9) & (np.abs(at - tau) > 1e-9)
        assert clear.mean() > 0.99
        np.testing.assert_array_equal((y <= q)[clear], (below < tau)[clear])
        np.testing.assert_array_equal((y >= q)[clear], (at >= tau)[clear])


def test_true_lifetimes_give_nominal_pit_coverage():
    # On a generated fleet, forecasting with the lifetimes that generated it, the PIT of the
    # actuals is uniform: coverage of the central bands near nominal, histogram flat.
    # (Observed 0.796-0.799 / 0.949-0.950 over seeds 3-5; the bound is several times the
    # sampling spread of ~25,000 cells.)
    fleet = pf.make_fleet(n_machines=2000, n_dealers=10, years=4, seed=4)
    truth = true_model(fleet)
    bt = backtest_forecast(fleet, n_windows=2, horizon=6, model_factory=lambda past: truth, pit=True)
    assert len(bt) > 20_000 and bt["y"].sum() > 10_000
    assert pit_coverage(bt["cdf_below"], bt["cdf_at"], 0.8) == pytest.approx(0.8, abs=0.015)
    assert pit_coverage(bt["cdf_below"], bt["cdf_at"], 0.95) == pytest.approx(0.95, abs=0.01)
    np.testing.assert_allclose(pit_histogram(bt["cdf_below"], bt["cdf_at"], bins=5), 0.2, atol=0.015)
    # the mean is unbiased too (the installed base only: no machines sold after the cutoff)
    assert abs(bt["mean"].sum() / bt["y"].sum() - 1) < 0.06


def test_frame_is_ready_for_evaluate(truth_backtest):
    bt = truth_backtest
    out = evaluate(bt, metrics=["mae", "bias", "qcov"], models=["mean"], by=["cutoff"])
    for cut, block in bt.groupby("cutoff"):
        row = out[out["cutoff"] == cut].set_index("metric")["mean"]
        e = block["mean"].to_numpy() - block["y"].to_numpy()
        assert row["mae"] == pytest.approx(np.abs(e).mean(), rel=1e-12)
        assert row["bias"] == pytest.approx(e.mean(), rel=1e-12, abs=1e-15)
        assert row["qcov-0.9"] == pytest.approx((block["y"] <= block["q0.9"]).mean(), rel=1e-12)


def test_bad_arguments(sample_fleet):
    fleet = sample_fleet
    with pytest.raises(TypeError, match="fleet must be a Fleet"):
        backtest_forecast(fleet.tickets, n_windows=1)
    with pytest.raises(ValueError, match="not both"):
        backtest_forecast(fleet, ["2025-07-01"], n_windows=1)
    with pytest.raises(ValueError, match="horizon must be a positive integer"):
        backtest_forecast(fleet, horizon=0)
    with pytest.raises(ValueError, match="n_windows must be a positive integer"):
        backtest_forecast(fleet, n_windows=0)
    with pytest.raises(ValueError, match="step must be a positive integer"):
        backtest_forecast(fleet, n_windows=2, step=1.5)
    with pytest.raises(ValueError, match="with explicit cutoffs leave it out"):
        backtest_forecast(fleet, ["2025-07-01"], step=2)
    with pytest.raises(ValueError, match=r"runs to 2026-08-01, past the fleet's as_of 2026-07-01"):
        backtest_forecast(fleet, ["2025-08-01"], horizon=12)
    with pytest.raises(ValueError, match="lists a date twice"):
        backtest_forecast(fleet, ["2025-07-01", pd.Timestamp("2025-07-01")], horizon=2)
    with pytest.raises(ValueError, match="cutoffs is empty"):
        backtest_forecast(fleet, [], horizon=2)
    with pytest.raises(ValueError, match="cutoffs must be dates"):
        backtest_forecast(fleet, ["not a date"], horizon=2)
    with pytest.raises(ValueError, match="not a pandas frequency"):
        backtest_forecast(fleet, n_windows=1, freq="monthly")
    with pytest.raises(TypeError, match="model_factory must be a callable"):
        backtest_forecast(fleet, n_windows=1, model_factory=FailureModel())
    with pytest.raises(TypeError, match="new_machines must be a callable"):
        backtest_forecast(fleet, n_windows=1, new_machines=recent_sales(fleet))
    # a cutoff before any ticket: the fleet says so
    with pytest.raises(InputError, match="no ticket was opened before this date"):
        backtest_forecast(fleet, ["2021-01-01"], horizon=2)
