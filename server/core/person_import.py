"""Reading a people CSV file (POST /api/v1/persons/import): pure, bytes in, lines out.

The file is UTF-8 (a leading byte-order mark, as Excel writes it, is dropped), separated by
`,` or `;` (Swedish Excel writes `;`; the header line decides), with a header line naming
the columns in any order:

    email,name,role,site[,language]

`email`, `name` and `role` must have a value on every line; `site` is a site's name, empty
for an organization-wide role; `language` (`sv`, `en`) may be empty. A person with several
roles has one line per role. Header names are matched without regard to case or
surrounding spaces. Blank lines are skipped; line numbers are the file's (header = 1).

What a value means (is the address plausible, does the role and the site exist) is checked
by the import service with the persons' own validation; this module only checks the shape.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

REQUIRED_COLUMNS = ("email", "name", "role", "site")
OPTIONAL_COLUMNS = ("language",)
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
DELIMITERS = (",", ";")
MAX_LINES = 20_000


@dataclass(frozen=True)
class ImportLine:
    """One data line of the file, its values trimmed."""

    line: int
    email: str
    name: str
    role: str
    site: str
    language: str


@dataclass(frozen=True)
class LineError:
    """A problem with one line (`line` 1 is the header): a stable code of server/errors.py
    and a detail saying what is wrong, in English."""

    line: int
    code: str
    detail: str


@dataclass(frozen=True)
class ParsedFile:
    lines: list[ImportLine]
    errors: list[LineError]


def _delimiter(header: str) -> str:
    """The header's separator: the one of `,` and `;` it uses most (`,` on a tie)."""
    return max(DELIMITERS, key=lambda candidate: (header.count(candidate), candidate == ","))


def parse(data: bytes) -> ParsedFile:
    """The file's data lines and the problems of its shape. A file that is not UTF-8 or has
    no usable header is one error on line 1 and no lines."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return ParsedFile([], [LineError(1, "import.bad_encoding", f"byte {exc.start}")])
    raw_lines = text.splitlines()
    if not raw_lines or not raw_lines[0].strip():
        return ParsedFile([], [LineError(1, "import.bad_header", "the header line is empty")])
    delimiter = _delimiter(raw_lines[0])
    # csv keeps quoted line breaks inside one record; count the file's lines as we go.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except csv.Error as exc:
        return ParsedFile([], [LineError(1, "import.bad_header", str(exc))])
    problem = _header_problem(header)
    if problem:
        return ParsedFile([], [LineError(1, "import.bad_header", problem)])
    return _data_lines(reader, header)


def _data_lines(reader: Any, header: list[str]) -> ParsedFile:
    """The records after the header, each a line or an error; blank ones skipped."""
    position = {name: header.index(name) for name in COLUMNS if name in header}
    lines: list[ImportLine] = []
    errors: list[LineError] = []
    while True:
        line_number = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(LineError(line_number, "import.bad_line", str(exc)))
            break
        if not any(cell.strip() for cell in record):
            continue
        if len(lines) + len(errors) >= MAX_LINES:
            errors.append(LineError(line_number, "import.bad_line", f"at most {MAX_LINES} lines"))
            break
        read = _read(record, line_number, position, len(header))
        if isinstance(read, LineError):
            errors.append(read)
        else:
            lines.append(read)
    return ParsedFile(lines, errors)


def _read(
    record: list[str], line_number: int, position: dict[str, int], columns: int
) -> ImportLine | LineError:
    """One non-blank record as a line, or what is wrong with its shape."""
    if len(record) != columns:
        return LineError(
            line_number,
            "import.bad_line",
            f"{len(record)} values, the header has {columns} columns",
        )
    values = {name: record[index].strip() for name, index in position.items()}
    missing = [name for name in ("email", "name", "role") if not values[name]]
    if missing:
        return LineError(line_number, "import.bad_line", f"empty: {', '.join(missing)}")
    return ImportLine(
        line=line_number,
        email=values["email"],
        name=values["name"],
        role=values["role"],
        site=values["site"],
        language=values.get("language", ""),
    )


def _header_problem(header: list[str]) -> str:
    """What is wrong with the header, or "" when it is usable."""
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        return f"missing columns: {', '.join(missing)} (expected {','.join(COLUMNS)})"
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        return f"unknown columns: {', '.join(unknown)} (allowed {','.join(COLUMNS)})"
    if len(set(header)) != len(header):
        return "a column is named twice"
    return ""
