"""The gamma lifetime law, with right censoring.

``shape`` is ``k`` and ``scale`` is ``theta`` (operating hours): the density is
``t**(k-1) exp(-t/theta) / (Gamma(k) theta**k)``, the survival the regularised upper
incomplete gamma function ``Q(k, t/theta)``; the mean is ``k theta``.

The group engine (:mod:`partsforecast.reliability.laws`) fits it in ``(log k, log theta)``.
Derivatives in ``log theta`` are exact; those of ``log Q(k, x)`` in ``k`` (censored lives)
have no closed form and are taken by central differences (step 1e-4 relative, error
~1e-8 relative on the gradient; the maximum itself is where the gradient vanishes, so it
is found to that accuracy). Given the shape, the log-likelihood is concave in the log scale
(``log T`` has a log-concave density, so its survival is log-concave).

Reference: Lawless, J. F. (2003), *Statistical Models and Methods for Lifetime Data*,
2nd ed., sec. 5.3 (gamma likelihood with censoring).
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["GammaLaw"]

#: Relative step in k of the central differences of log Q(k, x).
_DK = 1e-4


def log_q(k, x):
    """log Q(k, x), the log of the regularised upper incomplete gamma function.

    Where Q underflows (x far beyond k), its asymptotic expansion
    ``x**(k-1) e**-x / Gamma(k) (1 + (k-1)/x + (k-1)(k-2)/x**2)``.
    """
    k, x = np.broadcast_arrays(np.asarray(k, float), np.asarray(x, float))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.log(special.gammaincc(k, x))
        deep = ~np.isfinite(out) & (x > 0)
        if deep.any():
            kk, xx = k[deep], x[deep]
            series = 1.0 + (kk - 1.0) / xx + (kk - 1.0) * (kk - 2.0) / (xx * xx)
            out[deep] = (kk - 1.0) * np.log(xx) - xx - special.gammaln(kk) + np.log(np.maximum(series, 1e-300))
    return out


class GammaLaw:
    """The gamma law: ``shape`` = k, ``scale`` = theta (mean life k theta)."""

    name = "gamma"
    shape_meaning = "shape k"
    scale_meaning = "scale theta (hours; mean = k theta)"

    # -- the law -------------------------------------------------------------------------
    def log_sf(self, t, shape, scale):
        """log S(t) = log Q(shape, t / scale)."""
        return log_q(shape, np.asarray(t, float) / scale)

    def log_pdf(self, t, shape, scale):
        """Log density of the life (per operating hour)."""
        x = t / scale
        with np.errstate(divide="ignore"):
            return (shape - 1.0) * np.log(x) - x - special.gammaln(shape) - np.log(scale)

    def cdf(self, t, shape, scale):
        """Probability of failure by ``t``."""
        return special.gammainc(shape, np.asarray(t, float) / scale)

    def mean(self, shape, scale):
        """Mean life, ``shape * scale``."""
        return shape * scale

    def variance(self, shape, scale):
        """Variance of the life, ``shape * scale**2``."""
        return shape * np.square(scale)

    def from_moments(self, mean, var):
        """The shape and scale with this mean and variance."""
        return np.square(mean) / var, var / mean

    # -- the renewal tables (time in units of the scale) ---------------------------------
    def unit(self, shape):
        """Mean life in units of the scale."""
        return np.asarray(shape, float)

    def unit_cdf(self, x, shape):
        """cdf of life / scale."""
        return special.gammainc(shape, x)

    def small_x(self, x, shape, integral=False):
        """M(x) near 0: the first two renewals ``P(k, x) + P(2k, x)`` exactly (the sum of
        two gamma(k) lives is gamma(2k)); or its integral, from
        ``int_0^x P(a, u) du = x P(a, x) - a P(a + 1, x)``."""
        k = np.asarray(shape, float)
        if not integral:
            return special.gammainc(k, x) + special.gammainc(2.0 * k, x)
        return (x * special.gammainc(k, x) - k * special.gammainc(k + 1.0, x)
                + x * special.gammainc(2.0 * k, x) - 2.0 * k * special.gammainc(2.0 * k + 1.0, x))

    # -- the fit: working parameters s = log k, c = log theta ----------------------------
    def to_working(self, shape, scale):
        return np.log(shape), np.log(scale)

    def from_working(self, s, c):
        return np.exp(s), np.exp(c)

    def valid(self, s, c):
        return np.isfinite(s) & np.isfinite(c) & (s < 12.0) & (s > -12.0)

    def loglik_rows(self, lt, d, g, s, c):
        """Log-likelihood of each life (time density for failures, survival otherwise);
        ``s``, ``c`` per group, ``g`` the group of each life."""
        with np.errstate(over="ignore", invalid="ignore"):  # far trial steps are rejected
            k_g = np.exp(s)
            k = k_g[g]
            lx = lt - c[g]
            x = np.exp(lx)
            out = (k - 1.0) * lx - x - special.gammaln(k_g)[g] - c[g]
            cens = ~d
            out[cens] = log_q(k[cens], x[cens])
        return out

    def terms(self, lt, d, g, s, c):
        """Per life: log-likelihood, its gradient (s, c) and Hessian (ss, sc, cc); ``s``,
        ``c`` per group."""
        k_g = np.exp(s)
        k = k_g[g]
        lx = lt - c[g]
        x = np.exp(lx)
        # failures: (k-1) log x - x - log Gamma(k) - c
        ll = (k - 1.0) * lx - x - special.gammaln(k_g)[g] - c[g]
        gs = k * (lx - special.digamma(k_g)[g])
        gc = x - k
        hss = gs - k * k * special.polygamma(1, k_g)[g]
        hsc = -k
        hcc = -x
        cens = ~d
        if cens.any():
            gc_, kc, xc, lxc = g[cens], k[cens], x[cens], lx[cens]
            h_g = _DK * k_g
            h = h_g[gc_]
            q0, qp, qm = log_q(kc, xc), log_q(kc + h, xc), log_q(kc - h, xc)

            def rho(kk, lgk, lq):  # x p(x) / Q: d log Q / d log theta
                return np.exp(kk * lxc - xc - lgk - lq)

            r0 = rho(kc, special.gammaln(k_g)[gc_], q0)
            rp = rho(kc + h, special.gammaln(k_g + h_g)[gc_], qp)
            rm = rho(kc - h, special.gammaln(k_g - h_g)[gc_], qm)
            d1 = (qp - qm) / (2 * h)
            d2 = (qp - 2 * q0 + qm) / (h * h)
            ll[cens] = q0
            gs[cens] = kc * d1
            gc[cens] = r0
            hss[cens] = kc * d1 + kc * kc * d2
            hsc[cens] = kc * (rp - rm) / (2 * h)
            hcc[cens] = -r0 * (kc - xc + r0)
        return ll, gs, gc, hss, hsc, hcc

    def scale_terms(self, lt, d, g, shape, u):
        """Given the shape (per group), per life: log-likelihood and its first two
        derivatives in ``u = log scale`` (per group)."""
        k = shape[g]
        lgk = special.gammaln(shape)[g]
        lx = lt - u[g]
        x = np.exp(lx)
        ll = (k - 1.0) * lx - x - lgk - u[g]
        gu = x - k
        huu = -x
        cens = ~d
        if cens.any():
            kc, xc = k[cens], x[cens]
            q0 = log_q(kc, xc)
            r0 = np.exp(kc * lx[cens] - xc - lgk[cens] - q0)
            ll[cens] = q0
            gu[cens] = r0
            huu[cens] = -r0 * (kc - xc + r0)
        return ll, gu, huu
