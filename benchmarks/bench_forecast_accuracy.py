"""Installed-base forecast vs intermittent-demand methods on a held-out final year .

Run::

    python benchmarks/bench_forecast_accuracy.py                      # 20000 machines, 30 dealers, MS
    python benchmarks/bench_forecast_accuracy.py --seeds 11 12 13     # spread across seeds
    python benchmarks/bench_forecast_accuracy.py --freq QS            # quarterly buckets
    python benchmarks/bench_forecast_accuracy.py --machines 3000      # the low-density fleet
    python benchmarks/bench_forecast_accuracy.py --maintenance        # with service schedules and visits

Design. A generated fleet (``make_fleet``, 4 years of history) is cut one year before its
end; every method sees only the data up to the cut (``fleet.until(cut)``) and forecasts the
next year, which is scored at dealer × part × period (monthly, or quarterly with
``--freq QS``). The scored series are the dealer × part pairs with any demand before the
cut (what the intermittent methods can forecast).

The default density is a national network's: 200,000 machines at 300 dealers, about
667 machines per dealer; 20,000 machines at 30 dealers is the same per-dealer density at a
tenth of the run time. Per-dealer density is what sets the size of the counts at dealer ×
part level, and so how much of the error is Poisson noise that no forecaster can remove.

Methods:

* ``installed base``: ``FailureModel`` fitted on the past, ``forecast_demand`` with the
  last year's new-machine sales rate per (model, dealer) as ``new_machines``;
* ``oracle``: the same forecast with the generator's TRUE Weibull parameters
  (``fleet.truth["lifetimes"]``) and TRUE usage rates of every machine (only the
  new-machine sales are estimated as above): the ceiling any installed-base forecaster can
  reach on this data;
* ``croston`` … ``croston_opt``: ``intermittent.forecast_distribution`` (negative binomial
  or Poisson around the point forecast) on every series' full calendar up to the cut, and
  again with each series started at its first demand (M5 / statsforecast convention; its
  own table); the gains are reported against the best method on each metric, over the
  calendar runs and over both;
* ``naive`` and ``zero``: point forecasts only.

With ``--maintenance`` the fleet has a service schedule and service visits
(``make_fleet(maintenance=True)``): every method forecasts all the units (failures and
services); the installed base adds the scheduled-service demand of a ``ServiceModel``
fitted on the past, and the oracle that of the owners' TRUE compliance. The scored series
are then also split into the scheduled parts and the others (their own table).

Also printed: PIT histograms, mean RMSSE by band of series demand, and whether the
targets are met. Tables are markdown (``docs/forecast-accuracy.md``).

Columns: mean RMSSE over series (M5 scale on the training history); WRMSSE with M5-style
weights ∝ the last training year's value (units × unit_cost, M5's dollar sales) and ∝ its
units; wQL (GluonTS mean weighted quantile loss over 0.1 … 0.9, pooled); the expected
coverage of the central 80% / 95% intervals under the non-randomised PIT of Czado, Gneiting
& Held (2009), from the predictive CDFs of the laws the forecasts report
(``counts.count_law``, ``evaluate.pit_coverage``); the naive share of
actuals inside ``[q0.1, q0.9]`` / ``[q0.025, q0.975]``; bias (mean forecast − actual per
series-period) and relative bias (Σ(forecast − actual) / Σ actual).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from partsforecast import FailureModel, ServiceModel, forecast_demand, intermittent, make_fleet
from partsforecast.counts import count_law
from partsforecast.demand import recent_sales
from partsforecast.evaluate import (
    interval_coverage,
    pit_coverage,
    pit_histogram,
    rmsse,
    weighted_quantile_loss,
)

LEVELS = (0.025, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.975)
WQL_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
INTERMITTENT = ("croston", "sba", "tsb", "adida", "imapa", "croston_opt", "auto")
POINT_ONLY = ("naive", "zero")
PERIODS_PER_YEAR = {"MS": 12, "QS": 4}
PANDAS_PERIOD = {"MS": "M", "QS": "Q"}
TARGET_GAIN = 20.0  # % lower RMSSE and wQL than the best intermittent method
TARGET_COVER = 0.03  # |coverage - nominal| at most 3 points
RATE_BANDS = ((0.0, 0.5), (0.5, 1.0), (1.0, 3.0), (3.0, 10.0), (10.0, np.inf))
TOL = 1e-9
ALT = " (from 1st demand)"  # suffix of the intermittent runs on series started at their first demand


# ----------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------


def bucket(tickets: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Units per dealer × part × period (long: unique_id, ds, y)."""
    t = tickets.assign(ds=tickets["opened_at"].dt.to_period(PANDAS_PERIOD[freq]).dt.start_time,
                       unique_id=tickets["location_id"].astype(str) + "|" + tickets["part_number"].astype(str))
    return t.groupby(["unique_id", "ds"], as_index=False)["quantity"].sum().rename(columns={"quantity": "y"})


