"""Heavy users: :class:`MachineFrailty`, each machine's failures against its model's, as a
gamma-frailty posterior mean shrunk towards 1 (Clayton & Kaldor 1987)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from partsforecast.lives import fleet_lives
from partsforecast.reliability import (
    LifetimeModel,
    ParametricLifetimeModel,
    WeibullLifetimeModel,
    lifetime_law,
)
from partsforecast.reliability.protocol import checked_renewals

__all__ = ["MachineFrailty", "frailty_posterior"]


class MachineFrailty:
    """How much more (or less) often each machine fails than its model says.

    A machine's components share a frailty ``z`` that multiplies their hazards
    (proportional hazards), ``z ~ Gamma(α, α)`` across the fleet (mean 1, variance
    ``1/α``). Given ``O`` failures seen on the machine and ``E`` the failures the lifetime
    model expects for the lives it observed (the sum of each life's cumulative hazard), the
    posterior of ``z`` is ``Gamma(α + O, α + E)``, whose mean

        ``z = (α + O) / (α + E)``

    is the machine's frailty: close to 1 (its model) when ``E`` is small, close to its own
    ratio ``O / E`` when it has a long history (Clayton & Kaldor 1987). ``α`` is estimated
    from the fleet by maximising the marginal (negative-binomial) likelihood of the ``O``
    given the ``E``. Unless that likelihood beats its Poisson limit (``α = ∞``, no
    heterogeneity) by the one-sided likelihood-ratio test at ``test_level`` (the statistic
    is a 50:50 mixture of 0 and χ²₁ on the boundary: Self & Liang 1987), ``α = ∞`` and every
    ``z = 1``.

    In the forecast the frailties move each (location, model, component, period)'s
    expected failures between machines: with ``keep_totals`` (the default) every group's
    total per period stays the model's, and only where the failures fall changes (see
    Notes).

    Parameters
    ----------
    alpha : float, optional
        A fixed ``α`` (> 0; ``np.inf`` for no frailty) instead of the estimate.
    test_level : float
        Level of the test for heterogeneity (0.05: the statistic must exceed 2.71).
    max_alpha : float
        Estimates above this are taken as ``∞``.
    keep_totals : bool
        In the forecast, rescale the frailty-weighted expected failures of every group and
        period to the model's total over the fleet (the frailties redistribute); without
        it they multiply each machine's expected failures as they are.

    Attributes
    ----------
    frailty_ : DataFrame
        One row per machine: serial, machine_model, observed (failures), expected (the
        model's), frailty (the posterior mean) and frailty_sd (the posterior sd).
    alpha_ : float
        The ``α`` used (``inf`` when the machines are no more dispersed than Poisson).
    expected_from_ : str
        ``"cumulative hazard"`` (a model of the package's laws: ``Σ −log S(t)`` over the
        lives, e.g. ``(t / scale)^shape`` for a Weibull) or ``"renewals"`` (any other
        lifetime model: its expected renewals over each component's observed hours, which
        has the same expectation under the model).

    Notes
    -----
    In the forecast (``forecast_demand(..., frailty=True)``) ``z`` multiplies every expected
    renewal of the machine over the horizon: proportional hazards on the remaining horizon.
    (A machine that ages ``s`` times faster has, for a Weibull life of shape ``k``, ``s^k``
    times its model's hazard at every age: proportional hazards, with a factor per
    component shape that the one ``z`` of the machine averages.) The lifetime model was
    fitted to the whole fleet, heavy and light machines together, so it is the fleet's
    average law; multiplying it by ``z`` counts the selection twice (the components that
    survive long are, more often, on light machines, which the average law already says)
    and lowers the fleet's total. Hence ``keep_totals``: the frailties say *which* machines
    fail, the model *how many*. Measured in ``benchmarks/bench_usage.py``. The totals of that
    average law are themselves low where machines are worked unequally hard:
    ``FailureModel(severity=True)`` fits the laws jointly with each machine's severity (a
    frailty on its time scale, :class:`~partsforecast.reliability.MachineSeverity`), which
    the forecast then uses instead of this frailty.
    """

    def __init__(self, alpha: float | None = None, test_level: float = 0.05, max_alpha: float = 1e6,
                 keep_totals: bool = True) -> None:
        self.alpha = alpha
        self.test_level = test_level
        self.max_alpha = max_alpha
        self.keep_totals = keep_totals

    def _check_settings(self) -> None:
        a = self.alpha
        if a is not None and not (isinstance(a, (int, float, np.integer, np.floating)) and a > 0):
            raise ValueError(f"alpha must be a number > 0 (np.inf for no frailty) or None, got {a!r}")
        b = self.max_alpha
        if not (isinstance(b, (int, float, np.integer, np.floating)) and np.isfinite(b) and b > 1):
            raise ValueError(f"max_alpha must be a finite number > 1, got {b!r}")
        t = self.test_level
        if not (isinstance(t, (int, float, np.integer, np.floating)) and 0 < t < 0.5):
            raise ValueError(f"test_level must be a number in (0, 0.5), got {t!r}")
        if not isinstance(self.keep_totals, (bool, np.bool_)):
            raise ValueError(f"keep_totals must be True or False, got {self.keep_totals!r}")

    def fit(self, model, fleet) -> MachineFrailty:
        """Estimate every machine's frailty under ``model`` from ``fleet``'s lives.

        Parameters
        ----------
        model : LifetimeModel
            A fitted :class:`~partsforecast.FailureModel` or any lifetime model.
        fleet : Fleet

        Returns
        -------
        MachineFrailty
            ``self``, fitted.
        """
        self._check_settings()
        if not isinstance(model, LifetimeModel):
            raise TypeError(f"MachineFrailty.fit(model, fleet): model must be a lifetime model "
                            f"(FailureModel().fit(fleet) or any LifetimeModel), got {type(model).__name__}")
        lv = fleet_lives(fleet).lives
        machines = fleet.machines
        M = len(machines)
        mcode = pd.Index(machines["serial"]).get_indexer(pd.Index(lv["serial"].cat.categories))
        machine = mcode[lv["serial"].cat.codes.to_numpy()]
        groups = model.lifetime_groups()
        key = pd.MultiIndex.from_arrays([groups["machine_model"].astype(str), groups["component"].astype(str)])
        # One lookup per (model, component) category pair, not per life (millions of rows).
        mm, cc = lv["machine_model"].cat, lv["component"].cat
        n_c = len(cc.categories)
        pairs = pd.MultiIndex.from_product([pd.Index(mm.categories).astype(str), pd.Index(cc.categories).astype(str)])
        g = key.get_indexer(pairs)[mm.codes.to_numpy(np.int64) * n_c + cc.codes.to_numpy(np.int64)]
        use = (g >= 0) & (machine >= 0)
        g, machine = g[use], machine[use]
        t = lv["duration"].to_numpy(float)[use]
        failed = lv["failed"].to_numpy(bool)[use]
        p = _law_params(model)
        if p is not None:
            shape, scale = p["shape"].to_numpy(float)[g], p["scale"].to_numpy(float)[g]
            law_code, laws = pd.factorize(p["law"].astype(str))
            law = law_code[g]
            H = np.zeros(t.size)
            for i, name in enumerate(laws):  # the package's few laws, each vectorised
                on = law == i
                H[on] = -lifetime_law(name).log_sf(t[on], shape[on], scale[on])
            expected = np.bincount(machine, H, minlength=M)
            self.expected_from_ = "cumulative hazard"
        else:
            # Each (machine, component)'s observed hours from new, and the renewals expected in them.
            pair = machine.astype(np.int64) * (g.max(initial=0) + 1) + g
            uniq, inv = np.unique(pair, return_inverse=True)
            hours = np.bincount(inv, t, minlength=uniq.size)
            pg = g[np.unique(inv, return_index=True)[1]]
            pm = machine[np.unique(inv, return_index=True)[1]]
            ren = checked_renewals(model, pg, np.zeros(uniq.size), hours[:, None])[:, 0]
            expected = np.bincount(pm, ren, minlength=M)
            self.expected_from_ = "renewals"
        observed = np.bincount(machine, failed.astype(float), minlength=M)
        alpha = float(self.alpha) if self.alpha is not None else _estimate_alpha(
            observed, expected, float(self.max_alpha), float(self.test_level))
        self.alpha_ = alpha
        z, sd = frailty_posterior(observed, expected, alpha)
        self.frailty_ = pd.DataFrame({
            "serial": pd.array(machines["serial"].to_numpy(), dtype="str"),
            "machine_model": pd.array(machines["machine_model"].to_numpy(), dtype="str"),
            "observed": observed.astype(np.int64), "expected": expected, "frailty": z, "frailty_sd": sd})
        return self

    def multipliers(self, serial) -> np.ndarray:
        """The frailty of each machine in ``serial`` (1 for a machine not seen in the fit).

        Parameters
        ----------
        serial : array_like of str (or a categorical Series)

        Returns
        -------
        ndarray
        """
        if not hasattr(self, "frailty_"):
            raise ValueError("this MachineFrailty is not fitted yet: call .fit(model, fleet) first")
        index = pd.Index(self.frailty_["serial"])
        z = self.frailty_["frailty"].to_numpy(float)
        s = serial if isinstance(serial, pd.Series) else pd.Series(serial)
        if isinstance(s.dtype, pd.CategoricalDtype):  # one lookup per category
            pos = index.get_indexer(pd.Index(s.cat.categories).astype(str))
            codes = s.cat.codes.to_numpy()
            p = np.where(codes >= 0, pos[codes], -1)
        else:
            p = index.get_indexer(s.astype(str))
        return np.where(p >= 0, z[np.maximum(p, 0)], 1.0)

    def __repr__(self) -> str:
        if not hasattr(self, "frailty_"):
            return "MachineFrailty(not fitted)"
        z = self.frailty_["frailty"]
        return (f"MachineFrailty(alpha={self.alpha_:.3g}, machines={len(z)}, "
                f"frailty 5–95%={z.quantile(0.05):.2f}–{z.quantile(0.95):.2f})")


def _law_params(model) -> pd.DataFrame | None:
    """law, shape and scale of every group (rows of ``lifetime_groups``) of a model of the
    package's laws; None for another model."""
    if isinstance(model, ParametricLifetimeModel):
        return model.lifetime_params()
    if isinstance(model, WeibullLifetimeModel):
        return model.weibull_params().assign(law="weibull")
    return None


