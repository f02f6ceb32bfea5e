"""Stock transfers between the factory warehouse and the dealers (an LP/MILP built with pulp).

Given what sits where today (on hand and on order) and the target (base-stock) level of every
(location, part), :func:`plan_transfers` finds the moves -- factory -> dealer and
dealer -> dealer, only along lanes that exist -- that close the dealers' gaps at least cost,
and :func:`dealer_transfer_files` cuts the plan into one table per dealer for
``transfers/<location_id>.csv``.

The model
---------
Per part, stock flows from *sources* to *receivers* along lanes:

* **receivers** are dealers whose inventory position ``on_hand + on_order`` is below target;
  their gap is ``target - position``;
* **sources** are the factory warehouse and the dealers whose position is above target, and
  only stock *on hand* can be shipped (on-order stock counts toward a position but is not
  on a shelf yet).  A source ships its surplus ``position - target`` freely; every unit it
  ships beyond that takes it below its own target and is charged as a shortage at the source,
  so a source dips below target only when the receiver's shortage costs more (see the
  fairness rule below) than the source's own plus the freight;
* nothing flows into the warehouse and receivers do not pass stock on, so there are no
  chains.

The objective is freight (``cost_per_unit`` per unit; with ``use_fixed_costs`` also
``cost_per_shipment`` per lane used, one shipment carrying all parts on that lane) plus the
shortage penalty of every location after the moves.  Without fixed costs the constraint
matrix is the incidence matrix of a bipartite graph (source rows x receiver rows) plus unit
columns for the shortage segments, hence totally unimodular: with integer data every vertex
of the LP is integral and the simplex answer is a whole-unit plan (checked on every solve).
With fixed costs the model is a MILP with one binary per lane and integer quantities.

Fairness rule (urgency)
-----------------------
Each unit short at a location costs more the deeper the location already is below target.
With ``w`` the location's shortage cost per unit, ``T`` its target and ``phi`` the
``fairness`` setting, the ``k``-th unit short costs::

    w * (1 + phi * k / T)        k = 1, 2, ... units below target

so the marginal value of delivering one more unit to a dealer that is ``s`` units short is
its *urgency* ``w * (1 + phi * s / T)``.  Scarce stock therefore goes to the highest urgency
net of freight, one unit at a time:

* two dealers with the same ``w`` and target and the same freight get equal shares (to one
  unit) -- in general equally weighted dealers are brought to equal *fill fractions*
  ``position / target``;
* a dealer whose ``w`` is at least ``1 + phi`` times another's is served completely first
  (its least urgent unit still beats the other's most urgent one); smaller weight ratios
  trade off against the fill-fraction gap.

``w`` is the ``shortage_cost`` column of ``levels`` when given, else
``tier_weight[tier] * (shortage_base_cost + shortage_cost_rate * unit_cost)`` with tier
weights ``{1: 2.0, 2: 1.5, 3: 1.25, 4: 1.0}`` by default (a stock-out idles more machines at a
large provincial-capital dealer than at a township one) and ``warehouse_weight`` for the
factory.

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
from partsforecast.solvers import highs_solver_class

__all__ = [
    "TransferReport",
    "TransferPlan",
    "plan_transfers",
    "dealer_transfer_files",
    "TRANSFER_COLUMNS",
    "DEALER_FILE_COLUMNS",
    "DEFAULT_TIER_WEIGHTS",
]

#: Columns of :attr:`TransferPlan.transfers`, in order.
TRANSFER_COLUMNS = ("transfer_id", "part_number", "from_id", "to_id", "quantity", "ship_by",
                    "lead_time_days", "cost", "reason")
#: Columns of each table of :func:`dealer_transfer_files` (``transfers/<location_id>.csv``).
DEALER_FILE_COLUMNS = ("transfer_id", "direction", "part_number", "from_id", "to_id",
                       "quantity", "ship_by", "lead_time_days", "cost", "reason")
#: Shortage weight per dealer tier (1 = provincial capital ... 4 = county/township).
DEFAULT_TIER_WEIGHTS: Mapping[int, float] = {1: 2.0, 2: 1.5, 3: 1.25, 4: 1.0}

# Shortage is priced in unit-wide segments (exact fairness to one unit); a gap larger than
# this is cut into this many integer-wide segments instead, so a huge target cannot blow up
# the model (fairness then holds to one segment width).
_MAX_SEGMENTS = 50
# A solved LP value this far from an integer means the total-unimodularity argument failed.
_INT_TOL = 1e-6
# Load the model into HiGHS from its arrays (True) or through pulp's per-column HiGHS API.
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
        Freight (+ fixed costs when used) + shortage penalty of the returned plan, including
        the penalty of gaps no lane can reach.  NaN when not solved.
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
        Units dealers are below target before / after the moves.
    units_moved : int
        Units in all transfers.
    below_target_units_at_sources : int
        Units sources ship out of their own target stock (see the fairness rule).
    transport_cost : float
        Sum of the ``cost`` column of the transfers.
    shortage_cost_before, shortage_cost_after : float
        Shortage penalty (fairness-weighted) of all locations before and after the moves.
    time_limit, mip_gap : float
        The limits the solver was given.
    message : str
        Notes (solver fallback, why the model was not solved, ...).
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

    def __str__(self) -> str:
        gap = "n/a" if math.isnan(self.gap) else f"{self.gap:.2%}"
        return (
            f"transfers: {self.status} ({self.solver}: {self.solver_status}, gap {gap}); "
            f"{self.units_moved} units moved, shortage {self.shortage_units_before} -> "
            f"{self.unmet_shortage_units} units; objective {self.objective:,.2f}; "
            f"model {self.n_variables} vars ({self.n_integer} integer) x "
            f"{self.n_constraints} rows, build {self.build_seconds:.2f}s, "
            f"solve {self.solve_seconds:.2f}s"
            + (f"; {self.message}" if self.message else "")
        )

    def _facts(self) -> dict:
        return {"status": self.status, "gap": self.gap, "units_moved": self.units_moved,
                "shortage_before": self.shortage_units_before, "shortage_after": self.unmet_shortage_units,
                "transport_cost": self.transport_cost, "solver": f"{self.solver}: {self.solver_status}"}

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
        ``plan.problem.writeLP("transfers.lp")`` to inspect it).
    """

    transfers: pd.DataFrame
    report: TransferReport
    warehouse_id: str = ""
    problem: pulp.LpProblem | None = field(default=None, repr=False)

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
    s = frame[col]
    bad = s.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        _fail(f"{table}.{col} is missing in {int(bad.sum())} row(s), e.g. row "
              f"{frame.index[i]!r}: give every row an identifier")
    return s.astype(str).to_numpy(dtype=object)


