"""The desktop client's texts (desktop_client/texts.py)."""

from __future__ import annotations

import pytest

from desktop_client import texts


def test_every_key_has_both_languages() -> None:
    """Each constant names a text with non-empty Swedish and English."""
    keys = [v for k, v in vars(texts).items() if k.isupper() and isinstance(v, str) and "." in v]
    assert set(keys) == set(texts.TEXTS)
    for key in keys:
        assert texts.text(key, "sv").strip() and texts.text(key, "en").strip()


def test_swedish_is_the_default_and_the_words_are_right() -> None:
    """Unknown languages read Swedish; the alarm's words are the issue's."""
    assert texts.text(texts.OFFLINE_TITLE, "de") == "Du är inte ansluten till larmsystemet"
    assert texts.text(texts.REVOKED, "sv") == "Enheten är borttagen – registrera igen"
    assert [
        texts.text(k, "sv")
        for k in (
            texts.ANSWER_SAFE,
            texts.ANSWER_NEED_HELP,
            texts.ANSWER_NOT_ON_SITE,
            texts.MUTE,
            texts.ALL_CLEAR,
            texts.FALSE_ALARM,
            texts.DRILL,
            texts.MENU_TEST_SOUND,
            texts.MENU_TRIGGER,
        )
    ] == [
        "Jag är i säkerhet",
        "Behöver hjälp",
        "Inte på plats",
        "Tyst",
        "Faran över",
        "Falsklarm",
        "ÖVNING",
        "Testa larmljud",
        "Larma",
    ]


def test_unknown_key_fails() -> None:
    """A misspelt key raises instead of showing nothing."""
    with pytest.raises(KeyError):
        texts.text("no.such.key", "sv")
