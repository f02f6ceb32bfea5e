"""Machine severity: the gamma frailty on each machine's time scale, fitted jointly with the
group laws (``FailureModel(severity=True)``), and the forecast that averages over it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import partsforecast as pf
from partsforecast import FailureModel, forecast_demand
from partsforecast.reliability.severity import (
    MachineSeverity,
    gauss_nodes,
    heterogeneity_screen,
    severity_grid,
    severity_posterior,
)

_HALF_GRID = severity_grid().size // 2  # s = 1


def _weibull_lives(n_machines: int, variance: float, seed: int, k=(1.5, 2.5), eta=(900.0, 1500.0),
                   horizon=(1000.0, 6000.0)):
    """Renewal lives of every component (one per law in ``k``/``eta``) of machines of gamma
    severity (mean 1, ``variance``; 0: all 1) observed for a uniform number of hours:
    baseline Weibull lives divided by the machine's severity, the last one censored."""
    rng = np.random.default_rng(seed)
    sev = rng.gamma(1 / variance, variance, n_machines) if variance > 0 else np.ones(n_machines)
    T = rng.uniform(*horizon, n_machines)
    rows = []
    for c, (kc, ec) in enumerate(zip(k, eta)):
        m = np.arange(n_machines)
        start = np.zeros(n_machines)
        while m.size:
            life = ec * rng.weibull(kc, m.size) / sev[m]
            end = start + life
            fail = end <= T[m]
            rows.append((m, np.full(m.size, c), np.where(fail, life, T[m] - start), fail))
            m, start = m[fail], end[fail]
    machine, g, t, d = (np.concatenate(x) for x in zip(*rows))
    return machine, g, t, d, sev


# -- the pieces -----------------------------------------------------------------------------


def test_gauss_nodes_reproduce_the_first_moments():
    grid = severity_grid()
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.full(grid.size, 0.3), 50)
    nodes, weights = gauss_nodes(w, grid, 3)
    assert (weights >= 0).all() and np.allclose(weights.sum(axis=1), 1.0)
    assert (nodes >= grid[0]).all() and (nodes <= grid[-1]).all()
    # a 3-point Gauss rule integrates s^0 … s^5 exactly under each row's distribution
    for p in range(6):
        np.testing.assert_allclose((weights * nodes ** p).sum(axis=1), w @ grid ** p, rtol=1e-7)
    # a point mass is its own node
    one = np.zeros((1, grid.size))
    one[0, 45] = 1.0
    n1, w1 = gauss_nodes(one, grid, 3)
    assert (w1 * n1).sum() == pytest.approx(grid[45], rel=1e-12)


def test_posterior_matches_a_brute_force_computation():
    """Posterior ∝ Gamma(α, α) prior × Π over the machine's lives of s f(s t) (failures) or
    S(s t) (censored), computed with scipy's Weibull on the same grid."""
    grid = severity_grid()
    machine = np.array([0, 0, 0, 1, 1, 2])
    t = np.array([300.0, 800.0, 150.0, 2500.0, 900.0, 40.0])
    d = np.array([True, True, False, False, False, True])
    k, eta = np.array([1.5, 1.5, 2.0, 1.5, 2.0, 2.0]), np.array([1000.0, 1000, 700, 1000, 700, 700])
    post, alpha = severity_posterior(machine, np.zeros(6, np.int64), t, d, k, eta, 4, alpha=2.0)
    assert alpha == 2.0
    prior = stats.gamma.pdf(grid, 2.0, scale=0.5) * grid
    want = np.tile(prior / prior.sum(), (4, 1))  # machine 3 has no lives: the prior
    for i in range(3):
        on = machine == i
        like = np.ones(grid.size)
        for tj, dj, kj, ej in zip(t[on], d[on], k[on], eta[on]):
            like *= (grid * stats.weibull_min.pdf(grid * tj, kj, scale=ej) if dj
                     else stats.weibull_min.sf(grid * tj, kj, scale=ej))
        want[i] = prior * like / (prior * like).sum()
    np.testing.assert_allclose(post, want, rtol=1e-8, atol=1e-300)


