"""What a client needs to know before it connects: where the WebSocket gateway is, and the
VAPID public key a browser subscribes to Web Push with."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter

from protocol.messages import PROTOCOL_VERSION
from server.api.deps import GatewayPortDep, SettingsDep
from server.settings import Settings
from server.vapid import public_vapid_key

router = APIRouter(tags=["config"])
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})  # listen everywhere: not an address to dial


@router.get("/config")
async def client_config(settings: SettingsDep, gateway_port: GatewayPortDep) -> dict[str, Any]:
    """Public client configuration: the WebSocket URL, protocol version, languages, and
    `vapid_public_key` (base64url without padding of the uncompressed P-256 point, the
    browser's `applicationServerKey`; null when the server has no Web Push key)."""
    port = settings.ws_port if gateway_port is None else gateway_port
    return {
        "ws_url": public_ws_url(settings, gateway_port=port),
        "protocol_version": PROTOCOL_VERSION,
        "languages": ["sv", "en"],
        "default_language": settings.default_language,
        "trigger_countdown_seconds": settings.trigger_countdown_seconds,
        "vapid_public_key": public_vapid_key(settings),
    }


def public_ws_url(settings: Settings, *, gateway_port: int) -> str:
    """The WebSocket address every client is told: `ws_public_url` when set; else the proxy's
    `/ws` on the host of `public_url` (wss for https); else, in development without a public
    URL, the gateway's own port on `ws_host`/`host`. Never the request's Host header: a
    forged or internal Host must not send phones and tray clients to the wrong place."""
    if settings.ws_public_url:
        return settings.ws_public_url
    if settings.public_url:
        public = urlsplit(settings.public_url)
        scheme = "wss" if public.scheme == "https" else "ws"
        return urlunsplit((scheme, public.netloc, "/ws", "", ""))
    host = settings.ws_host or settings.host
    if host in WILDCARD_HOSTS:
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"ws://{host}:{gateway_port}/"
