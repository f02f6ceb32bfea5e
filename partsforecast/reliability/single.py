"""One data set: Weibull, exponential and Weibayes fits, and the Weibull-vs-exponential test.

Each is the group engine (:func:`partsforecast.reliability.groups.fit_core`) run on one
group; results are :class:`WeibullFit` objects.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from partsforecast.reliability._common import per_group, validate, validate_level
from partsforecast.reliability.groups import GROUP_COLUMNS, fit_core

__all__ = [
    "WeibullFit",
    "WeibullExponentialTest",
    "fit_weibull",
    "fit_exponential",
    "fit_weibayes",
    "compare_weibull_exponential",
]


@dataclass(frozen=True)
class WeibullFit:
    """A fitted Weibull (or exponential) lifetime model for one data set.

    ``S(t) = exp(-(t / scale) ** shape)``; ``rate = scale ** -shape``.

    Attributes
    ----------
    distribution : str
        ``"weibull"`` or ``"exponential"``.
    method : str
        ``"mle"``, ``"weibayes"``, ``"weibayes-zero-failure"``, ``"no-failures"`` or
        ``"single-failure-time"`` (see "Method labels" in :mod:`partsforecast.reliability`).
    shape, scale : float
        Estimates (NaN when not estimable).
    se_shape, se_scale : float
        Standard errors (0 for a shape that was given).
    shape_lower, shape_upper, scale_lower, scale_upper : float
        Confidence intervals at ``level`` (likelihood-ratio for ML; chi-square for
        Weibayes; one-sided for zero failures).
    cov_log_shape_scale : float
        Covariance of the (log shape, log scale) estimates.
    rate_upper : float
        One-sided upper confidence bound on the rate given the shape.
    loglik : float
        Log-likelihood of the time density at the estimates (NaN with no failures).
    n_failures, n_censored : float
        Weighted counts.
    level : float
        Confidence level of the intervals.
    converged : bool
    n_iter : int
    """

    distribution: str
    method: str
    shape: float
    scale: float
    se_shape: float
    se_scale: float
    shape_lower: float
    shape_upper: float
    scale_lower: float
    scale_upper: float
    cov_log_shape_scale: float
    rate_upper: float
    loglik: float
    n_failures: float
    n_censored: float
    level: float
    converged: bool
    n_iter: int

    # -- derived quantities ------------------------------------------------------------
    @property
    def rate(self) -> float:
        """The rate ``lambda = scale ** -shape`` (cumulative hazard ``lambda * t**shape``)."""
        return float(self.scale ** -self.shape)

    @property
    def n_params(self) -> int:
        """Number of estimated parameters (for AIC)."""
        if self.method == "mle":
            return 2 if self.distribution == "weibull" else 1
        return 1

    @property
    def aic(self) -> float:
        """Akaike's information criterion, ``2 p - 2 loglik``."""
        return 2.0 * self.n_params - 2.0 * self.loglik

    @property
    def mean(self) -> float:
        """Mean lifetime, ``scale * Gamma(1 + 1/shape)``."""
        return float(self.scale * special.gamma(1.0 + 1.0 / self.shape))

    def cumulative_hazard(self, t: Any) -> np.ndarray:
        """Cumulative hazard ``(t / scale) ** shape``."""
        return (np.asarray(t, dtype=float) / self.scale) ** self.shape

    def survival(self, t: Any) -> np.ndarray:
        """Survival function ``exp(-(t / scale) ** shape)``."""
        return np.exp(-self.cumulative_hazard(t))

    def cdf(self, t: Any) -> np.ndarray:
        """Probability of failure by ``t``."""
        return -np.expm1(-self.cumulative_hazard(t))

    def hazard(self, t: Any) -> np.ndarray:
        """Hazard rate ``shape / scale * (t / scale) ** (shape - 1)``."""
        tt = np.asarray(t, dtype=float)
        return self.shape / self.scale * (tt / self.scale) ** (self.shape - 1.0)

    def quantile(self, p: Any) -> np.ndarray:
        """Time by which a fraction ``p`` has failed (``p = 0.1`` gives the B10 life)."""
        pp = np.asarray(p, dtype=float)
        return self.scale * (-np.log1p(-pp)) ** (1.0 / self.shape)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)

    def summary(self) -> pd.DataFrame:
        """Estimates with standard errors and intervals, one row per parameter."""
        lv = f"{self.level:.0%}"
        return pd.DataFrame(
            {
                "estimate": [self.shape, self.scale],
                "se": [self.se_shape, self.se_scale],
                f"lower {lv}": [self.shape_lower, self.scale_lower],
                f"upper {lv}": [self.shape_upper, self.scale_upper],
            },
            index=pd.Index(["shape", "scale"], name="parameter"),
        )

    def __str__(self) -> str:
        head = (f"{self.distribution} fit ({self.method}): {self.n_failures:g} failures, "
                f"{self.n_censored:g} censored, log-likelihood {self.loglik:.6g}, "
                f"rate upper bound {self.rate_upper:.4g}")
        return head + "\n" + self.summary().to_string(float_format=lambda v: f"{v:.6g}")


