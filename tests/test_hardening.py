"""Hostile and absurd input: ids that look like paths or formulas, numbers and dates out of
any sane range, bad settings, and output folders in odd states.

Every case is run through the command line as a user would, and checked for the contract:
exit 0 or 2 (3 only for a genuinely infeasible plan), a message naming the table, row,
column and value (or the setting), no traceback, no file outside ``--out``, no text cell
that a spreadsheet would read as a formula, and a bounded run time.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _spreadsheet import formula_cells

from partsforecast._io import (
    FORMULA_TRIGGERS,
    neutralise_cells,
    safe_file_names,
    unescape_cells,
)

# Where each kind of id lives: table → columns.
ID_COLUMNS = {
    "location_id": {"machines": ["location_id"], "tickets": ["location_id"], "locations": ["location_id"],
                    "stock": ["location_id"], "lanes": ["from_id", "to_id"]},
    "part_number": {"parts": ["part_number"], "bom": ["part_number"], "tickets": ["part_number"],
                    "stock": ["part_number"]},
    "machine_model": {"machines": ["machine_model"], "bom": ["machine_model"]},
}


def read_raw(folder: Path, table: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{table}.csv", dtype=str, keep_default_na=False)


def write_raw(folder: Path, table: str, frame: pd.DataFrame) -> None:
    """Write a table as a careless export would: cells verbatim, no escaping of any kind."""
    buf = io.StringIO()
    frame.to_csv(buf, index=False, lineterminator="\n")
    (folder / f"{table}.csv").write_text(buf.getvalue(), encoding="utf-8")


def rename_ids(folder: Path, kind: str, mapping: dict[str, str]) -> None:
    """Rename ids of one kind in every table that carries them."""
    for table, cols in ID_COLUMNS[kind].items():
        if not (folder / f"{table}.csv").exists():
            continue
        frame = read_raw(folder, table)
        for c in cols:
            frame[c] = frame[c].replace(mapping)
        write_raw(folder, table, frame)


def set_cell(folder: Path, table: str, row: int, column: str, value: str) -> None:
    frame = read_raw(folder, table)
    frame.loc[row, column] = value
    write_raw(folder, table, frame)


def run_cli(*args: str, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The command in a fresh process, as cron would run it; fails the test past ``timeout``."""
    return subprocess.run([sys.executable, "-m", "partsforecast", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def assert_clean_failure(r: subprocess.CompletedProcess, *needles: str) -> None:
    """Exit 2, the problem named, no traceback, nothing on stdout."""
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    for needle in needles:
        assert needle in r.stderr, (needle, r.stderr[-2000:])


# ---------------------------------------------------------------------------------------
# Safe file names and cell escaping, as functions
# ---------------------------------------------------------------------------------------

HOSTILE_IDS = ["../../x", "/etc/passwd", "../stock_plan", "index", "INDEX", "./D002", "D002", "d002",
               "a/b\\c", "con", "COM1", "x" * 300, ".hidden", "..", ".", "", "Zürich", "Zu\u0308rich",
               "=HYPERLINK(\"http://x\",\"click\")", "trailing.", "a:b", "a*b?c", "\u202eevil", "-rf", "--", "-"]


def test_safe_file_names_are_plain_unique_and_stable():
    names = safe_file_names(HOSTILE_IDS)
    assert set(names) == set(HOSTILE_IDS)
    files = list(names.values())
    assert len({f.lower() for f in files}) == len(files), "distinct ids must get distinct names, ignoring case"
    for f in files:
        assert re.fullmatch(r"[^\W][\w.\-]*\.csv", f), f  # no separator, no leading dot or dash
        assert len(f.encode("utf-8")) <= 255
        assert f[:-4].lower() not in {"index", "con", "com1"}
    # Plain ids keep their name, so that a normal network's files read naturally.
    assert names["Zürich"] == "Zürich.csv"
    # Ids that are not plain file names get a hash of the whole id, the same on every run.
    assert names["../../x"] != names["/etc/passwd"]
    assert names == safe_file_names(reversed(HOSTILE_IDS))
    assert names["../../x"] == safe_file_names(["../../x"])["../../x"]
    # A case-only clash gives both ids a hashed name.
    assert names["D002"] != "D002.csv" and names["d002"] != "d002.csv"
    assert safe_file_names(["D002", "D003"]) == {"D002": "D002.csv", "D003": "D003.csv"}


@pytest.mark.parametrize("text", ["=1+1", "+cmd|' -C calc'!A0", "-2+3", "@SUM(1)", "\t=x", "\r=x",
                                  "'=x", "''+x", "plain", "'plain", "it's", "a=b", ""])
def test_cell_escaping_round_trips_and_neutralises(text):
    frame = pd.DataFrame({"id": pd.array([text], dtype="str"), "n": [-1.5],
                          "c": pd.Categorical([text])})
    out = neutralise_cells(frame)
    for col in ("id", "c"):
        cell = str(out[col].iloc[0])
        assert not (cell[:1] and cell[0] in FORMULA_TRIGGERS), cell
        assert unescape_cells(pd.Series([cell], dtype="str")).iloc[0] == text
    assert out["n"].iloc[0] == -1.5  # numbers untouched
    if text[:1] and text[0] not in FORMULA_TRIGGERS + "'":
        assert out["id"].iloc[0] == text  # ordinary text untouched


# ---------------------------------------------------------------------------------------
# One plan on a network full of hostile ids
# ---------------------------------------------------------------------------------------

LOCATION_RENAMES = {"D001": "../../escaped", "D002": "../stock_plan", "D003": "index", "D004": "./D005",
                    "D006": "/tmp/abs_escape", "D007": "con", "D008": "d009", "D010": "Zürich",
                    "D011": "a/b\\c", "D012": "=1+1", "D013": "@SUM(1)", "D014": "-2+3"}
PART_RENAMES_N = 4
FORMULA_PARTS = ['=HYPERLINK("http://x","click")', "+cmd|' -C calc'!A0", "@SUM(1)", "-2+3"]
MODEL_RENAMES = {"EX200": "EX$200 =A1"}


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory, _sample_dir_master):
    import shutil

    root = tmp_path_factory.mktemp("hostile")
    data = root / "in" / "fleet"
    shutil.copytree(_sample_dir_master, data)
    rename_ids(data, "location_id", LOCATION_RENAMES)
    parts = read_raw(data, "parts")["part_number"].tolist()
    # The busiest parts, so that they appear in transfers and the forecast.
    tickets = read_raw(data, "tickets")
    busy = tickets["part_number"].value_counts().index[:PART_RENAMES_N].tolist()
    part_map = dict(zip(busy, FORMULA_PARTS))
    assert set(busy) <= set(parts)
    rename_ids(data, "part_number", part_map)
    rename_ids(data, "machine_model", MODEL_RENAMES)
    out = root / "work" / "out"
    before = files_under(root)
    r = run_cli("plan", "--data", data, "--out", out, timeout=600, cwd=root)
    after = files_under(root)
    return {"root": root, "out": out, "result": r, "new_files": after - before, "part_map": part_map}


def test_hostile_ids_plan_succeeds_without_noise(hostile_run):
    r = hostile_run["result"]
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stderr == "", "no warnings or library messages on stderr: " + r.stderr[-2000:]
    assert r.stdout.startswith("plan written to ")


def test_hostile_ids_write_nothing_outside_out(hostile_run):
    out = hostile_run["out"].resolve()
    # New paths: out, what is inside it, and the folders made to hold it; nothing else.
    outside = [p for p in hostile_run["new_files"]
               if out not in p.resolve().parents and p.resolve() not in out.parents and p.resolve() != out]
    assert outside == [], outside
    assert not Path("/tmp/abs_escape.csv").exists()
    # Nothing hidden is left beside the output (temporary or old folders).
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]


