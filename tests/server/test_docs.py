"""docs/api.md lists every endpoint of the app and every code of `server.errors.ERRORS`.

The two tables are generated: `make docs` (or `python -m tests.server.test_docs --write`)
rewrites the text between the `<!-- endpoints:begin/end -->` and `<!-- errors:begin/end -->`
markers and leaves the prose around them alone.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from server.app import create_app
from server.errors import ERRORS
from server.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def _section(text: str, name: str) -> str:
    match = re.search(rf"<!-- {name}:begin -->\n(.*?)<!-- {name}:end -->", text, re.S)
    assert match, f"docs/api.md has no <!-- {name}:begin/end --> markers"
    return match.group(1)


def _replace(text: str, name: str, body: str) -> str:
    pattern = rf"(<!-- {name}:begin -->\n)(.*?)(<!-- {name}:end -->)"
    return re.sub(pattern, lambda m: m.group(1) + body + m.group(3), text, flags=re.S)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def endpoints() -> list[tuple[str, str, str]]:
    """(METHOD, path, first line of the docstring) of every documented operation."""
    spec: dict[str, Any] = create_app(Settings()).openapi()
    rows = []
    for path, operations in spec["paths"].items():
        for method in HTTP_METHODS:
            if method in operations:
                operation = operations[method]
                summary = (operation.get("description") or operation.get("summary") or "").strip()
                rows.append((method.upper(), path, summary.split("\n\n")[0]))
    return rows


def render_endpoints() -> str:
    lines = ["| method | path | what it does |", "|---|---|---|"]
    for method, path, summary in endpoints():
        lines.append(f"| {method} | `{path}` | {_cell(summary)} |")
    return "\n".join(lines) + "\n"


def render_errors() -> str:
    lines = ["| code | HTTP | svenska | English |", "|---|---|---|---|"]
    for code, spec in ERRORS.items():
        lines.append(f"| `{code}` | {spec.status} | {_cell(spec.sv)} | {_cell(spec.en)} |")
    return "\n".join(lines) + "\n"


def documented_errors() -> dict[str, int]:
    """Code → HTTP status as the error table in docs/api.md states them."""
    table = _section(DOC.read_text(encoding="utf-8"), "errors")
    return {
        match.group(1): int(match.group(2))
        for match in re.finditer(r"^\| `([a-z_.]+)` \| (\d{3}) \|", table, re.M)
    }


def documented_endpoints() -> set[tuple[str, str]]:
    table = _section(DOC.read_text(encoding="utf-8"), "endpoints")
    return {
        (match.group(1), match.group(2))
        for match in re.finditer(r"^\| ([A-Z]+) \| `([^`]+)` \|", table, re.M)
    }


def write() -> None:
    text = DOC.read_text(encoding="utf-8")
    text = _replace(text, "endpoints", render_endpoints())
    text = _replace(text, "errors", render_errors())
    DOC.write_text(text, encoding="utf-8")


def test_every_error_code_is_documented_with_its_status() -> None:
    """Each code of the error table appears in docs/api.md with its HTTP status."""
    documented = documented_errors()
    missing = sorted(set(ERRORS) - set(documented))
    assert not missing, f"docs/api.md misses {missing}: run `make docs`"
    wrong = {code: spec.status for code, spec in ERRORS.items() if documented[code] != spec.status}
    assert not wrong, f"docs/api.md has other statuses for {wrong}: run `make docs`"


def test_no_documented_error_code_is_unknown() -> None:
    """docs/api.md names no code that the error table lacks (removed or misspelt)."""
    stale = sorted(set(documented_errors()) - set(ERRORS))
    assert not stale, f"docs/api.md documents unknown codes {stale}: run `make docs`"


def test_error_messages_in_the_docs_are_current() -> None:
    """The documented messages are the ones clients get."""
    table = _section(DOC.read_text(encoding="utf-8"), "errors")
    assert table == render_errors(), "docs/api.md error table is out of date: run `make docs`"


def test_every_endpoint_is_documented() -> None:
    """Each operation of the OpenAPI schema appears in docs/api.md, and no removed one."""
    actual = {(method, path) for method, path, _ in endpoints()}
    documented = documented_endpoints()
    assert not actual - documented, f"undocumented: {sorted(actual - documented)}: make docs"
    assert not documented - actual, f"gone: {sorted(documented - actual)}: run `make docs`"


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
        print(f"wrote {DOC}")
    else:
        sys.stdout.write(render_endpoints() + "\n" + render_errors())