def frailty_posterior(observed, expected, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and sd of gamma frailties: ``(α + O) / (α + E)``, ``√(α + O) / (α + E)``.

    Parameters
    ----------
    observed, expected : array_like
        Failures seen and failures the model expects, per machine.
    alpha : float
        Shape (and rate) of the gamma prior, > 0; ``np.inf`` gives 1 and 0.

    Returns
    -------
    mean, sd : ndarray
    """
    o = np.asarray(observed, float)
    e = np.asarray(expected, float)
    if not np.isfinite(alpha):
        return np.ones_like(o + e), np.zeros_like(o + e)
    return (alpha + o) / (alpha + e), np.sqrt(alpha + o) / (alpha + e)


def _frailty_loglik(alpha: float, o: np.ndarray, e: np.ndarray) -> float:
    """Negative-binomial marginal log-likelihood of the counts (terms free of α dropped),
    minus its Poisson limit (α → ∞), written to stay accurate for large α."""
    return float(np.sum(special.gammaln(alpha + o) - special.gammaln(alpha) - o * np.log(alpha)
                        - alpha * np.log1p(e / alpha) - o * np.log1p(e / alpha) + e))


def _estimate_alpha(o: np.ndarray, e: np.ndarray, max_alpha: float, test_level: float = 0.05) -> float:
    """Marginal-likelihood α of a gamma frailty; ∞ unless it beats the Poisson limit by the
    boundary likelihood-ratio test at ``test_level`` (critical value: the χ²₁ quantile at
    ``1 − 2 · test_level``)."""
    keep = e > 0
    o, e = o[keep], e[keep]
    if o.size < 2 or o.sum() == 0:
        return np.inf
    res = optimize.minimize_scalar(lambda th: -_frailty_loglik(np.exp(th), o, e),
                                   bounds=(np.log(1e-3), np.log(max_alpha)), method="bounded",
                                   options={"xatol": 1e-6})
    alpha = float(np.exp(res.x))
    # The Poisson limit (where the likelihood difference is 0) wins unless α does better.
    critical = stats.chi2.ppf(1.0 - 2.0 * test_level, 1)
    if alpha >= max_alpha * 0.99 or 2.0 * _frailty_loglik(alpha, o, e) <= critical:
        return np.inf
    return alpha
