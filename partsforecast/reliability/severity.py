"""Machine severity: how hard each machine is worked, as a shared gamma frailty on its time
scale (an accelerated-failure-time frailty), fitted jointly with the group laws.

A machine of severity ``s`` wears ``s`` times faster: every component life of it, in
operating hours, is the group's baseline life divided by ``s`` (``S_machine(t) =
S_group(s · t)``). Across the fleet ``s ~ Gamma(α, α)`` (mean 1, variance ``1 / α``). The
group laws of :class:`~partsforecast.FailureModel` fitted to all machines pooled are the
fleet's *mixture* of hard- and lightly-worked machines; with ``FailureModel(severity=True)``
they are the baseline laws (``s = 1``) and each machine carries a posterior of its ``s``
(:class:`MachineSeverity`), which the forecast averages over.

The fit is an EM algorithm (Dempster, Laird & Rubin 1977) with the severity on a fixed
logarithmic grid:

* E-step: each machine's log-likelihood at every grid severity (a sum over its lives,
  ``np.bincount``), the marginal-likelihood ``α`` (one-dimensional search) and each
  machine's posterior on the grid; the posterior is reduced to a few Gauss nodes and
  weights per machine (the Gauss quadrature of the posterior itself, Golub & Welsch 1969,
  exact for the posterior's first ``2K − 1`` moments of ``s``).
* M-step: every life enters once per node, its duration times the node's severity and its
  weight the node's, and the group laws are refitted with the model's pooling (each group
  keeps the law chosen on the pooled fit).

Heterogeneity is tested twice. First a screen that costs one pass over the lives
(:func:`heterogeneity_screen`): each machine's failures against its cumulative hazard under
the pooled laws; a fleet whose machines fail no more unequally than chance (or only
immaterially so) gets no EM at all. Then, as in :class:`~partsforecast.MachineFrailty`:
unless the marginal likelihood beats ``α = ∞`` (every ``s = 1``) by the one-sided
likelihood-ratio test, there is no severity and the model is the pooled fit, unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from partsforecast._lookup import positions
from partsforecast.reliability.laws import LAW_NAMES, lifetime_law

__all__ = ["MachineSeverity", "gauss_nodes", "heterogeneity_screen", "severity_grid", "severity_posterior"]

#: Grid step in log severity and half-width in steps: s from exp(−4.4) ≈ 0.012 to ≈ 81.
_STEP = 0.11
_HALF = 40
_ALPHA_RANGE = (0.05, 1e4)
_LAWS = [lifetime_law(name) for name in LAW_NAMES]


def severity_grid(step: float = _STEP, half: int = _HALF) -> np.ndarray:
    """The severity grid: ``exp(step · i)`` for ``i = −half … half`` (1 is a grid point)."""
    return np.exp(step * np.arange(-half, half + 1))


def _prior_log_weights(grid: np.ndarray, alpha: float) -> np.ndarray:
    """Log probabilities of a ``Gamma(α, α)`` prior discretised on a log-spaced grid (density
    × ``s`` × the log step, normalised); as ``α → ∞`` all the mass goes to ``s = 1``."""
    lw = stats.gamma.logpdf(grid, alpha, scale=1.0 / alpha) + np.log(grid)
    return lw - special.logsumexp(lw)


def _machine_loglik(machine, law, t, failed, shape, scale, M: int, grid: np.ndarray) -> np.ndarray:
    """(M, J) log-likelihood of every machine's lives at every grid severity.

    A life of duration ``t`` on a machine of severity ``s`` is a baseline life ``s · t``:
    its density in ``t`` is ``s f(s t)`` = the law's density at ``t`` with scale ``η / s``,
    and its survival ``S(s t)`` the survival at ``t`` with scale ``η / s``."""
    ll = np.empty((grid.size, M))
    parts = [(lifetime.log_pdf if fail else lifetime.log_sf, machine[on], t[on], shape[on], scale[on])
             for lifetime, fail, on in _law_rows(law, failed)]
    for j, s in enumerate(grid):  # a few dozen grid points, each vectorised over the lives
        ll[j] = sum(np.bincount(m, f(tt, k, e / s), minlength=M) for f, m, tt, k, e in parts) if parts else 0.0
    return ll.T


def _law_rows(law: np.ndarray, failed: np.ndarray | None = None):
    """The rows of every law code (and failed or not, when ``failed`` is given), split once."""
    for c in np.unique(law):
        if failed is None:
            yield _LAWS[c], None, np.flatnonzero(law == c)
            continue
        for fail in (True, False):
            on = np.flatnonzero((law == c) & (failed == fail))
            if on.size:
                yield _LAWS[c], fail, on


def heterogeneity_screen(machine, law, t, failed, shape, scale, n_machines: int) -> tuple[float, float]:
    """Do the machines fail more unequally than the pooled laws allow? A moment screen.

    Each machine's failures ``N_i`` against its cumulative hazard ``E_i`` (the sum of
    ``−log S(t)`` over its lives under its groups' laws): without heterogeneity the
    residual ``N_i − E_i`` is a counting-process martingale whose variance is its
    compensator, so ``T_i = (N_i − E_i)² − N_i`` has mean 0; a frailty of variance ``θ``
    multiplying a machine's hazards adds ``θ E_i²`` (the statistic of the score test of
    homogeneity, Commenges & Andersen 1995, with an empirical variance).

    Parameters
    ----------
    machine, law, t, failed, shape, scale, n_machines
        As in :func:`severity_posterior`.

    Returns
    -------
    z : float
        ``Σ T_i / sqrt(Σ T_i²)``: about standard normal without heterogeneity.
    dispersion : float
        ``θ̂ = Σ T_i / Σ E_i²``: the variance of a hazard multiplier across machines (for a
        Weibull group of shape ``k``, of ``s^k``).
    """
    machine = np.asarray(machine, np.int64)
    t, shape, scale = (np.asarray(a, float) for a in (t, shape, scale))
    hazard = np.empty(t.size)
    for lifetime, _, on in _law_rows(np.asarray(law, np.int64)):
        hazard[on] = -lifetime.log_sf(t[on], shape[on], scale[on])
    n = np.bincount(machine, np.asarray(failed, float), minlength=n_machines)
    e = np.bincount(machine, hazard, minlength=n_machines)
    dev = (n - e) ** 2 - n
    spread, scale2 = float(np.sum(dev ** 2)), float(np.sum(e ** 2))
    total = float(np.sum(dev))
    z = total / np.sqrt(spread) if spread > 0 else 0.0
    return z, (total / scale2 if scale2 > 0 else 0.0)


def _marginal(like: np.ndarray, top: np.ndarray, alpha: float, grid: np.ndarray) -> float:
    """Marginal log-likelihood from ``like = exp(ll − top)`` (rows scaled by their maxima)."""
    mix = like @ np.exp(_prior_log_weights(grid, alpha))
    return float(np.sum(np.log(np.maximum(mix, 1e-300)) + top))


def severity_posterior(machine, law, t, failed, shape, scale, n_machines: int, alpha: float | None = None,
                       test_level: float = 0.05, grid: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Each machine's posterior of its severity on the grid, and the ``α`` used.

    Parameters
    ----------
    machine : (n,) array of int
        Machine (0 … ``n_machines − 1``) of every life.
    law : (n,) array of int
        Law code (``LAW_NAMES``) of every life's group.
    t, failed : (n,) arrays
        Duration (operating hours) and whether the life ended in a failure.
    shape, scale : (n,) arrays
        The baseline (``s = 1``) law parameters of every life's group.
    n_machines : int
    alpha : float, optional
        A fixed ``α`` (``np.inf``: no severity) instead of the marginal-likelihood estimate.
    test_level : float
        Level of the one-sided likelihood-ratio test of ``α < ∞`` (boundary: 50:50 mixture
        of 0 and χ²₁).
    grid : array, optional
        The severities (default :func:`severity_grid`); 1 must be one of them.

    Returns
    -------
    posterior : (n_machines, J) ndarray
        Probabilities on the grid (rows sum to 1); machines without lives get the prior.
    alpha : float
        ``np.inf`` when the fleet shows no heterogeneity (every posterior all at ``s = 1``).
    """
    grid = severity_grid() if grid is None else np.asarray(grid, float)
    ll = _machine_loglik(np.asarray(machine, np.int64), np.asarray(law, np.int64), np.asarray(t, float),
                         np.asarray(failed, bool), np.asarray(shape, float), np.asarray(scale, float),
                         n_machines, grid)
    one = int(np.argmin(np.abs(np.log(grid))))
    ll -= ll[:, [one]]  # relative to s = 1: the marginal at α = ∞ is then 0
    if alpha is None:
        top = ll.max(axis=1)
        like = np.exp(ll - top[:, None])
        lo, hi = np.log(_ALPHA_RANGE[0]), np.log(_ALPHA_RANGE[1])
        res = optimize.minimize_scalar(lambda th: -_marginal(like, top, np.exp(th), grid), bounds=(lo, hi),
                                       method="bounded", options={"xatol": 1e-4})
        alpha = float(np.exp(res.x))
        critical = stats.chi2.ppf(1.0 - 2.0 * test_level, 1)
        if res.x > hi - 1e-2 or 2.0 * _marginal(like, top, alpha, grid) <= critical:
            alpha = np.inf
    if not np.isfinite(alpha):
        post = np.zeros_like(ll)
        post[:, one] = 1.0
        return post, np.inf
    lp = ll + _prior_log_weights(grid, alpha)[None, :]
    lp -= lp.max(axis=1, keepdims=True)
    post = np.exp(lp)
    post /= post.sum(axis=1, keepdims=True)
    return post, alpha


