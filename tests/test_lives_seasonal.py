"""Component lives under seasonal use: hours counted on the fleet's use profile."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import partsforecast as pf
import partsforecast.lives as lives_module
from partsforecast import UsageProfile
from partsforecast.lives import component_lives, usage_rates
from partsforecast.usage import fleet_usage_profile


def _true_hours(fleet: pf.Fleet, machines: pd.DataFrame, when: pd.Timestamp) -> np.ndarray:
    """Each machine's operating hours from its in-service date to ``when``, from the
    generator's own season (rate · (days + a · Δ wave)), independently of the profile code."""
    from partsforecast.samples import _TIER_SEASON, _Season

    truth = fleet.truth["machines"].set_index("serial")
    season = _Season(0.4 * _TIER_SEASON)
    start = machines["in_service_date"].to_numpy("datetime64[ns]").view(np.int64)
    tier = machines["serial"].map(truth["tier"]).to_numpy()
    span = season.span(start, np.full(start.size, when.value), tier)
    return machines["serial"].map(truth["hours_per_day"]).to_numpy(float) * span


@pytest.fixture(scope="module")
def seasonal():
    return pf.make_fleet(n_machines=3000, n_dealers=8, years=3.0, seed=4, seasonality=0.4)


def test_use_between_worked_example():
    # Tier 1: January 0.5, February 2.0, the rest 1. From 1 January to 1 March 2025:
    # 31 · 0.5 + 28 · 2 = 71.5 use-days; from 15 January noon to 10 February: 16.5 · 0.5 + 9 · 2.
    f = np.ones(12)
    f[0], f[1] = 0.5, 2.0
    prof = UsageProfile.from_table(pd.DataFrame({"tier": 1, "month": np.arange(1, 13), "factor": f}))
    start = np.array(["2025-01-01", "2025-01-15T12:00", "2025-01-01", "2025-03-05"], dtype="datetime64[ns]")
    end = np.array(["2025-03-01", "2025-02-10", "2026-01-01", "2025-03-05"], dtype="datetime64[ns]")
    got = prof._use_between(start, end, np.array([1.0, 1.0, 1.0, 1.0]))
    np.testing.assert_allclose(got, [71.5, 16.5 * 0.5 + 9 * 2.0, 31 * 0.5 + 28 * 2 + 306, 0.0], rtol=1e-12)
    # An unknown tier (or none) runs flat: the calendar days.
    np.testing.assert_allclose(prof._use_between(start[:1], end[:1], np.array([np.nan])), [59.0])


def test_seasonal_ages_match_the_generators_hours(seasonal):
    """The running lives' ages of machines with a given rate: within a few hours of the
    truth with the profile, where flat use is off by a hundred or more."""
    fleet = seasonal
    prof = fleet_usage_profile(fleet)
    assert not prof.is_flat
    lv = component_lives(fleet)
    m = fleet.machines
    true_end = _true_hours(fleet, m, fleet.as_of)
    given = m["hours_per_day"].notna().to_numpy() & m["retired_date"].isna().to_numpy()

    def errors(lives):
        run = lives.lives[~lives.lives["failed"]]
        row = pd.Index(m["serial"]).get_indexer(run["serial"].astype(str))
        keep = given[row]
        end = (run["start_hours"] + run["duration"]).to_numpy()[keep]
        return end - true_end[row[keep]]

    err = errors(lv)
    flat = lives_module._lives_profile
    try:
        lives_module._lives_profile = lambda fleet: None
        err_flat = errors(component_lives(fleet))
    finally:
        lives_module._lives_profile = flat
    rms, rms_flat = np.sqrt(np.mean(err ** 2)), np.sqrt(np.mean(err_flat ** 2))
    assert err.size > 1000
    assert rms < 8.0 and np.abs(err).max() < 40.0
    assert rms_flat > 60.0
    assert rms < rms_flat / 10


