"""The pure views of the desktop client: words per language, colours at WCAG AAA contrast, kinds
told apart without relying on colour, drills and end views marked."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from desktop_client import views
from desktop_client.views import (
    KINDS,
    Ending,
    TrayState,
    alarm_view,
    banner_view,
    countdown_view,
    offline_view,
    tray_view,
)
from tests.test_imports import imported_modules, violations

ROOT = Path(__file__).resolve().parents[2]


def alert(**fields: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": 7,
        "kind": "pdv_lockdown",
        "mode": "actual",
        "state": "active",
        "sites": [1],
        "order": {"sv": "INRYMNING – lås in er och göm er", "en": "LOCKDOWN – lock in and hide"},
        "instructions": {"sv": "Lås dörren, släck, var tyst.", "en": "Lock the door."},
    }
    document.update(fields)
    return document


def linear(channel: int) -> float:
    value = channel / 255
    return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def luminance(colour: str) -> float:
    """WCAG 2 relative luminance of `#rrggbb`."""
    r, g, b = (linear(c) for c in rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_formula_matches_wcag_reference_values() -> None:
    """The contrast helper gives WCAG's known values (black/white 21:1, equal colours 1:1)."""
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#777777") == pytest.approx(1.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)


def every_colours() -> list[tuple[str, views.Colours]]:
    return [
        *views.KIND_COLOURS.items(),
        ("resolved", views.RESOLVED_COLOURS),
        ("cancelled", views.CANCELLED_COLOURS),
        ("drill", views.DRILL_COLOURS),
        ("offline", views.OFFLINE_COLOURS),
        ("form", views.FORM_COLOURS),
    ]


@pytest.mark.parametrize(("name", "colours"), every_colours())
def test_text_and_accent_reach_wcag_aaa_on_every_background(
    name: str, colours: views.Colours
) -> None:
    """Text and accent on each screen's background have a contrast of at least 7:1."""
    assert contrast(colours.foreground, colours.background) >= 7, name
    assert contrast(colours.accent, colours.background) >= 7, name


def test_the_hint_in_an_empty_field_reaches_wcag_aaa_too() -> None:
    """A placeholder (e.g. "Rum (valfritt)") on its white field reaches 7:1 like all text."""
    assert contrast(views.PLACEHOLDER, "#ffffff") >= 7


def test_tray_icon_glyphs_are_readable_on_their_discs() -> None:
    """Each tray icon's glyph reaches 4.5:1 on its disc (large graphics: AA suffices)."""
    for background, foreground, _ in [*views.TRAY_ICON.values(), views.TRAY_ALERT_FLASH]:
        assert contrast(foreground, background) >= 4.5


# Machado et al. (2009) full-severity simulation matrices, applied to linear RGB.
DICHROMACY = {
    "protanopia": (
        (0.152286, 1.052583, -0.204868),
        (0.114503, 0.786281, 0.099216),
        (-0.003882, -0.048116, 1.051998),
    ),
    "deuteranopia": (
        (0.367322, 0.860646, -0.227968),
        (0.280085, 0.672501, 0.047413),
        (-0.011820, 0.042940, 0.968881),
    ),
    "tritanopia": (
        (1.255528, -0.076749, -0.178779),
        (-0.078411, 0.930809, 0.147602),
        (0.004733, 0.691367, 0.303900),
    ),
}


def encode(value: float) -> float:
    """Linear RGB back to sRGB (0..1)."""
    return 12.92 * value if value <= 0.0031308 else 1.055 * value ** (1 / 2.4) - 0.055


def seen_as(colour: str, matrix: tuple[tuple[float, ...], ...]) -> tuple[float, ...]:
    """The sRGB colour a person with the simulated vision sees."""
    channels = [linear(c) for c in rgb(colour)]
    return tuple(
        encode(min(max(sum(m * c for m, c in zip(row, channels, strict=True)), 0.0), 1.0))
        for row in matrix
    )


