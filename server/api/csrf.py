"""ASGI middleware against cross-site request forgery on the HTTP API.

An unsafe request (POST, PUT, PATCH, DELETE) under the API prefix that would be authenticated
by the session cookie — it carries the cookie and no `Authorization` header — must come from
an allowed origin (`server.origins`); otherwise it is refused with 403 `auth.bad_origin`
before any route runs, so nothing changes. Requests with a bearer token (devices, API keys,
native clients) carry no ambient credential and are not checked. Every refusal is logged.
"""

from __future__ import annotations

import json
import logging
from http.cookies import CookieError, SimpleCookie

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from server.api.errors import error_body
from server.core.languages import preferred_language
from server.credentials import SESSION_COOKIE
from server.errors import ERRORS
from server.origins import browser_request_allowed

log = logging.getLogger(__name__)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REFUSAL = "auth.bad_origin"


class CrossSiteGuard:
    def __init__(self, app: ASGIApp, *, api_prefix: str, allowed: frozenset[str]) -> None:
        self.app = app
        self.api_prefix = api_prefix.rstrip("/") + "/"
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._refused(scope):
            await _refuse(send, Headers(scope=scope).get("accept-language"))
            return
        await self.app(scope, receive, send)

    def _refused(self, scope: Scope) -> bool:
        if scope["method"] not in UNSAFE_METHODS or not scope["path"].startswith(self.api_prefix):
            return False
        headers = Headers(scope=scope)
        if "authorization" in headers or not _has_session_cookie(headers.get("cookie", "")):
            return False
        origin, fetch_site = headers.get("origin"), headers.get("sec-fetch-site")
        if browser_request_allowed(origin=origin, fetch_site=fetch_site, allowed=self.allowed):
            return False
        log.warning(
            "refused %s %s with the session cookie from origin %r (Sec-Fetch-Site %r)",
            scope["method"],
            scope["path"],
            origin,
            fetch_site,
        )
        return True


def _has_session_cookie(header: str) -> bool:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return SESSION_COOKIE in header
    return SESSION_COOKIE in jar


async def _refuse(send: Send, accept_language: str | None) -> None:
    """The error body every endpoint answers with, in the language the request prefers."""
    spec = ERRORS[REFUSAL]
    language = preferred_language(accept_language)
    body = json.dumps(error_body(REFUSAL, language=language)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": spec.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