def _result(out: dict[str, np.ndarray], distribution: str, level: float) -> WeibullFit:
    vals = {c: out[c][0] for c in GROUP_COLUMNS}
    return WeibullFit(
        distribution=distribution, level=level,
        method=str(vals.pop("method")), converged=bool(vals.pop("converged")),
        n_iter=int(vals.pop("n_iter")),
        **{c: float(v) for c, v in vals.items()},
    )


_NOT_ESTIMABLE = {
    "no-failures": "there are no failures, so neither shape nor scale can be estimated",
    "single-failure-time": "all failures happened at one time, so the shape cannot be estimated",
    "no-data": "every weight is zero, so there is nothing to fit",
}


def fit_weibull(time: Any, failed: Any, weights: Any = None, level: float = 0.95) -> WeibullFit:
    """Exact maximum-likelihood Weibull fit with right censoring.

    The log-likelihood with weights ``w`` and failure flags ``d`` is

    ``l(k, eta) = sum w d [log k - k log eta + (k-1) log t] - sum w (t/eta)**k``.

    For fixed shape ``k`` the maximising scale is ``eta(k) = (sum w t**k / r) ** (1/k)``
    (``r = sum w d``), which leaves the profile log-likelihood
    ``lp(k) = r log k - r log(sum w t**k / r) + (k-1) sum w d log t - r``, whose second
    derivative ``-r/k**2 - r Var_k(log t)`` is negative: ``lp`` is strictly concave, so its single
    stationary point is the global maximum (Lawless 2003, sec. 5.2). It is found by Newton
    steps safeguarded by a bracket with bisection in ``log k``. Times are shifted by their
    maximum on the log scale so ``t**k`` never overflows, for any unit or spread of times.
    The maximum exists (finite) exactly when some failure precedes the largest time; with
    fewer than two distinct failure times the shape is reported as not estimable.

    Standard errors come from the observed information in ``(log eta, log k)``. The
    intervals are likelihood-ratio (profile-likelihood) intervals: every shape (scale) whose
    profile log-likelihood, maximised over the other parameter, is within
    ``chi2_level(1) / 2`` of the maximum. Unlike Wald intervals ``exp(log est +/- z se_log)``
    they follow the skewed likelihood of a scale that lies beyond most observed lives (few
    failures, heavy censoring), where Wald intervals cover far less than ``level``
    (Meeker & Escobar 1998, sec. 8.3). The computation is
    ``partsforecast.reliability.profile.profile_bounds``.

    Parameters
    ----------
    time : array of float
        Lifetimes, finite and > 0.
    failed : array of {0, 1} or bool
        1 for a failure, 0 for a right-censored life.
    weights : array of float, optional
        Non-negative frequency weights.
    level : float, default 0.95
        Confidence level.

    Returns
    -------
    WeibullFit
        ``method == "mle"``; or, when the shape is not estimable (``"no-failures"``,
        ``"single-failure-time"``), NaN shape and scale and a warning telling what to do.

    Raises
    ------
    ValueError
        Bad input: the message names the argument, the position, the value and the fix.

    See Also
    --------
    fit_weibayes : when the shape is known or borrowed (and for zero failures).
    fit_weibull_groups : many groups at once.
    """
    func = "fit_weibull"
    t, d, w = validate(func, time, failed, weights)
    lv = validate_level(func, level)
    res = _result(fit_core(np.zeros(t.shape[0], np.int64), t, d, w, 1, None, lv), "weibull", lv)
    if res.method in _NOT_ESTIMABLE:
        warnings.warn(
            f"fit_weibull: {_NOT_ESTIMABLE[res.method]}; shape and scale are NaN. Borrow a shape "
            "(from the component family, pooled_shape, or engineering knowledge) and call "
            "fit_weibayes(time, failed, shape) for the scale and a bound on the rate.",
            stacklevel=2,
        )
    return res


