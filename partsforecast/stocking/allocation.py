"""The frontier algorithm end to end: per-part frontiers, multipliers across parts, finishing.

1. A first set of tier multipliers from one dealer walk with every warehouse at a starting
   level.
2. The best warehouse level of every part at those multipliers
   (:func:`~partsforecast.stocking.frontier.search_warehouse`), and the part's rows around
   it -- every level from 0 to saturation on small systems.
3. The multipliers across parts over those rows (:mod:`.multipliers`); rows are added where a
   part's best level sits on the edge of its rows, or the multipliers moved far from the
   ones the rows were found with, and the floor of the recorded steps is lowered when they run
   out.
4. The finishing step (:mod:`.finish`): the exact choice among the plans the bound leaves
   open.

The result carries the Lagrangian bound: a lower bound on the investment the targets need
(targets), or on the backorders (an upper bound on the fill) the budget can buy.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from partsforecast.engine import RemoteBlocks
from partsforecast.stocking.finish import finish, plan_levels
from partsforecast.stocking.frontier import (
    Frontier,
    build_frontier,
    saturation_levels,
    search_warehouse,
    tier_index,
    warehouse_table,
)
from partsforecast.stocking.greedy import trim_overshoot
from partsforecast.stocking.multipliers import (
    DualSolution,
    lagrangian_bound,
    solve_budget,
    solve_targets,
    walk_budget,
    walk_targets,
)
from partsforecast.stocking.problem import StockingProblem

__all__ = ["Allocation", "allocate", "certify", "frontiers_complete", "required_service"]

#: Systems with at most this many (warehouse level, dealer) slots over all parts get every
#: warehouse level of every part as a row (the frontiers are then complete).
EXHAUSTIVE_SLOTS = 400_000
#: Levels on either side of a part's best warehouse level kept as rows (and added per round).
WINDOW = 1
#: Steps are recorded down to this fraction of the first multipliers' ratios.
FLOOR_FACTOR = 0.1
#: Large target problems first price service on a random sample of this share of their
#: parts (at least ``SAMPLE_MIN`` parts): the multipliers are aggregate prices.
SAMPLE_SHARE = 0.06
SAMPLE_MIN = 300
#: Rows stop being added once the plan is within this fraction of its Lagrangian bound (the
#: most any further round could gain); like a MIP solver's relative gap tolerance.
GAP_TOL = 1e-4


@dataclass
class Allocation:
    """A plan from the frontier algorithm and its certificate.

    ``s0`` (P,) and ``s_pairs`` (active pairs) are the levels; ``theta`` the multipliers per
    tier (by position in ``tiers``); ``bound`` the Lagrangian bound in objective units
    (investment for targets, total service -- demand-weighted fill or minus backorders -- for
    a budget); ``complete`` whether every warehouse level of every part was a row (the bound
    is then a proof); ``walk`` the chosen rows' steps for the efficient curve.
    """

    s0: np.ndarray
    s_pairs: np.ndarray
    tiers: np.ndarray
    theta: np.ndarray
    bound: float
    complete: bool
    frontier: Frontier
    choice: np.ndarray
    info: dict = field(default_factory=dict)


def required_service(prob: StockingProblem, obj: str, targets: dict) -> np.ndarray:
    """Service each tier must reach, in the frontier's units: demand-weighted fill
    (target x demand, a hair above), or minus the backorders a wait target allows."""
    tiers, _ = tier_index(prob)
    L = np.array([prob.lam[:, prob.tier == t].sum() for t in tiers])
    tgt = np.array([float(targets.get(int(t), 0.0)) for t in tiers])
    if obj == "fill":
        return tgt * L * (1.0 + 1e-12)
    return -tgt * L * (1.0 - 1e-12)


def frontiers_complete(prob: StockingProblem) -> bool:
    """Whether every warehouse level 0..saturation of every part can be a row: then the
    frontiers are complete and the Lagrangian bound is a proof."""
    sat = saturation_levels(prob)
    return float(((sat + 1) * np.diff(prob.ptr)).sum()) <= EXHAUSTIVE_SLOTS


def _ranges(owner: np.ndarray, start: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, level) for the levels start .. start + count - 1 of every owner."""
    count = np.maximum(count, 0)
    who = np.repeat(owner, count)
    first = np.repeat(np.cumsum(count) - count, count)
    return who, np.repeat(start, count) + np.arange(who.size) - first


