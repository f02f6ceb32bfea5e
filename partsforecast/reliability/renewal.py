"""Renewal functions of Weibull, lognormal and gamma lives: expected failures of running
components.

The expected number of failures of a component that is replaced at every failure is a
renewal function. :func:`renewal_function` gives the ordinary one (a new component, unit
scale); :func:`expected_failures` the delayed one of a component running at some age, which
is what an installed-base forecast sums over the fleet (see
:func:`partsforecast.forecast_demand` and
:meth:`partsforecast.FailureModel.expected_renewals`). :class:`RenewalTables` holds the
tables per (law, shape) that both share, for callers that evaluate many blocks of rows
against one set of tables (:func:`expected_failures_with_tables`).

Every law here is a scale family (life = scale × a unit life whose law depends on the
shape only), so one table per (law, shape) in units of the scale serves every group with
that shape. The Weibull law's tables are in units of its scale; the lognormal's and the
gamma's reach as many of their *mean* lives (``unit`` = mean / scale: ``exp(sigma**2/2)``,
``k``), so that grid steps and the reach of Smith's asymptote mean the same for all laws.
"""

from __future__ import annotations

import numpy as np

from partsforecast.reliability.laws import LAW_NAMES, law_codes, lifetime_law

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
# The gamma law's log survival is tabulated per shape (``_GammaLogSurvival``) between the
# points where P(k, x) = 1e-12 and Q(k, x) = 1e-21, with steps of this many sd of log x
# (sqrt(trigamma(k)), ~1/√k for large k, ~1/k for small k).
_LOGQ_STEP = 0.03
_LOGQ_LOW, _LOGQ_HIGH = 1e-12, 1e-21


def _weibull_cdf(x: np.ndarray, shape: np.ndarray | float) -> np.ndarray:
    return -np.expm1(-np.power(np.maximum(x, 0.0), shape))


def renewal_function(x: np.ndarray, shape: float | np.ndarray, law: str = "weibull") -> np.ndarray:
    """Ordinary renewal function M(x) of a life with unit scale (Weibull by default).

    M(x) is the expected number of failures in [0, x] of a component that is new at 0 and
    replaced at every failure. Computed by the Riemann–Stieltjes scheme of Xie (1989),
    "On the solution of renewal-type integral equations", *Commun. Statist. Simul.*
    18(1), on a grid per shape up to the largest ``x`` asked (at most 30 scales) with steps
    of at most 0.01 scales (300 to 2,400 points),
    by Smith's asymptote beyond 30 scales, and in the first grid cell by the small-x series
    M(x) ≈ x^k + (Γ(1+k)²/Γ(1+2k) − ½)·x^{2k}. For the lognormal and gamma laws the grid
    and the asymptote are in units of the mean life (see the module notes) and the small-x
    series is the law's own (gamma: ``P(k, x) + P(2k, x)``; lognormal: ``F(x)``).

    Parameters
    ----------
    x : array_like
        Operating time in units of the scale (hours / scale).
    shape : float or array_like
        Shape of the law, broadcast against ``x``.
    law : {"weibull", "lognormal", "gamma"}
        The law (lognormal: shape = sd of log life, scale = median; gamma: shape = k,
        scale = theta).

    Returns
    -------
    ndarray
        M(x), same shape as the broadcast inputs.

    Examples
    --------
    >>> float(renewal_function(2.0, 1.0))            # exponential: M(x) = x
    2.0
    """
    x, shape = np.broadcast_arrays(np.asarray(x, float), np.asarray(shape, float))
    codes = None if law == "weibull" else np.full(shape.size, law_codes([law])[0])
    tables, row = RenewalTables.for_values(shape.ravel(), x.ravel(), law=codes)
    return tables.M(row, x.ravel()).reshape(x.shape)


