"""Renewal functions of Weibull lives: expected failures of running components.

The expected number of failures of a component that is replaced at every failure is a
renewal function. :func:`renewal_function` gives the ordinary one (a new component, unit
scale); :func:`expected_failures` the delayed one of a component running at some age, which
is what an installed-base forecast sums over the fleet (see
:func:`partsforecast.forecast_demand` and
:meth:`partsforecast.FailureModel.expected_renewals`). :class:`RenewalTables` holds the
tables per Weibull shape that both share, for callers that evaluate many blocks of rows
against one set of tables (:func:`expected_failures_with_tables`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["renewal_function", "expected_failures", "expected_failures_with_tables", "RenewalTables"]

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
    tables, row = RenewalTables.for_values(shape.ravel(), x.ravel())
    return tables.M(row.reshape(x.shape), x)


class RenewalTables:
    """M(x) and ∫₀ˣ M on a uniform grid per Weibull shape (unit scale), for fast lookups.

    Made by :meth:`for_values` (tables for the distinct shapes of many rows).

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
    def for_values(cls, shape: np.ndarray, x: np.ndarray) -> tuple[RenewalTables, np.ndarray]:
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
    tables, inv = RenewalTables.for_values(k, hours[:, -1] / eta)
    out = np.empty_like(hours)
    for lo in range(0, age.size, _CHUNK_ROWS):
        sl = slice(lo, lo + _CHUNK_ROWS)
        out[sl] = expected_failures_with_tables(age[sl], hours[sl], inv[sl], eta[sl], tables)
    return out


def expected_failures_with_tables(age: np.ndarray, hours: np.ndarray, shape_row: np.ndarray, eta: np.ndarray,
                                  tables: RenewalTables) -> np.ndarray:
    """:func:`expected_failures` for one block of rows against tables built beforehand.

    For callers that evaluate many blocks against one set of tables (the forecast builds
    them once per group shape and shares them across threads).

    Parameters
    ----------
    age : (R,) array
        Operating hours since the last replacement.
    hours : (R, P) array
        Operating hours from now, non-decreasing along each row.
    shape_row : (R,) array of int
        Row of ``tables`` (its shape) of each row.
    eta : (R,) array
        Weibull scale of each row.
    tables : RenewalTables
        From :meth:`RenewalTables.for_values`, reaching every row's last ``hours / eta``.

    Returns
    -------
    (R, P) ndarray
        Expected number of failures in (0, hours].
    """
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


def _later_renewals(age, hours, shape_row, eta, a, n_steps: int, tables: RenewalTables) -> np.ndarray:
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
