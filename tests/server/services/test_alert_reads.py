"""Reading alerts and events as the caller may, on both databases: other sites' alerts and
events are hidden, other organizations' ids are not found, pages continue where they ended."""

from __future__ import annotations

import pytest

from protocol.vocabulary import Kind, Role
from server.clock import utcnow
from server.errors import ServiceError
from server.services import alert_reads, alerts
from server.services.sink import NullSink
from server.storage.database import Database
from server.storage.tables import Organization
from tests import factories
from tests.server.services.worlds import caller_for, chief_world, trigger


async def test_events_since_hides_other_sites_and_continues_after_a_page(
    database: Database,
) -> None:
    """A site's staff get only their site's events; `seq` says where the next page starts."""
    world, chief = await chief_world(database)
    await factories.person(world, "staff", roles=((Role.STAFF, "A"),))
    staff = await caller_for(world, "staff")
    async with database.session() as session:
        on_a = await trigger(session, chief, [world.sites["A"]])
        await trigger(session, chief, [world.sites["B"]], kind=Kind.SECURE)
        await alerts.resolve(
            session=session, sink=NullSink(), caller=chief, alert_id=on_a.alert["id"], now=utcnow()
        )
        epoch, seq, found = await alert_reads.events_since(
            session=session, caller=staff, after_seq=0
        )
        _, page_seq, page = await alert_reads.events_since(
            session=session, caller=staff, after_seq=0, limit=2
        )
        _, rest_seq, rest = await alert_reads.events_since(
            session=session, caller=staff, after_seq=page_seq
        )
        org = await session.get_one(Organization, world.organization_id)
    assert epoch == org.epoch and seq == 3
    assert [(e["seq"], e["event"]) for e in found] == [(1, "triggered"), (3, "resolved")]
    assert [e["seq"] for e in page] == [1] and page_seq == 2
    assert [e["seq"] for e in rest] == [3] and rest_seq == 3


async def test_get_and_list_show_only_alerts_the_caller_receives(database: Database) -> None:
    """Staff of A read A's alert; B's alert and another organization's are alert.not_found
    and absent from their list, while the chief lists both."""
    world, chief = await chief_world(database)
    other, other_chief = await chief_world(database)
    await factories.person(world, "staff", roles=((Role.STAFF, "A"),))
    staff = await caller_for(world, "staff")
    async with database.session() as session:
        on_a = await trigger(session, chief, [world.sites["A"]])
        on_b = await trigger(session, chief, [world.sites["B"]], kind=Kind.SECURE)
        foreign = await trigger(session, other_chief, [other.sites["A"]])
        seen = await alert_reads.get_alert(session=session, caller=staff, alert_id=on_a.alert["id"])
        for hidden in (on_b.alert["id"], foreign.alert["id"]):
            with pytest.raises(ServiceError) as error:
                await alert_reads.get_alert(session=session, caller=staff, alert_id=hidden)
            assert error.value.code == "alert.not_found"
        staff_list = await alert_reads.list_alerts(session=session, caller=staff)
        chief_list = await alert_reads.list_alerts(session=session, caller=chief, state="all")
    assert seen == on_a.alert
    assert [a["id"] for a in staff_list] == [on_a.alert["id"]]
    assert [a["id"] for a in chief_list] == [on_b.alert["id"], on_a.alert["id"]]
