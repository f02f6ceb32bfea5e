"""Benchmark of the service analysis (partsforecast.service) on a national fleet.

Run::

    python benchmarks/bench_service.py                       # 200,000 machines, 300 dealers, 5 years
    python benchmarks/bench_service.py --machines 20000 --dealers 60

Generates the fleet (not timed), then times each stage of the service analysis —
``dealer_kpis``, ``stockouts``, ``part_classes``, ``Fleet.findings``, the failure-model fit
and ``abnormal_machines`` — and the whole ``run_service`` (the same stages, plus writing the
CSV files and ``service.html`` atomically), without and with the abnormal-machine test. Prints seconds, the ticket lines and tickets analysed, the peak resident memory
of the process (``ru_maxrss``: the fleet itself included) and, per stage, the peak of memory
allocated through Python and numpy (``tracemalloc``, an extra run), and the truth recovery
per tier: the parts wait the KPIs measure against the generator's.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from scipy import optimize, stats

from partsforecast.reliability import FailureModel
from partsforecast.samples import make_fleet
from partsforecast.service import (
    ServiceSettings,
    abnormal_machines,
    dealer_kpis,
    part_classes,
    run_service,
    stockouts,
)

# The generator's parts wait (partsforecast/samples.py, _build_tickets): lognormal with median
# _TIER_WAIT_DAYS[tier], x1.8 for bulky families, log-sd 0.7.
WAIT_SIGMA = 0.7
BULKY_FACTOR = 1.8


def _peak_rss_gib() -> float:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 2**20 if sys.platform != "darwin" else kib / 2**30


def _timed(fn, *args, **kwargs):
    gc.collect()
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def _traced(fn, *args, **kwargs) -> float:
    gc.collect()
    tracemalloc.start()
    fn(*args, **kwargs)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**30


def _mix(x, w, m, sigma):
    """CDF and density at ``x`` of a mixture of lognormal laws (weights, medians, log-sd)."""
    z = np.log(x / m) / sigma
    return float(w @ stats.norm.cdf(z)), float(w @ (stats.norm.pdf(z) / (x * sigma)))


def _min_law(x, w, m_h, r_med, r_sig):
    """CDF and density at ``x`` hours of min(R, W): the technician arrives at the latest when
    the parts are ready."""
    zr, zw = np.log(x / r_med) / r_sig, np.log(x / m_h) / WAIT_SIGMA
    fr, fw = stats.norm.cdf(zr), stats.norm.cdf(zw)
    dr, dw = stats.norm.pdf(zr) / (x * r_sig), stats.norm.pdf(zw) / (x * WAIT_SIGMA)
    return float(w @ (1 - (1 - fr) * (1 - fw))), float(w @ (dr * (1 - fw) + dw * (1 - fr)))


def _median_se(law, n):
    m = optimize.brentq(lambda x: law(x)[0] - 0.5, 1e-9, 1e4)
    return m, 1 / (2 * law(m)[1] * np.sqrt(n))


def truth_recovery(fleet, end) -> list[str]:
    """Per tier, on the tickets opened before ``end`` (whose times are all known by the as-of
    date): the parts-wait median, the local-stock share and the response median the KPIs
    measure, against the generator's law, in standard errors of the estimate."""
    from partsforecast.samples import _FAMILIES, _TIER_WAIT_DAYS

    k = dealer_kpis(fleet, end=end)
    rows = k[(k["level"] == "tier") & k["period"].isna()].set_index("tier")
    bulky_names = {f.name for f in _FAMILIES if f.bulky}
    tk = fleet.tickets.drop_duplicates("ticket_id")
    tk = tk[tk["opened_at"] < end]
    tier = tk["location_id"].map(fleet.locations.set_index("location_id")["tier"]).astype(int)
    bulky = tk["component"].isin(bulky_names)
    response = fleet.truth.get("response_hours")
    lines = []
    for t in (1, 2, 3, 4):
        p = float(bulky[tier == t].mean())
        w = np.array([1 - p, p])
        m = _TIER_WAIT_DAYS[t - 1] * np.array([1.0, BULKY_FACTOR])
        row = rows.loc[t]
        n = int(row["parts_wait_n"])
        median, se = _median_se(lambda x, w=w, m=m: _mix(x, w, m, WAIT_SIGMA), n)
        got = float(row["parts_wait_days_median"])
        share = _mix(1.0, w, m, WAIT_SIGMA)[0]
        se_share = np.sqrt(share * (1 - share) / n)
        text = (f"  tier {t}: parts wait median {got:.3f} d (truth {median:.3f}, SE {se:.4f}, "
                f"{(got - median) / se:+.1f} SE); local stock {row['local_stock_share']:.4f} (truth {share:.4f}, "
                f"{(row['local_stock_share'] - share) / se_share:+.1f} SE); n {n:,}")
        if response is not None and row["response_n"] > 0:
            law = response.set_index("tier").loc[t]
            rm, rs = float(law["median_hours"]), float(law["sigma_log"])
            nr = int(row["response_n"])
            rmed, rse = _median_se(lambda x, w=w, m=m, a=rm, b=rs: _min_law(x, w, 24 * m, a, b), nr)
            rgot = float(row["response_hours_median"])
            text += (f"; response median {rgot:.2f} h (truth {rmed:.2f}, SE {rse:.3f}, "
                     f"{(rgot - rmed) / rse:+.1f} SE, n {nr:,})")
        lines.append(text)
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machines", type=int, default=200_000)
    ap.add_argument("--dealers", type=int, default=300)
    ap.add_argument("--years", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-tracemalloc", action="store_true", help="skip the per-stage tracemalloc runs")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    fleet = make_fleet(n_machines=args.machines, n_dealers=args.dealers, years=args.years, seed=args.seed)
    print(f"make_fleet(n_machines={args.machines:,}, n_dealers={args.dealers}, years={args.years:g}): "
          f"{time.perf_counter() - t0:.1f} s (not timed below)")
    n_lines, n_tickets = len(fleet.tickets), fleet.tickets["ticket_id"].nunique()
    print(f"{n_lines:,} ticket lines, {n_tickets:,} tickets, {len(fleet.parts):,} parts; "
          f"peak RSS after generating {_peak_rss_gib():.2f} GiB")

    stages = [("dealer_kpis", dealer_kpis, (fleet,)), ("stockouts", stockouts, (fleet,)),
              ("part_classes", part_classes, (fleet,)), ("Fleet.findings", lambda f: f.findings(), (fleet,))]
    for name, fn, fargs in stages:
        out, sec = _timed(fn, *fargs)
        print(f"{name:<22}{sec:8.2f} s   {len(out):>10,} rows")
    model, sec_fit = _timed(FailureModel().fit, fleet)
    flagged, sec_ab = _timed(abnormal_machines, fleet, model)
    print(f"{'FailureModel().fit':<22}{sec_fit:8.2f} s   (for the abnormal-machine test)")
    print(f"{'abnormal_machines':<22}{sec_ab:8.2f} s   {len(flagged):>10,} rows")
    print(f"peak RSS so far: {_peak_rss_gib():.2f} GiB")
    with tempfile.TemporaryDirectory() as tmp:
        for label, kwargs in (("run_service, abnormal off", {"settings": ServiceSettings(abnormal=False)}),
                              ("run_service, all", {})):
            result, sec = _timed(run_service, fleet, Path(tmp) / "service", **kwargs)
            size = sum(p.stat().st_size for p in (Path(tmp) / "service").iterdir()) / 2**20
            print(f"{label:<26}{sec:8.2f} s   (CSV files and service.html: {size:.1f} MB)")
    print(f"peak RSS of the process: {_peak_rss_gib():.2f} GiB")
    print(repr(result))
    if not args.no_tracemalloc:
        for name, fn, fargs in stages:
            print(f"tracemalloc peak {name:<16}{_traced(fn, *fargs):6.2f} GiB")
    end = fleet.as_of - np.timedelta64(180, "D")
    print(f"truth recovery (tickets opened before {end.date()}):")
    print("\n".join(truth_recovery(fleet, end)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
