"""Installed-base forecast speed and memory at scale.

Run: python benchmarks/bench_demand.py [--machines N]
Prints the seconds and peak resident memory of forecast_demand for 12 months on a
generated fleet (default: 200,000 machines, 300 dealers, 5,000 parts — the issue's size).
"""

from __future__ import annotations

import argparse
import resource
import time

from partsforecast import FailureModel, forecast_demand, make_fleet


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--machines", type=int, default=200_000)
    ap.add_argument("--dealers", type=int, default=300)
    ap.add_argument("--parts", type=int, default=5000)
    args = ap.parse_args()
    fleet = make_fleet(n_machines=args.machines, n_dealers=args.dealers, n_parts=args.parts)
    model = FailureModel(covariates=None).fit(fleet)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    t = time.perf_counter()
    fc = forecast_demand(model, fleet, horizon=12)
    dt = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"{args.machines:,} machines, {args.dealers} dealers, {args.parts:,} parts: "
          f"{len(model.lives_.ages):,} running components -> {len(fc):,} forecast rows "
          f"in {dt:.1f} s; peak RSS {peak:.1f} GB (before the forecast {before:.1f} GB)")


if __name__ == "__main__":
    main()
