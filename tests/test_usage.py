"""Use over the year and heavy users: the usage profile, the machine frailty, and the forecast
that uses them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import partsforecast as pf
from partsforecast import InputError, MachineFrailty, UsageProfile, forecast_demand
from partsforecast.lives import fleet_lives
from partsforecast.samples import generate_tables
from partsforecast.usage import frailty_posterior
from partsforecast.usage.profile import MONTH_DAYS
from partsforecast.usage.frailty import _estimate_alpha

TIERS = np.arange(1, 5)


def _profile(amplitude: float) -> np.ndarray:
    """(4, 12) monthly factors, day-weighted mean 1: a season peaking in July plus a second
    harmonic, stronger in the country tiers."""
    m = np.arange(1, 13)
    shape = np.cos(2 * np.pi * (m - 7) / 12) + 0.3 * np.sin(4 * np.pi * m / 12)
    f = 1.0 + amplitude * np.array([0.8, 0.9, 1.1, 1.2])[:, None] * shape[None, :]
    return f / (f @ (MONTH_DAYS / MONTH_DAYS.sum()))[:, None]


def _table(f: np.ndarray, tiers=TIERS) -> pd.DataFrame:
    return pd.DataFrame({"tier": np.repeat(tiers, 12), "month": np.tile(np.arange(1, 13), len(tiers)),
                         "factor": f.ravel()})


def _fleet_with_exact_meters(f: np.ndarray, seed: int = 5) -> tuple[pf.Fleet, pd.Series]:
    """A generated fleet whose tickets open at midnight with the exact meter reading of a
    machine running rate × f(tier, month) hours a day (computed day by day, independently of
    the estimator), and the machines' true yearly mean rates."""
    tables, truth, as_of = generate_tables(n_machines=400, n_dealers=8, seed=seed)
    rate = truth["machines"].set_index("serial")["hours_per_day"]
    m = tables["machines"]
    tier_of = tables["locations"].set_index("location_id")["tier"]
    tier = m["location_id"].map(tier_of).astype("int64").to_numpy()
    days = pd.date_range(m["in_service_date"].min(), as_of, freq="D")
    daily = f[:, days.month.to_numpy() - 1]  # (tier, day)
    cum = np.concatenate([np.zeros((4, 1)), np.cumsum(daily, axis=1)], axis=1)  # use-days before each day
    tk = tables["tickets"].copy()
    tk["opened_at"] = tk["opened_at"].dt.normalize()
    mi = pd.Index(m["serial"]).get_indexer(tk["serial"])
    start = days.get_indexer(m["in_service_date"].to_numpy()[mi])
    at = days.get_indexer(tk["opened_at"])
    tk["meter_hours"] = (rate.reindex(tk["serial"]).to_numpy()
                         * (cum[tier[mi] - 1, at] - cum[tier[mi] - 1, start]))
    tables["tickets"] = tk
    return pf.Fleet(**tables, as_of=as_of, truth=truth), rate


@pytest.fixture(scope="module")
def seasonal_fleet():
    return pf.make_fleet(n_machines=3000, n_dealers=12, seed=3, seasonality=0.4)


# -- the profile ---------------------------------------------------------------------------


def test_use_days_worked_example():
    f = np.ones((4, 12))
    f[2, 0], f[2, 1] = 0.5, 2.0  # tier 3: January at half use, February at double
    prof = UsageProfile.from_table(_table(f))
    as_of = pd.Timestamp("2025-01-11")
    days = np.array([[0.0, 10.0, 21.0, 49.0]] * 3)
    got = prof.use_days(as_of, days, np.array([3, 1, np.nan]))
    # tier 3: 10 January days at 0.5; 21 = all 21 January days left; 49 = those + 28 February days at 2.
    np.testing.assert_allclose(got[0], [0.0, 5.0, 10.5, 10.5 + 56.0], rtol=1e-14)
    np.testing.assert_array_equal(got[1], days[1])  # tier 1 is flat
    np.testing.assert_array_equal(got[2], days[2])  # no tier: flat
    assert prof.factors([3, 3, 9], [1, 2, 1]).tolist() == [0.5, 2.0, 1.0]


