"""Benchmark of the synthetic fleet generator (partsforecast.samples.generate_tables).

Run::

    python benchmarks/bench_generate.py                      # the 200,000-machine fleet
    python benchmarks/bench_generate.py --machines 3000 --dealers 30 --parts 0
    python benchmarks/bench_generate.py --fleet              # also time Fleet validation

Prints wall-clock seconds (best of ``--repeat`` runs), the rows of every table and truth
table, and memory: the peak of the process's resident set (``ru_maxrss``, which includes
pyarrow string buffers) and, from a separate run under ``tracemalloc``, the peak of
memory allocated through Python and numpy.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
import tracemalloc

from partsforecast.samples import generate_tables


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machines", type=int, default=200_000)
    ap.add_argument("--dealers", type=int, default=300)
    ap.add_argument("--parts", type=int, default=5000, help="0 for the natural catalogue")
    ap.add_argument("--years", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=2, help="timed runs; the best is shown")
    ap.add_argument("--no-tracemalloc", action="store_true",
                    help="skip the extra run that measures Python/numpy peak memory")
    ap.add_argument("--fleet", action="store_true",
                    help="also time validation into partsforecast.data.Fleet")
    args = ap.parse_args(argv)
    settings = dict(n_machines=args.machines, n_dealers=args.dealers,
                    n_parts=args.parts or None, years=args.years, seed=args.seed)
    print(f"generate_tables({', '.join(f'{k}={v}' for k, v in settings.items())})")

    times = []
    for _ in range(max(1, args.repeat)):
        gc.collect()
        t0 = time.perf_counter()
        tables, truth, as_of = generate_tables(**settings)
        times.append(time.perf_counter() - t0)
    print(f"seconds: best {min(times):.2f}, runs " + ", ".join(f"{t:.2f}" for t in times))

    n_tickets = tables["tickets"]["ticket_id"].nunique()
    print(f"as_of {as_of.date()}; {n_tickets:,} tickets")
    print(f"{'table':<20}{'rows':>12}{'columns':>9}{'MB':>9}")
    for prefix, group in (("", tables), ("truth.", truth)):
        for name, frame in group.items():
            mb = frame.memory_usage(deep=True).sum() / 2**20
            print(f"{prefix + name:<20}{len(frame):>12,}{frame.shape[1]:>9}{mb:>9.1f}")
    rows_per_sec = len(tables["tickets"]) / min(times)
    print(f"ticket lines per second: {rows_per_sec:,.0f}")

    if args.fleet:
        from partsforecast.data import Fleet

        t0 = time.perf_counter()
        fleet = Fleet(**tables, as_of=as_of, truth=truth)
        print(f"Fleet validation seconds: {time.perf_counter() - t0:.2f} ({fleet!r})")
        del fleet
    del tables, truth
    gc.collect()

    if not args.no_tracemalloc:
        tracemalloc.start()
        generate_tables(**settings)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"peak memory traced (Python + numpy): {peak / 2**20:,.0f} MB")
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    print(f"peak resident memory of the process: {maxrss / 2**20:,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
