"""Lognormal and gamma lifetime laws: censored maximum likelihood against scipy, the choice of
law by AIC, renewal functions against closed forms and Monte Carlo, and the forecast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

import partsforecast as pf
from partsforecast import FailureModel, forecast_demand, make_fleet
from partsforecast.reliability import (
    LifetimeLaw,
    ParametricLifetimeModel,
    expected_failures,
    fit_law_groups,
    lifetime_law,
    renewal_function,
)

KEYS = ["machine_model", "component"]
SCIPY = {"lognormal": stats.lognorm, "gamma": stats.gamma, "weibull": stats.weibull_min}


def _tight(func, x0, args=(), disp=0):
    """scipy's fit optimiser (Nelder-Mead), run to convergence (its default stops at ~1e-4)."""
    return optimize.minimize(func, x0, args=args, method="Nelder-Mead",
                             options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000, "maxfev": 40000}).x


def _censored_sample(law, seed=7, groups=3, n=300):
    """Groups of lives of ``law`` (shape and scale per group), right-censored at uniform times,
    with integer case weights."""
    rng = np.random.default_rng(seed)
    shape = {"lognormal": [0.4, 0.8, 1.2], "gamma": [0.7, 2.5, 6.0]}[law][:groups]
    scale = {"lognormal": [3000.0, 1500.0, 800.0], "gamma": [2000.0, 600.0, 200.0]}[law][:groups]
    g = np.repeat(np.arange(groups), n)
    life = SCIPY[law].rvs(np.array(shape)[g], scale=np.array(scale)[g], random_state=rng)
    cens = rng.uniform(200.0, 4000.0, g.size)
    t = np.minimum(life, cens)
    return g, t, life <= cens, rng.integers(1, 4, g.size).astype(float)


# --- the fits ---------------------------------------------------------------------------------

@pytest.mark.parametrize("law", ["lognormal", "gamma"])
def test_censored_weighted_mle_matches_scipy(law):
    g, t, d, w = _censored_sample(law)
    res = fit_law_groups(law, g, t, d, w)
    assert (res["method"] == "mle").all() and res["converged"].all()
    for j in range(3):
        m = g == j
        rep = w[m].astype(int)  # a weight of 3 is three identical lives
        tt, dd = np.repeat(t[m], rep), np.repeat(d[m], rep)
        data = stats.CensoredData(uncensored=tt[dd], right=tt[~dd])
        shape, _, scale = SCIPY[law].fit(data, floc=0, optimizer=_tight)
        assert res.loc[j, "shape"] == pytest.approx(shape, rel=1e-6)
        assert res.loc[j, "scale"] == pytest.approx(scale, rel=1e-6)
        ll = (SCIPY[law].logpdf(tt[dd], res.loc[j, "shape"], scale=res.loc[j, "scale"]).sum()
              + SCIPY[law].logsf(tt[~dd], res.loc[j, "shape"], scale=res.loc[j, "scale"]).sum())
        assert res.loc[j, "loglik"] == pytest.approx(ll, rel=1e-10)
        # the maximum: scipy's optimum is no higher
        ll_scipy = (SCIPY[law].logpdf(tt[dd], shape, scale=scale).sum()
                    + SCIPY[law].logsf(tt[~dd], shape, scale=scale).sum())
        assert ll_scipy <= res.loc[j, "loglik"] + 1e-7
    # Wald intervals hold the estimates
    assert (res["shape_lower"] < res["shape"]).all() and (res["shape"] < res["shape_upper"]).all()
    assert (res["scale_lower"] < res["scale"]).all() and (res["scale"] < res["scale_upper"]).all()


@pytest.mark.parametrize("law", ["lognormal", "gamma"])
def test_given_shape_scale_matches_scipy(law):
    g, t, d, w = _censored_sample(law, seed=3)
    given = np.array([0.6, 1.0, 1.5]) if law == "lognormal" else np.array([1.2, 3.0, 4.0])
    res = fit_law_groups(law, g, t, d, w, shape=given)
    assert (res["method"] == "given-shape").all()
    assert np.array_equal(res["shape"].to_numpy(), given)
    for j in range(3):
        m = g == j
        rep = w[m].astype(int)
        tt, dd = np.repeat(t[m], rep), np.repeat(d[m], rep)
        data = stats.CensoredData(uncensored=tt[dd], right=tt[~dd])
        _, _, scale = SCIPY[law].fit(data, f0=given[j], floc=0, optimizer=_tight)
        assert res.loc[j, "scale"] == pytest.approx(scale, rel=1e-6)


