"""The web pages: the staff PWA at `/`, the leaders' dashboard at `/dashboard`, and what a
browser needs around them (manifest, service worker, icons, scripts and styles).

Everything is a static file from `server/web/` — no build step, no template: the pages read
their data from the HTTP API and the WebSocket like any other client. What the server adds is
the Content-Security-Policy: no inline script or style, nothing from another origin, and
`connect-src` naming the WebSocket gateway the clients are told about (`/api/v1/config`'s
`ws_url`, often another port). Files are revalidated on every load (`no-cache` with an ETag),
so an upgrade reaches every browser at once — stale code in an alarm is not an option.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from server.api.config import public_ws_url
from server.api.deps import GatewayPortDep, SettingsDep
from server.settings import Settings

WEB = Path(__file__).resolve().parent.parent / "web"
STATIC_DIRS = frozenset({"css", "js", "icons", "vendor"})
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webmanifest": "application/manifest+json",
    ".json": "application/json",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
}
REVALIDATE = "no-cache"

router = APIRouter(include_in_schema=False)


def content_security_policy(settings: Settings, *, gateway_port: int | None) -> str:
    """The page's policy: only this origin, plus the advertised WebSocket gateway."""
    port = settings.ws_port if gateway_port is None else gateway_port
    ws = urlsplit(public_ws_url(settings, gateway_port=port))
    ws_origin = f"{ws.scheme}://{ws.netloc}".lower()
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "font-src 'self'",
            "media-src 'self'",
            f"connect-src 'self' {ws_origin}",
            "worker-src 'self'",
            "manifest-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def _file(path: Path, *, csp: str | None = None) -> FileResponse:
    headers = {"Cache-Control": REVALIDATE}
    if csp is not None:
        headers["Content-Security-Policy"] = csp
    media_type = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
    return FileResponse(path, media_type=media_type, headers=headers)


def _page(name: str, settings: Settings, gateway_port: int | None) -> FileResponse:
    csp = content_security_policy(settings, gateway_port=gateway_port)
    return _file(WEB / name, csp=csp)


@router.get("/")
@router.get("/enroll")
async def pwa(settings: SettingsDep, gateway_port: GatewayPortDep) -> FileResponse:
    """The staff app for phones, iPads and Chromebooks, also where enrollment links and QR
    codes point (`/enroll?code=…`: the PWA reads the code)."""
    return _page("index.html", settings, gateway_port)


@router.get("/dashboard")
async def dashboard(settings: SettingsDep, gateway_port: GatewayPortDep) -> FileResponse:
    """The leaders' dashboard."""
    return _page("dashboard.html", settings, gateway_port)


@router.get("/sw.js")
async def service_worker(settings: SettingsDep, gateway_port: GatewayPortDep) -> FileResponse:
    """The service worker, at the root so its scope is the whole origin."""
    return _page("sw.js", settings, gateway_port)


@router.get("/manifest.webmanifest")
async def manifest() -> FileResponse:
    """The PWA's manifest (name, icons, start URL, display)."""
    return _file(WEB / "manifest.webmanifest")


@router.get("/static/{folder}/{name:path}")
async def static(
    folder: Annotated[str, PathParam(max_length=32)],
    name: Annotated[str, PathParam(max_length=200)],
) -> FileResponse:
    """Scripts, styles, icons and vendored files under server/web/; nothing else is served."""
    return _file(_static_path(folder, name))


@router.get("/static/protocol.js")
async def protocol_js() -> FileResponse:
    """The wire protocol's JavaScript mirror, shared by the PWA and the dashboard."""
    return _file(WEB / "protocol.js")


def _static_path(folder: str, name: str) -> Path:
    """A file inside one of the static folders, or 404: no `..`, no hidden files."""
    if folder not in STATIC_DIRS:
        raise HTTPException(status_code=404)
    base = (WEB / folder).resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        raise HTTPException(status_code=404)
    if any(part.startswith(".") for part in path.relative_to(base).parts):
        raise HTTPException(status_code=404)
    return path
