"""Which count law for a (mean, variance)? The rule of ``partsforecast.counts`` measured.

Run::

    python benchmarks/bench_count_laws.py                 # 20000 machines, 30 dealers, seed 11
    python benchmarks/bench_count_laws.py --seeds 11 12   # several fleets
    python benchmarks/bench_count_laws.py --stocking      # also the batch-demand fill rates

Design. As ``bench_forecast_accuracy.py``: a generated fleet is cut one year before its end
and forecast over the held-out year at dealer × part × month, by the installed base (the
fitted ``FailureModel``) and by the oracle (the generator's true lives and usage). Demand
over a lead time of 1 and 3 months (sums of consecutive months) is scored under four laws
of the same mean and variance, side by side:

* ``exact``: the compound Poisson Σ j·N_j from the per-component failure rates and the BOM
  quantities (Panjer's recursion) -- what ``forecast_demand``'s quantiles were before
  ``counts`` existed;
* ``scaled Poisson``: (v/m)·Poisson(m²/v) rounded up -- what ``lead_time_demand``'s
  quantiles were;
* ``Poisson / NB``: Poisson, or the negative binomial when v > m -- what the stocking
  formulas and the intermittent methods used;
* ``count_law``: the rule now used everywhere (Poisson; q·Poisson(m/q) when v/m is a whole
  q ≥ 2; else the negative binomial).

Scores: PIT coverage of the central 80% / 95% intervals (non-randomised PIT, Czado,
Gneiting & Held 2009), the largest deviation of the 10-bin PIT histogram from 0.1, and the
weighted quantile loss over 0.1 … 0.9 -- over all series and by how the part is taken
(one unit per failure, q ≥ 2 units, several quantities). Parts taken in several quantities
do not occur in the generated fleets; a synthetic block of compound-Poisson cells with two
quantities (1 and 3 units, demands drawn from the exact law) measures that case.

``--stocking``: for demand that comes q units at a time, the base-stock level each law
gives for a fill-rate target (``stocking.base_stock_level``, fill = P(D ≤ s − 1)) and the
unit fill rate that level really delivers (a batch is met from stock on hand, partially if
need be): E[min(q, (s − D)+)] / q.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_forecast_accuracy as acc

from partsforecast import FailureModel, forecast_demand, make_fleet
from partsforecast.counts import (
    NEGATIVE_BINOMIAL,
    POISSON,
    CountLaw,
    compound_poisson_cdf,
    compound_poisson_quantiles,
    count_law,
)
from partsforecast.demand import recent_sales
from partsforecast.evaluate import pit_coverage, pit_histogram, weighted_quantile_loss

WQL = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


# ----------------------------------------------------------------------------------------
# The laws compared (each: cdf(k) and quantiles at the WQL levels, from mean and var)
# ----------------------------------------------------------------------------------------


def poisson_nb(mean: np.ndarray, var: np.ndarray) -> CountLaw:
    """Poisson, or the negative binomial whenever var > mean (no batch law)."""
    law = count_law(mean, var)
    kind = np.where(law.kind == POISSON, POISSON, NEGATIVE_BINOMIAL)
    return CountLaw(law.mean, law.var, kind, np.ones(law.shape))


def scaled_poisson_cdf(k: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """P(D ≤ k) of D = s·Poisson(m/s), s = v/m ≥ 1, whose quantiles are ceil(s·n)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(mean > 0, np.maximum(var / mean, 1.0), 1.0)
    whole = np.round(s)
    s = np.where(np.abs(s - whole) <= 1e-9 * whole, whole, s)
    out = (k >= 0).astype(float)
    pos = (mean > 0) & (k >= 0)
    out[pos] = stats.poisson.cdf(np.floor(k[pos] / s[pos] + 1e-9), mean[pos] / s[pos])
    return out


