"""The package reads like the data flow: each stage imports only the stages before it.

Order (harness/__init__.py): data, oracle, run, search, frontends, tools, bench, cli.
The plain modules beside the stages (strategies, adapters, __main__) may import any
stage; no stage may import them except the CLI and bench (which expose them).
"""

from __future__ import annotations

import ast
from pathlib import Path

import harness

STAGES = ("data", "oracle", "run", "search", "frontends", "tools", "bench", "cli")
PACKAGE = Path(harness.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
    """Every harness module a file imports (absolute or relative), anywhere in the file."""
    tree = ast.parse(path.read_text(), str(path))
    package = ".".join(("harness", *path.relative_to(PACKAGE).parent.parts))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.add(".".join([*base, *([node.module] if node.module else [])]))
            elif node.module:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in found if m == "harness" or m.startswith("harness.")}


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


def test_every_stage_imports_only_earlier_stages() -> None:
    wrong: list[str] = []
    checked = 0
    for stage in STAGES:
        for path in sorted((PACKAGE / stage).rglob("*.py")):
            checked += 1
            for module in _imports(path):
                other = _stage(module)
                if other is None:
                    top = module.split(".")[1] if "." in module else ""
                    if top not in ("_mapfuzz_c", "") and stage not in ("cli", "bench"):
                        wrong.append(f"{path.relative_to(PACKAGE)} imports {module}")
                elif STAGES.index(other) > STAGES.index(stage):
                    wrong.append(f"{path.relative_to(PACKAGE)} ({stage}) imports {module}")
    assert checked > 40, "the stage packages were not found"
    assert wrong == []


def test_stage_packages_say_what_they_hold() -> None:
    for stage in STAGES:
        doc = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text()))
        assert doc and len(doc.splitlines()) >= 2, f"harness/{stage}/__init__.py has no docstring"


def test_few_plain_modules_beside_the_stages() -> None:
    plain = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(plain) <= 6, plain


def test_no_module_is_too_long() -> None:
    long = [
        f"{p.relative_to(PACKAGE)}: {n} lines"
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 620
    ]
    assert long == []


def test_the_scan_sees_relative_and_absolute_imports() -> None:
    """Else the layering check above would pass on an empty scan."""
    mods = _imports(PACKAGE / "oracle" / "checker.py")
    assert "harness.oracle.classify" in mods  # from .classify import Namer
    assert "harness.data.history" in mods  # from harness.data.history import ...
    assert _stage("harness.cli.fuzz") == "cli" and _stage("harness.strategies") is None
