"""The installed-base forecast on the sample fleet: contract, exact means, coverage, options."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from partsforecast import FailureModel, forecast_demand, lead_time_demand
from partsforecast.lives import component_lives


def _TrueModel(fleet) -> FailureModel:
    """The generating parameters, as a model to forecast with."""
    return FailureModel.from_params(fleet.truth["lifetimes"])


@pytest.fixture(scope="module")
def model(sample_fleet):
    return FailureModel(covariates=None).fit(sample_fleet)


@pytest.fixture(scope="module")
def fc(model, sample_fleet):
    return forecast_demand(model, sample_fleet, horizon=6)


def test_contract(fc, sample_fleet):
    cols = ["location_id", "part_number", "period", "mean", "var", "q0.5", "q0.8", "q0.9", "q0.95", "q0.99"]
    assert list(fc.columns) == cols
    assert not fc.duplicated(["location_id", "part_number", "period"]).any()
    assert fc["period"].nunique() == 6 and fc["period"].min() == sample_fleet.as_of
    q = fc[["q0.5", "q0.8", "q0.9", "q0.95", "q0.99"]].to_numpy()
    assert (np.diff(q, axis=1) >= 0).all()
    assert (fc["var"] >= fc["mean"] - 1e-12).all()  # compound Poisson: var ≥ mean
    assert set(fc["location_id"]) <= set(sample_fleet.dealers["location_id"])


def test_mean_equals_sum_of_conditional_probabilities(sample_fleet):
    # One long-lived component (renewals within a month negligible): the expected failures at
    # a dealer in the first period are Σ over its machines of 1 − S(a + r·d)/S(a).
    truth = _TrueModel(sample_fleet)
    fcc = forecast_demand(truth, sample_fleet, horizon=1, by="component")
    lt = sample_fleet.truth["lifetimes"]
    row = lt[lt["shape"] >= 1.5].sort_values("scale").iloc[-1]  # wear-out: no early renewal
    ages = component_lives(sample_fleet).ages
    sel = ages[(ages["machine_model"] == row["machine_model"]) & (ages["component"] == row["component"])]
    sel = sel.astype({"location_id": str})
    days = 31.0  # July
    k, eta = row["shape"], row["scale"]
    a = sel["age_hours"].to_numpy()
    h = sel["hours_per_day"].to_numpy() * days
    p = 1 - np.exp(-(((a + h) / eta) ** k - (a / eta) ** k))
    want = pd.Series(p, index=sel["location_id"].to_numpy()).groupby(level=0).sum()
    got = fcc[(fcc["machine_model"] == row["machine_model"]) & (fcc["component"] == row["component"])]
    got = got.set_index("location_id")["mean"]
    # Renewals inside the month add ~M(h/η) ≈ (h/η)^k ≈ 1e-3 relative, and only add.
    got = got.reindex(want.index).to_numpy()
    np.testing.assert_allclose(got, want.to_numpy(), rtol=1e-3)
    assert (got >= want.to_numpy() * (1 - 1e-12)).all()


def test_intervals_cover_simulated_demand(sample_fleet):
    # Simulate the next 3 months of failures from the true model (renewal, vectorised) and
    # check the 80% / 95% intervals of the true-parameter forecast at dealer × component level.
    rng = np.random.default_rng(5)
    truth = _TrueModel(sample_fleet)
    fcc = forecast_demand(truth, sample_fleet, horizon=3, by="component", quantiles=(0.1, 0.9, 0.025, 0.975))
    ages = component_lives(sample_fleet).ages.merge(sample_fleet.truth["lifetimes"], on=["machine_model", "component"])
    edges = np.array([31.0, 62.0, 92.0])  # Jul, Aug, Sep
    n_rep = 200
    k, eta, a = ages["shape"].to_numpy(), ages["scale"].to_numpy(), ages["age_hours"].to_numpy()
    r = ages["hours_per_day"].to_numpy()
    counts = np.zeros((n_rep, len(ages), 3))
    u = rng.random((n_rep, len(ages)))
    t = (eta * ((a / eta) ** k - np.log(u)) ** (1 / k) - a) / r  # days to the first failure
    for _ in range(6):
        for p in range(3):
            lo = 0.0 if p == 0 else edges[p - 1]
            counts[:, :, p] += (t >= lo) & (t < edges[p])
        t = t + eta * rng.weibull(k, size=t.shape) / r
    key = ages["location_id"].astype(str) + "|" + ages["machine_model"].astype(str) + "|" + ages["component"].astype(str)
    codes, uniq = pd.factorize(key)
    sims = np.stack([np.stack([np.bincount(codes, counts[i, :, p], len(uniq)) for p in range(3)], 1)
                     for i in range(n_rep)])  # rep × cell × period
    f = fcc.assign(key=fcc["location_id"].astype(str) + "|" + fcc["machine_model"].astype(str) + "|"
                   + fcc["component"].astype(str))
    f["p"] = (f["period"] - f["period"].min()).dt.days.map({0: 0, 31: 1, 62: 2})
    ci = pd.Index(uniq).get_indexer(f["key"])
    y = sims[:, ci, f["p"].to_numpy()]  # rep × forecast rows
    # A quantile q_τ of a count must satisfy P(Y < q_τ) ≤ τ ≤ P(Y ≤ q_τ): check both
    # sides over all cells and replications (a symmetric interval of a discrete law
    # over-covers, so the one-sided definition is the sharp test).
    for level in (0.025, 0.1, 0.9, 0.975):
        q = f[f"q{level:g}"].to_numpy()
        assert (y < q).mean() <= level + 0.01, level
        assert (y <= q).mean() >= level - 0.01, level
    busy = f["mean"].to_numpy() > 1.0
    totals = y[:, busy].sum(axis=1)
    se = totals.std(ddof=1) / np.sqrt(n_rep)
    assert abs(totals.mean() - f["mean"].to_numpy()[busy].sum()) < 4 * se


def test_options_move_demand_the_right_way(model, sample_fleet, fc):
    base = fc["mean"].sum()
    more_use = forecast_demand(model, sample_fleet, horizon=6, usage_factor=1.3)["mean"].sum()
    assert more_use > base * 1.2
    by_tier = forecast_demand(model, sample_fleet, horizon=6, usage_factor={4: 2.0})
    tier = by_tier["location_id"].map(sample_fleet.locations.set_index("location_id")["tier"])
    t4 = fc["location_id"].map(sample_fleet.locations.set_index("location_id")["tier"]) == 4
    assert by_tier.loc[tier == 4, "mean"].sum() > 1.5 * fc.loc[t4, "mean"].sum()
    # (the renewal table's grid spans the largest usage, so untouched cells move by ~1e-6)
    assert by_tier.loc[tier != 4, "mean"].sum() == pytest.approx(fc.loc[~t4, "mean"].sum(), rel=1e-5)
    dealer = sample_fleet.dealers["location_id"].iloc[0]
    new = pd.DataFrame({"machine_model": ["EX200"], "location_id": [dealer], "per_period": [20.0]})
    grown = forecast_demand(model, sample_fleet, horizon=6, new_machines=new)
    assert grown.loc[grown["location_id"] == dealer, "mean"].sum() > fc.loc[fc["location_id"] == dealer, "mean"].sum()
    assert grown.loc[grown["location_id"] != dealer, "mean"].sum() == pytest.approx(
        fc.loc[fc["location_id"] != dealer, "mean"].sum(), rel=1e-5)
    gone = sample_fleet.machines[sample_fleet.machines["location_id"] == dealer][["serial"]].assign(
        retired_date=sample_fleet.as_of)
    retired = forecast_demand(model, sample_fleet, horizon=6, retirements=gone)
    assert retired.loc[retired["location_id"] == dealer, "mean"].sum() == pytest.approx(0.0, abs=1e-9)


def test_lead_time_demand_prorates(fc):
    first = fc[fc["period"] == fc["period"].min()].groupby(["location_id", "part_number"])["mean"].sum()
    ltd = lead_time_demand(fc, 31.0).set_index(["location_id", "part_number"])
    np.testing.assert_allclose(ltd["mean"].reindex(first.index), first, rtol=1e-12)
    half = lead_time_demand(fc, 15.5).set_index(["location_id", "part_number"])["mean"]
    np.testing.assert_allclose(half.reindex(first.index), first / 2, rtol=1e-12)
    zero = lead_time_demand(fc, 0.0)
    assert (zero["mean"] == 0).all()
    with pytest.raises(ValueError, match="longer than the forecast horizon"):
        lead_time_demand(fc, 400.0)


def test_bad_arguments(model, sample_fleet):
    with pytest.raises(ValueError, match="horizon"):
        forecast_demand(model, sample_fleet, horizon=0)
    with pytest.raises(ValueError, match="quantiles"):
        forecast_demand(model, sample_fleet, quantiles=(0.5, 1.2))
    with pytest.raises(ValueError, match="not fitted"):
        forecast_demand(FailureModel(), sample_fleet)


def test_part_taken_in_two_quantities_is_compound_poisson(sample_fleet):
    # Make one part serve two components in different quantities (1 and 3 per failure):
    # its demand is N₁ + 3·N₃, whose mean and variance follow from the two groups' failure
    # rates; its quantiles are the package's count law for them: the negative binomial
    # where both quantities occur (var / mean not whole), 3 · Poisson or Poisson where one.
    from partsforecast.counts import (
        NEGATIVE_BINOMIAL,
        compound_poisson_quantiles,
        count_law,
    )
    from partsforecast.data import Fleet

    bom = sample_fleet.bom
    a, b = bom.iloc[0], bom[bom["machine_model"] != bom.iloc[0]["machine_model"]].iloc[0]
    bom2 = pd.concat([bom, pd.DataFrame([{**b.to_dict(), "part_number": a["part_number"],
                                          "qty_per_replacement": 3}])], ignore_index=True)
    bom2.loc[0, "qty_per_replacement"] = 1
    fleet = Fleet(machines=sample_fleet.machines, tickets=sample_fleet.tickets, parts=sample_fleet.parts,
                  bom=bom2, locations=sample_fleet.locations, lanes=sample_fleet.lanes,
                  stock=sample_fleet.stock, as_of=sample_fleet.as_of)
    truth = _TrueModel(sample_fleet)
    levels = (0.5, 0.9, 0.99)
    parts = forecast_demand(truth, fleet, horizon=2, quantiles=levels).astype({"location_id": str, "part_number": str})
    comp = forecast_demand(truth, fleet, horizon=2, by="component").astype(
        {"location_id": str, "machine_model": str, "component": str})
    lam = {}
    for q, row in ((1, a), (3, b)):
        sel = comp[(comp["machine_model"] == row["machine_model"]) & (comp["component"] == row["component"])]
        lam[q] = sel.set_index(["location_id", "period"])["mean"]
    got = parts[parts["part_number"] == a["part_number"]].set_index(["location_id", "period"])
    l1 = lam[1].reindex(got.index, fill_value=0.0)
    l3 = lam[3].reindex(got.index, fill_value=0.0)
    np.testing.assert_allclose(got["mean"], l1 + 3 * l3, rtol=1e-12)
    np.testing.assert_allclose(got["var"], l1 + 9 * l3, rtol=1e-12)
    law = count_law(l1 + 3 * l3, l1 + 9 * l3)
    got_q = got[[f"q{lv:g}" for lv in levels]].to_numpy()
    np.testing.assert_array_equal(got_q, law.quantiles(levels))
    both = ((l1 > 0) & (l3 > 0)).to_numpy()
    assert both.sum() > 5  # dealers with both models: the mixed case is exercised
    assert (law.kind[both] == NEGATIVE_BINOMIAL).all()
    # where one quantity occurs the law is the exact compound Poisson; where both, the
    # negative binomial with its two moments stays within a unit of it here
    rates = np.column_stack([l1, np.zeros(len(l1)), l3])
    exact = compound_poisson_quantiles(rates, levels)
    np.testing.assert_array_equal(got_q[~both], exact[~both])
    assert np.abs(got_q[both] - exact[both]).max() <= 1


def test_forecast_is_identical_on_one_thread_and_in_blocks(model, sample_fleet, fc, monkeypatch):
    # Blocks of rows run on threads; their sums are added in block order, so neither the
    # block size nor the thread count changes a single bit.
    import partsforecast.demand as dm

    monkeypatch.setattr(dm, "_THREADS", 1)
    monkeypatch.setattr(dm, "_CHUNK_ROWS", 7_919)
    one = forecast_demand(model, sample_fleet, horizon=6)
    monkeypatch.setattr(dm, "_THREADS", 2)
    two = forecast_demand(model, sample_fleet, horizon=6)
    pd.testing.assert_frame_equal(one, two)
    np.testing.assert_allclose(one["mean"], fc["mean"], rtol=1e-12)
    assert (one["location_id"].astype(str).to_numpy() == fc["location_id"].astype(str).to_numpy()).all()


def test_rows_sorted_and_ids_categorical(fc):
    keys = fc[["location_id", "part_number"]].astype(str).assign(period=fc["period"])
    assert keys.equals(keys.sort_values(["location_id", "part_number", "period"]))
    assert isinstance(fc["location_id"].dtype, pd.CategoricalDtype)


def test_lead_time_quantiles_are_exact_for_single_quantity_parts(fc):
    from scipy import stats

    levels = (0.5, 0.9, 0.99)
    # A lead time of exactly the first period gives that period's own quantiles.
    first = fc[fc["period"] == fc["period"].min()].set_index(["location_id", "part_number"])
    ltd = lead_time_demand(fc, 31.0, quantiles=levels).set_index(["location_id", "part_number"])
    for lv in levels:
        np.testing.assert_array_equal(ltd[f"q{lv:g}"].reindex(first.index), first[f"q{lv:g}"])
    # Over 45 days (a month and a half): q · Poisson(mean / q) with q = var / mean (every
    # part of the sample is taken in one quantity), against scipy.
    ltd = lead_time_demand(fc, 45.0, quantiles=levels)
    q = np.round(ltd["var"] / ltd["mean"]).to_numpy()
    np.testing.assert_allclose(ltd["var"] / ltd["mean"], q, rtol=1e-9)
    for lv in levels:
        want = q * stats.poisson.ppf(lv, ltd["mean"].to_numpy() / q)
        np.testing.assert_array_equal(ltd[f"q{lv:g}"].to_numpy(), want.astype(np.int64))
    assert (ltd["q0.99"] >= ltd["q0.9"]).all() and (ltd["q0.9"] >= ltd["q0.5"]).all()


def test_lead_time_quantiles_follow_the_count_law_for_mixed_quantities():
    from scipy import stats

    # Two 30-day periods; over 45 days a series with mean 2 and variance 5 (var / mean 2.5:
    # a part taken in several quantities) is negative binomial, one with variance 3 · mean
    # is 3 · Poisson(mean / 3), one with no demand is 0.
    period = pd.to_datetime(["2026-01-01", "2026-01-31"] * 3)
    fc = pd.DataFrame({"location_id": ["A"] * 6, "part_number": ["m", "m", "q", "q", "z", "z"],
                       "period": period, "mean": [4 / 3, 4 / 3, 1.0, 1.0, 0.0, 0.0],
                       "var": [10 / 3, 10 / 3, 3.0, 3.0, 0.0, 0.0]})
    got = lead_time_demand(fc, 45.0, quantiles=(0.5, 0.9)).set_index("part_number")
    np.testing.assert_allclose(got["mean"], [2.0, 1.5, 0.0])
    np.testing.assert_allclose(got["var"], [5.0, 4.5, 0.0])
    r, p = 2.0**2 / (5.0 - 2.0), 2.0 / 5.0
    assert got.loc["m", ["q0.5", "q0.9"]].tolist() == stats.nbinom.ppf([0.5, 0.9], r, p).tolist() == [1, 5]
    assert got.loc["q", ["q0.5", "q0.9"]].tolist() == (3 * stats.poisson.ppf([0.5, 0.9], 0.5)).tolist()
    assert got.loc["z", ["q0.5", "q0.9"]].tolist() == [0, 0]


def test_new_machines_with_exponential_lives_match_the_closed_form(sample_fleet):
    # Exponential lives (shape 1): a component fails at rate 1/η per operating hour whatever
    # its age, so a cohort of r machines entering mid-period c adds r·h·(days in service
    # during period p)/η failures in period p, exactly. All current machines retire today.
    expo = FailureModel.from_params(
        sample_fleet.truth["lifetimes"][["machine_model", "component"]].assign(shape=1.0, scale=5000.0))

    dealer = sample_fleet.dealers["location_id"].iloc[2]
    new = pd.DataFrame({"machine_model": ["EX200", "EX200"], "location_id": [dealer, dealer],
                        "per_period": [2.0, 1.5], "hours_per_day": [8.0, 8.0]})
    gone = sample_fleet.machines[["serial"]].assign(retired_date=sample_fleet.as_of)
    fc = forecast_demand(expo, sample_fleet, horizon=4, by="component", new_machines=new, retirements=gone)
    assert set(fc["location_id"].astype(str)) == {dealer}
    one = fc[fc["component"] == fc["component"].iloc[0]].sort_values("period")
    days = np.array([31.0, 31.0, 30.0, 31.0])  # Jul–Oct
    exposure = np.array([sum(days[p] if c < p else days[p] / 2 for c in range(p + 1)) for p in range(4)])
    want = 3.5 * 8.0 * exposure / 5000.0
    np.testing.assert_allclose(one["mean"].to_numpy(), want, rtol=1e-4)


def test_recent_sales_counts_last_years_machines_per_period(sample_fleet):
    from partsforecast.demand import recent_sales

    m = sample_fleet.machines
    sold = m[m["in_service_date"] >= sample_fleet.as_of - pd.Timedelta(days=365)]
    monthly = recent_sales(sample_fleet)
    assert monthly["per_period"].sum() * 12 == pytest.approx(len(sold))
    one = sold.iloc[0]
    got = monthly.set_index(["machine_model", "location_id"]).loc[(one["machine_model"], one["location_id"]), "per_period"]
    n = ((sold["machine_model"] == one["machine_model"]) & (sold["location_id"] == one["location_id"])).sum()
    assert got == pytest.approx(n / 12)
    quarterly = recent_sales(sample_fleet, window_days=730, periods_per_year=4)
    n2 = (m["in_service_date"] >= sample_fleet.as_of - pd.Timedelta(days=730)).sum()
    assert quarterly["per_period"].sum() * 8 == pytest.approx(n2)


# -- new machine models borrow the law of the same component on a related model -----------


def test_common_prefix_by_hand():
    from partsforecast.demand import _common_prefix

    got = _common_prefix(np.array(["EX200-7", "EX200-7", "WL50", "", "EX200"]),
                         np.array(["EX200-5", "EX60", "EX200", "EX60", "EX200"]))
    assert got.tolist() == [6, 2, 0, 0, 5]


def test_a_new_model_borrows_from_its_closest_relative():
    import partsforecast as pf

    fleet = pf.make_fleet(n_machines=1500, n_dealers=6, seed=3)
    bom = fleet.bom
    launch = bom[bom["machine_model"] == "EX200"].assign(machine_model="EX200-7")
    lone = pd.DataFrame({"machine_model": ["EX200-7"], "component": ["laser_guide"],
                         "part_number": [fleet.parts["part_number"].iloc[0]], "qty_per_replacement": [1]})
    fleet = pf.Fleet(**{**fleet.tables, "bom": pd.concat([bom, launch, lone], ignore_index=True)}, as_of=fleet.as_of)
    model = pf.FailureModel().fit(fleet)
    dealer = fleet.dealers["location_id"].iloc[0]
    new = pd.DataFrame({"machine_model": ["EX200-7"], "location_id": [dealer], "per_period": [5.0],
                        "hours_per_day": [7.0]})
    fc = forecast_demand(model, fleet, horizon=12, new_machines=new)
    borrowed = pd.DataFrame(fc.attrs["borrowed_groups"])
    # every component of the launch BOM borrows from EX200: it and EX200LC share "EX200"
    # with EX200-7, more than any other model, and name order puts EX200 first
    assert set(borrowed["component"]) == set(launch["component"])
    assert (borrowed["borrowed_from"] == "EX200").all()
    # a component no other model has borrows nothing
    assert "laser_guide" not in set(borrowed["component"])
    # the launch's demand is exactly that of as many EX200s at the same usage
    base = forecast_demand(model, fleet, horizon=12)
    same = forecast_demand(model, fleet, horizon=12, new_machines=new.assign(machine_model="EX200"))
    keys = ["location_id", "part_number", "period"]

    def extra(f):
        both = f.merge(base, on=keys, how="left", suffixes=("", "_b")).fillna({"mean_b": 0.0})
        return both.assign(d=both["mean"] - both["mean_b"]).set_index(keys)["d"]

    pd.testing.assert_series_equal(extra(fc), extra(same))
    assert extra(fc).sum() > 0
    # without the launch's machines nothing borrowed carries demand, and none is listed
    assert base.attrs["borrowed_groups"] == []
    # forecasts still concatenate (the records compare as plain values)
    assert len(pd.concat([fc, same])) == len(fc) + len(same)


def test_lead_time_demand_groups_like_a_sorted_groupby():
    """Rows in any order, text and categorical keys, rows without a key, per-key lead times:
    the same sums as a sorted groupby of the prorated rows (the independent reference)."""
    rng = np.random.default_rng(7)
    locs = np.array(["D2", "D10", "WH", "D1"])
    parts = np.array(["P-9", "P-10", "A1"])
    periods = pd.date_range("2026-01-01", periods=4, freq="MS")
    grid = pd.MultiIndex.from_product([locs, parts, periods], names=["location_id", "part_number", "period"])
    f = grid.to_frame(index=False).sample(frac=0.8, random_state=3)  # some series lack periods
    f["mean"] = rng.gamma(1.0, 2.0, len(f))
    f["var"] = f["mean"] * rng.integers(1, 4, len(f))
    f.loc[f.index[:3], "part_number"] = None  # no key: belongs to no series
    lead = pd.Series({"D1": 20.0, "D2": 45.0, "D10": 90.0, "WH": 100.0})

    def reference(frame, lt):
        g = frame.dropna(subset=["location_id", "part_number"]).copy()
        start = (g["period"] - periods[0]).dt.days.to_numpy(float)
        # a period ends where the next starts; the last lasts as long as the first
        end = start + np.array([31, 28, 31, 31], float)[(g["period"].dt.month - 1).to_numpy()]
        L = g["location_id"].map(lt).to_numpy(float)
        share = np.clip((L - start) / (end - start), 0, 1)
        g = g.assign(mean=g["mean"] * share, var=g["var"] * share, lead_time_days=L)
        return g.groupby(["location_id", "part_number"], as_index=False, sort=True, observed=True).agg(
            lead_time_days=("lead_time_days", "first"), mean=("mean", "sum"), var=("var", "sum"))

    for frame in (f, f.astype({"location_id": "category", "part_number": "category"})):
        got = lead_time_demand(frame, lead)
        want = reference(frame, lead)
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12, check_dtype=False,
                                      check_categorical=False)
        assert list(got["location_id"].astype(str)) == list(want["location_id"].astype(str))
        as_frame = lead.rename_axis("location_id").rename("lead_time_days").reset_index()
        as_frame = got[["location_id", "part_number"]].astype(str).merge(as_frame, on="location_id")
        by_frame = lead_time_demand(frame.astype({"location_id": "str", "part_number": "str"}), as_frame)
        np.testing.assert_allclose(by_frame["mean"], got["mean"], rtol=1e-12)
