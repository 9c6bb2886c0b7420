"""Device presence on SQLite and PostgreSQL: marking devices seen, and who is reachable now."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from protocol.codec import to_dict
from protocol.vocabulary import DeviceKind, Role
from server.clock import utcnow
from server.storage import presence
from server.storage.database import Database
from server.storage.tables import Device
from tests import factories
from tests.factories import World
from tests.server.storage.alert_rows import insert_alert

STALE = timedelta(seconds=50)


async def seen(world: World, key: str, when: object) -> None:
    async with world.database.session() as session:
        await session.execute(
            update(Device)
            .where(Device.id == world.devices[key])
            # seen at `when` over a live connection held by some node
            .values(last_seen_at=when, connected_node=None if when is None else "node-1")
        )
        await session.commit()


async def last_seen(database: Database, device_ids: list[int]) -> dict[int, object]:
    async with database.session() as session:
        rows = await session.execute(
            select(Device.id, Device.last_seen_at).where(Device.id.in_(device_ids))
        )
        return {row.id: row.last_seen_at for row in rows}


async def test_site_presence_splits_reachable_and_unreachable(database: Database) -> None:
    """Seen within stale_after: reachable; seen earlier or never: unreachable; revoked: gone."""
    world = await factories.organization(database, sites=("A", "B", "C"))
    await factories.person(world, "anna", roles=((Role.STAFF, "A"),), login=False)
    await factories.device(world, "fresh", site="A", kind=DeviceKind.IOS, person_key="anna")
    await factories.device(world, "stale", site="A")
    await factories.device(world, "never", site="A")
    await factories.device(world, "revoked", site="A")
    await factories.device(world, "other_site", site="B")
    now = utcnow()
    await seen(world, "fresh", now - timedelta(seconds=10))
    await seen(world, "stale", now - timedelta(seconds=51))
    await seen(world, "revoked", now)
    await seen(world, "other_site", now)
    async with database.session() as session:
        await session.execute(
            update(Device).where(Device.id == world.devices["revoked"]).values(revoked_at=now)
        )
        await session.commit()
        found = await presence.site_presence(
            session,
            organization_id=world.organization_id,
            site_ids=[world.sites["A"], world.sites["C"]],
            now=now,
            stale_after=STALE,
        )
    site_a = found[world.sites["A"]]
    assert [d["name"] for d in site_a.reachable] == ["fresh"]
    assert [d["name"] for d in site_a.unreachable] == ["never", "stale"]
    fresh = site_a.reachable[0]
    assert fresh == {
        "id": world.devices["fresh"],
        "name": "fresh",
        "kind": "ios",
        "zone_id": None,
        "person_id": world.persons["anna"],
        "last_seen_at": fresh["last_seen_at"],
        "connected": True,
        "push": None,
    }
    assert abs(fresh["last_seen_at"] - (now - timedelta(seconds=10))) < timedelta(seconds=1)
    assert found[world.sites["C"]] == presence.SitePresence()
    assert set(found) == {world.sites["A"], world.sites["C"]}


async def test_site_presence_is_scoped_to_the_organization(database: Database) -> None:
    """Another organization's site id yields no devices of that organization."""
    world = await factories.organization(database, sites=("A",))
    other = await factories.organization(database, name="Arboga", sites=("A",))
    await factories.device(other, "theirs", site="A")
    await seen(other, "theirs", utcnow())
    async with database.session() as session:
        found = await presence.site_presence(
            session,
            organization_id=world.organization_id,
            site_ids=[other.sites["A"]],
            now=utcnow(),
            stale_after=STALE,
        )
    assert found == {other.sites["A"]: presence.SitePresence()}


