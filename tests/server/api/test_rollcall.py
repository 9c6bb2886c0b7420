"""The roll call and reachability report over HTTP, with every error path."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from protocol.codec import decode_server
from protocol.messages import RollCall
from protocol.vocabulary import DeviceKind, Role
from server.clock import utcnow
from server.credentials import token_hash
from server.settings import Settings
from server.storage import receipts
from server.storage.database import Database
from server.storage.receipts import ReceiptUpdate
from server.storage.tables import Alert, AlertEvent, AuditEntry, Device, LoginSession, Receipt
from tests import factories
from tests.conftest import app_client
from tests.factories import World, bearer
from tests.server.api.worlds import Worlds


@pytest.fixture
async def client(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """These tests run on SQLite and on PostgreSQL."""
    async with app_client(settings, database) as http:
        yield http


@pytest.fixture
async def worlds(client: httpx.AsyncClient) -> Worlds:
    """Köping (sites A, B): a chief, a principal of A, staff and devices at A and B; Arboga
    with its own chief and device."""
    database = client.app.state.database  # type: ignore[attr-defined]
    home = await factories.organization(database)
    await factories.person(home, "chief", roles=((Role.SECURITY_CHIEF, None),))
    await factories.person(home, "principal_a", roles=((Role.PRINCIPAL, "A"),))
    await factories.person(home, "principal_b", roles=((Role.PRINCIPAL, "B"),))
    await factories.person(home, "staff_a", roles=((Role.STAFF, "A"),))
    await factories.person(home, "admin", roles=((Role.ADMIN, None),))
    await factories.device(home, "phone_a", site="A", kind=DeviceKind.IOS, person_key="staff_a")
    await factories.device(home, "desk_a", site="A", person_key="staff_a")
    await factories.device(home, "pc_a", site="A")
    await factories.device(home, "pc_b", site="B")
    await factories.api_key(home, "button", site="A")
    other = await factories.organization(database, name="Arboga")
    await factories.person(other, "chief", roles=((Role.SECURITY_CHIEF, None),))
    await factories.device(other, "pc", site="A")
    return Worlds(home=home, other=other)


def rollcall_url(alert_id: int | str) -> str:
    return f"/api/v1/alerts/{alert_id}/rollcall"


def reachability_url(alert_id: int | str) -> str:
    return f"/api/v1/alerts/{alert_id}/reachability"


def csv_url(alert_id: int | str) -> str:
    return f"/api/v1/alerts/{alert_id}/reachability.csv"


def svg_url(alert_id: int | str) -> str:
    return f"/api/v1/alerts/{alert_id}/reachability.svg"


REPORTS = [reachability_url, csv_url, svg_url]


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def trigger(
    client: httpx.AsyncClient, world: World, key: str, sites: tuple[str, ...], mode: str = "actual"
) -> int:
    response = await client.post(
        "/api/v1/alerts",
        json={"kind": "pdv_lockdown", "mode": mode, "site_ids": [world.sites[s] for s in sites]},
        headers=bearer(world, key),
    )
    assert response.status_code == 201, response.text
    alert_id: int = response.json()["alert"]["id"]
    return alert_id


async def receipt(
    world: World,
    alert_id: int,
    device: str,
    *,
    site: str,
    person: str | None = None,
    response: str | None = None,
    note: str = "",
    location: str = "",
    displayed: bool = False,
    after: timedelta | None = None,
) -> None:
    async with world.database.session() as session:
        at = utcnow()
        if after is not None:
            at = (await session.get_one(Alert, alert_id)).created_at + after
        await receipts.upsert_many(
            session,
            updates=[
                ReceiptUpdate(
                    organization_id=world.organization_id,
                    alert_id=alert_id,
                    device_id=world.devices[device],
                    site_id=world.sites[site],
                    person_id=world.persons[person] if person else None,
                    at=at,
                    delivered=True,
                    displayed=displayed,
                    response=response,
                    note=note,
                    location=location,
                )
            ],
        )
        await session.commit()


async def delivered_to_pc_a(
    client: httpx.AsyncClient, world: World, mode: str, after: timedelta | None = None
) -> int:
    """An alert of `mode` triggered by the chief at site A, delivered to pc_a `after` the
    trigger (now when None): the alert's id."""
    alert_id = await trigger(client, world, "chief", ("A",), mode=mode)
    await receipt(world, alert_id, "pc_a", site="A", after=after)
    return alert_id


