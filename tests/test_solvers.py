"""Tests of partsforecast.solvers: one status vocabulary, true solver status, HiGHS quirks."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import numpy as np
import pulp
import pytest

from partsforecast import solvers
from partsforecast.solvers import FEASIBLE, INFEASIBLE, NOT_SOLVED, OPTIMAL

# ---------------------------------------------------------------------------------------
# Status mapping, from the solvers' own words
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_status, primal_feasible, mip_gap, expected", [
    ("kOptimal", True, 1e-5, (OPTIMAL, 1e-5)),
    ("kOptimal", True, math.inf, (OPTIMAL, 0.0)),  # an LP: HiGHS reports no MIP gap
    ("kTimeLimit", True, 0.3, (FEASIBLE, 0.3)),  # pulp calls this one "Optimal"
    ("kTimeLimit", True, math.inf, (FEASIBLE, math.nan)),
    ("kIterationLimit", True, 0.1, (FEASIBLE, 0.1)),
    ("kTimeLimit", False, math.inf, (NOT_SOLVED, math.nan)),
    ("kNotset", False, math.inf, (NOT_SOLVED, math.nan)),  # e.g. a refused thread count
    ("kInfeasible", False, math.inf, (INFEASIBLE, math.nan)),
    ("kUnboundedOrInfeasible", False, math.inf, (INFEASIBLE, math.nan)),
])
def test_highs_status_table(model_status, primal_feasible, mip_gap, expected):
    status, gap = solvers.highs_status(model_status, primal_feasible, mip_gap)
    assert status == expected[0]
    assert (math.isnan(gap) and math.isnan(expected[1])) or gap == expected[1]


def test_highs_status_texts_are_the_solvers_own():
    highspy = pytest.importorskip("highspy")
    h = highspy.Highs()
    ms = highspy.HighsModelStatus
    assert h.modelStatusToString(ms.kOptimal) == "Optimal"
    assert h.modelStatusToString(ms.kTimeLimit) == "Time limit reached"
    assert h.modelStatusToString(ms.kInfeasible) == "Infeasible"


_CBC_STOPPED = """Result - Stopped on time limit

Objective value:                120.50000000
Lower bound:                    100.000
Gap:                            0.17
Enumerated nodes:               1234
Total iterations:               56789
Time (CPU seconds):             0.50
Time (Wallclock seconds):       0.51
"""
_CBC_OPTIMAL = """Result - Optimal solution found

