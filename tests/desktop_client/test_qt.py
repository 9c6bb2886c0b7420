"""The Qt presentation on the offscreen platform: the alarm on every screen in the kind's words
and colours, not closable without an answer, the banner, updates, the end views, drills, the
offline warning, the tray-less fallback, the trigger countdown and the sound's mute. Screens
are rendered with `grab()`; PDV_WRITE_SCREENSHOTS=1 saves them to docs/img/."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from desktop_client import views
from desktop_client.qt.alarm import AlarmScreens, AlarmWindow
from desktop_client.qt.countdown import TriggerCountdown
from desktop_client.qt.sound import AlarmSound
from desktop_client.qt.tray import OfflineWindow, Tray
from desktop_client.sounds import KIND_FILES, SOUNDS_DIR, TEST_FILE
from tests.desktop_client.test_views import alert

IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
SHOT_SIZE = (1280, 800)


def background(widget: QWidget) -> str:
    return widget.palette().color(QPalette.ColorRole.Window).name()


def text_colour(widget: QWidget) -> str:
    return widget.palette().color(QPalette.ColorRole.WindowText).name()


def screenshot(widget: QWidget, name: str, tmp_path: Path, size: tuple[int, int]) -> Path:
    """Render `widget` at `size`; saved under docs/img/ when PDV_WRITE_SCREENSHOTS=1."""
    widget.resize(*size)
    QGuiApplication.processEvents()
    image = widget.grab().toImage()
    assert (image.width(), image.height()) == size
    target = IMG if os.environ.get("PDV_WRITE_SCREENSHOTS") == "1" else tmp_path
    path = target / name
    assert image.save(str(path))
    return path


@pytest.fixture
def sound(qapp: Any) -> Iterator[AlarmSound]:
    player = AlarmSound()
    yield player
    player.stop()


@pytest.fixture
def screens(qtbot: QtBot, sound: AlarmSound) -> Iterator[list[AlarmScreens]]:
    made: list[AlarmScreens] = []
    yield made
    for alarm in made:
        alarm.close()


def open_alarm(
    qtbot: QtBot,
    made: list[AlarmScreens],
    document: dict[str, Any],
    sound: AlarmSound,
    language: str = "sv",
    copies: int = 1,
) -> AlarmScreens:
    """An alarm over `copies` times the offscreen platform's screen(s), shown, on screen."""
    alarm = AlarmScreens(
        document, language, sound=sound, screens=QGuiApplication.screens() * copies, end_ms=50
    )
    made.append(alarm)
    with qtbot.waitSignal(alarm.shown, timeout=5000) as shown:
        alarm.show()
    assert shown.args == [document["id"]]
    return alarm


def test_alarm_covers_every_screen_with_the_order_in_the_kinds_colours(
    qtbot: QtBot, screens: list[AlarmScreens], sound: AlarmSound, tmp_path: Path
) -> None:
    """Each screen gets a frameless, always-on-top, full-screen window with the order,
    instructions and answers in Swedish, in the PDV colours, and the PDV sound loops."""
    alarm = open_alarm(qtbot, screens, alert(), sound, copies=2)
    assert len(alarm.windows) == 2
    colours = views.KIND_COLOURS["pdv_lockdown"]
    for window in alarm.windows:
        flags = window.windowFlags()
        assert flags & Qt.WindowType.FramelessWindowHint
        assert flags & Qt.WindowType.WindowStaysOnTopHint
        assert window.isFullScreen() or window.windowState() & Qt.WindowState.WindowFullScreen
        assert window.geometry() == window.screen().geometry()
        assert window.title_label.text() == "INRYMNING"
        assert window.order_label.text() == "INRYMNING – lås in er och göm er"
        assert window.instructions_label.text() == "Lås dörren, släck, var tyst."
        assert [b.text() for b in window.buttons.values()] == [
            "Jag är i säkerhet",
            "Behöver hjälp",
            "Inte på plats",
        ]
        assert window.mute_button.text() == "Tyst"
        assert (background(window), text_colour(window)) == (
            colours.background,
            colours.foreground,
        )
        assert colours.background in window.buttons["safe"].styleSheet()
        assert window.drill_band.isHidden()
    assert sound.playing_kind == "pdv_lockdown"
    screenshot(alarm.windows[0], "desktop-alarm-window.png", tmp_path, SHOT_SIZE)


