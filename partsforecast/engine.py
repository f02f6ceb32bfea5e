"""Running the fit, the forecast and the transfer solve on a Dask cluster: ``engine=client``.

:meth:`partsforecast.FailureModel.fit` and :func:`partsforecast.forecast_demand` take
``engine=None`` (run here) or a ``dask.distributed.Client``. With a client the work is
split into partitions that run on the cluster's workers and are put back together in the
order of the local result, so the numbers are the local path's up to the order of
floating-point sums.

- **fit**: the lives are computed here (once per fleet); their rows are split by component
  family (the families borrow strength only within themselves) into about two partitions
  per worker of balanced row counts. One number is shared by every family, the spread of
  log shapes between groups (``tau_log_shape``): a first round of tasks returns each
  group's inputs of it, the client computes it, and a second round fits the partitions
  with it. The covariate GLM needs the fleet and runs here afterwards.
- **forecast**: everything fleet-wide is fitted here (lives, usage profile, frailty,
  service model); the running machine-components are split by location, whole dealers
  per partition in location order. Two fleet-wide quantities are gathered between rounds
  of tasks: each group's reach of the renewal tables, and with a frailty each group's
  totals per period. Each worker returns its dealers' rows of the final frame. Every
  worker receives the fleet without its tickets and machines (the as-of date, the BOM, the
  locations and the usage rates are what the tasks read) and its part of the running
  machine-components.

- **transfers** (``plan_transfers``, ``plan_stock``, ``run_plan``): the transfer model is
  built here; its independent blocks (without shipment costs, one per part) are solved
  with HiGHS on the workers, balanced by columns (:func:`map_partitioned`), and read back
  here. The fixed-cost MILP, whose lanes tie the parts together, is one block.
- **stock levels** (``optimize_stock``, ``plan_stock``, ``run_plan``): one price of
  service per tier couples the parts, so the multipliers, the warehouse search's choices
  and the frontier's assembly stay here; what is per part and per dealer, the scans of
  every (part, warehouse level, dealer) slot's service curve (the warehouse search's
  values and the frontier's hull steps, most of the time), runs on the workers: the
  client computes each span of slots' pipelines and sends them as plain arrays
  (:class:`RemoteBlocks`, ``stocking.frontier.REMOTE_SLOTS`` slots per task), and
  assembles the results in order.

dask is optional (``pip install partsforecast[dask]``) and imported only here, inside the
functions.
"""

from __future__ import annotations

import operator

import numpy as np
import pandas as pd

__all__ = ["RemoteBlocks", "check_engine", "fit_partitioned", "forecast_partitioned", "map_partitioned",
           "n_partitions", "split_balanced"]


def check_engine(engine, where: str = "engine"):
    """``engine`` itself when it is None or a ``dask.distributed.Client``.

    Raises
    ------
    TypeError
        Anything else (the message names the parameter ``engine``).
    ImportError
        A non-None engine while dask.distributed is not installed.
    """
    if engine is None:
        return None
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - dask is in the test extra
        raise ImportError(f"{where}: engine= needs dask.distributed, which is not installed; "
                          "install partsforecast[dask] (pip install 'partsforecast[dask]')") from exc
    if not isinstance(engine, Client):
        raise TypeError(f"{where}: engine must be None (run here) or a dask.distributed.Client, "
                        f"got {type(engine).__name__}")
    return engine


def n_partitions(client) -> int:
    """Partitions to make on ``client``: two per worker (at least one)."""
    return max(1, 2 * len(client.nthreads()))


def split_balanced(weights: np.ndarray, n_parts: int, contiguous: bool = False) -> np.ndarray:
    """Partition of each item (0..n_parts-1) balancing the summed ``weights``.

    ``contiguous``: items stay in order (partition p holds a run of items, p increasing),
    cut where the running total crosses p / n_parts of the whole. Otherwise longest
    processing time first: the heaviest item goes to the lightest partition. Empty
    partitions are dropped from the numbering.
    """
    w = np.asarray(weights, float)
    n = w.size
    if n == 0:
        return np.zeros(0, np.int64)
    k = max(1, min(int(n_parts), n))
    if contiguous:
        before = np.cumsum(w) - w  # weight before each item
        total = w.sum()
        part = np.minimum((before * k / total).astype(np.int64), k - 1) if total > 0 else np.zeros(n, np.int64)
    else:
        load = np.zeros(k)
        part = np.empty(n, np.int64)
        for i in np.argsort(-w, kind="stable"):  # one step per family or dealer, not per row
            j = int(np.argmin(load))
            part[i] = j
            load[j] += w[i]
    _, dense = np.unique(part, return_inverse=True)
    return dense.astype(np.int64)


def _gather(client, futures):
    return client.gather(futures)


def _apply_each(fn, items: list) -> list:
    return [fn(item) for item in items]


