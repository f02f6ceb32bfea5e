"""The numerical engine of the installed-base forecast, against exact values and simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.special import gamma

from partsforecast.counts import compound_poisson_cdf, compound_poisson_quantiles
from partsforecast.reliability import expected_failures, renewal_function


def test_renewal_function_exponential_is_linear():
    # For exponential lives the renewal process is Poisson: M(x) = x exactly.
    x = np.array([0.05, 0.5, 1.0, 3.0, 12.0, 29.0])
    np.testing.assert_allclose(renewal_function(x, 1.0), x, rtol=5e-4)


def test_renewal_function_beyond_grid_uses_smith_asymptote():
    k = 2.0
    mu, var = gamma(1.5), gamma(2.0) - gamma(1.5) ** 2
    x = np.array([35.0, 80.0])
    np.testing.assert_allclose(renewal_function(x, k), x / mu + (var - mu**2) / (2 * mu**2), rtol=1e-12)
    # and the table at 30 scales already sits on that asymptote
    np.testing.assert_allclose(renewal_function(29.9, k), 29.9 / mu + (var - mu**2) / (2 * mu**2), rtol=2e-3)


@pytest.mark.parametrize("k", [0.7, 2.0, 3.5])
def test_renewal_function_matches_simulation(k):
    rng = np.random.default_rng(7)
    lives = rng.weibull(k, size=(100_000, 40)).cumsum(axis=1)
    for t in (0.5, 1.0, 2.0, 4.0):
        counts = (lives <= t).sum(axis=1)
        se = counts.std() / np.sqrt(counts.size)
        assert abs(renewal_function(t, k) - counts.mean()) < 4 * se + 2e-3


def test_renewal_function_monotone_in_x():
    x = np.linspace(0, 40, 500)
    for k in (0.6, 1.0, 1.8, 4.0):
        assert np.all(np.diff(renewal_function(x, k)) >= -1e-12)


def test_delayed_renewal_matches_simulation():
    # A worn component (age 800 h, scale 1000 h, shape 2.5): the first failure is conditional
    # on survival to 800 h, later lives are fresh.
    rng = np.random.default_rng(11)
    k, eta, age = 2.5, 1000.0, 800.0
    hours = np.array([[100.0, 300.0, 600.0, 1200.0, 2500.0]])
    got = expected_failures(np.array([age]), hours, np.array([k]), np.array([eta]))[0]
    n = 200_000
    t1 = eta * ((age / eta) ** k - np.log(rng.random(n))) ** (1 / k) - age
    path = np.concatenate([t1[:, None], eta * rng.weibull(k, size=(n, 12))], axis=1).cumsum(axis=1)
    for h, g in zip(hours[0], got):
        counts = (path <= h).sum(axis=1)
        assert abs(g - counts.mean()) < 4 * counts.std() / np.sqrt(n) + 1e-3


def test_first_failure_probability_is_conditional_weibull():
    # With a horizon far below the scale, renewals add only ~M(h/η) ≈ (h/η)^k relatively:
    # E[N] ≈ 1 − S(a+h)/S(a), and never less.
    k, eta = 1.5, 50_000.0
    age = np.array([0.0, 1000.0, 20_000.0])
    h = np.array([[200.0]] * 3)
    expect = 1 - np.exp(-(((age + 200) / eta) ** k - (age / eta) ** k))
    got = expected_failures(age, h, np.full(3, k), np.full(3, eta))[:, 0]
    np.testing.assert_allclose(got, expect, rtol=(200 / eta) ** k * 1.5)
    assert np.all(got >= expect)
    # Wear-out: an older component is more likely to fail; infant mortality: the reverse.
    assert np.all(np.diff(got) > 0)
    young = expected_failures(age, h, np.full(3, 0.7), np.full(3, eta))[:, 0]
    assert np.all(np.diff(young) < 0)


def test_compound_poisson_single_severity_equals_scaled_poisson():
    lam = np.array([0.01, 0.3, 2.0, 17.0, 250.0])
    levels = [0.5, 0.8, 0.9, 0.95, 0.99]
    for q in (1, 3):
        rates = np.zeros((lam.size, q))
        rates[:, q - 1] = lam
        got = compound_poisson_quantiles(rates, levels)
        want = q * stats.poisson.ppf(np.array(levels)[None, :], lam[:, None])
        np.testing.assert_array_equal(got, want.astype(int))


_LAM1, _LAM2, _LAM4 = 1.3, 0.6, 0.25


def _enumerated_pmf() -> np.ndarray:
    """P(D = 0..199) for D = N1 + 2·N2 + 4·N4, by explicit convolution of the three laws."""
    n = np.arange(200)
    pmf = np.zeros(200)
    p1 = stats.poisson.pmf(n, _LAM1)
    for a in range(40):
        for b in range(25):
            shift = 2 * a + 4 * b
            if shift < 200:
                pmf[shift:] += stats.poisson.pmf(a, _LAM2) * stats.poisson.pmf(b, _LAM4) * p1[: 200 - shift]
    return pmf


def test_compound_poisson_mixed_severity_equals_enumeration():
    cdf = np.cumsum(_enumerated_pmf())
    levels = [0.5, 0.8, 0.9, 0.95, 0.99]
    want = [int(np.searchsorted(cdf, lv - 1e-12)) for lv in levels]
    got = compound_poisson_quantiles(np.array([[_LAM1, _LAM2, 0.0, _LAM4]]), levels)[0]
    np.testing.assert_array_equal(got, want)


def test_compound_poisson_cdf_equals_enumeration_and_inverts_quantiles():
    # D = N1 + 2·N2 + 4·N4 again, against the explicit convolution, at every value 0..30.
    values = np.arange(-1, 31)
    rates = np.tile([_LAM1, _LAM2, 0.0, _LAM4], (values.size, 1))
    got = compound_poisson_cdf(rates, values)
    want = np.concatenate([[0.0], np.cumsum(_enumerated_pmf())[:30 + 1]])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    # The quantile is the smallest n with F(n) ≥ level: F(q) ≥ level > F(q − 1).
    levels = [0.1, 0.5, 0.9, 0.99]
    q = compound_poisson_quantiles(rates[:1], levels)[0]
    for level, qq in zip(levels, q):
        f_at, f_below = compound_poisson_cdf(rates[:2], np.array([qq, qq - 1]))
        assert f_at >= level > f_below


def test_compound_poisson_cdf_rejects_fractional_counts():
    with pytest.raises(ValueError, match="whole counts"):
        compound_poisson_cdf(np.ones((1, 1)), np.array([0.5]))


def test_compound_poisson_zero_rate():
    got = compound_poisson_quantiles(np.zeros((3, 2)), [0.5, 0.99])
    assert np.all(got == 0)


def test_poisson_quantiles_equal_scipy():
    from partsforecast.counts import poisson_quantiles

    rng = np.random.default_rng(3)
    lam = np.concatenate([[0.0, 1e-9, 1e-3, 0.1053605156578263], rng.gamma(0.5, 3.0, 2000), [250.0, 4000.0]])
    levels = [0.025, 0.5, 0.8, 0.9, 0.95, 0.99]
    got = poisson_quantiles(lam, levels)
    want = stats.poisson.ppf(np.array(levels)[None, :], lam[:, None])
    want = np.where(lam[:, None] == 0, 0, want)
    np.testing.assert_array_equal(got, want.astype(np.int64))


def test_renewal_function_small_x_follows_power_law_for_infant_mortality():
    # For x → 0, M(x) = x^k − x^{2k}/2 + Γ(1+k)²/Γ(1+2k)·x^{2k} + O(x^{3k}); with a
    # table reaching out to 2 scales the smallest x lie inside its first cell.
    k = 0.5
    x = np.array([1e-6, 1e-5, 1e-4, 2.0])
    c2 = gamma(1 + k) ** 2 / gamma(1 + 2 * k) - 0.5
    want = x[:3] ** k + c2 * x[:3] ** (2 * k)
    # (a straight line from 0 to the first grid point would be off by 80% at x = 1e-4)
    np.testing.assert_allclose(renewal_function(x, k)[:3], want, rtol=1e-2)


def test_expected_failures_exponential_is_linear_at_every_month_end():
    # Exponential lives: E[N(h)] = h/η exactly, whatever the age; checked at month ends that
    # fall between the renewal grid's nodes.
    h = np.array([[124.0, 372.0, 620.0, 868.0, 1000.0]])
    for age in (0.0, 4000.0):
        got = expected_failures(np.array([age]), h, np.ones(1), np.full(1, 5000.0))
        np.testing.assert_allclose(got, h / 5000.0, rtol=1e-4)
