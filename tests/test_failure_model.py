"""Fleet-level failure models: lives from tickets, pooling, intervals against the truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from partsforecast import Fleet, make_fleet
from partsforecast.lives import MIN_LIFE_HOURS, component_lives, usage_rates
from partsforecast.reliability import FailureModel, NotFittedError


@pytest.fixture(scope="module")
def fitted(sample_fleet):
    return FailureModel().fit(sample_fleet)


def _with_truth(model, fleet):
    return model.params_.merge(fleet.truth["lifetimes"], on=["machine_model", "component"],
                               suffixes=("", "_true"))


# --- lives -------------------------------------------------------------------------------

def _tiny_fleet(**machine_overrides):
    machines = pd.DataFrame({
        "serial": ["S1", "S2", "S3"], "machine_model": ["EX200", "EX200", "EX200"],
        "location_id": ["D1", "D1", "D2"],
        "in_service_date": ["2024-01-01", "2024-01-01", "2024-07-01"],
        "hours_per_day": [10.0, np.nan, np.nan], **machine_overrides})
    tickets = pd.DataFrame({
        "ticket_id": ["T1", "T1", "T2", "T3", "T4"],
        "serial": ["S1", "S1", "S1", "S2", "S2"], "location_id": ["D1"] * 5,
        "opened_at": ["2024-03-01 10:00", "2024-03-01 10:00", "2024-07-01 09:00",
                      "2024-04-10 09:00", "2024-06-09 09:00"],
        "component": ["pump", "pump", "pump", "pump", "ecu"],
        "part_number": ["P1", "P2", "P1", "P1", "P3"], "quantity": [1, 1, 1, 1, 1],
        "meter_hours": [600.0, 600.0, np.nan, 800.0, 1600.0]})
    parts = pd.DataFrame({"part_number": ["P1", "P2", "P3"], "component": ["pump", "pump", "ecu"],
                          "unit_cost": [5000.0, 80.0, 900.0], "lead_time_days": [20.0, 5.0, 10.0]})
    bom = pd.DataFrame({"machine_model": ["EX200"] * 3, "component": ["pump", "pump", "ecu"],
                        "part_number": ["P1", "P2", "P3"], "qty_per_replacement": [1, 1, 1]})
    locations = pd.DataFrame({"location_id": ["WH", "D1", "D2"], "kind": ["warehouse", "dealer", "dealer"],
                              "tier": [None, 1, 1], "lat": [31.0, 30.0, 29.0], "lon": [121.0, 114.0, 112.0]})
    return Fleet(machines=machines, tickets=tickets, parts=parts, bom=bom, locations=locations,
                 as_of="2025-01-01")


def test_lives_renewal_and_censoring_by_hand():
    f = _tiny_fleet()
    rates = usage_rates(f).set_index("serial")
    # S2: meter 800 h after 100 days 9 h and 1600 h after 160 days 9 h; least squares
    # through the origin: Σ meter·days / Σ days² (h/day).
    d1, d2 = 100 + 9 / 24, 160 + 9 / 24
    assert rates.loc["S2", "hours_per_day"] == pytest.approx((800 * d1 + 1600 * d2) / (d1**2 + d2**2))
    assert rates.loc["S2", "rate_source"] == "meter"
    assert rates.loc["S1", "rate_source"] == "given"
    # S3 has no readings: the median of its model at its tier (both others are tier 1).
    assert rates.loc["S3", "rate_source"] == "model-tier median"
    lives = component_lives(f).lives.set_index(["serial", "component"]).sort_index()
    s1 = lives.loc[("S1", "pump")].sort_values("start_hours")
    # T1 at 600 h (meter; two part lines = one failure), T2 on 2024-07-01 09:00 without a
    # reading = 182.375 days × 10 h, then censored at 2025-01-01 = 366 days × 10 h.
    t2 = 1823.75
    np.testing.assert_allclose(s1["duration"], [600.0, t2 - 600.0, 3660.0 - t2])
    assert s1["failed"].tolist() == [True, True, False]
    # S3 never had a ticket: one censored life per component of its model.
    s3 = lives.loc["S3"]
    assert len(s3) == 2 and not s3["failed"].any()
    s3_rate = rates.loc["S3", "hours_per_day"]
    # in service 2024-07-01 → 184 days to as_of
    np.testing.assert_allclose(s3["duration"], [184 * s3_rate] * 2)
    ages = component_lives(f).ages.set_index(["serial", "component"])
    assert ages.loc[("S1", "pump"), "age_hours"] == pytest.approx(3660.0 - t2)
    assert ages.loc[("S1", "ecu"), "age_hours"] == pytest.approx(3660.0)


def test_lives_minimum_and_retired_machines():
    f = _tiny_fleet(retired_date=["2024-09-01", None, None])
    lv = component_lives(f)
    assert (lv.lives["duration"] >= MIN_LIFE_HOURS).all()
    # A retired machine is censored at retirement and has no current age.
    assert "S1" not in set(lv.ages["serial"])
    s1 = lv.lives[(lv.lives["serial"] == "S1") & (lv.lives["component"] == "pump") & ~lv.lives["failed"]]
    assert s1["duration"].iloc[0] == pytest.approx((pd.Timestamp("2024-09-01") - pd.Timestamp("2024-01-01")).days * 10 - 1823.75)


def test_lives_match_truth_on_sample(sample_fleet):
    lv = component_lives(sample_fleet).lives
    truth = sample_fleet.truth["failures"]
    assert int(lv["failed"].sum()) == len(truth)
    ev = lv[lv["failed"]].astype({"serial": str, "component": str}).assign(hours=lambda x: x["start_hours"] + x["duration"])
    ev = ev.sort_values(["serial", "component", "hours"])
    tr = truth.sort_values(["serial", "component", "failure_hours"])
    assert (ev["serial"].to_numpy() == tr["serial"].to_numpy()).all()
    got, want = ev["hours"].to_numpy(), tr["failure_hours"].to_numpy()
    # Meter readings are exact to 0.1 h; calendar-estimated ones within a day of usage.
    assert np.median(np.abs(got - want)) < 0.1
    assert np.mean(np.abs(got - want) < 24) > 0.99


# --- the fleet model ---------------------------------------------------------------------

def test_params_contract(fitted, sample_fleet):
    p = fitted.params_
    for c in ["machine_model", "component", "shape", "scale", "shape_lower", "shape_upper",
              "scale_lower", "scale_upper", "n_failures", "n_censored", "method", "borrowed",
              "loglik", "ks_distance"]:
        assert c in p.columns
    groups = sample_fleet.bom[["machine_model", "component"]].drop_duplicates()
    assert len(p) == len(groups)
    assert np.isfinite(p["shape"]).all() and np.isfinite(p["scale"]).all()
    assert (p["shape_lower"] <= p["shape"]).all() and (p["shape"] <= p["shape_upper"]).all()
    assert (p["scale_lower"] <= p["scale"]).all() and (p["scale"] <= p["scale_upper"]).all()
    assert p["n_failures"].sum() == len(sample_fleet.truth["failures"])
    text = repr(fitted)
    assert text.startswith("FailureModel(") and "\n" not in text and len(text) < 200
    assert f"groups={len(p)}" in text and f"failures={int(p['n_failures'].sum()):,}" in text
    assert "pooling=shrink" in text
    page = fitted._repr_html_()
    assert "<table" in page and "mle" in page and "more rows" in page and len(page) < 20_000


# --- interval coverage against the truth, every pooling and every fitting method ----------
#
# A 95% interval must cover the true parameter about 95% of the time: not much less (too
# narrow) and not much more (too wide). The check is two-sided: the observed coverage of a
# (pooling, method, parameter) cell must lie in COVER_BAND. With at least N_REQUIRED
# group-intervals in a cell (computed below from the binomial law), a cell whose true
# coverage is 0.95 falls outside the band with probability < 0.001, while one at 0.85 or at
# 0.99 falls inside it with probability < 0.01. Small generated fleets (many sparse groups,
# so every method occurs often) over many seeds; a few larger fleets add groups that keep
# their own fit under "shrink" (>= 20 failures).

COVER_BAND = (0.92, 0.98)


def _required_n(lo=COVER_BAND[0], hi=COVER_BAND[1]):
    from scipy import stats
    for n in range(100, 5000):
        a, b = int(np.ceil(lo * n)), int(np.floor(hi * n))
        reject_95 = stats.binom.cdf(a - 1, n, 0.95) + stats.binom.sf(b, n, 0.95)
        accept_85 = stats.binom.sf(a - 1, n, 0.85)
        accept_99 = stats.binom.cdf(b, n, 0.99)
        if reject_95 < 0.001 and accept_85 < 0.01 and accept_99 < 0.01:
            return n
    raise AssertionError("no n found")


N_REQUIRED = _required_n()
COVERAGE_FLEETS = ((600, range(20), ("none", "shape", "shrink")), (2000, range(100, 104), ("shrink",)))


def _cell(method: str) -> str:
    if method.endswith("(shape 1 assumed)"):
        return "shape assumed"
    return {"mle": "mle", "pooled-shape": "pooled-shape", "pooled-shape, shrunk scale": "shrunk",
            "pooled-shape, family rate": "family rate"}[method]


@pytest.fixture(scope="module")
def coverage_groups():
    """Every group of every coverage fleet and pooling, with its truth and whether each
    interval covers it."""
    rows = []
    for n_machines, seeds, poolings in COVERAGE_FLEETS:
        for seed in seeds:
            fleet = make_fleet(n_machines=n_machines, n_dealers=8, seed=seed)
            for pooling in poolings:
                p = _with_truth(FailureModel(pooling=pooling, covariates=None).fit(fleet), fleet)
                rows.append(p.assign(pooling=pooling, seed=seed))
    p = pd.concat(rows, ignore_index=True)
    p["cell"] = p["method"].map(_cell)
    p["shape_covered"] = (p["shape_lower"] <= p["shape_true"]) & (p["shape_true"] <= p["shape_upper"])
    p["scale_covered"] = (p["scale_lower"] <= p["scale_true"]) & (p["scale_true"] <= p["scale_upper"])
    return p


def test_coverage_band_has_the_power_it_claims():
    from scipy import stats
    assert N_REQUIRED == 601
    n, (lo, hi) = N_REQUIRED, COVER_BAND
    a, b = int(np.ceil(lo * n)), int(np.floor(hi * n))
    assert (a, b) == (553, 588)                         # covered counts accepted
    assert stats.binom.cdf(a - 1, n, 0.95) + stats.binom.sf(b, n, 0.95) == pytest.approx(7.87e-4, rel=1e-3)
    assert stats.binom.sf(a - 1, n, 0.85) < 2e-7        # 0.85 (too narrow) is never accepted
    assert stats.binom.cdf(b, n, 0.99) == pytest.approx(8.60e-3, rel=1e-3)  # 0.99 (too wide)


CELLS = [("none", "mle"), ("shape", "pooled-shape"), ("shrink", "mle"), ("shrink", "shrunk"),
         ("shrink", "family rate")]


@pytest.mark.parametrize("parameter", ["shape", "scale"])
@pytest.mark.parametrize("pooling, cell", CELLS)
def test_intervals_cover_truth_two_sided(coverage_groups, pooling, cell, parameter):
    from scipy import stats
    p = coverage_groups[(coverage_groups["pooling"] == pooling) & (coverage_groups["cell"] == cell)]
    n = len(p)
    k = int(p[f"{parameter}_covered"].sum())
    ci = stats.binomtest(k, n).proportion_ci(0.95)
    msg = (f"{pooling}/{cell} {parameter}: covered {k} of {n} = {k / n:.3f} "
           f"(95% CI {ci.low:.3f}-{ci.high:.3f}); band {COVER_BAND}")
    assert n >= N_REQUIRED, msg
    assert COVER_BAND[0] <= k / n <= COVER_BAND[1], msg


def test_every_method_of_every_pooling_is_checked(coverage_groups):
    # The cells above are all the methods the fleets produced (besides assumed shapes).
    seen = set(map(tuple, coverage_groups[["pooling", "cell"]].drop_duplicates().to_numpy()))
    assert seen - {(pl, "shape assumed") for pl in ("none", "shape", "shrink")} == set(CELLS)


def test_assumed_shape_claims_no_interval(coverage_groups):
    # pooling="none" gives groups without two distinct failure times shape 1 (flagged); an
    # assumption is not an estimate, so no interval: before, [1, 1] for the shape and a
    # shape-1 scale interval covered 0 of 101 true shapes and 7 of 101 true scales.
    p = coverage_groups[coverage_groups["cell"] == "shape assumed"]
    assert len(p) >= 50
    assert set(p["pooling"]) == {"none"}
    assert p[["shape_lower", "shape_upper", "scale_lower", "scale_upper"]].isna().all().all()
    assert np.isfinite(p["shape"]).all() and np.isfinite(p["scale"]).all()
    assert (p["shape"] == 1.0).all()


def test_sample_shrunk_groups_cover_their_true_scale(fitted, sample_fleet):
    # The bundled sample: the reviewer's count was 12 of 15 shrunk groups (80%).
    p = _with_truth(fitted, sample_fleet)
    shrunk = p[p["method"] == "pooled-shape, shrunk scale"]
    assert len(shrunk) == 15
    assert ((shrunk["scale_lower"] <= shrunk["scale_true"]) & (shrunk["scale_true"] <= shrunk["scale_upper"])).sum() == 15


def test_pooling_lowers_error_of_sparse_groups():
    # A small fleet: many groups have few failures. Error = |log| ratio of the fitted to the
    # true probability of failing within 4,000 operating hours from new.
    fleet = make_fleet(n_machines=700, n_dealers=10, years=3, seed=21)
    truth = fleet.truth["lifetimes"].set_index(["machine_model", "component"])
    errors = {}
    for pooling in ("none", "shape", "shrink"):
        p = FailureModel(pooling=pooling, covariates=None).fit(fleet).params_.set_index(["machine_model", "component"])
        t = truth.loc[p.index]
        f_fit = 1 - np.exp(-(4000 / p["scale"]) ** p["shape"])
        f_true = 1 - np.exp(-(4000 / t["scale"]) ** t["shape"])
        err = np.abs(np.log(f_fit / f_true))
        errors[pooling] = err[p["n_failures"] < 20].mean()
    assert errors["shrink"] < 0.8 * errors["none"], errors
    assert errors["shape"] < errors["none"], errors


def test_zero_failure_group_gets_flagged_usable_estimate(sample_fleet):
    tables = sample_fleet.tables
    comp = "ecu"
    model_name = tables["machines"]["machine_model"].iloc[0]
    serials = set(tables["machines"].loc[tables["machines"]["machine_model"] == model_name, "serial"])
    drop = tables["tickets"]["serial"].isin(serials) & (tables["tickets"]["component"] == comp)
    f = Fleet(**{**tables, "tickets": tables["tickets"][~drop]}, as_of=sample_fleet.as_of)
    for pooling in ("shrink", "shape", "none"):
        p = FailureModel(pooling=pooling, covariates=None).fit(f).params_
        row = p[(p["machine_model"] == model_name) & (p["component"] == comp)].iloc[0]
        assert row["n_failures"] == 0
        assert np.isfinite(row["shape"]) and np.isfinite(row["scale"]) and row["scale"] > 0
        assert row["method"] != "mle"


def test_exponential_distribution(sample_fleet):
    p = FailureModel(distribution="exponential", covariates=None).fit(sample_fleet).params_
    assert (p["shape"] == 1.0).all()
    # The exponential MLE: scale = total time on test / failures, per group.
    lv = component_lives(sample_fleet).lives
    ttt = lv.groupby(["machine_model", "component"])["duration"].sum()
    r = lv.groupby(["machine_model", "component"])["failed"].sum()
    want = (ttt / r)[r > 0]
    got = p.set_index(["machine_model", "component"])["scale"].loc[want.index]
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_survival_hazard_conditional(fitted):
    row = fitted.params_.iloc[0]
    mm, comp, k, eta = row["machine_model"], row["component"], row["shape"], row["scale"]
    t = np.array([10.0, 1000.0, 5000.0])
    np.testing.assert_allclose(fitted.survival(t, mm, comp), np.exp(-(t / eta) ** k))
    # hazard = −d log S / dt, numerically
    h = 1e-3
    num = -(np.log(fitted.survival(t + h, mm, comp)) - np.log(fitted.survival(t - h, mm, comp))) / (2 * h)
    np.testing.assert_allclose(fitted.hazard(t, mm, comp), num, rtol=1e-5)
    p = fitted.conditional_failure_prob(3000.0, 500.0, mm, comp)
    assert p == pytest.approx(1 - fitted.survival(3500.0, mm, comp) / fitted.survival(3000.0, mm, comp))
    with pytest.raises(KeyError, match="no fitted group"):
        fitted.survival(1.0, "NO-MODEL", comp)


def test_constant_rate_glm_choice(fitted, sample_fleet):
    cmp = fitted.comparison_.merge(sample_fleet.truth["lifetimes"], on=["machine_model", "component"])
    assert fitted.choice_ == "weibull"
    # Clear wear-out with plenty of failures: Weibull must win.
    wear = cmp[(cmp["shape"] >= 2.5) & (cmp.merge(fitted.params_, on=["machine_model", "component"])["n_failures"] >= 50)]
    assert len(wear) > 0 and (wear["chosen"] == "weibull").all()
    # The GLM is a real statsmodels fit with tier terms.
    assert any(name.startswith("tier[") for name in fitted.glm_.model.exog_names)


def test_not_fitted_and_bad_settings(sample_fleet):
    with pytest.raises(NotFittedError, match="not fitted"):
        FailureModel().survival(1.0, "EX200", "ecu")
    with pytest.raises(ValueError, match="pooling='partial' is not supported"):
        FailureModel(pooling="partial").fit(sample_fleet)
    with pytest.raises(ValueError, match="distribution"):
        FailureModel(distribution="frechet").fit(sample_fleet)
    assert "not fitted" in repr(FailureModel())
    assert "not fitted" in FailureModel()._repr_html_()


def test_plots(fitted):
    import matplotlib.pyplot as plt

    from partsforecast.reliability import kaplan_meier, median_ranks

    row = fitted.params_.sort_values("n_failures").iloc[-1]
    mm, comp = row["machine_model"], row["component"]
    lives = fitted.group_lives(mm, comp)
    assert lives["failed"].sum() == row["n_failures"]
    # Probability plot: the group's failures at their median ranks, and the fitted line
    # y = shape (log t - log scale) with the model's own shape and scale.
    ax = fitted.plot(mm, comp, kind="probability")
    assert len(ax.lines) == 2 and comp in ax.get_title() and mm in ax.get_title()
    pts, line = ax.lines
    mr = median_ranks(lives["duration"], lives["failed"])
    assert len(pts.get_xdata()) == row["n_failures"]
    np.testing.assert_allclose(pts.get_xdata(), mr["time"])
    np.testing.assert_allclose(pts.get_ydata(), np.log(-np.log1p(-mr["median_rank"].to_numpy())))
    x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
    np.testing.assert_allclose(y, row["shape"] * np.log(x / row["scale"]), rtol=1e-9, atol=1e-9)
    assert x.min() <= lives["duration"].min() and x.max() >= max(lives["duration"].max(), row["scale"])
    # Survival plot: the group's Kaplan-Meier step from 1, and the fitted survival.
    ax = fitted.plot(mm, comp, kind="survival")
    assert len(ax.lines) == 2
    km_line, fit_line = ax.lines
    km = kaplan_meier(lives["duration"], lives["failed"], level=fitted.level)
    np.testing.assert_allclose(km_line.get_xdata(), np.r_[0.0, km["time"].to_numpy()])
    np.testing.assert_allclose(km_line.get_ydata(), np.r_[1.0, km["survival"].to_numpy()])
    x, y = np.asarray(fit_line.get_xdata()), np.asarray(fit_line.get_ydata())
    np.testing.assert_allclose(y, np.exp(-(x / row["scale"]) ** row["shape"]), rtol=1e-9)
    np.testing.assert_allclose(y, fitted.survival(x, mm, comp), rtol=1e-9)
    plt.close("all")


def test_profiled_glm_equals_full_dummy_glm(fitted, sample_fleet):
    # The group rates are profiled out; the tier factors must equal those of the plain
    # Poisson GLM with one dummy per group (statsmodels, dense design).
    import statsmodels.api as sm
    lv = fitted.lives_.lives.astype({"machine_model": str, "component": str})
    tier = lv["location_id"].map(sample_fleet.locations.set_index("location_id")["tier"]).astype(int)
    cells = (lv.assign(tier=tier.to_numpy(), f=lv["failed"].astype(float))
             .groupby(["machine_model", "component", "tier"], as_index=False)
             .agg(y=("f", "sum"), e=("duration", "sum")))
    rates = fitted.glm_group_rates_
    has = cells.merge(rates, on=["machine_model", "component"])["rate_per_hour"].to_numpy() > 0
    cells = cells[has]
    g = pd.factorize(cells["machine_model"] + "|" + cells["component"])[0]
    X = np.zeros((len(cells), g.max() + 1))
    X[np.arange(len(cells)), g] = 1
    levels = sorted(cells["tier"].unique())[1:]
    X = np.hstack([X, (cells["tier"].to_numpy()[:, None] == np.array(levels)[None, :]).astype(float)])
    full = sm.GLM(cells["y"].to_numpy(), X, family=sm.families.Poisson(), offset=np.log(cells["e"].to_numpy())).fit()
    np.testing.assert_allclose(fitted.glm_.params, full.params[-len(levels):], atol=1e-6)
    np.testing.assert_allclose(fitted.glm_terms_["coef"], full.params[-len(levels):], atol=1e-6)
    np.testing.assert_allclose(fitted.glm_terms_["se"], full.bse[-len(levels):], rtol=1e-4)
