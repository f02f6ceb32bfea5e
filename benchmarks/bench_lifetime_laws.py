"""Installed-base forecast accuracy by lifetime law: Weibull-only, chosen by AIC, oracle.

Run::

    python benchmarks/bench_lifetime_laws.py                    # 10,000 machines, 15 dealers, seeds 11, 12
    python benchmarks/bench_lifetime_laws.py --seeds 11 12 13   # the table in docs/forecast-accuracy.md
    python benchmarks/bench_lifetime_laws.py --seeds 11 --laws lognormal
    python benchmarks/bench_lifetime_laws.py --plain            # forecasts without use profile and frailty

Design (as ``bench_forecast_accuracy.py``, whose helpers it uses): a generated fleet
(``make_fleet(..., lifetime_law=law)``, 4 years) is cut one year before its end; every
method sees the data up to the cut and forecasts the next 12 months, scored at dealer ×
part × month on the series with demand before the cut: mean RMSSE (M5 scale on the
calendar history) and wQL (0.1 … 0.9). 10,000 machines at 15 dealers is the national
density (667 machines per dealer) at half the run time of the accuracy benchmark.

Fleets: each law (``weibull``, ``lognormal``, ``gamma``; every group's law has the mean
and variance of the Weibull it replaces) on every seed, and a lognormal fleet with
``heavy_use=0.5`` and ``seasonality=0.4`` (machines worked unequally hard, a yearly use
profile).

Methods (all through ``forecast_demand`` with the last year's sales as ``new_machines``
and the forecast's default options, or with ``--plain`` no use profile and no frailty):

* ``weibull``: ``FailureModel()`` (the Weibull law for every group; with its default
  severity: the screen, and the EM where the screen finds heavy users);
* ``auto``: ``FailureModel(distribution="auto")``, one law per component family by AIC
  summed over the family's groups, with the default severity (the laws fitted jointly with
  each machine's severity, a gamma frailty on its time scale, by EM, when the screen finds
  the machines failing more unequally than the pooled laws allow; the forecast averages
  each machine's expected renewals over its severity posterior);
* ``auto, no severity``: ``FailureModel(distribution="auto", severity=False)``, the pooled
  laws (the forecast's frailty then redistributes the totals among machines);
* ``auto per group``: the pooled fits of ``auto``, each group given the law of its own smallest
  AIC (the rule not chosen, for comparison);
* ``auto, true hours``: ``FailureModel(distribution="auto", severity=False)`` fitted on the lives with every
  machine's true hours per day (not its severity: meter readings as recorded) and forecast
  with them, the true use profile and the frailty estimated as by default: against
  ``auto``, what estimating the hours per day and the profile costs; against the next
  column, what not knowing the machines' severity costs;
* ``auto, true usage``: ``FailureModel(distribution="auto", severity=False)`` fitted on the lives with the
  true usage (as the oracle's) and forecast with it: the error left by estimating the
  laws alone;
* ``oracle laws``: the generator's true laws (``FailureModel.from_params(truth)``) with
  the usage estimated from the tickets and the same forecast options as the fitted models;
* ``oracle``: the true laws, every machine's true hours per day times its severity and its
  meter readings times its severity (its ages in severity-adjusted hours: the accelerated
  life exactly, see ``bench_usage.py``), the true use profile, no frailty (its lives are
  read against the profile fitted on its own meter readings, as every fleet's);
* ``best intermittent``: the best of Croston, SBA, TSB, ADIDA, IMAPA and optimised
  Croston on each metric, over both history conventions.

Printed: per fleet the two metrics of every method, its total forecast against the actual
units (over the dealer × part series with demand before the cut) and the fit seconds; then
per law the means over seeds, each fitted model's mean RMSSE as % above the oracle's
(target: the chosen model within 1%), how often ``auto`` picked the generating law, and the
totals against the actual units.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_forecast_accuracy import INTERMITTENT, WQL_LEVELS, bucket, dense, oracle_fleet

from partsforecast import FailureModel, forecast_demand, intermittent, make_fleet
from partsforecast.demand import recent_sales
from partsforecast.evaluate import rmsse, weighted_quantile_loss

FITTED = ("weibull", "auto", "auto, no severity", "auto per group")
ORACLES = ("auto, true hours", "auto, true usage", "oracle laws", "oracle")
HEAVY = {"heavy_use": 0.5, "seasonality": 0.4}


def per_group_model(auto: FailureModel) -> FailureModel:
    """Each group with the law of its own smallest AIC (the family's law where it has none)."""
    comp = auto.law_comparison_.set_index(["machine_model", "component"])
    best = comp["best_in_group"].fillna(comp["law"]).astype(str)
    rows = []
    for law, cand in auto.candidates_.items():
        c = cand.set_index(["machine_model", "component"])
        rows.append(c[best.reindex(c.index).to_numpy() == law])
    table = pd.concat(rows).reset_index()
    ok = np.isfinite(table["shape"]) & np.isfinite(table["scale"]) & (table["shape"] > 0) & (table["scale"] > 0)
    return FailureModel.from_params(table[ok.to_numpy()])


def run(law: str, seed: int, machines: int, dealers: int, options: dict, plain: bool) -> dict:
    fleet = make_fleet(n_machines=machines, n_dealers=dealers, years=4.0, seed=seed, lifetime_law=law, **options)
    cut = fleet.as_of - pd.DateOffset(years=1)
    past = fleet.until(cut)
    first = past.tickets["opened_at"].min().to_period("M").start_time
    p_train = pd.date_range(first, cut, freq="MS", inclusive="left")
    p_test = pd.date_range(cut, periods=12, freq="MS")
    train = bucket(past.tickets, "MS")
    test = bucket(fleet.tickets[fleet.tickets["opened_at"] >= cut], "MS")
    ids = pd.Index(sorted(train["unique_id"].unique()))
    y_train, y_test = dense(train, ids, p_train), dense(test, ids, p_test)
    ok = np.mean(np.diff(y_train, axis=1) ** 2, axis=1) > 0
    kw = {"horizon": 12, "freq": "MS", "quantiles": WQL_LEVELS, "new_machines": recent_sales(past)}
    if plain:
        kw.update(usage_profile=None, frailty=False)

    def score(mean: np.ndarray, q: dict) -> tuple[float, float]:
        r = float(np.mean(rmsse(y_test[ok], mean[ok], y_train[ok])))
        w = float(weighted_quantile_loss(y_test.ravel(), {lv: q[lv].ravel() for lv in WQL_LEVELS}))
        return r, w

    bias: dict[str, float] = {}

    def installed(name: str, model, fl, **extra) -> tuple[float, float]:
        part = forecast_demand(model, fl, **{**kw, **extra})
        mean = dense(part, ids, p_test, "mean", "period")
        # the total forecast against the actual units of the scored dealer × part series
        bias[name] = float(mean.sum() / y_test.sum() - 1)
        return score(mean, {lv: dense(part, ids, p_test, f"q{lv:g}", "period") for lv in WQL_LEVELS})

    out: dict[str, tuple[float, float]] = {}
    seconds = {}
    t0 = time.perf_counter()
    weibull = FailureModel(covariates=None).fit(past)
    seconds["weibull"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    auto = FailureModel(distribution="auto", covariates=None).fit(past)
    seconds["auto"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pooled = FailureModel(distribution="auto", covariates=None, severity=False).fit(past)
    seconds["auto, no severity"] = time.perf_counter() - t0
    out["weibull"] = installed("weibull", weibull, past)
    out["auto"] = installed("auto", auto, past)
    out["auto, no severity"] = installed("auto, no severity", pooled, past)
    out["auto per group"] = installed("auto per group", per_group_model(auto), past)
    truth = FailureModel.from_params(fleet.truth["lifetimes"])
    out["oracle laws"] = installed("oracle laws", truth, past)
    hours = past.until(past.as_of)  # a shallow copy: the true hours per day, no severity
    hours.machines = hours.machines.assign(hours_per_day=hours.machines["serial"].map(
        fleet.truth["machines"].set_index("serial")["hours_per_day"]).to_numpy(float))
    auto_hours = FailureModel(distribution="auto", covariates=None, severity=False).fit(hours)
    out["auto, true hours"] = installed("auto, true hours", auto_hours, hours,
                                        **({} if plain else {"usage_profile": fleet.truth.get("usage_profile")}))
    known = oracle_fleet(past, fleet)
    true_use = {"usage_profile": fleet.truth.get("usage_profile"), "frailty": False}
    auto_known = FailureModel(distribution="auto", covariates=None, severity=False).fit(known)
    out["auto, true usage"] = installed("auto, true usage", auto_known, known, **true_use)
    out["oracle"] = installed("oracle", truth, known, **true_use)

    # the intermittent methods, both history conventions (see bench_forecast_accuracy.py)
    hist = pd.DataFrame({"unique_id": np.repeat(ids.to_numpy(), len(p_train)),
                         "ds": np.tile(p_train, len(ids)), "y": y_train.ravel()})
    leading = (np.arange(len(p_train))[None, :] < np.argmax(y_train > 0, axis=1)[:, None]).ravel()
    inter = []
    for method in INTERMITTENT:
        for frame in (hist, hist[~leading]):
            dist = intermittent.forecast_distribution(frame, h=12, method=method, quantiles=WQL_LEVELS, freq="MS")
            inter.append(score(dense(dist, ids, p_test, "mean"),
                               {lv: dense(dist, ids, p_test, f"q{lv:g}") for lv in WQL_LEVELS}))
    inter = np.array(inter)
    out["best intermittent"] = (float(inter[:, 0].min()), float(inter[:, 1].min()))

    # how often auto picked the generating law: families, and groups with 50+ failures
    fam_right = float(np.mean(auto.families_["law"].astype(str) == law))
    lc = auto.law_comparison_
    big = lc["n_failures"] >= 50
    grp_right = float(np.mean(lc.loc[big, "best_in_group"].astype(str) == law)) if big.any() else np.nan
    return {"scores": out, "bias": bias, "seconds": seconds, "families_right": fam_right, "groups_right": grp_right,
            "n_big": int(big.sum()), "severity variance": auto.severity_.variance_,
            "screen": (auto.severity_.screen_z_, auto.severity_.dispersion_),
            "laws": auto.params_["law"].astype(str).value_counts().to_dict()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--machines", type=int, default=10_000)
    ap.add_argument("--dealers", type=int, default=15)
    ap.add_argument("--seeds", type=int, nargs="+", default=[11, 12])
    ap.add_argument("--laws", nargs="+", default=["weibull", "lognormal", "gamma", "lognormal+heavy"],
                    help="fleets: weibull, lognormal, gamma, lognormal+heavy (heavy_use 0.5, seasonality 0.4)")
    ap.add_argument("--plain", action="store_true", help="forecast without use profile and frailty")
    args = ap.parse_args()
    methods = (*FITTED, *ORACLES, "best intermittent")
    rows = []
    t_all = time.perf_counter()
    for fleet_kind in args.laws:
        law, options = (fleet_kind.split("+")[0], HEAVY) if "+" in fleet_kind else (fleet_kind, {})
        for seed in args.seeds:
            t0 = time.perf_counter()
            res = run(law, seed, args.machines, args.dealers, options, args.plain)
            rec = {"fleet": fleet_kind, "seed": seed, **{f"{m} RMSSE": res["scores"][m][0] for m in methods},
                   **{f"{m} wQL": res["scores"][m][1] for m in methods},
                   **{f"{m} bias": res["bias"][m] for m in res["bias"]},
                   "fit s weibull": res["seconds"]["weibull"], "fit s auto": res["seconds"]["auto"],
                   "fit s no severity": res["seconds"]["auto, no severity"],
                   "severity variance": res["severity variance"],
                   "families right": res["families_right"], "groups right": res["groups_right"]}
            rows.append(rec)
            print(f"{fleet_kind:16s} seed {seed}: " + ", ".join(
                f"{m} {res['scores'][m][0]:.4f}/{res['scores'][m][1]:.4f}" for m in methods)
                + "; total vs actual " + ", ".join(f"{m} {100 * b:+.1f}%" for m, b in res["bias"].items())
                + f"; fit {res['seconds']['weibull']:.1f} s / auto {res['seconds']['auto']:.1f} s"
                f" / auto, no severity {res['seconds']['auto, no severity']:.1f} s; severity screen z"
                f" {res['screen'][0]:.2f}, dispersion {res['screen'][1]:.3f}, variance"
                f" {res['severity variance']:.3f}; laws {res['laws']};"
                f" families on the true law {res['families_right']:.0%}, groups with 50+ failures "
                f"{res['groups_right']:.0%} of {res['n_big']} ({time.perf_counter() - t0:.0f} s)", flush=True)
    df = pd.DataFrame(rows)
    mean = df.groupby("fleet", sort=False).mean(numeric_only=True)
    print(f"\n## Mean over seeds {args.seeds}: RMSSE / wQL ({args.machines:,} machines, {args.dealers} dealers, "
          f"{'plain forecast' if args.plain else 'default forecast options'})\n")
    print("| fleet | " + " | ".join(methods) + " |")
    print("|---|" + "---|" * len(methods))
    for fleet_kind, r in mean.iterrows():
        print(f"| {fleet_kind} | " + " | ".join(f"{r[f'{m} RMSSE']:.4f} / {r[f'{m} wQL']:.4f}" for m in methods) + " |")
    print("\n## Mean RMSSE above the oracle's (%), per seed in brackets; target for auto: within 1%\n")
    cols = (*FITTED, "auto, true hours", "auto, true usage", "oracle laws", "best intermittent")
    print("| fleet | " + " | ".join(cols) + " | auto families on the true law |")
    print("|---|" + "---|" * (len(cols) + 1))
    for fleet_kind, grp in df.groupby("fleet", sort=False):
        cells = []
        for m in cols:
            gap = 100 * (grp[f"{m} RMSSE"] / grp["oracle RMSSE"] - 1)
            cells.append(f"{gap.mean():+.2f}% ({', '.join(f'{v:+.2f}' for v in gap)})")
        print(f"| {fleet_kind} | " + " | ".join(cells) + f" | {grp['families right'].mean():.0%} |")
    print("\n## wQL above the oracle's (%)\n")
    print("| fleet | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for fleet_kind, grp in df.groupby("fleet", sort=False):
        cells = [f"{100 * (grp[f'{m} wQL'] / grp['oracle wQL'] - 1).mean():+.2f}%" for m in cols]
        print(f"| {fleet_kind} | " + " | ".join(cells) + " |")
    print("\n## Total forecast against the actual units (%), mean over seeds\n")
    bcols = [m for m in (*FITTED, *ORACLES) if f"{m} bias" in df]
    print("| fleet | " + " | ".join(bcols) + " |")
    print("|---|" + "---|" * len(bcols))
    for fleet_kind, grp in df.groupby("fleet", sort=False):
        print(f"| {fleet_kind} | " + " | ".join(f"{100 * grp[f'{m} bias'].mean():+.1f}%" for m in bcols) + " |")
    print(f"\nfit seconds (mean): weibull {df['fit s weibull'].mean():.1f}, auto {df['fit s auto'].mean():.1f}, "
          f"auto, no severity {df['fit s no severity'].mean():.1f}; "
          f"total {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