@pytest.mark.parametrize("law", ["lognormal", "gamma", "weibull"])
def test_zero_failure_bound_has_the_stated_probability(law):
    """Without failures the scale reported is the one at which seeing none has probability
    1 − level: for the Weibull law the chi-square bound of the Weibull engine."""
    t = np.array([300.0, 800.0, 1200.0, 2500.0, 4000.0])
    res = fit_law_groups(law, np.zeros(5, int), t, np.zeros(5), shape=1.7, level=0.9)
    assert res.loc[0, "method"] in ("given-shape-zero-failure", "weibayes-zero-failure")
    lw = lifetime_law(law)
    assert lw.log_sf(t, 1.7, res.loc[0, "scale"]).sum() == pytest.approx(np.log(0.1), rel=1e-9)


def test_groups_without_an_estimate_are_labelled():
    t = np.array([100.0, 200.0, 300.0, 500.0, 700.0, 150.0, 900.0])
    d = np.array([1, 0, 0, 0, 0, 1, 1])
    g = np.array([0, 0, 1, 1, 1, 2, 2])
    res = fit_law_groups("lognormal", g, t, d, n_groups=4)
    assert list(res["method"]) == ["single-failure-time", "no-failures", "mle", "no-data"]
    assert res.loc[[0, 1, 3], "shape"].isna().all()
    with pytest.raises(ValueError, match="unknown lifetime law 'frechet'"):
        fit_law_groups("frechet", g, t, d)
    with pytest.raises(ValueError, match="time at position 1 is -5.0"):
        fit_law_groups("gamma", g, np.where(np.arange(7) == 1, -5.0, t), d)


def test_laws_follow_the_protocol_and_their_moments():
    for name, dist, shape in (("lognormal", stats.lognorm, 0.7), ("gamma", stats.gamma, 2.3),
                              ("weibull", stats.weibull_min, 1.6)):
        law = lifetime_law(name)
        assert isinstance(law, LifetimeLaw)
        t = np.array([50.0, 400.0, 2000.0, 9000.0])
        assert law.log_sf(t, shape, 1500.0) == pytest.approx(dist.logsf(t, shape, scale=1500.0), rel=1e-12)
        assert law.log_pdf(t, shape, 1500.0) == pytest.approx(dist.logpdf(t, shape, scale=1500.0), rel=1e-12)
        assert law.mean(shape, 1500.0) == pytest.approx(dist.mean(shape, scale=1500.0), rel=1e-12)
        assert law.variance(shape, 1500.0) == pytest.approx(dist.var(shape, scale=1500.0), rel=1e-12)
        k, s = law.from_moments(law.mean(shape, 1500.0), law.variance(shape, 1500.0))
        assert (k, s) == (pytest.approx(shape, rel=1e-9), pytest.approx(1500.0, rel=1e-9))


# --- renewal functions ------------------------------------------------------------------------

def test_exponential_renewals_are_linear():
    """Gamma with k = 1 and Weibull with k = 1 are the exponential: M(x) = x, and a running
    component's expected failures are h / scale whatever its age."""
    x = np.array([0.05, 0.7, 3.0, 12.0, 45.0])
    for law in ("gamma", "weibull"):
        assert renewal_function(x, 1.0, law=law) == pytest.approx(x, rel=2e-5)
        got = expected_failures([0.0, 400.0, 5000.0], np.tile([[100.0, 900.0, 3000.0]], (3, 1)), [1.0] * 3,
                                [250.0] * 3, law=law)
        assert got == pytest.approx(np.tile([0.4, 3.6, 12.0], (3, 1)), rel=1e-4)


def test_gamma_two_renewals_have_the_closed_form():
    """Gamma(k=2, rate λ): m(t) = λt/2 − (1 − exp(−2λt))/4 (Cox 1962, Renewal Theory)."""
    lam = 1.0 / 300.0
    t = np.array([30.0, 150.0, 600.0, 1500.0, 6000.0])
    want = lam * t / 2 - (1 - np.exp(-2 * lam * t)) / 4
    assert renewal_function(t * lam, 2.0, law="gamma") == pytest.approx(want, rel=1e-4)
    # the delayed function of a new component: product integration over the horizon, good
    # to ~1e-4 of the count (as for the Weibull law)
    got = expected_failures(np.zeros(5), t[:, None], np.full(5, 2.0), np.full(5, 300.0), law="gamma")[:, 0]
    assert got == pytest.approx(want, rel=2e-4)


