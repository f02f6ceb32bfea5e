"""Frontier and greedy stocking against the exact optimum of their own model, small systems.

Run:  python benchmarks/bench_stocking_optimum.py

Uses the brute force of ``tests/test_stocking_optimum.py`` (every warehouse level and dealer
level vector of every part, an exact knapsack across parts) on its five systems (3 dealers,
12-40 parts, variance-to-mean 1-2.5) at budgets of 5-100% of a generous plan's money, and
prints, per case and overall: each algorithm's expected backorders above the optimum at equal
budget, the money the greedy spends above what the optimum needs for the greedy's service,
and how far the frontier plan's bound lies below the optimum.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from partsforecast import stocking as sk

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import test_stocking_optimum as brute  # the brute force lives with its tests


def main() -> None:
    rows = []
    for seed, P, vmr in brute.CASES:
        inst, _ = brute._tables(seed, P, vmr)
        M = brute._money_scale(seed, P, vmr)
        opt = brute._optimum(seed, P, vmr, "ebo", int(1.2 * M))
        for frac in (0.05, 0.15, 0.35, 0.6, 1.0):
            B = int(frac * M)
            g = sk.optimize_stock(**inst, budget=float(B), algorithm="greedy")
            f = sk.optimize_stock(**inst, budget=float(B))
            need_g = int(np.argmax(opt <= g.total_backorders + 1e-9))
            r = (g.total_backorders / opt[B] - 1, f.total_backorders / opt[B] - 1, g.investment / max(need_g, 1) - 1,
                 (opt[B] - f.backorders_lower_bound) / opt[B])
            rows.append(r)
            print(f"seed {seed} parts {P} vmr {vmr:.1f} budget {frac:.2f}: backorders above the optimum greedy "
                  f"{r[0]:+.2%} frontier {r[1]:+.3%}; greedy money above the optimum's {r[2]:+.1%}; "
                  f"frontier bound {r[3]:.2%} below the optimum")
    a = np.array(rows)
    print(f"overall ({len(rows)} cases): backorders above the optimum, greedy up to {a[:, 0].max():.2%}, "
          f"frontier up to {a[:, 1].max():.4%}; greedy money above the optimum's up to {a[:, 2].max():.1%}; "
          f"bound {a[:, 3].min():.2%} to {a[:, 3].max():.2%} below the optimum")


if __name__ == "__main__":
    main()
