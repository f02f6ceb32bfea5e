"""Lifetime laws behind one protocol, and the vectorised engine that fits them to groups.

A law is an object of the :class:`~partsforecast.reliability.LifetimeLaw` protocol
(``partsforecast.reliability.protocol``): its survival and density, its moments, the pieces
the renewal tables need, and per-life derivatives of its log-likelihood in working
parameters. The laws are :class:`WeibullLaw` (``S(t) = exp(-(t/scale)**shape)``),
:class:`~partsforecast.reliability.lognormal.LognormalLaw` (``shape`` = sd of log life,
``scale`` = median) and :class:`~partsforecast.reliability.gamma.GammaLaw` (``shape`` = k,
``scale`` = theta); :func:`lifetime_law` gives one by name.

The engine (:func:`fit_law_groups` and the pieces :class:`FailureModel` builds on) fits
every group at once, all groups iterating together with a convergence mask and sums by
``np.bincount`` (no Python loop over groups):

* ``joint_fit`` -- a shape per *pool* and a scale per group by Newton's method on the
  arrowhead Hessian (one shape, many scales: the Schur complement of the scales is a
  scalar per pool), with a backtracking line search on each pool's log-likelihood and a
  gradient step where the Hessian is not negative definite. A group's own fit is the case
  pool = group; a family's pooled shape is pool = family.
* ``scale_fit`` -- the scale of each group given its shape (concave in the log scale for
  the three laws), optionally with a normal prior on the log scale (the empirical-Bayes
  shrinkage of sparse groups towards their family).
* ``zero_failure_bound`` -- for a group without failures, the scale at which the
  probability of seeing no failure is ``1 - level`` (for the Weibull law this is the
  chi-square bound with 2 degrees of freedom of :func:`fit_weibull_groups`).

The Weibull law is fitted by its own engine (:mod:`partsforecast.reliability.groups`),
whose profile likelihood has a closed-form scale; :class:`WeibullLaw` gives the other
laws' interface to it for the renewal tables and the comparisons.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from partsforecast.reliability._common import (
    per_group,
    validate,
    validate_codes,
    validate_level,
)
from partsforecast.reliability.gamma import GammaLaw
from partsforecast.reliability.groups import LAW_GROUP_COLUMNS, group_frame
from partsforecast.reliability.lognormal import LognormalLaw

__all__ = ["WeibullLaw", "LognormalLaw", "GammaLaw", "lifetime_law", "fit_law_groups", "LAW_NAMES"]

#: The laws a fleet's groups can follow, in the order ties are broken.
LAW_NAMES = ("weibull", "lognormal", "gamma")

_MAX_ITER = 100
_MAX_HALVINGS = 40
#: Newton decrement (predicted increase of the log-likelihood) at which a fit stops.
_DECREMENT_TOL = 1e-16
#: A failed line search with a larger decrement than this is a failed fit, not a maximum.
_STUCK_TOL = 1e-8


class WeibullLaw:
    """The Weibull law: ``S(t) = exp(-(t / scale) ** shape)`` (fitted by ``groups.py``)."""

    name = "weibull"
    shape_meaning = "shape k"
    scale_meaning = "scale eta (hours; 63.2% fail by it)"

    def log_sf(self, t, shape, scale):
        """log S(t) = -(t / scale) ** shape."""
        return -np.power(np.asarray(t, float) / scale, shape)

    def log_pdf(self, t, shape, scale):
        """Log density of the life (per operating hour)."""
        z = np.asarray(t, float) / scale
        with np.errstate(divide="ignore"):
            return np.log(shape / scale) + (shape - 1.0) * np.log(z) - np.power(z, shape)

    def cdf(self, t, shape, scale):
        """Probability of failure by ``t``."""
        return -np.expm1(-np.power(np.asarray(t, float) / scale, shape))

    def mean(self, shape, scale):
        """Mean life, ``scale * Gamma(1 + 1/shape)``."""
        return scale * special.gamma(1.0 + 1.0 / np.asarray(shape, float))

    def variance(self, shape, scale):
        """Variance of the life."""
        k = np.asarray(shape, float)
        return np.square(scale) * (special.gamma(1.0 + 2.0 / k) - special.gamma(1.0 + 1.0 / k) ** 2)

    def from_moments(self, mean, var):
        """The shape and scale with this mean and variance (by bisection on the cv)."""
        cv2 = np.asarray(var, float) / np.square(mean)
        lo, hi = np.full(cv2.shape, np.log(0.05)), np.full(cv2.shape, np.log(50.0))
        for _ in range(80):  # cv of the Weibull falls as the shape grows
            mid = 0.5 * (lo + hi)
            k = np.exp(mid)
            c = np.expm1(special.gammaln(1 + 2 / k) - 2 * special.gammaln(1 + 1 / k))
            lo, hi = np.where(c > cv2, mid, lo), np.where(c > cv2, hi, mid)
        k = np.exp(0.5 * (lo + hi))
        return k, mean / special.gamma(1.0 + 1.0 / k)

    def unit(self, shape):
        """The renewal tables of the Weibull law are in units of the scale."""
        return np.ones(np.shape(shape))


_LAWS = {"weibull": WeibullLaw(), "lognormal": LognormalLaw(), "gamma": GammaLaw()}


def lifetime_law(name: str):
    """The law called ``name``: ``"weibull"``, ``"lognormal"`` or ``"gamma"``.

    Raises
    ------
    ValueError
        For any other name; the message lists the laws.
    """
    try:
        return _LAWS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown lifetime law {name!r}; the laws are "
                         f"{', '.join(map(repr, LAW_NAMES))}") from None


def law_codes(laws) -> np.ndarray:
    """Index in ``LAW_NAMES`` of every law name (``None`` or a scalar: all the same)."""
    if laws is None:
        return np.zeros(0, np.int64)
    arr = np.asarray(laws, dtype=object)
    names, inv = np.unique(arr.astype(str).ravel(), return_inverse=True)
    codes = np.array([LAW_NAMES.index(lifetime_law(n).name) for n in names], np.int64)
    return codes[inv].reshape(arr.shape)


def by_law(codes: np.ndarray, method: str, t, shape, scale) -> np.ndarray:
    """``lifetime_law(...).<method>(t, shape, scale)`` with the law of each row's code.

    ``codes``, ``shape`` and ``scale`` are per row (R,); ``t`` is (R,) or (R, P). One call
    per law present (no loop over rows)."""
    t = np.asarray(t, float)
    present = np.unique(codes)
    col = (slice(None),) + (None,) * (t.ndim - 1)
    if present.size == 1:
        return getattr(_LAWS[LAW_NAMES[present[0]]], method)(t, shape[col], scale[col])
    out = np.empty(t.shape)
    for c in present:
        m = codes == c
        out[m] = getattr(_LAWS[LAW_NAMES[c]], method)(t[m], shape[m][col], scale[m][col])
    return out


# ---------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------


class Lives:
    """The lives of a fit with their group codes (rows of weight 0 dropped)."""

    def __init__(self, g, t, d, w, G):
        keep = w > 0
        self.g, self.t, self.d, self.w = g[keep], t[keep], d[keep].astype(bool), w[keep]
        self.lt = np.log(self.t)
        self.G = G
        self.r = np.bincount(self.g, self.w * self.d, G)
        self.n_cens = np.bincount(self.g, self.w * ~self.d, G)
        self.has = np.bincount(self.g, self.w, G) > 0
        fail = self.d
        lo = np.full(G, np.inf)
        hi = np.full(G, -np.inf)
        np.minimum.at(lo, self.g[fail], self.t[fail])
        np.maximum.at(hi, self.g[fail], self.t[fail])
        self.multi = hi > lo  # at least two distinct failure times

    def subset(self, groups: np.ndarray) -> tuple[np.ndarray, ...]:
        """Rows of the groups flagged in ``groups`` (G,)."""
        m = groups[self.g]
        return self.g[m], self.lt[m], self.d[m], self.w[m]


def _sums(g, w, G, *cols):
    return [np.bincount(g, w * c, G) for c in cols]


def _line_search(objective, current: np.ndarray, dec: np.ndarray, searching: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Backtracking (Armijo) line search, unit by unit (pools or groups).

    Each searching unit's step starts at 1 and halves, at most ``_MAX_HALVINGS`` times,
    until ``objective(step, searching)`` (the units' objective at that step; −inf where it is
    undefined; only the searching units' entries are read) gains ``1e-4 · step · dec`` over
    ``current``. Returns the accepted steps (0 where none was found) and the units that found
    none.
    """
    step = np.where(searching, 1.0, 0.0)
    accepted = np.zeros(searching.shape, bool)
    for _ in range(_MAX_HALVINGS):
        if not searching.any():
            break
        value = objective(step, searching)
        with np.errstate(invalid="ignore"):
            accept = searching & np.isfinite(value) & (
                value >= current + 1e-4 * step * dec - 1e-12 * np.abs(current))
        accepted |= accept
        searching = searching & ~accept
        step = np.where(searching, step * 0.5, step)
    return np.where(accepted, step, 0.0), searching


