"""Shared by the service tests: callers from a world's tokens, a sink that records, counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from server.clock import utcnow
from server.services.sink import NullSink
from server.storage import callers
from server.storage.callers import Caller
from server.storage.database import Database
from tests.factories import World


async def caller(world: World, key: str) -> Caller:
    """The caller behind `world.tokens[key]` (a person's session, a device or an API key)."""
    async with world.database.session() as session:
        found = await callers.from_bearer_token(session, token=world.tokens[key], now=utcnow())
        await session.commit()
    assert found is not None, key
    return found


@dataclass
class RecordingSink(NullSink):
    """Remembers what it was told, in order."""

    told: list[tuple[str, Any]] = field(default_factory=list)

    async def device_revoked(self, device_id: int) -> None:
        self.told.append(("device_revoked", device_id))

    async def person_signed_out(self, person_id: int) -> None:
        self.told.append(("person_signed_out", person_id))

    async def session_closed(self, session_hash: str) -> None:
        self.told.append(("session_closed", session_hash))

    async def person_rights_changed(self, person_id: int) -> None:
        self.told.append(("person_rights_changed", person_id))

    async def device_rebound(self, device_id: int) -> None:
        self.told.append(("device_rebound", device_id))


async def count(database: Database, table: Any, *where: Any) -> int:
    """Rows of `table` matching every condition."""
    async with database.session() as session:
        query = select(func.count()).select_from(table)
        for condition in where:
            query = query.where(condition)
        return int(await session.scalar(query) or 0)
