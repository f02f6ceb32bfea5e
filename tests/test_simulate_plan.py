"""Plan simulation: a two-echelon one-for-one base-stock system in daily steps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from partsforecast.evaluate import SimulationResult, simulate_base_stock, simulate_plan
from partsforecast.stocking import fill_rate

HUGE = np.array([10**6])


def _one(s, rate=0.4, lead=4.5, *, s_wh=HUGE, days=3000, n_reps=8, seed=3, **kw):
    return simulate_base_stock(s_wh, np.array([[s]]), np.array([[rate]]), [lead], [7.0],
                               days=days, n_reps=n_reps, seed=seed, **kw)


def test_single_dealer_matches_poisson_fill_rate():
    rate, lead, s = 0.4, 4.5, 3
    res = _one(s, rate, lead, days=5000)
    fr = res.by_tier.loc[1]
    expected = fill_rate(s, mean=rate * lead)
    se = (fr["fill_rate_hi"] - fr["fill_rate_lo"]) / 2 / 2.36
    assert abs(fr["fill_rate"] - expected) < max(4 * se, 0.01), (fr["fill_rate"], expected)
    # the warehouse never runs out, so every order ships at once
    assert res.by_tier.loc["warehouse", "fill_rate"] == 1.0
    # an unlimited warehouse (single echelon) gives the same answer
    res1 = _one(s, rate, lead, s_wh=None, days=5000)
    assert abs(res1.by_tier.loc[1, "fill_rate"] - expected) < max(4 * se, 0.01)


def test_deterministic_by_seed():
    a = _one(2, days=300, n_reps=4, seed=7)
    b = _one(2, days=300, n_reps=4, seed=7)
    c = _one(2, days=300, n_reps=4, seed=8)
    pd.testing.assert_frame_equal(a.replications, b.replications)
    assert not a.replications["demand"].equals(c.replications["demand"])


def test_zero_stock_and_monotone_in_stock():
    res0 = _one(0, days=500, n_reps=4)
    assert res0.by_tier.loc[1, "fill_rate"] == 0.0
    assert res0.by_tier.loc[1, "inventory_value"] == 0.0
    fills = [_one(s, days=1500, n_reps=4, seed=11).by_tier.loc[1, "fill_rate"] for s in range(6)]
    assert all(b > a for a, b in zip(fills, fills[1:])), fills
    waits = [_one(s, days=1500, n_reps=4, seed=11).by_tier.loc[1, "wait_days"] for s in range(4)]
    assert all(b < a for a, b in zip(waits, waits[1:])), waits


def test_scarce_warehouse_lowers_dealer_service():
    rich = _one(3, days=2000, n_reps=4, s_wh=HUGE)
    poor = _one(3, days=2000, n_reps=4, s_wh=np.array([0]))
    assert poor.by_tier.loc["warehouse", "fill_rate"] == 0.0
    assert poor.by_tier.loc[1, "fill_rate"] < rich.by_tier.loc[1, "fill_rate"] - 0.05


def test_bad_inputs():
    with pytest.raises(ValueError):
        simulate_base_stock(HUGE, np.array([[1]]), np.array([[-1.0]]), [1.0], [1.0], days=5)
    with pytest.raises(ValueError):
        simulate_base_stock(HUGE, np.array([[1]]), np.array([[1.0]]), [1.0], None, days=5)


def test_sample_plan_achieves_targets(sample_fleet):
    from partsforecast import forecast_demand
    from partsforecast.plan import plan_stock

    fleet = sample_fleet

    class TrueModel:
        params_ = fleet.truth["lifetimes"]

    fc = forecast_demand(TrueModel(), fleet, horizon=7)
    plan = plan_stock(fc, fleet)
    res = simulate_plan(plan, fleet, fc, days=180, n_reps=20, seed=0)
    assert isinstance(res, SimulationResult)
    bt = res.by_tier
    tiers = [t for t in bt.index if t not in ("all", "warehouse")]
    assert sorted(tiers) == [1, 2, 3, 4]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(bt[["target", "planned_fill_rate", "fill_rate", "fill_rate_lo", "fill_rate_hi",
                  "wait_days", "planned_wait_days", "mean_backorders", "inventory_value"]])
    print("transfer cost", res.transfer_cost)
    for t in tiers:
        assert abs(bt.loc[t, "fill_rate"] - bt.loc[t, "target"]) < 0.05, (t, bt.loc[t, "fill_rate"])
        assert bt.loc[t, "fill_rate_lo"] <= bt.loc[t, "fill_rate"] <= bt.loc[t, "fill_rate_hi"]
    assert res.transfer_cost == pytest.approx(float(plan.transfers["cost"].sum()))
    assert len(res.replications) == 20 * (len(tiers) + 2)
    assert 0 < bt.loc["warehouse", "fill_rate"] <= 1
