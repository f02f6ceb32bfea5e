"""Stock transfers between the factory warehouse and the dealers (an LP/MILP built with pulp).

Given what sits where today (on hand and on order) and the target (base-stock) level of every
(location, part), :func:`plan_transfers` finds the moves -- factory -> dealer and
dealer -> dealer, only along lanes that exist -- that pay for themselves, and
:func:`dealer_transfer_files` cuts the plan into one table per dealer, written for that
dealer, for ``transfers/<location_id>.csv``.

The model
---------
Per part, stock flows from *sources* to *receivers* along lanes:

* **receivers** are dealers whose inventory position ``on_hand + on_order`` is below target;
  they take at most their gap ``target - position``;
* **sources** are the factory warehouse and the dealers whose position is above target, and
  only stock *on hand* can be shipped (on-order stock counts toward a position but is not
  on a shelf yet);
* nothing flows into the warehouse and receivers do not pass stock on, so there are no
  chains.

Every location has a *position cost* ``G(p)``: what sitting at position ``p`` costs.  A unit
delivered to a receiver at position ``p`` is worth ``G(p) - G(p + 1)``; a unit shipped out of
a source at position ``p`` costs it ``G(p - 1) - G(p)``.  The objective is freight
(``cost_per_unit`` per unit; with ``use_fixed_costs`` also ``cost_per_shipment`` per lane
used, one shipment carrying all parts on that lane) plus the position costs after the moves,
so a unit moves only when what it is worth at the receiver exceeds what it costs at the
source plus its freight.  ``G`` is convex, so the marginal values are monotone and each
location's cost is a sum of unit-wide segments priced in order (at most ``_MAX_SEGMENTS``
segments per location; beyond that, wider segments priced at their units' average).
Without fixed costs the constraint matrix is the incidence matrix of a bipartite graph
(source rows x receiver rows) plus unit columns for the segments, hence totally unimodular:
with integer data every vertex of the LP is integral and the simplex answer is a whole-unit
plan (checked on every solve).  With fixed costs the model is a MILP with one binary per lane
and integer quantities.

Pricing by backorders (levels carry demand)
-------------------------------------------
When ``levels`` carry ``demand_per_day`` and ``effective_lead_time_days`` (optionally
``demand_vmr``), ``G`` is money::

    G(p) = b * H * EBO(p) / v

with ``EBO`` the expected backorders of base-stock level ``p`` for the location's lead-time
demand (mean ``demand_per_day * effective_lead_time_days``, variance ``vmr * mean``;
:func:`partsforecast.stocking.formulas.expected_backorders`), ``H`` the planning window
(``window_days``), ``v`` the variance-to-mean ratio of its demand (``demand_vmr``: a part
taken ``q`` units per repair has ``v = q``, so ``EBO / v`` counts repairs waiting, not
units) and ``b`` the cost of one repair waiting one day at that location
(``backorder_cost_per_day[tier]`` for dealers, ``warehouse_backorder_cost_per_day`` for the
warehouse, whose backorders are dealers' replenishment orders waiting).  A unit delivered to a
dealer at position ``p`` is then worth ``b H (EBO(p) - EBO(p + 1)) / v`` -- the backorder-days it
avoids over the window, in money -- and a move is proposed only when that, net of what the
source loses, exceeds its freight.  This pricing equalises by itself (a unit goes where
``b P(D > p)`` is highest), so ``fairness`` does not apply.

Pricing by weights (bare targets)
---------------------------------
Without demand columns (an API caller with bare targets), ``G`` is a shortage penalty in
weight units: ``G(p) = 0`` at or above target and, with ``w`` the location's shortage weight,
``T`` its target and ``phi`` the ``fairness`` setting, the ``k``-th unit below target costs::

    w * (1 + phi * k / T)        k = 1, 2, ... units below target

so the value of one more unit to a dealer ``s`` units short is its *urgency*
``w * (1 + phi * s / T)``: equally weighted dealers are brought to equal fill fractions
``position / target`` (to one unit), and a dealer whose ``w`` is at least ``1 + phi`` times
another's is served completely first.  ``w`` is the ``shortage_cost`` column of ``levels``
when given, else ``tier_weight[tier] * (shortage_base_cost + shortage_cost_rate * unit_cost)``
with tier weights ``{1: 2.0, 2: 1.5, 3: 1.25, 4: 1.0}`` by default and ``warehouse_weight``
for the factory.  A source ships its surplus (position above target) free and charges only
the units it ships from below its own target.

Solver status
-------------
The model is solved through :mod:`partsforecast.solvers` (HiGHS loading the model from its
arrays in one call), whose status vocabulary :class:`TransferReport` carries: ``"optimal"``
only when the solver proved optimality (within ``mip_gap``), ``"feasible"`` with the
solver's gap when a limit stopped it with a plan in hand, ``"not solved"`` when it stopped
without one -- never ``"infeasible"``: doing nothing is always feasible, so a solver's
infeasibility claim (CBC's, after a time limit cut its pre-processing short) reads "not
solved", with the solver's own words in ``solver_status``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, NoReturn

import numpy as np
import pandas as pd
import pulp

from partsforecast._display import html_card, text_card
from partsforecast import solvers
from partsforecast.engine import check_engine, map_partitioned
from partsforecast.stocking.formulas import expected_backorders

__all__ = [
    "TransferReport",
    "TransferPlan",
    "plan_transfers",
    "dealer_transfer_files",
    "TRANSFER_COLUMNS",
    "DEALER_FILE_COLUMNS",
    "DEFAULT_TIER_WEIGHTS",
    "DEFAULT_BACKORDER_COST_PER_DAY",
    "DEFAULT_WAREHOUSE_BACKORDER_COST_PER_DAY",
]

#: Columns of :attr:`TransferPlan.transfers`, in order.
TRANSFER_COLUMNS = ("transfer_id", "part_number", "description", "from_id", "from_name", "to_id",
                    "to_name", "quantity", "ship_by", "arrive_by", "lead_time_days", "cost",
                    "currency", "paid_by", "backorder_days_avoided", "value_avoided",
                    "sender_reason", "receiver_reason")
#: Columns of each table of :func:`dealer_transfer_files` (``transfers/<location_id>.csv``).
DEALER_FILE_COLUMNS = ("transfer_id", "direction", "part_number", "description", "from_id",
                       "from_name", "to_id", "to_name", "quantity", "ship_by", "arrive_by",
                       "lead_time_days", "cost", "currency", "paid_by", "reason")
#: Shortage weight per dealer tier (1 = provincial capital ... 4 = county/township), for the
#: pricing by weights.
DEFAULT_TIER_WEIGHTS: Mapping[int, float] = {1: 2.0, 2: 1.5, 3: 1.25, 4: 1.0}
#: Money per repair (demand) waiting one day, per dealer tier, for the pricing by backorders:
#: in proportion to :data:`DEFAULT_TIER_WEIGHTS`, 100 for a township dealer.
DEFAULT_BACKORDER_COST_PER_DAY: Mapping[int, float] = {1: 200.0, 2: 150.0, 3: 125.0, 4: 100.0}
#: Money per demand waiting one day at the warehouse (a dealer's replenishment order
#: waiting): at most a dealer backorder-day, and taken equal to the lowest tier's.
DEFAULT_WAREHOUSE_BACKORDER_COST_PER_DAY = 100.0

# The two ways of pricing stock (see the module docstring), and "auto": backorders when the
# levels carry demand, else weights.
BACKORDERS, WEIGHTS = "backorders", "weights"
_PRICINGS = ("auto", BACKORDERS, WEIGHTS)
# Who pays the freight: the paying location's id goes in paid_by.
_PAYERS = ("factory", "receiver", "sender")
# A location's cost is priced in unit-wide segments (exact to one unit); more units than
# this are cut into this many integer-wide segments, each priced at its units' average, so
# a huge gap cannot blow up the model.
_MAX_SEGMENTS = 50
# A unit whose loss costs less than this (money over the window, or weight units) ships free.
_NEGLIGIBLE = 1e-9
# A solved LP value this far from an integer means the total-unimodularity argument failed.
_INT_TOL = 1e-6
# HiGHS solves from the model's arrays (True) or, as any other solver, through pulp's problem.
_BULK_HIGHS = True
#: The largest fixed-cost transfer MILP (integer variables) handed to the solver; see
#: ``plan_transfers(max_milp_integers=...)``.  Measured: 200 dealers x 200 parts make 158k
#: integers and HiGHS stops at its time limit with a plan; 300 x 5,000 make 1.0M and its MIP
#: presolve ran over 10 minutes without checking the 60 s limit, while the LP of the same
#: plan solved in 44 s.
MAX_MILP_INTEGERS = 250_000


# ---------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------


@dataclass(repr=False)
class TransferReport:
    """What the solver did and what the plan achieves.

    Attributes
    ----------
    status : str
        ``"optimal"`` (proved optimal within ``mip_gap``), ``"feasible"`` (a limit stopped the
        solver with a plan in hand; see ``gap``) or ``"not solved"``.
    objective : float
        The objective of the model asked for, at the returned plan: freight per unit (+ the
        shipment costs of the lanes used, with fixed costs) + the position costs of all
        locations after the moves.  NaN when not solved.
    gap : float
        Relative MIP gap reported by the solver (0 for an optimal LP, NaN when unknown).
    solver : str
        ``"HiGHS"``, ``"HiGHS_CMD"`` or ``"CBC"``.
    solver_status : str
        The solver's own status text (e.g. ``"Time limit reached"``).
    build_seconds, solve_seconds : float
        Wall-clock seconds to prepare and build the pulp model / to solve it and read the
        answer back.
    n_variables, n_constraints, n_integer : int
        Model size (``n_integer`` counts integer and binary variables).
    shortage_units_before, unmet_shortage_units : int
        Units dealers are below target before / after the moves (after: the receivers'
        remaining gaps plus the units dealer sources ship from below their own target).
    units_moved : int
        Units in all transfers.
    below_target_units_at_sources : int
        Units sources (the warehouse included) ship from below their own target.
    transport_cost : float
        The freight: sum of the ``cost`` column of the transfers.
    shortage_cost_before, shortage_cost_after : float
        Position costs of all locations before and after the moves: the expected backorder
        cost over the window (money, pricing by backorders) or the shortage penalty (weight
        units, pricing by weights).
    backorder_days_avoided, value_avoided : float
        Sums of the transfers' columns of those names: backorder-days over the window that
        the moves avoid, net of those they cause at the sources, and their value in money.
        NaN with the pricing by weights.
    pricing : str
        ``"backorders"`` or ``"weights"``.
    window_days : float
        The planning window ``H`` of the pricing by backorders.
    currency : str
        The currency of every amount.
    time_limit, mip_gap : float
        The limits the solver was given.
    message : str
        Notes (solver fallback, why the model was not solved, why weights priced the plan, ...).
    """

    status: str
    objective: float
    gap: float
    solver: str
    solver_status: str
    build_seconds: float
    solve_seconds: float
    n_variables: int
    n_constraints: int
    n_integer: int
    shortage_units_before: int
    unmet_shortage_units: int
    units_moved: int
    below_target_units_at_sources: int
    transport_cost: float
    shortage_cost_before: float
    shortage_cost_after: float
    time_limit: float
    mip_gap: float
    message: str = ""
    backorder_days_avoided: float = math.nan
    value_avoided: float = math.nan
    pricing: str = WEIGHTS
    window_days: float = 90.0
    currency: str = "CNY"

    def __str__(self) -> str:
        gap = "n/a" if math.isnan(self.gap) else f"{self.gap:.2%}"
        value = ("" if math.isnan(self.value_avoided) else
                 f", avoiding {self.backorder_days_avoided:,.1f} backorder-days worth "
                 f"{self.value_avoided:,.2f} {self.currency} over {self.window_days:g} days")
        return (
            f"transfers: {self.status} ({self.solver}: {self.solver_status}, gap {gap}); "
            f"{self.units_moved} units moved for {self.transport_cost:,.2f} {self.currency} "
            f"of freight{value}; dealers short {self.shortage_units_before} -> "
            f"{self.unmet_shortage_units} units; priced by {self.pricing}; objective "
            f"{self.objective:,.2f}; model {self.n_variables} vars ({self.n_integer} integer) x "
            f"{self.n_constraints} rows, build {self.build_seconds:.2f}s, "
            f"solve {self.solve_seconds:.2f}s"
            + (f"; {self.message}" if self.message else "")
        )

    def _facts(self) -> dict:
        return {"status": self.status, "gap": self.gap, "pricing": self.pricing,
                "units_moved": self.units_moved,
                f"freight ({self.currency})": self.transport_cost,
                "backorder_days_avoided": self.backorder_days_avoided,
                f"value_avoided ({self.currency})": self.value_avoided,
                "dealer_units_short_before": self.shortage_units_before,
                "dealer_units_short_after": self.unmet_shortage_units,
                "solver": f"{self.solver}: {self.solver_status}"}

    def __repr__(self) -> str:
        return text_card("TransferReport", self._facts())

    def _repr_html_(self) -> str:
        facts = self._facts()
        if self.message:
            facts["note"] = self.message
        return html_card("Transfer plan", facts)


@dataclass
class TransferPlan:
    """The moves and the report of :func:`plan_transfers`.

    Attributes
    ----------
    transfers : pandas.DataFrame
        One row per (lane, part) move, columns :data:`TRANSFER_COLUMNS`, most urgent first.
    report : TransferReport
    warehouse_id : str
    problem : pulp.LpProblem
        The model as solved, with the solver's values on its variables (e.g.
        ``plan.problem.writeLP("transfers.lp")`` to inspect it). HiGHS solves the model
        from its arrays; the pulp problem is built from them on first access.
    """

    transfers: pd.DataFrame
    report: TransferReport
    warehouse_id: str = ""
    _model: tuple | None = field(default=None, repr=False, compare=False)  # (arrays, values) or a problem

    @property
    def problem(self) -> pulp.LpProblem | None:
        if isinstance(self._model, tuple):
            m, values = self._model
            prob, variables = _pulp_problem(m)
            for v, x in zip(variables, values.tolist()):
                v.varValue = x
            self._model = prob
        return self._model

    def by_location(self) -> dict[str, pd.DataFrame]:
        """Each dealer's own table (see :func:`dealer_transfer_files`)."""
        return dealer_transfer_files(self.transfers, self.warehouse_id)