def _rows_all(sat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _ranges(np.arange(sat.size), np.zeros(sat.size, dtype=np.int64), sat + 1)


def _first_multipliers(prob: StockingProblem, obj: str, mode: str, required, budget, s_start, eps_sat,
                       pool) -> np.ndarray:
    """Multipliers of one dealer walk with every warehouse at ``s_start`` (steps to saturation)."""
    tiers, _ = tier_index(prob)
    fr = build_frontier(prob, obj, np.arange(prob.P), s_start, np.zeros(tiers.size), eps_sat, pool=pool)
    rows = np.arange(prob.P)
    if mode == "targets":
        _, theta, _ = walk_targets(fr, rows, required)
        return theta
    _, th, _ = walk_budget(fr, rows, budget)
    return np.full(tiers.size, th)


def _sample_multipliers(prob: StockingProblem, obj: str, targets: dict, eps_sat: float,
                        s_start: np.ndarray) -> np.ndarray:
    """Tier multipliers of the same targets on a random sample of the parts (every tier's
    targets are shares of its demand, so they apply to the sample as they are)."""
    from partsforecast.stocking.problem import prepare_problem

    rng = np.random.default_rng(20240611)
    n = max(int(prob.P * SAMPLE_SHARE), SAMPLE_MIN)
    parts = np.sort(rng.choice(prob.P, size=min(n, prob.P), replace=False))
    sub = prepare_problem(prob.c[parts], prob.lam[parts], prob.T[parts], None if prob.T0 is None else prob.T0[parts],
                          prob.vmr[parts], prob.tier, prob.method)
    alloc = allocate(sub, obj, "targets", targets, None, eps_sat, s_start[parts], finish_step=False)
    return alloc.theta


def _solve(fr: Frontier, mode: str, required, budget, theta0: np.ndarray, prev: np.ndarray | None,
           s_start: np.ndarray, gap_tol: float) -> DualSolution:
    """Multipliers and plan over the frontier's rows.  Targets: from the rows ``prev`` (or the
    best rows at ``theta0``), and unless that plan is within ``gap_tol`` of its bound also
    from the starting warehouse levels ``s_start``; the cheaper plan is kept, with the
    better bound."""
    if mode != "targets":
        return solve_budget(fr, budget, float(theta0.max()))
    sols = [solve_targets(fr, required, prev if prev is not None else fr.best_rows(fr.lagrangian(theta0)),
                          gap_tol=gap_tol)]
    if not (sols[0].ok and _dual_gap(mode, sols[0]) <= gap_tol):
        try:
            sols.append(solve_targets(fr, required, fr.rows_of(np.arange(s_start.size), s_start), gap_tol=gap_tol))
        except ValueError:
            pass
    best = min(sols, key=lambda d: (not d.ok, d.cost))
    top = max(sols, key=lambda d: d.bound)
    best.theta, best.values, best.bound = top.theta, top.values, top.bound
    best.ok = all(d.ok for d in sols)  # a start that ran out of steps asks for a lower floor
    return best


def allocate(prob: StockingProblem, obj: str, mode: str, targets: dict, budget: float | None, eps_sat: float,
             s_start: np.ndarray, *, finish_step: bool = True, time_limit: float = 30.0,
             gap_tol: float = GAP_TOL, engine=None) -> Allocation:
    """The frontier algorithm (see the module docstring) for tier targets (``mode="targets"``,
    ``obj`` "fill" or "ebo") or a budget (``mode="budget"``). ``engine``: a Dask client that
    runs the slots' scans (:class:`~partsforecast.engine.RemoteBlocks`); else two threads."""
    tiers, _ = tier_index(prob)
    required = required_service(prob, obj, targets) if mode == "targets" else None
    sat = saturation_levels(prob)
    s_start = np.minimum(s_start, sat)
    complete = frontiers_complete(prob)
    info: dict = {"rounds": [], "timings": {}}
    clock = _Clock(info["timings"])
    sample = (not complete and mode == "targets" and prob.P * SAMPLE_SHARE >= SAMPLE_MIN)
    with ThreadPoolExecutor(2) as threads:
        pool = threads if engine is None else RemoteBlocks(engine)
        if sample:
            theta0 = _sample_multipliers(prob, obj, targets, eps_sat, s_start)
        else:
            theta0 = _first_multipliers(prob, obj, mode, required, budget, s_start, eps_sat, pool)
        clock("first multipliers")
        if not np.any(theta0 > 0):
            theta0 = np.ones(tiers.size)
        table = None
        if complete:
            floor = np.zeros(tiers.size)
            part, s0 = _rows_all(sat)
        else:
            floor = FLOOR_FACTOR / np.where(theta0 > 0, theta0, theta0.max())
            table = warehouse_table(prob, sat)
            best = search_warehouse(prob, obj, theta0, sat, pool=pool, table=table)
            clock("warehouse search")
            part, s0 = _around(np.concatenate((best, s_start)), np.tile(np.arange(prob.P), 2), sat)
        eps_sat = _recorded_tail(floor, eps_sat)
        fr = build_frontier(prob, obj, part, s0, floor, eps_sat, pool=pool, table=table)
        clock("frontier")
        theta_rows, prev, searches, grown = theta0, None, 1, 0
        for _ in range(12):
            dual = _solve(fr, mode, required, budget, theta_rows, prev, s_start, gap_tol)
            clock("multipliers")
            info["rounds"].append({"rows": fr.R, "entries": int(fr.e_row.size), "bound": dual.bound,
                                   "investment": dual.cost, "multipliers": dual.theta.tolist(), "ok": bool(dual.ok),
                                   "fixed_point": [round(x["investment"], 2) for x in dual.iterations]})
            if not dual.ok and np.any(floor > 0):
                floor = floor * 0.25  # the steps recorded could not meet the targets: go deeper
                rows, fr = (fr.row_part, fr.row_s0), None  # the old entries go before the new ones come
                fr = build_frontier(prob, obj, *rows, floor, eps_sat, pool=pool, table=table)
                clock("frontier")
                continue
            if complete or (dual.ok and _dual_gap(mode, dual) <= gap_tol):
                break
            # rows missing next to the plan's rows and the bound's best rows (twice at most), and
            # around every part's best level when the multipliers moved
            want = [np.concatenate((dual.choice, fr.best_rows(dual.values)))] if grown < 2 else []
            grown += 1
            moved = np.abs(np.log(np.maximum(dual.theta, 1e-300) / np.maximum(theta_rows, 1e-300)))
            levels = [fr.row_s0[w] for w in want]
            owners = [fr.row_part[w] for w in want]
            if searches < 4 and np.any((dual.theta > 0) & (moved > np.log(1.05))):
                theta_rows = dual.theta
                best = search_warehouse(prob, obj, theta_rows, sat, pool=pool, table=table)
                searches += 1
                clock("warehouse search")
                levels.append(best)
                owners.append(np.arange(prob.P))
            add_part, add_s0 = (_missing(fr, *_around(np.concatenate(levels), np.concatenate(owners), sat))
                                if levels else (np.zeros(0, dtype=np.int64),) * 2)
            if not add_part.size:
                break
            prev_key = (fr.row_part[dual.choice], fr.row_s0[dual.choice])
            fr = fr.merge(build_frontier(prob, obj, add_part, add_s0, floor, eps_sat, pool=pool, table=table))
            prev = fr.rows_of(*prev_key)
            clock("frontier")
        else:
            dual = _solve(fr, mode, required, budget, theta_rows, prev, s_start, gap_tol)  # rows were added in the last round
    choice, take = dual.choice, dual.take
    override: dict = {}
    if finish_step and mode in ("targets", "budget"):
        fin = finish(prob, fr, dual, mode, required, budget, eps_sat, time_limit=time_limit)
        info["finish"] = fin.info if fin is not None else {"skipped": "too many open choices"}
        clock("finishing step")
        if fin is not None and fin.levels is not None and _better(mode, fin, dual):
            choice, override = fin.choice, fin.levels
            take = fr.taken(dual.theta)  # the MILP's rows: open pairs at their MILP level, the rest Lagrangian
    s0, s_pairs = plan_levels(prob, fr, choice, take, override)
    if not prob.two_echelon:
        s0 = np.zeros(prob.P, dtype=np.int64)
    if mode == "targets" and not override:
        # a tier's last step may be a whole hull bundle: drop the units its target does not need
        s_pairs = trim_overshoot(prob, s0, s_pairs, targets, obj)
    info["frontier_rows"] = int(fr.R)
    info["entries"] = int(fr.e_row.size)
    return Allocation(s0, s_pairs, tiers, dual.theta, dual.bound, complete, fr, choice, info)


class _Clock:
    """Adds the seconds since the last call to ``timings[label]``."""

    def __init__(self, timings: dict):
        import time

        self._now = time.perf_counter
        self._t = self._now()
        self.timings = timings

    def __call__(self, label: str) -> None:
        t = self._now()
        self.timings[label] = self.timings.get(label, 0.0) + t - self._t
        self._t = t


def _recorded_tail(floor: np.ndarray, eps_sat: float) -> float:
    """Where a frontier stops recording a dealer's steps: at the ratio floor alone when every
    tier has one (a step above the floor is worth buying at the multipliers it was built
    for, however small its gain: cutting it would overstate the rows' values and the bound),
    else also at ``P(D > s) < eps_sat``."""
    return min(eps_sat, 1e-13) if np.all(floor > 0) else eps_sat


def _dual_gap(mode: str, dual: DualSolution) -> float:
    """Relative distance of a round's plan to its bound: investment for targets, total
    service for a budget."""
    if mode == "targets":
        return abs(dual.cost - dual.bound) / abs(dual.cost) if dual.cost else 0.0
    got = float(dual.service.sum())
    return abs(dual.bound - got) / abs(got) if got else (0.0 if dual.bound == got else np.inf)


def _better(mode: str, fin, dual: DualSolution) -> bool:
    if "status" not in fin.info or fin.info.get("status") not in ("optimal", "feasible"):
        return False
    if mode == "targets":
        return fin.cost < dual.cost - 1e-9 * abs(dual.cost)
    return float(fin.service.sum()) > float(dual.service.sum()) + 1e-12 * abs(float(dual.service.sum()))


def _around(levels: np.ndarray, owner: np.ndarray, sat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``level - WINDOW .. level + WINDOW`` (within 0 .. saturation) of each owner part,
    and row 0 of every owner, without duplicates."""
    d = np.arange(-WINDOW, WINDOW + 1)
    part = np.concatenate((np.repeat(owner, d.size), np.unique(owner)))
    s0 = np.concatenate(((levels[:, None] + d[None, :]).ravel(), np.zeros(np.unique(owner).size, dtype=np.int64)))
    ok = (s0 >= 0) & (s0 <= sat[part])
    key = np.unique(part[ok] * (int(sat.max()) + 2) + s0[ok])
    return key // (int(sat.max()) + 2), key % (int(sat.max()) + 2)


def _missing(fr: Frontier, part: np.ndarray, s0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (part, level) pairs that are not rows of ``fr`` yet."""
    width = int(max(fr.row_s0.max(initial=0), s0.max(initial=0))) + 2
    have = fr.row_part.astype(np.int64) * width + fr.row_s0
    want = part.astype(np.int64) * width + s0
    miss = ~np.isin(want, have)
    return part[miss], s0[miss]


def certify(prob: StockingProblem, obj: str, mode: str, theta: np.ndarray, targets: dict, budget: float | None,
            eps_sat: float) -> tuple[float, bool]:
    """The Lagrangian bound at given multipliers (e.g. another optimiser's): every part's
    best warehouse level at ``theta`` (searched as in :func:`allocate`), its steps down to
    ratio ``1/theta``.  Returns the bound and whether the search was complete."""
    theta = np.asarray(theta, dtype=float)
    sat = saturation_levels(prob)
    complete = frontiers_complete(prob)
    table = None
    with ThreadPoolExecutor(2) as pool:
        if complete:
            part, s0 = _rows_all(sat)
        else:
            table = warehouse_table(prob, sat)
            best = search_warehouse(prob, obj, theta, sat, pool=pool, table=table)
            part, s0 = np.arange(prob.P), best
        floor = np.where(theta > 0, (1.0 - 1e-9) / np.where(theta > 0, theta, 1.0), np.inf)
        fr = build_frontier(prob, obj, part, s0, floor, _recorded_tail(floor, eps_sat), pool=pool, table=table)
    if mode == "targets":
        bound, _ = lagrangian_bound(fr, theta, required=required_service(prob, obj, targets))
    else:
        bound, _ = lagrangian_bound(fr, theta, budget=budget)
    return bound, complete
