"""Reading a database in chunks (``read_fleet_sql``): the same fleet and the same messages as
reading whole tables, with row numbers that count across chunks.

The chunk size is lowered so that every larger table spans many chunks. The reference is
the whole-table reader (``pd.read_sql_table`` of each table, every contract column as Python
values, sorted by key as text), which the chunked reader replaced. PostgreSQL runs when
``PARTSFORECAST_TEST_PG_URL`` names a server (see ``tests/test_db.py``).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from partsforecast import InputError, read_fleet, read_fleet_sql
from partsforecast import data
from partsforecast.samples import make_fleet

CHUNK = 500  # rows per chunk in these tests: the tickets span about 30 chunks


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(data, "_SQL_CHUNK_ROWS", CHUNK)


def _by_key(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    return frame.sort_values(data._KEYS[table], key=lambda c: c.astype(str), kind="stable",
                             ignore_index=True)


def _write_db(url: str, tables: dict[str, pd.DataFrame]) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for name, frame in tables.items():
            frame.to_sql(name, conn, index=False, if_exists="replace")
    engine.dispose()


def _whole_table_reader(url: str, as_of) -> data.Fleet:
    """The reader before chunking, kept here as the reference."""
    engine = sa.create_engine(url)
    raw = {}
    with engine.connect() as conn:
        present = set(sa.inspect(conn).get_table_names())
        for table in data.TABLES:
            if table not in present:
                raw[table] = None
                continue
            frame = pd.read_sql_table(table, conn)
            known = {c.name for c in data.SCHEMA[table]}
            frame = frame.astype({c: "object" if c in known else "str" for c in frame.columns
                                  if c in known or frame[c].dtype == object})
            keys = [k for k in data._KEYS[table] if k in frame.columns]
            frame = frame.sort_values(keys, key=lambda c: c.astype(str), kind="stable")
            frame.index = pd.RangeIndex(1, len(frame) + 1)
            raw[table] = frame
    engine.dispose()
    fleet = object.__new__(data.Fleet)
    col = data._Collector()
    col.raise_if_any()
    fleet._build(raw, col, as_of)
    return fleet


def _outcome(read):
    """The fleet's tables, or the error's message and problems."""
    try:
        fleet = read()
    except InputError as exc:
        return str(exc), exc.problems, exc.n_problems
    return fleet


def _assert_same_fleet(a: data.Fleet, b: data.Fleet) -> None:
    assert a.as_of == b.as_of
    for name in data.TABLES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), obj=name)


@pytest.fixture(scope="module")
def fleet():
    return make_fleet(600, maintenance=True, supersession=True, seed=3)


@pytest.fixture(scope="module")
def sorted_tables(fleet):
    """The fleet's tables in key order, as a folder read and a database read both give them."""
    return {name: _by_key(getattr(fleet, name), name) for name in data.TABLES}


PG_URL = os.environ.get("PARTSFORECAST_TEST_PG_URL")
PG_REQUIRED = os.environ.get("PARTSFORECAST_REQUIRE_PG", "") not in ("", "0")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """An empty database of its own for each test: a SQLite file, or a PostgreSQL database
    made on the test server (so that tests running side by side do not meet)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fleet.db'}"
        return
    if not PG_URL:
        msg = "no PostgreSQL server: set PARTSFORECAST_TEST_PG_URL (.ci/run sets it)"
        if PG_REQUIRED:
            pytest.fail(msg + "; PARTSFORECAST_REQUIRE_PG is set, so this is a failure")
        pytest.skip(msg)
    server = sa.make_url(PG_URL)
    name = f"pf_chunks_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_chunked_read_is_the_folder_read(db_url, tmp_path, monkeypatch, fleet, sorted_tables):
    assert len(sorted_tables["tickets"]) > 20 * CHUNK and len(sorted_tables["maintenance"]) > 0
    _write_db(db_url, sorted_tables)
    folder = tmp_path / "folder"
    folder.mkdir()
    for name, frame in sorted_tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    chunks = []
    parse_table = data._parse_table
    monkeypatch.setattr(data, "_parse_table", lambda name, raw, col: (
        chunks.append((name, len(raw))), parse_table(name, raw, col))[1])
    from_db = read_fleet_sql(db_url, as_of=fleet.as_of)
    monkeypatch.setattr(data, "_parse_table", parse_table)
    ticket_chunks = [n for name, n in chunks if name == "tickets"]
    assert len(ticket_chunks) == -(-len(sorted_tables["tickets"]) // CHUNK)
    assert set(ticket_chunks[:-1]) == {CHUNK} and sum(ticket_chunks) == len(sorted_tables["tickets"])
    from_folder = read_fleet(folder, as_of=fleet.as_of)
    _assert_same_fleet(from_db, from_folder)
    # the rows in key order, as they were written: also the order of the validated fleet
    _assert_same_fleet(from_db, _whole_table_reader(db_url, fleet.as_of))
    # the same findings, at the same rows (a file counts its header as row 1, a database not)
    findings = from_folder.findings()
    findings["row"] -= 1
    pd.testing.assert_frame_equal(from_db.findings(), findings)


def _edge_tables(sorted_tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Valid tables the database holds in other types than the contract's: whole numbers
    with NULLs only in some chunks, dates as text, padded ids, a 'no value' token, keys whose
    order depends on case and accents."""
    t = {k: v.copy() for k, v in sorted_tables.items()}
    tk = t["tickets"]
    n = len(tk)
    # meter_hours as whole numbers (INTEGER) with a NULL in one late chunk only
    meter = tk["meter_hours"].round().astype("Int64")
    meter.iloc[n - 5] = pd.NA
    tk["meter_hours"] = meter
    tk["technician"] = tk["technician"].astype(object)
    tk.loc[tk.index[3 * CHUNK + 2], "part_number"] = "  " + tk["part_number"].iloc[3 * CHUNK + 2] + " "
    tk["extra_count"] = pd.array(np.arange(n), dtype="Int64")
    tk.loc[tk.index[-3], "extra_count"] = pd.NA
    m = t["machines"]
    m["retired_date"] = m["retired_date"].dt.strftime("%Y-%m-%d")  # text, missing stays NULL
    p = t["parts"]
    p.loc[p["supersedes"].isna(), "supersedes"] = "NA"
    # parts that nothing refers to, whose ids sort differently by case, accent or locale
    more = p.iloc[:4].copy()
    more["part_number"] = ["b-part", "B-part", "éclair", "Zulu"]
    more["supersedes"] = "NA"
    t["parts"] = _by_key(pd.concat([p, more], ignore_index=True), "parts").sample(frac=1, random_state=1)
    t["stock"]["on_order"] = t["stock"]["on_order"].astype("Int64")
    t["stock"].loc[t["stock"].index[-1], "on_order"] = pd.NA
    return t


