"""The alert endpoints with the real app: lifecycle, permissions, idempotency, integrations,
other organizations, the event stream and every rejected input (which must write nothing)."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from protocol.messages import MAX_ID
from protocol.vocabulary import Role
from server.clock import utcnow
from server.services.sink import RecordingSink
from server.storage.tables import (
    Alert,
    AlertEvent,
    AlertSite,
    AuditEntry,
    Device,
    LoginSession,
    Site,
)
from tests import factories
from tests.factories import World, bearer

URL = "/api/v1/alerts"


@pytest.fixture
async def world(client: httpx.AsyncClient) -> World:
    """Sites A and B with a security chief, a principal and staff of A, staff of B, an admin."""
    world = await factories.organization(client.app.state.database)  # type: ignore[attr-defined]
    await factories.person(world, "chief", roles=((Role.SECURITY_CHIEF, None),))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    await factories.person(world, "principal_b", roles=((Role.PRINCIPAL, "B"),))
    await factories.person(world, "staff", roles=((Role.STAFF, "A"),))
    await factories.person(world, "staff_b", roles=((Role.STAFF, "B"),))
    await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    return world


async def counts(world: World) -> dict[str, int]:
    """Rows of alerts, events and audit entries of the world's organization."""
    result = {}
    async with world.database.session() as session:
        for name, table in (("alerts", Alert), ("events", AlertEvent), ("audit", AuditEntry)):
            result[name] = await session.scalar(
                select(func.count())
                .select_from(table)
                .where(table.organization_id == world.organization_id)
            )
    return result


async def trigger(
    client: httpx.AsyncClient,
    world: World,
    who: str,
    body: dict[str, Any] | None = None,
    **headers: str,
) -> httpx.Response:
    body = {"kind": "pdv_lockdown", "site_ids": [world.sites["A"]]} if body is None else body
    return await client.post(URL, json=body, headers={**bearer(world, who), **headers})


async def active_alert(client: httpx.AsyncClient, world: World) -> int:
    response = await trigger(client, world, "chief")
    assert response.status_code == 201, response.text
    return int(response.json()["alert"]["id"])


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def plus_refusals(before: dict[str, int], refused: int) -> dict[str, int]:
    """The counts after `refused` refused triggers: no alert, no event, one audit entry each."""
    return {**before, "audit": before["audit"] + refused}


async def refusals(world: World) -> list[AuditEntry]:
    """The `alert.trigger_refused` audit entries, oldest first."""
    async with world.database.session() as session:
        found = await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "alert.trigger_refused")
            .order_by(AuditEntry.seq)
        )
        return list(found.all())


# -- lifecycle ---------------------------------------------------------------------------


async def test_principal_triggers_updates_and_resolves(
    client: httpx.AsyncClient, world: World
) -> None:
    """Inrymning → utrymning replaces the single current order, seq increments, then all clear."""
    created = await trigger(client, world, "principal")
    assert created.status_code == 201
    body = created.json()
    assert body["created"] is True
    alert = body["alert"]
    assert alert["kind"] == "pdv_lockdown" and alert["state"] == "active"
    assert alert["mode"] == "actual" and alert["sites"] == [world.sites["A"]]
    assert alert["order"]["sv"].startswith("INRYMNING") and alert["ended_at"] is None
    assert alert["created_by"] == f"person:{world.persons['principal']}"
    assert body["event"]["seq"] == 1 and body["event"]["event"] == "triggered"
    assert body["event"]["alert"] == alert

    patched = await client.patch(
        f"{URL}/{alert['id']}", json={"kind": "evacuate"}, headers=bearer(world, "principal")
    )
    assert patched.status_code == 200
    event = patched.json()
    assert event["seq"] == 2 and event["event"] == "updated"
    assert event["actor"] == f"person:{world.persons['principal']}"
    assert event["changes"]["kind"] == "evacuate"
    assert event["alert"]["order"]["sv"].startswith("UTRYMNING")
    assert event["alert"]["order"]["en"].startswith("EVACUATE")
    assert "INRYMNING" not in event["alert"]["instructions"]["sv"]

    current = (await client.get(f"{URL}/{alert['id']}", headers=bearer(world, "staff"))).json()
    assert current == event["alert"]

    resolved = await client.post(f"{URL}/{alert['id']}/resolve", headers=bearer(world, "principal"))
    assert resolved.status_code == 200
    assert resolved.json()["seq"] == 3 and resolved.json()["event"] == "resolved"
    assert resolved.json()["alert"]["state"] == "resolved"
    assert resolved.json()["alert"]["ended_at"] is not None
    active = await client.get(URL, headers=bearer(world, "principal"))
    ended = await client.get(URL, params={"state": "ended"}, headers=bearer(world, "principal"))
    assert active.json() == {"alerts": []}
    assert [a["id"] for a in ended.json()["alerts"]] == [alert["id"]]
    assert await counts(world) == {"alerts": 1, "events": 3, "audit": 3}


async def test_update_with_own_text_in_one_language_serves_both(
    client: httpx.AsyncClient, world: World
) -> None:
    """An order given only in Swedish becomes the English order too, never a stale one."""
    alert_id = await active_alert(client, world)
    response = await client.patch(
        f"{URL}/{alert_id}",
        json={"order": {"sv": "Gå till idrottshallen"}},
        headers=bearer(world, "chief"),
    )
    assert response.status_code == 200
    assert response.json()["alert"]["order"] == {
        "sv": "Gå till idrottshallen",
        "en": "Gå till idrottshallen",
    }
    assert set(response.json()["changes"]) == {"order"}


