"""Benchmark of reading a fleet from a database (:func:`partsforecast.read_fleet_sql`).

Run::

    python benchmarks/bench_read.py                        # a 50,000-machine fleet in SQLite
    python benchmarks/bench_read.py --machines 20000 --repeat 1
    python benchmarks/bench_read.py --db /tmp/fleet.db     # keep (and reuse) the database
    python benchmarks/bench_read.py --folder /tmp/nat_fleet   # a folder of Parquet files instead

The fleet is ``make_fleet(n, maintenance=True)``, written table by table with pandas'
``to_sql`` into a SQLite file (made once; reused when ``--db`` names an existing file).
Each measurement runs in a fresh Python process, so that its peak memory is its own:

* ``pandas``: ``pd.read_sql_table`` of the eight tables alone, kept in memory together
  (what any reader must at least do, without checks);
* ``read_fleet_sql``: the validated :class:`~partsforecast.data.Fleet`.

With ``--folder`` the same is done for a fleet folder (``Fleet.to_dir(..., format="parquet")``):
``pandas`` is ``pd.read_parquet`` of its eight table files alone, ``read_fleet`` the
validated fleet.

Printed per measurement: wall-clock seconds (best of ``--repeat`` processes) and the peak
resident set of the process (``VmHWM``, which includes Arrow's string buffers) above
that of a process that only imported the libraries.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TABLES = ("machines", "tickets", "parts", "bom", "locations", "lanes", "stock", "maintenance")


def _make_db(path: Path, machines: int) -> None:
    import sqlalchemy as sa

    from partsforecast.samples import make_fleet

    fleet = make_fleet(machines, maintenance=True)
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        for name in TABLES:
            getattr(fleet, name).to_sql(name, conn, index=False, if_exists="replace", chunksize=50_000)
    engine.dispose()


def _peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM), in KiB. Unlike ``ru_maxrss`` it is not
    inherited from the parent across fork and exec."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def _measure(what: str, url: str) -> dict:
    """One measurement, in this (fresh) process."""
    import pandas as pd
    import sqlalchemy as sa

    import partsforecast as pf

    base = _peak_rss_kib()
    t0 = time.perf_counter()
    if what == "pandas_folder":
        frames = {name: pd.read_parquet(Path(url) / f"{name}.parquet") for name in TABLES
                  if (Path(url) / f"{name}.parquet").exists()}
        rows = len(frames["tickets"])
    elif what == "read_fleet":
        rows = len(pf.read_fleet(url).tickets)
    elif what == "pandas":
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            frames = {name: pd.read_sql_table(name, conn) for name in TABLES}
        engine.dispose()
        rows = len(frames["tickets"])
    elif what == "import":
        rows = 0
    else:
        fleet = pf.read_fleet_sql(url)
        rows = len(fleet.tickets)
    seconds = time.perf_counter() - t0
    peak = _peak_rss_kib()
    return {"seconds": seconds, "peak_mib": peak / 1024, "base_mib": base / 1024, "tickets": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machines", type=int, default=50_000)
    ap.add_argument("--db", type=Path, help="SQLite file to use (made when missing)")
    ap.add_argument("--folder", type=Path, help="measure a fleet folder of Parquet files instead")
    ap.add_argument("--repeat", type=int, default=2, help="fresh processes per measurement; best shown")
    ap.add_argument("--only", choices=["pandas", "read_fleet_sql"], action="append",
                    help="run only these measurements")
    ap.add_argument("--_measure", help=argparse.SUPPRESS)
    ap.add_argument("--_url", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._measure:
        print(json.dumps(_measure(args._measure, args._url)))
        return 0

    tmp = None
    path = args.db
    if args.folder is not None:
        url = str(args.folder)
        stages = ["pandas_folder", "read_fleet"]
    elif path is None:
        tmp = tempfile.TemporaryDirectory()
        path = Path(tmp.name) / "fleet.db"
    if args.folder is None and not path.exists():
        t0 = time.perf_counter()
        _make_db(path, args.machines)
        print(f"wrote make_fleet({args.machines}, maintenance=True) to {path} "
              f"({path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.0f} s")
    if args.folder is None:
        url = f"sqlite:///{path}"
        stages = args.only or ["pandas", "read_fleet_sql"]

    def run(what: str) -> dict:
        out = subprocess.run([sys.executable, __file__, "--_measure", what, "--_url", url],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    imported = min(run("import")["peak_mib"] for _ in range(1))
    print(f"process after imports: {imported:.0f} MiB resident")
    print(f"{'measurement':<16}{'seconds':>9}{'peak MiB':>10}{'above imports':>15}{'ticket lines':>14}")
    for what in stages:
        runs = [run(what) for _ in range(max(1, args.repeat))]
        best = min(r["seconds"] for r in runs)
        peak = min(r["peak_mib"] for r in runs)
        print(f"{what:<16}{best:>9.1f}{peak:>10.0f}{peak - imported:>15.0f}{runs[0]['tickets']:>14,}"
              f"   (runs: {', '.join('%.1f s' % r['seconds'] for r in runs)})")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
