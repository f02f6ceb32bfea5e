"""The quick-start notebook runs from top to bottom (its code cells, in order)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


@pytest.mark.skipif(not NOTEBOOK.exists(), reason="notebooks/ is not part of an installed package")
def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")  # committed clean
    ns: dict = {}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"quickstart cell {cell['id']}", "exec"), ns)
    # what the notebook promises
    assert (ns["cells"]["quantity"] <= ns["cells"]["q0.9"]).mean() >= 0.9
    assert set(ns["sim"].by_tier.index) >= {1, 2, 3, 4} or len(ns["sim"].by_tier) == 4
    assert (tmp_path / "out" / "quickstart-plan" / "stock_plan.csv").exists()
