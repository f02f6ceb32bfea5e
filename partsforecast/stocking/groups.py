"""Fill-rate targets per (part, dealer tier): service groups as virtual dealers.

Targets that differ by part -- by ABC class, say: A parts 0.97, C parts 0.85 -- hold for
every *service group*, the parts sharing one row of targets, within each tier: the
demand-weighted fill rate of the group's (part, dealer) pairs in tier ``t`` must reach the
group's target for ``t``.  Every part belongs to one group, so the problem keeps its
structure if each dealer is split into one *virtual dealer* per group, holding the demand of
that group's parts only: a part's demand stays at the same dealers with the same lead times,
its warehouse sees the same total demand (the METRIC model of every part is unchanged), and
each (group, tier) becomes a tier of its own with one target.  :func:`expand` builds that
problem, :func:`collapse` maps its levels back.  The optimiser's own machinery (frontiers,
one price per tier, the bound) then applies as it is, with one price per (group, tier).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Groups", "collapse", "expand", "is_per_part", "read_groups", "tier_targets"]


def is_per_part(targets: Any) -> bool:
    """Whether ``targets`` are given per (part, tier): a 2-D array."""
    return not isinstance(targets, dict) and np.ndim(targets) == 2


@dataclass
class Groups:
    """The service groups of per-(part, tier) targets and the virtual dealers they give."""

    rows: np.ndarray  # (G, n_tiers) the distinct target rows
    of_part: np.ndarray  # (P,) group of every part
    tiers: np.ndarray  # (n_tiers,) tier labels, ascending
    J: int

    @property
    def G(self) -> int:
        return self.rows.shape[0]

    def virtual_tier(self, dealer_tier: np.ndarray) -> np.ndarray:
        """Label of every virtual dealer (group g, dealer j at index g J + j): g x 1000 + tier."""
        return (np.arange(self.G)[:, None] * 1000 + dealer_tier[None, :]).ravel()

    def virtual_targets(self) -> dict[int, float]:
        """Target of every (group, tier), keyed by its virtual tier label."""
        return {int(g * 1000 + t): float(self.rows[g, k]) for g in range(self.G) for k, t in enumerate(self.tiers)}


def read_groups(targets: Any, n_parts: int, dealer_tier: np.ndarray) -> Groups:
    """Validate per-(part, tier) targets: shape (parts, tiers present), values in [0, 1)."""
    tiers = np.unique(dealer_tier)
    arr = np.asarray(targets, dtype=float)
    if arr.shape != (n_parts, tiers.size):
        raise ValueError(f"fill_rate_targets per (part, tier) must have shape (parts, tiers) = "
                         f"({n_parts}, {tiers.size}), one column per tier present {tiers.tolist()}; got {arr.shape}")
    bad = ~np.isfinite(arr) | (arr < 0) | (arr >= 1)
    if bad.any():
        p, k = np.argwhere(bad)[0]
        raise ValueError(f"fill_rate_targets per (part, tier): row {p}, tier {tiers[k]}: {arr[p, k]!r} is not "
                         "a fill rate in [0, 1)")
    if tiers.size and tiers.max() >= 1000:
        raise ValueError("per-part targets need dealer tiers below 1000")
    rows, of_part = np.unique(arr, axis=0, return_inverse=True)
    return Groups(rows, np.asarray(of_part).ravel(), tiers, int(dealer_tier.size))


def expand(groups: Groups, dealer_demand_rate: np.ndarray, dealer_lead_time: np.ndarray, dealer_tier: np.ndarray,
           demand_vmr: Any, holding_rate: Any) -> dict:
    """The problem with one virtual dealer per (group, dealer): keyword arguments for the
    optimiser (demand rates, lead times, tiers, variance-to-mean and holding rates).  Lead
    times and variance-to-mean ratios may be per dealer or per (part, dealer)."""
    P, J, G = dealer_demand_rate.shape[0], groups.J, groups.G
    rows = np.arange(P)

    def spread(x: np.ndarray, fill: float) -> np.ndarray:
        out = np.full((P, G, J), fill)
        out[rows, groups.of_part] = x
        return out.reshape(P, G * J)

    vmr = demand_vmr
    if vmr is not None and np.ndim(vmr) == 2:
        vmr = spread(np.asarray(vmr, dtype=float), 1.0)
    hr = holding_rate
    if hr is not None and np.ndim(hr) == 1:
        hr = np.asarray(hr, dtype=float)
        hr = np.concatenate((hr[:1], np.tile(hr[1:], G)))
    return {"dealer_demand_rate": spread(np.asarray(dealer_demand_rate, dtype=float), 0.0),
            "dealer_lead_time": _tile(np.asarray(dealer_lead_time, dtype=float), G),
            "dealer_tier": groups.virtual_tier(dealer_tier), "demand_vmr": vmr, "holding_rate": hr}


def _tile(x: np.ndarray, G: int) -> np.ndarray:
    """Per-dealer values (J,) or per-(part, dealer) values (P, J) for every virtual dealer."""
    return np.tile(x, G) if x.ndim < 2 else np.tile(x, (1, G))


def collapse(groups: Groups, s_virtual: np.ndarray) -> np.ndarray:
    """Dealer levels (P, J) from the virtual dealers' (P, G J): each part's own group."""
    P = s_virtual.shape[0]
    return s_virtual.reshape(P, groups.G, groups.J)[np.arange(P), groups.of_part]


def tier_targets(groups: Groups, dealer_demand_rate: np.ndarray, dealer_tier: np.ndarray) -> dict[int, float]:
    """What the group targets promise for each tier as a whole: the demand-weighted mean of
    its parts' targets (every group meeting its own target, the tier reaches at least this)."""
    lam = np.asarray(dealer_demand_rate, dtype=float)
    out = {}
    for k, t in enumerate(groups.tiers):
        L = lam[:, dealer_tier == t].sum(axis=1)
        target = groups.rows[groups.of_part, k]
        out[int(t)] = round(float((L * target).sum() / L.sum()), 12) if L.sum() > 0 else float(target.max(initial=0.0))
    return out