Objective value:                12.00000000
Enumerated nodes:               0
Total iterations:               3
"""


@pytest.mark.parametrize("pulp_status, sol_status, log, expected", [
    (pulp.LpStatusOptimal, pulp.LpSolutionOptimal, _CBC_OPTIMAL, (OPTIMAL, 0.0, "Optimal solution found")),
    (pulp.LpStatusOptimal, pulp.LpSolutionOptimal, "Result - Optimal solution found\nGap: 0.00\n",
     (OPTIMAL, 0.0, "Optimal solution found")),
    # pulp says "Optimal" for a run stopped with a solution; the gap is recomputed from the
    # objective and bound (CBC prints it with two decimals only)
    (pulp.LpStatusOptimal, pulp.LpSolutionIntegerFeasible, _CBC_STOPPED,
     (FEASIBLE, 20.5 / 120.5, "Stopped on time limit")),
    (pulp.LpStatusOptimal, pulp.LpSolutionIntegerFeasible,
     "Result - Stopped on time limit\nObjective value: 120\nLower bound: 90\n", (FEASIBLE, 0.25, "Stopped on time limit")),
    (pulp.LpStatusOptimal, pulp.LpSolutionIntegerFeasible, "Result - Stopped on time limit\nGap: 0.17\n",
     (FEASIBLE, 0.17, "Stopped on time limit")),
    (pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound, "Result - Stopped on time limit\n",
     (NOT_SOLVED, math.nan, "Stopped on time limit")),
    (pulp.LpStatusInfeasible, pulp.LpSolutionInfeasible, "Result - Problem proven infeasible\n",
     (INFEASIBLE, math.nan, "Problem proven infeasible")),
    (pulp.LpStatusInfeasible, pulp.LpSolutionInfeasible, "Result - Pre-processing says infeasible\n",
     (INFEASIBLE, math.nan, "Pre-processing says infeasible")),
    # HiGHS_CMD: no CBC log, pulp's words
    (pulp.LpStatusOptimal, pulp.LpSolutionOptimal, "", (OPTIMAL, 0.0, "Optimal")),
])
def test_cbc_status_table(pulp_status, sol_status, log, expected):
    status, gap, text = solvers.cbc_status(pulp_status, sol_status, log)
    assert (status, text) == (expected[0], expected[2])
    assert (math.isnan(gap) and math.isnan(expected[1])) or gap == pytest.approx(expected[1])


def test_outcome_description():
    out = solvers.SolveOutcome(FEASIBLE, "HiGHS", "Time limit reached", gap=0.0123)
    assert out.has_solution and out.describe() == "feasible (HiGHS: Time limit reached; relative gap 1.230%)"
    out = solvers.SolveOutcome(NOT_SOLVED, "CBC", "Stopped on time limit")
    assert not out.has_solution and out.describe() == "not solved (CBC: Stopped on time limit)"


def test_fallback_order(monkeypatch):
    with pytest.raises(ValueError, match="solver must be 'highs' or 'cbc'"):
        solvers.choose_solver("gurobi")
    assert solvers.choose_solver("cbc") == ("CBC", "")
    monkeypatch.setattr(solvers, "highs_available", lambda: True)
    assert solvers.choose_solver("highs") == ("HiGHS", "")
    monkeypatch.setattr(solvers, "highs_available", lambda: False)
    monkeypatch.setattr(solvers, "highs_cmd_available", lambda: True)
    assert solvers.choose_solver("highs")[0] == "HiGHS_CMD"
    monkeypatch.setattr(solvers, "highs_cmd_available", lambda: False)
    name, note = solvers.choose_solver("highs")
    assert name == "CBC" and note == "HiGHS (highspy) unavailable: solved with CBC"


# ---------------------------------------------------------------------------------------
# Real solves
# ---------------------------------------------------------------------------------------


def _knapsack():
    """max 10a + 13b + 7c + 8d  s.t.  4a + 6b + 3c + 5d <= 10 over binaries: 23 (a and b),
    written as the minimisation of 100 - value (a constant term)."""
    m = pulp.LpProblem("knapsack", pulp.LpMinimize)
    x = [m.add_variable(f"x{i}", cat="Binary") for i in range(4)]
    value, weight = [10, 13, 7, 8], [4, 6, 3, 5]
    m += 100 - pulp.lpSum(v * xi for v, xi in zip(value, x))
    m += pulp.lpSum(w * xi for w, xi in zip(weight, x)) <= 10
    return m


@pytest.mark.parametrize("solver, name, text", [("highs", "HiGHS", "Optimal"),
                                                ("cbc", "CBC", "Optimal solution found")])
def test_tiny_milp_optimal_with_both_solvers(solver, name, text):
    m = _knapsack()
    out = solvers.solve(m, solver, time_limit=10, mip_gap=0.0)
    assert (out.status, out.solver, out.solver_status) == (OPTIMAL, name, text)
    assert pulp.value(m.objective) == pytest.approx(100 - 23)
    assert out.gap == pytest.approx(0.0, abs=1e-9) and out.has_solution
    if name == "HiGHS":  # (CBC prints no bound for a proved optimum)
        assert out.bound == pytest.approx(100 - 23, abs=1e-6)  # the constant term is added back


def _hard_model():
    """Market-split-like MILP: a feasible solution is trivial (all zero, slack pays), proving
    optimality is not -- so a short time limit stops the solver with a gap."""
    rng = np.random.default_rng(0)
    n, m = 60, 5
    A = rng.integers(0, 100, (m, n))
    b = A.sum(1) // 2
    mdl = pulp.LpProblem("split", pulp.LpMinimize)
    x = list(mdl.add_variable_dict("x", range(n), cat="Binary").values())
    sp = list(mdl.add_variable_dict("sp", range(m), lowBound=0).values())
    sm = list(mdl.add_variable_dict("sm", range(m), lowBound=0).values())
    mdl += pulp.lpSum(sp) + pulp.lpSum(sm) + 1
    for i in range(m):
        mdl += pulp.lpSum(int(A[i, j]) * x[j] for j in range(n)) + sp[i] - sm[i] == int(b[i])
    return mdl


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_time_limited_solve_is_never_reported_optimal(solver):
    # Short limits, growing until the solver holds a plan (on a busy machine the first
    # half second can pass before any is found): whatever it returns is never "optimal".
    for limit in (0.5, 2.0, 5.0):
        mdl = _hard_model()
        out = solvers.solve(mdl, solver, time_limit=limit, mip_gap=0.0, threads=1, always_feasible=True)
        assert out.status in (FEASIBLE, NOT_SOLVED), (limit, out)
        if out.has_solution:
            break
    assert out.status == FEASIBLE and out.gap > 0, out
    assert "time" in out.solver_status.lower(), out.solver_status
    if out.solver == "HiGHS":
        # pulp itself calls this run "Optimal": the true status had to come from highspy
        assert pulp.LpStatus[mdl.status] == "Optimal"


def _infeasible_model():
    m = pulp.LpProblem("infeasible", pulp.LpMinimize)
    x = m.add_variable("x", 0, 5, cat="Integer")
    y = m.add_variable("y", cat="Binary")
    m += x + y
    m += x + y >= 8
    return m


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_infeasible_model_is_reported_infeasible(solver):
    out = solvers.solve(_infeasible_model(), solver, time_limit=10)
    assert out.status == INFEASIBLE and not out.has_solution
    assert "infeasible" in out.solver_status.lower()
    # a model feasible by construction never reads "infeasible": the same verdict is then a
    # solver that did not finish (CBC says so when a time limit cuts pre-processing short)
    out = solvers.solve(_infeasible_model(), solver, time_limit=10, always_feasible=True)
    assert out.status == NOT_SOLVED and "infeasible" in out.solver_status.lower()


def test_highs_with_a_thread_count_runs_after_other_solves():
    # HiGHS keeps one thread scheduler per process; highspy >= 1.16 refuses a solve whose
    # thread count differs from the running scheduler's (status "Not Set", no plan) unless
    # the scheduler is reset first, which the package's HiGHS class does.
    pytest.importorskip("highspy")
    results = []
    for threads in (None, 1, 2, None):
        m = _knapsack()
        out = solvers.solve(m, "highs", threads=threads, mip_gap=0.0)
        results.append((out.status, pulp.value(m.objective)))
    assert results == [(OPTIMAL, pytest.approx(77.0))] * 4


def test_stdout_holds_no_highs_banner():
    # highspy 1.16 prints "Running HiGHS ..." from the first Highs object of a process,
    # before any option can silence it; a batch job's stdout must not carry it.
    code = textwrap.dedent("""
        import pulp
        from partsforecast import solvers
        m = pulp.LpProblem("t", pulp.LpMinimize)
        x = m.add_variable("x", 0, 3, cat="Integer")
        m += x
        m += x >= 1
        print(solvers.solve(m, "highs").status)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout == "optimal\n", r.stdout


