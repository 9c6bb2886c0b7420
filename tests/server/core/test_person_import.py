"""Reading the people CSV file: encoding, separators, header, line numbers, bad lines."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from server.core.person_import import ImportLine, LineError, parse


def test_comma_file_with_bom_and_optional_language() -> None:
    """A UTF-8 BOM is dropped; values are trimmed; line numbers count the header as 1."""
    data = "\ufeffemail,name,role,site,language\r\nasa@skola.se, Åsa Öberg ,staff,Ullvi,sv\r\n"
    parsed = parse(data.encode())
    assert parsed.errors == []
    assert parsed.lines == [ImportLine(2, "asa@skola.se", "Åsa Öberg", "staff", "Ullvi", "sv")]


def test_semicolon_file_from_swedish_excel_in_any_column_order() -> None:
    """`;` separated, columns in another order and case, language column absent."""
    data = (
        "Site;EMAIL;Name;Role\nUllvi;bo@skola.se;Bo, rektor;principal\n\n;eva@skola.se;Eva;admin\n"
    )
    parsed = parse(data.encode())
    assert parsed.errors == []
    assert [(line.line, line.email, line.name, line.site) for line in parsed.lines] == [
        (2, "bo@skola.se", "Bo, rektor", "Ullvi"),
        (4, "eva@skola.se", "Eva", ""),
    ]


def test_quoted_line_breaks_keep_line_numbers_true() -> None:
    """A quoted value over two lines: the next record is numbered by its file line."""
    data = 'email,name,role,site\n"a@s.se","Anna\nAndersson",staff,X\nb@s.se,,staff,X\n'
    parsed = parse(data.encode())
    assert parsed.lines[0].name == "Anna\nAndersson"
    assert parsed.errors == [LineError(4, "import.bad_line", "empty: name")]


def test_bad_lines_are_reported_by_number() -> None:
    """Too few values and empty required values are errors of their own lines."""
    data = "email,name,role,site\na@s.se,Anna,staff\nb@s.se,Bo,,X\nc@s.se,Cia,staff,X\n"
    parsed = parse(data.encode())
    assert [(e.line, e.code) for e in parsed.errors] == [
        (2, "import.bad_line"),
        (3, "import.bad_line"),
    ]
    assert [line.line for line in parsed.lines] == [4]


def test_a_file_that_is_not_utf8_is_one_error() -> None:
    """Latin-1 bytes (an old Excel "CSV") are import.bad_encoding on line 1."""
    parsed = parse("email,name,role,site\nå@s.se,Åsa,staff,X\n".encode("latin-1"))
    assert parsed.lines == [] and [e.code for e in parsed.errors] == ["import.bad_encoding"]


def test_header_problems() -> None:
    """Missing, unknown or repeated columns and an empty file are import.bad_header."""
    for data in (
        b"",
        b"\n\n",
        b"email,name,site\n",
        b"email,name,role,site,phone\n",
        b"email,name,role,site,email\n",
    ):
        parsed = parse(data)
        assert [(e.line, e.code) for e in parsed.errors] == [(1, "import.bad_header")], data


@given(st.binary(max_size=300))
def test_any_bytes_give_lines_or_errors_never_an_exception(data: bytes) -> None:
    """Arbitrary input is read without raising; every error names a line ≥ 1."""
    parsed = parse(data)
    assert all(error.line >= 1 for error in parsed.errors)
    assert all(line.line >= 2 for line in parsed.lines)
