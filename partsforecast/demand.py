"""Installed-base demand forecast: from component lifetimes to parts per dealer and period.

For every machine in service at ``fleet.as_of`` and every component its model carries, the
expected number of failures in each future period is the increment of the *delayed renewal
function* of that component: the first failure comes from the life conditional on the
component's current age, and every replacement starts a fresh life. Failures become parts
through the BOM and are summed per servicing location.

The lifetime model is read through the :class:`~partsforecast.reliability.LifetimeModel`
protocol only: its groups and, per row of components, the expected renewals over operating
hours. A :class:`~partsforecast.reliability.ParametricLifetimeModel` (a fitted
:class:`~partsforecast.FailureModel` of any law, or one made by ``FailureModel.from_params``)
or a :class:`~partsforecast.reliability.WeibullLifetimeModel` takes the fast path: renewal
tables per (law, shape), shared by all rows.

Count distribution
------------------
Failures of one component on one machine in one period are (almost always) 0 or 1 with a
small probability; their sum over the machines at a dealer is Poisson-binomial, which the
Poisson law with the same mean approximates with total-variation error at most Σ pᵢ² (Le Cam,
1960; Barbour & Hall, 1984 give min(1, 1/λ)·Σ pᵢ²). So failures per (location, model,
component, period) are taken as independent Poissons, and the demand for a part, which is
``qty_per_replacement`` units per failure of every group that uses it, is *compound* Poisson:
its mean is Σ q·λ and its variance Σ q²·λ. Its quantiles are those of the package's count
law for that mean and variance (:func:`partsforecast.counts.count_law`), the same law the
stocking formulas use: exactly q · Poisson(mean / q) for a part taken in one quantity q
(var = q · mean, the usual case), the negative binomial with the same two moments for a part
taken in several quantities. The Poisson approximation is conservative for stocking: the
Poisson variance is at least the Poisson-binomial one.

The renewal functions behind the expected failures are in
:mod:`partsforecast.reliability.renewal`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from partsforecast._io import release_unused_memory
from partsforecast._lookup import key_groups, positions
from partsforecast.counts import count_law
from partsforecast.lives import fleet_lives
from partsforecast.reliability import LifetimeModel, ParametricLifetimeModel, WeibullLifetimeModel
from partsforecast.reliability.laws import LAW_NAMES
from partsforecast.reliability.protocol import checked_renewals
from partsforecast.reliability.renewal import (
    RenewalTables,
    expected_failures,
    expected_failures_with_tables,
)

__all__ = [
    "forecast_demand",
    "lead_time_demand",
    "forecast_span_days",
    "recent_sales",
    "borrow_for_new_models",
    "DEFAULT_QUANTILES",
]

#: Quantile levels a forecast reports unless told otherwise (columns ``q0.5`` … ``q0.99``).
DEFAULT_QUANTILES = (0.5, 0.8, 0.9, 0.95, 0.99)

# Threads for blocks of rows: numpy releases the GIL inside its loops, so two cores give
# nearly twice the speed.
_THREADS = max(1, min(4, os.cpu_count() or 1))
# Rows of machine-components handled at once: the (rows × grid) work arrays stay ~100 MB.
_CHUNK_ROWS = 200_000


def _period_edges(as_of: pd.Timestamp, horizon: int, freq: str) -> tuple[pd.DatetimeIndex, pd.Timestamp]:
    """Start of each of the ``horizon`` full periods after ``as_of``, and the end of the last.

    If ``as_of`` falls inside a period, the stub up to the next period start is part of the
    simulated time (components age through it) but not of the output.
    """
    grid = pd.date_range(as_of.normalize(), periods=horizon + 2, freq=freq)
    if grid[0] < as_of:
        grid = grid[1:]
    grid = grid[: horizon + 1]
    return grid[:-1], grid[-1]


def forecast_demand(
    model,
    fleet,
    horizon: int = 12,
    freq: str = "MS",
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    *,
    new_machines: pd.DataFrame | None = None,
    retirements: pd.DataFrame | None = None,
    usage_factor: float | Mapping | pd.Series | None = None,
    usage_profile="auto",
    frailty=True,
    by: str = "part",
    maintenance="auto",
    engine=None,
) -> pd.DataFrame:
    """Forecast parts demand per servicing location and period from the installed base.

    Parameters
    ----------
    model : LifetimeModel
        A fitted :class:`~partsforecast.FailureModel`, one made from known parameters
        (``FailureModel.from_params(fleet.truth["lifetimes"])``), or any other
        :class:`~partsforecast.reliability.LifetimeModel`. Components of groups it has no
        law for get no forecast.
    fleet : Fleet
        The installed base and history; the forecast starts at ``fleet.as_of``. Its
        component lives are computed once per fleet (:meth:`~partsforecast.Fleet.component_lives`)
        and shared with the model fitted on it.
    horizon : int
        Number of future periods.
    freq : str
        pandas frequency of the periods (``"MS"`` months, ``"W-MON"`` weeks, ...).
    quantiles : sequence of float
        Levels of the count quantiles to report, each in (0, 1).
    new_machines : DataFrame, optional
        Machines expected to enter service: columns machine_model, location_id,
        per_period (expected new machines per period, may be fractional) and optionally
        hours_per_day (else the model's median usage at that location's tier). Each
        period's cohort enters service evenly through the period.
    retirements : DataFrame, optional
        Planned retirements: serial, retired_date. A machine stops needing parts then.
    usage_factor : float, mapping or Series, optional
        Multiplies usage rates: one number for all, a mapping tier → factor, or a Series
        indexed by location_id.
    usage_profile : "auto", UsageProfile, DataFrame or None
        Use over the year: a period's operating hours are the machine's hours per day × Σ
        over its days of factor(tier, calendar month). ``"auto"`` (default) fits a
        :class:`~partsforecast.UsageProfile` on ``fleet`` (meter readings and ticket
        timing; flat where the fleet shows no seasonality); a fitted ``UsageProfile`` or a
        table (tier, month, factor) is used as it is; ``None`` is flat use.
    frailty : bool or MachineFrailty
        Heavy users: ``True`` (default) fits a :class:`~partsforecast.MachineFrailty` of
        ``model`` on ``fleet`` and weights each machine's expected renewals by its frailty
        (its own failure history shrunk towards its model), each group's total per period
        kept at the model's; where the fleet shows no heterogeneity every frailty is 1 and
        nothing changes. A fitted ``MachineFrailty`` is used as it is; ``False`` leaves every
        machine at its model's rate. With a model fitted with ``FailureModel(severity=True)``
        that found heterogeneity, ``True`` averages each machine's expected renewals over its
        severity posterior instead (``model.severity_``, a
        :class:`~partsforecast.reliability.MachineSeverity`; no totals kept).
    by : {"part", "component"}
        Report parts (through the BOM) or component failures.
    maintenance : "auto", ServiceModel or None
        Scheduled-service demand added to the failure demand (``by="part"`` only):
        ``"auto"`` (default) fits a :class:`~partsforecast.ServiceModel` when the fleet has a
        ``maintenance`` schedule; a fitted ``ServiceModel`` is used as it is; ``None`` leaves
        service demand out. Means and variances add (the two are independent); the
        quantiles are those of the sum.
    engine : dask.distributed.Client, optional
        Run on a Dask cluster: the fleet-wide fits (lives, usage profile, frailty, service
        model) are made here, the running machine-components are split by location (whole
        dealers) and each worker forecasts its dealers; the frame is the local one (to
        floating-point summation order). ``None`` (default) runs here. See
        :mod:`partsforecast.engine`.

    Returns
    -------
    DataFrame
        One row per (location_id, part_number, period) with any demand: location_id,
        part_number (or machine_model and component with ``by="component"``), period
        (period start), mean, var, and one column per quantile named ``q0.5`` etc.
        ``attrs["borrowed_groups"]`` lists (as records: machine_model, component,
        borrowed_from) the pairs of the BOM that the model has no law for, that borrowed the
        law of the same component on a related model (:func:`borrow_for_new_models`) and
        that carry demand in this forecast (a new model's machines in ``new_machines``).
        Rows are sorted by location, part, period. The identifier columns are
        categoricals (a national forecast has millions of rows over a few thousand
        identifiers); ``.astype(str)`` turns them into strings.

    Notes
    -----
    The work is vectorised over machine-components in blocks of 200,000 rows, summed at
    once into (location, model, component) cells, so memory stays flat in the fleet size:
    200,000 machines × 20 components × 12 months forecast in seconds (see
    ``benchmarks/bench_demand.py``).

    Raises
    ------
    TypeError
        The arguments are swapped (``forecast_demand(fleet, model)``), ``fleet`` is not a
        fleet, or ``model`` is not a lifetime model.
    ValueError
        The model is not fitted, or an option is out of range.
    """
    _check_forecast_args(horizon, quantiles, by)
    if engine is not None:
        from partsforecast.engine import check_engine

        check_engine(engine, "forecast_demand")
    groups = _lifetime_groups(model, fleet)
    starts, end = _period_edges(fleet.as_of, horizon, freq)
    day = pd.Timedelta(days=1)
    # Days from as_of to the start of period 1 (a stub when as_of is inside a period) and
    # to the end of every period.
    bound_days = np.array([(starts[0] - fleet.as_of) / day]
                          + [(b - fleet.as_of) / day for b in list(starts[1:]) + [end]])
    locations = pd.Index(fleet.locations["location_id"].astype(str)).sort_values()

    lives = fleet_lives(fleet)
    profile, frail = _usage_settings(usage_profile, frailty, model, fleet)
    if engine is not None:
        from partsforecast.engine import forecast_partitioned

        service = None if by == "component" else _service_demand(maintenance, fleet, lives, starts, end,
                                                                 new_machines)
        out, used = forecast_partitioned(
            engine, lives=lives, groups=groups, locations=locations, bound_days=bound_days, fleet=fleet,
            retirements=retirements, usage_factor=usage_factor, profile=profile, frailty=frail,
            new_machines=new_machines, starts=starts, end=end, by=by, quantiles=quantiles, service=service)
        b = groups.borrowed
        b = b[used[groups.lookup(b["machine_model"], b["component"])]] if len(b) else b
        out.attrs["borrowed_groups"] = b.astype(object).to_dict("records")
        return out
    cells = _installed_base_cells(lives.ages, groups, locations, bound_days, fleet, retirements, usage_factor,
                                  profile, frail)
    if new_machines is not None and len(new_machines):
        extra = _new_machine_cells(new_machines, groups, locations, fleet, lives, starts, end, usage_factor,
                                   profile)
        cells = _merge_cells(cells, extra)
    release_unused_memory()  # the work arrays of the fits and of the machine-components
    if by == "component":
        out = _component_frame(cells, groups, locations, quantiles, starts)
    else:
        service = _service_demand(maintenance, fleet, lives, starts, end, new_machines)
        release_unused_memory()
        out = _part_frame(cells, groups, locations, fleet.bom, quantiles, service, starts)
    # The borrowed groups that carry demand here, as plain records (not a frame: pandas
    # compares attrs when frames are concatenated).
    b = groups.borrowed
    used = np.zeros(groups.size, dtype=bool)
    used[np.asarray(cells.keys, np.int64) % max(groups.size, 1)] = True
    b = b[used[groups.lookup(b["machine_model"], b["component"])]] if len(b) else b
    out.attrs["borrowed_groups"] = b.astype(object).to_dict("records")
    release_unused_memory()
    return out


class _Groups:
    """The model's (machine_model, component) groups, sorted, with integer lookups, and their
    laws: law, shape and scale (``tabulated``, the fast path), or the model's
    ``expected_renewals``."""

    def __init__(self, params: pd.DataFrame, model: LifetimeModel | None = None):
        # row i of ``params`` is the model's group i (or, for a borrowed group, the row
        # ``_source`` of its donor); ``source`` maps sorted groups back
        p = params.reset_index(drop=True)
        if "_source" not in p.columns:
            p = p.assign(_source=np.arange(len(p)))
        p = p.sort_values(["machine_model", "component"])
        self.source = p["_source"].to_numpy(np.int64)
        p = p.reset_index(drop=True)
        self.models = pd.Index(p["machine_model"].astype(str).unique())
        self.components = pd.Index(p["component"].astype(str).unique())
        mcode = self.models.get_indexer(p["machine_model"].astype(str))
        ccode = self.components.get_indexer(p["component"].astype(str))
        self.grid = np.full((len(self.models), len(self.components)), -1, dtype=np.int64)
        self.grid[mcode, ccode] = np.arange(len(p))
        self.model_of, self.component_of = mcode, ccode
        self.tabulated = model is None
        if self.tabulated:
            self.shape = p["shape"].to_numpy(float)
            self.scale = p["scale"].to_numpy(float)
            self.law = p["law"].astype(str).to_numpy(dtype=object)
        self.model = model
        self.size = len(p)

    def renewals(self, g: np.ndarray, age: np.ndarray, hours: np.ndarray) -> np.ndarray:
        """Expected failures in (0, hours] of rows of groups ``g`` aged ``age``: the model's
        :meth:`~partsforecast.reliability.LifetimeModel.expected_renewals`, checked."""
        return checked_renewals(self.model, self.source[g], age, hours)

    def lookup(self, machine_model, component) -> np.ndarray:
        """Group index of each (model, component) pair; −1 where no model was fitted."""
        m = positions(self.models, machine_model)
        c = positions(self.components, component)
        ok = (m >= 0) & (c >= 0)
        out = np.full(len(m), -1, dtype=np.int64)
        out[ok] = self.grid[m[ok], c[ok]]
        return out


def _dense_codes(key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys and each key's position among them (keys in [0, size))."""
    if size <= max(16 * key.size, 1 << 24):
        seen = np.zeros(size, dtype=bool)
        seen[key] = True
        uniq = np.flatnonzero(seen)
        pos = np.cumsum(seen) - 1
        return uniq, pos[key]
    uniq, inv = np.unique(key, return_inverse=True)
    return uniq, inv


def _map_blocks(func, items, threads: bool = True):
    """``map(func, items)`` on up to ``_THREADS`` threads (one without ``threads``), results
    in order."""
    items = list(items)
    if not threads or _THREADS <= 1 or len(items) <= 1:
        yield from map(func, items)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=_THREADS) as pool:
        yield from pool.map(func, items)