# ---------------------------------------------------------------------------------------
# Models given as arrays, solved in independent blocks
# ---------------------------------------------------------------------------------------


def _csr(dense: np.ndarray):
    rows, cols = np.nonzero(dense)
    ptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=dense.shape[0]))])
    return cols.astype(np.int64), dense[rows, cols].astype(float), ptr.astype(np.int64)


def _block_diagonal(n_blocks: int, seed: int, integer: bool = False) -> solvers.ArrayModel:
    """Random small transportation problems with convex penalties, side by side, their rows
    and columns shuffled so that no block is contiguous."""
    rng = np.random.default_rng(seed)
    dense_blocks, costs, uppers, r_lo, r_up = [], [], [], [], []
    for _ in range(n_blocks):
        n_s, n_r = rng.integers(1, 4), rng.integers(1, 4)
        # arcs s -> r, a slack per receiver (unmet, dear): sum_in x + slack = demand;
        # sum_out x <= supply
        n_x = n_s * n_r
        a = np.zeros((n_r + n_s, n_x + n_r))
        for s in range(n_s):
            for r in range(n_r):
                a[r, s * n_r + r] = 1
                a[n_r + s, s * n_r + r] = 1
        a[np.arange(n_r), n_x + np.arange(n_r)] = 1
        dense_blocks.append(a)
        costs.append(np.concatenate([rng.uniform(1, 10, n_x), np.full(n_r, 50.0)]))
        uppers.append(np.concatenate([rng.integers(1, 6, n_x), np.full(n_r, np.inf)]).astype(float))
        demand = rng.integers(0, 8, n_r).astype(float)
        r_lo.append(np.concatenate([demand, np.full(n_s, -np.inf)]))
        r_up.append(np.concatenate([demand, rng.integers(0, 8, n_s).astype(float)]))
    from scipy.linalg import block_diag

    dense = block_diag(*dense_blocks)
    rp, cp = rng.permutation(dense.shape[0]), rng.permutation(dense.shape[1])
    dense = dense[rp][:, cp]
    a_col, a_val, a_ptr = _csr(dense)
    cost = np.concatenate(costs)[cp]
    return solvers.ArrayModel(cost=cost, upper=np.concatenate(uppers)[cp],
                              integer=np.full(cost.size, integer), a_col=a_col, a_val=a_val,
                              a_ptr=a_ptr, row_lower=np.concatenate(r_lo)[rp],
                              row_upper=np.concatenate(r_up)[rp])


