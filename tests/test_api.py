"""The public API reads like one library: every stage reachable as ``pf.<name>``, documented,
with clear errors for arguments in the wrong order, compact displays, and no module reaching
into another's private names."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import partsforecast as pf

PACKAGE = Path(pf.__file__).resolve().parent


def test_every_stage_is_reachable_and_documented():
    for name in ("Fleet", "read_fleet", "load_sample", "make_fleet", "FailureModel", "forecast_demand",
                 "lead_time_demand", "PlanSettings", "plan_stock", "StockPlan", "run_plan", "simulate_plan",
                 "intermittent", "evaluate", "InputError"):
        assert name in pf.__all__, name
    for name in pf.__all__:
        obj = getattr(pf, name)
        if name.startswith("__"):
            continue
        doc = inspect.getdoc(obj) or ""
        assert len(doc) > 40, f"pf.{name} has no real docstring"
        if inspect.isfunction(obj) and inspect.signature(obj).parameters:
            assert "Parameters\n----------" in doc, f"pf.{name}: numpydoc Parameters section missing"


def _cross_module_private_imports() -> list[str]:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        here = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        here_pkg = here.rsplit(".", 1)[0] if path.name != "__init__.py" else here.rsplit(".", 1)[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("partsforecast"):
                for alias in node.names:
                    if not alias.name.startswith("_") or alias.name.startswith("__"):
                        continue
                    # A package may use the private names of its own modules.
                    owner = node.module
                    if owner.startswith(here_pkg + ".") and here_pkg != "partsforecast":
                        continue
                    bad.append(f"{here}: from {node.module} import {alias.name}")
    return bad


def test_no_private_names_imported_across_modules():
    assert _cross_module_private_imports() == []


def test_swapped_arguments_give_clear_errors(sample_fleet):
    model = pf.FailureModel().fit(sample_fleet)
    fc = pf.forecast_demand(model, sample_fleet, horizon=2)
    with pytest.raises(TypeError, match=r"plan_stock\(forecast, fleet"):
        pf.plan_stock(sample_fleet, fc)
    with pytest.raises(ValueError, match="the forecast needs columns"):
        pf.plan_stock(fc.drop(columns="var"), sample_fleet)
    with pytest.raises(TypeError, match="fleet must be a Fleet"):
        pf.run_plan(fc, "out")
    with pytest.raises((TypeError, ValueError), match="(?i)fleet|model"):
        pf.forecast_demand(sample_fleet, model)


def test_compact_displays(sample_fleet, tmp_path):
    fleet = sample_fleet
    assert repr(fleet) == "Fleet(as_of=2026-07-01, machines=3000, tickets=15857, parts=214, dealers=30)"
    page = fleet._repr_html_()
    assert "<table" in page and "3,000" in page and "warehouse" in page
    model = pf.FailureModel().fit(fleet)
    fc = pf.forecast_demand(model, fleet, horizon=3)
    plan = pf.plan_stock(fc, fleet)
    text = repr(plan)
    assert len(text) < 300 and text.startswith("StockPlan(")
    # The figures it shows are the plan's own, at the precision a person reads.
    assert f"investment={plan.levels['inventory_value'].sum():,.0f}" in text
    assert f"transfers={len(plan.transfers):,}" in text
    assert f"units_to_order={int(plan.levels['order_qty'].sum()):,}" in text
    html = plan._repr_html_()
    assert html.count("<tr") >= 8 and "fill" in html
    assert len(html) < 20_000