@pytest.mark.parametrize("vision", ["normal", *DICHROMACY])
def test_kind_backgrounds_differ_for_colour_blind_eyes(vision: str) -> None:
    """Every pair of kind and end-view backgrounds stays apart (sRGB distance ≥ 0.1)
    under normal vision and simulated protanopia, deuteranopia and tritanopia."""
    backgrounds = [c.background for c in views.KIND_COLOURS.values()]
    backgrounds += [views.RESOLVED_COLOURS.background, views.CANCELLED_COLOURS.background]
    identity = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    matrix = DICHROMACY.get(vision, identity)
    for a, b in itertools.combinations(backgrounds, 2):
        pa, pb = seen_as(a, matrix), seen_as(b, matrix)
        distance = sum((x - y) ** 2 for x, y in zip(pa, pb, strict=True)) ** 0.5
        assert distance >= 0.1, (vision, a, b, distance)


def test_each_kind_has_its_own_word_symbol_and_colours() -> None:
    """Kinds differ in word, symbol and background, so colour is never the only signal."""
    shown = [alarm_view(alert(kind=kind)) for kind in KINDS]
    assert len({v.title for v in shown}) == len(KINDS)
    assert len({v.symbol for v in shown}) == len(KINDS)
    assert len({v.colours.background for v in shown}) == len(KINDS)
    assert alarm_view(alert(kind="pdv_lockdown")).title == "INRYMNING"
    assert alarm_view(alert(kind="evacuate")).title == "UTRYMNING"
    assert alarm_view(alert(kind="secure")).title == "UTESTÄNGNING"


def test_unknown_kind_reads_as_custom() -> None:
    """An unknown kind shows as the custom kind (protocol §10)."""
    assert alarm_view(alert(kind="meteor")).kind == "custom"
    assert alarm_view(alert(kind="meteor")).title == "LARM"


def test_swedish_is_the_default_and_english_available() -> None:
    """Without a language (or an unknown one) texts are Swedish; `en` gives English."""
    for language in (None, "sv", "fi"):
        view = alarm_view(alert(), language)
        assert view.order == "INRYMNING – lås in er och göm er"
        assert view.instructions == "Lås dörren, släck, var tyst."
        assert view.answers.safe == "Jag är i säkerhet"
        assert view.answers.mute == "Tyst"
    english = alarm_view(alert(), "en")
    assert (english.title, english.order) == ("LOCKDOWN", "LOCKDOWN – lock in and hide")
    assert (english.answers.safe, english.answers.need_help) == ("I am safe", "Need help")


def test_missing_english_order_falls_back_to_swedish() -> None:
    """An order without the asked language shows the Swedish text rather than nothing."""
    view = alarm_view(alert(order={"sv": "Stanna inne"}), "en")
    assert view.order == "Stanna inne"


def test_drill_is_marked_and_actual_is_not() -> None:
    """A drill carries ÖVNING (DRILL in English) and a note; a real alert does not."""
    drill = alarm_view(alert(mode="drill"))
    assert (drill.drill, drill.drill_label) == (True, "ÖVNING")
    assert "övning" in drill.drill_note
    assert alarm_view(alert(mode="drill"), "en").drill_label == "DRILL"
    assert alarm_view(alert()).drill is False
    assert alarm_view(alert()).drill_note == ""


def test_end_views_say_faran_over_in_green_and_falsklarm() -> None:
    """Resolved shows "Faran över" in green, cancelled "Falsklarm"; both differ from every
    kind."""
    resolved = alarm_view(alert(state="resolved"))
    assert (resolved.ending, resolved.title) == (Ending.RESOLVED, "Faran över")
    assert resolved.colours == views.RESOLVED_COLOURS
    green = rgb(resolved.colours.background)
    assert green[1] > green[0] and green[1] > green[2]
    cancelled = alarm_view(alert(state="cancelled"), "en")
    assert (cancelled.ending, cancelled.title) == (Ending.CANCELLED, "False alarm")
    kind_backgrounds = {c.background for c in views.KIND_COLOURS.values()}
    assert resolved.colours.background not in kind_backgrounds
    assert cancelled.colours.background not in kind_backgrounds
    assert alarm_view(alert()).ended is False


