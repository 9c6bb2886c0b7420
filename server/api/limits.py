"""ASGI middleware that refuses request bodies over the configured size before reading them.

One limit for every request (`max_body_bytes`), and larger ones for named paths that take a
file (`overrides`: the people CSV import's `max_import_bytes`), so a bulk upload does not
raise the limit of every other endpoint."""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from protocol.vocabulary import Language
from server.api.errors import error_body
from server.core.languages import preferred_language
from server.errors import ERRORS


class BodyTooLarge(Exception):
    """Raised into the app when a body without Content-Length grows past the limit."""


class BodySizeLimit:
    def __init__(
        self, app: ASGIApp, *, max_bytes: int, overrides: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = dict(overrides or {})  # exact path -> its own limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.overrides.get(scope.get("path", ""), self.max_bytes)
        headers = dict(scope.get("headers", []))
        language = preferred_language(headers.get(b"accept-language", b"").decode("latin-1"))
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, language, limit)
            return
        received = 0
        too_large = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            if not too_large:  # the app's own answer to a body cut short is replaced below
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            pass
        if too_large:
            await self._refuse(send, language, limit)

    async def _refuse(self, send: Send, language: Language, limit: int) -> None:
        code = "request.too_large"
        body = json.dumps(error_body(code, language=language, detail=limit)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": ERRORS[code].status,
                "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body})
