"""The alert repositories on both databases: they write without committing, a change of an
alert read before a concurrent change is refused, and reads filter by the sites given."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from protocol.vocabulary import EventType, Kind, Mode
from server.clock import utcnow
from server.core import alerts as core
from server.core.templates import template_for
from server.storage import alert_reads, alerts
from server.storage.database import Database
from server.storage.tables import Alert, AlertEvent, AuditEntry
from tests import factories
from tests.server.storage.alert_rows import insert_alert


async def test_repository_writes_are_undone_by_a_rollback(database: Database) -> None:
    """insert + record_event write an alert, its event and audit entry, and commit nothing."""
    world = await factories.organization(database)
    now = utcnow()
    request = core.TriggerRequest(
        organization_id=world.organization_id,
        kind=Kind.PDV_LOCKDOWN,
        mode=Mode.ACTUAL,
        site_ids=frozenset({world.sites["A"]}),
    )
    async with database.session() as session:
        decision = core.decide_trigger(request, active=[], template=template_for(Kind.PDV_LOCKDOWN))
        assert isinstance(decision, core.NewAlert)
        row = await alerts.insert(
            session,
            organization_id=world.organization_id,
            decision=decision,
            created_by="test",
            idempotency_key=None,
            now=now,
        )
        event = await alerts.record_event(
            session,
            actor="test",
            alert=row,
            site_ids=decision.site_ids,
            event=EventType.TRIGGERED,
            changes={},
            now=now,
        )
        assert event["seq"] == 1 and event["alert"]["sites"] == [world.sites["A"]]
        await session.rollback()
    async with database.session() as session:
        for table in (Alert, AlertEvent, AuditEntry):
            assert await session.scalar(select(func.count()).select_from(table)) == 0


async def test_a_change_of_an_alert_changed_since_it_was_read_is_refused(
    database: Database,
) -> None:
    """apply_change raises AlertChanged when `updated_at` moved after the read."""
    world = await factories.organization(database)
    alert_id = await insert_alert(database, world, site_ids=[world.sites["A"]])
    async with database.session() as session:
        stale = await alerts.get_row(
            session, organization_id=world.organization_id, alert_id=alert_id
        )
        assert stale is not None
        view = alerts.alert_view(stale, site_ids=[world.sites["A"]])
        session.expunge(stale)
        stale.updated_at = stale.updated_at - timedelta(seconds=1)
        change = core.resolve_alert(view, now=utcnow())
        with pytest.raises(alerts.AlertChanged):
            await alerts.apply_change(session, stale, change=change, now=utcnow())


async def test_reads_filter_by_the_given_sites(database: Database) -> None:
    """active_alerts and list_alerts return only alerts touching the sites asked for."""
    world = await factories.organization(database)
    on_a = await insert_alert(database, world, site_ids=[world.sites["A"]])
    on_b = await insert_alert(database, world, site_ids=[world.sites["B"]])
    org = world.organization_id
    async with database.session() as session:
        everything = await alert_reads.active_alerts(session, organization_id=org)
        only_b = await alert_reads.active_alerts(
            session, organization_id=org, site_ids=[world.sites["B"]]
        )
        listed_a = await alert_reads.list_alerts(
            session, organization_id=org, site_ids=[world.sites["A"]]
        )
        listed_none = await alert_reads.list_alerts(session, organization_id=org, site_ids=[])
    assert [a["id"] for a in everything] == [on_a, on_b]
    assert [a["id"] for a in only_b] == [on_b]
    assert [a["id"] for a in listed_a] == [on_a]
    assert listed_none == []
