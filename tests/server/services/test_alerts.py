"""The alert use cases on both databases: one transaction per change, races, seq and audit,
permissions, and the post-commit sink told of every committed event (and of nothing else)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from protocol.vocabulary import Kind, Mode, Role
from server.clock import utcnow
from server.core.errors import AlertNotActive, Forbidden, NoSites
from server.errors import ServiceError
from server.services import alerts
from server.services.sink import NullSink, RecordingSink
from server.storage import alert_reads, audit
from server.storage.database import Database
from server.storage.tables import Alert, AlertEvent, AlertSite, AuditEntry, Organization
from tests import factories
from tests.server.services.worlds import caller_for, chief_world, trigger


async def counts(database: Database, organization_id: int) -> dict[str, int]:
    async with database.session() as session:
        result = {}
        for name, table in (("alerts", Alert), ("events", AlertEvent), ("audit", AuditEntry)):
            result[name] = await session.scalar(
                select(func.count())
                .select_from(table)
                .where(table.organization_id == organization_id)
            )
        return result


async def test_two_concurrent_triggers_on_one_site_make_one_alert(database: Database) -> None:
    """Two triggers racing on the same site: one alert, one `triggered` event, same answer."""
    world, chief = await chief_world(database)
    site = world.sites["A"]

    async def press() -> alerts.TriggerResult:
        async with database.session() as session:
            return await trigger(session, chief, [site])

    first, second = await asyncio.gather(press(), press())
    assert sorted([first.created, second.created]) == [False, True]
    assert first.alert["id"] == second.alert["id"]
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(Alert)) == 1
        types = (await session.scalars(select(AlertEvent.type))).all()
        actions = (await session.scalars(select(AuditEntry.action))).all()
    assert types == ["triggered"]
    assert sorted(actions) == ["alert.trigger_repeated", "alert.triggered"]


async def test_concurrent_triggers_with_one_idempotency_key_make_one_alert(
    database: Database,
) -> None:
    """The same Idempotency-Key twice at once (different sites free): still one alert."""
    world, chief = await chief_world(database)

    async def press() -> alerts.TriggerResult:
        async with database.session() as session:
            return await trigger(
                session,
                chief,
                [world.sites["A"], world.sites["B"]],
                kind=Kind.EVACUATE,
                idempotency_key="k-1",
            )

    results = await asyncio.gather(press(), press())
    assert sorted(r.created for r in results) == [False, True]
    assert results[0].alert["id"] == results[1].alert["id"]
    assert (await counts(database, world.organization_id))["events"] == 1


async def test_concurrent_resolve_and_cancel_end_the_alert_once(database: Database) -> None:
    """Resolve and cancel racing: exactly one wins, the other gets alert.not_active."""
    world, chief = await chief_world(database)
    async with database.session() as session:
        created = await trigger(session, chief, [world.sites["A"]])
    alert_id = created.alert["id"]

    async def end(function: Any) -> object:
        async with database.session() as session:
            try:
                return await function(
                    session=session, sink=NullSink(), caller=chief, alert_id=alert_id, now=utcnow()
                )
            except AlertNotActive as exc:
                return exc

    outcomes = await asyncio.gather(end(alerts.resolve), end(alerts.cancel))
    assert sum(isinstance(o, AlertNotActive) for o in outcomes) == 1
    async with database.session() as session:
        types = (await session.scalars(select(AlertEvent.type).order_by(AlertEvent.seq))).all()
    assert types[0] == "triggered" and len(types) == 2 and types[1] in {"resolved", "cancelled"}


async def test_a_lifecycle_numbers_events_without_gaps_and_keeps_the_audit_chain(
    database: Database,
) -> None:
    """trigger, update, resolve, trigger, cancel: seq 1..5, the chain verifies."""
    world, chief = await chief_world(database)
    org = world.organization_id
    site = world.sites["A"]
    async with database.session() as session:
        first = await trigger(session, chief, [site])
        updated = await alerts.update(
            session=session,
            sink=NullSink(),
            caller=chief,
            alert_id=first.alert["id"],
            kind=Kind.EVACUATE,
            now=utcnow(),
        )
        resolved = await alerts.resolve(
            session=session, sink=NullSink(), caller=chief, alert_id=first.alert["id"], now=utcnow()
        )
        second = await trigger(session, chief, [site], kind=Kind.SECURE)
        cancelled = await alerts.cancel(
            session=session,
            sink=NullSink(),
            caller=chief,
            alert_id=second.alert["id"],
            now=utcnow(),
        )
    assert first.event is not None and second.event is not None
    seqs = [
        first.event["seq"],
        updated["seq"],
        resolved["seq"],
        second.event["seq"],
        cancelled["seq"],
    ]
    assert seqs == [1, 2, 3, 4, 5]
    assert updated["changes"]["kind"] == "evacuate"
    assert updated["alert"]["order"]["sv"].startswith("UTRYMNING")
    assert resolved["alert"]["state"] == "resolved" and resolved["alert"]["ended_at"]
    async with database.session() as session:
        stored = (
            await session.scalars(
                select(AlertEvent.seq)
                .where(AlertEvent.organization_id == org)
                .order_by(AlertEvent.seq)
            )
        ).all()
        org_row = await session.get_one(Organization, org)
        verification = await audit.verify(session, organization_id=org)
        actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq))).all()
        active_rows = (
            await session.scalars(select(AlertSite.active).where(AlertSite.organization_id == org))
        ).all()
    assert list(stored) == [1, 2, 3, 4, 5] and org_row.last_seq == 5
    assert verification.ok and verification.entries == 5
    assert actions == [
        "alert.triggered",
        "alert.updated",
        "alert.resolved",
        "alert.triggered",
        "alert.cancelled",
    ]
    assert active_rows == [False, False]


async def test_the_stored_event_holds_the_full_alert_document(database: Database) -> None:
    """Each event row's `alert` is the document right after it, so replay needs no join."""
    world, chief = await chief_world(database)
    async with database.session() as session:
        result = await trigger(
            session,
            chief,
            [world.sites["B"], world.sites["A"]],
            kind=Kind.CUSTOM,
            mode=Mode.DRILL,
            order={"sv": "Samling i aulan"},
        )
    document = result.alert
    assert set(document) == {
        "id",
        "kind",
        "mode",
        "state",
        "sites",
        "order",
        "instructions",
        "created_at",
        "updated_at",
        "ended_at",
        "created_by",
    }
    assert document["sites"] == sorted(world.sites.values())
    assert document["order"] == {"sv": "Samling i aulan", "en": "Samling i aulan"}
    assert document["ended_at"] is None and document["created_by"] == chief.ref
    async with database.session() as session:
        row = await session.scalar(select(AlertEvent))
    assert row is not None and row.alert == document
    assert result.event is not None and result.event["alert"] == document


