"""Tests of partsforecast.transfers: hand-checkable optima, fairness, true solver status."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from partsforecast import solvers
from partsforecast import transfers as tr
from partsforecast.transfers import (
    DEALER_FILE_COLUMNS,
    TRANSFER_COLUMNS,
    dealer_transfer_files,
    plan_transfers,
)

AS_OF = "2026-07-01"


def lanes_of(*rows) -> pd.DataFrame:
    """Lanes from (from_id, to_id, cost_per_unit, cost_per_shipment[, lead_time_days])."""
    out = [dict(from_id=r[0], to_id=r[1], cost_per_unit=r[2], cost_per_shipment=r[3],
                lead_time_days=r[4] if len(r) > 4 else 2.0) for r in rows]
    return pd.DataFrame(out)


def levels_of(*rows, shortage_cost=None) -> pd.DataFrame:
    """Levels from (location_id, part_number, target, on_hand[, on_order])."""
    out = pd.DataFrame([dict(location_id=r[0], part_number=r[1], target=r[2], on_hand=r[3],
                             on_order=r[4] if len(r) > 4 else 0) for r in rows])
    if shortage_cost is not None:
        out["shortage_cost"] = shortage_cost
    return out


def plan(levels, lanes, **kw):
    kw.setdefault("time_limit", 20)
    return plan_transfers(levels, lanes, "WH", AS_OF, **kw)


def moves(p) -> dict[tuple[str, str, str], int]:
    t = p.transfers
    return {(f, to, pn): int(q) for f, to, pn, q in
            zip(t["from_id"], t["to_id"], t["part_number"], t["quantity"])}


def random_instance(n_dealers=12, n_parts=15, seed=0, neighbours=4):
    """A small random network: the factory to every dealer, each dealer to its nearest."""
    rng = np.random.default_rng(seed)
    dealers = [f"D{i:03d}" for i in range(n_dealers)]
    parts = [f"P{j:03d}" for j in range(n_parts)]
    xy = rng.uniform(0, 1000, (n_dealers, 2))
    dist = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    rows = [("WH", d, 5 + rng.uniform(0, 10), 60 + rng.uniform(0, 60), 3.0) for d in dealers]
    for i in range(n_dealers):
        for j in np.argsort(dist[i])[1:neighbours + 1]:
            rows.append((dealers[i], dealers[j], 1 + dist[i, j] / 100, 30 + dist[i, j] / 20,
                         1 + dist[i, j] / 500))
    lanes = lanes_of(*rows)
    target = rng.poisson(3, (n_dealers, n_parts))
    on_hand = np.maximum(target + rng.integers(-3, 4, target.shape), 0)
    on_order = rng.binomial(1, 0.1, target.shape)
    gaps = np.maximum(target - on_hand - on_order, 0).sum(axis=0)
    wh_hand = np.floor(gaps * rng.uniform(0.2, 1.2, n_parts)).astype(int)
    levels = pd.concat([
        pd.DataFrame({"location_id": np.repeat(dealers, n_parts),
                      "part_number": np.tile(parts, n_dealers), "target": target.ravel(),
                      "on_hand": on_hand.ravel(), "on_order": on_order.ravel()}),
        pd.DataFrame({"location_id": "WH", "part_number": parts,
                      "target": np.floor(wh_hand * 0.5).astype(int), "on_hand": wh_hand,
                      "on_order": 0}),
    ], ignore_index=True)
    tiers = pd.Series(rng.integers(1, 5, n_dealers), index=dealers)
    unit_cost = pd.Series(rng.lognormal(4, 1.2, n_parts).round(2), index=parts)
    return levels, lanes, tiers, unit_cost


# ---------------------------------------------------------------------------------------
# Known optima on tiny instances
# ---------------------------------------------------------------------------------------


def test_cheapest_source_and_lane():
    lanes = lanes_of(("WH", "D1", 5.0, 0.0), ("D2", "D1", 2.0, 0.0), ("WH", "D2", 5.0, 0.0))
    levels = levels_of(("WH", "A", 0, 10), ("D1", "A", 3, 0), ("D2", "A", 1, 5))
    # D2 holds 4 above its target and its lane is cheaper: it beats the factory
    assert moves(plan(levels, lanes)) == {("D2", "D1", "A"): 3}
    # ... until its lane is dearer than the factory's
    dear = lanes.assign(cost_per_unit=[5.0, 6.0, 5.0])
    assert moves(plan(levels, dear)) == {("WH", "D1", "A"): 3}
    # surplus of 2 only: the rest comes from the factory
    levels2 = levels_of(("WH", "A", 0, 10), ("D1", "A", 3, 0), ("D2", "A", 3, 5))
    assert moves(plan(levels2, lanes)) == {("D2", "D1", "A"): 2, ("WH", "D1", "A"): 1}


def test_only_existing_lanes_carry_stock():
    # D2 has surplus but no lane to D1; the factory has none: nothing can move
    lanes = lanes_of(("WH", "D1", 5.0, 0.0), ("D1", "D2", 1.0, 0.0))
    levels = levels_of(("WH", "A", 0, 0), ("D1", "A", 2, 0), ("D2", "A", 0, 5))
    p = plan(levels, lanes)
    assert p.transfers.empty
    assert list(p.transfers.columns) == list(TRANSFER_COLUMNS)
    assert p.report.status == "optimal"
    assert p.report.unmet_shortage_units == 2


def test_on_order_counts_toward_position_but_does_not_ship():
    lanes = lanes_of(("WH", "D1", 5.0, 0.0), ("WH", "D2", 5.0, 0.0), ("D2", "D1", 1.0, 0.0),
                     ("D1", "D2", 1.0, 0.0))
    # D2: nothing on the shelf, 6 on order -> above target but cannot ship
    # D3 .. not needed; D1 needs 3 but has 1 on order -> gap 2
    levels = levels_of(("WH", "A", 0, 10), ("D1", "A", 3, 0, 1), ("D2", "A", 1, 0, 6))
    assert moves(plan(levels, lanes)) == {("WH", "D1", "A"): 2}


def test_source_stays_at_target_unless_shortage_costs_more():
    lanes = lanes_of(("WH", "D1", 5.0, 0.0), ("D2", "D1", 1.0, 0.0))
    levels = levels_of(("WH", "A", 0, 0), ("D1", "A", 4, 0), ("D2", "A", 3, 4))
    # equal shortage costs, linear: D2 ships only its surplus of 1
    p = plan(levels.assign(shortage_cost=100.0), lanes, fairness=0.0)
    assert moves(p) == {("D2", "D1", "A"): 1}
    assert p.report.below_target_units_at_sources == 0
    # D1's shortage costs much more: D2 empties its shelf into D1 (4 = D1's whole gap)
    p = plan(levels.assign(shortage_cost=[100.0, 1000.0, 10.0]), lanes, fairness=0.0)
    assert moves(p) == {("D2", "D1", "A"): 4}
    assert p.report.below_target_units_at_sources == 3
    assert "below its own target" in p.transfers["reason"].iloc[0]
    # with the fairness rule and equal weights: the receiver at 0 of 4 is more urgent than
    # the source going below target, until both are equally short (2 + 2 = 4 units)
    p = plan(levels.assign(shortage_cost=100.0), lanes, fairness=0.5)
    got = moves(p)[("D2", "D1", "A")]
    d1_short, d2_short = 4 - got, max(got - 1, 0)
    assert abs(d1_short - d2_short) <= 1


def test_fixed_costs_consolidate_shipments():
    lanes = lanes_of(("WH", "D1", 3.0, 50.0), ("D2", "D1", 1.0, 50.0))
    # A only at the factory; B cheaper per unit from D2's surplus
    levels = levels_of(("WH", "A", 0, 10), ("WH", "B", 0, 10), ("D1", "A", 2, 0),
                       ("D1", "B", 2, 0), ("D2", "B", 0, 5))
    lp = plan(levels, lanes, use_fixed_costs=False)
    assert moves(lp) == {("WH", "D1", "A"): 2, ("D2", "D1", "B"): 2}
    assert lp.report.n_integer == 0
    mip = plan(levels, lanes, use_fixed_costs=True)
    assert moves(mip) == {("WH", "D1", "A"): 2, ("WH", "D1", "B"): 2}
    assert mip.report.n_integer > 0 and mip.report.status == "optimal"
    # one shipment's fixed cost, shared by units: 2*3 + 25 per line
    assert mip.transfers["cost"].tolist() == [31.0, 31.0]
    assert mip.report.objective == pytest.approx(4 * 3.0 + 50.0)
    # the LP plan pays both shipments (the cost column shows what is incurred)
    assert lp.report.transport_cost == pytest.approx(2 * 3 + 50 + 2 * 1 + 50)


def test_milp_too_large_falls_back_to_the_freight_lp():
    # Above max_milp_integers the MILP is not attempted: the plan is the freight LP's, the
    # shipment costs of the lanes it uses are in the cost column and the objective, and the
    # report makes no optimality claim.
    lanes = lanes_of(("WH", "D1", 3.0, 50.0), ("D2", "D1", 1.0, 50.0))
    levels = levels_of(("WH", "A", 0, 10), ("WH", "B", 0, 10), ("D1", "A", 2, 0),
                       ("D1", "B", 2, 0), ("D2", "B", 0, 5))
    big = plan(levels, lanes, use_fixed_costs=True, max_milp_integers=1)
    lp = plan(levels, lanes, use_fixed_costs=False)
    assert moves(big) == moves(lp) == {("WH", "D1", "A"): 2, ("D2", "D1", "B"): 2}
    r = big.report
    assert r.n_integer == 0 and r.status == "feasible" and np.isnan(r.gap)
    assert "max_milp_integers" in r.message and "integer variables" in r.message
    # both lanes used: 2·3 + 2·1 freight + 2 × 50 shipments, no shortage left
    assert r.transport_cost == pytest.approx(108.0)
    assert r.objective == pytest.approx(108.0 + r.shortage_cost_after)
    # under the limit the MILP runs as before
    assert plan(levels, lanes, use_fixed_costs=True, max_milp_integers=10).report.status == "optimal"


def test_fixed_cost_apportioned_by_units():
    lanes = lanes_of(("WH", "D1", 2.0, 40.0))
    levels = levels_of(("WH", "A", 0, 10), ("WH", "B", 0, 10), ("D1", "A", 1, 0),
                       ("D1", "B", 3, 0))
    t = plan(levels, lanes).transfers.set_index("part_number")
    assert t.loc["A", "cost"] == pytest.approx(1 * 2 + 10)
    assert t.loc["B", "cost"] == pytest.approx(3 * 2 + 30)


# ---------------------------------------------------------------------------------------
# Fairness
# ---------------------------------------------------------------------------------------


def _scarce(wh_units, d1=(4, 0), d2=(4, 0)):
    lanes = lanes_of(("WH", "D1", 5.0, 0.0), ("WH", "D2", 5.0, 0.0))
    levels = levels_of(("WH", "A", 0, wh_units), ("D1", "A", *d1), ("D2", "A", *d2))
    return levels, lanes


@pytest.mark.parametrize("units", [1, 2, 3, 4, 5, 7])
def test_equally_urgent_dealers_get_equal_shares(units):
    levels, lanes = _scarce(units)
    tiers = pd.Series({"D1": 3, "D2": 3})
    m = moves(plan(levels, lanes, tiers=tiers))
    a, b = m.get(("WH", "D1", "A"), 0), m.get(("WH", "D2", "A"), 0)
    assert a + b == units
    assert abs(a - b) <= 1


def test_equal_urgency_equalises_fill_fraction():
    # D1 at 0 of 4, D2 at 2 of 4, four units: both end at 3 of 4
    levels, lanes = _scarce(4, d1=(4, 0), d2=(4, 2))
    m = moves(plan(levels, lanes, tiers=pd.Series({"D1": 2, "D2": 2})))
    assert m == {("WH", "D1", "A"): 3, ("WH", "D2", "A"): 1}


def test_more_urgent_dealer_served_first():
    # tier 1 weighs 2.0, tier 4 weighs 1.0 >= 1 + fairness: strict priority
    tiers = pd.Series({"D1": 4, "D2": 1})
    levels, lanes = _scarce(4)
    assert moves(plan(levels, lanes, tiers=tiers)) == {("WH", "D2", "A"): 4}
    levels, lanes = _scarce(6)
    m = moves(plan(levels, lanes, tiers=tiers))
    assert m == {("WH", "D2", "A"): 4, ("WH", "D1", "A"): 2}
    # the same through the shortage_cost column, and the urgent one is listed first
    levels, lanes = _scarce(6)
    p = plan(levels.assign(shortage_cost=[50.0, 100.0, 500.0]), lanes)
    assert moves(p) == {("WH", "D2", "A"): 4, ("WH", "D1", "A"): 2}
    assert p.transfers["to_id"].tolist() == ["D2", "D1"]


# ---------------------------------------------------------------------------------------
# Whole plans: conservation, integrality, objective, output shape
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixed", [False, True])
def test_plan_is_consistent(fixed):
    levels, lanes, tiers, unit_cost = random_instance(seed=3)
    p = plan(levels, lanes, tiers=tiers, unit_cost=unit_cost, use_fixed_costs=fixed)
    t, r = p.transfers, p.report
    assert r.status == "optimal"
    assert len(t) > 0 and list(t.columns) == list(TRANSFER_COLUMNS)
    assert t["quantity"].dtype == np.int64 and (t["quantity"] > 0).all()
    # only existing lanes, never into the factory, one row per (lane, part)
    lane_set = set(zip(lanes["from_id"], lanes["to_id"]))
    assert set(zip(t["from_id"], t["to_id"])) <= lane_set
    assert not (t["to_id"] == "WH").any()
    assert not t.duplicated(["from_id", "to_id", "part_number"]).any()
    lv = levels.set_index(["location_id", "part_number"])
    sent = t.groupby(["from_id", "part_number"])["quantity"].sum()
    got = t.groupby(["to_id", "part_number"])["quantity"].sum()
    # nobody ships more than on hand; sources are the factory or above target
    assert (sent <= lv.loc[sent.index, "on_hand"].to_numpy()).all()
    pos = lv["on_hand"] + lv["on_order"]
    src_pos, src_tgt = pos.loc[sent.index], lv.loc[sent.index, "target"]
    is_wh = sent.index.get_level_values(0) == "WH"
    assert (is_wh | (src_pos > src_tgt).to_numpy()).all()
    # receivers were below target and are not filled beyond it; nobody sends and receives
    gap = (lv["target"] - pos).loc[got.index]
    assert (got <= gap).all() and (gap > 0).all()
    assert not set(sent.index) & set(got.index)
    # conservation per part: units sent = units received
    pd.testing.assert_series_equal(sent.groupby(level=1).sum(), got.groupby(level=1).sum())
    assert r.units_moved == int(t["quantity"].sum())
    assert r.unmet_shortage_units == r.shortage_units_before - r.units_moved
    # whole units straight from the solver (total unimodularity without fixed costs)
    vals = np.array([v.varValue for v in p.problem.variables()])
    assert np.abs(vals - np.round(vals)).max() < 1e-9
    assert (r.n_integer == 0) != fixed
    # the objective is what the plan costs: freight (+ one fixed cost per lane used)
    # plus the shortage penalty after the moves
    ln = lanes.set_index(["from_id", "to_id"])
    keys = list(zip(t["from_id"], t["to_id"]))
    freight = float((t["quantity"].to_numpy() * ln.loc[keys, "cost_per_unit"].to_numpy()).sum())
    if fixed:
        freight += float(ln.loc[sorted(set(keys)), "cost_per_shipment"].sum())
        assert r.transport_cost == pytest.approx(freight, abs=0.01 * len(t))
    assert r.objective == pytest.approx(freight + r.shortage_cost_after, rel=1e-7)
    assert r.shortage_cost_after < r.shortage_cost_before


def test_dates_ids_and_reasons():
    lanes = lanes_of(("WH", "D1", 5.0, 0.0, 1.5), ("WH", "D2", 5.0, 0.0, 4.0),
                     ("D3", "D2", 1.0, 0.0, 0.5))
    levels = levels_of(("WH", "A", 0, 10), ("D1", "A", 4, 3), ("D2", "A", 4, 0),
                       ("D2", "B", 2, 1), ("D3", "B", 0, 3))
    p = plan(levels, lanes, tiers=pd.Series({"D1": 2, "D2": 4, "D3": 1}))
    t = p.transfers
    # urgent (nothing on hand / at most half the target) ships after 1 day, others 2
    assert t["transfer_id"].tolist() == ["TR-20260701-0001", "TR-20260701-0002",
                                         "TR-20260701-0003"]
    by = t.set_index(["to_id", "part_number"])
    assert by.loc[("D2", "A"), "ship_by"] == pd.Timestamp("2026-07-02")
    assert by.loc[("D2", "B"), "ship_by"] == pd.Timestamp("2026-07-02")
    assert by.loc[("D1", "A"), "ship_by"] == pd.Timestamp("2026-07-03")
    assert t["ship_by"].is_monotonic_increasing
    assert by.loc[("D2", "A"), "lead_time_days"] == 4.0
    assert by.loc[("D2", "B"), "lead_time_days"] == 0.5
    assert by.loc[("D2", "A"), "reason"] == \
        "below target 0 of 4 at D2 (tier 4); replenish from factory"
    assert by.loc[("D2", "B"), "reason"] == \
        "below target 1 of 2 at D2 (tier 4); surplus at D3 (3 of 0)"


def test_deterministic_and_independent_of_row_order():
    levels, lanes, tiers, unit_cost = random_instance(seed=5)
    a = plan(levels, lanes, tiers=tiers, unit_cost=unit_cost).transfers
    b = plan(levels, lanes, tiers=tiers, unit_cost=unit_cost).transfers
    pd.testing.assert_frame_equal(a, b)
    shuffled = levels.sample(frac=1.0, random_state=1)
    c = plan(shuffled, lanes.sample(frac=1.0, random_state=2), tiers=tiers,
             unit_cost=unit_cost).transfers
    pd.testing.assert_frame_equal(a, c)


def test_dealer_files():
    levels, lanes, tiers, unit_cost = random_instance(seed=7)
    p = plan(levels, lanes, tiers=tiers, unit_cost=unit_cost)
    t = p.transfers
    files = dealer_transfer_files(t, "WH")
    assert files.keys() == p.by_location().keys()
    assert "WH" not in files
    movers = set(t["from_id"]) | set(t["to_id"]) - {"WH"}
    assert set(files) == movers - {"WH"}
    assert list(files) == sorted(files)
    n_rows = 0
    for loc, f in files.items():
        assert list(f.columns) == list(DEALER_FILE_COLUMNS)
        send, recv = f[f["direction"] == "send"], f[f["direction"] == "receive"]
        assert (send["from_id"] == loc).all() and (recv["to_id"] == loc).all()
        assert len(send) + len(recv) == len(f)
        assert f["transfer_id"].is_monotonic_increasing
        n_rows += len(f)
    # every dealer-to-dealer move appears twice, every factory move once
    assert n_rows == 2 * len(t) - int((t["from_id"] == "WH").sum())
    assert dealer_transfer_files(t.iloc[:0], "WH") == {}


# ---------------------------------------------------------------------------------------
# Solvers and their true status
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hard_instance():
    return random_instance(n_dealers=60, n_parts=60, seed=11, neighbours=8)


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_time_limited_milp_is_not_reported_optimal(hard_instance, solver):
    levels, lanes, tiers, unit_cost = hard_instance
    p = plan(levels, lanes, tiers=tiers, unit_cost=unit_cost, use_fixed_costs=True,
             solver=solver, time_limit=0.3, mip_gap=0.0)
    r = p.report
    assert r.status in ("feasible", "not solved")
    # the solver's own words: stopped by the time limit -- or, for CBC cut short in its
    # pre-processing, a claim of infeasibility, which for this always-feasible model reads
    # "not solved"
    text = r.solver_status.lower()
    assert "time" in text or "stopped" in text or (r.status == "not solved" and "infeasible" in text), text
    if r.status == "feasible":
        assert r.gap > 0 and math.isfinite(r.objective)
        assert not p.transfers.empty or r.units_moved == 0
    else:
        assert p.transfers.empty and math.isnan(r.objective)


def test_cbc_matches_highs_and_fallback(monkeypatch):
    levels, lanes, tiers, unit_cost = random_instance(n_dealers=8, n_parts=8, seed=2)
    objective = {}
    for fixed in (False, True):
        h = plan(levels, lanes, tiers=tiers, unit_cost=unit_cost, use_fixed_costs=fixed,
                 mip_gap=0.0)
        c = plan(levels, lanes, tiers=tiers, unit_cost=unit_cost, use_fixed_costs=fixed,
                 mip_gap=0.0, solver="cbc")
        assert (h.report.solver, c.report.solver) == ("HiGHS", "CBC")
        assert h.report.status == c.report.status == "optimal"
        assert c.report.objective == pytest.approx(h.report.objective, rel=1e-6)
        objective[fixed] = h.report.objective
    # without highspy (nor the HiGHS executable) the default solver falls back to CBC and says so
    monkeypatch.setattr(solvers, "highs_available", lambda: False)
    monkeypatch.setattr(solvers, "highs_cmd_available", lambda: False)
    f = plan(levels, lanes, tiers=tiers, unit_cost=unit_cost, use_fixed_costs=False)
    assert f.report.solver == "CBC" and "unavailable" in f.report.message
    assert f.report.objective == pytest.approx(objective[False], rel=1e-6)


def test_pulp_highs_path_gives_same_objective(monkeypatch):
    levels, lanes, tiers, unit_cost = random_instance(n_dealers=8, n_parts=8, seed=4)
    bulk = plan(levels, lanes, tiers=tiers, unit_cost=unit_cost, use_fixed_costs=False)
    monkeypatch.setattr(tr, "_BULK_HIGHS", False)
    slow = plan(levels, lanes, tiers=tiers, unit_cost=unit_cost, use_fixed_costs=False)
    assert slow.report.status == "optimal"
    assert slow.report.objective == pytest.approx(bulk.report.objective, rel=1e-9)


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------


def _ok():
    lanes = lanes_of(("WH", "D1", 5.0, 0.0), ("WH", "D2", 5.0, 0.0))
    levels = levels_of(("WH", "A", 0, 10), ("D1", "A", 2, 0), ("D2", "A", 1, 1))
    return levels, lanes


@pytest.mark.parametrize("mutate, match", [
    (lambda lv, ln: (lv.drop(columns="target"), ln), r"levels is missing column\(s\) \['target'\]"),
    (lambda lv, ln: (lv, ln.drop(columns="cost_per_unit")), r"lanes is missing column"),
    (lambda lv, ln: (lv.assign(on_hand=[10, -1, 1]), ln), r"levels\.on_hand is negative.*D1/A"),
    (lambda lv, ln: (lv.assign(on_order=[0, 0, -2]), ln), r"levels\.on_order is negative"),
    (lambda lv, ln: (lv.assign(target=[0, 1.5, 1]), ln), r"levels\.target is not a whole"),
    (lambda lv, ln: (lv.assign(on_hand=[10, None, 1]), ln), r"levels\.on_hand is missing"),
    (lambda lv, ln: (lv.assign(location_id=["WH", "D9", "D2"]), ln),
     r"levels\.location_id has 1 unknown location\(s\) \['D9'\]"),
    (lambda lv, ln: (pd.concat([lv, lv.iloc[[1]]]), ln), r"duplicate \(location_id, part_number\)"),
    (lambda lv, ln: (lv, pd.concat([ln[ln["to_id"] != "D1"], lanes_of(("D1", "D2", 1.0, 0.0))])),
     r"dealer\(s\) \['D1'\] are below target .* no lane"),
    (lambda lv, ln: (lv, ln.assign(cost_per_unit=[5.0, -1.0])), r"lanes\.cost_per_unit is negative"),
    (lambda lv, ln: (lv, pd.concat([ln, ln.iloc[[0]]])), r"duplicate \(from_id, to_id\)"),
    (lambda lv, ln: (lv.assign(shortage_cost=[1.0, -1.0, 1.0]), ln),
     r"levels\.shortage_cost is negative"),
])
def test_bad_input_raises(mutate, match):
    levels, lanes = mutate(*_ok())
    with pytest.raises(ValueError, match=match):
        plan(levels, lanes)


def test_bad_settings_raise():
    levels, lanes = _ok()
    with pytest.raises(ValueError, match="solver must be"):
        plan(levels, lanes, solver="gurobi")
    with pytest.raises(ValueError, match="time_limit must be"):
        plan(levels, lanes, time_limit=0)
    with pytest.raises(ValueError, match="max_milp_integers must be a finite number >= 0"):
        plan(levels, lanes, max_milp_integers=-5)
    with pytest.raises(ValueError, match="fairness must be"):
        plan(levels, lanes, fairness=-1)
    with pytest.raises(ValueError, match=r"tiers has no value for location_id \['D2'\]"):
        plan(levels, lanes, tiers=pd.Series({"D1": 1}))
    with pytest.raises(ValueError, match=r"tier\(s\) \[7\]"):
        plan(levels, lanes, tiers=pd.Series({"D1": 1, "D2": 7}))
    with pytest.raises(ValueError, match=r"unit_cost has no value for part_number \['A'\]"):
        plan(levels, lanes, unit_cost=pd.Series({"B": 1.0}))
    with pytest.raises(ValueError, match="as_of must be a date"):
        plan_transfers(levels, lanes, "WH", "not a date")
    with pytest.raises(ValueError, match="transfers is missing column"):
        dealer_transfer_files(pd.DataFrame({"x": [1]}), "WH")


def test_sample_fleet_end_to_end(sample_fleet):
    f = sample_fleet
    rng = np.random.default_rng(0)
    levels = f.stock.assign(
        target=np.maximum(f.stock["on_hand"] + rng.integers(-2, 3, len(f.stock)), 0))
    p = plan_transfers(levels, f.lanes, f.warehouse_id, f.as_of,
                       tiers=f.locations.set_index("location_id")["tier"],
                       unit_cost=f.parts.set_index("part_number")["unit_cost"],
                       time_limit=20)
    rep, t = p.report, p.transfers
    assert rep.status == "optimal" and rep.units_moved > 0
    assert t["transfer_id"].str.startswith("TR-20260701-").all()
    assert "transfers: optimal" in str(rep)

    # The report's figures, recomputed from the levels and the moves.
    wh, key = f.warehouse_id, ["location_id", "part_number"]
    lv = levels.set_index(key)
    pos = lv["on_hand"] + lv["on_order"]
    dealer = lv.index.get_level_values("location_id") != wh
    gap = (lv["target"] - pos).clip(lower=0)[dealer]
    assert rep.shortage_units_before == gap.sum() > 0
    assert rep.units_moved == t["quantity"].sum()
    got = t.groupby(["to_id", "part_number"])["quantity"].sum().rename_axis(key)
    sent = t.groupby(["from_id", "part_number"])["quantity"].sum().rename_axis(key)
    after = pos.add(got, fill_value=0).sub(sent, fill_value=0)
    short_after = (lv["target"] - after).clip(lower=0)[dealer]
    assert rep.unmet_shortage_units == short_after.sum() < rep.shortage_units_before
    free = (pos - lv["target"]).clip(lower=0)
    assert rep.below_target_units_at_sources == (sent - free.reindex(sent.index)).clip(lower=0).sum()
    assert rep.transport_cost == pytest.approx(t["cost"].sum())
    assert rep.shortage_cost_after < rep.shortage_cost_before
    assert rep.objective <= rep.shortage_cost_before  # never worse than doing nothing

    # The moves obey the model: only stock on hand ships, nothing goes into the warehouse,
    # receivers were short and get at most their gap, and pass nothing on.
    assert set(got.index) <= set(gap[gap > 0].index) and set(sent.index) <= set(lv.index)
    assert (got <= gap.reindex(got.index)).all()
    assert (sent <= lv["on_hand"].reindex(sent.index)).all()
    assert not (t["to_id"] == wh).any() and not set(got.index) & set(sent.index)
    # Along existing lanes, at their lead time and price: quantity x cost_per_unit plus the
    # lane's shipment cost shared among its rows (each row's cost rounded to cents).
    lanes = f.lanes.set_index(["from_id", "to_id"])
    m = t.join(lanes.add_suffix("_lane"), on=["from_id", "to_id"])
    assert m["cost_per_unit_lane"].notna().all()
    assert (m["lead_time_days"] == m["lead_time_days_lane"]).all()
    per_lane = m.groupby(["from_id", "to_id"]).agg(
        q=("quantity", "sum"), cost=("cost", "sum"), rows=("cost", "size"),
        cpu=("cost_per_unit_lane", "first"), cps=("cost_per_shipment_lane", "first"))
    err = (per_lane["cost"] - (per_lane["q"] * per_lane["cpu"] + per_lane["cps"])).abs()
    assert (err <= 0.005 * per_lane["rows"] + 1e-6).all(), err.max()
    # ship_by: the next day for an urgent receiver (nothing on hand, or at most half its
    # target), else after the two handling days.
    r = t.join(lv, on=["to_id", "part_number"])
    urgent = (r["on_hand"] == 0) | (2 * (r["on_hand"] + r["on_order"]) <= r["target"])
    want = f.as_of + pd.to_timedelta(np.where(urgent, 1, 2), unit="D")
    assert (r["ship_by"] == want).all()
    # Optimality where it is plain: one more unit from the warehouse's spare stock to a
    # dealer still short of that part saves at least the dealer's shortage weight
    # (tier weight x (100 + unit cost)) and costs the lane's cost_per_unit, plus its
    # cost_per_shipment if the lane is not used yet. No such move may gain more than the
    # solver's optimality gap allows.
    w = lv.loc[wh]
    shipped = sent.loc[wh].reindex(w.index, fill_value=0)
    spare = np.minimum(w["on_hand"] - shipped, w["on_hand"] + w["on_order"] - shipped - w["target"])
    assert (spare > 0).any() and (short_after > 0).any()  # the check below has cases to look at
    tiers = f.locations.set_index("location_id")["tier"]
    unit_cost = f.parts.set_index("part_number")["unit_cost"]
    used = set(zip(t["from_id"], t["to_id"]))
    slack = max(rep.gap, 1e-4) * abs(rep.objective)
    for (loc, part), units in short_after[short_after > 0].items():
        if spare.get(part, 0) <= 0:
            continue
        lane = lanes.loc[(wh, loc)]
        move = lane["cost_per_unit"] + (0.0 if (wh, loc) in used else lane["cost_per_shipment"])
        saving = tr.DEFAULT_TIER_WEIGHTS[int(tiers[loc])] * (100.0 + unit_cost[part])
        assert saving - move <= slack, (loc, part, units, saving, move)
