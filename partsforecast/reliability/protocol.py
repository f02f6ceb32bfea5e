"""What a demand forecast needs from a lifetime model: the :class:`LifetimeModel` protocol.

:func:`partsforecast.forecast_demand` reads a model through these methods only, so any
lifetime law can drive the installed-base forecast without changes to the forecast:

* :meth:`LifetimeModel.lifetime_groups` — the (machine_model, component) groups it has a
  law for;
* :meth:`LifetimeModel.expected_renewals` — for rows of components, each of a group and
  with a current age, the expected number of failures within given operating hours from
  now, every failure replaced by a new component (the delayed renewal function).

A model whose every group follows a Weibull law also offers
:meth:`WeibullLifetimeModel.weibull_params`; the forecast then takes its fast path (renewal
tables per shape, shared by all rows) and never calls ``expected_renewals``.
:class:`~partsforecast.reliability.FailureModel` is both; a lognormal law or a count model
(a negative-binomial GLM of failures per operating hour) implements the first two methods.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

__all__ = ["LifetimeModel", "WeibullLifetimeModel"]


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