def _numbers(frame: pd.DataFrame, table: str, col: str, *, whole: bool, what: str,
             keys: np.ndarray | None = None) -> np.ndarray:
    """A non-negative finite (whole) numeric column, or ValueError naming the first bad row."""
    raw = frame[col]
    vals = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)

    def where(mask: np.ndarray) -> str:
        i = int(np.flatnonzero(mask)[0])
        key = f" ({keys[i]})" if keys is not None else ""
        return f"{int(mask.sum())} row(s), e.g. row {frame.index[i]!r}{key} = {raw.iloc[i]!r}"

    bad = ~np.isfinite(vals)
    if bad.any():
        _fail(f"{table}.{col} is missing or not a number in {where(bad)}: {what}")
    bad = vals < 0
    if bad.any():
        _fail(f"{table}.{col} is negative in {where(bad)}: {what} cannot be negative; "
              f"fix the source table")
    if whole:
        bad = vals != np.round(vals)
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


def _series_lookup(series: Any, keys: np.ndarray, name: str, index_name: str,
                   hint: str) -> np.ndarray:
    if not isinstance(series, pd.Series):
        _fail(f"{name} must be a pandas Series indexed by {index_name}, "
              f"got {type(series).__name__}")
    s = series.copy()
    s.index = s.index.astype(str)
    if s.index.has_duplicates:
        dup = s.index[s.index.duplicated()][0]
        _fail(f"{name} has duplicate {index_name} {dup!r}: give one value per {index_name}")
    uniq = np.unique(keys)
    missing = pd.Index(uniq).difference(s.index)
    if len(missing):
        _fail(f"{name} has no value for {index_name} {list(missing[:5])}"
              f"{' ...' if len(missing) > 5 else ''} ({len(missing)} missing); {hint}")
    return s.reindex(keys).to_numpy()


# ---------------------------------------------------------------------------------------
# Model building blocks (all vectorised)
# ---------------------------------------------------------------------------------------


