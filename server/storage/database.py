"""The async database handle: engine, sessions, SQLite pragmas and migrations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from server.core.audit_chain import DEVELOPMENT_SECRET, Keyring
from server.storage.locks import LOCKS

MIGRATIONS = Path(__file__).parent / "migrations"
AUDIT_KEYS = "audit_keys"  # the key of the audit keyring in every session's `info`


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    """An async engine for a `sqlite+aiosqlite://` or `postgresql+asyncpg://` URL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    raise ValueError(
        f"unsupported database URL (use sqlite+aiosqlite:// or postgresql+asyncpg://): {url}"
    )


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


class MigrationError(RuntimeError):
    """A migration left rows whose foreign keys point nowhere; it was rolled back."""


class Database:
    """Owns the engine; `async with Database(url) as db:` opens it and disposes it at exit.

    Its sessions carry the audit keyring (`session.info[AUDIT_KEYS]`) that server/storage/
    audit.py writes and verifies the chain with: `Settings.audit_keyring()` in the service,
    the development key when none is given (tests, tools)."""

    def __init__(self, url: str, *, audit_keys: Keyring | None = None) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.audit_keys = audit_keys or Keyring.from_secrets(DEVELOPMENT_SECRET)
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, info={AUDIT_KEYS: self.audit_keys}
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def migrate(self, revision: str = "head") -> None:
        """Bring the schema to `revision` with the alembic migrations (the only way it changes)."""
        await self._migrate(_upgrade, revision)

    async def downgrade(self, revision: str) -> None:
        """Take the schema back to `revision` (tests, and an operator going back a release)."""
        await self._migrate(_downgrade, revision)

    async def _migrate(self, step: Callable[[Connection, str], None], revision: str) -> None:
        """Run `step` in one transaction; on PostgreSQL under the `migrate` advisory lock, so
        nodes that start together and migrate wait for each other (the later ones then find
        the schema current). On SQLite a migration that changes a constraint
        rebuilds the table (copy, drop, rename); the drop must not cascade to the rows that
        refer to it, so foreign keys are off while it runs (SQLite's own procedure for
        altering a table) and every reference is checked before the commit."""
        async with self.engine.connect() as connection:
            sqlite = self.dialect == "sqlite"
            if sqlite:  # a no-op inside a transaction: set before the migration's begins
                await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                await connection.commit()
            try:
                async with connection.begin():
                    if self.dialect == "postgresql":  # nodes started together migrate in turn
                        await connection.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCKS["migrate"]}
                        )
                    await connection.run_sync(step, revision)
                    if sqlite:
                        dangling = (
                            await connection.exec_driver_sql("PRAGMA foreign_key_check")
                        ).all()
                        if dangling:
                            raise MigrationError(f"dangling foreign keys: {dangling[:5]}")
            finally:
                if sqlite:
                    await connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                    await connection.commit()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    async def close(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
