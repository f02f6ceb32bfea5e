"""Reading the fleet from a database: SQLite for real, PostgreSQL when a server is given.

The PostgreSQL test needs a server: ``PARTSFORECAST_TEST_PG_URL`` (``.ci/run`` starts one
with ``.ci/postgres`` and sets it). Without one it skips, unless
``PARTSFORECAST_REQUIRE_PG=1`` (set by ``.ci/run``): then a missing server fails the run.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import psycopg2  # noqa: F401  (the test extra has it: the PostgreSQL test needs the driver)
import pytest
import sqlalchemy as sa

from partsforecast import InputError, read_fleet_sql

TABLES = ("machines", "tickets", "parts", "bom", "locations", "lanes", "stock")


def _fill(url: str, fleet, rename: dict | None = None) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for name in TABLES:
            getattr(fleet, name).to_sql((rename or {}).get(name, name), conn, index=False, if_exists="replace")
    engine.dispose()


KEYS = {"machines": ["serial"], "tickets": ["ticket_id", "part_number"], "parts": ["part_number"],
        "bom": ["machine_model", "component", "part_number"], "locations": ["location_id"],
        "lanes": ["from_id", "to_id"], "stock": ["location_id", "part_number"]}


def _same(fleet, back) -> None:
    # A database keeps no row order (PostgreSQL returns rows as it likes): compare by key.
    for name in TABLES:
        a = getattr(back, name).sort_values(KEYS[name], ignore_index=True)
        b = getattr(fleet, name).sort_values(KEYS[name], ignore_index=True)
        pd.testing.assert_frame_equal(a, b, obj=name)


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory, sample_fleet):
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'fleet.db'}"
    _fill(url, sample_fleet)
    return url


def test_sqlite_round_trip(sqlite_url, sample_fleet):
    _same(sample_fleet, read_fleet_sql(sqlite_url, as_of=sample_fleet.as_of))


def test_sqlite_renamed_tables_and_bad_row(tmp_path, sample_fleet):
    url = f"sqlite:///{tmp_path / 'renamed.db'}"
    tickets = sample_fleet.tickets.copy()
    tickets.loc[4, "quantity"] = -2
    bad = {**sample_fleet.tables, "tickets": tickets}

    class F:  # the tables, as _fill reads them
        pass
    f = F()
    for k, v in bad.items():
        setattr(f, k, v)
    _fill(url, f, rename={"tickets": "repair_lines"})
    with pytest.raises(InputError) as info:
        read_fleet_sql(url, as_of=sample_fleet.as_of)
    assert "table 'tickets' is missing" in str(info.value)
    with pytest.raises(InputError) as info:
        read_fleet_sql(url, tables={"tickets": "repair_lines"}, as_of=sample_fleet.as_of)
    assert "tickets row 5, column quantity, value '-2': must be > 0" in str(info.value)


def test_unreachable_database():
    with pytest.raises(InputError, match="cannot open the database"):
        read_fleet_sql("postgresql+psycopg2://nobody@127.0.0.1:1/none")


def test_cli_plan_from_sqlite(sqlite_url, tmp_path):
    r = subprocess.run([sys.executable, "-m", "partsforecast", "plan", "--db", sqlite_url,
                        "--out", tmp_path / "out", "--horizon", "3", "--no-report"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    # The same plan from the folder: the same bytes in every file a dealer or purchasing
    # loads (numbers at the precision people read, so a float parsed from text or read from a
    # database gives one file). The failure models and forecast agree to 1e-5 but may differ
    # in their last printed digits: the database's rows come in key order, so sums run in
    # another order and tied lives sort differently (the KS fit statistic moves by up to 1e-4).
    r = subprocess.run([sys.executable, "-m", "partsforecast", "plan", "--out", tmp_path / "folder",
                        "--horizon", "3", "--no-report"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    csvs = sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*.csv")
                  if p.name not in ("failure_models.csv", "forecast.csv"))
    assert len(csvs) >= 30
    for rel in csvs:
        assert (tmp_path / "out" / rel).read_bytes() == (tmp_path / "folder" / rel).read_bytes(), rel
    for name, cols in (("failure_models.csv", ["shape", "scale", "shape_lower", "scale_upper", "n_failures"]),
                       ("forecast.csv", ["mean", "var", "q0.5", "q0.99"])):
        a, b = pd.read_csv(tmp_path / "out" / name), pd.read_csv(tmp_path / "folder" / name)
        assert len(a) == len(b)
        pd.testing.assert_frame_equal(a[cols], b[cols], check_exact=False, rtol=1e-9, atol=1e-5)
    r = subprocess.run([sys.executable, "-m", "partsforecast", "forecast", "--db", "sqlite:///" + str(tmp_path / "none.db"),
                        "--out", tmp_path / "f.csv"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and "missing from the database" in r.stderr and "Traceback" not in r.stderr


PG_URL = os.environ.get("PARTSFORECAST_TEST_PG_URL")
PG_REQUIRED = os.environ.get("PARTSFORECAST_REQUIRE_PG", "") not in ("", "0")


def _pg_url() -> str:
    """The PostgreSQL server's URL; skips without one, fails without one where required."""
    if not PG_URL:
        msg = ("no PostgreSQL server: set PARTSFORECAST_TEST_PG_URL (.ci/run starts one with "
               ".ci/postgres and sets it)")
        if PG_REQUIRED:
            pytest.fail(msg + "; PARTSFORECAST_REQUIRE_PG is set, so this is a failure")
        pytest.skip(msg)
    return PG_URL


def test_postgresql_round_trip(sample_fleet):
    pg_url = _pg_url()
    assert sa.make_url(pg_url).get_backend_name() == "postgresql"
    _fill(pg_url, sample_fleet)
    _same(sample_fleet, read_fleet_sql(pg_url, as_of=sample_fleet.as_of))


def test_a_value_the_driver_cannot_convert_is_an_input_error(tmp_path, sample_fleet):
    # SQLite keeps any text in a column declared DATETIME; SQLAlchemy fails to convert it
    url = f"sqlite:///{tmp_path / 'baddate.db'}"
    _fill(url, sample_fleet)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE machines SET in_service_date = 'the day before yesterday' "
                             "WHERE serial = (SELECT MIN(serial) FROM machines)"))
    engine.dispose()
    with pytest.raises(InputError) as info:
        read_fleet_sql(url, as_of=sample_fleet.as_of)
    text = str(info.value)
    assert "machines" in text and "could not convert" in text and "Traceback" not in text
    assert info.value.problems[0].table == "machines"
