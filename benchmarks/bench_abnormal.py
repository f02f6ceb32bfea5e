"""Abnormal machines on generated fleets: precision, recall, the best any detector can do, lemon bias.

Run: python benchmarks/bench_abnormal.py [--small]
Prints, for a fleet of 20,000 machines sold over five years with 1 % lemon (machine,
component) pairs (``make_fleet(lemon_share=0.01)``, seeds 11-13):

- the detector (``AbnormalMachines``, failure model fitted on the fleet itself): pairs
  tested, flagged, precision and recall against ``truth["lemons"]``, seconds and peak
  memory (tracemalloc), per FDR procedure (discrete step-down, Benjamini-Hochberg) and
  level (0.05, 0.2); the same with the true laws, and after one refit without the flagged
  pairs;
- why recall stays low: the share of lemons with at least 1, 2, 3 failures, recall per
  failure count, and the recall at precision ≥ 0.8 of an oracle that knows every group's
  true law, the lemon share and the lemon factors' range (the Bayes posterior of each pair
  from its whole history: the best ranking any detector can make);
- the bias lemons put in the fitted failure models: median change of the Weibull shape and
  scale per group against the truth, fitted on all lives, without the flagged pairs and
  without the true lemons; and the next 12 months' expected failures of the fleet by each
  model against the true means (lemons left as they are, or all repaired).

Then one fleet with 5 % lemons, where the bias matters. ``--small`` runs one 5,000-machine
fleet (a minute).
"""

from __future__ import annotations

import resource
import sys
import time
import tracemalloc

import numpy as np
import pandas as pd

from partsforecast import FailureModel, make_fleet
from partsforecast.reliability import expected_failures
from partsforecast.service.abnormal import AbnormalMachines, fit_excluding

LEMON_SHARE = 0.01
YEARS = 5.0
TARGET_PRECISION = 0.8
#: Lemon factors the generator draws (uniform): the oracle averages over them.
FACTOR_GRID = np.linspace(3.0, 6.0, 31)


def _is_lemon(frame: pd.DataFrame, lemons: pd.DataFrame) -> np.ndarray:
    return pd.MultiIndex.from_frame(frame[["serial", "component"]].astype(object)).isin(
        pd.MultiIndex.from_frame(lemons[["serial", "component"]].astype(object)))


def _score(flagged: pd.DataFrame, lemons: pd.DataFrame) -> tuple[float, float]:
    hit = _is_lemon(flagged, lemons)
    return (float(hit.mean()) if len(hit) else float("nan")), float(hit.sum() / len(lemons))


def _pair_truth(fleet) -> pd.DataFrame:
    """Per true (machine, component) process: failures, true law, lemon or not, and the
    cumulative hazard A of its lives under the group's law (the sufficient statistic)."""
    tr = fleet.truth
    c, f = tr["censored"], tr["failures"]
    model = c["serial"].map(tr["machines"].set_index("serial")["machine_model"])
    pairs = c.assign(machine_model=model.to_numpy())
    law = tr["lifetimes"].set_index(["machine_model", "component"]).reindex(
        pd.MultiIndex.from_frame(pairs[["machine_model", "component"]]))
    pairs["shape"], pairs["scale"] = law["shape"].to_numpy(), law["scale"].to_numpy()
    lem = tr["lemons"].set_index(["serial", "component"])["factor"].reindex(
        pd.MultiIndex.from_frame(pairs[["serial", "component"]]))
    pairs["factor"] = lem.fillna(1.0).to_numpy()
    pairs["lemon"] = lem.notna().to_numpy()
    idx = pd.MultiIndex.from_frame(pairs[["serial", "component"]])
    fi = idx.get_indexer(pd.MultiIndex.from_frame(f[["serial", "component"]]))
    h_fail = (f["life_hours"].to_numpy() / pairs["scale"].to_numpy()[fi]) ** pairs["shape"].to_numpy()[fi]
    pairs["A"] = ((pairs["age_hours"] / pairs["scale"]) ** pairs["shape"]).to_numpy() + np.bincount(
        fi, weights=h_fail, minlength=len(pairs))
    return pairs


