"""Cheapest two-echelon stock levels for tier service targets, or best service for a budget.

:func:`optimize_stock` runs one of two algorithms:

* ``"frontier"`` (the default, :mod:`.allocation`): exact per-part frontiers over warehouse
  levels, Lagrange multipliers across parts and an exact finishing step, with a certificate
  (the Lagrangian bound and the gap to it);
* ``"greedy"``: the greedy dealer walk (:mod:`.greedy`) alternated with a warehouse step
  priced through the METRIC delay at the dealers' exchange rates (a Lagrangian pattern
  search, :func:`_optimise_wh`) until the warehouse levels settle; its certificate is the
  Lagrangian bound at its own multipliers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from partsforecast._io import release_unused_memory
from partsforecast.engine import check_engine
from partsforecast.stocking import groups
from partsforecast.stocking.allocation import (
    Allocation,
    allocate,
    certify,
)
from partsforecast.stocking.formulas import InfeasiblePlanError, base_stock_level
from partsforecast.stocking.greedy import (
    Walk,
    efficient_curve,
    trim_overshoot,
    walk_dealers,
)
from partsforecast.stocking.problem import (
    StockingProblem,
    prepare_problem,
    targets_by_tier,
)
from partsforecast.stocking.result import (
    StockingResult,
    finish_result,
    holding_rates,
    plan_row,
)
from partsforecast.stocking.scan import pair_state, scan

__all__ = ["optimize_stock"]


# ---------------------------------------------------------------------------------------
# The warehouse step: Lagrangian part values and a pattern search
# ---------------------------------------------------------------------------------------


def _lagrangian_part_values(prob: StockingProblem, parts: np.ndarray, s0: np.ndarray, theta_pair: np.ndarray,
                            objective: str) -> np.ndarray:
    """G_p(s0) = c_p s0 + sum_j min_s [c_p s + theta_j * penalty_pj(s | s0)] for each part.

    penalty = EBO ("ebo") or -lambda F(s-1) ("fill").  For fixed multipliers the dealer terms
    are separable and convex along the marginal-analysis steps, so a threshold scan gives
    each minimum exactly; the warehouse level acts only through the METRIC pipeline.
    """
    pidx, rows, mean, var = prob.pipeline(parts, s0)
    th = theta_pair[pidx]
    live = th > 0
    # pairs with theta = 0 (a tier without a target) add nothing whatever their stock
    G = prob.c[parts] * np.asarray(s0, dtype=float)
    if live.any():
        li = np.flatnonzero(live)
        st = pair_state(mean[li], var[li])
        mult = prob.plam[pidx[li]] if objective == "fill" else np.ones(li.size)
        out = scan(st, mult * th[li], prob.pc[pidx[li]], 1.0, objective)
        if objective == "fill":
            val = prob.pc[pidx[li]] * out.level - th[li] * prob.plam[pidx[li]] * out.fill
        else:
            val = prob.pc[pidx[li]] * out.level + th[li] * out.ebo
        G = G + np.bincount(rows[li], weights=val, minlength=parts.size)
    return G


def _optimise_wh(prob: StockingProblem, s0: np.ndarray, theta_pair: np.ndarray, objective: str,
                 step0: np.ndarray) -> np.ndarray:
    """Warehouse levels minimising the Lagrangian G_p(s0) per part, by pattern search.

    Each warehouse unit is judged by its effect through the METRIC delay on all the part's
    dealers (with their levels re-optimised at the same multipliers), which is Sherbrooke's
    marginal analysis of a warehouse unit.  G is not guaranteed convex in s0, so the search
    starts with steps of about half a pipeline standard deviation, doubles a step that
    improves and halves one that does not, and stops at step 0; only parts still moving are
    re-evaluated.
    """
    parts = np.flatnonzero(prob.lam0 > 0)
    s0 = s0.astype(np.int64).copy()
    if not parts.size:
        return s0
    G = _lagrangian_part_values(prob, parts, s0[parts], theta_pair, objective)
    h = np.maximum(step0[parts].astype(np.int64), 1)
    act = np.arange(parts.size)
    while act.size:
        cur = s0[parts[act]]
        up = cur + h[act]
        dn = np.maximum(cur - h[act], 0)
        g_up = _lagrangian_part_values(prob, parts[act], up, theta_pair, objective)
        g_dn = _lagrangian_part_values(prob, parts[act], dn, theta_pair, objective)
        g_dn = np.where(dn == cur, np.inf, g_dn)
        tol = 1e-12 * np.maximum(np.abs(G[act]), 1.0)
        best_up = (g_up < G[act] - tol) & (g_up <= g_dn)
        best_dn = (g_dn < G[act] - tol) & ~best_up
        moved = best_up | best_dn
        new = np.where(best_up, up, np.where(best_dn, dn, cur))
        s0[parts[act]] = new
        G[act] = np.where(best_up, g_up, np.where(best_dn, g_dn, G[act]))
        # expand after a success (long walks take log steps), halve after a failure
        h[act] = np.where(moved, 2 * h[act], h[act] // 2)
        act = act[h[act] > 0]
    return s0


# ---------------------------------------------------------------------------------------
# The optimiser
# ---------------------------------------------------------------------------------------


def optimize_stock(
    unit_cost: Any,
    dealer_demand_rate: Any,
    dealer_lead_time: Any,
    wh_lead_time: Any = None,
    *,
    dealer_tier: Any = None,
    fill_rate_targets: Any = None,
    wait_targets: Any = None,
    budget: float | None = None,
    objective: str = "backorders",
    demand_vmr: Any = None,
    method: str = "vari-metric",
    algorithm: str = "frontier",
    holding_rate: Any = None,
    max_iter: int = 6,
    tol_rel: float = 1e-5,
    curve_points: int = 200,
    part_ids: Any = None,
    dealer_ids: Any = None,
    warehouse_id: str = "WH",
    engine: Any = None,
) -> StockingResult:
    """Cheapest stock levels for service targets per dealer tier, or best service for a budget.

    **Service measure (the classic system approach).**  A fill-rate target for a tier means
    the demand-weighted fill rate over all parts at all dealers of that tier,
    sum lambda_pj FR_pj / sum lambda_pj, reaches the target -- not every part on its own.
    This lets cheap, fast-moving parts carry the average and is what Sherbrooke (2004, Ch. 2)
    calls the system approach; it needs far less investment than item-by-item targets.  A
    wait target for a tier bounds the expected customer wait there, sum EBO_pj / sum
    lambda_pj (days, Little's law).

    **Algorithm** ``"frontier"`` (the default; Sherbrooke 2004, Ch. 4; Muckstadt 2005, Ch. 5):

    1. for each part, its frontier: for every warehouse level the dealers decouple, and each
       dealer's best level at a price of service follows exactly from the hull of its
       service curve;
    2. across parts, one Lagrange multiplier per tier (or one for the budget): each part
       takes its best (warehouse level, dealer levels) at those prices, and the multipliers
       are set so the tiers just meet their targets (a fixed point; bisection for a budget);
    3. a finishing step chooses exactly among the plans the bound leaves open (a small MILP
       over the warehouse and dealer levels whose excess over the Lagrangian choice fits in
       the gap).

    The Lagrangian bound comes with the plan: ``investment_lower_bound`` (targets) or
    ``backorders_lower_bound`` / ``fill_rate_upper_bound`` (budget), and the relative
    ``gap`` of the plan to it.  On small systems every warehouse level of every part is
    examined, so the plan is optimal within the model and the bound is proved
    (``bound_exact``); on large ones each part's levels come from a search over its whole
    range at the multipliers, refined around its best basins.

    **Algorithm** ``"greedy"``: marginal analysis (Sherbrooke 2004, Ch. 2 and 4) in batches:

    1. with the warehouse levels fixed, every (part, dealer) pair's units are ranked by
       service gain per unit cost (fill-rate gain through the concave hull of the fill-rate
       curve, or backorder reduction, which is convex) and taken in that order, tier by
       tier, until each tier's target is met (or, in budget mode, until the next unit would
       not fit).  The ratio of the last unit bought in a tier is its exchange rate 1/theta_t;
    2. with those multipliers the warehouse level of each part is re-chosen by its effect
       through the METRIC delay on all of the part's dealers (dealer levels re-optimised at
       the same multipliers) -- a warehouse unit is worth buying if it saves more than it
       costs at the dealers' exchange rate;
    3. repeat until the warehouse levels stop changing (``max_iter``) and keep the cheapest
       plan that meets the targets (the best-service plan within the budget).

    Every dealer plan in step 1 meets the targets exactly on the greedy path, so all
    iterates are feasible; for a single echelon (``wh_lead_time=None``) the result is the
    greedy optimum, which is optimal at every point of the efficient curve.  With two
    echelons the warehouse step is a local search (the Lagrangian is not convex in s0), so
    the plan is a good heuristic, as in METRIC itself.

    Parameters
    ----------
    unit_cost : array (parts,)
        Unit cost (> 0); investment = sum unit_cost x base stock.
    dealer_demand_rate : array (parts, dealers)
        Mean demand per day of each part at each dealer.
    dealer_lead_time : float, array (dealers,) or (parts, dealers)
        Warehouse -> dealer transport time, days.
    wh_lead_time : float or array (parts,), optional
        Factory replenishment lead time per part, days.  ``None``: single echelon (dealers
        resupplied in their transport time, no warehouse stock).
    dealer_tier : array (dealers,) of int, optional
        Market tier per dealer (default: all tier 1).
    fill_rate_targets : float, {tier: target} or array (parts, tiers), optional
        Demand-weighted fill-rate target per tier, each in [0, 1).  An array gives a target
        per (part, tier), columns in ascending tier order (e.g. from
        :func:`partsforecast.service.combine_targets`): the parts sharing a row of targets
        form a service group, and each group's demand-weighted fill rate in each tier must
        reach its target (one price per group and tier; see :mod:`.groups`).  The result's
        ``targets`` are then what the groups promise for each tier as a whole.
    wait_targets : float or {tier: days}, optional
        Expected customer wait target per tier, days (> 0).
    budget : float, optional
        Total inventory investment (warehouse + dealers).  Alone: the best service for this
        money (``objective``).  With targets: an upper limit; the plan must fit.
    objective : {"backorders", "fill_rate"}
        Service to maximise in budget mode: fewest total expected backorders (Sherbrooke's
        classic, equivalent to the shortest mean wait) or highest system fill rate.
    demand_vmr : float or array (parts, dealers), optional
        Variance-to-mean ratio of demand (1 = Poisson).
    method : {"vari-metric", "metric"}
        Dealer pipeline law used by the optimiser and the reported figures.
    algorithm : {"frontier", "greedy"}
        ``"frontier"`` (default): per-part frontiers with multipliers and a finishing step;
        ``"greedy"``: marginal analysis with a warehouse pattern search (kept for comparison).
    holding_rate : float or array (dealers + 1,), optional
        Annual holding cost rate per site (index 0 = warehouse), for reporting only.
    max_iter : int
        Warehouse/dealer alternations (two echelons; ``"greedy"`` only).
    tol_rel : float
        Stop alternating once an iteration changes the investment (targets) or the service
        objective (budget) by less than this fraction.
    curve_points : int
        Rows of the efficient curve kept (plus the plan's own point).
    part_ids, dealer_ids, warehouse_id
        Labels for :meth:`StockingResult.to_frame`.
    engine : dask.distributed.Client, optional
        Run the frontier algorithm's scans of every (part, warehouse level, dealer) slot on
        this cluster (:mod:`partsforecast.engine`): the same levels as here. The
        multipliers, which couple the parts, are set here; ``"greedy"`` runs here whole.

    Returns
    -------
    StockingResult

    Raises
    ------
    InfeasiblePlanError
        Targets of 1 (fill) or 0 (wait) where there is demand; a budget below what the
        targets need (the message gives that budget and the fill rates the budget reaches).
        Negative or non-finite inputs (the message names the first offender).
    ValueError
        Malformed inputs (wrong shapes, missing tier targets, none or several modes).

    References
    ----------
    Sherbrooke (2004), Ch. 2 (marginal analysis, system approach), Ch. 4 (METRIC
    optimisation); Muckstadt (2005), Ch. 5 (Lagrangian allocation); Fox, B. (1966).
    Discrete optimization via marginal analysis. *Management Science* 13, 210-216.
    """
    t_start = time.perf_counter()
    check_engine(engine, "optimize_stock")
    prob = prepare_problem(unit_cost, dealer_demand_rate, dealer_lead_time, wh_lead_time, demand_vmr, dealer_tier,
                           method)
    if fill_rate_targets is not None and groups.is_per_part(fill_rate_targets):
        return _by_service_groups(prob, fill_rate_targets, wait_targets=wait_targets, budget=budget,
                                  objective=objective, method=method, algorithm=algorithm, holding_rate=holding_rate,
                                  max_iter=max_iter, tol_rel=tol_rel, curve_points=curve_points, part_ids=part_ids,
                                  dealer_ids=dealer_ids, warehouse_id=warehouse_id, engine=engine)
    req = _read_request(prob, fill_rate_targets, wait_targets, budget, objective, holding_rate)
    algorithm = _check_algorithm(algorithm)
    labels = {"holding_rate": holding_rate, "part_ids": part_ids, "dealer_ids": dealer_ids,
              "warehouse_id": warehouse_id}
    s0, step0 = _warehouse_start(prob, req)
    if algorithm == "greedy":
        best, log = _alternate(prob, req, s0, step0, max_iter, tol_rel)
        res = _result(prob, req, best, log, curve_points, t_start, **labels)
        t_cert = time.perf_counter()
        theta = np.array([res.multipliers.get(int(t), 0.0) for t in np.unique(prob.tier)])
        bound, exact = certify(prob, req.obj, req.mode, theta, req.targets, req.budget, req.eps_sat)
        res.solver_info["certificate_seconds"] = time.perf_counter() - t_cert
    else:
        alloc = allocate(prob, req.obj, req.mode, req.targets, req.budget if req.mode == "budget" else None,
                         req.eps_sat, s0, engine=engine)
        res = _frontier_result(prob, req, alloc, curve_points, t_start, **labels)
        bound, exact = alloc.bound, alloc.complete
        del alloc  # and its frontier: the memory goes back to the system for the next stage
        release_unused_memory()
    _attach_certificate(res, prob, req, bound, exact)
    if req.mode == "targets" and req.budget is not None and res.investment > req.budget * (1 + 1e-12):
        raise InfeasiblePlanError(_budget_message(res, req.budget, res.curve, req.targets, req.obj))
    return res


def _by_service_groups(prob: StockingProblem, targets: Any, *, wait_targets: Any, holding_rate: Any, part_ids: Any,
                       dealer_ids: Any, warehouse_id: str, **options: Any) -> StockingResult:
    """Fill-rate targets per (part, tier): the problem with a virtual dealer per service group
    (:mod:`.groups`), solved as it is, its levels mapped back to the real dealers."""
    if wait_targets is not None:
        raise ValueError("give fill_rate_targets= or wait_targets=, not both")
    g = groups.read_groups(targets, prob.P, prob.tier)
    virt = groups.expand(g, prob.lam, prob.T, prob.tier, prob.vmr, holding_rate)
    try:
        res_v = optimize_stock(prob.c, virt.pop("dealer_demand_rate"), virt.pop("dealer_lead_time"), prob.T0,
                               fill_rate_targets=g.virtual_targets(), **virt, **options)
    except InfeasiblePlanError as err:
        raise InfeasiblePlanError(f"the fill-rate targets per part ({g.G} groups of parts with their own "
                                  f"targets; tier t of group g shows as g x 1000 + t): {err}") from None
    s_dealer = groups.collapse(g, res_v.s_dealer)
    keep = ["investment", "wh_investment", "dealer_investment", "total_backorders", "expected_wait",
            "system_fill_rate", "is_plan"]
    info = {**res_v.solver_info, "service_groups": g.G,
            "group_multipliers": {(int(k) // 1000, int(k) % 1000): v for k, v in res_v.multipliers.items()}}
    res = finish_result(prob, res_v.s_wh, s_dealer, status=res_v.status,
                        targets=groups.tier_targets(g, prob.lam, prob.tier), multipliers={},
                        curve=res_v.curve[[c for c in keep if c in res_v.curve]], solver_info=info,
                        holding_rate=holding_rate, part_ids=part_ids, dealer_ids=dealer_ids,
                        warehouse_id=warehouse_id)
    for name in ("algorithm", "investment_lower_bound", "backorders_lower_bound", "fill_rate_upper_bound", "gap",
                 "bound_exact"):
        setattr(res, name, getattr(res_v, name))
    return res


def _check_algorithm(algorithm: str) -> str:
    a = str(algorithm).lower()
    if a not in ("frontier", "greedy"):
        raise ValueError(f"algorithm must be 'frontier' or 'greedy'; got {algorithm!r}")
    return a


# ---------------------------------------------------------------------------------------
# The request: mode, service measure, targets, saturation bound
# ---------------------------------------------------------------------------------------


@dataclass
class _Request:
    """What :func:`optimize_stock` was asked for, validated."""

    mode: str  # "targets" or "budget"
    obj: str  # service measure the walk optimises: "fill" or "ebo"
    targets: dict  # per tier: fill rate or wait (days); empty in budget mode
    budget: float | None
    tier_L: dict  # demand per day per tier
    max_target: float  # the highest fill-rate target (0 unless fill targets)
    eps_sat: float  # units beyond P(D > s) < eps_sat buy nothing measurable


def _read_request(prob: StockingProblem, fill_rate_targets: Any, wait_targets: Any, budget: float | None,
                  objective: str, holding_rate: Any) -> _Request:
    if fill_rate_targets is not None and wait_targets is not None:
        raise ValueError("give fill_rate_targets= or wait_targets=, not both")
    has_targets = fill_rate_targets is not None or wait_targets is not None
    if not has_targets and budget is None:
        raise ValueError("give service targets (fill_rate_targets= or wait_targets=) and/or budget=")
    if budget is not None:
        budget = float(budget)
        if not np.isfinite(budget) or budget < 0:
            raise InfeasiblePlanError(f"budget must be a finite number >= 0; got {budget!r}")
    if objective not in ("backorders", "fill_rate"):
        raise ValueError(f"objective must be 'backorders' or 'fill_rate'; got {objective!r}")
    holding_rates(holding_rate, prob.J)  # fail before the work, not after
    tier_L = {int(t): float(prob.lam[:, prob.tier == t].sum()) for t in np.unique(prob.tier)}
    targets: dict = {}
    if fill_rate_targets is not None:
        targets = _fill_rate_targets(prob, fill_rate_targets, tier_L)
        mode, obj = "targets", "fill"
    elif wait_targets is not None:
        targets = _wait_targets(prob, wait_targets, tier_L)
        mode, obj = "targets", "ebo"
    else:
        mode, obj = "budget", ("fill" if objective == "fill_rate" else "ebo")
    max_target = max(targets.values(), default=0.0) if (obj == "fill" and mode == "targets") else 0.0
    eps_sat = _saturation_bound(prob, mode, obj, targets, tier_L, max_target)
    return _Request(mode, obj, targets, budget, tier_L, max_target, eps_sat)


def _fill_rate_targets(prob: StockingProblem, fill_rate_targets: Any, tier_L: dict) -> dict:
    targets = targets_by_tier(fill_rate_targets, prob.tier, "fill_rate_targets")
    bad = {t: v for t, v in targets.items() if not (0.0 <= v <= 1.0)}
    if bad:
        raise ValueError(f"fill-rate targets must lie in [0, 1); got {bad}")
    full = [t for t, v in targets.items() if v >= 1.0 and tier_L[t] > 0]
    if full:
        raise InfeasiblePlanError(
            f"a fill-rate target of 100% for tier(s) {full} needs unbounded stock: Poisson/NB "
            f"lead-time demand has no upper bound, so every finite plan misses some demand. "
            f"Any target below 1 is reachable (e.g. 0.999)."
        )
    return targets


def _wait_targets(prob: StockingProblem, wait_targets: Any, tier_L: dict) -> dict:
    targets = targets_by_tier(wait_targets, prob.tier, "wait_targets")
    bad = {t: v for t, v in targets.items() if not (v >= 0.0 and np.isfinite(v))}
    if bad:
        raise ValueError(f"wait targets must be finite and >= 0 days; got {bad}")
    zero = [t for t, v in targets.items() if v <= 0.0 and tier_L[t] > 0]
    if zero:
        raise InfeasiblePlanError(
            f"a zero expected wait for tier(s) {zero} needs unbounded stock; any positive "
            f"wait target is reachable"
        )
    return targets


def _saturation_bound(prob: StockingProblem, mode: str, obj: str, targets: dict, tier_L: dict,
                      max_target: float) -> float:
    """P(D > s) below which a unit buys nothing measurable.

    For fill targets the bound sits three orders of magnitude below the largest allowed
    shortfall; for wait targets below 1/1000 of the backorders a tier may hold per (part,
    dealer) pair (a pair stopped there keeps EBO of the order of eps, so all of them together
    use < ~0.1% of the allowance).
    """
    if mode == "targets" and obj == "fill":
        return (1.0 - max_target) * 1e-3
    if mode == "targets":
        allowed = [targets[t] * tier_L[t] / max(int(np.sum(prob.ptier == t)), 1)
                   for t in targets if tier_L[t] > 0]
        return max(min(allowed, default=1e-7) * 1e-3, 1e-12)
    return 1e-10


# ---------------------------------------------------------------------------------------
# Alternating dealer walks and warehouse steps
# ---------------------------------------------------------------------------------------


def _warehouse_start(prob: StockingProblem, req: _Request) -> tuple[np.ndarray, np.ndarray]:
    """First warehouse levels and the first step of the warehouse search, per part.

    In target mode the warehouse starts where it alone gives about the service asked of the
    dealers; in budget mode it starts empty, so the first walk prices dealer stock alone.
    """
    s0 = np.zeros(prob.P, dtype=np.int64)
    step0 = np.ones(prob.P)
    if prob.two_echelon:
        step0 = np.maximum(np.sqrt(np.maximum(prob.v0, prob.mu0)) / 2.0, 1.0)
        step0 = 2.0 ** np.floor(np.log2(step0))
        if req.mode == "targets":
            start_fr = min(req.max_target, 0.99) if req.max_target > 0 else 0.9
            v0 = prob.v0 if prob.method == "vari-metric" else None
            s0 = np.asarray(base_stock_level(prob.mu0, v0, fill_rate=start_fr), dtype=np.int64).reshape(prob.P)
            s0[prob.lam0 <= 0] = 0  # no demand, no stock
    return s0, step0


def _initial_floors(prob: StockingProblem, req: _Request) -> dict:
    """Ratio floor per tier down to which walk entries are generated (lowered if the walk runs
    out); the first walk has no floor in target mode (saturation bounds it)."""
    floor_t = {t: 0.0 for t in req.tier_L}
    if req.mode == "budget" and prob.plam.size:
        lowest = float(np.min(prob.plam / prob.pc if req.obj == "fill" else 1.0 / prob.pc))
        floor_t = {t: lowest * 1e-3 for t in req.tier_L}
    return floor_t


def _alternate(prob: StockingProblem, req: _Request, s0: np.ndarray, step0: np.ndarray, max_iter: int,
               tol_rel: float) -> tuple[tuple, list]:
    """Dealer walks alternated with warehouse steps until the warehouse levels settle.

    Returns the best iterate ``(key, s0, walk, s_pairs)`` -- the cheapest plan meeting the
    targets, or the best service within the budget -- and the iteration log.
    """
    floor_t = _initial_floors(prob, req)
    best = None  # (key, s0, walk, s_pairs)
    prev_key = np.inf
    log = []
    for it in range(max(1, max_iter) if prob.two_echelon else 1):
        wh_cost = float((prob.c * s0).sum()) if prob.two_echelon else 0.0
        walk, floor_t = _walk_deep_enough(prob, req, s0, wh_cost, floor_t)
        s_pairs = walk.s_pairs
        if req.mode == "targets":
            s_pairs = trim_overshoot(prob, s0, s_pairs, req.targets, req.obj)
        total = wh_cost + float((prob.pc * s_pairs).sum())
        key = total if req.mode == "targets" else _service_of(prob, s0, walk, req.obj)
        log.append({"iteration": it, "investment": total, "wh_investment": wh_cost,
                    "multipliers": dict(walk.theta_tier), "key": key})
        if not walk.ok and req.mode == "targets":
            key = np.inf  # this warehouse plan left a target unmet even at saturation
        improved = best is None or (np.isfinite(key) and (not np.isfinite(best[0])
                                                          or key < best[0] - 1e-12 * abs(best[0])))
        if improved:
            best = (key, s0.copy(), walk, s_pairs)
        if not prob.two_echelon:
            break
        if it > 0 and abs(key - prev_key) <= tol_rel * max(abs(key), 1e-300):
            break  # the alternation has settled: further rounds move investment < tol_rel
        prev_key = key
        # next floors: well below this iteration's exchange rates
        floor_t = {t: (walk.last_ratio[t] * 1e-3 if np.isfinite(walk.last_ratio.get(t, np.inf)) else floor_t[t])
                   for t in req.tier_L}
        new_s0 = _warehouse_step(prob, req, s0, walk, step0 if it == 0 else np.ones(prob.P))
        if np.array_equal(new_s0, s0):
            break
        s0 = new_s0
    return best, log


def _walk_deep_enough(prob: StockingProblem, req: _Request, s0: np.ndarray, wh_cost: float,
                      floor_t: dict) -> tuple[Walk, dict]:
    """The dealer walk for warehouse levels ``s0``, regenerating deeper while its entries run
    out before the stop rule (lower ratio floor, and for targets a lower saturation bound,
    which is what binds once the floor is 0).  Returns the walk and the floors it used."""
    left = (req.budget - wh_cost) if req.budget is not None else np.inf
    eps_it = req.eps_sat
    for _ in range(5):
        walk = walk_dealers(prob, s0, req.mode, req.obj, req.targets if req.mode == "targets" else {}, left,
                            floor_t, eps_it)
        if walk.ok:
            break
        floor_t = {t: v * 1e-3 for t, v in floor_t.items()}
        if req.mode == "targets":
            eps_it *= 1e-3
    return walk, floor_t


def _warehouse_step(prob: StockingProblem, req: _Request, s0: np.ndarray, walk: Walk,
                    step: np.ndarray) -> np.ndarray:
    """New warehouse levels at the walk's tier multipliers (see :func:`_optimise_wh`).

    In budget mode the warehouse must leave money for the dealers: its exchange rate is
    lowered until its stock fits in the budget.
    """
    th = np.zeros(max(req.tier_L, default=0) + 1)
    for t, v in walk.theta_tier.items():
        th[t] = v
    theta_pair = th[prob.ptier]
    new_s0 = _optimise_wh(prob, s0, theta_pair, req.obj, step)
    if req.mode == "budget":
        for _ in range(30):
            if float((prob.c * new_s0).sum()) <= req.budget:
                break
            theta_pair = theta_pair * 0.5
            new_s0 = _optimise_wh(prob, np.minimum(s0, new_s0), theta_pair, req.obj, np.ones(prob.P))
    return new_s0


# ---------------------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------------------


def _result(prob: StockingProblem, req: _Request, best: tuple, log: list, curve_points: int, t_start: float,
            **labels: Any) -> StockingResult:
    """The best iterate as a :class:`StockingResult`, with its efficient curve."""
    key, s0, walk, s_pairs = best
    if not np.isfinite(key):
        raise RuntimeError(
            "the greedy walk could not reach the service targets with the stock depths it "
            "considers (P(D > s) down to 1e-13 per pair); the targets are too close to perfect "
            "service -- relax them slightly")
    s_dealer = np.zeros((prob.P, prob.J), dtype=np.int64)
    s_dealer[prob.pp, prob.pj] = s_pairs
    curve = efficient_curve(prob, walk, s0, _pair_means(prob, s0), curve_points)
    status = "targets met" if req.mode == "targets" else "best service within budget"
    res = finish_result(prob, s0 if prob.two_echelon else None, s_dealer, status=status, targets=req.targets,
                        multipliers=dict(walk.theta_tier), curve=curve,
                        solver_info={"algorithm": "greedy", "iterations": log,
                                     "seconds": time.perf_counter() - t_start},
                        **labels)
    # the plan's row of the curve, in the same closed-form figures as the result
    curve = pd.concat([curve, pd.DataFrame([plan_row(res)])], ignore_index=True)
    res.curve = curve.sort_values(["investment", "is_plan"], kind="stable").reset_index(drop=True)
    return res


def _frontier_result(prob: StockingProblem, req: _Request, alloc: Allocation, curve_points: int, t_start: float,
                     **labels: Any) -> StockingResult:
    """The frontier plan as a :class:`StockingResult`, with the efficient curve of its rows'
    dealer steps (warehouse held at the plan's levels)."""
    s_dealer = np.zeros((prob.P, prob.J), dtype=np.int64)
    s_dealer[prob.pp, prob.pj] = alloc.s_pairs
    fr = alloc.frontier
    on = np.zeros(fr.R, dtype=bool)
    on[alloc.choice] = True
    sel = on[fr.e_row]
    entries = {"ratio": fr.e_ratio[sel], "tier": fr.tiers[fr.e_tier[sel]], "cost": fr.e_cost[sel],
               "gebo": fr.e_gebo[sel], "wfill": fr.e_gfill[sel]}
    theta = {int(t): float(v) for t, v in zip(alloc.tiers, alloc.theta)}
    walk = Walk(alloc.s_pairs, theta, float((prob.pc * alloc.s_pairs).sum()), True, entries, {}, np.zeros(0, bool))
    curve = efficient_curve(prob, walk, alloc.s0, float(fr.row_ebo0[alloc.choice].sum()), curve_points)
    status = "targets met" if req.mode == "targets" else "best service within budget"
    info = {"algorithm": "frontier", "iterations": alloc.info.get("rounds", []), "seconds": 0.0, **alloc.info}
    res = finish_result(prob, alloc.s0 if prob.two_echelon else None, s_dealer, status=status, targets=req.targets,
                        multipliers=theta, curve=curve, solver_info=info, **labels)
    curve = pd.concat([curve, pd.DataFrame([plan_row(res)])], ignore_index=True)
    res.curve = curve.sort_values(["investment", "is_plan"], kind="stable").reset_index(drop=True)
    res.solver_info["seconds"] = time.perf_counter() - t_start
    return res


def _attach_certificate(res: StockingResult, prob: StockingProblem, req: _Request, bound: float, exact: bool) -> None:
    """The Lagrangian bound in the result's own measure, and the plan's relative gap to it."""
    res.bound_exact = bool(exact)
    res.algorithm = str(res.solver_info.get("algorithm", "greedy"))
    if req.mode == "targets":
        res.investment_lower_bound = float(min(bound, res.investment))
        res.gap = _rel_gap(res.investment, res.investment_lower_bound)
    elif req.obj == "ebo":
        res.backorders_lower_bound = float(min(max(-bound, 0.0), res.total_backorders))
        res.gap = _rel_gap(res.total_backorders, res.backorders_lower_bound)
    else:
        L = float(prob.lam.sum())
        res.fill_rate_upper_bound = float(max(min(bound / L, 1.0), res.system_fill_rate)) if L > 0 else 1.0
        res.gap = _rel_gap(res.system_fill_rate, res.fill_rate_upper_bound)


def _rel_gap(plan: float, bound: float) -> float:
    """|plan - bound| / |plan|, like a MIP gap (0 when both are 0)."""
    return float(abs(plan - bound) / abs(plan)) if plan != 0 else (0.0 if bound == 0 else np.inf)


def _pair_means(prob: StockingProblem, s0: np.ndarray) -> float:
    _, _, mean, _ = prob.pipeline(np.arange(prob.P), s0)
    return float(mean.sum())


def _service_of(prob: StockingProblem, s0: np.ndarray, walk: Walk, obj: str) -> float:
    """Objective value of a budget-mode plan, smaller is better: total dealer EBO, or minus
    the demand-weighted fill."""
    ent, ch = walk.entries, walk.chosen
    if obj == "fill":
        return -float(ent["wfill"][ch].sum())
    return _pair_means(prob, s0) - float(ent["gebo"][ch].sum())


def _budget_message(res: StockingResult, budget: float, curve: pd.DataFrame, targets: dict, obj: str) -> str:
    within = curve[curve["investment"] <= budget * (1 + 1e-12)]
    need = ", ".join(f"tier {t}: {v:g}" for t, v in targets.items())
    msg = (f"the service targets ({need}) need an investment of {res.investment:,.2f} "
           f"(warehouse {res.wh_investment:,.2f} + dealers {res.dealer_investment:,.2f}), more than "
           f"the budget of {budget:,.2f}. Raise the budget to at least {res.investment:,.2f} or lower "
           f"the targets")
    if len(within):
        row = within.iloc[-1]
        tiers = [c for c in curve.columns if c.startswith("fill_rate_tier_")]
        if obj == "fill":
            reach = ", ".join(f"tier {c.rsplit('_', 1)[1]}: {row[c]:.4f}" for c in tiers)
            msg += f"; within the budget the same priorities reach fill rates of {reach}"
        else:
            msg += f"; within the budget the same priorities reach an expected wait of {row['expected_wait']:.3f} days"
        msg += " (warehouse levels held at the targets' plan)"
    elif res.wh_investment > budget:
        msg += "; the warehouse stock of that plan alone exceeds the budget"
    return msg + "."

