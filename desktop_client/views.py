"""What each screen of the desktop client shows, computed from plain inputs (an alert document
as in docs/protocol.md, the language, the connection facts). Pure: no Qt, no I/O. The Qt
widgets in `desktop_client/qt/` only render these views, so every word and colour a person
sees is decided, and tested, here.

Colours: each kind has its own background, foreground and accent, every text/background pair
at a contrast ratio of at least 7:1 (WCAG AAA). Colour is never the only signal: each kind
also carries its own large word and symbol, drills a striped ÖVNING band, and the end views
their own word ("Faran över", "Falsklarm", shown in capitals like every title).

Every word comes from desktop_client/texts.py (one table of texts for the whole client).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from desktop_client import texts

DEFAULT_LANGUAGE = "sv"
LANGUAGES = ("sv", "en")


def language_of(language: str | None) -> str:
    """The supported language for `language`: Swedish unless English is asked for."""
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def label(key: str, language: str | None) -> str:
    """The text `key` (texts.py) in `language` (Swedish by default)."""
    return texts.text(key, language_of(language))


def localized(value: object, language: str | None) -> str:
    """The `language` text of a `{"sv", "en"}` object from the wire, falling back to Swedish,
    then to any text, then to the empty string."""
    if not isinstance(value, Mapping):
        return ""
    for key in (language_of(language), DEFAULT_LANGUAGE, *LANGUAGES):
        text = value.get(key)
        if isinstance(text, str) and text:
            return text
    return ""


@dataclass(frozen=True)
class Colours:
    """Hex `#rrggbb` colours of a screen: text (`foreground`) on `background`, `accent` for
    frames and symbols (also at 7:1 on the background)."""

    background: str
    foreground: str
    accent: str


# Per kind. PDV inrymning dark red with white; utrymning amber with black (light, so it differs
# from the dark kinds in lightness too, which colour-blind eyes keep); utestängning deep blue
# with white; custom near-black with white. End views: green (Faran över), slate (Falsklarm).
KIND_COLOURS: dict[str, Colours] = {
    "pdv_lockdown": Colours(background="#9e0012", foreground="#ffffff", accent="#fff1a8"),
    "evacuate": Colours(background="#ffb000", foreground="#000000", accent="#1a1a1a"),
    "secure": Colours(background="#0b2e6b", foreground="#ffffff", accent="#9fd3ff"),
    "custom": Colours(background="#1c1c1c", foreground="#ffffff", accent="#ffd23f"),
}
RESOLVED_COLOURS = Colours(background="#0b5d1e", foreground="#ffffff", accent="#d9ffd0")
CANCELLED_COLOURS = Colours(background="#3b4350", foreground="#ffffff", accent="#e6e6e6")
# The ÖVNING band: black on signal yellow, in diagonal stripes with a plain centre.
DRILL_COLOURS = Colours(background="#ffd400", foreground="#000000", accent="#000000")

# A large symbol per kind (a glyph every font in DejaVu's range has), besides the word.
KIND_SYMBOLS: dict[str, str] = {
    "pdv_lockdown": "■",  # a closed room
    "evacuate": "➜",  # out
    "secure": "▲",  # a shield-like wedge: outer doors
    "custom": "●",
}
RESOLVED_SYMBOL = "✔"
CANCELLED_SYMBOL = "✖"

KINDS = tuple(KIND_COLOURS)


def kind_of(alert: Mapping[str, Any]) -> str:
    """The alert's kind; an unknown kind reads as `custom` (docs/protocol.md §10)."""
    kind = alert.get("kind")
    return kind if isinstance(kind, str) and kind in KIND_COLOURS else "custom"


def is_shown(alert: Mapping[str, Any]) -> bool:
    """Whether the alert gets a window at all: a `test` alert only sends receipts."""
    return alert.get("mode") != "test"


class Ending(enum.StrEnum):
    """How an ended alert's last view reads."""

    RESOLVED = "resolved"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Answers:
    """The answer controls' labels."""

    safe: str
    need_help: str
    not_on_site: str
    location: str
    note: str
    prompt: str
    mute: str
    unmute: str


@dataclass(frozen=True)
class AlarmView:
    """The full-screen alarm window of one alert: while active the kind's word, symbol, order
    and instructions in the kind's colours with the answers; once ended the end view
    ("Faran över" green, "Falsklarm" slate) with no answers."""

    alert_id: int
    kind: str
    title: str
    symbol: str
    order: str
    instructions: str
    colours: Colours
    drill: bool
    drill_label: str
    drill_note: str
    ending: Ending | None
    answers: Answers
    language: str

    @property
    def ended(self) -> bool:
        return self.ending is not None


