"""Numerical core of partsforecast.reliability: Weibull/exponential fits, Weibayes, the group
engine, pooling, shrinkage, Kaplan-Meier / Nelson-Aalen and the plots.

Reference values are typed in below with their sources; nothing is downloaded.
"""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import optimize, stats  # noqa: E402

from partsforecast.reliability import (  # noqa: E402
    WeibullFit,
    borrowed_shape,
    compare_weibull_exponential,
    fit_exponential,
    fit_weibayes,
    fit_weibull,
    fit_weibull_groups,
    kaplan_meier,
    median_ranks,
    nelson_aalen,
    pooled_shape,
    shrink_scale,
    survival_plot,
    weibull_plot,
)

# ---------------------------------------------------------------------------------------
# data sets (typed in)
# ---------------------------------------------------------------------------------------

# NIST/SEMATECH e-Handbook of Statistical Methods, sec. 8.4.1.3 "Reliability analysis using
# Weibull data" (data from its example 8.2.2.1): 10 failures, 10 units removed at 500 h.
NIST_T = np.array([54, 187, 216, 240, 244, 335, 361, 373, 375, 386] + [500] * 10, float)
NIST_D = np.array([1] * 10 + [0] * 10, float)

# NAG Library, routine G07BEF (estim_weibull), example program data and results (g07befe.d,
# g07befe.r): 20 uncensored values. NAG's model is S(x) = exp(-lambda x**gamma) with
# BETA = log(lambda) = -2.1073 (s.e. 0.4627) and GAMMA = 2.7870 (s.e. 0.4273).
NAG_X = np.array([1.1, 1.4, 1.3, 1.7, 1.9, 1.8, 1.6, 2.2, 1.7, 2.7,
                  4.1, 1.8, 1.5, 1.2, 1.4, 3.0, 1.7, 2.3, 1.6, 2.0])

# Lieblein & Zelen (1956) ball-bearing endurance data, millions of revolutions, 23 failures;
# Lawless (2003), Statistical Models and Methods for Lifetime Data, Example 5.2.2: Weibull MLE
# shape 2.102, scale 81.88.
BEARINGS = np.array([17.88, 28.92, 33.00, 41.52, 42.12, 45.60, 48.48, 51.84, 51.96, 54.12,
                     55.56, 67.80, 68.64, 68.64, 68.88, 84.12, 93.12, 98.64, 105.12, 105.84,
                     127.92, 128.04, 173.40])

# lifelines' `waltons` data set (163 flies; lifelines.datasets.load_waltons), compressed into
# (time, event, count). lifelines' documentation ("Parametric models" / WeibullFitter) prints
# lambda_ = 55.73, rho_ = 3.45.
WALTONS = np.array([
    (6, 1, 1), (7, 0, 1), (7, 1, 1), (9, 1, 3), (13, 1, 3), (15, 1, 2), (17, 1, 1), (19, 1, 3),
    (22, 1, 4), (26, 1, 5), (29, 1, 5), (32, 1, 1), (33, 1, 3), (36, 1, 2), (38, 1, 2),
    (41, 1, 7), (43, 1, 1), (45, 0, 1), (45, 1, 9), (47, 1, 1), (48, 1, 8), (51, 1, 3),
    (53, 1, 7), (54, 1, 2), (56, 1, 18), (58, 1, 4), (60, 0, 1), (60, 1, 15), (61, 0, 2),
    (61, 1, 9), (62, 1, 2), (63, 1, 9), (66, 1, 3), (68, 0, 1), (68, 1, 9), (69, 0, 1),
    (69, 1, 12), (75, 1, 1)], float)

# Freireich et al. (1963) remission times (weeks) of the 6-MP arm, as in Klein & Moeschberger
# (2003), Survival Analysis, sec. 1.2; 0 = censored.
MP6_T = np.array([6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35],
                 float)
MP6_D = np.array([1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0], float)


def _weibull_nll(p, t, d, w):
    """Negative log-likelihood on (log k, log eta): the brute-force reference, independent of
    the profile-likelihood algorithm under test."""
    k, eta = np.exp(p)
    y = np.log(t) - np.log(eta)
    return -(np.sum(w * d * (np.log(k) - np.log(eta) + (k - 1.0) * y)) - np.sum(w * np.exp(k * y)))


def _scipy_best(t, d, w):
    """Best of several scipy.optimize runs (BFGS, then Nelder-Mead polish) from different starts."""
    best = np.inf
    for s in [(0.0, np.log(np.median(t))), (np.log(0.4), np.log(t.max())),
              (np.log(3.0), np.log(t.mean()))]:
        r = optimize.minimize(_weibull_nll, s, args=(t, d, w), method="BFGS")
        r = optimize.minimize(_weibull_nll, r.x, args=(t, d, w), method="Nelder-Mead",
                              options=dict(xatol=1e-10, fatol=1e-12, maxiter=20000))
        best = min(best, r.fun)
    return best


# ---------------------------------------------------------------------------------------
# published reference fits
# ---------------------------------------------------------------------------------------


def test_nist_handbook_censored_example():
    # Published: eta = 606.5280, beta = 1.7208, log-likelihood -75.135 (AIC 154.27).
    f = fit_weibull(NIST_T, NIST_D)
    assert f.method == "mle" and f.converged
    assert f.scale == pytest.approx(606.528, abs=6e-4)
    assert f.shape == pytest.approx(1.7208, abs=5e-5)
    assert f.loglik == pytest.approx(-75.135, abs=5e-4)
    assert f.aic == pytest.approx(154.27, abs=5e-3)
    assert (f.n_failures, f.n_censored) == (10, 10)


def test_nag_g07bef_example():
    f = fit_weibull(NAG_X, np.ones(20))
    log_lambda = -f.shape * np.log(f.scale)
    assert log_lambda == pytest.approx(-2.1073, abs=5e-5)
    assert f.shape == pytest.approx(2.7870, abs=5e-5)
    assert f.se_shape == pytest.approx(0.4273, abs=5e-5)
    # s.e. of log(lambda) = -k log(eta) by the delta method from the (log k, log eta) covariance
    la, k = np.log(f.scale), f.shape
    var_a, var_b = (f.se_scale / f.scale) ** 2, (f.se_shape / f.shape) ** 2
    se_beta = np.sqrt(k * k * var_a + (k * la) ** 2 * var_b + 2 * k * k * la * f.cov_log_shape_scale)
    assert se_beta == pytest.approx(0.4627, abs=5e-5)


def test_lawless_ball_bearings():
    f = fit_weibull(BEARINGS, np.ones(BEARINGS.size))
    assert f.shape == pytest.approx(2.102, abs=5e-4)
    assert f.scale == pytest.approx(81.88, abs=5e-3)


