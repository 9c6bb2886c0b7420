"""The first-start enrollment window's logic, without Qt: what the person typed (server
address, code, this computer's name) is checked and normalized here, and a failed enrollment
becomes one clear sentence in the person's language. desktop_client/qt/enrollment.py only
renders `enroll_form_view()` and calls `check_form()` and `failure_text()`."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from desktop_client import texts
from desktop_client.server_api import ApiError

CODE_MAX = 64  # the server's limit (server/storage/enrollment.py): longer is never a code
NAME_MAX = 200  # the server's limit on a device name
FIELDS = ("server", "code", "name")


@dataclass(frozen=True, slots=True)
class EnrollForm:
    """A filled-in form that passed `check_form()`: ready for `enroll()`."""

    server_url: str
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class FormCheck:
    """`form` when every field is right, else `problems`: field → the sentence to show."""

    form: EnrollForm | None
    problems: dict[str, str]


def normalize_server_url(typed: str) -> str | None:
    """The server's base URL from what was typed, or None when it cannot be one. A bare host
    ("larm.skola.se") means https; only http and https, no query or fragment; the trailing
    slash goes."""
    typed = typed.strip()
    if not typed or any(c.isspace() for c in typed):
        return None
    if "://" not in typed:
        typed = "https://" + typed
    try:
        parts = urllib.parse.urlsplit(typed)
        port = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.query or parts.fragment or parts.username or parts.password:
        return None
    del port
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def check_form(server: str, code: str, name: str, language: str) -> FormCheck:
    """Check the three fields; nothing is sent unless all are right."""
    problems: dict[str, str] = {}
    url = normalize_server_url(server)
    if url is None:
        problems["server"] = texts.text(texts.ENROLL_BAD_SERVER, language)
    code = code.strip()
    if not code or len(code) > CODE_MAX:
        problems["code"] = texts.text(texts.ENROLL_BAD_CODE, language)
    name = " ".join(name.split())
    if not name or len(name) > NAME_MAX:
        problems["name"] = texts.text(texts.ENROLL_BAD_NAME, language)
    if problems or url is None:
        return FormCheck(form=None, problems=problems)
    return FormCheck(form=EnrollForm(server_url=url, code=code, name=name), problems={})


# The server's error codes (docs/api.md) that get their own sentence; any other code is shown
# with the server's own message.
_FAILURES = {
    "enrollment.invalid_code": texts.ENROLL_INVALID_CODE,
    "enrollment.wrong_device_kind": texts.ENROLL_WRONG_KIND,
    "network.unreachable": texts.ENROLL_UNREACHABLE,
    "network.bad_response": texts.ENROLL_NOT_A_SERVER,
}


def failure_text(error: ApiError, language: str) -> str:
    """One sentence saying why enrolling failed and what to do."""
    key = _FAILURES.get(error.code)
    if key is not None:
        return texts.text(key, language)
    return texts.text(texts.ENROLL_FAILED, language).format(error=error.message or error.code)


@dataclass(frozen=True, slots=True)
class EnrollFormView:
    """The enrollment window's words."""

    title: str
    intro: str
    server: str
    server_hint: str
    code: str
    name: str
    button: str
    working: str
    language: str
    languages: tuple[tuple[str, str], ...]


def enroll_form_view(language: str) -> EnrollFormView:
    t = texts.text
    return EnrollFormView(
        title=t(texts.ENROLL_TITLE, language),
        intro=t(texts.ENROLL_INTRO, language),
        server=t(texts.ENROLL_SERVER, language),
        server_hint=t(texts.ENROLL_SERVER_HINT, language),
        code=t(texts.ENROLL_CODE, language),
        name=t(texts.ENROLL_NAME, language),
        button=t(texts.ENROLL_BUTTON, language),
        working=t(texts.ENROLL_WORKING, language),
        language="en" if language == "en" else "sv",
        languages=(("sv", t(texts.LANGUAGE_SV, language)), ("en", t(texts.LANGUAGE_EN, language))),
    )