def test_hostile_ids_every_dealer_file_is_its_own(hostile_run):
    out = hostile_run["out"]
    index = pd.read_csv(out / "transfers" / "index.csv", dtype={"location_id": str, "file": str},
                        keep_default_na=False)
    index["location_id"] = unescape_cells(index["location_id"])
    files = sorted(p.name for p in (out / "transfers").iterdir() if p.name != "index.csv")
    assert sorted(index["file"]) == files
    assert len(set(index["location_id"])) == len(index) == 30
    for new in LOCATION_RENAMES.values():
        assert new in set(index["location_id"]), new
    for row in index.itertuples():
        frame = pd.read_csv(out / "transfers" / row.file, dtype=str, keep_default_na=False)
        frame = frame.apply(unescape_cells)
        mine = np.where(frame["direction"] == "send", frame["from_id"], frame["to_id"])
        assert (mine == row.location_id).all(), row
        assert len(frame) == row.send + row.receive
    # ./D005 and D005 are two dealers with two files; the plan's own file is the plan.
    assert {"./D005", "D005"} <= set(index["location_id"])
    plan = pd.read_csv(out / "stock_plan.csv", dtype={"location_id": str})
    assert list(plan.columns[:3]) == ["location_id", "part_number", "base_stock"]


def test_hostile_ids_no_formula_cells_and_ids_round_trip(hostile_run):
    out = hostile_run["out"]
    csvs = sorted(out.rglob("*.csv"))
    assert len(csvs) >= 34
    for path in csvs:
        assert formula_cells(path) == [], path
    # The ids are still all there, escaped in a way that reads back exactly.
    plan = pd.read_csv(out / "stock_plan.csv", dtype=str, keep_default_na=False).apply(unescape_cells)
    assert set(hostile_run["part_map"].values()) <= set(plan["part_number"])
    assert {"=1+1", "@SUM(1)", "-2+3"} <= set(plan["location_id"])
    models = pd.read_csv(out / "failure_models.csv", dtype=str, keep_default_na=False).apply(unescape_cells)
    assert "EX$200 =A1" in set(models["machine_model"])
    # The report drew the model name with its dollar sign as text.
    assert (out / "report.html").stat().st_size > 10_000


