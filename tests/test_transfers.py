"""Tests of partsforecast.transfers: hand-checkable optima, what moves buy, dealer files, status."""

from __future__ import annotations

import io
import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from partsforecast import solvers
from partsforecast import transfers as tr
from partsforecast._io import frame_to_csv_bytes, unescape_cells
from partsforecast.stocking.formulas import expected_backorders
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
    assert "(it needs them more than you)" in p.transfers["sender_reason"].iloc[0]
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
    # units dealers lack after the moves: the receivers' remaining gaps plus the units dealer
    # sources ship from below their own target (they are short now too)
    dealer_dips = (sent - (pos - lv["target"]).clip(lower=0).reindex(sent.index)).clip(lower=0)
    dealer_dips = int(dealer_dips[~is_wh].sum())
    assert r.unmet_shortage_units == r.shortage_units_before - r.units_moved + dealer_dips
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
    # lead times in whole days, rounded up; arrival = ship-by + lead time
    assert by.loc[("D2", "A"), "lead_time_days"] == 4
    assert by.loc[("D2", "B"), "lead_time_days"] == 1
    assert by.loc[("D1", "A"), "lead_time_days"] == 2
    assert by.loc[("D2", "B"), "arrive_by"] == pd.Timestamp("2026-07-03")
    assert by.loc[("D1", "A"), "arrive_by"] == pd.Timestamp("2026-07-05")
    # bare targets: priced by weights, and the reasons say so without demand figures
    assert p.report.pricing == "weights" and t["value_avoided"].isna().all()
    assert by.loc[("D2", "A"), "receiver_reason"] == \
        "you hold 0 of your target 4: the factory sends 4; freight 20.00 CNY"
    assert by.loc[("D2", "B"), "receiver_reason"] == \
        "you hold 1 of your target 2: D3, which holds 3 of its target 0, sends 1; freight 1.00 CNY"
    assert by.loc[("D2", "B"), "sender_reason"] == \
        "you hold 3 of your target 0: send 1 to D2, which holds 1 of its target 2; freight 1.00 CNY"


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
# Pricing by backorders: a move happens exactly when what it avoids exceeds its freight
# ---------------------------------------------------------------------------------------

H = 90.0  # the default window_days
B = {1: 200.0, 2: 150.0, 3: 125.0, 4: 100.0}  # the documented default backorder costs per day


def demand_levels(*rows) -> pd.DataFrame:
    """Levels from (location_id, part_number, target, on_hand, demand_per_day,
    effective_lead_time_days)."""
    return pd.DataFrame([dict(location_id=r[0], part_number=r[1], target=r[2], on_hand=r[3],
                              on_order=0, demand_per_day=r[4], effective_lead_time_days=r[5])
                         for r in rows])


def sf(mean: float, p: int) -> float:
    """P(D > p) for Poisson lead-time demand: EBO(p) - EBO(p + 1)."""
    return float(stats.poisson.sf(p, mean))


TIERS = pd.Series({"D1": 1, "D2": 3})


def test_poisson_unit_values_by_hand():
    # D1 (tier 1, 200 a backorder-day) at 0 of 2, lead-time demand 0.01/day x 10 days = 0.1
    m = 0.1
    assert sf(m, 0) == pytest.approx(1 - math.exp(-0.1))
    assert sf(m, 1) == pytest.approx(1 - 1.1 * math.exp(-0.1))
    # the first unit avoids 90 x 0.09516 = 8.56 backorder-days, worth 1,712.93; the second
    # 90 x 0.00468 = 0.42, worth 84.22
    assert 200 * H * sf(m, 0) == pytest.approx(1712.93, abs=0.01)
    assert 200 * H * sf(m, 1) == pytest.approx(84.22, abs=0.01)