async def test_principal_cancels_a_false_alarm(client: httpx.AsyncClient, world: World) -> None:
    """Cancel ends the alert as `cancelled` and frees the site for a new trigger."""
    alert_id = await active_alert(client, world)
    response = await client.post(f"{URL}/{alert_id}/cancel", headers=bearer(world, "principal"))
    assert response.status_code == 200
    assert response.json()["event"] == "cancelled"
    assert response.json()["alert"]["state"] == "cancelled"
    again = await trigger(client, world, "principal")
    assert again.status_code == 201 and again.json()["alert"]["id"] != alert_id


async def test_ended_alert_cannot_change_again(client: httpx.AsyncClient, world: World) -> None:
    """Update, resolve or cancel of an ended alert answers alert.not_active, writes nothing."""
    alert_id = await active_alert(client, world)
    await client.post(f"{URL}/{alert_id}/resolve", headers=bearer(world, "chief"))
    before = await counts(world)
    for response in (
        await client.post(f"{URL}/{alert_id}/resolve", headers=bearer(world, "chief")),
        await client.post(f"{URL}/{alert_id}/cancel", headers=bearer(world, "chief")),
        await client.patch(
            f"{URL}/{alert_id}", json={"kind": "secure"}, headers=bearer(world, "chief")
        ),
    ):
        assert response.status_code == 409 and code(response) == "alert.not_active"
    assert await counts(world) == before


async def test_update_that_changes_nothing_is_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    """An empty PATCH or the same kind again answers alert.nothing_to_update."""
    alert_id = await active_alert(client, world)
    before = await counts(world)
    for body in ({}, {"kind": "pdv_lockdown"}):
        response = await client.patch(
            f"{URL}/{alert_id}", json=body, headers=bearer(world, "chief")
        )
        assert response.status_code == 409 and code(response) == "alert.nothing_to_update"
    assert await counts(world) == before


# -- roles -------------------------------------------------------------------------------


async def test_staff_triggers_where_the_site_allows_it(
    client: httpx.AsyncClient, world: World
) -> None:
    """Staff may trigger on their own site by default (whoever sees the attacker warns)."""
    response = await trigger(client, world, "staff")
    assert response.status_code == 201
    assert response.json()["alert"]["created_by"] == f"person:{world.persons['staff']}"


async def test_staff_is_refused_where_the_site_forbids_staff_triggers(
    client: httpx.AsyncClient, world: World
) -> None:
    """With staff_may_trigger False, staff get auth.forbidden; only the refusal is audited."""
    async with world.database.session() as session:
        await session.execute(
            update(Site).where(Site.id == world.sites["A"]).values(staff_may_trigger=False)
        )
        await session.commit()
    before = await counts(world)
    response = await trigger(client, world, "staff")
    assert response.status_code == 403 and code(response) == "auth.forbidden"
    assert await counts(world) == plus_refusals(before, 1)
    assert (await trigger(client, world, "principal")).status_code == 201


async def test_staff_cannot_trigger_on_another_site(
    client: httpx.AsyncClient, world: World
) -> None:
    """Staff of A may not trigger on B; the refusal is audited with who, where and why."""
    before = await counts(world)
    response = await trigger(
        client, world, "staff", {"kind": "pdv_lockdown", "site_ids": [world.sites["B"]]}
    )
    assert response.status_code == 403 and code(response) == "auth.forbidden"
    assert await counts(world) == plus_refusals(before, 1)
    [entry] = await refusals(world)
    assert entry.actor == f"person:{world.persons['staff']}"
    assert entry.details["sites"] == [world.sites["B"]]
    assert entry.details["kind"] == "pdv_lockdown" and entry.details["mode"] == "actual"
    assert entry.details["reason"] == "auth.forbidden"


@pytest.mark.parametrize("who", ["staff", "admin"])
async def test_staff_and_admin_cannot_update_resolve_or_cancel(
    client: httpx.AsyncClient, world: World, who: str
) -> None:
    """Receiving an alert does not allow leading it: 403, and nothing changes."""
    alert_id = await active_alert(client, world)
    before = await counts(world)
    for response in (
        await client.patch(
            f"{URL}/{alert_id}", json={"kind": "evacuate"}, headers=bearer(world, who)
        ),
        await client.post(f"{URL}/{alert_id}/resolve", headers=bearer(world, who)),
        await client.post(f"{URL}/{alert_id}/cancel", headers=bearer(world, who)),
    ):
        assert response.status_code == 403 and code(response) == "auth.forbidden"
    assert await counts(world) == before
    current = await client.get(f"{URL}/{alert_id}", headers=bearer(world, "chief"))
    assert current.json()["state"] == "active" and current.json()["kind"] == "pdv_lockdown"


async def test_principal_of_another_site_does_not_see_the_alert(
    client: httpx.AsyncClient, world: World
) -> None:
    """An alert on A is not found for B's principal, for reading or changing."""
    alert_id = await active_alert(client, world)
    before = await counts(world)
    headers = bearer(world, "principal_b")
    for response in (
        await client.get(f"{URL}/{alert_id}", headers=headers),
        await client.post(f"{URL}/{alert_id}/resolve", headers=headers),
        await client.patch(f"{URL}/{alert_id}", json={"kind": "secure"}, headers=headers),
    ):
        assert response.status_code == 404 and code(response) == "alert.not_found"
    assert (await client.get(URL, headers=headers)).json() == {"alerts": []}
    assert await counts(world) == before


