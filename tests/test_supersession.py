"""Part supersession: chains resolved to the current number, cycles and forks refused,
history, BOM and stock expressed in current numbers, and plans that name no old number."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

import partsforecast as pf
import partsforecast.plan as plan_module
import partsforecast.supersession as sup_module
from partsforecast import FailureModel, Fleet, forecast_demand
from partsforecast._sample_supersession import P_INTERCHANGEABLE, add_superseded_history
from partsforecast.data import InputError
from partsforecast.evaluate import backtest_forecast
from partsforecast.plan import PlanSettings, plan_stock, run_plan
from partsforecast.samples import generate_tables
from partsforecast.supersession import (
    Supersession,
    current_fleet,
    current_forecast,
    current_numbers,
    supersession_chains,
    supersession_rules,
)

# ---------------------------------------------------------------------------------------
# Fixtures: a small generated fleet, with and without superseded history
# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def generated():
    tables, _, as_of = generate_tables(n_machines=600, n_dealers=8, seed=3)
    return tables, as_of


@pytest.fixture(scope="module")
def with_history(generated):
    tables, as_of = generated
    new_tables, truth = add_superseded_history(tables, np.random.default_rng(1), as_of)
    return Fleet(**new_tables, as_of=as_of), truth, new_tables


def _walk(parts: pd.DataFrame) -> dict[str, tuple[str, int, bool]]:
    """Brute force: follow each number's successors one step at a time."""
    succ = {o: (p, bool(ok)) for p, o, ok in zip(parts["part_number"], parts["supersedes"],
                                                 parts.get("interchangeable", pd.Series(True, index=parts.index)))
            if isinstance(o, str)}
    out = {}
    for start in list(parts["part_number"]) + [o for o in parts["supersedes"] if isinstance(o, str)]:
        node, links, ok = start, 0, True
        while node in succ:
            node, fits = succ[node]
            links, ok = links + 1, ok and fits
        out[start] = (node, links, ok)
    return out


# ---------------------------------------------------------------------------------------
# Chains
# ---------------------------------------------------------------------------------------

def test_chains_resolve_to_the_current_number():
    # A → B → C, D → E, X alone, Z (no row anywhere) → Y
    parts = pd.DataFrame({"part_number": ["B", "C", "E", "X", "Y", "D"],
                          "supersedes": ["A", "B", "D", None, "Z", None],
                          "interchangeable": [True, False, True, True, True, True]})
    cur = current_numbers(parts)
    assert cur.to_dict() == {"B": "C", "C": "C", "E": "E", "X": "X", "Y": "Y", "D": "E", "A": "C", "Z": "Y"}
    ch = supersession_chains(parts).set_index("part_number")
    assert ch["links"].to_dict() == {"B": 1, "C": 0, "E": 0, "X": 0, "Y": 0, "D": 1, "A": 2, "Z": 1}
    # C's row says B's stock does not fit in place of C: B's and A's stock do not count as C
    assert ch["interchangeable"].to_dict() == {"B": False, "C": True, "E": True, "X": True, "Y": True,
                                               "D": True, "A": False, "Z": True}
    assert ch["in_parts"].to_dict() == {"B": True, "C": True, "E": True, "X": True, "Y": True, "D": True,
                                        "A": False, "Z": False}
    # a link that fits after one that does not: A → B does not fit, B → C does
    two = parts.assign(interchangeable=[False, True, True, True, True, True])
    ch2 = supersession_chains(two).set_index("part_number")["interchangeable"]
    assert (ch2["A"], ch2["B"]) == (False, True)


def test_random_forest_of_chains_matches_a_brute_force_walk():
    rng = np.random.default_rng(7)
    numbers = np.array([f"N{i:05d}" for i in rng.permutation(3000)], dtype=object)
    cuts = np.sort(rng.choice(np.arange(1, 3000), size=400, replace=False))
    rows = []
    for chain in np.split(numbers, cuts):  # chains of random lengths; the first is never a parts row
        for old, new in zip(chain[:-1], chain[1:]):
            rows.append((new, old, bool(rng.random() < 0.8)))
    parts = pd.DataFrame(rows, columns=["part_number", "supersedes", "interchangeable"])
    parts = parts.sample(frac=1.0, random_state=3).reset_index(drop=True)  # any row order
    got = supersession_chains(parts).set_index("part_number")
    want = _walk(parts)
    assert set(got.index) == set(want)
    for number, (cur, links, ok) in want.items():
        assert (got.loc[number, "current"], got.loc[number, "links"], got.loc[number, "interchangeable"]) \
            == (cur, links, ok), number


