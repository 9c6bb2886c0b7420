"""Receipts: per alert per device, when it was delivered, displayed and acknowledged.

Writes are idempotent upserts: the first `delivered_at`/`displayed_at`/`acked_at` wins, a later
answer replaces the response (a person who was safe may later need help). Many receipts are
written in one statement (group commit; see server/realtime/receipts.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from server.storage.tables import AlertSite, Receipt


@dataclass(frozen=True)
class ReceiptUpdate:
    organization_id: int
    alert_id: int
    device_id: int
    site_id: int
    person_id: int | None
    at: datetime
    delivered: bool = False
    displayed: bool = False
    response: str | None = None  # set: this is an ack
    note: str = ""
    location: str = ""


def _row(update: ReceiptUpdate) -> dict[str, object]:
    acked = update.response is not None
    return {
        "organization_id": update.organization_id,
        "alert_id": update.alert_id,
        "device_id": update.device_id,
        "site_id": update.site_id,
        "person_id": update.person_id,
        # an ack or a display implies delivery
        "delivered_at": update.at,
        "displayed_at": update.at if (update.displayed or acked) else None,
        "acked_at": update.at if acked else None,
        "response": update.response,
        "note": update.note,
        "location": update.location,
        "updated_at": update.at,
    }


async def valid_targets(
    session: AsyncSession, *, organization_id: int, pairs: set[tuple[int, int]]
) -> set[tuple[int, int]]:
    """The (alert_id, site_id) pairs that exist: an alert of this organization on that site."""
    if not pairs:
        return set()
    alert_ids = {alert_id for alert_id, _ in pairs}
    rows = await session.execute(
        select(AlertSite.alert_id, AlertSite.site_id).where(
            AlertSite.organization_id == organization_id, AlertSite.alert_id.in_(alert_ids)
        )
    )
    return {(row.alert_id, row.site_id) for row in rows} & pairs


_UPSERTS: dict[str, Any] = {}


def _upsert_statement(dialect: str) -> Any:
    """The upsert, built once per dialect and run as one executemany per batch (SQLAlchemy
    caches its compiled form; a multi-row VALUES would be compiled afresh every time)."""
    statement = _UPSERTS.get(dialect)
    if statement is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        base = insert(Receipt)
        new = base.excluded
        statement = base.on_conflict_do_update(
            index_elements=["alert_id", "device_id"],
            set_={
                "delivered_at": func.coalesce(Receipt.delivered_at, new.delivered_at),
                "displayed_at": func.coalesce(Receipt.displayed_at, new.displayed_at),
                "acked_at": func.coalesce(new.acked_at, Receipt.acked_at),
                "response": func.coalesce(new.response, Receipt.response),
                "note": func.coalesce(func.nullif(new.note, ""), Receipt.note),
                "location": func.coalesce(func.nullif(new.location, ""), Receipt.location),
                "person_id": func.coalesce(new.person_id, Receipt.person_id),
                "updated_at": new.updated_at,
            },
        )
        _UPSERTS[dialect] = statement
    return statement


async def upsert_many(session: AsyncSession, *, updates: Sequence[ReceiptUpdate]) -> int:
    """Apply the updates in one executemany; later updates of the same (alert,
    device) in the batch are merged first. Returns the number of distinct receipts."""
    merged: dict[tuple[int, int], dict[str, object]] = {}
    for update in updates:
        row = _row(update)
        key = (update.alert_id, update.device_id)
        previous = merged.get(key)
        if previous is None:
            merged[key] = row
            continue
        for column in ("delivered_at", "displayed_at", "acked_at"):
            previous[column] = previous[column] or row[column]
        if row["response"] is not None:
            previous.update(
                response=row["response"],
                note=row["note"],
                location=row["location"],
                acked_at=row["acked_at"],
            )
        previous["updated_at"] = row["updated_at"]
    if not merged:
        return 0
    rows = list(merged.values())
    await session.execute(_upsert_statement(session.get_bind().dialect.name), rows)
    return len(rows)