def test_lifelines_documented_waltons_with_weights_equals_expanded():
    t, e, n = WALTONS.T
    f = fit_weibull(t, e, weights=n)
    assert f.scale == pytest.approx(55.73, abs=5e-3)
    assert f.shape == pytest.approx(3.45, abs=5e-3)
    assert f.n_failures == 156 and f.n_censored == 7
    g = fit_weibull(np.repeat(t, n.astype(int)), np.repeat(e, n.astype(int)))
    for name in ("shape", "scale", "loglik", "se_shape", "se_scale", "scale_upper"):
        assert getattr(g, name) == pytest.approx(getattr(f, name), rel=1e-12)


# Six significant figures: reference values computed with INDEPENDENT implementations --
# (a) brute-force scipy.optimize (BFGS then Nelder-Mead, xatol 1e-14) on the full two-parameter
# log-likelihood from three starts, and (b) lifelines 0.30.3 WeibullFitter (agrees with (a) to
# ~1e-6; its optimiser stops slightly earlier); scipy.stats.weibull_min.fit(floc=0) for the
# uncensored sets agrees to ~1e-5. Values from (a), to 10 digits.
INDEPENDENT = {
    "nist": (NIST_T, NIST_D, None, 1.720797236, 606.5275663, -75.1346181645),
    "nag": (NAG_X, np.ones(20), None, 2.787028187, 2.129982545, -20.5864042118),
    "bearings": (BEARINGS, np.ones(23), None, 2.10205887, 81.87833412, -113.6912909323),
    "waltons": (WALTONS[:, 0], WALTONS[:, 1], WALTONS[:, 2], 3.450510357, 55.73307807,
                -672.0621872713),
    "6mp": (MP6_T, MP6_D, None, 1.353734535, 33.76515097, -41.6586784769),
}


@pytest.mark.parametrize("name", list(INDEPENDENT))
def test_six_significant_figures_against_independent_fits(name):
    t, d, w, k, eta, ll = INDEPENDENT[name]
    f = fit_weibull(t, d, weights=w)
    assert f.shape == pytest.approx(k, rel=1e-6)
    assert f.scale == pytest.approx(eta, rel=1e-6)
    assert f.loglik == pytest.approx(ll, abs=1e-4)


def test_standard_errors_match_numerical_hessian():
    # Observed information by finite differences of the brute-force likelihood, in (log k, log eta).
    f = fit_weibull(NIST_T, NIST_D)
    p = np.log([f.shape, f.scale])
    h = 1e-4
    H = np.zeros((2, 2))
    for i in range(2):
        for j in range(2):
            e_i, e_j = np.eye(2)[i] * h, np.eye(2)[j] * h
            H[i, j] = (_weibull_nll(p + e_i + e_j, NIST_T, NIST_D, 1) - _weibull_nll(p + e_i - e_j, NIST_T, NIST_D, 1)
                       - _weibull_nll(p - e_i + e_j, NIST_T, NIST_D, 1)
                       + _weibull_nll(p - e_i - e_j, NIST_T, NIST_D, 1)) / (4 * h * h)
    cov = np.linalg.inv(H)
    assert f.se_shape / f.shape == pytest.approx(np.sqrt(cov[0, 0]), rel=1e-5)
    assert f.se_scale / f.scale == pytest.approx(np.sqrt(cov[1, 1]), rel=1e-5)
    assert f.cov_log_shape_scale == pytest.approx(cov[0, 1], rel=1e-4)
    # the intervals are likelihood-ratio intervals, wider than Wald's on the censored side
    z = stats.norm.ppf(0.975)
    assert f.shape_lower < f.shape * np.exp(-z * np.sqrt(cov[0, 0]))
    assert f.scale_upper > 1.1 * f.scale * np.exp(z * np.sqrt(cov[1, 1]))


def _profile_ll(t, d, w, fixed, value):
    """Brute-force profile log-likelihood: the other parameter maximised by scipy."""
    def nll(x):
        p = (np.log(value), x) if fixed == "shape" else (x, np.log(value))
        return _weibull_nll(np.array(p), t, d, w)
    x0 = np.log(np.median(t)) if fixed == "shape" else 0.0
    r = optimize.minimize_scalar(nll, bracket=(x0 - 1.0, x0 + 1.0))
    r = optimize.minimize_scalar(nll, bounds=(r.x - 2.0, r.x + 2.0), method="bounded",
                                 options=dict(xatol=1e-12))
    return -r.fun


@pytest.mark.parametrize("name", ["nist", "nag", "6mp", "random3", "random5"])
def test_ml_intervals_are_likelihood_ratio_sets(name):
    # Each bound is where the profile log-likelihood (other parameter maximised, brute force)
    # is chi2_0.95(1)/2 below the maximum; just inside it is above, just outside below.
    if name.startswith("random"):
        t, d, w = _random_sets()[int(name[-1])]
        t = t / t.max()       # keeps the brute-force optimiser in range
    else:
        t, d, w, *_ = INDEPENDENT[name]
    w = np.ones_like(t) if w is None else w
    f = fit_weibull(t, d, weights=w)
    ll_max = -_weibull_nll(np.log([f.shape, f.scale]), t, d, w)
    cut = ll_max - stats.chi2.ppf(0.95, 1) / 2
    for fixed, lo, hi in (("shape", f.shape_lower, f.shape_upper), ("scale", f.scale_lower, f.scale_upper)):
        for bound, inward in ((lo, 1.0), (hi, -1.0)):
            assert _profile_ll(t, d, w, fixed, bound) == pytest.approx(cut, abs=1e-7)
            assert _profile_ll(t, d, w, fixed, bound * np.exp(inward * 1e-3)) > cut
            assert _profile_ll(t, d, w, fixed, bound * np.exp(-inward * 1e-3)) < cut


def test_ml_intervals_cover_where_wald_does_not():
    # Few failures under heavy censoring (median 5 failures of 30 lives): the scale is an
    # extrapolation and Wald intervals on the log scale cover it ~87% of the time; the
    # likelihood-ratio intervals cover both parameters at the nominal rate (two-sided).
    from partsforecast.reliability.groups import fit_core
    rng = np.random.default_rng(20240602)
    reps, n, k, eta = 1000, 30, 1.5, 1000.0
    g = np.repeat(np.arange(reps), n)
    t = eta * rng.weibull(k, reps * n)
    c = rng.uniform(0.0, 0.6 * eta, reps * n)
    d = (t <= c).astype(float)
    df = fit_weibull_groups(g, np.minimum(t, c), d)
    m = df["method"] == "mle"
    assert m.sum() == 961 and df.loc[m, "n_failures"].median() == 5
    cover_k = ((df.shape_lower < k) & (k < df.shape_upper))[m].mean()
    cover_e = ((df.scale_lower < eta) & (eta < df.scale_upper))[m].mean()
    assert 0.93 <= cover_k <= 0.97 and 0.93 <= cover_e <= 0.97, (cover_k, cover_e)
    wald = pd.DataFrame(fit_core(g, np.minimum(t, c), d, np.ones_like(t), reps, None, 0.95, ml_ci="wald"))
    assert ((wald.scale_lower < eta) & (eta < wald.scale_upper))[m].mean() < 0.90


