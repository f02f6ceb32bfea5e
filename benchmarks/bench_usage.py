"""Seasonal use and heavy users: what the usage profile and the machine frailty buy.

Run::

    python benchmarks/bench_usage.py                 # 20,000 machines, 30 dealers, seed 11
    python benchmarks/bench_usage.py --seed 12       # another draw
    python benchmarks/bench_usage.py --machines 3000 # the low-density fleet

Design (as ``bench_forecast_accuracy.py``): a generated fleet (4 years, ``maintenance=True``
so that service visits add meter readings) is cut one year before its end; every forecast
sees only the data up to the cut and forecasts the next 12 months, scored at dealer ×
part × month on the *repair* demand (the failures; scheduled-service demand is left out of
both the forecasts, ``maintenance=None``, and the actuals). Scored series: the dealer × part
pairs with repair demand before the cut; mean RMSSE over those whose training history is
not constant; wQL pooled over 0.1 … 0.9; rel. bias Σ(forecast − actual) / Σ actual;
"months" is the root mean square error of the 12 national monthly totals, relative to
their mean (how well the forecast follows the season).

Fleets: ``seasonality=0.4``; ``heavy_use=0.5``; both; ``lifetime_law="lognormal"`` with both;
and the plain fleet (neither) to check that the features do no harm where there is nothing
to find.

Forecasts: ``FailureModel(covariates=None)`` fitted on the past, with last year's sales as
new machines, and

* ``flat``: ``usage_profile=None, frailty=False`` (the forecast before these features);
* ``+ profile``: ``usage_profile="auto"`` (a ``UsageProfile`` fitted on the past);
* ``+ frailty``: ``frailty=True`` (a ``MachineFrailty`` of the fitted model);
* ``+ both``;
* ``+ frailty, totals free``: ``MachineFrailty(keep_totals=False)``, the frailty multiplying
  each machine's expected renewals as they are (not the default: it lowers the totals);
* ``oracle``: the generator's true laws, true usage (every machine's true hours per day
  times its severity, its meter readings times its severity, so that its ages are in
  severity-adjusted hours: the accelerated life exactly) and the true profile
  (``truth["usage_profile"]``). The lognormal oracle needs a ``FailureModel.from_params``
  that reads the ``law`` column; without it the row says n/a.

Also printed: the recovered profile against ``truth["usage_profile"]`` (RMSE and largest
error of the 48 factors) from meter readings and tickets, from the repair tickets' meters
only (service visits removed: sparse meters) and from ticket timing alone; the frailties'
correlation with the true severity (Pearson and Spearman, machines in service at the cut
with an expected count > 0) and α; and how far each machine's yearly mean hours per day
are off when estimated from its meter readings with and without the profile
(``lives.usage_rates`` against ``UsageProfile.rates_``, by age of the machine at the cut).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats

from bench_forecast_accuracy import WQL_LEVELS, bucket, dense, oracle_fleet

from partsforecast import (
    FailureModel,
    MachineFrailty,
    UsageProfile,
    forecast_demand,
    make_fleet,
)
from partsforecast.demand import recent_sales
from partsforecast.evaluate import rmsse, weighted_quantile_loss
from partsforecast.lives import usage_rates

SCENARIOS = {
    "seasonal": {"seasonality": 0.4},
    "heavy use": {"heavy_use": 0.5},
    "both": {"seasonality": 0.4, "heavy_use": 0.5},
    "lognormal + both": {"seasonality": 0.4, "heavy_use": 0.5, "lifetime_law": "lognormal"},
    "plain": {},
}
METHODS = {"flat": (None, False), "+ profile": ("auto", False), "+ frailty": (None, True),
           "+ both": ("auto", True), "+ frailty, totals free": (None, "ph")}


def oracle_model(fleet):
    """The true laws, or None when ``FailureModel.from_params`` cannot represent them."""
    truth = fleet.truth["lifetimes"]
    law = set(truth["law"].astype(str)) if "law" in truth else {"weibull"}
    model = FailureModel.from_params(truth)
    if law != {"weibull"} and "law" not in model.params_.columns:
        return None
    return model


def profile_error(profile: pd.DataFrame, truth: pd.DataFrame, column: str = "factor") -> tuple[float, float]:
    got = profile.set_index(["tier", "month"])[column]
    want = truth.set_index(["tier", "month"])["factor"]
    err = (got.reindex(want.index) - want).to_numpy(float)
    return float(np.sqrt(np.nanmean(err ** 2))), float(np.nanmax(np.abs(err)))


def run(name: str, options: dict, machines: int, dealers: int, seed: int) -> dict:
    t0 = time.perf_counter()
    fleet = make_fleet(n_machines=machines, n_dealers=dealers, years=4.0, seed=seed, maintenance=True, **options)
    cut = fleet.as_of - pd.DateOffset(years=1)
    past = fleet.until(cut)
    repairs = fleet.repairs
    first = past.repairs["opened_at"].min().to_period("M").start_time
    p_train = pd.date_range(first, cut, freq="MS", inclusive="left")
    p_test = pd.date_range(cut, periods=12, freq="MS")
    train = bucket(past.repairs, "MS")
    test = bucket(repairs[repairs["opened_at"] >= cut], "MS")
    ids = pd.Index(sorted(train["unique_id"].unique()))
    y_train, y_test = dense(train, ids, p_train, "y", "ds"), dense(test, ids, p_test, "y", "ds")
    ok = np.mean(np.diff(y_train, axis=1) ** 2, axis=1) > 0
    kw = {"horizon": 12, "quantiles": WQL_LEVELS, "new_machines": recent_sales(past), "maintenance": None}

    def score(fc: pd.DataFrame) -> dict:
        mean = dense(fc, ids, p_test, "mean", "period")
        q = {lv: dense(fc, ids, p_test, f"q{lv:g}", "period").ravel() for lv in WQL_LEVELS}
        months = mean.sum(axis=0) - y_test.sum(axis=0)
        return {"RMSSE": float(np.mean(rmsse(y_test[ok], mean[ok], y_train[ok]))),
                "wQL": float(weighted_quantile_loss(y_test.ravel(), q)),
                "rel. bias": float((mean.sum() - y_test.sum()) / y_test.sum()),
                "months": float(np.sqrt(np.mean(months ** 2)) / y_test.sum(axis=0).mean())}

    model = FailureModel(covariates=None).fit(past)
    profile = UsageProfile().fit(past)
    frailty = MachineFrailty().fit(model, past)
    rows = {}
    frailty_ph = MachineFrailty(keep_totals=False).fit(model, past)
    for method, (use_profile, use_frailty) in METHODS.items():
        fc = forecast_demand(model, past, usage_profile=profile if use_profile else None,
                             frailty=(frailty_ph if use_frailty == "ph" else frailty) if use_frailty else False, **kw)
        rows[method] = score(fc)
    truth_model = oracle_model(fleet)
    if truth_model is not None:
        true_profile = fleet.truth.get("usage_profile")
        try:
            fc = forecast_demand(truth_model, oracle_fleet(past, fleet), usage_profile=true_profile, **kw)
        except ValueError as exc:  # a law the forecast cannot read yet
            print(f"{name}: no oracle ({exc})")
        else:
            rows["oracle"] = score(fc)
    table = pd.DataFrame(rows).T

    info: dict = {"name": name, "table": table, "series": int(ok.sum()), "alpha": frailty.alpha_,
                  "profile_flat": profile.is_flat, "mean_y": float(y_test.mean()), "as_of": fleet.as_of.date()}
    if "usage_profile" in fleet.truth:
        truth = fleet.truth["usage_profile"]
        sparse = past.until(past.as_of)
        sparse.tickets = past.repairs.reset_index(drop=True)  # the repair tickets' meters only
        info["profile"] = {
            "meter + tickets": profile_error(profile.profile_, truth),
            "meter only (raw)": profile_error(profile.profile_, truth, "meter"),
            "repair meters + tickets": profile_error(UsageProfile().fit(sparse).profile_, truth),
            "tickets only": profile_error(UsageProfile(sources=("tickets",)).fit(past).profile_, truth),
        }
        info["rates"] = rate_check(past, fleet, profile)
        info["hours"] = hours_check(fleet)
    if "severity" in fleet.truth["machines"]:
        sev = fleet.truth["machines"].set_index("serial")["severity"]
        fr = frailty.frailty_
        live = fr["serial"].isin(fleet_lives_serials(past)) & (fr["expected"] > 0)
        z, s = fr.loc[live, "frailty"].to_numpy(), fr.loc[live, "serial"].map(sev).to_numpy(float)
        raw = (fr.loc[live, "observed"] / fr.loc[live, "expected"]).to_numpy()
        info["frailty"] = {"pearson": float(np.corrcoef(z, s)[0, 1]),
                           "spearman": float(stats.spearmanr(z, s).statistic),
                           "raw O/E pearson": float(np.corrcoef(raw, s)[0, 1]),
                           "machines": int(live.sum())}
    info["seconds"] = time.perf_counter() - t0
    return info


def fleet_lives_serials(fleet) -> pd.Index:
    """Machines in service at the fleet's as-of date."""
    m = fleet.machines
    return pd.Index(m.loc[m["retired_date"].isna() | (m["retired_date"] >= fleet.as_of), "serial"])


