"""Benchmark of the transfer optimisation (partsforecast.transfers.plan_transfers).

Run::

    python benchmarks/bench_transfers.py                       # 200 dealers x 200 parts
    python benchmarks/bench_transfers.py --dealers 50 --parts 50 --time-limit 10
    python benchmarks/bench_transfers.py --solver cbc

Lanes come from a synthetic fleet (``partsforecast.samples.generate_tables``: the factory
to every dealer plus dealer-to-dealer lanes between neighbours); stock levels are made up
for the full (dealer x part) grid: targets ~ Poisson, on hand from 3 below to 2 above the
target (more short than surplus), some stock on order, and a factory holding 10-110 % of
each part's combined dealer gap, so that some parts are scarce and must be shared.  Demand
explains the targets: a dealer's lead-time demand is the scale its target was drawn from,
over the factory lane's lead time plus a week, with a variance-to-mean ratio of 1-3; the
factory's is the dealers' total over the part's lead time.

Prints model size and build / solve seconds end to end, for each pricing (``weights``: the
bare targets; ``backorders``: the same targets with their demand), without and with fixed
shipment costs (the MILP runs under ``--time-limit``).  ``build s`` covers input checks, the
model arrays and the pulp objects; ``solve s`` loading into the solver, solving and reading
the plan back.  ``--quick`` runs 50 dealers x 50 parts with a 10 s limit.
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
    # demand: the dealers' lead-time demand is the scale of their targets (drawn after
    # everything above, so the bare-target instance is unchanged)
    wh_lane = lanes[lanes["from_id"] == wh].set_index("to_id")["lead_time_days"]
    lead = np.repeat(wh_lane.reindex(dealers).to_numpy(float) + 7.0, P)
    rate = scale.ravel() / lead
    part_lead = parts.set_index("part_number")["lead_time_days"]
    levels["demand_per_day"] = np.concatenate([rate, rate.reshape(D, P).sum(axis=0)])
    levels["effective_lead_time_days"] = np.concatenate([lead, np.full(P, np.nan)])
    levels["demand_vmr"] = rng.choice([1.0, 1.0, 1.5, 3.0], len(levels))
    tiers = loc.set_index("location_id")["tier"]
    unit_cost = parts.set_index("part_number")["unit_cost"]
    return levels, lanes, wh, as_of, tiers, unit_cost, part_lead


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dealers", type=int, default=200)
    ap.add_argument("--parts", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--solver", default="highs", choices=["highs", "cbc"])
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--mip-gap", type=float, default=1e-3)
    ap.add_argument("--pricing", default="both", choices=["weights", "backorders", "both"])
    ap.add_argument("--quick", action="store_true", help="50 dealers x 50 parts, 10 s limit")
    ap.add_argument("--pulp-highs", action="store_true",
                    help="load the model into HiGHS through pulp's own per-column HiGHS "
                         "interface instead of in bulk from the model arrays (to compare)")
    ap.add_argument("--lp-only", action="store_true", help="skip the fixed-cost MILP")
    args = ap.parse_args(argv)
    if args.quick:
        args.dealers, args.parts, args.time_limit = 50, 50, 10.0
    transfers._BULK_HIGHS = not args.pulp_highs

    t = time.perf_counter()
    levels, lanes, wh, as_of, tiers, unit_cost, part_lead = make_instance(args.dealers, args.parts,
                                                                          args.seed)
    print(f"instance: {args.dealers} dealers x {args.parts} parts, {len(levels):,} level rows, "
          f"{len(lanes):,} lanes ({time.perf_counter() - t:.2f}s to make)")
    print(f"{'pricing':>10} {'fixed':>5} {'status':>10} {'gap':>8} {'vars':>8} {'int':>7} "
          f"{'rows':>7} {'build s':>8} {'solve s':>8} {'total s':>8} {'moves':>6} {'units':>7} "
          f"{'unmet':>6} {'freight':>11} {'value avoided':>14}")
    pricings = ["weights", "backorders"] if args.pricing == "both" else [args.pricing]
    for pricing in pricings:
        for fixed in (False,) if args.lp_only else (False, True):
            t = time.perf_counter()
            plan = plan_transfers(levels, lanes, wh, as_of, tiers=tiers, unit_cost=unit_cost,
                                  warehouse_lead_time=part_lead, pricing=pricing,
                                  use_fixed_costs=fixed, solver=args.solver,
                                  time_limit=args.time_limit, mip_gap=args.mip_gap)
            total = time.perf_counter() - t
            r = plan.report
            gap = "n/a" if np.isnan(r.gap) else f"{r.gap:.2%}"
            value = "n/a" if np.isnan(r.value_avoided) else f"{r.value_avoided:,.0f}"
            print(f"{pricing:>10} {fixed!s:>5} {r.status:>10} {gap:>8} {r.n_variables:>8,} "
                  f"{r.n_integer:>7,} {r.n_constraints:>7,} {r.build_seconds:>8.2f} "
                  f"{r.solve_seconds:>8.2f} {total:>8.2f} {len(plan.transfers):>6,} "
                  f"{r.units_moved:>7,} {r.unmet_shortage_units:>6,} {r.transport_cost:>11,.0f} "
                  f"{value:>14}")
            if r.message:
                print(f"{'':>17} {r.solver}: {r.solver_status}; {r.message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
