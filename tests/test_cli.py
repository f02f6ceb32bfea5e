"""The ``partsforecast`` command's flags, each checked for its effect on what is written.

Plans run in-process (``partsforecast.cli.main``) on the bundled sample with a 3-month
horizon and no report; each distinct run is made once per module and shared.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from partsforecast import load_sample, make_fleet, read_fleet
from partsforecast.cli import main

FAST = ["--horizon", "3", "--no-report"]
BUDGET = 150_000.0
TIME_LIMIT = 0.05  # seconds: far less than the sample's transfer MILP needs (~2 s)
TABLES = ("machines", "tickets", "parts", "bom", "locations", "lanes", "stock", "maintenance")


@dataclass
class Run:
    code: int
    out: str
    err: str


def cli(*argv) -> Run:
    """Run the command in-process; its exit code and what it printed."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return Run(code, out.getvalue(), err.getvalue())


@dataclass
class Plan:
    run: Run
    path: Path

    @property
    def meta(self) -> dict:
        return json.loads((self.path / "run.json").read_text(encoding="utf-8"))

    def csv(self, name: str) -> pd.DataFrame:
        return pd.read_csv(self.path / name, dtype={"location_id": str, "part_number": str})


def _plan(tmp_path_factory, *flags, code: int = 0) -> Plan:
    path = tmp_path_factory.mktemp("plan") / "out"
    run = cli("plan", "--out", path, *FAST, *flags)
    assert run.code == code, run.err
    return Plan(run, path)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Plan:
    """The defaults: targets per tier, shrink pooling, HiGHS, a 60 s limit, seed 0."""
    return _plan(tmp_path_factory)


@pytest.fixture(scope="module")
def budgeted(tmp_path_factory) -> Plan:
    # the budget binds below the default targets: written, with warnings, exit 4
    return _plan(tmp_path_factory, "--budget", BUDGET, code=4)


@pytest.fixture(scope="module")
def cbc(tmp_path_factory) -> Plan:
    return _plan(tmp_path_factory, "--solver", "cbc", "--seed", "11")


@pytest.fixture(scope="module")
def limited(tmp_path_factory) -> Plan:
    return _plan(tmp_path_factory, "--time-limit", TIME_LIMIT, "--pooling", "none")


# ---------------------------------------------------------------------------------------
# plan: the defaults, and each flag against them
# ---------------------------------------------------------------------------------------


def test_plan_defaults_recorded(base):
    s = base.meta["settings"]
    assert (s["budget"], s["solver"], s["time_limit"], s["pooling"], s["seed"], s["horizon"]) == (
        None, "highs", 60.0, "shrink", 0, 3)
    t = base.meta["transfers"]
    assert t["status"] == "optimal" and t["solver_status"] == "Optimal" and t["n_transfers"] > 0
    levels = base.csv("stock_plan.csv")
    assert levels["inventory_value"].sum() == pytest.approx(base.meta["stocking"]["investment"])
    assert base.run.out.startswith(f"plan written to {base.path}: {len(levels)} stock levels, "
                                   f"{t['n_transfers']} transfers")


def test_budget_caps_the_investment(base, budgeted):
    meta = budgeted.meta
    assert meta["settings"]["budget"] == BUDGET
    levels = budgeted.csv("stock_plan.csv")
    spent = levels["inventory_value"].sum()
    assert spent <= BUDGET + 1e-6
    assert meta["stocking"]["investment"] == pytest.approx(spent)
    # The default plan costs more than the budget, so the budget binds: the best service
    # for the money spends (nearly) all of it, and buys less stock than the default plan.
    base_spent = base.csv("stock_plan.csv")["inventory_value"].sum()
    assert base_spent > BUDGET * 1.5
    assert spent >= 0.95 * BUDGET
    assert levels["base_stock"].sum() < base.csv("stock_plan.csv")["base_stock"].sum()


