"""Who may see the roll call and the reachability report of an alert, and over which sites
(server/services/rollcall.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from server.clock import utcnow
from server.core.errors import Forbidden
from server.errors import ServiceError
from server.services import rollcall
from server.storage import receipts
from server.storage.database import Database
from server.storage.receipts import ReceiptUpdate
from server.storage.tables import Alert
from tests import factories
from tests.server.storage.test_rollcall import caller_of, home_world, insert_alert, receipt


async def test_rollcall_shows_only_the_sites_the_caller_may_view(database: Database) -> None:
    """A principal of A sees A's roll call of an A+B alert; the chief sees both."""
    world = await home_world(database)
    alert_id = await insert_alert(world, sites=("A", "B"))
    now = utcnow()
    async with database.session() as session:
        own = await rollcall.rollcall(
            session=session,
            caller=await caller_of(world, "principal_a"),
            alert_id=alert_id,
            now=now,
        )
        everything = await rollcall.rollcall(
            session=session, caller=await caller_of(world, "chief"), alert_id=alert_id, now=now
        )
    assert list(own["sites"]) == [str(world.sites["A"])]
    assert own["totals"]["expected"] == 3  # pc_a, staff_a; principal_a has no device
    assert sorted(everything["sites"]) == sorted(str(s) for s in world.sites.values())


@pytest.mark.parametrize(
    ("key", "code"),
    [
        ("staff_a", "auth.forbidden"),  # receives the alert, no roll call
        ("pc_a", "auth.forbidden"),  # a device receives it too
        ("staff_b", "alert.not_found"),  # doesn't even receive it
        ("admin", "auth.forbidden"),  # admins receive everywhere, no roll call
        ("button", "alert.not_found"),  # an API key only triggers
    ],
)
async def test_rollcall_refuses_callers_without_view_rollcall(
    database: Database, key: str, code: str
) -> None:
    """Receivers without VIEW_ROLLCALL get auth.forbidden; others don't learn it exists."""
    world = await home_world(database)
    await factories.api_key(world, "button", site="A")
    alert_id = await insert_alert(world, sites=("A",))
    async with database.session() as session:
        with pytest.raises((Forbidden, ServiceError)) as refused:
            await rollcall.rollcall(
                session=session, caller=await caller_of(world, key), alert_id=alert_id, now=utcnow()
            )
    assert getattr(refused.value, "code", None) == code


async def test_rollcall_of_unknown_or_foreign_alert_is_not_found(database: Database) -> None:
    """An unknown id and another organization's alert both answer alert.not_found."""
    world = await home_world(database)
    other = await factories.organization(database, name="Arboga", sites=("A",))
    foreign = await insert_alert(other, sites=("A",))
    chief = await caller_of(world, "chief")
    async with database.session() as session:
        for alert_id in (foreign, foreign + 1000):
            with pytest.raises(ServiceError) as refused:
                await rollcall.rollcall(
                    session=session, caller=chief, alert_id=alert_id, now=utcnow()
                )
            assert refused.value.code == "alert.not_found"


async def test_reachability_of_drills_and_tests_and_of_ended_actual_alerts(
    database: Database,
) -> None:
    """A test alert gets the report with latencies; an actual alert is refused with
    alert.still_active while it is active, and has its report once it has ended."""
    world = await home_world(database)
    actual = await insert_alert(world, sites=("A",))
    test = await insert_alert(world, sites=("B",), mode="test")
    await receipt(world, test, "pc_b", site="B", displayed=True)
    chief = await caller_of(world, "chief")
    async with database.session() as session:
        report = await rollcall.reachability(
            session=session, caller=chief, alert_id=test, now=utcnow()
        )
        with pytest.raises(ServiceError) as refused:
            await rollcall.reachability(
                session=session, caller=chief, alert_id=actual, now=utcnow()
            )
    assert refused.value.code == "alert.still_active"
    async with database.session() as session:
        await session.execute(update(Alert).where(Alert.id == actual).values(state="resolved"))
        await session.commit()
    async with database.session() as session:
        review = await rollcall.reachability(
            session=session, caller=chief, alert_id=actual, now=utcnow()
        )
    assert review["mode"] == "actual" and review["state"] == "resolved"
    assert review["sites"] and "persons" in review
    assert report["totals"] == {
        "devices": 1,
        "reached": 1,
        "not_reached": 0,
        "displayed": 1,
        "no_device": 1,  # staff_b
    }
    device = report["sites"][str(world.sites["B"])]["devices"][0]
    assert device["device_id"] == world.devices["pc_b"]
    assert device["latency_ms"] is not None and device["latency_ms"] >= 0
    assert report["latency_ms"]["max"] == device["latency_ms"]


async def test_reachability_latency_is_measured_from_the_alert(database: Database) -> None:
    """latency_ms is delivered_at minus the alert's created_at."""
    world = await home_world(database)
    alert_id = await insert_alert(world, sites=("B",), mode="drill")
    async with database.session() as session:
        alert = await session.get_one(Alert, alert_id)
        created = alert.created_at
        await receipts.upsert_many(
            session,
            updates=[
                ReceiptUpdate(
                    organization_id=world.organization_id,
                    alert_id=alert_id,
                    device_id=world.devices["pc_b"],
                    site_id=world.sites["B"],
                    person_id=None,
                    at=created + timedelta(milliseconds=1500),
                    delivered=True,
                )
            ],
        )
        await session.commit()
        report = await rollcall.reachability(
            session=session, caller=await caller_of(world, "chief"), alert_id=alert_id, now=utcnow()
        )
    assert report["latency_ms"] == {"p50": 1500, "p95": 1500, "max": 1500}
