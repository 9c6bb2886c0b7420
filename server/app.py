"""The ASGI application: routers, error table, limits and the lifecycle of its resources."""

from __future__ import annotations

import gc
import importlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi_offline import FastAPIOffline

from server.api import errors
from server.api.csrf import CrossSiteGuard
from server.api.headers import SecurityHeaders
from server.api.limits import BodySizeLimit
from server.origins import allowed_origins
from server.realtime.service import Realtime
from server.settings import Settings
from server.storage.database import Database

API_PREFIX = "/api/v1"
DOCS_ASSETS = "/docs-assets"
# server/api/<module>.py each exports `router`; order is the order in the OpenAPI docs.
ROUTERS = (
    "health",
    "config",
    "auth",
    "alerts",
    "rollcall",
    "presence",
    "sites",
    "persons",
    "devices",
    "enrollment",
    "api_keys",
    "audit",
    "organization",
)


def create_app(
    settings: Settings, *, database: Database | None = None, realtime: bool = True
) -> FastAPI:
    """Build the app. With `database` given the caller owns it; otherwise the app opens one
    from `settings.database_url` at start-up and closes it at shutdown. With `realtime` the
    lifespan also runs the WebSocket gateway, hub, bus and receipt writer."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if database is None:
                app.state.database = await stack.enter_async_context(
                    Database(settings.database_url)
                )
            if realtime:
                live = await stack.enter_async_context(Realtime(settings, app.state.database))
                app.state.realtime = live
                app.state.on_event = live.on_event
                app.state.device_revoked = live.device_revoked
                app.state.person_signed_out = live.person_signed_out
                app.state.session_closed = live.session_closed
            # Start-up objects live as long as the process: keep them out of every future
            # collector pass, so a pass during a fan-out has little to walk.
            gc.freeze()
            yield

    # The interactive docs are served with their own assets: no CDN script runs in the
    # leaders' origin, and /docs works on a closed school network.
    app = FastAPIOffline(
        title="pdv-alert",
        version="0.1.0",
        summary="Larm vid pågående dödligt våld (PDV) för skolor",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        static_url=DOCS_ASSETS,
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    app.state.settings = settings
    if database is not None:
        app.state.database = database
    errors.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(CrossSiteGuard, api_prefix=API_PREFIX, allowed=allowed_origins(settings))
    app.add_middleware(SecurityHeaders, api_prefix=API_PREFIX)  # outermost: every answer
    api = APIRouter(prefix=API_PREFIX)
    for name in ROUTERS:
        module = importlib.import_module(f"server.api.{name}")
        api.include_router(module.router)
    app.include_router(api)
    return app