@pytest.mark.parametrize("seed", [1, 2])
def test_severity_variance_is_recovered_with_the_true_laws(seed):
    """The marginal-likelihood variance of simulated severities (variance 0.5) with the laws
    known. Over seeds 1–20 the estimate is 0.465–0.527, mean 0.500, sd 0.014 (4,000
    machines, ~33,000 lives): ±0.06 is ~4 sd. Without severity all 20 find none."""
    machine, g, t, d, _ = _weibull_lives(4000, 0.5, seed)
    k, eta = np.array([1.5, 2.5])[g], np.array([900.0, 1500.0])[g]
    _, alpha = severity_posterior(machine, np.zeros(t.size, np.int64), t, d, k, eta, 4000)
    assert 1 / alpha == pytest.approx(0.5, abs=0.06)
    # without severity the test finds no heterogeneity (or a negligible one)
    machine, g, t, d, _ = _weibull_lives(4000, 0.0, seed)
    k, eta = np.array([1.5, 2.5])[g], np.array([900.0, 1500.0])[g]
    _, alpha = severity_posterior(machine, np.zeros(t.size, np.int64), t, d, k, eta, 4000)
    assert (not np.isfinite(alpha)) or 1 / alpha < 0.03


def _poisson_lives(n_machines: int, variance: float, seed: int, rate: float = 1e-3):
    """Exponential lives (hazard ``rate``) of machines whose hazards are multiplied by a gamma
    factor (mean 1, ``variance``; 0: all 1), each observed for a uniform number of hours:
    its failures are Poisson, its lives split its hours equally (the cumulative hazard of
    its lives is ``rate × hours`` however they are split), the last one censored."""
    rng = np.random.default_rng(seed)
    s = rng.gamma(1 / variance, variance, n_machines) if variance > 0 else np.ones(n_machines)
    hours = rng.uniform(2000.0, 6000.0, n_machines)
    n = rng.poisson(rate * s * hours)
    machine = np.repeat(np.arange(n_machines), n + 1)
    t = np.repeat(hours / (n + 1), n + 1)
    d = np.ones(t.size, bool)
    d[np.cumsum(n + 1) - 1] = False
    return machine, t, d


def test_screen_matches_its_formula_computed_with_scipy():
    """z and the dispersion from failures and cumulative hazards computed independently
    (scipy's Weibull and lognormal survival functions, a Python loop over machines)."""
    machine, g, t, d, _ = _weibull_lives(300, 0.5, 3)
    law = np.where(g == 0, 0, 1)  # Weibull (1.5, 900) and lognormal (sigma 0.6, median 1500)
    k, eta = np.array([1.5, 0.6])[g], np.array([900.0, 1500.0])[g]
    z, theta = heterogeneity_screen(machine, law, t, d, k, eta, 301)  # machine 300 has no lives
    H = np.where(law == 0, -stats.weibull_min.logsf(t, 1.5, scale=900.0),
                 -stats.lognorm.logsf(t, 0.6, scale=1500.0))
    T, E2 = [], []
    for m in range(301):
        on = machine == m
        n, e = d[on].sum(), H[on].sum()
        T.append((n - e) ** 2 - n)
        E2.append(e * e)
    T = np.array(T)
    assert z == pytest.approx(T.sum() / np.sqrt((T ** 2).sum()), rel=1e-10)
    assert theta == pytest.approx(T.sum() / np.sum(E2), rel=1e-10)


