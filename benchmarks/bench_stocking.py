"""Benchmark of partsforecast.stocking on a synthetic dealer network.

Run:  python benchmarks/bench_stocking.py [--parts 5000] [--dealers 300] [--skip-milp]

Prints wall-clock times and plan figures for
  * the building blocks and the METRIC evaluation on every (part, dealer) pair,
  * optimize_stock side by side, the frontier algorithm (default) against the greedy
    marginal analysis, both in this process on the same networks: two echelons with tier
    fill-rate targets on a sparse network (most dealer lead-time demands far below one unit,
    as for spare parts) and a dense one (ten times the volume per part) -- time, investment,
    expected backorders, the Lagrangian bound and the gap to it,
  * wait targets, a budget run and a single-echelon run (frontier algorithm),
  * optimize_stock_milp with a shelf-value limit per dealer on a sub-network (HiGHS and CBC).

The requirement checked is "the national optimise stage (300 dealers x 5,000 parts, tier
targets) in under 20 s".  ``--only-national`` runs the side-by-side comparison alone.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from partsforecast import stocking as sk

TARGETS = {1: 0.95, 2: 0.93, 3: 0.90, 4: 0.90}


def make_network(P: int, J: int, log_volume: float, seed: int = 7):
    """Parts x dealers demand rates (per day), costs, lead times and tiers.

    Network volume per part is lognormal (a few fast movers, a long tail of slow ones);
    dealers differ in size by tier (tier 1 = provincial capital, 4 = county); ~40% of
    (part, dealer) pairs have no demand (machine models a dealer does not serve).
    """
    rng = np.random.default_rng(seed)
    tier = np.sort(rng.choice([1, 2, 3, 4], size=J, p=[0.1, 0.2, 0.3, 0.4]))
    size = rng.lognormal(0.0, 0.4, J) * np.array([0, 3.0, 1.5, 1.0, 0.6])[tier]
    size /= size.sum()
    volume = rng.lognormal(log_volume, 1.5, P)  # units/day over the whole network
    lam = volume[:, None] * size[None, :] * rng.gamma(2.0, 0.5, (P, J)) * (rng.random((P, J)) < 0.6)
    unit_cost = rng.lognormal(4.0, 1.3, P)
    transport = np.array([0, 2.0, 4.0, 6.0, 9.0])[tier] + rng.uniform(0, 2, J)
    factory = rng.uniform(14, 90, P)
    return {"unit_cost": unit_cost, "dealer_demand_rate": lam, "dealer_lead_time": transport,
            "wh_lead_time": factory, "dealer_tier": tier}


def timed(label, fn, rows):
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    rows.append((label, dt, out))
    return out, dt


def describe(res: sk.StockingResult) -> str:
    tiers = " ".join(f"{t}:{v:.4f}" for t, v in res.tier_fill_rate.items())
    bound = ""
    if res.gap is not None:
        bound = f"; gap to bound {res.gap:.3%}{'' if res.bound_exact else ' (levels searched)'}"
    return (f"investment {res.investment:,.0f} (wh {res.wh_investment:,.0f}); fill by tier {tiers}; "
            f"system fill {res.system_fill_rate:.4f}; wait {res.expected_wait:.3f} d; "
            f"backorders {res.total_backorders:,.1f}{bound}")


def side_by_side(networks: dict, rows: list) -> None:
    """Frontier against greedy on each network, tier fill-rate targets, same process."""
    print("optimize_stock, two echelons, tier fill-rate targets 0.95/0.93/0.90/0.90 (vmr 1.5):")
    print(f"  {'network':7s} {'algorithm':9s} {'seconds':>8s} {'investment':>14s} {'backorders':>11s} "
          f"{'bound on investment':>20s} {'gap':>8s}")
    for name, net in networks.items():
        res = {}
        for algo in ("greedy", "frontier"):
            r, dt = timed(f"{name} {algo}", lambda net=net, algo=algo: sk.optimize_stock(
                **net, fill_rate_targets=TARGETS, demand_vmr=1.5, algorithm=algo), rows)
            cert = r.solver_info.get("certificate_seconds", 0.0)
            res[algo] = (r, dt - cert)
            note = f"  (+{cert:.1f} s for its bound)" if cert else ""
            print(f"  {name:7s} {algo:9s} {dt - cert:8.2f} {r.investment:14,.0f} {r.total_backorders:11,.1f} "
                  f"{r.investment_lower_bound:20,.0f} {r.gap:8.3%}{note}")
        g, f = res["greedy"][0], res["frontier"][0]
        flag = "OK" if res["frontier"][1] < 20 else "OVER 20 s"
        print(f"  {name:7s} frontier vs greedy: investment {f.investment / g.investment - 1:+.3%}, "
              f"backorders {f.total_backorders / g.total_backorders - 1:+.2%}, time "
              f"{res['frontier'][1]:.1f} s vs {res['greedy'][1]:.1f} s [{flag}]")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", type=int, default=5000)
    ap.add_argument("--dealers", type=int, default=300)
    ap.add_argument("--skip-milp", action="store_true")
    ap.add_argument("--only-national", action="store_true")
    args = ap.parse_args()
    P, J = args.parts, args.dealers
    rows: list = []
    print(f"partsforecast.stocking benchmark: {P} parts x {J} dealers "
          f"(requirement: tier-target plan in < 20 s)\n")

    sparse = make_network(P, J, log_volume=-1.0)
    dense = make_network(P, J, log_volume=1.3)
    side_by_side({"sparse": sparse, "dense": dense}, rows)
    if args.only_national:
        return
    for name, net in (("sparse", sparse), ("dense", dense)):
        lam = net["dealer_demand_rate"]
        mu = lam * net["dealer_lead_time"][None, :]
        print(f"{name:6s} network: {int((lam > 0).sum()):,} pairs with demand; dealer lead-time demand "
              f"mean {mu[lam > 0].mean():.3f}, 99th pct {np.quantile(mu[lam > 0], 0.99):.2f}, max {mu.max():.1f}; "
              f"warehouse pipeline max {(lam.sum(1) * net['wh_lead_time']).max():.0f}")
    print()

    # building blocks and evaluation on every pair
    mu = (dense["dealer_demand_rate"] * dense["dealer_lead_time"][None, :]).ravel()
    s = np.ceil(mu + 2 * np.sqrt(mu)).astype(int)
    timed("expected_backorders, Poisson, all pairs", lambda: sk.expected_backorders(s, mu), rows)
    timed("expected_backorders, NB (var = 2 x mean)", lambda: sk.expected_backorders(s, mu, 2 * mu), rows)
    timed("base_stock_level(fill_rate=0.95), Poisson", lambda: sk.base_stock_level(mu, fill_rate=0.95), rows)
    s_d = np.ceil(dense["dealer_demand_rate"] * 20).astype(int)
    s_w = np.ceil(dense["dealer_demand_rate"].sum(1) * dense["wh_lead_time"]).astype(int)
    timed("metric_evaluate (VARI-METRIC), all pairs",
          lambda: sk.metric_evaluate(s_w, s_d, dense["dealer_demand_rate"], dense["wh_lead_time"],
                                     dense["dealer_lead_time"], demand_vmr=1.5), rows)
    for label, dt, _ in rows:
        print(f"  {label:55s} {dt:7.2f} s")
    print()

    runs = [
        ("sparse, two echelons, tier fill targets", lambda: sk.optimize_stock(**sparse, fill_rate_targets=TARGETS,
                                                                              demand_vmr=1.5)),
        ("sparse, two echelons, wait target 1 day", lambda: sk.optimize_stock(**sparse, wait_targets=1.0,
                                                                              demand_vmr=1.5)),
        ("sparse, single echelon, tier fill targets",
         lambda: sk.optimize_stock(**{**sparse, "wh_lead_time": None}, fill_rate_targets=TARGETS, demand_vmr=1.5)),
    ]
    results = {}
    for label, fn in runs:
        res, dt = timed(label, fn, rows)
        results[label] = res
        flag = "OK" if dt < 20 else "OVER 20 s"
        print(f"  {label:45s} {dt:7.2f} s  [{flag}]\n      {describe(res)}")
    need = results["sparse, two echelons, tier fill targets"].investment
    res, dt = timed("budget", lambda: sk.optimize_stock(**sparse, budget=0.8 * need, demand_vmr=1.5), rows)
    print(f"  {'sparse, two echelons, budget = 80% of targets':45s} {dt:7.2f} s\n      {describe(res)}")
    try:
        sk.optimize_stock(**sparse, fill_rate_targets=TARGETS, demand_vmr=1.5, budget=0.8 * need)
    except sk.InfeasiblePlanError as exc:
        print(f"\n  infeasible request (targets with 80% of the budget they need):\n      {exc}")

    if not args.skip_milp:
        print()
        p, j = min(P, 300), min(J, 30)
        sub = make_network(p, j, log_volume=-1.0, seed=11)
        g, dt = timed("greedy start", lambda: sk.optimize_stock(**sub, fill_rate_targets=TARGETS), rows)
        value = (sub["unit_cost"][:, None] * g.s_dealer).sum(0)
        cap = np.where(np.arange(j) % 3 == 0, 0.95 * value, np.inf)  # every third dealer: 5% less shelf value
        print(f"  MILP sub-network {p} parts x {j} dealers, shelf value -5% at {int(np.isfinite(cap).sum())} dealers "
              f"(greedy start {dt:.2f} s, investment {g.investment:,.0f})")
        for solver in ("highs", "cbc"):
            res, dt = timed(f"milp {solver}", lambda solver=solver: sk.optimize_stock_milp(
                **sub, fill_rate_targets=TARGETS, start=g, shelf_value=cap, solver=solver, time_limit=30), rows)
            i = res.solver_info
            gap = "n/a" if i["gap"] is None else f"{i['gap']:.3%}"
            print(f"    {i['solver']:6s} {dt:6.2f} s total (build {i['build_seconds']:.2f} s, solve "
                  f"{i['solve_seconds']:.2f} s): {res.status} ({i['solver_status']}); gap {gap}; {i['n_variables']:,} binaries, "
                  f"{i['n_constraints']:,} constraints; investment {res.investment:,.0f}; fill by tier "
                  + " ".join(f"{t}:{v:.4f}" for t, v in res.tier_fill_rate.items()))

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
