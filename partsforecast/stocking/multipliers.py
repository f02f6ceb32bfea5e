"""Lagrange multipliers across parts over the per-part frontiers, and the bound they give.

The parts of a stocking problem are coupled only by the service targets of the tiers (or by
the budget).  Pricing service at ``theta_t`` per unit in tier ``t`` splits the problem into
one small problem per part -- its best (warehouse level, dealer levels) at those prices, read
off its frontier (:class:`~partsforecast.stocking.frontier.Frontier`) -- and the value of the
priced problem is a lower bound on the money any plan meeting the targets needs (for a
budget: an upper bound on the service any plan within it gives).  Lagrangian duality
(Everett 1963; Fisher 1981; Muckstadt 2005, Ch. 5).

* :func:`solve_targets` finds the tier multipliers by a fixed point: with each part's
  warehouse level fixed, the cheapest dealer units that meet each tier's target are taken in
  order of service per unit of money (which gives the tier's multiplier, the ratio of its
  last unit); at those multipliers every part re-chooses its warehouse level on its frontier;
  until no part moves.  At the fixed point the plan is the Lagrangian solution itself, so it
  is optimal for the service it reaches (Everett), which exceeds the targets by at most one
  step per tier.
* :func:`solve_budget` bisects the single multiplier of a budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from partsforecast.stocking.frontier import Frontier
from partsforecast.stocking.greedy import _prefix_by_ratio

__all__ = ["DualSolution", "lagrangian_bound", "solve_budget", "solve_targets", "walk_budget", "walk_targets"]


@dataclass
class DualSolution:
    """A plan on the frontier and the Lagrangian bound that goes with it.

    ``choice`` is the row (warehouse level) of every part, ``take`` the entries (dealer
    steps) the plan buys.  ``bound`` is in the units of the objective: investment for
    targets, total service (demand-weighted fill, or minus backorders) for a budget.
    ``theta``/``values`` are the multipliers of the bound and the rows' Lagrangian values
    there.  ``ok`` is False when the entries ran out before a target or the budget was met
    (the frontier needs a lower floor).
    """

    choice: np.ndarray
    take: np.ndarray
    cost: float
    service: np.ndarray  # (T,) per tier
    theta: np.ndarray
    values: np.ndarray
    bound: float
    ok: bool
    iterations: list


def _part_min(fr: Frontier, val: np.ndarray) -> np.ndarray:
    return np.minimum.reduceat(val, fr.part_ptr[:-1])


def lagrangian_bound(fr: Frontier, theta: np.ndarray, required: np.ndarray | None = None,
                     budget: float | None = None) -> tuple[float, np.ndarray]:
    """The Lagrangian bound at ``theta`` and the rows' values.

    Targets (``required`` service per tier): sum_p min_rows value + theta . required, a lower
    bound on the investment.  Budget (one multiplier, all tiers equal): (budget - sum_p min
    value) / theta, an upper bound on the total service.
    """
    val = fr.lagrangian(theta)
    V = float(_part_min(fr, val).sum())
    if budget is None:
        return V + float(theta @ required), val
    th = float(theta.max())
    return ((budget - V) / th if th > 0 else np.inf), val


def walk_targets(fr: Frontier, choice: np.ndarray, required: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Cheapest dealer steps on rows ``choice`` meeting every tier's required service: the
    entries by falling ratio, tier by tier.  Returns the entries taken (indices), the
    multipliers (1 / ratio of each tier's last step) and whether every target was reached."""
    on = np.zeros(fr.R, dtype=bool)
    on[choice] = True
    base = fr.row_base[choice].sum(axis=0)
    theta = np.zeros(fr.tiers.size)
    got, ok = [], True
    for t in range(fr.tiers.size):
        need = required[t] - base[t]
        if need <= 0:
            continue
        idx, last, reached = fr.prefix(t, on, need)
        ok &= reached
        got.append(idx)
        if idx.size:
            theta[t] = 1.0 / last
    take = np.concatenate(got) if got else np.zeros(0, dtype=np.int64)
    return take, theta, ok


def _figures(fr: Frontier, choice: np.ndarray, take: np.ndarray) -> tuple[float, np.ndarray]:
    return fr.figures(choice, take)


