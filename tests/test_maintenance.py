"""Scheduled-service demand: the maintenance table, service tickets, ServiceModel, and the
generator's schedules, laws, seasons and heavy users."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln

import partsforecast as pf
from partsforecast.data import InputError
from partsforecast.demand import _period_edges, recent_sales, _new_machine_usage
from partsforecast.lives import fleet_lives
from partsforecast.maintenance import _dues_per_period, _interval_days
from partsforecast.samples import generate_tables


@pytest.fixture(scope="module")
def serviced():
    """Five years of a fleet with service visits; the model sees the first four."""
    full = pf.make_fleet(n_machines=2500, n_dealers=16, seed=5, years=5, maintenance=True)
    return full, full.until("2025-07-01")


# -- the data contract ---------------------------------------------------------------------


def _tables(**kw):
    tables, truth, as_of = generate_tables(n_machines=300, n_dealers=5, seed=3, **kw)
    return tables, truth, as_of


def test_fleets_without_a_schedule_keep_working():
    tables, _, as_of = _tables()
    tables.pop("maintenance")
    tables["tickets"] = tables["tickets"].drop(columns=["ticket_type"])
    tables["parts"] = tables["parts"].drop(columns=["interchangeable"], errors="ignore")
    fleet = pf.Fleet(**tables, as_of=as_of)
    assert len(fleet.maintenance) == 0
    assert (fleet.tickets["ticket_type"] == "repair").all()
    assert fleet.parts["interchangeable"].dtype == bool and fleet.parts["interchangeable"].all()
    assert fleet.repairs is fleet.tickets  # nothing to leave out


def test_maintenance_round_trips_through_a_folder(tmp_path):
    fleet = pf.make_fleet(n_machines=300, n_dealers=5, seed=3, maintenance=True)
    back = pf.read_fleet(fleet.to_dir(tmp_path / "f"))
    pd.testing.assert_frame_equal(back.maintenance, fleet.maintenance)
    assert (back.tickets["ticket_type"] == "service").sum() == (fleet.tickets["ticket_type"] == "service").sum()


@pytest.mark.parametrize("table, column, value, words", [
    ("maintenance", "quantity", 0, "must be > 0"),
    ("maintenance", "interval_hours", -500, "must be > 0"),
    ("maintenance", "interval_months", 1e6, "at most 240"),
    ("maintenance", "part_number", "NOPE-1", "unknown part"),
    ("tickets", "ticket_type", "inspection", "must be 'repair'"),
    ("parts", "interchangeable", "maybe", "yes or no"),
])
def test_bad_values_name_table_row_column_and_value(table, column, value, words):
    tables, _, as_of = _tables(maintenance=True)
    frame = tables[table].copy()
    frame[column] = frame[column].astype(object) if column in frame else None
    frame.loc[1, column] = value
    tables[table] = frame
    with pytest.raises(InputError) as err:
        pf.Fleet(**tables, as_of=as_of)
    text = str(err.value)
    assert table in text and column in text and str(value) in text and words in text
    assert any(p.table == table and p.column == column and p.row is not None for p in err.value.problems)


def test_yes_no_columns_parse_as_written():
    tables, _, as_of = _tables()
    parts = tables["parts"].copy()
    parts["interchangeable"] = (["no", "Yes", "FALSE", "1", ""] * len(parts))[: len(parts)]
    fleet = pf.Fleet(**{**tables, "parts": parts}, as_of=as_of)
    assert fleet.parts["interchangeable"].tolist()[:5] == [False, True, False, True, True]


# -- service visits stay out of the failure models -----------------------------------------


def test_service_visits_never_enter_the_failure_models():
    plain = pf.make_fleet(n_machines=800, n_dealers=8, seed=11)
    serviced = pf.make_fleet(n_machines=800, n_dealers=8, seed=11, maintenance=True)
    assert (serviced.tickets["ticket_type"] == "service").sum() > len(plain.tickets)
    pd.testing.assert_frame_equal(
        serviced.repairs.sort_values(["ticket_id", "part_number"]).reset_index(drop=True),
        plain.tickets.sort_values(["ticket_id", "part_number"]).reset_index(drop=True))
    # Service visits do bring meter readings (they inform the usage rates); with every
    # machine's hours per day given, the lives and so the fits must be the same.
    def given_rates(fleet):
        machines = fleet.machines.assign(hours_per_day=fleet.truth["machines"]["hours_per_day"].to_numpy())
        return pf.Fleet(**{**fleet.tables, "machines": machines}, as_of=fleet.as_of)

    a = pf.FailureModel().fit(given_rates(plain)).params_
    b = pf.FailureModel().fit(given_rates(serviced)).params_
    np.testing.assert_allclose(b["shape"], a["shape"], rtol=1e-9)
    np.testing.assert_allclose(b["scale"], a["scale"], rtol=1e-9)
    assert (b["n_failures"] == a["n_failures"]).all()


# -- the rule, by hand --------------------------------------------------------------------


def test_interval_is_hours_at_the_rate_or_months_whichever_first():
    # 500 h at 10 h/day is 50 days; at 2 h/day 250 days, so 6 months (182.6 days) come first.
    got = _interval_days(np.array([500.0, 500.0, 500.0]), np.array([6.0, 6.0, np.nan]),
                         np.array([10.0, 2.0, 2.0]))
    np.testing.assert_allclose(got, [50.0, 6 * 365.25 / 12, 250.0])


def test_due_points_per_period_by_hand():
    # Periods (0, 31], (31, 61], (61, 92] days from as_of. Last service 20 days ago, every
    # 50 days: due at 30 and 80. Last 60 days ago: due at 40 and 90 (-10 is past).
    bounds = np.array([0.0, 31.0, 61.0, 92.0])
    got = _dues_per_period(np.array([-20.0, -60.0]), np.array([50.0, 50.0]), bounds)
    np.testing.assert_array_equal(got, [[1, 0, 1], [0, 1, 1]])
    # a due point exactly on a bound (31) belongs to the period it closes
    np.testing.assert_array_equal(_dues_per_period(np.array([-19.0]), np.array([50.0]), bounds), [[1, 0, 1]])


def test_one_machine_by_hand():
    tables, _, as_of = _tables()
    fleet = pf.Fleet(**tables, as_of=as_of)
    serial = fleet.machines["serial"].iloc[0]
    model = fleet.machines["machine_model"].iloc[0]
    part = fleet.bom.loc[fleet.bom["machine_model"] == model, "part_number"].iloc[0]
    schedule = pd.DataFrame({"machine_model": [model], "part_number": [part], "quantity": [2],
                             "interval_hours": [500.0], "interval_months": [np.nan]})
    machines = fleet.machines.copy()
    machines["hours_per_day"] = 10.0
    fleet = pf.Fleet(**{**fleet.tables, "machines": machines, "maintenance": schedule}, as_of=as_of)
    sm = pf.ServiceModel(prior_weight=0).fit(fleet)
    row = sm.machines_.set_index("serial").loc[serial]
    starts, end = _period_edges(fleet.as_of, 3, "MS")
    out = sm.forecast(fleet, starts, end)
    mine = out[(out["location_id"] == row["location_id"]) & (out["part_number"] == part)]
    # No visits at all: the tier's share is 0, so nothing is forecast for anyone.
    assert sm.compliance_["share"].eq(0).all() and mine.empty
    # With a compliance of 1, every due point gives 2 units: the grid from in-service.
    sm.machines_["compliance"] = 1.0
    out = sm.forecast(fleet, starts, end)
    since = (fleet.as_of - row["in_service_date"]) / pd.Timedelta(days=1)
    last = -(since % 50.0)
    bounds = np.array([(t - fleet.as_of) / pd.Timedelta(days=1) for t in list(starts) + [end]])
    n = _dues_per_period(np.array([last]), np.array([50.0]), bounds)[0]
    same = sm.machines_[(sm.machines_["location_id"] == row["location_id"])
                        & (sm.machines_["machine_model"] == model)]
    assert len(same) >= 1
    mine = out[(out["location_id"] == row["location_id"]) & (out["part_number"] == part)]
    assert mine["var"].eq(0).all()  # compliance 1: no spread
    if len(same) == 1:
        np.testing.assert_allclose(mine.set_index("period_idx")["mean"].reindex(range(3), fill_value=0),
                                   2 * n)


# -- learnt from the visits, checked against the generator's truth -------------------------


def test_compliance_is_recovered(serviced):
    full, past = serviced
    sm = pf.ServiceModel().fit(past)
    truth = full.truth["services"]
    truth = truth[truth["due_date"] < past.as_of]
    assert sm.compliance_["share"].between(0.6, 0.9).all()
    np.testing.assert_allclose(sm.compliance_["due"].sum() / len(truth), 1.0, atol=0.03)
    done = (truth["done_at_dealer"] & (truth["service_date"] < past.as_of)).mean()
    np.testing.assert_allclose((sm.compliance_["done"].sum() / sm.compliance_["due"].sum()), done, atol=0.02)
    # Each machine's shrunk share tracks its owner's habit.
    p = truth.groupby("serial")["p_done"].first()
    m = sm.machines_.set_index("serial")
    both = m.loc[m["due"] >= 6, "compliance"].to_frame().join(p, how="inner")
    assert np.corrcoef(both["compliance"], both["p_done"])[0, 1] > 0.4
    assert 1.0 <= sm.prior_weight_ <= 200.0


def test_service_units_forecast_match_the_held_out_year(serviced):
    full, past = serviced
    sm = pf.ServiceModel().fit(past)
    starts, end = _period_edges(past.as_of, 12, "MS")
    tk = full.tickets
    held = tk[(tk["opened_at"] >= past.as_of) & (tk["opened_at"] < end) & (tk["ticket_type"] == "service")]
    old = held[held["serial"].isin(past.machines["serial"])]
    fc = sm.forecast(past, starts, end)
    assert fc["mean"].sum() == pytest.approx(old["quantity"].sum(), rel=0.04)
    # with the machines the recent sales bring, the whole year's service units
    nm = recent_sales(past)
    fc2 = sm.forecast(past, starts, end, nm, _new_machine_usage(nm, past, fleet_lives(past)))
    assert fc2["mean"].sum() == pytest.approx(held["quantity"].sum(), rel=0.05)
    # and dealer by dealer, part by part
    a = old.groupby(["location_id", "part_number"])["quantity"].sum()
    f = fc.groupby(["location_id", "part_number"])["mean"].sum()
    both = pd.concat([a, f], axis=1).fillna(0)
    assert np.corrcoef(both.iloc[:, 0], both.iloc[:, 1])[0, 1] > 0.98


def test_forecast_demand_adds_service_to_failures(serviced):
    _, past = serviced
    model = pf.FailureModel().fit(past)
    sm = pf.ServiceModel().fit(past)
    without = pf.forecast_demand(model, past, horizon=6, maintenance=None)
    auto = pf.forecast_demand(model, past, horizon=6)
    given = pf.forecast_demand(model, past, horizon=6, maintenance=sm)
    pd.testing.assert_frame_equal(auto, given)
    starts, end = _period_edges(past.as_of, 6, "MS")
    service = sm.forecast(past, starts, end)
    keys = ["location_id", "part_number", "period"]
    service["period"] = starts[service["period_idx"].to_numpy()]
    expect = pd.concat([without[keys + ["mean", "var"]].astype({"location_id": str, "part_number": str}),
                        service[keys + ["mean", "var"]]]).groupby(keys)[["mean", "var"]].sum()
    got = auto.astype({"location_id": str, "part_number": str}).set_index(keys)[["mean", "var"]]
    got = got.sort_index()
    expect = expect.loc[got.index]
    np.testing.assert_allclose(got.to_numpy(), expect.to_numpy(), rtol=1e-9)
    assert auto["mean"].sum() == pytest.approx(without["mean"].sum() + service["mean"].sum(), rel=1e-9)
    q = auto[[c for c in auto.columns if c.startswith("q")]].to_numpy()
    assert (np.diff(q, axis=1) >= 0).all()
    with pytest.raises(ValueError, match="maintenance must be"):
        pf.forecast_demand(model, past, horizon=2, maintenance="yes")


# -- the generator's options --------------------------------------------------------------


def test_default_tables_are_unchanged_by_the_options_streams():
    a, _, _ = generate_tables(n_machines=400, n_dealers=6, seed=2)
    b, tb, _ = generate_tables(n_machines=400, n_dealers=6, seed=2, maintenance=True)
    for name in ("machines", "parts", "bom", "locations", "lanes"):
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)
    repairs = b["tickets"][b["tickets"]["ticket_type"] == "repair"]
    pd.testing.assert_frame_equal(repairs.sort_values(["ticket_id", "part_number"]).reset_index(drop=True),
                                  a["tickets"].sort_values(["ticket_id", "part_number"]).reset_index(drop=True))
    # every service done at a dealer before as_of is one service ticket
    s = tb["services"]
    assert s["done_at_dealer"].sum() == b["tickets"].loc[b["tickets"]["ticket_type"] == "service", "ticket_id"].nunique()
    assert s["p_done"].between(0.6, 0.9).all()


@pytest.mark.parametrize("law", ["lognormal", "gamma"])
def test_other_laws_keep_each_groups_mean_and_variance(law):
    _, tw, _ = generate_tables(n_machines=300, n_dealers=5, seed=4)
    _, tl, _ = generate_tables(n_machines=300, n_dealers=5, seed=4, lifetime_law=law)
    w, other = tw["lifetimes"], tl["lifetimes"]
    assert (other["law"] == law).all() and (w["law"] == "weibull").all()
    k, eta = w["shape"].to_numpy(), w["scale"].to_numpy()
    w_mean = eta * np.exp(gammaln(1 + 1 / k))
    w_var = eta**2 * (np.exp(gammaln(1 + 2 / k)) - np.exp(2 * gammaln(1 + 1 / k)))
    a, b = other["shape"].to_numpy(), other["scale"].to_numpy()
    if law == "lognormal":
        mean, var = b * np.exp(a**2 / 2), b**2 * np.exp(a**2) * np.expm1(a**2)
    else:
        mean, var = a * b, a * b**2
    np.testing.assert_allclose(mean, w_mean, rtol=2e-3)
    np.testing.assert_allclose(var, w_var, rtol=3e-3)  # scales are whole hours


@pytest.mark.parametrize("law, dist", [("lognormal", lambda a, b: __import__("scipy").stats.lognorm(a, scale=b)),
                                       ("gamma", lambda a, b: __import__("scipy").stats.gamma(a, scale=b)),
                                       ("weibull", lambda a, b: __import__("scipy").stats.weibull_min(a, scale=b))])
def test_lives_follow_the_chosen_law(law, dist):
    from scipy import stats

    from partsforecast.samples import _draw_lives

    rng = np.random.default_rng(0)
    a, b = np.full(20_000, 1.7), np.full(20_000, 5_000.0)
    assert stats.kstest(_draw_lives(rng, law, a, b), dist(1.7, 5_000.0).cdf).pvalue > 1e-3


def test_seasonal_use_moves_failures_into_the_season():
    plain = pf.make_fleet(n_machines=3000, n_dealers=12, seed=8, years=5)
    seasonal = pf.make_fleet(n_machines=3000, n_dealers=12, seed=8, years=5, seasonality=0.5)
    prof = seasonal.truth["usage_profile"]
    np.testing.assert_allclose(prof.groupby("tier")["factor"].mean(), 1.0, atol=0.01)
    assert prof.loc[prof["month"] == 7, "factor"].min() > 1.3
    assert prof.loc[prof["month"] == 1, "factor"].max() < 0.7

    def summer_share(f):
        m = f.tickets["opened_at"].dt.month
        return m.isin([5, 6, 7, 8, 9]).mean() / m.isin([11, 12, 1, 2, 3]).mean()

    assert summer_share(seasonal) > 1.3 * summer_share(plain)
    # total hours over the years hardly change (the profile has mean 1)
    np.testing.assert_allclose(seasonal.truth["machines"]["total_hours"].sum()
                               / plain.truth["machines"]["total_hours"].sum(), 1.0, atol=0.01)


def test_heavy_users_fail_more_often():
    fleet = pf.make_fleet(n_machines=2000, n_dealers=8, seed=9, heavy_use=0.5)
    sev = fleet.truth["machines"][["serial", "severity"]]
    assert sev["severity"].mean() == pytest.approx(1.0, abs=0.05)
    assert sev["severity"].var() == pytest.approx(0.5, rel=0.15)
    per = fleet.tickets.drop_duplicates(["ticket_id", "component"]).groupby("serial").size()
    hours = fleet.truth["machines"].set_index("serial")["total_hours"]
    rate = (per.reindex(hours.index, fill_value=0) / hours).rename("rate")
    both = sev.set_index("serial").join(rate)
    hi, lo = both["severity"] > 1.5, both["severity"] < 0.5
    assert both.loc[hi, "rate"].mean() > 2.5 * both.loc[lo, "rate"].mean()


@pytest.mark.parametrize("kw, words", [
    ({"lifetime_law": "frechet"}, "lifetime_law must be one of"),
    ({"seasonality": 0.9}, "seasonality must be a number from 0 to 0.6"),
    ({"heavy_use": -1}, "heavy_use must be a number from 0 to 2"),
    ({"maintenance": "yes"}, "maintenance must be True or False"),
    ({"service_compliance": (0.9, 0.2)}, "service_compliance must satisfy"),
])
def test_bad_generator_options_are_named(kw, words):
    with pytest.raises(ValueError, match=words):
        pf.make_fleet(n_machines=50, n_dealers=2, **kw)


# -- in the weekly plan ---------------------------------------------------------------------


def test_the_plan_stocks_for_services_and_says_what_it_rests_on(tmp_path):
    import json

    from partsforecast.plan import run_plan

    fleet = pf.make_fleet(n_machines=1200, n_dealers=8, seed=21, maintenance=True)
    no_schedule = pf.Fleet(**{**fleet.tables, "maintenance": None}, as_of=fleet.as_of)
    plan = run_plan(fleet, tmp_path / "with", report=True)
    bare = run_plan(no_schedule, tmp_path / "without", report=False)
    run = json.loads((tmp_path / "with" / "run.json").read_text())
    sm = pf.ServiceModel().fit(fleet)
    shares = {k: v["share"] for k, v in run["service_demand"]["compliance_by_tier"].items()}
    assert shares == {str(t): round(x, 4) for t, x in zip(sm.compliance_["tier"], sm.compliance_["share"])}
    assert json.loads((tmp_path / "without" / "run.json").read_text())["service_demand"] is None
    # the scheduled parts get more stock where their services are done
    scheduled = set(fleet.maintenance["part_number"])
    level = lambda p: p.levels[p.levels["part_number"].isin(scheduled)]["base_stock"].sum()
    assert level(plan) > 1.5 * level(bare)
    # which failure-model groups borrow their law, in run.json and on the page
    params = pf.FailureModel().fit(fleet).params_
    info = run["failure_models"]
    assert info["groups"] == len(params) and info["borrowed"] == int(params["borrowed"].sum())
    listed = {(g["machine_model"], g["component"]) for g in info["listed"]}
    assert listed == set(map(tuple, params.loc[params["borrowed"], ["machine_model", "component"]].to_numpy()))
    page = (tmp_path / "with" / "report.html").read_text()
    assert ("id='borrowed'" in page) == (info["borrowed"] > 0)