@pytest.mark.parametrize("freight, units", [
    (200 * H * sf(0.1, 1) - 0.5, 2),  # both units pay
    (200 * H * sf(0.1, 1) + 0.5, 1),  # the second no longer does
    (200 * H * sf(0.1, 0) - 0.5, 1),
    (200 * H * sf(0.1, 0) + 0.5, 0),  # not even the first
])
def test_factory_move_exactly_when_it_pays(freight, units):
    # the factory holds stock nobody else asks for (no demand): shipping it costs nothing
    lanes = lanes_of(("WH", "D1", freight, 0.0))
    levels = demand_levels(("WH", "A", 0, 5, 0.0, np.nan), ("D1", "A", 2, 0, 0.01, 10.0))
    p = plan(levels, lanes, tiers=TIERS)
    assert p.report.pricing == "backorders" and p.report.status == "optimal"
    assert moves(p) == ({("WH", "D1", "A"): units} if units else {})
    # units worth less than the freight are left out of the model: one arc and one segment
    # per unit that can pay, nothing at all when none can
    assert p.report.n_variables == (1 + units if units else 0)
    if units:
        row = p.transfers.iloc[0]
        want_bd = H * sum(sf(0.1, k) for k in range(units))
        assert row["backorder_days_avoided"] == pytest.approx(want_bd, abs=0.005)
        assert row["value_avoided"] == pytest.approx(200 * want_bd, abs=0.005)
        assert row["value_avoided"] > row["cost"]


@pytest.mark.parametrize("margin, units", [(-0.5, 2), (0.5, 0)])
def test_shipment_cost_must_be_paid_by_the_whole_shipment(margin, units):
    # no cost per unit, one shipment cost: both units go together, or none
    both = 200 * H * (sf(0.1, 0) + sf(0.1, 1))
    lanes = lanes_of(("WH", "D1", 0.0, both + margin))
    levels = demand_levels(("WH", "A", 0, 5, 0.0, np.nan), ("D1", "A", 2, 0, 0.01, 10.0))
    p = plan(levels, lanes, tiers=TIERS, use_fixed_costs=True)
    assert p.report.n_integer > 0 and p.report.status == "optimal"
    assert moves(p) == ({("WH", "D1", "A"): units} if units else {})


@pytest.mark.parametrize("margin, moved", [(-0.5, 1), (0.5, 0)])
def test_dealer_move_pays_net_of_what_the_sender_loses(margin, moved):
    # D2 (tier 3, 125 a day) holds 1 above its target 0 with lead-time demand 0.01 x 5 = 0.05:
    # giving it up costs 125 x 90 x P(D2 > 0); D1 gains 200 x 90 x P(D1 > 0)
    gain, loss = 200 * H * sf(0.1, 0), 125 * H * sf(0.05, 0)
    net = gain - loss
    assert net == pytest.approx(1712.93 - 548.67, abs=0.01)
    lanes = lanes_of(("WH", "D1", 5.0, 0.0), ("D2", "D1", net + margin, 0.0))
    levels = demand_levels(("WH", "A", 0, 0, 0.0, np.nan), ("D1", "A", 1, 0, 0.01, 10.0),
                           ("D2", "A", 0, 1, 0.01, 5.0))
    p = plan(levels, lanes, tiers=TIERS)
    assert moves(p) == ({("D2", "D1", "A"): 1} if moved else {})
    if moved:
        row = p.transfers.iloc[0]
        assert row["backorder_days_avoided"] == pytest.approx(H * (sf(0.1, 0) - sf(0.05, 0)),
                                                              abs=0.005)
        assert row["value_avoided"] == pytest.approx(net, abs=0.005)
        assert p.report.value_avoided == pytest.approx(net, abs=0.005)
        # the report's position costs: D1 from EBO(0) to EBO(1), D2 from EBO(1) to EBO(0)
        before = 200 * H * 0.1 + 125 * H * (0.05 - sf(0.05, 0))
        after = 200 * H * (0.1 - sf(0.1, 0)) + 125 * H * 0.05
        assert p.report.shortage_cost_before == pytest.approx(before)
        assert p.report.shortage_cost_after == pytest.approx(after)
        assert p.report.objective == pytest.approx(net + margin + after)  # freight + costs after


