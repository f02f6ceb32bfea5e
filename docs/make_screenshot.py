"""Refresh the documentation's picture of the report: its first screen, 1280×900 PNG.

Runs the weekly job on the bundled sample into a temporary folder, opens its report.html in
headless Chromium (with the browser helper of the tests, ``tests/_browser.py``) and saves
the first screen as ``docs/_static/report-first-screen.png``::

    .venv/bin/python docs/make_screenshot.py                 # the sample plan, about 15 s
    .venv/bin/python docs/make_screenshot.py --report out/plan/report.html --out shot.png

Needs the ``test`` extra (``pip install ".[test]"``, for playwright) and Chromium (Debian:
``apt-get install chromium``; ``PARTSFORECAST_BROWSER`` names another executable). The
picture is saved even when the page has a problem (a console error, a request, an image that
did not load, a blank screen); the problems are listed and the exit status is then 1.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
DEFAULT_OUT = DOCS / "_static" / "report-first-screen.png"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--report", type=Path, help="an existing report.html (default: plan the sample)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"the PNG to write (default: {DEFAULT_OUT})")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(DOCS.parent / "tests"))
    import _browser

    reason = _browser.unavailable_reason()
    if reason:
        print(f"cannot take the screenshot: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="pf-screenshot-") as tmp:
        report = args.report
        if report is None:
            from partsforecast import load_sample, run_plan

            print("planning the bundled sample ...", file=sys.stderr)
            run_plan(load_sample(), Path(tmp) / "plan")
            report = Path(tmp) / "plan" / "report.html"
        if not report.is_file():
            print(f"no such report: {report}", file=sys.stderr)
            return 2
        with _browser.Chromium() as browser:
            page = browser.open(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(page.screenshot)
    width, height, ink, colours = _browser.screenshot_stats(page.screenshot)
    print(f"wrote {args.out} ({width}x{height}, {ink:.1%} non-white, {colours} colours)")
    problems = page.problems()
    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
