"""Installed-base demand forecast: from component lifetimes to parts per dealer and period.

For every machine in service at ``fleet.as_of`` and every component its model carries, the
expected number of failures in each future period is the increment of the *delayed renewal
function* of that component: the first failure comes from the life conditional on the
component's current age, and every replacement starts a fresh life. Failures become parts
through the BOM and are summed per servicing location.

The lifetime model is read through the :class:`~partsforecast.reliability.LifetimeModel`
protocol only: its groups and, per row of components, the expected renewals over operating
hours. A :class:`~partsforecast.reliability.WeibullLifetimeModel` (a fitted
:class:`~partsforecast.FailureModel`, or one made by ``FailureModel.from_params``) takes the
fast path: renewal tables per Weibull shape, shared by all rows.

Count distribution
------------------
Failures of one component on one machine in one period are (almost always) 0 or 1 with a
small probability; their sum over the machines at a dealer is Poisson-binomial, which the
Poisson law with the same mean approximates with total-variation error at most Σ pᵢ² (Le Cam,
1960; Barbour & Hall, 1984 give min(1, 1/λ)·Σ pᵢ²). So failures per (location, model,
component, period) are taken as independent Poissons, and the demand for a part, which is
``qty_per_replacement`` units per failure of every group that uses it, is *compound* Poisson.
Its distribution is computed exactly by Panjer's recursion (Panjer, 1981), which gives the
quantiles. The approximation is conservative for stocking: the Poisson variance is at least
the Poisson-binomial one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from partsforecast.lives import fleet_lives
from partsforecast.reliability import LifetimeModel, WeibullLifetimeModel

__all__ = [
    "forecast_demand",
    "lead_time_demand",
    "forecast_span_days",
    "renewal_function",
    "expected_failures",
    "compound_poisson_quantiles",
    "compound_poisson_cdf",
    "poisson_quantiles",
    "scaled_poisson_quantiles",
    "recent_sales",
    "DEFAULT_QUANTILES",
]

#: Quantile levels a forecast reports unless told otherwise (columns ``q0.5`` … ``q0.99``).
DEFAULT_QUANTILES = (0.5, 0.8, 0.9, 0.95, 0.99)

# Renewal-function table: grid points per shape over [0, the largest argument needed, at
# most X_MAX] in units of the Weibull scale. Beyond X_MAX the asymptote x/μ + (σ²−μ²)/(2μ²)
# (Smith's theorem) is used; at 30 scales it is accurate to better than 1e-6 for every
# shape ≥ 0.5.
_GRID_POINTS = (300, 600, 1200, 2400)
# ... chosen per shape as the fewest that give a step of at most this many scales (the
# scheme's relative error is about step²/12).
_GRID_STEP = 0.01
_X_MAX = 30.0
# Later renewals are integrated on a uniform grid of each row's horizon whose step is at most
# this many scales; rows are grouped by the number of steps they need (a few classes, at
# most 768 steps: beyond 38 scales in the horizon the step grows past 0.05 scales).
_MAX_STEP = 0.05
_STEP_CLASSES = (12, 24, 48, 96, 192, 384, 768)
# A machine-component whose renewal function over the whole horizon stays below this adds
# less than this to any period's mean; its second and later failures are skipped.
_RENEWAL_TOL = 1e-7
# Threads for blocks of rows: numpy releases the GIL inside its loops, so two cores give
# nearly twice the speed.
_THREADS = max(1, min(4, os.cpu_count() or 1))
# Rows of machine-components handled at once: the (rows × grid) work arrays stay ~100 MB.
_CHUNK_ROWS = 200_000


def _weibull_cdf(x: np.ndarray, shape: np.ndarray | float) -> np.ndarray:
    return -np.expm1(-np.power(np.maximum(x, 0.0), shape))


def renewal_function(x: np.ndarray, shape: float | np.ndarray) -> np.ndarray:
    """Ordinary renewal function M(x) of a Weibull life with unit scale.

    M(x) is the expected number of failures in [0, x] of a component that is new at 0 and
    replaced at every failure. Computed by the Riemann–Stieltjes scheme of Xie (1989),
    "On the solution of renewal-type integral equations", *Commun. Statist. Simul.*
    18(1), on a grid per shape up to the largest ``x`` asked (at most 30 scales) with steps
    of at most 0.01 scales (300 to 2,400 points),
    by Smith's asymptote beyond 30 scales, and in the first grid cell by the small-x series
    M(x) ≈ x^k + (Γ(1+k)²/Γ(1+2k) − ½)·x^{2k}.

    Parameters
    ----------
    x : array_like
        Operating time in units of the scale (hours / scale).
    shape : float or array_like
        Weibull shape, broadcast against ``x``.

    Returns
    -------
    ndarray
        M(x), same shape as the broadcast inputs.
    """
    x, shape = np.broadcast_arrays(np.asarray(x, float), np.asarray(shape, float))
    tables, row = _RenewalTables.for_values(shape.ravel(), x.ravel())
    return tables.M(row.reshape(x.shape), x)


class _RenewalTables:
    """M(x) and ∫₀ˣ M on a uniform grid per Weibull shape (unit scale), for fast lookups.

    Each shape gets its own grid up to the largest argument its rows need (at most
    ``_X_MAX``). Inside the first grid cell M follows its small-x series x^k + c·x^{2k}
    (where a straight line would be far off for shapes below one), corrected linearly to
    meet the table at the first grid point; elsewhere M is linear between grid points and
    its integral exact for that line.
    Built once per forecast and shared by every block of rows.
    """

    def __init__(self, shapes: np.ndarray, x_max: np.ndarray):
        from scipy.special import gamma

        self.shapes = np.asarray(shapes, float)
        self.x_max = np.clip(np.broadcast_to(np.asarray(x_max, float), self.shapes.shape), 1e-9, _X_MAX)
        need = np.ceil(self.x_max / _GRID_STEP)
        cls = np.minimum(np.searchsorted(_GRID_POINTS, need), len(_GRID_POINTS) - 1)
        self.n = np.asarray(_GRID_POINTS)[cls]
        width = int(self.n.max(initial=_GRID_POINTS[0])) + 1
        self.table = np.zeros((len(self.shapes), width))
        self.dx = self.x_max / self.n
        for c in np.unique(cls):
            idx = np.flatnonzero(cls == c)
            n = _GRID_POINTS[c]
            self.table[idx, : n + 1] = _renewal_tables(self.shapes[idx], self.x_max[idx], n)
        k, M, dx = self.shapes, self.table, self.dx
        # First cell: the small-x series plus the line that meets the table at x₁.
        self.gap = M[:, 1] - _small_x_series(dx, k)
        cells = 0.5 * (M[:, 1:] + M[:, :-1]) * dx[:, None]
        cells[:, 0] = _small_x_series(dx, k, integral=True) + 0.5 * self.gap * dx
        self.integral = np.concatenate([np.zeros((len(k), 1)), np.cumsum(cells, axis=1)], axis=1)
        self.mu = gamma(1 + 1 / k)
        self.c0 = (gamma(1 + 2 / k) - 2 * self.mu**2) / (2 * self.mu**2)  # (σ² − μ²)/(2μ²)

    @classmethod
    def for_values(cls, shape: np.ndarray, x: np.ndarray) -> tuple[_RenewalTables, np.ndarray]:
        """Tables for the distinct values of ``shape``, each reaching the largest ``x`` paired
        with it, and the table row of every entry of ``shape``."""
        uniq, row = np.unique(shape, return_inverse=True)
        x_max = np.zeros(uniq.size)
        np.maximum.at(x_max, row, np.nan_to_num(x, posinf=_X_MAX))
        return cls(uniq, x_max), row

    def _locate(self, row: np.ndarray, x: np.ndarray):
        n = self.n[row]
        pos = np.clip(x / self.dx[row], 0.0, n)
        lo = np.minimum(pos.astype(np.int64), n - 1)
        width = self.table.shape[1]
        return pos, lo, pos - lo, row * width + lo, x > self.x_max[row] * (1 + 1e-12)

    def M(self, row: np.ndarray, x: np.ndarray) -> np.ndarray:
        """M(x) for rows of shapes ``row`` (indices into ``shapes``)."""
        pos, lo, frac, base, beyond = self._locate(row, x)
        flat = self.table.ravel()
        out = flat[base] * (1 - frac) + flat[base + 1] * frac
        first = lo == 0
        if np.any(first):
            r = row[first]
            out[first] = _small_x_series(x[first], self.shapes[r]) + self.gap[r] * pos[first]
        if np.any(beyond):
            r = row[beyond]
            out[beyond] = x[beyond] / self.mu[r] + self.c0[r]
        return out

    def integral_M(self, row: np.ndarray, x: np.ndarray) -> np.ndarray:
        """∫₀ˣ M(u) du for rows of shapes ``row``."""
        pos, lo, frac, base, beyond = self._locate(row, x)
        flat, cum = self.table.ravel(), self.integral.ravel()
        dx = self.dx[row]
        m0, m1 = flat[base], flat[base + 1]
        out = cum[base] + dx * frac * (m0 + 0.5 * (m1 - m0) * frac)
        first = lo == 0
        if np.any(first):
            out[first] = self._first_cell_integral(row[first], x[first])
        if np.any(beyond):
            r = row[beyond]
            x0, xb = self.x_max[r], x[beyond]
            out[beyond] = (self.integral[r, self.n[r]] + (xb**2 - x0**2) / (2 * self.mu[r])
                           + self.c0[r] * (xb - x0))
        return out

    def _first_cell_integral(self, row: np.ndarray, x: np.ndarray) -> np.ndarray:
        return (_small_x_series(x, self.shapes[row], integral=True)
                + 0.5 * self.gap[row] * x**2 / self.dx[row])

    def integral_M_grid(self, row: np.ndarray, u: np.ndarray, n_steps: int) -> np.ndarray:
        """∫₀ˣ M at x = j·u, j = 0..n_steps, for rows of shapes ``row`` (fast path).

        Per-row quantities are gathered once, not once per grid point.
        """
        dx, n = self.dx[row], self.n[row]
        pos = (u / dx)[:, None] * np.arange(n_steps + 1)
        beyond = pos > n[:, None] * (1 + 1e-12)
        np.minimum(pos, n[:, None], out=pos)
        lo = pos.astype(np.int64)
        np.minimum(lo, (n - 1)[:, None], out=lo)
        frac = pos - lo
        base = lo + (row * self.table.shape[1])[:, None]
        m0 = self.table.ravel()[base]
        m1 = self.table.ravel()[base + 1]
        out = self.integral.ravel()[base]
        out += dx[:, None] * frac * (m0 + 0.5 * (m1 - m0) * frac)
        first = lo == 0
        if first.any():
            r, c = np.nonzero(first)
            out[r, c] = self._first_cell_integral(row[r], u[r] * c)
        if beyond.any():
            r, c = np.nonzero(beyond)
            out[r, c] = self.integral_M(row[r], u[r] * c)
        return out


def _small_x_series(x: np.ndarray, k: np.ndarray, integral: bool = False) -> np.ndarray:
    """M(x) ≈ x^k + c·x^{2k} as x → 0, c = Γ(1+k)²/Γ(1+2k) − ½ (or its integral from 0).

    F(x) = x^k − x^{2k}/2 + …, and the second convolution power F*F(x) =
    Γ(1+k)²/Γ(1+2k)·x^{2k} + …; the next terms are O(x^{3k}).
    """
    from scipy.special import gamma

    c = gamma(1 + k) ** 2 / gamma(1 + 2 * k) - 0.5
    if integral:
        return x ** (k + 1) / (k + 1) + c * x ** (2 * k + 1) / (2 * k + 1)
    return x**k + c * x ** (2 * k)


def _renewal_tables(shapes: np.ndarray, x_max: np.ndarray, n: int) -> np.ndarray:
    """M on n + 1 uniform grid points up to x_max, for every shape at once (rows).

    A loop over grid steps only.
    """
    dx = np.asarray(x_max, float) / n
    grid = np.arange(n + 1)[None, :] * dx[:, None]
    F = _weibull_cdf(grid, shapes[:, None])  # (U, n+1)
    dF = np.diff(F, axis=1)  # dF[:, j-1] = F(x_j) − F(x_{j−1})
    M = np.zeros_like(F)
    half = np.zeros_like(F)  # half[:, m] = (M_m + M_{m+1}) / 2, filled as M grows
    # In the first cell M follows its small-x series S (M ~ x^k): a straight line there is
    # 30% off at the midpoint for k = 0.5, and the error would travel up the whole table.
    # M on the first cell is S plus the straight line that makes it meet M₁.
    k = np.asarray(shapes, float)
    s_mid, s_end = _small_x_series(dx / 2, k), _small_x_series(dx, k)
    M[:, 1] = (F[:, 1] + dF[:, 0] * (s_mid - 0.5 * s_end)) / (1.0 - 0.5 * dF[:, 0])
    half[:, 0] = s_mid + 0.5 * (M[:, 1] - s_end)
    for i in range(2, n + 1):
        # M_i = F_i + Σ_{j=1..i} dF_j · M(x_i − x_{j−½}); the j = 1 term holds M_i itself.
        acc = F[:, i] + 0.5 * dF[:, 0] * M[:, i - 1]
        acc += np.einsum("uj,uj->u", dF[:, 1:i], half[:, i - 2::-1][:, : i - 1])
        M[:, i] = acc / (1.0 - 0.5 * dF[:, 0])
        half[:, i - 1] = 0.5 * (M[:, i - 1] + M[:, i])
    return M


def expected_failures(age: np.ndarray, hours: np.ndarray, shape: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Expected cumulative failures of running components at future operating hours.

    The delayed renewal function: the first failure follows the Weibull life conditional on
    survival to ``age``; each replacement starts a fresh life, so
    E[N(h)] = F₁(h) + ∫₀ʰ M(h − t) dF₁(t) with F₁ the conditional first-failure law and M
    the ordinary renewal function. The integral is taken by product integration on a uniform
    grid of each row's horizon (F₁ linear within a step, M integrated exactly from its
    tabulated integral), with steps of at most 0.05 scales.

    Parameters
    ----------
    age : (R,) array
        Operating hours since the last replacement (or since new).
    hours : (R, P) array
        Operating hours from now at which to evaluate, non-decreasing along each row.
    shape, scale : (R,) arrays
        Weibull parameters of each row's component.

    Returns
    -------
    (R, P) ndarray
        Expected number of failures in (0, hours].
    """
    age = np.asarray(age, float)
    hours = np.atleast_2d(np.asarray(hours, float))
    k = np.asarray(shape, float)
    eta = np.asarray(scale, float)
    tables, inv = _RenewalTables.for_values(k, hours[:, -1] / eta)
    out = np.empty_like(hours)
    for lo in range(0, age.size, _CHUNK_ROWS):
        sl = slice(lo, lo + _CHUNK_ROWS)
        out[sl] = _expected_failures(age[sl], hours[sl], inv[sl], eta[sl], tables)
    return out