# ---------------------------------------------------------------------------------------
# robustness: never below scipy.optimize
# ---------------------------------------------------------------------------------------


def _random_sets():
    rng = np.random.default_rng(12345)
    sets = []
    for i in range(12):
        n = int(rng.integers(8, 150))
        if i % 3 == 0:   # times spanning 1e-3 .. 1e5, log-uniform (not Weibull at all)
            t = 10 ** rng.uniform(-3, 5, n)
            c = 10 ** rng.uniform(-3, 5, n)
        else:
            k = float(np.exp(rng.uniform(np.log(0.3), np.log(6.0))))
            eta = 10 ** rng.uniform(-3, 5)
            t = eta * rng.weibull(k, n)
            c = eta * 10 ** rng.uniform(-1.5, 0.0 if i % 2 else -0.7, n)  # heavy censoring
        d = (t <= c).astype(float)
        t = np.minimum(t, c)
        if d.sum() < 2:
            d[np.argsort(t)[:2]] = 1.0
        w = rng.integers(1, 4, n).astype(float) if i % 2 else np.ones(n)
        sets.append((t, d, w))
    return sets


@pytest.mark.parametrize("i", range(12))
def test_never_lower_loglik_than_scipy(i):
    t, d, w = _random_sets()[i]
    f = fit_weibull(t, d, weights=w)
    assert f.method == "mle" and f.converged
    mine = -_weibull_nll(np.log([f.shape, f.scale]), t, d, w)
    assert mine == pytest.approx(f.loglik, abs=1e-8 * max(1.0, abs(mine)))
    assert mine >= -_scipy_best(t, d, w) - 1e-9


def test_near_flat_likelihood_two_failures_among_many_censored():
    t = np.r_[5.0, 7.0, np.full(1000, 10.0)]
    d = np.r_[1.0, 1.0, np.zeros(1000)]
    f = fit_weibull(t, d)
    assert f.method == "mle" and f.converged
    assert -_weibull_nll(np.log([f.shape, f.scale]), t, d, 1.0) >= -_scipy_best(t, d, np.ones_like(t)) - 1e-9
    assert f.shape_upper / f.shape_lower > 10  # very uncertain, and says so


def test_time_unit_invariance():
    # rescaling time by 1e6 or 1e-6 changes the scale by the same factor and nothing else
    base = fit_weibull(MP6_T, MP6_D)
    for c in (1e-6, 1e6):
        f = fit_weibull(MP6_T * c, MP6_D)
        assert f.shape == pytest.approx(base.shape, rel=1e-10)
        assert f.scale == pytest.approx(base.scale * c, rel=1e-10)
        assert f.loglik == pytest.approx(base.loglik - MP6_D.sum() * np.log(c), rel=1e-10)


# ---------------------------------------------------------------------------------------
# confidence interval coverage
# ---------------------------------------------------------------------------------------


def test_ml_interval_coverage_at_nominal_rate():
    # 400 simulated samples of 60 lives (~45% censored), fitted in one call of the group engine
    # (which equals fit_weibull per group, tested below); two-sided.
    rng = np.random.default_rng(20240601)
    reps, n, k, eta = 400, 60, 1.8, 500.0
    g = np.repeat(np.arange(reps), n)
    t = eta * rng.weibull(k, reps * n)
    c = rng.uniform(0.0, 2.0 * eta, reps * n)
    d = (t <= c).astype(float)
    df = fit_weibull_groups(g, np.minimum(t, c), d, level=0.95)
    assert (df["method"] == "mle").all() and df["converged"].all()
    tol = 3.0 * np.sqrt(0.95 * 0.05 / reps)  # three binomial standard deviations
    cover_k = ((df.shape_lower < k) & (k < df.shape_upper)).mean()
    cover_e = ((df.scale_lower < eta) & (eta < df.scale_upper)).mean()
    assert abs(cover_k - 0.95) < tol
    assert abs(cover_e - 0.95) < tol


# ---------------------------------------------------------------------------------------
# exponential and the likelihood-ratio test
# ---------------------------------------------------------------------------------------


def test_exponential_closed_form():
    f = fit_exponential(NIST_T, NIST_D)
    r, T = NIST_D.sum(), NIST_T.sum()
    assert f.distribution == "exponential" and f.method == "mle" and f.shape == 1.0
    assert f.scale == pytest.approx(T / r, rel=1e-12)
    assert f.loglik == pytest.approx(r * np.log(r / T) - r, rel=1e-12)
    z = stats.norm.ppf(0.975)
    assert f.scale_lower == pytest.approx(T / r * np.exp(-z / np.sqrt(r)), rel=1e-12)
    assert f.aic == pytest.approx(2 - 2 * f.loglik)


def test_lr_test_detects_shape_two():
    rng = np.random.default_rng(11)
    t = 100 * rng.weibull(2.0, 120)
    c = rng.uniform(0, 250, 120)
    res = compare_weibull_exponential(np.minimum(t, c), (t <= c).astype(float))
    assert res.shape_differs and res.p_value < 1e-6 and res.preferred == "weibull"
    assert res.lr_statistic == pytest.approx(2 * (res.weibull.loglik - res.exponential.loglik))
    assert res.aic_weibull < res.aic_exponential


def test_lr_test_size_under_shape_one():
    # Under shape = 1 the test rejects about 5% of the time (binomial tolerance).
    rng = np.random.default_rng(2024)
    reps = 300
    rejections = 0
    for _ in range(reps):
        t = 100 * rng.weibull(1.0, 80)
        c = rng.uniform(0, 300, 80)
        rejections += compare_weibull_exponential(np.minimum(t, c), (t <= c).astype(float)).shape_differs
    assert abs(rejections / reps - 0.05) < 3 * np.sqrt(0.05 * 0.95 / reps)


# ---------------------------------------------------------------------------------------
# Weibayes and zero failures
# ---------------------------------------------------------------------------------------


def test_weibayes_formula_by_hand():
    t = np.array([120.0, 340.0, 560.0, 800.0, 1000.0, 1000.0])
    d = np.array([1, 0, 1, 0, 0, 0], float)
    k = 2.5
    f = fit_weibayes(t, d, shape=k, level=0.90)
    T, r = np.sum(t ** k), 2.0
    assert f.method == "weibayes" and f.shape == k and f.se_shape == 0.0
    assert f.scale == pytest.approx((T / r) ** (1 / k), rel=1e-12)
    # chi-square interval on the rate, lambda = eta**-k (Nelson 1982, ch. 7)
    lam_lo = stats.chi2.ppf(0.05, 2 * r) / (2 * T)
    lam_hi = stats.chi2.ppf(0.95, 2 * r + 2) / (2 * T)
    assert f.scale_lower == pytest.approx(lam_hi ** (-1 / k), rel=1e-10)
    assert f.scale_upper == pytest.approx(lam_lo ** (-1 / k), rel=1e-10)
    assert f.rate_upper == pytest.approx(stats.chi2.ppf(0.90, 2 * r + 2) / (2 * T), rel=1e-10)
    # loglik at (k, eta) from the definition
    eta = f.scale
    ll = np.sum(d * (np.log(k / eta) + (k - 1) * np.log(t / eta))) - np.sum((t / eta) ** k)
    assert f.loglik == pytest.approx(ll, rel=1e-12)