def fit_weibayes(
    time: Any, failed: Any, shape: float, weights: Any = None, level: float = 0.95
) -> WeibullFit:
    """Weibayes: the Weibull scale given a known or borrowed shape, with chi-square bounds.

    With shape ``k`` known, ``t**k`` is exponential with rate ``lambda = eta**-k``, so with ``r``
    failures and transformed exposure ``T = sum w t**k``:

    * ``r > 0``: ``eta = (T / r) ** (1/k)`` (the maximum-likelihood scale given ``k``);
      the interval at ``level`` maps ``lambda`` in
      ``[chi2_{a/2}(2r) / 2T, chi2_{1-a/2}(2r+2) / 2T]`` (``a = 1 - level``) through
      ``eta = lambda ** (-1/k)``;
    * ``r = 0`` (``"weibayes-zero-failure"``): the one-sided upper bound on the rate is
      ``lambda_U = chi2_level(2) / 2T = -log(1 - level) / T``, so the reported scale is the lower
      bound ``eta_L = (T / -log(1 - level)) ** (1/k)``; ``scale_upper`` is infinite and
      ``loglik`` is NaN. With ``level = 1 - exp(-1) = 0.632`` this is Abernethy's classic
      Weibayes assumption of "one failure about to happen", ``eta = T ** (1/k)``.

    ``rate_upper`` is ``chi2_level(2r + 2) / 2T`` in every case (time-censored data, hence the
    ``2r + 2`` degrees of freedom).

    Sources: Abernethy, R. B., *The New Weibull Handbook*, 5th ed. (2006), ch. 6 (Weibayes);
    Nelson, W., *Applied Life Data Analysis* (1982), ch. 7 sec. 2 (chi-square confidence limits
    for the exponential mean, incl. no failures).

    Parameters
    ----------
    time, failed, weights
        As in :func:`fit_weibull`.
    shape : float
        The known or borrowed Weibull shape, > 0.
    level : float, default 0.95
        Confidence level.

    Returns
    -------
    WeibullFit
        ``method`` is ``"weibayes"`` or ``"weibayes-zero-failure"``.
    """
    func = "fit_weibayes"
    t, d, w = validate(func, time, failed, weights)
    lv = validate_level(func, level)
    k = per_group(func, "shape", shape, 1)
    if np.isnan(k).any():
        raise ValueError(f"{func}: shape is NaN; pass a known or borrowed shape (> 0)")
    return _result(fit_core(np.zeros(t.shape[0], np.int64), t, d, w, 1, k, lv), "weibull", lv)


