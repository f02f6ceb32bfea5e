"""The pieces of the HTML pages (the plan's report and the dealer-service page): escaping, tables,
tiles and the one style sheet. Every text that reaches a page is escaped here; a page fetches
nothing (no scripts, fonts or images from elsewhere)."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["CSS", "escape", "table", "tile"]


def escape(text: Any) -> str:
    """``text`` as HTML text (quotes included)."""
    return html.escape(str(text), quote=True)


def table(frame: pd.DataFrame, formats: Mapping[str, Callable[[Any], str]] | None = None,
          empty: str = "None.") -> str:
    """An HTML table of ``frame``, every cell escaped and formatted by ``formats`` (column →
    function; other cells as they are); numbers right-aligned, booleans as text."""
    if not len(frame):
        return f"<p class='quiet'>{escape(empty)}</p>"
    formats = formats or {}
    head = "".join(f"<th>{escape(str(c).replace('_', ' '))}</th>" for c in frame.columns)
    rows = []
    for rec in frame.itertuples(index=False):  # a page's table: a few dozen rows at most
        cells = []
        for col, value in zip(frame.columns, rec):
            f = formats.get(col)
            text = f(value) if f is not None else value
            num = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
            cells.append(f"<td class='{'num' if num else 'txt'}'>{escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def tile(title: str, big: str, lines: list[str], where: str = "", alert: bool = False) -> str:
    """A headline tile: a title, one big figure, a few lines, and where the detail is."""
    body = "".join(f"<div>{escape(x)}</div>" for x in lines)
    foot = f"<div class='where'>{escape(where)}</div>" if where else ""
    return (f"<div class='tile{' alert' if alert else ''}'><div class='tt'>{escape(title)}</div>"
            f"<div class='big'>{escape(big)}</div>{body}{foot}</div>")


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1180px;margin:0 auto;
padding:12px 20px;color:#1a1a1a;font-size:14px}
h1{font-size:22px;margin:4px 0}h2{font-size:17px;margin:18px 0 6px;border-bottom:1px solid #ddd}
h3{font-size:14px;margin:12px 0 4px}.sub{color:#555;margin-bottom:8px}
.tiles{display:grid;grid-template-columns:repeat(5,1fr);gap:8px;margin:8px 0}
.tile{border:1px solid #cfd8e3;border-radius:6px;padding:8px 10px;background:#f7f9fc}
.tile.alert{border-color:#c0392b;background:#fdf1ef}.tt{font-weight:600;color:#2c3e50}
.big{font-size:20px;font-weight:700;margin:2px 0}.where{color:#555;font-size:12px;margin-top:4px}
table{border-collapse:collapse;margin:4px 0}td,th{border:1px solid #d5d5d5;padding:2px 7px}
th{background:#eef2f6;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.warn{border:2px solid #c0392b;background:#fdf1ef;padding:4px 12px;margin:8px 0}
.ok{color:#1e7b34;font-weight:600}.bad{color:#c0392b;font-weight:600}.quiet{color:#666}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:16px}img{max-width:100%}
"""
