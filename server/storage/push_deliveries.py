"""The push outbox: the dispatcher's cursors over the event log, the deliveries it expands
events into, claiming due deliveries and recording what the providers answered. A
repository: no commits, no permission checks (server/dispatch/ drives the transactions).

Claiming is safe between nodes: on PostgreSQL the due rows are locked with `FOR UPDATE SKIP
LOCKED` and their `next_attempt_at` is pushed ahead (the lease) in the same transaction, so
after its commit no other node sees them due until the lease runs out. SQLite has one node
and one claiming worker.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from protocol.vocabulary import DeviceKind
from server.core.push_schedule import DeliveryState, ReceiptView
from server.storage.tables import (
    Alert,
    AlertEvent,
    Device,
    Organization,
    Person,
    PushCursor,
    PushDelivery,
    PushRegistration,
    Receipt,
    Site,
)

PUSH_KINDS = (DeviceKind.WEB.value, DeviceKind.IOS.value)
ACCEPTED = (DeliveryState.DELIVERED.value, DeliveryState.RECEIPTED.value)


def _insert(session: AsyncSession, table: Any) -> Any:
    """The dialect's INSERT (for ON CONFLICT)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


# -- cursors and expansion ----------------------------------------------------------------


async def lagging_organizations(session: AsyncSession) -> list[tuple[int, int]]:
    """(organization id, cursor seq) of each organization whose event log is ahead of its
    push cursor (a missing cursor is at 0)."""
    cursor_seq = func.coalesce(PushCursor.seq, 0)
    rows = await session.execute(
        select(Organization.id, cursor_seq)
        .outerjoin(PushCursor, PushCursor.organization_id == Organization.id)
        .where(Organization.last_seq > cursor_seq)
        .order_by(Organization.id)
    )
    return [(int(org), int(seq)) for org, seq in rows]


async def lock_cursor(session: AsyncSession, *, organization_id: int, now: datetime) -> int | None:
    """The organization's cursor, locked for this transaction (made at 0 if missing); None
    when another node holds it (PostgreSQL: it is expanding the same events right now)."""
    await session.execute(
        _insert(session, PushCursor)
        .values(organization_id=organization_id, seq=0, updated_at=now)
        .on_conflict_do_nothing(index_elements=["organization_id"])
    )
    seq = await session.scalar(
        select(PushCursor.seq)
        .where(PushCursor.organization_id == organization_id)
        .with_for_update(skip_locked=True)
    )
    return None if seq is None else int(seq)


async def advance_cursor(
    session: AsyncSession, *, organization_id: int, seq: int, now: datetime
) -> None:
    await session.execute(
        update(PushCursor)
        .where(PushCursor.organization_id == organization_id)
        .values(seq=seq, updated_at=now)
    )


@dataclass(frozen=True, slots=True)
class PushTarget:
    """A device that push reaches: not revoked, a `web`/`ios` device with a registration."""

    device_id: int
    site_id: int


async def push_targets(
    session: AsyncSession, *, organization_id: int, site_ids: Collection[int]
) -> list[PushTarget]:
    """The organization's push-reachable devices at `site_ids`."""
    if not site_ids:
        return []
    rows = await session.execute(
        select(Device.id, Device.site_id)
        .join(PushRegistration, PushRegistration.device_id == Device.id)
        .where(
            Device.organization_id == organization_id,
            Device.site_id.in_(site_ids),
            Device.revoked_at.is_(None),
            Device.kind.in_(PUSH_KINDS),
        )
        .order_by(Device.id)
    )
    return [PushTarget(device_id=device, site_id=site) for device, site in rows]