def joint_fit(law, lv: Lives, pool: np.ndarray, P: int, shape0: np.ndarray, scale0: np.ndarray,
              active: np.ndarray) -> dict[str, np.ndarray]:
    """Maximum likelihood of one shape per pool and one scale per group, for the groups in
    ``active`` (G,) (each pool's active groups share its shape). ``shape0`` (P,) and
    ``scale0`` (G,) start the search. Returns ``shape`` (P,), ``scale`` (G,), ``loglik``
    (P,), ``converged`` (P,), ``n_iter`` (P,) and the per-group Hessian pieces at the
    optimum (in the working parameters) for the information matrix."""
    G = lv.G
    ok0 = active & np.isfinite(scale0) & (scale0 > 0)
    s0, c0 = law.to_working(shape0[pool], np.where(ok0, scale0, 1.0))
    s = np.zeros(P)
    s[pool] = s0  # every group of a pool starts at the pool's shape
    c = np.where(ok0, c0, 0.0)
    pool_on = np.bincount(pool, active.astype(float), P) > 0
    done = ~pool_on
    n_iter = np.zeros(P, np.int64)
    g, lt, d, w = lv.subset(active)
    pg = pool[g]
    ll_p = np.full(P, -np.inf)
    H = (np.zeros(G), np.zeros(G), np.zeros(G))
    schur = np.full(P, np.nan)
    stuck = np.zeros(P, bool)
    for _ in range(_MAX_ITER):
        if done.all():
            break
        rows = ~done[pg]
        gr, ltr, dr, wr = g[rows], lt[rows], d[rows], w[rows]
        ll, gs, gc, hss, hsc, hcc = law.terms(ltr, dr, gr, s[pool], c)
        L, Gs, Gc, Hss, Hsc, Hcc = _sums(gr, wr, G, ll, gs, gc, hss, hsc, hcc)
        H = tuple(np.where(done[pool], h0, h1) for h0, h1 in zip(H, (Hss, Hsc, Hcc)))
        Lp = np.bincount(pool, L, P)
        ll_p = np.where(done, ll_p, Lp)
        # Newton step on the arrowhead system; a gradient step where it is not an ascent
        with np.errstate(divide="ignore", invalid="ignore"):
            on = active & (Hcc < 0)
            ratio = np.where(on, Hsc / Hcc, 0.0)
            A = np.bincount(pool, np.where(active, Hss, 0.0), P) - np.bincount(pool, ratio * Hsc, P)
            rhs = -np.bincount(pool, np.where(active, Gs, 0.0), P) + np.bincount(pool, ratio * Gc, P)
            ds = rhs / A
            dc = np.where(on, (-Gc - Hsc * ds[pool]) / Hcc, 0.0)
            newton_ok = (A < 0) & (np.bincount(pool, (active & ~(Hcc < 0)).astype(float), P) == 0)
        schur = np.where(done, schur, A)
        grad_s = np.bincount(pool, np.where(active, Gs, 0.0), P)
        scale_s = np.maximum(np.abs(np.bincount(pool, np.where(active, Hss, 0.0), P)), 1.0)
        ds = np.where(newton_ok, ds, grad_s / scale_s)
        dc = np.where(newton_ok[pool], dc, np.where(active, Gc / np.maximum(np.abs(Hcc), 1.0), 0.0))
        ds = np.where(done, 0.0, np.nan_to_num(ds))
        dc = np.where(done[pool] | ~active, 0.0, np.nan_to_num(dc))
        dec = grad_s * ds + np.bincount(pool, np.where(active, Gc * dc, 0.0), P)
        n_iter[~done] += 1
        conv = ~done & (np.abs(dec) <= _DECREMENT_TOL * np.maximum(1.0, np.abs(ll_p)))
        done = done | conv
        def pool_loglik(step: np.ndarray, searching: np.ndarray) -> np.ndarray:
            sr = searching[pg]
            s_try, c_try = s + step * ds, c + step[pool] * dc
            ok_w = law.valid(s_try[pool], c_try)
            s_safe = np.where(ok_w, s_try[pool], s[pool])
            lrow = np.where(ok_w[g[sr]], law.loglik_rows(lt[sr], d[sr], g[sr], s_safe, c_try), -np.inf)
            with np.errstate(invalid="ignore"):
                Lt = np.bincount(pool[g[sr]], w[sr] * lrow, P)
            return np.where(np.bincount(pool[g[sr]], ~np.isfinite(lrow), P) > 0, -np.inf, Lt)

        step, searching = _line_search(pool_loglik, ll_p, dec, ~done)
        s = s + step * ds
        c = np.where(active, c + step[pool] * dc, c)
        # a pool whose line search found nothing better is at its maximum (to rounding),
        # unless a step it could not take promised a real gain
        stuck |= searching & (np.abs(dec) > _STUCK_TOL * np.maximum(1.0, np.abs(ll_p)))
        done = done | searching
    conv_p = done & pool_on & np.isfinite(ll_p) & ~stuck
    shape_g, scale_g = law.from_working(s[pool], c)
    shape_p = np.full(P, np.nan)
    shape_p[pool[active]] = shape_g[active]
    with np.errstate(divide="ignore", invalid="ignore"):
        # sd of log shape: the shape's variance is -1/A (the Schur complement of the scales)
        h = 1e-6
        dlog = (np.log(law.from_working(s + h, np.zeros(P))[0]) - np.log(law.from_working(s, np.zeros(P))[0])) / h
        se_log_shape = np.where(schur < 0, np.abs(dlog) * np.sqrt(-1.0 / schur), np.nan)
    return {"shape": shape_p, "scale": np.where(active, scale_g, np.nan), "loglik": ll_p,
            "converged": conv_p, "n_iter": n_iter, "H": H, "se_log_shape": se_log_shape}


