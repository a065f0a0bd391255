"""The layering of docs/architecture.md, checked on the source: imports only go the way data flows."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
MODULES = sorted(p for p in (ROOT / "harvest").rglob("*.py")) + sorted(p for p in (ROOT / "kb").rglob("*.py"))
EXTRACTORS = ("stats.py", "regimen.py")  # kb/extract: the only modules allowed past MAX_LINES
MAX_LINES = 400


def imported(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of the file (relative imports made absolute)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(x for x in (base, node.module) if x)
            found |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return found


def layer(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).parts[:2]).removesuffix(".py")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_flow(path):
    names = imported(path)
    where = layer(path)
    if where.startswith("harvest"):
        assert not any(n == "kb" or n.startswith("kb.") for n in names), "harvest/ imports nothing from kb/"
    if where in ("kb.extract", "kb.checks", "kb.numbers"):
        assert not any(n.startswith(("kb.store", "kb.load", "kb.derive", "kb.pipeline", "harvest.http", "sqlite"))
                       for n in names), "extractors and checks do no I/O"
    if where in ("kb.store", "kb.load"):
        # one exception: migration m003 fills the computed endpoint_comparison table with derive's query
        allowed = {"kb.derive.endpoint_comparison"} if path.name == "schema.py" else set()
        derive = {n for n in names if n.startswith(("kb.derive", "kb.pipeline"))}
        assert all(any(n == a or n.startswith(a + ".") for a in allowed) for n in derive), f"{where} derives: {derive}"
        assert not any(n.startswith(("harvest.sources", "harvest.articles")) for n in names) or \
            where == "kb.load", "the store knows no source"


def test_the_command_line_holds_no_sql():
    text = (ROOT / "kb" / "cli.py").read_text().lower()
    assert ".execute(" not in text and "select " not in text and ".query(" not in text


@pytest.mark.parametrize("path", [p for p in MODULES if p.name not in EXTRACTORS], ids=lambda p: p.name)
def test_no_module_outside_the_extractors_is_over_400_lines(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES
