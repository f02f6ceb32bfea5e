"""Open an HTML file in headless Chromium and check it as a person would see it.

Used by ``tests/test_report_browser.py`` (the plan's ``report.html``) and by
``docs/make_screenshot.py`` (the report's first screen for the documentation).

The browser is the system's Chromium (Debian: ``apt-get install chromium``, which gives
``/usr/bin/chromium``; ``PARTSFORECAST_BROWSER`` names another executable), driven by the
``playwright`` package of the ``test`` extra. Playwright's own browser download
(``playwright install``) is not used.

:meth:`Chromium.open` loads one file in a fresh browser context with a 1280×900 viewport and
returns a :class:`PageResult`: every console message and uncaught exception, every request
the page made (any request other than the file itself is *blocked* before it leaves the
browser, and recorded: the report must be self-contained, every resource inline or a
``data:`` URL), the state of every ``<img>``, the boxes of the elements asked about and a PNG
screenshot of the first screen. Its ``*_problems`` methods turn that into a list of readable
problems, empty when the page is fine.
"""

from __future__ import annotations

import io
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

VIEWPORT = (1280, 900)  # width, height in CSS pixels; the screenshot has exactly this size
REQUIRE_VAR = "PARTSFORECAST_REQUIRE_BROWSER"  # set (by .ci/run): no browser is a failure
BROWSER_VAR = "PARTSFORECAST_BROWSER"  # path to a Chromium executable, if not on PATH
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Headless, as root, on a machine without a display or a network. The background-networking
# flags keep Chromium from calling home; the host-resolver rule makes any host name
# unresolvable, so that nothing that slips past the request blocking (a prefetch, say) can
# leave the machine either. Playwright adds --headless and a fresh, temporary
# --user-data-dir that it removes when the browser closes.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)

# Lets every <img> finish (lazy ones too), then reports each one's state.
_IMAGES_JS = """async () => {
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(img => {
    img.loading = 'eager';
    return img.decode().catch(() => null);
  }));
  return imgs.map(img => ({
    src: (img.currentSrc || img.src || '').slice(0, 80),
    complete: img.complete,
    naturalWidth: img.naturalWidth,
    naturalHeight: img.naturalHeight,
  }));
}"""

# The box of each element asked about, in page coordinates, or null when it is missing.
_ELEMENTS_JS = """(ids) => Object.fromEntries(ids.map(id => {
  const el = document.getElementById(id);
  if (!el) return [id, null];
  const r = el.getBoundingClientRect();
  const visible = el.checkVisibility
    ? el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true}) : true;
  return [id, {top: r.top + window.scrollY, bottom: r.bottom + window.scrollY,
               left: r.left + window.scrollX, width: r.width, height: r.height, visible}];
}))"""


def _same_url(a: str, b: str) -> bool:
    return unquote(a) == unquote(b)


def browser_required() -> bool:
    """Whether a missing browser is a failure rather than a reason to skip."""
    return os.environ.get(REQUIRE_VAR, "") not in ("", "0")


