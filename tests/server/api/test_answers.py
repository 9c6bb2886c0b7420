"""Receipts and acks over HTTP: idempotent upserts, the highest seq kept, the ack history,
a person's ack for themself, the checks and their codes, CSRF and authentication. SQLite and
PostgreSQL; the roll call's live frames are in tests/server/realtime/test_http_answers.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from protocol.messages import MAX_ID, MAX_SEQ
from protocol.vocabulary import DeviceKind, Role
from server.app import create_app
from server.credentials import SESSION_COOKIE
from server.services.sink import RecordingSink
from server.settings import Settings
from server.storage.database import Database
from server.storage.tables import Receipt, ReceiptAnswer
from tests import factories
from tests.factories import World, bearer
from tests.server.api.worlds import count, error

PUBLIC = "https://larm.koping.example"
SIBLING = "https://elevwebb.koping.example"


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def http(database: Database, sink: RecordingSink) -> AsyncIterator[httpx.AsyncClient]:
    """The app without realtime, its sink a recorder, served at its public URL."""
    settings = Settings(
        database_url="sqlite+aiosqlite:///unused.db", public_url=PUBLIC, login_attempts_per_ip=1000
    )
    app = create_app(settings, database=database, realtime=False)
    app.state.sink = sink
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
        yield client


@pytest.fixture
async def world(database: Database) -> World:
    """Sites A and B: Anna (staff at A) with a phone and a PC at A; a shared desk at A; a
    desk at B; the chief; Bo (staff at A) without devices; a panic button at A."""
    world = await factories.organization(database)
    await factories.person(world, "chief", roles=((Role.SECURITY_CHIEF, None),))
    await factories.person(world, "anna", roles=((Role.STAFF, "A"),))
    await factories.person(world, "bo", roles=((Role.STAFF, "A"),))
    await factories.device(world, "phone", site="A", kind=DeviceKind.WEB, person_key="anna")
    await factories.device(world, "pc", site="A", person_key="anna")
    await factories.device(world, "desk", site="A")
    await factories.device(world, "desk_b", site="B")
    await factories.api_key(world, "button", site="A")
    return world


async def trigger(http: httpx.AsyncClient, world: World, site: str = "A") -> tuple[int, int]:
    """(alert id, seq of its triggered event)."""
    response = await http.post(
        "/api/v1/alerts",
        json={"kind": "pdv_lockdown", "site_ids": [world.sites[site]]},
        headers=bearer(world, "chief"),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return body["alert"]["id"], body["event"]["seq"]


async def update(http: httpx.AsyncClient, world: World, alert_id: int) -> int:
    response = await http.patch(
        f"/api/v1/alerts/{alert_id}", json={"kind": "evacuate"}, headers=bearer(world, "chief")
    )
    assert response.status_code == 200, response.text
    seq: int = response.json()["seq"]
    return seq


def receipt(http: httpx.AsyncClient, world: World, key: str, alert_id: int, **body: Any) -> Any:
    return http.post(f"/api/v1/alerts/{alert_id}/receipts", json=body, headers=bearer(world, key))


def ack(http: httpx.AsyncClient, world: World, key: str, alert_id: int, **body: Any) -> Any:
    return http.post(f"/api/v1/alerts/{alert_id}/ack", json=body, headers=bearer(world, key))


async def stored(world: World, alert_id: int) -> dict[int, Receipt]:
    async with world.database.session() as session:
        rows = await session.scalars(select(Receipt).where(Receipt.alert_id == alert_id))
        return {row.device_id: row for row in rows}


async def test_a_receipt_is_stored_before_the_answer_and_is_idempotent(
    http: httpx.AsyncClient, world: World, sink: RecordingSink
) -> None:
    """delivered then displayed then both again: one receipt, first times kept, the answer
    shows what is stored, and the sink hears of each commit (the roll call's wake-up)."""
    alert_id, seq = await trigger(http, world)
    first = await receipt(http, world, "phone", alert_id, seq=seq, state="delivered")
    assert first.status_code == 200, first.text
    [item] = first.json()["receipts"]
    assert first.json()["alert_id"] == alert_id
    assert item["device_id"] == world.devices["phone"] and item["seq"] == seq
    assert item["delivered_at"] and item["displayed_at"] is None and item["acked_at"] is None
    shown = (await receipt(http, world, "phone", alert_id, seq=seq, state="displayed")).json()
    again = (await receipt(http, world, "phone", alert_id, seq=seq, state="displayed")).json()
    assert shown == again
    [kept] = again["receipts"]
    assert kept["delivered_at"] == item["delivered_at"] and kept["displayed_at"]
    rows = await stored(world, alert_id)
    assert list(rows) == [world.devices["phone"]]
    assert rows[world.devices["phone"]].seq == seq
    assert sink.receipts == [(world.organization_id, (alert_id,))] * 3


async def test_the_receipt_seq_is_never_lowered(http: httpx.AsyncClient, world: World) -> None:
    """A receipt of a later event raises `seq`; an earlier one after it leaves it."""
    alert_id, first = await trigger(http, world)
    later = await update(http, world, alert_id)
    await receipt(http, world, "phone", alert_id, seq=later, state="delivered")
    response = await receipt(http, world, "phone", alert_id, seq=first, state="displayed")
    assert response.json()["receipts"][0]["seq"] == later
    assert (await stored(world, alert_id))[world.devices["phone"]].seq == later


async def test_a_devices_ack_is_stored_and_kept_in_the_history(
    http: httpx.AsyncClient, world: World, sink: RecordingSink
) -> None:
    """need_help then safe: the receipt shows the latest (with delivery and display implied),
    and both answers stay in the history."""
    alert_id, _ = await trigger(http, world)
    note = "Två skadade\ti sal 2"
    response = await ack(
        http, world, "desk", alert_id, response="need_help", note=note, location="Hus B"
    )
    assert response.status_code == 200, response.text
    [item] = response.json()["receipts"]
    assert item["response"] == "need_help" and item["note"] == "Två skadade\ti sal 2"
    assert item["delivered_at"] and item["displayed_at"] and item["acked_at"]
    later = (await ack(http, world, "desk", alert_id, response="safe")).json()["receipts"][0]
    assert later["response"] == "safe" and later["note"] == "Två skadade\ti sal 2"
    async with world.database.session() as session:
        history = (
            await session.scalars(select(ReceiptAnswer.response).order_by(ReceiptAnswer.id))
        ).all()
    assert history == ["need_help", "safe"]
    assert sink.receipts == [(world.organization_id, (alert_id,))] * 2


async def test_the_websocket_messages_own_alert_id_may_come_along(
    http: httpx.AsyncClient, world: World
) -> None:
    """A client may post the same object it would send over the WebSocket: `alert_id`
    naming the path's alert is accepted (another one is request.invalid, above)."""
    alert_id, seq = await trigger(http, world)
    headers = bearer(world, "desk")
    url = f"/api/v1/alerts/{alert_id}"
    body = {"alert_id": alert_id, "seq": seq, "state": "delivered"}
    answered = await http.post(f"{url}/receipts", json=body, headers=headers)
    assert answered.status_code == 200, answered.text
    body = {"alert_id": alert_id, "response": "safe", "note": "", "location": ""}
    acked = await http.post(f"{url}/ack", json=body, headers=headers)
    assert acked.status_code == 200, acked.text
    assert (await stored(world, alert_id))[world.devices["desk"]].response == "safe"


async def test_a_person_answers_for_themself_on_their_devices(
    http: httpx.AsyncClient, world: World
) -> None:
    """Anna's session ack is kept on her phone and PC at the alert's site, marked as hers:
    answered, but neither device claimed to have received or shown the alert."""
    alert_id, _ = await trigger(http, world)
    response = await ack(http, world, "anna", alert_id, response="safe", location="Matsalen")
    assert response.status_code == 200, response.text
    items = response.json()["receipts"]
    assert [item["device_id"] for item in items] == sorted(
        [world.devices["phone"], world.devices["pc"]]
    )
    for item in items:
        assert item["response"] == "safe" and item["location"] == "Matsalen"
        assert item["acked_at"] and item["delivered_at"] is None and item["displayed_at"] is None
    rollcall = await http.get(f"/api/v1/alerts/{alert_id}/rollcall", headers=bearer(world, "chief"))
    totals = rollcall.json()["totals"]
    assert totals["safe"] == 1 and totals["answered"] == 1


async def test_a_person_without_a_device_there_gets_no_device(
    http: httpx.AsyncClient, world: World
) -> None:
    """Bo has no device at the alert's sites: receipt.no_device, nothing stored; so has Anna
    for an alert at B only."""
    alert_id, _ = await trigger(http, world)
    assert error(await ack(http, world, "bo", alert_id, response="safe")) == "receipt.no_device"
    at_b, _ = await trigger(http, world, "B")
    assert error(await ack(http, world, "anna", at_b, response="safe")) == "receipt.no_device"
    assert await count(world.database, Receipt) == 0


async def test_receipts_need_a_device_and_api_keys_do_not_answer(
    http: httpx.AsyncClient, world: World
) -> None:
    """A person's receipt, an API key's receipt or ack: receipt.device_required."""
    alert_id, seq = await trigger(http, world)
    for response in (
        await receipt(http, world, "anna", alert_id, seq=seq, state="delivered"),
        await receipt(http, world, "button", alert_id, seq=seq, state="delivered"),
        await ack(http, world, "button", alert_id, response="safe"),
    ):
        assert error(response) == "receipt.device_required"
    assert await count(world.database, Receipt) == 0


async def test_an_alert_elsewhere_is_refused(http: httpx.AsyncClient, world: World) -> None:
    """The desk at B can't receipt or ack an alert at A (receipt.not_targeted); a seq of
    another alert is receipt.unknown_seq; another organization's alert is alert.not_found."""
    alert_id, seq = await trigger(http, world)
    other_alert, other_seq = await trigger(http, world, "B")
    refused = await ack(http, world, "desk_b", alert_id, response="safe")
    assert error(refused) == "receipt.not_targeted"
    response = await receipt(http, world, "desk_b", alert_id, seq=seq, state="delivered")
    assert error(response) == "receipt.not_targeted"
    response = await receipt(http, world, "phone", alert_id, seq=other_seq, state="delivered")
    assert error(response) == "receipt.unknown_seq"
    response = await receipt(http, world, "phone", alert_id, seq=seq + 100, state="delivered")
    assert error(response) == "receipt.unknown_seq"
    arboga = await factories.organization(world.database, name="Arboga")
    await factories.person(arboga, "chief", roles=((Role.SECURITY_CHIEF, None),))
    await factories.device(arboga, "desk", site="A")
    foreign, foreign_seq = await trigger(http, arboga)
    response = await receipt(http, world, "desk", foreign, seq=foreign_seq, state="delivered")
    assert error(response) == "alert.not_found"
    assert error(await ack(http, world, "anna", foreign, response="safe")) == "alert.not_found"
    assert error(await ack(http, world, "desk", 999_999, response="safe")) == "alert.not_found"
    assert await count(world.database, Receipt) == 0
    assert other_alert != alert_id


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("receipts", {"seq": 1, "state": "acked"}, "request.invalid"),
        ("receipts", {"seq": 0, "state": "delivered"}, "request.invalid"),
        ("receipts", {"seq": MAX_SEQ + 1, "state": "delivered"}, "request.invalid"),
        ("receipts", {"seq": "1", "state": "delivered"}, "request.invalid"),
        ("receipts", {"state": "delivered"}, "request.invalid"),
        ("receipts", {"seq": 1, "state": "delivered", "x": 1}, "request.unknown_field"),
        ("ack", {"response": "fine"}, "request.invalid"),
        ("ack", {"response": "safe", "note": "x" * 501}, "request.invalid"),
        ("ack", {"response": "safe", "location": "rad 1\nrad 2"}, "request.invalid"),
        ("ack", {"response": "safe", "note": "bell\x07"}, "request.invalid"),
        ("ack", {"response": "safe", "alert_id": 999_999}, "request.invalid"),
        ("receipts", {"seq": 1, "state": "delivered", "alert_id": 999_999}, "request.invalid"),
        ("ack", {"type": "ack", "response": "safe"}, "request.unknown_field"),
    ],
)
async def test_bad_answers_get_their_code_and_store_nothing(
    http: httpx.AsyncClient, world: World, path: str, body: dict[str, Any], code: str
) -> None:
    """Bad states, seqs out of range or of the wrong type, bad responses, texts beyond the
    protocol's limits or with control characters, unknown fields."""
    alert_id, _ = await trigger(http, world)
    response = await http.post(
        f"/api/v1/alerts/{alert_id}/{path}", json=body, headers=bearer(world, "desk")
    )
    assert error(response) == code, response.text
    assert await count(world.database, Receipt) == 0


