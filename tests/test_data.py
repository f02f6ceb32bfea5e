"""The data contract: every validation rule on a corrupted copy of the sample, round trips,
``until``, derived lanes and the ``validate`` command."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from partsforecast import Fleet, InputError, read_fleet, run_plan
from partsforecast.data import derive_lanes, great_circle_km


def _edit(folder, table, fn):
    """Rewrite ``folder/table.csv`` through ``fn(frame_of_strings) -> frame``."""
    path = folder / f"{table}.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    out = fn(frame)  # edits in place, or returns a new frame
    (frame if out is None else out).to_csv(path, index=False)


def _problems(folder):
    with pytest.raises(InputError) as info:
        read_fleet(folder)
    return info.value


def _has(err, table, row=None, column=None, value=None, text=None):
    for p in err.problems:
        if p.table == table and (row is None or p.row == row) and (column is None or p.column == column) \
                and (value is None or p.value == value) and (text is None or text in p.rule):
            return True
    raise AssertionError(f"no problem {table} row={row} column={column} value={value} "
                         f"text={text!r} in:\n{err}")


def test_sample_is_valid_and_typed(sample_fleet):
    f = sample_fleet
    assert len(f.machines) >= 2000 and f.tickets["ticket_id"].nunique() >= 1000
    assert f.machines["in_service_date"].dtype == "datetime64[ns]"
    assert f.tickets["opened_at"].dtype == "datetime64[ns]"
    assert f.tickets["quantity"].dtype == "int64"
    assert f.parts["unit_cost"].dtype == "float64"
    assert pd.api.types.is_string_dtype(f.machines["serial"])
    assert (f.locations["kind"] == "warehouse").sum() == 1
    assert f.warehouse_id in set(f.locations["location_id"])
    assert f.as_of >= f.tickets["opened_at"].max().normalize()


def test_round_trip_csv_exact(sample_fleet, tmp_path):
    sample_fleet.to_dir(tmp_path / "a")
    back = read_fleet(tmp_path / "a")
    for name, frame in sample_fleet.tables.items():
        pd.testing.assert_frame_equal(getattr(back, name), frame, check_dtype=True, obj=name)
    assert back.as_of == sample_fleet.as_of
    pd.testing.assert_frame_equal(back.truth["lifetimes"], sample_fleet.truth["lifetimes"])
    # Writing again gives byte-identical files.
    back.to_dir(tmp_path / "b")
    for f in sorted((tmp_path / "a").glob("*.csv")):
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes(), f.name


def test_truth_tables_are_read_when_looked_up(sample_fleet, tmp_path):
    """A generated folder's truth/ is listed when the folder is read and each table read
    when first looked up: a planning run, which never looks, works with the files gone."""
    sample_fleet.to_dir(tmp_path / "a")
    back = read_fleet(tmp_path / "a")
    assert sorted(back.truth) == sorted(sample_fleet.truth) and len(back.truth) == len(sample_fleet.truth)
    pd.testing.assert_frame_equal(back.truth["machines"], sample_fleet.truth["machines"])  # read now, kept
    for f in (tmp_path / "a" / "truth").iterdir():
        f.unlink()
    pd.testing.assert_frame_equal(back.truth["machines"], sample_fleet.truth["machines"])
    with pytest.raises(FileNotFoundError):
        back.truth["lifetimes"]
    plan = run_plan(back, tmp_path / "out", report=False)
    assert len(plan.levels) and (tmp_path / "out" / "stock_plan.csv").exists()
    back.truth["extra"] = sample_fleet.truth["lifetimes"]
    del back.truth["lifetimes"]
    assert "extra" in back.truth and "lifetimes" not in back.truth
    assert back.truth["extra"] is sample_fleet.truth["lifetimes"]


def test_round_trip_parquet_exact(sample_fleet, tmp_path):
    sample_fleet.to_dir(tmp_path / "p", format="parquet")
    assert (tmp_path / "p" / "tickets.parquet").exists()
    back = read_fleet(tmp_path / "p")
    for name, frame in sample_fleet.tables.items():
        pd.testing.assert_frame_equal(getattr(back, name), frame, obj=name)


def test_from_dataframes_equals_from_folder(sample_fleet, sample_dir):
    tables = {k: pd.read_csv(sample_dir / f"{k}.csv") for k in
              ("machines", "tickets", "parts", "bom", "locations", "lanes", "stock")}
    f = Fleet(**tables, as_of=sample_fleet.as_of)
    for name, frame in sample_fleet.tables.items():
        pd.testing.assert_frame_equal(getattr(f, name), frame, obj=name)


def _raw_tables(sample_dir):
    return {k: pd.read_csv(sample_dir / f"{k}.csv", dtype=str, keep_default_na=False) for k in
            ("machines", "tickets", "parts", "bom", "locations", "lanes", "stock")}


def test_arrow_text_parses_as_python_text(sample_dir, sample_fleet):
    # Text held in Arrow (Parquet files, typed frames) is trimmed, its 'no value' tokens
    # made missing and its control characters found in Arrow; the same values held as Python
    # objects go the general way: both give the same fleet, and the same problems.
    arrow, objects = _raw_tables(sample_dir), _raw_tables(sample_dir)
    for tables in (arrow, objects):
        tk = tables["tickets"]
        tk.loc[0, "serial"] = "  " + tk.loc[0, "serial"] + "\u3000"  # ideographic space: Unicode whitespace
        tk.loc[1, "ticket_type"] = " N/A "  # no value: the default, a repair
        pt = tables["parts"]
        pt.loc[pt["supersedes"].str.strip() == "", "supersedes"] = "NULL"
    for tables in (objects,):
        for frame in tables.values():
            for c in frame.columns:
                frame[c] = frame[c].astype(object)
    assert isinstance(arrow["tickets"]["serial"].array, pd.arrays.ArrowStringArray)
    assert objects["tickets"]["serial"].dtype == object
    a = Fleet(**arrow, as_of=sample_fleet.as_of)
    o = Fleet(**objects, as_of=sample_fleet.as_of)
    from partsforecast.data import SCHEMA

    for name in a.tables:  # the contract's columns (extra columns keep the dtype they came in)
        cols = [c.name for c in SCHEMA[name]]
        pd.testing.assert_frame_equal(getattr(a, name)[cols], getattr(o, name)[cols], obj=name)
    assert a.tickets.loc[0, "serial"] == sample_fleet.tickets.loc[0, "serial"]
    assert a.tickets.loc[1, "ticket_type"] == "repair"
    pd.testing.assert_series_equal(a.parts["supersedes"], sample_fleet.parts["supersedes"])
    # a control character, a long id: the same problems either way
    for tables in (arrow, objects):
        tables["tickets"].loc[3, "component"] = "pump\x07"
        tables["machines"].loc[4, "serial"] = "S" * 150
    from partsforecast.data import _no_control_bytes

    assert _no_control_bytes(arrow["tickets"]["serial"]) and not _no_control_bytes(arrow["tickets"]["component"])
    found = []
    for tables in (arrow, objects):
        with pytest.raises(InputError) as err:
            Fleet(**tables, as_of=sample_fleet.as_of)
        found.append([(p.table, p.row, p.column, p.rule) for p in err.value.problems])
    assert found[0] == found[1]
    assert any(t == "tickets" and c == "component" and "control character" in r for t, _, c, r in found[0])
    assert any(t == "machines" and c == "serial" and "longer than" in r for t, _, c, r in found[0])


def test_as_of_inferred_from_tickets(sample_fleet):
    t = sample_fleet.tables
    f = Fleet(**t)
    latest = max(t["tickets"]["opened_at"].max(), t["machines"]["in_service_date"].max(),
                 t["machines"]["retired_date"].max())
    assert f.as_of == latest.normalize() + pd.Timedelta(days=1)


def test_until_is_the_past_as_known_then(sample_fleet):
    cut = sample_fleet.as_of - pd.DateOffset(years=1)
    past = sample_fleet.until(cut)
    assert past.as_of == cut
    assert (past.machines["in_service_date"] < cut).all()
    assert (past.tickets["opened_at"] < cut).all()
    assert not (past.machines["retired_date"] >= cut).any()
    assert not (past.tickets["closed_at"] >= cut).any()
    expected = sample_fleet.tickets[sample_fleet.tickets["opened_at"] < cut]
    assert len(past.tickets) == len(expected) > 0
    assert len(sample_fleet.tickets) > len(past.tickets)  # the original is untouched


# --- every validation rule, on a corrupted copy of the sample --------------------------

def test_missing_file(sample_dir):
    (sample_dir / "parts.csv").unlink()
    err = _problems(sample_dir)
    _has(err, "parts", text="file is missing")


def test_missing_column(sample_dir):
    _edit(sample_dir, "tickets", lambda f: f.drop(columns=["quantity"]))
    err = _problems(sample_dir)
    _has(err, "tickets", column="quantity", text="required column is missing")


def test_unparseable_number_and_date(sample_dir):
    def corrupt(f):
        f.loc[3, "quantity"] = "two"
        f.loc[5, "opened_at"] = "2024-02-30 10:00"
    _edit(sample_dir, "tickets", corrupt)
    err = _problems(sample_dir)
    # Row numbers as in the file: header is row 1, so frame row 3 is file row 5.
    _has(err, "tickets", row=5, column="quantity", value="two", text="whole number")
    _has(err, "tickets", row=7, column="opened_at", value="2024-02-30 10:00", text="ISO 8601")


@pytest.mark.parametrize("value, rule", [
    ("0", "must be > 0"), ("-3", "must be > 0"), ("1.5", "not a whole number"),
])
def test_bad_quantity(sample_dir, value, rule):
    _edit(sample_dir, "tickets", lambda f: f.__setitem__("quantity", f["quantity"].where(f.index != 10, value)))
    err = _problems(sample_dir)
    # Exactly one problem, on that cell, with the value as written and the rule it breaks.
    assert err.n_problems == 1 and len(err.problems) == 1, str(err)
    p = err.problems[0]
    assert (p.table, p.row, p.column, p.value) == ("tickets", 12, "quantity", value), p
    assert rule in p.rule, p
    assert f"tickets row 12, column quantity, value '{value}': {p.rule}" in str(err)


def test_duplicate_keys(sample_dir):
    def dup(f):
        f.loc[len(f)] = f.loc[0]
    _edit(sample_dir, "machines", dup)
    _edit(sample_dir, "tickets", dup)
    err = _problems(sample_dir)
    _has(err, "machines", column="serial", text="duplicate key")
    _has(err, "tickets", column="ticket_id+part_number", text="duplicate key")


def test_unknown_references(sample_dir):
    def corrupt(f):
        f.loc[0, "serial"] = "NO-SUCH-SERIAL"
        f.loc[1, "part_number"] = "NO-SUCH-PART"
        f.loc[2, "location_id"] = "NO-SUCH-DEALER"
    _edit(sample_dir, "tickets", corrupt)
    _edit(sample_dir, "machines", lambda f: f.__setitem__("location_id", f["location_id"].where(f.index != 0, "NOWHERE")))
    err = _problems(sample_dir)
    _has(err, "tickets", row=2, column="serial", value="NO-SUCH-SERIAL", text="unknown machine serial")
    _has(err, "tickets", row=3, column="part_number", value="NO-SUCH-PART", text="unknown part")
    _has(err, "tickets", row=4, column="location_id", value="NO-SUCH-DEALER", text="unknown location")
    _has(err, "machines", row=2, column="location_id", value="NOWHERE")


def test_ticket_before_in_service(sample_dir, sample_fleet):
    tk = sample_fleet.tickets
    serial = tk.loc[0, "serial"]
    in_service = sample_fleet.machines.set_index("serial").loc[serial, "in_service_date"]
    early = (in_service - pd.Timedelta(days=3)).strftime("%Y-%m-%d 09:00:00")
    _edit(sample_dir, "tickets", lambda f: f.__setitem__("opened_at", f["opened_at"].where(f.index != 0, early)))
    err = _problems(sample_dir)
    _has(err, "tickets", row=2, column="opened_at", text="before its machine entered service")


def test_retired_before_in_service(sample_dir):
    _edit(sample_dir, "machines", lambda f: f.__setitem__("retired_date", f["retired_date"].where(f.index != 4, "2000-01-01")))
    err = _problems(sample_dir)
    _has(err, "machines", row=6, column="retired_date", value="2000-01-01", text="retired before")


def test_machine_in_the_future(sample_dir, sample_fleet):
    later = (sample_fleet.as_of + pd.Timedelta(days=30)).strftime("%Y-%m-%d")
    _edit(sample_dir, "machines", lambda f: f.__setitem__("in_service_date", f["in_service_date"].where(f.index != 0, later)))
    err = _problems(sample_dir)
    _has(err, "machines", row=2, column="in_service_date", value=later,
         text=f"after the as-of date {sample_fleet.as_of.date()}")


# --- ticket times: out of order is a finding, not an input error ---------------------

def _stamp(ts) -> str:
    return pd.Timestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def test_times_out_of_order_are_findings_not_errors(sample_dir, sample_fleet):
    """closed_at / parts_ready_at earlier than opened_at, arrivals before the call or after the
    close, and a closed line without parts_ready_at: kept, listed by Fleet.findings() with the
    file row, column and value, counted in the summary; no InputError."""
    tk = sample_fleet.tickets
    opened = tk["opened_at"]
    day = pd.Timedelta(days=1)
    edits = {  # frame row -> (column, value), on lines whose other times are in order
        0: ("closed_at", _stamp(opened[0] - day)),
        1: ("parts_ready_at", _stamp(opened[1] - 2 * day)),
        2: ("arrived_at", _stamp(opened[2] - pd.Timedelta(hours=1))),
        3: ("arrived_at", _stamp(tk.loc[3, "closed_at"] + day)),
        4: ("parts_ready_at", ""),
    }

    def corrupt(f):
        f["arrived_at"] = ""
        for row, (column, value) in edits.items():
            f.loc[row, column] = value
    _edit(sample_dir, "tickets", corrupt)
    fleet = read_fleet(sample_dir)  # no InputError
    found = fleet.findings()
    mine = found[found["row"].isin([r + 2 for r in edits])]
    got = {(int(r.row), r.column, r.finding) for r in mine.itertuples()}
    assert got == {(2, "closed_at", "closed_before_opened"), (3, "parts_ready_at", "ready_before_opened"),
                   (4, "arrived_at", "arrived_before_opened"), (5, "arrived_at", "arrived_after_closed"),
                   (6, "parts_ready_at", "ready_missing")}
    row2 = mine[mine["row"] == 2].iloc[0]
    assert row2["value"] == edits[0][1] and row2["ticket_id"] == tk.loc[0, "ticket_id"]
    assert "earlier than opened_at" in row2["rule"]
    # The sample's own findings are the closed lines it never stamped parts-ready on; the
    # edits add exactly theirs.
    before = sample_fleet.findings()
    assert set(before["finding"]) == {"ready_missing"}
    pairs = set(zip(found["row"], found["finding"]))
    pairs_before = set(zip(before["row"], before["finding"]))
    assert pairs - pairs_before == {(r, f) for r, _, f in got}
    assert {r for r, _ in pairs_before - pairs} <= {r + 2 for r in edits}
    n_lines = int(found["row"].nunique())
    assert f"{n_lines} lines with times out of order or incomplete" in fleet.summary().loc[1, "details"]
    # The failure models read opened_at only: the lives are those of the untouched fleet.
    a, b = fleet.component_lives(), sample_fleet.component_lives()
    pd.testing.assert_frame_equal(a.lives, b.lives)


@pytest.mark.parametrize("column", ["arrived_at", "closed_at", "parts_ready_at"])
@pytest.mark.parametrize("value, text", [("2026-02-30 10:00", "ISO 8601"), ("2099-01-01", "in the future"),
                                         ("1900-01-01", "before 1950-01-01")])
def test_garbage_times_are_still_input_errors(sample_dir, column, value, text):
    _edit(sample_dir, "tickets", lambda f: f.__setitem__(column, f.get(column, "").where(f.index != 3, value)))
    err = _problems(sample_dir)
    _has(err, "tickets", row=5, column=column, value=value, text=text)


def test_arrived_at_is_optional_and_typed(sample_fleet):
    tk = sample_fleet.tickets
    assert tk["arrived_at"].dtype == "datetime64[ns]" and tk["arrived_at"].isna().all()
    t = sample_fleet.tables
    t["tickets"] = t["tickets"].assign(arrived_at=t["tickets"]["opened_at"] + pd.Timedelta(hours=2))
    f = Fleet(**t, as_of=sample_fleet.as_of)
    assert (f.tickets["arrived_at"] - f.tickets["opened_at"] == pd.Timedelta(hours=2)).all()
    # until() blanks an arrival learnt after the cut, as it does the close.
    cut = f.tickets["opened_at"].iloc[len(f.tickets) // 2].normalize() + pd.Timedelta(hours=12)
    past = f.until(cut)
    assert not (past.tickets["arrived_at"] >= cut).any()
    late = (f.tickets["opened_at"] < cut) & (f.tickets["arrived_at"] >= cut)
    assert late.any() and past.tickets["arrived_at"].isna().sum() == late.sum()


def test_findings_rows_follow_until(sample_fleet):
    found = sample_fleet.findings()
    cut = sample_fleet.as_of - pd.DateOffset(years=1)
    past = sample_fleet.until(cut)
    kept = past.findings()
    # The same lines, still named by their row in the file, less those opened after the cut
    # (and the closes after it, which until() blanks: those lines are open then, no finding).
    assert set(kept["row"]) <= set(found["row"]) and 0 < len(kept) < len(found)
    merged = kept.merge(found, on=["row", "finding"], suffixes=("", "_all"))
    assert len(merged) == len(kept) and (merged["ticket_id"] == merged["ticket_id_all"]).all()


def test_no_warehouse_and_two_warehouses(sample_dir, tmp_path):
    import shutil
    two = tmp_path / "two"
    shutil.copytree(sample_dir, two)
    _edit(sample_dir, "locations", lambda f: f.__setitem__("kind", "dealer"))
    err = _problems(sample_dir)
    _has(err, "locations", column="kind", text="found 0")

    def second(f):
        i = f.index[f["kind"] == "dealer"][0]
        f.loc[i, "kind"] = "warehouse"
    _edit(two, "locations", second)
    err = _problems(two)
    _has(err, "locations", column="kind", text="found 2")


def test_empty_tickets(sample_dir):
    _edit(sample_dir, "tickets", lambda f: f.iloc[:0])
    err = _problems(sample_dir)
    _has(err, "tickets", text="empty")


def test_not_utf8(sample_dir):
    path = sample_dir / "parts.csv"
    data = path.read_bytes().split(b"\n")
    data[3] = data[3].replace(b",", b"\xe9,", 1)  # a Latin-1 'é'
    path.write_bytes(b"\n".join(data))
    err = _problems(sample_dir)
    _has(err, "parts", row=4, text="not UTF-8")


def test_lane_between_unknown_locations(sample_dir):
    def corrupt(f):
        f.loc[0, "from_id"] = "ATLANTIS"
        f.loc[1, "to_id"] = "EL-DORADO"
    _edit(sample_dir, "lanes", corrupt)
    err = _problems(sample_dir)
    _has(err, "lanes", row=2, column="from_id", value="ATLANTIS")
    _has(err, "lanes", row=3, column="to_id", value="EL-DORADO")


def test_bad_tier_and_negative_costs(sample_dir):
    def tier(f):
        i = f.index[f["kind"] == "dealer"][0]
        f.loc[i, "tier"] = "7"
    _edit(sample_dir, "locations", tier)
    _edit(sample_dir, "parts", lambda f: f.__setitem__("unit_cost", f["unit_cost"].where(f.index != 0, "0")))
    _edit(sample_dir, "stock", lambda f: f.__setitem__("on_hand", f["on_hand"].where(f.index != 0, "-2")))
    err = _problems(sample_dir)
    _has(err, "locations", column="tier", value="7")
    _has(err, "parts", row=2, column="unit_cost", text="> 0")
    _has(err, "stock", row=2, column="on_hand", text="≥ 0")


def test_every_problem_collected_and_listing_capped(sample_dir):
    _edit(sample_dir, "tickets", lambda f: f.__setitem__("quantity", "0"))
    err = _problems(sample_dir)
    n_lines = len(pd.read_csv(sample_dir / "tickets.csv"))
    assert err.n_problems == n_lines
    msg = str(err)
    assert f"{n_lines} problems" in msg and "more (see InputError.problems)" in msg
    assert len(msg.splitlines()) < 60


def test_lanes_derived_from_coordinates(sample_dir, sample_fleet):
    (sample_dir / "lanes.csv").unlink()
    f = read_fleet(sample_dir)
    assert f.lanes_derived
    wh = f.warehouse_id
    assert set(f.lanes.loc[f.lanes["from_id"] == wh, "to_id"]) == set(f.dealers["location_id"])
    # Lead time grows with distance, and a longer lane never costs less per unit.
    ln = f.lanes.sort_values("distance_km")
    assert ln["lead_time_days"].is_monotonic_increasing
    assert ln["cost_per_unit"].is_monotonic_increasing


def test_lanes_omitted_without_coordinates(sample_dir):
    (sample_dir / "lanes.csv").unlink()
    _edit(sample_dir, "locations", lambda f: f.__setitem__("lat", f["lat"].where(f.index != 1, "")))
    err = _problems(sample_dir)
    _has(err, "locations", row=3, column="lat", text="derive lanes")


def test_great_circle_reference():
    # Beijing (39.9042, 116.4074) to Shanghai (31.2304, 121.4737): about 1,067 km.
    km = great_circle_km(39.9042, 116.4074, 31.2304, 121.4737)
    assert abs(km - 1067.3) < 2.0
    loc = pd.DataFrame({"location_id": ["W", "A", "B"], "kind": ["warehouse", "dealer", "dealer"],
                        "lat": [39.9042, 31.2304, 31.3], "lon": [116.4074, 121.4737, 121.5]})
    lanes = derive_lanes(loc)
    assert set(zip(lanes["from_id"], lanes["to_id"])) == {("W", "A"), ("W", "B"), ("A", "B"), ("B", "A")}


# --- the command line -------------------------------------------------------------------

def _cli(*args):
    return subprocess.run([sys.executable, "-m", "partsforecast", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_cli_validate_ok(sample_dir):
    r = _cli("validate", sample_dir)
    assert r.returncode == 0, r.stderr
    assert "valid fleet" in r.stdout and "machines" in r.stdout and "tickets" in r.stdout


def test_cli_validate_bad_input_exit_2_no_traceback(sample_dir):
    _edit(sample_dir, "tickets", lambda f: f.__setitem__("quantity", f["quantity"].where(f.index != 0, "-1")))
    (sample_dir / "bom.csv").unlink()
    r = _cli("validate", sample_dir)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "bom" in r.stderr and "file is missing" in r.stderr


def test_cli_validate_bad_value_names_row(sample_dir):
    _edit(sample_dir, "tickets", lambda f: f.__setitem__("quantity", f["quantity"].where(f.index != 0, "-1")))
    r = _cli("validate", sample_dir)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "tickets row 2, column quantity, value '-1': must be > 0" in r.stderr


def test_cli_version_and_help():
    r = _cli("--version")
    assert r.returncode == 0 and "partsforecast" in r.stdout
    r = _cli("--help")
    assert r.returncode == 0 and "validate" in r.stdout and "sample" in r.stdout


def test_cli_missing_folder():
    r = _cli("validate", "/no/such/folder")
    assert r.returncode == 2 and "no such folder" in r.stderr and "Traceback" not in r.stderr


def test_fleet_rejects_non_frame():
    with pytest.raises(InputError, match="machines"):
        Fleet(machines=None, tickets=pd.DataFrame(), parts=pd.DataFrame(), bom=pd.DataFrame(),
              locations=pd.DataFrame())