def _monte_carlo(law, shape, scale, age, hours, n, rng):
    dist = SCIPY[law](shape, scale=scale)
    # the first life given survival to ``age``, then fresh lives
    nxt = dist.isf(dist.sf(age) * rng.random(n)) - age
    count = np.zeros(hours.size)
    alive = np.ones(n, bool)
    while alive.any():
        count += (nxt[:, None] <= hours[None, :])[alive].sum(axis=0)
        alive &= nxt <= hours[-1]
        nxt[alive] += dist.rvs(size=int(alive.sum()), random_state=rng)
    return count / n


@pytest.mark.parametrize("law,shape,scale", [("lognormal", 0.5, 2000.0), ("lognormal", 1.2, 800.0),
                                             ("gamma", 0.6, 1500.0), ("gamma", 8.0, 250.0)])
def test_delayed_renewals_match_monte_carlo(law, shape, scale):
    rng = np.random.default_rng(11)
    hours = np.array([100.0, 500.0, 1500.0, 3000.0, 8000.0])
    n = 100_000
    for age in (0.0, 1500.0, 6000.0):
        got = expected_failures([age], hours[None, :], [shape], [scale], law=law)[0]
        mc = _monte_carlo(law, shape, scale, age, hours, n, rng)
        # a renewal count's variance is at most its mean here (every law is IFR or near it);
        # allow 4.5 standard errors
        assert np.all(np.abs(got - mc) <= 4.5 * np.sqrt(np.maximum(mc, 1e-3) * 2 / n)), (age, got, mc)


def test_mixed_laws_equal_one_call_per_law_and_weibull_is_unchanged():
    rng = np.random.default_rng(5)
    R = 600
    law = rng.choice(["weibull", "lognormal", "gamma"], R)
    shape = np.where(law == "lognormal", 0.6, np.where(law == "gamma", 3.0, 2.2))
    scale = rng.uniform(500.0, 5000.0, R)
    age = rng.uniform(0.0, 6000.0, R)
    hours = np.cumsum(rng.uniform(0.0, 400.0, (R, 6)), axis=1)
    mixed = expected_failures(age, hours, shape, scale, law=law)
    for name in ("weibull", "lognormal", "gamma"):
        m = law == name
        alone = expected_failures(age[m], hours[m], shape[m], scale[m], law=name)
        assert mixed[m] == pytest.approx(alone, rel=1e-12, abs=1e-15)
    # a Weibull given by name is the fast path's arithmetic, bit for bit
    w = law == "weibull"
    assert np.array_equal(expected_failures(age[w], hours[w], shape[w], scale[w], law=law[w]),
                          expected_failures(age[w], hours[w], shape[w], scale[w]))


# --- FailureModel ---------------------------------------------------------------------------

def _mixed_truth(table):
    """The sample's groups under lognormal (odd families) and gamma (even) laws with the
    mean and variance of their Weibull."""
    fam = pd.factorize(table["component"])[0]
    law = np.where(fam % 2, "lognormal", "gamma")
    w = lifetime_law("weibull")
    mean = w.mean(table["shape"].to_numpy(), table["scale"].to_numpy())
    var = w.variance(table["shape"].to_numpy(), table["scale"].to_numpy())
    out = table[KEYS].copy()
    out["law"] = law
    out["shape"], out["scale"] = np.nan, np.nan
    for name in ("lognormal", "gamma"):
        m = law == name
        out.loc[m, "shape"], out.loc[m, "scale"] = lifetime_law(name).from_moments(mean[m], var[m])
    return out


