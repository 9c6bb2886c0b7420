"""What each screen of the desktop client shows, computed from plain inputs (an alert document
as in docs/protocol.md, the language, the connection facts). Pure: no Qt, no I/O. The Qt
widgets in `desktop_client/qt/` only render these views, so every word and colour a person
sees is decided, and tested, here.

Colours: each kind has its own background, foreground and accent, every text/background pair
at a contrast ratio of at least 7:1 (WCAG AAA). Colour is never the only signal: each kind
also carries its own large word and symbol, drills a striped ÖVNING band, and the end views
their own word ("FARAN ÖVER", "FALSKLARM").

The labels below are the presentation's own words; they move to `desktop_client/texts.py`
when that module lands (texts.py later).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_LANGUAGE = "sv"
LANGUAGES = ("sv", "en")

# The presentation's labels, Swedish first (texts.py later).
LABELS: dict[str, dict[str, str]] = {
    "kind.pdv_lockdown": {"sv": "INRYMNING", "en": "LOCKDOWN"},
    "kind.evacuate": {"sv": "UTRYMNING", "en": "EVACUATE"},
    "kind.secure": {"sv": "UTESTÄNGNING", "en": "SECURE THE BUILDING"},
    "kind.custom": {"sv": "LARM", "en": "ALERT"},
    "drill": {"sv": "ÖVNING", "en": "DRILL"},
    "drill.note": {
        "sv": "Detta är en övning. Gör som vid ett riktigt larm.",
        "en": "This is a drill. Act as in a real alert.",
    },
    "end.resolved": {"sv": "FARAN ÖVER", "en": "ALL CLEAR"},
    "end.resolved.body": {
        "sv": "Larmet är avslutat. Följ personalens anvisningar.",
        "en": "The alert has ended. Follow the staff's directions.",
    },
    "end.cancelled": {"sv": "FALSKLARM", "en": "FALSE ALARM"},
    "end.cancelled.body": {
        "sv": "Larmet var ett misstag och är återkallat. Det finns ingen fara.",
        "en": "The alert was a mistake and is withdrawn. There is no danger.",
    },
    "answer.safe": {"sv": "Jag är i säkerhet", "en": "I am safe"},
    "answer.need_help": {"sv": "Behöver hjälp", "en": "Need help"},
    "answer.not_on_site": {"sv": "Inte på plats", "en": "Not on site"},
    "answer.location": {"sv": "Rum (valfritt)", "en": "Room (optional)"},
    "answer.note": {"sv": "Meddelande (valfritt)", "en": "Message (optional)"},
    "answer.prompt": {"sv": "Svara:", "en": "Answer:"},
    "answer.change": {"sv": "Ändra svar", "en": "Change answer"},
    "mute": {"sv": "Tyst", "en": "Mute"},
    "unmute": {"sv": "Ljud på", "en": "Sound on"},
    "answered.safe": {"sv": "Du svarade: i säkerhet", "en": "You answered: safe"},
    "answered.need_help": {"sv": "Du svarade: behöver hjälp", "en": "You answered: need help"},
    "answered.not_on_site": {
        "sv": "Du svarade: inte på plats",
        "en": "You answered: not on site",
    },
    "offline.title": {
        "sv": "Du är inte ansluten till larmsystemet",
        "en": "You are not connected to the alert system",
    },
    "offline.body": {
        "sv": "Larm når inte den här datorn just nu. Kontrollera att datorn har nätverk. "
        "Hjälper inte det: kontakta IT-supporten. Vid fara: larma på annat sätt "
        "(telefon, muntligt) – vänta inte på datorn.",
        "en": "Alerts cannot reach this computer right now. Check that the computer is on "
        "the network. If that does not help, contact IT support. In danger, raise the alarm "
        "another way (phone, in person) – do not wait for the computer.",
    },
    "offline.revoked": {
        "sv": "Enheten är borttagen – registrera igen",
        "en": "This device was removed – enroll it again",
    },
    "offline.revoked.body": {
        "sv": "Den här datorn får inga larm. Be IT-supporten om en ny registreringskod.",
        "en": "This computer receives no alerts. Ask IT support for a new enrollment code.",
    },
    "offline.retry": {"sv": "Försök igen nu", "en": "Try again now"},
    "offline.last_contact": {"sv": "Senaste kontakt", "en": "Last contact"},
    "offline.never": {"sv": "aldrig", "en": "never"},
    "tray.connected": {"sv": "Ansluten", "en": "Connected"},
    "tray.disconnected": {"sv": "Inte ansluten", "en": "Not connected"},
    "tray.alert": {"sv": "LARM PÅGÅR", "en": "ALERT ACTIVE"},
    "tray.server": {"sv": "Server", "en": "Server"},
    "tray.test_sound": {"sv": "Testa larmljud", "en": "Test alarm sound"},
    "tray.trigger": {"sv": "Larma", "en": "Raise alarm"},
    "tray.language": {"sv": "Språk", "en": "Language"},
    "tray.about": {"sv": "Om pdv-alert", "en": "About pdv-alert"},
    "tray.quit": {"sv": "Avsluta", "en": "Quit"},
    "tray.window_title": {"sv": "pdv-alert – larm", "en": "pdv-alert – alerts"},
    "language.sv": {"sv": "Svenska", "en": "Svenska"},
    "language.en": {"sv": "English", "en": "English"},
    "countdown.title": {"sv": "Larmet går ut om", "en": "The alert goes out in"},
    "countdown.body": {
        "sv": "Avbryt om du tryckte av misstag.",
        "en": "Cancel if you pressed by mistake.",
    },
    "countdown.cancel": {"sv": "Avbryt", "en": "Cancel"},
    "countdown.seconds": {"sv": "s", "en": "s"},
}


def language_of(language: str | None) -> str:
    """The supported language for `language`: Swedish unless English is asked for."""
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def label(key: str, language: str | None) -> str:
    """The label `key` in `language` (Swedish by default)."""
    return LABELS[key][language_of(language)]


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
    ("FARAN ÖVER" green, "FALSKLARM" slate) with no answers."""

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
        safe=label("answer.safe", language),
        need_help=label("answer.need_help", language),
        not_on_site=label("answer.not_on_site", language),
        location=label("answer.location", language),
        note=label("answer.note", language),
        prompt=label("answer.prompt", language),
        mute=label("mute", language),
        unmute=label("unmute", language),
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
        title = label(f"end.{ending.value}", lang)
        instructions = label(f"end.{ending.value}.body", lang)
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
        drill_label=label("drill", lang),
        drill_note=label("drill.note", lang) if drill else "",
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
        change_answer=label("answer.change", alarm.language),
        mute=label("mute", alarm.language),
        unmute=label("unmute", alarm.language),
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
    contact = last_contact or label("offline.never", lang)
    details = f"{label('offline.last_contact', lang)}: {contact}"
    if server:
        details = f"{label('tray.server', lang)}: {server} · {details}"
    if revoked:
        return OfflineView(
            title=label("offline.revoked", lang),
            body=label("offline.revoked.body", lang),
            details=details,
            retry=None,
            colours=OFFLINE_COLOURS,
        )
    return OfflineView(
        title=label("offline.title", lang),
        body=label("offline.body", lang),
        details=details,
        retry=label("offline.retry", lang),
        colours=OFFLINE_COLOURS,
    )


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
    status = label(f"tray.{state.value}", lang)
    if state is TrayState.ALERT and not connected:
        status = f"{status} · {label('tray.disconnected', lang)}"
    contact = last_contact or label("offline.never", lang)
    line = f"{status} · {label('offline.last_contact', lang)}: {contact}"
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
        test_sound=label("tray.test_sound", lang),
        trigger=label("tray.trigger", lang),
        language_menu=label("tray.language", lang),
        languages=tuple((code, label(f"language.{code}", lang)) for code in LANGUAGES),
        about=label("tray.about", lang),
        quit=label("tray.quit", lang),
        window_title=label("tray.window_title", lang),
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
        title=f"{kind_word}: {label('countdown.title', lang)}",
        seconds=f"{max(seconds_left, 0)} {label('countdown.seconds', lang)}",
        body=label("countdown.body", lang),
        cancel=label("countdown.cancel", lang),
        colours=colours,
    )