async def test_an_actual_trigger_supersedes_a_drill(database: Database) -> None:
    """A real alert on a drilling site cancels the drill first, then triggers."""
    world, chief = await chief_world(database)
    site = world.sites["A"]
    async with database.session() as session:
        drill = await trigger(session, chief, [site], mode=Mode.DRILL)
        real = await trigger(session, chief, [site])
    assert real.created and real.alert["id"] != drill.alert["id"]
    assert [(e["event"], e["alert"]["id"]) for e in real.events] == [
        ("cancelled", drill.alert["id"]),
        ("triggered", real.alert["id"]),
    ]
    assert real.events[0]["changes"]["superseded_by"] == real.alert["id"]
    async with database.session() as session:
        active = await alert_reads.active_alerts(session, organization_id=world.organization_id)
        assert (await audit.verify(session, organization_id=world.organization_id)).ok
    assert [a["id"] for a in active] == [real.alert["id"]]


async def test_rejected_triggers_write_nothing(database: Database) -> None:
    """No sites, unknown sites and missing permission raise before any alert or event is
    written; only the refused permission leaves its audit entry."""
    world, chief = await chief_world(database)
    other = await factories.organization(database, name="Arboga")
    await factories.person(world, "staff", roles=((Role.STAFF, "A"),))
    staff = await caller_for(world, "staff")
    before = await counts(database, world.organization_id)
    async with database.session() as session:
        with pytest.raises(NoSites):
            await trigger(session, chief, [])
        with pytest.raises(ServiceError) as error:
            await trigger(session, chief, [other.sites["A"]])
        assert error.value.code == "site.not_found"
        with pytest.raises(Forbidden):
            await trigger(session, staff, [world.sites["A"]], mode=Mode.DRILL)
    assert await counts(database, world.organization_id) == {**before, "audit": 1}


# -- the post-commit sink ----------------------------------------------------------------