def test_zero_failure_bound_equals_chi_square_formula():
    t = np.array([500.0, 800.0, 1200.0, 1500.0, 2000.0])
    k = 1.7
    f = fit_weibayes(t, np.zeros(5), shape=k, level=0.95)
    T = np.sum(t ** k)
    lam_u = stats.chi2.ppf(0.95, 2) / (2 * T)  # 2(r+1) = 2 degrees of freedom
    assert f.method == "weibayes-zero-failure"
    assert f.rate_upper == pytest.approx(lam_u, rel=1e-12)
    assert lam_u == pytest.approx(-np.log(0.05) / T, rel=1e-12)
    assert f.scale == pytest.approx(lam_u ** (-1 / k), rel=1e-12)
    assert f.scale_lower == f.scale and f.scale_upper == np.inf and np.isnan(f.loglik)
    # Abernethy's classic Weibayes ("one failure imminent") is the 63.2% bound: eta = T**(1/k)
    g = fit_weibayes(t, np.zeros(5), shape=k, level=1 - np.exp(-1))
    assert g.scale == pytest.approx(T ** (1 / k), rel=1e-10)


def test_zero_and_one_failure_give_no_absurd_numbers():
    with pytest.warns(UserWarning, match="fit_weibayes"):
        f = fit_weibull([10.0, 20.0, 30.0], [0, 0, 0])
    assert f.method == "no-failures" and np.isnan(f.shape) and np.isnan(f.scale)
    with pytest.warns(UserWarning, match="one time"):
        f = fit_weibull([10.0, 20.0, 30.0], [1, 0, 0])
    assert f.method == "single-failure-time" and np.isnan(f.shape)
    with pytest.warns(UserWarning):
        f = fit_weibull([10.0, 10.0, 10.0], [1, 1, 1])
    assert f.method == "single-failure-time"
    e = fit_exponential([10.0, 20.0], [0, 0])
    assert e.method == "weibayes-zero-failure" and np.isfinite(e.scale) and e.scale_upper == np.inf
    res = compare_weibull_exponential([10.0, 20.0, 30.0], [1, 0, 0])
    assert np.isnan(res.p_value) and not res.shape_differs


def test_result_is_frozen_and_has_model_functions():
    f = fit_weibull(BEARINGS, np.ones(23))
    assert isinstance(f, WeibullFit)
    with pytest.raises(AttributeError):
        f.shape = 3.0  # type: ignore[misc]
    assert f.survival(f.scale) == pytest.approx(np.exp(-1))
    assert f.quantile(0.1) == pytest.approx(f.scale * (-np.log(0.9)) ** (1 / f.shape))
    assert f.cdf(f.quantile(0.3)) == pytest.approx(0.3)
    assert f.rate == pytest.approx(f.scale ** -f.shape)
    assert "shape" in str(f) and list(f.summary().index) == ["shape", "scale"]


# ---------------------------------------------------------------------------------------
# the group engine
# ---------------------------------------------------------------------------------------


def _mixed_groups():
    rng = np.random.default_rng(99)
    parts = []
    for gi in range(40):
        n = int(rng.integers(3, 60))
        k = float(np.exp(rng.uniform(np.log(0.4), np.log(5))))
        eta = 10 ** rng.uniform(-2, 4)
        t = eta * rng.weibull(k, n)
        c = eta * rng.uniform(0.1, 2.0, n)
        d = (t <= c).astype(float)
        t = np.minimum(t, c)
        if gi == 5:
            d[:] = 0          # no failures
        if gi == 6:
            d[:] = 0
            d[0] = 1          # one failure
        if gi == 7:
            t[:3] = t[0]
            d[:] = 0
            d[:3] = 1         # failures tied at one time
        parts.append((np.full(n, gi), t, d, rng.integers(1, 3, n).astype(float)))
    g, t, d, w = (np.concatenate(x) for x in zip(*parts))
    return g, t, d, w, 42  # groups 40 and 41 have no data


