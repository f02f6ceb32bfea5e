"""Plan simulation: a two-echelon one-for-one base-stock system in daily steps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scipy import stats

from partsforecast.evaluate import SimulationResult, simulate_base_stock, simulate_plan
from partsforecast.stocking import expected_backorders, fill_rate, metric_evaluate

HUGE = np.array([10**6])


def _se(row, metric, n_reps):
    """Standard error of a simulated mean from its 95% t-interval."""
    return (row[f"{metric}_hi"] - row[f"{metric}_lo"]) / (2 * stats.t.ppf(0.975, n_reps - 1))


def _one(s, rate=0.4, lead=4.5, *, s_wh=HUGE, days=3000, n_reps=8, seed=3, **kw):
    return simulate_base_stock(s_wh, np.array([[s]]), np.array([[rate]]), [lead], [7.0],
                               days=days, n_reps=n_reps, seed=seed, **kw)


def test_single_dealer_matches_poisson_fill_rate():
    # Single echelon, Poisson demand, deterministic lead time L: the pipeline is
    # Poisson(rate L), so fill = P(D <= s - 1), backorders EBO(s) = E[(D - s)^+] and stock
    # on hand s - rate L + EBO(s) (Sherbrooke 2004, Ch. 2), here by explicit sums.
    rate, lead, s = 0.4, 4.5, 3
    x = np.arange(200)
    pmf = stats.poisson.pmf(x, rate * lead)
    want = {"fill_rate": pmf[: s].sum(), "mean_backorders": (np.maximum(x - s, 0) * pmf).sum()}
    want["inventory_value"] = s - rate * lead + want["mean_backorders"]
    want["wait_days"] = want["mean_backorders"] / rate              # Little's law
    assert want["fill_rate"] == pytest.approx(fill_rate(s, mean=rate * lead), abs=1e-12)
    assert want["mean_backorders"] == pytest.approx(expected_backorders(s, rate * lead), abs=1e-12)
    # the warehouse never runs out (every order ships at once), or is unlimited
    for s_wh in (HUGE, None):
        res = _one(s, rate, lead, s_wh=s_wh, days=5000)
        row = res.by_tier.loc[1]
        for m, v in want.items():
            assert abs(row[m] - v) < 4 * _se(row, m, 8), (s_wh, m, row[m], v)
    assert _one(s, rate, lead, days=300).by_tier.loc["warehouse", "fill_rate"] == 1.0


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


@pytest.fixture(scope="module")
def true_forecast(sample_fleet):
    """Forecast of the sample fleet's TRUE failure model (what the simulation draws)."""
    from partsforecast import FailureModel, forecast_demand

    return forecast_demand(FailureModel.from_params(sample_fleet.truth["lifetimes"]), sample_fleet, horizon=4)


@pytest.fixture(scope="module")
def sample_plan(sample_fleet, true_forecast):
    """The default plan (VARI-METRIC, default tier targets) for the true forecast."""
    from partsforecast.plan import plan_stock

    return plan_stock(true_forecast, sample_fleet)


def _lead_times(plan, fleet):
    """(dealer transport times, factory lead times) in the plan's dealer and part order."""
    st = plan.stocking
    lanes = fleet.lanes[fleet.lanes["from_id"] == plan.warehouse_id].set_index("to_id")
    T = lanes.loc[st.dealer_ids, "lead_time_days"].to_numpy(float)
    T0 = fleet.parts.set_index("part_number").loc[st.part_ids, "lead_time_days"].to_numpy(float)
    return T, T0


def _tier_fill(st, fill_rate):
    lam, tier = st.evaluation.demand_rate, st.dealer_tier
    return {int(t): float((lam[:, tier == t] * fill_rate[:, tier == t]).sum() / lam[:, tier == t].sum())
            for t in np.unique(tier)}


def _poisson_model(plan, fleet):
    """The plan's levels evaluated for the demand the simulation draws -- Poisson (no
    compound spread) at the planning rates -- per tier: fill rate and wait, and the
    warehouse's fill rate (exact: its pipeline is Poisson(lambda_0 T_0))."""
    st = plan.stocking
    T, T0 = _lead_times(plan, fleet)
    lam = st.evaluation.demand_rate
    ev = metric_evaluate(st.s_wh, st.s_dealer, lam, T0, T)
    out = {}
    for t in np.unique(st.dealer_tier):
        m = st.dealer_tier == t
        out[int(t)] = ((lam[:, m] * ev.fill_rate[:, m]).sum() / lam[:, m].sum(),
                       ev.backorders[:, m].sum() / lam[:, m].sum())
    lam0 = lam.sum(axis=1)
    return out, float((lam0 * ev.wh_fill_rate).sum() / lam0.sum())


