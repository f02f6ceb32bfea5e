"""Lifetime fitting: Weibull, exponential, lognormal and gamma models with right censoring,
pooling, estimators.

This package is the failure model: :class:`FailureModel` for a fleet, and the numerical
core under it. The numerical core works on plain arrays of lifetimes:

``time``
    Positive, finite lifetimes (operating hours, or any consistent unit).
``failed``
    1 (or True) when the life ended in a failure, 0 when it was right-censored (still
    running at the as-of date, or the machine was retired).
``weights``
    Optional non-negative case weights (frequency weights: a weight of 3 is three identical
    lives). Rows of weight 0 are ignored.

The Weibull model is parameterised by shape ``k`` and scale ``eta``:
``S(t) = exp(-(t / eta) ** k)``; its *rate* is ``lambda = eta ** -k`` so that the cumulative
hazard is ``H(t) = lambda * t ** k``. The exponential model is the Weibull with ``k = 1``.

Contents
--------
Single data set
    :func:`fit_weibull`, :func:`fit_exponential`, :func:`fit_weibayes`,
    :func:`compare_weibull_exponential`; results are :class:`WeibullFit` objects.
Many groups at once (vectorised, no Python loop over groups)
    :func:`fit_weibull_groups` (maximum likelihood or Weibayes per group),
    :func:`fit_law_groups` (the same for the lognormal and gamma laws),
    :func:`pooled_shape` (a shape shared by the groups of a pool),
    :func:`borrowed_shape` (each group's borrowed shape with the uncertainty it carries),
    :func:`shrink_scale` (empirical-Bayes gamma-Poisson shrinkage of each group's rate).
Nonparametric estimators
    :func:`kaplan_meier`, :func:`nelson_aalen`, :func:`median_ranks`.
Plots
    :func:`weibull_plot`, :func:`survival_plot`.
Lifetime laws
    :func:`lifetime_law` (the Weibull, lognormal and gamma laws by name, each a
    :class:`LifetimeLaw`).
Renewals
    :func:`renewal_function` (the ordinary renewal function of each law) and
    :func:`expected_failures` (expected failures of running components, every failure
    replaced), the core of the installed-base forecast.
Fleet level
    :class:`FailureModel` (one law per (machine_model, component), with pooling, and the
    choice of law by AIC), and :class:`LifetimeModel` / :class:`ParametricLifetimeModel` /
    :class:`WeibullLifetimeModel`, the protocol a demand forecast reads
    (:class:`FailureModel` implements it; so can any other lifetime law).

Modules: ``single`` (one data set), ``groups`` (the vectorised Weibull engine), ``profile``
(likelihood-ratio intervals), ``pooling``, ``laws`` (the laws and their vectorised engine),
``lognormal`` and ``gamma`` (the two laws), ``lawfit`` (their pooling and the choice by
AIC), ``nonparametric``, ``plots``, ``constant_rate`` (the Poisson-GLM alternative),
``renewal`` (renewal functions), ``model`` (:class:`FailureModel`) and ``protocol``. Every
public name is importable from ``partsforecast.reliability`` itself.

Method labels
-------------
Every fit says which method produced it (``method``):

``"mle"``
    exact maximum likelihood (shape and scale, or the exponential rate).
``"weibayes"``
    shape given (known, or borrowed from a pool); the scale is its maximum-likelihood value
    given that shape, ``eta = (sum w t**k / r) ** (1/k)`` with ``r`` failures.
``"weibayes-zero-failure"``
    shape given and no failures: the scale reported is the one-sided lower confidence
    bound at the stated level (chi-square with 2 degrees of freedom).
``"no-failures"``
    no failures and no shape given: shape and scale are NaN (borrow a shape, then use
    Weibayes or :func:`shrink_scale`).
``"single-failure-time"``
    every failure happened at one and the same time (this includes exactly one failure):
    the shape is not estimable from these data (its MLE is infinite or rests only on the
    censoring pattern), so shape and scale are NaN.
``"no-data"``
    the group has no lives (only in the group engine).

References
----------
- Lawless, J. F. (2003). *Statistical Models and Methods for Lifetime Data*, 2nd ed. Wiley.
  (Weibull likelihood, profile likelihood for the shape, observed information.)
- Nelson, W. (1982). *Applied Life Data Analysis*. Wiley. (Chi-square bounds for the
  exponential / known-shape Weibull; zero-failure bounds.)
- Abernethy, R. B. (2006). *The New Weibull Handbook*, 5th ed. (Weibayes; median ranks;
  Johnson's adjusted ranks; Bernard's approximation.)
- Klein, J. P. & Moeschberger, M. L. (2003). *Survival Analysis*, 2nd ed. Springer.
  (Kaplan-Meier, Greenwood, Nelson-Aalen.)
- Meeker, W. Q. & Escobar, L. A. (1998). *Statistical Methods for Reliability Data*. Wiley.
  (Likelihood-ratio intervals; why Wald intervals fail with heavy censoring.)
- Morris, C. N. & Tang, R. (2011), Estimating random effects via adjustment for density
  maximization, *Statistical Science* 26, 271-287; Li, H. & Lahiri, P. (2010), *Journal of
  Multivariate Analysis* 101, 882-892 (between-group spread of shapes, never 0); Prasad,
  N. G. N. & Rao, J. N. K. (1990), *JASA* 85, 163-171 (error of empirical-Bayes estimates).

How the intervals of each method are built, and their measured coverage on generated
fleets, is in ``docs/failure-models.md``.
"""

from partsforecast.reliability.groups import fit_weibull_groups
from partsforecast.reliability.laws import fit_law_groups, lifetime_law
from partsforecast.reliability.model import FailureModel, NotFittedError
from partsforecast.reliability.nonparametric import kaplan_meier, median_ranks, nelson_aalen
from partsforecast.reliability.plots import survival_plot, weibull_plot
from partsforecast.reliability.pooling import borrowed_shape, pooled_shape, shrink_scale
from partsforecast.reliability.protocol import (
    LifetimeLaw,
    LifetimeModel,
    ParametricLifetimeModel,
    WeibullLifetimeModel,
)
from partsforecast.reliability.renewal import expected_failures, renewal_function
from partsforecast.reliability.severity import MachineSeverity
from partsforecast.reliability.single import (
    WeibullExponentialTest,
    WeibullFit,
    compare_weibull_exponential,
    fit_exponential,
    fit_weibayes,
    fit_weibull,
)

__all__ = [
    "FailureModel",
    "NotFittedError",
    "MachineSeverity",
    "LifetimeModel",
    "WeibullLifetimeModel",
    "ParametricLifetimeModel",
    "LifetimeLaw",
    "lifetime_law",
    "fit_law_groups",
    "WeibullFit",
    "WeibullExponentialTest",
    "fit_weibull",
    "fit_exponential",
    "fit_weibayes",
    "compare_weibull_exponential",
    "fit_weibull_groups",
    "pooled_shape",
    "borrowed_shape",
    "shrink_scale",
    "kaplan_meier",
    "nelson_aalen",
    "median_ranks",
    "weibull_plot",
    "survival_plot",
    "renewal_function",
    "expected_failures",
]