def test_group_engine_equals_per_group_fits():
    g, t, d, w, G = _mixed_groups()
    # shuffle rows: the engine must not rely on sorted groups
    perm = np.random.default_rng(0).permutation(g.size)
    df = fit_weibull_groups(g[perm], t[perm], d[perm], weights=w[perm], n_groups=G)
    assert list(df.index) == list(range(G))
    assert df.loc[5, "method"] == "no-failures" and np.isnan(df.loc[5, "shape"])
    assert df.loc[6, "method"] == "single-failure-time"
    assert df.loc[7, "method"] == "single-failure-time"
    assert (df.loc[[40, 41], "method"] == "no-data").all()
    cols = ["shape", "scale", "se_shape", "se_scale", "shape_lower", "shape_upper", "scale_lower",
            "scale_upper", "cov_log_shape_scale", "rate_upper", "loglik", "n_failures", "n_censored"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for gi in range(40):
            m = g == gi
            f = fit_weibull(t[m], d[m], weights=w[m])
            assert df.loc[gi, "method"] == f.method
            for c in cols:
                a, b = df.loc[gi, c], getattr(f, c)
                if np.isnan(b):
                    assert np.isnan(a)
                else:
                    assert a == pytest.approx(b, rel=1e-8, abs=1e-300)
    ok = df["method"] == "mle"
    assert df.loc[ok, "converged"].all()


def test_group_engine_with_given_shapes_is_weibayes_per_group():
    g, t, d, w, G = _mixed_groups()
    shape = np.full(G, np.nan)
    shape[:10] = 1.5                # given for groups 0..9 (incl. the degenerate 5, 6, 7)
    df = fit_weibull_groups(g, t, d, weights=w, n_groups=G, shape=shape)
    for gi in range(10):
        m = g == gi
        f = fit_weibayes(t[m], d[m], shape=1.5, weights=w[m])
        assert df.loc[gi, "method"] == f.method
        assert df.loc[gi, "scale"] == pytest.approx(f.scale, rel=1e-10)
        assert df.loc[gi, "rate_upper"] == pytest.approx(f.rate_upper, rel=1e-10)
    assert df.loc[5, "method"] == "weibayes-zero-failure"
    assert df.loc[6, "method"] == "weibayes"
    assert df.loc[12, "method"] == "mle"    # NaN shape: estimated


def test_group_engine_speed_smoke():
    rng = np.random.default_rng(1)
    G, n = 2000, 30
    g = np.repeat(np.arange(G), n)
    t = 100 * rng.weibull(1.5, G * n)
    c = rng.uniform(20, 300, G * n)
    df = fit_weibull_groups(g, np.minimum(t, c), (t <= c).astype(float))
    assert len(df) == G and df["converged"][df["method"] == "mle"].all()
    assert df["n_iter"].max() < 30


# ---------------------------------------------------------------------------------------
# pooling and shrinkage
# ---------------------------------------------------------------------------------------


def _family_data():
    rng = np.random.default_rng(7)
    G, n = 6, 25
    g = np.repeat(np.arange(G), n)
    eta = np.array([50, 80, 120, 300, 30, 500.0])
    t = eta[g] * rng.weibull(2.2, G * n)
    c = eta[g] * rng.uniform(0.2, 1.5, G * n)
    return g, np.minimum(t, c), (t <= c).astype(float), np.array([0, 0, 0, 1, 1, 1])


def test_pooled_shape_matches_brute_force_joint_fit():
    g, t, d, pool = _family_data()
    ps = pooled_shape(g, t, d, pool)
    for p in (0, 1):
        idx = np.flatnonzero(pool == p)

        def nll(par):
            return sum(_weibull_nll(np.r_[par[0], par[1 + j]], t[g == gi], d[g == gi], 1.0)
                       for j, gi in enumerate(idx))

        x0 = np.r_[0.0, [np.log(t[g == gi].mean()) for gi in idx]]
        r = optimize.minimize(nll, x0, method="BFGS", options=dict(gtol=1e-9))
        assert ps.loc[p, "method"] == "mle"
        assert ps.loc[p, "shape"] == pytest.approx(np.exp(r.x[0]), rel=1e-5)
        assert ps.loc[p, "loglik"] >= -r.fun - 1e-9
    # with that shape, the Weibayes fits of the groups add up to the pool's log-likelihood
    fw = fit_weibull_groups(g, t, d, shape=ps["shape"].to_numpy()[pool])
    assert fw.groupby(pool)["loglik"].sum().to_numpy() == pytest.approx(ps["loglik"].to_numpy())


def test_pooled_shape_of_single_groups_is_the_group_fit():
    g, t, d, _ = _family_data()
    ps = pooled_shape(g, t, d, np.arange(6))
    fg = fit_weibull_groups(g, t, d)
    for c in ("shape", "se_shape", "loglik"):
        assert ps[c].to_numpy() == pytest.approx(fg[c].to_numpy(), rel=1e-9)
    # a pool's interval is Wald on the log scale (pools have many failures)
    z = stats.norm.ppf(0.975)
    se_b = fg["se_shape"] / fg["shape"]
    assert ps["shape_lower"].to_numpy() == pytest.approx((fg["shape"] * np.exp(-z * se_b)).to_numpy(), rel=1e-9)


def test_pooled_shape_flags_pools_without_information():
    g = np.array([0, 0, 1, 1, 2, 2])
    t = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    d = np.array([0, 0, 0, 0, 0, 1.0])
    ps = pooled_shape(g, t, d, pool=np.array([0, 0, 1]), n_pools=3)
    assert list(ps["method"]) == ["no-failures", "single-failure-time", "no-data"]
    assert ps["shape"].isna().all()


def test_shrink_scale_method_of_moments_by_hand():
    g, t, d, pool = _family_data()
    d = d.copy()
    d[g == 5] = 0.0                     # a group with no failures borrows from its family
    k = 2.0
    ss = shrink_scale(g, t, d, np.full(6, k), pool)
    for f in (0, 1):
        gs = np.flatnonzero(pool == f)
        r = np.array([d[g == gi].sum() for gi in gs])
        E = np.array([np.sum(t[g == gi] ** k) for gi in gs])
        m = r.sum() / E.sum()
        s2 = np.sum(E * (r / E - m) ** 2) / E.sum()
        tau2 = s2 - m / E.mean()
        assert tau2 > 0
        a, b = m * m / tau2, m / tau2
        lam = (r + a) / (E + b)
        assert ss.loc[gs, "scale"].to_numpy() == pytest.approx(lam ** (-1 / k), rel=1e-9)
        assert ss.loc[gs, "credibility"].to_numpy() == pytest.approx(E / (E + b), rel=1e-9)
        assert ss.loc[gs, "prior_scale"].to_numpy() == pytest.approx((a / b) ** (-1 / k), rel=1e-9)
    assert np.isnan(ss.loc[5, "scale_mle"]) and np.isfinite(ss.loc[5, "scale"])
    assert (ss["method"] == "shrunk").all()


def test_shrink_scale_pools_fully_when_groups_agree():
    # identical groups: between-group spread is pure Poisson noise, so every group gets m
    t = np.tile([10.0, 20.0, 30.0, 40.0], 3)
    d = np.tile([1.0, 0.0, 1.0, 0.0], 3)
    g = np.repeat(np.arange(3), 4)
    ss = shrink_scale(g, t, d, 1.0, np.zeros(3, int))
    assert (ss["method"] == "pooled").all()
    assert ss["scale"].to_numpy() == pytest.approx(np.full(3, 100.0 / 2.0))


def test_shrink_scale_rejects_mixed_shapes_in_a_family():
    g, t, d, pool = _family_data()
    with pytest.raises(ValueError, match="different shapes"):
        shrink_scale(g, t, d, np.array([1.0, 2.0, 2.0, 2.0, 2.0, 2.0]), pool)


def test_given_shape_with_standard_error_by_hand():
    # Weibayes with a shape known only to se (on log k): the chi-square half-widths of log eta
    # grow in quadrature by z * d * se, d = d log eta / d log k = mean_k(log t) - log eta.
    t = np.array([120.0, 340.0, 560.0, 800.0, 1000.0, 1000.0, 1500.0])
    d = np.array([1, 0, 1, 0, 1, 0, 0], float)
    k, se = 1.8, 0.12
    base = fit_weibull_groups(np.zeros(7, int), t, d, shape=k).iloc[0]
    f = fit_weibull_groups(np.zeros(7, int), t, d, shape=k, shape_log_se=se).iloc[0]
    T, r = np.sum(t ** k), 3.0
    eta = (T / r) ** (1 / k)
    dk = np.sum(t ** k * np.log(t)) / T - np.log(eta)
    assert dk < -0.2                                  # censored lives sit below the scale
    z = stats.norm.ppf(0.975)
    lo = np.log(eta) - np.sqrt(np.log(eta / base["scale_lower"]) ** 2 + (z * dk * se) ** 2)
    hi = np.log(eta) + np.sqrt(np.log(base["scale_upper"] / eta) ** 2 + (z * dk * se) ** 2)
    assert f["scale"] == pytest.approx(eta, rel=1e-12) and base["scale"] == f["scale"]
    assert f["scale_lower"] == pytest.approx(np.exp(lo), rel=1e-10)
    assert f["scale_upper"] == pytest.approx(np.exp(hi), rel=1e-10)
    assert (f["shape_lower"], f["shape_upper"]) == pytest.approx((k * np.exp(-z * se), k * np.exp(z * se)))
    assert f["se_shape"] == pytest.approx(k * se)
    assert f["cov_log_shape_scale"] == pytest.approx(dk * se * se)
    assert f["se_scale"] == pytest.approx(eta * np.sqrt(1 / (k * k * r) + (dk * se) ** 2))
    # zero failures: the one-sided bound moves down by z |d| se
    z0 = fit_weibull_groups(np.zeros(7, int), t, np.zeros(7), shape=k, shape_log_se=se).iloc[0]
    eta_l = (T / -np.log(0.05)) ** (1 / k)
    d0 = np.sum(t ** k * np.log(t)) / T - np.log(eta_l)
    assert z0["scale"] == pytest.approx(eta_l, rel=1e-12)
    assert z0["scale_lower"] == pytest.approx(eta_l * np.exp(-z * abs(d0) * se), rel=1e-10)
    assert z0["scale_upper"] == np.inf
    with pytest.raises(ValueError, match="shape_log_se at position 0 is -1"):
        fit_weibull_groups(np.zeros(7, int), t, d, shape=k, shape_log_se=-1.0)


def _cox_reid_by_hand(t, d):
    """Brute force: maximise (r - 1) log k - r log(sum t**k) + k sum_failures log t."""
    r = d.sum()

    def neg(lk):
        k = np.exp(lk)
        return -((r - 1) * lk - r * np.log(np.sum((t / t.max()) ** k)) + k * np.sum(d * np.log(t / t.max())))

    lk = optimize.minimize_scalar(neg, bounds=(-5, 5), method="bounded", options=dict(xatol=1e-12)).x
    k = np.exp(lk)
    x = (t / t.max()) ** k
    m = np.sum(x * np.log(t)) / x.sum()
    var = np.sum(x * (np.log(t) - m) ** 2) / x.sum()
    return lk, 1.0 / ((r - 1) + k * k * r * var)


def test_borrowed_shape_by_hand():
    # Three pools of groups with different shapes; tau**2 from the adjusted REML equation
    # solved by brute force, V_g = var(log k_pool) + tau**2 (1 - 2 w_g + sum w**2).
    rng = np.random.default_rng(5)
    G, n = 12, 60
    pool = np.repeat([0, 1, 2], 4)
    k_true = np.array([1.2, 1.5, 1.0, 1.8, 2.5, 3.0, 2.2, 2.7, 0.8, 0.9, 0.7, 1.1])
    g = np.repeat(np.arange(G), n)
    t = 100 * rng.weibull(k_true[g])
    c = rng.uniform(30, 250, g.size)
    d = (t <= c).astype(float)
    t = np.minimum(t, c)
    b = borrowed_shape(g, t, d, pool)
    ps = pooled_shape(g, t, d, pool)
    y, v = np.array([_cox_reid_by_hand(t[g == i], d[g == i]) for i in range(G)]).T
    assert (np.bincount(g, d) >= 10).all()              # every group enters tau**2

    def score(t2):       # d/dtau2 of l_REML(tau2) + log tau2, pools with their own means
        s = 1.0 / t2
        for p in range(3):
            wt = 1 / (t2 + v[pool == p])
            mu = np.sum(wt * y[pool == p]) / wt.sum()
            s += -0.5 * wt.sum() + 0.5 * np.sum(wt ** 2) / wt.sum() + 0.5 * np.sum(wt ** 2 * (y[pool == p] - mu) ** 2)
        return s

    tau2 = optimize.brentq(score, 1e-8, 10.0, xtol=1e-14)
    assert b["tau_log_shape"].iloc[0] == pytest.approx(np.sqrt(tau2), rel=1e-6)
    assert 0.1 < np.sqrt(tau2) < 0.5                    # the shapes do differ
    kp = ps["shape"].to_numpy()
    info = np.zeros(G)
    for i in range(G):
        ti, di, kk = t[g == i], d[g == i], kp[pool[i]]
        x = (ti / ti.max()) ** kk
        m = np.sum(x * np.log(ti)) / x.sum()
        info[i] = di.sum() * (1 + kk * kk * np.sum(x * (np.log(ti) - m) ** 2) / x.sum())
    w = info / np.bincount(pool, info)[pool]
    V = (ps["se_shape"] / ps["shape"]).to_numpy()[pool] ** 2 + tau2 * (1 - 2 * w + np.bincount(pool, w * w)[pool])
    assert b["weight"].to_numpy() == pytest.approx(w, rel=1e-9)
    assert b["se_log_shape"].to_numpy() == pytest.approx(np.sqrt(V), rel=1e-6)
    z = stats.norm.ppf(0.975)
    assert b["shape_lower"].to_numpy() == pytest.approx(kp[pool] * np.exp(-z * np.sqrt(V)), rel=1e-6)
    assert b["shape"].to_numpy() == pytest.approx(kp[pool], rel=1e-12)


def test_shrink_scale_interval_by_hand():
    # The documented mean squared error of the empirical-Bayes rate, group by group, its
    # moment-matched gamma interval, and the shape's term from brute-force differences.
    g, t, d, pool = _family_data()
    d = d.copy()
    d[g == 5] = 0.0
    k, se = 2.0, 0.1
    ss = shrink_scale(g, t, d, np.full(6, k), pool)
    sk = shrink_scale(g, t, d, np.full(6, k), pool, shape_log_se=se)
    assert sk["scale"].to_numpy() == pytest.approx(ss["scale"].to_numpy(), rel=1e-12)
    z = stats.norm.ppf(0.975)
    h = 1e-4
    up = shrink_scale(g, t, d, np.full(6, k * np.exp(h)), pool)["scale"].to_numpy()
    dn = shrink_scale(g, t, d, np.full(6, k * np.exp(-h)), pool)["scale"].to_numpy()
    dlog = (np.log(up) - np.log(dn)) / (2 * h)
    for f in (0, 1):
        gs = np.flatnonzero(pool == f)
        c = np.exp(np.mean([np.log(t[g == gi].max()) for gi in gs]))   # reference unit
        r = np.array([d[g == gi].sum() for gi in gs])
        E = np.array([np.sum((t[g == gi] / c) ** k) for gi in gs])
        m = r.sum() / E.sum()
        tau2 = np.sum(E * (r / E - m) ** 2) / E.sum() - m / E.mean()
        assert tau2 > 0
        a, b = m * m / tau2, m / tau2
        lam = (r + a) / (E + b)
        Z = E / (E + b)
        v = m / E
        var_m = (tau2 * np.sum(E ** 2) + m * E.sum()) / E.sum() ** 2
        D = (tau2 + v) * (1 - 2 * E / E.sum()) + var_m
        var_t2 = 2 * np.sum((E * D) ** 2) / E.sum() ** 2
        mse = lam / (E + b) + (1 - Z) ** 2 * var_m + 2 * var_t2 * v * v * D / (tau2 + v) ** 4
        alpha = lam ** 2 / mse
        # (an interval always holds its estimate: for group 5, no failures and credibility
        # ~1 under a very wide prior, the gamma's 97.5% point is below its mean)
        lam_lo = np.minimum(stats.gamma.ppf(0.025, alpha) * mse / lam, lam)
        lam_hi = np.maximum(stats.gamma.ppf(0.975, alpha) * mse / lam, lam)
        with np.errstate(divide="ignore"):
            upper = c * lam_lo ** (-1 / k)               # inf for group 5
        assert ss.loc[gs, "scale_lower"].to_numpy() == pytest.approx(c * lam_hi ** (-1 / k), rel=1e-9)
        assert ss.loc[gs, "scale_upper"].to_numpy() == pytest.approx(upper, rel=1e-9)
        # the old interval, the posterior Gamma(r + a, E + b) alone, is narrower
        old_lo = c * (stats.gamma.ppf(0.975, r + a) / (E + b)) ** (-1 / k)
        assert (ss.loc[gs, "scale_lower"].to_numpy() < old_lo)[r > 0].all()
        s = np.log(ss.loc[gs, "scale"].to_numpy())
        lo = s - np.sqrt((s - np.log(ss.loc[gs, "scale_lower"].to_numpy())) ** 2 + (z * dlog[gs] * se) ** 2)
        hi = s + np.sqrt((np.log(ss.loc[gs, "scale_upper"].to_numpy()) - s) ** 2 + (z * dlog[gs] * se) ** 2)
        assert sk.loc[gs, "scale_lower"].to_numpy() == pytest.approx(np.exp(lo), rel=1e-6)
        assert sk.loc[gs, "scale_upper"].to_numpy() == pytest.approx(np.exp(hi), rel=1e-6)


def test_shrink_scale_interval_when_pooled_is_more_than_the_family_rate_error():
    # tau2 <= 0: every group gets the family rate m, but its interval is not that of m alone
    # (Gamma(R, sum E)): the spread could be positive, so the estimated spread's error enters.
    t = np.tile([10.0, 20.0, 30.0, 40.0], 3)
    d = np.tile([1.0, 0.0, 1.0, 0.0], 3)
    g = np.repeat(np.arange(3), 4)
    ss = shrink_scale(g, t, d, 1.0, np.zeros(3, int))
    assert (ss["method"] == "pooled").all()
    c, R = 40.0, 6.0                                    # reference unit: the largest time
    E = 100.0 / c                                       # exposure per group, in that unit
    m = R / (3 * E)
    v = m / E
    var_m = m / (3 * E)
    D = v * (1 - 2 / 3) + var_m
    var_t2 = 2 * 3 * (E * D) ** 2 / (3 * E) ** 2
    mse = var_m + 2 * var_t2 * v * v * D / v ** 4
    lam_lo = stats.gamma.ppf(0.025, m * m / mse) * mse / m
    assert ss["scale_upper"].to_numpy() == pytest.approx(np.full(3, c / lam_lo), rel=1e-9)
    # the family rate's own interval, Gamma(R, sum E), is much narrower
    assert (ss["scale_upper"] > 1.5 * c / (stats.gamma.ppf(0.025, R) / (3 * E))).all()


def _random_effect_pools(seed, P=150, J=6, tau_k=0.08, tau_e=0.16):
    """Pools of J groups: log shapes and log scales scattered around the pool's."""
    rng = np.random.default_rng(seed)
    G = P * J
    pool = np.repeat(np.arange(P), J)
    kf = np.exp(rng.uniform(np.log(0.7), np.log(3.0), P))
    ef = 10 ** rng.uniform(2, 4, P)
    kg = kf[pool] * np.exp(rng.normal(0, tau_k, G))
    eg = ef[pool] * np.exp(rng.normal(0, tau_e, G))
    n = rng.integers(5, 60, G)
    g = np.repeat(np.arange(G), n)
    t = eg[g] * rng.weibull(kg[g])
    c = ef[pool][g] * rng.uniform(0.1, 1.5, g.size)
    return g, np.minimum(t, c), (t <= c).astype(float), pool, kg, eg


def test_borrowed_and_shrunk_intervals_cover_two_sided():
    # 1,800 groups in 300 pools drawn from the random-effects model the intervals assume
    # (between-group sd 0.08 of log shape, 0.16 of log scale). Each interval must cover its
    # group's own parameter at 0.92-0.98: the band a binomial test on >= 601 intervals
    # needs to tell 0.95 from 0.85 and from 0.99 (see test_failure_model.py).
    cover = {"borrowed shape": [], "weibayes scale": [], "shrunk scale": [], "mle shape": [], "mle scale": []}
    for seed in (1, 2):
        g, t, d, pool, kg, eg = _random_effect_pools(seed)
        b = borrowed_shape(g, t, d, pool)
        k, se = b["shape"].to_numpy(), b["se_log_shape"].to_numpy()
        wb = fit_weibull_groups(g, t, d, shape=k, shape_log_se=se)
        ss = shrink_scale(g, t, d, k, pool, shape_log_se=se)
        own = fit_weibull_groups(g, t, d)
        ml = (own["method"] == "mle").to_numpy()
        has_r = wb["n_failures"].to_numpy() > 0         # zero-failure bounds are one-sided
        cover["borrowed shape"].append(((b.shape_lower <= kg) & (kg <= b.shape_upper)).to_numpy())
        cover["weibayes scale"].append(((wb.scale_lower <= eg) & (eg <= wb.scale_upper)).to_numpy()[has_r])
        cover["shrunk scale"].append(((ss.scale_lower <= eg) & (eg <= ss.scale_upper)).to_numpy())
        cover["mle shape"].append(((own.shape_lower <= kg) & (kg <= own.shape_upper)).to_numpy()[ml])
        cover["mle scale"].append(((own.scale_lower <= eg) & (eg <= own.scale_upper)).to_numpy()[ml])
    for name, hits in cover.items():
        hits = np.concatenate(hits)
        assert hits.size >= 601, name
        assert 0.92 <= hits.mean() <= 0.98, (name, hits.mean(), hits.size)


# ---------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "time, failed, weights, match",
    [
        ([1.0, -2.0, 3.0], [1, 1, 0], None, r"time at position 1 is -2\.0.*> 0"),
        ([1.0, 0.0, 3.0], [1, 1, 0], None, r"time at position 1 is 0\.0"),
        ([1.0, np.nan, 3.0], [1, 1, 0], None, r"time at position 1 is nan.*missing"),
        ([1.0, 2.0, 3.0], [1, 1], None, r"time has 3 values but failed has 2"),
        ([1.0, 2.0, 3.0], [1, 2, 0], None, r"failed at position 1 is 2\.0.*0 or 1"),
        ([1.0, 2.0, 3.0], [1, np.nan, 0], None, r"failed at position 1 is nan"),
        ([1.0, 2.0, 3.0], [1, 1, 0], [1.0, 1.0, -1.0], r"weights at position 2 is -1\.0.*>= 0"),
        ([1.0, 2.0, 3.0], [1, 1, 0], [1.0, 1.0], r"weights has 2"),
        (["1", "x", "3"], [1, 1, 0], None, r"time at position 1 is 'x'.*not a number"),
    ],
)
def test_bad_input_messages(time, failed, weights, match):
    for func in (fit_weibull, fit_exponential, kaplan_meier):
        with pytest.raises(ValueError, match=match) as err:
            func(time, failed, weights=weights)
        assert func.__name__ in str(err.value)