def test_solver_cbc_solves_the_same_model(base, cbc):
    meta = cbc.meta
    assert meta["settings"]["solver"] == "cbc"
    assert meta["settings"]["seed"] == 11
    t, t0 = meta["transfers"], base.meta["transfers"]
    assert t["status"] == "optimal"
    # CBC's own status text, not HiGHS's
    assert t["solver_status"] != t0["solver_status"] and "solution found" in t["solver_status"]
    # the same MILP: the same optimum within the MIP gap (1e-4), and the same stock levels
    assert t["objective"] == pytest.approx(t0["objective"], rel=2e-4)
    a, b = cbc.csv("stock_plan.csv"), base.csv("stock_plan.csv")
    assert a["base_stock"].tolist() == b["base_stock"].tolist()


def test_time_limit_is_passed_to_the_solver(limited):
    meta = limited.meta
    assert meta["settings"]["time_limit"] == TIME_LIMIT
    t = meta["transfers"]
    # stopped by its limit, long before the ~2 s the MILP needs: no optimality proof
    assert t["solver_status"] == "Time limit reached", t
    assert t["status"] in ("feasible", "not solved")
    assert meta["timings_seconds"]["optimise"] < 30


def test_pooling_none_fits_every_group_on_its_own(base, limited):
    assert limited.meta["settings"]["pooling"] == "none"
    shrunk, alone = base.csv("failure_models.csv"), limited.csv("failure_models.csv")
    key = ["machine_model", "component"]
    assert shrunk[key].equals(alone[key])
    assert (shrunk["method"] != "mle").sum() > 0 and shrunk["borrowed"].any()
    assert (alone["method"] == "mle").all() and not alone["borrowed"].any()
    # groups fitted alone under shrink too have the same fit either way
    mle = shrunk["method"] == "mle"
    np.testing.assert_allclose(alone.loc[mle, "shape"], shrunk.loc[mle, "shape"], rtol=1e-9)
    np.testing.assert_allclose(alone.loc[mle, "scale"], shrunk.loc[mle, "scale"], rtol=1e-9)
    assert not np.allclose(alone.loc[~mle, "shape"], shrunk.loc[~mle, "shape"])


# ---------------------------------------------------------------------------------------
# --db with --table-*
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def renamed_db(tmp_path_factory, sample_fleet):
    """The sample in SQLite, every table under another name."""
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'fleet.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for name in TABLES:
            getattr(sample_fleet, name).to_sql(f"erp_{name}", conn, index=False)
    engine.dispose()
    return url


def test_table_flags_name_the_tables(renamed_db, base, tmp_path):
    flags = [x for name in TABLES for x in (f"--table-{name}", f"erp_{name}")]
    run = cli("fit", "--db", renamed_db, *flags, "--out", tmp_path / "models.csv")
    assert run.code == 0, run.err
    # the same failure models as from the bundled sample's folder
    got, want = pd.read_csv(tmp_path / "models.csv"), base.csv("failure_models.csv")
    assert got[["machine_model", "component", "method", "n_failures", "n_censored"]].equals(
        want[["machine_model", "component", "method", "n_failures", "n_censored"]])
    for col in ("shape", "scale", "loglik"):
        np.testing.assert_allclose(got[col], want[col], rtol=1e-8, err_msg=col)
    # without the flag for one table, that table is missing
    run = cli("fit", "--db", renamed_db, *flags[2:], "--out", tmp_path / "other.csv")
    assert run.code == 2
    assert "table 'machines' is missing from the database" in run.err
    assert "table 'tickets' is missing" not in run.err
    assert not (tmp_path / "other.csv").exists()


# ---------------------------------------------------------------------------------------
# --debug
# ---------------------------------------------------------------------------------------


def _boom(*args, **kwargs):
    raise RuntimeError("boom from inside the fit")


def test_debug_shows_the_traceback_only_when_asked(monkeypatch, tmp_path):
    from partsforecast.reliability import FailureModel

    monkeypatch.setattr(FailureModel, "fit", _boom)
    run = cli("plan", "--out", tmp_path / "a", *FAST)
    assert run.code == 1
    assert "partsforecast: error: boom from inside the fit" in run.err
    assert "--debug" in run.err and "Traceback" not in run.err
    assert not (tmp_path / "a").exists()
    with pytest.raises(RuntimeError, match="boom from inside the fit"):
        cli("--debug", "plan", "--out", tmp_path / "b", *FAST)