async def add_deliveries(session: AsyncSession, *, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert deliveries; one that exists for (device, seq) is kept as it is."""
    if rows:
        statement = _insert(session, PushDelivery).on_conflict_do_nothing(
            index_elements=["device_id", "seq"]
        )
        await session.execute(statement, list(rows))


def new_delivery(
    *, organization_id: int, alert_id: int, device_id: int, seq: int, now: datetime
) -> dict[str, Any]:
    """A queued delivery, due at once."""
    return {
        "organization_id": organization_id,
        "alert_id": alert_id,
        "device_id": device_id,
        "seq": seq,
        "state": DeliveryState.QUEUED.value,
        "attempts": 0,
        "next_attempt_at": now,
        "last_attempt_at": None,
        "last_result": "",
        "created_at": now,
    }


# -- claiming ------------------------------------------------------------------------------


async def claim_due(
    session: AsyncSession, *, now: datetime, limit: int, lease_until: datetime
) -> list[int]:
    """Lock up to `limit` deliveries due at `now` (oldest due first), skipping rows another
    transaction holds, and push their `next_attempt_at` to `lease_until`."""
    ids = list(
        await session.scalars(
            select(PushDelivery.id)
            .where(PushDelivery.next_attempt_at <= now)
            .order_by(PushDelivery.next_attempt_at, PushDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if ids:
        await session.execute(
            update(PushDelivery)
            .where(PushDelivery.id.in_(ids))
            .values(next_attempt_at=lease_until)
            .execution_options(synchronize_session=False)
        )
    return ids


@dataclass(frozen=True, slots=True)
class Registration:
    type: str  # webpush | apns
    endpoint: str
    p256dh: str
    auth: str
    token: str
    environment: str


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed delivery with everything needed to decide it and build its message."""

    id: int
    organization_id: int
    alert_id: int
    device_id: int
    seq: int
    state: DeliveryState
    attempts: int
    event: AlertEvent
    alert_state: str
    device_revoked: bool
    site_id: int
    person_id: int | None
    registration: Registration | None
    receipt: ReceiptView | None
    newest_accepted_seq: int | None  # of the same alert and device: delivered or receipted
    organization_language: str
    person_language: str | None


def _registration(row: Any) -> Registration | None:
    if row.reg_type is None:
        return None
    return Registration(
        type=row.reg_type,
        endpoint=row.endpoint,
        p256dh=row.p256dh,
        auth=row.auth,
        token=row.token,
        environment=row.environment,
    )


async def claimed(session: AsyncSession, *, ids: Collection[int]) -> list[Claimed]:
    """The deliveries `ids` with everything deciding them and building their messages needs
    besides the site names, in one statement: event, alert state, device, registration,
    receipt, the highest seq a provider accepted for the same alert and device, and the
    organization's and the device's person's languages."""
    if not ids:
        return []
    other = aliased(PushDelivery)
    newest_accepted = (
        select(func.max(other.seq))
        .where(
            other.device_id == PushDelivery.device_id,
            other.alert_id == PushDelivery.alert_id,
            other.state.in_(ACCEPTED),
        )
        .scalar_subquery()
    )
    rows = await session.execute(
        select(
            PushDelivery.id,
            PushDelivery.organization_id,
            PushDelivery.alert_id,
            PushDelivery.device_id,
            PushDelivery.seq,
            PushDelivery.state,
            PushDelivery.attempts,
            AlertEvent,
            Alert.state.label("alert_state"),
            Device.revoked_at,
            Device.site_id,
            Device.person_id,
            PushRegistration.type.label("reg_type"),
            PushRegistration.endpoint,
            PushRegistration.p256dh,
            PushRegistration.auth,
            PushRegistration.token,
            PushRegistration.environment,
            Receipt.seq.label("receipt_seq"),
            Receipt.updated_at.label("receipt_at"),
            newest_accepted.label("newest_accepted"),
            Organization.language.label("organization_language"),
            Person.language.label("person_language"),
        )
        .join(
            AlertEvent,
            and_(
                AlertEvent.organization_id == PushDelivery.organization_id,
                AlertEvent.seq == PushDelivery.seq,
            ),
        )
        .join(Alert, Alert.id == PushDelivery.alert_id)
        .join(Device, Device.id == PushDelivery.device_id)
        .join(Organization, Organization.id == PushDelivery.organization_id)
        .outerjoin(Person, Person.id == Device.person_id)
        .outerjoin(PushRegistration, PushRegistration.device_id == PushDelivery.device_id)
        .outerjoin(
            Receipt,
            and_(
                Receipt.alert_id == PushDelivery.alert_id,
                Receipt.device_id == PushDelivery.device_id,
            ),
        )
        .where(PushDelivery.id.in_(ids))
        .order_by(PushDelivery.seq, PushDelivery.id)
    )
    return [
        Claimed(
            id=row.id,
            organization_id=row.organization_id,
            alert_id=row.alert_id,
            device_id=row.device_id,
            seq=row.seq,
            state=DeliveryState(row.state),
            attempts=row.attempts,
            event=row.AlertEvent,
            alert_state=row.alert_state,
            device_revoked=row.revoked_at is not None,
            site_id=row.site_id,
            person_id=row.person_id,
            registration=_registration(row),
            receipt=None
            if row.receipt_at is None
            else ReceiptView(seq=row.receipt_seq, updated_at=row.receipt_at),
            newest_accepted_seq=None if row.newest_accepted is None else int(row.newest_accepted),
            organization_language=row.organization_language,
            person_language=row.person_language,
        )
        for row in rows
    ]


async def site_names(session: AsyncSession, *, organization_ids: Collection[int]) -> dict[int, str]:
    """The names of the organizations' sites (for the messages)."""
    rows = await session.execute(
        select(Site.id, Site.name).where(Site.organization_id.in_(organization_ids))
    )
    return {site: name for site, name in rows}


# -- recording -----------------------------------------------------------------------------

_SET_STATE = (
    update(PushDelivery.__table__)  # type: ignore[arg-type]
    .where(PushDelivery.__table__.c.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        next_attempt_at=bindparam("b_next"),
        last_result=bindparam("b_result"),
    )
)
_SET_SENT = (
    update(PushDelivery.__table__)  # type: ignore[arg-type]
    .where(PushDelivery.__table__.c.id == bindparam("b_id"))
    .values(
        state=DeliveryState.SENT.value,
        attempts=bindparam("b_attempts"),
        last_attempt_at=bindparam("b_at"),
    )
)
# A result applies only to the attempt it answers: when the lease ran out and another node
# claimed the row meanwhile, `attempts` moved on and the late answer is dropped.
_SET_RESULT = _SET_STATE.where(PushDelivery.__table__.c.attempts == bindparam("b_attempts"))
_SET_REGISTRATION_RESULT = (
    update(PushRegistration.__table__)  # type: ignore[arg-type]
    .where(PushRegistration.__table__.c.device_id == bindparam("b_device"))
    .values(last_result=bindparam("b_result"), last_result_at=bindparam("b_at"))
)


@dataclass(frozen=True, slots=True)
class StateChange:
    id: int
    state: str
    next_attempt_at: datetime | None
    last_result: str
    attempts: int | None = None  # set: only if the row is still at this attempt


async def set_states(session: AsyncSession, *, changes: Iterable[StateChange]) -> None:
    """Write each delivery's state, next attempt and result (one executemany per kind)."""
    plain: list[dict[str, Any]] = []
    guarded: list[dict[str, Any]] = []
    for change in changes:
        params = {
            "b_id": change.id,
            "b_state": change.state,
            "b_next": change.next_attempt_at,
            "b_result": change.last_result,
        }
        if change.attempts is None:
            plain.append(params)
        else:
            guarded.append({**params, "b_attempts": change.attempts})
    if plain:
        await session.execute(_SET_STATE, plain)
    if guarded:
        await session.execute(_SET_RESULT, guarded)


async def mark_sent(session: AsyncSession, *, attempts: Mapping[int, int], now: datetime) -> None:
    """The deliveries (id → their new attempt number) are being handed to a provider."""
    if attempts:
        await session.execute(
            _SET_SENT,
            [{"b_id": id_, "b_attempts": n, "b_at": now} for id_, n in attempts.items()],
        )


async def set_registration_results(
    session: AsyncSession, *, results: Mapping[int, str], now: datetime
) -> None:
    """Each device's registration's latest provider answer (device id → text)."""
    if results:
        await session.execute(
            _SET_REGISTRATION_RESULT,
            [
                {"b_device": device, "b_result": text, "b_at": now}
                for device, text in results.items()
            ],
        )


async def remove_registration(
    session: AsyncSession, *, device_id: int, registration: Registration
) -> bool:
    """Delete the device's registration if it is still the one that was sent to (a device
    that registered anew meanwhile keeps its new one); True when deleted."""
    table = PushRegistration
    same = (
        table.endpoint == registration.endpoint
        if registration.type == "webpush"
        else table.token == registration.token
    )
    result = await session.execute(
        delete(table)
        .where(table.device_id == device_id, table.type == registration.type, same)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0)) > 0


