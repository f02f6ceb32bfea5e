"""Build-time helpers of the partsforecast documentation (a local Sphinx extension).

Everything here is generated from the installed package when the build starts, so that a
renamed or moved module changes the pages instead of breaking them:

* the API reference: ``reference/_api_listing.rst`` (the names of ``partsforecast.__all__``)
  and one page per public module in ``reference/modules/`` (the names of the module's
  ``__all__``, or its public functions and classes when it has none), both read by
  autosummary, which writes one page per object into ``reference/generated/``;
* the quick-start notebook: ``notebooks/quickstart.ipynb`` is copied to
  ``guide/quickstart.ipynb`` for myst-nb to execute and render;
* the ``pf-settings`` directive: a table of the planning settings and their defaults, read
  from the settings class of the package.

Generated files are written only when their text changes (incremental builds stay
incremental) and stale ones are removed (a removed module or function leaves no page
behind). None of them is committed (see ``.gitignore``).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.util import logging

logger = logging.getLogger(__name__)

PACKAGE = "partsforecast"
# Pipeline order of the module pages; a module not named here comes after these,
# alphabetically, and a name that no longer exists is skipped.
MODULE_ORDER = ["data", "supersession", "samples", "lives", "reliability", "demand", "usage", "maintenance", "counts",
                "intermittent", "stocking",
                "transfers", "evaluate", "plan", "report", "plot", "service", "engine", "cli"]
NOTEBOOKS = {"notebooks/quickstart.ipynb": "guide/quickstart.ipynb",
             "notebooks/service.ipynb": "guide/service-notebook.ipynb",
             "notebooks/demand.ipynb": "guide/demand-notebook.ipynb"}
SETTINGS_CLASS = "PlanSettings"

API_LISTING = "reference/_api_listing.rst"
MODULE_DIR = "reference/modules"
STUB_DIR = "reference/generated"
KINDS = [("class", "Classes"), ("exception", "Exceptions"), ("function", "Functions"),
         ("data", "Constants")]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _kind(obj) -> str | None:
    if inspect.ismodule(obj):
        return "module"
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if inspect.isroutine(obj):
        return "function"
    return "data"


def _public_modules(pkg) -> list[str]:
    found = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))
    ordered = [m for m in MODULE_ORDER if m in found]
    return ordered + [m for m in found if m not in ordered]


def _module_names(mod) -> list[str]:
    """A module's public names: its ``__all__``, else the functions and classes defined in it."""
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n, o in vars(mod).items()
                 if not n.startswith("_") and (inspect.isroutine(o) or inspect.isclass(o))
                 and getattr(o, "__module__", None) == mod.__name__]
    return [n for n in names if not n.startswith("__")]


def _heading(text: str, char: str) -> list[str]:
    return [text, char * len(text), ""]


def _autosummary(names: list[str], toctree: str) -> list[str]:
    lines = [".. autosummary::", f"   :toctree: {toctree}", "   :nosignatures:", ""]
    return lines + [f"   {n}" for n in names] + [""]


def _sections(entries: list[tuple[str, str]], toctree: str, char: str) -> list[str]:
    """Autosummary tables of (name, kind) grouped by kind, each under a heading."""
    out: list[str] = []
    for kind, title in KINDS:
        names = [n for n, k in entries if k == kind]
        if names:
            out += _heading(title, char) + _autosummary(names, toctree)
    return out


