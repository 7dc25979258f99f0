"""Sphinx configuration of the redigo_py documentation.

Built with warnings as errors (``sphinx-build -W -b html docs <out>``, run by
tests/test_docs.py), so a broken cross-reference, a malformed docstring or a
missing example file fails the test suite instead of rotting quietly.
"""

from __future__ import annotations

import os
import sys

# Document the package from this checkout, not from whatever is installed.
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import redigo_py  # noqa: E402

project = "redigo_py"
author = "redigo_py authors"
copyright = "redigo_py authors"  # noqa: A001 - Sphinx's name
release = redigo_py.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "examples/*.out"]

# Pages are MyST Markdown; pipe tables and ``{directive}`` fences need nothing more.
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

# The reliability page is written by another engineer; the index reaches it
# through a glob so the site builds (with -W) before and after it lands.
suppress_warnings = ["toc.empty_glob"]

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
# Type hints go into the signature as written; resolving them would need
# every forward reference importable at build time.
autodoc_typehints = "signature"

html_theme = "alabaster"
html_title = f"redigo_py {release}"
html_static_path: list = []