def _expected_failures(age, hours, shape_row, eta, tables: _RenewalTables) -> np.ndarray:
    """:func:`expected_failures` for one block of rows, with the shapes as table rows."""
    k = tables.shapes[shape_row]
    a = (age / eta) ** k
    out = -np.expm1(-(((age[:, None] + hours) / eta[:, None]) ** k[:, None] - a[:, None]))
    x_end = hours[:, -1] / eta
    # Second and later failures matter only where F₁(end)·M(end) is above the tolerance.
    bound = out[:, -1] * tables.M(shape_row, x_end)
    rows = np.flatnonzero(bound > _RENEWAL_TOL)
    if rows.size == 0:
        return out
    need = np.ceil(x_end[rows] / _MAX_STEP)
    cls = np.minimum(np.searchsorted(_STEP_CLASSES, need), len(_STEP_CLASSES) - 1)
    for c in np.unique(cls):
        r = rows[cls == c]
        out[r] += _later_renewals(age[r], hours[r], shape_row[r], eta[r], a[r], _STEP_CLASSES[c], tables)
    return out


def _later_renewals(age, hours, shape_row, eta, a, n_steps: int, tables: _RenewalTables) -> np.ndarray:
    """∫₀ʰ M(h − t) dF₁(t) at every ``hours`` column, on a uniform grid of n_steps per row.

    With F₁ linear within step s, the integral up to grid node n is
    Σ_{s<n} ΔF₁[s] · W[n−1−s], where W[j] = (IM((j+1)u) − IM(j u)) / u is the mean of M
    over lag cell j (u = step / scale, IM = ∫M). Between nodes the result is interpolated
    linearly.
    """
    R = age.size
    k = tables.shapes[shape_row]
    step = hours[:, -1] / n_steps  # hours per grid step
    nodes = step[:, None] * np.arange(n_steps + 1)
    F1 = -np.expm1(-(((age[:, None] + nodes) / eta[:, None]) ** k[:, None] - a[:, None]))
    dF1 = np.diff(F1, axis=1)
    u = step / eta
    W = np.diff(tables.integral_M_grid(shape_row, u, n_steps), axis=1) / np.where(u > 0, u, 1.0)[:, None]
    L = np.zeros((R, n_steps + 1))
    for j in range(n_steps):  # lag j: a first failure in step s feeds nodes s + j + 1
        L[:, j + 1:] += dF1[:, : n_steps - j] * W[:, j: j + 1]
    # Between grid nodes L follows a power of h (L ~ h^(k+1) for a running component, h^(2k)
    # for a new one), so it is interpolated as one: L(h) = L_i (h / h_i)^α with α from the
    # two nodes around h (from nodes 1 and 2 inside the first step). A straight line would
    # overstate it by up to ~1e-3 of the whole expected count at the first month ends.
    pos = hours / np.where(step > 0, step, 1.0)[:, None]
    lo = np.clip(pos.astype(np.int64), 1, n_steps - 1) if n_steps > 1 else np.zeros(pos.shape, np.int64)
    L0 = np.take_along_axis(L, lo, axis=1)
    L1 = np.take_along_axis(L, lo + 1, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.log(L1 / L0) / np.log((lo + 1) / lo)
        power = L0 * (pos / lo) ** alpha
    linear = L0 + (L1 - L0) * (pos - lo)
    ok = (L0 > 0) & (L1 > L0) & np.isfinite(power)
    return np.where(ok, power, np.where(pos <= 0, 0.0, linear))


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


def compound_poisson_quantiles(rates: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Quantiles of Σⱼ j·Nⱼ with independent Nⱼ ~ Poisson(rates[:, j−1]), per row.

    Panjer's recursion (Panjer, 1981, *ASTIN Bulletin* 12(1)): with λ = Σ λⱼ,
    p₀ = e^{−λ} and pₙ = (1/n) Σⱼ j λⱼ pₙ₋ⱼ. Vectorised over rows; rows leave the loop as
    soon as their distribution function passes the highest level.

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


def compound_poisson_cdf(rates: np.ndarray, values: np.ndarray) -> np.ndarray:
    """P(D ≤ value) for D = Σⱼ j·Nⱼ with independent Nⱼ ~ Poisson(rates[:, j−1]), per row.

    The distribution function behind :func:`compound_poisson_quantiles` (same recursion),
    for scoring forecasts against observed counts (e.g. the probability integral transform of count data,
    which needs P(D ≤ y) and P(D ≤ y − 1)).

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


def _period_edges(as_of: pd.Timestamp, horizon: int, freq: str) -> tuple[pd.DatetimeIndex, pd.Timestamp]:
    """Start of each of the ``horizon`` full periods after ``as_of``, and the end of the last.

    If ``as_of`` falls inside a period, the stub up to the next period start is part of the
    simulated time (components age through it) but not of the output.
    """
    grid = pd.date_range(as_of.normalize(), periods=horizon + 2, freq=freq)
    if grid[0] < as_of:
        grid = grid[1:]
    grid = grid[: horizon + 1]
    return grid[:-1], grid[-1]


def forecast_demand(
    model,
    fleet,
    horizon: int = 12,
    freq: str = "MS",
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    *,
    new_machines: pd.DataFrame | None = None,
    retirements: pd.DataFrame | None = None,
    usage_factor: float | Mapping | pd.Series | None = None,
    by: str = "part",
) -> pd.DataFrame:
    """Forecast parts demand per servicing location and period from the installed base.

    Parameters
    ----------
    model : LifetimeModel
        A fitted :class:`~partsforecast.FailureModel`, one made from known parameters
        (``FailureModel.from_params(fleet.truth["lifetimes"])``), or any other
        :class:`~partsforecast.reliability.LifetimeModel`. Components of groups it has no
        law for get no forecast.
    fleet : Fleet
        The installed base and history; the forecast starts at ``fleet.as_of``. Its
        component lives are computed once per fleet (:meth:`~partsforecast.Fleet.component_lives`)
        and shared with the model fitted on it.
    horizon : int
        Number of future periods.
    freq : str
        pandas frequency of the periods (``"MS"`` months, ``"W-MON"`` weeks, ...).
    quantiles : sequence of float
        Levels of the count quantiles to report, each in (0, 1).
    new_machines : DataFrame, optional
        Machines expected to enter service: columns machine_model, location_id,
        per_period (expected new machines per period, may be fractional) and optionally
        hours_per_day (else the model's median usage at that location's tier). Each
        period's cohort enters service evenly through the period.
    retirements : DataFrame, optional
        Planned retirements: serial, retired_date. A machine stops needing parts then.
    usage_factor : float, mapping or Series, optional
        Multiplies usage rates: one number for all, a mapping tier → factor, or a Series
        indexed by location_id.
    by : {"part", "component"}
        Report parts (through the BOM) or component failures.

    Returns
    -------
    DataFrame
        One row per (location_id, part_number, period) with any demand: location_id,
        part_number (or machine_model and component with ``by="component"``), period
        (period start), mean, var, and one column per quantile named ``q0.5`` etc.
        Rows are sorted by location, part, period. The identifier columns are
        categoricals (a national forecast has millions of rows over a few thousand
        identifiers); ``.astype(str)`` turns them into strings.

    Notes
    -----
    The work is vectorised over machine-components in blocks of 200,000 rows, summed at
    once into (location, model, component) cells, so memory stays flat in the fleet size:
    200,000 machines × 20 components × 12 months forecast in seconds (see
    ``benchmarks/bench_demand.py``).

    Raises
    ------
    TypeError
        The arguments are swapped (``forecast_demand(fleet, model)``), ``fleet`` is not a
        fleet, or ``model`` is not a lifetime model.
    ValueError
        The model is not fitted, or an option is out of range.
    """
    _check_forecast_args(horizon, quantiles, by)
    groups = _lifetime_groups(model, fleet)
    starts, end = _period_edges(fleet.as_of, horizon, freq)
    day = pd.Timedelta(days=1)
    # Days from as_of to the start of period 1 (a stub when as_of is inside a period) and
    # to the end of every period.
    bound_days = np.array([(starts[0] - fleet.as_of) / day]
                          + [(b - fleet.as_of) / day for b in list(starts[1:]) + [end]])
    locations = pd.Index(fleet.locations["location_id"].astype(str)).sort_values()

    lives = fleet_lives(fleet)
    cells = _installed_base_cells(lives.ages, groups, locations, bound_days, fleet, retirements, usage_factor)
    if new_machines is not None and len(new_machines):
        extra = _new_machine_cells(new_machines, groups, locations, fleet, lives, starts, end, usage_factor)
        cells = _merge_cells(cells, extra)
    if by == "component":
        out = _component_frame(cells, groups, locations, quantiles)
    else:
        out = _part_frame(cells, groups, locations, fleet.bom, quantiles)
    period = starts[out.pop("period_idx").to_numpy()]
    out.insert(out.columns.get_loc("mean"), "period", period)
    return out


class _Groups:
    """The model's (machine_model, component) groups, sorted, with integer lookups, and their
    laws: Weibull shape and scale (the fast path), or the model's ``expected_renewals``."""

    def __init__(self, params: pd.DataFrame, model: LifetimeModel | None = None):
        # row i of ``params`` is the model's group i; ``source`` maps sorted groups back
        p = params.reset_index(drop=True).sort_values(["machine_model", "component"])
        self.source = p.index.to_numpy(np.int64)
        p = p.reset_index(drop=True)
        self.models = pd.Index(p["machine_model"].astype(str).unique())
        self.components = pd.Index(p["component"].astype(str).unique())
        mcode = self.models.get_indexer(p["machine_model"].astype(str))
        ccode = self.components.get_indexer(p["component"].astype(str))
        self.grid = np.full((len(self.models), len(self.components)), -1, dtype=np.int64)
        self.grid[mcode, ccode] = np.arange(len(p))
        self.model_of, self.component_of = mcode, ccode
        self.weibull = model is None
        if self.weibull:
            self.shape = p["shape"].to_numpy(float)
            self.scale = p["scale"].to_numpy(float)
        self.model = model
        self.size = len(p)

    def renewals(self, g: np.ndarray, age: np.ndarray, hours: np.ndarray) -> np.ndarray:
        """Expected failures in (0, hours] of rows of groups ``g`` aged ``age``: the model's
        :meth:`~partsforecast.reliability.LifetimeModel.expected_renewals`, checked."""
        hours = np.atleast_2d(np.asarray(hours, float))
        out = np.asarray(self.model.expected_renewals(self.source[g], np.asarray(age, float), hours), float)
        if out.shape != hours.shape:
            raise ValueError(f"{type(self.model).__name__}.expected_renewals returned an array of shape "
                             f"{out.shape} for {hours.shape[0]} rows × {hours.shape[1]} times; it must "
                             "return one expected count per row and time")
        if not np.isfinite(out).all() or (out < 0).any():
            raise ValueError(f"{type(self.model).__name__}.expected_renewals returned negative or "
                             "non-finite expected counts")
        return out

    def lookup(self, machine_model, component) -> np.ndarray:
        """Group index of each (model, component) pair; −1 where no model was fitted."""
        m = _positions(self.models, machine_model)
        c = _positions(self.components, component)
        ok = (m >= 0) & (c >= 0)
        out = np.full(len(m), -1, dtype=np.int64)
        out[ok] = self.grid[m[ok], c[ok]]
        return out


def _positions(index: pd.Index, values) -> np.ndarray:
    """Position of every value in ``index`` (−1 if absent); categoricals map their codes."""
    values = pd.Series(values) if not isinstance(values, pd.Series) else values
    if isinstance(values.dtype, pd.CategoricalDtype):
        cat_pos = index.get_indexer(pd.Index(values.cat.categories).astype(str))
        codes = values.cat.codes.to_numpy()
        return np.where(codes >= 0, cat_pos[codes], -1)
    return index.get_indexer(values.astype(str))


def _dense_codes(key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys and each key's position among them (keys in [0, size))."""
    if size <= max(16 * key.size, 1 << 24):
        seen = np.zeros(size, dtype=bool)
        seen[key] = True
        uniq = np.flatnonzero(seen)
        pos = np.cumsum(seen) - 1
        return uniq, pos[key]
    uniq, inv = np.unique(key, return_inverse=True)
    return uniq, inv


def _map_blocks(func, items, threads: bool = True):
    """``map(func, items)`` on up to ``_THREADS`` threads (one without ``threads``), results
    in order."""
    items = list(items)
    if not threads or _THREADS <= 1 or len(items) <= 1:
        yield from map(func, items)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=_THREADS) as pool:
        yield from pool.map(func, items)


class _Cells:
    """Expected failures per (location, group) cell and period: keys = loc · G + group."""

    def __init__(self, keys: np.ndarray, means: np.ndarray):
        self.keys, self.means = keys, means


def _sum_by(codes: np.ndarray, n: int, column, n_columns: int) -> np.ndarray:
    """(n, n_columns) sums of ``column(p)`` (weights per row) over rows with equal codes:
    one bincount per period, never a loop over rows or groups."""
    out = np.empty((n, n_columns))
    for p in range(n_columns):
        out[:, p] = np.bincount(codes, weights=column(p), minlength=n)
    return out


def _merge_cells(a: _Cells, b: _Cells) -> _Cells:
    uniq, inv = np.unique(np.concatenate([a.keys, b.keys]), return_inverse=True)
    means = np.concatenate([a.means, b.means])
    return _Cells(uniq, _sum_by(inv, uniq.size, lambda p: means[:, p], means.shape[1]))


def _installed_base_cells(ages, groups: _Groups, locations: pd.Index, bound_days, fleet, retirements,
                          usage_factor) -> _Cells:
    """Expected failures of the running components, summed per (location, group) cell."""
    g = groups.lookup(ages["machine_model"], ages["component"])
    loc = _positions(locations, ages["location_id"])
    keep = np.flatnonzero((g >= 0) & (loc >= 0))  # (a validated fleet has every location)
    g, loc = g[keep], loc[keep]
    age = ages["age_hours"].to_numpy(float)[keep]
    rate = ages["hours_per_day"].to_numpy(float)[keep] * _usage_multiplier(
        fleet, ages["location_id"].iloc[keep], usage_factor)
    # Planned retirements cut a machine's horizon: it ages no further after that date.
    stop = np.full(keep.size, np.inf)
    if retirements is not None and len(retirements):
        ret = retirements.assign(retired_date=pd.to_datetime(retirements["retired_date"]))
        when = ret.groupby(ret["serial"].astype(str))["retired_date"].min()
        days = ((when - fleet.as_of) / pd.Timedelta(days=1)).astype(float)
        pos = _positions(pd.Index(when.index), ages["serial"].iloc[keep].reset_index(drop=True))
        stop = np.where(pos >= 0, days.to_numpy()[np.maximum(pos, 0)], np.inf)
    cell_keys, cell_of_row = _dense_codes(loc * groups.size + g, len(locations) * groups.size)
    # Rows in cell order, so that every block's rows form runs of whole cells (reduceat).
    order = np.argsort(cell_of_row, kind="stable")
    cell_of_row, g, age, rate, stop = cell_of_row[order], g[order], age[order], rate[order], stop[order]
    if groups.weibull:
        eta = groups.scale[g]
        x_end = np.minimum(bound_days[-1], np.maximum(stop, 0.0)) * rate / eta
        group_x = np.zeros(groups.size)
        np.maximum.at(group_x, g, x_end)
        tables, k_idx = _RenewalTables.for_values(groups.shape, group_x)  # group → table row

        def renewals(sl: slice, hours: np.ndarray) -> np.ndarray:
            return _expected_failures(age[sl], hours, k_idx[g[sl]], eta[sl], tables)
    else:
        def renewals(sl: slice, hours: np.ndarray) -> np.ndarray:
            return groups.renewals(g[sl], age[sl], hours)

    def block(lo: int) -> tuple[np.ndarray, np.ndarray]:
        sl = slice(lo, lo + _CHUNK_ROWS)
        days = np.minimum(bound_days[None, :], np.maximum(stop[sl], 0.0)[:, None])
        cum = renewals(sl, days * rate[sl, None])
        per = np.diff(cum, axis=1)  # the stub before period 1 drops out here
        cells = cell_of_row[sl]
        starts = np.flatnonzero(np.concatenate([[True], cells[1:] != cells[:-1]]))
        return cells[starts], np.add.reduceat(per, starts, axis=0)

    sums = np.zeros((cell_keys.size, bound_days.size - 1))
    # Blocks run on a small thread pool (numpy releases the GIL in its loops); their sums are
    # added in block order, so the result does not depend on the scheduling. Another model's
    # expected_renewals is called from one thread only (it need not be thread-safe).
    for cells, part in _map_blocks(block, range(0, keep.size, _CHUNK_ROWS), threads=groups.weibull):
        sums[cells] += part
    return _Cells(cell_keys, sums)


def _new_machine_cells(new: pd.DataFrame, groups: _Groups, locations: pd.Index, fleet, lives, starts, end,
                       usage_factor) -> _Cells:
    """Expected failures of machines entering service during the horizon, per cell.

    Each period's cohort enters evenly through the period, approximated by entry at the
    period's midpoint (new components fail rarely in their first months, so the error is
    second order).
    """
    missing = {"machine_model", "location_id", "per_period"} - set(new.columns)
    if missing:
        raise ValueError(f"new_machines lacks column(s) {sorted(missing)}; it needs machine_model, "
                         "location_id, per_period and optionally hours_per_day")
    new = new.reset_index(drop=True)
    loc = _positions(locations, new["location_id"])
    if (loc < 0).any():
        bad = new.loc[loc < 0, "location_id"].astype(str).unique()[:5].tolist()
        raise ValueError(f"new_machines: location_id {bad} not in the fleet's locations")
    rate = _new_machine_usage(new, fleet, lives) * _usage_multiplier(fleet, new["location_id"], usage_factor)
    # One row per (new-machine line, component its model carries).
    model_pos = _positions(groups.models, new["machine_model"])
    by_line = np.where((model_pos >= 0)[:, None], groups.grid[np.maximum(model_pos, 0)], -1)
    line, comp = np.nonzero(by_line >= 0)
    g = by_line[line, comp]
    bom_pairs = fleet.bom[["machine_model", "component"]].drop_duplicates()
    on_bom = np.zeros(groups.size, dtype=bool)
    bg = groups.lookup(bom_pairs["machine_model"], bom_pairs["component"])
    on_bom[bg[bg >= 0]] = True
    line, g = line[on_bom[g]], g[on_bom[g]]
    P = len(starts)
    edges = list(starts) + [end]
    day = pd.Timedelta(days=1)
    mid_days = np.array([((edges[c] - fleet.as_of) + (edges[c + 1] - edges[c]) / 2) / day for c in range(P)])
    end_days = np.array([(e - fleet.as_of) / day for e in edges[1:]])
    # A new machine's failures depend on its component's group and its usage rate only, so
    # the renewal curves are computed once per distinct (group, rate) -- a few thousand
    # nationally, against millions of (line, component, cohort) rows -- for every cohort
    # (one pseudo-machine per cohort period, hours since entry at each period end) and
    # summed over the cohorts, which all enter at the same per_period rate.
    pair_codes, pairs = pd.factorize(pd.MultiIndex.from_arrays([g, rate[line]]))
    pg = pairs.get_level_values(0).to_numpy(np.int64)
    prate = pairs.get_level_values(1).to_numpy(float)
    U = pg.size
    rep = np.repeat(np.arange(U), P)
    cohort = np.tile(np.arange(P), U)
    since = np.maximum(end_days[None, :] - mid_days[cohort][:, None], 0.0)
    if groups.weibull:
        cum = expected_failures(np.zeros(U * P), since * prate[rep][:, None], groups.shape[pg][rep],
                                groups.scale[pg][rep])
    else:
        cum = groups.renewals(pg[rep], np.zeros(U * P), since * prate[rep][:, None])
    per = np.diff(np.concatenate([np.zeros((U * P, 1)), cum], axis=1), axis=1)
    curve = per.reshape(U, P, P).sum(axis=1)  # (pair, period): one machine per period
    weight = new["per_period"].to_numpy(float)[line]
    cell_keys, cell = _dense_codes(loc[line] * groups.size + g, len(locations) * groups.size)
    return _Cells(cell_keys, _sum_by(cell, cell_keys.size, lambda p: weight * curve[pair_codes, p], P))


def recent_sales(fleet, window_days: float = 365.0, periods_per_year: float = 12.0) -> pd.DataFrame:
    """New machines per period at each dealer, at the pace of the recent sales.

    The ``new_machines`` argument of :func:`forecast_demand` for "sales go on as over the
    last ``window_days``": machines per (model, location) that entered service in that
    window before ``fleet.as_of``, spread evenly over its periods.

    Parameters
    ----------
    fleet : Fleet
    window_days : float
        Length of the sales history to average (days before ``as_of``).
    periods_per_year : float
        12 for monthly forecasts, 4 for quarterly, 52.18 for weekly.

    Returns
    -------
    DataFrame
        machine_model, location_id, per_period.
    """
    m = fleet.machines
    sold = m[m["in_service_date"] >= fleet.as_of - pd.Timedelta(days=window_days)]
    per = sold.groupby(["machine_model", "location_id"], as_index=False, observed=True).size()
    periods = window_days / 365.0 * periods_per_year  # the window, in forecast periods
    return per.assign(per_period=per["size"] / periods)[["machine_model", "location_id", "per_period"]]


def _new_machine_usage(new: pd.DataFrame, fleet, lives) -> np.ndarray:
    """Hours per day of new machines: given, else the median at the model and tier."""
    if "hours_per_day" in new.columns and new["hours_per_day"].notna().all():
        return new["hours_per_day"].to_numpy(float)
    r = lives.rates
    med = r.groupby(["machine_model", "tier"])["hours_per_day"].median()
    tier = new["location_id"].map(fleet.locations.set_index("location_id")["tier"]).astype("float64")
    keyed = pd.MultiIndex.from_arrays([new["machine_model"], tier])
    guess = pd.Series(med.reindex(keyed).to_numpy(), index=new.index)
    guess = guess.fillna(new["machine_model"].map(r.groupby("machine_model")["hours_per_day"].median()))
    guess = guess.fillna(r["hours_per_day"].median())
    if "hours_per_day" in new.columns:
        guess = new["hours_per_day"].fillna(guess)
    return guess.to_numpy(float)


def _check_forecast_args(horizon, quantiles, by) -> None:
    if not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"horizon must be a whole number of periods ≥ 1, got {horizon!r}")
    bad = [q for q in quantiles if not 0 < q < 1]
    if bad:
        raise ValueError(f"quantiles must lie strictly between 0 and 1, got {bad}")
    if by not in ("part", "component"):
        raise ValueError(f"by must be 'part' or 'component', got {by!r}")


_FLEET_PARTS = ("machines", "tickets", "bom", "locations", "as_of")
_WEIBULL_COLUMNS = ["machine_model", "component", "shape", "scale"]


def _is_fleet(obj) -> bool:
    return all(hasattr(obj, name) for name in _FLEET_PARTS)


def _usable(p: pd.DataFrame) -> np.ndarray:
    """Rows whose Weibull shape and scale are finite and > 0."""
    return (np.isfinite(p["shape"]) & np.isfinite(p["scale"]) & (p["shape"] > 0) & (p["scale"] > 0)).to_numpy()


def _lifetime_groups(model, fleet) -> _Groups:
    """Check the arguments of :func:`forecast_demand` and read the model's groups and laws."""
    if _is_fleet(model):
        got = "a Fleet as well" if _is_fleet(fleet) else f"a {type(fleet).__name__}"
        raise TypeError("forecast_demand(model, fleet, ...): the first argument is a Fleet and the second "
                        f"{got}; the model comes first: forecast_demand(model, fleet) with a fitted "
                        "FailureModel (or any partsforecast.reliability.LifetimeModel)")
    if not _is_fleet(fleet):
        raise TypeError(f"forecast_demand(model, fleet, ...): fleet must be a Fleet (read_fleet, load_sample, "
                        f"make_fleet), got {type(fleet).__name__}")
    model = _as_lifetime_model(model)
    if isinstance(model, WeibullLifetimeModel):
        p = model.weibull_params()
        missing = [c for c in _WEIBULL_COLUMNS if c not in p.columns]
        if missing:
            raise ValueError(f"{type(model).__name__}.weibull_params() lacks column(s) {missing}; it must "
                             "give machine_model, component, shape and scale")
        p = p[_WEIBULL_COLUMNS]
        return _Groups(p[_usable(p)])
    keys = model.lifetime_groups()
    missing = [c for c in _WEIBULL_COLUMNS[:2] if c not in keys.columns]
    if missing:
        raise ValueError(f"{type(model).__name__}.lifetime_groups() lacks column(s) {missing}")
    keys = keys[_WEIBULL_COLUMNS[:2]]
    if keys.astype(str).duplicated().any():
        raise ValueError(f"{type(model).__name__}.lifetime_groups() gives a (machine_model, component) "
                         "more than once; it must list every group once")
    return _Groups(keys, model=model)


def _as_lifetime_model(model) -> LifetimeModel:
    """``model`` itself when it is a :class:`LifetimeModel`; else a clear error."""
    if isinstance(model, LifetimeModel):
        return model
    if isinstance(getattr(model, "params_", None), pd.DataFrame):
        raise TypeError("forecast_demand: model has a params_ table but is not a lifetime model; "
                        "pass FailureModel.from_params(table) to forecast from known parameters")
    if isinstance(model, pd.DataFrame):
        raise TypeError("forecast_demand: model is a DataFrame; to forecast from known Weibull parameters "
                        "pass FailureModel.from_params(table)")
    raise TypeError(f"forecast_demand: model must be a lifetime model -- FailureModel().fit(fleet), "
                    f"FailureModel.from_params(table) or any partsforecast.reliability.LifetimeModel -- "
                    f"got {type(model).__name__}")


def _usage_multiplier(fleet, location_id: pd.Series, usage_factor) -> np.ndarray:
    if usage_factor is None:
        return np.ones(len(location_id))
    if np.isscalar(usage_factor):
        return np.full(len(location_id), float(usage_factor))
    location_id = pd.Series(location_id)
    if isinstance(location_id.dtype, pd.CategoricalDtype):  # one lookup per location, not per row
        per_loc = _usage_multiplier(fleet, pd.Series(location_id.cat.categories), usage_factor)
        codes = location_id.cat.codes.to_numpy()
        return np.where(codes >= 0, per_loc[codes], 1.0)
    location_id = location_id.astype(str)
    if isinstance(usage_factor, pd.Series):
        return location_id.map(usage_factor).fillna(1.0).to_numpy(float)
    tier = location_id.map(fleet.locations.set_index("location_id")["tier"])
    return tier.map(dict(usage_factor)).fillna(1.0).to_numpy(float)


def _categorical(codes: np.ndarray, categories: pd.Index) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, categories=categories.astype("str"))