async def stop_pending(
    session: AsyncSession, *, device_id: int, reason: str, except_ids: Collection[int] = ()
) -> None:
    """End every pending delivery of the device: `stopped` (an accepted one stays
    `delivered`), nothing more due."""
    table = PushDelivery
    await session.execute(
        update(table)
        .where(
            table.device_id == device_id,
            table.next_attempt_at.is_not(None),
            table.id.not_in(list(except_ids)),
        )
        .values(
            state=case(
                (table.state == DeliveryState.DELIVERED.value, DeliveryState.DELIVERED.value),
                else_=DeliveryState.STOPPED.value,
            ),
            next_attempt_at=None,
            last_result=reason,
        )
        .execution_options(synchronize_session=False)
    )


async def next_due(session: AsyncSession) -> datetime | None:
    """When the next delivery falls due (None: nothing pending)."""
    value: datetime | None = await session.scalar(
        select(func.min(PushDelivery.next_attempt_at)).where(
            PushDelivery.next_attempt_at.is_not(None)
        )
    )
    return value


async def outbox_backlog(session: AsyncSession, *, now: datetime) -> tuple[int, float]:
    """(deliveries still to be sent or resent, seconds the most overdue one has been due — 0
    when none is): two aggregates over the `next_attempt_at` index, for /metrics."""
    count, earliest = (
        await session.execute(
            select(func.count(), func.min(PushDelivery.next_attempt_at)).where(
                PushDelivery.next_attempt_at.is_not(None)
            )
        )
    ).one()
    overdue = (now - earliest).total_seconds() if earliest is not None else 0.0
    return int(count), max(0.0, overdue)