@pytest.mark.parametrize("alert_id", ["0", str(MAX_ID + 1), "x"])
async def test_alert_ids_out_of_range_are_refused(
    http: httpx.AsyncClient, world: World, alert_id: str
) -> None:
    """A path id outside 1..MAX_ID is request.invalid."""
    response = await http.post(
        f"/api/v1/alerts/{alert_id}/ack", json={"response": "safe"}, headers=bearer(world, "desk")
    )
    assert error(response) == "request.invalid"


async def test_unauthenticated_answers_are_refused(http: httpx.AsyncClient, world: World) -> None:
    """No credentials: auth.required; an unknown token: auth.invalid_token."""
    alert_id, seq = await trigger(http, world)
    response = await http.post(f"/api/v1/alerts/{alert_id}/ack", json={"response": "safe"})
    assert error(response) == "auth.required"
    response = await http.post(
        f"/api/v1/alerts/{alert_id}/receipts",
        json={"seq": seq, "state": "delivered"},
        headers={"Authorization": "Bearer pdvd_nonsense"},
    )
    assert error(response) == "auth.invalid_token"


async def test_a_cookie_ack_from_another_site_is_refused(
    http: httpx.AsyncClient, world: World
) -> None:
    """The dashboard's ack with the session cookie must come from our origin: from a sibling
    site it is auth.bad_origin and nothing is stored; from our own it is kept."""
    alert_id, _ = await trigger(http, world)
    cookie = {"Cookie": f"{SESSION_COOKIE}={world.tokens['anna']}"}
    refused = await http.post(
        f"/api/v1/alerts/{alert_id}/ack",
        json={"response": "need_help"},
        headers={**cookie, "Origin": SIBLING},
    )
    assert error(refused) == "auth.bad_origin"
    assert await count(world.database, Receipt) == 0
    accepted = await http.post(
        f"/api/v1/alerts/{alert_id}/ack",
        json={"response": "need_help"},
        headers={**cookie, "Origin": PUBLIC},
    )
    assert accepted.status_code == 200, accepted.text
    assert await count(world.database, Receipt, Receipt.response == "need_help") == 2