def test_fleet_round_trip_with_hostile_ids(tmp_path, sample_fleet):
    """Ids that need escaping in CSV (or look escaped already) read back exactly as they were."""
    import partsforecast as pf

    locs = {"D001": "=1+1", "D002": "'=x", "D003": "-5", "D004": "''@y", "D005": "'plain"}
    part = sample_fleet.parts["part_number"][0]
    tables = {}
    for name, frame in sample_fleet.tables.items():
        frame = frame.copy()
        for kind, mapping in (("location_id", locs), ("part_number", {part: "@p"})):
            for c in ID_COLUMNS[kind].get(name, []):
                frame[c] = frame[c].replace(mapping)
        tables[name] = frame
    fleet = pf.Fleet(**tables, as_of=sample_fleet.as_of)
    fleet.to_dir(tmp_path / "a")
    for path in (tmp_path / "a").glob("*.csv"):
        assert formula_cells(path) == [], path
    back = pf.read_fleet(tmp_path / "a")
    for table in ("machines", "tickets", "locations", "stock", "parts", "lanes", "bom"):
        pd.testing.assert_frame_equal(getattr(back, table), getattr(fleet, table))
    assert set(locs.values()) | {"D006"} <= set(back.locations["location_id"])
    assert "@p" in set(back.parts["part_number"])


# ---------------------------------------------------------------------------------------
# Ids that cannot be accepted
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,value,rule", [
    ("location_id", "D0\x0001", "control character"), ("machine_model", "EX\x07200", "control character"),
    ("part_number", "P\x1b[31m", "control character"), ("location_id", "D\x7f1", "control character"),
    ("location_id", "D\n1", "control character"),
    ("location_id", "D" * 101, "longer than 100 characters"),
    ("part_number", "P" * 5000, "longer than 100 characters"),
])
def test_unprintable_or_huge_ids_are_input_errors(sample_dir, kind, value, rule):
    first_table = next(iter(ID_COLUMNS[kind]))
    old = read_raw(sample_dir, first_table)[kind].iloc[3]
    rename_ids(sample_dir, kind, {old: value})
    r = run_cli("validate", sample_dir, timeout=120)
    assert_clean_failure(r, f", column {kind}, value ", rule)


