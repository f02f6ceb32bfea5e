"""Benchmark: the vectorised Weibull group engine against a loop of lifelines' WeibullFitter.

Run::

    python benchmarks/bench_reliability.py                 # 2,000 groups / 60,000 lives
    python benchmarks/bench_reliability.py --lifelines-groups 2000   # loop lifelines over all

Everything is measured in one run and printed: the time of ``fit_weibull_groups`` on all
groups (target < 0.1 s), the time of looping ``lifelines.WeibullFitter`` over a subset of the
groups (extrapolated linearly to all groups, and said so), the ratio, and how closely the two
agree on the groups of the subset. ``lifelines`` is the ``bench`` extra
(``pip install partsforecast[bench]``); without it only the engine is timed.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np

from partsforecast.reliability import fit_weibull, fit_weibull_groups


def make_data(n_groups: int, lives_per_group: int, seed: int):
    """Weibull lives with group-specific shape and scale, randomly right-censored (about 30%)."""
    rng = np.random.default_rng(seed)
    shape = np.exp(rng.uniform(np.log(0.7), np.log(4.0), n_groups))
    scale = 10 ** rng.uniform(2.5, 4.0, n_groups)  # operating hours
    g = np.repeat(np.arange(n_groups), lives_per_group)
    t = scale[g] * rng.weibull(shape[g])
    c = scale[g] * rng.uniform(0.3, 2.5, g.size)
    d = (t <= c).astype(float)
    return g, np.minimum(t, c), d


def timed(fn, repeat: int):
    """Best and median wall time of `repeat` calls (after one warm-up call)."""
    out = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, min(times), float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=2000)
    ap.add_argument("--lives", type=int, default=30, help="lives per group")
    ap.add_argument("--lifelines-groups", type=int, default=200,
                    help="groups fitted by the lifelines loop (extrapolated to all)")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args()

    g, t, d = make_data(args.groups, args.lives, args.seed)
    G = args.groups
    print(f"partsforecast Weibull benchmark: {G:,} groups, {t.size:,} lives "
          f"({d.mean():.0%} failures), numpy {np.__version__}, python {platform.python_version()}, "
          f"{os.cpu_count()} cores")

    df, best, med = timed(lambda: fit_weibull_groups(g, t, d), args.repeat)
    n_mle = int((df["method"] == "mle").sum())
    print(f"fit_weibull_groups : best {best * 1e3:8.1f} ms, median {med * 1e3:8.1f} ms "
          f"(target < 100 ms: {'met' if best < 0.1 else 'MISSED'}); {n_mle} groups by ML, "
          f"all converged: {bool(df['converged'][df['method'] == 'mle'].all())}, "
          f"Newton iterations max {df['n_iter'].max()}, mean {df['n_iter'].mean():.1f}")

    # Our own single-group fit in a Python loop: what vectorisation buys within this library.
    sub = min(args.lifelines_groups, G)
    idx = [np.flatnonzero(g == i) for i in range(sub)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        for ix in idx:
            fit_weibull(t[ix], d[ix])
        loop_own = (time.perf_counter() - t0) / sub * G
    print(f"fit_weibull loop   : {loop_own:8.3f} s for {G:,} groups (measured on {sub}, "
          f"extrapolated) -> engine is {loop_own / best:,.0f}x faster")

    try:
        from lifelines import WeibullFitter
    except ImportError:
        print("lifelines not installed (pip install 'partsforecast[bench]'): comparison skipped")
        return

    import lifelines

    fits = {}
    failures = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        for i, ix in enumerate(idx):
            try:
                fits[i] = WeibullFitter().fit(t[ix], d[ix])
            except Exception:  # lifelines raises ConvergenceError on hard groups
                failures += 1
        spent = time.perf_counter() - t0
    per_group = spent / sub
    total = per_group * G
    extrap = "measured" if sub == G else f"measured on {sub} groups, extrapolated linearly"
    print(f"lifelines {lifelines.__version__} WeibullFitter loop: {spent:.2f} s for {sub} groups "
          f"= {per_group * 1e3:.1f} ms/group -> {total:.1f} s for {G:,} groups ({extrap}); "
          f"{failures} lifelines failures")
    print(f"ratio lifelines loop / fit_weibull_groups : {total / best:,.0f}x")

    rel_k, rel_e, dll = [], [], []
    for i, wf in fits.items():
        if df.loc[i, "method"] != "mle":
            continue
        rel_k.append(abs(wf.rho_ / df.loc[i, "shape"] - 1.0))
        rel_e.append(abs(wf.lambda_ / df.loc[i, "scale"] - 1.0))
        dll.append(df.loc[i, "loglik"] - wf.log_likelihood_)
    if rel_k:
        print(f"agreement on {len(rel_k)} groups: max relative difference shape {max(rel_k):.1e}, "
              f"scale {max(rel_e):.1e}; log-likelihood ours minus lifelines: min {min(dll):.1e}, "
              f"max {max(dll):.1e} (>= 0 means ours is at least as high)")


if __name__ == "__main__":
    main()
