"""Benchmark of the transfer optimisation (partsforecast.transfers.plan_transfers).

Run::

    python benchmarks/bench_transfers.py                       # 200 dealers x 200 parts
    python benchmarks/bench_transfers.py --dealers 50 --parts 50 --time-limit 10
    python benchmarks/bench_transfers.py --solver cbc

Lanes come from a synthetic fleet (``partsforecast.samples.generate_tables``: the factory
to every dealer plus dealer-to-dealer lanes between neighbours); stock levels are made up
for the full (dealer x part) grid: targets ~ Poisson, on hand from 3 below to 2 above the
target (more short than surplus), some stock on order, and a factory holding 10-110 % of
each part's combined dealer gap, so that some parts are scarce and must be shared.  Prints model size and build / solve seconds end to end, without and with
fixed shipment costs (the MILP runs under ``--time-limit``).  ``build s`` covers input
checks, the model arrays and the pulp objects; ``solve s`` loading into the solver, solving
and reading the plan back.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from partsforecast.samples import generate_tables
from partsforecast import transfers
from partsforecast.transfers import plan_transfers


def make_instance(n_dealers: int = 200, n_parts: int = 200, seed: int = 0):
    """(levels, lanes, warehouse_id, as_of, tiers, unit_cost) of a synthetic transfer problem."""
    tables, _, as_of = generate_tables(n_machines=max(500, 10 * n_dealers),
                                       n_dealers=n_dealers, n_parts=n_parts, seed=seed)
    loc, lanes, parts = tables["locations"], tables["lanes"], tables["parts"]
    wh = str(loc.loc[loc["kind"] == "warehouse", "location_id"].iloc[0])
    dealers = loc.loc[loc["kind"] == "dealer", "location_id"].to_numpy(dtype=object)
    pn = parts["part_number"].to_numpy(dtype=object)
    rng = np.random.default_rng(seed)
    D, P = dealers.size, pn.size
    # demand scale per dealer and per part -> target per (dealer, part)
    scale = rng.gamma(2.0, 0.5, D)[:, None] * rng.gamma(1.5, 1.0, P)[None, :]
    target = rng.poisson(scale + 0.3)
    on_hand = np.maximum(target + rng.integers(-3, 3, (D, P)), 0)
    on_order = rng.binomial(1, 0.1, (D, P)) * rng.integers(1, 3, (D, P))
    gaps = np.maximum(target - on_hand - on_order, 0).sum(axis=0)
    # the factory holds 10-110 % of each part's total dealer gap
    wh_on_hand = np.floor(gaps * rng.uniform(0.1, 1.1, P)).astype(np.int64)
    wh_target = np.floor(wh_on_hand * rng.uniform(0.0, 0.8, P)).astype(np.int64)
    levels = pd.concat([
        pd.DataFrame({"location_id": np.repeat(dealers, P), "part_number": np.tile(pn, D),
                      "target": target.ravel(), "on_hand": on_hand.ravel(),
                      "on_order": on_order.ravel()}),
        pd.DataFrame({"location_id": wh, "part_number": pn, "target": wh_target,
                      "on_hand": wh_on_hand, "on_order": 0}),
    ], ignore_index=True)
    levels = levels.astype({"location_id": "str", "part_number": "str"})
    tiers = loc.set_index("location_id")["tier"]
    unit_cost = parts.set_index("part_number")["unit_cost"]
    return levels, lanes, wh, as_of, tiers, unit_cost


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dealers", type=int, default=200)
    ap.add_argument("--parts", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--solver", default="highs", choices=["highs", "cbc"])
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--mip-gap", type=float, default=1e-3)
    ap.add_argument("--pulp-highs", action="store_true",
                    help="load the model into HiGHS through pulp's own per-column HiGHS "
                         "interface instead of in bulk from the model arrays (to compare)")
    ap.add_argument("--lp-only", action="store_true", help="skip the fixed-cost MILP")
    args = ap.parse_args(argv)
    transfers._BULK_HIGHS = not args.pulp_highs

    t = time.perf_counter()
    levels, lanes, wh, as_of, tiers, unit_cost = make_instance(args.dealers, args.parts,
                                                               args.seed)
    print(f"instance: {args.dealers} dealers x {args.parts} parts, {len(levels):,} level rows, "
          f"{len(lanes):,} lanes ({time.perf_counter() - t:.2f}s to make)")
    print(f"{'fixed costs':>12} {'status':>10} {'gap':>8} {'vars':>8} {'int':>7} {'rows':>7} "
          f"{'build s':>8} {'solve s':>8} {'total s':>8} {'moves':>6} {'units':>7} "
          f"{'unmet':>6} {'objective':>14}")
    for fixed in (False,) if args.lp_only else (False, True):
        t = time.perf_counter()
        plan = plan_transfers(levels, lanes, wh, as_of, tiers=tiers, unit_cost=unit_cost,
                              use_fixed_costs=fixed, solver=args.solver,
                              time_limit=args.time_limit, mip_gap=args.mip_gap)
        total = time.perf_counter() - t
        r = plan.report
        gap = "n/a" if np.isnan(r.gap) else f"{r.gap:.2%}"
        print(f"{str(fixed):>12} {r.status:>10} {gap:>8} {r.n_variables:>8,} {r.n_integer:>7,} "
              f"{r.n_constraints:>7,} {r.build_seconds:>8.2f} {r.solve_seconds:>8.2f} "
              f"{total:>8.2f} {len(plan.transfers):>6,} {r.units_moved:>7,} "
              f"{r.unmet_shortage_units:>6,} {r.objective:>14,.2f}")
        print(f"{'':>12} {r.solver}: {r.solver_status}; transport cost "
              f"{r.transport_cost:,.2f}; shortage cost {r.shortage_cost_before:,.0f} -> "
              f"{r.shortage_cost_after:,.0f}" + (f"; {r.message}" if r.message else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
