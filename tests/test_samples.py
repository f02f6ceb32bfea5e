"""Tests of the synthetic fleet generator: contract, determinism, and that truth is true."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from partsforecast.data import Fleet, read_fleet
from partsforecast.samples import (
    SAMPLE_SETTINGS,
    WAREHOUSE_ID,
    generate_tables,
    load_sample,
    make_fleet,
    sample_path,
    write_sample,
)

CONTRACT = {
    "machines": {"serial": "str", "machine_model": "str", "location_id": "str",
                 "in_service_date": "date", "hours_per_day": "float",
                 "retired_date": "date"},
    "tickets": {"ticket_id": "str", "serial": "str", "location_id": "str",
                "opened_at": "date", "arrived_at": "date", "parts_ready_at": "date", "closed_at": "date",
                "component": "str", "part_number": "str", "quantity": "int",
                "meter_hours": "float", "ticket_type": "str"},
    "parts": {"part_number": "str", "component": "str", "unit_cost": "float",
              "lead_time_days": "float", "supersedes": "str", "interchangeable": "bool"},
    "bom": {"machine_model": "str", "component": "str", "part_number": "str",
            "qty_per_replacement": "int"},
    "locations": {"location_id": "str", "kind": "str", "tier": "Int64", "lat": "float",
                  "lon": "float", "holding_rate": "float"},
    "lanes": {"from_id": "str", "to_id": "str", "lead_time_days": "float",
              "cost_per_unit": "float", "cost_per_shipment": "float"},
    "stock": {"location_id": "str", "part_number": "str", "on_hand": "int",
              "on_order": "int"},
    "maintenance": {"machine_model": "str", "part_number": "str", "quantity": "int",
                    "interval_hours": "float", "interval_months": "float"},
}
KEYS = {
    "machines": ["serial"],
    "tickets": ["ticket_id", "part_number"],
    "parts": ["part_number"],
    "bom": ["machine_model", "component", "part_number"],
    "locations": ["location_id"],
    "lanes": ["from_id", "to_id"],
    "stock": ["location_id", "part_number"],
    "maintenance": ["machine_model", "part_number"],
}


@pytest.fixture(scope="module")
def sample():
    return generate_tables()


@pytest.fixture(scope="module")
def tables(sample):
    return sample[0]


@pytest.fixture(scope="module")
def truth(sample):
    return sample[1]


def _one_per_ticket(tickets: pd.DataFrame) -> pd.DataFrame:
    return tickets.drop_duplicates("ticket_id").reset_index(drop=True)


def _weibull_cdf(x, shape, scale):
    return -np.expm1(-((np.asarray(x) / scale) ** shape))


# ---------------------------------------------------------------------------------------
# Determinism and settings
# ---------------------------------------------------------------------------------------


def test_same_seed_gives_identical_tables_and_truth(sample):
    again = generate_tables()
    for name, frame in sample[0].items():
        pd.testing.assert_frame_equal(frame, again[0][name], obj=name)
    for name, frame in sample[1].items():
        pd.testing.assert_frame_equal(frame, again[1][name], obj=f"truth {name}")
    assert sample[2] == again[2] == pd.Timestamp("2026-07-01")


def test_different_seeds_differ(tables):
    other, _, _ = generate_tables(seed=1)
    assert not tables["tickets"].equals(other["tickets"])
    assert not tables["machines"]["in_service_date"].equals(
        other["machines"]["in_service_date"])


@pytest.mark.parametrize("kwargs, match", [
    ({"n_machines": 0}, "n_machines"),
    ({"n_dealers": 2.5}, "n_dealers"),
    ({"years": 0}, "years"),
    ({"as_of": "not a date"}, "as_of"),
    ({"n_parts": 10}, "n_parts must be at least"),
    ({"n_parts": "many"}, "n_parts"),
])
def test_bad_settings_say_what_is_allowed(kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_tables(**{"n_machines": 50, "n_dealers": 3, **kwargs})


# ---------------------------------------------------------------------------------------
# The data contract (docs/data-contract.md)
# ---------------------------------------------------------------------------------------


def test_contract_columns_come_first_with_the_agreed_dtypes(tables):
    assert set(tables) == set(CONTRACT)
    for name, columns in CONTRACT.items():
        frame = tables[name]
        assert list(frame.columns[: len(columns)]) == list(columns), name
        assert isinstance(frame.index, pd.RangeIndex)
        for col, kind in columns.items():
            dtype = frame[col].dtype
            expected = {"str": "str", "date": "datetime64[ns]", "float": "float64",
                        "int": "int64", "Int64": "Int64", "bool": "bool"}[kind]
            assert dtype == expected, f"{name}.{col} is {dtype}, expected {expected}"
    # A little realistic noise beyond the contract.
    assert {"technician", "notes"} <= set(tables["tickets"].columns)
    assert {"dealer_name", "region"} <= set(tables["locations"].columns)


def test_keys_are_unique_and_required_values_present(tables):
    optional = {"hours_per_day", "retired_date", "arrived_at", "parts_ready_at", "closed_at", "meter_hours",
                "supersedes", "tier", "lat", "lon", "cost_per_shipment"}
    for name, keys in KEYS.items():
        frame = tables[name]
        assert not frame.duplicated(keys).any(), name
        for col in CONTRACT[name]:
            if col not in optional:
                assert frame[col].notna().all(), f"{name}.{col} has missing values"


def test_references_resolve(tables):
    m, tk, p, b, loc, ln, st = (tables[k] for k in
                                ("machines", "tickets", "parts", "bom", "locations", "lanes",
                                 "stock"))
    ids = set(loc["location_id"])
    assert set(m["location_id"]) <= ids
    assert set(tk["location_id"]) <= ids
    assert set(tk["serial"]) <= set(m["serial"])
    assert set(tk["part_number"]) <= set(p["part_number"])
    assert set(b["part_number"]) <= set(p["part_number"])
    assert set(ln["from_id"]) | set(ln["to_id"]) <= ids
    assert set(st["location_id"]) <= ids and set(st["part_number"]) <= set(p["part_number"])
    # Every part is used by some model, under its own component.
    assert set(p["part_number"]) == set(b["part_number"])
    comp = b.merge(p[["part_number", "component"]], on="part_number", suffixes=("", "_p"))
    assert (comp["component"] == comp["component_p"]).all()
    # Supersession points at retired numbers, never at a current part.
    sup = p["supersedes"].dropna()
    assert len(sup) > 0 and not sup.isin(p["part_number"]).any()


def test_values_and_dates_obey_the_rules(tables, sample):
    as_of = sample[2]
    m, tk, p, b, _loc, ln, st = (tables[k] for k in
                                ("machines", "tickets", "parts", "bom", "locations", "lanes",
                                 "stock"))
    assert (m["in_service_date"] < as_of).all()
    assert (m["in_service_date"] == m["in_service_date"].dt.normalize()).all()
    retired = m["retired_date"].dropna()
    assert (retired == retired.dt.normalize()).all()
    assert (retired > m.loc[retired.index, "in_service_date"]).all() and (retired < as_of).all()
    hpd = m["hours_per_day"].dropna()
    assert hpd.between(0, 24).all()

    start = tk["serial"].map(m.set_index("serial")["in_service_date"])
    assert (tk["opened_at"] >= start).all() and (tk["opened_at"] < as_of).all()
    assert (tk["opened_at"].dt.second == 0).all() and tk["opened_at"].dt.hour.nunique() > 6
    for col in ("parts_ready_at", "closed_at"):
        later = tk[col].dropna()
        assert (later >= tk.loc[later.index, "opened_at"]).all() and (later < as_of).all()
    both = tk[["parts_ready_at", "closed_at"]].dropna()
    assert (both["closed_at"] >= both["parts_ready_at"]).all()
    assert (tk["quantity"] > 0).all() and (tk["meter_hours"].dropna() >= 0).all()

    assert (p["unit_cost"] > 0).all() and p["lead_time_days"].between(5, 60).all()
    assert (b["qty_per_replacement"] > 0).all()
    assert (st["on_hand"] >= 0).all() and (st["on_order"] >= 0).all()
    assert (ln[["lead_time_days", "cost_per_unit"]] >= 0).all().all()
    assert (ln["cost_per_shipment"].dropna() >= 0).all() and (ln["from_id"] != ln["to_id"]).all()


def test_locations_have_one_warehouse_and_tiered_dealers(tables):
    loc = tables["locations"]
    wh = loc[loc["kind"] == "warehouse"]
    assert list(wh["location_id"]) == [WAREHOUSE_ID]
    assert wh["tier"].isna().all()  # no market tier for the factory
    dealers = loc[loc["kind"] == "dealer"]
    assert set(loc["kind"]) == {"warehouse", "dealer"} and len(dealers) == 30
    counts = dealers["tier"].value_counts()
    assert set(counts.index) == {1, 2, 3, 4}
    assert counts[1] < counts[3] and counts[1] < counts[4]
    assert dealers["lat"].between(22, 45).all() and dealers["lon"].between(100, 122).all()
    assert dealers["holding_rate"].between(0.2, 0.3).all()


def test_lanes_serve_every_dealer_and_follow_distance(tables):
    ln, loc = tables["lanes"], tables["locations"]
    dealers = set(loc.loc[loc["kind"] == "dealer", "location_id"])
    from_wh = ln[ln["from_id"] == WAREHOUSE_ID]
    assert set(from_wh["to_id"]) == dealers and len(from_wh) == len(dealers)
    assert not (ln["to_id"] == WAREHOUSE_ID).any()
    d2d = ln[ln["from_id"] != WAREHOUSE_ID]
    assert len(d2d) > 0
    pairs = set(zip(d2d["from_id"], d2d["to_id"]))
    assert all((b, a) in pairs for a, b in pairs)  # dealer lanes run both ways
    # Further is slower and dearer.
    assert stats.spearmanr(ln["distance_km"], ln["lead_time_days"]).statistic > 0.99
    assert stats.spearmanr(ln["distance_km"], ln["cost_per_unit"]).statistic > 0.99


def test_tickets_follow_the_bom_and_the_machine(tables):
    tk, m, b = tables["tickets"], tables["machines"], tables["bom"]
    by_serial = m.set_index("serial")
    lines = tk.assign(machine_model=tk["serial"].map(by_serial["machine_model"]))
    assert (lines["location_id"] == lines["serial"].map(by_serial["location_id"])).all()
    # A ticket is one failure: one machine, one component, one time.
    per = tk.groupby("ticket_id").agg(serials=("serial", "nunique"),
                                      comps=("component", "nunique"),
                                      times=("opened_at", "nunique"), lines=("part_number", "size"))
    assert (per[["serials", "comps", "times"]] == 1).all().all()
    # ...listing every part of the component's BOM, at the BOM quantity.
    joined = lines.merge(b, on=["machine_model", "component", "part_number"], how="left")
    assert (joined["quantity"] == joined["qty_per_replacement"]).all()
    bom_lines = b.groupby(["machine_model", "component"]).size().rename("bom_lines")
    first = _one_per_ticket(lines).join(per["lines"], on="ticket_id")
    first = first.join(bom_lines, on=["machine_model", "component"])
    assert (first["lines"] == first["bom_lines"]).all()
    # Missing meter readings are missing for the whole ticket.
    assert (tk.groupby("ticket_id")["meter_hours"].apply(lambda s: s.isna().nunique()) == 1).all()
    assert 0.10 < first["meter_hours"].isna().mean() < 0.20


# ---------------------------------------------------------------------------------------
# Realism of the catalogue and the fleet
# ---------------------------------------------------------------------------------------


def test_catalogue_is_realistic(tables, truth):
    b, p, life = tables["bom"], tables["parts"], truth["lifetimes"]
    models = set(b["machine_model"])
    assert {"EX20-mini", "EX200", "EX350", "WL50"} <= models
    assert (b.groupby("machine_model")["component"].nunique() >= 15).all()
    per_group = b.groupby(["machine_model", "component"]).size()
    assert per_group.between(1, 3).all()
    assert 150 <= len(p) <= 400
    shared = b.groupby("part_number")["machine_model"].nunique()
    assert (shared > 1).sum() > 20  # parts shared between models
    assert life["shape"].min() < 0.9 and life["shape"].max() > 3.0
    assert life["scale"].min() < 10_000 and life["scale"].max() > 50_000
    # A family effect: a component's shape varies less across models than across parts.
    within = life.groupby("component")["shape"].std().mean()
    assert within < 0.25 * life["shape"].std()
    cost = p.groupby("component")["unit_cost"].max()
    assert cost["bucket_teeth"] < 100 and cost["hydraulic_pump"] > 2000
    teeth = b[b["component"] == "bucket_teeth"]["qty_per_replacement"]
    assert teeth.max() >= 3


def test_fleet_volume_and_history(tables, truth, sample):
    m, tk = tables["machines"], tables["tickets"]
    n_tickets = tk["ticket_id"].nunique()
    assert 3_000 <= n_tickets <= 15_000
    assert n_tickets == len(truth["failures"])
    assert m["in_service_date"].min() >= sample[2] - pd.Timedelta(days=4 * 366)
    assert 0.15 < m["hours_per_day"].isna().mean() < 0.25
    assert 0.01 < m["retired_date"].notna().mean() < 0.03
    assert m["machine_model"].nunique() >= 4


def test_usage_is_higher_at_remote_tiers(truth):
    tm = truth["machines"]
    median = tm.groupby("tier")["hours_per_day"].median()
    assert list(median.index) == [1, 2, 3, 4]
    assert median.is_monotonic_increasing and median[4] > 1.2 * median[1]
    assert tm["hours_per_day"].between(0.5, 20).all()
    assert 4 <= tm["hours_per_day"].median() <= 10


def test_reported_usage_is_the_true_usage(tables, truth):
    m = tables["machines"].merge(truth["machines"], on="serial", suffixes=("", "_true"))
    known = m["hours_per_day"].notna()
    np.testing.assert_array_equal(m.loc[known, "hours_per_day"],
                                  m.loc[known, "hours_per_day_true"])


def test_parts_wait_longer_at_tier_3_and_4(tables):
    first = _one_per_ticket(tables["tickets"])
    tier = first["location_id"].map(tables["locations"].set_index("location_id")["tier"])
    wait = (first["parts_ready_at"] - first["opened_at"]).dt.total_seconds() / 86_400
    near = wait[tier.isin([1, 2])].median()
    far = wait[tier.isin([3, 4])].median()
    assert far > 2 * near


def test_stock_covers_the_catalogue_at_the_warehouse_and_fast_movers_at_dealers(tables):
    st, p = tables["stock"], tables["parts"]
    wh = st[st["location_id"] == WAREHOUSE_ID]
    assert len(wh) > 0.8 * len(p)
    dealers = st[st["location_id"] != WAREHOUSE_ID]
    assert dealers["location_id"].nunique() == 30
    assert dealers.groupby("location_id").size().max() < len(p)
    assert (st["on_hand"] == 0).any() and (st["on_hand"] > 0).mean() > 0.3
    # Dealers stock what they use: bucket-teeth parts more often than ECUs.
    comp = dealers["part_number"].map(p.set_index("part_number")["component"])
    assert (comp == "bucket_teeth").sum() > (comp == "ecu").sum()


@pytest.mark.parametrize("n_parts", [38, 120, 600])
def test_n_parts_is_exact_and_all_in_the_bom(n_parts):
    tables, truth, _ = generate_tables(n_machines=300, n_dealers=5, n_parts=n_parts)
    p, b = tables["parts"], tables["bom"]
    assert len(p) == n_parts and set(p["part_number"]) == set(b["part_number"])
    assert (b.groupby("machine_model")["component"].nunique() >= 15).all()
    assert set(truth["lifetimes"]["machine_model"]) == set(b["machine_model"])
    if n_parts == 600:  # a big catalogue comes from more model variants
        assert b["machine_model"].nunique() > 7


# ---------------------------------------------------------------------------------------
# The truth generated the data
# ---------------------------------------------------------------------------------------


def test_tickets_are_the_true_failures(tables, truth):
    first = _one_per_ticket(tables["tickets"])
    f = truth["failures"]
    assert list(first["ticket_id"]) == list(f["ticket_id"])
    assert (first["serial"] == f["serial"]).all() and (first["component"] == f["component"]).all()
    assert (first["opened_at"] == f["failure_time"].dt.floor("min")).all()
    seen = first["meter_hours"].notna()
    np.testing.assert_allclose(first.loc[seen, "meter_hours"], f.loc[seen, "failure_hours"],
                               atol=0.05 + 1e-9)
    # Calendar time = operating hours / hours per day, to within the day.
    tm = truth["machines"].set_index("serial")
    days = (f["failure_time"] - f["serial"].map(tm["in_service_date"])).dt.total_seconds() / 86_400
    np.testing.assert_array_equal(np.floor(days),
                                  np.floor(f["failure_hours"] / f["serial"].map(tm["hours_per_day"])))


def test_censored_ages_close_every_renewal_process(truth):
    f, c, tm = truth["failures"], truth["censored"], truth["machines"]
    assert c["n_failures"].sum() == len(f)
    assert (c["age_hours"] > 0).all() and (c["age_hours"] <= c["total_hours"]).all()
    last = f.groupby(["serial", "component"])["failure_hours"].max().rename("last")
    cc = c.join(last, on=["serial", "component"])
    expected = cc["total_hours"] - cc["last"].fillna(0.0)
    np.testing.assert_allclose(cc["age_hours"], expected, rtol=1e-12)
    # Lives chain: each starts where the previous one failed.
    chained = f.sort_values(["serial", "component", "life"])
    prev = chained.groupby(["serial", "component"])["failure_hours"].shift().fillna(0.0)
    np.testing.assert_allclose(chained["start_hours"], prev)
    total = f["serial"].map(tm.set_index("serial")["total_hours"])
    assert (f["failure_hours"] < total).all()


def _pit(f: pd.DataFrame, truth, shape_factor: float = 1.0) -> np.ndarray:
    """F(life) / F(window) for observed lives: Uniform(0, 1) if lives are Weibull(truth).

    A life that began at machine hours s is seen to end only if it ends before the
    machine's total hours H; given that, its CDF is F(x) / F(H - s). So the probability
    integral transform of every observed life is uniform, censoring accounted for.
    """
    life = truth["lifetimes"].set_index(["machine_model", "component"])
    par = life.reindex(pd.MultiIndex.from_frame(f[["machine_model", "component"]]))
    shape = par["shape"].to_numpy() * shape_factor
    scale = par["scale"].to_numpy()
    total = f["serial"].map(truth["machines"].set_index("serial")["total_hours"]).to_numpy()
    x = f["failure_hours"].to_numpy() - f["start_hours"].to_numpy()
    window = total - f["start_hours"].to_numpy()
    return _weibull_cdf(x, shape, scale) / _weibull_cdf(window, shape, scale)


def test_every_observed_life_is_weibull_with_the_true_parameters(truth):
    u = _pit(truth["failures"], truth)
    assert len(u) > 5_000
    assert stats.kstest(u, "uniform").pvalue > 0.01
    # The check has power: a shape 15 % off is rejected outright.
    assert stats.kstest(_pit(truth["failures"], truth, 1.15), "uniform").pvalue < 1e-6


def test_first_lives_in_the_tickets_match_truth_for_a_busy_group(tables, truth):
    # From the public tables only (meter readings), plus the true usage to know how long
    # each machine was watched: first bucket-teeth failures of the EX20-mini.
    tk, m = tables["tickets"], tables["machines"]
    first = _one_per_ticket(tk)
    first = first.assign(machine_model=first["serial"].map(m.set_index("serial")["machine_model"]))
    group = first[(first["component"] == "bucket_teeth")
                  & (first["machine_model"] == "EX20-mini")]
    first_life = group.sort_values("opened_at").drop_duplicates("serial")
    first_life = first_life[first_life["meter_hours"].notna()]
    assert len(first_life) > 100
    par = truth["lifetimes"].set_index(["machine_model", "component"]).loc[
        ("EX20-mini", "bucket_teeth")]
    total = first_life["serial"].map(truth["machines"].set_index("serial")["total_hours"])
    u = (_weibull_cdf(first_life["meter_hours"], par["shape"], par["scale"])
         / _weibull_cdf(total, par["shape"], par["scale"]))
    assert stats.kstest(u, "uniform").pvalue > 0.01


def _cumulative_hazard(truth, shape_factor: float = 1.0) -> pd.DataFrame:
    """Failures and true cumulative hazard Λ(time at risk) summed per group.

    Over lives followed until failure or censoring, E[failures] = E[Σ Λ(time at risk)]
    (the compensator of the counting process), whatever the shape: an exact check of the
    rates, censored lives included.
    """
    f, c = truth["failures"], truth["censored"]
    model = c["serial"].map(truth["machines"].set_index("serial")["machine_model"])
    at_risk = pd.concat([
        pd.DataFrame({"machine_model": f["machine_model"], "component": f["component"],
                      "hours": f["life_hours"], "failed": 1}),
        pd.DataFrame({"machine_model": model, "component": c["component"],
                      "hours": c["age_hours"], "failed": 0}),
    ], ignore_index=True)
    par = truth["lifetimes"].set_index(["machine_model", "component"]).reindex(
        pd.MultiIndex.from_frame(at_risk[["machine_model", "component"]]))
    at_risk["hazard"] = (at_risk["hours"].to_numpy() / par["scale"].to_numpy()) ** (
        par["shape"].to_numpy() * shape_factor)
    return at_risk.groupby(["machine_model", "component"])[["failed", "hazard"]].sum()


def test_failure_counts_match_the_true_cumulative_hazard(truth):
    groups = _cumulative_hazard(truth)
    n, expected = groups["failed"].sum(), groups["hazard"].sum()
    assert n == len(truth["failures"])
    assert abs(n - expected) < 4 * np.sqrt(n)
    # Group by group, for the groups with enough failures to tell.
    busy = groups[groups["failed"] >= 100]
    assert len(busy) >= 10
    z = (busy["failed"] - busy["hazard"]) / np.sqrt(busy["hazard"])
    assert (z.abs() < 4.5).all(), z.sort_values()
    # Electronics (shape < 1) too, where infant mortality dominates.
    life = truth["lifetimes"].set_index(["machine_model", "component"])
    early = groups[life.reindex(groups.index)["shape"] < 1.0]
    assert abs(early["failed"].sum() - early["hazard"].sum()) < 4 * np.sqrt(early["failed"].sum())
    # And the check has power: 10 % too steep a shape is far off.
    wrong = _cumulative_hazard(truth, 1.10)
    assert abs(n - wrong["hazard"].sum()) > 10 * np.sqrt(n)


# ---------------------------------------------------------------------------------------
# make_fleet
# ---------------------------------------------------------------------------------------


def test_make_fleet_validates_and_carries_the_truth():
    fleet = make_fleet(n_machines=400, n_dealers=6, seed=2)
    tables, truth, as_of = generate_tables(n_machines=400, n_dealers=6, seed=2)
    assert isinstance(fleet, Fleet)
    assert fleet.as_of == as_of
    assert fleet.warehouse_id == WAREHOUSE_ID
    # Validation keeps the generated tables as they are, value for value and dtype for dtype.
    assert set(fleet.tables) == set(tables)
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(fleet.tables[name], frame, obj=name)
    assert set(fleet.truth) == set(truth)
    for name, frame in truth.items():
        pd.testing.assert_frame_equal(fleet.truth[name], frame, obj=f"truth {name}")


def test_write_sample_regenerates_the_bundled_sample(tmp_path):
    # write_sample is how maintainers refresh the bundled sample: its output must be the
    # shipped files byte for byte (else the package ships a sample its generator no longer
    # makes), and it reads back as load_sample() does.
    out = write_sample(tmp_path / "sample")
    assert out == tmp_path / "sample"
    shipped = sample_path()
    written = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert written == sorted(p.relative_to(shipped) for p in shipped.rglob("*") if p.is_file())
    assert {str(p) for p in written} >= {f"{t}.csv" for t in CONTRACT} | {
        "as_of.txt", "truth/lifetimes.csv", "truth/machines.csv", "truth/failures.csv"}
    for rel in written:
        assert (out / rel).read_bytes() == (shipped / rel).read_bytes(), rel
    back, sample = read_fleet(out), load_sample()
    assert back.as_of == sample.as_of == pd.Timestamp(SAMPLE_SETTINGS["as_of"])
    for name, frame in sample.tables.items():
        pd.testing.assert_frame_equal(back.tables[name], frame, obj=name)
    assert set(back.truth) == set(sample.truth) == {"lifetimes", "machines", "failures"}
    for name, frame in sample.truth.items():
        pd.testing.assert_frame_equal(back.truth[name], frame, obj=f"truth {name}")
    # ... and it is make_fleet with SAMPLE_SETTINGS, but for the arrival times, which the
    # bundled sample (made before them) leaves blank.
    fresh = make_fleet(**SAMPLE_SETTINGS)
    assert back.tickets["arrived_at"].isna().all()
    assert fresh.tickets["arrived_at"].notna().mean() > 0.99
    for name, frame in fresh.tables.items():
        pd.testing.assert_frame_equal(back.tables[name].drop(columns=["arrived_at"], errors="ignore"),
                                      frame.drop(columns=["arrived_at"], errors="ignore"), obj=name)
    pd.testing.assert_frame_equal(back.truth["lifetimes"], fresh.truth["lifetimes"])


# ---------------------------------------------------------------------------------------
# Lemons and arrival times
# ---------------------------------------------------------------------------------------


def test_without_lemons_the_tables_are_those_of_before():
    # The bundled sample was made before lemons and arrival times existed: the generator
    # with lemon_share=0 (the default) still makes it, value for value, arrival aside.
    fresh, default = make_fleet(**SAMPLE_SETTINGS, lemon_share=0.0), make_fleet(**SAMPLE_SETTINGS)
    shipped = load_sample()
    for name, frame in fresh.tables.items():
        pd.testing.assert_frame_equal(frame, default.tables[name], obj=name)
        pd.testing.assert_frame_equal(frame.drop(columns=["arrived_at"], errors="ignore"),
                                      shipped.tables[name].drop(columns=["arrived_at"], errors="ignore"),
                                      obj=name)
    assert fresh.truth["lemons"].empty
    assert list(fresh.truth["lemons"].columns) == ["serial", "machine_model", "component", "factor", "scale"]


@pytest.fixture(scope="module")
def lemon_sample():
    return generate_tables(n_machines=2000, n_dealers=12, years=5.0, seed=7, lemon_share=0.02)


def test_lemons_are_the_stated_share_and_reproducible(lemon_sample):
    tables, truth, _ = lemon_sample
    lemons, pairs = truth["lemons"], truth["censored"]
    assert len(lemons) == round(0.02 * len(pairs))
    assert not lemons.duplicated(["serial", "component"]).any()
    assert lemons["factor"].between(3.0, 6.0).all()
    assert 4.0 < lemons["factor"].mean() < 5.0  # uniform on [3, 6]
    life = truth["lifetimes"].set_index(["machine_model", "component"])
    group_scale = life.reindex(pd.MultiIndex.from_frame(lemons[["machine_model", "component"]]))["scale"]
    np.testing.assert_allclose(lemons["scale"], group_scale.to_numpy() / lemons["factor"].to_numpy())
    # Lemons are pairs of the fleet: the model of their machine, a component it carries.
    model = lemons["serial"].map(tables["machines"].set_index("serial")["machine_model"])
    assert (model == lemons["machine_model"]).all()
    again = generate_tables(n_machines=2000, n_dealers=12, years=5.0, seed=7, lemon_share=0.02)
    pd.testing.assert_frame_equal(again[1]["lemons"], lemons)
    pd.testing.assert_frame_equal(again[0]["tickets"], tables["tickets"])
    # What comes before the failures (catalogue, dealers, machines) is the fleet without lemons.
    plain = generate_tables(n_machines=2000, n_dealers=12, years=5.0, seed=7)
    for name in ("machines", "parts", "bom", "locations", "lanes"):
        pd.testing.assert_frame_equal(plain[0][name], tables[name], obj=name)


def test_lemons_fail_at_their_own_faster_rate(lemon_sample):
    # The compensator check of test_failure_counts_match_the_true_cumulative_hazard, pair by
    # pair: lemons' failures match the cumulative hazard of their own (smaller) scale and are
    # far above their group's; the other pairs match their group's.
    _, truth, _ = lemon_sample
    f, c = truth["failures"], truth["censored"]
    model = c["serial"].map(truth["machines"].set_index("serial")["machine_model"])
    at_risk = pd.concat([
        pd.DataFrame({"serial": f["serial"], "machine_model": f["machine_model"], "component": f["component"],
                      "hours": f["life_hours"], "failed": 1}),
        pd.DataFrame({"serial": c["serial"], "machine_model": model, "component": c["component"],
                      "hours": c["age_hours"], "failed": 0}),
    ], ignore_index=True)
    par = truth["lifetimes"].set_index(["machine_model", "component"]).reindex(
        pd.MultiIndex.from_frame(at_risk[["machine_model", "component"]]))
    lemon_scale = truth["lemons"].set_index(["serial", "component"])["scale"].reindex(
        pd.MultiIndex.from_frame(at_risk[["serial", "component"]])).to_numpy()
    is_lemon = np.isfinite(lemon_scale)
    shape, scale = par["shape"].to_numpy(), par["scale"].to_numpy()
    own = (at_risk["hours"].to_numpy() / np.where(is_lemon, lemon_scale, scale)) ** shape
    group = (at_risk["hours"].to_numpy() / scale) ** shape
    n_lemon = at_risk["failed"].to_numpy()[is_lemon].sum()
    assert n_lemon > 500
    assert abs(n_lemon - own[is_lemon].sum()) < 4 * np.sqrt(n_lemon)
    assert n_lemon > 5 * group[is_lemon].sum()
    n_rest = at_risk["failed"].to_numpy()[~is_lemon].sum()
    assert abs(n_rest - own[~is_lemon].sum()) < 4 * np.sqrt(n_rest)
    # Per pair, lemons fail several times more often than the others.
    per_pair = c.assign(lemon=pd.MultiIndex.from_frame(c[["serial", "component"]]).isin(
        pd.MultiIndex.from_frame(truth["lemons"][["serial", "component"]])))
    rate = per_pair.groupby("lemon")["n_failures"].sum() / per_pair.groupby("lemon")["total_hours"].sum()
    assert rate[True] > 5 * rate[False]


def test_bad_lemon_share_says_what_is_allowed():
    for bad in (-0.1, 0.9, "1%", True):
        with pytest.raises(ValueError, match="lemon_share must be a number from 0 to 0.5"):
            generate_tables(n_machines=50, n_dealers=3, lemon_share=bad)


def test_arrival_follows_the_call_and_precedes_the_parts(tables, truth, sample):
    from partsforecast.data import ticket_time_findings

    tk = tables["tickets"]
    assert tk["arrived_at"].dtype == "datetime64[ns]"
    # Whole tickets: one arrival per ticket.
    assert (tk.groupby("ticket_id")["arrived_at"].nunique(dropna=False) == 1).all()
    first = _one_per_ticket(tk)
    assert (first["arrived_at"].dropna() >= first.loc[first["arrived_at"].notna(), "opened_at"]).all()
    ready = first["parts_ready_at"].notna() & first["arrived_at"].notna()
    assert (first.loc[ready, "arrived_at"] <= first.loc[ready, "parts_ready_at"]).all()
    assert not ticket_time_findings(tk)[["arrived_before_opened", "arrived_after_closed"]].any().any()
    # Blank only when it falls after as_of (the repair still open).
    blank = first["arrived_at"].isna()
    assert blank.mean() < 0.01
    assert (first.loc[blank, "opened_at"] >= sample[2] - pd.Timedelta(days=10)).all()
    assert first.loc[blank, "closed_at"].isna().all()


def test_response_times_follow_the_stated_law_per_tier(tables, truth):
    # Given parts that took longer than x hours, the capped arrival is below x exactly when
    # the drawn response is: P(response ≤ median | wait > median) = 1/2 per tier.
    first = _one_per_ticket(tables["tickets"])
    first = first[first["arrived_at"].notna() & first["parts_ready_at"].notna()]
    tier = first["location_id"].map(tables["locations"].set_index("location_id")["tier"]).astype(int)
    hours = (first["arrived_at"] - first["opened_at"]).dt.total_seconds() / 3600
    wait = (first["parts_ready_at"] - first["opened_at"]).dt.total_seconds() / 3600
    law = truth["response_hours"].set_index("tier")
    assert list(law.index) == [1, 2, 3, 4] and list(law["median_hours"]) == [3.0, 6.0, 14.0, 30.0]
    med = tier.map(law["median_hours"])
    sig = tier.map(law["sigma_log"])
    for t in (1, 2, 3, 4):
        sel = (tier == t) & (wait > 2 * med)
        n = int(sel.sum())
        share = float((hours[sel] <= med[sel]).mean())
        assert n > 300
        assert abs(share - 0.5) < 4 * np.sqrt(0.25 / n), (t, share, n)
        # ... and the spread: P(response ≤ median·e^σ | wait > that) = Φ(1) ≈ 0.841.
        hi = med * np.exp(sig)
        sel_hi = (tier == t) & (wait > 2 * hi)
        share_hi = float((hours[sel_hi] <= hi[sel_hi]).mean())
        assert abs(share_hi - stats.norm.cdf(1.0)) < 4 * np.sqrt(0.134 / sel_hi.sum()), (t, share_hi)
    assert hours.groupby(tier).median().is_monotonic_increasing
