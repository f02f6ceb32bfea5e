"""The plan's stock-level optimisation on its own: seconds, peak memory, frontier size.

Run:  python benchmarks/bench_stocking_memory.py FLEET_DIR [FLEET_DIR ...]

For each fleet folder (e.g. written by ``make_fleet(...).to_dir(folder, "parquet")`` or by
``benchmarks/run.py``), a child process reads the fleet and runs ``run_plan`` up to its
stocking call, which it saves instead of running; a fresh child process then loads that call
and runs ``optimize_stock`` alone, and prints its seconds, the resident memory it added at
its peak (sampled every 5 ms, over the process's memory before the call), and the rows,
entries and array bytes of every frontier it built.  The optimise stage of a plan adds that
peak to what the process already holds (the fleet and the forecast).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def capture(folder: str, out: str) -> None:
    import partsforecast as pf
    import partsforecast.plan as plan_module

    class _Stop(Exception):
        pass

    def record(*a, **kw):
        with open(out, "wb") as fh:
            pickle.dump((a, kw), fh)
        raise _Stop

    plan_module.optimize_stock = record
    with tempfile.TemporaryDirectory() as tmp:
        try:
            plan_module.run_plan(pf.read_fleet(folder), tmp, report=False)
        except _Stop:
            return
    raise RuntimeError("the plan made no stocking call")


def measure(call: str) -> None:
    import numpy as np

    sys.path.insert(0, HERE)
    from bench_demand import _PeakRss, _rss_gb

    import partsforecast.stocking.allocation as al
    from partsforecast.stocking import optimize_stock

    built = []
    build = al.build_frontier

    def counted(*a, **kw):
        fr = build(*a, **kw)
        nbytes = sum(v.nbytes for v in vars(fr).values() if isinstance(v, np.ndarray))
        built.append((fr.R, fr.e_slot.size, nbytes / 2**30))
        return fr

    al.build_frontier = counted
    with open(call, "rb") as fh:
        a, kw = pickle.load(fh)
    before = _rss_gb()
    with _PeakRss() as mem:
        t = time.perf_counter()
        res = optimize_stock(*a, **kw)
        secs = time.perf_counter() - t
    big = max(built, key=lambda b: b[1])
    timings = ", ".join(f"{k} {v:.1f}" for k, v in res.solver_info.get("timings", {}).items())
    print(f"  optimize_stock {secs:.1f} s ({timings}); peak +{mem.peak - before:.2f} GiB over {before:.2f}; "
          f"largest frontier {big[0]:,} rows, {big[1]:,} entries, {big[2]:.3f} GiB; investment "
          f"{res.investment:,.2f}, bound {res.investment_lower_bound:,.2f}, gap {res.gap:.2e}", flush=True)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--_capture":
        capture(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) > 2 and sys.argv[1] == "--_measure":
        measure(sys.argv[2])
        return
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for folder in sys.argv[1:]:
        with tempfile.TemporaryDirectory() as tmp:
            call = os.path.join(tmp, "call.pkl")
            subprocess.run([sys.executable, __file__, "--_capture", folder, call], check=True)
            print(folder, flush=True)
            subprocess.run([sys.executable, __file__, "--_measure", call], check=True)


if __name__ == "__main__":
    main()