@pytest.mark.parametrize("table,column", [("tickets", "ticket_id"), ("parts", "component"),
                                          ("locations", "kind")])
def test_control_characters_in_any_text_column(sample_dir, table, column):
    set_cell(sample_dir, table, 3, column, "x\ty")
    r = run_cli("validate", sample_dir, timeout=120)
    assert_clean_failure(r, f"{table} row 5, column {column}, value 'x\\ty'", "control character")


# ---------------------------------------------------------------------------------------
# Absurd numbers and dates
# ---------------------------------------------------------------------------------------

ABSURD = [
    ("parts", "lead_time_days", "1e30"), ("parts", "lead_time_days", "731"), ("parts", "lead_time_days", "-1"),
    ("lanes", "lead_time_days", "1e30"), ("lanes", "lead_time_days", "366"),
    ("lanes", "cost_per_unit", "1e300"), ("lanes", "cost_per_shipment", "-0.5"),
    ("tickets", "quantity", "1e30"), ("tickets", "quantity", "10001"), ("tickets", "quantity", "0"),
    ("stock", "on_hand", "1e30"), ("stock", "on_order", "-3"), ("stock", "on_hand", "1e7000"),
    ("tickets", "meter_hours", "1e300"), ("tickets", "meter_hours", "-inf"),
    ("machines", "hours_per_day", "25"), ("parts", "unit_cost", "1e12"), ("parts", "unit_cost", "0"),
    ("bom", "qty_per_replacement", "100000"), ("locations", "holding_rate", "100"),
    ("parts", "unit_cost", "nan(1)"), ("parts", "unit_cost", "inf"),
]


@pytest.mark.parametrize("table,column,value", ABSURD)
def test_absurd_numbers_are_input_errors(sample_dir, table, column, value):
    set_cell(sample_dir, table, 0, column, value)
    r = run_cli("validate", sample_dir, timeout=120)
    assert_clean_failure(r, f"{table} row 2, column {column}, value '{value}'")


@pytest.mark.parametrize("table,column,value,needle", [
    ("tickets", "opened_at", "2099-03-01 10:00:00", "in the future"),
    ("tickets", "closed_at", "2099-03-01 10:00:00", "in the future"),
    ("tickets", "parts_ready_at", "2999-01-01", "value '2999-01-01': in the future"),  # past ns dates
    ("machines", "in_service_date", "1000-01-01", "value '1000-01-01': before 1950-01-01"),
    ("machines", "in_service_date", "1900-01-01", "before 1950-01-01"),
    ("machines", "retired_date", "2091-01-01", "in the future"),
])
def test_dates_out_of_range_are_input_errors(sample_dir, table, column, value, needle):
    (sample_dir / "as_of.txt").unlink()  # with no as-of date, one wrong year must not move the plan
    set_cell(sample_dir, table, 0, column, value)
    r = run_cli("validate", sample_dir, timeout=120)
    assert_clean_failure(r, f"{table} row 2, column {column}", needle)


@pytest.mark.parametrize("as_of,needle", [("2099-01-01", "in the future"), ("someday", "not a date"),
                                          ("1800-01-01", "before 1950"), ("1940-01-01", "before 1950")])
def test_as_of_out_of_range(sample_dir, as_of, needle):
    (sample_dir / "as_of.txt").write_text(as_of + "\n")
    assert_clean_failure(run_cli("validate", sample_dir, timeout=120), "as_of", needle)
    (sample_dir / "as_of.txt").write_text("2026-07-01\n")
    assert_clean_failure(run_cli("plan", "--data", sample_dir, "--as-of", as_of, "--out",
                                 sample_dir.parent / "o", timeout=120), "as_of", needle)
    assert not (sample_dir.parent / "o").exists()


