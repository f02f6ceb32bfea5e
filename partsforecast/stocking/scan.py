"""Fast marginal-analysis scans over many (part, dealer) pairs at once (Panjer recursion).

The optimiser walks each pair's stock levels one unit at a time; :func:`scan` does so for
all pairs together from their :func:`pair_state`, recording the gain per unit cost of every
step.  Reported figures are recomputed in closed form afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from partsforecast.stocking.formulas import NB_RTOL, LeadTimeDemand

__all__ = ["PairState", "pair_state", "ScanOut", "scan"]


# ---------------------------------------------------------------------------------------
# Fast per-pair scans used by the optimiser
# ---------------------------------------------------------------------------------------
#
# The optimiser needs, for ~10^6 (part, dealer) pairs at a time, the marginal-analysis
# sequence of each pair's units: the gain (fill or backorder reduction) of stocking unit
# s+1.  The Panjer recursion p(k) = p(k-1) (a + b/k) (Poisson: a = 0, b = m;
# NB(r, p): a = 1-p, b = (r-1)(1-p)) walks all pairs one level at a time with a shrinking
# active set, which is ~20x faster than calling the incomplete beta/gamma functions per
# level.  Reported figures are recomputed in closed form by metric_evaluate afterwards.


@dataclass
class PairState:
    """Per pair: the Panjer coefficients of its pipeline law and where the recursion starts."""

    mean: np.ndarray
    a: np.ndarray
    b: np.ndarray
    p0: np.ndarray  # P(D = 0), for the ready rate of pairs left at level 0
    k0: np.ndarray  # first level the recursion starts from (0 unless p(0) underflows)
    F0: np.ndarray  # F(k0 - 1)
    pmf0: np.ndarray  # p(k0)
    ebo0: np.ndarray  # EBO(k0)
    var: np.ndarray
    mode: np.ndarray  # a mode of the pmf


def pair_state(mean: np.ndarray, var: np.ndarray) -> PairState:
    """The recursion state of pipelines with these means and variances (Poisson or NB)."""
    mean = np.asarray(mean, dtype=float)
    var = np.maximum(np.asarray(var, dtype=float), mean)
    nb = var > mean * (1.0 + NB_RTOL)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        p = np.where(nb, mean / var, 1.0)
        q = 1.0 - p
        r = np.where(nb, mean * p / np.where(nb, q, 1.0), 1.0)
        a = np.where(nb, q, 0.0)
        b = np.where(nb, (r - 1.0) * q, mean)
        logp0 = np.where(nb, r * np.log(p), -mean)
    p0 = np.exp(logp0)
    k0 = np.zeros(mean.shape, dtype=np.int64)
    F0 = np.zeros(mean.shape)
    pmf0 = p0.copy()
    ebo0 = mean.copy()
    big = logp0 < -600.0
    if big.any():
        # p(0) would underflow (pipeline of hundreds of units): start the recursion a safe
        # distance below the mean from closed-form values.  Levels below k0 have P(D > k)
        # = 1 to machine precision, so they enter as one bundle of k0 units.
        d = LeadTimeDemand(mean[big], var[big])
        kb = np.maximum(np.floor(mean[big] - 10.0 * np.sqrt(d.var)), 0.0)
        k0[big] = kb.astype(np.int64)
        F0[big] = d.cdf(kb - 1)
        pmf0[big] = (d.pmf(kb))
        ebo0[big] = d.loss(kb)
    with np.errstate(invalid="ignore"):
        mode = np.where(nb, np.floor(np.maximum(b, 0.0) / np.where(nb, p, 1.0)), np.floor(mean))
    # NB mode: floor((r-1)(1-p)/p) for r > 1, else 0;  Poisson: floor(mean)
    return PairState(mean, a, b, p0, k0, F0, pmf0, ebo0, var, mode)


@dataclass
class ScanOut:
    """Per pair: the level a scan stopped at and its figures; the recorded steps (``entries``)."""

    level: np.ndarray
    fill: np.ndarray  # F(s - 1)
    ready: np.ndarray  # F(s)
    ebo: np.ndarray  # EBO(s)
    entries: dict[str, np.ndarray] | None = None
    n_cut: int = 0  # pairs whose scan stopped at the ratio floor (not at saturation)


def scan(
    st: PairState,
    mult: np.ndarray,
    cost: np.ndarray,
    thresh: np.ndarray | float,
    objective: str,
    *,
    record: bool = False,
    eps_sat: float = 0.0,
    max_level: int = 100_000,
) -> ScanOut:
    """Walk each pair's marginal-analysis steps while their ratio stays >= ``thresh``.

    A step adds ``u`` units and gains ``g``: objective ``"ebo"``: g = EBO reduction,
    ``"fill"``: g = increase of F(s-1) (the fill rate).  Its ratio is ``mult * g / (cost * u)``
    (``mult`` = the pair's demand rate for "fill", 1 for "ebo"; a Lagrange multiplier may be
    folded into ``mult``).  Ratios must fall along a pair's steps for greedy marginal
    analysis to be optimal: EBO is convex in s (gains P(D > s) fall), but the fill rate is
    only concave above the mode, so for "fill" the first step is the bundle up to the
    tangent point of the fill-rate curve's concave hull (the smallest s >= 1 with
    p(s) <= F(s-1)/s), after which unit gains p(s) fall.  For "ebo" the first step is a
    bundle only for pairs whose recursion starts above 0 (huge pipelines).

    A pair stops at the first step whose ratio is below its threshold, or (``eps_sat``)
    once P(D > s) < eps_sat -- stock beyond that buys nothing measurable.
    """
    n = st.mean.size
    thresh = np.broadcast_to(np.asarray(thresh, dtype=float), (n,))
    level = np.zeros(n, dtype=np.int64)
    fill = np.zeros(n)
    ready = np.where(st.k0 == 0, st.p0, 0.0)
    ebo = st.mean.copy()
    rec: dict[str, list[np.ndarray]] = {k: [] for k in ("pair", "start", "units", "gfill", "gebo", "ratio")}
    n_cut = 0

    def emit(idx, start, units, gfill, gebo, ratio):
        if record and idx.size:
            rec["pair"].append(idx)
            rec["start"].append(start)
            rec["units"].append(units)
            rec["gfill"].append(gfill)
            rec["gebo"].append(gebo)
            rec["ratio"].append(ratio)

    # Upper bound of any step's ratio is mult/cost (gains per unit are <= 1): pairs below
    # their threshold even then never stock a unit.
    with np.errstate(divide="ignore", invalid="ignore"):
        can = mult / cost >= thresh
    idx = np.flatnonzero(can)
    n_cut += int((~can).sum())
    k = st.k0[idx].copy()
    Fp = st.F0[idx].copy()
    pm = st.pmf0[idx].copy()
    e = st.ebo0[idx].copy()
    a, b = st.a[idx], st.b[idx]
    m = st.mean[idx]

    # --- bundle phase ------------------------------------------------------------------
    if objective == "fill":
        # Climb to the hull tangent point: the smallest s >= 1 with p(s) s <= F(s-1).  Every
        # s <= mode satisfies p(s) s >= F(s-1) (the pmf rises up to the mode), so pairs with a
        # far mode start there from closed-form values instead of climbing from 0.
        far = (k == 0) & (st.mode[idx] >= 16)
        if far.any():
            fi = np.flatnonzero(far)
            d = LeadTimeDemand(m[fi], st.var[idx[fi]])
            km = st.mode[idx[fi]]
            k[fi] = km.astype(np.int64)
            Fp[fi] = d.cdf(km - 1)
            pm[fi] = (d.pmf(km))
            e[fi] = d.loss(km)
        cl = np.flatnonzero((k == 0) | (pm * k > Fp))
        ck, cF, cp, ce, ca, cb = k[cl], Fp[cl], pm[cl], e[cl], a[cl], b[cl]
        while cl.size:
            # one unit up for the climbing pairs, kept compact
            ce -= np.maximum(1.0 - cF - cp, 0.0)
            cF += cp
            ck += 1
            cp *= ca + cb / ck
            more = (cp * ck > cF) & (ck < max_level)
            if not more.all():
                done = ~more
                di = cl[done]
                k[di], Fp[di], pm[di], e[di] = ck[done], cF[done], cp[done], ce[done]
                cl, ck, cF, cp, ce, ca, cb = (x[more] for x in (cl, ck, cF, cp, ce, ca, cb))
        has_bundle = np.ones(idx.size, dtype=bool)
        g_b = Fp.copy()
    else:
        has_bundle = k > 0
        g_b = m - e
    if has_bundle.any():
        u_b = k.astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio_b = np.where(has_bundle, mult[idx] * g_b / (cost[idx] * np.maximum(u_b, 1.0)), np.inf)
        take = ratio_b >= thresh[idx]
        bsel = has_bundle & take
        emit(idx[bsel], np.zeros(int(bsel.sum()), dtype=np.int64), k[bsel], Fp[bsel], (m - e)[bsel], ratio_b[bsel])
        drop = has_bundle & ~take  # stays at level 0
        n_cut += int(drop.sum())
        keep = ~drop
        idx, k, Fp, pm, e, a, b, m = (x[keep] for x in (idx, k, Fp, pm, e, a, b, m))

    # --- unit phase --------------------------------------------------------------------
    mu_c = mult[idx] / cost[idx]
    th = thresh[idx]
    while idx.size:
        # P(D > k) = 1 - F(k) loses its relative accuracy as F -> 1.  The pmf ratio
        # p(x+1)/p(x) = a + b/(x+1) is at most rho = a + max(b, 0)/(k+1) for all x >= k (it
        # falls for b >= 0 and rises towards a = 1-p for NB with r < 1, b < 0), so when
        # rho < 1:  P(D > k) <= p(k) rho / (1 - rho), a bound that stays accurate in the tail
        rho = a + np.maximum(b, 0.0) / (k + 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            tail = np.where(rho < 1.0, pm * rho / (1.0 - rho), np.inf)
        sf = np.maximum(np.minimum(1.0 - Fp - pm, tail), 0.0)
        gain = pm if objective == "fill" else sf
        ratio = mu_c * gain
        sat = sf < eps_sat
        go = (ratio >= th) & ~sat & (k < max_level)
        stop = ~go
        if stop.any():
            n_cut += int((stop & ~sat).sum())
            ii = idx[stop]
            level[ii] = k[stop]
            fill[ii] = Fp[stop]
            ready[ii] = Fp[stop] + pm[stop]
            ebo[ii] = e[stop]
            idx, k, Fp, pm, e, a, b, mu_c, th, sf, gain, ratio = (
                x[go] for x in (idx, k, Fp, pm, e, a, b, mu_c, th, sf, gain, ratio)
            )
        if not idx.size:
            break
        emit(idx, k.copy(), np.ones(idx.size, dtype=np.int64), pm.copy(), np.maximum(sf, 0.0), ratio)
        e -= np.maximum(sf, 0.0)
        Fp += pm
        k += 1
        pm *= a + b / k

    entries = None
    if record:
        entries = {
            key: (np.concatenate(v) if v else np.zeros(0, dtype=np.int64 if key in ("pair", "start", "units") else float))
            for key, v in rec.items()
        }
        entries["units"] = entries["units"].astype(np.int64)
    return ScanOut(level, fill, ready, ebo, entries, n_cut)


