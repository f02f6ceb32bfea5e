"""Every intermittent-demand method, ``combination`` and ``auto`` on a held-out year.

Run::

    python benchmarks/bench_intermittent_auto.py              # car parts + two fleets, seed 11
    python benchmarks/bench_intermittent_auto.py --seeds 11 12 13
    python benchmarks/bench_intermittent_auto.py --valid      # the year before instead

Data sets (monthly):

* ``carparts``: the 2,509 complete car-part series of Hyndman et al. (2008), Jan 1998 -
  Mar 2002 (``benchmarks/data/carparts.csv.gz``, CC BY 4.0, see the README there).
* ``fleet 3000`` and ``fleet 20000``: generated fleets (``make_fleet`` with 30 dealers and
  3,000 or 20,000 machines, 4 years, the given seed), demand per dealer x part and month;
  a series starts at the first month of the fleet's ticket history.

Each method forecasts the last 12 months from everything before them (``--valid``: the 12
months before those, from everything before them). Scored: series with a demand before
the cut and a non-zero scale. RMSSE per series as in the M5: root mean squared error over
the 12 months divided by the root mean squared one-step change of the history from the
series' first demand on; the table shows its mean over series, the ratio to the best single
method (the best of croston ... naive on that data), and wQL (GluonTS mean weighted
quantile loss over the levels 0.1 ... 0.9 of ``forecast_distribution``, pooled over series
and months), and "units vs sold" (total forecast units over total units sold in the scored
year, minus 1). ``auto`` fits its factors on the 12 months before the cut (inside the
training data); its settings were chosen on the ``--valid`` year. ``auto, objective=mse``
is ``auto`` with its factors fitted on pooled scaled squared error instead of mean RMSSE.
Two choices of one method per series by SBC demand class (``intermittent.classify``) are
scored too, from the same forecasts: the SBC rule (Croston for smooth series, SBA for
erratic, intermittent and lumpy ones) and each class's best single method on the 12 months
before the forecast origin (chosen on those months, the class of a series taken from its
history before them; printed under each table).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from partsforecast import intermittent, make_fleet
from partsforecast.evaluate import rmsse, weighted_quantile_loss

DATA = Path(__file__).parent / "data" / "carparts.csv.gz"
H = 12
SINGLE = ("croston", "croston_opt", "sba", "tsb", "adida", "imapa", "zero", "naive")
NEW = ("combination", "auto")
AUTO_MSE = "auto, objective=mse"
# Choices of one method per series by SBC demand class (Syntetos, Boylan & Croston 2005:
# Croston in the smooth quadrant, SBA in the other three), and by the class's best single
# method on the 12 months before the forecast origin (chosen on those months).
SBC_RULE = "SBC rule (croston if smooth, else sba)"
PER_CLASS = "best single per class, chosen a year earlier"
SBC_METHOD = {"smooth": "croston", "erratic": "sba", "intermittent": "sba", "lumpy": "sba"}
WQL_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def carparts() -> tuple[np.ndarray, np.ndarray]:
    """Series ids and a (series, month) array of the complete car-parts series."""
    df = pd.read_csv(DATA)
    y = df.iloc[:, 1:].to_numpy(float)
    ok = ~np.isnan(y).any(axis=1)
    return df["Part"].astype(str).to_numpy()[ok], y[ok]


def fleet(machines: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Dealer x part ids and a (series, month) array of units, from the first ticket month."""
    fl = make_fleet(n_machines=machines, n_dealers=30, years=4.0, seed=seed)
    t = fl.tickets
    ds = t["opened_at"].dt.to_period("M").dt.start_time
    uid = t["location_id"].astype(str) + "|" + t["part_number"].astype(str)
    g = pd.DataFrame({"u": uid, "ds": ds, "y": t["quantity"]}).groupby(["u", "ds"])["y"].sum()
    months = pd.date_range(ds.min(), fl.as_of, freq="MS", inclusive="left")
    ids = pd.Index(sorted(g.index.get_level_values(0).unique()))
    y = np.zeros((len(ids), len(months)))
    i = ids.get_indexer(g.index.get_level_values(0))
    j = months.get_indexer(g.index.get_level_values(1))
    keep = j >= 0
    np.add.at(y, (i[keep], j[keep]), g.to_numpy(float)[keep])
    return ids.to_numpy(), y


def scored(ids: np.ndarray, y: np.ndarray, cut: int):
    """The series that can be scored at ``cut``: ids, history, next 12 months, M5 scale history."""
    train, test = y[:, :cut], y[:, cut:cut + H]
    first = np.argmax(train > 0, axis=1)
    has = (train > 0).any(axis=1)
    # The M5 scale: the history from the first demand on (NaN before it is ignored).
    scale_hist = np.where(np.arange(cut)[None, :] >= first[:, None], train, np.nan)
    with warnings.catch_warnings():  # series without demand: an all-NaN row, dropped below
        warnings.simplefilter("ignore", RuntimeWarning)
        d2 = np.nanmean(np.diff(scale_hist, axis=1) ** 2, axis=1)
    ok = has & np.isfinite(d2) & (d2 > 0)
    return ids[ok], train[ok], test[ok], scale_hist[ok]


def long_frame(ids: np.ndarray, train: np.ndarray) -> pd.DataFrame:
    n, T = train.shape
    return pd.DataFrame({"unique_id": np.repeat(ids, T), "ds": np.tile(np.arange(T), n),
                         "y": train.ravel()})


def classes(frame: pd.DataFrame, ids: np.ndarray) -> np.ndarray:
    return intermittent.classify(frame, freq=1).set_index("unique_id").loc[ids, "category"].to_numpy()