@pytest.mark.parametrize("mode", ["drill", "test"])
async def test_drills_and_tests_only_by_the_security_chief(
    client: httpx.AsyncClient, world: World, mode: str
) -> None:
    """A principal may not start a drill or test; the security chief may."""
    body = {"kind": "pdv_lockdown", "mode": mode, "site_ids": [world.sites["A"]]}
    before = await counts(world)
    for who in ("principal", "staff", "admin"):
        refused = await trigger(client, world, who, body)
        assert refused.status_code == 403 and code(refused) == "auth.forbidden"
    assert await counts(world) == plus_refusals(before, 3)
    allowed = await trigger(client, world, "chief", body)
    assert allowed.status_code == 201 and allowed.json()["alert"]["mode"] == mode


async def test_an_actual_trigger_supersedes_a_drill(
    client: httpx.AsyncClient, world: World
) -> None:
    """A real alert on a site in a drill cancels the drill; both events are published."""
    sink = RecordingSink()
    client.app.state.sink = sink  # type: ignore[attr-defined]
    drill = await trigger(
        client,
        world,
        "chief",
        {"kind": "pdv_lockdown", "mode": "drill", "site_ids": [world.sites["A"]]},
    )
    real = await trigger(client, world, "staff")
    assert real.status_code == 201
    published = [event for _org, event in sink.events]
    assert [(e["seq"], e["event"]) for e in published] == [
        (1, "triggered"),
        (2, "cancelled"),
        (3, "triggered"),
    ]
    assert published[1]["alert"]["id"] == drill.json()["alert"]["id"]
    assert real.json()["event"]["seq"] == 3


# -- one active alert per site, idempotency ----------------------------------------------


async def test_second_trigger_on_the_same_site_returns_the_same_alert(
    client: httpx.AsyncClient, world: World
) -> None:
    """A second press of the same kind answers 200 with the existing alert and audits who."""
    first = await trigger(client, world, "principal")
    second = await trigger(client, world, "staff")
    assert second.status_code == 200
    assert second.json() == {"alert": first.json()["alert"], "created": False}
    async with world.database.session() as session:
        repeated = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "alert.trigger_repeated")
        )
    assert repeated is not None
    assert repeated.actor == f"person:{world.persons['staff']}"
    assert repeated.target == f"alert:{first.json()['alert']['id']}"
    assert await counts(world) == {"alerts": 1, "events": 1, "audit": 2}


async def test_a_trigger_of_another_kind_is_answered_409_and_the_leaders_are_told(
    client: httpx.AsyncClient, world: World
) -> None:
    """Utrymning pressed during inrymning: 409 with the active alert, the order stays, and
    an `updated` event says `escalation_requested` (who, what, why) to the alert's leaders."""
    sink = RecordingSink()
    client.app.state.sink = sink  # type: ignore[attr-defined]
    first = (await trigger(client, world, "principal")).json()
    body = {"kind": "evacuate", "site_ids": [world.sites["A"]], "order": {"sv": "Brand i hus C"}}
    refused = await trigger(client, world, "staff", body)
    assert refused.status_code == 409 and code(refused) == "alert.other_kind_active"
    assert refused.json()["alert"] == first["alert"]
    [_, (_, event)] = sink.events
    assert event["event"] == "updated" and event["seq"] == 2
    assert event["actor"] == f"person:{world.persons['staff']}"
    assert event["alert"] == first["alert"]
    assert event["changes"] == {
        "escalation_requested": {
            "kind": "evacuate",
            "sites": [world.sites["A"]],
            "order": {"sv": "Brand i hus C", "en": "Brand i hus C"},
            "reason": "other_kind_active",
        }
    }
    since = await client.get(f"{URL}/events", headers=bearer(world, "principal"))
    assert [e["seq"] for e in since.json()["events"]] == [1, 2]
    current = await client.get(f"{URL}/{first['alert']['id']}", headers=bearer(world, "chief"))
    assert current.json() == first["alert"]
    async with world.database.session() as session:
        actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq))).all()
    assert actions == ["alert.triggered", "alert.escalation_requested"]


@pytest.mark.parametrize("who", ["staff", "button"])
async def test_a_pdv_trigger_escalates_a_less_severe_alert_by_itself(
    client: httpx.AsyncClient, world: World, who: str
) -> None:
    """Inrymning pressed (by staff or a panic button) during utestängning on A and B takes
    the whole alert to inrymning with the organization's texts: 200 escalated, one event."""
    await factories.api_key(world, "button", site="A")
    secure = await trigger(
        client, world, "chief", {"kind": "secure", "site_ids": list(world.sites.values())}
    )
    alert_id = secure.json()["alert"]["id"]
    pressed = await trigger(
        client, world, who, {"kind": "pdv_lockdown"} if who == "button" else None
    )
    assert pressed.status_code == 200, pressed.text
    answer = pressed.json()
    assert answer["created"] is False and answer["escalated"] is True
    assert answer["alert"]["id"] == alert_id and answer["alert"]["kind"] == "pdv_lockdown"
    assert answer["alert"]["sites"] == sorted(world.sites.values())
    assert answer["alert"]["order"]["sv"].startswith("INRYMNING")
    assert answer["event"]["event"] == "updated" and answer["event"]["seq"] == 2
    assert answer["event"]["changes"]["escalated"] is True
    assert answer["event"]["alert"] == answer["alert"]
    current = await client.get(f"{URL}/{alert_id}", headers=bearer(world, "chief"))
    assert current.json() == answer["alert"]
    assert await counts(world) == {"alerts": 1, "events": 2, "audit": 2}


