"""The code blocks in the package's docstrings (shown in the API reference) at
least compile: they are fragments (an ``address`` they do not define), so
the runnable versions live in docs/examples/, which tests/test_docs.py runs."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import sys
import textwrap
from typing import Iterator, Tuple

import pytest

import redigo_py


def docstring_blocks() -> Iterator[Tuple[str, str]]:
    for info in pkgutil.walk_packages(redigo_py.__path__, "redigo_py."):
        module = importlib.import_module(info.name)
        tree = ast.parse(open(module.__file__, encoding="utf-8").read())  # type: ignore[arg-type]
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
                doc = ast.get_docstring(node) or ""
                for match in re.finditer(r"::\n\n((?:[ \t]+.*\n?|\n)+)", doc):
                    where = info.name[len("redigo_py."):]
                    yield f"{where}:{getattr(node, 'name', 'module')}", textwrap.dedent(match.group(1))


BLOCKS = list(docstring_blocks())


def test_there_are_docstring_blocks() -> None:
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("where,code", BLOCKS, ids=[w for w, _ in BLOCKS])
def test_docstring_block_compiles(where: str, code: str) -> None:
    if "match " in code and sys.version_info < (3, 10):
        pytest.skip("match statements need Python 3.10")
    compile(code, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)  # aio's blocks await
