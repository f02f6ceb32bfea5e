"""The finishing step: the exact choice among the plans the Lagrangian bound leaves open.

A Lagrangian plan meets the targets with up to one step too many per tier (or leaves some of
the budget unspent), and a part's frontier between two of its Lagrangian solutions is not
convex.  The gap between the plan and the bound limits how far any better plan can stray
from the Lagrangian solution: with ``Delta`` the excess of a part's choice over its own
Lagrangian minimum, every plan better than the incumbent has ``sum_p Delta_p <= gap``
(reduced-cost fixing; e.g. Fisher 1981).  So only the warehouse levels whose excess fits in
the gap, and only the dealer levels whose own excess fits in what is left, can differ from the
Lagrangian plan.  :func:`finish` builds the MILP over exactly those choices -- one binary per
open warehouse level and per open dealer level -- and solves it through
:mod:`partsforecast.solvers`.  Its optimum is the optimum over every plan built from the
frontier's rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from partsforecast import solvers
from partsforecast.stocking.formulas import lead_time_law
from partsforecast.stocking.frontier import Frontier, block_spans
from partsforecast.stocking.multipliers import DualSolution
from partsforecast.stocking.problem import StockingProblem

__all__ = ["Finish", "finish", "plan_levels"]

#: Dealer levels examined on either side of a pair's Lagrangian level, at most.
_MAX_SPAN = 60


@dataclass
class Finish:
    """The finishing step's plan: row per part, dealer level per (row, pair) for the open
    pairs, and what happened (``info``)."""

    choice: np.ndarray
    levels: dict  # (row, pair) -> level for the open pairs of chosen rows
    cost: float
    service: np.ndarray
    info: dict


def plan_levels(prob: StockingProblem, fr: Frontier, choice: np.ndarray, take: np.ndarray,
                override: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Warehouse levels (P,) and dealer levels per active pair of rows ``choice`` with the
    entries ``take`` (indices or a mask; those of other rows are ignored) and levels in
    ``override`` for some (row, pair)."""
    take = np.flatnonzero(take) if take.dtype == bool else take
    on = np.zeros(fr.R, dtype=bool)
    on[choice] = True
    sel = take[on[fr.e_row[take]]]
    s_pairs = np.bincount(fr.e_pair[sel], weights=fr.e_units[sel], minlength=prob.plam.size).astype(np.int64)
    if override:
        for (_, g), s in override.items():
            s_pairs[g] = s
    return fr.row_s0[choice].astype(np.int64), s_pairs


def _open_pairs(prob: StockingProblem, fr: Frontier, theta: np.ndarray, rows: np.ndarray, rem: np.ndarray,
                eps_sat: float):
    """Dealer slots of ``rows`` whose level may differ from the Lagrangian one: the least
    excess of another level, read off the hull steps, fits in the row's remaining gap.

    A slot's steps are stored in level order with falling ratios, so its Lagrangian steps are
    the first ``n`` of them; one step down costs at least the last one's excess per unit, one
    step up at least the next one's (the hull is convex), or past the recorded steps at least
    ``c (1 - theta floor)`` per unit (every later step has a ratio below the floor) less what
    saturation leaves."""
    pos = np.full(fr.R, -1, dtype=np.int64)
    pos[rows] = np.arange(rows.size)
    took = fr.taken(theta)
    n_all = np.bincount(fr.e_slot[took], minlength=fr.slot_row.size)
    out = []
    # slots in blocks: a national frontier has millions of slots, few of them open
    for a, b in block_spans(fr.slot_row.size):
        ks = a + np.flatnonzero(pos[fr.slot_row[a:b]] >= 0)
        if ks.size:
            out.append(_open_in(prob, fr, theta, pos, rem, eps_sat, ks, n_all[ks]))
    del n_all
    ks, down, up, r_rem = (np.concatenate([o[i] for o in out]) if out else np.zeros(0, dtype=float if i else np.int64)
                           for i in range(4))
    return ks, _levels_of(fr, ks, took), down, up, r_rem


