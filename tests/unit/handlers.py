"""Loading a function's handler module in a unit test.

By path, because ``lambda`` in ``lib/lambda`` is a Python keyword, not an importable package.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest

from lib.deploy_target import REPO_ROOT

FUNCTIONS_DIR = REPO_ROOT / "lib" / "lambda"


def load_handler(monkeypatch: pytest.MonkeyPatch, function: str, name: str | None = None) -> ModuleType:
    """A fresh copy of ``lib/lambda/<function>/handler.py``, so that no warm-container cache or replaced
    seam leaks between tests; registered in ``sys.modules`` as ``name`` (``<function>_handler`` by
    default) for the test, because dataclasses resolve their string annotations through it.

    The function's other modules (``logic``, ``gateway``) are imported fresh too, by their plain names
    as Lambda imports them from the package root; several functions have a ``logic.py``, so each
    test's copies are dropped from ``sys.modules`` when it ends."""
    directory = FUNCTIONS_DIR / function
    monkeypatch.syspath_prepend(str(directory))
    for sibling in directory.glob("*.py"):
        monkeypatch.setitem(sys.modules, sibling.stem, ModuleType(sibling.stem))  # restored (or removed) at teardown
        del sys.modules[sibling.stem]
    spec = importlib.util.spec_from_file_location(name or f"{function}_handler", directory / "handler.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module
