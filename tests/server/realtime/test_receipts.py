"""The receipt writer on SQLite and PostgreSQL: a poisoned batch keeps every good answer (and
the roll call and the answer history show them), every answer is kept in the history, an
out-of-range alert id is refused at the WebSocket edge, an outage is waited out, and a full
queue refuses without losing what it accepted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from protocol.messages import MAX_ID
from protocol.vocabulary import Role
from server.clock import utcnow
from server.realtime.receipts import ReceiptWriter
from server.settings import Settings
from server.storage.database import Database
from server.storage.receipts import ReceiptUpdate
from server.storage.tables import Receipt
from tests import factories
from tests.conftest import app_client
from tests.factories import World, bearer
from tests.server.realtime.clients import hello, next_of
from tests.server.realtime.conftest import WAIT, LiveServer
from tests.server.realtime.outages import Outage


@pytest.fixture
async def client(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings, database) as http:
        yield http


async def school(database: Database) -> World:
    """Site A with a chief, three staff members and their desktops."""
    world = await factories.organization(database, sites=("A",))
    await factories.person(world, "chief", roles=((Role.SECURITY_CHIEF, None),))
    for n in (1, 2, 3):
        await factories.person(world, f"staff{n}", roles=((Role.STAFF, "A"),))
        await factories.device(world, f"pc{n}", site="A", person_key=f"staff{n}")
    return world


async def trigger(client: httpx.AsyncClient, world: World) -> int:
    response = await client.post(
        "/api/v1/alerts",
        json={"kind": "pdv_lockdown", "mode": "actual", "site_ids": [world.sites["A"]]},
        headers=bearer(world, "chief"),
    )
    assert response.status_code == 201, response.text
    alert_id: int = response.json()["alert"]["id"]
    return alert_id


def answer(
    world: World, alert_id: int, n: int, response: str | None, **extra: str
) -> ReceiptUpdate:
    return ReceiptUpdate(
        organization_id=world.organization_id,
        alert_id=alert_id,
        device_id=world.devices[f"pc{n}"],
        site_id=world.sites["A"],
        person_id=world.persons[f"staff{n}"],
        at=utcnow(),
        delivered=True,
        response=response,
        **extra,
    )


async def stored(database: Database) -> dict[int, Receipt]:
    """The receipts by device id."""
    async with database.session() as session:
        return {row.device_id: row for row in await session.scalars(select(Receipt))}


async def test_a_poisoned_batch_keeps_every_good_answer(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Good acks in one batch with an alert id beyond the column and a vanished device: every
    good one is stored and in the roll call, each bad one is reported, none is written."""
    world = await school(database)
    alert_id = await trigger(client, world)
    need_help = answer(world, alert_id, 1, "need_help", note="Två skadade", location="Hus B")
    safe = answer(world, alert_id, 2, "safe")
    delivered = answer(world, alert_id, 3, None)
    beyond = replace(safe, alert_id=MAX_ID + 1)  # bypasses the protocol's range check
    vanished = replace(safe, device_id=world.devices["pc3"] + 1000)  # a foreign key violation
    writer = ReceiptWriter(database)
    for update in (need_help, beyond, safe, vanished, delivered):
        assert writer.put(update)  # all queued before the writer runs: one batch
    async with writer:
        await writer.flush()

    rows = await stored(database)
    assert set(rows) == {world.devices[f"pc{n}"] for n in (1, 2, 3)}
    helped = rows[world.devices["pc1"]]
    assert (helped.response, helped.note, helped.location) == ("need_help", "Två skadade", "Hus B")
    assert rows[world.devices["pc2"]].response == "safe"
    assert rows[world.devices["pc3"]].response is None
    assert writer.written == 3
    assert writer.failed + writer.ignored == 2  # SQLite has no 32-bit limit: not targeted
    if database.dialect == "postgresql":
        assert writer.failed == 2

    response = await client.get(
        f"/api/v1/alerts/{alert_id}/rollcall", headers=bearer(world, "chief")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["totals"]["reached"], body["totals"]["answered"]) == (3, 2)
    assert (body["totals"]["safe"], body["totals"]["need_help"]) == (1, 1)
    assert [(e["note"], e["location"]) for e in body["need_help"]] == [("Två skadade", "Hus B")]
    history = await answers(client, world, alert_id)
    assert [(a["device_id"], a["response"]) for a in history] == [
        (world.devices["pc1"], "need_help"),
        (world.devices["pc2"], "safe"),
    ]  # the bad rows stored no half answer


async def answers(client: httpx.AsyncClient, world: World, alert_id: int) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/v1/alerts/{alert_id}/answers", headers=bearer(world, "chief")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["alert_id"] == alert_id
    history: list[dict[str, Any]] = body["answers"]
    return history