def test_profile_is_exact_on_noise_free_readings():
    f = _profile(0.35)
    fleet, rate = _fleet_with_exact_meters(f)
    prof = UsageProfile(sources=("meter",)).fit(fleet)
    got = prof.profile_.pivot(index="tier", columns="month", values="meter").to_numpy()
    np.testing.assert_allclose(got, f, atol=1e-9)
    final = prof.profile_.pivot(index="tier", columns="month", values="factor").to_numpy()
    np.testing.assert_allclose(final, f, atol=1e-9)  # no noise: nothing to shrink
    r = prof.rates_.set_index("serial")["hours_per_day"]
    np.testing.assert_allclose(r.to_numpy(), rate.reindex(r.index).to_numpy(), rtol=1e-9)
    assert prof.n_iter_ < 20
    assert (prof.tiers_["source"] == "meter").all()


def test_a_tier_without_readings_is_flat_and_the_others_exact():
    f = _profile(0.35)
    fleet, _ = _fleet_with_exact_meters(f)
    tier = fleet.tickets["location_id"].map(fleet.locations.set_index("location_id")["tier"])
    fleet.tickets = fleet.tickets[(tier != 4).to_numpy()].reset_index(drop=True)
    fleet.machines = fleet.machines[~fleet.machines["serial"].isin(
        fleet.machines.loc[fleet.machines["location_id"].map(
            fleet.locations.set_index("location_id")["tier"]) == 4, "serial"])].reset_index(drop=True)
    prof = UsageProfile(sources=("meter",)).fit(fleet)
    got = prof.profile_.pivot(index="tier", columns="month", values="factor")
    np.testing.assert_allclose(got.loc[[1, 2, 3]].to_numpy(), f[:3], atol=1e-9)
    assert (got.loc[4] == 1.0).all()
    assert prof.tiers_.set_index("tier").loc[4, "source"] == "none (flat)"


def test_flat_readings_give_a_flat_profile():
    fleet, _ = _fleet_with_exact_meters(np.ones((4, 12)))
    prof = UsageProfile().fit(fleet)
    assert prof.is_flat and (prof.profile_["factor"] == 1.0).all()
    raw = UsageProfile(sources=("meter",), min_spread=0.0).fit(fleet).profile_["meter"]
    np.testing.assert_allclose(raw, 1.0, atol=1e-9)


def test_profile_is_close_on_a_generated_seasonal_fleet(seasonal_fleet):
    truth = seasonal_fleet.truth["usage_profile"]
    prof = UsageProfile().fit(seasonal_fleet)
    err = prof.profile_["factor"].to_numpy() - truth["factor"].to_numpy()
    assert np.sqrt(np.mean(err ** 2)) < 0.01 and np.abs(err).max() < 0.025
    # Ticket timing alone is noisier but finds the season, within its stated errors.
    tickets = UsageProfile(sources=("tickets",), shrink=False).fit(seasonal_fleet).profile_
    z = (tickets["tickets"] - truth["factor"]) / tickets["tickets_se"]
    assert np.corrcoef(tickets["tickets"], truth["factor"])[0, 1] > 0.9
    assert np.mean(z ** 2) < 2.0


def test_the_sample_fleet_without_seasonality_is_flat(sample_fleet):
    prof = pf.usage.fleet_usage_profile(sample_fleet)
    assert prof.is_flat
    assert (prof.tiers_["tau"] < 0.01).all()
    assert pf.usage.fleet_usage_profile(sample_fleet) is prof  # fitted once per fleet


def test_shrinkage_keeps_less_of_noisier_factors(seasonal_fleet):
    prof = UsageProfile(sources=("tickets",)).fit(seasonal_fleet).profile_
    w, se = prof["weight"].to_numpy(), prof["tickets_se"].to_numpy()
    assert ((w > 0) & (w < 1)).all()
    for t in TIERS:  # within a tier the weight falls as the standard error grows
        on = (prof["tier"] == t).to_numpy()
        assert stats.spearmanr(w[on], se[on]).statistic < -0.99
    np.testing.assert_allclose(prof["factor"] - 1, w * (prof["tickets"] - 1), atol=0.02)


def test_from_table_checks_its_input():
    f = _table(np.ones((4, 12)))
    with pytest.raises(InputError) as err:
        UsageProfile.from_table(f.assign(factor=np.r_[-1.0, np.ones(47)]))
    assert err.value.problems[0].table == "usage_profile" and err.value.problems[0].column == "factor"
    assert err.value.problems[0].row == 0
    with pytest.raises(InputError, match="tier 4 has 11 months"):
        UsageProfile.from_table(f.iloc[:-1])
    with pytest.raises(InputError, match="month"):
        UsageProfile.from_table(f.assign(month=13))
    with pytest.raises(InputError, match="column is missing"):
        UsageProfile.from_table(f.drop(columns="factor"))
    with pytest.raises(ValueError, match="sources"):
        UsageProfile(sources=("calendar",)).fit(None)