def test_a_10000_long_chain_resolves_at_once():
    numbers = [f"P{i:05d}" for i in range(10_000)]
    parts = pd.DataFrame({"part_number": numbers[1:], "supersedes": numbers[:-1]})
    t = time.perf_counter()
    ch = supersession_chains(parts)
    assert time.perf_counter() - t < 2.0
    ch = ch.set_index("part_number")
    assert (ch["current"] == "P09999").all()
    assert ch.loc["P00000", "links"] == 9_999 and ch.loc["P05000", "links"] == 4_999
    assert ch["links"].sum() == 9_999 * 10_000 // 2


# ---------------------------------------------------------------------------------------
# Cycles, forks and self-supersession
# ---------------------------------------------------------------------------------------

def test_cycle_fork_and_self_are_input_errors_naming_the_parts():
    with pytest.raises(InputError) as err:
        current_numbers(pd.DataFrame({"part_number": ["A", "B", "C"], "supersedes": ["C", "A", "B"]}))
    msg = str(err.value)
    assert err.value.n_problems == 3
    assert "parts row 0, column supersedes, value 'C': supersession cycle A → B → C → A" in msg
    assert {p.row for p in err.value.problems} == {0, 1, 2}
    with pytest.raises(InputError, match=r"parts row 1, column supersedes, value 'K': a part cannot supersede itself"):
        current_numbers(pd.DataFrame({"part_number": ["J", "K"], "supersedes": [None, "K"]}))
    with pytest.raises(InputError) as err:
        current_numbers(pd.DataFrame({"part_number": ["Q", "R", "S"], "supersedes": ["P", "P", None]}))
    assert err.value.n_problems == 2
    assert "fork: parts Q, R all supersede P" in str(err.value)
    assert [p.column for p in err.value.problems] == ["supersedes", "supersedes"]
    # a valid chain next to a cycle: only the cycle is named
    rules = supersession_rules(pd.DataFrame({"part_number": ["B", "C", "X", "Y"], "supersedes": ["A", "B", "Y", "X"]}))
    assert len(rules) == 1 and rules[0][0].tolist() == [False, False, True, True]


def test_hostile_cycles_and_forks_end_quickly_and_are_counted():
    numbers = [f"P{i:05d}" for i in range(10_000)]
    big = pd.DataFrame({"part_number": numbers, "supersedes": numbers[1:] + numbers[:1]})
    t = time.perf_counter()
    with pytest.raises(InputError) as err:
        supersession_chains(big)
    assert time.perf_counter() - t < 2.0
    assert err.value.n_problems == 10_000
    assert "(10,000 parts in all)" in str(err.value)
    # 5,000 two-part cycles: each of the first few named, all counted, the message bounded
    pairs = pd.DataFrame({"part_number": numbers, "supersedes": [numbers[i ^ 1] for i in range(10_000)]})
    with pytest.raises(InputError) as err:
        supersession_chains(pairs)
    assert err.value.n_problems == 10_000 and len(str(err.value)) < 20_000
    assert "supersession cycle P00000 → P00001 → P00000" in str(err.value)
    # 3,000 forks
    forks = pd.DataFrame({"part_number": numbers[:6000], "supersedes": [f"OLD{i // 2}" for i in range(6000)]})
    with pytest.raises(InputError) as err:
        supersession_chains(forks)
    assert err.value.n_problems == 6000 and "fork: parts P00000, P00001 all supersede OLD0" in str(err.value)


def test_fleet_validation_refuses_a_cycle(generated):
    tables, as_of = generated
    parts = tables["parts"].copy()
    free = parts.index[parts["supersedes"].isna()][:2]
    a, b = parts.loc[free, "part_number"]
    parts.loc[free[0], "supersedes"] = b
    parts.loc[free[1], "supersedes"] = a
    with pytest.raises(InputError) as err:
        Fleet(**{**tables, "parts": parts}, as_of=as_of)
    assert {p.row for p in err.value.problems} == set(free)
    assert all(p.table == "parts" and p.column == "supersedes" for p in err.value.problems)
    assert f"supersession cycle {a} → {b} → {a}" in str(err.value)  # from the first row's part