class CommitCheckingSink(RecordingSink):
    """Records each event and whether another session already sees it (it was committed)."""

    def __init__(self, database: Database) -> None:
        super().__init__()
        self.database = database
        self.committed: list[bool] = []

    async def event_committed(self, organization_id: int, event: dict[str, Any]) -> None:
        await super().event_committed(organization_id, event)
        async with self.database.session() as session:
            stored = await session.scalar(
                select(AlertEvent.id).where(
                    AlertEvent.organization_id == organization_id, AlertEvent.seq == event["seq"]
                )
            )
        self.committed.append(stored is not None)


async def test_the_sink_hears_each_committed_event_in_seq_order(database: Database) -> None:
    """Trigger (superseding a drill), update, resolve: the sink gets every event, after its
    commit, in seq order, with the organization's id."""
    world, chief = await chief_world(database)
    org, site = world.organization_id, world.sites["A"]
    sink = CommitCheckingSink(database)
    async with database.session() as session:
        drill = await trigger(session, chief, [site], mode=Mode.DRILL, sink=sink)
        real = await trigger(session, chief, [site], sink=sink)
        await alerts.update(
            session=session,
            sink=sink,
            caller=chief,
            alert_id=real.alert["id"],
            kind=Kind.EVACUATE,
            now=utcnow(),
        )
        await alerts.resolve(
            session=session, sink=sink, caller=chief, alert_id=real.alert["id"], now=utcnow()
        )
    assert [(o, e["seq"], e["event"], e["alert"]["id"]) for o, e in sink.events] == [
        (org, 1, "triggered", drill.alert["id"]),
        (org, 2, "cancelled", drill.alert["id"]),
        (org, 3, "triggered", real.alert["id"]),
        (org, 4, "updated", real.alert["id"]),
        (org, 5, "resolved", real.alert["id"]),
    ]
    assert sink.committed == [True] * 5


async def test_the_sink_hears_nothing_when_no_event_was_committed(database: Database) -> None:
    """A repeated trigger, an idempotent retry and refused changes tell the sink nothing."""
    world, chief = await chief_world(database)
    await factories.person(world, "staff", roles=((Role.STAFF, "A"),))
    staff = await caller_for(world, "staff")
    site = world.sites["A"]
    async with database.session() as session:
        first = await trigger(session, chief, [site], idempotency_key="k")
        sink = RecordingSink()
        again = await trigger(session, staff, [site], sink=sink)
        retry = await trigger(session, chief, [site], idempotency_key="k", sink=sink)
        with pytest.raises(Forbidden):
            await alerts.resolve(
                session=session, sink=sink, caller=staff, alert_id=first.alert["id"], now=utcnow()
            )
        await alerts.cancel(
            session=session, sink=NullSink(), caller=chief, alert_id=first.alert["id"], now=utcnow()
        )
        with pytest.raises(AlertNotActive):
            await alerts.cancel(
                session=session, sink=sink, caller=chief, alert_id=first.alert["id"], now=utcnow()
            )
    assert not again.created and not retry.created
    assert again.alert["id"] == retry.alert["id"] == first.alert["id"]
    assert sink.events == []


async def test_a_failing_sink_leaves_the_committed_change_in_place(database: Database) -> None:
    """The database is the record: a broken sink is logged, the trigger still returns and
    its alert stays active."""
    world, chief = await chief_world(database)
    sink = RecordingSink(fail=RuntimeError("hub down"))
    async with database.session() as session:
        result = await trigger(session, chief, [world.sites["A"]], sink=sink)
    assert result.created and [e["seq"] for _org, e in sink.events] == [1]
    async with database.session() as session:
        active = await alert_reads.active_alerts(session, organization_id=world.organization_id)
    assert [a["id"] for a in active] == [result.alert["id"]]


# -- issue 7: escalation, idempotency per caller, refusals ---------------------------------


async def test_concurrent_pdv_triggers_escalate_a_less_severe_alert_once(
    database: Database,
) -> None:
    """Two PDV presses racing on a site under utestängning: one `updated` (escalated)
    event, the other press sees the escalated alert; the sink hears the one event."""
    world, chief = await chief_world(database)
    site = world.sites["A"]
    async with database.session() as session:
        secure = await trigger(session, chief, [site], kind=Kind.SECURE)
    sink = RecordingSink()

    async def press() -> alerts.TriggerResult:
        async with database.session() as session:
            return await trigger(session, chief, [site], sink=sink)

    results = await asyncio.gather(press(), press())
    assert sorted(r.escalated for r in results) == [False, True]
    assert {r.alert["id"] for r in results} == {secure.alert["id"]}
    assert {r.alert["kind"] for r in results} == {"pdv_lockdown"}
    assert [(e["seq"], e["event"], e["changes"]["escalated"]) for _o, e in sink.events] == [
        (2, "updated", True)
    ]
    async with database.session() as session:
        verification = await audit.verify(session, organization_id=world.organization_id)
        actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq))).all()
    assert verification.ok
    assert actions == ["alert.triggered", "alert.updated", "alert.trigger_repeated"]