def rate_check(past, fleet, profile: UsageProfile) -> pd.DataFrame:
    """Relative error of meter-estimated hours per day, without and with the profile, by age."""
    true = fleet.truth["machines"].set_index("serial")["hours_per_day"]
    flat = usage_rates(past)
    flat = flat[flat["rate_source"] == "meter"].set_index("serial")["hours_per_day"]
    seasonal = profile.rates_.set_index("serial")["hours_per_day"].reindex(flat.index)
    age = (past.as_of - past.machines.set_index("serial")["in_service_date"].reindex(flat.index)).dt.days / 365.25
    band = pd.cut(age, [0, 1, 2, np.inf], labels=["< 1 year", "1–2 years", "≥ 2 years"])
    t = true.reindex(flat.index)
    frame = pd.DataFrame({"band": band, "flat": flat / t - 1, "profile": seasonal / t - 1})
    out = frame.groupby("band", observed=True).agg(
        machines=("flat", "size"),
        flat_bias=("flat", "mean"), flat_rmse=("flat", lambda e: float(np.sqrt(np.mean(e ** 2)))),
        profile_bias=("profile", "mean"), profile_rmse=("profile", lambda e: float(np.sqrt(np.nanmean(e ** 2)))))
    return out


def hours_check(fleet) -> pd.DataFrame:
    """Hours at the as-of date counted as true rate × calendar days (as ``lives`` counts them)
    against the true hours, machines in service, by time in service."""
    t = fleet.truth["machines"]
    t = t[t["end_date"] == fleet.as_of]
    days = (fleet.as_of - t["in_service_date"]).dt.days.to_numpy(float)
    err = t["hours_per_day"].to_numpy() * days / t["total_hours"].to_numpy() - 1
    band = pd.cut(days / 365.25, [0, 0.5, 1, 2, np.inf], labels=["< 6 months", "6–12 months", "1–2 years",
                                                               "≥ 2 years"])
    return pd.DataFrame({"band": band, "err": err}).groupby("band", observed=True)["err"].agg(
        machines="size", bias="mean", rmse=lambda e: float(np.sqrt(np.mean(e ** 2))))


