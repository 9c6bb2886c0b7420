"""The audit log endpoints: search with filters and paging, chain verification, and who may
see them."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from protocol.vocabulary import Role
from server.clock import utcnow
from server.storage.tables import AuditEntry
from tests import factories
from tests.factories import World, bearer

URL = "/api/v1/audit"
ALERTS = "/api/v1/alerts"


@pytest.fixture
async def world(client: httpx.AsyncClient) -> World:
    """An organization with a security chief, an admin, a principal and staff of site A."""
    world = await factories.organization(client.app.state.database)  # type: ignore[attr-defined]
    await factories.person(world, "chief", roles=((Role.SECURITY_CHIEF, None),))
    await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    await factories.person(world, "staff", roles=((Role.STAFF, "A"),))
    return world


async def lifecycle(client: httpx.AsyncClient, world: World) -> int:
    """Trigger (principal), press again (staff), update and resolve (chief): 4 entries."""
    body = {"kind": "pdv_lockdown", "site_ids": [world.sites["A"]]}
    created = await client.post(ALERTS, json=body, headers=bearer(world, "principal"))
    alert_id = int(created.json()["alert"]["id"])
    await client.post(ALERTS, json=body, headers=bearer(world, "staff"))
    await client.patch(
        f"{ALERTS}/{alert_id}", json={"kind": "evacuate"}, headers=bearer(world, "chief")
    )
    await client.post(f"{ALERTS}/{alert_id}/resolve", headers=bearer(world, "chief"))
    return alert_id


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def test_search_lists_entries_newest_first(client: httpx.AsyncClient, world: World) -> None:
    """Every alert change is in the log, newest first, with its hash."""
    alert_id = await lifecycle(client, world)
    response = await client.get(URL, headers=bearer(world, "chief"))
    assert response.status_code == 200
    body = response.json()
    entries = body["entries"]
    assert [e["action"] for e in entries] == [
        "alert.resolved",
        "alert.updated",
        "alert.trigger_repeated",
        "alert.triggered",
    ]
    assert [e["seq"] for e in entries] == [4, 3, 2, 1]
    assert set(entries[0]) == {"seq", "at", "actor", "action", "target", "details", "hash"}
    assert entries[-1]["actor"] == f"person:{world.persons['principal']}"
    assert entries[-1]["target"] == f"alert:{alert_id}"
    assert entries[-1]["details"]["kind"] == "pdv_lockdown"
    assert len(entries[0]["hash"]) == 64
    assert body["next_before_seq"] is None


async def test_search_filters_by_action_actor_and_target(
    client: httpx.AsyncClient, world: World
) -> None:
    """`action`, `actor` and `target` narrow the result to matching entries."""
    alert_id = await lifecycle(client, world)
    headers = bearer(world, "chief")
    by_action = (await client.get(URL, params={"action": "alert.updated"}, headers=headers)).json()
    assert [e["seq"] for e in by_action["entries"]] == [3]
    by_actor = (
        await client.get(URL, params={"actor": f"person:{world.persons['staff']}"}, headers=headers)
    ).json()
    assert [e["action"] for e in by_actor["entries"]] == ["alert.trigger_repeated"]
    by_target = (
        await client.get(URL, params={"target": f"alert:{alert_id}"}, headers=headers)
    ).json()
    assert len(by_target["entries"]) == 4
    nothing = (await client.get(URL, params={"target": "alert:999"}, headers=headers)).json()
    assert nothing == {"entries": [], "next_before_seq": None}


async def test_search_filters_by_time(client: httpx.AsyncClient, world: World) -> None:
    """`since` is inclusive, `until` exclusive; a time without offset is UTC."""
    await lifecycle(client, world)
    headers = bearer(world, "chief")
    now = utcnow()
    later = (now + timedelta(hours=1)).replace(tzinfo=None).isoformat()
    earlier = (now - timedelta(hours=1)).isoformat()
    future = (await client.get(URL, params={"since": later}, headers=headers)).json()
    assert future["entries"] == []
    window = (
        await client.get(URL, params={"since": earlier, "until": later}, headers=headers)
    ).json()
    assert len(window["entries"]) == 4
    past = (await client.get(URL, params={"until": earlier}, headers=headers)).json()
    assert past["entries"] == []


async def test_search_pages_with_before_seq(client: httpx.AsyncClient, world: World) -> None:
    """`limit` and `next_before_seq` walk the log page by page to its start."""
    await lifecycle(client, world)
    headers = bearer(world, "chief")
    first = (await client.get(URL, params={"limit": 3}, headers=headers)).json()
    assert [e["seq"] for e in first["entries"]] == [4, 3, 2]
    assert first["next_before_seq"] == 2
    second = (await client.get(URL, params={"limit": 3, "before_seq": 2}, headers=headers)).json()
    assert [e["seq"] for e in second["entries"]] == [1]
    assert second["next_before_seq"] is None


async def test_verify_reports_an_intact_chain(client: httpx.AsyncClient, world: World) -> None:
    """After a lifecycle the chain verifies."""
    await lifecycle(client, world)
    response = await client.get(f"{URL}/verify", headers=bearer(world, "admin"))
    assert response.status_code == 200
    body = response.json()
    assert body["head"]["seq"] == 4 and len(body["head"]["hash"]) == 64
    assert {k: body[k] for k in ("ok", "entries", "unkeyed", "problems")} == {
        "ok": True,
        "entries": 4,
        "unkeyed": 0,
        "problems": [],
    }


async def test_verify_reports_an_edited_entry(client: httpx.AsyncClient, world: World) -> None:
    """An entry changed behind the log's back is reported with its seq."""
    await lifecycle(client, world)
    async with world.database.session() as session:
        await session.execute(
            update(AuditEntry)
            .where(AuditEntry.organization_id == world.organization_id, AuditEntry.seq == 2)
            .values(actor="person:0")
        )
        await session.commit()
    body = (await client.get(f"{URL}/verify", headers=bearer(world, "chief"))).json()
    assert body["ok"] is False and body["entries"] == 4
    assert {"seq": 2, "problem": "hash_mismatch"} in body["problems"]