def scale_fit(law, lv: Lives, shape_g: np.ndarray, active: np.ndarray, scale0: np.ndarray,
              prior_mean: np.ndarray | None = None, prior_var: np.ndarray | None = None) -> dict:
    """The scale of each active group given its shape (``shape_g`` (G,)): maximum likelihood,
    or with ``prior_mean``/``prior_var`` (G,) the mode of the likelihood times a normal prior
    on the log scale. Newton steps on the concave log-likelihood in ``u = log scale``, with a
    line search. Returns ``scale``, ``loglik`` (without the prior), ``info`` (minus the second
    derivative in ``u``, prior included), ``converged``."""
    G = lv.G
    u = np.where(active, np.log(scale0), 0.0)
    pm = np.zeros(G) if prior_mean is None else np.nan_to_num(prior_mean)
    pp = np.zeros(G) if prior_var is None else np.where(np.isfinite(prior_var) & (prior_var > 0),
                                                        1.0 / np.maximum(prior_var, 1e-300), 0.0)
    g, lt, d, w = lv.subset(active)
    done = ~active
    stuck = np.zeros(G, bool)
    obj = np.full(G, -np.inf)
    L = np.full(G, np.nan)
    info = np.full(G, np.nan)
    for _ in range(_MAX_ITER):
        if done.all():
            break
        rows = ~done[g]
        gr = g[rows]
        ll, gu, huu = law.scale_terms(lt[rows], d[rows], gr, shape_g, u)
        Lg, Gu, Hu = _sums(gr, w[rows], G, ll, gu, huu)
        Lg = Lg - 0.5 * pp * (u - pm) ** 2
        Gu = Gu - pp * (u - pm)
        Hu = Hu - pp
        obj = np.where(done, obj, Lg)
        L = np.where(done, L, Lg + 0.5 * pp * (u - pm) ** 2)
        info = np.where(done, info, -Hu)
        with np.errstate(divide="ignore", invalid="ignore"):
            du = np.where(Hu < 0, -Gu / Hu, np.sign(Gu))
        du = np.where(done, 0.0, np.clip(np.nan_to_num(du), -20.0, 20.0))
        dec = Gu * du
        conv = ~done & (np.abs(dec) <= _DECREMENT_TOL * np.maximum(1.0, np.abs(obj)))
        done = done | conv
        def objective(step: np.ndarray, searching: np.ndarray) -> np.ndarray:
            sr = searching[g]
            u_try = u + step * du
            lrow = law.scale_terms(lt[sr], d[sr], g[sr], shape_g, u_try)[0]
            return np.bincount(g[sr], w[sr] * lrow, G) - 0.5 * pp * (u_try - pm) ** 2

        step, searching = _line_search(objective, obj, dec, ~done)
        u = u + step * du
        stuck |= searching & (np.abs(dec) > _STUCK_TOL * np.maximum(1.0, np.abs(obj)))
        done = done | searching
    return {"scale": np.where(active, np.exp(u), np.nan), "loglik": np.where(active, L, np.nan),
            "info": np.where(active, info, np.nan), "converged": done & active & ~stuck}