def test_cli_exits_2_on_a_cycle_naming_the_parts(tmp_path, with_history):
    fleet, truth, _ = with_history
    folder = fleet.to_dir(tmp_path / "fleet")
    parts = pd.read_csv(folder / "parts.csv", dtype=str, keep_default_na=False)
    chain = truth[truth["successor"] != truth["current"]].iloc[0]  # A → B → C
    row_a = int(np.flatnonzero(parts["part_number"] == chain["old"])[0])
    parts.loc[row_a, "supersedes"] = chain["current"]  # C → A closes the cycle A → B → C → A
    parts.to_csv(folder / "parts.csv", index=False)
    r = subprocess.run([sys.executable, "-m", "partsforecast", "validate", str(folder)],
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Traceback" not in r.stderr + r.stdout
    # the row as in the file (header = row 1), the value as written, every part of the cycle
    assert f"parts row {row_a + 2}, column supersedes, value '{chain['current']}': supersession cycle" in r.stderr
    for number in (chain["old"], chain["successor"], chain["current"]):
        assert number in r.stderr


# ---------------------------------------------------------------------------------------
# The generator's superseded history
# ---------------------------------------------------------------------------------------

def test_generated_history_is_real_and_matches_its_truth(generated, with_history):
    tables, as_of = generated
    fleet, truth, new_tables = with_history
    assert (truth["switch_date"] < as_of).all() and (truth["switch_date"] > tables["tickets"]["opened_at"].min()).all()
    assert (truth["successor"] != truth["current"]).any(), "a few two-link chains"
    assert (~truth["interchangeable"]).any()
    # every old number has a parts row of the same component as its current number
    info = fleet.parts.set_index("part_number")
    assert (info.loc[truth["old"], "component"].to_numpy() == info.loc[truth["current"], "component"].to_numpy()).all()
    assert truth["old"].isin(fleet.stock.loc[fleet.stock["location_id"] != fleet.warehouse_id, "part_number"]).all()
    # the chains resolve to the truth, with the truth's interchangeability
    ch = supersession_chains(fleet.parts).set_index("part_number").loc[truth["old"]]
    assert (ch["current"].to_numpy() == truth["current"].to_numpy()).all()
    assert (ch["interchangeable"].to_numpy() == truth["interchangeable"].to_numpy()).all()
    # every ticket line of a chain carries the number of its day; other lines are untouched
    before, after = tables["tickets"], new_tables["tickets"]
    assert (before["ticket_id"].to_numpy() == after["ticket_id"].to_numpy()).all()
    changed = before["part_number"].to_numpy() != after["part_number"].to_numpy()
    links = truth.set_index("old")
    for old, link in links.iterrows():
        lines = after["part_number"] == old
        assert lines.sum() == 0 or (after.loc[lines, "opened_at"] < link["switch_date"]).all()
    cur = current_numbers(fleet.parts)
    assert (cur.reindex(after["part_number"]).to_numpy() == before["part_number"].to_numpy()).all()
    assert changed.sum() > 0 and np.isin(after["part_number"].to_numpy()[changed], truth["old"]).all()
    # the input tables are not changed, and the same stream gives the same tables
    kept = {name: frame.copy(deep=True) for name, frame in tables.items()}
    again, truth2 = add_superseded_history(tables, np.random.default_rng(1), as_of)
    for name, frame in kept.items():
        pd.testing.assert_frame_equal(tables[name], frame)
    pd.testing.assert_frame_equal(truth, truth2)
    for name in ("parts", "tickets", "stock"):
        pd.testing.assert_frame_equal(again[name], new_tables[name])


def test_about_85_percent_of_supersessions_are_interchangeable(generated):
    tables, as_of = generated
    flags = np.concatenate([add_superseded_history(tables, np.random.default_rng(s), as_of)[1]["link_interchangeable"]
                            for s in range(40)])
    # 40 fleets × ~20 links: a binomial share within four standard deviations
    sd = np.sqrt(P_INTERCHANGEABLE * (1 - P_INTERCHANGEABLE) / flags.size)
    assert abs(flags.mean() - P_INTERCHANGEABLE) < 4 * sd


# ---------------------------------------------------------------------------------------
# History merged; the failure models unaffected
# ---------------------------------------------------------------------------------------

def _monthly(tickets: pd.DataFrame, mapping: pd.Series | None = None) -> pd.Series:
    part = tickets["part_number"].astype(str)
    if mapping is not None:
        part = part.map(lambda p: mapping.get(p, p))
    month = tickets["opened_at"].dt.to_period("M").dt.start_time
    return tickets["quantity"].groupby([tickets["location_id"].astype(str), part, month]).sum()


def test_history_of_old_numbers_is_the_current_numbers_demand(with_history):
    fleet, truth, _ = with_history
    cur = current_fleet(fleet)
    mapping = truth.set_index("old")["current"]  # the generator's truth, not the resolver
    direct = _monthly(fleet.tickets, mapping)
    merged = _monthly(cur.tickets)
    pd.testing.assert_series_equal(merged.sort_index(), direct.sort_index(), check_names=False)
    assert not cur.tickets["part_number"].isin(truth["old"]).any()
    assert cur.tickets["quantity"].sum() == fleet.tickets["quantity"].sum()
    rec = cur.supersession
    assert isinstance(rec, Supersession) and set(rec.merged["part_number"]) == set(truth["old"])
    assert rec.merged["ticket_lines"].sum() == fleet.tickets["part_number"].isin(truth["old"]).sum()
    # the failure models read lives by component: exactly the same lives
    a, b = fleet.component_lives(), cur.component_lives()
    pd.testing.assert_frame_equal(a.lives, b.lives)
    pd.testing.assert_frame_equal(a.ages, b.ages)
    # applied once: a current fleet is returned as it is, and validates as a fleet again
    assert current_fleet(cur) is cur
    again = Fleet(**cur.tables, as_of=cur.as_of)
    assert len(current_fleet(again).supersession.merged) == 0


def test_backtests_score_against_merged_history(with_history):
    fleet, truth, _ = with_history
    cut = pd.Timestamp("2025-01-01")  # a quarter with old-number lines
    bt = backtest_forecast(fleet, [cut], horizon=3)
    assert not bt["part_number"].isin(truth["old"]).any()
    mapping = truth.set_index("old")["current"]
    direct = _monthly(fleet.tickets, mapping)
    got = bt.set_index(["location_id", "part_number", "period"])["y"]
    want = direct.reindex(got.index, fill_value=0)
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())
    # the old numbers' lines are in the actuals: more than the current numbers' own lines
    tk = fleet.tickets
    window = (tk["opened_at"] >= cut) & (tk["opened_at"] < cut + pd.DateOffset(months=3))
    old_units = tk.loc[window & tk["part_number"].isin(truth["old"]), "quantity"].sum()
    own = _monthly(tk).reindex(got.index, fill_value=0).sum()
    assert old_units > 0 and got.sum() == own + old_units


