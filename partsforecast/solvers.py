"""One layer between the package's optimisation models and the solvers (pulp with HiGHS or CBC).

Both MILPs of the package -- dealer stock levels under coupling limits
(:func:`partsforecast.stocking.optimize_stock_milp`) and stock transfers
(:func:`partsforecast.transfers.plan_transfers`) -- build a ``pulp.LpProblem`` and hand it to
:func:`solve`, which

* picks the solver in one fallback order: HiGHS through highspy, the HiGHS executable
  (``HiGHS_CMD``), then CBC (a system ``cbc`` if there is one, else the CBC bundled with
  pulp); asking for ``"cbc"`` goes to CBC directly;
* passes the time limit, relative MIP gap and thread count;
* keeps HiGHS's start-up banner off standard output and resets its thread scheduler before a
  solve that asks for a thread count (two highspy 1.16 quirks, see
  :func:`highs_solver_class`);
* reads the verdict back from the solver itself, not from pulp, in one vocabulary.

Status vocabulary
-----------------
``"optimal"``
    The solver proved optimality (within the MIP gap it was given).
``"feasible"``
    A limit (time, iterations, nodes) stopped it with a plan in hand; ``gap`` holds its
    relative MIP gap (NaN when the solver did not report one).
``"infeasible"``
    The solver proved that no solution exists.
``"not solved"``
    It stopped without a plan.

The solver's own words always come along (``solver_status``, e.g. HiGHS's "Time limit
reached" or CBC's "Stopped on time limit").  pulp calls a HiGHS run stopped by its time limit
"Optimal", and a CBC run stopped with an integer solution "Optimal" too; here neither is.
A model that is feasible by construction (``always_feasible=True``, e.g. the transfers: moving
nothing is a plan) never reads "infeasible": CBC says so when a time limit cuts its
pre-processing short, and that run is "not solved".
"""

from __future__ import annotations

import functools
import math
import os
import re
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = [
    "OPTIMAL",
    "FEASIBLE",
    "INFEASIBLE",
    "NOT_SOLVED",
    "SOLVERS",
    "SolveOutcome",
    "solve",
    "choose_solver",
    "make_solver",
    "highs_available",
    "highs_cmd_available",
    "highs_solver_class",
    "quiet_highs",
    "highs_status",
    "read_highs",
    "cbc_status",
    "ArrayModel",
    "independent_blocks",
    "highs_lp",
    "solve_highs_arrays",
]

OPTIMAL = "optimal"
FEASIBLE = "feasible"
INFEASIBLE = "infeasible"
NOT_SOLVED = "not solved"
#: What callers may ask for.
SOLVERS = ("highs", "cbc")


@dataclass(frozen=True)
class SolveOutcome:
    """The solver's verdict on one model.

    Attributes
    ----------
    status : str
        ``"optimal"``, ``"feasible"``, ``"infeasible"`` or ``"not solved"`` (see the module
        docstring).
    solver : str
        ``"HiGHS"``, ``"HiGHS_CMD"`` or ``"CBC"``: the solver that ran.
    solver_status : str
        The solver's own status text.
    gap : float
        Relative MIP gap the solver reports (0 for a proved optimum without one, NaN when
        unknown).
    bound : float or None
        Best bound on the objective, including the objective's constant term.
    solver_runtime : float or None
        Seconds inside HiGHS alone (highspy only), without pulp's model transfer.
    seconds : float
        Wall-clock seconds of ``model.solve``.
    note : str
        Why another solver than the one asked for ran, if one did.
    """

    status: str
    solver: str
    solver_status: str
    gap: float = math.nan
    bound: float | None = None
    solver_runtime: float | None = None
    seconds: float = 0.0
    note: str = ""

    @property
    def has_solution(self) -> bool:
        """Whether the model's variables hold a plan (``optimal`` or ``feasible``)."""
        return self.status in (OPTIMAL, FEASIBLE)

    def describe(self) -> str:
        """One line: status, the solver's words and, for a stopped run, the gap."""
        gap = ""
        if self.status == FEASIBLE:
            gap = f"; relative gap {self.gap:.3%}" if math.isfinite(self.gap) else "; gap not reported"
        return f"{self.status} ({self.solver}: {self.solver_status}{gap})"


# ---------------------------------------------------------------------------------------
# HiGHS through highspy, with its 1.16 quirks handled
# ---------------------------------------------------------------------------------------


