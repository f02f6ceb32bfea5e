"""The plan's report.html in a real browser: headless Chromium, through ``tests/_browser.py``.

The report of a plan on the bundled sample must load without a console error, request
nothing but itself (every chart and style inline or a ``data:`` URL), show every image, and
have a first screen (1280×900) that is not blank and shows the planner's summary of the
week (``id="actions"``).

Needs the ``playwright`` package (the ``test`` extra) and a Chromium executable (Debian:
``apt-get install chromium``; ``PARTSFORECAST_BROWSER`` names another one). Without them
these tests skip, unless ``PARTSFORECAST_REQUIRE_BROWSER=1`` (set by ``.ci/run``, which
installs Chromium when it is missing): then they fail.

The second half checks that the checks bite: on small pages, and on copies of the report,
each with one thing broken.
"""

from __future__ import annotations

import base64
import io

import _browser
import numpy as np
import pytest

ACTIONS = "actions"  # the report's "this week" section, which must be on the first screen


@pytest.fixture(scope="module")
def chromium():
    reason = _browser.unavailable_reason()
    if reason:
        _browser.skip_or_fail(reason)
    with _browser.Chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def report(chromium, sample_fleet, tmp_path_factory):
    """report.html of the weekly job on the bundled sample (made only when a browser is here)."""
    from partsforecast import run_plan

    out = tmp_path_factory.mktemp("browser") / "plan"
    run_plan(sample_fleet, out)
    return out / "report.html"


@pytest.fixture(scope="module")
def report_page(chromium, report):
    return chromium.open(report, element_ids=(ACTIONS,))


# --- the report ----------------------------------------------------------------------------

def test_report_has_no_console_error(report_page):
    assert report_page.console_problems() == []


def test_report_requests_nothing_but_itself(report_page):
    assert report_page.network_problems() == []
    assert report_page.requests == [report_page.url]


def test_report_images_all_load(report_page):
    assert report_page.images, "the report has no <img>: its charts are missing"
    assert report_page.image_problems() == []


def test_report_first_screen_is_not_blank(report_page):
    assert report_page.blank_problems() == []


def test_report_first_screen_shows_the_actions(report_page):
    # The planner's "this week" summary (<section id="actions">) opens the report.
    assert report_page.above_fold_problems(ACTIONS) == []


# --- the checks bite: small pages ----------------------------------------------------------

def _png_base64(width: int = 400, height: int = 200) -> str:
    """A colourful PNG (a gradient) as base64, made with matplotlib."""
    import matplotlib.image

    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x / width, y / height, 1 - x / width], axis=2)
    buf = io.BytesIO()
    matplotlib.image.imsave(buf, rgb, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _page(before: str = "", after: str = "", actions: str = '<section id="actions">') -> str:
    return ("<!doctype html><html><head><meta charset='utf-8'><title>t</title></head>"
            f"<body style='font-family:sans-serif'>{before}{actions}<h1>This week</h1>"
            "<p>Send 3 hydraulic pumps from D-12 to D-31; order 40 bucket teeth.</p></section>"
            f"<img src='data:image/png;base64,{_png_base64()}' width='400' height='200'>"
            f"{after}</body></html>")


BLANK = "<!doctype html><html><head><title>t</title></head><body></body></html>"

# (name, page, the check that must complain); "sibling file" also writes chart.png beside it.
BROKEN_PAGES = [
    ("broken image", _page(after="<img src='data:image/png;base64,AAAA'>"), "image"),
    ("console.error", _page(after="<script>console.error('x')</script>"), "console"),
    ("uncaught exception", _page(after="<script>throw new Error('boom')</script>"), "console"),
    ("external image", _page(after="<img src='http://example.com/x.png'>"), "network"),
    ("external stylesheet", _page(before="<link rel='stylesheet' href='https://cdn.example.org/a.css'>"),
     "network"),
    ("fetch after load", _page(after="<script>setTimeout(() => fetch('http://example.com/api')"
                                     ".catch(() => null), 50)</script>"), "network"),
    ("sibling file", _page(after="<img src='chart.png'>"), "network"),
    ("blank page", BLANK, "blank"),
    ("white page", _page(before="<style>body{visibility:hidden}</style>"), "blank"),
    ("actions missing", _page(actions="<section>"), "fold"),
    ("actions below the fold", _page(before="<div style='height:1200px'></div>"), "fold"),
    ("actions hidden", _page(actions='<section id="actions" style="display:none">'), "fold"),
]


def _check(page, which: str) -> list[str]:
    return {"console": page.console_problems, "network": page.network_problems,
            "image": page.image_problems, "blank": page.blank_problems,
            "fold": lambda: page.above_fold_problems(ACTIONS)}[which]()


def test_a_good_small_page_passes_every_check(chromium, tmp_path):
    path = tmp_path / "good.html"
    path.write_text(_page(), encoding="utf-8")
    page = chromium.open(path, element_ids=(ACTIONS,))
    assert page.problems(above_fold=(ACTIONS,)) == []
    assert len(page.images) == 1 and page.requests == [page.url]


@pytest.mark.parametrize("name, html, which", BROKEN_PAGES, ids=[c[0] for c in BROKEN_PAGES])
def test_each_check_bites_on_a_small_page(chromium, tmp_path, name, html, which):
    path = tmp_path / "page.html"
    path.write_text(html, encoding="utf-8")
    if name == "sibling file":  # it loads fine from disk: the page is still not self-contained
        (tmp_path / "chart.png").write_bytes(base64.b64decode(_png_base64()))
    page = chromium.open(path, element_ids=(ACTIONS,))
    assert _check(page, which), f"{name}: the {which} check found nothing"
    assert page.problems(above_fold=(ACTIONS,))


# --- the checks bite: copies of the report with one thing broken ---------------------------

def _insert_before_body_end(html: str, snippet: str) -> str:
    at = html.lower().rfind("</body>")
    return html + snippet if at < 0 else html[:at] + snippet + html[at:]


BROKEN_REPORTS = [  # (name, what is put just before </body>, or None: the page is emptied)
    ("broken image", "<img src='data:image/png;base64,AAAA'>", "image"),
    ("console.error", "<script>console.error('x')</script>", "console"),
    ("external image", "<img src='http://example.com/x.png'>", "network"),
    ("white page", "<style>body{visibility:hidden}</style>", "blank"),
    ("blank page", None, "blank"),
]


@pytest.mark.parametrize("name, snippet, which", BROKEN_REPORTS, ids=[c[0] for c in BROKEN_REPORTS])
def test_each_check_bites_on_a_broken_report(chromium, report, tmp_path, name, snippet, which):
    copy = tmp_path / "report.html"
    text = BLANK if snippet is None else _insert_before_body_end(report.read_text(encoding="utf-8"), snippet)
    copy.write_text(text, encoding="utf-8")
    page = chromium.open(copy, element_ids=(ACTIONS,))
    assert _check(page, which), f"{name}: the {which} check found nothing"
