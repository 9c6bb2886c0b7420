"""docs/api.md lists every endpoint of the app and every code of `server.errors.ERRORS`; every
code is asserted by a test; the OpenAPI declares the real error body and codes.

The two tables are generated: `make docs` (or `python -m tests.server.test_docs --write`)
rewrites the text between the `<!-- endpoints:begin/end -->` and `<!-- errors:begin/end -->`
markers and leaves the prose around them alone.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from server.api.openapi import OPERATION_CODES
from server.app import create_app
from server.errors import ERRORS
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "api.md"
TESTS = ROOT / "tests"
# Codes no operation answers: an unknown address or method (the app's answer), and the
# CLI's own (`pdv-alert init` / `demo` name organizations; the API only the caller's).
NOT_OPERATION_CODES = {
    "request.not_found",
    "request.method_not_allowed",
    "organization.exists",
    "organization.not_found",
    # the people import's per-line codes: inside its 200 answer's `errors`, never an answer
    *(code for code in ERRORS if code.startswith("import.")),
}
ERROR_STATUS = re.compile(r"^[45]\d\d$")
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


def _expected_strings(tree: ast.AST) -> Iterator[str]:
    """String constants a test expects: in `assert` statements and in parametrize tables."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            roots: list[ast.AST] = [node.test]
        elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith("parametrize"):
            roots = list(node.args[1:])
        else:
            continue
        for root in roots:
            for sub in ast.walk(root):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    yield sub.value


def asserted_codes() -> set[str]:
    """Every error code some test under tests/ asserts as an outcome."""
    found: set[str] = set()
    for path in TESTS.rglob("test_*.py"):
        if path.resolve() == Path(__file__).resolve():
            continue  # this file names every code without producing any
        found.update(_expected_strings(ast.parse(path.read_text(encoding="utf-8"))))
    return found & set(ERRORS)


def test_every_error_code_is_produced_by_a_test() -> None:
    """Each code of the table is an asserted outcome of some test (the suite is green, so
    each is really produced): a code nothing produces is dead and leaves the table."""
    missing = sorted(set(ERRORS) - asserted_codes())
    assert not missing, f"no test asserts {missing}"


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in spec["paths"].items():
        for method in HTTP_METHODS:
            if method in operations:
                yield method.upper(), path, operations[method]


def test_openapi_error_answers_use_the_real_error_body() -> None:
    """Every 4xx/5xx answer of every operation is the `ErrorBody`; FastAPI's
    HTTPValidationError is gone."""
    spec: dict[str, Any] = create_app(Settings()).openapi()
    assert "HTTPValidationError" not in str(spec)
    assert set(spec["components"]["schemas"]["ErrorBody"]["properties"]) == {"error"}
    info = spec["components"]["schemas"]["ErrorInfo"]
    assert set(info["properties"]) == {"code", "message", "detail"}
    for method, path, operation in _operations(spec):
        errors = {s: r for s, r in operation["responses"].items() if ERROR_STATUS.match(s)}
        assert "500" in errors, f"{method} {path} declares no error answers"
        for status, response in errors.items():
            media = response["content"]["application/json"]
            assert media["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
            for code, example in media["examples"].items():
                assert ERRORS[code].status == int(status), f"{method} {path}: {code}"
                assert example["value"]["error"]["code"] == code


def test_openapi_declares_what_every_operation_answers() -> None:
    """Authenticated operations declare 401/403, path ids 404 and 422, JSON bodies
    400/413/415/422, login 429; every HTTP code of the table is declared somewhere."""
    spec: dict[str, Any] = create_app(Settings()).openapi()
    declared: set[str] = set()
    for method, path, operation in _operations(spec):
        examples = {
            code
            for status, response in operation["responses"].items()
            if ERROR_STATUS.match(status)
            for code in response["content"]["application/json"]["examples"]
        }
        declared |= examples
        if "{" in path:
            assert {"request.invalid"} <= examples and any(
                ERRORS[code].status == 404 for code in examples
            ), f"{method} {path}"
        if "application/json" in operation.get("requestBody", {}).get("content", {}):
            assert {"400", "413", "415", "422"} <= set(operation["responses"]), f"{method} {path}"
        elif "requestBody" in operation:  # a file (the CSV import): too large, wrong type
            assert {"413", "415"} <= set(operation["responses"]), f"{method} {path}"
    me = dict(((m, p), o) for m, p, o in _operations(spec))[("GET", "/api/v1/me")]
    assert {"401", "403"} <= set(me["responses"])
    login = dict(((m, p), o) for m, p, o in _operations(spec))[("POST", "/api/v1/auth/login")]
    assert "429" in login["responses"]
    http_codes = {code for code in ERRORS if not code.startswith("protocol.")}
    undeclared = sorted(http_codes - declared - NOT_OPERATION_CODES)
    assert not undeclared, f"no operation declares {undeclared}"


def test_operation_codes_name_real_operations_and_codes() -> None:
    """The per-operation table in server/api/openapi.py names existing operations and codes."""
    operations = {f"{method} {path}" for method, path, _ in endpoints()}
    assert set(OPERATION_CODES) <= operations, set(OPERATION_CODES) - operations
    for codes in OPERATION_CODES.values():
        assert set(codes) <= set(ERRORS)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
        print(f"wrote {DOC}")
    else:
        sys.stdout.write(render_endpoints() + "\n" + render_errors())