def test_bad_input_message_says_how_to_fix_and_counts_others():
    with pytest.raises(ValueError) as err:
        fit_weibull([1.0, -1.0, 0.0, 5.0], [1, 1, 1, 0])
    msg = str(err.value)
    assert "1 more at positions 2" in msg and "Drop or correct" in msg
    s = pd.Series([1.0, -1.0], index=["a", "b"])
    with pytest.raises(ValueError, match="index label 'b'"):
        fit_weibull(s, [1, 1])


def test_bad_group_codes_and_level():
    with pytest.raises(ValueError, match=r"group at position 1 is 5.*n_groups is 3"):
        fit_weibull_groups([0, 5], [1.0, 2.0], [1, 1], n_groups=3)
    with pytest.raises(ValueError, match=r"group at position 0 is -1"):
        fit_weibull_groups([-1, 0], [1.0, 2.0], [1, 1])
    with pytest.raises(ValueError, match=r"shape has 2 values but there are 3 groups"):
        fit_weibull_groups([0, 1, 2], [1.0, 2.0, 3.0], [1, 1, 1], shape=[1.0, 2.0])
    with pytest.raises(ValueError, match="level"):
        fit_weibull([1.0, 2.0, 3.0], [1, 1, 0], level=95)
    with pytest.raises(ValueError, match="shape at position 0 is -1"):
        fit_weibayes([1.0, 2.0], [1, 0], shape=-1.0)