def test_the_hint_in_the_answer_fields_is_drawn_dark_enough(
    qtbot: QtBot, screens: list[AlarmScreens], sound: AlarmSound
) -> None:
    """The empty room field draws "Rum (valfritt)" in views.PLACEHOLDER (7:1 on white),
    not the style sheet's half-transparent grey."""
    alarm = open_alarm(qtbot, screens, alert(), sound)
    edit = alarm.windows[0].location_edit
    edit.resize(400, 60)
    image = edit.grab().toImage()
    colours = {
        image.pixelColor(x, y).name() for x in range(image.width()) for y in range(image.height())
    }
    assert views.PLACEHOLDER in colours  # at half opacity the darkest would be #7f7f7f


def test_every_control_has_an_accessible_name_and_a_tab_order(
    qtbot: QtBot, screens: list[AlarmScreens], sound: AlarmSound
) -> None:
    """Buttons and fields carry accessible names; Tab walks answers, room, note, mute."""
    window = open_alarm(qtbot, screens, alert(), sound, language="en").windows[0]
    controls: list[QWidget] = [
        *window.buttons.values(),
        window.location_edit,
        window.note_edit,
        window.mute_button,
    ]
    assert all(control.accessibleName() for control in controls)
    assert window.location_edit.accessibleName() == "Room (optional)"
    for first, second in itertools.pairwise(controls):
        assert first.nextInFocusChain() is second


def test_alarm_cannot_be_closed_or_escaped_without_an_answer(
    qtbot: QtBot, screens: list[AlarmScreens], sound: AlarmSound
) -> None:
    """close() and Escape leave the alarm window on screen."""
    window = open_alarm(qtbot, screens, alert(), sound).windows[0]
    assert window.close() is False
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert window.isVisible()


def test_answer_by_keyboard_emits_answered_and_shrinks_to_the_banner(
    qtbot: QtBot, screens: list[AlarmScreens], sound: AlarmSound, tmp_path: Path
) -> None:
    """Typing a room and a note and pressing Enter on "Behöver hjälp" emits the answer with
    them, closes the full-screen windows, stops the sound and shows the banner on top."""
    alarm = open_alarm(qtbot, screens, alert(), sound, copies=2)
    window = alarm.windows[0]
    qtbot.keyClicks(window.location_edit, "B204")
    qtbot.keyClicks(window.note_edit, "En elev skadad")
    with qtbot.waitSignal(alarm.answered) as answered:
        qtbot.keyClick(window.buttons["need_help"], Qt.Key.Key_Return)
    assert answered.args == [7, "need_help", "En elev skadad", "B204"]
    assert alarm.windows == []
    assert alarm.banner is not None and alarm.banner.isVisible()
    assert alarm.banner.windowFlags() & Qt.WindowType.WindowStaysOnTopHint
    assert alarm.banner.order_label.text() == "INRYMNING – lås in er och göm er"
    assert alarm.banner.answered_label.text() == "Du svarade: behöver hjälp"
    assert alarm.banner.close() is False
    assert sound.playing_kind is None
    screenshot(alarm.banner, "desktop-banner.png", tmp_path, (SHOT_SIZE[0], 100))


def test_space_presses_the_focused_answer(
    qtbot: QtBot, screens: list[AlarmScreens], sound: AlarmSound
) -> None:
    """Space on a focused answer button answers with it."""
    alarm = open_alarm(qtbot, screens, alert(), sound)
    with qtbot.waitSignal(alarm.answered) as answered:
        qtbot.keyClick(alarm.windows[0].buttons["safe"], Qt.Key.Key_Space)
    assert answered.args == [7, "safe", "", ""]


