"""Shared setup of the API tests: two organizations, people in every role, small helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select

from protocol.vocabulary import Role
from server.storage.database import Database
from tests import factories
from tests.factories import World


@dataclass
class Worlds:
    home: World
    other: World

    @property
    def database(self) -> Database:
        return self.home.database


async def add_people(world: World) -> None:
    """admin, site_admin (of B), chief, principal (of A) and staff (of A), all logged in."""
    await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    await factories.person(world, "site_admin", roles=((Role.ADMIN, "B"),))
    await factories.person(world, "chief", roles=((Role.SECURITY_CHIEF, None),))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    await factories.person(world, "staff", roles=((Role.STAFF, "A"),))


async def staffed_worlds(client: httpx.AsyncClient) -> Worlds:
    """Köping (sites A, B) with `add_people` and a device "desk" at A; Arboga with its admin."""
    database = client.app.state.database  # type: ignore[attr-defined]
    home = await factories.organization(database)
    await add_people(home)
    await factories.device(home, "desk", site="A")
    other = await factories.organization(database, name="Arboga")
    await factories.person(other, "admin", roles=((Role.ADMIN, None),))
    return Worlds(home=home, other=other)


def error(response: httpx.Response) -> str:
    """The error code of an error response."""
    code: str = response.json()["error"]["code"]
    return code


async def count(database: Database, table: Any, *where: Any) -> int:
    """Rows of `table` matching every condition in `where`."""
    async with database.session() as session:
        query = select(func.count()).select_from(table)
        for condition in where:
            query = query.where(condition)
        return int(await session.scalar(query) or 0)