def find_chromium() -> str | None:
    """The Chromium executable: ``$PARTSFORECAST_BROWSER``, else the first one on PATH."""
    named = os.environ.get(BROWSER_VAR)
    if named:
        return named if Path(named).is_file() and os.access(named, os.X_OK) else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def unavailable_reason() -> str | None:
    """Why no page can be opened here (no driver, no browser), or None when one can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return 'the playwright package is missing (pip install ".[test]")'
    if find_chromium() is None:
        where = os.environ.get(BROWSER_VAR) or "/".join(CANDIDATES) + " on PATH"
        return f"no Chromium executable ({where}); on Debian: apt-get install chromium"
    return None


def skip_or_fail(reason: str):
    """Skip the calling test, or fail it when ``PARTSFORECAST_REQUIRE_BROWSER`` is set."""
    import pytest

    if browser_required():
        pytest.fail(f"{reason}; {REQUIRE_VAR} is set, so this is a failure")
    pytest.skip(reason)


def screenshot_stats(png: bytes) -> tuple[int, int, float, int]:
    """Width, height, share of non-white pixels and number of distinct colours of a PNG."""
    import matplotlib.image
    import numpy as np

    img = matplotlib.image.imread(io.BytesIO(png), format="png")
    if img.dtype.kind == "f":
        img = np.round(img * 255)
    rgb = img[..., :3].astype(np.uint32) if img.ndim == 3 else np.repeat(img[..., None], 3, 2).astype(np.uint32)
    ink = float((rgb < 240).any(axis=2).mean())
    colours = len(np.unique((rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]))
    return rgb.shape[1], rgb.shape[0], ink, colours


@dataclass
class PageResult:
    """What a page did and showed when it was opened; see the module's docstring."""

    url: str
    viewport: tuple[int, int]
    console: list[tuple[str, str]] = field(default_factory=list)  # (type, text)
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions
    requests: list[str] = field(default_factory=list)  # every request the page made
    blocked: list[str] = field(default_factory=list)  # requests stopped: not the file itself
    failed: list[tuple[str, str]] = field(default_factory=list)  # (url, error)
    images: list[dict] = field(default_factory=list)
    elements: dict[str, dict | None] = field(default_factory=dict)
    screenshot: bytes = field(default=b"", repr=False)  # PNG of the first screen

    def console_problems(self) -> list[str]:
        """Console messages of level error, and uncaught exceptions."""
        return ([f"console {kind}: {text}" for kind, text in self.console if kind == "error"]
                + [f"uncaught exception: {text}" for text in self.page_errors])

    def network_problems(self) -> list[str]:
        """Requests other than the file itself (``data:`` URLs are no request), and failures."""
        own = [u for u in self.requests if _same_url(u, self.url)]
        others = [u for u in self.requests if not _same_url(u, self.url) and not u.startswith("data:")]
        out = [f"request for something other than the page itself: {u}" for u in others]
        out += [f"request blocked: {u}" for u in self.blocked if u not in others]
        out += [f"request failed: {u} ({err})" for u, err in self.failed
                if u not in others and u not in self.blocked]
        if not own:
            out.append(f"the page itself was never requested: {self.url}")
        return out

    def image_problems(self) -> list[str]:
        """Every <img> that did not load (naturalWidth 0: missing, broken or blocked)."""
        return [f"image did not load: {img['src']!r} (complete={img['complete']}, "
                f"naturalWidth={img['naturalWidth']})"
                for img in self.images if not img["complete"] or img["naturalWidth"] <= 0]

    def blank_problems(self, *, min_ink: float = 0.01, min_colours: int = 16) -> list[str]:
        """A first screen that is (nearly) blank: too few non-white pixels or colours."""
        if not self.screenshot:
            return ["no screenshot was taken"]
        width, height, ink, colours = screenshot_stats(self.screenshot)
        out = []
        if (width, height) != self.viewport:
            out.append(f"screenshot is {width}x{height}, not {self.viewport[0]}x{self.viewport[1]}")
        if ink < min_ink:
            out.append(f"first screen is nearly blank: {ink:.2%} non-white pixels (< {min_ink:.0%})")
        if colours < min_colours:
            out.append(f"first screen has {colours} distinct colours (< {min_colours})")
        return out

    def above_fold_problems(self, element_id: str, *, min_visible: float = 100.0) -> list[str]:
        """The element is missing, hidden or not on the first screen.

        On the first screen means: of its height, at least ``min_visible`` pixels (or all of
        it, when it is shorter) lie within the top ``viewport`` height of the page.
        """
        box = self.elements.get(element_id)
        if box is None:
            return [f"no element with id {element_id!r}"
                    + ("" if element_id in self.elements else " (not asked for when the page was opened)")]
        if not box["visible"] or box["width"] <= 0 or box["height"] <= 0:
            return [f"element #{element_id} is not displayed ({box})"]
        fold = self.viewport[1]
        shown = min(box["bottom"], fold) - max(box["top"], 0.0)
        if shown < min(min_visible, box["height"]):
            return [(f"element #{element_id} is not on the first screen: it spans "
                     f"{box['top']:.0f}-{box['bottom']:.0f} px, the fold is at {fold} px")]
        return []

    def problems(self, *, above_fold: tuple[str, ...] = ()) -> list[str]:
        """All the problems above, the fold check for each id in ``above_fold``."""
        out = (self.console_problems() + self.network_problems() + self.image_problems()
               + self.blank_problems())
        for element_id in above_fold:
            out += self.above_fold_problems(element_id)
        return out