def test_independent_blocks_are_the_connected_components():
    m = _block_diagonal(12, seed=3)
    rows, cols = solvers.independent_blocks(m, max_cols=1)  # every component its own block
    assert rows.max() == cols.max() == 11
    # every non-zero joins a row and a column of one block; blocks are numbered by first row
    row_of_nz = np.repeat(np.arange(m.n_rows), np.diff(m.a_ptr))
    assert np.array_equal(rows[row_of_nz], cols[m.a_col])
    first_rows = [np.flatnonzero(rows == b)[0] for b in range(12)]
    assert first_rows == sorted(first_rows)
    # packed: about max_cols columns per block, never a component cut
    rows_p, cols_p = solvers.independent_blocks(m, max_cols=15)
    assert np.array_equal(rows_p[row_of_nz], cols_p[m.a_col])
    assert 1 < cols_p.max() + 1 < 12
    for b in range(cols_p.max() + 1):
        assert np.unique(cols[cols_p == b]).size >= 1
        assert np.all(np.isin(np.unique(rows[rows_p == b]), np.unique(cols[cols_p == b])))


@pytest.mark.parametrize("integer", [False, True])
def test_solving_in_blocks_gives_the_whole_models_optimum(integer):
    m = _block_diagonal(40, seed=5, integer=integer)
    whole, x_whole = solvers.solve_highs_arrays(m, block_columns=None)
    blocks, x_blocks = solvers.solve_highs_arrays(m, block_columns=20, lp_presolve=False)
    assert whole.status == blocks.status == OPTIMAL
    assert "independent blocks" in blocks.solver_status and "independent" not in whole.solver_status
    assert m.cost @ x_blocks == pytest.approx(m.cost @ x_whole, rel=1e-9)
    # the block answer is feasible for the whole model
    row_of_nz = np.repeat(np.arange(m.n_rows), np.diff(m.a_ptr))
    ax = np.bincount(row_of_nz, weights=m.a_val * x_blocks[m.a_col], minlength=m.n_rows)
    assert np.all(ax >= m.row_lower - 1e-7) and np.all(ax <= m.row_upper + 1e-7)
    assert np.all(x_blocks >= -1e-9) and np.all(x_blocks <= m.upper + 1e-9)
    if integer:
        assert np.allclose(x_blocks, np.round(x_blocks))
        assert blocks.bound == pytest.approx(m.cost @ x_blocks, rel=1e-4)


def test_an_infeasible_block_makes_the_model_infeasible():
    m = _block_diagonal(6, seed=8)
    # a row that asks for 5 from a column of at most 1
    bad = solvers.ArrayModel(
        cost=np.append(m.cost, 1.0), upper=np.append(m.upper, 1.0), integer=np.append(m.integer, False),
        a_col=np.append(m.a_col, m.n_cols), a_val=np.append(m.a_val, 1.0),
        a_ptr=np.append(m.a_ptr, m.a_ptr[-1] + 1), row_lower=np.append(m.row_lower, 5.0),
        row_upper=np.append(m.row_upper, 5.0))
    out, x = solvers.solve_highs_arrays(bad, block_columns=3)
    assert out.status == INFEASIBLE and x is None
    out, x = solvers.solve_highs_arrays(bad, block_columns=3, always_feasible=True)
    assert out.status == NOT_SOLVED and x is None
