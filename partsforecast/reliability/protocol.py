"""What a demand forecast needs from a lifetime model: the :class:`LifetimeModel` protocol.

:func:`partsforecast.forecast_demand` reads a model through these methods only, so any
lifetime law can drive the installed-base forecast without changes to the forecast:

* :meth:`LifetimeModel.lifetime_groups` — the (machine_model, component) groups it has a
  law for;
* :meth:`LifetimeModel.expected_renewals` — for rows of components, each of a group and
  with a current age, the expected number of failures within given operating hours from
  now, every failure replaced by a new component (the delayed renewal function).

A model whose every group follows one of the package's lifetime laws (Weibull, lognormal,
gamma) also offers :meth:`ParametricLifetimeModel.lifetime_params` (each group's law, shape
and scale); the forecast then takes its fast path (renewal tables per (law, shape), shared
by all rows, on the forecast's threads) and never calls ``expected_renewals``. A model
whose every group is Weibull may offer :meth:`WeibullLifetimeModel.weibull_params` instead.
:class:`~partsforecast.reliability.FailureModel` is a parametric model (and a Weibull one
when every group is Weibull); any other law, or a count model (a negative-binomial GLM of
failures per operating hour), implements the first two methods.

:class:`LifetimeLaw` is the other protocol of the package: what a lifetime *law* gives
(survival, density, moments, the pieces of the renewal tables and of the fits);
:func:`~partsforecast.reliability.lifetime_law` returns the Weibull, lognormal and gamma
laws.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

__all__ = ["LifetimeModel", "WeibullLifetimeModel", "ParametricLifetimeModel", "LifetimeLaw", "checked_renewals"]


@runtime_checkable
class LifetimeModel(Protocol):
    """A lifetime law per (machine_model, component): what a demand forecast needs.

    Time is operating hours throughout. ``isinstance(obj, LifetimeModel)`` checks that the
    methods exist (not their signatures).
    """

    def lifetime_groups(self) -> pd.DataFrame:
        """The groups the model can forecast.

        Returns
        -------
        DataFrame
            Columns ``machine_model`` and ``component`` (strings), one row per group, no
            repeats. Groups without a usable law are left out: their components get no
            forecast. Row ``i`` is group ``i`` in :meth:`expected_renewals`.

        Raises
        ------
        ValueError
            When the model is not ready (e.g. not fitted); the message says what to do.
        """
        ...

    def expected_renewals(self, group: np.ndarray, age: np.ndarray, hours: np.ndarray) -> np.ndarray:
        """Expected failures of running components within operating hours from now.

        Row ``r`` is a component of group ``group[r]`` (a row of :meth:`lifetime_groups`)
        that has run ``age[r]`` hours since it was new; every failure is replaced at once
        by a new component of the same group.

        Parameters
        ----------
        group : (R,) array of int
            Row of :meth:`lifetime_groups` of each component.
        age : (R,) array of float
            Operating hours since the component was new (0 for a new machine's).
        hours : (R, P) array of float
            Operating hours from now, non-decreasing along each row.

        Returns
        -------
        (R, P) ndarray
            Expected number of failures in (0, hours[r, p]]: 0 at 0 hours, non-decreasing
            along each row.
        """
        ...


@runtime_checkable
class WeibullLifetimeModel(LifetimeModel, Protocol):
    """A :class:`LifetimeModel` whose every group follows a Weibull law.

    The forecast recognises it by :meth:`weibull_params` and computes the renewals itself,
    from tables shared by all the rows of a shape.
    """

    def weibull_params(self) -> pd.DataFrame:
        """Weibull shape and scale of every group.

        Returns
        -------
        DataFrame
            Columns ``machine_model``, ``component``, ``shape``, ``scale`` (operating hours);
            the rows of :meth:`lifetime_groups`, in its order. ``S(t) = exp(-(t/scale)^shape)``.
        """
        ...


@runtime_checkable
class ParametricLifetimeModel(LifetimeModel, Protocol):
    """A :class:`LifetimeModel` whose every group follows one of the package's laws.

    The forecast recognises it by :meth:`lifetime_params` and computes the renewals itself,
    from tables per (law, shape) shared by all the rows.
    """

    def lifetime_params(self) -> pd.DataFrame:
        """Law, shape and scale of every group.

        Returns
        -------
        DataFrame
            Columns ``machine_model``, ``component``, ``law`` (``"weibull"``,
            ``"lognormal"`` or ``"gamma"``), ``shape``, ``scale`` (operating hours); the rows
            of :meth:`lifetime_groups`, in its order. Weibull: ``S(t) = exp(-(t/scale)^shape)``;
            lognormal: shape = sd of log life, scale = median; gamma: shape = k, scale = θ.
        """
        ...


@runtime_checkable
class LifetimeLaw(Protocol):
    """A lifetime law with a shape and a scale parameter (a scale family).

    Arrays broadcast; ``t`` and ``scale`` in operating hours. The Weibull, lognormal and
    gamma laws (:func:`~partsforecast.reliability.lifetime_law`) implement it; the fitting
    methods (``to_working``, ``terms``, ...) are those of the group engine in
    :mod:`partsforecast.reliability.laws`.
    """

    name: str

    def log_sf(self, t, shape, scale) -> np.ndarray:
        """log S(t), the log probability of surviving ``t``."""
        ...

    def log_pdf(self, t, shape, scale) -> np.ndarray:
        """Log density of the life at ``t`` (per operating hour)."""
        ...

    def cdf(self, t, shape, scale) -> np.ndarray:
        """Probability of failure by ``t``."""
        ...

    def mean(self, shape, scale) -> np.ndarray:
        """Mean life."""
        ...

    def variance(self, shape, scale) -> np.ndarray:
        """Variance of the life."""
        ...

    def from_moments(self, mean, var) -> tuple[np.ndarray, np.ndarray]:
        """Shape and scale of the law with this mean and variance."""
        ...


def checked_renewals(model: LifetimeModel, group: np.ndarray, age: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """``model.expected_renewals(group, age, hours)``, checked: one finite count ≥ 0 per row
    and time, else a ``ValueError`` naming the model's class (any model may be a user's)."""
    hours = np.atleast_2d(np.asarray(hours, float))
    out = np.asarray(model.expected_renewals(group, np.asarray(age, float), hours), float)
    name = type(model).__name__
    if out.shape != hours.shape:
        raise ValueError(f"{name}.expected_renewals returned an array of shape {out.shape} for "
                         f"{hours.shape[0]} rows × {hours.shape[1]} times; it must return one expected "
                         "count per row and time")
    if not np.isfinite(out).all() or (out < 0).any():
        raise ValueError(f"{name}.expected_renewals returned negative or non-finite expected counts")
    return out