def test_sample_plan_achieves_targets(sample_fleet, true_forecast, sample_plan):
    # The library's plan (VARI-METRIC, fill-rate targets per tier) simulated over its
    # planning window against the TRUE demand.  Judged by the simulation's own
    # uncertainty: no tier may fall significantly short of its target, and every tier's
    # fill rate and wait must match the closed-form figures of the plan's levels for the
    # Poisson demand simulated (VARI-METRIC agrees with an exact event simulation to
    # ~2e-4 on this plan; see docs/stocking-evaluation.md).
    from partsforecast.plan import PlanSettings

    fleet, fc, plan = sample_fleet, true_forecast, sample_plan
    days, n_reps = int(PlanSettings().planning_window_days), 40
    res = simulate_plan(plan, fleet, fc, days=days, n_reps=n_reps, seed=0)
    assert isinstance(res, SimulationResult)
    bt = res.by_tier
    tiers = [t for t in bt.index if t not in ("all", "warehouse")]
    assert sorted(tiers) == [1, 2, 3, 4]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(bt[["target", "planned_fill_rate", "fill_rate", "fill_rate_lo", "fill_rate_hi",
                  "wait_days", "planned_wait_days", "mean_backorders", "inventory_value"]])
    model, wh_fill = _poisson_model(plan, fleet)
    for t in tiers:
        row = bt.loc[t]
        assert row["fill_rate_lo"] <= row["fill_rate"] <= row["fill_rate_hi"]
        # the plan meets its target (planned on the forecast's compound spread) ...
        assert row["target"] <= row["planned_fill_rate"] < row["target"] + 1e-3
        # ... and the simulation does not fall significantly short of it.  The simulation draws
        # Poisson demand where the plan is made for the forecast's compound spread: at levels
        # placed exactly on the targets the two laws differ by up to 0.2 points, either way
        # (tiers 1-4 here: +0.24, -0.19, +0.11, -0.10); the exact check is the next one.
        assert row["fill_rate_hi"] >= row["target"] - 0.003, (t, row["fill_rate"], row["fill_rate_hi"])
        # achieved = predicted for the simulated demand, within 4 standard errors
        se = _se(row, "fill_rate", n_reps)
        assert se < 0.0015
        assert abs(row["fill_rate"] - model[t][0]) < 4 * se, (t, row["fill_rate"], model[t][0], se)
        assert abs(row["wait_days"] - model[t][1]) < 4 * _se(row, "wait_days", n_reps), (t, row["wait_days"])
    wrow = bt.loc["warehouse"]
    assert abs(wrow["fill_rate"] - wh_fill) < 4 * _se(wrow, "fill_rate", n_reps), (wrow["fill_rate"], wh_fill)
    assert res.transfer_cost == pytest.approx(float(plan.transfers["cost"].sum()))
    assert len(res.replications) == n_reps * (len(tiers) + 2)


def test_metric_method_through_plan_settings(sample_fleet, true_forecast, sample_plan):
    # PlanSettings' method (the plan.toml key) reaches the optimiser.  METRIC gives every
    # pipeline Poisson variance: it ignores the warehouse delay's variance and the
    # forecast's compound spread, so its plan is cheaper than the default VARI-METRIC plan
    # for the same targets, meets them by its own figures, and falls short of every one
    # under VARI-METRIC with the forecast's spread (the default plan's own model).
    from partsforecast.demand import lead_time_demand
    from partsforecast.plan import PlanSettings, plan_stock

    fleet, fc = sample_fleet, true_forecast
    settings = PlanSettings.from_mapping({"method": "metric"})
    st = plan_stock(fc, fleet, settings=settings).stocking
    sv = sample_plan.stocking
    ev = st.evaluation
    np.testing.assert_array_equal(ev.demand_rate, sv.evaluation.demand_rate)   # same planning rates
    np.testing.assert_array_equal(ev.pipeline_var, ev.pipeline_mean)
    np.testing.assert_array_equal(ev.wh_pipeline_var, ev.wh_pipeline_mean)
    assert np.any(sv.evaluation.pipeline_var > sv.evaluation.pipeline_mean * 1.01)
    for t, target in st.targets.items():
        assert target <= st.tier_fill_rate[t] < target + 1e-3
    assert st.investment < 0.95 * sv.investment
    # VARI-METRIC with the forecast's variance-to-mean ratio over the planning window
    window = settings.planning_window_days
    ltd = lead_time_demand(fc, window)
    ltd = ltd[ltd["location_id"].isin(st.dealer_ids)]
    lam = ev.demand_rate
    vmr = np.ones(lam.shape)
    pi = pd.Index(st.part_ids).get_indexer(ltd["part_number"])
    dj = pd.Index(st.dealer_ids).get_indexer(ltd["location_id"])
    vmr[pi, dj] = np.maximum(ltd["var"].to_numpy() / ltd["mean"].to_numpy(), 1.0)
    T, T0 = _lead_times(sample_plan, fleet)
    # (this reproduces the default plan's own figures)
    own = metric_evaluate(sv.s_wh, sv.s_dealer, lam, T0, T, demand_vmr=vmr)
    np.testing.assert_allclose(own.fill_rate, sv.evaluation.fill_rate, atol=1e-12)
    short = _tier_fill(st, metric_evaluate(st.s_wh, st.s_dealer, lam, T0, T, demand_vmr=vmr).fill_rate)
    for t, target in st.targets.items():
        assert short[t] < target - 0.02, (t, short[t])
