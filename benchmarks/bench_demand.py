"""Installed-base forecast speed and memory at national scale.

Run: python benchmarks/bench_demand.py [--machines N] [--dealers D] [--parts P] [--maintenance]

A generated fleet (default: 200,000 machines, 300 dealers, 5,000 parts — a national network)
is written to a temporary folder as Parquet. A fresh Python process then does what a
weekly batch job does: reads and validates the fleet, fits the failure model, and forecasts
12 months of parts demand per dealer. It prints the forecast's seconds, the peak resident
memory of the whole process and the peak while forecasting (sampled every 5 ms from
/proc), the size of the result, the same with new machines entering at last year's sales
rate per model and dealer, and the seconds of the plain forecast on one thread.

With ``--maintenance`` the fleet has a service schedule and service visits
(``make_fleet(maintenance=True)``): the forecast then adds the scheduled-service demand
(fitting the owners' compliance included), and the failure-only forecast of the same fleet
(``maintenance=None``) is timed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _rss_gb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30


class _PeakRss:
    """Peak resident memory (GiB) while the block runs, sampled on a thread."""

    def __enter__(self):
        self.peak, self._stop = _rss_gb(), threading.Event()

        def sample():
            while not self._stop.wait(0.005):
                self.peak = max(self.peak, _rss_gb())

        self._t = threading.Thread(target=sample, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _rss_gb())


def child(folder: str) -> None:
    import partsforecast.demand as dm
    from partsforecast import FailureModel, forecast_demand, read_fleet

    t = time.perf_counter()
    fleet = read_fleet(folder)
    model = FailureModel(covariates=None).fit(fleet)
    prep = time.perf_counter() - t
    before = _rss_gb()
    with _PeakRss() as mem:
        t = time.perf_counter()
        fc = forecast_demand(model, fleet, horizon=12)
        seconds = time.perf_counter() - t
    job_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # read + fit + forecast
    rows, result_gib = len(fc), fc.memory_usage(deep=True).sum() / 2**30
    del fc
    # The planning option at the same scale: last year's sales rate per (model, dealer).
    new = dm.recent_sales(fleet)
    with _PeakRss() as mem_new:
        t = time.perf_counter()
        forecast_demand(model, fleet, horizon=12, new_machines=new)
        with_new = time.perf_counter() - t
    failures_only = None
    if len(fleet.maintenance):
        t = time.perf_counter()
        forecast_demand(model, fleet, horizon=12, maintenance=None)
        failures_only = time.perf_counter() - t
    dm._THREADS = 1
    t = time.perf_counter()
    forecast_demand(model, fleet, horizon=12)
    one_thread = time.perf_counter() - t
    print(json.dumps({
        "components": len(model.lives_.ages), "rows": rows, "pairs": int(rows / 12),
        "seconds": seconds, "seconds_one_thread": one_thread, "read_and_fit_seconds": prep,
        "rss_before_gib": before, "rss_peak_forecast_gib": mem.peak,
        "rss_peak_process_gib": job_peak, "result_gib": result_gib,
        "new_machine_lines": len(new), "seconds_with_new": with_new, "rss_peak_with_new_gib": mem_new.peak,
        "seconds_failures_only": failures_only, "ticket_lines": len(fleet.tickets),
        "schedule_lines": len(fleet.maintenance),
    }))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--machines", type=int, default=200_000)
    ap.add_argument("--dealers", type=int, default=300)
    ap.add_argument("--parts", type=int, default=5000)
    ap.add_argument("--maintenance", action="store_true", help="a fleet with service schedules and visits")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    from partsforecast import make_fleet

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "fleet"
        make_fleet(n_machines=args.machines, n_dealers=args.dealers, n_parts=args.parts,
                   maintenance=args.maintenance).to_dir(folder, "parquet")
        out = subprocess.run([sys.executable, __file__, "--child", str(folder)], check=True,
                             capture_output=True, text=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{args.machines:,} machines, {args.dealers} dealers, {args.parts:,} parts: "
          f"{r['components']:,} running machine-components -> {r['rows']:,} forecast rows "
          f"({r['pairs']:,} dealer × part pairs × 12 months)")
    print(f"forecast_demand: {r['seconds']:.1f} s on {os.cpu_count()} cores "
          f"({r['seconds_one_thread']:.1f} s on one thread; ratio {r['seconds_one_thread'] / r['seconds']:.2f}); "
          f"target < 20 s")
    print(f"memory: {r['rss_before_gib']:.2f} GiB with the fleet read and the model fitted, "
          f"{r['rss_peak_forecast_gib']:.2f} GiB peak while forecasting "
          f"(+{r['rss_peak_forecast_gib'] - r['rss_before_gib']:.2f} GiB; the result holds "
          f"{r['result_gib']:.2f} GiB); peak of the job (read, fit, forecast) {r['rss_peak_process_gib']:.2f} GiB; target < 4 GiB")
    print(f"with new machines ({r['new_machine_lines']:,} model × dealer sales rates): {r['seconds_with_new']:.1f} s, "
          f"{r['rss_peak_with_new_gib']:.2f} GiB peak")
    if r["seconds_failures_only"] is not None:
        print(f"service schedule: {r['schedule_lines']:,} lines, {r['ticket_lines']:,} ticket lines; "
              f"failures only (maintenance=None) {r['seconds_failures_only']:.1f} s against "
              f"{r['seconds']:.1f} s with the service demand (ratio {r['seconds'] / r['seconds_failures_only']:.2f})")
    print(f"(reading, validating and fitting took {r['read_and_fit_seconds']:.1f} s)")


if __name__ == "__main__":
    main()
