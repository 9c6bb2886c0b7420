"""Shared by the service tests: callers from a world's tokens, counts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from server.clock import utcnow
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


async def count(database: Database, table: Any, *where: Any) -> int:
    """Rows of `table` matching every condition."""
    async with database.session() as session:
        query = select(func.count()).select_from(table)
        for condition in where:
            query = query.where(condition)
        return int(await session.scalar(query) or 0)
