"""The organization's event stream: numbering (`seq`) and appending alert events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.storage.tables import AlertEvent, Organization


async def next_seq(session: AsyncSession, *, organization_id: int) -> int:
    """Take the organization's next seq. The row update serializes concurrent writers (a row
    lock on PostgreSQL, the write lock on SQLite) until the transaction ends, so seqs are
    gap-free in commit order."""
    result = await session.execute(
        update(Organization)
        .where(Organization.id == organization_id)
        .values(last_seq=Organization.last_seq + 1)
        .returning(Organization.last_seq)
    )
    return int(result.scalar_one())


async def append(
    session: AsyncSession,
    *,
    organization_id: int,
    alert_id: int,
    type: str,
    actor: str,
    at: datetime,
    alert: Mapping[str, Any],
    changes: Mapping[str, Any] | None = None,
) -> AlertEvent:
    seq = await next_seq(session, organization_id=organization_id)
    row = AlertEvent(
        organization_id=organization_id,
        seq=seq,
        alert_id=alert_id,
        type=type,
        actor=actor,
        at=at,
        changes=dict(changes or {}),
        alert={**alert},
    )
    session.add(row)
    await session.flush()
    return row


async def since(
    session: AsyncSession, *, organization_id: int, after_seq: int, limit: int = 1000
) -> Sequence[AlertEvent]:
    """Events with seq > `after_seq`, oldest first."""
    result = await session.scalars(
        select(AlertEvent)
        .where(AlertEvent.organization_id == organization_id, AlertEvent.seq > after_seq)
        .order_by(AlertEvent.seq)
        .limit(limit)
    )
    return result.all()


async def of_alert(
    session: AsyncSession, *, organization_id: int, alert_id: int
) -> Sequence[AlertEvent]:
    """Every event of one alert, oldest first (an alert has a handful)."""
    result = await session.scalars(
        select(AlertEvent)
        .where(AlertEvent.organization_id == organization_id, AlertEvent.alert_id == alert_id)
        .order_by(AlertEvent.seq)
    )
    return result.all()


async def stream_position(session: AsyncSession, *, organization_id: int) -> tuple[str, int]:
    """The organization's (epoch, last_seq)."""
    row = (
        await session.execute(
            select(Organization.epoch, Organization.last_seq).where(
                Organization.id == organization_id
            )
        )
    ).one()
    return row.epoch, int(row.last_seq)


def event_document(row: AlertEvent) -> dict[str, Any]:
    """The wire shape of one event (the `alert` frame without its `type`)."""
    return {
        "seq": row.seq,
        "event": row.type,
        "at": row.at.isoformat(),
        "actor": row.actor,
        "changes": dict(row.changes or {}),
        "alert": dict(row.alert or {}),
    }