def test_network_without_dealers_is_an_input_error(sample_dir):
    locs = read_raw(sample_dir, "locations")
    wh = locs.loc[locs["kind"] == "warehouse", "location_id"].iloc[0]
    write_raw(sample_dir, "locations", locs[locs["kind"] == "warehouse"])
    for table in ("machines", "tickets", "stock"):
        frame = read_raw(sample_dir, table)
        frame["location_id"] = wh
        if table == "stock":
            frame = frame.drop_duplicates(["location_id", "part_number"])
        write_raw(sample_dir, table, frame)
    write_raw(sample_dir, "lanes", read_raw(sample_dir, "lanes").iloc[:0])
    r = run_cli("validate", sample_dir, timeout=120)
    assert_clean_failure(r, "locations, column kind", "no dealer")


# ---------------------------------------------------------------------------------------
# Settings: every bad value named, before any computing
# ---------------------------------------------------------------------------------------

BAD_SETTINGS = [
    ('budget = "lots"', "setting budget, value 'lots'"),
    ("budget = -1.0", "setting budget"), ("budget = inf", "setting budget, value 'inf'"),
    ("budget = nan", "setting budget"), ("holding_rate = -0.1", "setting holding_rate"),
    ("planning_window_days = 0", "setting planning_window_days"),
    ("fill_rate_targets = {a = 0.9}", "tier 'a' is not a dealer tier"),
    ("fill_rate_targets = {5 = 0.9}", "tier '5' is not a dealer tier"),
    ("fill_rate_targets = {1 = 1.0}", "setting fill_rate_targets"),
    ('fill_rate_targets = {1 = "high"}', "setting fill_rate_targets"),
    ("fill_rate_targets = 1.5", "setting fill_rate_targets"),
    ('use_fixed_costs = "no"', "setting use_fixed_costs, value 'no'"),
    ('seed = "abc"', "setting seed, value 'abc'"), ("seed = -1", "setting seed"),
    ("horizon = 0", "setting horizon"), ("horizon = 2.5", "setting horizon"), ("horizon = 100000", "setting horizon"),
    ("time_limit = 0", "setting time_limit"), ('solver = "gurobi"', "setting solver"),
    ('method = "magic"', "setting method"), ('pooling = "all"', "setting pooling"),
    ('freq = "fortnightly"', "setting freq"), ('forecast_format = "xlsx"', "setting forecast_format"),
    ("max_milp_integers = -5", "setting max_milp_integers"),
    ("colour = 3", "setting colour: unknown setting"),
    ("horizon = ", "setting --config"), ("plan = 3", "setting --config"),
]


@pytest.mark.parametrize("line,needle", BAD_SETTINGS)
def test_bad_settings_exit_2_before_any_computing(tmp_path, monkeypatch, capsys, line, needle):
    from partsforecast import cli

    cfg = tmp_path / "plan.toml"
    cfg.write_text(line + "\n" if line.startswith("plan =") else "[plan]\n" + line + "\n")

    def no_computing(*a, **k):
        raise AssertionError("settings must be checked before the fleet is read")

    monkeypatch.setattr("partsforecast.samples.load_sample", no_computing)
    monkeypatch.setattr(cli, "read_fleet", no_computing)
    code = cli.main(["plan", "--config", str(cfg), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert needle in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flags,needle", [
    (["--budget", "-5"], "setting budget"), (["--budget", "nan"], "setting budget"),
    (["--budget", "inf"], "setting budget"), (["--horizon", "0"], "setting horizon"),
    (["--time-limit", "-1"], "setting time_limit"), (["--seed", "-3"], "setting seed"),
    (["--config", "/nonexistent/plan.toml"], "setting --config"),
])
def test_bad_flags_exit_2(tmp_path, capsys, flags, needle):
    from partsforecast import cli

    code = cli.main(["plan", "--out", str(tmp_path / "out"), *flags])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and "Traceback" not in err, err