def test_warehouse_keeps_stock_its_own_backorders_need():
    # the warehouse holds 2 with its own lead-time demand 0.05/day x 20 days = 1.0: its first
    # unit out costs 100 x 90 x P(D > 1) = 2,378 > the 1,713 D1's first unit is worth
    lanes = lanes_of(("WH", "D1", 1.0, 0.0))
    levels = demand_levels(("WH", "A", 0, 2, 0.05, np.nan), ("D1", "A", 2, 0, 0.01, 10.0))
    assert 100 * H * sf(1.0, 1) == pytest.approx(2378.1, abs=0.1)
    p = plan(levels, lanes, tiers=TIERS, warehouse_lead_time=20.0)
    assert p.report.pricing == "backorders" and moves(p) == {}
    # at half that rate (1,189) the first unit moves; the second (84 at D1) does not
    series = pd.Series({"A": 20.0, "B": 3.0})
    p = plan(levels, lanes, tiers=TIERS, warehouse_lead_time=series,
             warehouse_backorder_cost_per_day=50.0)
    assert moves(p) == {("WH", "D1", "A"): 1}
    row = p.transfers.iloc[0]
    assert row["value_avoided"] == pytest.approx(200 * H * sf(0.1, 0) - 50 * H * sf(1.0, 1),
                                                 abs=0.005)
    assert row["backorder_days_avoided"] == pytest.approx(H * (sf(0.1, 0) - sf(1.0, 1)), abs=0.005)
    # a warehouse lead time in the levels row is used as it is
    p = plan(levels.assign(effective_lead_time_days=[20.0, 10.0]), lanes, tiers=TIERS,
             warehouse_backorder_cost_per_day=50.0)
    assert moves(p) == {("WH", "D1", "A"): 1}


def test_cheap_slow_part_with_dear_freight_does_not_move():
    # 91-bolts kind: a 3.31 part, lead-time demand 0.0005 x 10 = 0.005 at a tier-1 dealer
    # with nothing of its target 5, a dear lane (21.09 a unit + 135.43 a shipment)
    lanes = lanes_of(("WH", "D1", 21.09, 135.43))
    levels = demand_levels(("WH", "BOLT", 0, 500, 0.0, np.nan), ("D1", "BOLT", 5, 0, 0.0005, 10.0))
    unit_cost = pd.Series({"BOLT": 3.31})
    # the first unit avoids 0.45 backorder-days, 89.78: less than one shipment
    assert 200 * H * sf(0.005, 0) == pytest.approx(89.78, abs=0.01)
    p = plan(levels, lanes, tiers=TIERS, unit_cost=unit_cost)
    assert p.transfers.empty and p.report.pricing == "backorders"
    assert p.report.unmet_shortage_units == 5 and p.report.value_avoided == 0
    # the weights of bare targets send all five, for 241 of freight on 16.55 of goods
    bare = plan(levels.drop(columns=["demand_per_day", "effective_lead_time_days"]), lanes,
                tiers=TIERS, unit_cost=unit_cost)
    assert moves(bare) == {("WH", "D1", "BOLT"): 5}
    assert bare.report.transport_cost == pytest.approx(5 * 21.09 + 135.43)


def test_large_gaps_are_priced_in_capped_segments():
    # a gap of 120 units is priced in 50 segments (widths 2 and 3) at their units' average:
    # the plan stops within one segment of the unit-exact answer
    mean = 60.0
    lanes = lanes_of(("WH", "D1", 1.0, 0.0))
    levels = demand_levels(("WH", "A", 0, 500, 0.0, np.nan), ("D1", "A", 120, 0, 1.0, mean))
    p = plan(levels, lanes, tiers=TIERS)
    exact = sum(200 * H * sf(mean, k) > 1.0 for k in range(120))
    assert p.report.n_variables == 1 + 50
    assert abs(moves(p)[("WH", "D1", "A")] - exact) <= 3


def test_backorder_costs_per_tier_default_where_not_given():
    # D1 is tier 1 (200 by default): its first unit is worth 1,712.93; at 100 a day, 856.46
    lanes = lanes_of(("WH", "D1", 1000.0, 0.0))
    levels = demand_levels(("WH", "A", 0, 5, 0.0, np.nan), ("D1", "A", 1, 0, 0.01, 10.0))
    assert moves(plan(levels, lanes, tiers=TIERS)) == {("WH", "D1", "A"): 1}
    assert moves(plan(levels, lanes, tiers=TIERS, backorder_cost_per_day={"1": 100})) == {}
    assert moves(plan(levels, lanes, tiers=TIERS, backorder_cost_per_day={4: 10})) \
        == {("WH", "D1", "A"): 1}
    assert moves(plan(levels, lanes, tiers=TIERS, backorder_cost_per_day=100.0)) == {}
    # without tiers every dealer costs the lowest rate
    assert moves(plan(levels, lanes)) == {}


def test_fairness_does_not_apply_to_backorder_pricing():
    levels, lanes, tiers, _ = demand_instance(seed=1)
    a = plan(levels, lanes, tiers=tiers, warehouse_lead_time=9.0, fairness=0.0).transfers
    b = plan(levels, lanes, tiers=tiers, warehouse_lead_time=9.0, fairness=3.0).transfers
    pd.testing.assert_frame_equal(a, b)


