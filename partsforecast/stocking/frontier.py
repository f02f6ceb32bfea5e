"""Per-part frontiers of the two-echelon problem: every warehouse level with its best dealers.

For a fixed warehouse level ``s0`` of a part, its dealers decouple: each dealer's pipeline
follows from ``s0`` through METRIC / VARI-METRIC, and the dealer's best level for a price of
service ``theta`` minimises ``c s - theta * service(s)``, exactly, along the hull steps of
its service curve (:func:`~partsforecast.stocking.scan.scan`).  A *row* is one (part,
warehouse level); its *entries* are the hull steps of all its dealers down to a ratio floor
(gain per unit of money), recorded once and independent of any multiplier.  With them the
Lagrangian value of every row at any multipliers is one pass over the entries
(:meth:`Frontier.lagrangian`), and the frontier of a part is the lower envelope of its rows.

:func:`search_warehouse` finds, for given multipliers, the best warehouse level of every part
(every level from 0 to saturation when the part's range is short, else a grid over the whole
range refined around its three best basins); :func:`build_frontier` records the rows and entries
around them.  Everything is vectorised over parts x warehouse levels x dealers: there is no
Python loop over parts or dealers.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from partsforecast._io import release_unused_memory
from partsforecast.stocking.formulas import lead_time_law
from partsforecast.stocking.problem import StockingProblem
from partsforecast.stocking.scan import pair_state, scan, small_entries, small_values

if TYPE_CHECKING:
    from partsforecast.engine import RemoteBlocks

__all__ = [
    "Frontier",
    "WarehouseTable",
    "build_frontier",
    "saturation_levels",
    "search_warehouse",
    "tier_index",
    "warehouse_table",
]

#: Warehouse levels beyond ``P(X0 > s0) < SAT_TAIL`` change no dealer figure measurably.
SAT_TAIL = 1e-12
#: Parts whose warehouse range 0..saturation has at most this many levels are searched level
#: by level; longer ranges by a grid refined around its best basins.
FULL_RANGE = 64
#: Entries (slots) evaluated per block: bounds the memory of one pass.
_BLOCK = 65536
#: Slots per block when recording entries (a slot may have dozens of steps, and a block's
#: scan holds a few copies of its steps while it runs).
_ENTRY_BLOCK = 8192
#: Frontiers of more entries than this give the memory their construction freed back to the
#: system (the C allocator keeps freed work arrays of a few megabytes in its heap).
_RELEASE_AFTER = 1_000_000
#: Relative slack on argmin ties between rows of a part.
_TIE = 1e-12
#: Entries per block of the passes over all of a frontier's entries (sort keys, bounds).
_SPAN = 1 << 18
#: Slots per task when the scans run on a cluster (each task takes them a block at a time).
REMOTE_SLOTS = 1 << 18


def block_spans(n: int, step: int = _SPAN) -> list[tuple[int, int]]:
    """``(lo, hi)`` blocks of ``step`` covering ``0 .. n``."""
    return [(lo, min(lo + step, n)) for lo in range(0, n, step)]


def _stable_order(key: np.ndarray, n_keys: int) -> np.ndarray:
    """``np.argsort(key, kind="stable")`` of small non-negative integer keys, as int32, built
    block by block (a counting sort: each block's entries go after those of earlier blocks
    with the same key), so that no int64 index of every entry is ever held."""
    start = np.zeros(n_keys, dtype=np.int64)
    counts = np.bincount(key, minlength=n_keys)
    start[1:] = np.cumsum(counts)[:-1]
    order = np.empty(key.size, dtype=np.int32)
    for a, b in block_spans(key.size, 1 << 20):
        kc = key[a:b]
        oc = np.argsort(kc, kind="stable")
        ks = kc[oc].astype(np.int64)
        cnt = np.bincount(ks, minlength=n_keys)
        first = np.cumsum(cnt) - cnt
        order[start[ks] + np.arange(ks.size) - first[ks]] = oc + a
        start += cnt
    return order


def _narrow(a: np.ndarray) -> np.ndarray:
    """Integer indices as int32 (a frontier's entries, slots and rows stay below 2**31)."""
    a = np.asarray(a)
    if a.dtype == np.int32:
        return a
    if a.size and (a.max() >= 2**31 or a.min() < -2**31):
        raise ValueError("a frontier holds at most 2**31 - 1 entries and slots")
    return a.astype(np.int32)


def tier_index(prob: StockingProblem) -> tuple[np.ndarray, np.ndarray]:
    """The tiers present (sorted labels) and each active pair's position among them."""
    tiers, inv = np.unique(prob.tier, return_inverse=True)
    return tiers, inv[prob.pj]


def saturation_levels(prob: StockingProblem) -> np.ndarray:
    """Per part the warehouse level beyond which the warehouse is short with probability
    below :data:`SAT_TAIL` (0 for single echelon and parts without demand)."""
    out = np.zeros(prob.P, dtype=np.int64)
    live = np.flatnonzero(prob.lam0 > 0) if prob.two_echelon else np.zeros(0, dtype=np.int64)
    if live.size:
        d = lead_time_law(prob.mu0[live], prob.v0[live] if prob.method == "vari-metric" else None)
        out[live] = d.ppf(1.0 - SAT_TAIL) + 1
    return out


# ---------------------------------------------------------------------------------------
# Rows and their dealer slots
# ---------------------------------------------------------------------------------------


@dataclass
class _Pairs:
    """The active pairs a pass considers (a subset), grouped by part, with the parts of the
    pipeline formula that do not depend on the warehouse level."""

    idx: np.ndarray  # index into the problem's active pairs
    ptr: np.ndarray  # (P+1,) offsets of each part's pairs in idx
    own: np.ndarray  # lambda T
    own_var: np.ndarray  # vmr lambda T
    f: np.ndarray  # lambda / lambda_0


def _pairs(prob: StockingProblem, keep: np.ndarray) -> _Pairs:
    return _pairs_of(prob, np.flatnonzero(keep))


def _pairs_of(prob: StockingProblem, idx: np.ndarray) -> _Pairs:
    """The pairs ``idx`` (indices into the problem's active pairs; ``ptr`` counts them by part
    when they are grouped by part)."""
    ptr = np.zeros(prob.P + 1, dtype=np.int64)
    np.cumsum(np.bincount(prob.pp[idx], minlength=prob.P), out=ptr[1:])
    lam = prob.plam[idx]
    own = lam * prob.pT[idx]
    lam0 = prob.lam0[prob.pp[idx]]
    f = np.divide(lam, lam0, out=np.zeros_like(lam), where=lam0 > 0) if prob.two_echelon else np.zeros_like(lam)
    own_var = own if prob.method == "metric" else prob.pvmr[idx] * own
    return _Pairs(idx, ptr, own, own_var, f)


def _slots(pairs: _Pairs, row_part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (row, pair) slot: the row of each slot and its index into ``pairs``."""
    lo = pairs.ptr[row_part]
    cnt = pairs.ptr[row_part + 1] - lo
    row = np.repeat(np.arange(row_part.size), cnt)
    start = np.repeat(lo - (np.cumsum(cnt) - cnt), cnt)
    return row, start + np.arange(row.size)


def _wh_moments(prob: StockingProblem, part: np.ndarray, s0: np.ndarray,
                table: WarehouseTable | None = None) -> tuple[np.ndarray, np.ndarray]:
    """EBO_0 and VBO_0 of warehouse level ``s0`` of each ``part`` (closed form, or read off
    ``table``)."""
    if not prob.two_echelon or not part.size:
        z = np.zeros(part.size)
        return z, z
    if table is None:
        return prob.wh_backorders(part, s0)
    ebo, vbo = np.empty(part.size), np.empty(part.size)
    inside = s0 < table.ptr[part + 1] - table.ptr[part]
    at = table.ptr[part[inside]] + s0[inside]
    ebo[inside], vbo[inside] = table.ebo[at], table.vbo[at]
    if not inside.all():
        ebo[~inside], vbo[~inside] = prob.wh_backorders(part[~inside], s0[~inside])
    return ebo, vbo


#: Parts with at most this many warehouse levels are tabulated for the search; longer ones
#: (few levels visited out of many) take the closed forms.
_TABLE_LEVELS = 1024


@dataclass
class WarehouseTable:
    """EBO_0 and VBO_0 of every warehouse level 0..saturation of the parts with short ranges
    (an empty range for the others), flat."""

    ptr: np.ndarray
    ebo: np.ndarray
    vbo: np.ndarray


def warehouse_table(prob: StockingProblem, sat: np.ndarray) -> WarehouseTable:
    """The warehouse's backorders and their variance at every level up to saturation, from its
    pmf summed from the top (tail sums stay accurate): with sf(y) = P(X0 > y),
    EBO(s) = sum_{y >= s} sf(y) and E[((X0 - s)+)^2] = sum_{y >= s} (2 EBO(y) - sf(y)).
    Used by the warehouse search, which visits many levels per part; the rows of a frontier
    use the closed forms."""
    n = np.where(sat <= _TABLE_LEVELS, sat + 2, 0)  # levels 0 .. sat + 1
    ptr = np.zeros(prob.P + 1, dtype=np.int64)
    np.cumsum(n, out=ptr[1:])
    part = np.repeat(np.arange(prob.P), n)
    x = (np.arange(part.size) - ptr[part]).astype(float)
    law = lead_time_law(prob.mu0, prob.v0 if prob.method == "vari-metric" else None)
    pmf = _pmf_by_part(law, part, x)
    sf = _suffix_sums(pmf, ptr, part, shift=1)  # P(X0 > x) = sum_{y > x} p(y)
    ebo = _suffix_sums(sf, ptr, part, shift=0)
    second = _suffix_sums(2.0 * ebo - sf, ptr, part, shift=0)
    vbo = np.maximum(second - ebo * ebo, 0.0)
    return WarehouseTable(ptr, ebo, vbo)


def _pmf_by_part(law, part: np.ndarray, x: np.ndarray) -> np.ndarray:
    """P(X0 = x) of each part's warehouse law, at levels ``x`` of parts ``part``."""
    from partsforecast.counts import CountLaw

    sub = CountLaw(law.mean[part], law.var[part], law.kind[part], law.unit[part])
    return sub.pmf(x)


def _suffix_sums(v: np.ndarray, ptr: np.ndarray, part: np.ndarray, shift: int) -> np.ndarray:
    """Per part segment: the sum of ``v`` over positions >= i + shift of the segment.

    Segments are summed on their own (parts grouped by length into padded blocks), never
    through one running sum over all parts, whose differences would lose the small tails."""
    n = np.diff(ptr)
    out = np.zeros(v.size)
    pos = np.arange(v.size) - ptr[part]
    width = 1 << np.ceil(np.log2(np.maximum(n, 1))).astype(np.int64)
    for w in np.unique(width):
        parts = np.flatnonzero(width == w)
        row = np.full(ptr.size - 1, -1, dtype=np.int64)
        row[parts] = np.arange(parts.size)
        sel = np.flatnonzero(row[part] >= 0)
        block = np.zeros((parts.size, int(w) + 1))
        block[row[part[sel]], pos[sel]] = v[sel]
        suffix = np.cumsum(block[:, ::-1], axis=1)[:, ::-1]
        out[sel] = suffix[row[part[sel]], pos[sel] + shift]
    return out


def _pipeline(prob: StockingProblem, pairs: _Pairs, k: np.ndarray, ebo0: np.ndarray, vbo0: np.ndarray):
    """Mean and variance of the dealer pipelines of slots ``k`` given their rows' EBO_0 and
    VBO_0 (METRIC / VARI-METRIC, as :func:`~partsforecast.stocking.metric.vari_metric_pipeline`)."""
    f = pairs.f[k]
    mean = pairs.own[k] + f * ebo0
    if prob.method == "metric":
        return mean, mean
    return mean, pairs.own_var[k] + f * (1.0 - f) * ebo0 + f * f * vbo0


# ---------------------------------------------------------------------------------------
# The Lagrangian value of rows (no entries kept): the warehouse search
# ---------------------------------------------------------------------------------------


def _live_for(prob: StockingProblem, obj: str, theta_pair: np.ndarray) -> np.ndarray:
    """Pairs that can stock a unit at these multipliers at some warehouse level: the gain
    per unit of a step is at most lambda (fill) or min(1, pipeline mean at s0 = 0) (EBO)."""
    if obj == "fill":
        top = prob.plam
    else:
        top = np.minimum(prob.plam * (prob.pT + (prob.T0[prob.pp] if prob.two_echelon else 0.0)), 1.0)
    return theta_pair * top >= prob.pc


def _row_values(prob: StockingProblem, obj: str, theta: np.ndarray, theta_pair: np.ndarray, pairs: _Pairs,
                base: _Base, row_part: np.ndarray, row_s0: np.ndarray, pool: ThreadPoolExecutor | RemoteBlocks | None,
                table: WarehouseTable | None = None) -> np.ndarray:
    """Lagrangian value of each row: c s0 - theta . base + sum over its live dealers of
    min_s [c s - theta (service(s) - service(0))]."""
    ebo0, vbo0 = _wh_moments(prob, row_part, row_s0, table)
    val = prob.c[row_part] * row_s0 - _base_rows(base, row_part, ebo0) @ theta
    row, k = _slots(pairs, row_part)
    if not k.size:
        return val

    def prepare(lo: int, hi: int) -> tuple:
        r, kk = row[lo:hi], k[lo:hi]
        mean, var = _pipeline(prob, pairs, kk, ebo0[r], vbo0[r])
        g = pairs.idx[kk]
        th = theta_pair[g]
        mult = th * prob.plam[g] if obj == "fill" else th
        return r, mean, var, prob.pc[g], mult, obj, row_part.size

    for part in _map_blocks(prepare, _slot_values, k.size, pool):
        val += part
    return val


def _slot_values(r, mean, var, cost, mult, obj: str, n_rows: int, block: int = _BLOCK) -> np.ndarray:
    """Each row's sum over its slots (row ``r`` of every slot) of the dealer's best
    ``c s - mult service(s)`` given the slot's pipeline ``mean``, ``var``."""
    out = np.zeros(n_rows)
    for lo in range(0, r.size, block):
        sl = slice(lo, lo + block)
        m, va, c, mu = mean[sl], var[sl], cost[sl], mult[sl]
        v, done = small_values(m, va, c, mu, obj)
        rest = np.flatnonzero(~done)
        if rest.size:
            res = scan(pair_state(m[rest], va[rest]), mu[rest], c[rest], 1.0, obj)
            if obj == "fill":
                v[rest] = c[rest] * res.level - mu[rest] * res.fill
            else:
                v[rest] = c[rest] * res.level + mu[rest] * (res.ebo - m[rest])
        out += np.bincount(r[sl], weights=v, minlength=n_rows)
    return out


def _map_blocks(prepare, work, n: int, pool: ThreadPoolExecutor | RemoteBlocks | None, block: int = _BLOCK,
                after=None) -> list:
    """``work(*prepare(lo, hi))`` for consecutive spans of ``n`` slots, in order.

    ``prepare`` (here) gives a span's arrays, ``work`` (a module-level function of plain
    arrays) does its scans: on ``pool``'s two threads, or, when ``pool`` is a cluster's
    :class:`~partsforecast.engine.RemoteBlocks`, on its workers, a span of
    ``REMOTE_SLOTS`` per task (``work`` then takes its slots ``block`` at a time). ``after``
    sees each result here as it is collected."""
    after = after or (lambda x: x)
    if pool is not None and not isinstance(pool, ThreadPoolExecutor):
        return [after(x) for x in pool.run(work, (prepare(lo, hi) + (block,)
                                                  for lo, hi in block_spans(n, REMOTE_SLOTS)))]
    step = block
    if n > block // 4 and pool is not None:
        # two halves at least, so both cores work (numpy releases the GIL in its loops)
        step = max(min(block, (n + 1) // 2), 1)
    spans = block_spans(n, step)
    if pool is None or len(spans) == 1:
        return [after(work(*prepare(lo, hi), block)) for lo, hi in spans]
    return list(pool.map(lambda sp: after(work(*prepare(*sp), block)), spans))


@dataclass
class _Base:
    """Service of a part's dealers at dealer level 0, per tier: for EBO minus the sum of
    pipeline means, own + f EBO_0, split into its two sums (zero for fill)."""

    own: np.ndarray  # (P, T)
    f: np.ndarray  # (P, T)


def _base(prob: StockingProblem, obj: str, tier_of_pair: np.ndarray, T: int) -> _Base:
    own = np.zeros((prob.P, T))
    f = np.zeros((prob.P, T))
    if obj == "ebo":
        lam0 = prob.lam0[prob.pp]
        fp = np.divide(prob.plam, lam0, out=np.zeros_like(prob.plam), where=lam0 > 0)
        np.add.at(own, (prob.pp, tier_of_pair), prob.plam * prob.pT)
        if prob.two_echelon:
            np.add.at(f, (prob.pp, tier_of_pair), fp)
    return _Base(own, f)


def _base_rows(base: _Base, row_part: np.ndarray, ebo0: np.ndarray) -> np.ndarray:
    """(rows, T) service at dealer level 0 (minus the expected backorders for EBO)."""
    return -(base.own[row_part] + base.f[row_part] * ebo0[:, None])


def search_warehouse(prob: StockingProblem, obj: str, theta: np.ndarray, sat: np.ndarray, *,
                     pool: ThreadPoolExecutor | RemoteBlocks | None = None, full_range: int = FULL_RANGE,
                     table: WarehouseTable | None = None) -> np.ndarray:
    """The warehouse level of every part minimising its Lagrangian value at ``theta`` (per tier).

    Parts whose range 0..saturation has at most ``full_range`` levels are searched level by
    level (exact).  Longer ranges are sampled on a grid -- 0, the middle of the always-short
    stretch below the mean minus three standard deviations, the mean plus -1.5 ... +9
    standard deviations, and a quarter, half, three quarters and all of the range (with
    over-dispersed demand and dear dealers the best level can sit far in the warehouse's
    tail) -- and the grid's three best basins are refined by bracketing (four
    points a round) down to single levels.  ``table`` (:func:`warehouse_table`) saves the
    closed forms of the warehouse's backorders at the levels visited.
    """
    tiers, tix = tier_index(prob)
    theta = np.asarray(theta, dtype=float)
    theta_pair = theta[tix]
    pairs = _pairs(prob, _live_for(prob, obj, theta_pair))
    base = _base(prob, obj, tix, tiers.size)
    best = np.zeros(prob.P, dtype=np.int64)
    best_val = np.full(prob.P, np.inf)

    def evaluate(part, s0):
        v = _row_values(prob, obj, theta, theta_pair, pairs, base, part, s0, pool, table)
        bv = best_val[part]
        better = ~np.isfinite(bv) | (v < bv - _TIE * np.abs(np.where(np.isfinite(bv), bv, 0.0)))
        # a part may appear several times: keep its lowest value (then lowest level)
        o = np.lexsort((s0, v, part))
        first = np.ones(o.size, dtype=bool)
        first[1:] = part[o][1:] != part[o][:-1]
        w = o[first & better[o]]
        best[part[w]] = s0[w]
        best_val[part[w]] = v[w]
        return v

    full = sat <= full_range
    fp = np.flatnonzero(full)
    cnt = sat[fp] + 1
    part = np.repeat(fp, cnt)
    s0 = np.arange(part.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    evaluate(part, s0)
    long = np.flatnonzero(~full)
    if long.size:
        _search_long(prob, long, sat, evaluate)
    return best


def _search_long(prob: StockingProblem, long: np.ndarray, sat: np.ndarray, evaluate) -> None:
    """Grid plus bracketing for parts with long warehouse ranges (see :func:`search_warehouse`)."""
    mu0, sd0 = prob.mu0[long], np.sqrt(np.maximum(prob.v0[long], prob.mu0[long]))
    z = np.array([-1.5, -0.5, 0.0, 0.5, 1.0, 1.5, 2.5, 4.0, 6.0, 9.0])
    low_end = np.maximum(mu0 - 3.0 * sd0, 0.0)
    geo = low_end[:, None] * np.array([0.0, 0.5])[None, :]
    span = sat[long][:, None] * np.array([0.25, 0.5, 0.75, 1.0])[None, :]
    grid = np.concatenate((geo, mu0[:, None] + sd0[:, None] * z[None, :], span), axis=1)
    grid = np.clip(np.round(grid), 0, sat[long][:, None]).astype(np.int64)
    grid.sort(axis=1)
    n, K = grid.shape
    vals = evaluate(np.repeat(long, K), grid.ravel()).reshape(n, K)
    # the three best local minima of each part's grid (duplicate grid points share values)
    left = np.concatenate((np.full((n, 1), np.inf), vals[:, :-1]), axis=1)
    right = np.concatenate((vals[:, 1:], np.full((n, 1), np.inf)), axis=1)
    score = np.where((vals <= left) & (vals <= right), vals, np.inf)
    order = np.argsort(score, axis=1, kind="stable")[:, :3]
    tracks = []
    for col in range(order.shape[1]):
        i = order[:, col]
        ok = np.isfinite(score[np.arange(n), i])
        lo = grid[np.arange(n), np.maximum(i - 1, 0)]
        hi = grid[np.arange(n), np.minimum(i + 1, K - 1)]
        tracks.append((long[ok], lo[ok], hi[ok], grid[np.arange(n), i][ok], vals[np.arange(n), i][ok]))
    part = np.concatenate([t[0] for t in tracks])
    lo, hi, mid, mv = (np.concatenate([t[k] for t in tracks]) for k in range(1, 5))
    while part.size:
        # four points spread over the bracket, then the bracket shrinks to the best one's neighbours
        frac = np.array([0.2, 0.4, 0.6, 0.8])
        pts = np.round(lo[:, None] + (hi - lo)[:, None] * frac[None, :]).astype(np.int64)
        v = evaluate(np.repeat(part, pts.shape[1]), pts.ravel()).reshape(pts.shape)
        allp = np.concatenate((lo[:, None], pts, hi[:, None], mid[:, None]), axis=1)
        allv = np.concatenate((np.full((part.size, 1), np.inf), v, np.full((part.size, 1), np.inf), mv[:, None]),
                              axis=1)
        order = np.argsort(allp, axis=1, kind="stable")
        sp = np.take_along_axis(allp, order, axis=1)
        sv = np.take_along_axis(allv, order, axis=1)
        k = np.argmin(sv, axis=1)
        rr = np.arange(part.size)
        mid, mv = sp[rr, k], sv[rr, k]
        # neighbours of the best point (skip duplicates of it)
        lo = np.where(k > 0, sp[rr, np.maximum(k - 1, 0)], mid)
        hi = np.where(k < sp.shape[1] - 1, sp[rr, np.minimum(k + 1, sp.shape[1] - 1)], mid)
        go = (hi - lo) > 2
        if not go.all():
            # bracket of at most three levels: evaluate its interior and stop
            done = ~go
            inner = np.stack((lo[done] + 1, hi[done] - 1), axis=1)
            ok = inner >= lo[done][:, None]
            pp = np.repeat(part[done], 2)[ok.ravel()]
            evaluate(pp, inner.ravel()[ok.ravel()])
            part, lo, hi, mid, mv = part[go], lo[go], hi[go], mid[go], mv[go]


# ---------------------------------------------------------------------------------------
# Rows with their entries
# ---------------------------------------------------------------------------------------


#: Entries whose ratio is within this relative distance below a threshold count as above it
#: (a step priced at exactly its own ratio is taken).
_RATIO_TOL = 1e-12


@dataclass
class Frontier:
    """Rows (part, warehouse level) with the hull steps of their dealers, multiplier-free.

    Rows are sorted by part, then level; every part has at least one row.  A *slot* is a
    (row, dealer pair); entry ``e`` is a step of slot ``e_slot``: ``e_units`` more units at
    dealer pair ``e_pair`` for ``e_cost`` money, gaining ``e_gain`` of the service measure
    (demand-weighted fill, or backorders removed) in tier ``e_tier``; ``e_ratio = e_gain /
    e_cost``.  Entries are stored slot by slot (``slot_ptr``), each slot's in level order with
    falling ratios, down to the floor of its tier; ``order`` lists them by tier and, within a
    tier, by falling ratio (in log-spaced bins, ``bin_ptr``), so that the steps a multiplier
    buys are a prefix of each tier's list.

    Held per entry: slot, units, row and position in ``order`` as int32, tier as int8, money
    and both gains as float64, and the row in ``order``'s sequence (about 47 bytes);
    the pair (``e_pair``), the ratio (:meth:`ratio_of`) and a slot's pipeline
    (:meth:`slot_moments`) are derived where needed, to the bit as they were built.
    """

    obj: str
    tiers: np.ndarray  # tier labels (T,)
    floor: np.ndarray  # (T,) ratio floor of the entries
    pair_tix: np.ndarray  # tier index of every active pair of the problem
    row_part: np.ndarray
    row_s0: np.ndarray
    row_wh_cost: np.ndarray  # c s0
    row_base: np.ndarray  # (R, T) service at dealer level 0
    row_ebo0: np.ndarray  # (R,) sum of dealer pipeline means (backorders at dealer level 0)
    row_wh: np.ndarray  # (R, 2) the warehouse's EBO_0 and VBO_0 (the dealers' pipelines follow)
    slot_row: np.ndarray
    slot_pair: np.ndarray
    e_slot: np.ndarray
    e_units: np.ndarray
    e_gebo: np.ndarray
    e_gfill: np.ndarray  # lambda x fill gain (demand-weighted)
    e_cost: np.ndarray
    part_ptr: np.ndarray = None  # (P+1,)
    slot_ptr: np.ndarray = None  # (S+1,)
    e_row: np.ndarray = None
    e_tier: np.ndarray = None
    e_gain: np.ndarray = None
    order: np.ndarray = None
    bin_ptr: np.ndarray = None
    n_parts: int = 0
    _given: tuple | None = None

    def __post_init__(self) -> None:
        # indices are int32 (entries, slots and rows stay far below 2**31), tiers int8; the
        # per-entry pair is read through the slot (:attr:`e_pair`), never stored
        P = self.n_parts
        self.part_ptr = np.zeros(P + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.row_part, minlength=P), out=self.part_ptr[1:])
        self.slot_row = _narrow(self.slot_row)
        self.slot_pair = _narrow(self.slot_pair)
        self.e_slot = _narrow(self.e_slot)
        self.e_units = _narrow(self.e_units)
        S = self.slot_row.size
        self.slot_ptr = np.zeros(S + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.e_slot, minlength=S), out=self.slot_ptr[1:])
        self.e_row = self.slot_row[self.e_slot]
        small = np.int8 if self.tiers.size <= 127 else np.int16
        self.e_tier = np.asarray(self.pair_tix).astype(small)[self.slot_pair][self.e_slot]
        self.e_gain = self.e_gfill if self.obj == "fill" else self.e_gebo
        # by tier, then by falling ratio in log-spaced bins (a radix sort of small integers);
        # a merged frontier inherits the bins of its first part and merges the two orders
        T = self.tiers.size
        if self._given is None:
            nb = max(32767 // max(T, 1), 2)
            hi, lo = np.full(T, -np.inf), np.full(T, np.inf)
            for a, b in block_spans(self.e_cost.size):
                lr = np.log(np.maximum(self.ratio_of(slice(a, b)), 1e-300))
                tb = self.e_tier[a:b]
                for t in range(T):
                    m = tb == t
                    if m.any():
                        hi[t], lo[t] = max(hi[t], lr[m].max()), min(lo[t], lr[m].min())
            self._bins = (nb, hi, np.where(hi > lo, hi - lo, 1.0))
            key = self._all_keys()
            self.order = _stable_order(key, T * nb)
            self._key_sorted = key[self.order]
            del key
            if self.order.size > _RELEASE_AFTER:
                release_unused_memory()  # the sort's work arrays, before the ordered copies
        else:
            self._bins, self.order, self._key_sorted = self._given
            self._given = None
        nb = self._bins[0]
        self.bin_ptr = np.searchsorted(self._key_sorted, np.arange(T * nb + 1), side="left").astype(np.int64)
        self._row_in_order = self.e_row[self.order]
        self._pricer = None

    @property
    def e_pair(self) -> np.ndarray:
        """Dealer pair of every entry (through its slot)."""
        return self.slot_pair[self.e_slot]

    def ratio_of(self, idx) -> np.ndarray:
        """Ratio (gain per unit of money) of entries ``idx`` (indices, a mask or a slice):
        ``e_gain / e_cost``, computed where needed rather than stored."""
        return self.e_gain[idx] / self.e_cost[idx]

    @property
    def e_ratio(self) -> np.ndarray:
        """Ratio of every entry (see :meth:`ratio_of`)."""
        return self.ratio_of(slice(None))

    def slot_moments(self, prob: StockingProblem, ks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the dealer pipelines of slots ``ks`` (as the entries were built
        from: METRIC / VARI-METRIC at their row's warehouse level)."""
        g = self.slot_pair[ks]
        r = self.slot_row[ks]
        pairs = _pairs_of(prob, g)
        return _pipeline(prob, pairs, np.arange(g.size), self.row_wh[r, 0], self.row_wh[r, 1])

    def _keys(self, idx) -> np.ndarray:
        """Sort keys (tier, log-ratio bin) of entries ``idx`` (indices or a slice)."""
        nb, hi, span = self._bins
        t = self.e_tier[idx].astype(np.int64)
        lr = np.log(np.maximum(self.ratio_of(idx), 1e-300))
        with np.errstate(invalid="ignore"):
            b = np.nan_to_num((hi[t] - lr) / span[t] * (nb - 1), nan=nb - 1, posinf=nb - 1, neginf=0)
        return (t * nb + np.clip(b, 0, nb - 1).astype(np.int64)).astype(np.int16)

    def _all_keys(self) -> np.ndarray:
        """Sort keys of every entry, computed in blocks (bounds the temporaries)."""
        key = np.empty(self.e_cost.size, dtype=np.int16)
        for a, b in block_spans(key.size):
            key[a:b] = self._keys(slice(a, b))
        return key

    @property
    def R(self) -> int:
        return self.row_part.size

    # -- prices ---------------------------------------------------------------------------

    def _bin_of(self, t: int, ratio: float) -> int:
        nb, hi, span = self._bins
        if not np.isfinite(hi[t]) or ratio <= 0:
            return nb - 1
        return int(np.clip(np.floor((hi[t] - np.log(ratio)) / span[t] * (nb - 1)), 0, nb - 1))

    def _between(self, t: int, lo: float, hi: float) -> np.ndarray:
        """Entries of tier ``t`` with ratio in [lo, hi) (``hi`` may be inf)."""
        nb = self._bins[0]
        # one bin of margin each side: the bins of the entries were computed in bulk
        b0 = max(self._bin_of(t, hi) - 1, 0) if np.isfinite(hi) else 0
        b1 = min(self._bin_of(t, lo) + 1, nb - 1) if lo > 0 else nb - 1
        idx = self.order[self.bin_ptr[t * nb + b0]:self.bin_ptr[t * nb + b1 + 1]]
        r = self.ratio_of(idx)
        return idx[(r >= lo) & (r < hi)]

    @staticmethod
    def _tau(theta: float) -> float:
        """The ratio threshold of a multiplier (a step priced at exactly its ratio is taken)."""
        return (1.0 / theta) * (1.0 - _RATIO_TOL) if theta > 0 else np.inf

    def lagrangian(self, theta: np.ndarray) -> np.ndarray:
        """Value of every row at tier multipliers ``theta``: c s0 - theta . service, its dealers
        at their best levels (the entries with ratio >= 1 / theta, i.e. cost - theta gain <= 0).
        Updated from the previous call by the entries whose side of the price changed."""
        theta = np.asarray(theta, dtype=float)
        T = self.tiers.size
        if self._pricer is None:
            self._pricer = (np.full(T, np.inf), np.zeros(self.R), np.zeros((self.R, T)))
        tau_old, cost, gain = self._pricer
        tau_new = np.array([self._tau(th) for th in theta])
        for t in range(T):
            if tau_new[t] == tau_old[t]:
                continue
            lo, hi = sorted((tau_old[t], tau_new[t]))
            idx = self._between(t, lo, hi)
            if not idx.size:
                continue
            sign = 1.0 if tau_new[t] < tau_old[t] else -1.0
            cost += sign * np.bincount(self.e_row[idx], weights=self.e_cost[idx], minlength=self.R)
            gain[:, t] += sign * np.bincount(self.e_row[idx], weights=self.e_gain[idx], minlength=self.R)
        self._pricer = (tau_new, cost, gain)
        return self.row_wh_cost - self.row_base @ theta + cost - gain @ theta

    def row_cost_at(self, theta: np.ndarray) -> np.ndarray:
        """Money of every row (warehouse and the dealers' steps) at ``theta``."""
        self.lagrangian(theta)
        return self.row_wh_cost + self._pricer[1]

    def taken(self, theta: np.ndarray) -> np.ndarray:
        """Mask of the entries ``theta`` buys (every row's dealers at their Lagrangian levels)."""
        theta = np.asarray(theta, dtype=float)
        tau = np.array([self._tau(th) for th in theta])
        out = np.empty(self.e_cost.size, dtype=bool)
        for a, b in block_spans(out.size):
            out[a:b] = self.ratio_of(slice(a, b)) >= tau[self.e_tier[a:b]]
        return out

    def prefix(self, t: int, rows_on: np.ndarray, need: float) -> tuple[np.ndarray, float, bool]:
        """The steps of tier ``t`` of the rows marked in ``rows_on`` by falling ratio until their
        gains reach ``need``: their indices, the ratio of the last one and whether ``need`` was
        reached (if not, all of them).  Whole bins are summed; only the bin where ``need`` is
        crossed is sorted."""
        nb = self._bins[0]
        a0, a1 = self.bin_ptr[t * nb], self.bin_ptr[(t + 1) * nb]
        on = np.take(rows_on, self._row_in_order[a0:a1])  # the tier's entries of rows marked on
        g = np.zeros(on.size)
        at = np.flatnonzero(on)
        g[at] = self.e_gain[self.order[a0 + at]]
        starts = self.bin_ptr[t * nb:(t + 1) * nb] - a0
        full = np.flatnonzero(np.diff(np.append(starts, g.size)) > 0)  # bins holding entries
        per_bin = np.zeros(starts.size)
        if full.size:
            per_bin[full] = np.add.reduceat(g, starts[full])
        cum = np.cumsum(per_bin)
        if g.size == 0 or cum[-1] < need:
            on_all = self.order[a0:a1][on] if g.size else np.zeros(0, dtype=np.int64)
            return on_all, (float(self.ratio_of(on_all).min()) if on_all.size else np.inf), False
        kb = int(np.searchsorted(cum, need, side="left"))
        lo, hi = starts[kb], (starts[kb + 1] if kb + 1 < nb else g.size)
        before = cum[kb - 1] if kb > 0 else 0.0
        head = a0 + np.flatnonzero(on[:lo])
        cand = a0 + lo + np.flatnonzero(on[lo:hi])
        idx = self.order[cand]
        inner = idx[np.argsort(-self.ratio_of(idx), kind="stable")]
        pos = int(np.searchsorted(before + np.cumsum(self.e_gain[inner]), need, side="left"))
        pos = min(pos, inner.size - 1)
        got = np.concatenate((self.order[head], inner[:pos + 1]))
        return got, float(self.ratio_of(inner[pos:pos + 1])[0]), True

    # -- rows -----------------------------------------------------------------------------

    def best_rows(self, val: np.ndarray, prefer: np.ndarray | None = None) -> np.ndarray:
        """The row of least value of every part; among ties ``prefer`` (one row per part),
        else the lowest warehouse level."""
        lo = self.part_ptr[:-1]
        pmin = np.minimum.reduceat(val, lo)
        ok = val <= pmin[self.row_part] + _TIE * np.maximum(np.abs(pmin[self.row_part]), 1.0)
        choice = np.full(lo.size, -1, dtype=np.int64)
        first = np.flatnonzero(ok)
        parts, at = np.unique(self.row_part[first], return_index=True)
        choice[parts] = first[at]
        if prefer is not None:
            keep = ok[prefer]
            choice[keep] = prefer[keep]
        return choice

    def descend(self, val: np.ndarray, start: np.ndarray) -> np.ndarray:
        """From row ``start`` of every part, step to the neighbouring row (next lower or higher
        warehouse level among the part's rows) of least value while it is lower: the local
        minimum of each part's Lagrangian value reached downhill (the warehouse step of
        marginal analysis, over the rows)."""
        cur = start.copy()
        first, last = self.part_ptr[:-1], self.part_ptr[1:] - 1
        for _ in range(int(np.diff(self.part_ptr).max(initial=1))):
            dn = np.maximum(cur - 1, first)
            up = np.minimum(cur + 1, last)
            nxt = np.where(val[dn] < val[up], dn, up)
            better = val[nxt] < val[cur] - _TIE * np.maximum(np.abs(val[cur]), 1.0)
            if not better.any():
                break
            cur = np.where(better, nxt, cur)
        return cur

    def rows_of(self, part: np.ndarray, s0: np.ndarray) -> np.ndarray:
        """Index of the row (part, s0) of each given pair (which must exist)."""
        width = int(self.row_s0.max(initial=0)) + 2
        key = self.row_part.astype(np.int64) * width + self.row_s0
        at = np.searchsorted(key, part.astype(np.int64) * width + s0)
        if not np.all(key[np.minimum(at, key.size - 1)] == part * width + s0):
            raise ValueError("rows_of: a (part, level) has no row")
        return at

    def figures(self, choice: np.ndarray, take: np.ndarray) -> tuple[float, np.ndarray]:
        """Money and service per tier of rows ``choice`` (one per part) with entries ``take``
        (indices, all of chosen rows)."""
        serv = self.row_base[choice].sum(axis=0)
        serv += np.bincount(self.e_tier[take], weights=self.e_gain[take], minlength=self.tiers.size)
        return float(self.row_wh_cost[choice].sum() + self.e_cost[take].sum()), serv

    def merge(self, other: Frontier) -> Frontier:
        """This frontier and ``other`` (same problem, floors and measure; no row in both)."""
        part = np.concatenate((self.row_part, other.row_part))
        s0 = np.concatenate((self.row_s0, other.row_s0))
        o = np.lexsort((s0, part))
        new = np.empty(o.size, dtype=np.int64)
        new[o] = np.arange(o.size)
        R, S = self.R, self.slot_row.size

        def cat(name):
            return np.concatenate((getattr(self, name), getattr(other, name)))

        # other's entries in this frontier's bins, merged into its order (no new sort of all)
        E = self.e_slot.size
        if E + other.e_slot.size >= 2**31 or S + other.slot_row.size >= 2**31:
            raise ValueError("a frontier holds at most 2**31 - 1 entries and slots")
        other._bins = self._bins
        k2 = other._all_keys()
        o2 = np.argsort(k2, kind="stable")
        at = np.searchsorted(self._key_sorted, k2[o2], side="right")
        given = (self._bins, np.insert(self.order, at, (o2 + E).astype(np.int32)),
                 np.insert(self._key_sorted, at, k2[o2]))
        del k2, o2, at
        return Frontier(
            self.obj, self.tiers, self.floor, self.pair_tix, part[o], s0[o], cat("row_wh_cost")[o],
            cat("row_base")[o], cat("row_ebo0")[o], cat("row_wh")[o],
            new[np.concatenate((self.slot_row, other.slot_row + R))], cat("slot_pair"),
            np.concatenate((self.e_slot, other.e_slot + np.int32(S))), cat("e_units"), cat("e_gebo"),
            cat("e_gfill"), cat("e_cost"), n_parts=self.n_parts, _given=given)


def build_frontier(prob: StockingProblem, obj: str, row_part: np.ndarray, row_s0: np.ndarray, floor: np.ndarray,
                   eps_sat: float, *, pool: ThreadPoolExecutor | RemoteBlocks | None = None,
                   table: WarehouseTable | None = None) -> Frontier:
    """Rows ``(row_part, row_s0)`` (any order, no duplicates) with the hull steps of their
    dealers down to ratio ``floor`` (per tier) or saturation (``P(D > s) < eps_sat``).
    ``table`` gives the warehouse's backorders where it has them (else closed forms)."""
    o = np.lexsort((row_s0, row_part))
    row_part, row_s0 = np.asarray(row_part, dtype=np.int64)[o], np.asarray(row_s0, dtype=np.int64)[o]
    tiers, tix = tier_index(prob)
    floor = np.asarray(floor, dtype=float)
    top = prob.plam if obj == "fill" else np.minimum(
        prob.plam * (prob.pT + (prob.T0[prob.pp] if prob.two_echelon else 0.0)), 1.0)
    pairs = _pairs(prob, top / prob.pc >= floor[tix])
    ebo0, vbo0 = _wh_moments(prob, row_part, row_s0, table)
    base = _base(prob, obj, tix, tiers.size)
    row_base = _base_rows(base, row_part, ebo0)
    # backorders at dealer level 0 (all pairs, for the figures)
    own_all = np.bincount(prob.pp, weights=prob.plam * prob.pT, minlength=prob.P)
    row_ebo0 = own_all[row_part] + np.where(prob.lam0[row_part] > 0, ebo0, 0.0)
    slot_row, k = _slots(pairs, row_part)

    def prepare(lo: int, hi: int) -> tuple:
        r, kk = slot_row[lo:hi], k[lo:hi]
        mean, var = _pipeline(prob, pairs, kk, ebo0[r], vbo0[r])
        g = pairs.idx[kk]
        mult = prob.plam[g] if obj == "fill" else np.ones(g.size)
        return lo, mean, var, prob.pc[g], mult, floor[tix[g]], prob.plam[g], obj, eps_sat

    def collected(out: dict) -> dict:
        if big:
            made[0] += out["cost"].size
            if made[0] > _RELEASE_AFTER:
                made[0] = 0
                release_unused_memory()  # the scans' freed work arrays, back to the system
        return out

    if k.size >= 2**31:
        raise ValueError("a frontier holds at most 2**31 - 1 entries and slots")
    big = k.size > 4 * _ENTRY_BLOCK
    made = [0]  # entries recorded since the memory was last given back
    parts = _map_blocks(prepare, _slot_entries, k.size, pool, _ENTRY_BLOCK, after=collected)
    # one field at a time, each block's piece released once copied: the entries are held once
    dtypes = {"slot": np.int32, "units": np.int32}
    cat = {}
    for key in ("slot", "units", "gebo", "gfill", "cost"):
        cat[key] = (np.concatenate([p.pop(key) for p in parts]) if parts
                    else np.zeros(0, dtype=dtypes.get(key, float)))
    del parts
    if big:
        release_unused_memory()  # the blocks' pieces, copied
    fr = Frontier(obj, tiers, floor, tix, row_part, row_s0, prob.c[row_part] * row_s0, row_base, row_ebo0,
                  np.stack((ebo0, vbo0), axis=1), slot_row, pairs.idx[k], cat.pop("slot"), cat.pop("units"),
                  cat.pop("gebo"), cat.pop("gfill"), cat.pop("cost"), n_parts=prob.P)
    if big or fr.e_slot.size > _RELEASE_AFTER:
        release_unused_memory()  # and the sort's
    return fr


def _slot_entries(first: int, mean, var, cost, mult, floor, plam, obj: str, eps_sat: float,
                  block: int = _ENTRY_BLOCK) -> dict:
    """The hull steps of slots ``first, first + 1, …`` (their pipelines ``mean``, ``var``)
    down to each slot's ratio ``floor``, in their stored form: slot, units, money and both
    gains per step, each slot's steps together in level order."""
    pieces = []
    for lo in range(0, mean.size, block):
        sl = slice(lo, lo + block)
        m, va, c, mu, th = mean[sl], var[sl], cost[sl], mult[sl], floor[sl]
        e, done = small_entries(m, va, c, mu, th, obj, eps_sat)
        rest = np.flatnonzero(~done)
        if rest.size:
            e2 = scan(pair_state(m[rest], va[rest]), mu[rest], c[rest], th[rest], obj, record=True,
                      eps_sat=eps_sat).entries
            e2["pair"] = rest[e2["pair"]]
            e = {key: np.concatenate((e[key], e2[key])) for key in ("pair", "units", "gebo", "gfill")}
            # each slot's steps together, in level order (the scan emits level by level)
            so = np.argsort(e["pair"], kind="stable")
            e = {key: e[key][so] for key in ("pair", "units", "gebo", "gfill")}
        pieces.append({"slot": (e["pair"] + first + lo).astype(np.int32), "units": e["units"].astype(np.int32),
                       "gebo": e["gebo"], "gfill": plam[sl][e["pair"]] * e["gfill"],
                       "cost": c[e["pair"]] * e["units"]})
        del e
    if len(pieces) == 1:
        return pieces[0]
    return {key: np.concatenate([p[key] for p in pieces]) for key in ("slot", "units", "gebo", "gfill", "cost")}