class RenewalTables:
    """M(x) and ∫₀ˣ M on a uniform grid per (law, shape) (unit scale), for fast lookups.

    Made by :meth:`for_values` (tables for the distinct (law, shape) pairs of many rows).

    Each shape gets its own grid up to the largest argument its rows need (at most
    ``_X_MAX`` mean lives; the Weibull's in scales). Inside the first grid cell M follows
    its small-x series (Weibull: x^k + c·x^{2k}, where a straight line would be far off for
    shapes below one), corrected linearly to meet the table at the first grid point;
    elsewhere M is linear between grid points and its integral exact for that line.
    Built once per forecast and shared by every block of rows.

    Attributes
    ----------
    shapes, law : (U,) arrays
        Shape and law code (index in ``LAW_NAMES``) of every table row.
    unit : (U,) array
        The unit of the grid in scales (1 for the Weibull law, the mean life otherwise).
    """

    def __init__(self, shapes: np.ndarray, x_max: np.ndarray, law: np.ndarray | None = None):
        from scipy.special import gamma

        self.shapes = np.asarray(shapes, float)
        self.law = np.zeros(self.shapes.shape, np.int64) if law is None else np.asarray(law, np.int64)
        self.weibull = not self.law.any()
        self.unit = np.ones(self.shapes.shape)
        for code in np.unique(self.law[self.law > 0]):
            m = self.law == code
            self.unit[m] = lifetime_law(LAW_NAMES[code]).unit(self.shapes[m])
        if self.weibull:
            self.x_max = np.clip(np.broadcast_to(np.asarray(x_max, float), self.shapes.shape), 1e-9, _X_MAX)
            need = np.ceil(self.x_max / _GRID_STEP)
        else:
            self.x_max = np.clip(np.broadcast_to(np.asarray(x_max, float), self.shapes.shape), 1e-9,
                                 _X_MAX * self.unit)
            need = np.ceil(self.x_max / (_GRID_STEP * self.unit))
        cls = np.minimum(np.searchsorted(_GRID_POINTS, need), len(_GRID_POINTS) - 1)
        self.n = np.asarray(_GRID_POINTS)[cls]
        width = int(self.n.max(initial=_GRID_POINTS[0])) + 1
        self.table = np.zeros((len(self.shapes), width))
        self.dx = self.x_max / self.n
        for code in np.unique(self.law):
            for c in np.unique(cls[self.law == code]):
                idx = np.flatnonzero((cls == c) & (self.law == code))
                n = _GRID_POINTS[c]
                self.table[idx, : n + 1] = _renewal_tables(self.shapes[idx], self.x_max[idx], n, code)
        k, M, dx = self.shapes, self.table, self.dx
        rows = np.arange(len(k))
        # First cell: the small-x series plus the line that meets the table at x₁.
        self.gap = M[:, 1] - self._series(rows, dx)
        cells = 0.5 * (M[:, 1:] + M[:, :-1]) * dx[:, None]
        cells[:, 0] = self._series(rows, dx, integral=True) + 0.5 * self.gap * dx
        self.integral = np.concatenate([np.zeros((len(k), 1)), np.cumsum(cells, axis=1)], axis=1)
        self.mu = gamma(1 + 1 / k)
        self.c0 = (gamma(1 + 2 / k) - 2 * self.mu**2) / (2 * self.mu**2)  # (σ² − μ²)/(2μ²)
        for code in np.unique(self.law[self.law > 0]):  # the mean and variance of other laws
            m = self.law == code
            lw = lifetime_law(LAW_NAMES[code])
            mu, var = lw.mean(k[m], 1.0), lw.variance(k[m], 1.0)
            self.mu[m], self.c0[m] = mu, (var - mu**2) / (2 * mu**2)
        gam = self.law == LAW_NAMES.index("gamma")
        self._gamma = _GammaLogSurvival(k[gam]) if gam.any() else None
        self._gamma_row = np.cumsum(gam) - 1  # table row -> row of the gamma table

    def _series(self, row: np.ndarray, x: np.ndarray, integral: bool = False) -> np.ndarray:
        """The small-x series of M (or of its integral) of table rows ``row`` at ``x``."""
        if self.weibull:
            return _small_x_series(x, self.shapes[row], integral)
        codes = self.law[row]
        out = np.empty(np.shape(x))
        for code in np.unique(codes):
            m = codes == code
            k = self.shapes[row[m]]
            out[m] = (_small_x_series(x[m], k, integral) if code == 0
                      else lifetime_law(LAW_NAMES[code]).small_x(x[m], k, integral))
        return out

    @classmethod
    def for_values(cls, shape: np.ndarray, x: np.ndarray, law=None) -> tuple[RenewalTables, np.ndarray]:
        """Tables for the distinct values of ``shape`` (of (law, shape) with ``law``: names
        or codes per entry, or one name), each reaching the largest ``x`` paired with it, and
        the table row of every entry of ``shape``."""
        codes = _codes(law, np.shape(shape))
        if codes is None:
            uniq, row = np.unique(shape, return_inverse=True)
            uniq_law = None
        else:
            pairs, row = np.unique(np.column_stack([codes, shape]), axis=0, return_inverse=True)
            row = row.ravel()
            uniq, uniq_law = pairs[:, 1], pairs[:, 0].astype(np.int64)
        x_max = np.zeros(uniq.size)
        np.maximum.at(x_max, row, np.nan_to_num(x, posinf=np.inf))
        return cls(uniq, x_max, uniq_law), row

    def cumulative_hazard(self, row: np.ndarray, t: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """−log S(t) of the law of table rows ``row`` (per row; ``t`` (R,) or (R, P))."""
        t = np.asarray(t, float)
        col = (slice(None),) + (None,) * (t.ndim - 1)
        k = self.shapes[row]
        if self.weibull:
            return (t / scale[col]) ** k[col]
        from partsforecast.reliability.laws import by_law

        codes = self.law[row]
        gam = codes == LAW_NAMES.index("gamma")
        if not gam.any():
            return -by_law(codes, "log_sf", t, k, scale)
        if gam.all():
            return -self._gamma(self._gamma_row[row], t / scale[col])
        out = np.empty(t.shape)
        out[gam] = -self._gamma(self._gamma_row[row[gam]], t[gam] / scale[gam][col])
        if not gam.all():
            out[~gam] = -by_law(codes[~gam], "log_sf", t[~gam], k[~gam], scale[~gam])
        return out


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
            out[first] = self._series(r, x[first]) + self.gap[r] * pos[first]
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
        return self._series(row, x, integral=True) + 0.5 * self.gap[row] * x**2 / self.dx[row]

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


class _GammaLogSurvival:
    """log Q(k, x) of the gamma law, tabulated per shape for fast lookups.

    On a uniform grid in ``u = log x`` the table holds the cubic Hermite interpolant of
    ``r(u) = log Q(k, e^u) + e^u`` (from its values and derivatives, ``d log Q / du = −x p / Q``):
    ``r`` is smooth, linear in ``u`` plus a bounded term in both tails (``log Q ≈ −x + (k − 1)
    log x − log Γ(k)`` far right, ``≈ −P ≈ 0`` far left), so the interpolant is accurate to
    ~1e-9 in log Q. Below the grid (P < 1e-12) ``log Q ≈ −x^k e^-x / Γ(k + 1) (1 + x / (k + 1))``;
    beyond it (Q < 1e-21) the exact function is used.
    """

    def __init__(self, shapes: np.ndarray):
        from scipy import special

        from partsforecast.reliability.gamma import log_q

        k = np.asarray(shapes, float)
        self.k = k
        self.lg1 = special.gammaln(k + 1.0)
        u_lo = np.log(special.gammaincinv(k, _LOGQ_LOW))
        u_hi = np.log(special.gammainccinv(k, _LOGQ_HIGH))
        n = np.ceil((u_hi - u_lo) / (_LOGQ_STEP * np.sqrt(special.polygamma(1, k)))).astype(np.int64) + 1
        self.u_lo, self.n = u_lo, n
        self.du = (u_hi - u_lo) / (n - 1)
        self.start = np.concatenate([[0], np.cumsum(n)[:-1]])
        row = np.repeat(np.arange(k.size), n)
        u = u_lo[row] + (np.arange(n.sum()) - self.start[row]) * self.du[row]
        x, kr = np.exp(u), k[row]
        lq = log_q(kr, x)
        rho = np.exp(kr * u - x - special.gammaln(kr) - lq)  # x p(x) / Q = −d log Q / du
        r = lq + x
        dr = (x - rho) * self.du[row]  # per grid step
        # The cubic of each cell in the fraction f of the cell, c0 + f (c1 + f (c2 + f c3)).
        r1 = np.append(r[1:], 0.0)
        d1 = np.append(dr[1:], 0.0)
        self.coef = (r, dr, 3.0 * (r1 - r) - 2.0 * dr - d1, 2.0 * (r - r1) + dr + d1)

    def __call__(self, row: np.ndarray, x: np.ndarray) -> np.ndarray:
        """log Q(k, x) for the shapes of ``row`` (per row of ``x``, (R,) or (R, P))."""
        x = np.asarray(x, float)
        col = (slice(None),) + (None,) * (x.ndim - 1)
        k, n = self.k[row][col], self.n[row][col]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.log(x)
            pos = (u - self.u_lo[row][col]) * (1.0 / self.du[row][col])
            i = pos.astype(np.int64)  # x = 0 (u = −inf) lands below the grid, handled there
            np.clip(i, 0, n - 2, out=i)
            f = pos - i
            i += self.start[row][col]
            c0, c1, c2, c3 = self.coef
            out = c3.take(i)
            out *= f
            out += c2.take(i)
            out *= f
            out += c1.take(i)
            out *= f
            out += c0.take(i)
            out -= x
            below = pos < 0
            if below.any():
                kb, xb = np.broadcast_to(k, x.shape)[below], x[below]
                lg1 = np.broadcast_to(self.lg1[row][col], x.shape)[below]
                out[below] = np.where(xb > 0, -np.exp(kb * np.log(xb) - xb - lg1) * (1.0 + xb / (kb + 1.0)), 0.0)
        beyond = pos > n - 1
        if beyond.any():
            from partsforecast.reliability.gamma import log_q

            out[beyond] = log_q(np.broadcast_to(k, x.shape)[beyond], x[beyond])
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


def _codes(law, shape: tuple) -> np.ndarray | None:
    """Law codes per entry (None when every entry is Weibull)."""
    if law is None:
        return None
    arr = np.asarray(law)
    codes = arr.astype(np.int64) if arr.dtype.kind in "iu" else law_codes(arr)
    codes = np.broadcast_to(codes, shape).ravel()
    return codes if codes.any() else None


def _renewal_tables(shapes: np.ndarray, x_max: np.ndarray, n: int, law: int = 0) -> np.ndarray:
    """M on n + 1 uniform grid points up to x_max, for every shape of one law at once (rows).

    A loop over grid steps only.
    """
    dx = np.asarray(x_max, float) / n
    grid = np.arange(n + 1)[None, :] * dx[:, None]
    if law == 0:
        F = _weibull_cdf(grid, shapes[:, None])  # (U, n+1)
        series = _small_x_series
    else:
        lw = lifetime_law(LAW_NAMES[law])
        with np.errstate(divide="ignore"):
            F = lw.unit_cdf(grid, shapes[:, None])
        series = lw.small_x
    dF = np.diff(F, axis=1)  # dF[:, j-1] = F(x_j) − F(x_{j−1})
    M = np.zeros_like(F)
    half = np.zeros_like(F)  # half[:, m] = (M_m + M_{m+1}) / 2, filled as M grows
    # In the first cell M follows its small-x series S (M ~ x^k): a straight line there is
    # 30% off at the midpoint for k = 0.5, and the error would travel up the whole table.
    # M on the first cell is S plus the straight line that makes it meet M₁.
    k = np.asarray(shapes, float)
    s_mid, s_end = series(dx / 2, k), series(dx, k)
    M[:, 1] = (F[:, 1] + dF[:, 0] * (s_mid - 0.5 * s_end)) / (1.0 - 0.5 * dF[:, 0])
    half[:, 0] = s_mid + 0.5 * (M[:, 1] - s_end)
    for i in range(2, n + 1):
        # M_i = F_i + Σ_{j=1..i} dF_j · M(x_i − x_{j−½}); the j = 1 term holds M_i itself.
        acc = F[:, i] + 0.5 * dF[:, 0] * M[:, i - 1]
        acc += np.einsum("uj,uj->u", dF[:, 1:i], half[:, i - 2::-1][:, : i - 1])
        M[:, i] = acc / (1.0 - 0.5 * dF[:, 0])
        half[:, i - 1] = 0.5 * (M[:, i - 1] + M[:, i])
    return M


def expected_failures(age: np.ndarray, hours: np.ndarray, shape: np.ndarray, scale: np.ndarray,
                      law=None) -> np.ndarray:
    """Expected cumulative failures of running components at future operating hours.

    The delayed renewal function: the first failure follows the life conditional on
    survival to ``age``; each replacement starts a fresh life, so
    E[N(h)] = F₁(h) + ∫₀ʰ M(h − t) dF₁(t) with F₁ the conditional first-failure law and M
    the ordinary renewal function. The integral is taken by product integration on a uniform
    grid of each row's horizon (F₁ linear within a step, M integrated exactly from its
    tabulated integral), with steps of at most 0.05 scales (0.05 mean lives for the
    lognormal and gamma laws).

    Parameters
    ----------
    age : (R,) array
        Operating hours since the last replacement (or since new).
    hours : (R, P) array
        Operating hours from now at which to evaluate, non-decreasing along each row.
    shape, scale : (R,) arrays
        Parameters of each row's law (see :func:`renewal_function`).
    law : str or (R,) array of str, optional
        Law of every row, or one for all: ``"weibull"`` (the default), ``"lognormal"``,
        ``"gamma"``.

    Returns
    -------
    (R, P) ndarray
        Expected number of failures in (0, hours].

    Examples
    --------
    >>> import numpy as np
    >>> float(expected_failures([500.0], [[1000.0]], [1.0], [250.0])[0, 0])  # exponential: h / scale
    4.0
    """
    age = np.asarray(age, float)
    hours = np.atleast_2d(np.asarray(hours, float))
    k = np.asarray(shape, float)
    eta = np.asarray(scale, float)
    tables, inv = RenewalTables.for_values(k, hours[:, -1] / eta, law=law)
    out = np.empty_like(hours)
    for lo in range(0, age.size, _CHUNK_ROWS):
        sl = slice(lo, lo + _CHUNK_ROWS)
        out[sl] = expected_failures_with_tables(age[sl], hours[sl], inv[sl], eta[sl], tables)
    return out


def expected_failures_with_tables(age: np.ndarray, hours: np.ndarray, shape_row: np.ndarray, eta: np.ndarray,
                                  tables: RenewalTables, severity: np.ndarray | None = None,
                                  weights: np.ndarray | None = None) -> np.ndarray:
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
        Row of ``tables`` (its law and shape) of each row.
    eta : (R,) array
        Scale of each row.
    tables : RenewalTables
        From :meth:`RenewalTables.for_values`, reaching every row's last ``hours / eta``
        (times the largest ``severity``).
    severity, weights : (R, K) arrays, optional
        A mixture over each row's time scale (:class:`~partsforecast.reliability.MachineSeverity`
        nodes): the row's law with scale ``eta / severity[:, k]`` with probability
        ``weights[:, k]`` (one evaluation per node: the later renewals, ~7% of a year's
        failures on the heavy-use fleets, grow faster than linearly in the severity, and
        taken at the mean severity they come out ~15% short).

    Returns
    -------
    (R, P) ndarray
        Expected number of failures in (0, hours].
    """
    if severity is not None:  # the few nodes, each vectorised over the rows
        return sum(weights[:, k, None] * expected_failures_with_tables(age, hours, shape_row, eta / severity[:, k],
                                                                       tables)
                   for k in range(severity.shape[1]))
    out, a = _first_failure(age, hours, shape_row, eta, tables)
    return out + _later_part(age, hours, shape_row, eta, tables, out, a)


def _first_failure(age, hours, shape_row, eta, tables: RenewalTables) -> tuple[np.ndarray, np.ndarray]:
    """Probability of the first failure within ``hours`` of each row, and its cumulative
    hazard at ``age``."""
    if tables.weibull:
        k = tables.shapes[shape_row]
        a = (age / eta) ** k
        out = -np.expm1(-(((age[:, None] + hours) / eta[:, None]) ** k[:, None] - a[:, None]))
    else:  # a = −log S(age), the cumulative hazard
        a = tables.cumulative_hazard(shape_row, age, eta)
        out = -np.expm1(-(tables.cumulative_hazard(shape_row, age[:, None] + hours, eta) - a[:, None]))
    return out, a


def _later_part(age, hours, shape_row, eta, tables: RenewalTables, first: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Expected second and later failures within ``hours`` (``first``, ``a``: from
    :func:`_first_failure`)."""
    out = np.zeros_like(first)
    x_end = hours[:, -1] / eta
    # Second and later failures matter only where F₁(end)·M(end) is above the tolerance.
    bound = first[:, -1] * tables.M(shape_row, x_end)
    rows = np.flatnonzero(bound > _RENEWAL_TOL)
    if rows.size == 0:
        return out
    need = np.ceil(x_end[rows] / _MAX_STEP if tables.weibull
                   else x_end[rows] / (_MAX_STEP * tables.unit[shape_row[rows]]))
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
    step = hours[:, -1] / n_steps  # hours per grid step
    nodes = step[:, None] * np.arange(n_steps + 1)
    F1 = -np.expm1(-(tables.cumulative_hazard(shape_row, age[:, None] + nodes, eta) - a[:, None]))
    dF1 = np.diff(F1, axis=1)
    u = step / eta
    W = np.diff(tables.integral_M_grid(shape_row, u, n_steps), axis=1) / np.where(u > 0, u, 1.0)[:, None]
    # Nodes × rows, so that every lag's update runs over contiguous memory.
    dF1_t, W_t = np.ascontiguousarray(dF1.T), np.ascontiguousarray(W.T)
    L_t = np.zeros((n_steps + 1, R))
    for j in range(n_steps):  # lag j: a first failure in step s feeds nodes s + j + 1
        L_t[j + 1:] += dF1_t[: n_steps - j] * W_t[j]
    L = L_t.T
    # Between grid nodes L follows a power of h (L ~ h^(k+1) for a running component, h^(2k)
    # for a new one), so it is interpolated as one: L(h) = L_i (h / h_i)^α with α from the
    # two nodes around h (from nodes 1 and 2 inside the first step). A straight line would
    # overstate it by up to ~1e-3 of the whole expected count at the first month ends.
    pos = hours / np.where(step > 0, step, 1.0)[:, None]
    lo = np.clip(pos.astype(np.int64), 1, n_steps - 1) if n_steps > 1 else np.zeros(pos.shape, np.int64)
    L0 = np.take_along_axis(L, lo, axis=1)
    L1 = np.take_along_axis(L, lo + 1, axis=1)
    node = np.arange(1, max(n_steps, 2), dtype=float)
    log_step = np.concatenate([[np.nan], np.log((node + 1) / node)])  # log((lo + 1) / lo) by lo
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.log(L1 / L0) / log_step[lo]
        power = L0 * np.exp(alpha * np.log(pos / lo))
    linear = L0 + (L1 - L0) * (pos - lo)
    ok = (L0 > 0) & (L1 > L0) & np.isfinite(power)
    return np.where(ok, power, np.where(pos <= 0, 0.0, linear))
