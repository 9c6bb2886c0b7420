"""The async database handle: engine, sessions, SQLite pragmas and migrations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from server.core.audit_chain import DEVELOPMENT_SECRET, Keyring

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
        async with self.engine.begin() as connection:
            await connection.run_sync(_upgrade, revision)

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