def test_from_params_reads_the_law(sample_fleet):
    table = _mixed_truth(sample_fleet.truth["lifetimes"])
    model = FailureModel.from_params(table)
    p = model.params_.set_index(KEYS)
    want = table.set_index(KEYS).reindex(p.index)
    assert (p["law"] == want["law"]).all()
    assert np.array_equal(p["shape"].to_numpy(), want["shape"].to_numpy())
    assert isinstance(model, ParametricLifetimeModel)
    assert (model.lifetime_params()["law"].to_numpy() == p["law"].to_numpy()).all()
    # the round trip through params_, and the law's survival
    again = FailureModel.from_params(model.params_)
    pd.testing.assert_frame_equal(again.params_, model.params_)
    row = table.iloc[1]  # a lognormal group: at the median, half survive
    assert row["law"] == "lognormal"
    assert model.survival(row["scale"], row["machine_model"], row["component"]) == pytest.approx(0.5)
    row = table.iloc[0]
    assert model.survival(700.0, row["machine_model"], row["component"]) == pytest.approx(
        stats.gamma.sf(700.0, row["shape"], scale=row["scale"]), rel=1e-12)
    assert model.hazard(700.0, row["machine_model"], row["component"]) == pytest.approx(
        stats.gamma.pdf(700.0, row["shape"], scale=row["scale"])
        / stats.gamma.sf(700.0, row["shape"], scale=row["scale"]), rel=1e-10)
    with pytest.raises(ValueError, match="not all Weibull .*lognormal.*lifetime_params"):
        model.weibull_params()
    # the law is optional (Weibull), and a wrong one names the row
    assert (FailureModel.from_params(table.drop(columns="law")).params_["law"] == "weibull").all()
    bad = table.copy()
    bad.loc[5, "law"] = "frechet"
    with pytest.raises(ValueError, match=r"row 5 \(machine_model=.*\) has law='frechet'; the law must be one of"):
        FailureModel.from_params(bad)


def test_the_forecast_uses_the_law_and_the_general_path_agrees(sample_fleet):
    model = FailureModel.from_params(_mixed_truth(sample_fleet.truth["lifetimes"]))

    class General:  # the protocol's general path: expected_renewals only
        def lifetime_groups(self):
            return model.lifetime_groups()

        def expected_renewals(self, group, age, hours):
            return model.expected_renewals(group, age, hours)

    kw = {"horizon": 6, "by": "component", "usage_profile": None, "frailty": False}
    fast = forecast_demand(model, sample_fleet, **kw)
    general = forecast_demand(General(), sample_fleet, **kw)
    pd.testing.assert_frame_equal(fast, general, rtol=1e-12)
    weibull = forecast_demand(FailureModel.from_params(sample_fleet.truth["lifetimes"]), sample_fleet, **kw)
    assert abs(fast["mean"].sum() / weibull["mean"].sum() - 1) > 0.01  # the law changes the forecast


@pytest.fixture(scope="module")
def auto_fits():
    """``distribution="auto"`` on a generated fleet of each law (3,000 machines, 4 years)."""
    out = {}
    for law in ("weibull", "lognormal", "gamma"):
        fleet = make_fleet(3000, 10, seed=4, lifetime_law=law)
        out[law] = FailureModel(distribution="auto", covariates=None).fit(fleet)
    return out


@pytest.mark.parametrize("law", ["weibull", "lognormal", "gamma"])
def test_auto_recovers_the_generating_law(auto_fits, law):
    lc = auto_fits[law].law_comparison_
    big = lc[lc["n_failures"] >= 100]
    total = {name: big[f"aic_{name}"].sum() for name in ("weibull", "lognormal", "gamma")}
    assert min(total, key=total.get) == law
    assert all(total[name] - total[law] > 10 for name in total if name != law), total
    # the families with the most failures take the generating law
    fam = lc.groupby("component").agg(n=("n_failures", "sum"), law=("law", "first"))
    assert (fam.nlargest(4, "n")["law"] == law).mean() >= 0.75


def test_auto_chooses_per_family_by_summed_aic(auto_fits):
    model = auto_fits["lognormal"]
    lc = model.law_comparison_
    p = model.params_
    assert list(lc.columns) == ["machine_model", "component", "n_failures", "n_params", "loglik_weibull",
                                "loglik_lognormal", "loglik_gamma", "aic_weibull", "aic_lognormal", "aic_gamma",
                                "best_in_group", "law"]
    laws = ["weibull", "lognormal", "gamma"]
    aic = lc[[f"aic_{n}" for n in laws]]
    valid = np.isfinite(aic).all(axis=1)
    fam = aic[valid].groupby(lc.loc[valid, "component"]).sum()
    borrowing = p.groupby("component")["borrowed"].any()
    fam = fam.add(2.0 * borrowing.reindex(fam.index).astype(float), axis=0)
    want = pd.Series(np.array(laws)[np.argmin(fam.to_numpy(), axis=1)], index=fam.index)
    assert (lc["law"].to_numpy() == want.reindex(lc["component"]).to_numpy()).all()
    assert (model.families_.set_index("component")["law"].reindex(want.index) == want).all()
    # params_ rows are the chosen law's candidate rows (a group the law cannot fit keeps the
    # Weibull path's exponential)
    for name, cand in model.candidates_.items():
        chosen = (lc["law"] == name).to_numpy()
        pd.testing.assert_frame_equal(p[chosen].reset_index(drop=True), cand[chosen].reset_index(drop=True))
    assert set(p["law"]) <= set(laws) and "laws" in repr(model)