# ---------------------------------------------------------------------------------------
# Kaplan-Meier and Nelson-Aalen: 6-MP data
# ---------------------------------------------------------------------------------------


def test_kaplan_meier_six_mp_textbook_values():
    # Klein & Moeschberger (2003), Table 4.1A: product-limit estimate and Greenwood s.e.
    km = kaplan_meier(MP6_T, MP6_D)
    ev = km[km["events"] > 0]
    assert list(ev["time"]) == [6, 7, 10, 13, 16, 22, 23]
    assert list(ev["at_risk"]) == [21, 17, 15, 12, 11, 7, 6]
    assert list(ev["events"]) == [3, 1, 1, 1, 1, 1, 1]
    assert ev["survival"].to_numpy() == pytest.approx(
        [0.857, 0.807, 0.753, 0.690, 0.627, 0.538, 0.448], abs=5e-4)
    assert ev["std_err"].to_numpy() == pytest.approx(
        [0.0764, 0.0869, 0.0963, 0.1068, 0.1141, 0.1282, 0.1346], abs=5e-5)
    # censored-only times keep the estimate; exact product by hand at 23 weeks
    assert km.loc[km["time"] == 35, "survival"].item() == pytest.approx(
        (18 / 21) * (16 / 17) * (14 / 15) * (11 / 12) * (10 / 11) * (6 / 7) * (5 / 6))
    # log-log interval contains the estimate and stays in [0, 1]
    assert ((km["lower"] <= km["survival"]) & (km["survival"] <= km["upper"])).all()