def oracle(pairs: pd.DataFrame, share: float) -> dict:
    """Best recall at precision ≥ 0.8 of the Bayes ranking that knows the true laws.

    A lemon's hazard is its group's times θ = factor^shape, so a pair's likelihood ratio
    (lemon with factor f against normal) from its whole history is θ^N·exp(−(θ−1)·A); the
    posterior averages it over the factor's uniform law and the lemon share.
    """
    n, a, k = (pairs[c].to_numpy(float) for c in ("n_failures", "A", "shape"))
    theta = FACTOR_GRID[None, :] ** k[:, None]
    log_lr = n[:, None] * np.log(theta) - (theta - 1.0) * a[:, None]
    top = log_lr.max(axis=1)
    lr = np.exp(top) * np.exp(log_lr - top[:, None]).mean(axis=1)
    post = share * lr / (share * lr + 1.0 - share)
    lemon = pairs["lemon"].to_numpy()
    order = np.argsort(-post, kind="stable")
    tp = np.cumsum(lemon[order])
    precision = tp / np.arange(1, order.size + 1)
    ok = precision >= TARGET_PRECISION
    best = int(np.flatnonzero(ok).max()) if ok.any() else -1
    return {"recall": tp[best] / lemon.sum() if best >= 0 else 0.0, "flagged": best + 1,
            "expected_precision_top": float(post[order][: best + 1].mean()) if best >= 0 else float("nan")}


def lemon_bias(fleet, models: dict[str, FailureModel]) -> pd.DataFrame:
    """Median relative change of shape and scale against the truth, per model."""
    truth = fleet.truth["lifetimes"].set_index(["machine_model", "component"])
    rows = []
    for name, m in models.items():
        p = m.params_.set_index(["machine_model", "component"])
        t = truth.reindex(p.index)
        busy = (p["n_failures"] >= 100).to_numpy()
        d_shape = (p["shape"] / t["shape"] - 1.0).to_numpy()
        d_scale = (p["scale"] / t["scale"] - 1.0).to_numpy()
        rows.append({"model": name, "groups": len(p), "median shape change": np.median(d_shape),
                     "median scale change": np.median(d_scale),
                     "busy groups (>=100 failures)": int(busy.sum()),
                     "busy: median shape change": np.median(d_shape[busy]),
                     "busy: median scale change": np.median(d_scale[busy])})
    return pd.DataFrame(rows)


def next_year(fleet, pairs: pd.DataFrame, models: dict[str, FailureModel], flagged: pd.DataFrame) -> pd.DataFrame:
    """Expected failures of the machines in service over the next 365 days: the fleet total
    and the median absolute error per busy group, each model against each true future."""
    tm = fleet.truth["machines"].set_index("serial")
    live = pairs[pairs["serial"].map(tm["end_date"]).to_numpy() == np.datetime64(fleet.as_of, "ns")]
    hours = 365.0 * live["serial"].map(tm["hours_per_day"]).to_numpy()[:, None]
    age = live["age_hours"].to_numpy()
    k, eta, factor = live["shape"].to_numpy(), live["scale"].to_numpy(), live["factor"].to_numpy()
    repaired = _is_lemon(live, flagged)
    futures = {"lemons left": expected_failures(age, hours, k, eta / factor)[:, 0],
               "flagged repaired": expected_failures(age, hours, k, eta / np.where(repaired, 1.0, factor))[:, 0],
               "all repaired": expected_failures(age, hours, k, eta)[:, 0]}
    preds = {}
    for name, m in models.items():
        groups = m.lifetime_groups()
        g = pd.MultiIndex.from_frame(groups).get_indexer(pd.MultiIndex.from_frame(live[["machine_model", "component"]]))
        ok = g >= 0
        out = np.zeros(len(live))
        out[ok] = m.expected_renewals(g[ok], age[ok], hours[ok])[:, 0]
        preds[name] = out
    key = pd.factorize(pd.MultiIndex.from_frame(live[["machine_model", "component"]]))[0]
    rows = []
    for fname, fut in futures.items():
        per_true = pd.Series(fut).groupby(key).sum()
        busy = per_true.to_numpy() >= 20
        row = {"true future": fname, "fleet total": fut.sum()}
        for name, pred in preds.items():
            per = pd.Series(pred).groupby(key).sum()
            row[f"{name}: total error"] = pred.sum() / fut.sum() - 1.0
            row[f"{name}: median |group error|"] = float(np.median(np.abs(per.to_numpy()[busy] / per_true.to_numpy()[busy]
                                                                          - 1.0)))
        rows.append(row)
    return pd.DataFrame(rows).set_index("true future").T


