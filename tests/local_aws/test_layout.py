"""The emulator's layout rules: only the facade (``world.py``) and the patch modules import moto, and
every wrap of a moto attribute by more than one fix follows an order stated in ``patches/wraps.py``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tools.local_aws.patches import _support, all_fixes
from tools.local_aws.patches._support import INSTALLED, Fix, WrapOrderError, install
from tools.local_aws.patches.wraps import WRAP_ORDER

EMULATOR = Path(__file__).resolve().parents[2] / "tools" / "local_aws"


def _may_import_moto(module: Path) -> bool:
    """The facade and the patch modules: what a moto upgrade may touch."""
    relative = module.relative_to(EMULATOR)
    return relative == Path("world.py") or relative.parts[0] == "patches" or relative.name == "patches.py"


def _moto_imports(module: Path) -> list[str]:
    """Every ``import moto...`` / ``from moto... import`` in the module, nested ones included."""
    found = []
    for node in ast.walk(ast.parse(module.read_text(), str(module))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        found += [f"line {node.lineno}: {name}" for name in names if name == "moto" or name.startswith("moto.")]
    return found


def test_only_the_facade_and_the_patches_import_moto() -> None:
    """So a moto upgrade touches ``world.py`` and the patch modules only."""
    modules = sorted(EMULATOR.rglob("*.py"))
    assert any(_may_import_moto(module) and _moto_imports(module) for module in modules)  # the check sees imports
    offenders = {
        str(module.relative_to(EMULATOR)): imports
        for module in modules
        if not _may_import_moto(module) and (imports := _moto_imports(module))
    }
    assert offenders == {}


def test_attributes_wrapped_by_several_fixes_follow_the_stated_order(endpoint: str) -> None:
    """The session's server applied the fixes: wherever two replaced the same attribute, the order
    they did it in is the one ``WRAP_ORDER`` states."""
    wrapped = {path: codes for path, codes in INSTALLED.items() if len(codes) > 1}
    assert wrapped, "no attribute is replaced by two fixes: the check would prove nothing"
    for path, codes in wrapped.items():
        stated = WRAP_ORDER.get(path, ())
        assert codes == [code for code in stated if code in codes], path


def test_wrap_order_names_registered_fixes_only() -> None:
    codes = {candidate.code for candidate in all_fixes()}
    for path, stated in WRAP_ORDER.items():
        assert len(stated) > 1 and set(stated) <= codes, path


class _Target:
    def method(self) -> str:
        return "moto"


def test_a_second_fix_cannot_wrap_an_attribute_without_a_stated_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two fixes that replace one attribute with no order in WRAP_ORDER: the second one is refused,
    so the import order of the patch modules never decides silently which wraps which."""
    monkeypatch.setattr(_support, "INSTALLED", {})
    monkeypatch.setattr(_Target, "method", _Target.method)  # restored afterwards

    def first() -> None:
        install(_Target, "method", lambda self: "first")

    def second() -> None:
        install(_Target, "method", lambda self: "second")

    Fix("T1", first).run()
    with pytest.raises(WrapOrderError, match=r"T2 replaces .*_Target.method, which T1 replaced"):
        Fix("T2", second).run()

    path = _support.attribute_path(_Target, "method")
    monkeypatch.setitem(_support.WRAP_ORDER, path, ("T1", "T2"))
    Fix("T2", second).run()
    assert _Target().method() == "second"
    monkeypatch.setitem(_support.INSTALLED, path, ["T2"])
    with pytest.raises(WrapOrderError):  # stated, but in the other order
        Fix("T1", first).run()


def test_each_fix_has_a_code_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """A code names one fix (``LOCAL_AWS_WITHOUT``, the tests, the fixes listing): two fixes once
    shared R10, so leaving one out left out both."""
    codes = [candidate.code for candidate in all_fixes()]
    assert len(codes) == len(set(codes)), sorted(code for code in codes if codes.count(code) > 1)

    monkeypatch.setattr(_support, "REGISTRY", [Fix("T1", lambda: None)])
    with pytest.raises(ValueError, match="Fix code T1 is taken by <lambda>; give again a code of its own"):

        @_support.fix("T1")
        def again() -> None:
            pass
