"""Receipts: per alert per device, when it was delivered, displayed and acknowledged.

Writes are idempotent upserts: the first `delivered_at`/`displayed_at`/`acked_at` wins, a later
answer replaces the response (a person who was safe may later need help), and `seq` (the
highest event seq the device receipted, from HTTP receipts) only ever rises. Many receipts are
written in one statement (group commit; see server/realtime/receipts.py). Every answer is
also appended to `receipt_answers` in the same transaction, so the history ("need help, then
safe") is kept while the receipt shows the latest."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from server.storage.tables import AlertEvent, AlertSite, Device, Person, Receipt, ReceiptAnswer


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
    seq: int | None = None  # the event receipted (HTTP receipts); None: not named
    # An ack a person gave through their login session for this device of theirs: the
    # answer counts, but the device itself is not claimed to have received or shown anything.
    by_person: bool = False


def _row(update: ReceiptUpdate) -> dict[str, object]:
    acked = update.response is not None
    if update.by_person:
        return {
            **_row(replace(update, by_person=False)),
            "delivered_at": None,
            "displayed_at": None,
        }
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
        "seq": update.seq,
        "updated_at": update.at,
    }


def _higher(old: Any, new: Any) -> Any:
    """The higher of two nullable seqs (SQL): NULL only when both are."""
    return case(
        (new.is_(None), old),
        (old.is_(None), new),
        (new > old, new),
        else_=old,
    )


def _max_seq(a: object, b: object) -> object:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)  # type: ignore[call-overload]


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
                "seq": _higher(Receipt.seq, new.seq),
                "updated_at": new.updated_at,
            },
        )
        _UPSERTS[dialect] = statement
    return statement


def _answer(update: ReceiptUpdate) -> dict[str, object]:
    return {
        "organization_id": update.organization_id,
        "alert_id": update.alert_id,
        "device_id": update.device_id,
        "site_id": update.site_id,
        "person_id": update.person_id,
        "response": update.response,
        "note": update.note,
        "location": update.location,
        "at": update.at,
    }


async def upsert_many(session: AsyncSession, *, updates: Sequence[ReceiptUpdate]) -> int:
    """Apply the updates in one executemany; later updates of the same (alert,
    device) in the batch are merged first. Every ack, merged or not, is appended to the
    answer history in one more executemany, in the caller's transaction. Returns the number
    of distinct receipts."""
    answers = [_answer(update) for update in updates if update.response is not None]
    if answers:
        await session.execute(insert(ReceiptAnswer), answers)
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
        previous["seq"] = _max_seq(previous["seq"], row["seq"])
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


async def list_answers(
    session: AsyncSession, *, organization_id: int, alert_id: int, site_ids: Sequence[int]
) -> list[tuple[ReceiptAnswer, str, str | None]]:
    """The alert's answers on `site_ids`, oldest first, with the device's and the person's
    names (the person's may be None)."""
    result = await session.execute(
        select(ReceiptAnswer, Device.name.label("device_name"), Person.name.label("person_name"))
        .join(Device, Device.id == ReceiptAnswer.device_id)
        .outerjoin(Person, Person.id == ReceiptAnswer.person_id)
        .where(
            ReceiptAnswer.organization_id == organization_id,
            ReceiptAnswer.alert_id == alert_id,
            ReceiptAnswer.site_id.in_(site_ids),
        )
        .order_by(ReceiptAnswer.at, ReceiptAnswer.id)
    )
    return [(answer, device, person) for answer, device, person in result.all()]


async def alert_site_ids(session: AsyncSession, *, organization_id: int, alert_id: int) -> set[int]:
    """The sites the organization's alert targets; empty when it has no such alert."""
    rows = await session.scalars(
        select(AlertSite.site_id).where(
            AlertSite.organization_id == organization_id, AlertSite.alert_id == alert_id
        )
    )
    return set(rows.all())


async def is_event_of(
    session: AsyncSession, *, organization_id: int, alert_id: int, seq: int
) -> bool:
    """Whether `seq` is an event of this alert in the organization's stream."""
    found = await session.scalar(
        select(AlertEvent.id).where(
            AlertEvent.organization_id == organization_id,
            AlertEvent.seq == seq,
            AlertEvent.alert_id == alert_id,
        )
    )
    return found is not None


async def answering_devices(
    session: AsyncSession, *, organization_id: int, person_id: int, site_ids: Collection[int]
) -> list[Device]:
    """The person's devices (not revoked) at these sites: where their own answer is kept."""
    rows = await session.scalars(
        select(Device)
        .where(
            Device.organization_id == organization_id,
            Device.person_id == person_id,
            Device.site_id.in_(list(site_ids)),
            Device.revoked_at.is_(None),
        )
        .order_by(Device.id)
    )
    return list(rows.all())


async def get_many(
    session: AsyncSession, *, alert_id: int, device_ids: Collection[int]
) -> list[Receipt]:
    """The alert's receipts of these devices, by device id."""
    rows = await session.scalars(
        select(Receipt)
        .where(Receipt.alert_id == alert_id, Receipt.device_id.in_(list(device_ids)))
        .order_by(Receipt.device_id)
        .execution_options(populate_existing=True)
    )
    return list(rows.all())
