"""The dependency rules of DESIGN.md §3, read from the source with `ast`: `server/core/` imports
only the standard library and `protocol/`; `protocol/` and `push/` import nothing of the
project's other packages."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ("protocol", "server", "push", "desktop_client", "tests", "bench")


def imported_modules(path: Path, package: str) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in a module of `package` (dotted),
    relative imports resolved."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                yield node.lineno, ".".join([*base, *([node.module] if node.module else [])])
            else:
                yield node.lineno, node.module or ""


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def violations(directory: Path, package: str, allowed: tuple[str, ...]) -> list[str]:
    """Imports of the modules under `directory` (package `package`) that are neither the
    standard library nor within the `allowed` module prefixes."""
    found = []
    for path in sorted(directory.rglob("*.py")):
        sub = path.relative_to(directory).with_suffix("").parts[:-1]
        for line, module in imported_modules(path, ".".join([package, *sub])):
            top = module.split(".")[0]
            if _within(module, allowed) or (top in sys.stdlib_module_names and top not in PROJECT):
                continue
            found.append(f"{path.name}:{line} imports {module}")
    return found


def test_the_checker_sees_third_party_and_relative_imports(tmp_path: Path) -> None:
    """The rule can fail: a third-party import and a relative one out of the package count,
    the standard library does not."""
    (tmp_path / "probe.py").write_text(
        "import json\nimport sqlalchemy\nfrom ..storage import tables\nfrom . import alerts\n"
    )
    found = violations(tmp_path, "server.core", ("protocol", "server.core"))
    assert found == ["probe.py:2 imports sqlalchemy", "probe.py:3 imports server.storage"]


def test_core_imports_only_the_standard_library_and_protocol() -> None:
    """server/core/ is pure: no I/O libraries, nothing of storage, api or realtime."""
    core = ROOT / "server" / "core"
    assert violations(core, "server.core", ("protocol", "server.core")) == []


@pytest.mark.parametrize("package", ["protocol", "push"])
def test_protocol_and_push_import_nothing_of_the_project(package: str) -> None:
    """protocol/ and push/ are libraries: never server/, the clients, or each other."""
    others = tuple(name for name in PROJECT if name != package)
    found = [
        item
        for item in violations(ROOT / package, package, (package,))
        if _within(item.rsplit(" ", 1)[1], others)
    ]
    assert found == []


def test_protocol_imports_only_the_standard_library() -> None:
    """protocol/ is stdlib-only, so every client (and the JS mirror's tests) can use it."""
    assert violations(ROOT / "protocol", "protocol", ("protocol",)) == []