async def _snapshot(database: Database) -> tuple[int, int]:
    """(audit entries, receipts): a rejected read must change neither."""
    async with database.session() as session:
        audit = await session.scalar(select(func.count()).select_from(AuditEntry))
        stored = await session.scalar(select(func.count()).select_from(Receipt))
        return int(audit or 0), int(stored or 0)


# -- the roll call ---------------------------------------------------------------------------


async def test_rollcall_aggregates_persons_sites_and_lists(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """Staff A's two devices make one person; need-help details, not-reached and counts."""
    home = worlds.home
    alert_id = await trigger(client, home, "chief", ("A", "B"))
    await receipt(home, alert_id, "desk_a", site="A", person="staff_a", displayed=True)
    await receipt(
        home,
        alert_id,
        "phone_a",
        site="A",
        person="staff_a",
        response="need_help",
        note="skadad",
        location="Hus B, rum 12",
    )
    await receipt(home, alert_id, "pc_b", site="B")
    response = await client.get(rollcall_url(alert_id), headers=bearer(home, "chief"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {
        "alert_id",
        "at",
        "totals",
        "sites",
        "need_help",
        "not_reached_count",
        "not_answered_count",
        "push",
        "not_reached",
        "not_answered",
    }
    assert body["alert_id"] == alert_id
    totals = body["totals"]
    # principal_a and principal_b have a role at A or B and no device: not reached
    assert (totals["expected"], totals["reached"], totals["not_reached"]) == (5, 2, 3)
    assert (totals["need_help"], totals["answered"], totals["displayed"]) == (1, 1, 1)
    assert totals["no_device"] == 2
    site_a = body["sites"][str(home.sites["A"])]
    assert site_a["name"] == "A" and site_a["totals"]["expected"] == 3
    assert site_a["zones"]["none"]["totals"]["need_help"] == 1
    assert body["sites"][str(home.sites["B"])]["totals"]["reached"] == 1
    [help_item] = body["need_help"]
    assert help_item["person_id"] == home.persons["staff_a"]
    assert help_item["person"] == "Staff_A"
    assert help_item["device_id"] == home.devices["phone_a"]
    assert (help_item["note"], help_item["location"]) == ("skadad", "Hus B, rum 12")
    assert [(e["name"], e["reason"]) for e in body["not_reached"]] == [
        ("pc_a", "not_delivered"),
        ("Principal_A", "no_device"),
        ("Principal_B", "no_device"),
    ]
    assert [entry["name"] for entry in body["not_answered"]] == ["pc_b"]
    assert (body["not_reached_count"], body["not_answered_count"]) == (3, 1)


async def test_principal_sees_only_the_sites_where_they_lead(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """A principal of A gets A's part of an A+B alert, with A's totals only."""
    home = worlds.home
    alert_id = await trigger(client, home, "chief", ("A", "B"))
    await receipt(home, alert_id, "pc_b", site="B", response="safe")
    response = await client.get(rollcall_url(alert_id), headers=bearer(home, "principal_a"))
    assert response.status_code == 200
    body = response.json()
    assert list(body["sites"]) == [str(home.sites["A"])]
    # staff_a, pc_a and principal_a (no device); principal_b is B's
    assert body["totals"]["expected"] == 3 and body["totals"]["safe"] == 0


async def test_revoked_devices_are_not_expected(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """A revoked device without a receipt is not in the roll call."""
    home = worlds.home
    async with home.database.session() as session:
        await session.execute(
            update(Device).where(Device.id == home.devices["pc_a"]).values(revoked_at=utcnow())
        )
        await session.commit()
    alert_id = await trigger(client, home, "chief", ("A",))
    body = (await client.get(rollcall_url(alert_id), headers=bearer(home, "chief"))).json()
    assert body["totals"]["expected"] == 2  # staff A, and principal A without a device
    assert [entry["person_id"] for entry in body["not_reached"]] == [
        home.persons["principal_a"],
        home.persons["staff_a"],
    ]


async def test_session_cookie_works_like_the_bearer_token(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """The dashboard's session cookie authenticates the roll call."""
    home = worlds.home
    alert_id = await trigger(client, home, "chief", ("A",))
    client.cookies.set("pdv_session", home.tokens["principal_a"])
    try:
        response = await client.get(rollcall_url(alert_id))
    finally:
        client.cookies.clear()
    assert response.status_code == 200
    assert response.json()["alert_id"] == alert_id


@pytest.mark.parametrize(
    ("key", "status", "code"),
    [
        ("staff_a", 403, "auth.forbidden"),
        ("admin", 403, "auth.forbidden"),
        ("phone_a", 403, "auth.forbidden"),
        ("principal_b", 404, "alert.not_found"),
        ("button", 404, "alert.not_found"),
    ],
)
@pytest.mark.parametrize("url", [rollcall_url, *REPORTS])
async def test_callers_without_view_rollcall_are_refused(
    client: httpx.AsyncClient, worlds: Worlds, key: str, status: int, code: str, url: Any
) -> None:
    """Who receives the alert but may not view its roll call: 403; who doesn't receive it
    (another site's principal, a panic button): 404, as if it didn't exist."""
    home = worlds.home
    alert_id = await delivered_to_pc_a(client, home, "drill")
    before = await _snapshot(worlds.database)
    response = await client.get(url(alert_id), headers=bearer(home, key))
    assert _error(response) == (status, code)
    assert await _snapshot(worlds.database) == before


@pytest.mark.parametrize("url", [rollcall_url, *REPORTS])
async def test_other_organizations_and_unknown_alerts_are_not_found(
    client: httpx.AsyncClient, worlds: Worlds, url: Any
) -> None:
    """Arboga's chief can't see Köping's alert, nor anyone an alert that doesn't exist."""
    alert_id = await trigger(client, worlds.home, "chief", ("A",), mode="test")
    response = await client.get(url(alert_id), headers=bearer(worlds.other, "chief"))
    assert _error(response) == (404, "alert.not_found")
    response = await client.get(url(alert_id + 100), headers=bearer(worlds.home, "chief"))
    assert _error(response) == (404, "alert.not_found")


@pytest.mark.parametrize("url", [rollcall_url, *REPORTS])
async def test_unauthenticated_and_invalid_tokens_are_refused(
    client: httpx.AsyncClient, worlds: Worlds, url: Any
) -> None:
    """No credentials: auth.required; a wrong, revoked or expired token: 401 as well."""
    home = worlds.home
    alert_id = await trigger(client, home, "chief", ("A",), mode="test")
    assert _error(await client.get(url(alert_id))) == (401, "auth.required")
    wrong = {"Authorization": "Bearer pdvs_not-a-real-token"}
    assert _error(await client.get(url(alert_id), headers=wrong)) == (401, "auth.invalid_token")
    async with home.database.session() as session:
        await session.execute(
            update(Device).where(Device.id == home.devices["pc_a"]).values(revoked_at=utcnow())
        )
        await session.execute(
            update(LoginSession)
            .where(LoginSession.token_hash == token_hash(home.tokens["principal_a"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    response = await client.get(url(alert_id), headers=bearer(home, "pc_a"))
    assert _error(response) == (401, "auth.invalid_token")
    response = await client.get(url(alert_id), headers=bearer(home, "principal_a"))
    assert _error(response) == (401, "auth.session_expired")
    client.cookies.set("pdv_session", home.tokens["principal_a"])
    try:
        assert _error(await client.get(url(alert_id))) == (401, "auth.session_expired")
    finally:
        client.cookies.clear()


@pytest.mark.parametrize("bad", ["abc", "0", "-1", str(2**31), "1.5"])
@pytest.mark.parametrize("url", [rollcall_url, *REPORTS])
async def test_malformed_alert_ids_are_invalid(
    client: httpx.AsyncClient, worlds: Worlds, bad: str, url: Any
) -> None:
    """An id that is not a positive 32-bit integer: 422 request.invalid."""
    response = await client.get(url(bad), headers=bearer(worlds.home, "chief"))
    assert _error(response) == (422, "request.invalid")


@pytest.mark.parametrize("url", [rollcall_url, *REPORTS])
async def test_other_methods_are_not_allowed(
    client: httpx.AsyncClient, worlds: Worlds, url: Any
) -> None:
    """Both reports are read-only: POST answers 405 and changes nothing."""
    alert_id = await trigger(client, worlds.home, "chief", ("A",), mode="test")
    before = await _snapshot(worlds.database)
    response = await client.post(url(alert_id), json={}, headers=bearer(worlds.home, "chief"))
    assert _error(response) == (405, "request.method_not_allowed")
    assert await _snapshot(worlds.database) == before


# -- reachability ----------------------------------------------------------------------------


async def test_reachability_reports_every_device_with_latency(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """A test alert: per device delivered/displayed and ms since the alert, totals and
    percentiles; a person's two devices are two rows."""
    home = worlds.home
    alert_id = await trigger(client, home, "chief", ("A", "B"), mode="test")
    await receipt(
        home, alert_id, "phone_a", site="A", person="staff_a", after=timedelta(milliseconds=120)
    )
    await receipt(home, alert_id, "pc_a", site="A", displayed=True, after=timedelta(seconds=2))
    response = await client.get(reachability_url(alert_id), headers=bearer(home, "chief"))
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["alert_id"] == alert_id and report["mode"] == "test"
    assert report["totals"] == {
        "devices": 4,
        "reached": 2,
        "not_reached": 2,
        "displayed": 1,
        "no_device": 2,
    }
    assert report["latency_ms"] == {"p50": 120, "p95": 2000, "max": 2000}
    site_a = report["sites"][str(home.sites["A"])]
    assert [d["name"] for d in site_a["devices"]] == ["desk_a", "phone_a", "pc_a"]
    phone = site_a["devices"][1]
    assert phone["person"] == {"id": home.persons["staff_a"], "name": "Staff_A"}
    assert phone["latency_ms"] == 120 and phone["kind"] == "ios"
    assert phone["delivered_at"] is not None and phone["displayed_at"] is None
    assert site_a["devices"][0]["latency_ms"] is None
    assert report["sites"][str(home.sites["B"])]["totals"]["not_reached"] == 1


async def test_reachability_of_a_drill_for_its_principal(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """Drills have the report too; a principal of A sees A's devices only."""
    home = worlds.home
    alert_id = await trigger(client, home, "chief", ("A", "B"), mode="drill")
    response = await client.get(reachability_url(alert_id), headers=bearer(home, "principal_a"))
    assert response.status_code == 200
    assert list(response.json()["sites"]) == [str(home.sites["A"])]


@pytest.mark.parametrize("url", REPORTS)
async def test_the_report_of_an_active_actual_alert_is_refused(
    client: httpx.AsyncClient, worlds: Worlds, url: Any
) -> None:
    """An actual alert still active has its live roll call, not a report: 409
    alert.still_active, nothing written."""
    alert_id = await trigger(client, worlds.home, "chief", ("A",))
    before = await _snapshot(worlds.database)
    response = await client.get(url(alert_id), headers=bearer(worlds.home, "chief"))
    assert _error(response) == (409, "alert.still_active")
    assert await _snapshot(worlds.database) == before


@pytest.mark.parametrize("end", ["resolve", "cancel"])
async def test_an_ended_actual_alert_has_its_report(
    client: httpx.AsyncClient, worlds: Worlds, end: str
) -> None:
    """After Faran över or a false alarm the after-action review is there: JSON, CSV, SVG."""
    home = worlds.home
    alert_id = await trigger(client, home, "chief", ("A",))
    await receipt(home, alert_id, "pc_a", site="A", response="safe", after=timedelta(seconds=3))
    ended = await client.post(f"/api/v1/alerts/{alert_id}/{end}", headers=bearer(home, "chief"))
    assert ended.status_code == 200
    for url in REPORTS:
        response = await client.get(url(alert_id), headers=bearer(home, "principal_a"))
        assert response.status_code == 200, (url, response.text)
    report = (await client.get(reachability_url(alert_id), headers=bearer(home, "chief"))).json()
    assert report["mode"] == "actual" and report["state"] in ("resolved", "cancelled")
    assert report["answer"]["count"] == 1


# -- persons without a device, and pushes ----------------------------------------------------


async def test_a_school_with_people_and_no_devices_reads_all_not_reached(
    client: httpx.AsyncClient,
) -> None:
    """Nobody at the school has enrolled: everyone with a role there is not reached, reason
    no_device (never `expected: 0, not_reached: 0`); the chief's organization-wide role
    does not make them expected at the school."""
    database = client.app.state.database  # type: ignore[attr-defined]
    world = await factories.organization(database, name="Ullvi", sites=("Ullvi",))
    await factories.person(world, "chief", roles=((Role.SECURITY_CHIEF, None),))
    await factories.person(world, "rektor", roles=((Role.PRINCIPAL, "Ullvi"),))
    for key in ("anna", "bo", "cecilia"):
        await factories.person(world, key, roles=((Role.STAFF, "Ullvi"),), login=False)
    alert_id = await trigger(client, world, "chief", ("Ullvi",))
    body = (await client.get(rollcall_url(alert_id), headers=bearer(world, "chief"))).json()
    totals = body["totals"]
    assert (totals["expected"], totals["reached"], totals["not_reached"]) == (4, 0, 4)
    assert totals["no_device"] == 4 and body["not_reached_count"] == 4
    site = body["sites"][str(world.sites["Ullvi"])]
    assert site["totals"] == totals and site["zones"]["none"]["totals"] == totals
    assert [(e["name"], e["reason"], e["devices"]) for e in body["not_reached"]] == [
        ("Anna", "no_device", []),
        ("Bo", "no_device", []),
        ("Cecilia", "no_device", []),
        ("Rektor", "no_device", []),
    ]
    assert body["not_reached"][0]["person_id"] == world.persons["anna"]
    assert body["not_reached"][0]["site_ids"] == [world.sites["Ullvi"]]
    # one parser reads both: the frame decoder reads the HTTP answer (its lists ignored)
    message = decode_server(json.dumps({"type": "rollcall", **body}))
    assert isinstance(message, RollCall) and message.totals.no_device == 4
    assert message.sites[world.sites["Ullvi"]].zones["none"].totals.not_reached == 4


async def test_push_states_show_per_device_and_a_delivered_push_reaches(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """staff_a's phone has no socket and no receipt, but its push was delivered: reached.
    A web device whose push failed is not reached, its reason shown; the counts agree."""
    home = worlds.home
    await factories.device(home, "web_a", site="A", kind=DeviceKind.WEB)
    await factories.push_registration(home, "phone_a", type="apns")
    await factories.push_registration(home, "web_a")
    alert_id = await trigger(client, home, "chief", ("A",))
    seq = await _latest_seq(home)
    await factories.push_delivery(home, "phone_a", alert_id=alert_id, seq=seq, state="delivered")
    await factories.push_delivery(
        home,
        "web_a",
        alert_id=alert_id,
        seq=seq,
        state="failed",
        last_result="rejected: 403 invalid VAPID",
        attempts=3,
    )
    body = (await client.get(rollcall_url(alert_id), headers=bearer(home, "chief"))).json()
    assert body["push"] == {"queued": 0, "sent": 0, "delivered": 1, "receipted": 0, "failed": 1}
    assert body["sites"][str(home.sites["A"])]["push"] == body["push"]
    [answering] = body["not_answered"]
    assert answering["person_id"] == home.persons["staff_a"]
    phone = next(d for d in answering["devices"] if d["id"] == home.devices["phone_a"])
    assert phone["status"] == "delivered"
    assert phone["push"]["type"] == "apns" and phone["push"]["state"] == "delivered"
    assert phone["push"]["alert_id"] == alert_id and phone["push"]["seq"] == seq
    desk = next(d for d in answering["devices"] if d["id"] == home.devices["desk_a"])
    assert desk["status"] == "not_reached" and desk["push"] is None
    web = next(e for e in body["not_reached"] if e["name"] == "web_a")
    assert web["reason"] == "not_delivered"
    assert web["devices"][0]["push"] == {
        "type": "webpush",
        "state": "failed",
        "reason": "rejected: 403 invalid VAPID",
        "alert_id": alert_id,
        "seq": seq,
        "attempts": 3,
        "at": web["devices"][0]["push"]["at"],
    }
    assert web["devices"][0]["push"]["at"] is not None


async def test_a_test_alerts_report_counts_push_devices_by_delivery_state(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """A test alert: push devices are counted by state, a delivered push reaches without a
    latency, and the persons without a device are named per site."""
    home = worlds.home
    await factories.device(home, "web_a", site="A", kind=DeviceKind.WEB)
    await factories.push_registration(home, "phone_a", type="apns")
    await factories.push_registration(home, "web_a")
    alert_id = await trigger(client, home, "chief", ("A",), mode="test")
    seq = await _latest_seq(home)
    await factories.push_delivery(home, "phone_a", alert_id=alert_id, seq=seq, state="receipted")
    await factories.push_delivery(
        home, "web_a", alert_id=alert_id, seq=seq, state="sent", attempts=1
    )
    report = (await client.get(reachability_url(alert_id), headers=bearer(home, "chief"))).json()
    assert report["push"] == {"queued": 0, "sent": 1, "delivered": 0, "receipted": 1, "failed": 0}
    assert report["totals"] == {
        "devices": 4,
        "reached": 1,
        "not_reached": 3,
        "displayed": 0,
        "no_device": 1,
    }
    site = report["sites"][str(home.sites["A"])]
    assert site["push"] == report["push"]
    by_name = {d["name"]: d for d in site["devices"]}
    assert by_name["phone_a"]["reached"] is True and by_name["phone_a"]["latency_ms"] is None
    assert by_name["web_a"]["reached"] is False
    assert by_name["web_a"]["push"]["state"] == "sent"
    assert [d["name"] for d in site["devices"]][-1] == "phone_a"
    assert site["no_device"] == [{"person_id": home.persons["principal_a"], "name": "Principal_A"}]


async def _latest_seq(world: World) -> int:
    async with world.database.session() as session:
        seq = await session.scalar(
            select(func.max(AlertEvent.seq)).where(
                AlertEvent.organization_id == world.organization_id
            )
        )
        assert seq is not None
        return int(seq)


# -- the drill report: persons, figures, CSV and chart ---------------------------------------


async def test_the_drill_report_has_persons_figures_and_never_reached(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """Per device delivered/displayed/answered ms and response; per person reached and
    answer (persons without a device too); per site figures; never_reached by name."""
    home = worlds.home
    alert_id = await trigger(client, home, "chief", ("A", "B"), mode="drill")
    await receipt(
        home, alert_id, "phone_a", site="A", person="staff_a", after=timedelta(milliseconds=300)
    )
    await receipt(
        home,
        alert_id,
        "phone_a",
        site="A",
        person="staff_a",
        displayed=True,
        response="need_help",
        note="rum 12",
        after=timedelta(seconds=4),
    )
    response = await client.get(reachability_url(alert_id), headers=bearer(home, "chief"))
    assert response.status_code == 200, response.text
    report = response.json()
    site_a = report["sites"][str(home.sites["A"])]
    phone = next(d for d in site_a["devices"] if d["name"] == "phone_a")
    assert phone["delivered_ms"] == 300 and phone["latency_ms"] == 300
    assert phone["displayed_ms"] == 4000 and phone["answered_ms"] == 4000
    assert phone["response"] == "need_help"
    assert site_a["delivery"] == {"count": 1, "p50_ms": 300, "p95_ms": 300, "max_ms": 300}
    assert site_a["answer"]["count"] == 1 and site_a["display"]["max_ms"] == 4000
    persons = {p["name"]: p for p in report["persons"]}
    assert persons["Staff_A"]["reached"] is True and persons["Staff_A"]["devices"] == 2
    assert persons["Staff_A"]["response"] == "need_help"
    assert persons["Staff_A"]["note"] == "rum 12" and persons["Staff_A"]["answered_ms"] == 4000
    assert persons["Principal_A"]["devices"] == 0 and persons["Principal_A"]["reached"] is False
    assert {(p["name"], p["site"]) for p in report["never_reached"]} == {
        ("Principal_A", "A"),
        ("Principal_B", "B"),
    }


async def test_the_csv_export(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """text/csv, UTF-8 with BOM, a file name, a row per person and device."""
    home = worlds.home
    alert_id = await delivered_to_pc_a(client, home, "test", after=timedelta(seconds=1))
    response = await client.get(csv_url(alert_id), headers=bearer(home, "chief"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == (
        f'attachment; filename="nabarhet-larm-{alert_id}.csv"'
    )
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    documented = "site,zone,person,device,kind,delivered_ms,displayed_ms,answered_ms,response"
    assert rows[0] == documented.split(",")  # the header docs/api.md states
    by_device = {row[3]: row for row in rows[1:]}
    assert set(by_device) == {"pc_a", "phone_a", "desk_a", ""}
    assert by_device["pc_a"][5] == "1000" and by_device["pc_a"][2] == ""
    assert by_device[""][2] == "Principal_A"


async def test_the_chart_in_swedish_and_english(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """image/svg+xml; Swedish by default, English by ?language=en or Accept-Language."""
    home = worlds.home
    alert_id = await delivered_to_pc_a(client, home, "drill", after=timedelta(seconds=2))
    swedish = await client.get(svg_url(alert_id), headers=bearer(home, "chief"))
    assert swedish.status_code == 200
    assert swedish.headers["content-type"].startswith("image/svg+xml")
    assert "Andel nådda över tid" in swedish.text and "<script" not in swedish.text
    by_query = await client.get(
        svg_url(alert_id), params={"language": "en"}, headers=bearer(home, "chief")
    )
    by_header = await client.get(
        svg_url(alert_id), headers={**bearer(home, "chief"), "Accept-Language": "en-GB"}
    )
    for english in (by_query, by_header):
        assert "Share reached over time" in english.text and "Delivered (1/3)" in english.text
    bad = await client.get(
        svg_url(alert_id), params={"language": "de"}, headers=bearer(home, "chief")
    )
    assert _error(bad) == (422, "request.invalid")
