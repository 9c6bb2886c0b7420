"""Loading what the roll call and the reachability report are computed from, on SQLite and
PostgreSQL (permission checks: tests/server/services/test_rollcall.py)."""

from __future__ import annotations

from sqlalchemy import update

from protocol.vocabulary import DeviceKind, Role
from server.clock import utcnow
from server.storage import callers, receipts, rollcall
from server.storage.database import Database
from server.storage.receipts import ReceiptUpdate
from server.storage.tables import Alert, AlertSite, Device, Zone
from tests import factories
from tests.factories import World


async def insert_alert(world: World, *, sites: tuple[str, ...], mode: str = "actual") -> int:
    now = utcnow()
    async with world.database.session() as session:
        alert = Alert(
            organization_id=world.organization_id,
            kind="pdv_lockdown",
            mode=mode,
            state="active",
            order_sv="x",
            order_en="x",
            instructions_sv="",
            instructions_en="",
            created_by="test",
            created_at=now,
            updated_at=now,
        )
        session.add(alert)
        await session.flush()
        for site in sites:
            session.add(
                AlertSite(
                    alert_id=alert.id,
                    site_id=world.sites[site],
                    organization_id=world.organization_id,
                    active=True,
                )
            )
        await session.commit()
        return alert.id


async def receipt(
    world: World,
    alert_id: int,
    device: str,
    *,
    site: str,
    response: str | None = None,
    displayed: bool = False,
    note: str = "",
    person: str | None = None,
) -> None:
    async with world.database.session() as session:
        await receipts.upsert_many(
            session,
            updates=[
                ReceiptUpdate(
                    organization_id=world.organization_id,
                    alert_id=alert_id,
                    device_id=world.devices[device],
                    site_id=world.sites[site],
                    person_id=world.persons[person] if person else None,
                    at=utcnow(),
                    delivered=True,
                    displayed=displayed,
                    response=response,
                    note=note,
                )
            ],
        )
        await session.commit()


async def caller_of(world: World, key: str) -> callers.Caller:
    async with world.database.session() as session:
        caller = await callers.from_bearer_token(session, token=world.tokens[key], now=utcnow())
        assert caller is not None
        return caller


async def home_world(database: Database) -> World:
    world = await factories.organization(database, sites=("A", "B"))
    await factories.person(world, "chief", roles=((Role.SECURITY_CHIEF, None),))
    await factories.person(world, "principal_a", roles=((Role.PRINCIPAL, "A"),))
    await factories.person(world, "staff_a", roles=((Role.STAFF, "A"),))
    await factories.person(world, "staff_b", roles=((Role.STAFF, "B"),))
    await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    await factories.device(world, "pc_a", site="A")
    await factories.device(world, "phone_a", site="A", kind=DeviceKind.IOS, person_key="staff_a")
    await factories.device(world, "desk_a", site="A", person_key="staff_a")
    await factories.device(world, "pc_b", site="B")
    return world


async def test_load_reads_devices_receipts_sites_and_zones(database: Database) -> None:
    """The alert's non-revoked devices, their receipts, person names, site and zone names."""
    world = await home_world(database)
    async with database.session() as session:
        zone = Zone(
            organization_id=world.organization_id,
            site_id=world.sites["A"],
            name="Hus B",
            created_at=utcnow(),
        )
        session.add(zone)
        await session.flush()
        await session.execute(
            update(Device).where(Device.id == world.devices["pc_a"]).values(zone_id=zone.id)
        )
        await session.commit()
        zone_id = zone.id
    alert_id = await insert_alert(world, sites=("A", "B"))
    await receipt(world, alert_id, "phone_a", site="A", response="safe", person="staff_a")
    async with database.session() as session:
        facts = await rollcall.alert_facts(
            session, organization_id=world.organization_id, alert_id=alert_id
        )
        assert facts is not None
        assert facts.site_ids == {world.sites["A"], world.sites["B"]}
        data = await rollcall.load(session, alert=facts)
    assert data.sites == {world.sites["A"]: "A", world.sites["B"]: "B"}
    assert data.zones == {zone_id: "Hus B"}
    assert [device.id for device in data.devices] == sorted(world.devices.values())
    phone = next(d for d in data.devices if d.id == world.devices["phone_a"])
    assert phone.person_name == "Staff_A" and phone.kind == "ios"
    assert [(r.device_id, r.response) for r in data.receipts] == [(phone.id, "safe")]
    document = data.compute(at=utcnow()).document()
    # pc_a, staff_a (two devices), pc_b; principal_a and staff_b have no device
    assert document["totals"]["expected"] == 5 and document["totals"]["no_device"] == 2
    assert document["totals"]["safe"] == 1
    assert document["sites"][str(world.sites["A"])]["zones"][str(zone_id)]["name"] == "Hus B"


async def test_load_narrows_to_sites_and_keeps_revoked_devices_that_receipted(
    database: Database,
) -> None:
    """Only the asked sites; a revoked device is loaded only when it receipted the alert."""
    world = await home_world(database)
    await factories.device(world, "old_a", site="A")
    await factories.device(world, "gone_a", site="A")
    alert_id = await insert_alert(world, sites=("A", "B"))
    await receipt(world, alert_id, "old_a", site="A", response="need_help", note="rum 3")
    async with database.session() as session:
        await session.execute(
            update(Device)
            .where(Device.id.in_([world.devices["old_a"], world.devices["gone_a"]]))
            .values(revoked_at=utcnow())
        )
        await session.commit()
        facts = await rollcall.alert_facts(
            session, organization_id=world.organization_id, alert_id=alert_id
        )
        assert facts is not None
        data = await rollcall.load(session, alert=facts, site_ids={world.sites["A"]})
    ids = {device.id for device in data.devices}
    assert world.devices["old_a"] in ids and world.devices["gone_a"] not in ids
    assert world.devices["pc_b"] not in ids
    assert list(data.sites) == [world.sites["A"]]
    document = data.compute(at=utcnow()).document()
    assert document["need_help"][0]["note"] == "rum 3"