class _Cells:
    """Expected failures per (location, group) cell and period: keys = loc · G + group."""

    def __init__(self, keys: np.ndarray, means: np.ndarray):
        self.keys, self.means = keys, means


def _sum_by(codes: np.ndarray, n: int, column, n_columns: int) -> np.ndarray:
    """(n, n_columns) sums of ``column(p)`` (weights per row) over rows with equal codes:
    one bincount per period, never a loop over rows or groups."""
    out = np.empty((n, n_columns))
    for p in range(n_columns):
        out[:, p] = np.bincount(codes, weights=column(p), minlength=n)
    return out


def _merge_cells(a: _Cells, b: _Cells) -> _Cells:
    uniq, inv = np.unique(np.concatenate([a.keys, b.keys]), return_inverse=True)
    means = np.concatenate([a.means, b.means])
    return _Cells(uniq, _sum_by(inv, uniq.size, lambda p: means[:, p], means.shape[1]))


def _installed_base_cells(ages, groups: _Groups, locations: pd.Index, bound_days, fleet, retirements,
                          usage_factor, profile=None, frailty=None, *, group_x=None, reach_only=False,
                          keep_base=False) -> _Cells:
    """Expected failures of the running components, summed per (location, group) cell.

    With a usage ``profile`` a row's operating hours are its rate × its tier's mean-use days
    (:meth:`~partsforecast.UsageProfile.use_days`); with a ``frailty`` every row's expected
    failures are multiplied by its machine's (proportional hazards on the horizon) and, with
    ``frailty.keep_totals``, every group's total per period is brought back to the model's.

    For a part of the fleet (:mod:`partsforecast.engine`): ``reach_only`` returns each group's
    largest renewal-table argument of these rows; ``group_x`` gives the fleet's (the tables
    then are the whole fleet's); ``keep_base`` returns ``(cells, base)`` with the sums before
    the frailty's group totals are restored (those are the whole fleet's).
    """
    g = groups.lookup(ages["machine_model"], ages["component"])
    loc = positions(locations, ages["location_id"])
    keep = np.flatnonzero((g >= 0) & (loc >= 0))  # (a validated fleet has every location)
    g, loc = g[keep], loc[keep]
    age = ages["age_hours"].to_numpy(float)[keep]
    rate = ages["hours_per_day"].to_numpy(float)[keep] * _usage_multiplier(
        fleet, ages["location_id"].iloc[keep], usage_factor)
    tier = None if profile is None else fleet.location_tiers(ages["location_id"].iloc[keep])
    sev = frailty.nodes(ages["serial"].iloc[keep]) if hasattr(frailty, "nodes") else None
    z = None if frailty is None or sev is not None else frailty.multipliers(ages["serial"].iloc[keep])
    # Planned retirements cut a machine's horizon: it ages no further after that date.
    stop = np.full(keep.size, np.inf)
    if retirements is not None and len(retirements):
        ret = retirements.assign(retired_date=pd.to_datetime(retirements["retired_date"]))
        when = ret.groupby(ret["serial"].astype(str))["retired_date"].min()
        days = ((when - fleet.as_of) / pd.Timedelta(days=1)).astype(float)
        pos = positions(pd.Index(when.index), ages["serial"].iloc[keep].reset_index(drop=True))
        stop = np.where(pos >= 0, days.to_numpy()[np.maximum(pos, 0)], np.inf)
    cell_keys, cell_of_row = _dense_codes(loc * groups.size + g, len(locations) * groups.size)
    # Rows in cell order, so that every block's rows form runs of whole cells (reduceat).
    order = np.argsort(cell_of_row, kind="stable")
    cell_of_row, g, age, rate, stop = cell_of_row[order], g[order], age[order], rate[order], stop[order]
    tier = None if tier is None else tier[order]
    z = None if z is None else z[order]
    # A MachineSeverity: every row's renewals averaged over its machine's severity nodes, the
    # baseline law on the machine's time scale (a severity s divides the scale by s).
    s_nodes, s_weights = (None, None) if sev is None else (sev[0][order], sev[1][order])

    def use(sl: slice, days: np.ndarray) -> np.ndarray:
        """Days at mean use in the first ``days`` calendar days (the days themselves when flat)."""
        return days if tier is None else profile.use_days(fleet.as_of, days, tier[sl])

    if groups.tabulated:
        eta = groups.scale[g]
        x_end = use(slice(None), np.minimum(bound_days[-1], np.maximum(stop, 0.0))) * rate / eta
        if sev is not None:
            x_end = x_end * s_nodes.max(axis=1)
        reach = np.zeros(groups.size)
        np.maximum.at(reach, g, x_end)
        if reach_only:
            return reach
        group_x = reach if group_x is None else group_x
        tables, k_idx = RenewalTables.for_values(groups.shape, group_x, law=groups.law)  # group → table row

        def renewals(sl: slice, hours: np.ndarray) -> np.ndarray:
            if sev is None:
                return expected_failures_with_tables(age[sl], hours, k_idx[g[sl]], eta[sl], tables)
            return expected_failures_with_tables(age[sl], hours, k_idx[g[sl]], eta[sl], tables,
                                                 severity=s_nodes[sl], weights=s_weights[sl])
    else:
        def renewals(sl: slice, hours: np.ndarray) -> np.ndarray:
            if sev is None:
                return groups.renewals(g[sl], age[sl], hours)
            return sum(s_weights[sl, k, None] * groups.renewals(g[sl], age[sl] * s_nodes[sl, k],
                                                                hours * s_nodes[sl, k, None])
                       for k in range(s_nodes.shape[1]))

    def block(lo: int) -> tuple[np.ndarray, np.ndarray]:
        sl = slice(lo, lo + _CHUNK_ROWS)
        days = np.minimum(bound_days[None, :], np.maximum(stop[sl], 0.0)[:, None])
        cum = renewals(sl, use(sl, days) * rate[sl, None])
        per = np.diff(cum, axis=1)  # the stub before period 1 drops out here
        cells = cell_of_row[sl]
        starts = np.flatnonzero(np.concatenate([[True], cells[1:] != cells[:-1]]))
        if z is None:
            return cells[starts], np.add.reduceat(per, starts, axis=0), None
        flat = np.add.reduceat(per, starts, axis=0) if frailty.keep_totals else None
        return cells[starts], np.add.reduceat(per * z[sl, None], starts, axis=0), flat

    P = bound_days.size - 1
    sums = np.zeros((cell_keys.size, P))
    base = np.zeros((cell_keys.size, P)) if z is not None and frailty.keep_totals else None
    # Blocks run on a small thread pool (numpy releases the GIL in its loops); their sums are
    # added in block order, so the result does not depend on the scheduling. Another model's
    # expected_renewals is called from one thread only (it need not be thread-safe).
    for cells, part, flat in _map_blocks(block, range(0, keep.size, _CHUNK_ROWS), threads=groups.tabulated):
        sums[cells] += part
        if base is not None:
            base[cells] += flat
    if keep_base:
        return _Cells(cell_keys, sums), base
    if base is not None:  # the frailty moves a group's expected failures between machines
        grp = cell_keys % groups.size
        before = _sum_by(grp, groups.size, lambda p: base[:, p], P)
        after = _sum_by(grp, groups.size, lambda p: sums[:, p], P)
        sums *= np.where(after > 0, before / np.where(after > 0, after, 1.0), 1.0)[grp]
    return _Cells(cell_keys, sums)