def _open_in(prob: StockingProblem, fr: Frontier, theta: np.ndarray, pos: np.ndarray, rem: np.ndarray,
             eps_sat: float, ks: np.ndarray, n: np.ndarray):
    """:func:`_open_pairs` for slots ``ks`` (``n`` Lagrangian steps each): the open ones, with
    their least excess per unit down and up and their row's remaining gap."""
    start, end = fr.slot_ptr[ks], fr.slot_ptr[ks + 1]
    g = fr.slot_pair[ks]
    tix = fr.pair_tix[g]
    last = start + n - 1
    nxt = start + n
    has_last = n > 0
    has_next = nxt < end
    down = np.full(ks.size, np.inf)
    up = np.full(ks.size, np.inf)
    li, ni = last[has_last], nxt[has_next]
    down[has_last] = (theta[fr.e_tier[li]] * fr.e_gain[li] - fr.e_cost[li]) / fr.e_units[li]
    up[has_next] = (fr.e_cost[ni] - theta[fr.e_tier[ni]] * fr.e_gain[ni]) / fr.e_units[ni]
    c = prob.pc[g]
    unit_gain = prob.plam[g] if fr.obj == "fill" else np.ones(ks.size)
    beyond = np.maximum(c * (1.0 - theta[tix] * fr.floor[tix]) - theta[tix] * unit_gain * eps_sat, 0.0)
    up = np.where(has_next, up, beyond)
    down = np.maximum(down, 0.0)
    up = np.maximum(up, 0.0)
    r_rem = rem[pos[fr.slot_row[ks]]]
    open_ = np.minimum(up, down) <= r_rem
    return ks[open_], down[open_], up[open_], r_rem[open_]


def _levels_of(fr: Frontier, ks: np.ndarray, took: np.ndarray) -> np.ndarray:
    """Lagrangian level of slots ``ks``: the units of their steps taken."""
    lv = np.bincount(fr.e_slot[took], weights=fr.e_units[took], minlength=fr.slot_row.size)
    return lv[ks].astype(np.int64)