def test_chunked_read_of_other_column_types_is_the_whole_table_read(db_url, fleet, sorted_tables):
    _write_db(db_url, _edge_tables(sorted_tables))
    new = read_fleet_sql(db_url, as_of=fleet.as_of)
    old = _whole_table_reader(db_url, fleet.as_of)
    _assert_same_fleet(new, old)
    assert new.parts["part_number"].str.contains("éclair").any()
    assert new.tickets["extra_count"].dtype == np.float64  # a NULL in one chunk: as pandas reads it


def test_problems_in_later_chunks(db_url, fleet, sorted_tables):
    t = _edge_tables(sorted_tables)
    tk = t["tickets"]
    n = len(tk)
    q = tk["quantity"].astype("Int64")
    q.iloc[5 * CHUNK + 10] = -2  # row 5 × CHUNK + 11, in the sixth chunk
    q.iloc[9 * CHUNK] = pd.NA  # first row of the tenth chunk: a NULL makes the column float
    tk["quantity"] = q
    tk.loc[tk.index[12 * CHUNK + 1], "location_id"] = "  NOWHERE "
    tk.loc[tk.index[-1], "opened_at"] = pd.Timestamp("1900-02-03 04:05:06")
    # a duplicate key in a later chunk: the second copy, with a bad quantity, is the later row
    dup = tk.iloc[[15 * CHUNK + 3]].copy()
    dup["quantity"] = -7
    tk = pd.concat([tk.iloc[: 15 * CHUNK + 4], dup, tk.iloc[15 * CHUNK + 4:]], ignore_index=True)
    t["tickets"] = tk
    m = t["machines"]
    m.loc[m.index[CHUNK + 5], "retired_date"] = "2999-01-01"  # in the second chunk
    _write_db(db_url, t)

    with pytest.raises(InputError) as info:
        read_fleet_sql(db_url, as_of=fleet.as_of)
    msg = str(info.value)
    dup_row = 15 * CHUNK + 5
    for expected in (
        f"tickets row {5 * CHUNK + 11}, column quantity, value '-2.0': must be > 0",
        f"tickets row {9 * CHUNK + 1}, column quantity, value '': value is missing",
        f"tickets row {12 * CHUNK + 2}, column location_id, value '  NOWHERE ': unknown location",
        f"tickets row {n + 1}, column opened_at, value '1900-02-03T04:05:06': before 1950-01-01",
        f"tickets row {dup_row}, column ticket_id+part_number, value '{dup['ticket_id'].iloc[0]}/"
        f"{dup['part_number'].iloc[0].strip()}': duplicate key",
        f"tickets row {dup_row}, column quantity, value '-7.0': must be > 0",
        f"machines row {CHUNK + 6}, column retired_date, value '2999-01-01': in the future",
    ):
        assert expected in msg, expected
    # and exactly the whole-table reader's message and problems
    old = _outcome(lambda: _whole_table_reader(db_url, fleet.as_of))
    assert (msg, info.value.problems, info.value.n_problems) == old


def test_many_problems_keep_the_first_rows_of_each_rule(db_url, fleet, sorted_tables):
    t = {k: v.copy() for k, v in sorted_tables.items()}
    t["tickets"]["quantity"] = -1  # every line: a problem in every chunk
    _write_db(db_url, t)
    with pytest.raises(InputError) as info:
        read_fleet_sql(db_url, as_of=fleet.as_of)
    err = info.value
    rows = [p.row for p in err.problems if p.column == "quantity"]
    assert rows == list(range(1, data._MAX_KEPT_PER_RULE + 1))
    assert err.n_problems == len(t["tickets"])
    old = _outcome(lambda: _whole_table_reader(db_url, fleet.as_of))
    assert (str(err), err.problems, err.n_problems) == old