def zero_failure_bound(law, lv: Lives, shape_g: np.ndarray, active: np.ndarray, level: float) -> np.ndarray:
    """The scale at which the lives of each active group would all survive with probability
    ``1 - level``: ``sum w log S(t; shape, scale) = log(1 - level)`` (bisection in the log
    scale; the left side grows with the scale). A one-sided lower confidence bound for a
    group without failures."""
    G = lv.G
    g, lt, _, w = lv.subset(active)
    lo = np.full(G, np.inf)
    hi = np.full(G, -np.inf)
    np.minimum.at(lo, g, lt)
    np.maximum.at(hi, g, lt)
    lo, hi = np.where(active, lo - 60.0, 0.0), np.where(active, hi + 60.0, 0.0)
    target = np.log1p(-level)
    for _ in range(90):
        mid = 0.5 * (lo + hi)
        total = np.bincount(g, w * law.log_sf(np.exp(lt), shape_g[g], np.exp(mid[g])), G)
        up = total < target
        lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    return np.where(active, np.exp(0.5 * (lo + hi)), np.nan)


def law_loglik(law, lv: Lives, shape_g: np.ndarray, scale_g: np.ndarray) -> np.ndarray:
    """Log-likelihood of each group's lives at given parameters (time density for failures,
    survival for censored lives); NaN where a parameter is not finite."""
    ok = np.isfinite(shape_g) & np.isfinite(scale_g) & (shape_g > 0) & (scale_g > 0)
    k = np.where(ok, shape_g, 1.0)[lv.g]
    eta = np.where(ok, scale_g, 1.0)[lv.g]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        row = np.where(lv.d, law.log_pdf(lv.t, k, eta), law.log_sf(lv.t, k, eta))
    out = np.bincount(lv.g, lv.w * np.nan_to_num(row, nan=0.0, neginf=-1e300), lv.G)
    return np.where(ok, out, np.nan)


