"""The push notification of one alert event for one device (`push.message.PushMessage`).

    title  the mode's label and the kind's name: "Inrymning", "ÖVNING – Utrymning", "TEST"
    body   what to do now, in the device's person's language (else the organization's):
           the current order; "Faran över" when resolved; "Falsklarm – …" when cancelled
           ("Övningen är avbruten – ett skarpt larm …" for a drill a real alert superseded);
           a test alert says "Test av larmsystemet – ingen åtgärd"
    sites  the names of the alert's sites
    url    where the PWA shows the alert: `{public_url}/?alert=<id>` (relative, `/?alert=<id>`,
           when no public URL is configured; the service worker resolves it against its
           own origin)

The payload stays within `PAYLOAD_LIMIT` bytes (Web Push services accept 4,096 bytes of
encrypted record; APNs 4 KB) at the longest texts the API allows: an order of
`MAX_TEXT_LENGTH` characters of any script and site names of 200 characters, as many as an
organization has. It is measured as `json.dumps(payload)` with Python's defaults (ASCII
escapes, spaced separators): no encoding a sender may choose is longer. When too long, the
site list is cut first (ending with "+N", the number left out), then the body, then the
title, each ending with "…".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from protocol.vocabulary import AlertState, EventType, Kind, Language, Mode
from push.message import PushMessage
from server.core.templates import (
    BUILT_IN,
    CANCELLED_TEXT,
    RESOLVED_TEXT,
    SUPERSEDED_TEXT,
    TEST_ENDED_TEXT,
    TEST_NOTICE,
    mode_label,
)

PAYLOAD_LIMIT = 3000  # bytes of the JSON payload before encryption
ELLIPSIS = "…"
EventDocument = Mapping[str, Any]  # server.storage.events.event_document


def language_of(person_language: str | None, organization_language: str) -> Language:
    """The person's language when the device has a person, else the organization's;
    Swedish when neither is one the system speaks."""
    spoken = {language.value: language for language in Language}
    for value in (person_language, organization_language):
        if value is not None and value in spoken:
            return spoken[value]
    return Language.SV


def alert_url(public_url: str, alert_id: int) -> str:
    """Where the PWA shows the alert."""
    return f"{public_url.rstrip('/')}/?alert={alert_id}"


def payload_bytes(message: PushMessage) -> int:
    """The payload's size in its longest common JSON encoding."""
    return len(json.dumps(message.to_payload()).encode("utf-8"))


def _title(kind: str, mode: Mode, language: Language) -> str:
    if mode == Mode.TEST:
        return "TEST"
    name = BUILT_IN[Kind(kind)].name.get(language)
    name = name[:1].upper() + name[1:]
    label = mode_label(mode)
    return name if label is None else f"{label.get(language)} – {name}"


def _body(event: EventDocument, mode: Mode, language: Language) -> str:
    alert = event["alert"]
    ended = alert["state"] != AlertState.ACTIVE.value
    if mode == Mode.TEST:
        return (TEST_ENDED_TEXT if ended else TEST_NOTICE).get(language)
    if event["event"] == EventType.RESOLVED.value:
        return RESOLVED_TEXT.get(language)
    if event["event"] == EventType.CANCELLED.value:
        superseded = "superseded_by" in (event.get("changes") or {})
        return (SUPERSEDED_TEXT if superseded else CANCELLED_TEXT).get(language)
    order: Mapping[str, str] = alert["order"]
    other = Language.EN if language == Language.SV else Language.SV
    return order.get(language.value) or order.get(other.value) or ""


def message_for(
    event: EventDocument,
    *,
    language: Language,
    site_names: Mapping[int, str],
    public_url: str,
) -> PushMessage:
    """The notification of `event` (an event document) in `language`, within the limit."""
    alert = event["alert"]
    mode = Mode(alert["mode"])
    message = PushMessage(
        alert_id=alert["id"],
        seq=event["seq"],
        event=event["event"],
        kind=alert["kind"],
        mode=mode.value,
        state=alert["state"],
        title=_title(alert["kind"], mode, language),
        body=_body(event, mode, language),
        sites=tuple(site_names.get(site_id, str(site_id)) for site_id in alert["sites"]),
        url=alert_url(public_url, alert["id"]),
    )
    return fitted(message)


def _cut(text: str, keep: int) -> str:
    return text if keep >= len(text) else text[:keep].rstrip() + ELLIPSIS


def _longest(text: str, make: Callable[[str], PushMessage], limit: int) -> PushMessage:
    """`make(text cut to the most characters that fit)`; cut to nothing when none fit."""
    low, high = 0, len(text)
    while low < high:  # the largest `keep` whose message fits
        middle = (low + high + 1) // 2
        if payload_bytes(make(_cut(text, middle))) <= limit:
            low = middle
        else:
            high = middle - 1
    return make(_cut(text, low) if low else "")


def _fewer_sites(message: PushMessage, limit: int) -> PushMessage:
    """Keep as many site names as fit (at least one), the rest counted as "+N"."""
    names: Sequence[str] = message.sites
    for keep in range(len(names) - 1, 0, -1):
        shorter = replace(message, sites=(*names[:keep], f"+{len(names) - keep}"))
        if payload_bytes(shorter) <= limit:
            return shorter
    return replace(message, sites=(*names[:1], f"+{len(names) - 1}")) if names[1:] else message


def fitted(message: PushMessage, *, limit: int = PAYLOAD_LIMIT) -> PushMessage:
    """`message` within `limit` bytes: fewer sites, then a shorter body, title and first
    site name. Unchanged when it already fits."""
    if payload_bytes(message) <= limit:
        return message
    message = _fewer_sites(message, limit)
    if payload_bytes(message) > limit:
        fixed = message
        message = _longest(message.body, lambda body: replace(fixed, body=body), limit)
    if payload_bytes(message) > limit:
        fixed = message
        message = _longest(message.title, lambda title: replace(fixed, title=title), limit)
    if payload_bytes(message) > limit and message.sites:
        first, *rest = message.sites
        fixed = message
        message = _longest(first, lambda name: replace(fixed, sites=(name, *rest)), limit)
    return message
