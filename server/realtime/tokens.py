"""Device tokens of many hellos resolved together: in a reconnect storm, thousands of
clients say hello within seconds, and one query for all the tokens that arrived meanwhile
costs little more than one query for one (a session per hello was the storm's bottleneck)."""

from __future__ import annotations

import asyncio
import logging

from server.credentials import token_hash
from server.storage import callers
from server.storage.callers import Caller
from server.storage.database import Database

log = logging.getLogger(__name__)

BATCH_LIMIT = 500


class DeviceTokens:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._queue: asyncio.Queue[tuple[str, asyncio.Future[Caller | None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.queries = 0  # database round trips (observability, tests)

    async def resolve(self, token: str) -> Caller | None:
        """The device of a `pdvd_` token, or None when unknown or revoked."""
        future: asyncio.Future[Caller | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((token_hash(token), future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH_LIMIT and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                async with self.database.session() as session:
                    found = await callers.devices_by_token_hash(
                        session, hashes={digest for digest, _ in batch}
                    )
                self.queries += 1
                for digest, future in batch:
                    if not future.done():
                        future.set_result(found.get(digest))
            except Exception as exc:
                log.exception("resolving %d device tokens failed", len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)

    async def __aenter__(self) -> DeviceTokens:
        self._task = asyncio.create_task(self._run(), name="device-tokens")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
