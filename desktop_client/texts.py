"""Every text the desktop client shows, in Swedish (the default) and English.

`text(key, language)` answers the text of `key` in `language` ("sv" or "en"; anything else
reads as Swedish). Keys are the module constants below; a few texts hold `{name}`
placeholders, filled with `text(...).format(...)`:

    tray / status        TRAY_CONNECTED, TRAY_DISCONNECTED, TRAY_ALERT,
                         STATUS_SERVER ({server}), STATUS_DEVICE ({device}),
                         STATUS_LAST_CONTACT ({when}), STATUS_NEVER, STATUS_CONNECTED,
                         STATUS_NOT_CONNECTED, STATUS_NOT_ENROLLED
    offline / stopped    OFFLINE_TITLE, OFFLINE_WHAT_TO_DO, REVOKED, REVOKED_WHAT_TO_DO,
                         TRY_AGAIN
    alarm window         KIND_PDV_LOCKDOWN, KIND_EVACUATE, KIND_SECURE, KIND_CUSTOM (keys
                         "kind.<kind>"), DRILL (ÖVNING), DRILL_NOTE, MUTE (Tyst), UNMUTE,
                         ANSWER_PROMPT, ANSWER_SAFE, ANSWER_NEED_HELP, ANSWER_NOT_ON_SITE,
                         ANSWER_ROOM, ANSWER_NOTE, ANSWER_CHANGE, ANSWERED_SAFE, ANSWERED_NEED_HELP,
                         ANSWERED_NOT_ON_SITE (keys "answered.<response>"),
                         ALL_CLEAR (Faran över), ALL_CLEAR_BODY, FALSE_ALARM (Falsklarm),
                         FALSE_ALARM_BODY
    trigger              TRIGGER_COUNTDOWN_TITLE, TRIGGER_COUNTDOWN_BODY,
                         TRIGGER_SECONDS ({seconds}), TRIGGER_CANCEL, TRIGGER_FAILED ({error})
    menu                 MENU_STATUS, MENU_TEST_SOUND (Testa larmljud), MENU_TRIGGER (Larma),
                         MENU_LANGUAGE, MENU_ABOUT, MENU_QUIT, LANGUAGE_SV, LANGUAGE_EN,
                         TRAY_WINDOW_TITLE,
                         ABOUT ({version}, {server}, {device})
    enrollment window    ENROLL_TITLE, ENROLL_INTRO, ENROLL_SERVER, ENROLL_SERVER_HINT,
                         ENROLL_CODE, ENROLL_NAME, ENROLL_BUTTON, ENROLL_WORKING,
                         ENROLL_BAD_SERVER, ENROLL_BAD_CODE, ENROLL_BAD_NAME,
                         ENROLL_INVALID_CODE, ENROLL_WRONG_KIND, ENROLL_UNREACHABLE,
                         ENROLL_NOT_A_SERVER, ENROLL_FAILED ({error})
    command line         PYSIDE_MISSING, ENROLLED ({device}), ALREADY_RUNNING
"""

from __future__ import annotations

from typing import Final

