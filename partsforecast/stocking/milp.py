"""Dealer stock levels under constraints that couple parts: a MILP solved through pulp.

Shelf capacity per dealer (units or value) and budgets per tier break the separability the
greedy relies on; :func:`optimize_stock_milp` re-optimises dealer levels exactly inside a
window around a greedy plan, the warehouse levels held fixed.  Solving and reading the
solver's verdict go through :mod:`partsforecast.solvers`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from partsforecast import solvers
from partsforecast.stocking.formulas import (
    InfeasiblePlanError,
    check_levels,
    lead_time_law,
)
from partsforecast.stocking.optimiser import optimize_stock
from partsforecast.stocking.problem import (
    StockingProblem,
    prepare_problem,
    targets_by_tier,
)
from partsforecast.stocking.result import StockingResult, finish_result, plan_row

__all__ = ["optimize_stock_milp"]


def optimize_stock_milp(
    unit_cost: Any,
    dealer_demand_rate: Any,
    dealer_lead_time: Any,
    wh_lead_time: Any = None,
    *,
    dealer_tier: Any = None,
    fill_rate_targets: Any = None,
    budget: float | None = None,
    tier_budget: Mapping[int, float] | None = None,
    shelf_units: Any = None,
    shelf_value: Any = None,
    objective: str = "backorders",
    s_wh: Any = None,
    start: StockingResult | None = None,
    window: tuple[int, int] = (3, 2),
    demand_vmr: Any = None,
    method: str = "vari-metric",
    solver: str = "highs",
    time_limit: float | None = 60.0,
    mip_gap: float | None = 1e-4,
    threads: int | None = None,
    holding_rate: Any = None,
    part_ids: Any = None,
    dealer_ids: Any = None,
    warehouse_id: str = "WH",
) -> StockingResult:
    """Dealer stock levels under constraints that couple parts: a MILP solved with pulp.

    Shelf capacity per dealer (units or value) and budgets per tier couple the parts at a
    dealer or in a tier, so marginal analysis is no longer exact.  Each (part, dealer) pair
    chooses its level from a small window ``[s_g - down, s_g + up]`` around a greedy
    solution ``s_g`` through binary increments y_k (s = lo + sum_k y_k).  The expected
    backorders are piecewise linear in the increments with falling slopes (EBO is convex in
    s), so they need no ordering constraints; the fill rate is concave only above the mode,
    so pairs whose fill increments rise inside the window get y_{k+1} <= y_k.

    The warehouse levels are held fixed -- given (``s_wh``), taken from ``start``, or from
    :func:`optimize_stock` with the same targets/budget -- because the METRIC delay makes the
    dealer figures non-linear in them; the dealer pipelines follow from those levels.

    Modes: with ``fill_rate_targets`` the model minimises investment subject to the tier
    targets and the limits; without, it minimises total expected backorders (``objective=
    "backorders"``) or maximises demand-weighted fill (``"fill_rate"``) within the limits.

    Parameters
    ----------
    unit_cost, dealer_demand_rate, dealer_lead_time, wh_lead_time, dealer_tier, demand_vmr,
    method, holding_rate, part_ids, dealer_ids, warehouse_id
        As in :func:`optimize_stock`.
    fill_rate_targets : float or {tier: target}, optional
        Demand-weighted fill-rate target per tier.
    budget : float, optional
        Total investment limit, warehouse (fixed) + dealers.
    tier_budget : {tier: value}, optional
        Dealer stock value limit per tier.
    shelf_units, shelf_value : array (dealers,), optional
        Per-dealer limit on units held / on stock value (``inf`` = no limit).
    objective : {"backorders", "fill_rate"}
        Service to optimise when no targets are given.
    s_wh : array (parts,), optional
        Warehouse levels to hold fixed (two echelons).
    start : StockingResult, optional
        Greedy plan centring the windows (and giving s_wh).  Computed when not given.
    window : (int, int)
        Levels below / above the start level each pair may take.
    solver : {"highs", "cbc"}
        HiGHS via highspy (default; falls back to HiGHS_CMD, then CBC) or CBC; see
        :mod:`partsforecast.solvers`.
    time_limit : float, optional
        Seconds; a run stopped with a plan reports ``status="feasible"`` and its gap in
        ``solver_info``.
    mip_gap : float, optional
        Relative optimality gap at which the solver may stop and report "optimal".
    threads : int, optional
        Solver threads.

    Returns
    -------
    StockingResult
        ``status`` is the solver's verdict in the vocabulary of :mod:`partsforecast.solvers`
        (``"optimal"`` or ``"feasible"``); ``solver_info`` holds solver name, ``status``,
        ``solver_status`` (the solver's own words), gap, bound, objective, model size and
        timings.  ``curve`` has the plan's row only.

    Raises
    ------
    InfeasiblePlanError
        The solver proves that no levels within the window meet the constraints; the message
        gives the limits that would be feasible within the window.
    """
    t0 = time.perf_counter()
    prob = prepare_problem(unit_cost, dealer_demand_rate, dealer_lead_time, wh_lead_time, demand_vmr, dealer_tier,
                           method)
    lim = _read_limits(prob, objective, window, fill_rate_targets, budget, tier_budget, shelf_units, shelf_value)
    if start is None:
        start = _greedy_start(prob, lim, objective)
    s0 = _warehouse_levels(prob, s_wh, start)
    win = _window_tables(prob, start, s0, lim)
    model, y = _build_model(prob, win, lim, objective)
    build_s = time.perf_counter() - t0

    out = solvers.solve(model, solver, time_limit=time_limit, mip_gap=mip_gap, threads=threads)
    info = _solver_info(model, out, win, build_s, (lim.down, lim.up))
    if out.status == solvers.INFEASIBLE:
        msg = _milp_infeasible_message(prob, win, lim)
        if lim.targets and lim.any_limit:
            msg = _with_reachable_service(msg, prob, lim, s0, start, window, solver, time_limit, mip_gap, threads)
        raise InfeasiblePlanError(msg)
    if not out.has_solution:
        raise RuntimeError(f"{out.solver} stopped without a feasible plan ({out.describe()}); raise time_limit "
                           f"(now {time_limit}) or narrow the window")
    s_dealer = np.zeros((prob.P, prob.J), dtype=np.int64)
    s_dealer[prob.pp, prob.pj] = _chosen_levels(y, win)
    res = finish_result(prob, s0, s_dealer, status=out.status, targets=lim.targets, multipliers={},
                        curve=pd.DataFrame(), solver_info=info, holding_rate=holding_rate, part_ids=part_ids,
                        dealer_ids=dealer_ids, warehouse_id=warehouse_id)
    res.curve = pd.DataFrame([plan_row(res)])
    res.algorithm = "milp"  # its certificate is the solver's own gap, in solver_info
    return res


# ---------------------------------------------------------------------------------------
# The request: targets, limits, window, warehouse levels
# ---------------------------------------------------------------------------------------


@dataclass
class _Limits:
    """Targets and limits of :func:`optimize_stock_milp`, validated."""

    targets: dict  # fill-rate target per tier
    budget: float | None  # total investment, warehouse included
    tb: dict  # dealer stock value limit per tier
    su: np.ndarray | None  # shelf units per dealer
    sv: np.ndarray | None  # shelf value per dealer
    down: int  # window below / above the start level
    up: int

    @property
    def any_limit(self) -> bool:
        return self.budget is not None or bool(self.tb) or self.su is not None or self.sv is not None


def _read_limits(prob: StockingProblem, objective: str, window: tuple[int, int], fill_rate_targets: Any,
                 budget: float | None, tier_budget: Mapping[int, float] | None, shelf_units: Any,
                 shelf_value: Any) -> _Limits:
    if objective not in ("backorders", "fill_rate"):
        raise ValueError(f"objective must be 'backorders' or 'fill_rate'; got {objective!r}")
    down, up = (int(w) for w in window)
    if down < 0 or up < 0:
        raise ValueError(f"window must be two non-negative integers (down, up); got {window!r}")
    targets = {}
    if fill_rate_targets is not None:
        targets = targets_by_tier(fill_rate_targets, prob.tier, "fill_rate_targets")
        full = [t for t, v in targets.items() if v >= 1.0 and prob.lam[:, prob.tier == t].sum() > 0]
        if full:
            raise InfeasiblePlanError(f"a fill-rate target of 100% for tier(s) {full} needs unbounded stock; use a target below 1")
        if any(not (0 <= v < 1) for v in targets.values()):
            raise ValueError(f"fill-rate targets must lie in [0, 1); got {targets}")
    if budget is not None and (not np.isfinite(budget) or budget < 0):
        raise InfeasiblePlanError(f"budget must be a finite number >= 0; got {budget!r}")
    tb = {int(k): float(v) for k, v in (tier_budget or {}).items()}
    if any(v < 0 or not np.isfinite(v) for v in tb.values()):
        raise InfeasiblePlanError(f"tier_budget values must be finite and >= 0; got {tb}")
    lim = _Limits(targets, budget, tb, _limit(shelf_units, prob.J, "shelf_units"),
                  _limit(shelf_value, prob.J, "shelf_value"), down, up)
    if not targets and not lim.any_limit:
        raise ValueError("give fill_rate_targets= and/or limits (budget=, tier_budget=, shelf_units=, shelf_value=)")
    return lim


def _limit(x: Any, J: int, name: str) -> np.ndarray | None:
    """A per-dealer limit: (dealers,) floats >= 0, ``inf`` meaning no limit."""
    if x is None:
        return None
    a = np.asarray(x, dtype=float)
    if np.any(np.isnan(a) | (a < 0)):
        raise InfeasiblePlanError(f"{name} must be >= 0 (use inf for no limit); got {a[np.isnan(a) | (a < 0)].flat[0]!r}")
    try:
        return np.broadcast_to(a, (J,))
    except ValueError:
        raise ValueError(f"{name} must be a scalar or have one entry per dealer ({J}); got shape {a.shape}") from None


def _greedy_start(prob: StockingProblem, lim: _Limits, objective: str) -> StockingResult:
    """The greedy plan the candidate windows are centred on (and the warehouse levels)."""
    kw = {"dealer_tier": prob.tier, "demand_vmr": prob.vmr, "method": prob.method}
    if lim.targets:
        return optimize_stock(prob.c, prob.lam, prob.T, prob.T0, fill_rate_targets=lim.targets, **kw)
    if lim.budget is not None or lim.tb:
        spend = lim.budget if lim.budget is not None else sum(lim.tb.values())
        return optimize_stock(prob.c, prob.lam, prob.T, prob.T0, budget=spend, objective=objective, **kw)
    raise ValueError("give start= (e.g. an optimize_stock result) or a budget/target to centre the "
                     "candidate window on")


def _warehouse_levels(prob: StockingProblem, s_wh: Any, start: StockingResult) -> np.ndarray | None:
    """The warehouse levels held fixed: given, else the start's (None for one echelon)."""
    if not prob.two_echelon:
        return None
    s0 = np.broadcast_to(check_levels(s_wh, "s_wh"), (prob.P,)).astype(np.int64) if s_wh is not None else start.s_wh
    if s0 is None:
        raise ValueError("two-echelon problem: give s_wh= or a two-echelon start=")
    return s0


# ---------------------------------------------------------------------------------------
# Per-pair value tables over the window, and the model
# ---------------------------------------------------------------------------------------


@dataclass
class _Window:
    """Each pair's candidate levels ``lo..hi`` and the value of every unit increment.

    Column c of the increment tables is the unit lo+c -> lo+c+1, present when c < K; the
    increments ``ii, cc`` are flat, pair-major, c ascending within a pair.
    """

    lo: np.ndarray  # (A,) lowest level per pair
    hi: np.ndarray
    FR: np.ndarray  # (A, Kmax+1) fill rate at lo + column
    EBO: np.ndarray  # (A, Kmax+1) backorders at lo + column
    dfr: np.ndarray  # (A, Kmax) fill-rate increments
    valid: np.ndarray  # (A, Kmax) increment present
    ii: np.ndarray  # (N,) pair of each increment
    cc: np.ndarray  # (N,) column of each increment
    c_inc: np.ndarray  # (N,) cost of each increment
    wfill: np.ndarray  # (N,) demand-weighted fill gain
    webo: np.ndarray  # (N,) backorder reduction
    wh_inv: float  # warehouse investment (fixed)

    @property
    def N(self) -> int:
        return self.ii.size

    @property
    def A(self) -> int:
        return self.lo.size

    @property
    def Kmax(self) -> int:
        return self.dfr.shape[1]


def _window_tables(prob: StockingProblem, start: StockingResult, s0: np.ndarray | None, lim: _Limits) -> _Window:
    """Closed-form fill rates and backorders of every candidate level (one vectorised call)."""
    P = prob.P
    centre = np.asarray(start.s_dealer, dtype=np.int64)[prob.pp, prob.pj]
    lo = np.maximum(centre - lim.down, 0)
    hi = centre + lim.up
    K = hi - lo
    A = prob.plam.size
    wh_inv = float((prob.c * s0).sum()) if s0 is not None else 0.0
    _, _, mean, var = prob.pipeline(np.arange(P), s0 if s0 is not None else np.zeros(P))
    Kmax = int(K.max()) if A else 0
    lev = lo[:, None] + np.arange(Kmax + 1)[None, :]
    d = lead_time_law(mean[:, None], var[:, None])
    FR = d.cdf(lev - 1.0)
    EBO = d.loss(lev.astype(float))
    dfr = np.diff(FR, axis=1)
    debo = -np.diff(EBO, axis=1)
    valid = np.arange(Kmax)[None, :] < K[:, None]
    ii, cc = np.nonzero(valid)
    return _Window(lo=lo, hi=hi, FR=FR, EBO=EBO, dfr=dfr, valid=valid, ii=ii, cc=cc, c_inc=prob.pc[ii],
                   wfill=prob.plam[ii] * dfr[ii, cc], webo=debo[ii, cc], wh_inv=wh_inv)


def _build_model(prob: StockingProblem, win: _Window, lim: _Limits, objective: str):
    """The pulp MILP over the increments' binaries (built in bulk from the arrays): the
    model and the array of its binaries."""
    import pulp

    model = pulp.LpProblem("dealer_stock", pulp.LpMinimize)
    N = win.N
    if hasattr(model, "add_variable_dict"):  # pulp >= 3.3 (LpVariable(...) is deprecated there)
        ydict = model.add_variable_dict("y", range(N), cat=pulp.LpBinary)
    else:
        ydict = pulp.LpVariable.dicts("y", range(N), cat=pulp.LpBinary)
    y = np.empty(N, dtype=object)
    y[:] = [ydict[n] for n in range(N)]

    def expr(idx, coefs, const=0.0):
        return pulp.LpAffineExpression(list(zip(y[idx].tolist(), coefs.tolist())), constant=const)

    base_cost = float((prob.pc * win.lo).sum())
    if lim.targets:
        model += expr(np.arange(N), win.c_inc, win.wh_inv + base_cost), "investment"
    elif objective == "backorders":
        model += expr(np.arange(N), -win.webo, float(win.EBO[:, 0].sum())), "total_backorders"
    else:
        model += expr(np.arange(N), -win.wfill, -float((prob.plam * win.FR[:, 0]).sum())), "minus_weighted_fill"
    _add_limits(model, expr, prob, win, lim)
    if lim.targets or objective == "fill_rate":
        _add_ordering(model, y, win)
    return model, y


def _add_limits(model, expr, prob: StockingProblem, win: _Window, lim: _Limits) -> None:
    """Budget, tier budgets, shelf units and value per dealer, fill targets per tier."""
    import pulp

    N, lo, J = win.N, win.lo, prob.J
    c_inc = win.c_inc

    def grouped(keys, coefs, sense, rhs_by_key, label):
        order = np.argsort(keys, kind="stable")
        ks = keys[order]
        cuts = np.flatnonzero(np.diff(ks)) + 1
        for grp in np.split(order, cuts):
            if not grp.size:
                continue
            key = int(keys[grp[0]])
            if key not in rhs_by_key:
                continue
            e = expr(grp, coefs[grp])
            model.addConstraint(pulp.LpConstraint(e, sense, rhs=rhs_by_key[key]), f"{label}_{key}")

    inc_dealer = prob.pj[win.ii]
    inc_tier = prob.ptier[win.ii]
    base_cost = float((prob.pc * lo).sum())
    if lim.budget is not None:
        model.addConstraint(pulp.LpConstraint(expr(np.arange(N), c_inc), pulp.LpConstraintLE,
                                              rhs=lim.budget - win.wh_inv - base_cost), "budget")
    if lim.tb:
        base_t = {t: float((prob.pc * lo)[prob.ptier == t].sum()) for t in lim.tb}
        grouped(inc_tier, c_inc, pulp.LpConstraintLE, {t: v - base_t[t] for t, v in lim.tb.items()}, "tier_budget")
    if lim.su is not None:
        base_u = np.bincount(prob.pj, weights=lo, minlength=J)
        rhs = {j: float(lim.su[j] - base_u[j]) for j in range(J) if np.isfinite(lim.su[j])}
        grouped(inc_dealer, np.ones(N), pulp.LpConstraintLE, rhs, "shelf_units")
    if lim.sv is not None:
        base_v = np.bincount(prob.pj, weights=prob.pc * lo, minlength=J)
        rhs = {j: float(lim.sv[j] - base_v[j]) for j in range(J) if np.isfinite(lim.sv[j])}
        grouped(inc_dealer, c_inc, pulp.LpConstraintLE, rhs, "shelf_value")
    if lim.targets:
        rhs = {}
        for t, f in lim.targets.items():
            in_t = prob.ptier == t
            L = prob.plam[in_t].sum()
            if L > 0 and f > 0:
                rhs[t] = f * L * (1.0 + 1e-12) - float((prob.plam * win.FR[:, 0])[in_t].sum())
        grouped(inc_tier, win.wfill, pulp.LpConstraintGE, rhs, "fill_target")


def _add_ordering(model, y: np.ndarray, win: _Window) -> None:
    """y_{k+1} <= y_k only where the fill increments rise inside the window (below the mode)."""
    import pulp

    A, Kmax, valid = win.A, win.Kmax, win.valid
    rising = np.zeros(A, dtype=bool)
    if Kmax > 1:
        rising = np.any((np.diff(win.dfr, axis=1) > 1e-15) & valid[:, 1:], axis=1)
    if rising.any():
        pos = np.full((A, Kmax), -1, dtype=np.int64)
        pos[win.ii, win.cc] = np.arange(win.N)
        ri, rc = np.nonzero(rising[:, None] & valid[:, 1:])
        # the unit in column rc+1 may only be bought together with the one in column rc
        for a_, b_ in zip(pos[ri, rc + 1].tolist(), pos[ri, rc].tolist()):
            model.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression([(y[a_], 1.0), (y[b_], -1.0)]),
                                                  pulp.LpConstraintLE, rhs=0.0))