async def test_trigger_on_covered_and_free_sites_makes_an_alert_for_the_free_ones(
    client: httpx.AsyncClient, world: World
) -> None:
    """A and B requested while A has an alert: the new alert covers only B."""
    await trigger(client, world, "chief")
    response = await trigger(
        client, world, "chief", {"kind": "pdv_lockdown", "site_ids": list(world.sites.values())}
    )
    assert response.status_code == 201
    assert response.json()["alert"]["sites"] == [world.sites["B"]]


async def test_idempotency_key_returns_the_active_alert_created_with_it(
    client: httpx.AsyncClient, world: World
) -> None:
    """The same key again while the alert is active answers 200 with it, nothing new."""
    first = await trigger(client, world, "principal", **{"Idempotency-Key": "press-1"})
    assert first.status_code == 201
    before = await counts(world)
    same = await trigger(client, world, "principal", **{"Idempotency-Key": "press-1"})
    assert same.status_code == 200 and same.json()["created"] is False
    assert same.json()["alert"] == first.json()["alert"]
    assert await counts(world) == before


async def test_a_real_press_with_a_reused_key_is_never_answered_with_an_ended_alert(
    client: httpx.AsyncClient, world: World
) -> None:
    """After a false alarm, a real press with the same key triggers a new alert (201)."""
    first = await trigger(client, world, "principal", **{"Idempotency-Key": "press-1"})
    alert_id = first.json()["alert"]["id"]
    await client.post(f"{URL}/{alert_id}/cancel", headers=bearer(world, "principal"))
    again = await trigger(client, world, "principal", **{"Idempotency-Key": "press-1"})
    assert again.status_code == 201, again.text
    assert again.json()["alert"]["id"] != alert_id
    assert again.json()["alert"]["state"] == "active"


async def test_idempotency_keys_are_the_callers_own(
    client: httpx.AsyncClient, world: World
) -> None:
    """Another caller's key of the same spelling never returns their alert: staff of B
    pressing with the principal of A's key gets its own alert."""
    mine = await trigger(client, world, "principal", **{"Idempotency-Key": "press"})
    body = {"kind": "pdv_lockdown", "site_ids": [world.sites["B"]]}
    theirs = await trigger(client, world, "staff_b", body, **{"Idempotency-Key": "press"})
    assert mine.status_code == theirs.status_code == 201
    assert theirs.json()["alert"]["sites"] == [world.sites["B"]]


async def test_a_real_press_is_not_refused_over_a_key_of_another_request(
    client: httpx.AsyncClient, world: World
) -> None:
    """A reused key with another request is ignored for a real alarm: it is decided as
    any trigger (here a new alert on B), never alert.idempotency_conflict."""
    await trigger(client, world, "chief", **{"Idempotency-Key": "press-2"})
    body = {"kind": "pdv_lockdown", "site_ids": [world.sites["B"]]}
    response = await trigger(client, world, "chief", body, **{"Idempotency-Key": "press-2"})
    assert response.status_code == 201 and response.json()["alert"]["sites"] == [world.sites["B"]]


async def test_the_monthly_drill_key_returns_the_same_drill_after_it_ended(
    client: httpx.AsyncClient, world: World
) -> None:
    """The documented drill key: a drill retried the same month returns the same drill,
    even after it was resolved; the key with another drill request conflicts."""
    body = {"kind": "pdv_lockdown", "mode": "drill", "site_ids": [world.sites["A"]]}
    key = {"Idempotency-Key": "drill-2026-12"}
    first = await trigger(client, world, "chief", body, **key)
    alert_id = first.json()["alert"]["id"]
    await client.post(f"{URL}/{alert_id}/resolve", headers=bearer(world, "chief"))
    before = await counts(world)
    again = await trigger(client, world, "chief", body, **key)
    assert again.status_code == 200 and again.json()["alert"]["id"] == alert_id
    assert again.json()["alert"]["state"] == "resolved"
    for other in (
        {**body, "kind": "evacuate"},
        {**body, "site_ids": [world.sites["B"]]},
        {**body, "mode": "test"},
    ):
        response = await trigger(client, world, "chief", other, **key)
        assert response.status_code == 409, other
        assert code(response) == "alert.idempotency_conflict"
    assert await counts(world) == before


async def test_idempotency_key_is_per_organization(client: httpx.AsyncClient, world: World) -> None:
    """Another organization's key of the same spelling is a different key."""
    other = await factories.organization(world.database, name="Arboga")
    await factories.person(other, "chief", roles=((Role.SECURITY_CHIEF, None),))
    mine = await trigger(client, world, "chief", **{"Idempotency-Key": "same"})
    theirs = await trigger(client, other, "chief", **{"Idempotency-Key": "same"})
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["alert"]["id"] != theirs.json()["alert"]["id"]


async def test_too_long_idempotency_key_is_refused(client: httpx.AsyncClient, world: World) -> None:
    """An Idempotency-Key over 200 characters is request.invalid and writes nothing."""
    before = await counts(world)
    response = await trigger(client, world, "chief", **{"Idempotency-Key": "k" * 201})
    assert response.status_code == 422 and code(response) == "request.invalid"
    assert await counts(world) == before


# -- devices and API keys ----------------------------------------------------------------


