"""Device tokens of many hellos resolved together: in a reconnect storm, thousands of
clients say hello within seconds, and one query for all the tokens that arrived meanwhile
costs little more than one query for one (a session per hello was the storm's bottleneck).
The lookups go through the one batch writer (server/realtime/batches.py): an outage is
retried until the database is back, so a hello waits rather than being refused."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from server.credentials import token_hash
from server.realtime.batches import BatchWriter
from server.storage import callers
from server.storage.callers import Caller
from server.storage.database import Database

log = logging.getLogger(__name__)

BATCH_LIMIT = 500
QUEUE_LIMIT = 100_000


class LookupRefused(RuntimeError):
    """The lookup queue is full; the hello fails and the client reconnects later."""


@dataclass(frozen=True, slots=True, eq=False)
class Lookup:
    digest: str
    future: asyncio.Future[Caller | None]


class DeviceTokens:
    def __init__(self, database: Database, *, queue_limit: int = QUEUE_LIMIT) -> None:
        self.database = database
        self.writer: BatchWriter[Lookup] = BatchWriter(
            name="device-tokens",
            write=self._lookup,
            batch_limit=BATCH_LIMIT,
            queue_limit=queue_limit,
            on_failed=_fail,
        )

    @property
    def queries(self) -> int:
        """Database round trips (observability, tests)."""
        return self.writer.batches

    async def resolve(self, token: str) -> Caller | None:
        """The device of a `pdvd_` token, or None when unknown or revoked."""
        future: asyncio.Future[Caller | None] = asyncio.get_running_loop().create_future()
        if not self.writer.put(Lookup(token_hash(token), future)):
            raise LookupRefused("too many hellos waiting for their token lookup")
        return await future

    async def _lookup(self, batch: list[Lookup]) -> list[Lookup]:
        async with self.database.session() as session:
            found = await callers.devices_by_token_hash(
                session, hashes={lookup.digest for lookup in batch}
            )
        for lookup in batch:
            if not lookup.future.done():
                lookup.future.set_result(found.get(lookup.digest))
        return batch

    async def __aenter__(self) -> DeviceTokens:
        await self.writer.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.writer.__aexit__(*exc)


def _fail(lookup: Lookup, error: BaseException) -> None:
    if not lookup.future.done():
        lookup.future.set_exception(error)
