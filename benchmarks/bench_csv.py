"""Benchmark of the CSV writer (:func:`partsforecast._io.frame_to_csv_bytes`).

Run::

    python benchmarks/bench_csv.py                                   # synthetic frames
    python benchmarks/bench_csv.py --stock-plan OUT/stock_plan.csv --dealer OUT/transfers/D001.csv
    python benchmarks/bench_csv.py --repeat 5

Two frames: the national stock plan (1,218,587 rows x 9 columns: 2 text, 4 int64,
3 float64 rounded as ``round_for_people`` does) and one dealer's transfer file (a few
hundred rows, 16 columns, text with commas and quotes); each is read with ``pd.read_csv``
from the files given, or else made from a fixed seed with the same kinds of columns.

For each frame, in one process, side by side: ``pandas`` is the expression the writer stood
for before it had a fast path, ``neutralise_cells(frame).to_csv(index=False,
lineterminator="\\n").encode("utf-8")``; ``frame_to_csv_bytes`` is the writer. Printed:
best wall-clock seconds of ``--repeat`` runs each (runs alternate), the speed-up, and
whether the bytes are identical (they must be). For the dealer frame also the time of
300 such files (the national plan's dealers).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from partsforecast._io import frame_to_csv_bytes, neutralise_cells, round_for_people


def pandas_bytes(frame: pd.DataFrame) -> bytes:
    return neutralise_cells(frame).to_csv(index=False, lineterminator="\n").encode("utf-8")


def synthetic_stock_plan(rows: int = 1_218_587, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dealers = np.array([f"D{i:03d}" for i in range(1, 301)])
    parts = np.array([f"{p}-{c}{n}" for p, c, n in zip(rng.choice(["ACC", "FFL", "HOS", "ENG"], 5000),
                                                        rng.choice(list("CWO"), 5000),
                                                        rng.integers(10000, 20000, 5000))])
    base = rng.poisson(0.6, rows)
    frame = pd.DataFrame({
        "location_id": pd.Series(dealers[np.sort(rng.integers(0, 300, rows))], dtype="str"),
        "part_number": pd.Series(parts[rng.integers(0, 5000, rows)], dtype="str"),
        "base_stock": base,
        "on_hand": rng.poisson(0.5, rows),
        "on_order": rng.poisson(0.1, rows),
        "order_qty": np.maximum(base - rng.poisson(0.5, rows), 0),
        "expected_fill_rate": np.where(base > 0, rng.beta(8, 1, rows), 0.0),
        "expected_backorders": rng.lognormal(-5, 2.5, rows),
        "inventory_value": base * np.round(rng.lognormal(4, 1, rows), 2),
    })
    return round_for_people(frame)


def synthetic_dealer(rows: int = 233, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    text = {
        "transfer_id": [f"TR-20260701-{i:05d}" for i in rng.integers(0, 99999, rows)],
        "direction": rng.choice(["send", "receive"], rows),
        "part_number": [f"HOS-O{i}" for i in rng.integers(10000, 20000, rows)],
        "description": rng.choice(["hose o-ring kit", "water separator element", "A/C compressor"], rows),
        "from_id": rng.choice(["D001", "WH", "D104"], rows),
        "from_name": rng.choice(["Factory central warehouse, Xuzhou", "South City Machinery Service 104"], rows),
        "to_id": rng.choice(["D001", "D104", "D077"], rows),
        "to_name": rng.choice(["South Prefecture Machinery Service 001", "North \"Depot\" 77"], rows),
        "ship_by": rng.choice(["2026-07-02", "2026-07-03"], rows),
        "arrive_by": rng.choice(["2026-07-04", "2026-07-07"], rows),
        "currency": ["CNY"] * rows,
        "paid_by": rng.choice(["WH", "D001"], rows),
        "reason": [f"you hold {a} and need {b} for the next 90 days: send {c}; this avoids about "
                   f"{d:,} backorder-days" for a, b, c, d in rng.integers(0, 20000, (rows, 4))],
    }
    frame = pd.DataFrame({k: pd.Series(v, dtype="str") for k, v in text.items()})
    frame.insert(8, "quantity", rng.integers(1, 50, rows))
    frame.insert(11, "lead_time_days", rng.integers(1, 12, rows))
    frame.insert(12, "cost", np.round(rng.lognormal(3, 1, rows), 2))
    return frame


def best_of(fn, frame: pd.DataFrame, repeat: int) -> tuple[float, bytes]:
    best, out = float("inf"), b""
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(frame)
        best = min(best, time.perf_counter() - t)
    return best, out


def compare(name: str, frame: pd.DataFrame, repeat: int, calls: int = 1) -> None:
    def many(fn):
        return lambda f: [fn(f) for _ in range(calls)][-1]

    old_s, new_s = float("inf"), float("inf")
    for _ in range(repeat):  # alternate, so that a busy moment does not favour one side
        t, old = best_of(many(pandas_bytes), frame, 1)
        old_s = min(old_s, t)
        t, new = best_of(many(frame_to_csv_bytes), frame, 1)
        new_s = min(new_s, t)
    what = f"{name} ({len(frame):,} rows x {frame.shape[1]} columns{f', {calls} calls' if calls > 1 else ''})"
    print(f"{what:<58} {old_s:>9.3f} {new_s:>9.3f} {old_s / new_s:>7.1f}x  {'yes' if old == new else 'NO'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stock-plan", type=Path, help="a stock_plan.csv of a national plan")
    parser.add_argument("--dealer", type=Path, help="a transfers/<dealer>.csv of a plan")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    plan = pd.read_csv(args.stock_plan) if args.stock_plan else synthetic_stock_plan()
    dealer = pd.read_csv(args.dealer) if args.dealer else synthetic_dealer()
    print(f"best of {args.repeat} runs, seconds")
    print(f"{'frame':<58} {'pandas':>9} {'writer':>9} {'speed-up':>8}  same bytes")
    compare("stock plan" + (f" {args.stock_plan.name}" if args.stock_plan else " (synthetic)"),
            plan, args.repeat)
    compare("dealer file" + (f" {args.dealer.name}" if args.dealer else " (synthetic)"),
            dealer, args.repeat)
    compare("dealer file, 300 times", dealer, args.repeat, calls=300)


if __name__ == "__main__":
    main()