def test_update_replaces_the_order_in_window_and_banner(
    qtbot: QtBot, screens: list[AlarmScreens], sound: AlarmSound
) -> None:
    """An updated order replaces the shown one, before and after the answer."""
    alarm = open_alarm(qtbot, screens, alert(), sound)
    alarm.update(alert(order={"sv": "Stanna inne, polis på plats", "en": "Stay in"}))
    assert alarm.windows[0].order_label.text() == "Stanna inne, polis på plats"
    alarm.windows[0].buttons["safe"].click()
    alarm.update(alert(order={"sv": "Gärningspersonen gripen", "en": "Suspect arrested"}))
    assert alarm.banner is not None
    assert alarm.banner.order_label.text() == "Gärningspersonen gripen"


def test_a_new_kind_after_the_answer_brings_the_full_screen_alarm_back(
    qtbot: QtBot, screens: list[AlarmScreens], sound: AlarmSound
) -> None:
    """Inrymning turned into utrymning after the answer covers the screens again, in the
    evacuate colours, with its sound."""
    alarm = open_alarm(qtbot, screens, alert(), sound)
    alarm.windows[0].buttons["safe"].click()
    alarm.update(alert(kind="evacuate", order={"sv": "UTRYMNING – lämna byggnaden"}))
    assert alarm.banner is None and len(alarm.windows) == 1
    window = alarm.windows[0]
    assert window.title_label.text() == "UTRYMNING"
    assert background(window) == views.KIND_COLOURS["evacuate"].background
    assert sound.playing_kind == "evacuate"


@pytest.mark.parametrize(
    ("state", "title", "colours"),
    [
        ("resolved", "Faran över", views.RESOLVED_COLOURS),
        ("cancelled", "Falsklarm", views.CANCELLED_COLOURS),
    ],
)
def test_end_view_shows_then_closes(
    qtbot: QtBot,
    screens: list[AlarmScreens],
    sound: AlarmSound,
    state: str,
    title: str,
    colours: views.Colours,
) -> None:
    """Resolve shows "Faran över" (in capitals) in green (cancel "Falsklarm") without
    answers, stops the sound, then every window closes and `finished` is emitted."""
    alarm = open_alarm(qtbot, screens, alert(), sound)
    window = alarm.windows[0]
    with qtbot.waitSignal(alarm.finished, timeout=5000) as finished:
        alarm.update(alert(state=state))
        assert window.title_label.text() == title
        capitals = window.title_label.font().capitalization()
        assert capitals == QFont.Capitalization.AllUppercase  # drawn as FARAN ÖVER
        assert background(window) == colours.background
        assert all(button.isHidden() for button in window.buttons.values())
        assert sound.playing_kind is None
    assert finished.args == [7]
    assert alarm.windows == [] and alarm.banner is None


def test_end_after_the_answer_shows_in_the_banner(
    qtbot: QtBot, screens: list[AlarmScreens], sound: AlarmSound
) -> None:
    """An alert resolved after the answer turns the banner into "Faran över" before closing."""
    alarm = open_alarm(qtbot, screens, alert(), sound)
    alarm.windows[0].buttons["safe"].click()
    banner = alarm.banner
    assert banner is not None
    with qtbot.waitSignal(alarm.finished, timeout=5000):
        alarm.update(alert(state="resolved"))
        assert banner.title_label.text().endswith("Faran över")
        assert background(banner) == views.RESOLVED_COLOURS.background


def test_drill_shows_ovning(
    qtbot: QtBot, screens: list[AlarmScreens], sound: AlarmSound, tmp_path: Path
) -> None:
    """A drill shows the striped ÖVNING band and note on the alarm and ÖVNING on the banner."""
    document = alert(
        mode="drill",
        instructions={"sv": "Lås dörren, släck, var tyst. Håll er borta från fönster."},
    )
    alarm = open_alarm(qtbot, screens, document, sound)
    window = alarm.windows[0]
    assert window.drill_band.isVisible() and window.drill_band.text == "ÖVNING"
    assert window.drill_band.accessibleName() == "ÖVNING"
    assert "övning" in window.drill_note_label.text()
    screenshot(window, "desktop-alarm-drill.png", tmp_path, SHOT_SIZE)
    window.buttons["safe"].click()
    assert alarm.banner is not None
    assert alarm.banner.drill_label.isVisible()
    assert alarm.banner.drill_label.text() == "ÖVNING"


