"""The push message of an event for a device: title and body in the right language for
every event and mode, site names, the alert's URL, and a payload within 3,000 bytes at the
longest texts the API allows."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.vocabulary import Language
from server.core.templates import MAX_TEXT_LENGTH
from server.dispatch.messages import (
    ELLIPSIS,
    PAYLOAD_LIMIT,
    alert_url,
    fitted,
    language_of,
    message_for,
    payload_bytes,
)

SITES = {1: "Ullvigymnasiet", 2: "Kyrkbackens skola"}
SITE_NAME_MAX = 200  # server/api/sites.py


def event(
    *,
    kind: str = "pdv_lockdown",
    mode: str = "actual",
    type_: str = "triggered",
    state: str = "active",
    sites: list[int] | None = None,
    order: dict[str, str] | None = None,
    changes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "seq": 12,
        "event": type_,
        "at": "2025-03-01T08:00:00+00:00",
        "actor": "person:1",
        "changes": changes or {},
        "alert": {
            "id": 7,
            "kind": kind,
            "mode": mode,
            "state": state,
            "sites": sites or [1, 2],
            "order": order
            or {"sv": "INRYMNING – lås in er och göm er", "en": "LOCKDOWN – lock in and hide"},
            "instructions": {"sv": "", "en": ""},
        },
    }


def build(doc: dict[str, Any], language: Language = Language.SV, **kwargs: Any) -> Any:
    options: dict[str, Any] = {"site_names": SITES, "public_url": "https://larm.koping.se"}
    options.update(kwargs)
    return message_for(doc, language=language, **options)


def test_an_actual_alert_says_its_kind_and_order() -> None:
    """Title is the kind's name, body the current order, sites by name, url to the alert."""
    message = build(event())
    assert message.title == "Inrymning"
    assert message.body == "INRYMNING – lås in er och göm er"
    assert message.sites == ("Ullvigymnasiet", "Kyrkbackens skola")
    assert message.url == "https://larm.koping.se/?alert=7"
    assert (message.alert_id, message.seq, message.event) == (7, 12, "triggered")
    assert (message.kind, message.mode, message.state) == ("pdv_lockdown", "actual", "active")
    assert message.topic == "alert-7"


def test_english_for_an_english_speaker() -> None:
    """The device's person's language decides the texts."""
    message = build(
        event(kind="evacuate", mode="drill", order={"sv": "Ut", "en": "Out"}), Language.EN
    )
    assert (message.title, message.body) == ("DRILL – Evacuation", "Out")


def test_a_drill_is_labelled() -> None:
    """A drill's title starts with ÖVNING."""
    assert build(event(mode="drill")).title == "ÖVNING – Inrymning"


@pytest.mark.parametrize(
    ("type_", "state", "changes", "sv", "en"),
    [
        ("resolved", "resolved", {"state": "resolved"}, "Faran över", "All clear"),
        (
            "cancelled",
            "cancelled",
            {"state": "cancelled"},
            "Falsklarm – larmet är återkallat",
            "False alarm – the alert is withdrawn",
        ),
    ],
)
def test_the_end_of_an_alert_says_so(
    type_: str, state: str, changes: dict[str, Any], sv: str, en: str
) -> None:
    """Resolved: all clear; cancelled: false alarm — in both languages."""
    doc = event(type_=type_, state=state, changes=changes)
    assert build(doc).body == sv
    assert build(doc, Language.EN).body == en


def test_a_superseded_drill_never_reads_false_alarm() -> None:
    """A drill cancelled by a real alert says a real alert was triggered."""
    doc = event(mode="drill", type_="cancelled", state="cancelled", changes={"superseded_by": 9})
    assert build(doc).body == "Övningen är avbruten – ett skarpt larm har utlösts"
    assert build(doc).title == "ÖVNING – Inrymning"