# ---------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------


def _fail(msg: str) -> NoReturn:
    raise ValueError(msg)


def _require_columns(frame: Any, table: str, required: tuple[str, ...], hint: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        _fail(f"{table} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        _fail(f"{table} is missing column(s) {missing} (it has {list(frame.columns)}); {hint}")


def _ids(frame: pd.DataFrame, table: str, col: str) -> np.ndarray:
    return _IdsOf(*_id_codes(frame, table, col))[:]


def _id_codes(frame: pd.DataFrame, table: str, col: str) -> tuple[np.ndarray, np.ndarray]:
    """An id column as the sorted distinct ids (text) and each row's code, its rank among
    them (ordering codes orders the ids); every row must have one."""
    s = frame[col]
    bad = s.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        _fail(f"{table}.{col} is missing in {int(bad.sum())} row(s), e.g. row "
              f"{frame.index[i]!r}: give every row an identifier")
    codes, uniques = pd.factorize(s.astype(str), sort=True)
    return np.asarray(uniques, dtype=object), codes.astype(np.int64)


class _IdsOf:
    """Ids by row without a text object per row: ``ids[codes[rows]]`` on indexing."""

    def __init__(self, ids: np.ndarray, codes: np.ndarray) -> None:
        self.ids, self.codes = ids, codes

    def __getitem__(self, rows: Any) -> Any:
        return self.ids[self.codes[rows]]

    def __len__(self) -> int:
        return self.codes.size

    @property
    def size(self) -> int:
        return self.codes.size

    def equals(self, value: str) -> np.ndarray:
        """Which rows hold ``value``."""
        return (self.ids == value)[self.codes]


def _numbers(frame: pd.DataFrame, table: str, col: str, *, whole: bool, what: str,
             keys: Any = None, missing_ok: bool = False) -> np.ndarray:
    """A non-negative finite (whole) numeric column, or ValueError naming the first bad row
    (and its key, ``keys(i)``); with ``missing_ok`` empty cells are NaN."""
    raw = frame[col]
    vals = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)

    def where(mask: np.ndarray) -> str:
        i = int(np.flatnonzero(mask)[0])
        key = f" ({keys(i)})" if keys is not None else ""
        return f"{int(mask.sum())} row(s), e.g. row {frame.index[i]!r}{key} = {raw.iloc[i]!r}"

    bad = ~np.isfinite(vals) & ~(missing_ok & raw.isna().to_numpy())
    if bad.any():
        _fail(f"{table}.{col} is missing or not a number in {where(bad)}: {what}")
    bad = np.nan_to_num(vals) < 0
    if bad.any():
        _fail(f"{table}.{col} is negative in {where(bad)}: {what} cannot be negative; "
              f"fix the source table")
    if whole:
        bad = np.nan_to_num(vals) != np.round(np.nan_to_num(vals))
        if bad.any():
            _fail(f"{table}.{col} is not a whole number in {where(bad)}: {what} counts units")
    return vals


def _check_scalar(name: str, value: Any, low: float, *, strict: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if isinstance(value, bool) or not math.isfinite(v) or v < low or (strict and v == low):
        rel = ">" if strict else ">="
        _fail(f"{name} must be a finite number {rel} {low}, got {value!r}")
    return v


def _keyed(series: Any, name: str, index_name: str) -> pd.Series:
    """``series`` with text keys, checked: a pandas Series with one value per key."""
    if not isinstance(series, pd.Series):
        _fail(f"{name} must be a pandas Series indexed by {index_name}, "
              f"got {type(series).__name__}")
    s = series.copy()
    s.index = s.index.astype(str)
    if s.index.has_duplicates:
        dup = s.index[s.index.duplicated()][0]
        _fail(f"{name} has duplicate {index_name} {dup!r}: give one value per {index_name}")
    return s


def _series_lookup(series: Any, keys: np.ndarray, name: str, index_name: str,
                   hint: str) -> np.ndarray:
    s = _keyed(series, name, index_name)
    codes, uniq = pd.factorize(keys)
    missing = pd.Index(uniq).difference(s.index)
    if len(missing):
        _fail(f"{name} has no value for {index_name} {list(missing[:5])}"
              f"{' ...' if len(missing) > 5 else ''} ({len(missing)} missing); {hint}")
    return s.reindex(uniq).to_numpy()[codes]


def _text_lookup(series: Any, keys: np.ndarray, name: str, index_name: str) -> np.ndarray:
    """Text per key from an optional Series (names, descriptions): ``""`` where it has none.

    The text is only ever copied and concatenated, never interpreted.
    """
    if series is None:
        return np.full(keys.size, "", dtype=object)
    s = _keyed(series, name, index_name)
    s = s.reindex(keys)
    return np.where(s.isna().to_numpy(), "", s.astype(str).to_numpy(dtype=object)).astype(object)


# ---------------------------------------------------------------------------------------
# Model building blocks (all vectorised)
# ---------------------------------------------------------------------------------------


@dataclass
class _Pricing:
    """What a position costs each levels row: ``G(p)`` of the module docstring.

    With ``mode == "backorders"``, ``rate`` is the money per backorder-day ``b`` and
    ``G(p) = b * window * EBO(p)``; with ``"weights"`` it is the shortage weight ``w`` and
    ``G(p)`` the shortage penalty ``w * sum_{k=1}^{T-p} (1 + phi k / T)``.
    """

    mode: str
    rate: np.ndarray
    target: np.ndarray
    phi: float = 0.0
    window: float = 0.0
    mean: np.ndarray | None = None  # lead-time demand mean (backorders)
    var: np.ndarray | None = None  # and variance

    def backorder_days(self, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Expected backorder-days over the window of ``rows`` at positions ``q`` (>= 0),
        counted in demands (repairs) waiting, not units: a part taken ``v`` units at a time
        (``v`` = its variance-to-mean ratio) has ``EBO / v`` demands waiting."""
        if self.mode != BACKORDERS:
            return np.full(np.shape(rows), np.nan)
        mean, var = self.mean[rows], self.var[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            per_demand = np.where(mean > 0, np.maximum(var / mean, 1.0), 1.0)
        return self.window * np.asarray(expected_backorders(
            np.asarray(q, dtype=np.int64), mean, var), dtype=float) / per_demand

    def cost(self, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
        """``G``: what ``rows`` sitting at positions ``q`` cost."""
        if self.mode == BACKORDERS:
            return self.rate[rows] * self.backorder_days(rows, q)
        t = self.target[rows].astype(float)
        k = np.maximum(t - q, 0.0)  # units below target
        with np.errstate(divide="ignore", invalid="ignore"):
            tri = np.where(t > 0, k * (k + 1) / (2.0 * t), 0.0)
        return self.rate[rows] * (k + self.phi * tri)

    def unit_value(self, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
        """What one more unit is worth to ``rows`` at positions ``q``: ``G(q) - G(q + 1)``."""
        return np.maximum(self.cost(rows, q) - self.cost(rows, q + 1), 0.0)


def _unit_costs(pricing: _Pricing, rows: np.ndarray, start: np.ndarray,
                n: np.ndarray) -> np.ndarray:
    """What each of the ``n`` units above position ``start`` of each row is worth (what
    losing it costs), going up: ``G(start + k) - G(start + k + 1)`` for ``k < n``, flat and
    row by row (one call of ``G`` on every position of the ladders)."""
    idx = np.repeat(np.arange(rows.size), n + 1)
    first = np.cumsum(n + 1) - (n + 1)
    k = np.arange(idx.size) - first[idx]
    g = pricing.cost(rows[idx], start[idx] + k)
    step = g[:-1] - g[1:]  # within a row where k < n; across rows otherwise (dropped)
    return np.maximum(step[(k < n[idx])[:-1]], 0.0) if idx.size else np.zeros(0)


def _segments(owner: np.ndarray, n_units: np.ndarray,
              unit_cost: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cost segments of each owner: (owner of each segment, width, cost per unit).

    ``unit_cost`` holds the ``n_units[o]`` units of each owner in turn, in monotone order.
    Segments are one unit wide unless an owner has more than ``_MAX_SEGMENTS`` units, which
    are then cut into ``_MAX_SEGMENTS`` near-equal integer widths priced at their units'
    average (exact for a segment used whole or not at all).
    """
    n_seg = np.minimum(n_units, _MAX_SEGMENTS)
    seg_owner = np.repeat(owner, n_seg)
    idx = np.repeat(np.arange(owner.size), n_seg)
    first = np.cumsum(n_seg) - n_seg
    k = np.arange(seg_owner.size) - first[idx]  # 0-based segment number within its owner
    base, rem = np.divmod(n_units, np.maximum(n_seg, 1))
    width = base[idx] + (k < rem[idx])
    if not seg_owner.size:
        return seg_owner, width.astype(np.int64), np.zeros(0)
    # first unit of each segment: the owner's first, k full widths, one per earlier wider one
    start = (np.cumsum(n_units) - n_units)[idx] + k * base[idx] + np.minimum(k, rem[idx])
    cost = np.add.reduceat(unit_cost, start) / width
    return seg_owner, width.astype(np.int64), cost


def _csr(rows: np.ndarray, cols: np.ndarray, coefs: np.ndarray, n_rows: int):
    """COO triplets sorted by row; returns (cols, coefs, row pointer)."""
    order = np.argsort(rows, kind="stable")
    ptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=ptr[1:])
    return cols[order], coefs[order], ptr


def _new_vars(prob: pulp.LpProblem, prefix: str, n: int, low: float | None,
              up: float | None, cat: str) -> list:
    """``n`` pulp variables named ``<prefix><zero-padded index>`` in one bulk call.

    Zero padding keeps pulp's name-sorted column order equal to our array order.
    """
    if n == 0:
        return []
    names = [f"{i:07d}" for i in range(n)]
    if hasattr(prob, "add_variable_dicts"):  # pulp >= 3.3 (the PuLP 4 API)
        d = prob.add_variable_dicts(prefix, names, low, up, cat)
    else:  # pragma: no cover - older pulp
        d = pulp.LpVariable.dicts(prefix, names, low, up, cat)
    return list(d.values())


# ---------------------------------------------------------------------------------------
# The model as arrays, then as a pulp problem
# ---------------------------------------------------------------------------------------


@dataclass
class _Priced:
    """The arcs that can pay for themselves and the cost segments around them.

    Arcs are (lane, source row, receiver row) with an upper bound; each receiver in the model
    takes at most ``want`` units (those worth more than its cheapest freight in), each source
    ships ``free`` units at no cost and the rest along its ``v`` segments.
    """

    lane: np.ndarray
    src: np.ndarray
    rcv: np.ndarray
    ub: np.ndarray
    r_use: np.ndarray  # levels rows that are receivers in the model
    want: np.ndarray  # per r_use
    s_use: np.ndarray  # levels rows that are sources in the model
    free: np.ndarray  # per s_use
    u: tuple[np.ndarray, np.ndarray, np.ndarray]  # receivers' segments: owner, width, cost
    v: tuple[np.ndarray, np.ndarray, np.ndarray]  # sources' segments


@dataclass
class _Model(solvers.ArrayModel):
    """The transfer model as arrays; columns are ``x`` arcs | cost segments | ``y`` lanes.

    Rows: one per receiver (``sum x_in + sum u = want``), one per source
    (``sum x_out - sum v <= free``), and with fixed costs one link per lane
    (``sum_p x - M y <= 0``). Without fixed costs the parts share no row: each part is an
    independent block of the model.
    """

    n_x: int = 0
    n_seg: int = 0
    n_y: int = 0


def _price_arcs(a_lane: np.ndarray, a_src: np.ndarray, a_rcv: np.ndarray, lv: _Levels,
                roles: _Roles, ln: _Lanes, pricing: _Pricing) -> _Priced:
    """Chapter "prices": value every unit a receiver could get and every unit a source could
    ship, and keep only what can pay.

    A receiver's units, in delivery order, are worth ``G(p) - G(p + 1)``, ``G(p + 1) -
    G(p + 2)``, ...; a unit worth no more than the cheapest freight into it never moves.  A
    source's ``k``-th unit shipped costs ``G(p - k) - G(p - k + 1)``; units costing less than
    ``_NEGLIGIBLE`` ship free, and units costing more than the best a receiver pays net of
    freight never ship.  Values are monotone (``G`` is convex), so each kept set is a prefix.
    """
    nrow = lv.loc.size
    r_all = np.unique(a_rcv)
    gap = roles.gap[r_all]
    val = _unit_costs(pricing, r_all, lv.pos[r_all], gap)
    val_owner = np.repeat(np.arange(r_all.size), gap)
    cheapest_in = np.full(nrow, np.inf)
    np.minimum.at(cheapest_in, a_rcv, ln.cpu[a_lane])
    pays = val > cheapest_in[r_all][val_owner]
    want = np.zeros(nrow, dtype=np.int64)
    want[r_all] = np.bincount(val_owner, weights=pays, minlength=r_all.size).astype(np.int64)
    first_val = np.zeros(nrow)
    first_val[r_all[gap > 0]] = val[(np.cumsum(gap) - gap)[gap > 0]]
    keep = want[a_rcv] > 0
    a_lane, a_src, a_rcv = a_lane[keep], a_src[keep], a_rcv[keep]

    ub = np.minimum(lv.on_hand[a_src], want[a_rcv])
    s_all = np.unique(a_src)
    n_s = np.minimum(lv.on_hand[s_all],
                     np.bincount(a_src, weights=ub, minlength=nrow)[s_all]).astype(np.int64)
    best = np.full(nrow, -np.inf)  # the most a receiver pays for a unit, net of freight
    np.maximum.at(best, a_src, first_val[a_rcv] - ln.cpu[a_lane])
    cost = _unit_costs(pricing, s_all, lv.pos[s_all] - n_s, n_s)  # dearest unit first
    cost_owner = np.repeat(np.arange(s_all.size), n_s)
    is_free = cost <= _NEGLIGIBLE
    priced = ~is_free & (cost < best[s_all][cost_owner])
    free = np.zeros(nrow, dtype=np.int64)
    free[s_all] = np.bincount(cost_owner, weights=is_free, minlength=s_all.size)
    n_priced = np.zeros(nrow, dtype=np.int64)
    n_priced[s_all] = np.bincount(cost_owner, weights=priced, minlength=s_all.size)
    keep = (free[a_src] + n_priced[a_src]) > 0  # a source that can ship nothing drops out
    a_lane, a_src, a_rcv, ub = a_lane[keep], a_src[keep], a_rcv[keep], ub[keep]

    r_use, s_use = np.unique(a_rcv), np.unique(a_src)
    in_r = np.isin(r_all, r_use)[val_owner] & pays
    in_s = np.isin(s_all, s_use)[cost_owner] & priced
    has_v = s_use[n_priced[s_use] > 0]
    return _Priced(lane=a_lane, src=a_src, rcv=a_rcv, ub=ub.astype(float), r_use=r_use,
                   want=want[r_use], s_use=s_use, free=free[s_use],
                   u=_segments(r_use, want[r_use], val[in_r]),
                   v=_segments(has_v, n_priced[has_v], cost[in_s]))


def _model_arrays(p: _Priced, ln_cpu: np.ndarray, ln_fix: np.ndarray) -> _Model:
    """Columns, rows and coefficients of the transfer LP/MILP, all vectorised."""
    n_x = p.lane.size
    n_r, n_s = p.r_use.size, p.s_use.size
    (u_owner, u_width, u_cost), (v_owner, v_width, v_cost) = p.u, p.v
    n_u, n_v = u_owner.size, v_owner.size

    fixed_lanes = np.unique(p.lane[ln_fix[p.lane] > 0])
    n_y = fixed_lanes.size
    cx = np.arange(n_x)
    cu = n_x + np.arange(n_u)
    cv = n_x + n_u + np.arange(n_v)
    cy = n_x + n_u + n_v + np.arange(n_y)
    rows = [np.searchsorted(p.r_use, p.rcv), n_r + np.searchsorted(p.s_use, p.src),
            np.searchsorted(p.r_use, u_owner), n_r + np.searchsorted(p.s_use, v_owner)]
    cols = [cx, cx, cu, cv]
    vals = [np.ones(n_x), np.ones(n_x), np.ones(n_u), -np.ones(n_v)]
    row_lower = [p.want.astype(float), np.full(n_s, -np.inf)]
    row_upper = [p.want.astype(float), p.free.astype(float)]
    if n_y:
        y_of_lane = np.full(ln_fix.size, -1, dtype=np.int64)
        y_of_lane[fixed_lanes] = np.arange(n_y)
        arc_y = y_of_lane[p.lane]
        on = np.flatnonzero(arc_y >= 0)
        # sum over the lane's parts x <= M y, M = the most the lane can carry.  (Linking
        # each arc instead, x <= ub y, gives a tighter relaxation but on the 200 x 200
        # benchmark HiGHS did not finish its root LP in 40 s; this form reached a ~50 % gap.)
        big_m = np.bincount(arc_y[on], weights=p.ub[on], minlength=n_y)
        rows += [n_r + n_s + arc_y[on], n_r + n_s + np.arange(n_y)]
        cols += [cx[on], cy]
        vals += [np.ones(on.size), -big_m]
        row_lower.append(np.full(n_y, -np.inf))
        row_upper.append(np.zeros(n_y))
    row_lower_a, row_upper_a = np.concatenate(row_lower), np.concatenate(row_upper)
    a_col, a_val, a_ptr = _csr(np.concatenate(rows), np.concatenate(cols),
                               np.concatenate(vals), row_lower_a.size)
    cost = np.concatenate([ln_cpu[p.lane], u_cost, v_cost, ln_fix[fixed_lanes]])
    upper = np.concatenate([p.ub, u_width, v_width, np.ones(n_y)]).astype(float)
    integer = np.zeros(cost.size, dtype=bool)
    if n_y:
        integer[cx] = True  # fixed costs break total unimodularity
        integer[cy] = True
    return _Model(cost=cost, upper=upper, integer=integer, a_col=a_col, a_val=a_val,
                  a_ptr=a_ptr, row_lower=row_lower_a, row_upper=row_upper_a, n_x=n_x,
                  n_seg=n_u + n_v, n_y=n_y)


def _pulp_problem(m: _Model) -> tuple[pulp.LpProblem, list]:
    """The pulp problem of ``m``, built in bulk from its arrays.

    Variables come from one ``add_variable_dicts`` call per (kind, upper bound) group;
    every constraint is an ``LpAffineExpression`` over a slice of one pre-zipped list of
    (variable, coefficient) terms in row order.  (Measured on the 200 x 200 benchmark:
    1.5 s, against 2.8 s for preparing the same model as a dict for
    ``LpProblem.fromDict``.)
    """
    prob = pulp.LpProblem("transfers", pulp.LpMinimize)
    if m.n_cols == 0:
        return prob, []
    var_arr = np.empty(m.n_cols, dtype=object)
    kind = np.where(m.integer, 1, 0)
    kind[m.n_x + m.n_seg:] = 2  # the lane binaries
    groups = pd.DataFrame({"kind": kind, "ub": m.upper}).groupby(["kind", "ub"], sort=True)
    for g, ((k, ub), at) in enumerate(groups.indices.items()):
        cat = (pulp.LpContinuous, pulp.LpInteger, pulp.LpBinary)[k]
        made = _new_vars(prob, f"v{g:03d}", at.size, 0, None if math.isinf(ub) else float(ub),
                         cat)
        var_arr[at] = np.array(made, dtype=object)
    variables = var_arr.tolist()
    terms = list(zip(var_arr[m.a_col].tolist(), m.a_val.tolist()))
    ptr = m.a_ptr.tolist()
    eq, le = pulp.LpConstraintEQ, pulp.LpConstraintLE
    # rows are either equalities or "<=" with no lower bound (see _Model)
    senses = np.where(np.isfinite(m.row_lower), eq, le).tolist()
    names = [f"c{i:07d}" for i in range(m.n_rows)]
    prob.extend({
        nm: pulp.LpConstraint(pulp.LpAffineExpression(terms[a:b]), sense=sn, name=nm, rhs=rh)
        for nm, a, b, sn, rh in zip(names, ptr[:-1], ptr[1:], senses, m.row_upper.tolist())
    })
    nz = np.flatnonzero(m.cost)
    prob.setObjective(pulp.LpAffineExpression(zip(var_arr[nz].tolist(), m.cost[nz].tolist())))
    return prob, variables

# ---------------------------------------------------------------------------------------
# The planner
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    """The scalar settings of :func:`plan_transfers`, checked."""

    pricing: str  # "auto", "backorders" or "weights"
    b: dict  # money per backorder-day per tier
    b_wh: float  # ... at the warehouse
    window: float  # window_days
    phi: float  # fairness
    rate: float  # shortage_cost_rate
    base_cost: float  # shortage_base_cost
    wh_weight: float
    time_limit: float
    mip_gap: float
    max_milp_integers: int
    hd: int  # handling days
    uhd: int  # urgent handling days
    solver: str  # "highs" or "cbc"
    as_of: pd.Timestamp
    weights: dict  # shortage weight per tier
    use_fixed_costs: bool
    msg: bool
    currency: str
    paid_by: str  # "factory", "receiver" or "sender"


@dataclass
class _Lanes:
    """The lanes' columns as arrays, in input order."""

    from_id: np.ndarray
    to_id: np.ndarray
    lead: np.ndarray
    cpu: np.ndarray  # freight per unit
    fix: np.ndarray  # cost per shipment


@dataclass
class _Levels:
    """The levels rows in canonical (part, location) order; ``loc`` and ``part`` hold the
    sorted distinct ids (``.ids``) and each row's code among them (``.codes``)."""

    loc: _IdsOf
    part: _IdsOf
    target: np.ndarray
    on_hand: np.ndarray
    on_order: np.ndarray
    given_w: np.ndarray | None  # the shortage_cost column, when given
    is_wh: np.ndarray
    demand: np.ndarray | None = None  # demand_per_day (0 where missing), when given
    lead: np.ndarray | None = None  # effective_lead_time_days (NaN where missing)
    vmr: np.ndarray | None = None  # demand_vmr (1 where missing)

    @property
    def pos(self) -> np.ndarray:
        """Inventory position: on hand + on order."""
        return self.on_hand + self.on_order


@dataclass
class _Roles:
    """Who receives and who ships, per levels row."""

    gap: np.ndarray  # units a dealer is below target (0 for the warehouse and sources)
    recv: np.ndarray  # receivers
    src: np.ndarray  # sources
    surplus: np.ndarray  # units a source ships without going below its target


@dataclass
class _Answer:
    """The solver's answer: status in the :mod:`partsforecast.solvers` vocabulary, the
    values of the model's columns (zeros without a plan), and notes."""

    status: str
    gap: float
    solver: str
    solver_status: str
    values: np.ndarray
    note: str


def plan_transfers(
    levels: pd.DataFrame,
    lanes: pd.DataFrame,
    warehouse_id: str,
    as_of: Any,
    *,
    tiers: pd.Series | None = None,
    backorder_cost_per_day: Mapping[int, float] | float | None = None,
    warehouse_backorder_cost_per_day: float = DEFAULT_WAREHOUSE_BACKORDER_COST_PER_DAY,
    window_days: float = 90.0,
    warehouse_lead_time: pd.Series | float | None = None,
    pricing: str = "auto",
    unit_cost: pd.Series | None = None,
    tier_weights: Mapping[int, float] | None = None,
    warehouse_weight: float = 1.0,
    shortage_cost_rate: float = 1.0,
    shortage_base_cost: float = 100.0,
    fairness: float = 0.5,
    part_names: pd.Series | None = None,
    location_names: pd.Series | None = None,
    currency: str = "CNY",
    freight_paid_by: str = "factory",
    use_fixed_costs: bool = True,
    handling_days: int = 2,
    urgent_handling_days: int = 1,
    solver: str = "highs",
    time_limit: float = 60.0,
    mip_gap: float = 1e-4,
    msg: bool = False,
    max_milp_integers: int = MAX_MILP_INTEGERS,
    engine: Any = None,
) -> TransferPlan:
    """The moves that bring dealers toward their target stock and pay for themselves.

    See the module docstring for the model, the two pricings and the status reporting.

    Parameters
    ----------
    levels : pandas.DataFrame
        One row per (location_id, part_number) with ``target`` (base-stock level),
        ``on_hand`` and optionally ``on_order`` (default 0) -- whole numbers >= 0.  For the
        pricing by backorders also ``demand_per_day`` (empty = no demand),
        ``effective_lead_time_days`` (needed where there is demand; the warehouse's may come
        from ``warehouse_lead_time``) and optionally ``demand_vmr`` (variance-to-mean ratio
        of demand, empty = 1, Poisson).  For the pricing by weights optionally
        ``shortage_cost`` (weight per unit below target, >= 0; overrides the tier rule).
        Rows of the warehouse give its stock and target; a (location, part) without a row
        has nothing and needs nothing.  Extra columns are ignored.
    lanes : pandas.DataFrame
        ``from_id``, ``to_id``, ``lead_time_days``, ``cost_per_unit`` and optionally
        ``cost_per_shipment`` (missing = 0).  Only these lanes carry transfers; lanes into
        the warehouse are ignored.
    warehouse_id : str
        The factory warehouse.
    as_of : date-like
        Planning date; ``ship_by`` dates count from it.
    tiers : pandas.Series, optional
        Dealer tier (1-4) indexed by location_id, e.g.
        ``locations.set_index("location_id")["tier"]``.  Without it every dealer is priced
        at the lowest rate (backorders) or weighs 1 (weights).
    backorder_cost_per_day : mapping or float, optional
        Money per repair (demand) waiting one day, per dealer tier (tiers not given keep their
        default), or one number for every tier; default
        :data:`DEFAULT_BACKORDER_COST_PER_DAY` (200, 150, 125, 100 for tiers 1-4).
    warehouse_backorder_cost_per_day : float
        The same at the warehouse (default 100).
    window_days : float
        The planning window ``H``: the days the plan covers, over which backorder-days are
        counted (default 90).
    warehouse_lead_time : pandas.Series or float, optional
        The warehouse's replenishment lead time in days, per part_number (e.g.
        ``parts.set_index("part_number")["lead_time_days"]``) or one number; used where the
        warehouse rows have no ``effective_lead_time_days``.
    pricing : {"auto", "backorders", "weights"}
        ``"auto"`` (default) prices by backorders when ``levels`` carry ``demand_per_day``
        and ``effective_lead_time_days`` (and no ``shortage_cost``) and every row with
        demand has a lead time, else by weights, saying why in the report's message.
    unit_cost : pandas.Series, optional
        Unit cost indexed by part_number (e.g. ``parts.set_index("part_number")
        ["unit_cost"]``); pricing by weights only, without it every part costs 1.
    tier_weights : mapping, optional
        Shortage weight per tier (pricing by weights); default :data:`DEFAULT_TIER_WEIGHTS`.
    warehouse_weight : float
        Shortage weight of the warehouse going below its own target (pricing by weights).
    shortage_cost_rate, shortage_base_cost : float
        Shortage cost per unit below target before weighting (pricing by weights):
        ``shortage_base_cost + shortage_cost_rate * unit_cost``.
    fairness : float
        ``phi`` of the fairness rule (pricing by weights; the pricing by backorders
        equalises by itself); 0 makes the shortage cost linear.
    part_names : pandas.Series, optional
        Description per part_number (``parts.set_index("part_number")["description"]``),
        for the ``description`` column; missing = empty.
    location_names : pandas.Series, optional
        Name per location_id (``locations.set_index("location_id")["dealer_name"]``), for
        ``from_name`` / ``to_name`` and the reasons; missing = empty.  Names are copied as
        text, never interpreted.
    currency : str
        Currency of every amount (letters only, at most 8; default ``"CNY"``).
    freight_paid_by : {"factory", "receiver", "sender"}
        Who pays the freight: ``paid_by`` holds the warehouse's id, the receiving or the
        sending location's id.
    use_fixed_costs : bool
        Charge ``cost_per_shipment`` once per lane used (MILP).  Otherwise the model is an
        LP; the ``cost`` column still includes the shipment cost actually incurred.  A MILP
        with more than ``max_milp_integers`` integer variables is not attempted (see
        below).
    handling_days, urgent_handling_days : int
        ``ship_by = as_of + handling_days``, or ``+ urgent_handling_days`` when the receiver
        is urgent: nothing on hand, or a position at most half its target.
    solver : {"highs", "cbc"}
        HiGHS through highspy (default; falls back to the HiGHS executable, then CBC, when
        unavailable) or CBC.
    time_limit : float
        Seconds the solver may run.
    mip_gap : float
        Relative MIP gap at which the solver stops and reports optimal.
    msg : bool
        Show the solver log.
    max_milp_integers : int
        The largest fixed-cost MILP (integer variables) to hand to the solver.  Above it --
        a national network: 300 dealers x 5,000 parts make about a million -- the solver's
        presolve alone can run for many minutes past its time limit, so the freight LP
        (totally unimodular: whole units) is solved instead, the shipment costs of the
        lanes it uses are added to ``cost`` and to the objective, and the report says
        ``"feasible"`` (no optimality proof for the fixed costs) with the reason in its
        message.
    engine : dask.distributed.Client, optional
        Solve the model's independent blocks (the LP's parts; see
        :func:`partsforecast.solvers.solve_highs_arrays`) on the cluster's workers, with
        HiGHS. ``None`` (default) solves them here, one after another; the plan is the
        same model's optimum either way.

    Returns
    -------
    TransferPlan
        ``.transfers`` (columns :data:`TRANSFER_COLUMNS`) and ``.report``
        (:class:`TransferReport`).

    Raises
    ------
    ValueError
        Missing columns, missing/negative/fractional stock or targets, duplicate rows or
        lanes, a location in ``levels`` that is neither the warehouse nor on any lane, a dealer
        below target with no lane into it, missing tiers or unit costs, demand without a lead
        time (pricing by backorders), bad settings.

    Notes
    -----
    ``transfer_id`` is ``TR-<as_of yyyymmdd>-<nnnn>`` numbered by ship_by, then urgency (what
    one more unit is worth to the receiver before the moves), then to_id, part_number,
    from_id; the input row order does not matter, so the same input always gives the same
    table.  ``cost`` is ``quantity * cost_per_unit`` plus the lane's ``cost_per_shipment``
    shared among the parts on that shipment in proportion to units.  ``lead_time_days`` is
    the lane's lead time rounded up to whole days and ``arrive_by = ship_by +
    lead_time_days``.  ``backorder_days_avoided`` is the receiver's gain minus the source's
    loss over the window, each location's change shared among its moves by units, and
    ``value_avoided`` the same in money.

    Examples
    --------
    >>> from partsforecast import load_sample  # doctest: +SKIP
    >>> f = load_sample()  # doctest: +SKIP
    >>> levels = f.stock.assign(target=2)  # doctest: +SKIP
    >>> plan = plan_transfers(levels, f.lanes, f.warehouse_id, f.as_of,
    ...                       tiers=f.locations.set_index("location_id")["tier"],
    ...                       unit_cost=f.parts.set_index("part_number")["unit_cost"])
    ... # doctest: +SKIP
    >>> print(plan.report)  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    engine = check_engine(engine, "plan_transfers")
    names = _Names(parts=part_names, locs=location_names)
    cfg = _settings(warehouse_id, as_of, pricing=pricing, backorder_cost_per_day=backorder_cost_per_day,
                    warehouse_backorder_cost_per_day=warehouse_backorder_cost_per_day,
                    window_days=window_days, tier_weights=tier_weights, warehouse_weight=warehouse_weight,
                    shortage_cost_rate=shortage_cost_rate, shortage_base_cost=shortage_base_cost,
                    fairness=fairness, use_fixed_costs=use_fixed_costs, handling_days=handling_days,
                    urgent_handling_days=urgent_handling_days, solver=solver, time_limit=time_limit,
                    mip_gap=mip_gap, msg=msg, max_milp_integers=max_milp_integers, currency=currency,
                    freight_paid_by=freight_paid_by)
    for series, what, key in ((part_names, "part_names", "part_number"),
                              (location_names, "location_names", "location_id")):
        _text_lookup(series, np.zeros(0, dtype=object), what, key)  # checked before solving
    ln = _read_lanes(lanes)
    lv = _read_levels(levels, ln, warehouse_id, tiers)
    price, note = _prices(lv, tiers, unit_cost, warehouse_lead_time, cfg)
    roles = _roles(lv, ln, warehouse_id)
    a_lane, a_src, a_rcv = _arcs(lv, roles, ln, warehouse_id)
    priced = _price_arcs(a_lane, a_src, a_rcv, lv, roles, ln, price)
    m, too_big = _model(priced, ln, cfg)
    build_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    ans, solved = _solve(m, cfg, "; ".join(filter(None, [note, too_big])), engine)
    return _read_back(ans, m, priced, lv, roles, ln, cfg, price, names, too_big=too_big,
                      build_s=build_s, t1=t1, warehouse_id=warehouse_id, solved=solved)


def _settings(warehouse_id: Any, as_of: Any, *, pricing, backorder_cost_per_day,
              warehouse_backorder_cost_per_day, window_days, tier_weights, warehouse_weight,
              shortage_cost_rate, shortage_base_cost, fairness, use_fixed_costs, handling_days,
              urgent_handling_days, solver, time_limit, mip_gap, msg, max_milp_integers, currency,
              freight_paid_by) -> _Settings:
    """Chapter "settings": every scalar checked, the planning date read."""
    if pricing not in _PRICINGS:
        _fail(f"pricing must be one of {list(_PRICINGS)}, got {pricing!r}")
    b_wh = _check_scalar("warehouse_backorder_cost_per_day", warehouse_backorder_cost_per_day, 0.0)
    window = _check_scalar("window_days", window_days, 0.0, strict=True)
    phi = _check_scalar("fairness", fairness, 0.0)
    rate = _check_scalar("shortage_cost_rate", shortage_cost_rate, 0.0)
    base_cost = _check_scalar("shortage_base_cost", shortage_base_cost, 0.0)
    wh_weight = _check_scalar("warehouse_weight", warehouse_weight, 0.0)
    time_limit = _check_scalar("time_limit", time_limit, 0.0, strict=True)
    mip_gap = _check_scalar("mip_gap", mip_gap, 0.0)
    max_milp_integers = int(_check_scalar("max_milp_integers", max_milp_integers, 0.0))
    hd = int(_check_scalar("handling_days", handling_days, 0.0))
    uhd = int(_check_scalar("urgent_handling_days", urgent_handling_days, 0.0))
    solver_key = str(solver).lower()
    if solver_key not in solvers.SOLVERS:
        _fail(f"solver must be 'highs' or 'cbc', got {solver!r}")
    if not (isinstance(currency, str) and 1 <= len(currency) <= 8 and currency.isalpha()):
        _fail(f"currency must be a currency code of letters only, at most 8 (e.g. 'CNY'), "
              f"got {currency!r}")
    if freight_paid_by not in _PAYERS:
        _fail(f"freight_paid_by must be one of {list(_PAYERS)}, got {freight_paid_by!r}")
    if not isinstance(warehouse_id, str) or not warehouse_id:
        _fail(f"warehouse_id must be a non-empty string, got {warehouse_id!r}")
    try:
        as_of_ts = pd.Timestamp(as_of).normalize()
    except (TypeError, ValueError):
        as_of_ts = pd.NaT
    if pd.isna(as_of_ts):
        _fail(f"as_of must be a date (e.g. '2026-07-01'), got {as_of!r}")
    weights = _tier_table("tier_weights", DEFAULT_TIER_WEIGHTS if tier_weights is None
                          else tier_weights)
    b = dict(DEFAULT_BACKORDER_COST_PER_DAY)  # tiers not given keep their default
    if isinstance(backorder_cost_per_day, Mapping):
        b.update(_tier_table("backorder_cost_per_day", backorder_cost_per_day))
    elif backorder_cost_per_day is not None:  # one cost for every tier
        b = dict.fromkeys(b, _check_scalar("backorder_cost_per_day", backorder_cost_per_day, 0.0))
    return _Settings(pricing=pricing, b=b, b_wh=b_wh, window=window, phi=phi, rate=rate,
                     base_cost=base_cost, wh_weight=wh_weight, time_limit=time_limit,
                     mip_gap=mip_gap, max_milp_integers=max_milp_integers, hd=hd, uhd=uhd,
                     solver=solver_key, as_of=as_of_ts, weights=weights,
                     use_fixed_costs=use_fixed_costs, msg=msg, currency=currency,
                     paid_by=freight_paid_by)


def _tier_table(name: str, table: Any) -> dict[int, float]:
    """A mapping tier -> number >= 0, with tiers as ints (``"1"`` reads as 1)."""
    if not isinstance(table, Mapping) or not table:
        _fail(f"{name} must be a non-empty mapping of dealer tier to a number, got {table!r}")
    out = {}
    for t, v in table.items():
        try:
            tier = int(str(t).strip())
        except ValueError:
            _fail(f"{name} has tier {t!r}, which is not a whole number")
        out[tier] = _check_scalar(f"{name}[{t!r}]", v, 0.0)
    return out


def _read_lanes(lanes: pd.DataFrame) -> _Lanes:
    """Chapter "lanes": columns checked, no duplicate lane, no loop."""
    _require_columns(lanes, "lanes", ("from_id", "to_id", "lead_time_days", "cost_per_unit"),
                     "lanes need from_id, to_id, lead_time_days, cost_per_unit "
                     "(cost_per_shipment optional)")
    ln_from = _ids(lanes, "lanes", "from_id")
    ln_to = _ids(lanes, "lanes", "to_id")
    ln_keys = ln_from + "->" + ln_to
    ln_lead = _numbers(lanes, "lanes", "lead_time_days", whole=False, what="a lead time",
                       keys=ln_keys.__getitem__)
    ln_cpu = _numbers(lanes, "lanes", "cost_per_unit", whole=False, what="a freight cost",
                      keys=ln_keys.__getitem__)
    if "cost_per_shipment" in lanes.columns:
        cps = lanes["cost_per_shipment"]
        ln_fix = _numbers(lanes.assign(cost_per_shipment=cps.fillna(0.0)), "lanes",
                          "cost_per_shipment", whole=False, what="a shipment cost",
                          keys=ln_keys.__getitem__)
    else:
        ln_fix = np.zeros(len(lanes))
    dup = pd.Series(ln_keys).duplicated().to_numpy()
    if dup.any():
        _fail(f"lanes has {int(dup.sum())} duplicate (from_id, to_id) lane(s), e.g. "
              f"{ln_keys[dup][0]}: keep one row per lane")
    loop = ln_from == ln_to
    if loop.any():
        _fail(f"lanes has a lane from a location to itself: {ln_keys[loop][0]}; drop it")
    return _Lanes(ln_from, ln_to, ln_lead, ln_cpu, ln_fix)


def _read_levels(levels: pd.DataFrame, ln: _Lanes, warehouse_id: str, tiers: Any) -> _Levels:
    """Chapter "levels": columns checked, one row per pair, known locations, canonical order
    (part, location) so that the input row order never matters."""
    _require_columns(levels, "levels", ("location_id", "part_number", "target", "on_hand"),
                     "levels need location_id, part_number, target, on_hand "
                     "(on_order, demand_per_day, effective_lead_time_days, demand_vmr, "
                     "shortage_cost optional)")
    loc_ids, loc_code = _id_codes(levels, "levels", "location_id")
    part_ids, part_code = _id_codes(levels, "levels", "part_number")
    lv_loc, lv_part = _IdsOf(loc_ids, loc_code), _IdsOf(part_ids, part_code)

    def key(i: int) -> str:
        return f"{lv_loc[i]}/{lv_part[i]}"

    def col(name: str, what: str, *, whole: bool = False, missing_ok: bool = False):
        if name not in levels.columns:
            return None
        return _numbers(levels, "levels", name, whole=whole, what=what, keys=key,
                        missing_ok=missing_ok)

    target = col("target", "a target stock level", whole=True)
    on_hand = col("on_hand", "stock on hand", whole=True)
    on_order = col("on_order", "stock on order", whole=True)
    on_order = np.zeros(len(levels)) if on_order is None else on_order
    given_w = col("shortage_cost", "a shortage cost per unit")
    demand = col("demand_per_day", "a demand per day", missing_ok=True)
    lead = col("effective_lead_time_days", "a lead time", missing_ok=True)
    vmr = col("demand_vmr", "a variance-to-mean ratio", missing_ok=True)
    dup = pd.Series(part_code * max(loc_ids.size, 1) + loc_code).duplicated().to_numpy()
    if dup.any():
        _fail(f"levels has {int(dup.sum())} duplicate (location_id, part_number) row(s), e.g. "
              f"{key(int(np.flatnonzero(dup)[0]))}: give one row per pair (sum the stock first)")
    known = pd.Index(np.concatenate([ln.from_id, ln.to_id, [warehouse_id]])).unique()
    if tiers is not None and isinstance(tiers, pd.Series):
        known = known.union(tiers.index.astype(str))
    unknown = (~pd.Index(loc_ids).isin(known))[loc_code]
    if unknown.any():
        bad = pd.unique(lv_loc[unknown])
        _fail(f"levels.location_id has {len(bad)} unknown location(s) {list(bad[:5])}: each "
              f"must be the warehouse {warehouse_id!r} or a dealer on some lane; fix the id "
              f"or add its lanes")
    if not lv_loc.equals(warehouse_id).any() and not (ln.from_id == warehouse_id).any():
        _fail(f"warehouse_id {warehouse_id!r} appears neither in levels.location_id nor in "
              f"lanes.from_id: check the warehouse id")
    order = np.lexsort((loc_code, part_code))  # codes are ranks: the order of the ids

    def ordered(a: np.ndarray | None, fill: float) -> np.ndarray | None:
        return None if a is None else np.where(np.isnan(a), fill, a)[order]

    loc = _IdsOf(loc_ids, loc_code[order])
    return _Levels(loc=loc, part=_IdsOf(part_ids, part_code[order]),
                   target=target[order].astype(np.int64),
                   on_hand=on_hand[order].astype(np.int64), on_order=on_order[order].astype(np.int64),
                   given_w=None if given_w is None else given_w[order],
                   is_wh=loc.equals(warehouse_id),
                   demand=ordered(demand, 0.0), lead=ordered(lead, np.nan), vmr=ordered(vmr, 1.0))


def _dealer_tiers(lv: _Levels, tiers: Any, table: Mapping[int, float], table_name: str) -> np.ndarray:
    """Each row's dealer tier (0 for the warehouse; 0 for every row without ``tiers``),
    every dealer's tier checked against ``table``."""
    tier_vals = np.zeros(len(lv.loc), dtype=np.int64)
    if tiers is None:
        return tier_vals
    dealer_codes = np.unique(lv.loc.codes[~lv.is_wh])
    dealer_locs = lv.loc.ids[dealer_codes]
    tv = _series_lookup(tiers, dealer_locs, "tiers", "location_id",
                        "give every dealer in levels a tier (locations.tier)")
    tv = pd.to_numeric(pd.Series(tv), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if not np.isfinite(tv).all():
        i = int(np.flatnonzero(~np.isfinite(tv))[0])
        _fail(f"tiers has no usable tier for dealer {dealer_locs[i]!r}: give tiers 1-4")
    tier_of_code = np.zeros(lv.loc.ids.size, dtype=np.int64)
    tier_of_code[dealer_codes] = tv.astype(np.int64)
    tier_vals[~lv.is_wh] = tier_of_code[lv.loc.codes[~lv.is_wh]]
    unknown_t = sorted(set(np.unique(tier_vals[~lv.is_wh]).tolist()) - set(table))
    if unknown_t:
        _fail(f"tiers has tier(s) {unknown_t} with no entry in {table_name} "
              f"{sorted(table)}: add their values")
    return tier_vals


def _prices(lv: _Levels, tiers: Any, unit_cost: Any, wh_lead: Any,
            cfg: _Settings) -> tuple[_Pricing, str]:
    """Chapter "prices": which pricing applies (with the reason when ``"auto"`` falls back
    to weights) and each row's rate -- money per backorder-day, or shortage weight."""
    mode, note = _pricing_mode(lv, wh_lead, cfg)
    if mode == BACKORDERS:
        tier_vals = _dealer_tiers(lv, tiers, cfg.b, "backorder_cost_per_day")
        dealer_b = (pd.Series(cfg.b, dtype=float).reindex(tier_vals).to_numpy()
                    if tiers is not None else np.full(len(lv.loc), min(cfg.b.values())))
        mean = lv.demand * np.where(lv.demand > 0, lv.lead, 0.0)
        vmr = np.ones(mean.size) if lv.vmr is None else np.maximum(lv.vmr, 1.0)
        return _Pricing(BACKORDERS, rate=np.where(lv.is_wh, cfg.b_wh, dealer_b), target=lv.target,
                        window=cfg.window, mean=mean, var=vmr * mean), note
    tier_vals = _dealer_tiers(lv, tiers, cfg.weights, "tier_weights")
    weight = (pd.Series(cfg.weights, dtype=float).reindex(tier_vals).to_numpy()
              if tiers is not None else np.ones(len(lv.loc)))
    weight = np.where(lv.is_wh, cfg.wh_weight, weight)
    if lv.given_w is not None:
        w = lv.given_w
    else:
        if unit_cost is not None:
            uc = pd.to_numeric(pd.Series(_series_lookup(
                unit_cost, lv.part.ids, "unit_cost", "part_number",
                "give every part in levels a unit cost (parts.unit_cost)")),
                errors="coerce").to_numpy(dtype=float, na_value=np.nan)[lv.part.codes]
            if not (np.isfinite(uc) & (uc >= 0)).all():
                i = int(np.flatnonzero(~(np.isfinite(uc) & (uc >= 0)))[0])
                _fail(f"unit_cost of part {lv.part[i]!r} is {uc[i]!r}: give a cost >= 0")
        else:
            uc = np.ones(len(lv.loc))
        w = weight * (cfg.base_cost + cfg.rate * uc)
    return _Pricing(WEIGHTS, rate=w, target=lv.target, phi=cfg.phi), note


def _pricing_mode(lv: _Levels, wh_lead: Any, cfg: _Settings) -> tuple[str, str]:
    """``"backorders"`` or ``"weights"``, and why ``"auto"`` chose weights despite demand.

    Fills the warehouse rows' missing lead times from ``wh_lead`` on the way.
    """
    if cfg.pricing == WEIGHTS:
        return WEIGHTS, ""
    if lv.demand is None or lv.lead is None:
        if cfg.pricing == BACKORDERS:
            _fail("pricing='backorders' needs levels.demand_per_day and "
                  "levels.effective_lead_time_days; add them or use pricing='weights'")
        half = ("" if lv.demand is None and lv.lead is None else
                "priced by weights, not backorders: levels carry only one of demand_per_day "
                "and effective_lead_time_days")
        return WEIGHTS, half
    if cfg.pricing == "auto" and lv.given_w is not None:
        return WEIGHTS, ""
    fill = np.isnan(lv.lead) & lv.is_wh
    if wh_lead is not None and fill.any():
        if isinstance(wh_lead, pd.Series):
            got = pd.to_numeric(pd.Series(wh_lead.to_numpy(), index=wh_lead.index.astype(str)),
                                errors="coerce")
            if got.index.has_duplicates:
                _fail("warehouse_lead_time has duplicate part_number(s): give one per part")
            got = got.reindex(lv.part[fill]).to_numpy(dtype=float, na_value=np.nan)
        else:
            got = np.full(int(fill.sum()), _check_scalar("warehouse_lead_time", wh_lead, 0.0))
        if (got < 0).any() or np.isinf(got).any():
            _fail("warehouse_lead_time must hold lead times >= 0 in days")
        lv.lead[fill] = got
    missing = (lv.demand > 0) & np.isnan(lv.lead)
    if not missing.any():
        return BACKORDERS, ""
    i = int(np.flatnonzero(missing)[0])
    where = (f"{int(missing.sum())} row(s) with demand have no effective_lead_time_days, e.g. "
             f"{lv.loc[i]}/{lv.part[i]}")
    fix = ("pass warehouse_lead_time (parts.lead_time_days)" if lv.is_wh[missing].all()
           else "give every row with demand a lead time")
    if cfg.pricing == BACKORDERS or not lv.is_wh[missing].all():
        _fail(f"levels: {where}; {fix}")
    return WEIGHTS, f"priced by weights, not backorders: {where}; {fix}"


def _roles(lv: _Levels, ln: _Lanes, warehouse_id: str) -> _Roles:
    """Chapter "roles": receivers (dealers below target) and sources (the warehouse, dealers
    above target, with stock on hand); every receiver must have a lane into it."""
    is_wh, target, on_hand, pos = lv.is_wh, lv.target, lv.on_hand, lv.pos
    gap = np.where(~is_wh, np.maximum(target - pos, 0), 0)
    recv = gap > 0
    src = (on_hand > 0) & (is_wh | (pos > target))
    surplus = np.where(src, np.clip(np.minimum(on_hand, pos - target), 0, None), 0)

    # needy dealers must be reachable by some lane (from anywhere, stock or not)
    has_in = pd.Index(lv.loc.ids).isin(pd.Index(ln.to_id[ln.from_id != ln.to_id]))[lv.loc.codes]
    stranded = recv & ~has_in
    if stranded.any():
        i = int(np.flatnonzero(stranded)[0])
        bad = pd.unique(lv.loc[stranded])
        _fail(f"levels: dealer(s) {list(bad[:5])} are below target (e.g. {lv.part[i]}: "
              f"position {pos[i]} of target {target[i]} at {lv.loc[i]}) but lanes has no lane "
              f"into them; add a lane (e.g. {warehouse_id} -> {lv.loc[i]}) or drop their rows")
    return _Roles(gap=gap, recv=recv, src=src, surplus=surplus)


def _arcs(lv: _Levels, roles: _Roles, ln: _Lanes,
          warehouse_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chapter "arcs": the (lane, part) pairs from a source to a receiver of the same part,
    as (lane, source row, receiver row) arrays sorted by part, receiver, source."""
    locs = pd.Index(np.unique(np.concatenate([lv.loc.ids, ln.from_id, ln.to_id])))
    loc_code = locs.get_indexer(lv.loc.ids)[lv.loc.codes]
    part_codes = lv.part.codes
    ln_idx = np.flatnonzero(ln.to_id != warehouse_id)  # nothing flows into the factory
    ln_tab = pd.DataFrame({"lane": ln_idx, "from_c": locs.get_indexer(ln.from_id[ln_idx]),
                           "to_c": locs.get_indexer(ln.to_id[ln_idx])})
    s_rows, r_rows = np.flatnonzero(roles.src), np.flatnonzero(roles.recv)
    s_tab = pd.DataFrame({"srow": s_rows, "part": part_codes[s_rows],
                          "from_c": loc_code[s_rows]})
    r_tab = pd.DataFrame({"rrow": r_rows, "part": part_codes[r_rows],
                          "to_c": loc_code[r_rows]})
    arcs = (s_tab.merge(ln_tab, on="from_c")
            .merge(r_tab, on=["part", "to_c"])
            .sort_values(["part", "to_c", "from_c"], kind="stable"))
    return (arcs["lane"].to_numpy(np.int64), arcs["srow"].to_numpy(np.int64),
            arcs["rrow"].to_numpy(np.int64))


def _model(p: _Priced, ln: _Lanes, cfg: _Settings) -> tuple[_Model, str]:
    """The model's arrays: the fixed-cost MILP when asked for and within
    ``max_milp_integers``, else the freight LP (with the reason in the second item)."""
    m = _model_arrays(p, ln.cpu, ln.fix if cfg.use_fixed_costs else np.zeros_like(ln.fix))
    if m.n_integer <= cfg.max_milp_integers:
        return m, ""
    too_big = (f"shipment costs not optimised: the fixed-cost MILP would have "
               f"{m.n_integer:,} integer variables (max_milp_integers = "
               f"{cfg.max_milp_integers:,}), so the freight LP was solved and the "
               f"shipment costs of the lanes it uses added")
    return _model_arrays(p, ln.cpu, np.zeros_like(ln.fix)), too_big


def _solve(m: _Model, cfg: _Settings, notes: str, engine: Any = None) -> tuple[_Answer, Any]:
    """Chapter "solve": HiGHS straight from the model's arrays
    (:func:`partsforecast.solvers.solve_highs_arrays`), another solver through
    :func:`partsforecast.solvers.solve` on the pulp problem (the model is feasible by
    construction: moving nothing is a plan); ``notes`` go before the solver's own in the
    answer's note. Also returns the model as the plan keeps it: (arrays, values) or the pulp
    problem. With a Dask ``engine`` the blocks are solved on its workers."""
    name, fallback = solvers.choose_solver(cfg.solver)
    if m.n_cols == 0:
        return _Answer(solvers.OPTIMAL, 0.0, name, "nothing to move", np.zeros(0),
                       "; ".join(filter(None, [notes, fallback]))), None
    if name == "HiGHS" and _BULK_HIGHS:
        # the LP's parts are independent blocks, and presolve finds nothing to remove in them
        out, values = solvers.solve_highs_arrays(m, time_limit=cfg.time_limit, mip_gap=cfg.mip_gap,
                                                 msg=cfg.msg, always_feasible=True, lp_presolve=False,
                                                 block_columns=solvers.BLOCK_COLUMNS,
                                                 map_blocks=_block_mapper(engine))
        kept = (m, values) if values is not None else None
    else:
        prob, variables = _pulp_problem(m)
        out = solvers.solve(prob, cfg.solver, time_limit=cfg.time_limit, mip_gap=cfg.mip_gap, msg=cfg.msg,
                            always_feasible=True)
        values = np.nan_to_num(np.array([np.nan if v.varValue is None else v.varValue for v in variables],
                                        dtype=float)) if out.has_solution else None
        kept = prob
    note = "; ".join(filter(None, [notes, out.note]))
    if values is None:
        values = np.zeros(m.n_cols)
        note = "; ".join(filter(None, [note, "no plan: the solver found no solution"]))
    return _Answer(out.status, out.gap, out.solver, out.solver_status, values, note), kept


def _block_mapper(engine: Any):
    """How the solver maps its blocks: here (None) or on a Dask client's workers."""
    if engine is None:
        return None

    def on_cluster(fn, models):
        return map_partitioned(engine, fn, models, weights=[mm.n_cols for mm in models])
    return on_cluster


@dataclass
class _Names:
    """Part descriptions and location names (Series, checked), looked up for the moves only."""

    parts: pd.Series | None
    locs: pd.Series | None


def _read_back(ans: _Answer, m: _Model, p: _Priced, lv: _Levels, roles: _Roles, ln: _Lanes, cfg: _Settings,
               price: _Pricing, names: _Names, *, too_big: str, build_s: float, t1: float,
               warehouse_id: str, solved: Any) -> TransferPlan:
    """Chapter "read the answer back": whole-unit moves, what they avoid, the transfers
    table, the position costs before and after, the objective and the report."""
    n_x = p.lane.size
    xq = ans.values[:n_x]
    viol = float(np.abs(xq - np.round(xq)).max()) if n_x else 0.0
    if viol > _INT_TOL:
        raise RuntimeError(
            f"the transfer solution is not whole units (max deviation {viol:.3g}); the "
            f"model should never do this -- please report it with the input")
    q = np.round(xq).astype(np.int64)
    nrow = lv.loc.size
    received = np.bincount(p.rcv, weights=q, minlength=nrow).astype(np.int64)
    shipped = np.bincount(p.src, weights=q, minlength=nrow).astype(np.int64)
    pos_after = lv.pos + received - shipped
    changed = np.flatnonzero((received > 0) | (shipped > 0))
    cost_before = price.cost(np.arange(nrow), lv.pos)
    cost_after = float(cost_before.sum() + (price.cost(changed, pos_after[changed])
                                            - cost_before[changed]).sum())
    # backorder-days each location saves over the window (negative at a source)
    saved = np.zeros(nrow)
    saved[changed] = (price.backorder_days(changed, lv.pos[changed])
                      - price.backorder_days(changed, pos_after[changed]))

    moved = q > 0
    qm, lane, srow, rrow = q[moved], p.lane[moved], p.src[moved], p.rcv[moved]
    # a location's change shared among its moves by units
    share_r, share_s = qm / np.maximum(received[rrow], 1), qm / np.maximum(shipped[srow], 1)
    bd = saved[rrow] * share_r + saved[srow] * share_s
    value = (price.rate[rrow] * saved[rrow] * share_r + price.rate[srow] * saved[srow] * share_s)
    out = _transfer_table(qm, lane, srow, rrow, np.round(bd, 2), np.round(value, 2), lv, roles,
                          ln, cfg, price, names, shipped, warehouse_id)

    status, gap_rel = ans.status, ans.gap
    if status in (solvers.OPTIMAL, solvers.FEASIBLE):
        used = np.unique(lane)
        objective = (float(q @ ln.cpu[p.lane]) + (float(ln.fix[used].sum()) if cfg.use_fixed_costs
                                                   else 0.0) + cost_after)
        if too_big:
            # the LP left the shipment costs out: claim no optimality for the model asked for
            status, gap_rel = solvers.FEASIBLE, math.nan
    else:
        objective = math.nan
    solve_s = time.perf_counter() - t1
    dealer = ~lv.is_wh
    backorders = price.mode == BACKORDERS
    report = TransferReport(
        status=status, objective=objective, gap=float(gap_rel), solver=ans.solver,
        solver_status=ans.solver_status, build_seconds=build_s, solve_seconds=solve_s,
        n_variables=m.n_cols, n_constraints=m.n_rows, n_integer=m.n_integer,
        shortage_units_before=int(roles.gap.sum()),
        unmet_shortage_units=int(np.maximum(lv.target - pos_after, 0)[dealer].sum()),
        units_moved=int(q.sum()),
        below_target_units_at_sources=int(np.maximum(shipped - roles.surplus, 0).sum()),
        transport_cost=float(out["cost"].sum()), shortage_cost_before=float(cost_before.sum()),
        shortage_cost_after=cost_after, time_limit=cfg.time_limit, mip_gap=cfg.mip_gap,
        message=ans.note,
        backorder_days_avoided=float(out["backorder_days_avoided"].sum()) if backorders else math.nan,
        value_avoided=float(out["value_avoided"].sum()) if backorders else math.nan,
        pricing=price.mode, window_days=cfg.window, currency=cfg.currency)
    return TransferPlan(transfers=out, report=report, warehouse_id=warehouse_id, _model=solved)


def _transfer_table(q: np.ndarray, lane: np.ndarray, srow: np.ndarray, rrow: np.ndarray,
                    bd: np.ndarray, value: np.ndarray, lv: _Levels, roles: _Roles, ln: _Lanes,
                    cfg: _Settings, price: _Pricing, names: _Names, shipped: np.ndarray,
                    warehouse_id: str) -> pd.DataFrame:
    """The transfers DataFrame: ids, names, dates, costs, what each move buys and the
    reasons, all column-wise."""
    # the lane's shipment cost shared among its parts by units
    lane_units = np.bincount(lane, weights=q, minlength=ln.from_id.size)
    cost = np.round(q * ln.cpu[lane] + ln.fix[lane] * q / np.maximum(lane_units[lane], 1), 2)
    lead = np.ceil(ln.lead[lane] - 1e-9).astype(np.int64)  # whole days, rounded up
    urgent = (lv.on_hand[rrow] == 0) | (2 * lv.pos[rrow] <= lv.target[rrow])
    ship_by = cfg.as_of + pd.to_timedelta(np.where(urgent, cfg.uhd, cfg.hd), unit="D")
    from_id, to_id = lv.loc[srow], lv.loc[rrow]
    from_name = _text_lookup(names.locs, from_id, "location_names", "location_id")
    to_name = _text_lookup(names.locs, to_id, "location_names", "location_id")
    payer = {"factory": np.full(q.size, warehouse_id, dtype=object), "receiver": to_id,
             "sender": from_id}[cfg.paid_by]
    sender, receiver = _reasons(q, cost, bd, value, lv, srow, rrow, shipped > roles.surplus,
                                _label(from_id, from_name), _label(to_id, to_name), cfg,
                                price.mode)

    def text(a: Any) -> pd.Series:
        return pd.Series(np.asarray(a, dtype=object), dtype="str")

    out = pd.DataFrame({
        "part_number": text(lv.part[rrow]),
        "description": text(_text_lookup(names.parts, lv.part[rrow], "part_names", "part_number")),
        "from_id": text(from_id), "from_name": text(from_name),
        "to_id": text(to_id), "to_name": text(to_name),
        "quantity": q.astype(np.int64),
        "ship_by": ship_by,
        "arrive_by": ship_by + pd.to_timedelta(lead, unit="D"),
        "lead_time_days": lead,
        "cost": cost,
        "currency": text(np.full(q.size, cfg.currency, dtype=object)),
        "paid_by": text(payer),
        "backorder_days_avoided": bd,
        "value_avoided": value,
        "sender_reason": sender.to_numpy(),
        "receiver_reason": receiver.to_numpy(),
        "_urgency": price.unit_value(rrow, lv.pos[rrow]),
    })
    out = out.sort_values(["ship_by", "_urgency", "to_id", "part_number", "from_id"],
                          ascending=[True, False, True, True, True], kind="stable")
    width = max(4, len(str(len(out))))
    ids = pd.Series(np.arange(1, len(out) + 1).astype(str), dtype="str").str.zfill(width)
    out.insert(0, "transfer_id", (f"TR-{cfg.as_of:%Y%m%d}-" + ids).to_numpy())
    out = out.astype({"transfer_id": "str", "sender_reason": "str", "receiver_reason": "str"})
    return out.drop(columns="_urgency").reset_index(drop=True)[list(TRANSFER_COLUMNS)]


# ---------------------------------------------------------------------------------------
# Reasons, in words
# ---------------------------------------------------------------------------------------


def _num(x: np.ndarray, decimals: int = 0) -> np.ndarray:
    """Numbers as text with thousands separators and ``decimals`` decimals, vectorised."""
    x = np.asarray(x, dtype=float)
    scaled = np.round(np.abs(x) * 10.0 ** decimals).astype(np.int64)
    whole, frac = np.divmod(scaled, 10 ** decimals)
    digits = pd.Series(whole.astype(str), dtype="str")
    # commas every three digits from the right: reverse, group, reverse back
    txt = digits.str[::-1].str.replace(r"(\d{3})", r"\1,", regex=True).str.rstrip(",").str[::-1]
    if decimals:
        txt = txt + "." + pd.Series(frac.astype(str), dtype="str").str.zfill(decimals)
    sign = np.where((x < 0) & (scaled > 0), "-", "")
    return sign.astype(object) + txt.to_numpy(dtype=object)


def _label(ids: np.ndarray, names: np.ndarray) -> np.ndarray:
    """``"<id> <name>"`` (just the id when the name is empty or the id itself)."""
    plain = (names == "") | (names == ids)
    return np.where(plain, ids, ids + " " + names)


def _reasons(q: np.ndarray, cost: np.ndarray, bd: np.ndarray, value: np.ndarray, lv: _Levels,
             srow: np.ndarray, rrow: np.ndarray, dipped: np.ndarray, from_label: np.ndarray,
             to_label: np.ndarray, cfg: _Settings, mode: str) -> tuple[pd.Series, pd.Series]:
    """Why each move is made, in plain words, once for its sender and once for its receiver.

    Every sentence starts with a letter; names are only concatenated.  Numbers are written
    as people read them: units whole, demands to one decimal, backorder-days whole from 10
    (one decimal from 1, two below), the value avoided whole from 100, freight to the cent.
    """
    cur = " " + cfg.currency

    def held(rows: np.ndarray) -> np.ndarray:
        oo = lv.on_order[rows]
        return _num(lv.on_hand[rows]) + np.where(oo > 0, " (+" + _num(oo) + " on order)", "")

    units, has_s, has_r, tgt_s, tgt_r = _num(q), held(srow), held(rrow), _num(lv.target[srow]), \
        _num(lv.target[rrow])
    freight = _num(cost, 2) + cur
    from_wh = lv.is_wh[srow]
    dip = np.where(dipped[srow] & ~from_wh, " (it needs them more than you)", "").astype(object)
    if mode == BACKORDERS:
        days = _num(cfg.window, 0 if float(cfg.window).is_integer() else 1)
        expect = lv.demand[rrow] * cfg.window
        expects = np.where(expect < 0.05, "under 0.1", _num(expect, 1))
        bd_txt = np.where(bd >= 10, _num(bd), np.where(bd >= 1, _num(bd, 1), _num(bd, 2)))
        val_txt = np.where(np.abs(value) >= 100, _num(value), _num(value, 2)) + cur
        tail = np.where(bd >= 0.005,
                        "; this avoids about " + bd_txt + " backorder-days (" + val_txt + ") for ",
                        "; this saves about " + val_txt + " of backorder costs for ") \
            + freight + " of freight"
        sender = ("you hold " + has_s + " and need " + tgt_s + " for the next " + days
                  + " days: send " + units + " to " + to_label + ", which holds " + has_r
                  + " and expects " + expects + " demands" + dip + tail)
        receiver = ("you hold " + has_r + " of your target " + tgt_r + " and expect " + expects
                    + " demands in the next " + days + " days: "
                    + np.where(from_wh, "the factory sends " + units,
                               from_label + ", which holds " + has_s + " and needs " + tgt_s
                               + ", sends " + units) + tail)
    else:
        tail = "; freight " + freight
        sender = ("you hold " + has_s + " of your target " + tgt_s + ": send " + units + " to "
                  + to_label + ", which holds " + has_r + " of its target " + tgt_r + dip + tail)
        receiver = ("you hold " + has_r + " of your target " + tgt_r + ": "
                    + np.where(from_wh, "the factory sends " + units,
                               from_label + ", which holds " + has_s + " of its target " + tgt_s
                               + ", sends " + units) + tail)
    return pd.Series(sender, dtype="str"), pd.Series(receiver, dtype="str")


# ---------------------------------------------------------------------------------------
# Per-dealer views
# ---------------------------------------------------------------------------------------


def dealer_transfer_files(transfers: pd.DataFrame, warehouse_id: str) -> dict[str, pd.DataFrame]:
    """Each dealer's own transfer table, for ``transfers/<location_id>.csv``.

    Parameters
    ----------
    transfers : pandas.DataFrame
        :attr:`TransferPlan.transfers` (columns :data:`TRANSFER_COLUMNS`).
    warehouse_id : str
        The factory warehouse, which gets no file of its own.

    Returns
    -------
    dict of str to pandas.DataFrame
        For every dealer with a move, sorted by location_id: its rows with ``direction``
        ``"send"`` (it is ``from_id``; ``reason`` is the move's ``sender_reason``) or
        ``"receive"`` (it is ``to_id``; ``receiver_reason``), columns
        :data:`DEALER_FILE_COLUMNS`, ordered by transfer_id.

    Raises
    ------
    ValueError
        When ``transfers`` lacks one of :data:`TRANSFER_COLUMNS`.
    """
    _require_columns(transfers, "transfers", TRANSFER_COLUMNS,
                     "pass TransferPlan.transfers as returned by plan_transfers")
    send = transfers.assign(direction="send", _loc=transfers["from_id"],
                            reason=transfers["sender_reason"])
    recv = transfers.assign(direction="receive", _loc=transfers["to_id"],
                            reason=transfers["receiver_reason"])
    both = pd.concat([send, recv], ignore_index=True)
    both = both[both["_loc"] != warehouse_id]
    both = both.sort_values(["_loc", "transfer_id", "direction"], kind="stable")
    cols = list(DEALER_FILE_COLUMNS)
    both = both.astype({"direction": "str", "reason": "str"})
    return {str(loc): g[cols].reset_index(drop=True)
            for loc, g in both.groupby("_loc", sort=True)}