def test_settings_accept_one_target_for_every_tier():
    from partsforecast.plan import PlanSettings

    s = PlanSettings.from_mapping({"fill_rate_targets": 0.9})
    assert s.fill_rate_targets == {1: 0.9, 2: 0.9, 3: 0.9, 4: 0.9}
    s = PlanSettings.from_mapping({"fill_rate_targets": {"1": 0.95, "4": 0.9}, "horizon": 6.0})
    assert s.fill_rate_targets == {1: 0.95, 4: 0.9} and s.horizon == 6 and isinstance(s.horizon, int)


def test_output_options_after_the_sub_command(tmp_path):
    from partsforecast.cli import build_parser

    p = build_parser()
    a = p.parse_args(["plan", "--out", "x", "-q"])
    assert a.quiet and a.verbose == 0
    a = p.parse_args(["-v", "plan", "--out", "x", "-v", "--debug"])
    assert a.verbose >= 1 and a.debug and not a.quiet
    a = p.parse_args(["-q", "validate", "x"])
    assert a.quiet and not a.debug


# ---------------------------------------------------------------------------------------
# The output folder
# ---------------------------------------------------------------------------------------

def test_out_naming_a_file_is_refused_and_kept(tmp_path, capsys):
    from partsforecast import cli

    target = tmp_path / "plan"
    target.write_text("my notes\n")
    for argv in (["plan", "--out", str(target)], ["sample", str(target)]):
        code = cli.main(argv)
        err = capsys.readouterr().err
        assert code == 2 and "setting --out" in err and "not a folder" in err, err
        assert target.read_text() == "my notes\n"
    code = cli.main(["fit", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "is a folder" in err, err
    assert [p.name for p in tmp_path.iterdir()] == ["plan"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_leftovers_of_a_killed_run_are_removed_by_the_next(tmp_path):
    from partsforecast._io import atomic_dir, write_frame_atomic

    out = tmp_path / "out"
    dead = _dead_pid()
    stale_tmp = tmp_path / f".out.{dead}.abcd1234.tmp"
    stale_old = tmp_path / f".out.{dead}.zz_z9999.old"
    live = tmp_path / f".out.{os.getppid()}.live0000.tmp"  # a running process's: kept
    other = tmp_path / f".out.5.{dead}.abcd1234.tmp"  # not ours: another folder's name
    for d in (stale_tmp, stale_old, live, other):
        (d / "sub").mkdir(parents=True)
        (d / "sub" / "f.csv").write_text("x")
    os.chmod(stale_old / "sub", 0o500)  # read-only inside: still removed
    with atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("new")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["out", live.name, other.name]), names
    assert (out / "a.txt").read_text() == "new"
    # The same for single files.
    stale_file = tmp_path / f".f.csv.{dead}.abcdefgh.tmp"
    stale_file.write_text("half")
    write_frame_atomic(pd.DataFrame({"a": [1]}), tmp_path / "f.csv")
    assert not stale_file.exists()
    assert (tmp_path / "f.csv").read_text() == "a\n1\n"


KILL_IN_WRITE = """
import os, sys, time
import partsforecast.plan as plan
flag = sys.argv[1]
real = plan.write_frame
def slow_write(*args, **kwargs):
    real(*args, **kwargs)                  # the forecast is half the plan's files
    open(flag, "w").close()                # tell the test the write stage has begun
    time.sleep(600)
plan.write_frame = slow_write
from partsforecast.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_kill_inside_the_write_stage_keeps_previous_outputs(tmp_path):
    """SIGKILL at a moment the test controls: while the new plan's files are being written."""
    import signal
    import time

    out = tmp_path / "out"
    first = run_cli("plan", "--out", out, "--no-report", "--horizon", "3", timeout=600)
    assert first.returncode == 0, first.stderr
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert Path("stock_plan.csv") in before and Path("forecast.csv") in before
    flag = tmp_path / "writing"
    proc = subprocess.Popen([sys.executable, "-c", KILL_IN_WRITE, str(flag), "plan", "--out", str(out),
                             "--horizon", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while not flag.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # The new plan is partly on disk now, in the temporary folder beside out.
    partial = [p for p in tmp_path.iterdir() if p.name.startswith(".out.") and p.name.endswith(".tmp")]
    assert len(partial) == 1 and (partial[0] / "stock_plan.csv").exists()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    # The next run removes what the killed one left, and replaces the outputs.
    again = run_cli("plan", "--out", out, "--no-report", "--horizon", "2", timeout=600)
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "writing"]
    fc = pd.read_csv(out / "forecast.csv")
    assert fc["period"].nunique() == 2


# ---------------------------------------------------------------------------------------
# Random corruption: the whole contract, on inputs nobody thought of
# ---------------------------------------------------------------------------------------

HOSTILE_VALUES = ["", " ", "nan", "inf", "-inf", "1e30", "-1e30", "1e-320", "0", "-1", "3.7", "10001",
                  "../../x", "=cmd()", "+1+1", "@A1", "-", "\x00", "\t", "x" * 400, "NULL", "$x$",
                  "2099-01-01", "1900-01-01", "0000-00-00", "2026-02-30", "🚜", "'", "\"", "D001", "P0001",
                  "1,5", "١٢٣"]


def _corrupt(folder: Path, rng: np.random.Generator) -> str:
    tables = ["machines", "tickets", "parts", "bom", "locations", "lanes", "stock"]
    table = tables[rng.integers(len(tables))]
    frame = read_raw(folder, table)
    column = frame.columns[rng.integers(len(frame.columns))]
    n_cells = int(rng.integers(1, 4))
    rows = rng.choice(len(frame), size=min(n_cells, len(frame)), replace=False)
    value = HOSTILE_VALUES[rng.integers(len(HOSTILE_VALUES))]
    frame.loc[rows, column] = value
    write_raw(folder, table, frame)
    return f"{table}.{column} rows {sorted(rows.tolist())} = {value!r}"


@pytest.mark.parametrize("seed", range(8))
def test_random_corruption_keeps_the_contract(tmp_path, _sample_dir_master, seed):
    import shutil
    import time

    rng = np.random.default_rng(1000 + seed)
    data = tmp_path / "fleet"
    shutil.copytree(_sample_dir_master, data)
    what = "; ".join(_corrupt(data, rng) for _ in range(int(rng.integers(1, 3))))
    out = tmp_path / "out"
    before = files_under(tmp_path)
    t0 = time.monotonic()
    v = run_cli("validate", data, timeout=120)
    p = run_cli("plan", "--data", data, "--out", out, "--no-report", "--time-limit", "20", timeout=300)
    elapsed = time.monotonic() - t0
    assert v.returncode in (0, 2), (what, v.stderr[-2000:])
    assert p.returncode in (0, 2, 3), (what, p.stderr[-2000:])
    if p.returncode == 3:
        assert "infeasible plan" in p.stderr, what
    for r in (v, p):
        assert "Traceback" not in r.stderr and "(run again with --debug" not in r.stderr, (what, r.stderr)
    if v.returncode == 2:
        assert p.returncode == 2, what
        assert re.search(r"\w+( row \d+)?, column \w+", v.stderr) or "table" in v.stderr, (what, v.stderr)
    new = files_under(tmp_path) - before
    assert all(out in q.parents or q == out or q in out.parents for q in new), (what, new)
    if p.returncode == 0:
        for path in out.rglob("*.csv"):
            assert formula_cells(path) == [], (what, path)
    assert elapsed < 400, (what, elapsed)


@pytest.mark.parametrize("flags,needle", [
    (["--machines", "0"], "setting --machines"), (["--machines", "10000000000"], "setting --machines"),
    (["--dealers", "-1"], "setting --dealers"), (["--years", "100"], "setting --years"),
    (["--years", "nan"], "setting --years"),
])
def test_bad_sample_sizes_exit_2(tmp_path, capsys, flags, needle):
    from partsforecast import cli

    code = cli.main(["sample", str(tmp_path / "s"), *flags])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and "Traceback" not in err, err
    assert not (tmp_path / "s").exists()
