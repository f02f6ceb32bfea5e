"""Run a committed notebook's code cells in order, as Jupyter would, inside the test process.

Used by ``tests/test_notebook.py`` (the quick start) and ``tests/test_service.py`` (the
dealer-service notebook): each gets the namespace and every cell's displayed value.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path


def run_notebook(path: Path) -> tuple[dict, dict]:
    """Execute the code cells in order as Jupyter would; returns the namespace and each
    cell's displayed result (the value of its last line when that is an expression), by
    cell id. The notebook must be committed without outputs."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")  # committed clean
    ns: dict = {}
    results: dict = {}
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        name = f"{path.stem} cell {cell['id']}"
        tree = ast.parse("".join(cell["source"]), name)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, name, "exec"), ns)  # noqa: S102 - the notebook's own cells
        if last is not None:
            results[cell["id"]] = eval(compile(ast.Expression(last.value), name, "eval"), ns)
    return ns, results