async def test_another_kind_tells_the_leaders_and_raises_after_the_commit(
    database: Database,
) -> None:
    """Utrymning during inrymning: the sink hears the committed `escalation_requested`,
    then alert.other_kind_active carries the unchanged alert."""
    world, chief = await chief_world(database)
    async with database.session() as session:
        lockdown = await trigger(session, chief, [world.sites["A"]])
    sink = RecordingSink()
    async with database.session() as session:
        with pytest.raises(ServiceError) as error:
            await trigger(session, chief, [world.sites["A"]], kind=Kind.EVACUATE, sink=sink)
    assert error.value.code == "alert.other_kind_active"
    assert error.value.extra == {"alert": lockdown.alert}
    [(_org, event)] = sink.events
    assert event["seq"] == 2 and event["alert"] == lockdown.alert
    assert event["changes"]["escalation_requested"]["reason"] == alerts.OTHER_KIND_ACTIVE
    assert (await counts(database, world.organization_id))["events"] == 2


async def test_idempotency_keys_are_per_caller_and_expire_with_an_actual_alert(
    database: Database,
) -> None:
    """One key: another caller gets its own alert; after the alert ended the same caller's
    key triggers anew, and a retry then returns that new alert."""
    world, chief = await chief_world(database)
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "B"),))
    principal = await caller_for(world, "principal")
    a, b = world.sites["A"], world.sites["B"]
    async with database.session() as session:
        first = await trigger(session, chief, [a], idempotency_key="k")
        other = await trigger(session, principal, [b], idempotency_key="k")
        assert other.created and other.alert["id"] != first.alert["id"]
        await alerts.cancel(
            session=session, sink=NullSink(), caller=chief, alert_id=first.alert["id"], now=utcnow()
        )
        again = await trigger(session, chief, [a], idempotency_key="k")
        retry = await trigger(session, chief, [a], idempotency_key="k")
    assert again.created and again.alert["id"] not in {first.alert["id"], other.alert["id"]}
    assert not retry.created and retry.alert["id"] == again.alert["id"]


async def test_a_refused_trigger_is_audited_in_its_own_committed_transaction(
    database: Database,
) -> None:
    """Staff where staff may not trigger: Forbidden, and another session sees the audited
    refusal (actor, sites, kind, reason) with the chain intact."""
    world, _chief = await chief_world(database)
    await factories.person(world, "staff", roles=((Role.STAFF, "A"),))
    staff = await caller_for(world, "staff")
    async with database.session() as session:
        with pytest.raises(Forbidden):
            await trigger(session, staff, [world.sites["B"]], kind=Kind.EVACUATE)
    async with database.session() as session:
        [entry] = (await session.scalars(select(AuditEntry))).all()
        verification = await audit.verify(session, organization_id=world.organization_id)
    assert entry.action == "alert.trigger_refused" and entry.actor == staff.ref
    assert entry.details["sites"] == [world.sites["B"]]
    assert entry.details["kind"] == "evacuate" and entry.details["reason"] == "auth.forbidden"
    assert verification.ok


async def test_a_principal_of_some_sites_asks_instead_of_updating(database: Database) -> None:
    """Update of an alert on A and B by A's principal: nothing changes, the request is a
    committed event the sink hears, then alert.led_by_security_chief."""
    world, chief = await chief_world(database)
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    principal = await caller_for(world, "principal")
    async with database.session() as session:
        both = await trigger(session, chief, [world.sites["A"], world.sites["B"]])
    sink = RecordingSink()
    async with database.session() as session:
        with pytest.raises(ServiceError) as error:
            await alerts.update(
                session=session,
                sink=sink,
                caller=principal,
                alert_id=both.alert["id"],
                kind=Kind.EVACUATE,
                now=utcnow(),
            )
    assert error.value.code == "alert.led_by_security_chief"
    [(_org, event)] = sink.events
    assert event["changes"] == {
        "escalation_requested": {"kind": "evacuate", "reason": alerts.MULTI_SITE_UPDATE}
    }
    assert event["alert"] == both.alert == error.value.extra["alert"]
