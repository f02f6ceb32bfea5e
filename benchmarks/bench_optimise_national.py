"""The plan's optimise stage at national scale: the frontier algorithm against the greedy.

Run:  python benchmarks/bench_optimise_national.py [--machines 60000] [--dealers 300] [--parts 5000]

Generates a national fleet (``make_fleet``), fits the failure models and forecasts demand as
``partsforecast plan`` does, then runs the plan's stocking call -- the same demand rates,
lead times, tiers and targets -- with both algorithms in this process, one after the other,
and prints their times, investments, expected backorders and bounds.  The requirement
checked: the frontier algorithm's optimise call under 20 s.
"""

from __future__ import annotations

import argparse
import time

from partsforecast import FailureModel, forecast_demand, make_fleet
from partsforecast import plan as plan_module
from partsforecast.stocking import optimize_stock


def check_search(a, kw, res) -> None:
    """Every warehouse level of every part at the frontier plan's final multipliers, against
    the levels its search found: how much the bound moves when nothing is left unsearched."""
    import numpy as np

    from partsforecast.stocking import frontier as F
    from partsforecast.stocking.problem import prepare_problem

    t = time.perf_counter()
    prob = prepare_problem(*a, kw["demand_vmr"], kw["dealer_tier"], kw.get("method", "vari-metric"))
    sat = F.saturation_levels(prob)
    tiers, tix = F.tier_index(prob)
    theta = np.array([res.multipliers[int(x)] for x in tiers])
    table = F.warehouse_table(prob, sat)
    found = F.search_warehouse(prob, "fill", theta, sat, table=table)
    pairs = F._pairs(prob, F._live_for(prob, "fill", theta[tix]))
    base = F._base(prob, "fill", tix, tiers.size)

    def values(part, s0):
        return F._row_values(prob, "fill", theta, theta[tix], pairs, base, part, s0, None, table)

    v_found = values(np.arange(prob.P), found)
    v_all = v_found.copy()
    long = np.flatnonzero(sat > F.FULL_RANGE)
    for chunk in np.array_split(long, max(long.size // 25, 1)):
        part = np.repeat(chunk, sat[chunk] + 1)
        s0 = np.arange(part.size) - np.repeat(np.cumsum(sat[chunk] + 1) - (sat[chunk] + 1), sat[chunk] + 1)
        v = values(part, s0)
        np.minimum.at(v_all, part, v)
    missed = v_found - v_all
    print(f"warehouse search against every level ({long.size:,} parts with more than {F.FULL_RANGE} levels, "
          f"{time.perf_counter() - t:.0f} s): {int((missed > 1e-6 * np.abs(v_all) + 1e-6).sum())} parts "
          f"off their best level; the bound would fall by {missed.sum():,.2f} "
          f"({missed.sum() / res.investment_lower_bound:.1e} of it)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--machines", type=int, default=60_000)
    ap.add_argument("--dealers", type=int, default=300)
    ap.add_argument("--parts", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    t = time.perf_counter()
    fleet = make_fleet(n_machines=args.machines, n_dealers=args.dealers, n_parts=args.parts, seed=args.seed)
    fc = forecast_demand(FailureModel().fit(fleet), fleet, horizon=12)
    print(f"national fleet: {args.machines:,} machines, {args.dealers} dealers, {args.parts:,} parts "
          f"(generated, fitted and forecast in {time.perf_counter() - t:.0f} s)")

    calls: list = []

    def capture(*a, **kw):  # the plan's own stocking call, recorded and run once
        calls.append((a, kw))
        return optimize_stock(*a, **kw)

    plan_module.optimize_stock = capture
    try:
        plan_module.plan_stock(fc, fleet)
    finally:
        plan_module.optimize_stock = optimize_stock
    a, kw = calls[0]
    print(f"stocking problem: {len(a[0]):,} parts x {a[1].shape[1]} dealers, "
          f"{int((a[1] > 0).sum()):,} (part, dealer) pairs with demand; tier targets {kw['fill_rate_targets']}")
    print(f"  {'algorithm':9s} {'seconds':>8s} {'investment':>14s} {'backorders':>11s} {'system fill':>11s} "
          f"{'investment bound':>17s} {'gap':>8s}")
    res = {}
    for algo in ("greedy", "frontier"):
        t = time.perf_counter()
        r = optimize_stock(*a, **{**kw, "algorithm": algo})
        dt = time.perf_counter() - t
        cert = r.solver_info.get("certificate_seconds", 0.0)
        res[algo] = (r, dt - cert)
        extra = f"  (+{cert:.1f} s for its bound)" if cert else ""
        print(f"  {algo:9s} {dt - cert:8.2f} {r.investment:14,.0f} {r.total_backorders:11,.1f} "
              f"{r.system_fill_rate:11.4f} {r.investment_lower_bound:17,.0f} {r.gap:8.3%}{extra}")
    g, f = res["greedy"][0], res["frontier"][0]
    check_search(a, kw, f)
    flag = "OK" if res["frontier"][1] < 20 else "OVER 20 s"
    print(f"frontier vs greedy: investment {f.investment / g.investment - 1:+.3%}, backorders "
          f"{f.total_backorders / g.total_backorders - 1:+.2%}, time {res['frontier'][1]:.1f} s vs "
          f"{res['greedy'][1]:.1f} s [{flag}]")


if __name__ == "__main__":
    main()
