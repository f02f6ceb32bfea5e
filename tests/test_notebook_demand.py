"""The demand notebook (scheduled services, supersession) runs from top to bottom, and what
it shows is right against the generator's truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _notebooks import run_notebook

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "demand.ipynb"


@pytest.fixture(scope="module")
def notebook():
    import matplotlib

    matplotlib.use("Agg")
    return run_notebook(NOTEBOOK)


def test_compliance_is_the_owners_habit(notebook):
    ns, results = notebook
    table = results["compliance"]
    assert list(table["tier"]) == [1, 2, 3, 4]
    # the owners do 75% of their services at the dealer on average (uniform 60–90%)
    assert table["share"].between(0.70, 0.80).all()
    truth = ns["full"].truth["services"]
    seen = truth[truth["due_date"] < ns["past"].as_of]
    assert table["done"].sum() == (seen["done_at_dealer"] & (seen["service_date"] < ns["past"].as_of)).sum()


def test_the_service_forecast_follows_the_held_out_year(notebook):
    ns, results = notebook
    table = results["check"]
    assert len(table) == 12 and list(table.columns) == ["actual", "forecast"]
    # the year's total within 3%, each month within 15% (months carry a few hundred units)
    assert table["forecast"].sum() == pytest.approx(table["actual"].sum(), rel=0.03)
    assert np.all(np.abs(table["forecast"] / table["actual"] - 1) < 0.15)
    # service demand is a large share of all the units forecast, as at real dealers
    fc, failures = ns["fc"], ns["failures_only"]
    assert fc["mean"].sum() > 1.5 * failures["mean"].sum()


def test_supersession_merged_the_old_numbers(notebook):
    ns, results = notebook
    rec = ns["past"].supersession
    merged_old = set(rec.merged["part_number"])  # the old numbers
    assert merged_old and not (set(ns["past"].tickets["part_number"]) & merged_old)
    assert not (set(ns["fc"]["part_number"].astype(str)) & merged_old)
    assert set(ns["full"].truth["supersession"]["old"]) >= merged_old


def test_auto_chooses_the_lognormal_law(notebook):
    _, results = notebook
    laws = results["laws"]
    assert laws.get("lognormal", 0) > laws.drop("lognormal", errors="ignore").sum()


def test_the_usage_profile_and_frailty_follow_the_truth(notebook):
    ns, results = notebook
    table = results["usage"]
    assert np.sqrt(np.mean((table.loc["factor"] - table.loc["factor_true"]) ** 2)) < 0.05
    both = ns["both"]
    assert np.corrcoef(both["frailty"], both["severity"])[0, 1] > 0.4


def test_the_baselines_forecast_every_series(notebook):
    ns, results = notebook
    assert set(results["baseline"].index) == {"imapa", "auto"}
    assert (results["baseline"] > 0).all()
    assert ns["baseline"]["unique_id"].nunique() == ns["history"]["unique_id"].nunique()


def test_the_severity_is_found_and_raises_the_forecast(notebook):
    """The heavy users (severity variance 0.5) pass the screen; the fitted variance and the
    machines' posterior means follow the truth (on this fleet 0.51 and correlation 0.80),
    and the forecast with the severity is above the pooled laws' (which run low)."""
    _, results = notebook
    s = results["severity"]
    assert s["screen z"] > 3.09 and s["dispersion"] > 0.5
    assert s["severity variance (true 0.5)"] == pytest.approx(0.5, abs=0.15)
    assert s["correlation with the true severity"] > 0.7
    assert s["units next year, severity"] > 1.02 * s["units next year, pooled laws"]