def test_screen_estimates_the_variance_of_the_hazard_multiplier():
    """Poisson failures with gamma hazard multipliers of variance 0.5: over seeds 1–20
    (4,000 machines, ~4 expected failures each) the dispersion is 0.436–0.566, mean 0.494,
    sd 0.034 and z 15–21; without multipliers the dispersion is −0.01–0.01 and z −1.9–1.7."""
    for seed in (1, 2):
        machine, t, d = _poisson_lives(4000, 0.5, seed)
        z, theta = heterogeneity_screen(machine, np.zeros(t.size, np.int64), t, d, np.ones(t.size),
                                        np.full(t.size, 1000.0), 4000)
        assert theta == pytest.approx(0.5, abs=0.12) and z > 10
        machine, t, d = _poisson_lives(4000, 0.0, seed)
        z, theta = heterogeneity_screen(machine, np.zeros(t.size, np.int64), t, d, np.ones(t.size),
                                        np.full(t.size, 1000.0), 4000)
        assert abs(theta) < 0.025 and abs(z) < 3.3


# -- the forecast ---------------------------------------------------------------------------


def test_forecast_at_one_severity_is_the_law_with_its_scale_divided(sample_fleet):
    """Every machine's posterior all at s = 2 (a point mass on the grid): the forecast is
    the one of the laws with every scale halved (a machine wearing twice as fast)."""
    truth = sample_fleet.truth["lifetimes"]
    model = FailureModel.from_params(truth)
    grid = severity_grid()
    post = np.zeros((len(sample_fleet.machines), grid.size))
    post[:, int(np.argmin(np.abs(grid - 2.0)))] = 1.0
    s2 = grid[int(np.argmin(np.abs(grid - 2.0)))]
    fast = FailureModel.from_params(truth.assign(scale=truth["scale"] / s2))
    sev = MachineSeverity(sample_fleet.machines["serial"], sample_fleet.machines["machine_model"], post, grid, 2.0)
    kw = {"horizon": 6, "by": "component", "usage_profile": None}
    got = forecast_demand(model, sample_fleet, frailty=sev, **kw)
    want = forecast_demand(fast, sample_fleet, frailty=False, **kw)
    pd.testing.assert_frame_equal(got, want, rtol=1e-9)
    # a mixture of two severities is the weighted mean of the two forecasts
    post[:] = 0.0
    s_lo = int(np.argmin(np.abs(grid - 0.5)))
    post[:, s_lo], post[:, int(np.argmin(np.abs(grid - 2.0)))] = 0.25, 0.75
    sev = MachineSeverity(sample_fleet.machines["serial"], sample_fleet.machines["machine_model"], post, grid, 2.0)
    slow = FailureModel.from_params(truth.assign(scale=truth["scale"] / grid[s_lo]))
    mixed = forecast_demand(model, sample_fleet, frailty=sev, **kw)
    np.testing.assert_allclose(mixed["mean"].sum(),
                               0.25 * forecast_demand(slow, sample_fleet, frailty=False, **kw)["mean"].sum()
                               + 0.75 * want["mean"].sum(), rtol=1e-6)  # (renewal tables of another reach)


def test_settings_are_checked(sample_fleet):
    with pytest.raises(TypeError, match="severity"):
        FailureModel(severity="yes").fit(sample_fleet)
    assert FailureModel.from_params(sample_fleet.truth["lifetimes"]).severity_ is None
    # a constant rate fitted to wearing-out components: no severity (the misfit would pass
    # the screen: z 5.2, dispersion 0.09 on this fleet)
    assert FailureModel(distribution="exponential", covariates=None).fit(sample_fleet).severity_ is None


@pytest.fixture(scope="module")
def heavy():
    """A heavy-use lognormal fleet (severity variance 1) and its state a year earlier."""
    fleet = pf.make_fleet(n_machines=3000, n_dealers=8, years=4.0, seed=22, lifetime_law="lognormal",
                          heavy_use=1.0)
    cut = fleet.as_of - pd.DateOffset(years=1)
    return fleet, fleet.until(cut)