# -- the forecast with a profile -------------------------------------------------------------


def test_a_flat_profile_gives_exactly_the_forecast_without_one(sample_fleet):
    model = pf.FailureModel.from_params(sample_fleet.truth["lifetimes"])
    new = pf.demand.recent_sales(sample_fleet)
    base = forecast_demand(model, sample_fleet, horizon=4, usage_profile=None, new_machines=new)
    flat = forecast_demand(model, sample_fleet, horizon=4, new_machines=new,
                           usage_profile=_table(np.ones((4, 12))))
    pd.testing.assert_frame_equal(flat, base)
    # A seasonal profile of a tier the fleet does not have runs every machine through the
    # profile's arithmetic at factor 1: still exactly the same forecast.
    other = forecast_demand(model, sample_fleet, horizon=4, new_machines=new,
                            usage_profile=_table(_profile(0.4)[:1], tiers=[9]))
    pd.testing.assert_frame_equal(other, base)


def test_monthly_totals_follow_the_profile(sample_fleet):
    # Constant hazards (shape 1): expected failures are rate × use-days / scale exactly, so
    # each tier's monthly totals are in the ratio of Σ days × factor.
    lt = sample_fleet.truth["lifetimes"].assign(shape=1.0)
    model = pf.FailureModel.from_params(lt)
    f = _profile(0.4)
    kw = {"horizon": 12, "by": "component", "frailty": False}
    flat = forecast_demand(model, sample_fleet, usage_profile=None, **kw)
    seas = forecast_demand(model, sample_fleet, usage_profile=_table(f), **kw)
    tier = sample_fleet.locations.set_index("location_id")["tier"]
    months = pd.date_range(sample_fleet.as_of, periods=12, freq="MS").month.to_numpy()
    for t in TIERS:
        a = flat[flat["location_id"].astype(str).map(tier) == t].groupby("period")["mean"].sum().to_numpy()
        b = seas[seas["location_id"].astype(str).map(tier) == t].groupby("period")["mean"].sum().to_numpy()
        np.testing.assert_allclose(b / a, f[t - 1, months - 1], rtol=2e-3)
        peak, trough = np.argmax(b), np.argmin(b)
        assert months[peak] == 7 and b[peak] / b[trough] == pytest.approx(
            f[t - 1, 6] / f[t - 1, months[trough] - 1] * a[peak] / a[trough], rel=2e-3)
    # The profile moves hours within the year, not their sum.
    assert seas["mean"].sum() == pytest.approx(flat["mean"].sum(), rel=0.01)


def test_auto_profile_on_a_seasonal_fleet_moves_demand_into_the_season(seasonal_fleet):
    model = pf.FailureModel.from_params(seasonal_fleet.truth["lifetimes"])
    kw = {"horizon": 12, "by": "component", "frailty": False}
    auto = forecast_demand(model, seasonal_fleet, **kw).groupby("period")["mean"].sum()
    true = forecast_demand(model, seasonal_fleet, usage_profile=seasonal_fleet.truth["usage_profile"],
                           **kw).groupby("period")["mean"].sum()
    flat = forecast_demand(model, seasonal_fleet, usage_profile=None, **kw).groupby("period")["mean"].sum()
    np.testing.assert_allclose(auto.to_numpy(), true.to_numpy(), rtol=0.02)
    assert auto.iloc[0] / auto.iloc[6] > 1.8 > flat.iloc[0] / flat.iloc[6]  # July against January


def test_forecast_settings_are_checked(sample_fleet):
    model = pf.FailureModel.from_params(sample_fleet.truth["lifetimes"])
    with pytest.raises(ValueError, match="usage_profile must be"):
        forecast_demand(model, sample_fleet, horizon=1, usage_profile="seasonal")
    with pytest.raises(TypeError, match="usage_profile must be"):
        forecast_demand(model, sample_fleet, horizon=1, usage_profile=1.2)
    with pytest.raises(TypeError, match="frailty must be"):
        forecast_demand(model, sample_fleet, horizon=1, frailty="yes")
    with pytest.raises(ValueError, match="not fitted"):
        forecast_demand(model, sample_fleet, horizon=1, frailty=MachineFrailty())


# -- heavy users -----------------------------------------------------------------------------


