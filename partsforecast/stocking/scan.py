"""Fast marginal-analysis scans over many (part, dealer) pairs at once (Panjer recursion).

The optimiser walks each pair's stock levels one unit at a time; :func:`scan` does so for
all pairs together from their :func:`pair_state`, recording the gain per unit cost of every
step.  Reported figures are recomputed in closed form afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from partsforecast.counts import RATIO_RTOL
from partsforecast.stocking.formulas import lead_time_law

__all__ = ["PairState", "ScanOut", "pair_state", "scan"]


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
    unit: np.ndarray  # batch size q of batch-Poisson pipelines (1 for Poisson and NB)


def pair_state(mean: np.ndarray, var: np.ndarray) -> PairState:
    """The recursion state of pipelines with these means and variances (their law by
    :func:`~partsforecast.stocking.formulas.lead_time_law`).  Batch-Poisson pipelines have
    no Panjer state here (``unit > 1``): :func:`scan` walks them by their hull.

    The law of each pipeline is classified here with the rule of
    :func:`partsforecast.counts.count_law` (same tolerance), without building the general
    :class:`~partsforecast.counts.CountLaw`: this runs for millions of pipelines per plan.
    """
    mean = np.asarray(mean, dtype=float)
    var = np.maximum(np.asarray(var, dtype=float), mean)
    pos = mean > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(pos, var / np.where(pos, mean, 1.0), 1.0)
        q = np.round(ratio)
        nb = pos & (ratio > 1.0 + RATIO_RTOL)
        batch = nb & (q >= 2) & (np.abs(ratio - q) <= RATIO_RTOL * q)
        nb &= ~batch
        unit = np.where(batch, q, 1.0)
        p = np.where(nb, 1.0 / ratio, 1.0)
        a = np.where(nb, 1.0 - p, 0.0)
        r = np.where(nb, mean * p / np.where(nb, a, 1.0), 1.0)
        b = np.where(nb, (r - 1.0) * a, mean)
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
        d = lead_time_law(mean[big], var[big])
        kb = np.maximum(np.floor(mean[big] - 10.0 * np.sqrt(d.var)), 0.0)
        k0[big] = kb.astype(np.int64)
        F0[big] = d.cdf(kb - 1)
        pmf0[big] = d.pmf(kb)
        ebo0[big] = d.loss(kb)
    # NB mode: floor((r-1)(1-p)/p) for r > 1, else 0;  Poisson: floor(mean)
    mode = np.where(nb, np.floor(np.maximum(b, 0.0) / p), np.floor(mean))
    return PairState(mean, a, b, p0, k0, F0, pmf0, ebo0, var, mode, unit)


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

    Batch-Poisson pipelines (``D = q N``, a part demanded ``q`` units at a time) have a
    staircase fill rate and a piecewise-linear EBO: their steps are the edges of the upper
    concave hull of their candidate levels (:func:`_lattice_scan`).
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
    lattice = st.unit > 1
    if lattice.any():
        n_cut += _lattice_scan(st, np.flatnonzero(lattice), mult, cost, thresh, objective, emit if record else None,
                               (level, fill, ready, ebo), eps_sat, max_level)
    with np.errstate(divide="ignore", invalid="ignore"):
        can = mult / cost >= thresh
    n_cut += int((~can & ~lattice).sum())
    idx = np.flatnonzero(can & ~lattice)
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
            d = lead_time_law(m[fi], st.var[idx[fi]])
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




# ---------------------------------------------------------------------------------------
# Batch-Poisson pipelines: the hull of their candidate levels
# ---------------------------------------------------------------------------------------

# Lattice pairs handled at once (bounds the (pairs x levels) tables).
_LATTICE_BLOCK = 20_000
# Candidates beyond mean + 15 sd of the batch count in one table; pairs that use every edge
# of their table go on with the next one.  Past the mode the values are concave, so a table's
# hull is the whole curve's there.
_LATTICE_MARGIN = 8.0


def _lattice_candidates(law, k: np.ndarray, objective: str) -> np.ndarray:
    """Stock levels of candidate index ``k`` of batch-Poisson pipelines of batch size q.

    Levels between two candidates buy nothing: for "ebo" the candidates are the multiples
    ``q k`` (EBO is linear between them), for "fill" 0 and ``q (k - 1) + 1`` (the fill rate
    P(D <= s - 1) = P(N <= (s - 1) // q) is flat in between)."""
    q = law.unit
    if objective == "ebo":
        return q * k
    return np.where(k > 0, q * (k - 1) + 1, 0.0)


def _upper_hull(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of the upper concave hull of the points (x[i, j], y[i, j]), j in order, per
    row i (x increasing along each row): Andrew's monotone chain, vectorised over rows.
    Returns the vertex indices (rows x K, valid up to ``count``) and ``count``."""
    n, K = x.shape
    rows = np.arange(n)
    stack = np.zeros((n, K), dtype=np.int64)
    count = np.ones(n, dtype=np.int64)  # point 0 is a vertex
    for j in range(1, K):
        while True:
            two = count >= 2
            if not two.any():
                break
            r = rows[two]
            a = stack[r, count[r] - 2]
            b = stack[r, count[r] - 1]
            xa, ya, xb, yb = x[r, a], y[r, a], x[r, b], y[r, b]
            # b lies strictly below the chord a -> j: not a vertex
            below = (yb - ya) * (x[r, j] - xa) < (y[r, j] - ya) * (xb - xa)
            if not below.any():
                break
            count[r[below]] -= 1
        stack[rows, count] = j
        count += 1
    return stack, count


def _lattice_scan(st: PairState, pairs: np.ndarray, mult, cost, thresh, objective: str, emit, out,
                  eps_sat: float, max_level: int) -> int:
    """:func:`scan` for batch-Poisson pairs: walk the edges of the upper hull of each pair's
    candidate levels (value = fill rate, or minus EBO) while the edge's ratio
    ``mult * gain / (cost * units)`` stays >= the threshold; the figures of the level
    reached in closed form.  Returns the number of pairs stopped by their threshold.

    With nothing to record and no saturation bound (``emit`` None, ``eps_sat <= 0``: the
    priced row values of the warehouse search) the walk's end is read off the table
    directly -- the candidate of least ``thresh x cost x s - mult x value``, the last of
    equal ones -- and no hull is built (nor is the threshold count kept)."""
    level, fill, ready, ebo = out
    n_cut = 0
    # pairs of similar size together: the candidate tables are as wide as their widest pair
    lam_all = st.mean[pairs] / st.unit[pairs]
    width = np.ceil(np.log2(lam_all + 15.0 * np.sqrt(lam_all) + _LATTICE_MARGIN + 1.0)).astype(np.int64)
    blocks = [grp[lo:lo + _LATTICE_BLOCK] for w in np.unique(width) for grp in [pairs[width == w]]
              for lo in range(0, grp.size, _LATTICE_BLOCK)]
    for idx in blocks:
        lam = st.mean[idx] / st.unit[idx]
        start = np.zeros(idx.size)  # candidate index each pair walks on from
        active = np.arange(idx.size)
        final = np.zeros(idx.size)
        first_step = True
        while active.size:
            K = int(np.ceil(lam[active].max() + 15.0 * np.sqrt(lam[active].max()) + _LATTICE_MARGIN))
            sub = lead_time_law(st.mean[idx[active]][:, None], st.var[idx[active]][:, None])
            k = start[active][:, None] + np.arange(K + 1)[None, :]
            s = _lattice_candidates(sub, k, objective)
            value = sub.cdf(s - 1) if objective == "fill" else -sub.loss(s)
            if emit is None and eps_sat <= 0:
                # no steps to record, no saturation: the walk ends at the hull vertex of least
                # thresh x cost x s - mult x value (the last of equal ones, as the walk takes a
                # step of ratio equal to the threshold); no hull needed
                g = idx[active]
                with np.errstate(invalid="ignore"):
                    score = (thresh[g] * cost[g])[:, None] * s - mult[g][:, None] * value
                last = K - np.argmin(score[:, ::-1], axis=1)
                final[active] = s[np.arange(active.size), last]
                ran_out = (last == K) & (s[:, -1] < max_level)
                start[active] = start[active] + np.where(ran_out, last, 0)
                active = active[ran_out]
                continue
            verts, count = _upper_hull(s, value)
            r = np.arange(active.size)[:, None]
            a_idx, b_idx = verts[:, :-1], verts[:, 1:]
            valid = np.arange(K)[None, :] < (count - 1)[:, None]
            s_a, s_b = s[r, a_idx], s[r, b_idx]
            gain = value[r, b_idx] - value[r, a_idx]
            units = s_b - s_a
            g = idx[active]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = mult[g][:, None] * gain / (cost[g][:, None] * np.where(valid, units, 1.0))
            if eps_sat > 0:
                sat = sub.sf(s_a) < eps_sat
            else:
                sat = np.zeros(s_a.shape, dtype=bool)  # P(D > s) >= 0: nothing saturates
            if objective == "fill" and first_step:
                sat[:, 0] = False  # the first (bundle) step is judged by its ratio alone
            go = valid & (ratio >= thresh[g][:, None]) & ~sat & (s_a < max_level)
            taken = np.cumprod(go, axis=1).astype(bool)
            n_take = taken.sum(axis=1)
            if emit is not None:
                rr, cc = np.nonzero(taken)
                if rr.size:
                    pr = g[rr]
                    sa, sb = s_a[rr, cc], s_b[rr, cc]
                    d = lead_time_law(st.mean[pr], st.var[pr])
                    gfill = d.cdf(sb - 1) - d.cdf(sa - 1)
                    gebo = d.loss(sa) - d.loss(sb)
                    emit(pr, sa.astype(np.int64), (sb - sa).astype(np.int64), gfill, gebo, ratio[rr, cc])
            # the level each pair reached; pairs that used every edge of their table go on
            last = np.where(n_take > 0, b_idx[np.arange(active.size), np.maximum(n_take - 1, 0)], 0)
            final[active] = s[np.arange(active.size), last]
            ran_out = (n_take == count - 1) & (n_take > 0)
            stopped = ~ran_out
            # a pair stopped by its threshold (not by saturation or the level cap) is cut
            cut_at = np.minimum(n_take, K - 1)
            why = valid[np.arange(active.size), cut_at] & ~sat[np.arange(active.size), cut_at] & (
                s_a[np.arange(active.size), cut_at] < max_level)
            n_cut += int((stopped & why).sum())
            start[active] = start[active] + np.where(ran_out, last, 0)
            active = active[ran_out]
            first_step = False
        lv = final
        level[idx] = lv.astype(np.int64)
        d = lead_time_law(st.mean[idx], st.var[idx])
        fill[idx] = d.cdf(lv - 1)
        ready[idx] = d.cdf(lv)
        ebo[idx] = d.loss(lv)
    return n_cut


# ---------------------------------------------------------------------------------------
# Small pipelines: the first levels at once
# ---------------------------------------------------------------------------------------
#
# Most spare-part pipelines hold well under one unit, and their best levels are 0, 1 or 2.
# For them the general scan spends its time compacting its working arrays level by level.
# The kernels below walk a fixed number of levels over all pairs at once and leave to the
# general scan only the pairs whose answer they cannot certify (a batch-Poisson or huge
# pipeline, or a best level / a last step beyond the levels walked).

#: Levels the small-pipeline kernels walk.
SMALL_LEVELS = 8


def _panjer_start(mean: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, ...]:
    """Panjer coefficients a, b and log P(D = 0) of Poisson / NB pipelines, and the pairs the
    kernels can take (not batch Poisson, no underflow of P(D = 0))."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = var / mean
        p = 1.0 / ratio
        a = 1.0 - p
        r = mean * p / a
        b = (r - 1.0) * a
        logp0 = np.log(p)
        logp0 *= r
    pois = ~(ratio > 1.0 + RATIO_RTOL)  # also mean 0 (NaN ratio)
    ok = np.ones(mean.shape, dtype=bool)
    if pois.any():
        a[pois] = 0.0
        b[pois] = mean[pois]
        logp0[pois] = -mean[pois]
    q = np.round(ratio)
    batch = ~pois & (q >= 2) & (np.abs(ratio - q) <= RATIO_RTOL * q)
    ok &= ~batch & (logp0 > -600.0)
    return a, b, logp0, ok


def small_values(mean: np.ndarray, var: np.ndarray, cost: np.ndarray, mult: np.ndarray,
                 objective: str) -> tuple[np.ndarray, np.ndarray]:
    """``min_s [cost s - mult (service(s) - service(0))]`` over ``s = 0 .. SMALL_LEVELS`` per pair,
    with service = F(s - 1) (``"fill"``) or minus EBO(s) (``"ebo"``), and whether that is the
    minimum over all levels: beyond the last level the pmf falls (fill) or the backorders are
    convex, and the next unit gains less than it costs."""
    a, b, logp0, ok = _panjer_start(mean, var)
    pk = np.exp(logp0)
    F = np.zeros(mean.shape)
    gain = np.zeros(mean.shape)
    best = np.zeros(mean.shape)
    ck = np.zeros(mean.shape)
    tmp = np.empty(mean.shape)
    step = np.empty(mean.shape)
    for k in range(1, SMALL_LEVELS + 1):
        F += pk  # F(k - 1)
        ck += cost
        if objective == "fill":
            np.multiply(mult, F, out=tmp)
        else:
            np.subtract(1.0, F, out=tmp)  # P(D > k - 1): EBO(k - 1) - EBO(k)
            np.maximum(tmp, 0.0, out=tmp)
            gain += tmp
            np.multiply(mult, gain, out=tmp)
        np.subtract(ck, tmp, out=tmp)
        np.minimum(best, tmp, out=best)
        np.multiply(b, 1.0 / k, out=step)
        step += a
        pk *= step  # p(k)
    K = SMALL_LEVELS
    if objective == "fill":
        # p falls from K on (ratio a + b/(K+1) <= 1) and the unit K+1 gains mult p(K) <= cost
        ok &= (a + np.maximum(b, 0.0) / (K + 1) <= 1.0) & (mult * pk <= cost)
    else:
        ok &= mult * np.maximum(1.0 - F - pk, 0.0) <= cost  # the unit K+1 gains P(D > K)
    return best, ok


def small_entries(mean: np.ndarray, var: np.ndarray, cost: np.ndarray, mult: np.ndarray,
                  thresh: np.ndarray, objective: str, eps_sat: float) -> tuple[dict, np.ndarray]:
    """:func:`scan`'s recorded steps for small pipelines, all pairs at once.

    A pair qualifies when its pmf falls from level 0 on (its fill-rate curve is concave, so
    its hull steps are its units; backorders are always convex) and its steps end within
    ``SMALL_LEVELS`` levels (ratio below ``thresh`` or ``P(D > s) < eps_sat``).  Returns the
    steps (``pair``, ``start``, ``units``, ``gfill``, ``gebo``, ``ratio``; each pair's in
    level order) and the mask of the pairs handled.
    """
    a, b, logp0, ok = _panjer_start(mean, var)
    n, K = mean.size, SMALL_LEVELS
    if objective == "fill":
        ok &= a + np.maximum(b, 0.0) <= 1.0  # p(1) <= p(0): the pmf falls from 0
    pm = np.empty((n, K + 1))
    pm[:, 0] = np.exp(logp0)
    for k in range(1, K + 1):
        pm[:, k] = pm[:, k - 1] * (a + b / k)
    F = np.cumsum(pm, axis=1)  # F(s)
    sf = np.maximum(1.0 - F, 0.0)  # P(D > s)
    with np.errstate(divide="ignore", invalid="ignore"):
        unit_ratio = (mult / cost)[:, None] * (pm if objective == "fill" else sf)
    # the step from s to s + 1 gains p(s) of fill and P(D > s) of backorders; the scan stops
    # at the first step below the threshold or past saturation (P(D > s) < eps_sat)
    go = (unit_ratio >= thresh[:, None]) & (sf >= eps_sat)
    if objective == "fill":
        go[:, 0] = unit_ratio[:, 0] >= thresh  # the first step is judged by its ratio alone
    run = np.cumprod(go, axis=1).astype(bool)
    ok &= ~run[:, K]  # the steps ended within the levels walked
    run[~ok] = False
    pair, start = np.nonzero(run[:, :K])
    ent = {"pair": pair, "start": start.astype(np.int64), "units": np.ones(pair.size, dtype=np.int64),
           "gfill": pm[pair, start], "gebo": sf[pair, start], "ratio": unit_ratio[pair, start]}
    return ent, ok