def scaled_poisson_quantiles(mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(mean > 0, np.maximum(var / mean, 1.0), 1.0)
    n = stats.poisson.ppf(np.asarray(WQL)[None, :], np.where(mean > 0, mean / s, 1.0)[:, None])
    return np.where(mean[:, None] > 0, np.ceil(n * s[:, None] - 1e-9), 0.0)


def scores(below: np.ndarray, at: np.ndarray, q: np.ndarray, y: np.ndarray) -> dict:
    hist = pit_histogram(below, at, bins=10)
    return {"PIT 80%": pit_coverage(below, at, 0.8), "PIT 95%": pit_coverage(below, at, 0.95),
            "PIT max dev": float(np.abs(hist - 0.1).max()),
            "wQL": float(weighted_quantile_loss(y, {lv: q[:, i] for i, lv in enumerate(WQL)}))}


def compare(rates: np.ndarray, y: np.ndarray) -> dict[str, tuple]:
    """(below, at, quantiles) of every law for cells with compound-Poisson ``rates``."""
    j = np.arange(1, rates.shape[1] + 1)
    m, v = rates @ j, rates @ j**2
    yy = y.astype(np.int64)
    out = {"exact": (compound_poisson_cdf(rates, yy - 1), compound_poisson_cdf(rates, yy),
                     compound_poisson_quantiles(rates, WQL))}
    out["scaled Poisson"] = (scaled_poisson_cdf(y - 1, m, v), scaled_poisson_cdf(y, m, v),
                             scaled_poisson_quantiles(m, v))
    for name, law in (("Poisson / NB", poisson_nb(m, v)), ("count_law", count_law(m, v))):
        out[name] = (law.cdf(y - 1), law.cdf(y), law.quantiles(WQL))
    return out


# ----------------------------------------------------------------------------------------
# Generated fleets
# ----------------------------------------------------------------------------------------


def fleet_rates(machines: int, dealers: int, seed: int):
    """Compound-Poisson rates (series, month, quantity) of the held-out year by the installed
    base and the oracle, the actuals, and each series' smallest and largest quantity."""
    fleet = make_fleet(n_machines=machines, n_dealers=dealers, years=4.0, seed=seed)
    cut = fleet.as_of - pd.DateOffset(years=1)
    past = fleet.until(cut)
    p_test = pd.date_range(cut, periods=12, freq="MS")
    train = acc.bucket(past.tickets, "MS")
    test = acc.bucket(fleet.tickets[fleet.tickets["opened_at"] >= cut], "MS")
    ids = pd.Index(sorted(train["unique_id"].unique()))
    y = acc.dense(test, ids, p_test)
    kw = {"horizon": 12, "freq": "MS", "quantiles": (), "new_machines": recent_sales(past, periods_per_year=12),
          "by": "component"}
    bom = fleet.bom[["machine_model", "component", "part_number", "qty_per_replacement"]]
    rates = {}
    for name, model, fl in (("installed base", FailureModel().fit(past), past),
                            ("oracle", FailureModel.from_params(fleet.truth["lifetimes"]),
                             acc.with_true_usage(past, fleet))):
        cells = forecast_demand(model, fl, **kw).merge(bom, on=["machine_model", "component"])
        i = ids.get_indexer(cells["location_id"].astype(str) + "|" + cells["part_number"].astype(str))
        t = p_test.get_indexer(pd.to_datetime(cells["period"]))
        ok = (i >= 0) & (t >= 0)
        qty = cells["qty_per_replacement"].to_numpy(np.int64)
        r = np.zeros((len(ids), 12, int(qty.max())))
        np.add.at(r, (i[ok], t[ok], qty[ok] - 1), cells["mean"].to_numpy(float)[ok])
        rates[name] = r
    g = bom.groupby("part_number")["qty_per_replacement"].agg(["min", "max"])
    part = ids.str.split("|").str[1]
    return rates, y, part.map(g["min"]).to_numpy(float), part.map(g["max"]).to_numpy(float)


def run_fleet(machines: int, dealers: int, seed: int) -> pd.DataFrame:
    rates, y, qmin, qmax = fleet_rates(machines, dealers, seed)
    S = y.shape[0]
    subsets = {"all": np.ones(S, bool), "1 unit": qmax == 1, "q >= 2 units": (qmin == qmax) & (qmin >= 2),
               "several quantities": qmin != qmax}
    rows = []
    for months in (1, 3):
        blocks = 12 // months
        y_l = y[:, : blocks * months].reshape(S, blocks, months).sum(-1)
        for who, r in rates.items():
            r_l = r[:, : blocks * months].reshape(S, blocks, months, -1).sum(2)
            laws = compare(r_l.reshape(S * blocks, -1), y_l.ravel())
            for subset, sel in subsets.items():
                cell = np.repeat(sel, blocks)
                if not cell.any():
                    continue
                for law, (below, at, q) in laws.items():
                    rows.append({"forecast": who, "lead time": f"{months} mo", "series": subset,
                                 "cells": int(cell.sum()), "law": law,
                                 **scores(below[cell], at[cell], q[cell], y_l.ravel()[cell])})
    return pd.DataFrame(rows)


def run_mixed(seed: int, n: int = 200_000) -> pd.DataFrame:
    """Cells of a part taken 1 or 3 units per failure, demands drawn from the exact law."""
    rng = np.random.default_rng(seed)
    lam1 = rng.gamma(0.6, 1.0, n)
    lam3 = lam1 * rng.uniform(0.1, 2.0, n)
    y = rng.poisson(lam1) + 3 * rng.poisson(lam3)
    rates = np.column_stack([lam1, np.zeros(n), lam3])
    return pd.DataFrame([{"law": law, **scores(b, a, q, y.astype(float))}
                         for law, (b, a, q) in compare(rates, y.astype(float)).items()])


def run_stocking() -> pd.DataFrame:
    """Level and delivered unit fill rate for demand in batches of q, per law."""
    from partsforecast.stocking import base_stock_level

    rows = []
    for q in (2, 4, 40):
        for n_mean in (0.05, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0):
            m = n_mean * q
            for target in (0.8, 0.9, 0.95):
                for law, var in (("Poisson / NB", q * m * (1 + 1e-6)), ("count_law", q * m)):
                    s = int(base_stock_level(m, var, fill_rate=target))
                    n = np.arange(int(n_mean + 40 * np.sqrt(n_mean + 1) + 60))
                    p = stats.poisson.pmf(n, n_mean)
                    delivered = float((p * np.minimum(q, np.maximum(s - q * n, 0))).sum() / q)
                    rows.append({"q": q, "law": law, "target": target, "level": s, "delivered": delivered,
                                 "short": max(target - delivered, 0.0)})
    df = pd.DataFrame(rows)
    return df.groupby(["q", "law"]).agg(mean_level=("level", "mean"), mean_delivered=("delivered", "mean"),
                                         mean_short=("short", "mean"), met=("short", lambda x: float((x <= 0).mean())))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--machines", type=int, default=20000)
    ap.add_argument("--dealers", type=int, default=30)
    ap.add_argument("--seeds", type=int, nargs="+", default=[11])
    ap.add_argument("--stocking", action="store_true", help="also the batch-demand fill-rate table")
    args = ap.parse_args()
    pd.set_option("display.width", 200)
    fmt = {"float_format": lambda x: f"{x:.4f}", "index": False}
    for seed in args.seeds:
        t0 = time.perf_counter()
        res = run_fleet(args.machines, args.dealers, seed)
        print(f"\n## {args.machines} machines, {args.dealers} dealers, seed {seed} "
              f"({time.perf_counter() - t0:.0f} s)\n")
        for (who, lead), block in res.groupby(["forecast", "lead time"], sort=False):
            print(f"\n### {who}, lead time {lead}\n")
            print(block.drop(columns=["forecast", "lead time"]).to_string(**fmt))
    print("\n## Parts taken in several quantities (1 and 3 units; synthetic, 200,000 cells)\n")
    print(run_mixed(args.seeds[0]).to_string(**fmt))
    if args.stocking:
        print("\n## Demand in batches of q: fill-rate target vs the unit fill rate delivered\n")
        print(run_stocking().to_string(float_format=lambda x: f"{x:.4f}"))


if __name__ == "__main__":
    main()