def fmt(x: float, pct: bool = False) -> str:
    return f"{x:+.1%}" if pct else f"{x:.3f}"


def report(results: list[dict]) -> None:
    print("## Forecast accuracy, repair demand, held-out year (dealer × part × month)\n")
    print("| fleet | forecast | RMSSE | wQL | rel. bias | months |")
    print("|---|---|---|---|---|---|")
    for r in results:
        for i, (method, row) in enumerate(r["table"].iterrows()):
            label = r["name"] if i == 0 else ""
            print(f"| {label} | {method} | {fmt(row['RMSSE'])} | {fmt(row['wQL'])} | "
                  f"{fmt(row['rel. bias'], True)} | {row['months']:.1%} |")
        if "oracle" not in r["table"].index:
            print("| | oracle | n/a | n/a | n/a | n/a |")
    print("\nGain of each feature over the flat forecast, and the oracle's (% lower):\n")
    print("| fleet | + profile RMSSE | + profile wQL | + frailty RMSSE | + frailty wQL | + both RMSSE | "
          "+ both wQL | oracle RMSSE | oracle wQL |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        t = r["table"]
        cells = []
        for method in ("+ profile", "+ frailty", "+ both", "oracle"):
            for metric in ("RMSSE", "wQL"):
                if method in t.index:
                    cells.append(f"{1 - t.loc[method, metric] / t.loc['flat', metric]:+.1%}")
                else:
                    cells.append("n/a")
        print(f"| {r['name']} | " + " | ".join(cells) + " |")

    print("\n## The recovered profile against the truth (48 factors: 4 tiers × 12 months)\n")
    print("| fleet | estimate | RMSE | largest error |")
    print("|---|---|---|---|")
    for r in results:
        for i, (k, (rm, mx)) in enumerate(r.get("profile", {}).items()):
            print(f"| {r['name'] if i == 0 else ''} | {k} | {rm:.4f} | {mx:.4f} |")
    flat_fleets = [r["name"] for r in results if r["profile_flat"]]
    print(f"\nFleets whose fitted profile is exactly flat: {', '.join(flat_fleets) or 'none'}.")

    print("\n## Machine frailty against the true severity\n")
    print("| fleet | machines | α | Pearson | Spearman | raw O/E Pearson |")
    print("|---|---|---|---|---|---|")
    for r in results:
        f = r.get("frailty")
        alpha = "∞" if not np.isfinite(r["alpha"]) else f"{r['alpha']:.2f}"
        if f is None:
            print(f"| {r['name']} | | {alpha} | | | |")
            continue
        print(f"| {r['name']} | {f['machines']} | {alpha} | {f['pearson']:.3f} | {f['spearman']:.3f} | "
              f"{f['raw O/E pearson']:.3f} |")

    seasonal = next((r for r in results if "rates" in r), None)
    if seasonal is not None:
        print(f"\n## Hours per day from meter readings, {seasonal['name']} fleet (machines without a "
              "reported rate)\n")
        print("| age at the cut | machines | flat: bias | flat: RMS error | profile: bias | profile: RMS error |")
        print("|---|---|---|---|---|---|")
        for band, row in seasonal["rates"].iterrows():
            print(f"| {band} | {int(row['machines'])} | {row['flat_bias']:+.1%} | {row['flat_rmse']:.1%} | "
                  f"{row['profile_bias']:+.1%} | {row['profile_rmse']:.1%} |")
        print(f"\nHours at the as-of date ({seasonal['name']} fleet, as of {seasonal['as_of']}): true rate × "
              "calendar days against the true hours, machines in service\n")
        print("| time in service | machines | bias | RMS error |")
        print("|---|---|---|---|")
        for band, row in seasonal["hours"].iterrows():
            print(f"| {band} | {int(row['machines'])} | {row['bias']:+.1%} | {row['rmse']:.1%} |")
    print("\nSeconds per fleet: " + ", ".join(f"{r['name']} {r['seconds']:.0f}" for r in results))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machines", type=int, default=20000)
    ap.add_argument("--dealers", type=int, default=30)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--scenarios", nargs="*", default=list(SCENARIOS), choices=list(SCENARIOS))
    args = ap.parse_args()
    print(f"{args.machines} machines, {args.dealers} dealers, seed {args.seed}\n")
    results = [run(name, SCENARIOS[name], args.machines, args.dealers, args.seed) for name in args.scenarios]
    report(results)


if __name__ == "__main__":
    main()