def solve_targets(fr: Frontier, required: np.ndarray, choice: np.ndarray, max_walks: int = 40,
                  gap_tol: float = 0.0) -> DualSolution:
    """Tier multipliers and plan for required service per tier (see the module docstring).

    From rows ``choice``: the walk prices the tiers; at those prices every part's best row is
    proposed; the proposal is taken if its walk costs less, else only the parts that gain
    most by moving (a quarter as many each try); until no part moves, or no move pays.  The
    plan only ever gets cheaper and meets the targets; every multiplier met gives a bound,
    the best is kept.  Stops early once the plan is within ``gap_tol`` (relative) of the
    best bound.
    """
    take, theta, ok = walk_targets(fr, choice, required)
    cost, serv = _figures(fr, choice, take)
    bound, val = lagrangian_bound(fr, theta, required=required)
    best = (bound, theta, val)
    log = [{"iteration": 0, "investment": cost, "bound": bound, "multipliers": theta.tolist()}]
    walks = 1
    while ok and walks < max_walks and cost - best[0] > gap_tol * abs(cost):
        moved = False
        # proposals: every part's local minimum downhill (the warehouse step of marginal
        # analysis), then its best row overall
        for cand in (fr.descend(val, choice), fr.best_rows(val, prefer=choice)):
            movers = np.flatnonzero(cand != choice)
            if not movers.size or moved:
                continue
            gain = val[choice[movers]] - val[cand[movers]]
            movers = movers[np.argsort(-gain, kind="stable")]
            k = movers.size
            while k >= 1 and walks < max_walks:
                trial = choice.copy()
                trial[movers[:k]] = cand[movers[:k]]
                t_take, t_theta, t_ok = walk_targets(fr, trial, required)
                walks += 1
                t_cost, t_serv = _figures(fr, trial, t_take)
                L, t_val = lagrangian_bound(fr, t_theta, required=required)
                if L > best[0]:
                    best = (L, t_theta, t_val)
                if t_ok and t_cost < cost - 1e-12 * abs(cost):
                    choice, take, theta, cost, serv, val = trial, t_take, t_theta, t_cost, t_serv, t_val
                    moved = True
                    break
                k //= 4
        log.append({"iteration": len(log), "investment": cost, "bound": best[0], "multipliers": theta.tolist()})
        if not moved:
            break
    return DualSolution(choice, take, cost, serv, best[1], best[2], best[0], ok, log)


def walk_budget(fr: Frontier, choice: np.ndarray, budget: float) -> tuple[np.ndarray, float, bool]:
    """Dealer steps on rows ``choice`` by falling ratio while they fit in the budget left by
    the rows' warehouse stock.  Returns the entries taken, the multiplier (1 / ratio of the
    last step taken) and whether every step fitted."""
    on = np.zeros(fr.R, dtype=bool)
    on[choice] = True
    sel = np.flatnonzero(on[fr.e_row])
    left = budget - float(fr.row_wh_cost[choice].sum())
    if left < 0:
        return np.zeros(0, dtype=np.int64), 0.0, False
    got = sel[_prefix_by_ratio(fr.e_ratio[sel], fr.e_cost[sel], left * (1 + 1e-12), "fit")]
    theta = 1.0 / float(fr.e_ratio[got].min()) if got.size else 0.0
    return got, theta, got.size == sel.size


def solve_budget(fr: Frontier, budget: float, theta0: float, rel_tol: float = 1e-9) -> DualSolution:
    """The plan within ``budget`` and the budget's multiplier, by bisection.

    The Lagrangian solution's cost rises with the multiplier; the bisection brackets the
    multiplier where it crosses the budget, takes the rows of the lower end and spends what is
    left on their dealer steps by ratio.  The bound is the smaller of the two ends' bounds.
    ``ok`` is False when every step above the frontier's floor fits (it must go deeper).
    """
    T = fr.tiers.size
    top = 1.0 / float(np.max(fr.floor)) if np.all(fr.floor > 0) else np.inf

    def cost_at(th: float) -> float:
        theta = np.full(T, th)
        choice = fr.best_rows(fr.lagrangian(theta))
        return float(fr.row_cost_at(theta)[choice].sum())

    theta0 = theta0 if theta0 > 0 else 1.0
    lo, hi = theta0 / 4.0, min(theta0 * 4.0, top)
    lo = min(lo, hi)
    while cost_at(lo) > budget and lo > 1e-300:
        lo /= 16.0
    ok = True
    grow = 0
    while cost_at(hi) <= budget:
        if hi >= top or grow >= 60:
            ok = not np.isfinite(top)  # all the steps recorded fit
            lo = hi
            break
        lo, hi = hi, min(hi * 16.0, top)
        grow += 1
    while hi / lo - 1.0 > rel_tol:
        mid = np.sqrt(lo * hi)
        if cost_at(mid) <= budget:
            lo = mid
        else:
            hi = mid
    choice = fr.best_rows(fr.lagrangian(np.full(T, lo)))
    take, _, _ = walk_budget(fr, choice, budget)
    cost, serv = _figures(fr, choice, take)
    b_lo, v_lo = lagrangian_bound(fr, np.full(T, lo), budget=budget)
    b_hi, v_hi = lagrangian_bound(fr, np.full(T, hi), budget=budget)
    theta, bound, val = (np.full(T, lo), b_lo, v_lo) if b_lo <= b_hi else (np.full(T, hi), b_hi, v_hi)
    log = [{"multiplier_low": lo, "multiplier_high": hi, "investment": cost, "bound": bound}]
    return DualSolution(choice, take, cost, serv, theta, val, bound, ok, log)