def _segments(owner: np.ndarray, n_units: np.ndarray, offset: np.ndarray, w: np.ndarray,
              target: np.ndarray, phi: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shortage segments of each owner: (owner of each segment, width, cost per unit).

    Owner ``o`` can be short by up to ``n_units[o]`` more units on top of ``offset[o]``
    units already short; the ``k``-th unit short costs ``w (1 + phi k / T)``.  Segments are
    one unit wide unless an owner has more than ``_MAX_SEGMENTS`` units, which are then
    cut into ``_MAX_SEGMENTS`` near-equal integer widths priced at their middle unit.
    """
    n_seg = np.minimum(n_units, _MAX_SEGMENTS)
    seg_owner = np.repeat(owner, n_seg)
    idx = np.repeat(np.arange(owner.size), n_seg)
    first = np.cumsum(n_seg) - n_seg
    k = np.arange(seg_owner.size) - first[idx]  # 0-based segment number within its owner
    base, rem = np.divmod(n_units, np.maximum(n_seg, 1))
    width = base[idx] + (k < rem[idx])
    # units before this segment: k full widths, plus one for each earlier wider segment
    lo = k * base[idx] + np.minimum(k, rem[idx])
    mid = offset[idx] + lo + (width + 1) / 2.0
    cost = w[idx] * (1.0 + phi * mid / target[idx])
    return seg_owner, width.astype(np.int64), cost


def _penalty(w: np.ndarray, target: np.ndarray, short_from: np.ndarray,
             short_to: np.ndarray, phi: float) -> np.ndarray:
    """Exact penalty of going from ``short_from`` to ``short_to`` units short (to >= from)."""
    a, b = short_from.astype(float), short_to.astype(float)
    n = b - a
    # sum_{k=a+1}^{b} (1 + phi k / T) = n + phi (b(b+1) - a(a+1)) / (2T)
    with np.errstate(divide="ignore", invalid="ignore"):
        tri = np.where(target > 0, (b * (b + 1) - a * (a + 1)) / (2.0 * target), 0.0)
    return w * (n + phi * tri)


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
class _Model:
    """The transfer model as arrays; columns are ``x`` arcs | shortage segments | ``y`` lanes.

    Rows: one per receiver (``sum x_in + sum u = gap``), one per source
    (``sum x_out - sum v <= free``), and with fixed costs one link per lane
    (``sum_p x - M y <= 0``).
    """

    cost: np.ndarray  # objective coefficient per column
    upper: np.ndarray  # column upper bounds (inf = none); all lower bounds are 0
    integer: np.ndarray  # bool per column
    a_col: np.ndarray  # CSR: column index per non-zero, row by row
    a_val: np.ndarray
    a_ptr: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    n_x: int
    n_seg: int
    n_y: int
    r_use: np.ndarray  # levels rows that are receivers in the model
    s_use: np.ndarray  # levels rows that are sources in the model

    @property
    def n_cols(self) -> int:
        return self.cost.size

    @property
    def n_rows(self) -> int:
        return self.row_lower.size

    @property
    def n_integer(self) -> int:
        return int(self.integer.sum())


def _model_arrays(a_lane: np.ndarray, a_src: np.ndarray, a_rcv: np.ndarray, *,
                  gap: np.ndarray, free: np.ndarray, dip: np.ndarray, short0: np.ndarray,
                  on_hand: np.ndarray, target: np.ndarray, w: np.ndarray, phi: float,
                  ln_cpu: np.ndarray, ln_fix: np.ndarray) -> _Model:
    """Columns, rows and coefficients of the transfer LP/MILP, all vectorised."""
    n_x = a_lane.size
    a_ub = np.minimum(on_hand[a_src], gap[a_rcv]).astype(float)
    r_use, s_use = np.unique(a_rcv), np.unique(a_src)
    n_r, n_s = r_use.size, s_use.size

    # A source's k-th unit below its own target is worth shipping only while its penalty is
    # below the best a receiver could pay for it (top urgency minus freight); the segments
    # beyond can never be in an optimal plan, so they are not generated.
    with np.errstate(divide="ignore", invalid="ignore"):
        top = w[a_rcv] * (1.0 + phi * gap[a_rcv] / target[a_rcv]) - ln_cpu[a_lane]
    best = np.full(w.size, -np.inf)
    np.maximum.at(best, a_src, top)
    s_dip = s_use[dip[s_use] > 0]
    ws, ts, bs = w[s_dip], target[s_dip].astype(float), best[s_dip]
    with np.errstate(divide="ignore", invalid="ignore"):
        if phi > 0:
            # k-th dip unit costs ws (1 + phi (short0 + k) / T) < bs  <=>  k < k_max
            k_max = ((bs / ws - 1.0) / phi) * ts - short0[s_dip]
            useful = np.where(ws > 0, np.ceil(k_max) - 1, dip[s_dip])
        else:
            useful = np.where(ws < bs, dip[s_dip], 0)
    useful = np.clip(np.nan_to_num(useful, nan=0.0, posinf=0.0, neginf=0.0), 0,
                     dip[s_dip]).astype(np.int64)
    s_dip, useful = s_dip[useful > 0], useful[useful > 0]

    ru_owner, ru_width, ru_cost = _segments(r_use, gap[r_use], np.zeros(n_r, np.int64),
                                            w[r_use], target[r_use], phi)
    sv_owner, sv_width, sv_cost = _segments(s_dip, useful, short0[s_dip], w[s_dip],
                                            target[s_dip], phi)
    n_u, n_v = ru_owner.size, sv_owner.size

    fixed_lanes = np.unique(a_lane[ln_fix[a_lane] > 0])
    n_y = fixed_lanes.size
    cx = np.arange(n_x)
    cu = n_x + np.arange(n_u)
    cv = n_x + n_u + np.arange(n_v)
    cy = n_x + n_u + n_v + np.arange(n_y)
    rows = [np.searchsorted(r_use, a_rcv), n_r + np.searchsorted(s_use, a_src),
            np.searchsorted(r_use, ru_owner), n_r + np.searchsorted(s_use, sv_owner)]
    cols = [cx, cx, cu, cv]
    vals = [np.ones(n_x), np.ones(n_x), np.ones(n_u), -np.ones(n_v)]
    row_lower = [gap[r_use].astype(float), np.full(n_s, -np.inf)]
    row_upper = [gap[r_use].astype(float), free[s_use].astype(float)]
    if n_y:
        y_of_lane = np.full(ln_fix.size, -1, dtype=np.int64)
        y_of_lane[fixed_lanes] = np.arange(n_y)
        arc_y = y_of_lane[a_lane]
        on = np.flatnonzero(arc_y >= 0)
        # sum over the lane's parts x <= M y, M = the most the lane can carry.  (Linking
        # each arc instead, x <= ub y, gives a tighter relaxation but on the 200 x 200
        # benchmark HiGHS did not finish its root LP in 40 s; this form reached a ~50 % gap.)
        big_m = np.bincount(arc_y[on], weights=a_ub[on], minlength=n_y)
        rows += [n_r + n_s + arc_y[on], n_r + n_s + np.arange(n_y)]
        cols += [cx[on], cy]
        vals += [np.ones(on.size), -big_m]
        n_link = n_y
        row_lower.append(np.full(n_link, -np.inf))
        row_upper.append(np.zeros(n_link))
    row_lower_a, row_upper_a = np.concatenate(row_lower), np.concatenate(row_upper)
    a_col, a_val, a_ptr = _csr(np.concatenate(rows), np.concatenate(cols),
                               np.concatenate(vals), row_lower_a.size)
    cost = np.concatenate([ln_cpu[a_lane], ru_cost, sv_cost, ln_fix[fixed_lanes]])
    upper = np.concatenate([a_ub, ru_width, sv_width, np.ones(n_y)]).astype(float)
    integer = np.zeros(cost.size, dtype=bool)
    if n_y:
        integer[cx] = True  # fixed costs break total unimodularity
        integer[cy] = True
    return _Model(cost=cost, upper=upper, integer=integer, a_col=a_col, a_val=a_val,
                  a_ptr=a_ptr, row_lower=row_lower_a, row_upper=row_upper_a, n_x=n_x,
                  n_seg=n_u + n_v, n_y=n_y, r_use=r_use, s_use=s_use)


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
# Loading the model into HiGHS in bulk
# ---------------------------------------------------------------------------------------


def _highs_lp(m: _Model):
    """``m`` as a ``highspy.HighsLp``, passed to HiGHS in one call."""
    import highspy

    lp = highspy.HighsLp()
    lp.num_col_ = m.n_cols
    lp.num_row_ = m.n_rows
    lp.col_cost_ = m.cost
    lp.col_lower_ = np.zeros(m.n_cols)
    lp.col_upper_ = np.where(np.isinf(m.upper), highspy.kHighsInf, m.upper)
    lp.row_lower_ = np.where(np.isinf(m.row_lower), -highspy.kHighsInf, m.row_lower)
    lp.row_upper_ = m.row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = m.n_cols
    lp.a_matrix_.num_row_ = m.n_rows
    lp.a_matrix_.start_ = m.a_ptr.astype(np.int32)
    lp.a_matrix_.index_ = m.a_col.astype(np.int32)
    lp.a_matrix_.value_ = m.a_val
    if m.n_integer:
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else
                           highspy.HighsVarType.kContinuous for i in m.integer.tolist()]
    return lp


class _ArrayHiGHS(highs_solver_class()):
    """pulp's HiGHS solver, loading the model from the arrays it was built from.

    pulp's own ``HiGHS.buildSolverModel`` adds columns and rows one call at a time and
    re-collects the problem's variables from every constraint several times per solve;
    on the 200 x 200 benchmark that costs more than HiGHS itself.  The pulp problem is the
    same (it was built from these arrays), so the values are written back to its
    variables and its status set, exactly as pulp would.
    """

    def __init__(self, model: _Model, variables: list, **kwargs: Any):
        super().__init__(**kwargs)
        self._model = model
        self._variables = variables

    def actualSolve(self, lp: pulp.LpProblem, **kwargs: Any) -> int:  # noqa: N802 (pulp API)
        self.createAndConfigureSolver(lp)
        lp.solverModel.passModel(_highs_lp(self._model))
        self.callSolver(lp)
        values = np.asarray(lp.solverModel.getSolution().col_value, dtype=float)
        for v, x in zip(self._variables, values.tolist()):
            v.varValue = x
        status = solvers.read_highs(lp).status
        pulp_status = {solvers.OPTIMAL: pulp.LpStatusOptimal, solvers.FEASIBLE: pulp.LpStatusOptimal,
                       solvers.INFEASIBLE: pulp.LpStatusInfeasible}.get(status, pulp.LpStatusNotSolved)
        sol_status = {solvers.OPTIMAL: pulp.LpSolutionOptimal,
                      solvers.FEASIBLE: pulp.LpSolutionIntegerFeasible,
                      solvers.INFEASIBLE: pulp.LpSolutionInfeasible}.get(
            status, pulp.LpSolutionNoSolutionFound)
        lp.assignStatus(pulp_status, sol_status)
        return pulp_status


# ---------------------------------------------------------------------------------------
# The planner
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    """The scalar settings of :func:`plan_transfers`, checked."""

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
    """The levels rows in canonical (part, location) order, with each row's shortage cost."""

    loc: np.ndarray
    part: np.ndarray
    target: np.ndarray
    on_hand: np.ndarray
    on_order: np.ndarray
    given_w: np.ndarray | None  # the shortage_cost column, when given
    is_wh: np.ndarray
    tier: np.ndarray | None = None  # dealer tier (0 for the warehouse and without tiers)
    w: np.ndarray | None = None  # shortage cost per unit

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
    free: np.ndarray  # units a source ships without going below its target
    dip: np.ndarray  # units a source can ship from below its target
    short0: np.ndarray  # units short before any move (all locations)


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
    unit_cost: pd.Series | None = None,
    tier_weights: Mapping[int, float] | None = None,
    warehouse_weight: float = 1.0,
    shortage_cost_rate: float = 1.0,
    shortage_base_cost: float = 100.0,
    fairness: float = 0.5,
    use_fixed_costs: bool = True,
    handling_days: int = 2,
    urgent_handling_days: int = 1,
    solver: str = "highs",
    time_limit: float = 60.0,
    mip_gap: float = 1e-4,
    msg: bool = False,
    max_milp_integers: int = MAX_MILP_INTEGERS,
) -> TransferPlan:
    """The least-cost moves that bring dealers up to their target stock.

    See the module docstring for the model, the fairness rule and the status reporting.

    Parameters
    ----------
    levels : pandas.DataFrame
        One row per (location_id, part_number) with ``target`` (base-stock level),
        ``on_hand`` and optionally ``on_order`` (default 0) -- whole numbers >= 0 -- and
        optionally ``shortage_cost`` (cost per unit below target, >= 0; overrides the tier
        rule).  Rows of the warehouse give its stock and target; a (location, part) without
        a row has nothing and needs nothing.  Extra columns are ignored.
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
        ``locations.set_index("location_id")["tier"]``.  Without it every dealer weighs 1.
    unit_cost : pandas.Series, optional
        Unit cost indexed by part_number (e.g. ``parts.set_index("part_number")
        ["unit_cost"]``); without it every part costs 1.
    tier_weights : mapping, optional
        Shortage weight per tier; default :data:`DEFAULT_TIER_WEIGHTS`.
    warehouse_weight : float
        Shortage weight of the warehouse going below its own target.
    shortage_cost_rate, shortage_base_cost : float
        Shortage cost per unit below target before weighting:
        ``shortage_base_cost + shortage_cost_rate * unit_cost``.
    fairness : float
        ``phi`` of the fairness rule; 0 makes the shortage cost linear (no equalising).
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
        below target with no lane into it, missing tiers or unit costs, bad settings.

    Notes
    -----
    ``transfer_id`` is ``TR-<as_of yyyymmdd>-<nnnn>`` numbered by ship_by, then urgency (the
    receiver's ``w (1 + phi s / T)`` before the moves), then to_id, part_number, from_id; the
    input row order does not matter, so the same input always gives the same table.
    ``cost`` is ``quantity * cost_per_unit`` plus the lane's ``cost_per_shipment`` shared
    among the parts on that shipment in proportion to units.

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
    cfg = _settings(warehouse_id, as_of, tier_weights=tier_weights, warehouse_weight=warehouse_weight,
                    shortage_cost_rate=shortage_cost_rate, shortage_base_cost=shortage_base_cost,
                    fairness=fairness, use_fixed_costs=use_fixed_costs, handling_days=handling_days,
                    urgent_handling_days=urgent_handling_days, solver=solver, time_limit=time_limit,
                    mip_gap=mip_gap, msg=msg, max_milp_integers=max_milp_integers)
    ln = _read_lanes(lanes)
    lv = _read_levels(levels, ln, warehouse_id, tiers)
    lv.tier, lv.w = _shortage_costs(lv, tiers, unit_cost, cfg)
    roles = _roles(lv, ln, warehouse_id)
    a_lane, a_src, a_rcv = _arcs(lv, roles, ln, warehouse_id)
    m, too_big = _model(a_lane, a_src, a_rcv, lv, roles, ln, cfg)
    prob, variables = _pulp_problem(m)
    build_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    ans = _solve(prob, variables, m, cfg, too_big)
    return _read_back(ans, m, a_lane, a_src, a_rcv, lv, roles, ln, cfg, too_big=too_big, build_s=build_s,
                      t1=t1, tiers_given=tiers is not None, warehouse_id=warehouse_id, prob=prob)


def _settings(warehouse_id: Any, as_of: Any, *, tier_weights, warehouse_weight, shortage_cost_rate,
              shortage_base_cost, fairness, use_fixed_costs, handling_days, urgent_handling_days, solver,
              time_limit, mip_gap, msg, max_milp_integers) -> _Settings:
    """Chapter "settings": every scalar checked, the planning date read."""
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
    if not isinstance(warehouse_id, str) or not warehouse_id:
        _fail(f"warehouse_id must be a non-empty string, got {warehouse_id!r}")
    try:
        as_of_ts = pd.Timestamp(as_of).normalize()
    except (TypeError, ValueError):
        as_of_ts = pd.NaT
    if pd.isna(as_of_ts):
        _fail(f"as_of must be a date (e.g. '2026-07-01'), got {as_of!r}")
    weights = dict(DEFAULT_TIER_WEIGHTS if tier_weights is None else tier_weights)
    for t, v in weights.items():
        _check_scalar(f"tier_weights[{t!r}]", v, 0.0)
    return _Settings(phi=phi, rate=rate, base_cost=base_cost, wh_weight=wh_weight, time_limit=time_limit,
                     mip_gap=mip_gap, max_milp_integers=max_milp_integers, hd=hd, uhd=uhd, solver=solver_key,
                     as_of=as_of_ts, weights=weights, use_fixed_costs=use_fixed_costs, msg=msg)


def _read_lanes(lanes: pd.DataFrame) -> _Lanes:
    """Chapter "lanes": columns checked, no duplicate lane, no loop."""
    _require_columns(lanes, "lanes", ("from_id", "to_id", "lead_time_days", "cost_per_unit"),
                     "lanes need from_id, to_id, lead_time_days, cost_per_unit "
                     "(cost_per_shipment optional)")
    ln_from = _ids(lanes, "lanes", "from_id")
    ln_to = _ids(lanes, "lanes", "to_id")
    ln_keys = ln_from + "->" + ln_to
    ln_lead = _numbers(lanes, "lanes", "lead_time_days", whole=False, what="a lead time",
                       keys=ln_keys)
    ln_cpu = _numbers(lanes, "lanes", "cost_per_unit", whole=False, what="a freight cost",
                      keys=ln_keys)
    if "cost_per_shipment" in lanes.columns:
        cps = lanes["cost_per_shipment"]
        ln_fix = _numbers(lanes.assign(cost_per_shipment=cps.fillna(0.0)), "lanes",
                          "cost_per_shipment", whole=False, what="a shipment cost",
                          keys=ln_keys)
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
                     "(on_order, shortage_cost optional)")
    lv_loc = _ids(levels, "levels", "location_id")
    lv_part = _ids(levels, "levels", "part_number")
    keys = lv_loc + "/" + lv_part
    target = _numbers(levels, "levels", "target", whole=True, what="a target stock level",
                      keys=keys)
    on_hand = _numbers(levels, "levels", "on_hand", whole=True, what="stock on hand",
                       keys=keys)
    on_order = (_numbers(levels, "levels", "on_order", whole=True, what="stock on order",
                         keys=keys) if "on_order" in levels.columns else np.zeros(len(levels)))
    given_w = (_numbers(levels, "levels", "shortage_cost", whole=False,
                        what="a shortage cost per unit", keys=keys)
               if "shortage_cost" in levels.columns else None)
    dup = pd.Series(keys).duplicated().to_numpy()
    if dup.any():
        _fail(f"levels has {int(dup.sum())} duplicate (location_id, part_number) row(s), e.g. "
              f"{keys[dup][0]}: give one row per pair (sum the stock first)")
    known = pd.Index(np.concatenate([ln.from_id, ln.to_id, [warehouse_id]])).unique()
    if tiers is not None and isinstance(tiers, pd.Series):
        known = known.union(tiers.index.astype(str))
    unknown = ~pd.Index(lv_loc).isin(known)
    if unknown.any():
        bad = pd.unique(lv_loc[unknown])
        _fail(f"levels.location_id has {len(bad)} unknown location(s) {list(bad[:5])}: each "
              f"must be the warehouse {warehouse_id!r} or a dealer on some lane; fix the id "
              f"or add its lanes")
    if not (lv_loc == warehouse_id).any() and not (ln.from_id == warehouse_id).any():
        _fail(f"warehouse_id {warehouse_id!r} appears neither in levels.location_id nor in "
              f"lanes.from_id: check the warehouse id")
    order = np.lexsort((lv_loc, lv_part))
    lv_loc = lv_loc[order]
    return _Levels(loc=lv_loc, part=lv_part[order], target=target[order].astype(np.int64),
                   on_hand=on_hand[order].astype(np.int64), on_order=on_order[order].astype(np.int64),
                   given_w=None if given_w is None else given_w[order], is_wh=lv_loc == warehouse_id)


def _shortage_costs(lv: _Levels, tiers: Any, unit_cost: Any, cfg: _Settings) -> tuple[np.ndarray, np.ndarray]:
    """Chapter "levels", continued: each row's tier and shortage cost per unit ``w``
    (the given ``shortage_cost``, else tier weight x (base cost + rate x unit cost))."""
    is_wh = lv.is_wh
    if tiers is not None:
        dealer_locs = lv.loc[~is_wh]
        tier_vals = np.zeros(len(lv.loc), dtype=np.int64)
        tv = _series_lookup(tiers, dealer_locs, "tiers", "location_id",
                            "give every dealer in levels a tier (locations.tier)")
        tv = pd.to_numeric(pd.Series(tv), errors="coerce").to_numpy(dtype=float,
                                                                     na_value=np.nan)
        if not np.isfinite(tv).all():
            i = int(np.flatnonzero(~np.isfinite(tv))[0])
            _fail(f"tiers has no usable tier for dealer {dealer_locs[i]!r}: give tiers 1-4")
        tier_vals[~is_wh] = tv.astype(np.int64)
        unknown_t = sorted(set(np.unique(tier_vals[~is_wh]).tolist()) - set(cfg.weights))
        if unknown_t:
            _fail(f"tiers has tier(s) {unknown_t} with no entry in tier_weights "
                  f"{sorted(cfg.weights)}: add their weights")
        tw = pd.Series(cfg.weights, dtype=float)
        weight = np.where(is_wh, cfg.wh_weight, tw.reindex(tier_vals).to_numpy())
    else:
        tier_vals = np.zeros(len(lv.loc), dtype=np.int64)
        weight = np.where(is_wh, cfg.wh_weight, 1.0)
    if lv.given_w is not None:
        return tier_vals, lv.given_w
    if unit_cost is not None:
        uc = pd.to_numeric(pd.Series(_series_lookup(
            unit_cost, lv.part, "unit_cost", "part_number",
            "give every part in levels a unit cost (parts.unit_cost)")),
            errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if not (np.isfinite(uc) & (uc >= 0)).all():
            i = int(np.flatnonzero(~(np.isfinite(uc) & (uc >= 0)))[0])
            _fail(f"unit_cost of part {lv.part[i]!r} is {uc[i]!r}: give a cost >= 0")
    else:
        uc = np.ones(len(lv.loc))
    return tier_vals, weight * (cfg.base_cost + cfg.rate * uc)


def _roles(lv: _Levels, ln: _Lanes, warehouse_id: str) -> _Roles:
    """Chapter "roles": receivers (dealers below target) and sources (the warehouse, dealers
    above target, with stock on hand); every receiver must have a lane into it."""
    is_wh, target, on_hand, pos = lv.is_wh, lv.target, lv.on_hand, lv.pos
    gap = np.where(~is_wh, np.maximum(target - pos, 0), 0)
    recv = gap > 0
    src = (on_hand > 0) & (is_wh | (pos > target))
    free = np.where(src, np.clip(np.minimum(on_hand, pos - target), 0, None), 0)
    dip = np.where(src, on_hand - free, 0)  # units a source can ship from below its target
    short0 = np.maximum(target - pos, 0)  # units short before any move (all locations)

    # needy dealers must be reachable by some lane (from anywhere, stock or not)
    has_in = pd.Index(lv.loc).isin(pd.Index(ln.to_id[ln.from_id != ln.to_id]))
    stranded = recv & ~has_in
    if stranded.any():
        i = int(np.flatnonzero(stranded)[0])
        bad = pd.unique(lv.loc[stranded])
        _fail(f"levels: dealer(s) {list(bad[:5])} are below target (e.g. {lv.part[i]}: "
              f"position {pos[i]} of target {target[i]} at {lv.loc[i]}) but lanes has no lane "
              f"into them; add a lane (e.g. {warehouse_id} -> {lv.loc[i]}) or drop their rows")
    return _Roles(gap=gap, recv=recv, src=src, free=free, dip=dip, short0=short0)


def _arcs(lv: _Levels, roles: _Roles, ln: _Lanes,
          warehouse_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chapter "arcs": the (lane, part) pairs from a source to a receiver of the same part,
    as (lane, source row, receiver row) arrays sorted by part, receiver, source."""
    locs = pd.Index(np.unique(np.concatenate([lv.loc, ln.from_id, ln.to_id])))
    loc_code = locs.get_indexer(lv.loc)
    part_codes, _ = pd.factorize(lv.part, sort=True)
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