def dense(long: pd.DataFrame, ids: pd.Index, periods: pd.DatetimeIndex, col: str = "y",
          ds: str = "ds") -> np.ndarray:
    """(series, period) array of ``col`` summed over rows; 0 where a cell has no row."""
    out = np.zeros((len(ids), len(periods)))
    uid = long["unique_id"] if "unique_id" in long else (
        long["location_id"].astype(str) + "|" + long["part_number"].astype(str))
    i = ids.get_indexer(uid)
    j = periods.get_indexer(pd.to_datetime(long[ds]))
    ok = (i >= 0) & (j >= 0)
    np.add.at(out, (i[ok], j[ok]), long[col].to_numpy(float)[ok])
    return out


def oracle_fleet(past, fleet):
    """``past`` with the true usage: every machine's hours per day × its severity (how many
    times faster its components age; 1 without heavy use), meter readings × severity."""
    truth = fleet.truth["machines"].set_index("serial")
    sev = truth["severity"] if "severity" in truth else pd.Series(1.0, index=truth.index)
    out = past.until(past.as_of)  # a shallow copy of the fleet object
    s_m = out.machines["serial"].map(sev).to_numpy(float)
    out.machines = out.machines.assign(
        hours_per_day=out.machines["serial"].map(truth["hours_per_day"]).to_numpy(float) * s_m)
    assert out.machines["hours_per_day"].notna().all()
    out.tickets = out.tickets.assign(meter_hours=out.tickets["meter_hours"].to_numpy(float)
                                     * out.tickets["serial"].map(sev).to_numpy(float))
    return out


# ----------------------------------------------------------------------------------------
# Exact predictive CDFs at the observations
# ----------------------------------------------------------------------------------------


def law_cdfs(frame: pd.DataFrame, ids: pd.Index, periods: pd.DatetimeIndex, y: np.ndarray,
             ds: str = "period") -> tuple[np.ndarray, np.ndarray]:
    """F(y − 1) and F(y) of a forecast frame's count law, (series, period) arrays.

    The law of each cell is ``partsforecast.counts.count_law(mean, var)``, the law every
    forecast of the package reports its quantiles from (for the installed base exactly
    q · Poisson(mean / q) for a part taken q units per failure; for the intermittent
    methods the negative binomial with variance φ · mean, Poisson where φ = 1). Checks
    that it reproduces every reported quantile (smallest n with F(n) ≥ τ).
    """
    law = count_law(dense(frame, ids, periods, "mean", ds), dense(frame, ids, periods, "var", ds))
    for lv in LEVELS:
        q = dense(frame, ids, periods, f"q{lv:g}", ds)
        assert (law.cdf(q) >= lv - TOL).all() and (law.cdf(q - 1) < lv + TOL).all(), \
            f"count_law's CDF does not reproduce the forecast's q{lv:g}"
    return law.cdf(y - 1), law.cdf(y)


# ----------------------------------------------------------------------------------------
# One run
# ----------------------------------------------------------------------------------------


def true_service(past, fleet) -> ServiceModel:
    """A ServiceModel of ``past`` whose every machine has its owner's TRUE compliance."""
    sm = ServiceModel().fit(past)
    truth = fleet.truth["services"].groupby("serial")["p_done"].first()
    sm.machines_["compliance"] = sm.machines_["serial"].map(truth).fillna(
        sm.machines_["compliance"]).to_numpy(float)
    return sm


