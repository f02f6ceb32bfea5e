"""The frontier optimiser against the exact optimum of its own model, found by brute force.

Small two-echelon systems (3 dealers, 12-40 parts, whole-number unit costs): for every part
every warehouse level and every dealer level vector is evaluated with VARI-METRIC
(``metric_evaluate``), which gives the part's exact frontier (best backorders or fill for each
number of units); an exact knapsack across parts by dynamic programming over whole money then
gives the optimum for every budget.  Tier targets with two tiers are checked against an exact
MILP over the enumerated plans of every part (scipy's HiGHS), independent of the package's
solver layer.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import optimize, sparse, stats

from partsforecast import stocking as sk

# --------------------------------------------------------------------------------------
# brute force
# --------------------------------------------------------------------------------------


def _instance(seed: int, P: int, vmr: float) -> dict:
    rng = np.random.default_rng(seed)
    lam = np.minimum(rng.gamma(0.6, 0.05, (P, 3)), 0.06) * (rng.random((P, 3)) < 0.9)
    lam[lam.sum(1) == 0, 0] = 0.01
    return {"unit_cost": rng.integers(1, 21, P).astype(float), "dealer_demand_rate": lam,
            "dealer_lead_time": rng.uniform(2, 8, 3), "wh_lead_time": rng.uniform(10, 40, P), "demand_vmr": vmr}


def _quantile(mean: float, var: float, q: float) -> int:
    """A quantile of the Poisson / negative binomial with this mean and variance (generous:
    levels above it gain less than 1 - q)."""
    if var <= mean * (1 + 1e-9):
        return int(stats.poisson.ppf(q, mean))
    p = mean / var
    return int(stats.nbinom.ppf(q, mean * p / (1 - p), p)) + int(np.ceil(var / mean))


@functools.cache
def _tables(seed: int, P: int, vmr: float):
    """Per part, every (warehouse level, dealer level vector): units, total expected
    backorders and demand-weighted fill per dealer.  VARI-METRIC gives each dealer's figures
    from the warehouse level and its own level; every vector is the sum over its dealers."""
    inst = _instance(seed, P, vmr)
    lam, T, T0 = inst["dealer_demand_rate"], inst["dealer_lead_time"], inst["wh_lead_time"]
    J = lam.shape[1]
    out = []
    for p in range(P):
        mu0 = lam[p].sum() * T0[p]
        s0max = _quantile(mu0, vmr * mu0, 1 - 1e-12) + 2
        top = lam[p] * (T + T0[p])  # the dealers' pipelines with no warehouse stock
        smax = [_quantile(m, vmr * m, 1 - 1e-9) + 1 if m > 0 else 0 for m in top]
        K = max(smax) + 1
        s0 = np.repeat(np.arange(s0max + 1), K)
        sj = np.tile(np.arange(K), s0max + 1)
        ev = sk.metric_evaluate(s0, np.repeat(sj[:, None], J, 1), np.repeat(lam[p][None], s0.size, 0),
                                np.full(s0.size, T0[p]), T, demand_vmr=vmr)
        ebo = ev.backorders.reshape(s0max + 1, K, J)
        fill = (ev.fill_rate * lam[p]).reshape(s0max + 1, K, J)
        # every vector (s0, s_1, ..., s_J): broadcast the dealers' own figures
        shape = [s0max + 1] + [k + 1 for k in smax]
        units = np.arange(s0max + 1).reshape([-1] + [1] * J)
        tot_ebo = np.zeros([s0max + 1] + [1] * J)
        fills = []
        for j in range(J):
            view = [s0max + 1] + [1] * J
            view[j + 1] = smax[j] + 1
            units = units + np.arange(smax[j] + 1).reshape([1] * (j + 1) + [-1] + [1] * (J - j - 1))
            tot_ebo = tot_ebo + ebo[:, :smax[j] + 1, j].reshape(view)
            fills.append(np.broadcast_to(fill[:, :smax[j] + 1, j].reshape(view), shape).ravel())
        out.append((np.broadcast_to(units, shape).ravel(), np.broadcast_to(tot_ebo, shape).ravel(),
                    np.stack(fills, 1)))
    return inst, out


def _by_units(units: np.ndarray, value: np.ndarray, best: str) -> np.ndarray:
    """Best value for at most n units, n = 0 .. max."""
    out = np.full(units.max() + 1, np.inf if best == "min" else -np.inf)
    (np.minimum if best == "min" else np.maximum).at(out, units, value)
    return (np.minimum if best == "min" else np.maximum).accumulate(out)


def _knapsack(costs: np.ndarray, tables: list, money: int, best: str) -> np.ndarray:
    """Exact 0/1 multiple-choice knapsack by DP over whole money: the best total over parts
    (one option each) for every budget 0 .. money."""
    pick = np.minimum if best == "min" else np.maximum
    worst = np.inf if best == "min" else -np.inf
    dp = np.zeros(money + 1)
    for c, tab in zip(costs.astype(int), tables):
        new = np.full(money + 1, worst)
        for n, v in enumerate(tab):
            if c * n > money:
                break
            cand = np.full(money + 1, worst)
            cand[c * n:] = dp[:money + 1 - c * n] + v
            new = pick(new, cand)
        dp = new
    return dp


@functools.cache
def _optimum(seed: int, P: int, vmr: float, measure: str, money: int) -> np.ndarray:
    inst, tabs = _tables(seed, P, vmr)
    if measure == "ebo":
        per_part = [_by_units(u, e, "min") for u, e, _ in tabs]
        return _knapsack(inst["unit_cost"], per_part, money, "min")
    per_part = [_by_units(u, f.sum(1), "max") for u, _, f in tabs]
    return _knapsack(inst["unit_cost"], per_part, money, "max")


def _money_scale(seed: int, P: int, vmr: float) -> int:
    """Money of a generous plan (system fill 0.97): budgets are fractions of it."""
    inst, _ = _tables(seed, P, vmr)
    return int(sk.optimize_stock(**inst, fill_rate_targets=0.97).investment)


CASES = [(0, 12, 1.0), (1, 12, 1.5), (2, 40, 1.0), (3, 16, 2.5), (4, 12, 2.0)]


# --------------------------------------------------------------------------------------
# budget: fewest backorders
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed,P,vmr", CASES)
def test_budget_plans_are_optimal_and_bounded(seed, P, vmr):
    inst, _ = _tables(seed, P, vmr)
    M = _money_scale(seed, P, vmr)
    opt = _optimum(seed, P, vmr, "ebo", int(1.2 * M))
    for frac in (0.05, 0.15, 0.35, 0.6, 1.0):
        B = int(frac * M)
        res = sk.optimize_stock(**inst, budget=float(B))
        best = opt[B]
        assert res.investment <= B + 1e-9
        # within 0.5% of the optimum's backorders at equal budget (it is the optimum here)
        assert res.total_backorders <= best * 1.005 + 1e-9, (frac, res.total_backorders, best)
        assert res.total_backorders >= best - 1e-8
        # never more money for the same service: the optimum needs as much to do as well
        need = int(np.argmax(opt <= res.total_backorders + 1e-9))
        assert res.investment <= need + 1e-9
        # the certificate: bound <= optimum <= plan, and the gap is the plan's distance to it
        assert res.backorders_lower_bound <= best + 1e-9
        assert res.gap == pytest.approx((res.total_backorders - res.backorders_lower_bound) / res.total_backorders)
        assert res.gap < 0.05
        assert res.bound_exact and res.algorithm == "frontier"


@pytest.mark.parametrize("seed,P,vmr", CASES[:3])
def test_greedy_is_no_better_than_the_optimum_and_its_bound_holds(seed, P, vmr):
    inst, _ = _tables(seed, P, vmr)
    M = _money_scale(seed, P, vmr)
    opt = _optimum(seed, P, vmr, "ebo", int(1.2 * M))
    worse = []
    for frac in (0.1, 0.3, 0.6):
        B = int(frac * M)
        g = sk.optimize_stock(**inst, budget=float(B), algorithm="greedy")
        f = sk.optimize_stock(**inst, budget=float(B))
        assert g.total_backorders >= opt[B] - 1e-8
        assert f.total_backorders <= g.total_backorders + 1e-9
        assert g.backorders_lower_bound <= opt[B] + 1e-9  # the bound at the greedy's own multiplier
        worse.append(g.total_backorders / opt[B] - 1)
    assert max(worse) > 1e-4  # the greedy's warehouse search is a heuristic: it shows here


# --------------------------------------------------------------------------------------
# targets: least money
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed,P,vmr", CASES[:4])
def test_fill_rate_target_plans_cost_the_optimum(seed, P, vmr):
    inst, _ = _tables(seed, P, vmr)
    M = _money_scale(seed, P, vmr)
    opt = _optimum(seed, P, vmr, "fill", int(1.2 * M))
    L = inst["dealer_demand_rate"].sum()
    for target in (0.6, 0.85, 0.95):
        res = sk.optimize_stock(**inst, fill_rate_targets=target)
        need = int(np.argmax(opt >= target * L * (1 + 1e-12)))
        assert res.system_fill_rate >= target - 1e-12
        assert res.investment <= need + 1e-9, (target, res.investment, need)
        assert res.investment_lower_bound <= need + 1e-9
        assert 0 <= res.gap < 0.05


@pytest.mark.parametrize("seed,P,vmr", CASES[:4])
def test_wait_target_plans_cost_the_optimum(seed, P, vmr):
    inst, _ = _tables(seed, P, vmr)
    M = _money_scale(seed, P, vmr)
    opt = _optimum(seed, P, vmr, "ebo", int(2 * M))
    L = inst["dealer_demand_rate"].sum()
    for wait in (3.0, 1.0, 0.3):
        res = sk.optimize_stock(**inst, wait_targets=wait)
        assert opt[-1] <= wait * L  # the money range reaches the target
        need = int(np.argmax(opt <= wait * L * (1 - 1e-12)))
        assert res.expected_wait <= wait + 1e-12
        assert res.investment <= need + 1e-9, (wait, res.investment, need)
        assert res.investment_lower_bound <= need + 1e-9


def _milp_two_tiers(seed: int, P: int, vmr: float, tier: np.ndarray, targets: dict) -> float:
    """Least money meeting two tiers' fill targets: one binary per Pareto-efficient plan of
    each part (units, fill of tier 1, fill of tier 2), solved exactly by HiGHS."""
    inst, tabs = _tables(seed, P, vmr)
    lam = inst["dealer_demand_rate"]
    cols, cost, f1, f2 = [], [], [], []
    for p, (u, _, f) in enumerate(tabs):
        a, b = f[:, tier == 1].sum(1), f[:, tier == 2].sum(1)
        o = np.lexsort((-b, -a, u))
        u, a, b = u[o], a[o], b[o]
        keep, best = [], []
        for i in range(u.size):  # drop plans that another plan with as few units dominates
            if any(a[i] <= x + 1e-15 and b[i] <= y + 1e-15 for x, y in best):
                continue
            keep.append(i)
            best.append((a[i], b[i]))
        cols += [p] * len(keep)
        cost += list(inst["unit_cost"][p] * u[keep])
        f1 += list(a[keep])
        f2 += list(b[keep])
    n = len(cols)
    A = sparse.vstack([sparse.csr_matrix((np.ones(n), (cols, np.arange(n))), shape=(P, n)),
                       sparse.csr_matrix(np.array([f1, f2]))])
    L1, L2 = lam[:, tier == 1].sum(), lam[:, tier == 2].sum()
    lo = np.concatenate((np.ones(P), [targets[1] * L1, targets[2] * L2]))
    hi = np.concatenate((np.ones(P), [np.inf, np.inf]))
    out = optimize.milp(np.array(cost), constraints=optimize.LinearConstraint(A, lo, hi),
                        integrality=np.ones(n), bounds=optimize.Bounds(0, 1),
                        options={"mip_rel_gap": 0.0, "time_limit": 120})
    assert out.status == 0
    return float(out.fun)


@pytest.mark.parametrize("seed,P,vmr", [(0, 12, 1.0)])
def test_two_tier_fill_targets_cost_the_exact_milp_optimum(seed, P, vmr):
    inst, _ = _tables(seed, P, vmr)
    tier = np.array([1, 2, 2])
    targets = {1: 0.95, 2: 0.85}
    best = _milp_two_tiers(seed, P, vmr, tier, targets)
    res = sk.optimize_stock(**inst, dealer_tier=tier, fill_rate_targets=targets)
    for t, f in targets.items():
        assert res.tier_fill_rate[t] >= f - 1e-12
    assert res.investment <= best + 1e-6
    assert res.investment_lower_bound <= best + 1e-6
    assert len(res.multipliers) == 2 and all(v > 0 for v in res.multipliers.values())


# --------------------------------------------------------------------------------------
# the certificate on the result
# --------------------------------------------------------------------------------------


def test_certificate_is_reported_with_the_plan():
    inst, _ = _tables(0, 12, 1.0)
    res = sk.optimize_stock(**inst, fill_rate_targets=0.9)
    assert f"no plan meeting the targets costs less than {res.investment_lower_bound:,.2f}; gap {res.gap:.3%}" \
        in repr(res)
    cert = res.summary().attrs["certificate"]
    assert cert == res.certificate()
    assert cert["investment_lower_bound"] == res.investment_lower_bound
    assert cert["backorders_lower_bound"] is None and cert["bound_exact"] is True
    fill = sk.optimize_stock(**inst, budget=200.0, objective="fill_rate")
    assert fill.fill_rate_upper_bound >= fill.system_fill_rate
    assert f"has a system fill rate above {fill.fill_rate_upper_bound:.4f}" in repr(fill)
    with pytest.raises(ValueError, match="algorithm"):
        sk.optimize_stock(**inst, budget=200.0, algorithm="exact")


# --------------------------------------------------------------------------------------
# the large-system path: searched warehouse levels, recorded steps down to a floor
# --------------------------------------------------------------------------------------


@pytest.fixture
def large_system_path(monkeypatch):
    """The frontier algorithm as it runs on national systems, on small ones: no exhaustive
    rows, warehouse ranges longer than two levels searched by grid and bracketing, and a
    price sample of a few parts."""
    import functools as ft

    from partsforecast.stocking import allocation

    monkeypatch.setattr(allocation, "EXHAUSTIVE_SLOTS", 0)
    monkeypatch.setattr(allocation, "SAMPLE_MIN", 4)
    monkeypatch.setattr(allocation, "SAMPLE_SHARE", 0.5)
    monkeypatch.setattr(allocation, "search_warehouse", ft.partial(allocation.search_warehouse, full_range=2))
    return allocation


@pytest.mark.parametrize("seed,P,vmr", [(0, 12, 1.0), (1, 12, 1.5), (3, 16, 2.5)])
def test_large_system_path_meets_targets_near_the_optimum_with_a_valid_bound(large_system_path, seed, P, vmr):
    inst, _ = _tables(seed, P, vmr)
    M = _money_scale(seed, P, vmr)
    opt = _optimum(seed, P, vmr, "fill", int(1.2 * M))
    L = inst["dealer_demand_rate"].sum()
    for target in (0.6, 0.85, 0.95):
        res = sk.optimize_stock(**inst, fill_rate_targets=target)
        assert opt[-1] >= target * L  # the money range reaches the target
        need = int(np.argmax(opt >= target * L * (1 + 1e-12)))
        assert not res.bound_exact
        assert res.system_fill_rate >= target - 1e-12
        assert res.investment <= need * 1.005 + 1e-9, (target, res.investment, need)
        # the bound stays a bound: every step worth its price was recorded, however small its
        # gain (a cut tail overstates the priced values, and the bound with them)
        assert res.investment_lower_bound <= need + 1e-6, (target, res.investment_lower_bound, need)


def test_priced_row_values_equal_brute_force_for_tiny_pipelines_at_high_prices():
    """At the high prices of high targets a second unit on a pipeline of 0.006 expected units
    is worth buying; a frontier recorded down to the price's floor must hold it, or every
    priced value (and the bound) comes out too high."""
    from partsforecast.stocking import allocation, frontier
    from partsforecast.stocking.problem import prepare_problem

    lam = np.array([[0.002, 0.003, 0.05]])
    T, T0, c = np.array([3.0, 2.0, 5.0]), np.array([20.0]), np.array([10.0])
    prob = prepare_problem(c, lam, T, T0, 1.0, np.ones(3, dtype=int), "vari-metric")
    theta = np.array([2.0e7])
    floor = np.array([(1 - 1e-9) / theta[0]])
    levels = np.arange(4)
    fr = frontier.build_frontier(prob, "fill", np.zeros(4, dtype=np.int64), levels, floor,
                                 allocation._recorded_tail(floor, 5e-5))
    got = fr.lagrangian(theta)
    for s0, value in zip(levels, got):
        want = c[0] * s0
        S = np.arange(12)
        for j in range(3):
            sd = np.zeros((S.size, 3), dtype=int)
            sd[:, j] = S
            ev = sk.metric_evaluate(np.full(S.size, s0), sd, np.repeat(lam, S.size, 0), np.full(S.size, T0[0]), T)
            want += np.min(c[0] * S - theta[0] * lam[0, j] * ev.fill_rate[:, j])
        assert value == pytest.approx(want, rel=1e-9, abs=1e-6), s0


# --------------------------------------------------------------------------------------
# targets per (part, tier): service groups
# --------------------------------------------------------------------------------------


def _group_fill(res, lam, tier, mask_parts, t):
    fr = res.evaluation.fill_rate
    cols = tier == t
    w = lam[mask_parts][:, cols]
    return float((w * fr[mask_parts][:, cols]).sum() / w.sum())


@pytest.mark.parametrize("seed,P,vmr", [(0, 12, 1.0), (3, 16, 2.5)])
def test_targets_per_part_hold_per_group_and_cost_what_the_groups_cost_alone(seed, P, vmr):
    inst, _ = _tables(seed, P, vmr)
    tier = np.array([1, 2, 2])
    lam = inst["dealer_demand_rate"]
    cls = np.arange(P) % 3 == 0  # a third of the parts are "A" parts
    targets = np.where(cls[:, None], [[0.97, 0.95]], [[0.85, 0.80]])
    res = sk.optimize_stock(**inst, dealer_tier=tier, fill_rate_targets=targets)
    for mask, row in ((cls, targets[cls][0]), (~cls, targets[~cls][0])):
        for k, t in enumerate((1, 2)):
            assert _group_fill(res, lam, tier, mask, t) >= row[k] - 1e-12
    # the groups share no part, so the least money for all is the least money for each group
    # alone: the parts of each group stocked on their own with that group's tier targets
    alone = 0.0
    for mask, row in ((cls, targets[cls][0]), (~cls, targets[~cls][0])):
        sub = {**inst, "unit_cost": inst["unit_cost"][mask], "dealer_demand_rate": lam[mask],
               "wh_lead_time": inst["wh_lead_time"][mask]}
        alone += sk.optimize_stock(**sub, dealer_tier=tier, fill_rate_targets={1: row[0], 2: row[1]}).investment
    assert res.investment == pytest.approx(alone, rel=5e-3)
    assert res.investment_lower_bound <= alone + 1e-6
    # the tiers as a whole: at least the demand-weighted mean of their parts' targets
    for k, t in enumerate((1, 2)):
        L = lam[:, tier == t].sum(1)
        assert res.targets[t] == pytest.approx(float((L * targets[:, k]).sum() / L.sum()))
        assert res.tier_fill_rate[t] >= res.targets[t] - 1e-12
    assert res.solver_info["service_groups"] == 2


def test_one_row_of_targets_per_part_is_the_tier_targets():
    inst, _ = _tables(0, 12, 1.0)
    tier = np.array([1, 2, 2])
    flat = sk.optimize_stock(**inst, dealer_tier=tier, fill_rate_targets={1: 0.95, 2: 0.9})
    rows = sk.optimize_stock(**inst, dealer_tier=tier, fill_rate_targets=np.tile([0.95, 0.9], (12, 1)))
    np.testing.assert_array_equal(rows.s_dealer, flat.s_dealer)
    np.testing.assert_array_equal(rows.s_wh, flat.s_wh)
    assert rows.investment == flat.investment and rows.targets == {1: 0.95, 2: 0.9}
    with pytest.raises(ValueError, match=r"shape \(parts, tiers\) = \(12, 2\)"):
        sk.optimize_stock(**inst, dealer_tier=tier, fill_rate_targets=np.full((12, 3), 0.9))
    with pytest.raises(ValueError, match="row 4, tier 2"):
        bad = np.full((12, 2), 0.9)
        bad[4, 1] = 1.5
        sk.optimize_stock(**inst, dealer_tier=tier, fill_rate_targets=bad)