async def test_alert_facts_of_another_organization_is_none(database: Database) -> None:
    """Another organization's alert id reads as no alert."""
    world = await home_world(database)
    other = await factories.organization(database, name="Arboga", sites=("A",))
    alert_id = await insert_alert(other, sites=("A",))
    async with database.session() as session:
        found = await rollcall.alert_facts(
            session, organization_id=world.organization_id, alert_id=alert_id
        )
    assert found is None


async def test_load_reads_the_persons_without_a_device_on_the_alerts_sites(
    database: Database,
) -> None:
    """Active persons with a role at the asked sites and no non-revoked device on any of the
    alert's sites; organization-wide roles, inactive persons and other organizations'
    persons are not among them, and a device on another of the alert's sites counts there."""
    world = await home_world(database)
    await factories.person(world, "away", roles=((Role.STAFF, "A"),), active=False)
    await factories.person(world, "moved", roles=((Role.STAFF, "A"),))
    await factories.device(world, "moved_phone", site="B", person_key="moved")
    await factories.person(world, "revoked", roles=((Role.STAFF, "A"), (Role.STAFF, "B")))
    await factories.device(world, "old_phone", site="A", person_key="revoked")
    async with database.session() as session:
        await session.execute(
            update(Device)
            .where(Device.id == world.devices["old_phone"])
            .values(revoked_at=utcnow())
        )
        await session.commit()
    other = await factories.organization(database, name="Arboga", sites=("A",))
    await factories.person(other, "theirs", roles=((Role.STAFF, "A"),))
    alert_id = await insert_alert(world, sites=("A", "B"))
    async with database.session() as session:
        facts = await rollcall.alert_facts(
            session, organization_id=world.organization_id, alert_id=alert_id
        )
        assert facts is not None
        only_a = await rollcall.load(session, alert=facts, site_ids={world.sites["A"]})
        both = await rollcall.load(session, alert=facts)
    site_a, site_b = world.sites["A"], world.sites["B"]
    assert {(p.id, p.site_ids) for p in only_a.persons} == {
        (world.persons["principal_a"], frozenset({site_a})),
        (world.persons["revoked"], frozenset({site_a})),
    }
    assert {(p.id, p.site_ids) for p in both.persons} == {
        (world.persons["principal_a"], frozenset({site_a})),
        (world.persons["revoked"], frozenset({site_a, site_b})),
        (world.persons["staff_b"], frozenset({site_b})),
    }
    names = {p.id: p.name for p in both.persons}
    assert names[world.persons["staff_b"]] == "Staff_B"
    document = only_a.compute(at=utcnow()).document()
    assert [e["name"] for e in document["not_reached"] if e["reason"] == "no_device"] == [
        "Principal_A",
        "Revoked",
    ]


async def test_load_reads_registrations_and_each_devices_latest_push(database: Database) -> None:
    """Each device's push registration type, and its latest push of this alert (highest seq)
    with whether any earlier one got through; other alerts' pushes are not read."""
    world = await home_world(database)
    await factories.device(world, "web_a", site="A", kind=DeviceKind.WEB)
    await factories.push_registration(world, "phone_a", type="apns")
    await factories.push_registration(world, "web_a")
    alert_id = await insert_alert(world, sites=("A",))
    earlier = await insert_alert(world, sites=("B",))
    await factories.push_delivery(world, "phone_a", alert_id=alert_id, seq=1, state="delivered")
    await factories.push_delivery(
        world, "phone_a", alert_id=alert_id, seq=3, state="queued", last_result="retry: 503"
    )
    await factories.push_delivery(world, "web_a", alert_id=earlier, seq=2, state="delivered")
    await factories.push_delivery(
        world, "web_a", alert_id=alert_id, seq=4, state="failed", last_result="rejected: 403"
    )
    async with database.session() as session:
        facts = await rollcall.alert_facts(
            session, organization_id=world.organization_id, alert_id=alert_id
        )
        assert facts is not None
        data = await rollcall.load(session, alert=facts)
    kinds = {d.id: d.push for d in data.devices}
    assert kinds[world.devices["phone_a"]] == "apns"
    assert kinds[world.devices["web_a"]] == "webpush"
    assert kinds[world.devices["pc_a"]] is None
    pushes = {p.device_id: p for p in data.pushes}
    assert set(pushes) == {world.devices["phone_a"], world.devices["web_a"]}
    phone = pushes[world.devices["phone_a"]]
    assert (phone.seq, phone.state, phone.last_result, phone.any_delivered) == (
        3,
        "queued",
        "retry: 503",
        True,
    )
    web = pushes[world.devices["web_a"]]
    assert (web.alert_id, web.seq, web.state, web.any_delivered) == (alert_id, 4, "failed", False)
    assert phone.at is not None and phone.attempts == 1
    document = data.compute(at=utcnow()).document()
    assert to_dict_push(document) == {"queued": 1, "failed": 1}


def to_dict_push(document: dict[str, object]) -> dict[str, int]:
    """The non-zero push counts of a roll-call document."""
    counts = document["push"]
    assert isinstance(counts, dict)
    return {state: n for state, n in counts.items() if n}
