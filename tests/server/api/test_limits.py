"""Request bodies over the size limit are refused before they are read, and change nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from sqlalchemy import func, select

from protocol.vocabulary import Role
from server.storage.tables import Alert
from tests import factories
from tests.factories import bearer


async def alert_count(world: factories.World) -> int:
    async with world.database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Alert)) or 0)


async def test_oversized_body_with_content_length_is_refused(client: httpx.AsyncClient) -> None:
    """A declared body over the limit gets 413 request.too_large and writes nothing."""
    world = await factories.organization(client.app.state.database)  # type: ignore[attr-defined]
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    limit = client.app.state.settings.max_body_bytes  # type: ignore[attr-defined]
    body = {"kind": "custom", "site_ids": [world.sites["A"]], "order": {"sv": "x" * (limit + 10)}}
    response = await client.post("/api/v1/alerts", json=body, headers=bearer(world, "principal"))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request.too_large"
    assert await alert_count(world) == 0


async def test_oversized_streamed_body_is_refused(client: httpx.AsyncClient) -> None:
    """A chunked body without Content-Length is cut off at the limit with the same error."""
    world = await factories.organization(client.app.state.database)  # type: ignore[attr-defined]
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    limit = client.app.state.settings.max_body_bytes  # type: ignore[attr-defined]

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"kind": "custom", "order": {"sv": "'
        for _ in range(limit // 1000 + 2):
            yield b"x" * 1000
        yield b'"}}'

    response = await client.post(
        "/api/v1/alerts",
        content=chunks(),
        headers={**bearer(world, "principal"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request.too_large"
    assert await alert_count(world) == 0
