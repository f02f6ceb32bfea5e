"""Greedy marginal analysis over dealer units with the warehouse levels fixed.

Every (part, dealer) pair's units are ranked by service gain per unit cost and bought in that
order until each tier's target is met, or the budget is spent (:func:`walk_dealers`);
:func:`trim_overshoot` drops the units the targets do not need, and :func:`efficient_curve`
reads investment against service off the same order (Sherbrooke 2004, Ch. 2; Fox 1966).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from partsforecast.stocking.formulas import lead_time_law
from partsforecast.stocking.problem import StockingProblem
from partsforecast.stocking.scan import pair_state, scan

__all__ = ["Walk", "efficient_curve", "trim_overshoot", "walk_dealers"]


@dataclass
class Walk:
    """One greedy walk over dealer units (warehouse fixed): the levels bought and the walk's
    entries, multipliers and stop state."""

    s_pairs: np.ndarray  # level per active pair
    theta_tier: dict  # multiplier per tier (1 / ratio of the last unit bought)
    dealer_cost: float
    ok: bool  # stop rule reached with all needed entries generated
    entries: dict
    last_ratio: dict
    chosen: np.ndarray  # entries bought (a prefix of each pair's steps)


def _generate(prob: StockingProblem, s0: np.ndarray, objective: str, floor: np.ndarray, eps_sat: float):
    parts = np.arange(prob.P)
    _, _, mean, var = prob.pipeline(parts, s0)
    st = pair_state(mean, var)
    mult = prob.plam if objective == "fill" else np.ones(prob.plam.size)
    out = scan(st, mult, prob.pc, floor[prob.ptier] if floor.ndim else floor, objective, record=True, eps_sat=eps_sat)
    ent = out.entries
    ent["tier"] = prob.ptier[ent["pair"]]
    ent["cost"] = prob.pc[ent["pair"]] * ent["units"]
    # service gains in the units of the targets: demand-weighted fill, backorders
    ent["wfill"] = prob.plam[ent["pair"]] * ent["gfill"]
    return ent, st.mean, out.n_cut


def trim_overshoot(prob: StockingProblem, s0: np.ndarray, s_pairs: np.ndarray, targets: dict, objective: str,
          rounds: int = 50) -> np.ndarray:
    """Drop units the targets do not need.

    The walk stops at the first entry that reaches a tier's target, so the tier overshoots
    by up to one entry (a whole hull bundle for fill rates) -- large on small systems.  Any
    unit whose loss of service fits within the overshoot is removed, most cost per unit of
    service first, one unit per pair per round.  Removal keeps every target met and only
    lowers cost.
    """
    s_pairs = s_pairs.copy()
    parts = np.arange(prob.P)
    _, _, mean, var = prob.pipeline(parts, s0)
    d = lead_time_law(mean, var)
    sp = s_pairs.astype(float)
    have = prob.plam * d.cdf(sp - 1) if objective == "fill" else d.loss(sp)
    slack = {}
    for t, target in targets.items():
        in_t = prob.ptier == t
        L = prob.plam[in_t].sum()
        if L <= 0:
            continue
        if objective == "fill":
            slack[t] = float(have[in_t].sum()) - target * L * (1.0 + 1e-12)
        else:
            slack[t] = target * L * (1.0 - 1e-12) - float(have[in_t].sum())
    if not any(v > 0 for v in slack.values()):
        return s_pairs
    in_slack = np.isin(prob.ptier, [t for t, v in slack.items() if v > 0])
    cand = np.flatnonzero((s_pairs > 0) & in_slack)

    def unit_loss(idx):
        # service lost by removing the top unit of each pair in idx
        sc = s_pairs[idx].astype(float)
        dc = lead_time_law(mean[idx], var[idx])
        if objective == "fill":
            return prob.plam[idx] * (dc.cdf(sc - 1) - dc.cdf(sc - 2))
        return dc.sf(sc - 1)  # EBO(s-1) - EBO(s) = P(D > s-1)

    loss = unit_loss(cand)
    for _ in range(rounds):
        removed = []
        for t, sl in slack.items():
            if sl <= 0:
                continue
            ci = np.flatnonzero((prob.ptier[cand] == t) & (loss <= sl))
            if not ci.size:
                continue
            worth = prob.pc[cand[ci]] / np.maximum(loss[ci], 1e-300)
            ci = ci[np.argsort(-worth, kind="stable")]
            cum = np.cumsum(loss[ci])
            k = int(np.searchsorted(cum, sl, side="right"))
            if k == 0:
                continue
            s_pairs[cand[ci[:k]]] -= 1
            slack[t] = sl - float(cum[k - 1])
            removed.append(ci[:k])
        if not removed:
            break
        # only the pairs that lost a unit need a new loss
        r = np.concatenate(removed)
        keep = s_pairs[cand] > 0
        loss[r] = np.where(s_pairs[cand[r]] > 0, unit_loss(cand[r]), np.inf)
        cand, loss = cand[keep], loss[keep]
    return s_pairs


def _ratio_bins(ratio: np.ndarray, nbins: int) -> np.ndarray:
    """Bin index of each entry by log-ratio, bin 0 holding the highest ratios."""
    lr = np.log(np.maximum(ratio, 1e-300))
    hi, lo = float(lr.max()), float(lr.min())
    if hi <= lo:
        return np.zeros(ratio.size, dtype=np.int64)
    return np.minimum(((hi - lr) / (hi - lo) * nbins).astype(np.int64), nbins - 1)


def _prefix_by_ratio(ratio: np.ndarray, weight: np.ndarray, need: float, rule: str) -> np.ndarray:
    """Indices of the entries the greedy takes, in ratio order (stable: for equal ratios the
    generation order, which keeps each pair's units in level order).

    ``rule="reach"``: the shortest prefix whose weights sum to >= need (a service target);
    ``rule="fit"``: the longest prefix whose weights sum to <= need (a budget).  Instead of
    sorting millions of entries, entries are bucketed by log-ratio, whole buckets above the
    crossing are taken and only the crossing bucket is sorted -- same answer, O(n).
    """
    n = ratio.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    nbins = 1 if n <= 50_000 else 4096
    b = _ratio_bins(ratio, nbins) if nbins > 1 else np.zeros(n, dtype=np.int64)
    cum = np.cumsum(np.bincount(b, weights=weight, minlength=nbins))
    kb = int(np.searchsorted(cum, need, side="left" if rule == "reach" else "right"))
    if kb >= nbins:
        kb = nbins - 1
    above = np.flatnonzero(b < kb)
    inbin = np.flatnonzero(b == kb)
    inbin = inbin[np.argsort(-ratio[inbin], kind="stable")]
    base = cum[kb - 1] if kb > 0 else 0.0
    c = base + np.cumsum(weight[inbin])
    if rule == "reach":
        pos = int(np.searchsorted(c, need, side="left")) + 1
    else:
        pos = int(np.searchsorted(c, need, side="right"))
    pos = min(pos, inbin.size)
    # order of the "above" part does not matter to callers except for the last entry,
    # which is always in the crossing bucket when that bucket contributes
    return np.concatenate((above, inbin[:pos]))


def walk_dealers(prob: StockingProblem, s0: np.ndarray, mode: str, objective: str, targets: dict, budget_left: float,
          floor_t: dict, eps_sat: float) -> Walk:
    """Greedy marginal analysis over dealer units with the warehouse levels fixed.

    Entries (units or hull bundles) of every pair are ranked by gain per unit cost; the walk
    takes them in that order until the stop rule holds: per tier for service targets (the
    tier's demand-weighted fill rate, or backorders for a wait target), over all dealers for
    a budget (stop before the first unit that does not fit).  For a separable problem with
    falling gains every prefix of this sequence is optimal for its own cost (Sherbrooke
    2004, Ch. 2 marginal analysis; Fox 1966).
    """
    tiers = sorted(targets) if mode == "targets" else sorted(int(t) for t in np.unique(prob.tier))
    floor = np.zeros(int(max(tiers)) + 1)
    for t in tiers:
        floor[t] = floor_t.get(t, 0.0)
    ent, pmean, n_cut = _generate(prob, s0, objective, floor, eps_sat)
    A = prob.plam.size
    theta, last = {}, {}
    ok = True
    chosen = np.zeros(ent["pair"].size, dtype=bool)
    gain = ent["wfill"] if objective == "fill" else ent["gebo"]
    if mode == "targets":
        by_tier = np.argsort(ent["tier"], kind="stable")
        bounds = np.searchsorted(ent["tier"][by_tier], np.array(tiers + [np.iinfo(np.int64).max]), side="left")
        for i, t in enumerate(tiers):
            o = by_tier[bounds[i]:bounds[i + 1]]
            in_t = prob.ptier == t
            L = prob.plam[in_t].sum()
            if objective == "fill":
                need = targets[t] * L * (1.0 + 1e-12)
            else:
                need = pmean[in_t].sum() - targets[t] * L * (1.0 - 1e-12)
            if need <= 0 or L <= 0 or o.size == 0:
                theta[t], last[t] = 0.0, np.inf
                if need > 0 and L > 0:
                    ok = False
                continue
            if gain[o].sum() < need:
                ok = False  # the entries generated cannot reach the target: generate deeper
            sel = o[_prefix_by_ratio(ent["ratio"][o], gain[o], need, "reach")]
            chosen[sel] = True
            last[t] = float(ent["ratio"][sel].min())
            theta[t] = 1.0 / last[t]
    else:
        sel = _prefix_by_ratio(ent["ratio"], ent["cost"], budget_left * (1 + 1e-12), "fit")
        if sel.size == ent["pair"].size and n_cut > 0:
            ok = False  # budget left over while the floor cut some pairs: generate deeper
        chosen[sel] = True
        lr = float(ent["ratio"][sel].min()) if sel.size else np.inf
        for t in tiers:
            last[t] = lr
            theta[t] = 1.0 / lr if sel.size else 0.0
    s_pairs = np.bincount(ent["pair"][chosen], weights=ent["units"][chosen], minlength=A).astype(np.int64)
    return Walk(s_pairs, theta, float((prob.pc * s_pairs).sum()), ok, ent, last, chosen)


def efficient_curve(prob: StockingProblem, walk: Walk, s0: np.ndarray, pmean_total: float, points: int) -> pd.DataFrame:
    """Investment versus service along the greedy path (warehouse held at the plan's levels).

    Entries are ordered by ratio x theta_tier (one common scaling of the tier multipliers);
    every row is an exact prefix of that order -- each greedy step on small systems, all
    entries above a log-ratio bin boundary on large ones -- hence a point of the efficient
    curve, never an interpolation.  ``points`` rows are kept, evenly spread in investment.
    """
    ent = walk.entries
    tiers = sorted(int(t) for t in np.unique(prob.tier))
    th = np.zeros(int(max(tiers)) + 1)
    for t, v in walk.theta_tier.items():
        th[t] = v
    rho = ent["ratio"] * th[ent["tier"]] if np.any(th > 0) else ent["ratio"].copy()
    rho = np.where(rho > 0, rho, ent["ratio"] * 1e-300)  # tiers without a target come last
    if rho.size <= 50_000:
        # small systems: every greedy step is a row (rank of each entry in the stable order)
        nb = max(rho.size, 1)
        b = np.empty(rho.size, dtype=np.int64)
        b[np.argsort(-rho, kind="stable")] = np.arange(rho.size)
    else:
        nb = 4 * max(points, 2)
        b = _ratio_bins(rho, nb)
    wh_inv = float((prob.c * s0).sum()) if prob.two_echelon else 0.0
    L = prob.plam.sum()

    def cum(w):
        return np.concatenate(([0.0], np.cumsum(np.bincount(b, weights=w, minlength=nb))))

    cum_cost = cum(ent["cost"])
    cum_ebo = np.maximum(pmean_total - cum(ent["gebo"]), 0.0)
    cols = {"investment": wh_inv + cum_cost, "wh_investment": np.full(cum_cost.size, wh_inv),
            "dealer_investment": cum_cost, "total_backorders": cum_ebo,
            "expected_wait": cum_ebo / L if L > 0 else np.zeros(cum_cost.size)}
    tot_fill = np.zeros(cum_cost.size)
    for t in tiers:
        Lt = prob.plam[prob.ptier == t].sum()
        cf = cum(np.where(ent["tier"] == t, ent["wfill"], 0.0))
        tot_fill += cf
        cols[f"fill_rate_tier_{t}"] = cf / Lt if Lt > 0 else np.ones(cum_cost.size)
    cols["system_fill_rate"] = tot_fill / L if L > 0 else np.ones(cum_cost.size)
    df = pd.DataFrame(cols).drop_duplicates(subset=["dealer_investment"]).reset_index(drop=True)
    if len(df) > points:
        grid = np.linspace(df["investment"].iloc[0], df["investment"].iloc[-1], points)
        keep = np.unique(np.searchsorted(df["investment"].to_numpy(), grid, side="left").clip(0, len(df) - 1))
        df = df.iloc[keep].reset_index(drop=True)
    df["is_plan"] = False
    order_cols = ["investment", "wh_investment", "dealer_investment", "total_backorders", "expected_wait",
                  "system_fill_rate"] + [f"fill_rate_tier_{t}" for t in tiers] + ["is_plan"]
    return df[order_cols]