def test_nelson_aalen_six_mp_by_hand():
    # Klein & Moeschberger (2003), Table 4.2: H = sum d/n, variance sum d/n^2
    na = nelson_aalen(MP6_T, MP6_D)
    ev = na[na["events"] > 0]
    d_n = np.array([3 / 21, 1 / 17, 1 / 15, 1 / 12, 1 / 11, 1 / 7, 1 / 6])
    assert ev["cumulative_hazard"].to_numpy() == pytest.approx(np.cumsum(d_n), rel=1e-12)
    assert ev["cumulative_hazard"].to_numpy() == pytest.approx(
        [0.1429, 0.2017, 0.2683, 0.3517, 0.4426, 0.5854, 0.7521], abs=1e-4)
    var = np.cumsum([3 / 21 ** 2, 1 / 17 ** 2, 1 / 15 ** 2, 1 / 12 ** 2, 1 / 11 ** 2, 1 / 7 ** 2,
                     1 / 6 ** 2])
    assert ev["std_err"].to_numpy() == pytest.approx(np.sqrt(var), rel=1e-12)


def test_weighted_estimators_equal_expanded_data():
    t, e, n = WALTONS.T
    a = kaplan_meier(t, e, weights=n)
    b = kaplan_meier(np.repeat(t, n.astype(int)), np.repeat(e, n.astype(int)))
    pd.testing.assert_frame_equal(a, b)
    a = nelson_aalen(t, e, weights=n)
    b = nelson_aalen(np.repeat(t, n.astype(int)), np.repeat(e, n.astype(int)))
    pd.testing.assert_frame_equal(a, b)


def test_median_ranks_johnson_bernard_by_hand():
    # 5 lives: F S F S F. Reverse ranks of the failures 5, 3, 1:
    # O1 = 0 + 6/6 = 1; O2 = 1 + (6-1)/4 = 2.25; O3 = 2.25 + (6-2.25)/2 = 4.125
    mr = median_ranks([10, 20, 30, 40, 50], [1, 0, 1, 0, 1])
    assert mr["adjusted_rank"].to_numpy() == pytest.approx([1.0, 2.25, 4.125])
    assert mr["median_rank"].to_numpy() == pytest.approx((np.array([1.0, 2.25, 4.125]) - 0.3) / 5.4)
    # without censoring the adjusted ranks are 1..n
    assert median_ranks([3, 1, 2], [1, 1, 1])["adjusted_rank"].to_numpy() == pytest.approx([1, 2, 3])


# ---------------------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------------------


def test_weibull_plot_has_points_and_fitted_line():
    f = fit_weibull(NIST_T, NIST_D)
    fig, ax = plt.subplots()
    out = weibull_plot(NIST_T, NIST_D, fit=f, ax=ax)
    assert out is ax and ax.get_xscale() == "log"
    pts, line = ax.lines[:2]
    assert len(pts.get_xdata()) == 10 and pts.get_marker() == "o"
    # the fitted line passes through 63.2% (y = 0) at the scale
    x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
    assert np.interp(0.0, y, np.log(x)) == pytest.approx(np.log(f.scale), rel=1e-6)
    assert y == pytest.approx(f.shape * np.log(x / f.scale))
    plt.close(fig)
    ax2 = weibull_plot(NIST_T, NIST_D)  # no fit, new figure
    assert len(ax2.lines) == 1
    plt.close(ax2.figure)


def test_survival_plot_has_km_band_and_fit():
    f = fit_weibull(MP6_T, MP6_D)
    ax = survival_plot(MP6_T, MP6_D, f)
    assert len(ax.lines) == 2 and len(ax.collections) >= 1
    km_line, fit_line = ax.lines
    assert km_line.get_drawstyle().startswith("steps")
    assert np.asarray(fit_line.get_ydata())[0] == pytest.approx(1.0)
    plt.close(ax.figure)