def test_pricing_is_chosen_from_the_columns():
    lanes = lanes_of(("WH", "D1", 1.0, 0.0))
    levels = demand_levels(("WH", "A", 0, 2, 0.05, np.nan), ("D1", "A", 2, 0, 0.01, 10.0))
    # the warehouse has demand but no lead time: "auto" falls back to weights and says why
    p = plan(levels, lanes, tiers=TIERS)
    assert p.report.pricing == "weights"
    assert "warehouse_lead_time" in p.report.message and "WH/A" in p.report.message
    with pytest.raises(ValueError, match=r"no effective_lead_time_days.*warehouse_lead_time"):
        plan(levels, lanes, tiers=TIERS, pricing="backorders")
    # a dealer with demand and no lead time is a data error either way
    bad = levels.assign(effective_lead_time_days=[np.nan, np.nan])
    with pytest.raises(ValueError, match=r"D1/A.*give every row with demand a lead time"):
        plan(bad, lanes, tiers=TIERS, warehouse_lead_time=20.0)
    # an explicit shortage cost keeps the weights; so does pricing="weights"
    assert plan(levels.assign(shortage_cost=1.0), lanes, warehouse_lead_time=20.0).report.pricing \
        == "weights"
    assert plan(levels, lanes, warehouse_lead_time=20.0, pricing="weights").report.pricing \
        == "weights"
    with pytest.raises(ValueError, match="needs levels.demand_per_day"):
        plan(levels.drop(columns="demand_per_day"), lanes, pricing="backorders")


def demand_instance(n_dealers=12, n_parts=15, seed=0):
    """random_instance with demand: rates that roughly explain the targets, lead times,
    variance-to-mean ratios, and the parts' warehouse lead times."""
    levels, lanes, tiers, unit_cost = random_instance(n_dealers, n_parts, seed)
    rng = np.random.default_rng(seed + 100)
    lead = rng.uniform(2.0, 20.0, len(levels))
    rate = (levels["target"].to_numpy() * rng.uniform(0.3, 1.0, len(levels)) + 0.05) / lead
    is_wh = (levels["location_id"] == "WH").to_numpy()
    levels = levels.assign(demand_per_day=rate, effective_lead_time_days=np.where(is_wh, np.nan, lead),
                           demand_vmr=rng.choice([1.0, 1.0, 1.7, 3.0], len(levels)))
    return levels, lanes, tiers, unit_cost


@pytest.mark.parametrize("fixed", [False, True])
def test_backorder_plan_totals_and_what_each_move_buys(fixed):
    levels, lanes, tiers, _ = demand_instance(seed=4)
    wh_lead = pd.Series(8.0, index=sorted(levels["part_number"].unique()))
    p = plan(levels, lanes, tiers=tiers, warehouse_lead_time=wh_lead, use_fixed_costs=fixed,
             mip_gap=0.0)
    t, r = p.transfers, p.report
    assert r.status == "optimal" and r.pricing == "backorders" and len(t) > 10
    # the report's totals are the sums of the columns
    assert r.transport_cost == pytest.approx(t["cost"].sum())
    assert r.backorder_days_avoided == pytest.approx(t["backorder_days_avoided"].sum())
    assert r.value_avoided == pytest.approx(t["value_avoided"].sum())
    # ... and what the position costs say, to the cent per row
    assert r.value_avoided == pytest.approx(r.shortage_cost_before - r.shortage_cost_after,
                                            abs=0.01 * len(t))
    # every move pays its freight per unit, net of what its sender loses (at the optimum the
    # receiver's average unit is worth at least freight + the sender's average unit)
    cpu = lanes.set_index(["from_id", "to_id"])["cost_per_unit"]
    freight = t["quantity"].to_numpy() * cpu.loc[list(zip(t["from_id"], t["to_id"]))].to_numpy()
    assert (t["value_avoided"].to_numpy() >= freight - 0.01).all()
    # recomputed from the levels with the package's EBO (NB where vmr > 1)
    lv = levels.set_index(["location_id", "part_number"])
    lead = lv["effective_lead_time_days"].fillna(8.0)
    mean = lv["demand_per_day"] * lead
    got = t.groupby(["to_id", "part_number"])["quantity"].sum().rename_axis(lv.index.names)
    sent = t.groupby(["from_id", "part_number"])["quantity"].sum().rename_axis(lv.index.names)
    pos = lv["on_hand"] + lv["on_order"]
    after = pos.add(got, fill_value=0).sub(sent, fill_value=0).astype(int)
    b = pd.Series([100.0 if loc == "WH" else B[int(tiers[loc])] for loc in lv.index.get_level_values(0)],
                  index=lv.index)

    def cost(position):
        # backorder-days in repairs waiting: units backordered / units per demand (vmr)
        return b * H * expected_backorders(position.to_numpy(), mean.to_numpy(),
                                           (lv["demand_vmr"] * mean).to_numpy()) / lv["demand_vmr"]

    assert r.shortage_cost_before == pytest.approx(cost(pos).sum())
    assert r.shortage_cost_after == pytest.approx(cost(after).sum())
    assert r.unmet_shortage_units == int((lv["target"] - after).clip(lower=0)
                                         [lv.index.get_level_values(0) != "WH"].sum())
    # the card shows the totals in the currency
    card = repr(r) + r._repr_html_() + str(r)
    assert "freight (CNY)" in card and "value_avoided (CNY)" in card and "backorders" in card
    assert f"{r.value_avoided:,.2f} CNY" in str(r)