# ---------------------------------------------------------------------------------------
# Stock and BOM, by hand
# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hand(generated):
    """Current part C with old B (fits in its place) and older A (does not fit in B's)."""
    tables, as_of = generated
    parts, stock, bom = tables["parts"], tables["stock"], tables["bom"]
    dealers = tables["locations"].loc[tables["locations"]["kind"] == "dealer", "location_id"].tolist()
    free = parts[parts["supersedes"].isna() & parts["part_number"].isin(bom["part_number"])]
    held = stock[stock["part_number"].isin(free["part_number"]) & stock["location_id"].isin(dealers)]
    c = held["part_number"].iloc[0]
    d1 = held["location_id"].iloc[0]  # holds C already
    d2 = next(d for d in dealers if not ((stock["location_id"] == d) & (stock["part_number"] == c)).any())
    row = parts[parts["part_number"] == c].iloc[0]
    new_parts = pd.concat([parts.assign(interchangeable=True),
                           pd.DataFrame([{**row, "part_number": "OLD-B", "supersedes": "OLD-A", "interchangeable": False},
                                         {**row, "part_number": "OLD-A", "supersedes": None, "interchangeable": True}])],
                          ignore_index=True)
    new_parts.loc[new_parts["part_number"] == c, "supersedes"] = "OLD-B"
    extra = pd.DataFrame({"location_id": [d1, d1, d2], "part_number": ["OLD-B", "OLD-A", "OLD-B"],
                          "on_hand": [2, 3, 4], "on_order": [1, 0, 0]})
    new_stock = pd.concat([stock, extra], ignore_index=True)
    fleet = Fleet(**{**tables, "parts": new_parts, "stock": new_stock}, as_of=as_of)
    return fleet, c, d1, d2, tables