# ---------------------------------------------------------------------------------------
# Reading the answer
# ---------------------------------------------------------------------------------------


def _solver_info(model, out: solvers.SolveOutcome, win: _Window, build_s: float, window: tuple[int, int]) -> dict:
    """``StockingResult.solver_info``: the solver's verdict, model size and timings."""
    import pulp

    info = {"solver": out.solver, "objective": pulp.value(model.objective),
            "gap": out.gap if np.isfinite(out.gap) else None, "bound": out.bound,
            "status": out.status, "solver_status": out.solver_status, "has_solution": out.has_solution}
    if out.solver_runtime is not None:
        info["solver_runtime"] = out.solver_runtime  # HiGHS alone, without pulp's model transfer
    if out.note:
        info["note"] = out.note
    info.update(n_variables=win.N, n_constraints=model.numConstraints(), build_seconds=build_s,
                solve_seconds=out.seconds, window=window)
    return info


def _chosen_levels(y: np.ndarray, win: _Window) -> np.ndarray:
    """Level per pair: the window's lowest plus the increments bought."""
    yv = np.array([v.varValue or 0.0 for v in y.tolist()]) if win.N else np.zeros(0)
    return win.lo + np.bincount(win.ii, weights=np.round(yv), minlength=win.A).astype(np.int64)