def _model(a_lane: np.ndarray, a_src: np.ndarray, a_rcv: np.ndarray, lv: _Levels, roles: _Roles,
           ln: _Lanes, cfg: _Settings) -> tuple[_Model, str]:
    """The model's arrays: the fixed-cost MILP when asked for and within
    ``max_milp_integers``, else the freight LP (with the reason in the second item)."""

    def arrays(fixed: np.ndarray) -> _Model:
        return _model_arrays(a_lane, a_src, a_rcv, gap=roles.gap, free=roles.free, dip=roles.dip,
                             short0=roles.short0, on_hand=lv.on_hand, target=lv.target, w=lv.w,
                             phi=cfg.phi, ln_cpu=ln.cpu, ln_fix=fixed)

    m = arrays(ln.fix if cfg.use_fixed_costs else np.zeros_like(ln.fix))
    if m.n_integer <= cfg.max_milp_integers:
        return m, ""
    too_big = (f"shipment costs not optimised: the fixed-cost MILP would have "
               f"{m.n_integer:,} integer variables (max_milp_integers = "
               f"{cfg.max_milp_integers:,}), so the freight LP was solved and the "
               f"shipment costs of the lanes it uses added")
    return arrays(np.zeros_like(ln.fix)), too_big


def _solve(prob: pulp.LpProblem, variables: list, m: _Model, cfg: _Settings, too_big: str) -> _Answer:
    """Chapter "solve": through :func:`partsforecast.solvers.solve` (the model is feasible by
    construction: moving nothing is a plan), HiGHS loading the model from its arrays."""
    if not variables:
        name, fallback = solvers.choose_solver(cfg.solver)
        return _Answer(solvers.OPTIMAL, 0.0, name, "nothing to move", np.zeros(0),
                       "; ".join(filter(None, [too_big, fallback])))
    factory = (lambda **kw: _ArrayHiGHS(m, variables, **kw)) if _BULK_HIGHS else None
    out = solvers.solve(prob, cfg.solver, time_limit=cfg.time_limit, mip_gap=cfg.mip_gap, msg=cfg.msg,
                        always_feasible=True, highs_factory=factory)
    note = "; ".join(filter(None, [too_big, out.note]))
    if out.has_solution:
        values = np.array([np.nan if v.varValue is None else v.varValue for v in variables], dtype=float)
        values = np.nan_to_num(values)
    else:
        values = np.zeros(len(variables))
        note = "; ".join(filter(None, [note, "no plan: the solver found no solution"]))
    return _Answer(out.status, out.gap, out.solver, out.solver_status, values, note)