_HIGHS_BANNER_SILENCED = False


def quiet_highs() -> None:
    """Make the process's first ``Highs`` object with stdout pointed at /dev/null.

    highspy 1.16 prints "Running HiGHS ..." from the C++ constructor of the first ``Highs``
    object in a process, before any option can turn output off; a batch job's stdout (and
    cron's mail) would carry it on every run. Later objects print nothing.
    """
    global _HIGHS_BANNER_SILENCED
    if _HIGHS_BANNER_SILENCED:
        return
    _HIGHS_BANNER_SILENCED = True
    try:
        import highspy
    except ImportError:
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


@functools.cache
def highs_solver_class() -> type:
    """pulp's highspy-backed HiGHS solver, as every HiGHS solve in the package uses it.

    Two things differ from ``pulp.HiGHS``, both for highspy ≥ 1.16 (a fresh install's):

    * the start-up banner stays off standard output (see :func:`quiet_highs`);
    * HiGHS keeps one thread scheduler per process, and a solve whose ``threads`` option
      differs from the one an earlier solve started refuses to run ("the scheduler has
      already been initialized"), leaving the model status "Not Set". With a thread count
      given, the scheduler is reset first, as HiGHS's message advises
      (``Highs.resetThreadScheduler``; older highspy has neither the method nor the refusal).
    """
    import pulp

    class HiGHS(pulp.HiGHS):
        def createAndConfigureSolver(self, lp):  # noqa: N802 (pulp API)
            quiet_highs()
            return super().createAndConfigureSolver(lp)

        def callSolver(self, lp):  # noqa: N802 (pulp API)
            if self.threads is not None:
                import highspy

                reset = getattr(highspy.Highs, "resetThreadScheduler", None)
                if reset is not None:
                    reset(True)  # blocking: wait for the old workers to stop
            return super().callSolver(lp)

    return HiGHS


def highs_available() -> bool:
    """Whether HiGHS can run through highspy."""
    import pulp

    try:
        return bool(pulp.HiGHS(msg=False).available())
    except Exception:  # noqa: BLE001 - any import/initialisation problem means "no"
        return False


def highs_cmd_available() -> bool:
    """Whether the HiGHS executable (``HiGHS_CMD``) is on the path."""
    import pulp

    try:
        return bool(pulp.HiGHS_CMD(msg=False).available())
    except Exception:  # noqa: BLE001
        return False


def highs_status(model_status: str, primal_feasible: bool, mip_gap: float) -> tuple[str, float]:
    """A HiGHS model status in our vocabulary: ``(status, gap)``.

    ``model_status`` is the name of the ``highspy.HighsModelStatus`` member (``"kOptimal"``,
    ``"kTimeLimit"``, ...); ``primal_feasible`` whether HiGHS holds a feasible solution;
    ``mip_gap`` its relative gap (infinite for an LP).  pulp maps ``kTimeLimit`` to
    "Optimal"; this does not.
    """
    finite = math.isfinite(mip_gap)
    if model_status == "kOptimal":
        return OPTIMAL, (mip_gap if finite else 0.0)
    if model_status in ("kInfeasible", "kUnboundedOrInfeasible"):
        return INFEASIBLE, math.nan
    if primal_feasible:  # stopped by a limit (time, iterations, nodes, interrupt) with a plan
        return FEASIBLE, (mip_gap if finite else math.nan)
    return NOT_SOLVED, math.nan


def read_highs(model: Any) -> SolveOutcome:
    """The verdict of the highspy solver attached to a solved pulp ``model``."""
    return _highs_outcome(model.solverModel, _constant(model))


def _highs_outcome(h: Any, constant: float = 0.0) -> SolveOutcome:
    """The verdict of a solved ``highspy.Highs`` (``constant``: the objective's constant)."""
    ms = h.getModelStatus()
    info = h.getInfo()
    name = getattr(ms, "name", str(ms)).split(".")[-1]
    status, gap = highs_status(name, int(info.primal_solution_status) == 2,  # kSolutionStatusFeasible
                               float(info.mip_gap))
    # HiGHS never sees the objective's constant term: add it back to the bound it reports
    bound = float(info.mip_dual_bound)
    bound = bound + constant if math.isfinite(bound) else None
    return SolveOutcome(status=status, solver="HiGHS", solver_status=h.modelStatusToString(ms), gap=gap,
                        bound=bound, solver_runtime=float(h.getRunTime()))