# ---------------------------------------------------------------------------------------
# Dealer files a dealer understands
# ---------------------------------------------------------------------------------------

_RECEIVE = re.compile(
    r"^you hold (?P<held>[\d,]+)(?: \(\+(?P<oo>[\d,]+) on order\))? of your target (?P<target>[\d,]+)"
    r" and expect (?P<expect>[\d.,]+|under 0\.1) demands in the next 90 days: "
    r"(?:the factory|(?P<from>.+), which holds (?P<s_held>[\d,]+)(?: \(\+[\d,]+ on order\))?"
    r" and needs (?P<s_target>[\d,]+),) sends (?P<q>[\d,]+); this avoids about (?P<bd>[\d.,]+)"
    r" backorder-days \((?P<value>[\d.,]+) CNY\) for (?P<cost>[\d.,]+) CNY of freight$")
_SEND = re.compile(
    r"^you hold (?P<held>[\d,]+)(?: \(\+[\d,]+ on order\))? and need (?P<target>[\d,]+) for the next"
    r" 90 days: send (?P<q>[\d,]+) to (?P<to>.+), which holds (?P<r_held>[\d,]+)"
    r"(?: \(\+[\d,]+ on order\))? and expects (?P<expect>[\d.,]+|under 0\.1) demands"
    r"(?: \(it needs them more than you\))?; this avoids about (?P<bd>[\d.,]+) backorder-days"
    r" \((?P<value>[\d.,]+) CNY\) for (?P<cost>[\d.,]+) CNY of freight$")


def _bd_text(x: float) -> str:
    return f"{x:,.0f}" if x >= 10 else f"{x:.1f}" if x >= 1 else f"{x:.2f}"