TRAY_CONNECTED: Final = "tray.connected"
TRAY_DISCONNECTED: Final = "tray.disconnected"
TRAY_ALERT: Final = "tray.alert"
STATUS_SERVER: Final = "status.server"
STATUS_DEVICE: Final = "status.device"
STATUS_LAST_CONTACT: Final = "status.last_contact"
STATUS_NEVER: Final = "status.never"
STATUS_CONNECTED: Final = "status.connected"
STATUS_NOT_CONNECTED: Final = "status.not_connected"
STATUS_NOT_ENROLLED: Final = "status.not_enrolled"
OFFLINE_TITLE: Final = "offline.title"
OFFLINE_WHAT_TO_DO: Final = "offline.what_to_do"
REVOKED: Final = "stopped.revoked"
TRY_AGAIN: Final = "stopped.try_again"
DRILL: Final = "alarm.drill"
MUTE: Final = "alarm.mute"
UNMUTE: Final = "alarm.unmute"
ANSWER_SAFE: Final = "answer.safe"
ANSWER_NEED_HELP: Final = "answer.need_help"
ANSWER_NOT_ON_SITE: Final = "answer.not_on_site"
ANSWER_ROOM: Final = "answer.room"
ANSWER_NOTE: Final = "answer.note"
ALL_CLEAR: Final = "alarm.all_clear"
FALSE_ALARM: Final = "alarm.false_alarm"
TRIGGER_CANCEL: Final = "trigger.cancel"
TRIGGER_FAILED: Final = "trigger.failed"
MENU_STATUS: Final = "menu.status"
MENU_TEST_SOUND: Final = "menu.test_sound"
MENU_TRIGGER: Final = "menu.trigger"
MENU_LANGUAGE: Final = "menu.language"
MENU_ABOUT: Final = "menu.about"
MENU_QUIT: Final = "menu.quit"
LANGUAGE_SV: Final = "language.sv"
LANGUAGE_EN: Final = "language.en"
ENROLL_TITLE: Final = "enroll.title"
ENROLL_SERVER: Final = "enroll.server"
ENROLL_CODE: Final = "enroll.code"
ENROLL_NAME: Final = "enroll.name"
ENROLL_BUTTON: Final = "enroll.button"
ENROLL_FAILED: Final = "enroll.failed"
ENROLL_INTRO: Final = "enroll.intro"
ENROLL_SERVER_HINT: Final = "enroll.server_hint"
ENROLL_WORKING: Final = "enroll.working"
ENROLL_BAD_SERVER: Final = "enroll.bad_server"
ENROLL_BAD_CODE: Final = "enroll.bad_code"
ENROLL_BAD_NAME: Final = "enroll.bad_name"
ENROLL_INVALID_CODE: Final = "enroll.invalid_code"
ENROLL_WRONG_KIND: Final = "enroll.wrong_kind"
ENROLL_UNREACHABLE: Final = "enroll.unreachable"
ENROLL_NOT_A_SERVER: Final = "enroll.not_a_server"
PYSIDE_MISSING: Final = "cli.pyside_missing"
ENROLLED: Final = "cli.enrolled"
ALREADY_RUNNING: Final = "cli.already_running"
KIND_PDV_LOCKDOWN: Final = "kind.pdv_lockdown"
KIND_EVACUATE: Final = "kind.evacuate"
KIND_SECURE: Final = "kind.secure"
KIND_CUSTOM: Final = "kind.custom"
DRILL_NOTE: Final = "alarm.drill_note"
ALL_CLEAR_BODY: Final = "alarm.all_clear_body"
FALSE_ALARM_BODY: Final = "alarm.false_alarm_body"
ANSWER_PROMPT: Final = "answer.prompt"
ANSWER_CHANGE: Final = "answer.change"
ANSWERED_SAFE: Final = "answered.safe"
ANSWERED_NEED_HELP: Final = "answered.need_help"
ANSWERED_NOT_ON_SITE: Final = "answered.not_on_site"
REVOKED_WHAT_TO_DO: Final = "stopped.revoked_what_to_do"
TRAY_WINDOW_TITLE: Final = "tray.window_title"
TRIGGER_COUNTDOWN_TITLE: Final = "trigger.countdown_title"
TRIGGER_COUNTDOWN_BODY: Final = "trigger.countdown_body"
TRIGGER_SECONDS: Final = "trigger.seconds"
ABOUT: Final = "menu.about_text"

LANGUAGES: Final = ("sv", "en")