def _new_machine_cells(new: pd.DataFrame, groups: _Groups, locations: pd.Index, fleet, lives, starts, end,
                       usage_factor, profile=None) -> _Cells:
    """Expected failures of machines entering service during the horizon, per cell.

    Each period's cohort enters evenly through the period, approximated by entry at the
    period's midpoint (new components fail rarely in their first months, so the error is
    second order). With a usage ``profile`` their hours follow their tier's profile (the
    frailty of a machine not yet sold is its prior mean, 1).
    """
    missing = {"machine_model", "location_id", "per_period"} - set(new.columns)
    if missing:
        raise ValueError(f"new_machines lacks column(s) {sorted(missing)}; it needs machine_model, "
                         "location_id, per_period and optionally hours_per_day")
    new = new.reset_index(drop=True)
    loc = positions(locations, new["location_id"])
    if (loc < 0).any():
        bad = new.loc[loc < 0, "location_id"].astype(str).unique()[:5].tolist()
        raise ValueError(f"new_machines: location_id {bad} not in the fleet's locations")
    rate = _new_machine_usage(new, fleet, lives) * _usage_multiplier(fleet, new["location_id"], usage_factor)
    # One row per (new-machine line, component its model carries).
    model_pos = positions(groups.models, new["machine_model"])
    by_line = np.where((model_pos >= 0)[:, None], groups.grid[np.maximum(model_pos, 0)], -1)
    line, comp = np.nonzero(by_line >= 0)
    g = by_line[line, comp]
    bom_pairs = fleet.bom[["machine_model", "component"]].drop_duplicates()
    on_bom = np.zeros(groups.size, dtype=bool)
    bg = groups.lookup(bom_pairs["machine_model"], bom_pairs["component"])
    on_bom[bg[bg >= 0]] = True
    line, g = line[on_bom[g]], g[on_bom[g]]
    P = len(starts)
    edges = list(starts) + [end]
    day = pd.Timedelta(days=1)
    mid_days = np.array([((edges[c] - fleet.as_of) + (edges[c + 1] - edges[c]) / 2) / day for c in range(P)])
    end_days = np.array([(e - fleet.as_of) / day for e in edges[1:]])
    # A new machine's failures depend on its component's group and its usage rate only, so
    # the renewal curves are computed once per distinct (group, rate) -- a few thousand
    # nationally, against millions of (line, component, cohort) rows -- for every cohort
    # (one pseudo-machine per cohort period, hours since entry at each period end) and
    # summed over the cohorts, which all enter at the same per_period rate.
    keys = [g, rate[line]]
    if profile is not None:  # (and per tier: its use over the year)
        tier_code = np.nan_to_num(fleet.location_tiers(new["location_id"]), nan=-1.0)
        keys.append(tier_code[line])
    pair_codes, pairs = pd.factorize(pd.MultiIndex.from_arrays(keys))
    pg = pairs.get_level_values(0).to_numpy(np.int64)
    prate = pairs.get_level_values(1).to_numpy(float)
    U = pg.size
    rep = np.repeat(np.arange(U), P)
    cohort = np.tile(np.arange(P), U)
    if profile is None:
        since = np.maximum(end_days[None, :] - mid_days[cohort][:, None], 0.0)
    else:
        ptier = pairs.get_level_values(2).to_numpy(float)[rep]
        ptier[ptier < 0] = np.nan
        at_end = profile.use_days(fleet.as_of, np.broadcast_to(end_days, (U * P, P)), ptier)
        since = np.maximum(at_end - profile.use_days(fleet.as_of, mid_days[cohort], ptier)[:, None], 0.0)
    if groups.tabulated:
        cum = expected_failures(np.zeros(U * P), since * prate[rep][:, None], groups.shape[pg][rep],
                                groups.scale[pg][rep], law=groups.law[pg][rep])
    else:
        cum = groups.renewals(pg[rep], np.zeros(U * P), since * prate[rep][:, None])
    per = np.diff(np.concatenate([np.zeros((U * P, 1)), cum], axis=1), axis=1)
    curve = per.reshape(U, P, P).sum(axis=1)  # (pair, period): one machine per period
    weight = new["per_period"].to_numpy(float)[line]
    cell_keys, cell = _dense_codes(loc[line] * groups.size + g, len(locations) * groups.size)
    return _Cells(cell_keys, _sum_by(cell, cell_keys.size, lambda p: weight * curve[pair_codes, p], P))


