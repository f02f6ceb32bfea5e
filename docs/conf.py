"""Sphinx configuration of the partsforecast documentation.

Build: ``bash .ci/docs`` (or ``sphinx-build -W --keep-going -b html docs docs/_build/html``
in an environment with ``pip install ".[docs]"``).
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version as _dist_version
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

# -- project -------------------------------------------------------------------------------

project = "partsforecast"
author = "the partsforecast developers"
copyright = "the partsforecast developers"
try:
    release = _dist_version("partsforecast")
except PackageNotFoundError:  # building from a checkout that is not installed
    import partsforecast

    release = partsforecast.__version__
version = release

# -- extensions ----------------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_nb",  # markdown pages (MyST) and notebooks; loads myst_parser itself
    "sphinxarg.ext",
    "pf_docs",  # docs/_ext/pf_docs.py: API pages, notebook copy, settings table
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "_ext",
    "_templates",
    "reference/_api_listing.rst",  # included by reference/api.md
    "**.ipynb_checkpoints",
    "jupyter_execute",
]
templates_path = ["_templates"]

# -- MyST and notebooks --------------------------------------------------------------------

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "attrs_inline"]
myst_heading_anchors = 3  # links such as data-contract.md#settings
myst_dmath_double_inline = True

nb_execution_mode = "force"  # the quick-start notebook is committed without outputs
nb_execution_timeout = 900  # seconds per cell; the whole notebook takes about a minute
nb_execution_raise_on_error = True  # a failing cell fails the build
nb_execution_in_temp = True  # files the notebook writes (out/…) land in a temporary folder
nb_execution_show_tb = True
nb_merge_streams = True

# -- autodoc, autosummary, numpydoc --------------------------------------------------------

# autosummary_generate is set by pf_docs to the generated listing and module pages.
autosummary_generate_overwrite = True
autosummary_imported_members = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # types are in the numpydoc Parameters sections
autoclass_content = "class"

numpydoc_show_class_members = False  # the class template lists members itself
numpydoc_class_members_toctree = False
numpydoc_show_inherited_class_members = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()
numpydoc_use_plots = False

# -- HTML ----------------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"partsforecast {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navbar_align": "left",
    "header_links_before_dropdown": 4,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_show_sourcelink = False
# No section navigation beside the top-level pages and the guide (they have no sub-pages).
html_sidebars = {"*": [], "guide/*": []}
html_context = {"default_mode": "light"}