def test_mute_stops_the_sound_and_unmute_restarts_it(
    qtbot: QtBot, screens: list[AlarmScreens], sound: AlarmSound
) -> None:
    """ "Tyst" mutes the loop (the effect muted, nothing playing) and says "Ljud på"; pressing
    it again plays the kind's loop again."""
    alarm = open_alarm(qtbot, screens, alert(kind="secure"), sound)
    qtbot.waitUntil(lambda: sound.loaded)  # just after the window's first paint
    effect = sound.effect
    assert effect is not None and effect.source().toLocalFile().endswith("secure.wav")
    window = alarm.windows[0]
    window.mute_button.click()
    assert sound.muted and sound.playing_kind is None and effect.isMuted()
    assert window.mute_button.text() == "Ljud på"
    window.mute_button.click()
    assert sound.playing_kind == "secure" and not effect.isMuted()


def test_the_player_loads_on_first_use_and_sounds_without_a_window(qtbot: QtBot) -> None:
    """QtMultimedia is not loaded until a sound is wanted; a play() whose window never
    paints still loads the player and sets the kind's loop (LOAD_AT_THE_LATEST_MS), and a
    mute set before loading holds once loaded."""
    player = AlarmSound()
    assert not player.loaded and player.effect is None
    player.play("evacuate")
    player.mute()
    assert not player.loaded and player.kind == "evacuate" and player.playing_kind is None
    qtbot.waitUntil(lambda: player.loaded)
    effect = player.effect
    assert effect is not None and effect.source().toLocalFile().endswith("evacuate.wav")
    assert effect.isMuted()
    player.stop()
    assert player.playing_kind is None and not effect.isMuted()


def test_sound_files_are_bundled_per_kind(qapp: Any) -> None:
    """Each kind's loop and the test chime exist, and the player loads the kind's file."""
    for name in [*KIND_FILES.values(), TEST_FILE]:
        assert (SOUNDS_DIR / name).stat().st_size > 10_000
    player = AlarmSound()
    player.test()  # loads the player at once; no audio device here: logs, does not raise
    assert player.loaded
    effect = player.effect
    assert effect is not None
    player.play("evacuate")
    assert effect.source().toLocalFile().endswith("evacuate.wav")
    player.play("meteor")
    assert effect.source().toLocalFile().endswith("custom.wav")
    player.stop()
    assert player.playing_kind is None


def test_offline_window_says_not_connected(qtbot: QtBot, tmp_path: Path) -> None:
    """The offline warning is a visible, always-on-top window with the text and a retry."""
    window = OfflineWindow(views.offline_view("sv", server="https://larm.skola.se"))
    qtbot.addWidget(window)
    window.present()
    assert window.isVisible()
    assert window.windowFlags() & Qt.WindowType.WindowStaysOnTopHint
    assert window.title_label.text() == "Du är inte ansluten till larmsystemet"
    assert background(window) == views.OFFLINE_COLOURS.background
    with qtbot.waitSignal(window.retry):
        qtbot.keyClick(window.retry_button, Qt.Key.Key_Return)
    screenshot(window, "desktop-offline.png", tmp_path, (720, 400))
    window.set_view(views.offline_view("sv", revoked=True))
    assert window.title_label.text() == "Enheten är borttagen – registrera igen"
    assert window.retry_button.isHidden()


