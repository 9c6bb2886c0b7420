"""Callers and a trigger shortcut for the service tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import Kind, Mode, Role
from server.clock import utcnow
from server.services import alerts
from server.services.sink import EventSink, NullSink
from server.storage import callers
from server.storage.callers import Caller
from server.storage.database import Database
from tests import factories
from tests.factories import World


async def caller_for(world: World, key: str) -> Caller:
    """The Caller behind one of the world's tokens, as the API would build it."""
    async with world.database.session() as session:
        caller = await callers.from_bearer_token(session, token=world.tokens[key], now=utcnow())
    assert caller is not None
    return caller


async def chief_world(database: Database) -> tuple[World, Caller]:
    """Sites A and B and a security chief of the whole organization."""
    world = await factories.organization(database)
    await factories.person(world, "chief", roles=((Role.SECURITY_CHIEF, None),))
    return world, await caller_for(world, "chief")


async def trigger(
    session: AsyncSession,
    caller: Caller,
    site_ids: list[int],
    *,
    kind: Kind = Kind.PDV_LOCKDOWN,
    mode: Mode = Mode.ACTUAL,
    sink: EventSink | None = None,
    **options: Any,
) -> alerts.TriggerResult:
    """`alerts.trigger` now: an actual pdv_lockdown unless told otherwise."""
    return await alerts.trigger(
        session=session,
        sink=NullSink() if sink is None else sink,
        caller=caller,
        kind=kind,
        mode=mode,
        site_ids=site_ids,
        now=utcnow(),
        **options,
    )
