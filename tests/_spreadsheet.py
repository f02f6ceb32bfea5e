"""What a spreadsheet would make of a CSV file: used by the tests of every CSV the package writes."""

from __future__ import annotations

import csv
from pathlib import Path

from partsforecast._io import FORMULA_TRIGGERS


def formula_cells(path: Path) -> list[str]:
    """Text cells of a CSV file that a spreadsheet would start evaluating as a formula."""
    bad = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            for cell in row:
                if cell[:1] and cell[0] in FORMULA_TRIGGERS:
                    try:
                        float(cell)  # a negative number is a number, not a formula
                    except ValueError:
                        bad.append(cell)
    return bad