def moment_start(law, lv: Lives, shape_w: np.ndarray | None = None, scale_w: np.ndarray | None = None):
    """Starting parameters of each group: the law with the mean and variance of a Weibull
    fit (``shape_w``, ``scale_w``) where there is one, else of the failure times."""
    G = lv.G
    fw = lv.w * lv.d
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.bincount(lv.g, fw * lv.lt, G) / lv.r
        v = np.bincount(lv.g, fw * (lv.lt - m[lv.g]) ** 2, G) / lv.r
        # lognormal moments of the failure times (all times when there are no failures)
        mall = np.bincount(lv.g, lv.w * lv.lt, G) / np.bincount(lv.g, lv.w, G)
        m = np.where(lv.r > 0, m, mall + 0.5)
        v = np.where((lv.r > 1) & (v > 1e-6), v, 0.25)
        mean = np.exp(m + v / 2)
        var = mean ** 2 * np.expm1(v)
        if shape_w is not None:
            wl = _LAWS["weibull"]
            okw = np.isfinite(shape_w) & np.isfinite(scale_w) & (shape_w > 0.2)
            mean = np.where(okw, wl.mean(np.where(okw, shape_w, 1.0), np.where(okw, scale_w, 1.0)), mean)
            var = np.where(okw, wl.variance(np.where(okw, shape_w, 1.0), np.where(okw, scale_w, 1.0)), var)
    return law.from_moments(mean, var)


