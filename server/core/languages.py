"""Choosing the language of a message from an `Accept-Language` header (RFC 9110 §12.5.4).

Each range may carry a weight `q` (0–1, default 1; 0 means "not this one"). The supported
language with the highest weight wins; an explicit range beats `*` and, at equal weight, the
earlier range wins. Unknown languages and malformed ranges are ignored; when nothing
acceptable is left the default (Swedish) is used. Pure: the API and the gateway can both
use it.
"""

from __future__ import annotations

import re

from protocol.vocabulary import Language

_RANGE = re.compile(r"^(\*|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*)$")
_WEIGHT = re.compile(r"^q=(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$", re.IGNORECASE)
_SUPPORTED = {language.value: language for language in Language}


def _parse_range(part: str) -> tuple[str, float] | None:
    """(range in lower case, weight) of one comma-separated element, or None if malformed."""
    tag, *params = (piece.strip() for piece in part.split(";"))
    if not _RANGE.match(tag):
        return None
    weight = 1.0
    for param in params:
        match = _WEIGHT.match(param.replace(" ", ""))
        if match is None:
            return None
        weight = float(match.group(1))
    return tag.lower(), weight


def _weights(header: str) -> dict[Language, tuple[float, int, int]]:
    """Per supported language: (weight, 1 for an explicit range / 0 for `*`, -position)."""
    explicit: dict[Language, tuple[float, int, int]] = {}
    wildcard: tuple[float, int] | None = None
    for position, part in enumerate(header.split(",")):
        parsed = _parse_range(part)
        if parsed is None:
            continue
        tag, weight = parsed
        if tag == "*":
            wildcard = wildcard or (weight, position)
            continue
        language = _SUPPORTED.get(tag.split("-", 1)[0])
        if language is not None and language not in explicit:
            explicit[language] = (weight, 1, -position)
    if wildcard is not None:
        for language in Language:
            explicit.setdefault(language, (wildcard[0], 0, -wildcard[1]))
    return explicit


def preferred_language(header: str | None, *, default: Language = Language.SV) -> Language:
    """The supported language the header prefers; `default` when it names none acceptably."""
    if not header:
        return default
    acceptable = {language: rank for language, rank in _weights(header).items() if rank[0] > 0}
    if not acceptable:
        return default
    # At equal rank the default language wins (it sorts first among equals via max's order).
    ordered = sorted(acceptable, key=lambda language: language != default)
    return max(ordered, key=lambda language: acceptable[language])