# ---------------------------------------------------------------------------------------
# CBC (and HiGHS_CMD) through pulp's status codes and the CBC log
# ---------------------------------------------------------------------------------------


def _last_number(label: str, log: str) -> float | None:
    found = re.findall(rf"^{label}:\s*([-+0-9.eE]+)", log, re.M)
    return float(found[-1]) if found else None


def cbc_status(pulp_status: int, sol_status: int, log: str = "") -> tuple[str, float, str]:
    """A CBC run in our vocabulary: ``(status, gap, CBC's own status text)``.

    From pulp's status pair and CBC's log (empty for HiGHS_CMD, whose text is then pulp's).
    The gap of a stopped run is recomputed from the objective value and lower bound CBC
    prints (its "Gap:" line has two decimals only), the printed gap serving when those are
    missing.
    """
    import pulp

    m = re.search(r"Result - (.+)", log)
    text = m.group(1).strip() if m else pulp.LpStatus.get(pulp_status, "?")
    printed = _last_number("Gap", log)
    if pulp_status == pulp.LpStatusInfeasible:
        return INFEASIBLE, math.nan, text
    if pulp_status == pulp.LpStatusOptimal and sol_status == pulp.LpSolutionOptimal:
        return OPTIMAL, (printed if printed is not None else 0.0), text
    if sol_status == pulp.LpSolutionIntegerFeasible:
        # "Stopped on time/nodes ... objective value": pulp says Optimal, CBC did not prove it
        obj, bnd = _last_number("Objective value", log), _last_number("Lower bound", log)
        if obj is not None and bnd is not None:
            gap = abs(obj - bnd) / max(abs(obj), 1e-10)
        else:
            gap = printed if printed is not None else math.nan
        return FEASIBLE, gap, text
    return NOT_SOLVED, math.nan, text


def _read_pulp(model: Any, name: str, log: str) -> SolveOutcome:
    status, gap, text = cbc_status(model.status, model.sol_status, log)
    bnd = _last_number("Lower bound", log)
    return SolveOutcome(status=status, solver=name, solver_status=text, gap=gap,
                        bound=None if bnd is None else bnd + _constant(model))


def _constant(model: Any) -> float:
    return float(model.objective.constant) if model.objective is not None else 0.0


# ---------------------------------------------------------------------------------------
# Choosing, making and running a solver
# ---------------------------------------------------------------------------------------