def run(n_machines: int, seed: int, share: float = LEMON_SHARE) -> dict:
    print(f"\n=== {n_machines:,} machines, {YEARS:g} years, lemon_share={share}, seed {seed} ===")
    t = time.perf_counter()
    fleet = make_fleet(n_machines=n_machines, n_dealers=max(30, n_machines // 400), years=YEARS, seed=seed,
                       lemon_share=share)
    lemons = fleet.truth["lemons"]
    print(f"generated: {len(fleet.tickets):,} ticket lines, {len(lemons):,} lemons "
          f"({time.perf_counter() - t:.1f} s)")
    t = time.perf_counter()
    fitted = FailureModel().fit(fleet)
    print(f"FailureModel fit: {time.perf_counter() - t:.1f} s")
    true_laws = FailureModel.from_params(fleet.truth["lifetimes"])

    rows = []
    detectors = {}
    for law_name, law in (("fitted", fitted), ("true laws", true_laws)):
        for method in ("discrete", "bh"):
            t = time.perf_counter()
            found = AbnormalMachines(method=method).fit(fleet, law)
            seconds = time.perf_counter() - t
            # Peak memory of a second, traced run (tracing slows numpy down).
            tracemalloc.start()
            AbnormalMachines(method=method).fit(fleet, law)
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            detectors[(law_name, method)] = found
            for fdr in (0.05, 0.2):
                fl = found.tests_[found.tests_["q_value"].to_numpy() <= fdr]
                precision, recall = _score(fl, lemons)
                rows.append({"laws": law_name, "procedure": method, "fdr": fdr, "tested": found.n_tests_,
                             "flagged": len(fl), "precision": precision, "recall": recall,
                             "seconds": seconds, "peak MiB": peak})
    t = time.perf_counter()
    first = detectors[("fitted", "discrete")]
    refitted = first.refit(fleet)
    second = AbnormalMachines().fit(fleet, refitted)
    seconds = time.perf_counter() - t
    precision, recall = _score(second.flagged_, lemons)
    rows.append({"laws": "refitted without flagged", "procedure": "discrete", "fdr": 0.05,
                 "tested": second.n_tests_, "flagged": len(second.flagged_), "precision": precision,
                 "recall": recall, "seconds": seconds, "peak MiB": float("nan")})
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.precision", 3):
        print(table.to_string(index=False))

    pairs = _pair_truth(fleet)
    lem = pairs[pairs["lemon"]]
    shares = {j: float((lem["n_failures"] >= j).mean()) for j in (1, 2, 3)}
    orc = oracle(pairs, share)
    found = first.tests_
    hit = found.loc[found["flagged"].to_numpy(), ["serial", "component"]]
    caught = _is_lemon(lem, hit)
    by_count = pd.DataFrame({"failures": np.minimum(lem["n_failures"].to_numpy(), 5), "caught": caught}).groupby(
        "failures")["caught"].agg(["size", "mean"]).rename(columns={"size": "lemons", "mean": "recall"})
    by_count.index = [str(i) if i < 5 else "5+" for i in by_count.index]
    print(f"lemons with >= 1, 2, 3 failures: {shares[1]:.1%}, {shares[2]:.1%}, {shares[3]:.1%}")
    print("recall of the detector (fitted laws, discrete, fdr 0.05) by the lemon's failures so far:")
    print(by_count.to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"oracle (true laws, lemon share and factor range; Bayes posterior of each pair's history): "
          f"recall {orc['recall']:.3f} at precision >= {TARGET_PRECISION} ({orc['flagged']} flagged)")

    models = {"fitted on all lives": fitted, "refitted without flagged pairs": refitted,
              "refitted without the true lemons": fit_excluding(fleet, fleet.truth["lemons"])}
    bias = lemon_bias(fleet, models)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print("lemon bias of the fitted laws (relative to the truth):")
        print(bias.to_string(index=False, float_format=lambda v: f"{v:+.3f}"))
        print("next 12 months' expected failures of the machines in service (groups with >= 20):")
        print(next_year(fleet, pairs, models, first.flagged_).to_string(float_format=lambda v: f"{v:,.3f}"))
    return {"table": table, "oracle": orc, "shares": shares, "bias": bias}


def main(argv: list[str]) -> None:
    t0 = time.perf_counter()
    if "--small" in argv:
        runs = [run(5_000, 11)]
    else:
        runs = [run(20_000, seed) for seed in (11, 12, 13)]
        print("\n=== for comparison: 5 % lemons (the bias grows with the share) ===")
        run(20_000, 11, share=0.05)
    if len(runs) > 1:
        pick = pd.concat([r["table"].assign(seed=i) for i, r in enumerate(runs)])
        summary = pick.groupby(["laws", "procedure", "fdr"], sort=False)[
            ["flagged", "precision", "recall", "seconds", "peak MiB"]].mean()
        print("\n=== mean over the three fleets ===")
        with pd.option_context("display.width", 160, "display.precision", 3):
            print(summary.to_string())
        print(f"oracle recall at precision >= {TARGET_PRECISION}: "
              + ", ".join(f"{r['oracle']['recall']:.3f}" for r in runs))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nprocess peak RSS {rss:,.0f} MiB; total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
