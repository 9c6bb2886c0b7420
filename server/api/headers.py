"""ASGI middleware that adds the security headers to every HTTP answer.

Every answer: `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`, and no
framing (`Content-Security-Policy: frame-ancestors 'none'`, plus `X-Frame-Options: DENY` for
old browsers) — the leaders' pages must not be clickjacked into pressing "Falsklarm".
Answers under the API prefix also get `Cache-Control: no-store`: who is safe and who needs
help where must not stay in a shared or browser cache. A header the app set itself wins.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALWAYS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", "frame-ancestors 'none'"),
    ("X-Frame-Options", "DENY"),
)
NOT_CACHED = (("Cache-Control", "no-store"),)


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, api_prefix: str) -> None:
        self.app = app
        self.api_prefix = api_prefix.rstrip("/") + "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = ALWAYS + NOT_CACHED if _under(scope["path"], self.api_prefix) else ALWAYS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra:
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _under(path: str, prefix: str) -> bool:
    return path.startswith(prefix) or path == prefix.rstrip("/")
