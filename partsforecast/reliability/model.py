"""Fleet level: :class:`FailureModel`, a lifetime model for every (machine_model, component).

Built on the group engines (:mod:`partsforecast.reliability.groups` for the Weibull law,
:mod:`partsforecast.reliability.laws` for the lognormal and gamma laws), the pooling
estimators (:mod:`partsforecast.reliability.pooling`) and, for the constant-rate
alternative, :mod:`partsforecast.reliability.constant_rate`. A fitted model is a
:class:`~partsforecast.reliability.ParametricLifetimeModel` (and, when every group is
Weibull, a Weibull one), which is what :func:`partsforecast.forecast_demand` reads.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from partsforecast._display import html_card, text_card
from partsforecast._io import release_unused_memory
from partsforecast._lookup import key_groups, positions
from partsforecast.lives import fleet_lives
from partsforecast.reliability._common import validate_level
from partsforecast.reliability.constant_rate import GROUP_KEYS, fit_constant_rate
from partsforecast.reliability.groups import fit_weibull_groups, group_setup
from partsforecast.reliability.lawfit import (
    choose_laws,
    fit_law_pooled,
    group_loglik,
    law_lives,
)
from partsforecast.reliability.laws import (
    LAW_NAMES,
    Lives,
    by_law,
    law_codes,
    lifetime_law,
)
from partsforecast.reliability.nonparametric import km_distance
from partsforecast.reliability.plots import survival_plot, weibull_plot
from partsforecast.reliability.pooling import borrowed_core, pooled_core, shrink_scale
from partsforecast.reliability.renewal import expected_failures
from partsforecast.reliability.severity import (
    MachineSeverity,
    gauss_nodes,
    heterogeneity_screen,
    severity_grid,
    severity_posterior,
)
from partsforecast.reliability.single import WeibullFit

__all__ = ["FailureModel", "NotFittedError"]

_POOLING = ("shrink", "shape", "none")
_DISTRIBUTIONS = ("weibull", "exponential", "lognormal", "gamma", "auto")
#: EM of the machines' severity: at most this many M-steps, stopped when α moves less than
#: ``_SEVERITY_TOL`` in log; Gauss nodes per machine.
_SEVERITY_ITER = 6
_SEVERITY_TOL = 0.05
_SEVERITY_NODES = 2
#: The severity's screen (``heterogeneity_screen``): EM only when its z beats the one-sided
#: 0.1% normal quantile and the machines' hazard multipliers vary by more than 5%
#: (variance 0.05; plain generated fleets give at most 0.016, heavy users 0.5 give 1.3).
_SCREEN_Z = 3.09
_SCREEN_DISPERSION = 0.05
_PARAM_COLUMNS = ["machine_model", "component", "law", "shape", "scale", "shape_lower", "shape_upper",
                  "scale_lower", "scale_upper", "n_failures", "n_censored", "method", "borrowed",
                  "loglik", "ks_distance"]


class NotFittedError(ValueError, AttributeError):
    """A model was used before ``fit``."""


class FailureModel:
    """Lifetime models for every (machine_model, component) of a fleet.

    Lives come from the tickets (:func:`partsforecast.lives.component_lives`): a replacement
    ends one life and starts the next, the life running at ``fleet.as_of`` is right-censored,
    and a machine that never had a ticket for a component contributes its whole service life
    as one censored observation. Lifetimes are operating hours.

    Parameters
    ----------
    distribution : {"weibull", "exponential", "lognormal", "gamma", "auto"}
        Lifetime law of every group. ``params_`` says each group's ``law``, and ``shape``
        and ``scale`` are that law's parameters (time in operating hours):

        ``"weibull"`` (default)
            ``S(t) = exp(-(t / scale) ** shape)``: ``shape`` k, ``scale`` eta (63.2% of
            the components have failed by it). ``"exponential"`` is the Weibull with
            shape 1.
        ``"lognormal"``
            ``log T ~ Normal(log scale, shape)``: ``shape`` is the sd of the log life,
            ``scale`` the median life; mean ``scale · exp(shape² / 2)``.
        ``"gamma"``
            density ``t^(k-1) exp(-t/θ) / (Γ(k) θ^k)``: ``shape`` k, ``scale`` θ; mean
            ``k θ``.
        ``"auto"``
            Fits the three laws (each with the same pooling) and gives each component
            family (a component on every machine model) the law with the smallest AIC
            summed over the family's groups; ``law_comparison_`` holds the figures per
            group. The rule and why it is per family: ``docs/failure-models.md``.

        A group that cannot be fitted under the lognormal or gamma law (its family has no
        shape to share) gets the exponential fit of the Weibull path (``law`` weibull,
        shape 1, method ending in ``"(shape 1 assumed)"``).
    pooling : {"shrink", "shape", "none"}
        How sparse groups borrow strength from their component family (the same component
        on other machine models):

        ``"shrink"`` (default)
            A group with at least ``min_failures`` failures keeps its own maximum-likelihood
            fit. Sparser groups take the family's pooled shape (:func:`pooled_shape`: one
            shape, separate scales) and an empirical-Bayes gamma-Poisson shrinkage of their
            rate towards the family (:func:`shrink_scale`, Clayton & Kaldor 1987).
        ``"shape"``
            Every group takes its family's pooled shape; scales are their own (Weibayes).
        ``"none"``
            Every group on its own; a group with fewer than two distinct failure times gets
            Weibayes with shape 1 (an exponential fit, flagged).

        Whatever the pooling, a group without failures still gets a usable scale: the
        family's (shrunk) rate, or with ``"none"`` the zero-failure lower bound, and its
        ``method`` says so.

        The lognormal and gamma laws borrow the same way: ``"shape"`` gives every group its
        family's pooled shape (one shape, a scale per group, exact maximum likelihood) and
        its own scale (for a group without failures, the one-sided lower bound at ``level``:
        the scale at which seeing no failure has probability ``1 − level``). ``"shrink"``
        keeps the own fit of groups with at least ``min_failures`` failures; sparser groups
        take the pooled shape and an empirical-Bayes scale: the mode of their likelihood
        times a normal prior on the log scale, whose mean and spread are fitted to the
        family's groups (``"pooled-shape, shrunk scale"``, DerSimonian–Laird spread), or
        the family's common scale when that spread is 0 (``"pooled-shape, family scale"``).
        Their intervals are Wald intervals on the log scale for ``"mle"`` groups and NaN for
        borrowed ones (the coverage study covers the Weibull law).

        Intervals (``level``) are built to cover each group's *own* shape and scale:
        ``"mle"`` groups get likelihood-ratio intervals; a borrowed shape's interval adds the
        spread of shapes between the groups of a family to the pool's sampling error
        (:func:`borrowed_shape`); the scale interval of a pooled-shape or shrunk group adds
        the borrowed shape's uncertainty (delta method) and, when shrunk, the error of the
        fitted prior (:func:`shrink_scale`). A group whose shape is *assumed* (method ending
        in ``"(shape 1 assumed)"``) gets no intervals (NaN): an assumption is not an
        estimate. Measured coverage: ``docs/failure-models.md``.
    min_failures : int
        Failures a group needs to keep its own shape under ``"shrink"``.
    level : float
        Confidence level of the intervals.
    covariates : sequence of {"tier", "usage"} or None
        Terms of the constant-rate alternative: a Poisson GLM of failures per operating
        hour with an exposure offset, one rate per group times a factor per market tier
        and/or per band of usage (hours per day). ``None`` skips it.
    severity : bool, default True
        Fit the laws jointly with each machine's *severity* (how hard it is worked): a
        shared gamma frailty on the machine's time scale, a machine of severity ``s``
        wearing ``s`` times faster (its lives are the group's baseline lives divided by
        ``s``), ``s ~ Gamma(α, α)`` across the fleet, fitted by EM
        (``partsforecast/reliability/severity.py``). ``params_`` then holds the baseline
        laws (``s = 1``) and ``severity_`` each machine's posterior, which
        :func:`~partsforecast.forecast_demand` averages over by default. A screen that
        costs one pass over the lives comes first: unless the machines' failures are more
        unequal than the pooled laws allow (z above 3.09, the one-sided 0.1% level) and
        materially so (hazard multipliers varying with a variance above 0.05), there is
        no EM and the fit is the pooled one, unchanged; then the EM's own likelihood-ratio
        test (5%) can still find none. On a fleet with heavy users the EM roughly doubles
        the fit time and the installed-base part of a forecast (figures in
        ``docs/forecast-accuracy.md``). ``False``: the pooled fit without the screen.
        Not with ``distribution="exponential"``: the wear-out a constant rate cannot
        represent shows as machine-to-machine spread, which the screen would take for
        severity.

    Attributes
    ----------
    params_ : DataFrame
        One row per group: machine_model, component, law, shape, scale, shape_lower,
        shape_upper, scale_lower, scale_upper, n_failures, n_censored, method, borrowed
        (bool), loglik, ks_distance (the largest gap between the Kaplan–Meier curve and the
        fitted survival, a goodness-of-fit figure; ≤ ~1.36/√n is a good fit).
    families_ : DataFrame
        One row per component family: its law, pooled shape and its interval, n_groups,
        n_failures, ``tau_log_shape``, the spread (sd of log shape) between groups of a
        family (one value for the fleet; Weibull only), and ``tau_log_scale``, the spread
        of log scales the lognormal and gamma shrinkage uses (NaN for Weibull).
    law_comparison_ : DataFrame or None
        With ``distribution="auto"``: one row per group, its log-likelihood and AIC under
        each law (``loglik_weibull``, ``aic_weibull``, ...; ``n_params`` is the same for
        every law), ``best_in_group`` (the law of the smallest AIC of the group alone) and
        ``law`` (the family's choice, which the model uses). ``None`` otherwise.
    candidates_ : dict of DataFrame or None
        With ``distribution="auto"``: the ``params_`` each law would have given.
    glm_ : statsmodels GLMResults or None
        The constant-rate Poisson GLM's covariate terms (tier, usage factors), fitted with
        each group's rate profiled into the offset; ``glm_group_rates_`` holds those rates
        (failures per operating hour at the baseline levels) and ``glm_terms_`` each term's
        rate ratio with its profile-likelihood standard error and interval (use these, not
        ``glm_.bse``, which treat the group rates as known).
    comparison_ : DataFrame or None
        Per group: log-likelihood and AIC of the Weibull fit and of the constant-rate GLM,
        and the model chosen by AIC (with ``distribution`` lognormal, gamma or auto, the
        ``*_weibull`` columns and the choice ``"weibull"`` stand for the fitted laws).
    choice_ : str or None
        The model preferred by total AIC over all groups: ``"weibull"`` (the lifetime
        laws) or ``"constant-rate"``.
    lives_ : partsforecast.lives.Lives
        The lives the model was fitted on, and the current ages (not set on a model made
        by :meth:`from_params`).
    severity_ : MachineSeverity or None
        With ``severity=True``: the fleet's severity variance (``variance_``, 0 when no
        heterogeneity was found), the screen's figures (``screen_z_``, ``dispersion_``) and
        each machine's posterior (:class:`~partsforecast.reliability.MachineSeverity`);
        ``None`` with ``severity=False`` or ``distribution="exponential"``. With a
        severity, ``loglik`` and ``ks_distance`` in ``params_`` are those of the baseline
        law on the observed lives (at ``s = 1``), not of the fleet's mixture.

    Notes
    -----
    A fitted model, or one made from known parameters by :meth:`from_params`, is a
    :class:`~partsforecast.reliability.ParametricLifetimeModel` (:meth:`lifetime_groups`,
    :meth:`expected_renewals`, :meth:`lifetime_params`; and :meth:`weibull_params` when
    every group is Weibull): the interface :func:`partsforecast.forecast_demand` reads.

    Examples
    --------
    >>> import partsforecast as pf
    >>> model = pf.FailureModel().fit(pf.load_sample())        # doctest: +SKIP
    >>> model.params_.head()                                    # doctest: +SKIP
    >>> model.conditional_failure_prob(2000, 500, "EX200", "hydraulic pump")  # doctest: +SKIP
    >>> truth = pf.FailureModel.from_params(fleet.truth["lifetimes"])  # doctest: +SKIP
    >>> pf.FailureModel(distribution="auto").fit(fleet).law_comparison_  # doctest: +SKIP
    """

    def __init__(
        self,
        distribution: str = "weibull",
        pooling: str = "shrink",
        min_failures: int = 20,
        level: float = 0.95,
        covariates: Sequence[str] | None = ("tier",),
        severity: bool = True,
    ) -> None:
        self.distribution = distribution
        self.pooling = pooling
        self.min_failures = min_failures
        self.level = level
        self.covariates = covariates
        self.severity = severity

    # -- fitting ---------------------------------------------------------------------------

    def _check_settings(self) -> None:
        if self.distribution not in _DISTRIBUTIONS:
            raise ValueError(f"distribution={self.distribution!r} is not supported; "
                             f"use one of {', '.join(map(repr, _DISTRIBUTIONS))}")
        if self.pooling not in _POOLING:
            raise ValueError(f"pooling={self.pooling!r} is not supported; use one of "
                             f"{', '.join(map(repr, _POOLING))}")
        if not isinstance(self.min_failures, (int, np.integer)) or self.min_failures < 2:
            raise ValueError(f"min_failures must be a whole number ≥ 2, got {self.min_failures!r}")
        validate_level("FailureModel", self.level)
        allowed = {"tier", "usage"}
        if self.covariates is not None and not set(self.covariates) <= allowed:
            raise ValueError(f"covariates={self.covariates!r}: allowed terms are 'tier' and 'usage' "
                             "(or None to skip the constant-rate model)")
        if not isinstance(self.severity, (bool, np.bool_)):
            raise TypeError(f"severity must be True or False, got {self.severity!r}")

    def fit(self, fleet, engine=None) -> FailureModel:
        """Fit every (machine_model, component) group of ``fleet``.

        Parameters
        ----------
        fleet : Fleet
            Its component lives (:meth:`partsforecast.Fleet.component_lives`) are computed
            once per fleet and shared with the forecasts made on it.
        engine : dask.distributed.Client, optional
            Fit on a Dask cluster: the lives are computed here, split by component family
            into partitions and fitted on the cluster's workers; the result is the local
            fit's (to floating-point summation order). ``None`` (default) fits here. See
            :mod:`partsforecast.engine`.

        Returns
        -------
        FailureModel
            ``self``, fitted.

        Raises
        ------
        TypeError
            ``engine`` is neither None nor a ``dask.distributed.Client``.
        """
        self._check_settings()
        if engine is not None:
            from partsforecast.engine import check_engine, fit_partitioned

            check_engine(engine, "FailureModel.fit")
        lives = fleet_lives(fleet)
        core = self._fit_lives(lives.lives) if engine is None else fit_partitioned(self, lives.lives, engine)
        params = core["params"]
        self.law_comparison_, self.candidates_ = core["law_comparison"], core["candidates"]
        self.params_ = params.sort_values(GROUP_KEYS, ignore_index=True)
        self.families_ = core["families"]
        self.lives_ = lives
        self.glm_ = self.comparison_ = self.choice_ = None
        if self.covariates is not None:
            cr = fit_constant_rate(fleet, lives, core["gcode"], core["groups"], params, self.covariates,
                                   self.level)
            self.glm_, self.glm_terms_, self.glm_group_rates_ = cr.glm, cr.terms, cr.group_rates
            self.comparison_, self.choice_ = cr.comparison, cr.choice
        with_severity = self.severity and self.distribution != "exponential"
        self.severity_ = self._fit_severity(fleet, lives.lives) if with_severity else None
        release_unused_memory()  # the fit's work arrays
        return self

    def _fit_severity(self, fleet, lv: pd.DataFrame) -> MachineSeverity:
        """EM of the baseline group laws and the machines' gamma severity (accelerated failure
        time; :mod:`partsforecast.reliability.severity`); replaces ``params_`` by the baseline
        laws when the fleet shows heterogeneity."""
        gcode, groups, fam, families = self._group_codes(lv)
        G, F = len(groups), len(families)
        keys = {"machine_model": pd.array(groups.get_level_values(0), dtype="str"),
                "component": pd.array(groups.get_level_values(1), dtype="str")}
        machines = fleet.machines
        M = len(machines)
        machine = positions(machines["serial"], lv["serial"])  # (a categorical: one lookup per category)
        t = lv["duration"].to_numpy(float)
        d = lv["failed"].to_numpy(bool)
        # the params_ row of every group code
        row = pd.MultiIndex.from_frame(self.params_[GROUP_KEYS].astype(str)).get_indexer(
            pd.MultiIndex.from_arrays([groups.get_level_values(0).astype(str), groups.get_level_values(1).astype(str)]))
        params = self.params_.iloc[row].reset_index(drop=True)
        grid = severity_grid()
        history: list[float] = []
        alpha, post = np.inf, None
        for it in range(_SEVERITY_ITER + 1):
            k_g, eta_g = params["shape"].to_numpy(float), params["scale"].to_numpy(float)
            law_g = law_codes(params["law"].to_numpy(dtype=object))
            ok = (machine >= 0) & (np.isfinite(k_g) & np.isfinite(eta_g) & (k_g > 0) & (eta_g > 0))[gcode]
            g_ok = gcode[ok]
            lives_ok = (machine[ok], law_g[g_ok], t[ok], d[ok], k_g[g_ok], eta_g[g_ok], M)
            if it == 0:
                screen = heterogeneity_screen(*lives_ok)
                if not (screen[0] > _SCREEN_Z and screen[1] > _SCREEN_DISPERSION):
                    break  # the machines fail no more unequally than chance, or immaterially
            post, alpha = severity_posterior(*lives_ok, grid=grid)
            history.append(float(alpha))
            if not np.isfinite(alpha) or it == _SEVERITY_ITER or (
                    it and abs(np.log(history[-1] / history[-2])) < _SEVERITY_TOL):
                break
            # M-step: every life once per Gauss node of its machine's posterior
            nodes, weights = gauss_nodes(post, grid, _SEVERITY_NODES)
            # Parameter expansion (Liu, Rubin & Wu 1998): the severities in units of their
            # fleet mean, so that the laws' scales take up what the mean-1 prior cannot; EM
            # alone creeps along that ridge (scale × c, severities ÷ c) for many iterations.
            nodes = nodes / float(np.mean(post @ grid))
            K = nodes.shape[1]
            m = np.maximum(machine, 0)
            seen = (machine >= 0)[:, None]
            t_x = (t[:, None] * np.where(seen, nodes[m], 1.0)).ravel()
            w_x = np.where(seen, weights[m], (np.arange(K) == 0)[None, :]).ravel()
            g_x, d_x = np.repeat(gcode, K), np.repeat(d, K)
            params = self._refit_laws(g_x, t_x, d_x, w_x, G, fam, F, params)
        if np.isfinite(alpha) and it:
            params = self._finish(params, keys, gcode, t, d, G)
            self.params_ = params.sort_values(GROUP_KEYS, ignore_index=True)
        sev = MachineSeverity(machines["serial"].to_numpy(), machines["machine_model"].to_numpy(),
                              post if np.isfinite(alpha) else None, grid, alpha, _SEVERITY_NODES)
        sev.n_iter_ = it
        sev.alpha_path_ = history
        sev.screen_z_, sev.dispersion_ = screen
        return sev

    def _refit_laws(self, g, t, d, w, G, fam, F, current: pd.DataFrame) -> pd.DataFrame:
        """Weighted refit of every group under the pooling setting, each group keeping its
        law in ``current`` (one row per group code)."""
        cols = ["shape", "scale", "shape_lower", "shape_upper", "scale_lower", "scale_upper", "n_failures",
                "n_censored", "method", "borrowed", "law"]
        wb, _ = self._fit_weibull(g, t, d, G, fam, F, w=w)  # (no severity with the exponential law)
        wb["law"] = "weibull"
        out = wb[cols].copy()
        out["method"] = out["method"].astype(object)
        out["law"] = out["law"].astype(object)
        want = current["law"].astype(str).to_numpy()
        lvs = Lives(np.asarray(g, np.int64), t, d, w, G)
        for name in sorted(set(want) - {"weibull"}):
            p, _ = fit_law_pooled(lifetime_law(name), lvs, fam, F, wb, self.pooling, self.min_failures,
                                  self.level)
            take = want == name
            for c in cols:
                out.loc[take, c] = p.loc[take, c].to_numpy()
        out["borrowed"] = out["borrowed"].astype(bool)
        return out

    @staticmethod
    def _group_codes(lv: pd.DataFrame):
        """Group code of every life, the groups (machine_model, component) in code order, and
        the family code of every group with the families in order of first appearance."""
        gcode, keys = key_groups(lv, list(GROUP_KEYS))  # on the categorical codes: no sort
        groups = pd.MultiIndex.from_arrays([keys[k].cat.categories[keys[k].cat.codes] for k in GROUP_KEYS])
        fam, families = pd.factorize(groups.get_level_values(1))
        return gcode, groups, fam, families

    def _fit_lives(self, lv: pd.DataFrame, tau2: float | None = None) -> dict:
        """The fit on a lives table alone (no fleet): params (group-code order), families,
        law_comparison, candidates, gcode and groups. ``tau2``: the spread of log shapes of a
        larger fleet whose component families these lives are (a partitioned fit)."""
        gcode, groups, fam, families = self._group_codes(lv)
        G = len(groups)
        F = len(families)
        t = lv["duration"].to_numpy(float)
        d = lv["failed"].to_numpy(bool)
        keys = {"machine_model": pd.array(groups.get_level_values(0), dtype="str"),
                "component": pd.array(groups.get_level_values(1), dtype="str")}
        fam_keys = pd.array(families, dtype="str")

        if self.distribution == "exponential":
            params = fit_weibull_groups(gcode, t, d, n_groups=G, shape=np.ones(G), level=self.level)
            params["method"] = np.where(params["method"] == "weibayes", "mle", params["method"])
            params["borrowed"] = False
            fam_table = pd.DataFrame({"shape": np.ones(F)})
        else:
            params, fam_table = self._fit_weibull(gcode, t, d, G, fam, F, tau2=tau2)
        params["law"] = "weibull"
        fam_table["law"] = "weibull"
        fam_table["tau_log_scale"] = np.nan
        law_comparison = candidates = None
        if self.distribution in ("lognormal", "gamma", "auto"):
            lvs = law_lives(gcode, t, d, G)
            laws = LAW_NAMES[1:] if self.distribution == "auto" else (self.distribution,)
            fits = {"weibull": (params, fam_table)}
            for name in laws:
                fits[name] = fit_law_pooled(lifetime_law(name), lvs, fam, F, params, self.pooling,
                                            self.min_failures, self.level)
            if self.distribution == "auto":
                table = {name: self._finish(p, keys, gcode, t, d, G) for name, (p, _) in fits.items()}
                params, fam_table, law_comparison = choose_laws(fits, table, fam, fam_keys)
                candidates = {name: p.sort_values(GROUP_KEYS, ignore_index=True) for name, p in table.items()}
            else:
                params, fam_table = fits[self.distribution]
        params = self._finish(params, keys, gcode, t, d, G)  # in group-code order
        fam_table.insert(0, "component", fam_keys)
        fam_cols = ["component", "law", *[c for c in fam_table.columns if c not in ("component", "law")]]
        return {"params": params, "families": fam_table[fam_cols].reset_index(drop=True),
                "law_comparison": law_comparison, "candidates": candidates, "gcode": gcode, "groups": groups}

    @staticmethod
    def _finish(params: pd.DataFrame, keys: dict, gcode, t, d, G) -> pd.DataFrame:
        """``params`` (one row per group code) with the keys, the log-likelihood and the
        Kaplan–Meier distance of each group's law, in the ``params_`` layout."""
        p = params.copy()
        for i, (name, values) in enumerate(keys.items()):
            if name in p.columns:
                p = p.drop(columns=name)
            p.insert(i, name, values)
        p["law"] = pd.array(p["law"].astype(str).to_numpy(), dtype="str")
        codes = law_codes(p["law"].to_numpy())
        k, eta = p["shape"].to_numpy(float), p["scale"].to_numpy(float)
        p["loglik"] = group_loglik(codes, gcode, t, d, k, eta, G)
        p["ks_distance"] = km_distance(gcode, t, d, k, eta, G, law=codes)
        return p[_PARAM_COLUMNS]

    @classmethod
    def from_params(cls, table: pd.DataFrame) -> FailureModel:
        """A model from known parameters, ready to forecast with (nothing is fitted).

        For the parameters that generated a fleet (``fleet.truth["lifetimes"]``: the oracle
        whatever its law), engineering estimates, or a fit made elsewhere.

        Parameters
        ----------
        table : DataFrame
            One row per (machine_model, component): columns ``machine_model``,
            ``component``, ``shape`` and ``scale`` (operating hours), every shape and scale a
            finite number > 0, and optionally ``law`` (``"weibull"``, the default,
            ``"lognormal"`` or ``"gamma"``; the meaning of shape and scale per law is in the
            class docstring). Optional ``shape_lower``, ``shape_upper``, ``scale_lower``,
            ``scale_upper`` are kept; other columns are ignored.

        Returns
        -------
        FailureModel
            With ``params_`` laid out as after :meth:`fit` (``method`` ``"given"``, no
            failures counted, intervals NaN unless given); it has no ``lives_``,
            ``families_`` or constant-rate GLM.

        Raises
        ------
        TypeError
            ``table`` is not a DataFrame.
        ValueError
            A column is missing, a row lacks its machine_model or component, a group is
            given twice, a shape or scale is not a finite number > 0, or a law is not one of
            the three; the message names the row (its index label) and the group.

        Examples
        --------
        >>> truth = FailureModel.from_params(fleet.truth["lifetimes"])  # doctest: +SKIP
        >>> forecast_demand(truth, fleet, horizon=12)                  # doctest: +SKIP
        """
        where = "FailureModel.from_params"
        if not isinstance(table, pd.DataFrame):
            raise TypeError(f"{where}: table must be a DataFrame with columns machine_model, component, "
                            f"shape and scale, got {type(table).__name__}")
        missing = [c for c in (*GROUP_KEYS, "shape", "scale") if c not in table.columns]
        if missing:
            raise ValueError(f"{where}: table lacks column(s) {missing}; it needs machine_model, "
                             "component, shape and scale (operating hours), one row per group")
        if len(table) == 0:
            raise ValueError(f"{where}: table has no rows; give one row per (machine_model, component)")

        def plain(value):  # 2.0, not np.float64(2.0)
            return value.item() if isinstance(value, np.generic) else value

        def row_name(i: int) -> str:
            keys = ", ".join(f"{k}={plain(table[k].iloc[i])!r}" for k in GROUP_KEYS)
            return f"row {plain(table.index[i])!r} ({keys})"

        for key in GROUP_KEYS:
            blank = table[key].isna().to_numpy() | (table[key].astype(str).str.strip() == "").to_numpy()
            if blank.any():
                i = int(np.flatnonzero(blank)[0])
                raise ValueError(f"{where}: {row_name(i)} has no {key}; every row needs a machine_model "
                                 "and a component")
        keys = table[GROUP_KEYS].astype(str)
        dup = keys.duplicated(keep=False).to_numpy()
        if dup.any():
            first = int(np.flatnonzero(dup)[0])
            same = np.flatnonzero(dup & (keys == keys.iloc[first]).all(axis=1).to_numpy())
            raise ValueError(f"{where}: {row_name(first)} is given {same.size} times (rows "
                             f"{', '.join(repr(plain(table.index[j])) for j in same)}); give one row per group")
        values = {}
        for col in ("shape", "scale", "shape_lower", "shape_upper", "scale_lower", "scale_upper"):
            if col not in table.columns:
                values[col] = np.full(len(table), np.nan)
                continue
            raw = table[col]
            num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
            if col in ("shape", "scale"):
                bad = ~(np.isfinite(num) & (num > 0))
                if bad.any():
                    i = int(np.flatnonzero(bad)[0])
                    more = f" ({int(bad.sum()) - 1} more rows like it)" if bad.sum() > 1 else ""
                    raise ValueError(f"{where}: {row_name(i)} has {col}={plain(raw.iloc[i])!r}; every shape "
                                     f"and scale must be a finite number > 0{more}")
            values[col] = num
        n = len(table)
        law = np.full(n, "weibull", dtype=object)
        if "law" in table.columns:
            raw = table["law"]
            text = raw.astype(str).str.strip().str.lower().to_numpy(dtype=object)
            bad = raw.isna().to_numpy() | ~np.isin(text, LAW_NAMES)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"{where}: {row_name(i)} has law={plain(raw.iloc[i])!r}; the law must be one "
                                 f"of {', '.join(map(repr, LAW_NAMES))}")
            law = text
        params = pd.DataFrame({
            "machine_model": pd.array(keys["machine_model"].to_numpy(), dtype="str"),
            "component": pd.array(keys["component"].to_numpy(), dtype="str"),
            "law": pd.array(law.astype(str), dtype="str"),
            **values,
            "n_failures": np.full(n, np.nan), "n_censored": np.full(n, np.nan),
            "method": pd.array(np.full(n, "given"), dtype="str"), "borrowed": np.zeros(n, bool),
            "loglik": np.full(n, np.nan), "ks_distance": np.full(n, np.nan),
        })
        model = cls(covariates=None)
        model.params_ = params[_PARAM_COLUMNS].sort_values(GROUP_KEYS, ignore_index=True)
        model.families_ = None
        model.glm_ = model.comparison_ = model.choice_ = None
        model.law_comparison_ = model.candidates_ = None
        model.severity_ = None
        return model

    def _fit_weibull(self, gcode, t, d, G, fam, F, tau2=None, w=None):
        """Per-group Weibull fits under the pooling setting; see the class docstring and
        docs/failure-models.md for how each method's intervals are built. ``w``: frequency
        weights of the lives (1 each when None)."""
        own = fit_weibull_groups(gcode, t, d, weights=w, n_groups=G, level=self.level)
        own_ok = (own["method"] == "mle").to_numpy() & own["converged"].to_numpy()
        w = np.ones_like(t, dtype=float) if w is None else np.asarray(w, float)
        S = group_setup(gcode.astype(np.int64), t.astype(float), d.astype(float), w, G)
        pooled, info_g = pooled_core(S, fam, F, self.level)
        fam_shape = pooled["shape"].to_numpy()
        # A family with fewer than two distinct failure times has no shape to share:
        # assume a constant hazard (shape 1), flagged in `method`.
        fam_k = np.where(np.isfinite(fam_shape), fam_shape, 1.0)
        # How far a borrowed shape may be from the group's own: the pool's sampling error plus
        # the spread of shapes between the groups of a family (random effects, one spread for
        # all families, estimated from the groups' own shapes).
        bor = borrowed_core(S, fam, F, pooled, info_g, tau2=tau2)
        fam_table = pooled[["shape", "shape_lower", "shape_upper", "n_groups", "n_failures", "method"]].copy()
        fam_table["tau_log_shape"] = np.sqrt(bor["tau2"])
        assumed = ~np.isfinite(fam_shape[fam])
        no_ci = ["shape_lower", "shape_upper", "scale_lower", "scale_upper"]

        if self.pooling == "none":
            given = np.where(own_ok, np.nan, 1.0)
            params = fit_weibull_groups(gcode, t, d, weights=w, n_groups=G, shape=given, level=self.level)
            params["borrowed"] = False
            params.loc[~own_ok, "method"] = params.loc[~own_ok, "method"] + " (shape 1 assumed)"
            # An assumed shape is not an estimate: no interval can claim coverage of the
            # group's shape or scale (the one the shape-1 fit would give misses most of them).
            params.loc[~own_ok, no_ci] = np.nan
            return params, fam_table

        k_g = fam_k[fam]
        se_g = np.where(assumed, np.nan, bor["se"])
        under_pool = fit_weibull_groups(gcode, t, d, weights=w, n_groups=G, shape=k_g, level=self.level,
                                        shape_log_se=np.nan_to_num(se_g))
        under_pool["method"] = np.where(assumed, "pooled-shape (shape 1 assumed)", "pooled-shape")
        under_pool["borrowed"] = True
        under_pool.loc[assumed, no_ci] = np.nan
        if self.pooling == "shape":
            return under_pool, fam_table

        shrunk = shrink_scale(gcode, t, d, shape=k_g, family=fam, weights=w, n_groups=G, n_families=F,
                              level=self.level, shape_log_se=np.nan_to_num(se_g))
        sparse = ~(own_ok & (own["n_failures"].to_numpy() >= self.min_failures))
        params = own.copy()
        params["borrowed"] = False
        has_shrunk = np.isfinite(shrunk["scale"].to_numpy())
        take = sparse & has_shrunk
        for c in ("shape", "shape_lower", "shape_upper", "method", "borrowed"):
            params.loc[sparse, c] = under_pool.loc[sparse, c]
        params.loc[sparse, ["scale", "scale_lower", "scale_upper"]] = under_pool.loc[
            sparse, ["scale", "scale_lower", "scale_upper"]].to_numpy()
        params.loc[take, ["scale", "scale_lower", "scale_upper"]] = shrunk.loc[
            take, ["scale", "scale_lower", "scale_upper"]].to_numpy()
        label = np.where(shrunk.loc[take, "method"].to_numpy() == "shrunk", "pooled-shape, shrunk scale",
                         "pooled-shape, family rate")
        params.loc[take, "method"] = np.where(assumed[take], np.char.add(label.astype(str), " (shape 1 assumed)"),
                                              label)
        params.loc[sparse & assumed, no_ci] = np.nan
        return params, fam_table

    # -- the LifetimeModel protocol: what a demand forecast reads -----------------------------

    def _require_params(self) -> pd.DataFrame:
        if not hasattr(self, "params_"):
            raise NotFittedError("this FailureModel is not fitted yet: call .fit(fleet) first "
                                 "(or build one from known parameters with FailureModel.from_params)")
        return self.params_

    def lifetime_params(self) -> pd.DataFrame:
        """Law, shape and scale of every group with a usable fit.

        The groups whose shape and scale are finite and > 0, in ``params_`` order (sorted by
        machine_model, component); the rows of :meth:`lifetime_groups`.

        Returns
        -------
        DataFrame
            machine_model, component, law, shape, scale (the meaning of shape and scale per
            law is in the class docstring).
        """
        p = self._require_params()
        if "law" not in p.columns:  # a params_ table set by hand, from before the laws
            p = p.assign(law="weibull")
        p = p[[*GROUP_KEYS, "law", "shape", "scale"]]
        ok = np.isfinite(p["shape"]) & np.isfinite(p["scale"]) & (p["shape"] > 0) & (p["scale"] > 0)
        return p[ok.to_numpy()].reset_index(drop=True)

    def weibull_params(self) -> pd.DataFrame:
        """Weibull shape and scale of every group with a usable fit, when every group is Weibull.

        The rows of :meth:`lifetime_groups`.

        Returns
        -------
        DataFrame
            machine_model, component, shape, scale.

        Raises
        ------
        ValueError
            Some group follows another law (``distribution="lognormal"``, ``"gamma"`` or
            ``"auto"``): use :meth:`lifetime_params`.
        """
        p = self.lifetime_params()
        other = p["law"].astype(str) != "weibull"
        if other.any():
            laws = p.loc[other.to_numpy(), "law"].astype(str).value_counts()
            raise ValueError("weibull_params: this FailureModel's groups are not all Weibull ("
                             + ", ".join(f"{n} {law}" for law, n in laws.items())
                             + "); use lifetime_params(), or fit with distribution='weibull' where a "
                             "Weibull model is needed")
        return p[[*GROUP_KEYS, "shape", "scale"]]

    def lifetime_groups(self) -> pd.DataFrame:
        """The groups a forecast can use: machine_model, component (see :meth:`lifetime_params`).

        Returns
        -------
        DataFrame
        """
        return self.lifetime_params()[GROUP_KEYS]

    def expected_renewals(self, group, age, hours) -> np.ndarray:
        """Expected failures of running components within ``hours`` operating hours from now.

        The delayed renewal function of each row's group under its law
        (:func:`partsforecast.reliability.expected_failures`).

        Parameters
        ----------
        group : (R,) array of int
            Row of :meth:`lifetime_groups` of each component.
        age : (R,) array of float
            Operating hours since the component was new.
        hours : (R, P) array of float
            Operating hours from now, non-decreasing along each row.

        Returns
        -------
        (R, P) ndarray
        """
        p = self.lifetime_params()
        g = np.asarray(group, dtype=np.int64)
        law = p["law"].to_numpy(dtype=object)[g]
        return expected_failures(age, hours, p["shape"].to_numpy(float)[g], p["scale"].to_numpy(float)[g],
                                 law=None if (law == "weibull").all() else law)

    # -- using the fit ---------------------------------------------------------------------

    def _params_for(self, machine_model, component) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = self._require_params()
        idx = p.set_index(GROUP_KEYS)
        key = pd.MultiIndex.from_arrays([np.atleast_1d(np.asarray(machine_model, dtype=object)),
                                         np.atleast_1d(np.asarray(component, dtype=object))])
        pos = idx.index.get_indexer(key)
        if (pos < 0).any():
            bad = key[np.flatnonzero(pos < 0)[0]]
            raise KeyError(f"no fitted group for machine_model={bad[0]!r}, component={bad[1]!r}; "
                           "see params_ for the groups")
        law = law_codes(idx["law"].to_numpy(dtype=object)[pos]) if "law" in idx else np.zeros(pos.size, np.int64)
        return idx["shape"].to_numpy()[pos], idx["scale"].to_numpy()[pos], law

    def _law_values(self, method: str, t, machine_model, component) -> np.ndarray:
        """``lifetime_law(...).<method>(t, shape, scale)`` of groups, broadcast against ``t``."""
        k, eta, law = self._params_for(machine_model, component)
        t, k, eta, law = np.broadcast_arrays(np.asarray(t, float), k, eta, law)
        out = by_law(law.ravel(), method, t.ravel(), k.ravel(), eta.ravel())
        return out.reshape(t.shape)

    def cumulative_hazard(self, t, machine_model, component) -> np.ndarray:
        """H(t) = −log S(t) of a group, for operating hours ``t`` (broadcasts); ``(t/scale)^shape``
        for a Weibull group."""
        return -self._law_values("log_sf", t, machine_model, component)

    def survival(self, t, machine_model, component) -> np.ndarray:
        """Probability that a new component survives ``t`` operating hours."""
        return np.exp(-self.cumulative_hazard(t, machine_model, component))

    def hazard(self, t, machine_model, component) -> np.ndarray:
        """Failure rate (per operating hour) of a component aged ``t`` hours: f(t) / S(t)."""
        return np.exp(self._law_values("log_pdf", t, machine_model, component)
                      - self._law_values("log_sf", t, machine_model, component))

    def conditional_failure_prob(self, age, horizon, machine_model, component) -> np.ndarray:
        """Probability that a component aged ``age`` hours fails within the next ``horizon`` hours.

        ``1 − S(age + horizon) / S(age)`` (the first failure only; see
        :func:`partsforecast.reliability.expected_failures` for renewals).
        """
        age = np.asarray(age, float)
        return -np.expm1(self._law_values("log_sf", age + np.asarray(horizon, float), machine_model, component)
                         - self._law_values("log_sf", age, machine_model, component))

    def group_fit(self, machine_model: str, component: str) -> WeibullFit:
        """The fit of one Weibull group as a :class:`WeibullFit` (prints a summary, plots).

        Raises
        ------
        ValueError
            The group follows another law (see ``params_``).
        """
        k, eta, law = self._params_for(machine_model, component)
        if law[0] != 0:
            raise ValueError(f"group_fit: {machine_model} · {component} follows the {LAW_NAMES[law[0]]} law, "
                             "not a Weibull; its parameters are in params_ (plot() draws it)")
        row = self.params_[(self.params_["machine_model"] == machine_model)
                           & (self.params_["component"] == component)].iloc[0]
        nan = float("nan")
        return WeibullFit(
            distribution=self.distribution, method=str(row["method"]), shape=float(k[0]), scale=float(eta[0]),
            se_shape=nan, se_scale=nan, shape_lower=float(row["shape_lower"]), shape_upper=float(row["shape_upper"]),
            scale_lower=float(row["scale_lower"]), scale_upper=float(row["scale_upper"]),
            cov_log_shape_scale=nan, rate_upper=nan, loglik=float(row["loglik"]),
            n_failures=float(row["n_failures"]), n_censored=float(row["n_censored"]), level=self.level,
            converged=True, n_iter=0)

    def group_lives(self, machine_model: str, component: str) -> pd.DataFrame:
        """The lives (duration, failed, ...) the group was fitted on."""
        if not hasattr(self, "lives_"):
            if hasattr(self, "params_"):
                raise NotFittedError("this FailureModel was made from known parameters "
                                     "(FailureModel.from_params): it has no lives; fit it on a fleet")
            raise NotFittedError("this FailureModel is not fitted yet: call .fit(fleet) first")
        lv = self.lives_.lives
        return lv[(lv["machine_model"] == machine_model) & (lv["component"] == component)]

    def plot(self, machine_model: str, component: str, kind: str = "probability", ax=None):
        """Weibull probability plot (``kind="probability"``) or Kaplan–Meier against the
        fitted survival (``kind="survival"``) of one group; returns the Axes."""
        lv = self.group_lives(machine_model, component)
        if kind not in ("probability", "survival"):
            raise ValueError(f"kind must be 'probability' or 'survival', got {kind!r}")
        k, eta, law = self._params_for(machine_model, component)
        fit = self.group_fit(machine_model, component) if law[0] == 0 else None
        if kind == "probability":
            ax = weibull_plot(lv["duration"], lv["failed"], fit, ax=ax)
        else:
            ax = survival_plot(lv["duration"], lv["failed"], fit, ax=ax, level=self.level)
        if fit is None and np.isfinite(k[0]) and np.isfinite(eta[0]):  # another law: its curve
            method = str(self.params_.set_index(GROUP_KEYS).loc[(machine_model, component), "method"])
            t = np.asarray(lv["duration"], float)
            grid = (np.geomspace(max(t.min(), 1e-9), t.max(), 100) if kind == "probability"
                    else np.linspace(0.0, t.max(), 200))
            log_s = self._law_values("log_sf", grid, machine_model, component)
            y = np.log(-log_s) if kind == "probability" else np.exp(log_s)
            ax.plot(grid, y, "-", label=f"{LAW_NAMES[law[0]]} ({method}): shape {k[0]:.3g}, scale {eta[0]:.4g}")
            ax.legend(loc="best", fontsize="small")
        ax.set_title(f"{machine_model} · {component}: {ax.get_title()}")
        ax.set_xlabel("operating hours")
        return ax

    def summary(self) -> pd.DataFrame:
        """Groups per fitting method, with failures and median shape: what was borrowed."""
        return (self._require_params().groupby("method")
                .agg(groups=("component", "size"), failures=("n_failures", "sum"),
                     median_shape=("shape", "median"), median_ks=("ks_distance", "median"))
                .sort_values("groups", ascending=False))

    # -- display -------------------------------------------------------------------------------

    def _facts(self) -> dict:
        if not hasattr(self, "params_"):
            return {"status": "not fitted", "distribution": self.distribution, "pooling": self.pooling}
        p = self.params_
        # the laws, when some group is not Weibull (a Weibull model shows as before)
        counts = p["law"].astype(str).value_counts() if "law" in p.columns else pd.Series(dtype=int)
        laws = {} if set(counts.index) <= {"weibull"} else {
            "laws": ", ".join(f"{law} {n}" for law, n in counts.items())}
        if not hasattr(self, "lives_"):
            return {"groups": len(p), "parameters": "given", **laws}
        facts = {"groups": len(p), "failures": int(p["n_failures"].sum()),
                 "censored": int(p["n_censored"].sum()), "borrowing": int(p["borrowed"].sum()),
                 "distribution": self.distribution, **laws, "pooling": self.pooling}
        if self.choice_ is not None:
            facts["by_aic"] = self.choice_
        return facts

    def __repr__(self) -> str:
        return text_card("FailureModel", self._facts())

    def _repr_html_(self) -> str:
        facts = self._facts()
        if not hasattr(self, "params_"):
            return html_card("FailureModel (not fitted)", facts)
        cols = [*GROUP_KEYS, "law", "shape", "scale", "n_failures", "method"]
        return html_card("FailureModel", facts, self.params_[cols], max_rows=10)