def run(machines: int, dealers: int, seed: int, freq: str, years: float = 4.0,
        maintenance: bool = False) -> dict:
    per_year = PERIODS_PER_YEAR[freq]
    fleet = make_fleet(n_machines=machines, n_dealers=dealers, years=years, seed=seed, maintenance=maintenance)
    cut = fleet.as_of - pd.DateOffset(years=1)
    past = fleet.until(cut)
    first = past.tickets["opened_at"].min().to_period(PANDAS_PERIOD[freq]).start_time
    p_train = pd.date_range(first, cut, freq=freq, inclusive="left")
    p_test = pd.date_range(cut, periods=per_year, freq=freq)
    assert p_test[0] == cut, "the cut must fall on a period start"
    train = bucket(past.tickets, freq)
    test = bucket(fleet.tickets[fleet.tickets["opened_at"] >= cut], freq)
    ids = pd.Index(sorted(train["unique_id"].unique()))
    y_train, y_test = dense(train, ids, p_train), dense(test, ids, p_test)
    lost = test.loc[~test["unique_id"].isin(ids), "y"].sum()

    results: dict[str, dict] = {}
    nm = recent_sales(past, periods_per_year=per_year)
    kw = {"horizon": per_year, "freq": freq, "quantiles": LEVELS, "new_machines": nm}

    def installed(name: str, model, fl, **extra) -> None:
        t0 = time.perf_counter()
        part = forecast_demand(model, fl, **kw, **extra)
        seconds = time.perf_counter() - t0
        below, at = law_cdfs(part, ids, p_test, y_test)
        results[name] = {"mean": dense(part, ids, p_test, "mean", "period"),
                         "var": dense(part, ids, p_test, "var", "period"),
                         "q": {lv: dense(part, ids, p_test, f"q{lv:g}", "period") for lv in LEVELS},
                         "cdf": (below, at), "seconds": seconds}

    t0 = time.perf_counter()
    model = FailureModel().fit(past)
    fit_seconds = time.perf_counter() - t0
    installed("installed base", model, past)
    results["installed base"]["seconds"] += fit_seconds
    oracle = FailureModel.from_params(fleet.truth["lifetimes"])
    truly_used = oracle_fleet(past, fleet)
    installed("oracle", oracle, truly_used,
              **({"maintenance": true_service(truly_used, fleet)} if maintenance else {}))

    # Every series on the full calendar up to the cut (zeros included), so that each ends
    # at the cut and not at its last demand. Each series starts at the first period of the
    # fleet's history, not at its own first demand: at the default density that is the
    # stronger baseline on RMSSE (a series first seen late, started there, is forecast from
    # one or two demands); the other convention (M5, statsforecast) is run alongside
    # (``alt``) and the gains are also reported against the best of both.
    hist = pd.DataFrame({"unique_id": np.repeat(ids.to_numpy(), len(p_train)),
                         "ds": np.tile(p_train, len(ids)), "y": y_train.ravel()})
    leading = (np.arange(len(p_train))[None, :] < np.argmax(y_train > 0, axis=1)[:, None]).ravel()
    alt: dict[str, dict] = {}
    for method in INTERMITTENT + POINT_ONLY:
        t0 = time.perf_counter()
        if method in POINT_ONLY:
            pf = intermittent.forecast(hist, h=per_year, methods=[method], freq=freq)
            results[method] = {"mean": dense(pf, ids, p_test, method), "q": None, "cdf": None,
                               "seconds": time.perf_counter() - t0}
            continue
        for frame, out in ((hist, results), (hist[~leading], alt)):
            t0 = time.perf_counter()
            dist = intermittent.forecast_distribution(frame, h=per_year, method=method, quantiles=LEVELS, freq=freq)
            seconds = time.perf_counter() - t0
            out[method] = {"mean": dense(dist, ids, p_test, "mean"),
                           "q": {lv: dense(dist, ids, p_test, f"q{lv:g}") for lv in LEVELS},
                           "cdf": law_cdfs(dist, ids, p_test, y_test, ds="ds"), "seconds": seconds}

    # RMSSE is defined where the training history is not constant (non-zero naive scale).
    ok = np.mean(np.diff(y_train, axis=1) ** 2, axis=1) > 0
    cost = fleet.parts.set_index("part_number")["unit_cost"]
    unit_cost = ids.str.split("|").str[1].map(cost).to_numpy(float)
    last_units = y_train[:, -per_year:].sum(axis=1)
    weights = {"value": np.where(ok, last_units * unit_cost, 0.0), "units": np.where(ok, last_units, 0.0)}
    weights = {k: w / w.sum() for k, w in weights.items()}

    pit_hist: dict[str, np.ndarray] = {}

    def score(name: str, r: dict, tag: str = "") -> dict:
        # The RMSSE scale is each series' padded training history for every method, so that
        # the per-series figures of all methods share one denominator.
        per_series = rmsse(y_test[ok], r["mean"][ok], y_train[ok])
        full = np.zeros(len(ids))
        full[ok] = per_series
        row = {"method": name, "RMSSE": float(np.mean(per_series)),
               "WRMSSE value": float(np.sum(weights["value"] * full)),
               "WRMSSE units": float(np.sum(weights["units"] * full))}
        if r["q"] is not None:
            q = r["q"]
            row["wQL"] = float(weighted_quantile_loss(y_test.ravel(), {lv: q[lv].ravel() for lv in WQL_LEVELS}))
            below, at = (a.ravel() for a in r["cdf"])
            row["PIT 80%"] = pit_coverage(below, at, 0.8)
            row["PIT 95%"] = pit_coverage(below, at, 0.95)
            row["[q.1,q.9]"] = float(interval_coverage(y_test.ravel(), q[0.1].ravel(), q[0.9].ravel()))
            row["[q.025,q.975]"] = float(interval_coverage(y_test.ravel(), q[0.025].ravel(), q[0.975].ravel()))
            pit_hist[name + tag] = pit_histogram(below, at, bins=10)
        row["bias"] = float(np.mean(r["mean"] - y_test))
        row["rel. bias"] = float(np.sum(r["mean"] - y_test) / np.sum(y_test))
        row["seconds"] = r["seconds"]
        return row

    table = pd.DataFrame([score(k, r) for k, r in results.items()]).set_index("method")
    split = None
    if maintenance:  # the scheduled parts and the others, each scored on its own
        scheduled = np.asarray(ids.str.split("|").str[1].isin(set(fleet.maintenance["part_number"])))
        rows = []
        for label, mask in (("scheduled parts", scheduled), ("other parts", ~scheduled)):
            keep = ok & mask
            for name in ("installed base", "oracle", *INTERMITTENT):
                r = results[name]
                rows.append({"series": label, "method": name, "n": int(keep.sum()),
                             "RMSSE": float(np.mean(rmsse(y_test[keep], r["mean"][keep], y_train[keep]))),
                             "wQL": float(weighted_quantile_loss(
                                 y_test[mask].ravel(), {lv: r["q"][lv][mask].ravel() for lv in WQL_LEVELS})),
                             "rel. bias": float(np.sum(r["mean"][mask] - y_test[mask]) / np.sum(y_test[mask]))})
        split = pd.DataFrame(rows)
    alt_table = pd.DataFrame([score(k, r, ALT) for k, r in alt.items()]).set_index("method")

    # Where the gain comes from: mean RMSSE per band of series demand (units per month in
    # the last training year, so the bands mean the same for months and quarters).
    rate = last_units / 12.0
    best = min(INTERMITTENT, key=lambda m: table.loc[m, "RMSSE"])
    bands = []
    for lo, hi in RATE_BANDS:
        s = ok & (rate >= lo) & (rate < hi)
        if s.any():
            rec = {"band": f"{lo:g}–{hi:g}" if np.isfinite(hi) else f"≥ {lo:g}", "series": int(s.sum())}
            for name in ("installed base", "oracle", best):
                rec[name] = float(np.mean(rmsse(y_test[s], results[name]["mean"][s], y_train[s])))
            rec["best"] = best
            bands.append(rec)
    # The oracle's error is (nearly) all noise: its MSE against its own forecast variance.
    noise = {"oracle_mse": float(np.mean((y_test - results["oracle"]["mean"]) ** 2)),
             "oracle_var": float(np.mean(results["oracle"]["var"])),
             "best_mse": float(np.mean((y_test - results[best]["mean"]) ** 2)), "best": best}
    info = {"machines": machines, "dealers": dealers, "seed": seed, "freq": freq, "cut": cut,
            "series": len(ids), "rmsse_series": int(ok.sum()), "mean_y": float(y_test.mean()),
            "share_zero": float(np.mean(y_test == 0)), "lost_units": float(lost),
            "test_units": float(test["y"].sum())}
    return {"table": table, "alt_table": alt_table, "pit_hist": pit_hist, "info": info,
            "bands": pd.DataFrame(bands), "noise": noise, "split": split}