async def test_every_answer_is_kept_need_help_then_safe(
    client: httpx.AsyncClient, database: Database
) -> None:
    """ "Need help, then safe" in two batches and both in one batch: the roll call shows the
    latest answer, the history every answer in order, with device and person."""
    world = await school(database)
    alert_id = await trigger(client, world)
    help1 = answer(world, alert_id, 1, "need_help", note="Skadad", location="Hus A")
    async with ReceiptWriter(database) as writer:
        writer.put(help1)
        await writer.flush()
        writer.put(answer(world, alert_id, 1, "safe"))
        await writer.flush()
    writer = ReceiptWriter(database)
    writer.put(answer(world, alert_id, 2, "need_help", location="Matsalen"))
    writer.put(answer(world, alert_id, 2, "safe"))  # queued together: one batch
    async with writer:
        await writer.flush()
    assert writer.batches == 1

    rows = await stored(database)
    assert {rows[world.devices[f"pc{n}"]].response for n in (1, 2)} == {"safe"}
    history = await answers(client, world, alert_id)
    assert [(a["device_id"], a["response"], a["location"]) for a in history] == [
        (world.devices["pc1"], "need_help", "Hus A"),
        (world.devices["pc1"], "safe", ""),
        (world.devices["pc2"], "need_help", "Matsalen"),
        (world.devices["pc2"], "safe", ""),
    ]
    assert history[0]["note"] == "Skadad" and history[0]["person_id"] == world.persons["staff1"]
    assert history[0]["device"] and history[0]["person"]
    assert history[0]["site_id"] == world.sites["A"]


async def test_answers_need_the_roll_call_right(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Staff receive the alert but may not read the answers; another organization gets 404."""
    world = await school(database)
    alert_id = await trigger(client, world)
    url = f"/api/v1/alerts/{alert_id}/answers"
    refused = await client.get(url, headers=bearer(world, "staff1"))
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "auth.forbidden")
    other = await factories.organization(database, name="Arboga", sites=("A",))
    await factories.person(other, "chief", roles=((Role.SECURITY_CHIEF, None),))
    hidden = await client.get(url, headers=bearer(other, "chief"))
    assert (hidden.status_code, hidden.json()["error"]["code"]) == (404, "alert.not_found")


async def test_an_out_of_range_ack_is_refused_at_the_edge(live_server: LiveServer) -> None:
    """An ack with alert id 2³¹ gets `protocol.invalid` and writes nothing; the same client's
    good ack is stored."""
    world = await school(live_server.database)
    ws, _ = await hello(live_server.ws_url, world.tokens["pc1"])
    alert_id = await trigger(live_server.http, world)
    await next_of(ws, "alert")
    await ws.send(json.dumps({"type": "ack", "alert_id": MAX_ID + 1, "response": "safe"}))
    error = await next_of(ws, "error")
    assert error["code"] == "protocol.invalid" and "alert_id" in error["message"]
    await ws.send(json.dumps({"type": "ack", "alert_id": alert_id, "response": "need_help"}))
    await ws.send(json.dumps({"type": "ping"}))
    await next_of(ws, "pong")
    await live_server.realtime.receipts.flush()
    rows = await stored(live_server.database)
    assert [(r.alert_id, r.response) for r in rows.values()] == [(alert_id, "need_help")]
    assert live_server.realtime.receipts.failed == 0
    await ws.close()


async def test_an_outage_is_waited_out_and_the_answers_written(
    client: httpx.AsyncClient, database: Database
) -> None:
    """With the database unreachable the batch is kept and retried, new answers queue; when
    it is back every answer is written."""
    world = await school(database)
    alert_id = await trigger(client, world)
    outage = Outage(database)
    writer = ReceiptWriter(database)
    async with writer:
        await outage.start()
        try:
            writer.put(answer(world, alert_id, 1, "need_help", note="rum 12"))
            for _ in range(int(WAIT / 0.01)):  # until the writer has failed and retried
                if writer.writer.outages >= 2:
                    break
                await asyncio.sleep(0.01)
            assert writer.writer.outages >= 2
            writer.put(answer(world, alert_id, 2, "safe"))
        finally:
            await outage.restore()
        await asyncio.wait_for(writer.flush(), timeout=WAIT)
    rows = await stored(database)
    assert rows[world.devices["pc1"]].note == "rum 12"
    assert rows[world.devices["pc2"]].response == "safe"
    assert writer.failed == 0


async def test_a_full_queue_refuses_and_keeps_what_it_accepted(
    client: httpx.AsyncClient, database: Database
) -> None:
    """put returns False beyond the queue's limit; the accepted answers are all written."""
    world = await school(database)
    alert_id = await trigger(client, world)
    writer = ReceiptWriter(database, queue_limit=2)
    results = [writer.put(answer(world, alert_id, n, "safe")) for n in (1, 2, 3)]
    assert results == [True, True, False]
    async with writer:
        await writer.flush()
    assert set(await stored(database)) == {world.devices["pc1"], world.devices["pc2"]}
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(Receipt)) == 2