def _read_back(ans: _Answer, m: _Model, a_lane: np.ndarray, a_src: np.ndarray, a_rcv: np.ndarray,
               lv: _Levels, roles: _Roles, ln: _Lanes, cfg: _Settings, *, too_big: str, build_s: float,
               t1: float, tiers_given: bool, warehouse_id: str, prob: pulp.LpProblem) -> TransferPlan:
    """Chapter "read the answer back": whole-unit moves, the transfers table, the penalties
    before and after, the objective and the report."""
    n_x = a_lane.size
    xq = ans.values[:n_x]
    viol = float(np.abs(xq - np.round(xq)).max()) if n_x else 0.0
    if viol > _INT_TOL:
        raise RuntimeError(
            f"the transfer solution is not whole units (max deviation {viol:.3g}); the "
            f"{'MILP' if m.n_integer else 'LP (totally unimodular)'} should never do this -- "
            f"please report it with the input")
    q = np.round(xq).astype(np.int64)
    nrow = len(lv.loc)
    received = np.bincount(a_rcv, weights=q, minlength=nrow).astype(np.int64)
    shipped = np.bincount(a_src, weights=q, minlength=nrow).astype(np.int64)
    w, target, phi, free, short0 = lv.w, lv.target, cfg.phi, roles.free, roles.short0
    short_after = np.where(lv.is_wh, short0 + np.maximum(shipped - free, 0),
                           np.maximum(target - lv.pos - received, 0) + np.maximum(shipped - free, 0))
    pen_before = float(_penalty(w, target, np.zeros_like(short0), short0, phi).sum())
    pen_after = float(_penalty(w, target, np.zeros_like(short_after), short_after, phi).sum())

    moved = q > 0
    out = _transfer_table(
        cfg.as_of, cfg.hd, cfg.uhd, q[moved], a_lane[moved], a_src[moved], a_rcv[moved],
        lv.loc, lv.part, lv.tier, lv.pos, target, lv.on_hand, w, phi, free, shipped, lv.is_wh,
        ln.from_id, ln.to_id, ln.lead, ln.cpu, ln.fix, tiers_given)
    freight = float(out["cost"].sum()) if len(out) else 0.0
    status, gap_rel = ans.status, ans.gap
    if status in (solvers.OPTIMAL, solvers.FEASIBLE):
        objective = _objective(ans.values, m, lv, roles, cfg.phi)
        if too_big:
            # the LP left the shipment costs out: add those of the lanes used, and claim no
            # optimality for the model that was asked for
            used = np.unique(a_lane[q > 0])
            objective += float(ln.fix[used].sum())
            status, gap_rel = solvers.FEASIBLE, math.nan
    else:
        objective = math.nan
    solve_s = time.perf_counter() - t1

    report = TransferReport(
        status=status, objective=objective, gap=float(gap_rel), solver=ans.solver,
        solver_status=ans.solver_status, build_seconds=build_s, solve_seconds=solve_s,
        n_variables=m.n_cols, n_constraints=m.n_rows, n_integer=m.n_integer,
        shortage_units_before=int(roles.gap.sum()),
        unmet_shortage_units=int(np.maximum(roles.gap - received, 0).sum()),
        units_moved=int(q.sum()),
        below_target_units_at_sources=int(np.maximum(shipped - free, 0).sum()),
        transport_cost=freight, shortage_cost_before=pen_before, shortage_cost_after=pen_after,
        time_limit=cfg.time_limit, mip_gap=cfg.mip_gap, message=ans.note)
    return TransferPlan(transfers=out, report=report, warehouse_id=warehouse_id, problem=prob)


