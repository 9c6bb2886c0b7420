"""Where each device's pushes stand, read from the push outbox (`push_deliveries`, written
by the dispatcher in server/dispatch/) for the roll call, the reachability report and
presence (server/core/delivery.py decides what the rows mean). Queries only."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from protocol.vocabulary import DeviceKind
from server.core.delivery import GOT_THROUGH, PushRow
from server.storage.tables import PushDelivery

# The kinds of device that may hold a push registration (and so have pushes).
PUSH_KINDS = frozenset({DeviceKind.WEB.value, DeviceKind.IOS.value})
CHUNK = 1000


async def latest_pushes(
    session: AsyncSession,
    *,
    organization_id: int,
    device_ids: Collection[int],
    alert_id: int | None = None,
) -> list[PushRow]:
    """Each device's latest push (the highest seq) of the alert, or of any alert when
    `alert_id` is None, with whether any push in that scope got through; devices never
    pushed are left out."""
    ids = sorted(set(device_ids))
    found: list[PushRow] = []
    for start in range(0, len(ids), CHUNK):
        rows = await session.execute(
            _latest_query(organization_id, ids[start : start + CHUNK], alert_id)
        )
        found.extend(
            PushRow(
                device_id=row.device_id,
                alert_id=row.alert_id,
                seq=row.seq,
                state=row.state,
                last_result=row.last_result,
                attempts=row.attempts,
                at=row.last_attempt_at or row.created_at,
                any_delivered=bool(row.any_delivered),
            )
            for row in rows
        )
    return found


def _latest_query(organization_id: int, device_ids: list[int], alert_id: int | None) -> Select[Any]:
    """The latest push per device of `device_ids` (of `alert_id`, or of any alert): one
    aggregate per device (max seq; whether any got through), joined back to its row by
    (device_id, seq), which is unique."""
    scope = [
        PushDelivery.organization_id == organization_id,
        PushDelivery.device_id.in_(device_ids),
    ]
    if alert_id is not None:
        scope.append(PushDelivery.alert_id == alert_id)
    through = case((PushDelivery.state.in_(sorted(GOT_THROUGH)), 1), else_=0)
    latest = (
        select(
            PushDelivery.device_id.label("device_id"),
            func.max(PushDelivery.seq).label("seq"),
            func.max(through).label("any_delivered"),
        )
        .where(*scope)
        .group_by(PushDelivery.device_id)
        .subquery()
    )
    return select(
        PushDelivery.device_id,
        PushDelivery.alert_id,
        PushDelivery.seq,
        PushDelivery.state,
        PushDelivery.last_result,
        PushDelivery.attempts,
        PushDelivery.last_attempt_at,
        PushDelivery.created_at,
        latest.c.any_delivered,
    ).join(
        latest,
        and_(PushDelivery.device_id == latest.c.device_id, PushDelivery.seq == latest.c.seq),
    )
