"""Likelihood-ratio (profile-likelihood) intervals of maximum-likelihood Weibull fits.

:func:`profile_bounds` finds, for many groups at once, the shapes and scales whose profile
log-likelihood lies within ``chi2_level(1) / 2`` of the maximum; the group engine
(:func:`partsforecast.reliability.groups.fit_core`) calls it for every ``"mle"`` group. The
helpers are vectorised root finders with a convergence mask per item.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["profile_bounds"]


class _Rows:
    """The rows of a set of *items* (a group, or one side of a group's interval), with the
    subset of rows of still-active items refreshed when it halves (as in shape_search)."""

    def __init__(self, item: np.ndarray, L: np.ndarray, w: np.ndarray, n_items: int):
        self.all = (item, L, w)
        self.item, self.L, self.w, self.n = item, L, w, n_items
        self.covered = np.ones(n_items, bool)     # items whose rows are all in the subset

    def sums(self, k_item: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``A0 = sum w exp(k L)`` and ``A1 = sum w L exp(k L)`` per item (active items only)."""
        if (active & ~self.covered).any():         # a new search: start from all rows again
            self.item, self.L, self.w = self.all
            self.covered = np.ones(self.n, bool)
        row_active = active[self.item]
        if row_active.mean() < 0.5:
            self.item, self.L, self.w = self.item[row_active], self.L[row_active], self.w[row_active]
            self.covered = active.copy()
        with np.errstate(over="ignore", invalid="ignore"):
            x = self.w * np.exp(k_item[self.item] * self.L)
        return np.bincount(self.item, x, self.n), np.bincount(self.item, x * self.L, self.n)


def _solve_v(s: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """The root of ``v + exp(-v) = s`` (``s >= 1``) on the positive or the negative branch, i.e.
    ``v = s + W(-exp(-s))`` with Lambert's W on its principal (positive ``v``) or ``-1`` branch.
    Newton's method from the series ``v = p + p**2/3 + p**3/36``, ``p = +-sqrt(2 (s - 1))``
    (exact to ``O(p**4)`` near the branch point); ``v + exp(-v)`` is convex, so the iterates
    approach the root monotonically after the first step."""
    with np.errstate(invalid="ignore"):
        p = np.sqrt(2.0 * np.maximum(s - 1.0, 0.0)) * np.where(positive, 1.0, -1.0)
        v = p + p * p / 3.0 + p ** 3 / 36.0
    for _ in range(6):
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            e = np.exp(-v)
            step = (v + e - s) / (1.0 - e)
        v = np.where(np.isfinite(step) & (v != 0.0), v - step, v)
    return v


def _root_bracketed(fun, a: np.ndarray, b: np.ndarray, fa: np.ndarray, fb: np.ndarray,
                    x0: np.ndarray | None = None, tol: float = 1e-10,
                    max_iter: int = 100) -> np.ndarray:
    """Root of ``fun`` in ``[a, b]`` for many items at once, given ``fa < 0 < fb`` (end values
    may be infinite). ``fun(x, active) -> (value, slope or None)``. Each step takes, in order of
    preference, a Newton step (when a slope is given), a secant or regula falsi step with the Illinois
    modification, or the midpoint -- whichever first lands strictly inside the bracket, which
    then shrinks around the root. Without a slope, the secant through the last two points
    comes before regula falsi. ``x0`` is an optional first guess."""
    a, b, fa, fb = a.copy(), b.copy(), fa.copy(), fb.copy()
    last = np.zeros(a.size, np.int8)            # which end was replaced last: -1 a, +1 b
    x = 0.5 * (a + b) if x0 is None else np.where((x0 > a) & (x0 < b), x0, 0.5 * (a + b))
    # the previous point, for a plain secant step while one end value is still infinite
    x_prev, f_prev = np.where(np.isfinite(fa), a, b), np.where(np.isfinite(fa), fa, fb)
    active = (b - a) > tol * (1.0 + np.abs(a))
    for _ in range(max_iter):
        if not active.any():
            break
        fx, dfx = fun(x, active)
        neg = active & (fx < 0)
        pos = active & (fx > 0)
        fb = np.where(neg & (last == -1), 0.5 * fb, fb)
        fa = np.where(pos & (last == 1), 0.5 * fa, fa)
        a, fa = np.where(neg, x, a), np.where(neg, fx, fa)
        b, fb = np.where(pos, x, b), np.where(pos, fx, fb)
        last = np.where(neg, -1, np.where(pos, 1, last)).astype(np.int8)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            falsi = b - fb * (b - a) / (fb - fa)
            sec = x - fx * (x - x_prev) / (fx - f_prev)
            newton = x - fx / dfx if dfx is not None else np.full(x.size, np.nan)
        x_prev, f_prev = np.where(active, x, x_prev), np.where(active, fx, f_prev)
        inside_n = np.isfinite(newton) & (newton > a) & (newton < b)
        inside_s = np.isfinite(sec) & (sec > a) & (sec < b)
        inside_f = np.isfinite(falsi) & (falsi > a) & (falsi < b)
        x_new = np.where(inside_n, newton, np.where(inside_s, sec, np.where(inside_f, falsi, 0.5 * (a + b))))
        done = active & (~(neg | pos) | (np.abs(x_new - x) <= tol * (1.0 + np.abs(x)))
                         | ((b - a) <= tol * (1.0 + np.abs(x))))
        x = np.where(active & ~done, x_new, x)
        active &= ~done
    return x


def profile_bounds(
    S: dict, st: dict, k_hat: np.ndarray, var_b: np.ndarray, var_a: np.ndarray,
    cov_ab: np.ndarray, m: np.ndarray, G: int, level: float,
) -> tuple[np.ndarray, ...]:
    """Likelihood-ratio (profile-likelihood) intervals of shape and scale of the groups in ``m``.

    The interval of a parameter is the set of its values whose profile log-likelihood is
    within ``chi2_level(1) / 2`` of the maximum (Lawless 2003, sec. 5.2; Meeker & Escobar
    1998, sec. 8.3). With ``b = log k`` and shifted log-times ``L`` (see group_setup):

    * shape: the profile is ``f(b) = r b - r log sum w exp(k L) + k SL`` (+ constant), concave in
      ``k``; its two crossings of ``f(b_hat) - q/2`` are found by safeguarded Newton steps.
    * scale: for fixed ``k`` the log-likelihood in ``u = log eta`` is
      ``lp(k) - r h(v)`` with ``v = k u - log(sum w t**k / r)`` and ``h(v) = v + exp(-v) - 1``, so
      the values of ``u`` allowed at ``k`` form ``[u_-(k), u_+(k)]`` where ``v_+-`` solve
      ``v + exp(-v) = s``, ``s = 1 + (lp(k) - lp_max + q/2) / r`` (``v = s + W(-exp(-s))`` on the
      two real branches of Lambert's W). The scale's profile interval is the union over the
      shape's interval, ``[min u_-(k), max u_+(k)]``; each extremum is the root of ``du/db``,
      found by regula falsi (Illinois) from the Wald ellipse's extreme.

    Wald intervals (from the observed information) are kept where a search does not
    converge. Returns ``k_lo, k_hi, eta_lo, eta_hi`` (arrays of length G, NaN outside ``m``).
    """
    q2 = stats.chi2.ppf(level, 1) / 2.0
    z = stats.norm.ppf(0.5 + level / 2.0)
    idx = np.flatnonzero(m)
    n = idx.size
    out = tuple(np.full(G, np.nan) for _ in range(4))
    if n == 0:
        return out
    pos_of = np.full(G, -1)
    pos_of[idx] = np.arange(n)
    sel = m[S["g"]]
    g_rows, L_rows, w_rows = pos_of[S["g"][sel]], S["L"][sel], S["w"][sel]
    r, SL, M = S["r"][idx], S["SL"][idx], S["M"][idx]
    bh = np.log(k_hat[idx])
    sb = np.sqrt(var_b[idx])

    # two items per group: side 0 = lower end, side 1 = upper end
    item = np.concatenate([g_rows, g_rows + n])
    rows = _Rows(item, np.concatenate([L_rows, L_rows]), np.concatenate([w_rows, w_rows]), 2 * n)
    r2, SL2, M2, bh2 = (np.tile(v, 2) for v in (r, SL, M, bh))
    upper = np.r_[np.zeros(n, bool), np.ones(n, bool)]

    def f_of(b, active):
        k = np.exp(b)
        A0, A1 = rows.sums(k, active)
        with np.errstate(divide="ignore", invalid="ignore"):
            f = r2 * b - r2 * np.log(A0) + k * SL2
            df = r2 - r2 * k * A1 / A0 + k * SL2
        return f, df, A0, A1

    all2 = np.ones(2 * n, bool)
    # at the MLE, from the fit's sums: log A0 = log T - k M
    kh2 = np.exp(bh2)
    log_A0_hat = np.tile(st["log_T"][idx], 2) - kh2 * M2
    f_hat = r2 * bh2 - r2 * log_A0_hat + kh2 * SL2
    cut = f_hat - q2

    # --- shape: Newton in k on each side. f is concave in k, so every tangent lies above it
    # and from the second step on the iterates approach each crossing monotonically from
    # outside the interval (no bracket needed; a step to k <= 0 is replaced by k / 4).
    kk = kh2 * np.exp(np.where(upper, z, -z) * np.tile(sb, 2))   # Wald ends
    active = all2.copy()
    df_root = np.full(2 * n, np.nan)              # df/db at the crossings
    for _ in range(100):
        if not active.any():
            break
        f, df = f_of(np.log(kk), active)[:2]
        df_root = np.where(active, df, df_root)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            k_new = kk - (f - cut) / (df / kk)
        k_new = np.where(np.isfinite(k_new), np.where(k_new > 0, k_new, kk / 4.0), np.nan)
        conv = np.abs(k_new - kk) <= 1e-13 * kk
        kk = np.where(active, k_new, kk)
        active &= ~conv & np.isfinite(kk)
    bk = np.log(kk)
    ok_k = ~active & np.isfinite(bk) & np.where(upper, bk > bh2, bk < bh2)
    ok_k = np.tile(ok_k[:n] & ok_k[n:], 2)
    b_lo, b_hi = bk[:n], bk[n:]
    wald_b = bh2 + np.where(upper, z, -z) * np.tile(sb, 2)

    # --- scale: extremes of u_+-(k) over the shape's interval --------------------------------
    # side 1: max of u_+ (positive branch of v); side 0: min of u_- (negative branch)
    u_last = np.full(2 * n, np.nan)               # u - M at the last point evaluated

    def u_and_slope(x, active):
        f, df, A0, A1 = f_of(x, active)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            k = np.exp(x)
            s = np.maximum(1.0 + (f - cut) / r2, 1.0)
            v = _solve_v(s, upper)
            u_m = (v + np.log(A0) - np.log(r2)) / k          # u - M
            dv = 1.0 / (1.0 - s + v)                          # dv/ds, from v + exp(-v) = s
            slope = dv * (df / r2) / k + A1 / A0 - u_m        # sign of du/db
        u_last[active] = u_m[active]
        return slope

    # Search in theta, b = mid + half sin(theta): near the ends of the shape's interval v grows
    # like sqrt(distance), so du/db is infinite there, but du/dtheta is finite and smooth;
    # its end values follow from the slopes of f at the shape's bounds (alpha = |f'| / r):
    # u_+: +sqrt(alpha_lo half) / k_lo at the lower end, -sqrt(alpha_hi half) / k_hi at the
    # upper end; u_- the opposite. So regula falsi works on finite values from the start.
    mid = np.tile(0.5 * (b_lo + b_hi), 2)
    half = np.tile(0.5 * (b_hi - b_lo), 2)
    end_lo = np.sqrt(np.tile(np.abs(df_root[:n]) / r, 2) * half) / np.tile(np.exp(b_lo), 2)
    end_hi = np.sqrt(np.tile(np.abs(df_root[n:]) / r, 2) * half) / np.tile(np.exp(b_hi), 2)
    sgn2 = np.where(upper, -1.0, 1.0)             # oriented: negative at -pi/2, positive at pi/2
    fa2 = sgn2 * np.where(upper, end_lo, -end_lo)
    fb2 = sgn2 * np.where(upper, -end_hi, end_hi)

    def theta_fun(th, active):
        return sgn2 * u_and_slope(mid + half * np.sin(th), active) * half * np.cos(th), None

    # first guess: where the Wald ellipse of (log eta, log k) reaches its extreme log eta
    guess = bh2 + np.where(upper, 1.0, -1.0) * z * np.tile(cov_ab[idx] / np.sqrt(var_a[idx]), 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        th0 = np.arcsin(np.clip((guess - mid) / half, -0.95, 0.95))
    ok_k &= half > 0
    _root_bracketed(theta_fun, np.full(2 * n, -np.pi / 2), np.full(2 * n, np.pi / 2), fa2, fb2,
                    x0=np.where(ok_k, th0, 0.0), tol=1e-8)
    u_m = u_last
    ok_u = ok_k & np.isfinite(u_m)

    la = np.tile(st["log_eta"][idx], 2)
    sa = np.tile(np.sqrt(var_a[idx]), 2)
    wald_u = np.where(upper, la + z * sa, la - z * sa)
    b_fin = np.where(ok_k, bk, wald_b)
    u_fin = np.where(ok_u, M2 + u_m, wald_u)
    k_lo, k_hi, e_lo, e_hi = out
    k_lo[idx], k_hi[idx] = np.exp(b_fin[:n]), np.exp(b_fin[n:])
    e_lo[idx], e_hi[idx] = np.exp(u_fin[:n]), np.exp(u_fin[n:])
    return k_lo, k_hi, e_lo, e_hi
