"""Choosing the message language from Accept-Language: q-values, `*`, unknown and malformed."""

from __future__ import annotations

import pytest

from protocol.vocabulary import Language
from server.core.languages import preferred_language

SV, EN = Language.SV, Language.EN


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en;q=0.2, sv;q=0.9", SV),
        ("sv;q=0.2, en;q=0.9", EN),
        ("en, sv", EN),
        ("sv, en", SV),
        ("en-US,en;q=0.9,sv;q=0.8", EN),
        ("SV-se", SV),
        ("en;q=1.0, sv;q=1", EN),
        ("en ; q = 0.5 , sv ; q=0.4", EN),
    ],
)
def test_the_highest_weight_wins_and_order_breaks_ties(header: str, expected: Language) -> None:
    """The supported language with the highest q wins; at equal q the earlier one."""
    assert preferred_language(header) is expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("*", SV),
        ("*;q=0.5, en;q=0.4", SV),
        ("en;q=0.4, *;q=0.5", SV),
        ("sv;q=0, *", EN),
        ("en, *", EN),
    ],
)
def test_the_wildcard_stands_for_the_languages_not_named(header: str, expected: Language) -> None:
    """`*` weighs every supported language the header does not name; a named one beats it."""
    assert preferred_language(header) is expected


@pytest.mark.parametrize(
    "header",
    ["", None, "de, fr;q=0.9", "sv;q=0", "en;q=0", "en;q=banana", "en;q=2", ";;,,", "é!", "en;x"],
)
def test_nothing_acceptable_means_swedish(header: str | None) -> None:
    """Unknown languages, refused ones, malformed ranges or no header: the default, Swedish."""
    assert preferred_language(header) is SV


def test_the_default_can_be_chosen() -> None:
    """Without an acceptable language the caller's default is used, and breaks `*` ties."""
    assert preferred_language("de", default=EN) is EN
    assert preferred_language("*", default=EN) is EN
    assert preferred_language("sv;q=0.1", default=EN) is SV
