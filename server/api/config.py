"""What a client needs to know before it connects: where the WebSocket gateway is."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from protocol.messages import PROTOCOL_VERSION
from server.api.deps import SettingsDep

router = APIRouter(tags=["config"])


@router.get("/config")
async def client_config(request: Request, settings: SettingsDep) -> dict[str, Any]:
    """Public client configuration: the WebSocket URL, protocol version, languages."""
    return {
        "ws_url": ws_url(request, settings.ws_public_url),
        "protocol_version": PROTOCOL_VERSION,
        "languages": ["sv", "en"],
        "default_language": settings.default_language,
        "trigger_countdown_seconds": settings.trigger_countdown_seconds,
    }


def ws_url(request: Request, configured: str) -> str:
    """The configured public URL, else the gateway's own port on the host the client used."""
    if configured:
        return configured
    realtime = getattr(request.app.state, "realtime", None)
    port = realtime.gateway.port if realtime is not None else request.app.state.settings.ws_port
    scheme = "wss" if request.url.scheme == "https" else "ws"
    host = request.url.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}/"
