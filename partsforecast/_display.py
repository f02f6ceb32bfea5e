"""Compact displays of results: a short text ``repr`` and a small HTML card for Jupyter.

Every result object of the library shows the same way: a title, a few facts as
``name: value`` pairs, and (in Jupyter) optionally a small table, never a dump of its
data. Classes call :func:`text_card` from ``__repr__`` and :func:`html_card` from
``_repr_html_``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import pandas as pd

__all__ = ["text_card", "html_card", "fmt"]


def fmt(value: Any) -> str:
    """A number or value at the precision a person reads (thousands separated, 3 significant
    figures for fractions)."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 1000):
        return f"{int(value):,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}"
    if isinstance(value, pd.Timestamp):
        return str(value.date()) if value == value.normalize() else str(value)
    return str(value)


def text_card(title: str, facts: Mapping[str, Any]) -> str:
    """``Title(name=value, …)`` on one line."""
    inner = ", ".join(f"{k}={fmt(v)}" for k, v in facts.items())
    return f"{title}({inner})"


def html_card(title: str, facts: Mapping[str, Any], table: pd.DataFrame | None = None,
              max_rows: int = 12) -> str:
    """A small HTML card: the title, the facts as a two-column list, and an optional table
    (at most ``max_rows`` rows, said so when cut)."""
    rows = "".join(f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
                   f"<td style='text-align:left'>{html.escape(fmt(v))}</td></tr>" for k, v in facts.items())
    out = [f"<div><strong>{html.escape(title)}</strong>", f"<table>{rows}</table>"]
    if table is not None and len(table):
        shown = table.head(max_rows)
        out.append(shown.to_html(border=0, float_format=lambda x: fmt(float(x)), escape=True))
        if len(table) > max_rows:
            out.append(f"<p>… {len(table) - max_rows:,} more rows</p>")
    out.append("</div>")
    return "".join(out)