async def test_device_triggers_on_its_own_site(client: httpx.AsyncClient, world: World) -> None:
    """A device without site_ids triggers on its site, as staff of it."""
    device_id = await factories.device(world, "tray", site="B")
    response = await trigger(client, world, "tray", {"kind": "secure"})
    assert response.status_code == 201
    alert = response.json()["alert"]
    assert alert["sites"] == [world.sites["B"]] and alert["created_by"] == f"device:{device_id}"
    seen = await client.get(f"{URL}/{alert['id']}", headers=bearer(world, "tray"))
    assert seen.status_code == 200


async def test_device_cannot_trigger_elsewhere_or_lead(
    client: httpx.AsyncClient, world: World
) -> None:
    """A device may not trigger on another site, nor resolve."""
    await factories.device(world, "tray", site="B")
    alert_id = await active_alert(client, world)
    before = await counts(world)
    elsewhere = await trigger(
        client, world, "tray", {"kind": "secure", "site_ids": [world.sites["A"]]}
    )
    assert elsewhere.status_code == 403
    await factories.device(world, "tray_a", site="A")
    resolve = await client.post(f"{URL}/{alert_id}/resolve", headers=bearer(world, "tray_a"))
    assert resolve.status_code == 403 and code(resolve) == "auth.forbidden"
    assert await counts(world) == plus_refusals(before, 1)


async def test_revoked_device_is_refused(client: httpx.AsyncClient, world: World) -> None:
    """A revoked device's token answers auth.invalid_token and triggers nothing."""
    device_id = await factories.device(world, "tray", site="A")
    async with world.database.session() as session:
        await session.execute(
            update(Device).where(Device.id == device_id).values(revoked_at=utcnow())
        )
        await session.commit()
    before = await counts(world)
    response = await trigger(client, world, "tray", {"kind": "pdv_lockdown"})
    assert response.status_code == 401 and code(response) == "auth.invalid_token"
    assert await counts(world) == before


async def test_api_key_triggers_its_configured_kind(
    client: httpx.AsyncClient, world: World
) -> None:
    """A panic button posting {} triggers its key's kind on its site."""
    key_id = await factories.api_key(world, "button", site="A")
    response = await trigger(client, world, "button", {})
    assert response.status_code == 201
    alert = response.json()["alert"]
    assert alert["kind"] == "pdv_lockdown" and alert["sites"] == [world.sites["A"]]
    assert alert["mode"] == "actual" and alert["created_by"] == f"api_key:{key_id}"


async def test_api_key_triggers_only_actual_alerts_and_reads_nothing(
    client: httpx.AsyncClient, world: World
) -> None:
    """An API key may not run drills, nor read or change alerts."""
    await factories.api_key(world, "button", site="A")
    before = await counts(world)
    drill = await trigger(client, world, "button", {"mode": "drill"})
    assert drill.status_code == 403 and code(drill) == "auth.forbidden"
    assert await counts(world) == plus_refusals(before, 1)
    alert_id = (await trigger(client, world, "button", {})).json()["alert"]["id"]
    assert (await client.get(URL, headers=bearer(world, "button"))).json() == {"alerts": []}
    hidden = await client.get(f"{URL}/{alert_id}", headers=bearer(world, "button"))
    assert hidden.status_code == 404
    cancel = await client.post(f"{URL}/{alert_id}/cancel", headers=bearer(world, "button"))
    assert cancel.status_code == 404


async def test_api_key_triggers_its_own_kind_with_the_organizations_texts_only(
    client: httpx.AsyncClient, world: World
) -> None:
    """A pdv_lockdown key asking for another kind, or bringing its own order or instructions,
    is refused 403 with its own code, audited, and triggers nothing."""
    key_id = await factories.api_key(world, "button", site="A")
    before = await counts(world)
    for body, expected in (
        ({"kind": "custom", "order": {"sv": "Alla ut"}}, "api_key.kind_mismatch"),
        ({"kind": "evacuate"}, "api_key.kind_mismatch"),
        ({"kind": "pdv_lockdown", "order": {"sv": "Gå till matsalen"}}, "api_key.text_not_allowed"),
        ({"instructions": {"en": "Run"}}, "api_key.text_not_allowed"),
    ):
        response = await trigger(client, world, "button", body)
        assert response.status_code == 403 and code(response) == expected, body
    assert await counts(world) == plus_refusals(before, 4)
    entries = await refusals(world)
    assert {e.actor for e in entries} == {f"api_key:{key_id}"}
    assert [e.details["reason"] for e in entries] == [
        "api_key.kind_mismatch",
        "api_key.kind_mismatch",
        "api_key.text_not_allowed",
        "api_key.text_not_allowed",
    ]
    assert entries[1].details["kind"] == "evacuate"
    assert entries[1].details["sites"] == [world.sites["A"]]
    own = await trigger(client, world, "button", {"kind": "pdv_lockdown"})
    assert own.status_code == 201 and own.json()["alert"]["order"]["sv"].startswith("INRYMNING")