def recent_sales(fleet, window_days: float = 365.0, periods_per_year: float = 12.0) -> pd.DataFrame:
    """New machines per period at each dealer, at the pace of the recent sales.

    The ``new_machines`` argument of :func:`forecast_demand` for "sales go on as over the
    last ``window_days``": machines per (model, location) that entered service in that
    window before ``fleet.as_of``, spread evenly over its periods.

    Parameters
    ----------
    fleet : Fleet
    window_days : float
        Length of the sales history to average (days before ``as_of``).
    periods_per_year : float
        12 for monthly forecasts, 4 for quarterly, 52.18 for weekly.

    Returns
    -------
    DataFrame
        machine_model, location_id, per_period.
    """
    m = fleet.machines
    sold = m[m["in_service_date"] >= fleet.as_of - pd.Timedelta(days=window_days)]
    per = sold.groupby(["machine_model", "location_id"], as_index=False, observed=True).size()
    periods = window_days / 365.0 * periods_per_year  # the window, in forecast periods
    return per.assign(per_period=per["size"] / periods)[["machine_model", "location_id", "per_period"]]


def _new_machine_usage(new: pd.DataFrame, fleet, lives) -> np.ndarray:
    """Hours per day of new machines: given, else the median at the model and tier."""
    if "hours_per_day" in new.columns and new["hours_per_day"].notna().all():
        return new["hours_per_day"].to_numpy(float)
    r = lives.rates
    med = r.groupby(["machine_model", "tier"])["hours_per_day"].median()
    tier = fleet.location_tiers(new["location_id"])
    keyed = pd.MultiIndex.from_arrays([new["machine_model"], tier])
    guess = pd.Series(med.reindex(keyed).to_numpy(), index=new.index)
    guess = guess.fillna(new["machine_model"].map(r.groupby("machine_model")["hours_per_day"].median()))
    guess = guess.fillna(r["hours_per_day"].median())
    if "hours_per_day" in new.columns:
        guess = new["hours_per_day"].fillna(guess)
    return guess.to_numpy(float)


