"""Work that must run on one node at a time, whichever nodes are up: a PostgreSQL
session-level advisory lock held on a connection of its own. The node that holds it leads;
the others try again every `retry_seconds`. When the leader dies (kill -9, a lost network)
PostgreSQL ends its session and the lock goes with it, so another node takes over within a
retry. A leader that loses its connection stops leading before it tries again. On SQLite
there is one node: it always leads.

    async with Leadership(database, "presence_sweep", retry_seconds=5) as leadership:
        if leadership.leading: ...

The lock's key is the name's in server/storage/locks.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from server.realtime.tasks import stop
from server.storage.database import Database
from server.storage.locks import LOCKS

log = logging.getLogger(__name__)


class Leadership:
    def __init__(self, database: Database, name: str, *, retry_seconds: float) -> None:
        if retry_seconds <= 0:
            raise ValueError("retry_seconds must be positive")
        self.database = database
        self.name = name
        self.key = LOCKS[name]
        self.retry_seconds = retry_seconds
        self.changed = asyncio.Event()  # set whenever `leading` changes (tests, logs)
        self._leading = False
        self._task: asyncio.Task[None] | None = None

    @property
    def leading(self) -> bool:
        return self._leading

    def _set(self, leading: bool) -> None:
        if leading != self._leading:
            self._leading = leading
            log.info("%s: this node %s", self.name, "leads" if leading else "no longer leads")
            self.changed.set()

    async def _hold(self, connection: AsyncConnection) -> None:
        """Try for the lock until it is ours, then check the session every retry."""
        while not self._leading:
            got = await connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
            )
            await connection.commit()
            if got:
                self._set(True)
            else:
                await asyncio.sleep(self.retry_seconds)
        while True:
            await asyncio.sleep(self.retry_seconds)
            await connection.scalar(text("SELECT 1"))  # raises when the session is gone
            await connection.commit()

    async def _run(self) -> None:
        while True:
            connection: AsyncConnection | None = None
            try:
                connection = await self.database.engine.connect()
                await self._hold(connection)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s: lock connection lost (%s); retrying", self.name, exc)
            finally:
                self._set(False)
                if connection is not None:
                    # Closing the session releases the lock; never hand it back to the pool.
                    with contextlib.suppress(Exception):
                        await connection.invalidate()
                    with contextlib.suppress(Exception):
                        await connection.close()
            await asyncio.sleep(self.retry_seconds)

    async def __aenter__(self) -> Leadership:
        if self.database.dialect == "postgresql":
            self._task = asyncio.create_task(self._run(), name=f"leadership-{self.name}")
        else:
            self._set(True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await stop(self._task)
        self._task = None
        self._set(False)