def test_test_alerts_are_not_shown() -> None:
    """A `test` alert gets no window; actual alerts and drills do."""
    assert views.is_shown(alert(mode="test")) is False
    assert views.is_shown(alert(mode="drill")) is True
    assert views.is_shown(alert()) is True


def test_banner_carries_the_current_order_and_the_answer() -> None:
    """The banner shows the order of the document it is given and the person's answer."""
    banner = banner_view(alert(order={"sv": "UTRYMNING – lämna byggnaden"}), "sv", "need_help")
    assert banner.order == "UTRYMNING – lämna byggnaden"
    assert banner.answered == "Du svarade: behöver hjälp"
    assert banner.change_answer == "Ändra svar"
    ended = banner_view(alert(state="resolved"), "sv", "safe")
    assert ended.title == "Faran över" and ended.ending is Ending.RESOLVED


def test_offline_view_says_not_connected_and_what_to_do() -> None:
    """The offline warning names the problem, what to do, the server and the last contact;
    a revoked device says to enroll again and offers no retry."""
    view = offline_view("sv", server="https://larm.skola.se", last_contact="08:14")
    assert view.title == "Du är inte ansluten till larmsystemet"
    assert "IT-supporten" in view.body
    assert "08:14" in view.details and "larm.skola.se" in view.details
    assert view.retry == "Försök igen nu"
    revoked = offline_view("sv", revoked=True)
    assert revoked.title == "Enheten är borttagen – registrera igen"
    assert revoked.retry is None
    assert "aldrig" in revoked.details


def test_tray_states() -> None:
    """Connected, disconnected (red, crossed) and an active alert (flashing, wins)."""
    assert tray_view(connected=True).state is TrayState.CONNECTED
    down = tray_view(connected=False)
    assert down.state is TrayState.DISCONNECTED and not down.flashing
    assert rgb(down.icon_background)[0] > 150 and down.icon_glyph == "✖"
    alerting = tray_view(connected=False, alert_active=True, server="s", last_contact="09:00")
    assert alerting.state is TrayState.ALERT and alerting.flashing
    assert "INTE ANSLUTEN" in alerting.status and "09:00" in alerting.status
    assert tray_view("en", connected=True).test_sound == "Test alarm sound"
    assert tray_view(connected=True).trigger == "Larma"


def test_countdown_view_counts_and_never_goes_negative() -> None:
    """The countdown shows the seconds left (never below zero) and Avbryt."""
    assert countdown_view(5).seconds == "5 s"
    assert countdown_view(-1).seconds == "0 s"
    assert countdown_view(3, "evacuate").title.startswith("UTRYMNING")
    assert countdown_view(3, language="en").cancel == "Cancel"


def test_views_import_no_qt_and_only_the_qt_package_imports_pyside6() -> None:
    """views.py is plain Python; PySide6 is imported only under desktop_client/qt/."""
    client = ROOT / "desktop_client"
    assert violations(client / "views.py", "desktop_client", ("desktop_client",)) == []
    for path in sorted(client.rglob("*.py")):
        if "qt" in path.relative_to(client).parts[:-1]:
            continue
        package = ".".join(["desktop_client", *path.relative_to(client).parts[:-1]])
        modules = [module for _line, module in imported_modules(path, package)]
        assert not [m for m in modules if m.split(".")[0] == "PySide6"], path


def test_bundled_sounds_are_what_the_generator_writes(tmp_path: Path) -> None:
    """generate.py is deterministic and the committed WAV files are its current output."""
    from desktop_client.sounds import SOUNDS_DIR, generate

    generate.main(tmp_path)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(f"{name}.wav" for name in generate.PATTERNS)
    for name in written:
        assert (tmp_path / name).read_bytes() == (SOUNDS_DIR / name).read_bytes(), name