def _answers(language: str) -> Answers:
    return Answers(
        safe=label(texts.ANSWER_SAFE, language),
        need_help=label(texts.ANSWER_NEED_HELP, language),
        not_on_site=label(texts.ANSWER_NOT_ON_SITE, language),
        location=label(texts.ANSWER_ROOM, language),
        note=label(texts.ANSWER_NOTE, language),
        prompt=label(texts.ANSWER_PROMPT, language),
        mute=label(texts.MUTE, language),
        unmute=label(texts.UNMUTE, language),
    )


def _alert_id(alert: Mapping[str, Any]) -> int:
    value = alert.get("id")
    return value if isinstance(value, int) else 0


def alarm_view(alert: Mapping[str, Any], language: str | None = None) -> AlarmView:
    """The alarm window for an alert document in `language` (Swedish by default)."""
    lang = language_of(language)
    kind = kind_of(alert)
    drill = alert.get("mode") == "drill"
    state = alert.get("state")
    ending = Ending(state) if state in (Ending.RESOLVED, Ending.CANCELLED) else None
    order = localized(alert.get("order"), lang)
    instructions = localized(alert.get("instructions"), lang)
    title = label(f"kind.{kind}", lang)
    symbol = KIND_SYMBOLS[kind]
    colours = KIND_COLOURS[kind]
    if ending is not None:
        resolved = ending is Ending.RESOLVED
        title = label(texts.ALL_CLEAR if resolved else texts.FALSE_ALARM, lang)
        instructions = label(texts.ALL_CLEAR_BODY if resolved else texts.FALSE_ALARM_BODY, lang)
        symbol = RESOLVED_SYMBOL if ending is Ending.RESOLVED else CANCELLED_SYMBOL
        colours = RESOLVED_COLOURS if ending is Ending.RESOLVED else CANCELLED_COLOURS
    return AlarmView(
        alert_id=_alert_id(alert),
        kind=kind,
        title=title,
        symbol=symbol,
        order=order,
        instructions=instructions,
        colours=colours,
        drill=drill,
        drill_label=label(texts.DRILL, lang),
        drill_note=label(texts.DRILL_NOTE, lang) if drill else "",
        ending=ending,
        answers=_answers(lang),
        language=lang,
    )


@dataclass(frozen=True)
class BannerView:
    """The always-on-top strip after answering: the kind's word and the current order (the
    end word once ended), ÖVNING for drills, the given answer and the controls' labels."""

    alert_id: int
    title: str
    symbol: str
    order: str
    colours: Colours
    drill: bool
    drill_label: str
    answered: str
    change_answer: str
    mute: str
    unmute: str
    ending: Ending | None


def banner_view(
    alert: Mapping[str, Any], language: str | None = None, response: str | None = None
) -> BannerView:
    """The banner for an alert document after the person answered `response`."""
    alarm = alarm_view(alert, language)
    answered = label(f"answered.{response}", alarm.language) if response else ""
    return BannerView(
        alert_id=alarm.alert_id,
        title=alarm.title,
        symbol=alarm.symbol,
        order=alarm.order if alarm.ending is None else alarm.instructions,
        colours=alarm.colours,
        drill=alarm.drill,
        drill_label=alarm.drill_label,
        answered=answered,
        change_answer=label(texts.ANSWER_CHANGE, alarm.language),
        mute=label(texts.MUTE, alarm.language),
        unmute=label(texts.UNMUTE, alarm.language),
        ending=alarm.ending,
    )


# Ordinary windows (the enrollment form): near-black on white, problems in dark red.
FORM_COLOURS = Colours(background="#ffffff", foreground="#1a1a1a", accent="#9e0012")
# The hint text in an empty field (white field): dark grey, still 7:1 like every other text.
PLACEHOLDER = "#4a4a4a"

OFFLINE_COLOURS = Colours(background="#fff4c2", foreground="#1a1a1a", accent="#7a0010")


@dataclass(frozen=True)
class OfflineView:
    """The warning window when the client is not connected (or the device was revoked)."""

    title: str
    body: str
    details: str
    retry: str | None
    colours: Colours