def test_seasonal_failures_without_meter_match_the_truth(seasonal):
    """A failure without a meter reading on a machine of given rate: rate · use-days, within
    the day's hours of the generator's failure hours (the ticket opens on the failure day)."""
    fleet = seasonal
    tk = fleet.tickets.drop_duplicates("ticket_id")
    tk = tk[tk["meter_hours"].isna() & (tk["ticket_type"] == "repair")]
    fail = fleet.truth["failures"].set_index("ticket_id").loc[tk["ticket_id"].to_numpy()]
    m = fleet.machines.set_index("serial")
    rate = m.loc[tk["serial"].to_numpy(), "hours_per_day"].to_numpy(float)
    ok = np.isfinite(rate)
    lv = component_lives(fleet).lives
    done = lv[lv["failed"]]
    got = pd.DataFrame({"serial": done["serial"].astype(str), "component": done["component"].astype(str),
                        "end_time": done["end_time"], "end": done["start_hours"] + done["duration"]})
    key = pd.MultiIndex.from_arrays([tk["serial"].astype(str), tk["component"].astype(str), tk["opened_at"]])
    table = got.set_index(["serial", "component", "end_time"])["end"]
    est = table.reindex(key).to_numpy()[ok]
    true = fail["failure_hours"].to_numpy(float)[ok]
    keep = np.isfinite(est)
    assert keep.sum() > 100
    err = est[keep] - true[keep]
    # The ticket opens within the failure day: at most a day's hours (≤ 1.6 × rate) apart.
    assert np.abs(err).max() <= 1.6 * rate[ok][keep].max()
    assert np.sqrt(np.mean(err ** 2)) < 0.5 * np.median(rate[ok])


def test_meter_rates_under_seasonal_use(seasonal):
    """Rates from meter readings read against the profile are within 1 % of the truth (root
    mean square); against flat use, several times further off."""
    fleet = seasonal
    truth = fleet.truth["machines"].set_index("serial")
    lv = component_lives(fleet)
    r = lv.rates
    meter = (r["rate_source"] == "meter").to_numpy()
    true = r["serial"].map(truth["hours_per_day"]).to_numpy(float)[meter]
    est = r["hours_per_day"].to_numpy(float)[meter]
    flat = usage_rates(fleet)["hours_per_day"].to_numpy(float)[meter]
    assert meter.sum() > 50
    rel, rel_flat = np.sqrt(np.mean((est / true - 1) ** 2)), np.sqrt(np.mean((flat / true - 1) ** 2))
    assert rel < 0.01
    assert rel_flat > 3 * rel
    # The ages carry the yearly mean rate the forecast multiplies by the profile.
    ages = lv.ages
    np.testing.assert_array_equal(ages["hours_per_day"].to_numpy(),
                                  r.set_index("serial")["hours_per_day"].reindex(ages["serial"].astype(str)).to_numpy())


@pytest.mark.parametrize("seed", [3, 8])
def test_non_seasonal_fleet_lives_unchanged(seed):
    """Without a season the fitted profile is flat and the lives are those of flat use,
    value for value."""
    fleet = pf.make_fleet(n_machines=1500, n_dealers=6, years=3.0, seed=seed)
    assert fleet_usage_profile(fleet).is_flat
    lv = component_lives(fleet)
    flat = lives_module._lives_profile
    try:
        lives_module._lives_profile = lambda fleet: None
        ref = component_lives(fleet)
    finally:
        lives_module._lives_profile = flat
    pd.testing.assert_frame_equal(lv.lives, ref.lives)
    pd.testing.assert_frame_equal(lv.ages, ref.ages)
    pd.testing.assert_frame_equal(lv.rates, ref.rates)


def test_lives_reuse_the_fleets_profile(seasonal):
    """The lives read the fleet's kept profile: the forecast's ``usage_profile="auto"`` gets
    the same object, fitted once."""
    fleet = seasonal.until(seasonal.as_of)  # a fresh copy, nothing kept yet
    assert "usage_profile" not in fleet.__dict__.get("_derived_cache", {})
    fleet.component_lives()
    kept = fleet.__dict__["_derived_cache"]
    assert fleet_usage_profile(fleet) is kept["usage_profile"][1]