async def test_verify_of_an_empty_log_is_ok(client: httpx.AsyncClient, world: World) -> None:
    """A new organization's empty log verifies."""
    response = await client.get(f"{URL}/verify", headers=bearer(world, "chief"))
    assert response.json() == {
        "ok": True,
        "entries": 0,
        "unkeyed": 0,
        "head": {"seq": 0, "hash": "0" * 64},
        "problems": [],
    }


async def test_the_log_is_scoped_to_the_callers_organization(
    client: httpx.AsyncClient, world: World
) -> None:
    """Another organization's chief sees only their own (empty) log."""
    await lifecycle(client, world)
    other = await factories.organization(world.database, name="Arboga")
    await factories.person(other, "chief", roles=((Role.SECURITY_CHIEF, None),))
    entries = (await client.get(URL, headers=bearer(other, "chief"))).json()
    assert entries == {"entries": [], "next_before_seq": None}
    verified = (await client.get(f"{URL}/verify", headers=bearer(other, "chief"))).json()
    assert (verified["ok"], verified["entries"]) == (True, 0)


@pytest.mark.parametrize("who", ["principal", "staff", "site_chief"])
async def test_only_organization_wide_chiefs_and_admins_may_view(
    client: httpx.AsyncClient, world: World, who: str
) -> None:
    """Principals, staff and a security chief of one site only get auth.forbidden."""
    await factories.person(world, "site_chief", roles=((Role.SECURITY_CHIEF, "A"),))
    for path in (URL, f"{URL}/verify"):
        response = await client.get(path, headers=bearer(world, who))
        assert response.status_code == 403 and code(response) == "auth.forbidden"


async def test_devices_api_keys_and_strangers_may_not_view(
    client: httpx.AsyncClient, world: World
) -> None:
    """Devices and API keys are forbidden; no credentials is auth.required."""
    await factories.device(world, "tray", site="A")
    await factories.api_key(world, "button", site="A")
    for path in (URL, f"{URL}/verify"):
        for who in ("tray", "button"):
            response = await client.get(path, headers=bearer(world, who))
            assert response.status_code == 403 and code(response) == "auth.forbidden"
        anonymous = await client.get(path)
        assert anonymous.status_code == 401 and code(anonymous) == "auth.required"


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "many"},
        {"before_seq": "0"},
        {"before_seq": "x"},
        {"since": "yesterday"},
        {"until": "2026-13-01"},
        {"action": "a" * 61},
    ],
)
async def test_bad_parameters_are_refused(
    client: httpx.AsyncClient, world: World, params: dict[str, str]
) -> None:
    """Mistyped or out-of-range parameters answer request.invalid."""
    response = await client.get(URL, params=params, headers=bearer(world, "chief"))
    assert response.status_code == 422 and code(response) == "request.invalid"