def per_class_choice(ids: np.ndarray, y: np.ndarray, cut: int) -> dict[str, str]:
    """Each demand class's best single method (mean RMSSE) on months ``cut - 12 .. cut - 1``."""
    ids, train, test, scale_hist = scored(ids, y, cut - H)
    frame = long_frame(ids, train)
    fc = intermittent.forecast(frame, 1, methods=list(SINGLE), freq=1).set_index("unique_id").loc[ids]
    cls = classes(frame, ids)
    score = pd.DataFrame({m: rmsse(test, np.repeat(fc[m].to_numpy()[:, None], H, axis=1), scale_hist)
                          for m in SINGLE})
    return score.groupby(cls).mean().idxmin(axis=1).to_dict()


def evaluate(ids: np.ndarray, y: np.ndarray, cut: int) -> tuple[pd.DataFrame, dict]:
    """Forecast months ``cut .. cut + 11`` from months ``0 .. cut - 1``; one row per method."""
    chosen = per_class_choice(ids, y, cut)
    ids, train, test, scale_hist = scored(ids, y, cut)
    n, T = train.shape
    frame = long_frame(ids, train)
    cls = classes(frame, ids)
    means, quants = {}, {}
    rows = []

    def row(method, mean, q, seconds):
        rows.append({"method": method,
                     "RMSSE": float(np.mean(rmsse(test, mean, scale_hist))),
                     "wQL": float(weighted_quantile_loss(test.ravel(), {lv: v.ravel() for lv, v in q.items()})),
                     "bias": float(mean.sum() / test.sum() - 1.0),
                     "seconds": seconds})

    for method in SINGLE + NEW + (AUTO_MSE,):
        t0 = time.perf_counter()
        params = {"auto": {"objective": "mse"}} if method == AUTO_MSE else None
        dist = intermittent.forecast_distribution(frame, 1, method="auto" if method == AUTO_MSE else method,
                                                  quantiles=WQL_LEVELS, freq=1, params=params)
        seconds = time.perf_counter() - t0
        dist = dist.set_index("unique_id").loc[ids]
        mean = np.repeat(dist["mean"].to_numpy()[:, None], H, axis=1)
        q = {lv: np.repeat(dist[f"q{lv:g}"].to_numpy()[:, None], H, axis=1) for lv in WQL_LEVELS}
        means[method], quants[method] = mean, q
        row(method, mean, q, seconds)
    # The class-based choices pick, series by series, among the forecasts above.
    for name, pick in ((SBC_RULE, SBC_METHOD), (PER_CLASS, chosen)):
        m = np.array([pick.get(c, "imapa") for c in cls])
        mean = sum(np.where((m == k)[:, None], means[k], 0.0) for k in SINGLE)
        q = {lv: sum(np.where((m == k)[:, None], quants[k][lv], 0.0) for k in SINGLE) for lv in WQL_LEVELS}
        row(name, mean, q, float("nan"))
    table = pd.DataFrame(rows).set_index("method")
    best = table.loc[list(SINGLE), "RMSSE"].idxmin()
    table["vs best single"] = table["RMSSE"] / table.loc[best, "RMSSE"] - 1.0
    info = {"series": int(n), "history": int(T), "best": best,
            "share_zero": float(np.mean(test == 0)), "mean_y": float(test.mean()),
            "per class": ", ".join(f"{c} {k}" for c, k in sorted(chosen.items()))}
    return table, info


def show(name: str, table: pd.DataFrame, info: dict) -> None:
    print(f"\n### {name}: {info['series']} series, {info['history']} months of history, "
          f"{info['share_zero']:.0%} zero months in the scored year; best single: {info['best']}")
    print("| method | mean RMSSE | vs best single | wQL | units vs sold | seconds |")
    print("|---|---|---|---|---|---|")
    for m, r in table.iterrows():
        bold = "**" if m in NEW else ""
        sec = "" if np.isnan(r["seconds"]) else f"{r['seconds']:.1f}"
        print(f"| {bold}{m}{bold} | {r['RMSSE']:.4f} | {100 * r['vs best single']:+.1f}% | "
              f"{r['wQL']:.3f} | {100 * r['bias']:+.0f}% | {sec} |")
    print(f"\nBest single method per demand class, a year earlier: {info['per class']}.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", nargs="*", type=int, default=[11])
    ap.add_argument("--valid", action="store_true", help="score the year before the last one")
    args = ap.parse_args(argv)
    back = 2 * H if args.valid else H
    summary = []
    ids, y = carparts()
    table, info = evaluate(ids, y, y.shape[1] - back)
    show("carparts", table, info)
    summary.append(("carparts", table))
    for seed in args.seeds:
        for machines in (3000, 20000):
            ids, y = fleet(machines, seed)
            table, info = evaluate(ids, y, y.shape[1] - back)
            name = f"fleet {machines} machines, seed {seed}"
            show(name, table, info)
            summary.append((name, table))
    print("\n### summary: mean RMSSE vs the best single method on each data set")
    print("| data | SBC rule | best per class | combination | auto | auto meets the 2% target | auto, objective=mse |")
    print("|---|---|---|---|---|---|---|")
    for name, t in summary:
        v = t["vs best single"] * 100
        a = v["auto"]
        print(f"| {name} | {v[SBC_RULE]:+.1f}% | {v[PER_CLASS]:+.1f}% | {v['combination']:+.1f}% | "
              f"{a:+.1f}% | {'yes' if a <= -2.0 else 'no'} | {v[AUTO_MSE]:+.1f}% |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