# key: (Swedish, English)
TEXTS: Final[dict[str, tuple[str, str]]] = {
    TRAY_CONNECTED: ("Ansluten till larmsystemet", "Connected to the alert system"),
    TRAY_DISCONNECTED: ("INTE ANSLUTEN till larmsystemet", "NOT CONNECTED to the alert system"),
    TRAY_ALERT: ("LARM PÅGÅR", "ALERT IN PROGRESS"),
    STATUS_SERVER: ("Server: {server}", "Server: {server}"),
    STATUS_DEVICE: ("Enhet: {device}", "Device: {device}"),
    STATUS_LAST_CONTACT: ("Senaste kontakt: {when}", "Last contact: {when}"),
    STATUS_NEVER: ("aldrig", "never"),
    STATUS_CONNECTED: ("ansluten", "connected"),
    STATUS_NOT_CONNECTED: ("inte ansluten", "not connected"),
    STATUS_NOT_ENROLLED: (
        "Enheten är inte registrerad. Kör pdv-alert-desktop --server URL --enroll KOD.",
        "This device is not enrolled. Run pdv-alert-desktop --server URL --enroll CODE.",
    ),
    OFFLINE_TITLE: (
        "Du är inte ansluten till larmsystemet",
        "You are not connected to the alert system",
    ),
    OFFLINE_WHAT_TO_DO: (
        "Larm når inte den här datorn just nu. Kontrollera att datorn har nätverk. "
        "Hjälper inte det: kontakta IT-supporten. Vid fara: larma på annat sätt "
        "(telefon, muntligt) – vänta inte på datorn.",
        "Alerts cannot reach this computer right now. Check that the computer is on "
        "the network. If that does not help, contact IT support. In danger, raise the alarm "
        "another way (phone, in person) – do not wait for the computer.",
    ),
    REVOKED_WHAT_TO_DO: (
        "Den här datorn får inga larm. Be IT-supporten om en ny registreringskod.",
        "This computer receives no alerts. Ask IT support for a new enrollment code.",
    ),
    REVOKED: (
        "Enheten är borttagen – registrera igen",
        "This device was removed – enroll it again",
    ),
    TRY_AGAIN: ("Försök igen nu", "Try again now"),
    DRILL: ("ÖVNING", "DRILL"),
    MUTE: ("Tyst", "Mute"),
    UNMUTE: ("Ljud på", "Sound on"),
    ANSWER_SAFE: ("Jag är i säkerhet", "I am safe"),
    ANSWER_NEED_HELP: ("Behöver hjälp", "Need help"),
    ANSWER_NOT_ON_SITE: ("Inte på plats", "Not on site"),
    ANSWER_ROOM: ("Rum (valfritt)", "Room (optional)"),
    ANSWER_NOTE: ("Meddelande (valfritt)", "Message (optional)"),
    ALL_CLEAR: ("Faran över", "All clear"),
    FALSE_ALARM: ("Falsklarm", "False alarm"),
    TRIGGER_CANCEL: ("Avbryt", "Cancel"),
    TRIGGER_FAILED: ("Larmet kunde inte skickas: {error}", "The alert could not be sent: {error}"),
    MENU_STATUS: ("Status", "Status"),
    MENU_TEST_SOUND: ("Testa larmljud", "Test alarm sound"),
    MENU_TRIGGER: ("Larma", "Raise alert"),
    MENU_LANGUAGE: ("Språk", "Language"),
    MENU_ABOUT: ("Om pdv-alert", "About pdv-alert"),
    MENU_QUIT: ("Avsluta", "Quit"),
    LANGUAGE_SV: ("Svenska", "Svenska"),
    LANGUAGE_EN: ("English", "English"),
    ENROLL_TITLE: ("Registrera den här datorn", "Enroll this computer"),
    ENROLL_SERVER: ("Serveradress", "Server address"),
    ENROLL_CODE: ("Registreringskod", "Enrollment code"),
    ENROLL_NAME: ("Datorns namn", "Computer name"),
    ENROLL_BUTTON: ("Registrera", "Enroll"),
    ENROLL_FAILED: ("Registreringen misslyckades: {error}", "Enrollment failed: {error}"),
    ENROLL_INTRO: (
        "Den här datorn tar ännu inte emot larm. Fyll i serverns adress och koden från "
        "IT-supporten.",
        "This computer does not receive alerts yet. Enter the server address and the code "
        "from IT support.",
    ),
    ENROLL_SERVER_HINT: ("t.ex. https://larm.kommun.se", "e.g. https://alerts.example.org"),
    ENROLL_WORKING: ("Registrerar …", "Enrolling …"),
    ENROLL_BAD_SERVER: (
        "Skriv serverns adress, t.ex. https://larm.kommun.se.",
        "Enter the server's address, e.g. https://alerts.example.org.",
    ),
    ENROLL_BAD_CODE: (
        "Skriv registreringskoden från IT-supporten.",
        "Enter the enrollment code from IT support.",
    ),
    ENROLL_BAD_NAME: (
        "Ge datorn ett namn (högst 200 tecken), t.ex. Sal 12.",
        "Give the computer a name (at most 200 characters), e.g. Room 12.",
    ),
    ENROLL_INVALID_CODE: (
        "Koden gäller inte: den är fel skriven, redan använd eller för gammal. "
        "Be IT-supporten om en ny kod.",
        "The code is not valid: mistyped, already used or expired. Ask IT support for a new code.",
    ),
    ENROLL_WRONG_KIND: (
        "Koden är inte till för en dator. Be IT-supporten om en kod för datorer.",
        "The code is not for a computer. Ask IT support for a code for computers.",
    ),
    ENROLL_UNREACHABLE: (
        "Servern svarar inte. Kontrollera adressen och nätverket och försök igen.",
        "The server does not answer. Check the address and the network and try again.",
    ),
    ENROLL_NOT_A_SERVER: (
        "Adressen svarar, men inte som en larmserver. Kontrollera adressen.",
        "The address answers, but not as an alert server. Check the address.",
    ),
    PYSIDE_MISSING: (
        "pdv-alert-desktop: PySide6 saknas – installera paketet pdv-alert-desktop "
        "(PySide6-Essentials och PySide6-Addons).",
        "pdv-alert-desktop: PySide6 is missing – install the pdv-alert-desktop package "
        "(PySide6-Essentials and PySide6-Addons).",
    ),
    ENROLLED: ("Registrerad som {device}", "Enrolled as {device}"),
    ALREADY_RUNNING: ("pdv-alert-desktop körs redan", "pdv-alert-desktop is already running"),
    KIND_PDV_LOCKDOWN: ("INRYMNING", "LOCKDOWN"),
    KIND_EVACUATE: ("UTRYMNING", "EVACUATE"),
    KIND_SECURE: ("UTESTÄNGNING", "SECURE THE BUILDING"),
    KIND_CUSTOM: ("LARM", "ALERT"),
    DRILL_NOTE: (
        "Detta är en övning. Gör som vid ett riktigt larm.",
        "This is a drill. Act as in a real alert.",
    ),
    ALL_CLEAR_BODY: (
        "Larmet är avslutat. Följ personalens anvisningar.",
        "The alert has ended. Follow the staff's directions.",
    ),
    FALSE_ALARM_BODY: (
        "Larmet var ett misstag och är återkallat. Det finns ingen fara.",
        "The alert was a mistake and is withdrawn. There is no danger.",
    ),
    ANSWER_PROMPT: ("Svara:", "Answer:"),
    ANSWER_CHANGE: ("Ändra svar", "Change answer"),
    ANSWERED_SAFE: ("Du svarade: i säkerhet", "You answered: safe"),
    ANSWERED_NEED_HELP: ("Du svarade: behöver hjälp", "You answered: need help"),
    ANSWERED_NOT_ON_SITE: ("Du svarade: inte på plats", "You answered: not on site"),
    TRAY_WINDOW_TITLE: ("pdv-alert – larm", "pdv-alert – alerts"),
    TRIGGER_COUNTDOWN_TITLE: ("Larmet går ut om", "The alert goes out in"),
    TRIGGER_COUNTDOWN_BODY: (
        "Avbryt om du tryckte av misstag.",
        "Cancel if you pressed by mistake.",
    ),
    TRIGGER_SECONDS: ("{seconds} s", "{seconds} s"),
    ABOUT: (
        "pdv-alert-desktop {version}\nLarmklient för pågående dödligt våld och andra larm i "
        "skolan.\nServer: {server}\nEnhet: {device}\nFri programvara: pdv-alert.",
        "pdv-alert-desktop {version}\nAlert client for ongoing lethal violence and other "
        "school alerts.\nServer: {server}\nDevice: {device}\nFree software: pdv-alert.",
    ),
}


def text(key: str, language: str) -> str:
    """The text of `key` in `language` (Swedish unless "en"). Raises KeyError for a key that
    does not exist: a typo must fail in the tests, not show an empty label."""
    sv, en = TEXTS[key]
    return en if language == "en" else sv