def generate_api(srcdir: Path) -> list[str]:
    """Write the API listing and the module pages; return the files autosummary must read."""
    pkg = importlib.import_module(PACKAGE)
    top: list[tuple[str, str]] = []
    top_objects: dict[int, str] = {}
    for name in pkg.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(pkg, name)
        kind = _kind(obj)
        if kind == "module":
            continue  # documented on its own module page
        top.append((name, kind))
        top_objects[id(obj)] = f"{PACKAGE}.{name}"

    listing = [".. This file is generated at build time by docs/_ext/pf_docs.py; do not edit.", ""]
    listing += _heading("Top-level names", "-")
    listing += [f"The names of ``{PACKAGE}.__all__``, used as ``pf.<name>``.", "",
                f".. currentmodule:: {PACKAGE}", ""] + _sections(top, "generated", "~")

    modules = _public_modules(pkg)
    listing += _heading("Modules", "-")
    listing += ["Every public module, with the functions and classes of its ``__all__``.", "",
                ".. list-table::", "   :widths: 35 65", ""]
    for m in modules:
        doc = inspect.getdoc(importlib.import_module(f"{PACKAGE}.{m}")) or ""
        first = doc.strip().split("\n\n")[0].replace("\n", " ")
        listing += [f"   * - :py:mod:`{PACKAGE}.{m}`", f"     - {first}"]
    listing += ["", ".. toctree::", "   :hidden:", ""]
    listing += [f"   modules/{PACKAGE}.{m}" for m in modules] + [""]

    generated = [API_LISTING]
    module_dir = srcdir / MODULE_DIR
    keep: set[str] = set()
    stubs = {f"{PACKAGE}.{n}" for n, _ in top}
    for m in modules:
        full = f"{PACKAGE}.{m}"
        mod = importlib.import_module(full)
        entries, shared = [], []
        for name in _module_names(mod):
            obj = getattr(mod, name, None)
            if obj is None and not hasattr(mod, name):
                # A stale __all__ entry (``from module import *`` fails on it too).
                logger.warning("%s.__all__ names %r, which the module does not define", full, name)
                continue
            if id(obj) in top_objects and _kind(obj) != "data":
                shared.append(top_objects[id(obj)])
                continue
            kind = _kind(obj)
            if kind == "module":
                continue
            entries.append((name, kind))
            stubs.add(f"{full}.{name}")
        page = [".. This file is generated at build time by docs/_ext/pf_docs.py; do not edit.", ""]
        page += _heading(f"``{full}``", "=")
        page += [f".. automodule:: {full}", "   :no-members:", "", f".. currentmodule:: {full}", ""]
        if shared:
            page += _heading("Also in this module", "-")
            page += ["Documented with the top-level names: "
                     + ", ".join(f":py:obj:`~{s}`" for s in shared) + ".", ""]
        page += _sections(entries, "../generated", "-")
        rel = f"{MODULE_DIR}/{full}.rst"
        _write(srcdir / rel, "\n".join(page))
        keep.add(f"{full}.rst")
        generated.append(rel)
    _write(srcdir / API_LISTING, "\n".join(listing))

    # Remove pages of modules and objects that are gone.
    for path in module_dir.glob("*.rst"):
        if path.name not in keep:
            path.unlink()
    stub_dir = srcdir / STUB_DIR
    if stub_dir.is_dir():
        for path in stub_dir.glob("*.rst"):
            if path.stem not in stubs:
                path.unlink()
    return generated


def copy_notebooks(srcdir: Path) -> None:
    root = srcdir.parent
    for src, dst in NOTEBOOKS.items():
        text = (root / src).read_text(encoding="utf-8")
        _write(srcdir / dst, text)


def _on_config_inited(app, config) -> None:
    srcdir = Path(app.srcdir)
    copy_notebooks(srcdir)
    config.autosummary_generate = generate_api(srcdir)


class SettingsTable(Directive):
    """``pf-settings``: every planning setting, its type and its default (from the package).

    Builds the table nodes itself, so it works the same in reStructuredText and MyST pages.
    """

    has_content = False

    def run(self):
        cls = _find_public(SETTINGS_CLASS)
        rows = []
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                default = _toml(f.default)
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                default = _toml(f.default_factory())  # type: ignore[misc]
            else:
                default = None
            rows.append((f.name, str(f.type), default))
        return [_table(["key", "type", "default"], rows, widths=[30, 25, 45])]


def _cell(text: str | None, literal: bool) -> nodes.entry:
    para = nodes.paragraph()
    if text is None:
        para += nodes.emphasis(text="not set")
    elif literal:
        para += nodes.literal(text=text)
    else:
        para += nodes.Text(text)
    return nodes.entry("", para)


def _table(header: list[str], rows: list[tuple], widths: list[int]) -> nodes.table:
    table = nodes.table(classes=["pf-settings"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for w in widths:
        group += nodes.colspec(colwidth=w)
    head = nodes.thead()
    group += head
    head += nodes.row("", *[_cell(h, literal=False) for h in header])
    body = nodes.tbody()
    group += body
    for row in rows:
        body += nodes.row("", *[_cell(v, literal=True) for v in row])
    return table


def _toml(value) -> str | None:
    """A default as it is written in the TOML file (None: no default, the setting is off)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def _find_public(name: str):
    """The object called ``name`` in the package or in one of its public modules."""
    pkg = importlib.import_module(PACKAGE)
    if name in getattr(pkg, "__all__", ()):
        return getattr(pkg, name)
    for m in _public_modules(pkg):
        mod = importlib.import_module(f"{PACKAGE}.{m}")
        if name in _module_names(mod):
            return getattr(mod, name)
    raise LookupError(f"{name} is not a public name of {PACKAGE} or of its modules")


def _drop_type_docstring(app, what, name, obj, options, lines) -> None:
    """A constant without a doc comment would show the docstring of its type (``tuple``,
    ``dict``: "Built-in immutable sequence..."), which says nothing about the constant."""
    if what in ("data", "attribute") and lines and not inspect.isclass(obj):
        own = inspect.getdoc(type(obj))
        if own and "\n".join(lines).strip() == own.strip():
            lines.clear()


def setup(app):
    # Before numpydoc (priority 500) turns the docstring into its sections.
    app.connect("autodoc-process-docstring", _drop_type_docstring, priority=100)
    # Before autosummary reads its option at builder-inited, and before the sources are found.
    app.connect("config-inited", _on_config_inited)
    app.add_directive("pf-settings", SettingsTable)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
