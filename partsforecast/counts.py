"""Count laws of demand, and the one rule that says which law a (mean, variance) gets.

Every count distribution in the package -- the forecast's quantiles, the lead-time demand,
the stocking formulas (fill rate, backorders), the intermittent methods' quantiles and the
scores of forecasts -- comes from :func:`count_law`, so one (mean, variance) gives one
distribution everywhere.

The rule
--------
For a count ``D`` with mean ``m >= 0`` and variance ``v >= 0``:

* ``v <= m (1 + RATIO_RTOL)`` or ``m = 0``: **Poisson(m)** (a variance below the mean is
  taken as Poisson's: the laws here cannot be narrower than Poisson);
* ``v / m`` a whole number ``q >= 2`` (within a relative ``RATIO_RTOL``): **batch Poisson**
  ``D = q N`` with ``N ~ Poisson(m / q)`` -- the exact law of a part taken ``q`` units at a
  time by Poisson failures (compound Poisson with one quantity, variance ``q m``);
* otherwise: **negative binomial** with that mean and variance, ``NB(r, p)`` with
  ``r = m^2 / (v - m)`` and ``p = m / v`` (the gamma-Poisson mixture used for
  over-dispersed demand by VARI-METRIC, Sherbrooke 1986, and by the intermittent-demand
  literature, Syntetos & Boylan 2021).

All laws are vectorised over arrays of cells: :class:`CountLaw` holds one law per cell and
gives :meth:`~CountLaw.cdf`, :meth:`~CountLaw.sf`, :meth:`~CountLaw.pmf`,
:meth:`~CountLaw.ppf`, :meth:`~CountLaw.quantiles` and the loss functions
:meth:`~CountLaw.loss` (``E[(D - s)+]``, expected backorders) and
:meth:`~CountLaw.second_loss` (``E[((D - s)+)^2]``, for the variance of backorders).

Also here: :func:`poisson_quantiles` (many Poisson quantiles at once) and the exact law of
compound Poisson demand with several quantities per failure
(:func:`compound_poisson_cdf`, :func:`compound_poisson_quantiles`, by Panjer's recursion),
which the package uses to measure the rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import special, stats

__all__ = [
    "CountLaw",
    "count_law",
    "POISSON",
    "BATCH_POISSON",
    "NEGATIVE_BINOMIAL",
    "LAW_NAMES",
    "RATIO_RTOL",
    "poisson_quantiles",
    "compound_poisson_quantiles",
    "compound_poisson_cdf",
]

#: Law code of Poisson(mean) cells.
POISSON = 0
#: Law code of batch-Poisson cells: ``q * Poisson(mean / q)`` with ``q = var / mean`` whole.
BATCH_POISSON = 1
#: Law code of negative-binomial cells.
NEGATIVE_BINOMIAL = 2
#: Names of the law codes, indexed by code.
LAW_NAMES = ("poisson", "batch poisson", "negative binomial")
#: Relative tolerance of the rule: a variance within ``RATIO_RTOL`` of the mean is Poisson,
#: a ratio ``var / mean`` within ``RATIO_RTOL`` of a whole number ``q >= 2`` is a batch of q.
#: (Sums of forecast periods keep ``var / mean`` within ~1e-15 of ``q``; the NB fit
#: ``r = m^2 / (v - m)`` explodes as ``v -> m``.)
RATIO_RTOL = 1e-9


def _check(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    bad = ~np.isfinite(a) | (a < 0)
    if bad.any():
        raise ValueError(f"count_law: {name} must be finite and >= 0; {int(bad.sum())} value(s) are not "
                         f"(first: {a[bad].flat[0]!r})")
    return a


def count_law(mean: Any, var: Any = None) -> CountLaw:
    """The count law of cells with these means and variances (the package's one rule).

    Parameters
    ----------
    mean : float or array_like
        Mean of each cell's count, finite and >= 0.
    var : float or array_like, optional
        Variance of each cell's count, finite and >= 0, broadcast against ``mean``.
        ``None`` means Poisson (``var = mean``).

    Returns
    -------
    CountLaw
        One law per cell of the broadcast shape: Poisson where ``var <= mean``, batch
        Poisson ``q * Poisson(mean / q)`` where ``var / mean`` is a whole number ``q >= 2``,
        negative binomial otherwise (see the module's description of the rule).

    Raises
    ------
    ValueError
        A mean or variance that is negative, NaN or infinite.

    Examples
    --------
    >>> from partsforecast.counts import count_law
    >>> d = count_law([2.0, 2.0, 2.0], [2.0, 6.0, 5.0])
    >>> d.names.tolist()
    ['poisson', 'batch poisson', 'negative binomial']
    >>> d.quantiles([0.9])[:, 0].tolist()
    [4, 6, 5]
    """
    m = _check(mean, "mean")
    v = m if var is None else _check(var, "var")
    m, v = np.broadcast_arrays(m, v)
    pos = m > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(pos, v / np.where(pos, m, 1.0), 1.0)
    q = np.round(ratio)
    over = pos & (ratio > 1.0 + RATIO_RTOL)
    batch = over & (q >= 2) & (np.abs(ratio - q) <= RATIO_RTOL * q)
    kind = np.where(batch, BATCH_POISSON, np.where(over, NEGATIVE_BINOMIAL, POISSON)).astype(np.int8)
    return CountLaw(m, v, kind, np.where(batch, q, 1.0))


class CountLaw:
    """Count laws of many cells at once: Poisson, batch Poisson or negative binomial.

    Made by :func:`count_law`, which picks each cell's law from its mean and variance.
    Every method broadcasts its argument against the cells' shape.

    Internally each cell is ``D = unit * B`` with a *base* law ``B``: Poisson(mean / unit)
    for Poisson (``unit = 1``) and batch-Poisson cells, NB(r, p) for negative-binomial ones
    (``unit = 1``). The loss functions use the size-biased identities of the base laws,
    ``n p_r(n) = E[B] p_{r+1}(n - 1)`` and ``n (n - 1) p_r(n) = E[B(B-1)] p_{r+2}(n - 2)``
    (for Poisson the shifted laws are the law itself), so they are closed forms with no
    sum over the support.

    Parameters
    ----------
    mean, var : ndarray
        Means and variances of the cells (as given to :func:`count_law`; a Poisson cell's
        variance is set to its mean).
    kind : ndarray of int
        Law code per cell (:data:`POISSON`, :data:`BATCH_POISSON`,
        :data:`NEGATIVE_BINOMIAL`).
    unit : ndarray
        Batch size per cell (1 except for batch-Poisson cells).

    Attributes
    ----------
    mean, var : ndarray
        Mean and variance of each cell's count.
    kind : ndarray of int8
        Law code of each cell.
    unit : ndarray
        Batch size ``q`` of each cell (1 unless batch Poisson).
    """

    def __init__(self, mean: np.ndarray, var: np.ndarray, kind: np.ndarray, unit: np.ndarray):
        self.mean = np.asarray(mean, dtype=float)
        self.kind = np.asarray(kind, dtype=np.int8)
        self.unit = np.asarray(unit, dtype=float)
        nb = self.kind == NEGATIVE_BINOMIAL
        self.var = np.where(self.kind == POISSON, self.mean, np.asarray(var, dtype=float))
        self._nb = nb
        self._mb = self.mean / self.unit  # mean of the base law
        self._vb = np.where(nb, self.var, self._mb)  # its variance
        with np.errstate(divide="ignore", invalid="ignore"):
            self._p = np.where(nb, self.mean / np.where(nb, self.var, 1.0), 1.0)
            self._r = np.where(nb, self.mean**2 / np.where(nb, self.var - self.mean, 1.0), 1.0)

    # -- description ---------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the array of cells."""
        return self.mean.shape

    @property
    def names(self) -> np.ndarray:
        """Name of each cell's law (``"poisson"``, ``"batch poisson"``, ``"negative binomial"``)."""
        return np.asarray(LAW_NAMES, dtype=object)[self.kind.ravel()].reshape(self.kind.shape)

    def __repr__(self) -> str:
        counts = np.bincount(self.kind.ravel(), minlength=3)
        return (f"CountLaw(cells={self.mean.size}, poisson={counts[0]}, batch_poisson={counts[1]}, "
                f"negative_binomial={counts[2]})")

    # -- the base law B (D = unit * B) ----------------------------------------------------

    def _parts(self, x: Any) -> tuple[np.ndarray, ...]:
        x = np.asarray(x, dtype=float)
        return np.broadcast_arrays(x, self._nb, self._mb, self._r, self._p, self.unit)

    def _base_cdf(self, j, nb, mb, r, p, shift: int = 0) -> np.ndarray:
        """P(B_shift <= j) for whole j (0 for j < 0)."""
        out = np.zeros(j.shape)
        ok = j >= 0
        po, nn = ok & ~nb, ok & nb
        out[po] = special.gammaincc(j[po] + 1.0, mb[po])
        out[nn] = special.betainc(r[nn] + shift, j[nn] + 1.0, p[nn])
        return out

    def _base_sf(self, j, nb, mb, r, p, shift: int = 0) -> np.ndarray:
        """P(B_shift > j), computed directly (not 1 - cdf) to keep the tail accurate."""
        out = np.ones(j.shape)
        ok = j >= 0
        po, nn = ok & ~nb, ok & nb
        out[po] = special.gammainc(j[po] + 1.0, mb[po])
        # I_{1-p}(j+1, r) = 1 - I_p(r, j+1)
        out[nn] = special.betainc(j[nn] + 1.0, r[nn] + shift, 1.0 - p[nn])
        return out

    # -- distribution ---------------------------------------------------------------------

    def cdf(self, k: Any) -> np.ndarray:
        """P(D <= k), for whole (or real) ``k``; 0 for ``k < 0``.

        Parameters
        ----------
        k : array_like
            Counts, broadcast against the cells.

        Returns
        -------
        ndarray
        """
        k, nb, mb, r, p, u = self._parts(k)
        return self._base_cdf(np.floor(k / u), nb, mb, r, p)

    def sf(self, k: Any) -> np.ndarray:
        """P(D > k), computed directly (accurate in the far tail); 1 for ``k < 0``.

        Parameters
        ----------
        k : array_like
            Counts, broadcast against the cells.

        Returns
        -------
        ndarray
        """
        k, nb, mb, r, p, u = self._parts(k)
        return self._base_sf(np.floor(k / u), nb, mb, r, p)

    def pmf(self, k: Any) -> np.ndarray:
        """P(D = k); 0 off the support (negative, fractional, or not a multiple of a batch).

        Parameters
        ----------
        k : array_like
            Counts, broadcast against the cells.

        Returns
        -------
        ndarray
        """
        k, nb, mb, r, p, u = self._parts(k)
        j = k / u
        on = (j >= 0) & (j == np.floor(j))
        out = np.zeros(k.shape)
        po, nn = on & ~nb, on & nb
        # scipy's pmf, not exp(logpmf): for NB with large r the log form loses ~1e-9 to
        # gammaln cancellation
        out[po] = stats.poisson.pmf(j[po], mb[po])
        out[nn] = stats.nbinom.pmf(j[nn], r[nn], p[nn])
        return out

    def ppf(self, level: Any) -> np.ndarray:
        """Smallest whole ``k >= 0`` with ``P(D <= k) >= level``, per cell.

        Found by bisection on :meth:`cdf` itself, so that a quantile and the distribution
        function never disagree on a boundary.

        Parameters
        ----------
        level : float or array_like
            Probability levels in [0, 1], broadcast against the cells. A level of 1 is
            reached only by cells whose count is bounded (mean 0).

        Returns
        -------
        ndarray of int64
        """
        q = np.asarray(level, dtype=float)
        if np.any(~(q >= 0) | (q > 1)):
            raise ValueError(f"levels must lie in [0, 1]; got {level!r}")
        q, nb, mb, r, p, u = self._parts(q)
        if np.any((q >= 1) & (mb > 0)):
            raise ValueError("ppf: a level of 1 cannot be reached by a count with positive mean "
                             "(Poisson and negative binomial counts are unbounded)")
        vb = np.broadcast_to(self._vb, q.shape)
        hi = np.ceil(mb + 6.0 * np.sqrt(vb) + 5.0)
        for _ in range(200):  # grow the bracket (only heavy NB tails need this)
            short = self._base_cdf(hi, nb, mb, r, p) < q
            if not short.any():
                break
            hi = np.where(short, 2.0 * hi + 1.0, hi)
        else:  # (not reached: the cdf of these laws rounds to 1 within ~40 sd)
            raise ValueError("ppf: the level is not reached")
        lo = np.full(q.shape, -1.0)
        while np.any(hi - lo > 1):
            mid = np.floor((lo + hi) / 2.0)
            ge = self._base_cdf(mid, nb, mb, r, p) >= q
            hi = np.where(ge, mid, hi)
            lo = np.where(ge, lo, mid)
        return (np.where(q <= 0, 0.0, hi) * u).astype(np.int64)

    def quantiles(self, levels: Sequence[float]) -> np.ndarray:
        """Quantiles of every cell at a few levels (the columns ``q0.5`` ... of a forecast).

        Poisson and batch-Poisson cells take the fast exact route of
        :func:`poisson_quantiles`; negative-binomial cells :meth:`ppf`.

        Parameters
        ----------
        levels : sequence of float in (0, 1)

        Returns
        -------
        ndarray of int64, shape ``cells.shape + (len(levels),)``
        """
        levels = [float(x) for x in levels]
        if any(not 0 < x < 1 for x in levels):
            raise ValueError(f"quantile levels must lie strictly between 0 and 1; got {levels}")
        out = np.zeros(self.shape + (len(levels),), dtype=np.int64)
        if not levels:
            return out
        nb = self._nb
        po = ~nb
        if po.any():
            out[po] = poisson_quantiles(self._mb[po], levels) * self.unit[po].astype(np.int64)[:, None]
        if nb.any():
            sub = CountLaw(self.mean[nb][:, None], self.var[nb][:, None], self.kind[nb][:, None],
                           self.unit[nb][:, None])
            out[nb] = sub.ppf(np.asarray(levels)[None, :])
        return out

    # -- partial expectations -------------------------------------------------------------
    # Each has an "upper" form (sums over n > t; tiny, accurate terms when t >= mean) and a
    # "lower" form (sums over n <= t; accurate when t < mean). Both are exact; picking per
    # cell avoids cancellation between large terms.

    def loss(self, s: Any) -> np.ndarray:
        """First-order loss E[(D - s)+]: the expected backorders of base-stock level ``s``.

        Parameters
        ----------
        s : array_like
            Levels (>= 0), broadcast against the cells.

        Returns
        -------
        ndarray
        """
        s, nb, mb, r, p, u = self._parts(s)
        t = s / u
        j = np.floor(t)
        upper = mb * self._base_sf(j - 1, nb, mb, r, p, 1) - t * self._base_sf(j, nb, mb, r, p)
        lower = (mb - t) + t * self._base_cdf(j, nb, mb, r, p) - mb * self._base_cdf(j - 1, nb, mb, r, p, 1)
        return np.maximum(np.where(t >= mb, upper, lower), 0.0) * u

    def second_loss(self, s: Any) -> np.ndarray:
        """Second-order loss E[((D - s)+)^2] (with :meth:`loss`: the variance of backorders).

        Parameters
        ----------
        s : array_like
            Levels (>= 0), broadcast against the cells.

        Returns
        -------
        ndarray
        """
        s, nb, mb, r, p, u = self._parts(s)
        vb = np.broadcast_to(self._vb, s.shape)
        t = s / u
        j = np.floor(t)
        a2 = vb + mb * mb - mb  # E[B(B-1)]
        upper = (a2 * self._base_sf(j - 2, nb, mb, r, p, 2) + (1 - 2 * t) * mb * self._base_sf(j - 1, nb, mb, r, p, 1)
                 + t * t * self._base_sf(j, nb, mb, r, p))
        low = (a2 * self._base_cdf(j - 2, nb, mb, r, p, 2) + (1 - 2 * t) * mb * self._base_cdf(j - 1, nb, mb, r, p, 1)
               + t * t * self._base_cdf(j, nb, mb, r, p))
        lower = vb + (mb - t) ** 2 - low
        return np.maximum(np.where(t >= mb, upper, lower), 0.0) * u * u


# ---------------------------------------------------------------------------------------
# Poisson quantiles in bulk
# ---------------------------------------------------------------------------------------


def poisson_quantiles(lam: Any, levels: Sequence[float]) -> np.ndarray:
    """Quantiles of Poisson(λ) counts for many λ at once, exactly.

    The level-τ quantile is the smallest n with P(N ≤ n) ≥ τ. Since P(N ≤ n) = Q(n + 1, λ)
    (the regularised upper incomplete gamma function) falls in λ, it is the number of
    breakpoints λₙ = Q⁻¹(n + 1, τ) below λ: a sorted search, not a recursion per cell.

    Parameters
    ----------
    lam : (C,) array
        Poisson means (≥ 0).
    levels : sequence of float in (0, 1)

    Returns
    -------
    (C, L) ndarray of int64
    """
    lam = np.asarray(lam, float).ravel()
    out = np.zeros((lam.size, len(levels)), dtype=np.int64)
    top = float(lam.max(initial=0.0))
    n_max = int(top + 10 * np.sqrt(top) + 40)
    n = np.arange(n_max + 1)
    for i, level in enumerate(levels):
        breaks = special.gammainccinv(n + 1, level)
        while breaks[-1] < top:  # (never for sane levels: n_max is ~10σ past the largest mean)
            n = np.arange(2 * n.size)
            breaks = special.gammainccinv(n + 1, level)
        # (a relative 1e-12 of slack: a mean that sits on a breakpoint up to round-off
        # reaches the level, as in compound_poisson_quantiles)
        out[:, i] = np.searchsorted(breaks * (1 + 1e-12), lam, side="left")
    return out


# ---------------------------------------------------------------------------------------
# Compound Poisson with several quantities: the exact law (Panjer's recursion)
# ---------------------------------------------------------------------------------------


def _panjer_start(rates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Set up Panjer's recursion: the weights j·λⱼ, P(D = 0) and the buffer of past pₙ."""
    rates = np.atleast_2d(np.asarray(rates, float))
    C, J = rates.shape
    j_lam = rates * np.arange(1, J + 1)
    p0 = np.exp(-rates.sum(axis=1))
    buf = np.zeros((C, J))  # buf[:, 0] is p_{n-1}, buf[:, 1] p_{n-2} ...
    buf[:, 0] = p0
    return j_lam, p0, buf


def _panjer_step(j_lam: np.ndarray, buf: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """pₙ = (1/n) Σⱼ j λⱼ pₙ₋ⱼ for the rows given, and their buffer shifted by one."""
    m = min(n, j_lam.shape[1])
    pn = np.einsum("cj,cj->c", j_lam[:, :m], buf[:, :m]) / n
    buf = np.roll(buf, 1, axis=1)
    buf[:, 0] = pn
    return pn, buf


def compound_poisson_quantiles(rates: Any, levels: Sequence[float]) -> np.ndarray:
    """Quantiles of Σⱼ j·Nⱼ with independent Nⱼ ~ Poisson(rates[:, j−1]), per row.

    The exact law of a part's demand when failures take different quantities of it (Panjer,
    1981, *ASTIN Bulletin* 12(1)): with λ = Σ λⱼ, p₀ = e^{−λ} and pₙ = (1/n) Σⱼ j λⱼ pₙ₋ⱼ.
    Vectorised over rows; rows leave the loop as soon as their distribution function passes
    the highest level. The package's forecasts report the law of :func:`count_law` instead
    (which is this one when every failure takes one quantity); this is the reference it is
    measured against.

    Parameters
    ----------
    rates : (C, J) array
        Poisson rate of failures that take j = 1..J units each, for C cells.
    levels : sequence of float in (0, 1)

    Returns
    -------
    (C, L) ndarray of int64
        The smallest n with P(D ≤ n) ≥ level.
    """
    levels = np.asarray(levels, float)
    j_lam, cdf, buf = _panjer_start(rates)
    C = j_lam.shape[0]
    out = np.zeros((C, levels.size), dtype=np.int64)
    done = cdf[:, None] >= levels[None, :]  # quantile 0
    active = np.flatnonzero(~done.all(axis=1))
    n = 0
    while active.size:
        n += 1
        pn, buf[active] = _panjer_step(j_lam[active], buf[active], n)
        cdf[active] += pn
        newly = (cdf[active, None] >= levels[None, :] - 1e-12) & ~done[active]
        if newly.any():
            r, c = np.nonzero(newly)
            out[active[r], c] = n
            done[active[r], c] = True
        still = ~done[active].all(axis=1)
        # Numerical floor: a cell whose remaining mass is below 1e-13 is finished.
        active = active[still & (1.0 - cdf[active] > 1e-13)]
    # Any level not reached because of round-off sits at the last n computed.
    out[~done] = n
    return out


def compound_poisson_cdf(rates: Any, values: Any) -> np.ndarray:
    """P(D ≤ value) for D = Σⱼ j·Nⱼ with independent Nⱼ ~ Poisson(rates[:, j−1]), per row.

    The distribution function behind :func:`compound_poisson_quantiles` (same recursion),
    for scoring against observed counts (the probability integral transform of count data
    needs P(D ≤ y) and P(D ≤ y − 1)).

    Parameters
    ----------
    rates : (C, J) array
        Poisson rate of failures that take j = 1..J units each, for C cells.
    values : (C,) array of int
        The count at which to evaluate each row's distribution function; negative values
        give 0.

    Returns
    -------
    (C,) ndarray
        P(D ≤ values[c]) per row.
    """
    values = np.asarray(values)
    if values.size and not np.array_equal(values, np.round(values)):
        raise ValueError("values must be whole counts")
    values = values.astype(np.int64)
    j_lam, p0, buf = _panjer_start(rates)
    if values.shape != (j_lam.shape[0],):
        raise ValueError(f"values must hold one count per row of rates ({j_lam.shape[0]}), "
                         f"got shape {values.shape}")
    cdf = np.where(values >= 0, p0, 0.0)
    active = np.flatnonzero(values >= 1)
    n = 0
    while active.size:
        n += 1
        pn, buf[active] = _panjer_step(j_lam[active], buf[active], n)
        cdf[active] += pn
        active = active[values[active] > n]
    return np.minimum(cdf, 1.0)