def offline_view(
    language: str | None = None,
    *,
    server: str = "",
    last_contact: str | None = None,
    revoked: bool = False,
) -> OfflineView:
    """The offline warning; `last_contact` is already formatted for people (e.g. "08:14")."""
    lang = language_of(language)
    details = _last_contact(lang, last_contact)
    if server:
        details = f"{label(texts.STATUS_SERVER, lang).format(server=server)} · {details}"
    if revoked:
        return OfflineView(
            title=label(texts.REVOKED, lang),
            body=label(texts.REVOKED_WHAT_TO_DO, lang),
            details=details,
            retry=None,
            colours=OFFLINE_COLOURS,
        )
    return OfflineView(
        title=label(texts.OFFLINE_TITLE, lang),
        body=label(texts.OFFLINE_WHAT_TO_DO, lang),
        details=details,
        retry=label(texts.TRY_AGAIN, lang),
        colours=OFFLINE_COLOURS,
    )


def _last_contact(language: str, when: str | None) -> str:
    contact = when or label(texts.STATUS_NEVER, language)
    return label(texts.STATUS_LAST_CONTACT, language).format(when=contact)


class TrayState(enum.StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    ALERT = "alert"


# Icon colours: a green disc with a tick (connected), a red disc with a cross (disconnected:
# shape differs too), a yellow/red flashing disc with "!" (alert).
TRAY_ICON: dict[TrayState, tuple[str, str, str]] = {
    TrayState.CONNECTED: ("#1b7f3b", "#ffffff", "✔"),
    TrayState.DISCONNECTED: ("#c40018", "#ffffff", "✖"),
    TrayState.ALERT: ("#ffd400", "#000000", "!"),
}
TRAY_ALERT_FLASH = ("#c40018", "#ffffff", "!")
_TRAY_STATUS = {
    TrayState.CONNECTED: texts.TRAY_CONNECTED,
    TrayState.DISCONNECTED: texts.TRAY_DISCONNECTED,
    TrayState.ALERT: texts.TRAY_ALERT,
}


@dataclass(frozen=True)
class TrayView:
    """The tray icon and its menu's words."""

    state: TrayState
    flashing: bool
    status: str
    tooltip: str
    icon_background: str
    icon_foreground: str
    icon_glyph: str
    test_sound: str
    trigger: str
    language_menu: str
    languages: tuple[tuple[str, str], ...]
    about: str
    quit: str
    window_title: str
    language: str


def tray_view(
    language: str | None = None,
    *,
    connected: bool,
    alert_active: bool = False,
    server: str = "",
    last_contact: str | None = None,
) -> TrayView:
    """The tray for the connection facts: an active alert wins over the connection state (it
    flashes), then connected, else disconnected (red)."""
    lang = language_of(language)
    if alert_active:
        state = TrayState.ALERT
    else:
        state = TrayState.CONNECTED if connected else TrayState.DISCONNECTED
    status = label(_TRAY_STATUS[state], lang)
    if state is TrayState.ALERT and not connected:
        status = f"{status} · {label(texts.TRAY_DISCONNECTED, lang)}"
    line = f"{status} · {_last_contact(lang, last_contact)}"
    if server:
        line = f"{line} · {server}"
    background, foreground, glyph = TRAY_ICON[state]
    return TrayView(
        state=state,
        flashing=state is TrayState.ALERT,
        status=line,
        tooltip=f"pdv-alert – {line}",
        icon_background=background,
        icon_foreground=foreground,
        icon_glyph=glyph,
        test_sound=label(texts.MENU_TEST_SOUND, lang),
        trigger=label(texts.MENU_TRIGGER, lang),
        language_menu=label(texts.MENU_LANGUAGE, lang),
        languages=(("sv", label(texts.LANGUAGE_SV, lang)), ("en", label(texts.LANGUAGE_EN, lang))),
        about=label(texts.MENU_ABOUT, lang),
        quit=label(texts.MENU_QUIT, lang),
        window_title=label(texts.TRAY_WINDOW_TITLE, lang),
        language=lang,
    )


@dataclass(frozen=True)
class CountdownView:
    """The cancellable countdown before a trigger from this computer goes out."""

    title: str
    seconds: str
    body: str
    cancel: str
    colours: Colours


def countdown_view(
    seconds_left: int, kind: str = "pdv_lockdown", language: str | None = None
) -> CountdownView:
    """The countdown with `seconds_left` seconds to go, for an alert of `kind`."""
    lang = language_of(language)
    colours = KIND_COLOURS.get(kind, KIND_COLOURS["custom"])
    kind_word = label(f"kind.{kind if kind in KIND_COLOURS else 'custom'}", lang)
    return CountdownView(
        title=f"{kind_word}: {label(texts.TRIGGER_COUNTDOWN_TITLE, lang)}",
        seconds=label(texts.TRIGGER_SECONDS, lang).format(seconds=max(seconds_left, 0)),
        body=label(texts.TRIGGER_COUNTDOWN_BODY, lang),
        cancel=label(texts.TRIGGER_CANCEL, lang),
        colours=colours,
    )