def _with_reachable_service(msg: str, prob: StockingProblem, lim: _Limits, s0, start, window, solver,
                            time_limit, mip_gap, threads) -> str:
    """The infeasibility message, with the fill rates the limits allow within the same window
    (a plan maximising demand-weighted fill), when that plan can be found."""
    try:
        best = optimize_stock_milp(
            prob.c, prob.lam, prob.T, prob.T0, dealer_tier=prob.tier, budget=lim.budget, tier_budget=lim.tb or None,
            shelf_units=lim.su, shelf_value=lim.sv, objective="fill_rate", s_wh=s0, start=start, window=window,
            demand_vmr=prob.vmr, method=prob.method, solver=solver, time_limit=time_limit,
            mip_gap=mip_gap, threads=threads)
    except (InfeasiblePlanError, RuntimeError):
        return msg
    reach = ", ".join(f"tier {t}: {v:.4f}" for t, v in best.tier_fill_rate.items())
    return msg.replace("; relax a limit", f"; within the limits the window reaches fill rates of {reach} "
                       f"(plan maximising demand-weighted fill, {best.status.lower()}); relax a limit")


def _milp_infeasible_message(prob: StockingProblem, win: _Window, lim: _Limits) -> str:
    """What is reachable inside the candidate window, limit by limit."""
    lo, hi, FR, wh_inv = win.lo, win.hi, win.FR, win.wh_inv
    targets, budget, tb, su = lim.targets, lim.budget, lim.tb, lim.su
    parts = ["no stock levels within the candidate window meet all constraints"]
    lo_cost = float((prob.pc * lo).sum())
    if budget is not None and wh_inv + lo_cost > budget:
        parts.append(f"the lowest levels in the window already cost {wh_inv + lo_cost:,.2f} "
                     f"(warehouse {wh_inv:,.2f}) against a budget of {budget:,.2f}")
    if su is not None:
        need_u = np.bincount(prob.pj, weights=lo, minlength=prob.J)
        over = np.flatnonzero(need_u > su)
        if over.size:
            parts.append(f"{over.size} dealer(s) need more shelf units than allowed even at the window's lowest "
                         f"levels (e.g. dealer index {over[0]}: {need_u[over[0]]:.0f} > {su[over[0]]:.0f})")
    if targets:
        Kmax = FR.shape[1] - 1
        top = FR[np.arange(lo.size), np.minimum(hi - lo, Kmax)]
        reach = []
        for t, f in targets.items():
            in_t = prob.ptier == t
            L = prob.plam[in_t].sum()
            if L > 0:
                fr_max = float((prob.plam * top)[in_t].sum() / L)
                lo_cost_t = float((prob.pc * lo)[in_t].sum())
                reach.append(f"tier {t}: at most {fr_max:.4f} (target {f:g})")
                if t in tb and lo_cost_t > tb[t]:
                    parts.append(f"tier {t}'s budget {tb[t]:,.2f} is below the window's lowest levels ({lo_cost_t:,.2f})")
        parts.append("without the limits the window reaches fill rates of " + ", ".join(reach))
    parts.append("relax a limit (e.g. raise the budget to what optimize_stock reports for the targets), lower "
                 "the targets, or widen window=(down, up)")
    return "; ".join(parts) + "."