def test_frailty_posterior_by_hand():
    z, sd = frailty_posterior([0, 3, 1], [1.5, 1.5, 0.0], alpha=2.0)
    np.testing.assert_allclose(z, [2 / 3.5, 5 / 3.5, 3 / 2])
    np.testing.assert_allclose(sd, [np.sqrt(2) / 3.5, np.sqrt(5) / 3.5, np.sqrt(3) / 2])
    z, sd = frailty_posterior([0, 3], [1.5, 1.5], alpha=np.inf)
    assert z.tolist() == [1.0, 1.0] and sd.tolist() == [0.0, 0.0]
    z, _ = frailty_posterior([0, 30], [1.5, 1.5], alpha=1e10)
    np.testing.assert_allclose(z, 1.0, atol=1e-8)  # α → ∞: every machine at its model


def test_alpha_by_marginal_likelihood():
    rng = np.random.default_rng(1)
    e = rng.uniform(0.5, 5.0, 20000)
    z = rng.gamma(2.0, 0.5, e.size)  # α = 2
    a = _estimate_alpha(rng.poisson(z * e).astype(float), e, 1e6)
    assert a == pytest.approx(2.0, rel=0.1)
    # A Poisson fleet (no heterogeneity) fails the test for over-dispersion: α = ∞.
    assert _estimate_alpha(rng.poisson(e).astype(float), e, 1e6) == np.inf


def test_machine_frailty_matches_a_hand_computation():
    fleet = pf.make_fleet(n_machines=600, n_dealers=8, seed=4, heavy_use=0.5)
    model = pf.FailureModel.from_params(fleet.truth["lifetimes"])
    fr = MachineFrailty(alpha=2.0).fit(model, fleet)
    lv = fleet_lives(fleet).lives.astype({"serial": str, "machine_model": str, "component": str})
    lv = lv.merge(fleet.truth["lifetimes"], on=["machine_model", "component"])
    lv["H"] = (lv["duration"] / lv["scale"]) ** lv["shape"]
    per = lv.groupby("serial").agg(O=("failed", "sum"), E=("H", "sum"))
    got = fr.frailty_.set_index("serial").loc[per.index]
    np.testing.assert_array_equal(got["observed"], per["O"])
    np.testing.assert_allclose(got["expected"], per["E"], rtol=1e-10)
    np.testing.assert_allclose(got["frailty"], (2.0 + per["O"]) / (2.0 + per["E"]), rtol=1e-10)
    assert fr.expected_from_ == "cumulative hazard"
    # Estimated α: the heavy users stand out, and the frailty follows the true severity.
    est = MachineFrailty().fit(model, fleet)
    assert 0.2 < est.alpha_ < 5
    sev = fleet.truth["machines"].set_index("serial")["severity"]
    f = est.frailty_[est.frailty_["expected"] > 1]
    assert np.corrcoef(f["frailty"], f["serial"].map(sev))[0, 1] > 0.8
    # Infinite α shrinks every machine to its model.
    assert (MachineFrailty(alpha=np.inf).fit(model, fleet).frailty_["frailty"] == 1.0).all()


def test_frailty_in_the_forecast(sample_fleet):
    model = pf.FailureModel.from_params(sample_fleet.truth["lifetimes"])
    kw = {"horizon": 3, "by": "component", "usage_profile": None}
    base = forecast_demand(model, sample_fleet, frailty=False, **kw)
    fr = MachineFrailty(alpha=1.0, keep_totals=False).fit(model, sample_fleet)
    fr.frailty_["frailty"] = 2.0  # every machine twice as frail: every mean doubles
    doubled = forecast_demand(model, sample_fleet, frailty=fr, **kw)
    np.testing.assert_allclose(doubled["mean"], 2 * base["mean"], rtol=1e-12)
    # With totals kept, frailties only move failures between machines of a group.
    fr = MachineFrailty(alpha=1.0).fit(model, sample_fleet)
    moved = forecast_demand(model, sample_fleet, frailty=fr, **kw)
    key = ["machine_model", "component", "period"]
    a = base.groupby(key, observed=True)["mean"].sum()
    b = moved.groupby(key, observed=True)["mean"].sum()
    np.testing.assert_allclose(b.reindex(a.index), a, rtol=1e-10)
    assert not np.allclose(moved["mean"], base["mean"], rtol=1e-3)
    # On a fleet without heterogeneity the default changes nothing.
    assert not np.isfinite(MachineFrailty().fit(model, sample_fleet).alpha_)
    pd.testing.assert_frame_equal(forecast_demand(model, sample_fleet, **kw), base)