class RemoteBlocks:
    """Runs blocks of plain-array work on a cluster: ``run(work, args)`` submits
    ``work(*a)`` for every ``a`` as it is prepared and returns the results in order.

    What the stock levels' optimiser is given as its pool with ``engine=client``
    (:mod:`partsforecast.stocking.frontier`); ``work`` must be importable by the workers."""

    def __init__(self, client) -> None:
        self.client = client
        self.tasks = 0

    def run(self, work, args) -> list:
        futures = [self.client.submit(work, *a, pure=False) for a in args]
        self.tasks += len(futures)
        return _gather(self.client, futures)


def map_partitioned(client, fn, items: list, weights=None) -> list:
    """``[fn(item) for item in items]`` computed on the cluster, the items split into about
    two partitions per worker balancing ``weights`` (default: one each); results in order.
    ``fn`` must be importable by the workers (a module-level function or a partial of one)."""
    if not items:
        return []
    w = np.ones(len(items)) if weights is None else np.asarray(weights, float)
    part = split_balanced(w, n_partitions(client))
    members = [np.flatnonzero(part == p) for p in range(int(part.max()) + 1)]
    futures = client.map(_apply_each, [fn] * len(members), [[items[i] for i in idx] for idx in members],
                         pure=False)
    out: list = [None] * len(items)
    for idx, results in zip(members, _gather(client, futures)):
        for i, r in zip(idx.tolist(), results):
            out[i] = r
    return out


# -- the fit ------------------------------------------------------------------------------------

def _spread_task(model, lv: pd.DataFrame):
    """A partition's groups and their inputs of the spread of log shapes."""
    from partsforecast.reliability.groups import group_setup
    from partsforecast.reliability.pooling import shape_spread_terms

    gcode, groups, _, _ = model._group_codes(lv)
    t = lv["duration"].to_numpy(float)
    d = lv["failed"].to_numpy(float)
    S = group_setup(gcode.astype(np.int64), t, d, np.ones_like(t), len(groups))
    return groups, shape_spread_terms(S)


def _fit_task(model, lv: pd.DataFrame, tau2):
    core = model._fit_lives(lv, tau2=tau2)
    del core["gcode"]
    return core


def fit_partitioned(model, lv: pd.DataFrame, client) -> dict:
    """The core of :meth:`FailureModel.fit` on ``client``: the same dict as the local
    ``_fit_lives(lv)`` (params in group-code order, families, law_comparison, candidates,
    gcode, groups)."""
    from partsforecast.reliability.pooling import shape_spread

    gcode, groups, fam, families = model._group_codes(lv)
    comp = lv["component"].cat.codes.to_numpy(np.int64)
    rows = np.bincount(comp, minlength=len(lv["component"].cat.categories))
    present = np.flatnonzero(rows > 0)
    part_of = np.full(rows.size, -1, np.int64)
    part_of[present] = split_balanced(rows[present], n_partitions(client))
    row_part = part_of[comp]
    pieces = [lv.iloc[np.flatnonzero(row_part == p)] for p in range(int(part_of.max()) + 1)]
    lv_futures = client.scatter(pieces)
    tau2 = None
    if model.distribution != "exponential":
        G = len(groups)
        logk, var, r = np.full(G, np.nan), np.full(G, np.nan), np.zeros(G)
        for pg, (lk, v, rr) in _gather(client, [client.submit(_spread_task, model, f, pure=False)
                                                for f in lv_futures]):
            at = groups.get_indexer(pg)
            logk[at], var[at], r[at] = lk, v, rr
        tau2, _, _ = shape_spread(fam, len(families), logk, var, r)
    cores = _gather(client, [client.submit(_fit_task, model, f, tau2, pure=False) for f in lv_futures])

    params = pd.concat([c["params"] for c in cores], ignore_index=True)
    at = groups.get_indexer(pd.MultiIndex.from_arrays([params["machine_model"].astype(str),
                                                       params["component"].astype(str)]))
    params = params.iloc[np.argsort(at, kind="stable")].reset_index(drop=True)
    fam_table = pd.concat([c["families"] for c in cores], ignore_index=True)
    fam_order = pd.Index(families.astype(str)).get_indexer(fam_table["component"].astype(str))
    fam_table = fam_table.iloc[np.argsort(fam_order, kind="stable")].reset_index(drop=True)
    keys = ["machine_model", "component"]
    law_comparison = candidates = None
    if cores[0]["law_comparison"] is not None:
        law_comparison = pd.concat([c["law_comparison"] for c in cores], ignore_index=True).sort_values(
            keys, ignore_index=True)
        candidates = {name: pd.concat([c["candidates"][name] for c in cores], ignore_index=True).sort_values(
            keys, ignore_index=True) for name in cores[0]["candidates"]}
    return {"params": params, "families": fam_table, "law_comparison": law_comparison,
            "candidates": candidates, "gcode": gcode, "groups": groups}


