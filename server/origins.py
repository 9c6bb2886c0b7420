"""Which browser origins may act on this server: the HTTP API's unsafe requests made with the
session cookie (CSRF) and the WebSocket gateway's handshakes share this one rule.

Allowed: the origin of `public_url`, every entry of `allowed_origins`, and in development
only this node's own addresses (`http://127.0.0.1:<port>`, `http://localhost:<port>`,
`http://[::1]:<port>`). SameSite=Strict cookies alone do not stop a sibling subdomain of the
municipality, so the origin is checked as well.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from server.settings import Settings

LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
# Sec-Fetch-Site values that prove the request came from our own pages (or was typed in).
SAME_SITE_FETCHES = frozenset({"same-origin", "none"})


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL, lower-cased; empty for anything that isn't one."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_origins(settings: Settings) -> frozenset[str]:
    origins = {origin_of(entry) for entry in settings.allowed_origins}
    if settings.public_url:
        origins.add(origin_of(settings.public_url))
    if settings.environment == "development":
        origins.update(f"http://{host}:{settings.port}" for host in LOCAL_HOSTS)
    origins.discard("")
    return frozenset(origins)


def browser_request_allowed(
    *, origin: str | None, fetch_site: str | None, allowed: frozenset[str]
) -> bool:
    """May a request carrying these headers act with the caller's cookie? Browsers send
    `Origin` on every unsafe request; when it is missing, `Sec-Fetch-Site` must say the
    request is our own. A client that sends neither is not a browser (no CSRF there)."""
    if origin is not None:
        return origin.strip().lower() in allowed
    if fetch_site is not None:
        return fetch_site.strip().lower() in SAME_SITE_FETCHES
    return True