def gauss_nodes(posterior: np.ndarray, grid: np.ndarray, n_nodes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The ``n_nodes``-point Gauss quadrature of every row's distribution on ``grid``.

    Nodes and weights of the rule exact for polynomials in ``s`` of degree up to
    ``2 n_nodes − 1`` under each row's distribution: the eigenvalues of its Jacobi matrix
    (Stieltjes' recurrence on the discrete measure) and the squared first components of the
    eigenvectors (Golub & Welsch 1969), all rows at once.

    Parameters
    ----------
    posterior : (M, J) array
        Probabilities on ``grid``, rows summing to 1.
    grid : (J,) array
    n_nodes : int

    Returns
    -------
    nodes, weights : (M, n_nodes) ndarrays
        Nodes within the grid's range; weights ≥ 0 summing to 1 per row.
    """
    w = np.asarray(posterior, float)
    M = w.shape[0]
    mean = w @ grid
    x = grid[None, :] / mean[:, None]  # scaled per row: the recurrence stays well conditioned
    a = np.zeros((M, n_nodes))
    b = np.zeros((M, n_nodes))
    p_prev, p = np.zeros_like(w), np.ones_like(w)
    norm_prev = np.ones(M)
    for k in range(n_nodes):  # the few recurrence steps; each is vectorised over machines
        norm = np.einsum("mj,mj->m", w, p * p)
        ok = norm > 1e-300 * np.maximum(norm_prev, 1e-300)
        safe = np.where(ok, norm, 1.0)
        a[:, k] = np.where(ok, np.einsum("mj,mj->m", w, x * p * p) / safe, 1.0)
        if k:
            b[:, k] = np.where(ok, norm / norm_prev, 0.0)
        p_prev, p = p, (x - a[:, [k]]) * p - b[:, [k]] * p_prev
        norm_prev = np.where(ok, norm, norm_prev)
    J = np.zeros((M, n_nodes, n_nodes))
    idx = np.arange(n_nodes)
    J[:, idx, idx] = a
    off = np.sqrt(np.maximum(b[:, 1:], 0.0))
    J[:, idx[1:], idx[:-1]] = off
    J[:, idx[:-1], idx[1:]] = off
    val, vec = np.linalg.eigh(J)
    weights = vec[:, 0, :] ** 2
    weights /= weights.sum(axis=1, keepdims=True)
    nodes = np.clip(val * mean[:, None], grid[0], grid[-1])
    return nodes, weights


class MachineSeverity:
    """Each machine's severity posterior, from ``FailureModel(severity=True).fit(fleet)``.

    What :func:`~partsforecast.forecast_demand` reads (its default ``frailty=True`` uses a
    model's ``severity_`` when it has one): each machine's expected renewals are averaged
    over its posterior, ``Σ_k w_k R(s_k · age, s_k · hours)`` (the baseline laws on the
    machine's time scale), at the posterior's Gauss nodes. A machine not seen in the fit
    (sold after it) is at ``s = 1``.

    Attributes
    ----------
    alpha_ : float
        Shape (and rate) of the fleet's gamma severity; ``inf`` when no heterogeneity was
        found (every ``s = 1``).
    variance_ : float
        ``1 / α``, the variance of the severity across machines (0 when ``α = ∞``).
    severity_ : DataFrame
        One row per machine: serial, machine_model, severity (posterior mean), severity_sd
        (posterior sd), and the quadrature ``node_<k>``, ``weight_<k>``.
    n_iter_ : int
        M-steps run by ``FailureModel(severity=True).fit`` (0: no severity found).
    alpha_path_ : list of float
        The ``α`` of every E-step (empty when the screen found no heterogeneity).
    screen_z_, dispersion_ : float
        The screen's statistic and its estimate of the variance of the machines' hazard
        multipliers (:func:`heterogeneity_screen`), on the pooled laws.
    """

    keep_totals = False  # the baseline laws and the posteriors give the totals themselves

    def __init__(self, serial, machine_model, posterior: np.ndarray | None, grid: np.ndarray, alpha: float,
                 n_nodes: int = 3) -> None:
        self.alpha_ = float(alpha)
        self.variance_ = 0.0 if not np.isfinite(alpha) else 1.0 / float(alpha)
        if posterior is None:  # no heterogeneity: every machine at s = 1
            M = len(serial)
            nodes, weights = np.ones((M, n_nodes)), np.zeros((M, n_nodes))
            weights[:, 0] = 1.0
            mean, sd = np.ones(M), np.zeros(M)
        else:
            nodes, weights = gauss_nodes(posterior, grid, n_nodes)
            mean = posterior @ grid
            sd = np.sqrt(np.maximum(posterior @ grid ** 2 - mean ** 2, 0.0))
        table = {"serial": pd.array(np.asarray(serial).astype(str), dtype="str"),
                 "machine_model": pd.array(np.asarray(machine_model).astype(str), dtype="str"),
                 "severity": mean, "severity_sd": sd}
        for k in range(n_nodes):
            table[f"node_{k}"] = nodes[:, k]
            table[f"weight_{k}"] = weights[:, k]
        self.severity_ = pd.DataFrame(table)
        self._nodes, self._weights = nodes, weights

    def _positions(self, serial) -> np.ndarray:
        return positions(self.severity_["serial"], serial if isinstance(serial, pd.Series) else pd.Series(serial))

    def nodes(self, serial) -> tuple[np.ndarray, np.ndarray]:
        """Severity nodes and weights of each machine in ``serial``: (n, K) arrays (a machine
        not seen in the fit: node 1 with weight 1)."""
        p = self._positions(serial)
        seen = (p >= 0)[:, None]
        q = np.maximum(p, 0)
        K = self._nodes.shape[1]
        first = (np.arange(K) == 0)[None, :]
        nodes = np.where(seen, self._nodes[q], 1.0)
        weights = np.where(seen, self._weights[q], first.astype(float))
        return nodes, weights

    def multipliers(self, serial) -> np.ndarray:
        """Posterior mean severity of each machine in ``serial`` (1 for a machine not seen)."""
        p = self._positions(serial)
        z = self.severity_["severity"].to_numpy(float)
        return np.where(p >= 0, z[np.maximum(p, 0)], 1.0)

    def __repr__(self) -> str:
        z = self.severity_["severity"]
        return (f"MachineSeverity(variance={self.variance_:.3g}, machines={len(z)}, "
                f"severity 5–95%={z.quantile(0.05):.2f}–{z.quantile(0.95):.2f})")