def test_lognormal_borrowing_labels_and_usable_scales():
    fleet = make_fleet(600, 5, seed=2, lifetime_law="lognormal")
    model = FailureModel(distribution="lognormal", covariates=None).fit(fleet)
    p = model.params_
    assert set(p["method"]) <= {"mle", "pooled-shape, shrunk scale", "pooled-shape, family scale",
                                "pooled-shape (shape 1 assumed)", "pooled-shape, shrunk scale (shape 1 assumed)",
                                "pooled-shape, family rate (shape 1 assumed)"}
    assert (p["borrowed"] == p["method"].str.startswith("pooled")).all()
    assert (p.loc[p["method"] == "mle", "n_failures"] >= 20).all()
    lognormal = p["law"] == "lognormal"
    fam_shape = model.families_.set_index("component")["shape"]
    pooled = lognormal & p["borrowed"]
    assert np.allclose(p.loc[pooled, "shape"], fam_shape.reindex(p.loc[pooled, "component"]).to_numpy())
    # every group gets a usable law, those without failures too
    assert np.isfinite(p["scale"]).all() and (p["n_failures"] == 0).any()
    zero = pooled & (p["n_failures"] == 0)
    assert (p.loc[zero, "method"] == "pooled-shape, shrunk scale").any()
    # a group without failures is judged to outlive its family's typical group
    assert (p.loc[zero, "scale"].to_numpy() > np.median(p.loc[pooled & ~zero, "scale"])).mean() > 0.5
    shaped = FailureModel(distribution="lognormal", pooling="shape", covariates=None).fit(fleet).params_
    assert (shaped.loc[shaped["law"] == "lognormal", "method"] == "pooled-shape").all()


def test_forecast_with_the_lognormal_oracle_is_unbiased():
    """The true laws and usage of a lognormal fleet forecast the failures of its held-out year
    within Poisson noise; the Weibull law with the same mean and variance does not."""
    fleet = make_fleet(3000, 10, years=4, seed=1, lifetime_law="lognormal")
    cut = fleet.as_of - pd.DateOffset(years=1)
    past = fleet.until(cut)
    hpd = fleet.truth["machines"].set_index("serial")["hours_per_day"]
    past.machines = past.machines.assign(hours_per_day=past.machines["serial"].map(hpd).to_numpy(float))
    m = fleet.machines
    retired = m.loc[m["retired_date"].notna() & (m["retired_date"] >= cut), ["serial", "retired_date"]]
    truth = fleet.truth["lifetimes"]
    in_service = past.machines.loc[past.machines["in_service_date"] < cut, "serial"]
    failures = fleet.truth["failures"]
    actual = int(((failures["failure_time"] >= cut) & failures["serial"].isin(in_service)).sum())
    kw = {"horizon": 12, "by": "component", "retirements": retired, "usage_profile": None, "frailty": False}
    oracle = forecast_demand(FailureModel.from_params(truth), past, **kw)["mean"].sum()
    assert abs(oracle - actual) < 3 * np.sqrt(oracle), (oracle, actual)
    w = lifetime_law("weibull")
    k, s = w.from_moments(truth["mean_hours"].to_numpy(),
                          lifetime_law("lognormal").variance(truth["shape"].to_numpy(), truth["scale"].to_numpy()))
    wrong = forecast_demand(FailureModel.from_params(truth.assign(law="weibull", shape=k, scale=s)), past,
                            **kw)["mean"].sum()
    assert abs(wrong - actual) > 5 * np.sqrt(wrong), (wrong, actual)


def test_the_plan_fits_the_law_its_settings_name(tmp_path):
    import json

    from partsforecast.plan import PlanSettings, run_plan

    fleet = pf.make_fleet(n_machines=1500, n_dealers=6, seed=31, lifetime_law="lognormal")
    run_plan(fleet, tmp_path / "p", PlanSettings(lifetime_law="auto"), report=False)
    run = json.loads((tmp_path / "p" / "run.json").read_text())
    assert run["settings"]["lifetime_law"] == "auto"
    laws = pd.read_csv(tmp_path / "p" / "failure_models.csv")["law"].value_counts().to_dict()
    assert run["failure_models"]["laws"] == laws and sum(laws.values()) == run["failure_models"]["groups"]
    assert laws.get("lognormal", 0) > laws.get("weibull", 0)  # the fleet's law wins most families