# ----------------------------------------------------------------------------------------
# Reporting
# ----------------------------------------------------------------------------------------

GAIN_METRICS = ("RMSSE", "WRMSSE value", "WRMSSE units", "wQL")


def competitors(res: dict, both: bool) -> pd.DataFrame:
    """The intermittent methods on the calendar history, and with ``both`` also started at
    each series' first demand (rows suffixed ``ALT``)."""
    inter = res["table"].loc[list(INTERMITTENT)]
    if both:
        inter = pd.concat([inter, res["alt_table"].rename(index=lambda k: k + ALT)])
    return inter


def gains(res: dict, both: bool = True) -> tuple[pd.DataFrame, dict[str, str]]:
    """% lower than the best intermittent method on each metric, for installed base and
    oracle; and which method is best on each."""
    table, inter = res["table"], competitors(res, both)
    out = {who: {m: 100.0 * (1.0 - table.loc[who, m] / inter[m].min()) for m in GAIN_METRICS}
           for who in ("installed base", "oracle")}
    return pd.DataFrame(out).T, {m: str(inter[m].idxmin()) for m in GAIN_METRICS}


def markdown(table: pd.DataFrame) -> str:
    cols = list(table.columns)
    lines = ["| method | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for name, row in table.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            if pd.isna(v):
                cells.append("")
            elif c in ("bias",):
                cells.append(f"{v:+.3f}")
            elif c == "rel. bias":
                cells.append(f"{100 * v:+.0f}%")
            elif c == "seconds":
                cells.append(f"{v:.1f}")
            else:
                cells.append(f"{v:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(res: dict) -> None:
    info, table = res["info"], res["table"]
    print(f"\n## {info['machines']} machines, {info['dealers']} dealers "
          f"({info['machines'] / info['dealers']:.0f} per dealer), seed {info['seed']}, freq {info['freq']}")
    print(f"held-out year from {info['cut'].date()}; {info['series']} dealer × part series "
          f"({info['rmsse_series']} with a non-zero RMSSE scale); mean actual per series-period "
          f"{info['mean_y']:.3f}, {100 * info['share_zero']:.0f}% zeros; test-year units of "
          f"series without training demand (not scored): {info['lost_units']:.0f} of {info['test_units']:.0f}\n")
    print(markdown(table))
    print("\nIntermittent methods with each series started at its first demand (M5 / statsforecast "
          "convention; same RMSSE scales):\n")
    print(markdown(res["alt_table"]))
    for both, label in ((False, "calendar history"), (True, "either history")):
        g, best = gains(res, both)
        print(f"\n% lower than the best intermittent method on each metric, {label} "
              f"({', '.join(f'{m}: {best[m]}' for m in GAIN_METRICS)}):\n")
        print("| | " + " | ".join(GAIN_METRICS) + " |\n|---|" + "---|" * len(GAIN_METRICS))
        for who, row in g.iterrows():
            print(f"| {who} | " + " | ".join(f"{row[m]:+.1f}%" for m in GAIN_METRICS) + " |")
    print("\nPIT histograms (10 bins, share of PIT mass; 0.100 each if calibrated):\n")
    inter = competitors(res, True)
    for name in dict.fromkeys(("installed base", "oracle", inter["wQL"].idxmin(), inter["RMSSE"].idxmin())):
        print(f"  {name:32s} " + " ".join(f"{v:.3f}" for v in res["pit_hist"][name]))
    b, nz = res["bands"], res["noise"]
    print(f"\nMean RMSSE by series demand (units per month in the last training year); "
          f"% = installed base / oracle lower than {nz['best']}:\n")
    print(f"| units/month | series | installed base | oracle | {nz['best']} | ib gain | oracle gain |")
    print("|---|---|---|---|---|---|---|")
    for _, r in b.iterrows():
        print(f"| {r['band']} | {r['series']} | {r['installed base']:.3f} | {r['oracle']:.3f} | "
              f"{r[nz['best']]:.3f} | {100 * (1 - r['installed base'] / r[nz['best']]):+.1f}% | "
              f"{100 * (1 - r['oracle'] / r[nz['best']]):+.1f}% |")
    print(f"\npooled MSE per series-period: oracle {nz['oracle_mse']:.3f} (its forecast variance "
          f"{nz['oracle_var']:.3f}: the error left is noise), {nz['best']} {nz['best_mse']:.3f}")
    ib = table.loc["installed base"]
    g, best = gains(res, True)
    print("\ntargets, installed base against the best intermittent method on either history:")
    for m in ("RMSSE", "wQL"):
        print(f"  {m} ≥ {TARGET_GAIN:.0f}% lower than best intermittent ({best[m]}): "
              f"{g.loc['installed base', m]:+.1f}% -> {'MET' if g.loc['installed base', m] >= TARGET_GAIN else 'NOT MET'}"
              f" (oracle {g.loc['oracle', m]:+.1f}%)")
    for lv, col, naive in ((0.8, "PIT 80%", "[q.1,q.9]"), (0.95, "PIT 95%", "[q.025,q.975]")):
        met = abs(ib[col] - lv) <= TARGET_COVER + 1e-12
        print(f"  {lv:.0%} coverage within {100 * TARGET_COVER:.0f} points: PIT {ib[col]:.3f} -> "
              f"{'MET' if met else 'NOT MET'} (naive share in interval {ib[naive]:.3f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--machines", type=int, default=20000,
                    help="machines in the fleet (default 20000: with 30 dealers, the national "
                         "200,000 machines / 300 dealers ≈ 667 per dealer)")
    ap.add_argument("--dealers", type=int, default=30)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--seeds", type=int, nargs="+", help="several seeds; prints each and the spread")
    ap.add_argument("--freq", choices=sorted(PERIODS_PER_YEAR), default="MS",
                    help="period of the scored buckets: MS months, QS quarters")
    ap.add_argument("--years", type=float, default=4.0, help="years of generated history")
    ap.add_argument("--maintenance", action="store_true", help="a fleet with service schedules and visits")
    args = ap.parse_args()
    seeds = args.seeds or [args.seed]
    runs = []
    for seed in seeds:
        t0 = time.perf_counter()
        res = run(args.machines, args.dealers, seed, args.freq, args.years, args.maintenance)
        report(res)
        if res["split"] is not None:
            print("\n### Scheduled parts and the others (RMSSE, wQL, relative bias)\n")
            sp = res["split"]
            print("| series | method | n | RMSSE | wQL | rel. bias |\n|---|---|---|---|---|---|")
            for r in sp.itertuples():
                print(f"| {r.series} | {r.method} | {r.n} | {r.RMSSE:.4f} | {r.wQL:.4f} | {r._6:+.1%} |")
        print(f"\n(run took {time.perf_counter() - t0:.0f} s)")
        runs.append(res)
    if len(runs) > 1:
        print(f"\n## Spread over seeds {seeds}: % lower than the best intermittent method "
              "(either history), and PIT coverage\n")
        cols = [f"{who} {m}" for who in ("ib", "oracle") for m in GAIN_METRICS]
        print("| seed | " + " | ".join(cols) + " | ib PIT 80% | ib PIT 95% | best-wQL intermittent PIT 80% / 95% |")
        print("|---|" + "---|" * (len(cols) + 3))
        for seed, res in zip(seeds, runs):
            g, best = gains(res, True)
            t = res["table"]
            bi = best["wQL"]
            src = res["alt_table"].loc[bi.removesuffix(ALT)] if bi.endswith(ALT) else t.loc[bi]
            print(f"| {seed} | "
                  + " | ".join(f"{g.loc[who, m]:+.1f}%" for who in ("installed base", "oracle") for m in GAIN_METRICS)
                  + f" | {t.loc['installed base', 'PIT 80%']:.3f} | {t.loc['installed base', 'PIT 95%']:.3f}"
                  + f" | {src['PIT 80%']:.3f} / {src['PIT 95%']:.3f} ({bi}) |")


if __name__ == "__main__":
    main()