def _level_range(level: np.ndarray, down: np.ndarray, up: np.ndarray, rem: np.ndarray):
    """Lowest and highest level of open slots whose excess may fit in ``rem``: the hull
    bounds the excess by ``down`` / ``up`` per unit below / above the Lagrangian level."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        n_dn = np.where(down > 0, np.floor(rem / down), level)
        n_up = np.where(up > 0, np.floor(rem / up), _MAX_SPAN)
    lo = np.maximum(level - np.minimum(n_dn, _MAX_SPAN), 0).astype(np.int64)
    hi = (level + np.minimum(n_up, _MAX_SPAN)).astype(np.int64)
    return lo, hi


def _level_options(prob: StockingProblem, fr: Frontier, theta: np.ndarray, k: np.ndarray, level: np.ndarray,
                   lo: np.ndarray, hi: np.ndarray, rem: np.ndarray):
    """For open slots ``k``: every level in lo..hi whose excess over the Lagrangian level fits
    in ``rem``, with its cost and service (closed form).  Returns flat arrays over options."""
    cnt = hi - lo + 1
    which = np.repeat(np.arange(k.size), cnt)
    s = np.repeat(lo, cnt) + np.arange(which.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    kk = k[which]
    g = fr.slot_pair[kk]
    mean, var = fr.slot_moments(prob, kk)
    d = lead_time_law(mean, var)
    sf = s.astype(float)
    if fr.obj == "fill":
        serv = prob.plam[g] * d.cdf(sf - 1)
    else:
        serv = mean - d.loss(sf)
    cost = prob.pc[g] * sf
    tix = fr.pair_tix[g]
    phi = cost - theta[tix] * serv
    # excess over the Lagrangian level
    at = np.flatnonzero(s == level[which])
    ref = np.zeros(k.size)
    ref[which[at]] = phi[at]
    keep = phi - ref[which] <= rem[which] * (1 + 1e-9) + 1e-9 * np.abs(ref[which])
    return which[keep], s[keep], cost[keep], serv[keep], tix[keep]


def finish(prob: StockingProblem, fr: Frontier, dual: DualSolution, mode: str, required: np.ndarray | None,
           budget: float | None, eps_sat: float, *, max_binaries: int = 50_000, max_rows: int = 20_000,
           time_limit: float = 30.0) -> Finish | None:
    """The best plan over the frontier's rows (see the module docstring), or ``None`` when the
    open choices are too many for the MILP (``max_binaries``) or the solver finds nothing
    better than the incumbent."""
    import pulp

    theta, val = dual.theta, dual.values
    vmin = np.minimum.reduceat(val, fr.part_ptr[:-1])
    if mode == "targets":
        slack = dual.cost - dual.bound
    else:
        slack = float(theta.max()) * (dual.bound - float(dual.service.sum()))
    slack = max(slack, 0.0) * (1 + 1e-9) + 1e-9 * max(abs(float(vmin.sum())), abs(dual.cost), 1.0)
    delta = val - vmin[fr.row_part]
    rows = np.flatnonzero(delta <= slack)
    rem = slack - delta[rows]
    if rows.size > max_rows:
        return None  # the gap leaves too much open: large systems, where it is negligible
    k, level, down, up, r_rem = _open_pairs(prob, fr, theta, rows, rem, eps_sat)
    lo, hi = _level_range(level, down, up, r_rem)
    n_bin = int(rows.size + (hi - lo + 1).sum())
    info = {"open_rows": int(rows.size), "open_pairs": int(k.size), "binaries": n_bin, "slack": slack}
    if n_bin > max_binaries:
        info["skipped"] = f"{n_bin} binaries > {max_binaries}"
        return None
    which, s, o_cost, o_serv, o_tier = _level_options(prob, fr, theta, k, level, lo, hi, r_rem)
    info["binaries"] = int(rows.size + which.size)

    # row constants: warehouse, the dealers' Lagrangian steps, less those of the open pairs
    took = fr.taken(theta)
    open_slot = np.zeros(fr.slot_row.size, dtype=bool)
    open_slot[k] = True
    fixed = np.flatnonzero(took & ~open_slot[fr.e_slot])
    pos = np.full(fr.R, -1, dtype=np.int64)
    pos[rows] = np.arange(rows.size)
    fixed = fixed[pos[fr.e_row[fixed]] >= 0]
    at = pos[fr.e_row[fixed]]
    T = fr.tiers.size
    r_cost = fr.row_wh_cost[rows] + np.bincount(at, weights=fr.e_cost[fixed], minlength=rows.size)
    r_serv = fr.row_base[rows] + np.bincount(at * T + fr.e_tier[fixed], weights=fr.e_gain[fixed],
                                              minlength=rows.size * T).reshape(rows.size, T)

    model = pulp.LpProblem("finish", pulp.LpMinimize)
    z = _binaries(model, "z", rows.size)
    y = _binaries(model, "y", which.size)
    slot_pos = np.full(fr.slot_row.size, -1, dtype=np.int64)
    slot_pos[k] = np.arange(k.size)
    row_pos = np.full(fr.R, -1, dtype=np.int64)
    row_pos[rows] = np.arange(rows.size)
    y_row = row_pos[fr.slot_row[k[which]]]
    cost_terms = list(zip(z.tolist(), r_cost.tolist())) + list(zip(y.tolist(), o_cost.tolist()))
    serv_terms = [list(zip(z.tolist(), r_serv[:, t].tolist())) + list(zip(y[o_tier == t].tolist(), o_serv[o_tier == t].tolist()))
                  for t in range(T)]
    if mode == "targets":
        model += pulp.LpAffineExpression(cost_terms), "investment"
        for t in range(T):
            model += pulp.LpConstraint(pulp.LpAffineExpression(serv_terms[t]), pulp.LpConstraintGE,
                                       rhs=float(required[t])), f"service_{t}"
    else:
        model += pulp.LpAffineExpression([(v, -a) for terms in serv_terms for v, a in terms]), "minus_service"
        model += pulp.LpConstraint(pulp.LpAffineExpression(cost_terms), pulp.LpConstraintLE, rhs=float(budget)), "budget"
    # one row per part, one level per open pair of a chosen row
    rp = fr.row_part[rows]
    for p in np.unique(rp):
        members = np.flatnonzero(rp == p)
        model += pulp.LpConstraint(pulp.LpAffineExpression([(z[m], 1.0) for m in members]), pulp.LpConstraintEQ,
                                   rhs=1.0)
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(k.size + 1))
    for i in range(k.size):
        opts = order[bounds[i]:bounds[i + 1]]
        terms = [(y[o], 1.0) for o in opts] + [(z[row_pos[fr.slot_row[k[i]]]], -1.0)]
        model += pulp.LpConstraint(pulp.LpAffineExpression(terms), pulp.LpConstraintEQ, rhs=0.0)
    del y_row, slot_pos
    out = solvers.solve(model, "highs", time_limit=time_limit, mip_gap=1e-9)
    info.update({"status": out.status, "solver": out.solver, "solver_status": out.solver_status, "gap": out.gap,
                 "seconds": out.seconds})
    if not out.has_solution:
        return Finish(dual.choice, {}, dual.cost, dual.service, info)
    zv = np.array([v.varValue or 0.0 for v in z]) > 0.5
    yv = np.array([v.varValue or 0.0 for v in y]) > 0.5
    choice = dual.choice.copy()
    choice[fr.row_part[rows[zv]]] = rows[zv]
    levels = {}
    for o in np.flatnonzero(yv):
        slot = k[which[o]]
        if zv[row_pos[fr.slot_row[slot]]]:
            levels[(int(fr.slot_row[slot]), int(fr.slot_pair[slot]))] = int(s[o])
    cost = float(r_cost[zv].sum() + o_cost[yv].sum())
    serv = r_serv[zv].sum(axis=0) + np.bincount(o_tier[yv], weights=o_serv[yv], minlength=T)
    return Finish(choice, levels, cost, serv, info)


def _binaries(model, name: str, n: int) -> np.ndarray:
    import pulp

    if hasattr(model, "add_variable_dict"):  # pulp >= 3.3
        d = model.add_variable_dict(name, range(n), cat=pulp.LpBinary)
    else:
        d = pulp.LpVariable.dicts(name, range(n), cat=pulp.LpBinary)
    out = np.empty(n, dtype=object)
    out[:] = [d[i] for i in range(n)]
    return out