def test_old_stock_counts_where_interchangeable(hand):
    fleet, c, d1, d2, tables = hand
    cur = current_fleet(fleet)
    st = cur.stock.set_index(["location_id", "part_number"])
    base = tables["stock"].set_index(["location_id", "part_number"])
    # B fits in C's place: D1 holds its own C plus 2 B (1 more on order); D2 only 4 B
    assert st.loc[(d1, c), "on_hand"] == base.loc[(d1, c), "on_hand"] + 2
    assert st.loc[(d1, c), "on_order"] == base.loc[(d1, c), "on_order"] + 1
    assert (st.loc[(d2, c), "on_hand"], st.loc[(d2, c), "on_order"]) == (4, 0)
    # A fits in B's place but B does not fit in C's: A's 3 units are stranded, not counted
    assert not cur.stock["part_number"].isin(["OLD-A", "OLD-B"]).any()
    stranded = cur.supersession.stranded
    assert stranded[["location_id", "part_number", "current", "on_hand", "on_order"]].values.tolist() == [
        [d1, "OLD-A", c, 3, 0]]
    assert cur.stock["on_hand"].sum() == fleet.stock["on_hand"].sum() - 3
    s = cur.supersession.summary()
    assert s["stock_units_counted"] == 6 and s["not_interchangeable"] == {
        "units_on_hand": 3, "units_on_order": 0, "locations": 1, "numbers": 1}
    assert s["merged"] == {"OLD-A": c, "OLD-B": c}
    assert not cur.parts["part_number"].isin(["OLD-A", "OLD-B"]).any()
    assert not cur.stock.duplicated(["location_id", "part_number"]).any()


def test_a_bom_row_naming_an_old_number_forecasts_the_current_one(hand):
    fleet, c = hand[:2]
    model = FailureModel().fit(fleet)
    want = forecast_demand(model, fleet, horizon=2)  # the BOM names C
    bom = fleet.bom.copy()
    bom.loc[bom["part_number"] == c, "part_number"] = "OLD-B"
    old_bom = Fleet(**{**fleet.tables, "bom": bom}, as_of=fleet.as_of)
    raw = forecast_demand(model, old_bom, horizon=2)
    assert "OLD-B" in set(raw["part_number"].astype(str)) and c not in set(raw["part_number"].astype(str))
    got = forecast_demand(model, current_fleet(old_bom), horizon=2)
    pd.testing.assert_frame_equal(got.astype({"part_number": str, "location_id": str}),
                                  want.astype({"part_number": str, "location_id": str}))
    # a forecast made on the old numbers is renumbered for the plan, and gives the same plan
    merged = current_forecast(raw, old_bom)
    keys = ["location_id", "part_number", "period"]
    w = want.astype({"part_number": str, "location_id": str}).set_index(keys)[["mean", "var"]]
    pd.testing.assert_frame_equal(merged.set_index(keys).sort_index(), w.sort_index(), check_exact=False, rtol=1e-12)
    a, b = plan_stock(raw, old_bom), plan_stock(want, fleet)
    pd.testing.assert_frame_equal(a.levels, b.levels)
    assert not a.levels["part_number"].isin(["OLD-A", "OLD-B"]).any()
    # a BOM listing both the old and the current number takes one part per replacement, not two
    both = pd.concat([fleet.bom, fleet.bom[fleet.bom["part_number"] == c].assign(part_number="OLD-B")],
                     ignore_index=True)
    dup = current_fleet(Fleet(**{**fleet.tables, "bom": both}, as_of=fleet.as_of))
    pd.testing.assert_frame_equal(dup.bom, fleet.bom)


# ---------------------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------------------

