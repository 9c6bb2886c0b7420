"""A real database outage for tests of the writers' retry path.

PostgreSQL: the test database stops accepting connections and its sessions are terminated.
SQLite: the database's directory moves away and the pooled connections are dropped, so a new
connection can't open the file. `restore()` undoes either; the data is untouched."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

from server.storage.database import Database
from tests.conftest import _pg_admin


class Outage:
    def __init__(self, database: Database) -> None:
        self.database = database
        url = make_url(database.url)
        self.name = url.database or ""
        self._moved: tuple[Path, Path] | None = None

    async def start(self) -> None:
        if self.database.dialect == "postgresql":
            await _pg_admin(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
            await _pg_admin(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{self.name}' AND pid <> pg_backend_pid()"
            )
        else:
            directory = Path(self.name).parent
            away = directory.with_name(directory.name + "-away")
            os.rename(directory, away)
            self._moved = (away, directory)
        await self.database.engine.dispose()  # pooled connections die with the outage

    async def restore(self) -> None:
        if self.database.dialect == "postgresql":
            await _pg_admin(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')
        elif self._moved is not None:
            os.rename(*self._moved)
            self._moved = None