def _check_forecast_args(horizon, quantiles, by) -> None:
    if not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"horizon must be a whole number of periods ≥ 1, got {horizon!r}")
    bad = [q for q in quantiles if not 0 < q < 1]
    if bad:
        raise ValueError(f"quantiles must lie strictly between 0 and 1, got {bad}")
    if by not in ("part", "component"):
        raise ValueError(f"by must be 'part' or 'component', got {by!r}")


_FLEET_PARTS = ("machines", "tickets", "bom", "locations", "as_of")
_WEIBULL_COLUMNS = ["machine_model", "component", "shape", "scale"]
_LAW_COLUMNS = ["machine_model", "component", "law", "shape", "scale"]


def _is_fleet(obj) -> bool:
    return all(hasattr(obj, name) for name in _FLEET_PARTS)


def _usable(p: pd.DataFrame) -> np.ndarray:
    """Rows whose shape and scale are finite and > 0."""
    return (np.isfinite(p["shape"]) & np.isfinite(p["scale"]) & (p["shape"] > 0) & (p["scale"] > 0)).to_numpy()


def _lifetime_groups(model, fleet) -> _Groups:
    """Check the arguments of :func:`forecast_demand` and read the model's groups and laws."""
    if _is_fleet(model):
        got = "a Fleet as well" if _is_fleet(fleet) else f"a {type(fleet).__name__}"
        raise TypeError("forecast_demand(model, fleet, ...): the first argument is a Fleet and the second "
                        f"{got}; the model comes first: forecast_demand(model, fleet) with a fitted "
                        "FailureModel (or any partsforecast.reliability.LifetimeModel)")
    if not _is_fleet(fleet):
        raise TypeError(f"forecast_demand(model, fleet, ...): fleet must be a Fleet (read_fleet, load_sample, "
                        f"make_fleet), got {type(fleet).__name__}")
    model = _as_lifetime_model(model)
    p = _law_params(model)
    if p is not None:
        p = p[_usable(p)].reset_index(drop=True)
        table, borrowed = borrow_for_new_models(p.assign(_source=np.arange(len(p))), fleet.bom)
        groups = _Groups(table)
        groups.borrowed = borrowed
        return groups
    keys = model.lifetime_groups()
    missing = [c for c in _WEIBULL_COLUMNS[:2] if c not in keys.columns]
    if missing:
        raise ValueError(f"{type(model).__name__}.lifetime_groups() lacks column(s) {missing}")
    keys = keys[_WEIBULL_COLUMNS[:2]]
    if keys.astype(str).duplicated().any():
        raise ValueError(f"{type(model).__name__}.lifetime_groups() gives a (machine_model, component) "
                         "more than once; it must list every group once")
    table, borrowed = borrow_for_new_models(keys.reset_index(drop=True).assign(_source=np.arange(len(keys))),
                                            fleet.bom)
    groups = _Groups(table, model=model)
    groups.borrowed = borrowed
    return groups