def information_se(law, shape, scale, H):
    """Standard errors of log shape and log scale from the working-parameter Hessian pieces
    (Hss, Hsc, Hcc) of a group's own fit, by the delta method."""
    Hss, Hsc, Hcc = H
    s, c = law.to_working(shape, scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        det = Hss * Hcc - Hsc * Hsc
        # covariance of the working parameters: the inverse of minus the Hessian
        vss, vsc, vcc = -Hcc / det, Hsc / det, -Hss / det
        h = 1e-6
        # Jacobian of (log shape, log scale) in (s, c), by differences of from_working
        ks0, sc0 = law.from_working(s, c)
        ks1, sc1 = law.from_working(s + h, c)
        ks2, sc2 = law.from_working(s, c + h)
        a11, a21 = (np.log(ks1) - np.log(ks0)) / h, (np.log(sc1) - np.log(sc0)) / h
        a12, a22 = (np.log(ks2) - np.log(ks0)) / h, (np.log(sc2) - np.log(sc0)) / h
        var_k = a11 * a11 * vss + 2 * a11 * a12 * vsc + a12 * a12 * vcc
        var_e = a21 * a21 * vss + 2 * a21 * a22 * vsc + a22 * a22 * vcc
    ok = (det > 0) & (Hcc < 0)
    return np.where(ok, np.sqrt(np.maximum(var_k, 0)), np.nan), np.where(ok, np.sqrt(np.maximum(var_e, 0)), np.nan)


def fit_own(law, lv: Lives, start_shape, start_scale, level: float) -> pd.DataFrame:
    """Every group's own maximum-likelihood fit (pool = group), with Wald intervals on the
    log scale; method labels as the Weibull engine's."""
    G = lv.G
    want = lv.has & (lv.r > 0) & lv.multi
    out = joint_fit(law, lv, np.arange(G), G, start_shape, start_scale, want)
    ok = want & out["converged"]
    shape = np.where(ok, out["shape"], np.nan)
    scale = np.where(ok, out["scale"], np.nan)
    se_k, se_e = information_se(law, np.where(ok, shape, 1.0), np.where(ok, scale, 1.0), out["H"])
    z = stats.norm.ppf(0.5 + level / 2.0)
    method = np.full(G, "mle", dtype=object)
    method[lv.has & (lv.r <= 0)] = "no-failures"
    method[lv.has & (lv.r > 0) & ~lv.multi] = "single-failure-time"
    method[~lv.has] = "no-data"
    return group_frame({
        "method": method, "converged": np.where(want, out["converged"], False),
        "n_iter": np.where(want, out["n_iter"], 0), "n_failures": lv.r, "n_censored": lv.n_cens,
        "shape": shape, "scale": scale,
        "shape_lower": shape * np.exp(-z * se_k), "shape_upper": shape * np.exp(z * se_k),
        "scale_lower": scale * np.exp(-z * se_e), "scale_upper": scale * np.exp(z * se_e),
        "loglik": np.where(ok, out["loglik"], np.nan),
    }, G, LAW_GROUP_COLUMNS)


def fit_law_groups(
    law: str,
    group: Any,
    time: Any,
    failed: Any,
    weights: Any = None,
    n_groups: int | None = None,
    shape: Any = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Fit a lognormal or gamma law (or Weibull) to every group at once, with right censoring.

    Exact maximum likelihood per group, all groups iterating together (no Python loop
    over groups): Newton's method in the law's working parameters with a line search
    (see :mod:`partsforecast.reliability.laws`). Where a shape is given, only the scale is
    estimated (its maximum likelihood given the shape; for a group without failures, the
    one-sided lower bound at ``level``: the scale at which no failure among its lives has
    probability ``1 - level``). ``law="weibull"`` is :func:`fit_weibull_groups`.

    Parameters
    ----------
    law : {"lognormal", "gamma", "weibull"}
        Lognormal: ``shape`` = sd of log life, ``scale`` = median life. Gamma: ``shape`` =
        k, ``scale`` = theta (mean ``k theta``). Weibull: ``S(t) = exp(-(t/scale)**shape)``.
    group, time, failed, weights, n_groups
        As in :func:`fit_weibull_groups`.
    shape : float or array of float, shape (G,), optional
        A known or borrowed shape per group (NaN: estimate it).
    level : float, default 0.95
        Level of the intervals (Wald on the log scale, from the observed information; NaN
        for a given shape) and of the zero-failure bound.

    Returns
    -------
    DataFrame
        Indexed 0..G-1: method (``"mle"``, ``"given-shape"``, ``"given-shape-zero-failure"``,
        ``"no-failures"``, ``"single-failure-time"``, ``"no-data"``), converged, n_iter,
        n_failures, n_censored, shape, scale, shape_lower, shape_upper, scale_lower,
        scale_upper, loglik.

    Examples
    --------
    >>> fit_law_groups("lognormal", g, t, d).loc[0, ["shape", "scale"]]  # doctest: +SKIP
    """
    func = "fit_law_groups"
    lw = lifetime_law(law)
    t, d, w = validate(func, time, failed, weights, allow_empty=True)
    g, G = validate_codes(func, "group", group, t.shape[0], "time", n_groups, "n_groups")
    lv_ = validate_level(func, level)
    given = None if shape is None else per_group(func, "shape", shape, G)
    if lw.name == "weibull":
        from partsforecast.reliability.groups import fit_weibull_groups

        return fit_weibull_groups(g, t, d, w, n_groups=G, shape=given, level=lv_)[LAW_GROUP_COLUMNS]
    lv = Lives(g, t, d, w, G)
    k0, e0 = moment_start(lw, lv)
    free = np.ones(G, bool) if given is None else np.isnan(given)
    res = fit_own(lw, lv, k0, e0, lv_)
    if given is not None and (~free).any():
        fixed = ~free & lv.has
        kg = np.where(fixed, given, 1.0)
        pos = fixed & (lv.r > 0)
        sf = scale_fit(lw, lv, kg, pos, lw.mean(k0, e0) / lw.mean(kg, 1.0))
        zero = fixed & (lv.r <= 0)
        bound = zero_failure_bound(lw, lv, kg, zero, lv_) if zero.any() else np.full(G, np.nan)
        res.loc[fixed, "method"] = np.where(pos[fixed], "given-shape", "given-shape-zero-failure")
        res.loc[fixed, "shape"] = given[fixed]
        res.loc[fixed, "scale"] = np.where(pos, sf["scale"], bound)[fixed]
        res.loc[fixed, "converged"] = np.where(pos, sf["converged"], True)[fixed]
        res.loc[fixed, ["shape_lower", "shape_upper", "scale_lower", "scale_upper"]] = np.nan
        res.loc[fixed, "loglik"] = np.where(pos, sf["loglik"], np.nan)[fixed]
    return res
