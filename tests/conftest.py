"""Shared fixtures: real SQLite and PostgreSQL databases migrated by alembic, an app wired to
them, and an HTTP client. PostgreSQL and Redis tests skip with a reason when the services are
unreachable, unless PDV_REQUIRE_SERVICES=1 (CI), where they fail instead."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest

from server.app import create_app
from server.settings import Settings
from server.storage.database import Database

POSTGRES_URL = os.environ.get(
    "PDV_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REQUIRE_SERVICES = os.environ.get("PDV_REQUIRE_SERVICES") == "1"
T = TypeVar("T")


def run_in_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on its own loop (session fixtures may be set up while a
    test's loop is already running)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def service_unavailable(reason: str) -> None:
    """Skip the test, or fail it when CI requires every service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (PDV_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def _plain_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


async def _pg_admin(statement: str) -> None:
    connection = await asyncpg.connect(_plain_dsn(POSTGRES_URL), timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def build() -> None:
        async with Database(f"sqlite+aiosqlite:///{path}") as database:
            await database.migrate()

    run_in_thread(build())
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A PostgreSQL database migrated once, used as TEMPLATE for each test's database."""
    name = f"pdv_template_{uuid.uuid4().hex[:8]}"
    try:
        run_in_thread(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        service_unavailable(f"PostgreSQL unreachable at {POSTGRES_URL}: {exc}")

    async def build() -> None:
        async with Database(_with_database(POSTGRES_URL, name)) as database:
            await database.migrate()

    run_in_thread(build())
    yield name
    run_in_thread(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def sqlite_database(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Database]:
    path = tmp_path / "pdv.db"
    shutil.copy(sqlite_template, path)
    async with Database(f"sqlite+aiosqlite:///{path}") as database:
        yield database


@asynccontextmanager
async def fresh_postgres(template: str | None) -> AsyncIterator[str]:
    """The URL of a new PostgreSQL database copied from the migrated `template` (None: an
    empty one); dropped (whoever is still connected) when the block ends."""
    name = f"pdv_test_{uuid.uuid4().hex[:10]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    await _pg_admin(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield _with_database(POSTGRES_URL, name)
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def postgres_database(postgres_template: str) -> AsyncIterator[Database]:
    async with fresh_postgres(postgres_template) as url, Database(url) as database:
        yield database


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> Database:
    """The same test on SQLite and on the real PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_database")


@pytest.fixture
def settings() -> Settings:
    return Settings(database_url="sqlite+aiosqlite:///unused.db", login_attempts_per_ip=1000)


@asynccontextmanager
async def app_client(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app over `database` (in process); `client.app` is the app."""
    app = create_app(settings, database=database)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        http.app = app  # type: ignore[attr-defined]
        yield http


@pytest.fixture
async def client(settings: Settings, sqlite_database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app over a fresh, migrated SQLite database."""
    async with app_client(settings, sqlite_database) as http:
        yield http
