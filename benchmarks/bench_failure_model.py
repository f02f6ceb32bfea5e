"""FailureModel on generated fleets: speed at full scale, interval coverage, pooling gain.

Run: python benchmarks/bench_failure_model.py [--small]
Prints: seconds to fit the 200,000-machine / 1,000,000-ticket-line fleet (with and without
the constant-rate GLM); the coverage of the 95% intervals of shape and scale against the
truth for every pooling ("none", "shape", "shrink") and every fitting method a group gets
(maximum likelihood, pooled shape, shrunk scale, family rate), with counts and binomial
confidence intervals, over 70 generated fleets (docs/failure-models.md quotes it); and the
error of sparse groups (< 20 failures) against the truth with each pooling.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
from scipy import stats

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


#: Fleets for the coverage figures: many small fleets (sparse groups, so every fitting method
#: occurs often) and some larger ones; three times the fleets of the test
#: (tests/test_failure_model.py::test_intervals_cover_truth_two_sided).
COVERAGE_FLEETS = ((600, range(300, 360)), (3000, range(400, 410)))


def _cell(method: str) -> str:
    if method.endswith("(shape 1 assumed)"):
        return "shape assumed (no interval)"
    return {"mle": "mle", "pooled-shape": "pooled-shape", "pooled-shape, shrunk scale": "shrunk",
            "pooled-shape, family rate": "family rate"}[method]


def coverage(fleets=COVERAGE_FLEETS) -> pd.DataFrame:
    """Coverage of the 95% intervals of shape and scale against the truth, per pooling and
    fitting method, with counts and Clopper-Pearson 95% intervals of the coverage."""
    t0 = time.perf_counter()
    rows = []
    for n_machines, seeds in fleets:
        for seed in seeds:
            fleet = make_fleet(n_machines=n_machines, n_dealers=8, seed=seed)
            for pooling_ in ("none", "shape", "shrink"):
                p = FailureModel(pooling=pooling_, covariates=None).fit(fleet).params_.merge(
                    fleet.truth["lifetimes"], on=["machine_model", "component"], suffixes=("", "_true"))
                rows.append(p.assign(pooling=pooling_, fleet=f"{n_machines} machines"))
    p = pd.concat(rows, ignore_index=True)
    p["cell"] = p["method"].map(_cell)
    out = []
    for (fleet, pooling_, cell), q in p.groupby(["fleet", "pooling", "cell"], sort=False):
        for par in ("shape", "scale"):
            k = int(((q[f"{par}_lower"] <= q[f"{par}_true"]) & (q[f"{par}_true"] <= q[f"{par}_upper"])).sum())
            n = len(q)
            ci = stats.binomtest(k, n).proportion_ci(0.95)
            out.append({"fleets": fleet, "pooling": pooling_, "method": cell, "parameter": par,
                        "covered": k, "groups": n, "coverage": k / n, "ci_low": ci.low, "ci_high": ci.high})
    table = pd.DataFrame(out)
    n_fleets = sum(len(s) for _, s in fleets)
    print(f"95% interval coverage against the truth, {n_fleets} generated fleets "
          f"({time.perf_counter() - t0:.0f} s); [Clopper-Pearson 95% CI]")
    with pd.option_context("display.width", 140, "display.max_rows", 100):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return table


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