def test_joint_fit_recovers_the_severity_and_the_laws(heavy):
    fleet, past = heavy
    pooled = FailureModel(distribution="lognormal", covariates=None, severity=False).fit(past)
    model = FailureModel(distribution="lognormal", covariates=None).fit(past)  # severity by default
    assert pooled.severity_ is None
    assert model.severity_.screen_z_ > 5 and model.severity_.dispersion_ > 0.5 and model.severity_.n_iter_ >= 1
    # this fleet with seeds 21–24: variance 0.89, 1.07, 1.01, 1.14 (true 1); screen z 6.8–7.3,
    # dispersion 2.6–3.2; log-life sd ratio to the generator's 0.98–1.00 (pooled 2.1–2.4)
    assert model.severity_.variance_ == pytest.approx(1.0, abs=0.25)
    truth = fleet.truth["lifetimes"].set_index(["machine_model", "component"])

    def shape_ratio(m):
        p = m.params_.set_index(["machine_model", "component"])
        big = p["n_failures"] >= 30
        return float(np.median(p.loc[big, "shape"] / truth.loc[p.index[big], "shape"]))

    # the pooled fit's log-life sd carries the machines' spread; the joint fit's is the law's
    assert shape_ratio(pooled) > 1.3
    assert shape_ratio(model) == pytest.approx(1.0, abs=0.06)
    sev = model.severity_.severity_.set_index("serial")
    true = fleet.truth["machines"].set_index("serial")["severity"]
    assert np.corrcoef(sev["severity"], true.loc[sev.index])[0, 1] > 0.6
    assert sev["severity"].mean() == pytest.approx(1.0, abs=0.03)

    # The installed base's total over the next year against the oracle's: the true laws with
    # every machine at its true severity (a one-node posterior), the same estimated hours.
    oracle = MachineSeverity(past.machines["serial"], past.machines["machine_model"],
                             np.tile(np.eye(1, severity_grid().size, _HALF_GRID), (len(past.machines), 1)), severity_grid(),
                             2.0)
    oracle._nodes = np.column_stack([true.reindex(past.machines["serial"]).to_numpy(float),
                                     np.ones((len(past.machines), 2))])
    oracle._weights = np.tile([1.0, 0.0, 0.0], (len(past.machines), 1))
    kw = {"horizon": 12, "by": "component", "usage_profile": None}
    total = forecast_demand(FailureModel.from_params(fleet.truth["lifetimes"]), past, frailty=oracle,
                            **kw)["mean"].sum()
    bias_pooled = forecast_demand(pooled, past, **kw)["mean"].sum() / total - 1
    bias_joint = forecast_demand(model, past, **kw)["mean"].sum() / total - 1
    # seed 22: pooled −12.1%, joint +1.7%; seeds 21, 23, 24: pooled −4.8, −7.2, −9.6%, joint
    # +2.9, +1.6, +0.9%
    assert bias_pooled < -0.05 and abs(bias_joint) < 0.25 * abs(bias_pooled), (bias_pooled, bias_joint)


def test_a_fleet_without_heavy_use_keeps_its_fit(sample_fleet):
    """No heterogeneity found: the joint fit is the pooled fit, exactly, and so is the
    forecast."""
    plain = FailureModel(covariates=None, severity=False).fit(sample_fleet)
    joint = FailureModel(covariates=None, severity=True).fit(sample_fleet)
    assert not np.isfinite(joint.severity_.alpha_) and joint.severity_.variance_ == 0.0
    # the screen stopped it before any EM step: the failures are no more unequal than chance
    sev = joint.severity_
    assert sev.n_iter_ == 0 and sev.alpha_path_ == [] and sev.screen_z_ < 3.09 and abs(sev.dispersion_) < 0.05
    assert (sev.severity_["severity"] == 1.0).all() and len(sev.severity_) == len(sample_fleet.machines)
    pd.testing.assert_frame_equal(joint.params_, plain.params_)
    kw = {"horizon": 3, "by": "component"}
    pd.testing.assert_frame_equal(forecast_demand(joint, sample_fleet, **kw), forecast_demand(plain, sample_fleet, **kw))