def test_a_test_alert_asks_for_nothing() -> None:
    """A test alert: title TEST, body 'Test av larmsystemet – ingen åtgärd' (English too)."""
    message = build(event(mode="test"))
    assert (message.title, message.body) == ("TEST", "Test av larmsystemet – ingen åtgärd")
    assert build(event(mode="test"), Language.EN).body == "Test of the alert system – no action"
    ended = build(event(mode="test", type_="resolved", state="resolved"))
    assert ended.body == "Testet är avslutat – ingen åtgärd"


def test_a_missing_language_falls_back_to_the_other() -> None:
    """An order with only one language still gives a body."""
    assert build(event(order={"sv": "", "en": "Hide"})).body == "Hide"


def test_languages_person_then_organization_then_swedish() -> None:
    """The person's language, else the organization's, else Swedish."""
    assert language_of("en", "sv") == Language.EN
    assert language_of(None, "en") == Language.EN
    assert language_of("xx", "yy") == Language.SV


@pytest.mark.parametrize(
    ("public_url", "url"),
    [("https://larm.koping.se/", "https://larm.koping.se/?alert=7"), ("", "/?alert=7")],
)
def test_the_url_is_absolute_or_relative(public_url: str, url: str) -> None:
    """Without a public URL the link is relative to the service worker's origin."""
    assert alert_url(public_url, 7) == url


def test_an_unknown_site_is_named_by_its_id() -> None:
    """A site that is gone from the names still appears."""
    assert build(event(sites=[1, 99])).sites == ("Ullvigymnasiet", "99")


def test_a_short_message_is_unchanged() -> None:
    """Nothing is cut when the payload fits."""
    message = build(event())
    assert fitted(message) == message
    assert payload_bytes(message) < PAYLOAD_LIMIT


# The longest texts the API allows, in the scripts that take the most bytes in JSON:
# astral characters (a surrogate pair, 12 bytes escaped), quotes and control characters.
WORST_CHARACTERS = ["𝕏", "å", '"', "\x01", "x", "\\"]


@pytest.mark.parametrize("character", WORST_CHARACTERS)
def test_the_longest_texts_fit_within_the_limit(character: str) -> None:
    """An order of MAX_TEXT_LENGTH characters and 50 sites of 200 characters fit; the body
    keeps its start and ends with the ellipsis; the sites list names how many were left."""
    order = character * MAX_TEXT_LENGTH
    names = {i: f"{i:03d}" + character * (SITE_NAME_MAX - 3) for i in range(1, 51)}
    doc = event(order={"sv": order, "en": order}, sites=list(names))
    message = build(doc, site_names=names, public_url="https://" + "l" * 200 + ".se")
    assert payload_bytes(message) <= PAYLOAD_LIMIT
    assert len(json.dumps(message.to_payload(), ensure_ascii=False).encode()) <= PAYLOAD_LIMIT
    assert message.body.startswith(character)
    assert message.body.endswith(ELLIPSIS) or message.body == order
    assert message.sites[0] == names[1]
    assert message.sites[-1] == f"+{50 - (len(message.sites) - 1)}"
    assert message.title == "Inrymning"


def test_a_long_order_in_plain_text_is_kept_whole() -> None:
    """An ASCII order at the limit fits without cutting."""
    order = "x" * MAX_TEXT_LENGTH
    assert build(event(order={"sv": order, "en": order})).body == order


@settings(max_examples=60, deadline=None)
@given(
    order=st.text(max_size=MAX_TEXT_LENGTH),
    names=st.lists(st.text(min_size=1, max_size=SITE_NAME_MAX), min_size=1, max_size=60),
)
def test_any_message_fits(order: str, names: list[str]) -> None:
    """Whatever the texts, the payload is within the limit and the first site is named."""
    site_names = dict(enumerate(names, start=1))
    doc = event(order={"sv": order or "x", "en": order or "x"}, sites=list(site_names))
    message = build(doc, site_names=site_names)
    assert payload_bytes(message) <= PAYLOAD_LIMIT
    assert message.sites
