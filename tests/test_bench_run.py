"""benchmarks/run.py end to end on a tiny fleet: every stage in its own process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    out = subprocess.run([sys.executable, str(SCRIPT), "--scale", "tiny", "--keep", str(tmp / "fleet"),
                          "--json", str(tmp / "r.json")], capture_output=True, text=True, check=False, timeout=240)
    assert out.returncode == 0, out.stderr
    return tmp, json.loads((tmp / "r.json").read_text()), out.stdout


def test_every_stage_has_positive_seconds_and_memory(tiny):
    _, r, _ = tiny
    assert r["machines"] == 300 and r["dealers"] == 5 and r["cores"] >= 1
    assert list(r["stages"]) == ["read", "fit", "forecast", "intermittent", "transfers", "plan"]
    for name, stage in r["stages"].items():
        assert "error" not in stage, (name, stage)
        assert stage["seconds"] > 0 and stage["total_seconds"] >= stage["seconds"], name
        # A Python process with pandas imported holds tens of MiB; nothing holds 8 GiB here.
        assert 0.03 < stage["peak_gib"] < 8, name
    assert r["stages"]["read"]["machines"] == 300
    assert r["stages"]["forecast"]["rows"] > 0


def test_plan_outputs_and_its_stage_timings(tiny):
    _, r, stdout = tiny
    plan = r["stages"]["plan"]
    assert plan["exit_code"] in (0, 4)
    assert {"run.json", "stock_plan.csv", "orders.csv", "forecast_by_part.csv", "report.html",
            "transfers"} <= set(plan["outputs"])
    assert set(plan["stage_seconds"]) == {"fit", "forecast", "optimise", "write"}
    assert all(v >= 0 for v in plan["stage_seconds"].values())
    # The command's wall time holds its own stages (plus start-up and reading the data).
    assert plan["seconds"] > sum(plan["stage_seconds"].values())
    assert "plan run.json timings: fit" in stdout


def test_highspy_solves_the_plans_transfer_lp_to_the_same_optimum(tiny):
    _, r, _ = tiny
    tr = r["stages"]["transfers"]
    assert tr["status"] == "optimal" and tr["columns"] > 0 and tr["rows_lp"] > 0
    peer = tr["peer"]
    assert peer["status"] == "Optimal" and peer["seconds"] > 0
    # The MPS file is the LP the plan solved: HiGHS reaches the same objective.
    assert peer["objective"] == pytest.approx(tr["lp_objective"], rel=1e-6, abs=1e-6)


def test_missing_peers_are_skipped_with_a_note(tiny):
    _, r, stdout = tiny
    for stage, module in (("fit", "lifelines"), ("intermittent", "statsforecast")):
        peer = r["stages"][stage]["peer"]
        importable = subprocess.run([sys.executable, "-c", f"import {module}"], check=False).returncode == 0
        if importable:
            assert peer["seconds"] > 0
        else:
            assert peer["error"] == f"{module} is not installed"
            assert f"{stage} peer ({peer['name']}) skipped: {module} is not installed" in stdout


def test_the_kept_fleet_is_reused(tiny):
    tmp, _, _ = tiny
    out = subprocess.run([sys.executable, str(SCRIPT), "--scale", "tiny", "--keep", str(tmp / "fleet"),
                          "--stages", "read", "--json", str(tmp / "again.json")],
                         capture_output=True, text=True, check=False, timeout=120)
    assert out.returncode == 0, out.stderr
    again = json.loads((tmp / "again.json").read_text())
    assert again["fleet"] == {"reused": True} and list(again["stages"]) == ["read"]


def test_bad_arguments_are_refused():
    for args in (["--stages", "read,nope"], ["--scale", "huge"], ["--repeat", "0"], ["--parts", "7"]):
        out = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False, timeout=60)
        assert out.returncode == 2 and "error:" in out.stderr, args


def test_parts_override_makes_and_keeps_its_own_fleet(tmp_path):
    # the same scale with another number of part numbers is another fleet (growth in parts)
    out = subprocess.run([sys.executable, str(SCRIPT), "--scale", "tiny", "--parts", "60", "--stages", "read",
                          "--keep", str(tmp_path / "fleet"), "--json", str(tmp_path / "r.json")],
                         capture_output=True, text=True, check=False, timeout=240)
    assert out.returncode == 0, out.stderr
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["parts"] == 60 and "60 parts" in out.stdout
    marker = json.loads((tmp_path / "fleet" / "benchmark_scale.json").read_text())
    assert marker["sizes"] == [300, 5, 60]
    import pandas as pd

    assert pd.read_parquet(tmp_path / "fleet" / "parts.parquet")["part_number"].nunique() <= 60