def test_dealer_files_speak_to_the_dealer():
    levels, lanes, tiers, _ = demand_instance(seed=6)
    dealers = sorted(set(levels["location_id"]) - {"WH"})
    names = pd.Series({d: f"Dealer {d[1:]} Machinery" for d in dealers} | {"WH": "Factory"})
    parts = pd.Series({p: f"part {p.lower()}" for p in levels["part_number"].unique()})
    p = plan(levels, lanes, tiers=tiers, warehouse_lead_time=8.0, location_names=names,
             part_names=parts)
    t = p.transfers
    assert list(t.columns) == list(TRANSFER_COLUMNS)
    assert (t["description"] == "part " + t["part_number"].str.lower()).all()
    assert (t["to_name"] == t["to_id"].map(names)).all() and (t["from_name"] == t["from_id"].map(names)).all()
    assert (t["currency"] == "CNY").all() and (t["paid_by"] == "WH").all()
    lv = levels.set_index(["location_id", "part_number"])
    files = dealer_transfer_files(t, "WH")
    by_id = t.set_index("transfer_id")
    checked = {"send": 0, "receive": 0, "factory": 0}
    for loc, f in files.items():
        assert list(f.columns) == list(DEALER_FILE_COLUMNS)
        assert f["reason"].str.match(r"^[a-z]").all()  # never a spreadsheet formula
        for _, row in f.iterrows():
            mine = lv.loc[(loc, row["part_number"])]
            got = (_SEND if row["direction"] == "send" else _RECEIVE).match(row["reason"])
            assert got, row["reason"]
            g = got.groupdict()
            assert int(g["held"].replace(",", "")) == mine["on_hand"]
            assert int(g["target"].replace(",", "")) == mine["target"]
            assert int(g["q"].replace(",", "")) == row["quantity"]
            assert g["cost"] == f"{row['cost']:,.2f}"
            move = by_id.loc[row["transfer_id"]]
            assert g["bd"] == _bd_text(move["backorder_days_avoided"])
            value = move["value_avoided"]
            assert g["value"] == (f"{value:,.0f}" if value >= 100 else f"{value:,.2f}")
            other = lv.loc[(row["to_id"] if row["direction"] == "send" else row["from_id"],
                            row["part_number"])]
            expect_rcv = (mine if row["direction"] == "receive" else other)["demand_per_day"] * H
            assert g["expect"] == ("under 0.1" if expect_rcv < 0.05 else f"{expect_rcv:.1f}")
            if row["direction"] == "send":
                assert g["to"] == f"{row['to_id']} {row['to_name']}"
                assert int(g["r_held"]) == other["on_hand"]
            elif row["from_id"] != "WH":
                assert g["from"] == f"{row['from_id']} {row['from_name']}"
                assert int(g["s_held"]) == other["on_hand"] and int(g["s_target"]) == other["target"]
            checked["factory" if row["from_id"] == "WH" else row["direction"]] += 1
        # arrival: ship-by plus the lane's lead time rounded up to whole days
        lead = lanes.set_index(["from_id", "to_id"])["lead_time_days"]
        want = np.ceil(lead.loc[list(zip(f["from_id"], f["to_id"]))].to_numpy())
        assert (f["lead_time_days"].to_numpy() == want).all()
        assert (f["arrive_by"] == f["ship_by"] + pd.to_timedelta(want, unit="D")).all()
    assert min(checked.values()) > 0, checked


@pytest.mark.parametrize("payer, column", [("factory", None), ("receiver", "to_id"),
                                           ("sender", "from_id")])
def test_paid_by_follows_the_setting(payer, column):
    levels, lanes, tiers, _ = demand_instance(seed=2)
    t = plan(levels, lanes, tiers=tiers, warehouse_lead_time=8.0, freight_paid_by=payer).transfers
    assert len(t) > 0
    assert (t["paid_by"] == ("WH" if column is None else t[column])).all()
    files = dealer_transfer_files(t, "WH")
    assert all((f["paid_by"] == ("WH" if column is None else f[column])).all() for f in files.values())


HOSTILE = {"WH": "=cmd|' /C calc'!A0", "D1": "+1 dealer", "D2": "-2 dealer",
           "D3": "Zhang's \"Best\", Ltd", "D4": "北京 Ünïcode — 機械",
           "A": "@SUM(A1)", "B": "'=already quoted", "C": "a,b;c\"d\n"[:-1]}


def test_hostile_names_round_trip_through_the_csv_writer():
    lanes = lanes_of(*[("WH", d, 5.0, 0.0) for d in ("D1", "D2", "D3", "D4")],
                     ("D2", "D1", 1.0, 0.0))
    levels = demand_levels(("WH", "A", 0, 10, 0.0, np.nan), ("WH", "B", 0, 10, 0.0, np.nan),
                           ("WH", "C", 0, 10, 0.0, np.nan), ("D1", "A", 3, 0, 0.05, 10.0),
                           ("D2", "A", 0, 2, 0.001, 10.0), ("D3", "B", 1, 0, 0.05, 10.0),
                           ("D4", "C", 1, 0, 0.05, 10.0))
    names = pd.Series(HOSTILE)
    p = plan(levels, lanes, tiers=pd.Series({"D1": 1, "D2": 4, "D3": 2, "D4": 3}),
             location_names=names[["WH", "D1", "D2", "D3", "D4"]], part_names=names[["A", "B", "C"]])
    files = p.by_location()
    assert set(files) == {"D1", "D2", "D3", "D4"}
    texts = ["from_name", "to_name", "description", "reason"]
    for loc, f in files.items():
        data = frame_to_csv_bytes(f)
        raw = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
        # no cell of the file starts a spreadsheet formula ...
        for col in raw.columns:
            assert not raw[col].str.match(r"^[=+\-@\t\r]").any(), (loc, col)
        # ... and the package's reader gives every text back as it was
        for col in texts:
            assert unescape_cells(raw[col]).tolist() == f[col].tolist(), (loc, col)
        # reasons start with a letter, so the writer leaves them untouched
        assert raw["reason"].tolist() == f["reason"].tolist()
        assert (f["to_name"] == f["to_id"].map(HOSTILE)).all()
        assert (f["description"] == f["part_number"].map(HOSTILE)).all()
    # names are text, never interpreted: they appear verbatim inside the reasons
    d1 = files["D1"]
    assert d1.loc[d1["from_id"] == "D2", "reason"].str.contains(
        "D2 " + HOSTILE["D2"], regex=False).all()
    assert files["D2"]["reason"].str.contains("D1 " + HOSTILE["D1"], regex=False).all()


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
    # HiGHS solved the arrays; the pulp problem, built on first access, carries its values
    import pulp

    assert pulp.value(bulk.problem.objective) == pytest.approx(pulp.value(slow.problem.objective), rel=1e-9)
    assert bulk.problem is bulk.problem  # built once