def test_debug_traceback_reaches_the_terminal(tmp_path):
    # As the installed command runs (its entry point is sys.exit(main())): with --debug
    # Python's traceback, ending in the error, reaches stderr.
    code = textwrap.dedent("""
        import sys
        from partsforecast.reliability import FailureModel
        def boom(*args, **kwargs):
            raise RuntimeError("boom from inside the fit")
        FailureModel.fit = boom
        from partsforecast.cli import main
        sys.exit(main(sys.argv[1:]))
    """)
    loud = subprocess.run([sys.executable, "-c", code, "--debug", "fit", "--out", str(tmp_path / "m.csv")],
                          capture_output=True, text=True, timeout=300)
    assert loud.returncode == 1 and "Traceback (most recent call last)" in loud.stderr
    assert loud.stderr.rstrip().endswith("RuntimeError: boom from inside the fit")


# ---------------------------------------------------------------------------------------
# sample
# ---------------------------------------------------------------------------------------


def _same_fleet(back, fleet, truth=("lifetimes", "machines", "failures")) -> None:
    assert back.as_of == fleet.as_of
    assert set(back.tables) == set(fleet.tables)
    for name, frame in fleet.tables.items():
        pd.testing.assert_frame_equal(back.tables[name], frame, obj=name)
    for name in truth:
        pd.testing.assert_frame_equal(back.truth[name], fleet.truth[name], obj=f"truth {name}")


def test_sample_writes_the_bundled_sample(tmp_path, sample_fleet):
    run = cli("sample", tmp_path / "s")
    assert run.code == 0, run.err
    _same_fleet(read_fleet(tmp_path / "s"), sample_fleet)
    assert run.out.startswith("wrote the bundled sample fleet")
    assert f"{len(sample_fleet.machines)} machines" in run.out


def test_sample_generates_with_the_given_settings(tmp_path):
    run = cli("sample", tmp_path / "g", "--machines", 300, "--dealers", 5, "--years", 2, "--seed", 3)
    assert run.code == 0, run.err
    want = make_fleet(n_machines=300, n_dealers=5, years=2, seed=3)
    back = read_fleet(tmp_path / "g")
    _same_fleet(back, want)
    assert len(back.machines) == 300 and len(back.dealers) == 5
    assert "300 machines" in run.out and "5 dealers" in run.out
    # another seed, another fleet
    assert cli("sample", tmp_path / "h", "--machines", 300, "--dealers", 5, "--years", 2,
               "--seed", 4).code == 0
    other = read_fleet(tmp_path / "h")
    assert not other.tickets["opened_at"].equals(back.tickets["opened_at"])


def test_sample_parts_sets_the_catalogue_size(tmp_path):
    run = cli("sample", tmp_path / "g", "--machines", 300, "--dealers", 4, "--parts", 60, "--seed", 1)
    assert run.code == 0, run.err
    back = read_fleet(tmp_path / "g")
    assert len(back.parts) == 60 and "n_parts=60" in run.out
    _same_fleet(back, make_fleet(n_machines=300, n_dealers=4, n_parts=60, seed=1))
    bad = cli("sample", tmp_path / "b", "--parts", -3)
    assert bad.code == 2 and "setting --parts" in bad.err and not (tmp_path / "b").exists()


def test_sample_parquet(tmp_path):
    run = cli("sample", tmp_path / "p", "--format", "parquet")
    assert run.code == 0, run.err
    assert sorted(p.name for p in (tmp_path / "p").glob("*.parquet")) == sorted(
        f"{name}.parquet" for name in TABLES)
    assert not list((tmp_path / "p").glob("*.csv"))
    _same_fleet(read_fleet(tmp_path / "p"), load_sample())