def choose_solver(solver: str = "highs") -> tuple[str, str]:
    """The solver that will run for a request: ``(name, note)``.

    ``"highs"``: HiGHS through highspy, else the HiGHS executable, else CBC (the note says
    which fallback ran and why); ``"cbc"``: CBC.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be 'highs' or 'cbc'; got {solver!r}")
    if solver == "highs":
        if highs_available():
            return "HiGHS", ""
        if highs_cmd_available():
            return "HiGHS_CMD", "HiGHS (highspy) unavailable: solved with the HiGHS executable"
        return "CBC", "HiGHS (highspy) unavailable: solved with CBC"
    return "CBC", ""


def make_solver(name: str, *, time_limit: float | None = None, mip_gap: float | None = None,
                threads: int | None = None, msg: bool = False, log_path: str | None = None,
                highs_factory: Callable[..., Any] | None = None) -> Any:
    """The pulp solver object for ``name`` (from :func:`choose_solver`).

    ``highs_factory`` replaces :func:`highs_solver_class` for HiGHS (a subclass that loads
    the model its own way); it is called with pulp's keyword arguments.  CBC writes its log
    to ``log_path`` (it is read for the true status), never to the screen.
    """
    import pulp

    kw = dict(timeLimit=time_limit, gapRel=mip_gap, threads=threads)
    if name == "HiGHS":
        return (highs_factory or highs_solver_class())(msg=msg, **kw)
    if name == "HiGHS_CMD":
        return pulp.HiGHS_CMD(msg=msg, **kw)
    if name != "CBC":
        raise ValueError(f"unknown solver name {name!r}")
    if pulp.COIN_CMD(msg=False).available():  # a system CBC, pulp's recommended route
        return pulp.COIN_CMD(msg=False, logPath=log_path, **kw)
    with warnings.catch_warnings():
        # pulp 3.3 flags its bundled CBC for removal in 4.0; it is the one CBC that is always
        # there, which is the point of a fallback
        warnings.simplefilter("ignore", DeprecationWarning)
        cbc = pulp.PULP_CBC_CMD(msg=False, logPath=log_path, **kw)
    if not cbc.available():
        raise RuntimeError("no MILP solver available: install highspy (HiGHS) or use pulp's bundled CBC")
    return cbc


@dataclass
class ArrayModel:
    """A linear model as arrays: minimise ``cost @ x`` subject to ``0 <= x <= upper`` and
    ``row_lower <= A @ x <= row_upper``, ``x`` whole where ``integer``.

    ``A`` is row-wise CSR (``a_ptr``, ``a_col``, ``a_val``); a missing bound is ``inf``
    (``-inf`` for ``row_lower``).
    """

    cost: np.ndarray
    upper: np.ndarray
    integer: np.ndarray  # bool per column
    a_col: np.ndarray
    a_val: np.ndarray
    a_ptr: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray

    @property
    def n_cols(self) -> int:
        return self.cost.size

    @property
    def n_rows(self) -> int:
        return self.row_lower.size

    @property
    def n_integer(self) -> int:
        return int(self.integer.sum())


#: Independent blocks are handed to HiGHS together up to about this many columns per call
#: (see :func:`solve_highs_arrays`).
BLOCK_COLUMNS = 5_000


def independent_blocks(m: ArrayModel, max_cols: int = BLOCK_COLUMNS) -> tuple[np.ndarray, np.ndarray]:
    """The model's independent blocks: sets of rows and columns that share no coefficient.

    The connected components of the row-column graph are independent models; they are
    packed in the order of their first row into blocks of about ``max_cols`` columns (a
    larger component is not cut). Columns in no row come last.

    Returns
    -------
    (row_block, col_block) : ndarray, ndarray
        The block of every row and of every column, numbered 0, 1, ... in order.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n_r, n_c = m.n_rows, m.n_cols
    if n_r == 0 or n_c == 0:
        return np.zeros(n_r, dtype=np.int64), np.zeros(n_c, dtype=np.int64)
    row_of = np.repeat(np.arange(n_r), np.diff(m.a_ptr))
    graph = coo_matrix((np.ones(row_of.size, dtype=np.int8), (row_of, n_r + m.a_col)),
                       shape=(n_r + n_c, n_r + n_c))
    n_comp, label = connected_components(graph, directed=False)
    first = np.full(n_comp, n_r + n_c, dtype=np.int64)
    np.minimum.at(first, label, np.arange(n_r + n_c))
    rank = np.empty(n_comp, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(n_comp)
    comp = rank[label]
    width = np.bincount(comp[n_r:], minlength=n_comp)
    # a block ends where the running column count passes a multiple of max_cols
    filled = np.cumsum(width) // max(int(max_cols), 1)
    block = np.concatenate([[0], np.cumsum(np.diff(filled) > 0)])
    return block[comp[:n_r]], block[comp[n_r:]]


def _sub_model(m: ArrayModel, rows: np.ndarray, cols: np.ndarray, col_pos: np.ndarray) -> ArrayModel:
    """The block of ``m`` on ``rows`` and ``cols`` (which hold every column of those rows);
    ``col_pos`` maps a column of ``m`` to its position within its block."""
    count = np.diff(m.a_ptr)[rows]
    nz = np.repeat(m.a_ptr[rows] - np.concatenate([[0], np.cumsum(count)[:-1]]), count) + np.arange(count.sum())
    return ArrayModel(cost=m.cost[cols], upper=m.upper[cols], integer=m.integer[cols],
                      a_col=col_pos[m.a_col[nz]], a_val=m.a_val[nz],
                      a_ptr=np.concatenate([[0], np.cumsum(count)]), row_lower=m.row_lower[rows],
                      row_upper=m.row_upper[rows])


def highs_lp(m: ArrayModel) -> Any:
    """``m`` as a ``highspy.HighsLp``, passed to HiGHS in one call."""
    import highspy

    lp = highspy.HighsLp()
    lp.num_col_ = m.n_cols
    lp.num_row_ = m.n_rows
    lp.col_cost_ = m.cost
    lp.col_lower_ = np.zeros(m.n_cols)
    lp.col_upper_ = np.where(np.isinf(m.upper), highspy.kHighsInf, m.upper)
    lp.row_lower_ = np.where(np.isinf(m.row_lower), -highspy.kHighsInf, m.row_lower)
    lp.row_upper_ = np.where(np.isinf(m.row_upper), highspy.kHighsInf, m.row_upper)
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


def _solve_one(m: ArrayModel, *, time_limit: float | None, mip_gap: float | None,
               threads: int | None, msg: bool, lp_presolve: bool) -> tuple[SolveOutcome, np.ndarray | None, float]:
    """One HiGHS run on ``m``: the verdict, the column values (None without a solution) and
    the objective."""
    import highspy

    quiet_highs()  # also in a worker process of a cluster
    h = highspy.Highs()
    h.setOptionValue("output_flag", bool(msg))
    if not (lp_presolve or m.n_integer):
        h.setOptionValue("presolve", "off")
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    if mip_gap is not None:
        h.setOptionValue("mip_rel_gap", float(mip_gap))
    if threads is not None:
        h.setOptionValue("threads", int(threads))
        reset = getattr(highspy.Highs, "resetThreadScheduler", None)
        if reset is not None:
            reset(True)  # see highs_solver_class
    h.passModel(highs_lp(m))
    h.run()
    out = _highs_outcome(h)
    values = None
    if out.status in (OPTIMAL, FEASIBLE):
        values = np.asarray(h.getSolution().col_value, dtype=float)
    return out, values, float(h.getInfo().objective_function_value)


#: The order of verdicts from best to worst, for a model solved in blocks.
_WORSE = (OPTIMAL, FEASIBLE, NOT_SOLVED, INFEASIBLE)


def solve_highs_arrays(m: ArrayModel, *, time_limit: float | None = None, mip_gap: float | None = None,
                       threads: int | None = None, msg: bool = False, always_feasible: bool = False,
                       block_columns: int | None = BLOCK_COLUMNS, lp_presolve: bool = True,
                       map_blocks: Callable[[Callable, list], list] | None = None) -> tuple[SolveOutcome, Any]:
    """Solve a model given as arrays with HiGHS, without pulp, block by block.

    For models of a million columns, where building pulp's variable and constraint objects
    costs more than HiGHS's solve. The options and the verdict are those of :func:`solve`
    with ``solver="highs"``.

    A model made of independent blocks (:func:`independent_blocks`; the transfer LP is one
    block per part) is solved one group of about ``block_columns`` columns at a time. The
    optimum of each block is the whole model's optimum on it, so the answer is the same
    model's optimum; only the time changes: HiGHS's time per simplex iteration grows with the
    size of the model it holds, and the iterations do not fall when the model is whole.
    ``block_columns=None`` solves the model as one. The time limit is shared: each block gets
    what is left of it. ``map_blocks(fn, models)`` (e.g. :func:`partsforecast.engine.map_partitioned`
    on a Dask client) solves the blocks elsewhere, each within the whole time limit, and
    returns ``fn``'s results in order.

    ``lp_presolve=False`` switches HiGHS's presolve off for the blocks without integer
    columns (the transfer LP: presolve removes nothing there and costs half the time; see
    the transfer figures in ``benchmarks/README.md``).

    Returns
    -------
    (SolveOutcome, ndarray or None)
        The verdict (the worst block's status; with integer columns its gap is the whole
        model's, from the summed objectives and bounds) and the column values (None without
        a solution).
    """
    quiet_highs()
    t0 = time.perf_counter()
    if block_columns is None or m.n_cols <= block_columns:
        row_block, col_block = np.zeros(m.n_rows, dtype=np.int64), np.zeros(m.n_cols, dtype=np.int64)
    else:
        row_block, col_block = independent_blocks(m, block_columns)
    n_blocks = int(max(row_block.max(initial=0), col_block.max(initial=0))) + 1
    row_order, col_order = np.argsort(row_block, kind="stable"), np.argsort(col_block, kind="stable")
    row_cut = np.searchsorted(row_block[row_order], np.arange(n_blocks + 1))
    col_cut = np.searchsorted(col_block[col_order], np.arange(n_blocks + 1))
    col_pos = np.empty(m.n_cols, dtype=np.int64)
    col_pos[col_order] = np.arange(m.n_cols) - col_cut[col_block[col_order]]
    values = np.zeros(m.n_cols)
    blocks = [col_order[col_cut[b]:col_cut[b + 1]] for b in range(n_blocks)]

    def block(b: int) -> ArrayModel:
        rows = row_order[row_cut[b]:row_cut[b + 1]]
        return m if n_blocks == 1 else _sub_model(m, rows, blocks[b], col_pos)

    options = dict(mip_gap=mip_gap, threads=threads, msg=msg, lp_presolve=lp_presolve)
    if map_blocks is not None:
        results = iter(map_blocks(functools.partial(_solve_one, time_limit=time_limit, **options),
                                  [block(b) for b in range(n_blocks)]))
    outcomes, objective, runtime = [], 0.0, 0.0
    for b in range(n_blocks):
        if map_blocks is None:
            left = None if time_limit is None else max(time_limit - (time.perf_counter() - t0), 0.0)
            out, x, obj = _solve_one(block(b), time_limit=left, **options)
        else:
            out, x, obj = next(results)
        outcomes.append(out)
        runtime += out.solver_runtime or 0.0
        if x is None:
            break
        values[blocks[b]] = x
        objective += obj
    worst = max(outcomes, key=lambda o: _WORSE.index(o.status))  # a failed block ended the loop
    status = worst.status
    bounds = [o.bound for o in outcomes]
    bound = float(sum(bounds)) if all(b is not None for b in bounds) else None
    gap = worst.gap
    if n_blocks > 1 and status in (OPTIMAL, FEASIBLE) and bound is not None:
        gap = abs(objective - bound) / max(abs(objective), 1e-9) if m.n_integer else worst.gap
    words = worst.solver_status + (f" ({n_blocks:,} independent blocks)" if n_blocks > 1 else "")
    if always_feasible and status == INFEASIBLE:
        status = NOT_SOLVED
    out = SolveOutcome(status=status, solver="HiGHS", solver_status=words, gap=gap, bound=bound,
                       solver_runtime=runtime, seconds=time.perf_counter() - t0)
    return out, (values if status in (OPTIMAL, FEASIBLE) else None)


def solve(model: Any, solver: str = "highs", *, time_limit: float | None = None,
          mip_gap: float | None = None, threads: int | None = None, msg: bool = False,
          always_feasible: bool = False, highs_factory: Callable[..., Any] | None = None) -> SolveOutcome:
    """Solve a pulp ``model`` and return the solver's own verdict.

    Parameters
    ----------
    model : pulp.LpProblem
        Solved in place: its variables hold the plan when the outcome has one.
    solver : {"highs", "cbc"}
        See :func:`choose_solver` for the fallback order.
    time_limit, mip_gap, threads
        Seconds, relative MIP gap at which the solver may stop and report optimal, threads
        (``None``: the solver's defaults).
    msg : bool
        Show the solver log (CBC's is printed after the run).
    always_feasible : bool
        The model has a solution by construction: an "infeasible" verdict reads "not solved".
    highs_factory : callable, optional
        See :func:`make_solver`.

    Returns
    -------
    SolveOutcome
    """
    name, note = choose_solver(solver)
    log_path, log = None, ""
    if name == "CBC":
        fd, log_path = tempfile.mkstemp(prefix="partsforecast_cbc_", suffix=".log")
        os.close(fd)
    try:
        obj = make_solver(name, time_limit=time_limit, mip_gap=mip_gap, threads=threads, msg=msg,
                          log_path=log_path, highs_factory=highs_factory)
        t0 = time.perf_counter()
        try:
            model.solve(obj)
        except KeyError:
            pass  # pulp's HiGHS status table lacks some statuses; the true status is read below
        seconds = time.perf_counter() - t0
        if log_path is not None:
            with open(log_path, encoding="utf-8", errors="replace") as fh:
                log = fh.read()
    finally:
        if log_path is not None and os.path.exists(log_path):
            os.unlink(log_path)
    if msg and log:
        print(log)
    out = read_highs(model) if name == "HiGHS" else _read_pulp(model, name, log)
    status = NOT_SOLVED if (always_feasible and out.status == INFEASIBLE) else out.status
    return SolveOutcome(status=status, solver=out.solver, solver_status=out.solver_status, gap=out.gap,
                        bound=out.bound, solver_runtime=out.solver_runtime, seconds=seconds, note=note)
