"""The lognormal lifetime law: ``log T ~ Normal(mu, sigma)``, with right censoring.

``shape`` is ``sigma`` (the standard deviation of the log life) and ``scale`` is the median
life ``exp(mu)`` (operating hours): ``S(t) = Phi(-(log t - log scale) / shape)``.

The group engine (:mod:`partsforecast.reliability.laws`) fits it in the working parameters
``b = 1 / sigma`` and ``a = mu / sigma``, in which ``z = b log t - a`` is linear: the log
density of a failure, ``log b - z**2 / 2``, and the log survival of a censored life,
``log Phi(-z)`` (the normal cdf is log-concave), are concave in ``(a, b)``, so the
censored log-likelihood is concave and Newton's method with a line search finds its
single maximum (Burridge 1981). Given the shape, the log-likelihood is concave in the log
scale as well.

Reference: Burridge, J. (1981), A note on maximum likelihood estimation for regression
models using grouped data, *JRSS B* 43, 41-45 (log-concavity of the censored normal
likelihood); Meeker & Escobar (1998), ch. 4 and 8.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["LognormalLaw"]

_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


def _mills(z: np.ndarray) -> np.ndarray:
    """phi(z) / Phi(-z), the hazard of the standard normal, without overflow."""
    return np.exp(-0.5 * z * z - _HALF_LOG_2PI - special.log_ndtr(-z))


class LognormalLaw:
    """The lognormal law: ``shape`` = sd of log life, ``scale`` = median life."""

    name = "lognormal"
    shape_meaning = "sd of log life"
    scale_meaning = "median life (hours)"

    # -- the law -------------------------------------------------------------------------
    def log_sf(self, t, shape, scale):
        """log S(t) = log Phi(-(log t - log scale) / shape)."""
        with np.errstate(divide="ignore"):
            return special.log_ndtr(-(np.log(t) - np.log(scale)) / shape)

    def log_pdf(self, t, shape, scale):
        """Log density of the life (per operating hour)."""
        lt = np.log(t)
        z = (lt - np.log(scale)) / shape
        return -lt - np.log(shape) - _HALF_LOG_2PI - 0.5 * z * z

    def cdf(self, t, shape, scale):
        """Probability of failure by ``t``."""
        with np.errstate(divide="ignore"):
            return special.ndtr((np.log(t) - np.log(scale)) / shape)

    def mean(self, shape, scale):
        """Mean life, ``scale * exp(shape**2 / 2)``."""
        return scale * np.exp(0.5 * np.square(shape))

    def variance(self, shape, scale):
        """Variance of the life, ``mean**2 (exp(shape**2) - 1)``."""
        return np.square(self.mean(shape, scale)) * np.expm1(np.square(shape))

    def from_moments(self, mean, var):
        """The shape and scale with this mean and variance."""
        s2 = np.log1p(var / np.square(mean))
        return np.sqrt(s2), mean * np.exp(-0.5 * s2)

    # -- the renewal tables (time in units of the scale) ---------------------------------
    def unit(self, shape):
        """Mean life in units of the scale."""
        return np.exp(0.5 * np.square(shape))

    def unit_cdf(self, x, shape):
        """cdf of life / scale."""
        with np.errstate(divide="ignore"):
            return special.ndtr(np.log(x) / shape)

    def small_x(self, x, shape, integral=False):
        """M(x) near 0 (the first renewal: F*F <= F**2 is negligible), or its integral
        ``x F(x) - E[X; X <= x]``."""
        with np.errstate(divide="ignore"):
            lx = np.log(x)
            F = special.ndtr(lx / shape)
            if not integral:
                return F
            return x * F - np.exp(0.5 * shape * shape) * special.ndtr((lx - shape * shape) / shape)

    # -- the fit: working parameters s = b = 1/sigma, c = a = mu/sigma -------------------
    def to_working(self, shape, scale):
        return 1.0 / shape, np.log(scale) / shape

    def from_working(self, s, c):
        return 1.0 / s, np.exp(c / s)

    def valid(self, s, c):
        return s > 0

    def loglik_rows(self, lt, d, g, s, c):
        """Log-likelihood of each life (time density for failures, survival otherwise);
        ``s``, ``c`` per group, ``g`` the group of each life."""
        b = s[g]
        z = b * lt - c[g]
        with np.errstate(divide="ignore", invalid="ignore"):  # s <= 0 only on rejected trial steps
            fail = np.log(b) - 0.5 * z * z - lt - _HALF_LOG_2PI
        return np.where(d, fail, special.log_ndtr(-z))

    def terms(self, lt, d, g, s, c):
        """Per life: log-likelihood, its gradient (s, c) and Hessian (ss, sc, cc); ``s``,
        ``c`` per group."""
        b = s[g]
        z = b * lt - c[g]
        lam = _mills(z)
        curv = lam * (lam - z)  # -d2/dz2 log Phi(-z), in (0, 1)
        ll = np.where(d, np.log(b) - 0.5 * z * z - lt - _HALF_LOG_2PI, special.log_ndtr(-z))
        gs = np.where(d, 1.0 / b - z * lt, -lam * lt)
        gc = np.where(d, z, lam)
        hss = np.where(d, -1.0 / (b * b) - lt * lt, -curv * lt * lt)
        hsc = np.where(d, lt, curv * lt)
        hcc = np.where(d, -1.0, -curv)
        return ll, gs, gc, hss, hsc, hcc

    def scale_terms(self, lt, d, g, shape, u):
        """Given the shape (per group), per life: log-likelihood and its first two
        derivatives in ``u = log scale`` (per group)."""
        sd = shape[g]
        z = (lt - u[g]) / sd
        ll = np.where(d, -lt - np.log(sd) - _HALF_LOG_2PI - 0.5 * z * z, special.log_ndtr(-z))
        lam = _mills(z)
        gu = np.where(d, z, lam) / sd
        huu = -np.where(d, 1.0, lam * (lam - z)) / (sd * sd)
        return ll, gu, huu
