"""The validated inputs of a stocking optimisation, shared by the greedy optimiser and the MILP.

:func:`prepare_problem` checks the arrays and keeps the (part, dealer) pairs with demand as
flat arrays (:class:`StockingProblem`), whose dealer pipelines follow from warehouse levels
through METRIC / VARI-METRIC; :func:`targets_by_tier` reads service targets per tier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from partsforecast.stocking.formulas import check_nonneg, lead_time_law
from partsforecast.stocking.metric import check_method, vari_metric_pipeline

__all__ = ["StockingProblem", "prepare_problem", "targets_by_tier"]


# ---------------------------------------------------------------------------------------
# Validated inputs of the optimisers
# ---------------------------------------------------------------------------------------


@dataclass
class StockingProblem:
    """Validated inputs, with the (part, dealer) pairs that have demand kept as flat arrays
    sorted by part (the optimiser never touches the zero-demand pairs)."""

    c: np.ndarray  # (P,)
    lam: np.ndarray  # (P, J)
    T: np.ndarray  # (P, J)
    T0: np.ndarray | None  # (P,)
    vmr: np.ndarray  # (P, J)
    tier: np.ndarray  # (J,)
    method: str
    lam0: np.ndarray  # (P,)
    mu0: np.ndarray
    v0: np.ndarray
    # active pairs
    pp: np.ndarray
    pj: np.ndarray
    plam: np.ndarray
    pT: np.ndarray
    pvmr: np.ndarray
    pc: np.ndarray
    ptier: np.ndarray
    ptr: np.ndarray  # (P+1,) offsets of each part's pairs

    @property
    def P(self) -> int:
        return self.lam.shape[0]

    @property
    def J(self) -> int:
        return self.lam.shape[1]

    @property
    def two_echelon(self) -> bool:
        return self.T0 is not None

    def pairs_of(self, parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat indices of the active pairs of ``parts`` and their row in ``parts``."""
        lo, hi = self.ptr[parts], self.ptr[parts + 1]
        cnt = hi - lo
        rows = np.repeat(np.arange(parts.size), cnt)
        starts = np.repeat(lo - (np.cumsum(cnt) - cnt), cnt)
        return starts + np.arange(cnt.sum()), rows

    def wh_backorders(self, parts: np.ndarray, s0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.two_echelon:
            z = np.zeros(parts.size)
            return z, z
        d = lead_time_law(self.mu0[parts], self.v0[parts] if self.method == "vari-metric" else None)
        s0 = np.asarray(s0, dtype=float)
        ebo0 = d.loss(s0)
        return ebo0, np.maximum(d.second_loss(s0) - ebo0**2, 0.0)

    def pipeline(self, parts: np.ndarray, s0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Dealer pipeline mean/var of the active pairs of ``parts`` given warehouse levels."""
        pidx, rows = self.pairs_of(parts)
        ebo0, vbo0 = self.wh_backorders(parts, s0)
        pp = self.pp[pidx]
        mean, var = vari_metric_pipeline(
            self.plam[pidx], self.pT[pidx], self.pvmr[pidx], self.lam0[pp], ebo0[rows], vbo0[rows], self.method
        )
        return pidx, rows, mean, var


def prepare_problem(unit_cost, dealer_demand_rate, dealer_lead_time, wh_lead_time, demand_vmr, dealer_tier, method) -> StockingProblem:
    method = check_method(method)
    lam = check_nonneg(dealer_demand_rate, "dealer_demand_rate")
    if lam.ndim != 2:
        raise ValueError(f"dealer_demand_rate must be 2-D (parts, dealers); got shape {lam.shape}")
    P, J = lam.shape
    c = np.broadcast_to(check_nonneg(unit_cost, "unit_cost"), (P,)).astype(float)
    if np.any(c <= 0):
        raise ValueError(
            f"unit_cost must be > 0 (it prices every unit of stock); {int((c <= 0).sum())} part(s) "
            f"have 0, e.g. part index {int(np.flatnonzero(c <= 0)[0])}"
        )
    try:
        T = np.broadcast_to(check_nonneg(dealer_lead_time, "dealer_lead_time"), (P, J)).astype(float)
    except ValueError as exc:
        if "broadcast" in str(exc):
            raise ValueError(f"dealer_lead_time must be a scalar, (dealers,)={J} or (parts, dealers); got shape {np.shape(dealer_lead_time)}") from None
        raise
    vmr = np.broadcast_to(np.maximum(check_nonneg(1.0 if demand_vmr is None else demand_vmr, "demand_vmr"), 1.0), (P, J)).astype(float)
    if dealer_tier is None:
        tier = np.ones(J, dtype=np.int64)
    else:
        tier = np.asarray(dealer_tier)
        if tier.shape != (J,):
            raise ValueError(f"dealer_tier must have one entry per dealer ({J}); got shape {tier.shape}")
        if not np.issubdtype(tier.dtype, np.integer) or np.any(tier < 0):
            raise ValueError(f"dealer_tier must hold non-negative integers (1 = provincial capital ... 4 = county); got {tier[:5]!r}...")
        tier = tier.astype(np.int64)
    lam0 = lam.sum(axis=1)
    if wh_lead_time is None:
        T0 = None
        mu0 = v0 = np.zeros(P)
    else:
        T0 = np.broadcast_to(check_nonneg(wh_lead_time, "wh_lead_time"), (P,)).astype(float)
        mu0 = lam0 * T0
        v0 = T0 * (vmr * lam).sum(axis=1)
    pp, pj = np.nonzero(lam > 0)  # row-major: sorted by part
    ptr = np.zeros(P + 1, dtype=np.int64)
    np.cumsum(np.bincount(pp, minlength=P), out=ptr[1:])
    return StockingProblem(c, lam, T, T0, vmr, tier, method, lam0, mu0, v0,
                    pp, pj, lam[pp, pj], T[pp, pj], vmr[pp, pj], c[pp], tier[pj], ptr)


def targets_by_tier(targets: Any, tiers: np.ndarray, name: str) -> dict[int, float]:
    present = [int(t) for t in np.unique(tiers)]
    if isinstance(targets, Mapping):
        out = {int(k): float(v) for k, v in targets.items()}
        missing = [t for t in present if t not in out]
        if missing:
            raise ValueError(
                f"{name} has no target for dealer tier(s) {missing}; give one per tier present "
                f"{present} (a single number applies to all tiers)"
            )
        return {t: out[t] for t in present}
    return {t: float(targets) for t in present}

