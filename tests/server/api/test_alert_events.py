"""GET /api/v1/alerts/{id}/events: one alert's history over HTTP, on SQLite and PostgreSQL,
for whoever may read the alert, and nobody else."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from protocol.vocabulary import Role
from server.settings import Settings
from server.storage.database import Database
from tests import factories
from tests.conftest import app_client
from tests.factories import World, bearer

URL = "/api/v1/alerts"


@pytest.fixture
async def client(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """These tests run on SQLite and on PostgreSQL."""
    async with app_client(settings, database) as http:
        yield http


@pytest.fixture
async def world(client: httpx.AsyncClient) -> World:
    """Sites A and B: a chief, a principal and staff of A, staff of B."""
    world = await factories.organization(client.app.state.database)  # type: ignore[attr-defined]
    await factories.person(world, "chief", roles=((Role.SECURITY_CHIEF, None),))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    await factories.person(world, "staff", roles=((Role.STAFF, "A"),))
    await factories.person(world, "staff_b", roles=((Role.STAFF, "B"),))
    return world


async def _trigger(client: httpx.AsyncClient, world: World, site: str, kind: str) -> int:
    response = await client.post(
        URL, json={"kind": kind, "site_ids": [world.sites[site]]}, headers=bearer(world, "chief")
    )
    assert response.status_code == 201, response.text
    return int(response.json()["alert"]["id"])


def _code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def test_an_alerts_events_are_its_own_oldest_first(
    client: httpx.AsyncClient, world: World
) -> None:
    """Only the alert's events, by seq, in the shape of /alerts/events, seq = stream's last."""
    on_a = await _trigger(client, world, "A", "pdv_lockdown")
    on_b = await _trigger(client, world, "B", "secure")
    chief = bearer(world, "chief")
    await client.patch(f"{URL}/{on_a}", json={"kind": "evacuate"}, headers=chief)
    await client.post(f"{URL}/{on_b}/cancel", headers=chief)
    await client.post(f"{URL}/{on_a}/resolve", headers=chief)

    response = await client.get(f"{URL}/{on_a}/events", headers=bearer(world, "principal"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"epoch", "seq", "events"} and body["epoch"]
    assert body["seq"] == 5
    assert [(e["seq"], e["event"]) for e in body["events"]] == [
        (1, "triggered"),
        (3, "updated"),
        (5, "resolved"),
    ]
    assert {e["alert"]["id"] for e in body["events"]} == {on_a}
    assert body["events"][1]["alert"]["kind"] == "evacuate"
    stream = (await client.get(f"{URL}/events", headers=chief)).json()["events"]
    assert body["events"] == [e for e in stream if e["alert"]["id"] == on_a]


async def test_staff_who_receive_the_alert_read_its_events(
    client: httpx.AsyncClient, world: World
) -> None:
    """Staff receiving the alert may read its history (no audit-log right needed)."""
    alert_id = await _trigger(client, world, "A", "pdv_lockdown")
    response = await client.get(f"{URL}/{alert_id}/events", headers=bearer(world, "staff"))
    assert response.status_code == 200
    assert [e["event"] for e in response.json()["events"]] == ["triggered"]


async def test_those_who_do_not_receive_the_alert_get_not_found(
    client: httpx.AsyncClient, world: World
) -> None:
    """Staff of another site and another organization's chief get alert.not_found."""
    alert_id = await _trigger(client, world, "A", "pdv_lockdown")
    other = await factories.organization(world.database, name="Arboga")
    await factories.person(other, "chief", roles=((Role.SECURITY_CHIEF, None),))
    for headers in (bearer(world, "staff_b"), bearer(other, "chief")):
        response = await client.get(f"{URL}/{alert_id}/events", headers=headers)
        assert _code(response) == (404, "alert.not_found")
    unknown = await client.get(f"{URL}/4242/events", headers=bearer(world, "chief"))
    assert _code(unknown) == (404, "alert.not_found")


@pytest.mark.parametrize("alert_id", ["abc", "0", "-1"])
async def test_a_bad_alert_id_is_refused(
    client: httpx.AsyncClient, world: World, alert_id: str
) -> None:
    """An id that is no id answers request.invalid."""
    response = await client.get(f"{URL}/{alert_id}/events", headers=bearer(world, "chief"))
    assert _code(response) == (422, "request.invalid")


async def test_events_need_credentials(client: httpx.AsyncClient, world: World) -> None:
    """Without credentials the history is auth.required."""
    alert_id = await _trigger(client, world, "A", "pdv_lockdown")
    response = await client.get(f"{URL}/{alert_id}/events")
    assert _code(response) == (401, "auth.required")


async def test_the_event_stream_route_still_answers(
    client: httpx.AsyncClient, world: World
) -> None:
    """/alerts/events is not taken for an alert id by the new route."""
    await _trigger(client, world, "A", "pdv_lockdown")
    response = await client.get(f"{URL}/events", headers=bearer(world, "chief"))
    assert response.status_code == 200 and len(response.json()["events"]) == 1


async def test_the_history_list_filters_by_state_and_mode(
    client: httpx.AsyncClient, world: World
) -> None:
    """`state=ended&mode=drill` lists the finished drills (the reports), newest first; a
    mode that is no mode is request.invalid."""
    chief = bearer(world, "chief")
    ids = {}
    for mode in ("drill", "test", "drill"):
        response = await client.post(
            URL,
            json={"kind": "pdv_lockdown", "mode": mode, "site_ids": [world.sites["A"]]},
            headers=chief,
        )
        alert_id = response.json()["alert"]["id"]
        await client.post(f"{URL}/{alert_id}/resolve", headers=chief)
        ids.setdefault(mode, []).append(alert_id)
    live = await _trigger(client, world, "A", "pdv_lockdown")
    drills = await client.get(URL, params={"state": "ended", "mode": "drill"}, headers=chief)
    assert [a["id"] for a in drills.json()["alerts"]] == ids["drill"][::-1]
    actual = await client.get(URL, params={"state": "all", "mode": "actual"}, headers=chief)
    assert [a["id"] for a in actual.json()["alerts"]] == [live]
    everything = await client.get(URL, params={"state": "all"}, headers=chief)
    assert len(everything.json()["alerts"]) == 4
    bad = await client.get(URL, params={"mode": "exercise"}, headers=chief)
    assert _code(bad) == (422, "request.invalid")