def test_plan_outputs_name_no_superseded_number(tmp_path, with_history):
    fleet, truth, _ = with_history
    out = tmp_path / "plan"
    plan = run_plan(fleet, out, PlanSettings(horizon=3), progress=False)
    old = set(truth["old"])
    for path in [out / "stock_plan.csv", out / "orders.csv", out / "forecast.csv", out / "forecast_by_part.csv",
                 *sorted((out / "transfers").glob("*.csv"))]:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if "part_number" in frame:
            assert not set(frame["part_number"]) & old, path.name
    assert len(plan.transfers) == 0 or not plan.transfers["part_number"].isin(old).any()
    # the current numbers hold their own stock plus the interchangeable old stock
    cur = current_fleet(fleet)
    levels = pd.read_csv(out / "stock_plan.csv", dtype={"location_id": str, "part_number": str})
    assert levels["on_hand"].sum() == cur.stock["on_hand"].sum()
    fits = truth.set_index("old")["interchangeable"]
    old_stock = fleet.stock[fleet.stock["part_number"].isin(old)]
    counted = old_stock["on_hand"][fits.reindex(old_stock["part_number"]).to_numpy()].sum()
    assert levels["on_hand"].sum() == fleet.stock["on_hand"].sum() - old_stock["on_hand"].sum() + counted
    # run.json says what was merged and what old stock does not fit; the report says it too
    run = json.loads((out / "run.json").read_text())["supersession"]
    assert run["merged"] == dict(sorted(zip(truth["old"], truth["current"])))
    assert run["numbers_merged"] == len(truth)
    stranded = old_stock["on_hand"].sum() - counted
    assert stranded > 0 and run["not_interchangeable"]["units_on_hand"] == stranded
    page = (out / "report.html").read_text(encoding="utf-8")
    assert f"{stranded:,} units of superseded, non-interchangeable parts" in page


def test_a_fleet_without_supersessions_gives_the_same_plan(generated, monkeypatch):
    tables, as_of = generated
    with_col = Fleet(**tables, as_of=as_of)  # supersedes values name no row anywhere
    without = Fleet(**{**tables, "parts": tables["parts"].drop(columns="supersedes")}, as_of=as_of)
    model = FailureModel().fit(without)
    fc = forecast_demand(model, without, horizon=3)
    plans = [plan_stock(fc, with_col), plan_stock(fc, without)]
    # and as before supersession existed: the renumbering switched off
    monkeypatch.setattr(plan_module, "current_fleet", lambda f: f)
    monkeypatch.setattr(plan_module, "current_forecast", lambda forecast, f: forecast)
    plans.append(plan_stock(fc, Fleet(**tables, as_of=as_of)))
    for other in plans[1:]:
        pd.testing.assert_frame_equal(plans[0].levels, other.levels)
        pd.testing.assert_frame_equal(plans[0].transfers, other.transfers)
        pd.testing.assert_frame_equal(plans[0].orders, other.orders)
    assert plans[0].supersession.summary()["numbers_merged"] == 0
    assert current_fleet(with_col).tickets is with_col.tickets


def test_supersession_displays_compactly(hand):
    rec = current_fleet(hand[0]).supersession
    assert repr(rec) == "Supersession(numbers merged=2, ticket lines=0, stock counted=6, stranded units=3)"
    assert "<table" in rec._repr_html_()
    assert sup_module.__all__ and all(hasattr(sup_module, n) for n in sup_module.__all__)


def test_a_service_schedule_naming_old_numbers_is_renumbered(hand):
    fleet, c = hand[:2]
    models = fleet.machines["machine_model"].unique()[:2]
    schedule = pd.DataFrame({"machine_model": [models[0], models[1], models[0]],
                             "part_number": ["OLD-B", "OLD-A", c], "quantity": [2, 1, 1],
                             "interval_hours": [500.0, 1000.0, 500.0]})
    cur = current_fleet(Fleet(**{**fleet.tables, "maintenance": schedule}, as_of=fleet.as_of))
    # the row naming the current number wins over the old one for the same model
    got = cur.maintenance[["machine_model", "part_number", "quantity", "interval_hours"]]
    assert got.values.tolist() == [[models[1], c, 1, 1000.0], [models[0], c, 1, 500.0]]


def test_make_fleet_option_gives_superseded_history():
    plain = pf.make_fleet(n_machines=500, n_dealers=6, seed=12)
    fleet = pf.make_fleet(n_machines=500, n_dealers=6, seed=12, supersession=True)
    truth = fleet.truth["supersession"]
    assert len(truth) > 0 and set(truth["old"]) <= set(fleet.parts["part_number"])
    # the old numbers carry history and the current fleet merges it back: same lines per
    # current number as the fleet made without the option
    assert fleet.tickets["part_number"].isin(truth["old"]).any()
    merged = pf.current_fleet(fleet).tickets.groupby("part_number")["quantity"].sum()
    base = plain.tickets.groupby("part_number")["quantity"].sum()
    pd.testing.assert_series_equal(merged.sort_index(), base.sort_index(), check_names=False)