def borrow_for_new_models(table: pd.DataFrame, bom: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Give every (machine_model, component) of the BOM without a law the law of the same
    component on a related model.

    A new model (none in service, or too new for any failure) has no law of its own. The
    rule: its component borrows the law of the same component on the model whose name
    shares the longest leading part with its own (``EX200-7`` borrows from ``EX200-5`` or
    ``EX200LC`` before ``EX60``); among equals, the first in name order. A component that no
    other model has gets no law (and no forecast).

    Parameters
    ----------
    table : DataFrame
        The groups with a law: machine_model, component and any law columns.
    bom : DataFrame
        The bill of materials (machine_model, component, ...).

    Returns
    -------
    table : DataFrame
        ``table`` with one row per borrowed group appended (its donor's law columns).
    borrowed : DataFrame
        machine_model, component, borrowed_from: one row per borrowed group.
    """
    keys = ["machine_model", "component"]
    have = pd.MultiIndex.from_frame(table[keys].astype(str))
    need = bom[keys].astype(str).drop_duplicates()
    need = need[~pd.MultiIndex.from_frame(need).isin(have)].reset_index(drop=True)
    empty = pd.DataFrame({"machine_model": pd.array([], dtype="str"), "component": pd.array([], dtype="str"),
                          "borrowed_from": pd.array([], dtype="str")})
    if not len(need):
        return table, empty
    donors = table[keys].astype(str).assign(_row=np.arange(len(table)))
    pairs = need.reset_index(names="_need").merge(donors.rename(columns={"machine_model": "_donor"}),
                                                  on="component", how="inner")
    if not len(pairs):
        return table, empty
    pairs["_prefix"] = _common_prefix(pairs["machine_model"].to_numpy(str), pairs["_donor"].to_numpy(str))
    best = pairs.sort_values(["_need", "_prefix", "_donor"], ascending=[True, False, True], kind="stable")
    best = best.drop_duplicates("_need")
    rows = table.iloc[best["_row"].to_numpy()].copy()
    rows["machine_model"] = best["machine_model"].to_numpy()
    borrowed = pd.DataFrame({"machine_model": pd.array(best["machine_model"].to_numpy(), dtype="str"),
                             "component": pd.array(best["component"].to_numpy(), dtype="str"),
                             "borrowed_from": pd.array(best["_donor"].to_numpy(), dtype="str")})
    return pd.concat([table, rows], ignore_index=True), borrowed.reset_index(drop=True)


def _common_prefix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Length of the common leading part of ``a[i]`` and ``b[i]`` (vectorised over pairs)."""
    width = max(1, max((len(x) for x in a), default=1), max((len(x) for x in b), default=1))
    ca = np.asarray(a, dtype=f"<U{width}").view(np.uint32).reshape(len(a), width)
    cb = np.asarray(b, dtype=f"<U{width}").view(np.uint32).reshape(len(b), width)
    same = (ca == cb) & (ca != 0)
    return np.cumprod(same, axis=1).sum(axis=1)


def _law_params(model) -> pd.DataFrame | None:
    """machine_model, component, law, shape, scale of a model whose laws the forecast
    tabulates itself (a parametric or Weibull model), else None."""
    if isinstance(model, ParametricLifetimeModel):
        p = _params_table(model, "lifetime_params", _LAW_COLUMNS, "machine_model, component, law, shape and scale")
        bad = ~p["law"].astype(str).isin(LAW_NAMES).to_numpy()
        if bad.any():
            raise ValueError(f"{type(model).__name__}.lifetime_params() gives law {p['law'].iloc[int(np.flatnonzero(bad)[0])]!r}; "
                             f"the forecast knows {', '.join(map(repr, LAW_NAMES))} (another law: implement "
                             "expected_renewals and leave lifetime_params out)")
        return p
    if isinstance(model, WeibullLifetimeModel):
        p = _params_table(model, "weibull_params", _WEIBULL_COLUMNS, "machine_model, component, shape and scale")
        return p.assign(law="weibull")[_LAW_COLUMNS]
    return None


def _params_table(model, method: str, columns: list[str], needed: str) -> pd.DataFrame:
    """``model.<method>()`` restricted to ``columns``; a clear error when one is missing."""
    p = getattr(model, method)()
    missing = [c for c in columns if c not in p.columns]
    if missing:
        raise ValueError(f"{type(model).__name__}.{method}() lacks column(s) {missing}; it must give {needed}")
    return p[columns]


def _as_lifetime_model(model) -> LifetimeModel:
    """``model`` itself when it is a :class:`LifetimeModel`; else a clear error."""
    if isinstance(model, LifetimeModel):
        return model
    if isinstance(getattr(model, "params_", None), pd.DataFrame):
        raise TypeError("forecast_demand: model has a params_ table but is not a lifetime model; "
                        "pass FailureModel.from_params(table) to forecast from known parameters")
    if isinstance(model, pd.DataFrame):
        raise TypeError("forecast_demand: model is a DataFrame; to forecast from known Weibull parameters "
                        "pass FailureModel.from_params(table)")
    raise TypeError(f"forecast_demand: model must be a lifetime model -- FailureModel().fit(fleet), "
                    f"FailureModel.from_params(table) or any partsforecast.reliability.LifetimeModel -- "
                    f"got {type(model).__name__}")


def _usage_settings(usage_profile, frailty, model, fleet):
    """The ``usage_profile`` and ``frailty`` settings of :func:`forecast_demand`, resolved: a
    :class:`~partsforecast.UsageProfile` (None for flat use) and a fitted
    :class:`~partsforecast.MachineFrailty` (None when off)."""
    from partsforecast.usage import MachineFrailty, UsageProfile, fleet_usage_profile

    profile = usage_profile
    if isinstance(profile, str):
        if profile != "auto":
            raise ValueError(f"usage_profile must be 'auto', a UsageProfile, a table (tier, month, factor) "
                             f"or None, got {profile!r}")
        profile = fleet_usage_profile(fleet)
    elif isinstance(profile, pd.DataFrame):
        profile = UsageProfile.from_table(profile)
    elif profile is not None and not isinstance(profile, UsageProfile):
        raise TypeError(f"usage_profile must be 'auto', a UsageProfile, a table (tier, month, factor) or None, "
                        f"got {type(profile).__name__}")
    if profile is not None and profile.is_flat:
        profile = None  # flat use: exactly the forecast without a profile
    from partsforecast.reliability.severity import MachineSeverity

    severity = getattr(model, "severity_", None)
    if frailty is True and severity is not None and np.isfinite(severity.alpha_):
        frailty = severity  # a model fitted with severity: each machine's severity posterior
    elif frailty is True:
        frailty = MachineFrailty().fit(_as_lifetime_model(model), fleet)
    elif frailty is False or frailty is None:
        frailty = None
    elif not isinstance(frailty, (MachineFrailty, MachineSeverity)):
        raise TypeError(f"frailty must be True, False or a fitted MachineFrailty, got {type(frailty).__name__}")
    elif not hasattr(frailty, "alpha_"):
        raise ValueError("frailty: this MachineFrailty is not fitted yet: call .fit(model, fleet) first")
    if frailty is not None and not np.isfinite(frailty.alpha_):
        frailty = None  # no heterogeneity: every machine at its model's rate, exactly
    return profile, frailty


def _usage_multiplier(fleet, location_id: pd.Series, usage_factor) -> np.ndarray:
    if usage_factor is None:
        return np.ones(len(location_id))
    if np.isscalar(usage_factor):
        return np.full(len(location_id), float(usage_factor))
    location_id = pd.Series(location_id)
    if isinstance(location_id.dtype, pd.CategoricalDtype):  # one lookup per location, not per row
        per_loc = _usage_multiplier(fleet, pd.Series(location_id.cat.categories), usage_factor)
        codes = location_id.cat.codes.to_numpy()
        return np.where(codes >= 0, per_loc[codes], 1.0)
    location_id = location_id.astype(str)
    if isinstance(usage_factor, pd.Series):
        return location_id.map(usage_factor).fillna(1.0).to_numpy(float)
    tier = pd.Series(fleet.location_tiers(location_id))
    return tier.map(dict(usage_factor)).fillna(1.0).to_numpy(float)


def _categorical(codes: np.ndarray, categories: pd.Index) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, categories=categories.astype("str"))


class _Entries:
    """The positive entries of a (rows × periods) array of means, in row-major order.

    ``per_row(values)`` spreads per-row values onto the entries; ``take(array)`` gathers
    an array of the same shape. When every entry is positive (the usual case) both are
    plain reshapes and repeats: no index arrays of the output's length are built.
    """

    def __init__(self, means: np.ndarray):
        self.shape = means.shape
        positive = means > 0
        self.all = bool(positive.all())
        self.r, self.p = (None, None) if self.all else np.nonzero(positive)

    def per_row(self, values: np.ndarray) -> np.ndarray:
        return np.repeat(values, self.shape[1]) if self.all else values[self.r]

    def take(self, array: np.ndarray) -> np.ndarray:
        return array.reshape(-1) if self.all else array[self.r, self.p]

    def periods(self, starts: pd.DatetimeIndex) -> np.ndarray:
        index = np.tile(np.arange(self.shape[1]), self.shape[0]) if self.all else self.p
        return starts.to_numpy()[index]


def _frame(columns: dict) -> pd.DataFrame:
    """A frame of these columns without copying them (the output has millions of rows)."""
    return pd.DataFrame(columns, copy=False)


def _component_frame(cells: _Cells, groups: _Groups, locations: pd.Index, quantiles,
                     starts: pd.DatetimeIndex) -> pd.DataFrame:
    """Failures per (location, model, component, period): Poisson counts."""
    e = _Entries(cells.means)
    loc, g = np.divmod(cells.keys, groups.size)
    lam = e.take(cells.means)
    out = {
        "location_id": _categorical(e.per_row(loc), locations),
        "machine_model": _categorical(e.per_row(groups.model_of[g]), groups.models),
        "component": _categorical(e.per_row(groups.component_of[g]), groups.components),
        "period": e.periods(starts), "mean": lam, "var": lam.copy(),
    }
    out.update(_quantile_columns(lam, lam, quantiles))
    return _frame(out)


def _service_demand(maintenance, fleet, lives, starts, end, new_machines) -> pd.DataFrame | None:
    """Scheduled-service units per (location, part, period), or None."""
    from partsforecast.maintenance import ServiceModel

    if maintenance is None:
        return None
    if isinstance(maintenance, str):
        if maintenance != "auto":
            raise ValueError(f"maintenance must be 'auto', a ServiceModel or None, got {maintenance!r}")
        if not len(fleet.maintenance):
            return None
        maintenance = ServiceModel().fit(fleet)
    elif not isinstance(maintenance, ServiceModel):
        raise TypeError(f"maintenance must be 'auto', a ServiceModel or None, got {type(maintenance).__name__}")
    usage = None
    if new_machines is not None and len(new_machines):
        usage = _new_machine_usage(new_machines.reset_index(drop=True), fleet, lives)
    return maintenance.forecast(fleet, starts, end, new_machines, usage)


def _add_service(pair_keys, mean, var, parts: pd.Index, n_locations: int, service: pd.DataFrame,
                 locations: pd.Index):
    """The failure sums per (location, part) with the service units added (a union of rows)."""
    both = parts.union(pd.Index(service["part_number"].astype(str).unique())).sort_values()
    loc, part = np.divmod(pair_keys, len(parts))
    keys_a = loc * len(both) + both.get_indexer(parts[part])
    keys_b = (positions(locations, service["location_id"]) * len(both)
              + both.get_indexer(service["part_number"].astype(str)))
    P = mean.shape[1]
    keys, inv = np.unique(np.concatenate([keys_a, keys_b]), return_inverse=True)
    per = service["period_idx"].to_numpy(np.int64)
    inv_a, inv_b = inv[:keys_a.size], inv[keys_a.size:]
    out_mean = _sum_by(inv_a, keys.size, lambda p: mean[:, p], P)
    out_var = _sum_by(inv_a, keys.size, lambda p: var[:, p], P)
    np.add.at(out_mean, (inv_b, per), service["mean"].to_numpy(float))
    np.add.at(out_var, (inv_b, per), service["var"].to_numpy(float))
    return keys, out_mean, out_var, both


def _part_frame(cells: _Cells, groups: _Groups, locations: pd.Index, bom: pd.DataFrame, quantiles,
                service: pd.DataFrame | None, starts: pd.DatetimeIndex) -> pd.DataFrame:
    """Parts per (location, part, period): compound Poisson over the groups using a part.

    Means and variances add over the groups (a failure taking q units adds q·λ to the mean
    and q²·λ to the variance); the quantiles are those of :func:`~partsforecast.counts.count_law`
    for that mean and variance, which is the exact law q · Poisson(mean / q) of a part taken
    in one quantity q by every component that uses it. ``service`` rows (scheduled-service
    units with their variance) add to the same cells.
    """
    bg = groups.lookup(bom["machine_model"], bom["component"])
    ok = bg >= 0
    parts = pd.Index(bom["part_number"].astype(str)[ok].unique()).sort_values()
    b_part = parts.get_indexer(bom["part_number"].astype(str)[ok])
    b_qty = bom["qty_per_replacement"].to_numpy(np.int64)[ok]
    bg = bg[ok]
    order = np.argsort(bg, kind="stable")
    b_part, b_qty, bg = b_part[order], b_qty[order], bg[order]
    per_group = np.bincount(bg, minlength=groups.size)
    first = np.concatenate([[0], np.cumsum(per_group)[:-1]])
    # Expand every cell into the BOM lines of its group.
    cell_loc, cell_g = np.divmod(cells.keys, groups.size)
    n_lines = per_group[cell_g]
    cell = np.repeat(np.arange(cells.keys.size), n_lines)
    line = first[cell_g][cell] + np.arange(cell.size) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines)
    pair_keys, pair = _dense_codes(cell_loc[cell] * len(parts) + b_part[line], len(locations) * len(parts))
    qty = b_qty[line].astype(float)
    n_pairs, P = pair_keys.size, cells.means.shape[1]
    mean = _sum_by(pair, n_pairs, lambda p: cells.means[cell, p] * qty, P)
    var = _sum_by(pair, n_pairs, lambda p: cells.means[cell, p] * qty * qty, P)
    del cell_loc, cell_g, n_lines
    if service is not None and len(service):
        pair_keys, mean, var, parts = _add_service(pair_keys, mean, var, parts, len(locations), service, locations)
    e = _Entries(mean)
    # The output has millions of rows: per-row arrays are built once, in their final dtype.
    loc, part = np.divmod(pair_keys, len(parts))
    out = {"location_id": _categorical(e.per_row(loc), locations),
           "part_number": _categorical(e.per_row(part), parts),
           "period": e.periods(starts)}
    del loc, part
    out["mean"], out["var"] = e.take(mean), e.take(var)
    del mean, var
    out.update(_quantile_columns(out["mean"], out["var"], quantiles))
    return _frame(out)


