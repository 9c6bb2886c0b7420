"""The ASGI application: routers, error table, limits and the lifecycle of its resources."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi_offline import FastAPIOffline

from push.message import Sender
from server.api import errors, metrics, openapi, pages
from server.api.csrf import CrossSiteGuard
from server.api.headers import SecurityHeaders
from server.api.limits import BodySizeLimit
from server.api.persons import IMPORT_PATH
from server.api.warm import warm
from server.dispatch.dispatcher import Dispatcher
from server.dispatch.senders import log_missing, senders_from_settings
from server.origins import allowed_origins
from server.realtime import collector
from server.realtime.bus import BusUrlError
from server.realtime.service import Realtime
from server.realtime.throttle import RedisThrottle, login_limits_from
from server.services.sink import EventSink, NullSink
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
    "answers",
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


def _set_sink(app: FastAPI, sink: EventSink) -> None:
    """The one place the services' post-commit sink is held (`server.api.deps.SinkDep`)."""
    app.state.sink = sink


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    realtime: bool = True,
    push_senders: Mapping[str, Sender] | None = None,
) -> FastAPI:
    """Build the app. With `database` given the caller owns it; otherwise the app opens one
    from `settings.database_url` at start-up and closes it at shutdown. With `realtime` the
    lifespan also runs the WebSocket gateway, hub, bus and receipt writer, and the push
    dispatcher with `push_senders` (default: those the settings configure; the dispatcher
    closes them at shutdown)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            stack.enter_context(collector.tuning(enabled=settings.gc_tuning))
            if database is None:
                app.state.database = await stack.enter_async_context(
                    Database(settings.database_url, audit_keys=settings.audit_keyring())
                )
            await warm(app)  # before anything serves: nothing is built at a first request
            if realtime:
                senders = senders_from_settings(settings) if push_senders is None else push_senders
                log_missing(senders)
                # Entered first, so it closes last: pushes go on while connections close.
                dispatcher = await stack.enter_async_context(
                    Dispatcher(database=app.state.database, settings=settings, senders=senders)
                )
                app.state.dispatcher = dispatcher
                live = await stack.enter_async_context(
                    Realtime(settings, app.state.database, after_fan_out=dispatcher.wake)
                )
                dispatcher.report_states_to(live)
                app.state.realtime = live
                app.state.live_node = live
                app.state.gateway_port = live.gateway.port
                _set_sink(app, live)
                stack.callback(_set_sink, app, NullSink())
                stack.callback(setattr, app.state, "gateway_port", None)
                stack.callback(setattr, app.state, "live_node", None)
            if isinstance(login_limits.throttle, RedisThrottle):
                stack.push_async_callback(login_limits.throttle.aclose)
            collector.freeze_start_up()
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
    try:
        login_limits = login_limits_from(settings)
    except BusUrlError:  # the realtime layer refuses it at start-up, with the URL named
        login_limits = login_limits_from(settings.model_copy(update={"bus_url": "memory://"}))
    app.state.login_limits = login_limits  # `server.api.auth.login_limits`
    _set_sink(app, NullSink())  # the realtime layer replaces it while it runs
    app.state.gateway_port = None  # `deps.GatewayPortDep`: set while the gateway runs
    app.state.live_node = None  # `deps.LiveNodeDep`: set while the realtime layer runs
    if database is not None:
        app.state.database = database
    errors.install(app)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        overrides={f"{API_PREFIX}{IMPORT_PATH}": settings.max_import_bytes},
    )
    app.add_middleware(CrossSiteGuard, api_prefix=API_PREFIX, allowed=allowed_origins(settings))
    app.add_middleware(SecurityHeaders, api_prefix=API_PREFIX)  # outermost: every answer
    api = APIRouter(prefix=API_PREFIX)
    for name in ROUTERS:
        module = importlib.import_module(f"server.api.{name}")
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(metrics.router)  # /metrics, where Prometheus looks by default
    app.include_router(pages.router)
    openapi.install(app)
    return app
