"""The count laws of partsforecast.counts against scipy and brute-force sums, and the rule."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from partsforecast import counts
from partsforecast.counts import BATCH_POISSON, NEGATIVE_BINOMIAL, POISSON, count_law

# Means from 1e-9 to 1e4, and variance-to-mean ratios: Poisson (1, and below 1), just
# above 1 (negative binomial with a huge r), whole numbers (batches) and fractions (NB).
MEANS = np.array([1e-9, 1e-4, 0.03, 0.7, 2.0, 13.0, 250.0, 1e4])
RATIOS = np.array([0.5, 1.0, 1.0 + 1e-6, 1.05, 2.0, 2.5, 3.0, 7.3, 40.0])


def _grid():
    m, r = np.meshgrid(MEANS, RATIOS, indexing="ij")
    return m.ravel(), (m * r).ravel(), r.ravel()


def _scipy(m: float, v: float, kind: int, q: float):
    """scipy's law of one cell: (cdf, pmf) on whole numbers, as the rule says."""
    if kind == POISSON:
        return (lambda k: stats.poisson.cdf(k, m)), (lambda k: stats.poisson.pmf(k, m))
    if kind == BATCH_POISSON:
        return ((lambda k: stats.poisson.cdf(np.floor(k / q), m / q)),
                (lambda k: np.where(k % q == 0, stats.poisson.pmf(k // q, m / q), 0.0)))
    r, p = m * m / (v - m), m / v
    return (lambda k: stats.nbinom.cdf(k, r, p)), (lambda k: stats.nbinom.pmf(k, r, p))


def _support(m: float, v: float) -> np.ndarray:
    """0 .. far enough that the mass beyond is below 1e-16 (NB tails fall like (1 - m/v)^k)."""
    sd = np.sqrt(max(v, m))
    return np.arange(0, int(m + 40 * sd + 60 + 40 * max(v, m) / max(m, 1e-300)))


# ---------------------------------------------------------------------------------------
# The rule
# ---------------------------------------------------------------------------------------


def test_rule_on_edge_cases():
    d = count_law([2.0, 2.0, 2.0, 2.0, 2.0, 0.0, 0.0, 5.0, 1e-9],
                  [2.0, 1.0, 6.0, 6.0000003, 2.0 * (1 + 1e-12), 0.0, 3.0, 5.0 * (1 + 2e-9), 3e-9])
    assert d.kind.tolist() == [POISSON, POISSON, BATCH_POISSON, NEGATIVE_BINOMIAL, POISSON, POISSON, POISSON,
                               NEGATIVE_BINOMIAL, BATCH_POISSON]
    assert d.unit.tolist() == [1, 1, 3, 1, 1, 1, 1, 1, 3]
    # var = mean and var below the mean: Poisson, whose variance is its mean
    np.testing.assert_array_equal(d.var[:2], [2.0, 2.0])
    # var = 3 * mean exactly is 3 * Poisson(mean / 3); 3.0000001 * mean is a negative binomial
    assert count_law(7.0, 21.0).names[()] == "batch poisson"
    assert count_law(7.0, 3.0000001 * 7.0).names[()] == "negative binomial"
    # sums of forecast periods keep var / mean a whole number up to round-off
    m = np.array([0.1, 0.2, 0.3]).sum()
    assert count_law(m, np.array([0.1, 0.2, 0.3]).sum() * 4).kind[()] == BATCH_POISSON
    # var None means Poisson; scalars give 0-d laws
    assert count_law(3.0).kind.shape == () and count_law(3.0).kind[()] == POISSON
    # mean 0: all mass at 0, whatever the variance
    z = count_law(0.0, 5.0)
    assert z.cdf(0) == 1.0 and z.quantiles([0.99]).tolist() == [0] and z.loss(0) == 0.0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, -1e-12])
def test_rule_rejects_nan_inf_and_negative(bad):
    with pytest.raises(ValueError, match="mean must be finite and >= 0"):
        count_law([1.0, bad], [1.0, 1.0])
    with pytest.raises(ValueError, match="var must be finite and >= 0"):
        count_law([1.0, 1.0], [bad, 2.0])


def test_names_and_repr():
    d = count_law([2.0, 2.0, 2.0], [2.0, 6.0, 5.0])
    assert d.names.tolist() == list(counts.LAW_NAMES)
    assert repr(d) == "CountLaw(cells=3, poisson=1, batch_poisson=1, negative_binomial=1)"


# ---------------------------------------------------------------------------------------
# Each law against scipy and brute force
# ---------------------------------------------------------------------------------------


def test_cdf_sf_pmf_equal_scipy_on_a_grid():
    m, v, _ = _grid()
    law = count_law(m, v)
    assert set(law.kind.tolist()) == {POISSON, BATCH_POISSON, NEGATIVE_BINOMIAL}
    for i in range(m.size):
        k = _support(m[i], v[i]).astype(float)
        cdf, pmf = _scipy(m[i], v[i], law.kind[i], law.unit[i])
        cell = count_law(m[i], v[i])
        np.testing.assert_allclose(cell.cdf(k), cdf(k), rtol=1e-10, atol=1e-14, err_msg=str((m[i], v[i])))
        np.testing.assert_allclose(cell.sf(k), 1 - cdf(k), rtol=1e-7, atol=1e-12, err_msg=str((m[i], v[i])))
        np.testing.assert_allclose(cell.pmf(k), pmf(k), rtol=1e-9, atol=1e-15, err_msg=str((m[i], v[i])))
        assert cell.cdf(-1) == 0.0 and cell.sf(-1) == 1.0 and cell.pmf(-1) == 0.0


def test_sf_is_accurate_in_the_far_tail():
    # P(D > k) far beyond the mean: direct, not 1 - cdf (which would be 0)
    for m, v in ((2.0, 2.0), (2.0, 6.0), (2.0, 5.0)):
        k = 60.0
        kind = count_law(m, v).kind[()]
        if kind == POISSON:
            want = stats.poisson.sf(k, m)
        elif kind == BATCH_POISSON:
            want = stats.poisson.sf(np.floor(k / 3), m / 3)
        else:
            want = stats.nbinom.sf(k, m * m / (v - m), m / v)
        got = count_law(m, v).sf(k)
        assert 0 < want < 1e-12
        assert got == pytest.approx(want, rel=1e-9, abs=0)


def test_moments_and_losses_equal_brute_force_sums():
    m, v, _ = _grid()
    for i in range(m.size):
        if not 1e-4 <= m[i] <= 300:
            # the brute-force support gets long above 300 (1e4 is in the scipy tests); below
            # 1e-4 scipy's own NB pmf (the brute force) loses digits for r ~ 1e-10, while
            # the closed forms stay exact (test_loss_at_level_zero...)
            continue
        cell = count_law(m[i], v[i])
        x = _support(m[i], v[i]).astype(float)
        p = cell.pmf(x)
        assert p.sum() == pytest.approx(1.0, abs=1e-9)
        assert (x * p).sum() == pytest.approx(m[i], rel=1e-9, abs=1e-15)
        assert ((x - m[i]) ** 2 * p).sum() == pytest.approx(float(cell.var), rel=1e-8, abs=1e-15)
        s = np.arange(0.0, min(x[-1], m[i] + 12 * np.sqrt(max(v[i], m[i])) + 12))
        over = np.clip(x[None, :] - s[:, None], 0, None)
        scale = max(m[i], 1e-12)
        np.testing.assert_allclose(cell.loss(s), (over * p).sum(1), rtol=1e-9, atol=1e-12 * scale)
        np.testing.assert_allclose(cell.second_loss(s), (over**2 * p).sum(1), rtol=1e-8,
                                   atol=1e-12 * max(float(cell.var) + m[i] ** 2, 1e-12))


def test_loss_at_level_zero_is_the_mean_and_large_means_stay_accurate():
    m, v, _ = _grid()
    law = count_law(m, v)
    np.testing.assert_allclose(law.loss(np.zeros(m.size)), m, rtol=1e-12)
    # 1e4: E[(D - s)+] - E[(s - D)+] = m - s for every law, at s on both sides of the mean
    big = count_law(np.full(5, 1e4), 1e4 * np.array([1.0, 1.0 + 1e-6, 2.0, 2.5, 40.0]))
    for s in (9000.0, 1e4, 11000.0):
        under = big.loss(s) - (1e4 - s)  # = E[(s - D)+] >= 0
        assert np.all(under >= -1e-7)


# ---------------------------------------------------------------------------------------
# Quantiles
# ---------------------------------------------------------------------------------------


def test_ppf_and_quantiles_invert_the_cdf():
    m, v, _ = _grid()
    law = count_law(m, v)
    levels = [0.025, 0.1, 0.5, 0.9, 0.99, 0.999]
    q = law.quantiles(levels)
    assert q.dtype == np.int64 and q.shape == (m.size, len(levels))
    lv = np.asarray(levels)[None, :]
    at, below = law_cdf(law, q), law_cdf(law, q - 1)
    assert np.all(at >= lv - 1e-12) and np.all(below < lv)
    # ppf (bisection on the cdf) agrees with quantiles (the fast Poisson route)
    np.testing.assert_array_equal(
        count_law(m[:, None], v[:, None]).ppf(lv), q)
    # batch laws give multiples of their batch
    assert np.all(q % law.unit.astype(np.int64)[:, None] == 0)


def law_cdf(law, k):
    """cdf of each row's law at a (cells, L) array of counts."""
    return count_law(law.mean[:, None], law.var[:, None]).cdf(k)


def test_round_trip_ppf_of_cdf():
    # ppf(cdf(k)) = k for every k in the support (where the pmf is positive)
    for m, v in ((0.7, 0.7), (13.0, 13.0), (2.0, 6.0), (13.0, 130.0), (2.0, 5.0), (13.0, 13.0 * 1.000001)):
        cell = count_law(m, v)
        k = _support(m, v)[:40].astype(float)
        k = k[cell.pmf(k) > 1e-12]
        np.testing.assert_array_equal(cell.ppf(cell.cdf(k)), k)


def test_quantiles_equal_scipy_ppf():
    m, v, _ = _grid()
    law = count_law(m, v)
    levels = np.array([0.5, 0.9, 0.99])
    got = law.quantiles(levels)
    for i in range(m.size):
        if law.kind[i] == NEGATIVE_BINOMIAL:
            want = stats.nbinom.ppf(levels, m[i] ** 2 / (v[i] - m[i]), m[i] / v[i])
        else:
            q = law.unit[i]
            want = q * stats.poisson.ppf(levels, m[i] / q)
        np.testing.assert_array_equal(got[i], want.astype(np.int64), err_msg=str((m[i], v[i])))


def test_ppf_levels_are_checked_and_level_one_only_for_bounded_counts():
    assert count_law(0.0).ppf(1.0) == 0
    with pytest.raises(ValueError, match="cannot be reached"):
        count_law(2.0).ppf(1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        count_law(2.0).ppf(1.5)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        count_law(2.0).quantiles([0.0])
    assert count_law(2.0).ppf(0.0) == 0
    assert count_law([1.0, 2.0]).quantiles([]).shape == (2, 0)


# ---------------------------------------------------------------------------------------
# The exact compound Poisson it is measured against
# ---------------------------------------------------------------------------------------


def test_batch_law_is_the_exact_compound_poisson_of_one_quantity():
    lam = np.array([1e-6, 0.05, 0.6, 3.0, 40.0])
    for q in (2, 5):
        rates = np.zeros((lam.size, q))
        rates[:, q - 1] = lam
        law = count_law(q * lam, q * q * lam)
        assert (law.kind == BATCH_POISSON).all()
        levels = [0.1, 0.5, 0.9, 0.99]
        np.testing.assert_array_equal(law.quantiles(levels), counts.compound_poisson_quantiles(rates, levels))
        y = np.array([0, q, 3 * q + 1, 7 * q, 40 * q])
        np.testing.assert_allclose(law.cdf(y), counts.compound_poisson_cdf(rates, y), rtol=1e-12)
