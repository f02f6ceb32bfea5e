"""Multi-echelon plan from the installed base vs independent per-dealer stocking, at the same
inventory investment, simulated against the truth.

Run: python benchmarks/bench_plan_vs_independent.py [--days 365] [--reps 30]
The plans are simulated (evaluate.simulate_base_stock, same seed) against daily demand
from the fleet's TRUE failure model:

- A, the library's plan: FailureModel → forecast_demand → plan_stock (two-echelon
  VARI-METRIC, tier fill targets), warehouse and dealer levels.
- B, the usual practice: each dealer stocks on its own, from an SBA forecast of its monthly
  part history (negative-binomial spread), single-echelon marginal analysis for the best
  fill rate within A's dealer investment; the warehouse keeps A's levels, so both spend
  the same in total.
- C, A's forecast stocked dealer by dealer: the same installed-base demand rates and spread
  as A, but every dealer stocked on its own (single echelon, best fill rate within A's
  dealer investment); the warehouse keeps A's levels.  A against C is the gain of the
  two-echelon optimisation alone, C against B the gain of the forecast alone.
Prints service and backorders per tier for each plan and the relative differences.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from partsforecast import FailureModel, forecast_demand, intermittent, load_sample
from partsforecast.demand import forecast_span_days, lead_time_demand
from partsforecast.evaluate import daily_rates, simulate_base_stock
from partsforecast.plan import PlanSettings, plan_stock, planning_rates
from partsforecast.stocking import optimize_stock


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--reps", type=int, default=30)
    args = ap.parse_args()
    fleet = load_sample()
    true_fc = forecast_demand(FailureModel.from_params(fleet.truth["lifetimes"]), fleet, horizon=13)
    fc = forecast_demand(FailureModel().fit(fleet), fleet, horizon=12)
    a = plan_stock(fc, fleet)
    st = a.stocking
    parts, dealers = np.asarray(st.part_ids, dtype=object), np.asarray(st.dealer_ids, dtype=object)
    P, J = len(parts), len(dealers)

    # B: per-dealer SBA forecasts of monthly history on the full calendar.
    tk = fleet.tickets
    months = pd.date_range(tk["opened_at"].min().to_period("M").start_time, fleet.as_of, freq="MS",
                           inclusive="left")
    m = tk.assign(ds=tk["opened_at"].dt.to_period("M").dt.start_time)
    m = m.groupby(["location_id", "part_number", "ds"], as_index=False)["quantity"].sum()
    m = m[m["location_id"].isin(dealers) & m["part_number"].isin(parts)]
    ids = m[["location_id", "part_number"]].drop_duplicates()
    grid = ids.merge(pd.DataFrame({"ds": months}), how="cross").merge(m, how="left").fillna({"quantity": 0})
    grid["unique_id"] = grid["location_id"].astype(str) + "|" + grid["part_number"].astype(str)
    dist = intermittent.forecast_distribution(grid.rename(columns={"quantity": "y"})[["unique_id", "ds", "y"]],
                                              h=3, method="sba", freq="MS")
    first = dist.groupby("unique_id", as_index=False).first()
    loc_part = first["unique_id"].str.split("|", n=1, expand=True)
    pi = pd.Index(parts).get_indexer(loc_part[1])
    dj = pd.Index(dealers).get_indexer(loc_part[0])
    rate_b = np.zeros((P, J))
    vmr_b = np.ones((P, J))
    rate_b[pi, dj] = first["mean"].to_numpy() / (365.25 / 12)
    vmr_b[pi, dj] = np.maximum(first["var"].to_numpy() / np.maximum(first["mean"].to_numpy(), 1e-12), 1.0)
    lanes = fleet.lanes[fleet.lanes["from_id"] == fleet.warehouse_id].set_index("to_id")
    lead = lanes.loc[dealers, "lead_time_days"].to_numpy(float)
    cost = fleet.parts.set_index("part_number").loc[parts, "unit_cost"].to_numpy(float)
    b = optimize_stock(cost, rate_b, lead, None, dealer_tier=np.asarray(st.dealer_tier), budget=st.dealer_investment,
                       objective="fill_rate", demand_vmr=vmr_b)

    # C: A's installed-base rates and spread (as plan_stock reads them), every dealer on its own
    window = min(float(PlanSettings().planning_window_days), forecast_span_days(fc) or 1e9)
    ltd = lead_time_demand(fc, window)
    rate_c, _, vmr_c = planning_rates(ltd, parts, dealers, window)
    c = optimize_stock(cost, rate_c, lead, None, dealer_tier=np.asarray(st.dealer_tier), budget=st.dealer_investment,
                       objective="fill_rate", demand_vmr=vmr_c)

    rate, day_period, _ = daily_rates(true_fc, parts, dealers, fleet.as_of, args.days)
    factory = fleet.parts.set_index("part_number").loc[parts, "lead_time_days"].to_numpy(float)
    common = {"day_period": day_period, "days": args.days, "n_reps": args.reps, "seed": 1,
              "dealer_tier": np.asarray(st.dealer_tier)}
    sim_a = simulate_base_stock(st.s_wh, st.s_dealer, rate, lead, factory, cost, **common)
    sim_b = simulate_base_stock(st.s_wh, b.s_dealer, rate, lead, factory, cost, **common)
    sim_c = simulate_base_stock(st.s_wh, c.s_dealer, rate, lead, factory, cost, **common)
    cols = ["fill_rate", "mean_backorders", "wait_days", "inventory_value"]
    show = [c for c in sim_a.by_tier.columns if any(c.startswith(k) for k in cols) and not c.endswith(("_lo", "_hi"))]
    print(f"investment: A {st.investment:,.0f} (dealers {st.dealer_investment:,.0f}), "
          f"B {st.wh_investment + b.dealer_investment:,.0f} (dealers {b.dealer_investment:,.0f}), "
          f"C {st.wh_investment + c.dealer_investment:,.0f} (dealers {c.dealer_investment:,.0f}); "
          f"A's algorithm {st.algorithm}, gap to its bound {st.gap:.3%}")
    print("A: multi-echelon plan from the installed base\n", sim_a.by_tier[show].to_string())
    print("B: independent per-dealer stocking from SBA\n", sim_b.by_tier[show].to_string())
    print("C: independent per-dealer stocking from the installed base\n", sim_c.by_tier[show].to_string())
    bo_col = "mean_backorders"
    ba, bb, bc = (sim.by_tier.loc["all", bo_col] for sim in (sim_a, sim_b, sim_c))
    print(f"mean backorders at dealers: A {ba:.2f}, B {bb:.2f}, C {bc:.2f}")
    print(f"  A vs B (both gains): {100 * (ba / bb - 1):+.1f}%")
    print(f"  A vs C (two-echelon optimisation, same forecast): {100 * (ba / bc - 1):+.1f}%")
    print(f"  C vs B (installed-base forecast, both stocked dealer by dealer): {100 * (bc / bb - 1):+.1f}%")


if __name__ == "__main__":
    main()