async def test_authorization_refusals_are_logged_at_warning(
    client: httpx.AsyncClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused update leaves a WARNING naming the route and the code."""
    alert_id = await active_alert(client, world)
    with caplog.at_level(logging.WARNING, logger="server.api.errors"):
        response = await client.post(f"{URL}/{alert_id}/cancel", headers=bearer(world, "staff"))
    assert response.status_code == 403
    [record] = [r for r in caplog.records if r.name == "server.api.errors"]
    assert record.levelno == logging.WARNING
    assert f"/alerts/{alert_id}/cancel" in record.getMessage()
    assert "auth.forbidden" in record.getMessage()


# -- a multi-site alert has one current order ----------------------------------------------


async def test_a_principal_of_one_site_asks_the_leaders_to_update_a_multi_site_alert(
    client: httpx.AsyncClient, world: World
) -> None:
    """A principal of A may not change the one order of an alert on A and B: 403
    alert.led_by_security_chief with the alert, the order stays, the leaders are told."""
    sink = RecordingSink()
    client.app.state.sink = sink  # type: ignore[attr-defined]
    both = {"kind": "pdv_lockdown", "site_ids": list(world.sites.values())}
    alert = (await trigger(client, world, "chief", both)).json()["alert"]
    response = await client.patch(
        f"{URL}/{alert['id']}",
        json={"kind": "evacuate", "order": {"sv": "Ut via södra utgången"}},
        headers=bearer(world, "principal"),
    )
    assert response.status_code == 403 and code(response) == "alert.led_by_security_chief"
    assert response.json()["alert"] == alert
    [_, (_, event)] = sink.events
    assert event["event"] == "updated" and event["alert"] == alert
    assert event["actor"] == f"person:{world.persons['principal']}"
    assert event["changes"] == {
        "escalation_requested": {
            "kind": "evacuate",
            "order": {"sv": "Ut via södra utgången", "en": "Ut via södra utgången"},
            "reason": "multi_site_update",
        }
    }
    current = await client.get(f"{URL}/{alert['id']}", headers=bearer(world, "chief"))
    assert current.json() == alert
    for refused in (
        await client.post(f"{URL}/{alert['id']}/resolve", headers=bearer(world, "principal")),
        await client.post(f"{URL}/{alert['id']}/cancel", headers=bearer(world, "principal")),
    ):
        assert refused.status_code == 403 and code(refused) == "auth.forbidden"
    chief = await client.patch(
        f"{URL}/{alert['id']}", json={"kind": "evacuate"}, headers=bearer(world, "chief")
    )
    assert chief.status_code == 200 and chief.json()["alert"]["kind"] == "evacuate"


# -- other organizations -----------------------------------------------------------------


async def test_another_organizations_ids_answer_not_found(
    client: httpx.AsyncClient, world: World
) -> None:
    """Alerts and sites of another organization are 404 and stay untouched."""
    other = await factories.organization(world.database, name="Arboga")
    await factories.person(other, "chief", roles=((Role.SECURITY_CHIEF, None),))
    alert_id = await active_alert(client, world)
    before, before_other = await counts(world), await counts(other)
    headers = bearer(other, "chief")
    for response in (
        await client.get(f"{URL}/{alert_id}", headers=headers),
        await client.patch(f"{URL}/{alert_id}", json={"kind": "secure"}, headers=headers),
        await client.post(f"{URL}/{alert_id}/resolve", headers=headers),
        await client.post(f"{URL}/{alert_id}/cancel", headers=headers),
    ):
        assert response.status_code == 404 and code(response) == "alert.not_found"
    site = await client.post(
        URL, json={"kind": "pdv_lockdown", "site_ids": [world.sites["A"]]}, headers=headers
    )
    assert site.status_code == 404 and code(site) == "site.not_found"
    assert (await client.get(URL, headers=headers)).json() == {"alerts": []}
    events = (await client.get(f"{URL}/events", headers=headers)).json()
    assert events["events"] == [] and events["seq"] == 0
    assert await counts(world) == before and await counts(other) == before_other
    current = await client.get(f"{URL}/{alert_id}", headers=bearer(world, "chief"))
    assert current.json()["state"] == "active"


# -- reading -----------------------------------------------------------------------------


async def test_events_since_returns_visible_events_in_order(
    client: httpx.AsyncClient, world: World
) -> None:
    """The event stream lists the caller's sites' events by seq and hides the others."""
    on_a = await active_alert(client, world)
    on_b = (
        await trigger(client, world, "chief", {"kind": "secure", "site_ids": [world.sites["B"]]})
    ).json()["alert"]
    await client.patch(f"{URL}/{on_a}", json={"kind": "evacuate"}, headers=bearer(world, "chief"))
    await client.post(f"{URL}/{on_b['id']}/resolve", headers=bearer(world, "chief"))

    everything = (await client.get(f"{URL}/events", headers=bearer(world, "chief"))).json()
    assert [(e["seq"], e["event"]) for e in everything["events"]] == [
        (1, "triggered"),
        (2, "triggered"),
        (3, "updated"),
        (4, "resolved"),
    ]
    assert everything["seq"] == 4 and everything["epoch"]
    staff_b = (await client.get(f"{URL}/events", headers=bearer(world, "staff_b"))).json()
    assert [(e["seq"], e["alert"]["id"]) for e in staff_b["events"]] == [
        (2, on_b["id"]),
        (4, on_b["id"]),
    ]
    after = (
        await client.get(f"{URL}/events", params={"after_seq": 2}, headers=bearer(world, "staff"))
    ).json()
    assert [e["seq"] for e in after["events"]] == [3] and after["seq"] == 4
    page = (
        await client.get(f"{URL}/events", params={"limit": 1}, headers=bearer(world, "staff_b"))
    ).json()
    assert page["events"] == [] and page["seq"] == 1


async def test_list_alerts_pages_newest_first(client: httpx.AsyncClient, world: World) -> None:
    """`state=all`, `limit` and `before_id` page through the caller's alerts."""
    ids = []
    for _ in range(3):
        alert_id = await active_alert(client, world)
        await client.post(f"{URL}/{alert_id}/cancel", headers=bearer(world, "chief"))
        ids.append(alert_id)
    live = await active_alert(client, world)
    headers = bearer(world, "staff")
    first = (await client.get(URL, params={"state": "all", "limit": 2}, headers=headers)).json()
    assert [a["id"] for a in first["alerts"]] == [live, ids[2]]
    rest = (
        await client.get(URL, params={"state": "all", "before_id": ids[2]}, headers=headers)
    ).json()
    assert [a["id"] for a in rest["alerts"]] == [ids[1], ids[0]]
    active = (await client.get(URL, headers=headers)).json()
    assert [a["id"] for a in active["alerts"]] == [live]


@pytest.mark.parametrize(
    "path",
    [
        f"{URL}?state=open",
        f"{URL}?limit=0",
        f"{URL}?limit=abc",
        f"{URL}?before_id=-1",
        f"{URL}/events?after_seq=-1",
        f"{URL}/events?limit=100000",
        f"{URL}/abc",
        f"{URL}/0",
    ],
)
async def test_bad_query_parameters_are_refused(
    client: httpx.AsyncClient, world: World, path: str
) -> None:
    """Out-of-range or mistyped parameters answer request.invalid."""
    response = await client.get(path, headers=bearer(world, "chief"))
    assert response.status_code == 422 and code(response) == "request.invalid"


async def test_unknown_alert_is_not_found(client: httpx.AsyncClient, world: World) -> None:
    """An id nobody has answers alert.not_found."""
    response = await client.get(f"{URL}/4242", headers=bearer(world, "chief"))
    assert response.status_code == 404 and code(response) == "alert.not_found"


# -- authentication ----------------------------------------------------------------------


async def test_unauthenticated_and_bad_tokens_are_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    """No credentials, an unknown token or an expired session: 401, nothing written."""
    body = {"kind": "pdv_lockdown", "site_ids": [world.sites["A"]]}
    before = await counts(world)
    missing = await client.post(URL, json=body)
    assert missing.status_code == 401 and code(missing) == "auth.required"
    unknown = await client.post(URL, json=body, headers={"Authorization": "Bearer nope"})
    assert unknown.status_code == 401 and code(unknown) == "auth.invalid_token"
    async with world.database.session() as session:
        await session.execute(
            update(LoginSession)
            .where(LoginSession.person_id == world.persons["chief"])
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        await session.commit()
    client.cookies.set("pdv_session", world.tokens["chief"])
    expired = await client.post(URL, json=body)
    client.cookies.clear()
    assert expired.status_code == 401 and code(expired) == "auth.session_expired"
    for path in (URL, f"{URL}/events", f"{URL}/1"):
        assert (await client.get(path)).status_code == 401
    assert await counts(world) == before


async def test_session_cookie_works_like_the_bearer_token(
    client: httpx.AsyncClient, world: World
) -> None:
    """A browser's session cookie authenticates the same person."""
    client.cookies.set("pdv_session", world.tokens["principal"])
    try:
        response = await client.post(URL, json={"kind": "secure", "site_ids": [world.sites["A"]]})
    finally:
        client.cookies.clear()
    assert response.status_code == 201


# -- bad input ---------------------------------------------------------------------------


def bad_triggers(world: World) -> list[tuple[Any, str]]:
    a = world.sites["A"]
    return [
        ({"kind": "lockdown", "site_ids": [a]}, "request.invalid"),
        ({"kind": "pdv_lockdown", "mode": "exercise", "site_ids": [a]}, "request.invalid"),
        ({"kind": "pdv_lockdown", "site_ids": [a], "priority": 1}, "request.unknown_field"),
        ({"kind": "pdv_lockdown", "site_ids": [a], "order": {"de": "x"}}, "request.unknown_field"),
        ({"kind": "pdv_lockdown", "site_ids": ["A"]}, "request.invalid"),
        ({"kind": "pdv_lockdown", "site_ids": a}, "request.invalid"),
        ({"kind": "pdv_lockdown", "site_ids": [a], "order": "INRYMNING"}, "request.invalid"),
        ({"kind": "pdv_lockdown", "site_ids": [a], "order": {"sv": 5}}, "request.invalid"),
        ({"site_ids": [a]}, "request.invalid"),
        ([], "request.invalid"),
        ({"kind": "custom", "site_ids": [a]}, "alert.custom_text_required"),
        ({"kind": "custom", "site_ids": [a], "order": {"sv": "  "}}, "alert.custom_text_required"),
        (
            {"kind": "pdv_lockdown", "site_ids": [a], "order": {"sv": "x" * 501}},
            "alert.text_too_long",
        ),
        (
            {
                "kind": "custom",
                "site_ids": [a],
                "order": {"sv": "Samling"},
                "instructions": {"en": "y" * 501},
            },
            "alert.text_too_long",
        ),
        ({"kind": "pdv_lockdown", "site_ids": []}, "alert.no_sites"),
        ({"kind": "pdv_lockdown"}, "alert.no_sites"),
        ({"kind": "pdv_lockdown", "site_ids": [a, 999999]}, "site.not_found"),
        # out of the id range: refused at the edge, like every other id
        ({"kind": "pdv_lockdown", "site_ids": [a, MAX_ID + 1]}, "request.invalid"),
        ({"kind": "pdv_lockdown", "site_ids": [0]}, "request.invalid"),
        ({"kind": "pdv_lockdown", "site_ids": [2**63]}, "request.invalid"),
    ]


async def test_every_bad_trigger_has_its_code_and_writes_nothing(
    client: httpx.AsyncClient, world: World
) -> None:
    """Each malformed or invalid trigger answers its stable code; no row is written."""
    before = await counts(world)
    for body, expected in bad_triggers(world):
        response = await trigger(client, world, "chief", body)
        assert code(response) == expected, (body, response.text)
        assert response.status_code in (400, 404, 409, 422)
    malformed = await client.post(
        URL,
        content=b'{"kind": "pdv_lockdown",',
        headers={**bearer(world, "chief"), "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400 and code(malformed) == "request.malformed_json"
    assert await counts(world) == before


async def test_every_bad_update_has_its_code_and_changes_nothing(
    client: httpx.AsyncClient, world: World
) -> None:
    """Invalid PATCH bodies answer their codes and leave the current order as it was."""
    alert_id = await active_alert(client, world)
    original = (await client.get(f"{URL}/{alert_id}", headers=bearer(world, "chief"))).json()
    before = await counts(world)
    for body, expected in (
        ({"kind": "flood"}, "request.invalid"),
        ({"mode": "drill"}, "request.unknown_field"),
        ({"state": "resolved"}, "request.unknown_field"),
        ({"order": {"sv": "x" * 501}}, "alert.text_too_long"),
        ({"kind": "custom"}, "alert.custom_text_required"),
        ({"order": ["x"]}, "request.invalid"),
    ):
        response = await client.patch(
            f"{URL}/{alert_id}", json=body, headers=bearer(world, "chief")
        )
        assert code(response) == expected, (body, response.text)
    malformed = await client.patch(
        f"{URL}/{alert_id}",
        content=b"{nope",
        headers={**bearer(world, "chief"), "Content-Type": "application/json"},
    )
    assert code(malformed) == "request.malformed_json"
    assert await counts(world) == before
    now = (await client.get(f"{URL}/{alert_id}", headers=bearer(world, "chief"))).json()
    assert now == original


# -- the post-commit sink --------------------------------------------------------------------------


class StoredCheckingSink(RecordingSink):
    """Records, per event, whether it was already committed when the sink heard of it."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        self.seen: list[tuple[int, str, int, bool]] = []

    async def event_committed(self, organization_id: int, event: dict[str, Any]) -> None:
        async with self.world.database.session() as session:
            stored = await session.scalar(
                select(AlertEvent).where(
                    AlertEvent.organization_id == organization_id, AlertEvent.seq == event["seq"]
                )
            )
        self.seen.append((event["seq"], event["event"], organization_id, stored is not None))


async def test_each_committed_event_is_handed_to_the_sink(
    client: httpx.AsyncClient, world: World
) -> None:
    """The sink hears of each event after its commit: the event is already in the database."""
    sink = StoredCheckingSink(world)
    client.app.state.sink = sink  # type: ignore[attr-defined]
    alert_id = await active_alert(client, world)
    await trigger(client, world, "staff")  # existing alert: no event
    await trigger(client, world, "chief", {"kind": "custom", "site_ids": [world.sites["B"]]})
    await client.patch(f"{URL}/{alert_id}", json={"kind": "secure"}, headers=bearer(world, "chief"))
    await client.post(f"{URL}/{alert_id}/resolve", headers=bearer(world, "staff"))  # refused
    await client.post(f"{URL}/{alert_id}/resolve", headers=bearer(world, "chief"))
    org = world.organization_id
    assert sink.seen == [
        (1, "triggered", org, True),
        (2, "updated", org, True),
        (3, "resolved", org, True),
    ]


async def test_a_failing_sink_does_not_fail_the_request(
    client: httpx.AsyncClient, world: World
) -> None:
    """The database is the record: a broken hub is logged, the trigger still answers 201."""
    sink = RecordingSink(fail=RuntimeError("hub down"))
    client.app.state.sink = sink  # type: ignore[attr-defined]
    response = await trigger(client, world, "chief")
    assert response.status_code == 201
    assert [event["seq"] for _org, event in sink.events] == [1]
    async with world.database.session() as session:
        active = await session.scalar(
            select(func.count()).select_from(AlertSite).where(AlertSite.active.is_(True))
        )
    assert active == 1


# -- the schema --------------------------------------------------------------------------


async def test_the_openapi_describes_the_alert_responses(client: httpx.AsyncClient) -> None:
    """Every alert route names its response model; 201 and 200 of a trigger differ."""
    spec = (await client.get("/api/v1/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    assert {"AlertOut", "EventOut", "TriggerOut", "ExistingAlertOut", "AlertListOut"} <= set(
        schemas
    )
    assert set(schemas["AlertOut"]["required"]) >= {"id", "kind", "sites", "order", "ended_at"}

    def schema(path: str, method: str, status: str) -> str:
        content = spec["paths"][f"/api/v1/alerts{path}"][method]["responses"][status]["content"]
        return json.dumps(content["application/json"]["schema"])

    assert "TriggerOut" in schema("", "post", "201")
    assert "ExistingAlertOut" in schema("", "post", "200")
    assert "AlertListOut" in schema("", "get", "200")
    assert "EventsOut" in schema("/events", "get", "200")
    assert "AlertOut" in schema("/{alert_id}", "get", "200")
    for path, method in (("", "patch"), ("/resolve", "post"), ("/cancel", "post")):
        assert "EventOut" in schema("/{alert_id}" + path, method, "200")
