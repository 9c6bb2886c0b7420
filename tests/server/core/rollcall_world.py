"""The rows the pure roll call and reachability report are computed from, built short:
one alert at T0 whose roll call is read at AT, two sites, receipts `seconds` after the
trigger. Shared by tests/server/core/test_rollcall.py and test_reachability.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.core.delivery import PushRow
from server.core.rollcall import DeviceRow, PersonRow, ReceiptRow

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
AT = T0 + timedelta(minutes=2)
SITES = {1: "Ullvi", 2: "Kyrkbacken"}
NO_PUSHES = {"queued": 0, "sent": 0, "delivered": 0, "receipted": 0, "failed": 0}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def delivered(device_id: int, site_id: int = 1, seconds: float = 1) -> ReceiptRow:
    return ReceiptRow(device_id=device_id, site_id=site_id, delivered_at=at(seconds))


def displayed(device_id: int, site_id: int = 1, seconds: float = 2) -> ReceiptRow:
    return ReceiptRow(
        device_id=device_id, site_id=site_id, delivered_at=at(1), displayed_at=at(seconds)
    )


def answered(
    device_id: int,
    response: str,
    *,
    site_id: int = 1,
    seconds: float = 5,
    note: str = "",
    location: str = "",
) -> ReceiptRow:
    return ReceiptRow(
        device_id=device_id,
        site_id=site_id,
        delivered_at=at(1),
        displayed_at=at(2),
        acked_at=at(seconds),
        response=response,
        note=note,
        location=location,
    )


def phone(
    id: int, person: int | None, *, site: int = 1, zone: int | None = None, revoked: bool = False
) -> DeviceRow:
    return DeviceRow(
        id=id,
        name=f"device {id}",
        kind="ios" if person else "desktop",
        site_id=site,
        zone_id=zone,
        person_id=person,
        person_name=None if person is None else f"Person {person}",
        revoked=revoked,
    )


def person(id: int, *sites: int) -> PersonRow:
    return PersonRow(id=id, name=f"Person {id}", site_ids=frozenset(sites))


def pushed(device_id: int, state: str, *, seq: int = 42, reason: str = "") -> PushRow:
    return PushRow(
        device_id=device_id,
        alert_id=7,
        seq=seq,
        state=state,
        last_result=reason,
        attempts=1,
        at=at(1),
        any_delivered=state in ("delivered", "receipted"),
    )


def registered(id: int, person: int | None, kind: str = "web", site: int = 1) -> DeviceRow:
    return DeviceRow(
        id=id,
        name=f"device {id}",
        kind=kind,
        site_id=site,
        person_id=person,
        person_name=None if person is None else f"Person {person}",
        push="webpush" if kind == "web" else "apns",
    )