def test_the_lp_solved_part_by_part_is_the_whole_lp(monkeypatch):
    """Without fixed costs the parts share no row: solved in blocks of a few parts (and
    without presolve), the plan is the whole LP's optimum, move for move."""
    levels, lanes, tiers, unit_cost = random_instance(n_dealers=10, n_parts=20, seed=11)
    monkeypatch.setattr(solvers, "BLOCK_COLUMNS", None)
    whole = plan(levels, lanes, tiers=tiers, unit_cost=unit_cost, use_fixed_costs=False)
    monkeypatch.setattr(solvers, "BLOCK_COLUMNS", 15)
    parts = plan(levels, lanes, tiers=tiers, unit_cost=unit_cost, use_fixed_costs=False)
    assert "independent blocks" in parts.report.solver_status
    assert "independent" not in whole.report.solver_status
    assert parts.report.status == whole.report.status == "optimal"
    assert parts.report.objective == pytest.approx(whole.report.objective, rel=1e-12)
    assert parts.report.units_moved == whole.report.units_moved > 0
    # with fixed costs the lanes tie the parts together: one block
    fixed = plan(levels, lanes, tiers=tiers, unit_cost=unit_cost, use_fixed_costs=True)
    assert "independent" not in fixed.report.solver_status

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
    with pytest.raises(ValueError, match="currency must be a currency code"):
        plan(levels, lanes, currency="=1+1")
    with pytest.raises(ValueError, match="freight_paid_by must be one of"):
        plan(levels, lanes, freight_paid_by="dealer")
    with pytest.raises(ValueError, match="pricing must be one of"):
        plan(levels, lanes, pricing="money")
    with pytest.raises(ValueError, match="window_days must be a finite number > 0"):
        plan(levels, lanes, window_days=0)
    with pytest.raises(ValueError, match=r"backorder_cost_per_day\[4\] must be"):
        plan(levels, lanes, backorder_cost_per_day={1: 200, 4: -1})
    with pytest.raises(ValueError, match="location_names must be a pandas Series"):
        plan(levels, lanes, location_names={"D1": "x"})
    with pytest.raises(ValueError, match="part_names has duplicate part_number 'A'"):
        plan(levels, lanes, part_names=pd.Series(["x", "y"], index=["A", "A"]))
    priced = levels.assign(demand_per_day=[0.0, 0.1, 0.1], effective_lead_time_days=[np.nan, 5, 5])
    with pytest.raises(ValueError, match=r"tier\(s\) \[7\] with no entry in backorder_cost_per_day"):
        plan(priced, lanes, tiers=pd.Series({"D1": 1, "D2": 7}), backorder_cost_per_day={1: 200})
    with pytest.raises(ValueError, match=r"backorder_cost_per_day must be a finite number >= 0"):
        plan(priced, lanes, backorder_cost_per_day="lots")
    with pytest.raises(ValueError, match=r"levels\.demand_per_day is negative"):
        plan(priced.assign(demand_per_day=[0.0, -0.1, 0.1]), lanes)


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
    assert (m["lead_time_days"] == np.ceil(m["lead_time_days_lane"])).all()
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