def _rows_with_demand(means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, period) of every positive entry, in row-major (row, then period) order."""
    positive = means > 0
    if positive.all():  # the usual case: skip the search
        R, P = means.shape
        return np.repeat(np.arange(R), P), np.tile(np.arange(P), R)
    return np.nonzero(positive)


def _component_frame(cells: _Cells, groups: _Groups, locations: pd.Index, quantiles) -> pd.DataFrame:
    """Failures per (location, model, component, period): Poisson counts."""
    r, p = _rows_with_demand(cells.means)
    loc, g = np.divmod(cells.keys[r], groups.size)
    lam = cells.means[r, p]
    out = {
        "location_id": _categorical(loc, locations),
        "machine_model": _categorical(groups.model_of[g], groups.models),
        "component": _categorical(groups.component_of[g], groups.components),
        "period_idx": p, "mean": lam, "var": lam,
    }
    for level in quantiles:
        out[f"q{level:g}"] = poisson_quantiles(lam, [level])[:, 0]
    return pd.DataFrame(out)


def _part_frame(cells: _Cells, groups: _Groups, locations: pd.Index, bom: pd.DataFrame, quantiles) -> pd.DataFrame:
    """Parts per (location, part, period): compound Poisson over the groups using a part."""
    bg = groups.lookup(bom["machine_model"], bom["component"])
    ok = bg >= 0
    parts = pd.Index(bom["part_number"].astype(str)[ok].unique()).sort_values()
    b_part = parts.get_indexer(bom["part_number"].astype(str)[ok])
    b_qty = bom["qty_per_replacement"].to_numpy(np.int64)[ok]
    bg = bg[ok]
    # A part taken in one quantity q by every component that uses it has D = q · Poisson(λ)
    # (the usual case); parts taken in several quantities need Panjer's recursion.
    q_lo = np.full(len(parts), np.iinfo(np.int64).max)
    q_hi = np.zeros(len(parts), dtype=np.int64)
    np.minimum.at(q_lo, b_part, b_qty)
    np.maximum.at(q_hi, b_part, b_qty)
    order = np.argsort(bg, kind="stable")
    b_part, b_qty, bg = b_part[order], b_qty[order], bg[order]
    per_group = np.bincount(bg, minlength=groups.size)
    first = np.concatenate([[0], np.cumsum(per_group)[:-1]])
    # Expand every cell into the BOM lines of its group.
    cell_loc, cell_g = np.divmod(cells.keys, groups.size)
    n_lines = per_group[cell_g]
    cell = np.repeat(np.arange(cells.keys.size), n_lines)
    line = first[cell_g][cell] + np.arange(cell.size) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines)
    pair_keys, pair = _dense_codes(cell_loc[cell] * len(parts) + b_part[line], len(locations) * len(parts))
    qty = b_qty[line].astype(float)
    n_pairs, P = pair_keys.size, cells.means.shape[1]
    mean = _sum_by(pair, n_pairs, lambda p: cells.means[cell, p] * qty, P)
    del cell_loc, cell_g, n_lines
    pair_part = pair_keys % len(parts)
    single_pair = (q_lo == q_hi)[pair_part]
    r, p = _rows_with_demand(mean)
    # The output has millions of rows: keep the per-row work arrays few and narrow.
    loc, part = np.divmod(pair_keys[r], len(parts))
    out = pd.DataFrame({"location_id": _categorical(loc, locations),
                        "part_number": _categorical(part, parts)})
    del loc
    out["period_idx"] = p.astype(np.int32)
    m = mean[r, p]
    del mean
    q_part = q_lo[part]
    del part
    out["mean"] = m
    out["var"] = m * q_part  # q · mean for D = q · Poisson; replaced below for mixed pairs
    mixed = np.flatnonzero(~single_pair[r])
    mixed_q = None
    if mixed.size:
        # Failure rates per quantity for the rows of pairs that mix quantities.
        row_of = np.full((n_pairs, P), -1, dtype=np.int64)
        row_of[r[mixed], p[mixed]] = np.arange(mixed.size)
        rates = np.zeros((mixed.size, int(q_hi.max())))
        sel = np.flatnonzero(~single_pair[pair])
        for pp in range(P):
            dst = row_of[pair[sel], pp]
            hit = dst >= 0
            np.add.at(rates, (dst[hit], b_qty[line[sel[hit]]] - 1), cells.means[cell[sel[hit]], pp])
        out.loc[mixed, "var"] = rates @ np.arange(1, rates.shape[1] + 1) ** 2
        mixed_q = compound_poisson_quantiles(rates, quantiles)
        q_part[mixed] = 1  # (their quantiles come from Panjer, below)
    del r, p
    # D = q · Poisson(mean / q) for a part taken q at a time; a level at a time, so that
    # one column is in memory, not five
    columns = _scaled_poisson_columns(m, q_part, quantiles)
    for i, (level, q) in enumerate(zip(quantiles, columns)):
        if mixed_q is not None:
            q[mixed] = mixed_q[:, i]
        out[f"q{level:g}"] = q
    return out


def poisson_quantiles(lam: np.ndarray, levels: Sequence[float]) -> np.ndarray:
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
    from scipy.special import gammainccinv

    lam = np.asarray(lam, float)
    out = np.zeros((lam.size, len(levels)), dtype=np.int64)
    top = float(lam.max(initial=0.0))
    n_max = int(top + 10 * np.sqrt(top) + 40)
    n = np.arange(n_max + 1)
    for i, level in enumerate(levels):
        breaks = gammainccinv(n + 1, level)
        while breaks[-1] < top:  # (never for sane levels: n_max is ~10σ past the largest mean)
            n = np.arange(2 * n.size)
            breaks = gammainccinv(n + 1, level)
        # (a relative 1e-12 of slack: a mean that sits on a breakpoint up to round-off
        # reaches the level, as in compound_poisson_quantiles)
        out[:, i] = np.searchsorted(breaks * (1 + 1e-12), lam, side="left")
    return out


def _period_bounds(forecast: pd.DataFrame) -> tuple[pd.DatetimeIndex, list]:
    """Start and end of each forecast period; the last lasts as long as the first."""
    periods = pd.DatetimeIndex(sorted(forecast["period"].unique()))
    if len(periods) == 0:
        return periods, []
    step = periods[1] - periods[0] if len(periods) > 1 else pd.Timedelta(days=30)
    return periods, list(periods[1:]) + [periods[-1] + step]


def forecast_span_days(forecast: pd.DataFrame) -> float:
    """Days a forecast covers from its first period start: the longest usable lead time."""
    periods, ends = _period_bounds(forecast)
    return float((ends[-1] - periods[0]) / pd.Timedelta(days=1)) if len(periods) else 0.0


def lead_time_demand(forecast: pd.DataFrame, lead_time_days: float | pd.Series | pd.DataFrame,
                     keys: Sequence[str] = ("location_id", "part_number"),
                     quantiles: Sequence[float] | None = None) -> pd.DataFrame:
    """Distribution of demand over a lead time starting at the forecast origin.

    The forecast's periods are summed in order, the last one pro rata for a lead time that
    ends inside it (demand spread evenly within a period). The per-period demands are
    independent compound Poissons, so their sum is compound Poisson too: means and
    variances add, and its quantiles follow exactly for a part taken in one quantity q per
    failure (the usual case, recognised by var = q · mean): D = q · Poisson(mean / q). A
    part taken in several quantities (var / mean not a whole number) gets the quantiles of
    the scaled Poisson with the same mean and variance, (var/mean) · Poisson(mean²/var),
    rounded up to whole units.

    Parameters
    ----------
    forecast : DataFrame
        Output of :func:`forecast_demand` (columns keys, period, mean, var).
    lead_time_days : float, Series or DataFrame
        One lead time for all; a Series indexed by the first key (e.g. location_id); or a
        DataFrame with the key columns and ``lead_time_days``.
    keys : sequence of str
    quantiles : sequence of float in (0, 1), optional
        Levels of the lead-time demand quantiles to add (columns ``q0.9`` ...).

    Returns
    -------
    DataFrame
        keys, lead_time_days, mean, var (and the quantile columns), one row per key.

    Examples
    --------
    >>> ltd = lead_time_demand(fc, 21.0, quantiles=(0.9, 0.99))  # doctest: +SKIP
    """
    keys = list(keys)
    if quantiles is not None:
        _check_forecast_args(1, quantiles, "part")
    f = forecast[keys + ["period", "mean", "var"]].sort_values(keys + ["period"])
    periods, ends = _period_bounds(f)
    if len(periods) == 0:
        return pd.DataFrame(columns=keys + ["lead_time_days", "mean", "var"]
                            + [f"q{q:g}" for q in quantiles or ()])
    origin = periods[0]
    start_d = np.array([(p - origin) / pd.Timedelta(days=1) for p in periods])
    end_d = np.array([(e - origin) / pd.Timedelta(days=1) for e in ends])
    pidx = periods.get_indexer(f["period"])
    if isinstance(lead_time_days, pd.DataFrame):
        lt = f[keys].merge(lead_time_days[keys + ["lead_time_days"]], on=keys, how="left")["lead_time_days"]
        L = lt.to_numpy(float)
    elif isinstance(lead_time_days, pd.Series):
        L = f[keys[0]].map(lead_time_days).to_numpy(float)
    else:
        L = np.full(len(f), float(lead_time_days))
    if np.isnan(L).any() or (L < 0).any():
        raise ValueError("lead_time_days must be given (≥ 0) for every row of the forecast")
    share = np.clip((L - start_d[pidx]) / (end_d[pidx] - start_d[pidx]), 0.0, 1.0)
    if (L > end_d[-1] + 1e-9).any():
        raise ValueError(f"a lead time of {L.max():.0f} days is longer than the forecast horizon "
                         f"({end_d[-1]:.0f} days): forecast more periods")
    g = f.assign(mean=f["mean"] * share, var=f["var"] * share, lead_time_days=L)
    out = g.groupby(keys, as_index=False, sort=True, observed=True).agg(
        lead_time_days=("lead_time_days", "first"), mean=("mean", "sum"), var=("var", "sum"))
    if quantiles is not None:
        for level, q in zip(quantiles, scaled_poisson_quantiles(out["mean"].to_numpy(),
                                                                out["var"].to_numpy(), quantiles).T):
            out[f"q{level:g}"] = q
    return out


def scaled_poisson_quantiles(mean: np.ndarray, var: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Quantiles of D = s · Poisson(mean / s) with s = var / mean (≥ 1), in whole units.

    Exact for compound Poisson demand in which every failure takes the same quantity s;
    otherwise the scaled Poisson with the given mean and variance (a ≥ 1 dispersion), with
    its quantiles rounded up to whole units.

    Parameters
    ----------
    mean, var : (C,) arrays
        Mean and variance of each cell's demand (var ≥ mean; 0 mean gives 0).
    levels : sequence of float in (0, 1)

    Returns
    -------
    (C, L) ndarray of int64
    """
    mean = np.asarray(mean, float)
    var = np.asarray(var, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(mean > 0, np.maximum(var / mean, 1.0), 1.0)
    whole = np.round(scale)
    scale = np.where(np.abs(scale - whole) <= 1e-9 * whole, whole, scale)
    columns = list(_scaled_poisson_columns(mean, scale, levels))
    return np.column_stack(columns) if columns else np.zeros((mean.size, 0), dtype=np.int64)


def _scaled_poisson_columns(mean: np.ndarray, scale: np.ndarray, levels: Sequence[float]):
    """Quantiles of scale · Poisson(mean / scale), one level at a time (one column in
    memory), rounded up to whole units; integer scales give exact multiples."""
    lam = np.divide(mean, scale, out=np.zeros(mean.shape), where=mean > 0)
    integral = np.issubdtype(scale.dtype, np.integer)
    for level in levels:
        n = poisson_quantiles(lam, [level])[:, 0]
        if integral:
            n *= scale
            yield n
        else:
            yield np.ceil(n * scale - 1e-9).astype(np.int64)