def _objective(values: np.ndarray, m: _Model, lv: _Levels, roles: _Roles, phi: float) -> float:
    """The model's own objective: solver values plus the gaps no arc can reach (and the
    warehouse's own shortage, which no move changes)."""
    w, target, gap, is_wh = lv.w, lv.target, roles.gap, lv.is_wh
    unreachable = roles.recv.copy()
    unreachable[m.r_use] = False
    const = float(_penalty(w[unreachable], target[unreachable],
                           np.zeros(int(unreachable.sum())), gap[unreachable], phi).sum())
    const += float(_penalty(w[is_wh], target[is_wh], np.zeros(int(is_wh.sum())),
                            roles.short0[is_wh], phi).sum())
    return float(m.cost @ values) + const


def _transfer_table(as_of: pd.Timestamp, hd: int, uhd: int, q: np.ndarray, lane: np.ndarray,
                    srow: np.ndarray, rrow: np.ndarray, loc: np.ndarray, part: np.ndarray,
                    tier: np.ndarray, pos: np.ndarray, target: np.ndarray,
                    on_hand: np.ndarray, w: np.ndarray, phi: float, free: np.ndarray,
                    shipped: np.ndarray, is_wh: np.ndarray, ln_from: np.ndarray,
                    ln_to: np.ndarray, ln_lead: np.ndarray, ln_cpu: np.ndarray,
                    ln_fix: np.ndarray, with_tier: bool) -> pd.DataFrame:
    """The transfers DataFrame: ids, dates, costs and reasons, all column-wise."""
    # the lane's shipment cost shared among its parts by units
    lane_units = np.bincount(lane, weights=q, minlength=ln_from.size)
    cost = q * ln_cpu[lane] + ln_fix[lane] * q / np.maximum(lane_units[lane], 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        urgency = w[rrow] * (1.0 + phi * np.where(target[rrow] > 0,
                                                  (target[rrow] - pos[rrow]) / target[rrow], 0))
    urgent = (on_hand[rrow] == 0) | (2 * pos[rrow] <= target[rrow])
    ship_by = as_of + pd.to_timedelta(np.where(urgent, uhd, hd), unit="D")

    def txt(a: np.ndarray) -> pd.Series:
        return pd.Series(a.astype(str), dtype="str")

    rcv_txt = ("below target " + txt(pos[rrow]) + " of " + txt(target[rrow]) + " at "
               + txt(loc[rrow]))
    if with_tier:
        rcv_txt = rcv_txt + " (tier " + txt(tier[rrow]) + ")"
    dipped = (shipped[srow] > free[srow]) & ~is_wh[srow]
    src_txt = pd.Series(np.where(is_wh[srow], "replenish from factory", ""), dtype="str")
    surplus = "surplus at " + txt(loc[srow]) + " (" + txt(pos[srow]) + " of " \
        + txt(target[srow]) + ")"
    below = (txt(loc[srow]) + " goes below its own target " + txt(target[srow])
             + " as the shortage here costs more")
    src_txt = src_txt.where(is_wh[srow], surplus.where(~dipped, below))
    reason = rcv_txt + "; " + src_txt

    out = pd.DataFrame({
        "part_number": pd.Series(part[rrow], dtype="str"),
        "from_id": pd.Series(ln_from[lane], dtype="str"),
        "to_id": pd.Series(ln_to[lane], dtype="str"),
        "quantity": q.astype(np.int64),
        "ship_by": ship_by,
        "lead_time_days": ln_lead[lane].astype(float),
        "cost": np.round(cost.astype(float), 2),
        "reason": reason.to_numpy(),
        "_urgency": urgency,
    })
    out["reason"] = out["reason"].astype("str")
    out = out.sort_values(["ship_by", "_urgency", "to_id", "part_number", "from_id"],
                          ascending=[True, False, True, True, True], kind="stable")
    width = max(4, len(str(len(out))))
    ids = pd.Series(np.arange(1, len(out) + 1).astype(str), dtype="str").str.zfill(width)
    out.insert(0, "transfer_id", (f"TR-{as_of:%Y%m%d}-" + ids).to_numpy())
    out["transfer_id"] = out["transfer_id"].astype("str")
    return out.drop(columns="_urgency").reset_index(drop=True)[list(TRANSFER_COLUMNS)]


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
        ``"send"`` (it is ``from_id``) or ``"receive"`` (it is ``to_id``), columns
        :data:`DEALER_FILE_COLUMNS`, ordered by transfer_id.

    Raises
    ------
    ValueError
        When ``transfers`` lacks one of :data:`TRANSFER_COLUMNS`.
    """
    _require_columns(transfers, "transfers", TRANSFER_COLUMNS,
                     "pass TransferPlan.transfers as returned by plan_transfers")
    send = transfers.assign(direction="send", _loc=transfers["from_id"])
    recv = transfers.assign(direction="receive", _loc=transfers["to_id"])
    both = pd.concat([send, recv], ignore_index=True)
    both = both[both["_loc"] != warehouse_id]
    both = both.sort_values(["_loc", "transfer_id", "direction"], kind="stable")
    cols = list(DEALER_FILE_COLUMNS)
    both["direction"] = both["direction"].astype("str")
    return {str(loc): g[cols].reset_index(drop=True)
            for loc, g in both.groupby("_loc", sort=True)}