def fit_exponential(time: Any, failed: Any, weights: Any = None, level: float = 0.95) -> WeibullFit:
    """Maximum-likelihood exponential fit (a Weibull with shape 1) with right censoring.

    ``rate = r / sum w t``, ``scale = 1 / rate``, ``loglik = r log rate - r``; the interval is
    Wald on the log scale, ``se(log scale) = 1 / sqrt(r)``. With no failures the result is the
    zero-failure bound of :func:`fit_weibayes` with shape 1 (``"weibayes-zero-failure"``).

    Parameters
    ----------
    time, failed, weights, level
        As in :func:`fit_weibull`.

    Returns
    -------
    WeibullFit
        ``distribution == "exponential"``, ``shape == 1``.
    """
    func = "fit_exponential"
    t, d, w = validate(func, time, failed, weights)
    lv = validate_level(func, level)
    out = fit_core(np.zeros(t.shape[0], np.int64), t, d, w, 1, np.ones(1), lv, fixed_ci="wald")
    out["method"] = np.where(out["method"] == "weibayes", "mle", out["method"])
    return _result(out, "exponential", lv)


@dataclass(frozen=True)
class WeibullExponentialTest:
    """Likelihood-ratio test of a Weibull shape against 1 (the exponential).

    Attributes
    ----------
    weibull, exponential : WeibullFit
        The two fits.
    lr_statistic : float
        ``2 (loglik_weibull - loglik_exponential)``, >= 0.
    p_value : float
        From the chi-square distribution with 1 degree of freedom (Wilks).
    aic_weibull, aic_exponential : float
        Akaike's information criterion of each model.
    shape_differs : bool
        ``p_value < 1 - level``: the data say the shape is not 1.
    preferred : str
        The model with the lower AIC (``"exponential"`` when the Weibull is not estimable).
    level : float
    """

    weibull: WeibullFit
    exponential: WeibullFit
    lr_statistic: float
    p_value: float
    aic_weibull: float
    aic_exponential: float
    shape_differs: bool
    preferred: str
    level: float

    def __str__(self) -> str:
        return (f"Weibull shape {self.weibull.shape:.4g} vs exponential: LR = {self.lr_statistic:.4g}, "
                f"p = {self.p_value:.4g}; AIC weibull {self.aic_weibull:.6g}, exponential "
                f"{self.aic_exponential:.6g}; shape differs from 1 at {self.level:.0%}: "
                f"{self.shape_differs}; preferred: {self.preferred}")


def compare_weibull_exponential(
    time: Any, failed: Any, weights: Any = None, level: float = 0.95
) -> WeibullExponentialTest:
    """Does the shape differ from 1? Likelihood-ratio test and AIC, Weibull vs exponential.

    The exponential is the Weibull with shape 1, so ``LR = 2 (l_W - l_E)`` is asymptotically
    chi-square with 1 degree of freedom under shape = 1 (Lawless 2003, sec. 5.2).

    Parameters
    ----------
    time, failed, weights, level
        As in :func:`fit_weibull`; ``level`` sets the test's size ``1 - level``.

    Returns
    -------
    WeibullExponentialTest
    """
    func = "compare_weibull_exponential"
    t, d, w = validate(func, time, failed, weights)
    lv = validate_level(func, level)
    zero = np.zeros(t.shape[0], np.int64)
    wb = _result(fit_core(zero, t, d, w, 1, None, lv), "weibull", lv)
    ex = fit_exponential(t, d, w, lv)
    if wb.method == "mle" and ex.method == "mle":
        lr = max(2.0 * (wb.loglik - ex.loglik), 0.0)
        p = float(stats.chi2.sf(lr, 1))
        aic_w, aic_e = wb.aic, ex.aic
        differs = p < 1.0 - lv
        preferred = "weibull" if aic_w < aic_e else "exponential"
    else:
        lr = p = aic_w = math.nan
        aic_e = ex.aic if ex.method == "mle" else math.nan
        differs = False
        preferred = "exponential"
    return WeibullExponentialTest(wb, ex, lr, p, aic_w, aic_e, bool(differs), preferred, lv)
