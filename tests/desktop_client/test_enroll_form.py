"""The first-start enrollment form's checks and messages (desktop_client/enroll_form.py)."""

from __future__ import annotations

import pytest

from desktop_client import texts
from desktop_client.enroll_form import (
    EnrollForm,
    check_form,
    enroll_form_view,
    failure_text,
    normalize_server_url,
)
from desktop_client.server_api import ApiError


@pytest.mark.parametrize(
    ("typed", "url"),
    [
        ("https://larm.skola.se", "https://larm.skola.se"),
        ("  https://larm.skola.se/ ", "https://larm.skola.se"),
        ("larm.skola.se", "https://larm.skola.se"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("https://skola.se/larm/", "https://skola.se/larm"),
    ],
)
def test_server_addresses_are_normalized(typed: str, url: str) -> None:
    """A bare host means https; the trailing slash and spaces around go."""
    assert normalize_server_url(typed) == url


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "ftp://larm.skola.se",
        "https://",
        "https://larm.skola.se?x=1",
        "larm skola",
        "http://host:port",
        "https://user:pw@larm.skola.se",
        "https://larm.skola.se/#a",
    ],
)
def test_what_cannot_be_a_server_is_refused(typed: str) -> None:
    """Empty, other schemes, no host, a query, spaces, a bad port or credentials: None."""
    assert normalize_server_url(typed) is None


def test_a_good_form_passes_tidied() -> None:
    """Code and name lose the spaces around them; the name's inner runs of spaces are one."""
    checked = check_form("larm.skola.se/", "  ABCD-1234 ", "  Sal   12 ", "sv")
    assert checked.problems == {}
    assert checked.form == EnrollForm(
        server_url="https://larm.skola.se", code="ABCD-1234", name="Sal 12"
    )


def test_each_bad_field_gets_its_own_sentence_in_the_language() -> None:
    """All three wrong: three problems, each the field's own text; nothing to send."""
    checked = check_form("nope nope", " ", "x" * 201, "en")
    assert checked.form is None
    assert checked.problems == {
        "server": texts.text(texts.ENROLL_BAD_SERVER, "en"),
        "code": texts.text(texts.ENROLL_BAD_CODE, "en"),
        "name": texts.text(texts.ENROLL_BAD_NAME, "en"),
    }
    assert check_form("https://a.se", "x" * 65, "Sal", "sv").problems == {
        "code": "Skriv registreringskoden från IT-supporten."
    }


def test_failures_say_what_happened_and_what_to_do() -> None:
    """A refused code, an unreachable server and a non-server each have their sentence;
    another code shows the server's own message."""
    assert failure_text(ApiError("enrollment.invalid_code", "x", 400), "sv").startswith(
        "Koden gäller inte"
    )
    assert failure_text(ApiError("network.unreachable", "refused"), "sv").startswith(
        "Servern svarar inte"
    )
    assert failure_text(ApiError("network.bad_response", "HTML"), "en").startswith(
        "The address answers, but not as an alert server"
    )
    assert failure_text(ApiError("enrollment.wrong_device_kind", "x", 400), "en").startswith(
        "The code is not for a computer"
    )
    other = failure_text(ApiError("limits.rate", "För många försök.", 429), "sv")
    assert other == "Registreringen misslyckades: För många försök."


def test_the_form_speaks_swedish_by_default() -> None:
    """Unknown languages read Swedish; English is there."""
    assert enroll_form_view("de").title == "Registrera den här datorn"
    assert enroll_form_view("de").language == "sv"
    english = enroll_form_view("en")
    assert (english.title, english.button, english.language) == (
        "Enroll this computer",
        "Enroll",
        "en",
    )
    assert dict(english.languages) == {"sv": "Svenska", "en": "English"}