# Rows whose quantiles are computed at once: bounds the work arrays of the count law.
_QUANTILE_ROWS = 1 << 20


def _quantile_columns(mean: np.ndarray, var: np.ndarray, levels: Sequence[float]) -> dict[str, np.ndarray]:
    """The quantile columns ``q0.5`` ... of cells with these means and variances, by the
    package's count law (:func:`~partsforecast.counts.count_law`), in blocks of rows."""
    columns = {f"q{level:g}": np.empty(mean.size, dtype=np.int64) for level in levels}
    if not columns:
        return columns

    def block(lo: int) -> None:  # each block writes its own rows
        sl = slice(lo, lo + _QUANTILE_ROWS)
        q = count_law(mean[sl], var[sl]).quantiles(levels)
        for i, name in enumerate(columns):
            columns[name][sl] = q[:, i]

    for _ in _map_blocks(block, range(0, mean.size, _QUANTILE_ROWS)):
        pass
    return columns


def _period_offsets(forecast: pd.DataFrame) -> tuple[pd.Index, np.ndarray, np.ndarray]:
    """The distinct periods of a forecast and the start and end of each from the first.

    Offsets are in days for dated periods and in periods for numbered ones; the last period
    lasts as long as the first (30 days, or one period, if there is only one).
    """
    values = forecast["period"].unique()
    if pd.api.types.is_numeric_dtype(forecast["period"]) and not pd.api.types.is_bool_dtype(forecast["period"]):
        periods = pd.Index(np.sort(np.asarray(values, dtype=float)))
        if len(periods) == 0:
            return periods, np.zeros(0), np.zeros(0)
        start = periods.to_numpy() - periods[0]
        step = start[1] - start[0] if len(periods) > 1 else 1.0
    else:
        periods = pd.DatetimeIndex(sorted(values))
        if len(periods) == 0:
            return periods, np.zeros(0), np.zeros(0)
        start = np.asarray((periods - periods[0]) / pd.Timedelta(days=1), dtype=float)
        step = start[1] - start[0] if len(periods) > 1 else 30.0
    end = np.append(start[1:], start[-1] + step)
    return periods, start, end


