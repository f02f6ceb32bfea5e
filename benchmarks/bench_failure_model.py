"""FailureModel on generated fleets: speed at full scale, interval coverage, pooling gain.

Run: python benchmarks/bench_failure_model.py [--small]
Prints: seconds to fit the 200,000-machine / 1,000,000-ticket-line fleet (with and without
the constant-rate GLM), the coverage of the 95% intervals of shape and scale over all
own-fit groups of several seeds, and the error of sparse groups (< 20 failures) against
the truth with pooling "none", "shape" and "shrink".
"""

from __future__ import annotations

import sys
import time

import numpy as np

from partsforecast import FailureModel, make_fleet


def speed() -> None:
    fleet = make_fleet(n_machines=200_000, n_dealers=300, n_parts=5000, seed=0)
    n_lines = len(fleet.tickets)
    for covariates in (("tier",), None):
        t = time.perf_counter()
        model = FailureModel(covariates=covariates).fit(fleet)
        dt = time.perf_counter() - t
        print(f"fit {len(model.params_):,} groups from {n_lines:,} ticket lines "
              f"({len(model.lives_.lives):,} lives), covariates={covariates}: {dt:.2f} s")


def coverage(seeds=range(4)) -> None:
    hits_k = hits_s = n = 0
    for seed in seeds:
        fleet = make_fleet(n_machines=4000, n_dealers=30, seed=100 + seed)
        p = FailureModel(covariates=None).fit(fleet).params_.merge(
            fleet.truth["lifetimes"], on=["machine_model", "component"], suffixes=("", "_true"))
        p = p[p["method"] == "mle"]
        hits_k += ((p["shape_lower"] <= p["shape_true"]) & (p["shape_true"] <= p["shape_upper"])).sum()
        hits_s += ((p["scale_lower"] <= p["scale_true"]) & (p["scale_true"] <= p["scale_upper"])).sum()
        n += len(p)
    print(f"95% interval coverage over {n} own-fit groups: shape {hits_k / n:.3f}, scale {hits_s / n:.3f} "
          f"(binomial sd {np.sqrt(0.05 * 0.95 / n):.3f})")


def pooling(seeds=range(4)) -> None:
    errs = {k: [] for k in ("none", "shape", "shrink")}
    for seed in seeds:
        fleet = make_fleet(n_machines=700, n_dealers=10, years=3, seed=200 + seed)
        truth = fleet.truth["lifetimes"].set_index(["machine_model", "component"])
        for pooling_ in errs:
            p = FailureModel(pooling=pooling_, covariates=None).fit(fleet).params_.set_index(
                ["machine_model", "component"])
            t = truth.loc[p.index]
            f_fit = 1 - np.exp(-(4000 / p["scale"]) ** p["shape"])
            f_true = 1 - np.exp(-(4000 / t["scale"]) ** t["shape"])
            errs[pooling_].append(np.abs(np.log(f_fit / f_true))[p["n_failures"] < 20].to_numpy())
    base = np.concatenate(errs["none"]).mean()
    for k, v in errs.items():
        e = np.concatenate(v).mean()
        print(f"sparse groups (<20 failures), mean |log F(4000 h) ratio| with pooling={k!r}: {e:.3f} "
              f"({100 * (1 - e / base):+.0f}% vs none)")


if __name__ == "__main__":
    if "--small" not in sys.argv:
        speed()
    coverage()
    pooling()
