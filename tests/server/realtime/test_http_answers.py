"""HTTP acks and receipts on a real server: an ack over HTTP moves the live roll call exactly
as the same ack over the WebSocket does (SQLite and PostgreSQL), and reaches the dashboards
of another node through the bus (Redis)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from protocol.vocabulary import Role
from server.storage.database import Database
from server.storage.tables import Receipt, ReceiptAnswer
from tests import factories
from tests.factories import World, bearer
from tests.server.realtime.clients import dashboard, hello, next_of
from tests.server.realtime.conftest import LiveServer, realtime_settings, start_live_server
from tests.server.realtime.test_rollcall_feed import rollcall_until, trigger
from tests.server.redis_service import require_redis

NEED_HELP = {"response": "need_help", "note": "Två skadade\ni sal 204", "location": "Hus B"}
COUNTS = ("expected", "reached", "not_reached", "displayed", "answered", "safe", "need_help")


async def school(database: Database) -> World:
    """Site A with two shared devices (one answers over the socket, one over HTTP) and its
    principal."""
    world = await factories.organization(database, sites=("A", "B"))
    await factories.person(world, "chief", roles=((Role.SECURITY_CHIEF, None),))
    await factories.person(world, "principal_a", roles=((Role.PRINCIPAL, "A"),))
    await factories.device(world, "by_socket", site="A")
    await factories.device(world, "by_http", site="A")
    return world


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {key: after[key] - before[key] for key in COUNTS}


def comparable(item: dict[str, Any]) -> dict[str, Any]:
    """A need-help entry without what names the device or when."""
    return {k: v for k, v in item.items() if k not in ("device_id", "device", "at")}


async def receipt_of(database: Database, alert_id: int, device_id: int) -> tuple[Any, ...]:
    async with database.session() as session:
        row = await session.scalar(
            select(Receipt).where(Receipt.alert_id == alert_id, Receipt.device_id == device_id)
        )
        answers = (
            await session.scalars(
                select(ReceiptAnswer).where(
                    ReceiptAnswer.alert_id == alert_id, ReceiptAnswer.device_id == device_id
                )
            )
        ).all()
    assert row is not None
    return (
        row.response,
        row.note,
        row.location,
        row.delivered_at is not None,
        row.displayed_at is not None,
        row.acked_at is not None,
        [(a.response, a.note, a.location) for a in answers],
    )


async def test_an_http_ack_moves_the_roll_call_exactly_as_a_websocket_ack(
    live_server: LiveServer,
) -> None:
    """The same need-help ack, once over the socket and once over HTTP: each moves the
    dashboard's roll call by the same counts, adds the same need-help entry, and stores the
    same receipt and answer history."""
    world = await school(live_server.database)
    board = await dashboard(live_server.ws_url, world.tokens["principal_a"])
    socket, _ = await hello(live_server.ws_url, world.tokens["by_socket"])
    alert_id = await trigger(live_server, world, "A")
    await next_of(socket, "alert")
    start = await live_server.http.get(
        f"/api/v1/alerts/{alert_id}/rollcall", headers=bearer(world, "principal_a")
    )
    before = start.json()["totals"]
    # the two devices, and the principal (a role at the site, no device): not reached
    assert (before["expected"], before["no_device"], before["answered"]) == (3, 1, 0)

    await socket.send(json.dumps({"type": "ack", "alert_id": alert_id, **NEED_HELP}))
    by_socket, _ = await rollcall_until(board, alert_id, lambda f: f["totals"]["answered"] == 1)
    response = await live_server.http.post(
        f"/api/v1/alerts/{alert_id}/ack", json=NEED_HELP, headers=bearer(world, "by_http")
    )
    assert response.status_code == 200, response.text
    by_http, _ = await rollcall_until(board, alert_id, lambda f: f["totals"]["answered"] == 2)

    first = delta(before, by_socket["totals"])
    assert first == delta(by_socket["totals"], by_http["totals"])
    assert first["need_help"] == 1 and first["reached"] == 1 and first["displayed"] == 1
    assert [item["device_id"] for item in by_http["need_help"]] == [
        world.devices["by_socket"],
        world.devices["by_http"],
    ]
    socket_item, http_item = by_http["need_help"]
    assert comparable(socket_item) == comparable(http_item)
    assert await receipt_of(
        live_server.database, alert_id, world.devices["by_socket"]
    ) == await receipt_of(live_server.database, alert_id, world.devices["by_http"])
    for ws in (board, socket):
        await ws.close()


async def test_an_http_ack_on_one_node_reaches_the_dashboard_on_the_other(
    sqlite_database: Database,
) -> None:
    """The dashboard is on node 2; the device answers over HTTP on node 1: the roll-call
    frame comes through the bus (the catch-up tick is an hour)."""
    settings = realtime_settings(bus_url=await require_redis(), catch_up_seconds=3600)
    async with (
        start_live_server(settings, sqlite_database) as first,
        start_live_server(settings, sqlite_database) as second,
    ):
        world = await school(sqlite_database)
        board = await dashboard(second.ws_url, world.tokens["principal_a"])
        alert_id = await trigger(first, world, "A")
        response = await first.http.post(
            f"/api/v1/alerts/{alert_id}/ack",
            json={"response": "safe"},
            headers=bearer(world, "by_http"),
        )
        assert response.status_code == 200, response.text
        frame, _ = await rollcall_until(board, alert_id, lambda f: f["totals"]["safe"] == 1)
        assert frame["totals"]["answered"] == 1
        await board.close()