def test_without_a_system_tray_a_fallback_window_offers_the_same_functions(
    qtbot: QtBot,
) -> None:
    """Offscreen has no tray: the Tray shows a normal window with status and the menu's
    functions, which emit the same signals; closing it only minimizes it."""
    tray = Tray(views.tray_view(connected=True, server="https://larm.skola.se"), can_trigger=True)
    assert tray.icon is None and tray.fallback is not None
    window = tray.fallback
    qtbot.addWidget(window)
    tray.show()
    assert window.isVisible()
    assert window.status_label.text().startswith("Ansluten")
    assert window.test_button.text() == "Testa larmljud"
    with qtbot.waitSignal(tray.test_sound_requested):
        window.test_button.click()
    with qtbot.waitSignal(tray.trigger_requested):
        window.trigger_button.click()
    with qtbot.waitSignal(tray.language_requested) as language:
        window.language_box.activated.emit(window.language_box.findData("en"))
    assert language.args == ["en"]
    tray.set_can_trigger(False)
    assert window.trigger_button.isHidden()
    assert window.close() is False


def test_tray_menu_and_flashing_icon(qtbot: QtBot) -> None:
    """With a tray the menu holds status, test sound, trigger (only when allowed), languages,
    about and quit; an active alert flashes the icon on its timer and stops when it ends."""
    tray = Tray(views.tray_view(connected=False), tray_available=True, flash_ms=10)
    assert tray.icon is not None and tray.fallback is None
    assert not tray.trigger_action.isVisible()
    texts = [action.text() for action in tray.menu.actions() if action.text()]
    assert texts[:2] == [tray.view.status, "Testa larmljud"]
    assert "Språk" in texts and "Avsluta" in texts
    down = tray.current_pixmap().toImage().pixelColor(32, 6).name()
    assert down == views.TRAY_ICON[views.TrayState.DISCONNECTED][0]
    tray.set_view(views.tray_view(connected=True, alert_active=True))
    qtbot.waitUntil(lambda: tray.flash_on, timeout=2000)
    qtbot.waitUntil(lambda: not tray.flash_on, timeout=2000)
    tray.set_view(views.tray_view(connected=True))
    assert not tray.flash_on
    with qtbot.waitSignal(tray.quit_requested):
        tray.quit_action.trigger()


def test_countdown_completes(qtbot: QtBot) -> None:
    """Left alone, the countdown ticks down and emits `confirmed` once, never `cancelled`."""
    countdown = TriggerCountdown(3, tick_ms=5)
    qtbot.addWidget(countdown)
    assert countdown.seconds_label.text() == "3 s"
    with (
        qtbot.assertNotEmitted(countdown.cancelled),
        qtbot.waitSignal(countdown.confirmed, timeout=5000),
    ):
        countdown.start()
    assert countdown.done_with == "confirmed" and not countdown.isVisible()


def test_countdown_cancelled_by_escape_never_confirms(qtbot: QtBot) -> None:
    """Escape (Avbryt is the focused default) cancels; the trigger is never confirmed."""
    countdown = TriggerCountdown(30, tick_ms=60_000)
    qtbot.addWidget(countdown)
    countdown.start()
    assert countdown.cancel_button.text() == "Avbryt"
    with qtbot.waitSignal(countdown.cancelled):
        qtbot.keyClick(countdown, Qt.Key.Key_Escape)
    countdown._tick()  # a late tick after cancelling changes nothing
    assert countdown.done_with == "cancelled"


def test_countdown_cancel_button(qtbot: QtBot) -> None:
    """Clicking Avbryt emits `cancelled`."""
    countdown = TriggerCountdown(5, language="en", tick_ms=60_000)
    qtbot.addWidget(countdown)
    countdown.start()
    with qtbot.waitSignal(countdown.cancelled):
        countdown.cancel_button.click()
    assert countdown.done_with == "cancelled"


def test_alarm_window_alone_ignores_answers_once_ended(qtbot: QtBot) -> None:
    """An AlarmWindow showing an end view emits no answer and may be closed."""
    window = AlarmWindow(views.alarm_view(alert(state="cancelled")))
    qtbot.addWidget(window)
    with qtbot.assertNotEmitted(window.answered):
        window.buttons["safe"].click()
    window.show()
    assert window.close() is True