class Chromium:
    """Headless Chromium through Playwright; a context manager that always closes it.

    ``executable`` defaults to :func:`find_chromium`; ``timeout`` (seconds) bounds the
    launch and each step of opening a page; ``settle`` (seconds) is how long a page is
    watched after its load event before it is inspected. Each :meth:`open` uses a fresh
    browser context (no cache, cookies or storage shared between pages), closed afterwards.

    >>> with Chromium() as browser:                       # doctest: +SKIP
    ...     page = browser.open("out/plan/report.html", element_ids=("actions",))
    ...     assert page.problems(above_fold=("actions",)) == []
    """

    def __init__(self, executable: str | None = None, *, timeout: float = 20.0,
                 viewport: tuple[int, int] = VIEWPORT, settle: float = 0.3):
        self.executable = executable or find_chromium()
        if self.executable is None:
            raise RuntimeError(unavailable_reason() or "no Chromium executable")
        self.timeout_ms = timeout * 1000
        self.viewport = viewport
        self.settle = settle
        self._playwright = None
        self._browser = None

    def __enter__(self):
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=self.executable, headless=True, args=list(CHROMIUM_ARGS),
                timeout=self.timeout_ms)
        except BaseException:
            self._playwright.stop()
            self._playwright = None
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self._browser is not None:
                self._browser.close()
        finally:
            self._browser = None
            if self._playwright is not None:
                self._playwright.stop()
                self._playwright = None

    @property
    def version(self) -> str:
        return self._browser.version if self._browser is not None else ""

    def open(self, path: str | Path, *, element_ids: tuple[str, ...] = ()) -> PageResult:
        """Load the HTML file ``path`` and record what it did; see :class:`PageResult`."""
        if self._browser is None:
            raise RuntimeError("use Chromium() as a context manager: the browser is not running")
        url = Path(path).resolve().as_uri()
        result = PageResult(url=url, viewport=self.viewport)
        width, height = self.viewport
        context = self._browser.new_context(
            viewport={"width": width, "height": height}, device_scale_factor=1,
            service_workers="block", accept_downloads=False)
        try:
            context.set_default_timeout(self.timeout_ms)

            def route(r):
                if _same_url(r.request.url, url):
                    r.continue_()
                else:  # nothing but the page itself is fetched; the rest is recorded
                    result.blocked.append(r.request.url)
                    r.abort("blockedbyclient")

            context.route("**/*", route)
            page = context.new_page()
            page.on("console", lambda m: result.console.append((m.type, m.text)))
            page.on("pageerror", lambda e: result.page_errors.append(str(e)))
            page.on("request", lambda r: result.requests.append(r.url))
            page.on("requestfailed", lambda r: result.failed.append((r.url, r.failure or "")))
            page.goto(url, wait_until="load", timeout=self.timeout_ms)
            # A moment for what the page does just after loading (a timer's fetch, a late
            # console message) to show up. Every request but the page's is blocked at once, so
            # nothing stays in flight to wait for.
            page.wait_for_timeout(self.settle * 1000)
            result.images = page.evaluate(_IMAGES_JS)
            result.elements = page.evaluate(_ELEMENTS_JS, list(element_ids))
            page.evaluate("() => window.scrollTo(0, 0)")
            result.screenshot = page.screenshot(type="png", full_page=False, animations="disabled")
        finally:
            context.close()
        return result