def forecast_span_days(forecast: pd.DataFrame) -> float:
    """Days a forecast covers from its first period start: the longest usable lead time.

    Parameters
    ----------
    forecast : DataFrame
        A forecast with a ``period`` column (period starts; numbered periods count as one
        unit each).

    Returns
    -------
    float
        Days from the first period's start to the last one's end (0 for an empty forecast).
    """
    _, _, end = _period_offsets(forecast)
    return float(end[-1]) if end.size else 0.0


def lead_time_demand(forecast: pd.DataFrame, lead_time_days: float | pd.Series | pd.DataFrame,
                     keys: Sequence[str] = ("location_id", "part_number"),
                     quantiles: Sequence[float] | None = None) -> pd.DataFrame:
    """Distribution of demand over a lead time starting at the forecast origin.

    The one lead-time demand of the package: the installed-base forecast's and (through
    :func:`partsforecast.intermittent.lead_time_demand`) the intermittent methods'.
    The forecast's periods are summed in order, the last one pro rata for a lead time that
    ends inside it (demand spread evenly within a period). Periods are independent, so
    means and variances add; the distribution is the package's count law for that mean and
    variance (:func:`partsforecast.counts.count_law`). For an installed-base forecast it is
    exact for a part taken in one quantity q per failure (the usual case, var = q · mean):
    D = q · Poisson(mean / q); a part taken in several quantities (var / mean not a whole
    number) gets the negative binomial with that mean and variance.

    Parameters
    ----------
    forecast : DataFrame
        Columns keys, period, mean, var: the output of :func:`forecast_demand`, or any
        forecast with one row per key and period. ``period`` holds period starts (dates),
        or period numbers (then every period is one unit long and lead times are in
        periods).
    lead_time_days : float, Series or DataFrame
        One lead time for all; a Series indexed by the first key (e.g. location_id); or a
        DataFrame with the key columns and ``lead_time_days``. In days (in periods for
        numbered periods), ≥ 0 and at most the forecast's span.
    keys : sequence of str
        The columns that identify a series.
    quantiles : sequence of float in (0, 1), optional
        Levels of the lead-time demand quantiles to add (columns ``q0.9`` ...).

    Returns
    -------
    DataFrame
        keys, lead_time_days, mean, var (and the quantile columns), one row per key.

    Raises
    ------
    ValueError
        A missing or negative lead time, or one longer than the forecast.

    Examples
    --------
    >>> ltd = lead_time_demand(fc, 21.0, quantiles=(0.9, 0.99))  # doctest: +SKIP
    """
    keys = list(keys)
    if quantiles is not None:
        _check_forecast_args(1, quantiles, "part")
    f = forecast[keys + ["period", "mean", "var"]]
    periods, start_d, end_d = _period_offsets(f)
    if len(periods) == 0:
        return pd.DataFrame(columns=keys + ["lead_time_days", "mean", "var"]
                            + [f"q{q:g}" for q in quantiles or ()])
    pidx = periods.get_indexer(f["period"])
    row_key, out = key_groups(f, keys)
    if isinstance(lead_time_days, pd.DataFrame):
        L_key = out.merge(lead_time_days[keys + ["lead_time_days"]], on=keys, how="left")["lead_time_days"]
        L_key = L_key.to_numpy(float)
    elif isinstance(lead_time_days, pd.Series):
        L_key = out[keys[0]].map(lead_time_days).to_numpy(float)
    else:
        L_key = np.full(len(out), float(lead_time_days))
    if np.isnan(L_key).any() or (L_key < 0).any():
        raise ValueError("lead_time_days must be given (≥ 0) for every row of the forecast")
    if (L_key > end_d[-1] + 1e-9).any():
        unit = "days" if isinstance(periods, pd.DatetimeIndex) else "periods"
        raise ValueError(f"a lead time of {L_key.max():.0f} {unit} is longer than the forecast horizon "
                         f"({end_d[-1]:.0f} {unit}): forecast more periods")
    keep = slice(None)
    if row_key.size and row_key.min() < 0:  # rows without a key belong to no series
        keep = row_key >= 0
        row_key, pidx = row_key[keep], pidx[keep]
    # the share of each period within each series' lead time (demand even within a period)
    share = (L_key[row_key] - start_d[pidx]) / (end_d - start_d)[pidx]
    np.clip(share, 0.0, 1.0, out=share)
    out["lead_time_days"] = L_key
    for col in ("mean", "var"):
        out[col] = np.bincount(row_key, weights=f[col].to_numpy(float)[keep] * share, minlength=len(out))
    if quantiles is not None:
        for name, column in _quantile_columns(out["mean"].to_numpy(float), out["var"].to_numpy(float),
                                              quantiles).items():
            out[name] = column
    return out


# -- the tasks of a partitioned forecast (partsforecast.engine): one part of the fleet each ----

def engine_reach(ctx, ages):
    """A part of the fleet's reach of each group's renewal table (:mod:`partsforecast.engine`)."""
    return _installed_base_cells(ages, ctx.groups, ctx.locations, ctx.bound_days, ctx.fleet, ctx.retirements,
                                 ctx.usage_factor, ctx.profile, ctx.frailty, reach_only=True)


def engine_cells(ctx, ages, group_x):
    """A partition's cells (before the frailty's group totals are restored) and, with a
    frailty that keeps totals, its group totals per period before and after."""
    cells, base = _installed_base_cells(ages, ctx.groups, ctx.locations, ctx.bound_days, ctx.fleet,
                                        ctx.retirements, ctx.usage_factor, ctx.profile, ctx.frailty,
                                        group_x=group_x, keep_base=True)
    totals = None
    if base is not None:
        G, P = ctx.groups.size, cells.means.shape[1]
        grp = cells.keys % G
        totals = (_sum_by(grp, G, lambda p: base[:, p], P), _sum_by(grp, G, lambda p: cells.means[:, p], P))
    return cells, totals


def engine_frame(ctx, state, factor, new, service):
    """A partition's rows of the final frame and the groups its cells use."""
    cells, _ = state
    if factor is not None:  # a new object: the task's input stays as it was
        cells = _Cells(cells.keys, cells.means * factor[cells.keys % ctx.groups.size])
    if new is not None and len(new):
        extra = _new_machine_cells(new, ctx.groups, ctx.locations, ctx.fleet, ctx.lives, ctx.starts, ctx.end,
                                   ctx.usage_factor, ctx.profile)
        cells = _merge_cells(cells, extra)
    if ctx.by == "component":
        out = _component_frame(cells, ctx.groups, ctx.locations, ctx.quantiles, ctx.starts)
    else:
        out = _part_frame(cells, ctx.groups, ctx.locations, ctx.fleet.bom, ctx.quantiles, service, ctx.starts)
    used = np.zeros(ctx.groups.size, dtype=bool)
    used[np.asarray(cells.keys, np.int64) % max(ctx.groups.size, 1)] = True
    return out, used
