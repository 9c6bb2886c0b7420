"""FastAPI dependencies as `Annotated` aliases: the database session, settings, the caller,
and the post-commit sink the services tell about committed changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Protocol

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from server.clock import utcnow
from server.credentials import SESSION_COOKIE, SESSION_PREFIX
from server.errors import ServiceError
from server.services.sink import EventSink
from server.settings import Settings
from server.storage import callers
from server.storage.callers import Caller
from server.storage.database import Database


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_gateway_port(request: Request) -> int | None:
    """The port this node's WebSocket gateway listens on; None when the app runs none."""
    port: int | None = request.app.state.gateway_port
    return port


class LiveNode(Protocol):
    """What /api/v1/ready and /metrics read of the node's realtime layer
    (`server.realtime.service.Realtime`)."""

    @property
    def bus_kind(self) -> str: ...
    async def bus_ready(self) -> bool: ...
    def connections_by_kind(self) -> dict[str, int]: ...


def get_live_node(request: Request) -> LiveNode | None:
    """The node's realtime layer while it runs; None when the app runs none."""
    node: LiveNode | None = request.app.state.live_node
    return node


def get_sink(request: Request) -> EventSink:
    """The app's post-commit sink: the node's realtime layer, or `NullSink` without one."""
    sink: EventSink = request.app.state.sink
    return sink


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with get_database(request).session() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
SinkDep = Annotated[EventSink, Depends(get_sink)]
GatewayPortDep = Annotated[int | None, Depends(get_gateway_port)]
LiveNodeDep = Annotated[LiveNode | None, Depends(get_live_node)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def get_caller(request: Request, session: SessionDep) -> Caller:
    """Whoever calls: a bearer token (device, API key, session) or the session cookie.

    A login session that has expired answers `auth.session_expired`, by cookie or bearer; a
    bearer token that is unknown or revoked `auth.invalid_token`; a cookie that names no live
    session `auth.session_expired` (the browser's answer is the same: log in again)."""
    now = utcnow()
    token = _bearer(request)
    if token is None:
        return await _cookie_caller(request, session, now=now)
    caller = await callers.from_bearer_token(session, token=token, now=now)
    if caller is not None:
        return caller
    if token.startswith(SESSION_PREFIX) and await callers.session_expired(
        session, token=token, now=now
    ):
        raise ServiceError("auth.session_expired")
    raise ServiceError("auth.invalid_token")


async def _cookie_caller(request: Request, session: AsyncSession, *, now: datetime) -> Caller:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is None:
        raise ServiceError("auth.required")
    caller = await callers.from_session_token(session, token=cookie, now=now)
    if caller is None:
        raise ServiceError("auth.session_expired")
    return caller


async def get_person(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
    """A logged-in person (not a device or API key)."""
    if caller.person is None:
        raise ServiceError("auth.forbidden", "this endpoint is for persons")
    return caller


CurrentCaller = Annotated[Caller, Depends(get_caller)]
CurrentPerson = Annotated[Caller, Depends(get_person)]