async def test_push_reaches_a_device_without_a_live_connection(database: Database) -> None:
    """A registered phone whose latest push got through is reachable with no socket; one
    whose latest push failed, or without a registration, is not; each shows its push."""
    world = await factories.organization(database, sites=("A",))
    for key in ("pushed", "refused", "unregistered", "idle"):
        await factories.device(world, key, site="A", kind=DeviceKind.IOS)
    for key in ("pushed", "refused", "idle"):
        await factories.push_registration(world, key, type="apns")
    alert_id = await insert_alert(database, world, site_ids=[world.sites["A"]])
    await factories.push_delivery(world, "pushed", alert_id=alert_id, seq=1, state="receipted")
    await factories.push_delivery(world, "refused", alert_id=alert_id, seq=1, state="delivered")
    await factories.push_delivery(
        world, "refused", alert_id=alert_id, seq=2, state="failed", last_result="BadTopic"
    )
    await factories.push_delivery(
        world, "unregistered", alert_id=alert_id, seq=1, state="delivered"
    )
    async with database.session() as session:
        found = await presence.site_presence(
            session,
            organization_id=world.organization_id,
            site_ids=[world.sites["A"]],
            now=utcnow(),
            stale_after=STALE,
        )
    site = found[world.sites["A"]]
    assert [d["name"] for d in site.reachable] == ["pushed"]
    assert [d["name"] for d in site.unreachable] == ["idle", "refused", "unregistered"]
    pushed = site.reachable[0]
    assert pushed["connected"] is False
    assert pushed["push"]["type"] == "apns" and pushed["push"]["state"] == "receipted"
    assert pushed["push"]["alert_id"] == alert_id
    by_name = {d["name"]: d["push"] for d in site.unreachable}
    assert by_name["refused"]["state"] == "failed"
    assert by_name["refused"]["reason"] == "BadTopic" and by_name["refused"]["seq"] == 2
    assert by_name["idle"] == {
        "type": "apns",
        "state": None,
        "reason": None,
        "alert_id": None,
        "seq": None,
        "attempts": 0,
        "at": None,
    }
    assert by_name["unregistered"]["type"] is None
    assert to_dict(site.push) == {
        "queued": 0,
        "sent": 0,
        "delivered": 1,
        "receipted": 1,
        "failed": 1,
    }


async def test_site_presence_of_no_sites_is_empty(database: Database) -> None:
    """No sites asked: an empty answer, no query needed."""
    async with database.session() as session:
        found = await presence.site_presence(
            session, organization_id=1, site_ids=[], now=utcnow(), stale_after=STALE
        )
    assert found == {}


async def test_mark_seen_updates_many_devices_in_chunks(database: Database) -> None:
    """2500 ids (three chunks, most unknown) update exactly the existing non-revoked devices."""
    world = await factories.organization(database, sites=("A",))
    for key in ("d1", "d2", "d3"):
        await factories.device(world, key, site="A")
    now = utcnow()
    async with database.session() as session:
        await session.execute(
            update(Device).where(Device.id == world.devices["d3"]).values(revoked_at=now)
        )
        await session.commit()
    ids = [world.devices["d1"], world.devices["d2"], world.devices["d3"]]
    unknown = list(range(100_000, 102_497))
    async with database.session() as session:
        updated = await presence.mark_seen(session, device_ids=ids + unknown, now=now)
        await session.commit()
    assert updated == 2
    stamps = await last_seen(database, ids)
    assert stamps[ids[0]] == stamps[ids[1]]
    assert abs(stamps[ids[0]] - now) < timedelta(milliseconds=1)  # type: ignore[operator]
    assert stamps[ids[2]] is None


async def test_mark_seen_never_moves_last_seen_backwards(database: Database) -> None:
    """A node with an older `now` leaves a newer stamp alone."""
    world = await factories.organization(database, sites=("A",))
    await factories.device(world, "d1", site="A")
    now = utcnow()
    await seen(world, "d1", now)
    async with database.session() as session:
        updated = await presence.mark_seen(
            session, device_ids=[world.devices["d1"]], now=now - timedelta(seconds=5)
        )
        await session.commit()
    assert updated == 0
    stamp = (await last_seen(database, [world.devices["d1"]]))[world.devices["d1"]]
    assert abs(stamp - now) < timedelta(milliseconds=1)  # type: ignore[operator]


async def test_stale_after_is_two_and_a_half_heartbeats() -> None:
    """20 s heartbeats: a device is unreachable after 50 s unseen."""
    assert presence.stale_after(20) == timedelta(seconds=50)
