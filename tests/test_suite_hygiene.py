"""The test code itself: no check may swallow every exception, or its assertion can never fail.

``try: check() except Exception: pass`` (or a bare ``except:``, or
``contextlib.suppress(Exception)``) turns a failing assertion into a pass. Narrow handlers
(``except OSError``) stay allowed: they name what is expected.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BROAD = {"Exception", "BaseException", "AssertionError"}


def code_files() -> list[Path]:
    files = [*(ROOT / "tests").rglob("*.py"), *(ROOT / "inbox_finder" / "testing").glob("*.py")]
    return sorted(f for f in files if "third_party" not in f.parts)


def _names(node: ast.expr | None) -> set[str]:
    if node is None:
        return {"<bare>"}
    if isinstance(node, ast.Tuple):
        return {n for elt in node.elts for n in _names(elt)}
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Attribute):
        return {node.attr}
    return set()


def _swallows(handler: ast.ExceptHandler) -> bool:
    names = _names(handler.type)
    broad = "<bare>" in names or bool(names & BROAD)
    quiet = all(
        isinstance(s, ast.Pass | ast.Continue)
        or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        for s in handler.body
    )
    return broad and quiet


def _suppresses_everything(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name == "suppress" and any(_names(arg) & BROAD for arg in node.args)


def offences(source: str) -> list[int]:
    """Line numbers of handlers that swallow every exception in ``source``."""
    return sorted(
        node.lineno
        for node in ast.walk(ast.parse(source))
        if (isinstance(node, ast.ExceptHandler) and _swallows(node))
        or (isinstance(node, ast.Call) and _suppresses_everything(node))
    )


def test_no_test_swallows_every_exception() -> None:
    found = {
        str(path.relative_to(ROOT)): lines
        for path in code_files()
        if (lines := offences(path.read_text(encoding="utf-8")))
    }
    assert found == {}


def test_the_scan_recognises_a_swallowed_check() -> None:
    bad = (
        "try:\n    check()\nexcept Exception:\n    pass\n"
        "try:\n    check()\nexcept:\n    pass\n"
        "try:\n    check()\nexcept (ValueError, BaseException):\n    ...\n"
        "with contextlib.suppress(Exception):\n    check()\n"
    )
    assert offences(bad) == [3, 7, 11, 13]
    fine = (
        "try:\n    check()\nexcept OSError:\n    pass\n"
        "try:\n    check()\nexcept Exception as exc:\n    raise RuntimeError() from exc\n"
        "with contextlib.suppress(OSError):\n    check()\n"
    )
    assert offences(fine) == []