# -- the forecast -------------------------------------------------------------------------------

class _Context:
    """What every forecast task needs, sent to the workers once."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def _location_codes(locations: pd.Index, values) -> np.ndarray:
    from partsforecast._lookup import positions

    return positions(locations, values)


def _fleet_for_tasks(fleet):
    """The fleet as the forecast's tasks read it (its as-of date, BOM and locations), without
    the tickets, the machines, the truth and the values derived from them, which every worker
    would otherwise receive (about 1 GB nationally)."""
    slim = object.__new__(type(fleet))
    slim.__dict__.update(fleet.__dict__)
    slim.__dict__.pop("_derived_cache", None)
    slim.tickets = fleet.tickets.iloc[:0]
    slim.machines = fleet.machines.iloc[:0]
    slim._ticket_rows = None
    slim.truth = {}
    return slim


def _rates_only(lives):
    """The lives as the forecast's tasks read them: each machine's usage rate (a new
    machine's rate is its model's); the lives and ages tables go to the tasks in pieces."""
    return type(lives)(lives.lives.iloc[:0], lives.ages.iloc[:0], lives.rates)


def forecast_partitioned(client, *, lives, groups, locations, bound_days, fleet, retirements, usage_factor,
                         profile, frailty, new_machines, starts, end, by, quantiles, service):
    """The rows of :func:`partsforecast.forecast_demand` computed on ``client``, partitioned
    by location; returns the frame (without ``attrs``) and the groups its cells use."""
    from partsforecast.demand import engine_cells, engine_frame, engine_reach

    ages = lives.ages
    L = len(locations)
    loc = _location_codes(locations, ages["location_id"])
    rows = np.bincount(loc[loc >= 0], minlength=L)
    loc_part = split_balanced(rows, n_partitions(client), contiguous=True)  # whole dealers, in order
    n = int(loc_part.max()) + 1 if L else 1
    row_part = np.where(loc >= 0, loc_part[np.maximum(loc, 0)], -1)
    age_pieces = [ages.iloc[np.flatnonzero(row_part == p)] for p in range(n)]

    def by_location(table, bad_to_first: bool):
        """Rows of ``table`` per partition (rows of an unknown location go to the first,
        whose task then reports them as the local path does)."""
        if table is None or not len(table):
            return [None] * n
        if "location_id" not in table.columns:
            return [table] + [None] * (n - 1)
        code = _location_codes(locations, table["location_id"].astype(str))
        part = np.where(code >= 0, loc_part[np.maximum(code, 0)], 0 if bad_to_first else -1)
        return [table.iloc[np.flatnonzero(part == p)] for p in range(n)]

    new_pieces = by_location(new_machines, True)
    service_pieces = by_location(service, False)
    ctx = client.scatter(_Context(groups=groups, locations=locations, bound_days=bound_days,
                                  fleet=_fleet_for_tasks(fleet), lives=_rates_only(lives),
                                  retirements=retirements, usage_factor=usage_factor,
                                  profile=profile, frailty=frailty, starts=starts, end=end, by=by,
                                  quantiles=tuple(quantiles)), broadcast=True)
    age_futures = client.scatter(age_pieces)
    group_x = None
    if groups.tabulated:  # the renewal tables reach as far as the whole fleet's rows
        reach = _gather(client, [client.submit(engine_reach, ctx, a, pure=False) for a in age_futures])
        group_x = np.max(np.vstack(reach), axis=0)
    states = [client.submit(engine_cells, ctx, a, group_x, pure=False) for a in age_futures]
    factor = None
    if frailty is not None and frailty.keep_totals:
        totals = _gather(client, [client.submit(operator.itemgetter(1), s, pure=False) for s in states])
        before = sum(t[0] for t in totals)
        after = sum(t[1] for t in totals)
        factor = np.where(after > 0, before / np.where(after > 0, after, 1.0), 1.0)
    results = _gather(client, [client.submit(engine_frame, ctx, s, factor, new_pieces[p], service_pieces[p],
                                             pure=False) for p, s in enumerate(states)])
    pieces = [r[0] for r in results]
    used = np.logical_or.reduce([r[1] for r in results])
    if by != "component":  # every piece on the categories of the whole forecast
        bom = fleet.bom
        ok = groups.lookup(bom["machine_model"], bom["component"]) >= 0
        parts = pd.Index(bom["part_number"].astype(str)[ok].unique()).sort_values()
        if service is not None and len(service):
            parts = parts.union(pd.Index(service["part_number"].astype(str).unique())).sort_values()
        cats = parts.astype("str")
        for piece in pieces:
            piece["part_number"] = piece["part_number"].cat.set_categories(cats)
    return pd.concat(pieces, ignore_index=True), used
