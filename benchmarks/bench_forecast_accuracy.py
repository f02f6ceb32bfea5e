"""Installed-base forecast vs intermittent-demand methods on a held-out final year.

Run: python benchmarks/bench_forecast_accuracy.py [--machines N] [--seed S]
A generated fleet is cut one year before its end; every method sees only the history up
to the cut. Scored at dealer × part × month over the held-out year: mean RMSSE (scaled by
each series' in-sample naive error), weighted quantile loss over the levels 0.1 … 0.9, and
the coverage of the central 80% and 95% intervals. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from partsforecast import FailureModel, forecast_demand, intermittent, make_fleet
from partsforecast.evaluate import interval_coverage, rmsse, weighted_quantile_loss

LEVELS = (0.025, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.975)
WQL_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def monthly(tickets: pd.DataFrame) -> pd.DataFrame:
    t = tickets.assign(ds=tickets["opened_at"].dt.to_period("M").dt.start_time,
                       unique_id=tickets["location_id"].astype(str) + "|" + tickets["part_number"].astype(str))
    return t.groupby(["unique_id", "ds"], as_index=False)["quantity"].sum().rename(columns={"quantity": "y"})


def dense(long: pd.DataFrame, ids: pd.Index, months: pd.DatetimeIndex) -> np.ndarray:
    out = np.zeros((len(ids), len(months)))
    i = ids.get_indexer(long["unique_id"])
    j = months.get_indexer(long["ds"])
    ok = (i >= 0) & (j >= 0)
    np.add.at(out, (i[ok], j[ok]), long["y"].to_numpy()[ok])
    return out


def new_machine_rates(past, window_days: float = 365.0) -> pd.DataFrame:
    """Machines sold per month in the last year before the cut, per model and dealer."""
    m = past.machines
    recent = m[m["in_service_date"] >= past.as_of - pd.Timedelta(days=window_days)]
    per = recent.groupby(["machine_model", "location_id"], as_index=False).size()
    return per.assign(per_period=per["size"] / 12.0)[["machine_model", "location_id", "per_period"]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--machines", type=int, default=6000)
    ap.add_argument("--dealers", type=int, default=40)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    fleet = make_fleet(n_machines=args.machines, n_dealers=args.dealers, years=4, seed=args.seed)
    cut = fleet.as_of - pd.DateOffset(years=1)
    past = fleet.until(cut)
    months_train = pd.date_range(past.tickets["opened_at"].min().to_period("M").start_time, cut,
                                 freq="MS", inclusive="left")
    months_test = pd.date_range(cut, periods=12, freq="MS")
    train = monthly(past.tickets)
    test = monthly(fleet.tickets[fleet.tickets["opened_at"] >= cut])
    # Score every dealer × part with any demand in the training history (what the
    # intermittent methods can forecast) — the installed base covers them all.
    ids = pd.Index(sorted(train["unique_id"].unique()))
    y_train, y_test = dense(train, ids, months_train), dense(test, ids, months_test)
    results = {}

    t = time.perf_counter()
    model = FailureModel().fit(past)
    fc = forecast_demand(model, past, horizon=12, quantiles=LEVELS, new_machines=new_machine_rates(past))
    fc["unique_id"] = fc["location_id"].astype(str) + "|" + fc["part_number"].astype(str)
    seconds = time.perf_counter() - t
    mean = dense(fc.rename(columns={"period": "ds", "mean": "y"}), ids, months_test)
    quants = {lv: dense(fc.rename(columns={"period": "ds", f"q{lv:g}": "y"}), ids, months_test) for lv in LEVELS}
    results["installed base"] = (mean, quants, seconds)

    # Every series on the full monthly calendar up to the cut (zeros included), so that
    # each ends at the cut and not at its last demand.
    hist = pd.DataFrame({"unique_id": np.repeat(ids.to_numpy(), len(months_train)),
                         "ds": np.tile(months_train, len(ids)), "y": y_train.ravel()})
    for method in ("croston", "sba", "tsb", "adida", "imapa", "croston_opt", "naive", "zero"):
        t = time.perf_counter()
        if method in ("zero", "naive"):
            pf = intermittent.forecast(hist, h=12, methods=[method], freq="MS")
            mean = dense(pf.rename(columns={method: "y"}), ids, months_test)
            quants = None
        else:
            pd_ = intermittent.forecast_distribution(hist, h=12, method=method, quantiles=LEVELS, freq="MS")
            mean = dense(pd_.rename(columns={"mean": "y"}), ids, months_test)
            quants = {lv: dense(pd_.rename(columns={f"q{lv:g}": "y"}), ids, months_test) for lv in LEVELS}
        results[method] = (mean, quants, time.perf_counter() - t)

    rows = []
    for name, (mean, quants, seconds) in results.items():
        ok = np.nanmean((y_train[:, 1:] - y_train[:, :-1]) ** 2, axis=1) > 0
        row = {"method": name, "RMSSE": float(np.mean(rmsse(y_test[ok], mean[ok], y_train[ok]))),
               "seconds": seconds}
        if quants is not None:
            # Pooled over every dealer × part × month (1-D inputs give one figure).
            row["wQL"] = float(weighted_quantile_loss(y_test.ravel(), {lv: quants[lv].ravel() for lv in WQL_LEVELS}))
            row["cover80"] = float(interval_coverage(y_test.ravel(), quants[0.1].ravel(), quants[0.9].ravel()))
            row["cover95"] = float(interval_coverage(y_test.ravel(), quants[0.025].ravel(), quants[0.975].ravel()))
            # Counts are discrete: a level-τ quantile is calibrated when P(Y < q) ≤ τ ≤ P(Y ≤ q).
            for lv in (0.1, 0.9):
                row[f"P(y<q{lv:g})"] = float(np.mean(y_test < quants[lv]))
                row[f"P(y<=q{lv:g})"] = float(np.mean(y_test <= quants[lv]))
        rows.append(row)
    table = pd.DataFrame(rows)
    print(f"fleet: {args.machines} machines, {args.dealers} dealers, seed {args.seed}; "
          f"{len(ids)} dealer × part series; held-out year from {cut.date()}")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    best = table[~table["method"].isin(["installed base", "zero", "naive"])]
    ib = table.iloc[0]
    print(f"installed base vs best intermittent method: RMSSE {100 * (1 - ib['RMSSE'] / best['RMSSE'].min()):+.1f}% "
          f"lower, wQL {100 * (1 - ib['wQL'] / best['wQL'].min()):+.1f}% lower; vs the zero forecast: RMSSE "
          f"{100 * (1 - ib['RMSSE'] / table.loc[table['method'] == 'zero', 'RMSSE'].iloc[0]):+.1f}% lower")


if __name__ == "__main__":
    main()
