"""Receipts and acks over HTTP: what a service worker, a native app (no socket open) or a
person's dashboard answers. The same records as over the WebSocket — the idempotent upsert of
server/storage/receipts.py, the ack appended to `receipt_answers`, the same checks on the
same fields (the protocol's own decoder) — but stored in the request, so the client knows
it is kept when the answer comes. After the commit the sink is told, which pushes the roll
call to the dashboards on this node and tells the other nodes, as a receipt-writer batch does.

Who answers:
- a device (its token): receipts and acks of alerts that target its site
  (`receipt.not_targeted` otherwise; another organization's alert is `alert.not_found`);
  a receipt names the event (`seq`), and `Receipt.seq` keeps the highest one receipted;
- a person (login session): acks only, for themself. Receipts are per device, so the answer
  is kept on each of the person's devices at the alert's sites, marked as given through the
  session: it counts as the person's answer in the roll call, but no device is claimed to
  have received or shown the alert. A person with no device there gets `receipt.no_device`;
- an API key: neither (`receipt.device_required`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from protocol.codec import decode_client
from protocol.errors import ProtocolError
from protocol.messages import Ack
from protocol.vocabulary import ReceiptState
from server import metrics
from server.errors import ServiceError
from server.services.sink import EventSink, tell
from server.storage import receipts
from server.storage.callers import Caller
from server.storage.receipts import ReceiptUpdate
from server.storage.tables import Device, Receipt


def _device(caller: Caller) -> Device:
    if caller.device is None:
        raise ServiceError("receipt.device_required", "receipts are kept per device")
    return caller.device


async def _alert_sites(session: AsyncSession, *, caller: Caller, alert_id: int) -> set[int]:
    site_ids = await receipts.alert_site_ids(
        session, organization_id=caller.organization_id, alert_id=alert_id
    )
    if not site_ids:
        raise ServiceError("alert.not_found", f"alert {alert_id}")
    return site_ids


def _update(device: Device, *, alert_id: int, now: datetime) -> ReceiptUpdate:
    return ReceiptUpdate(
        organization_id=device.organization_id,
        alert_id=alert_id,
        device_id=device.id,
        site_id=device.site_id,
        person_id=device.person_id,
        at=now,
    )


async def record_receipt(
    *,
    session: AsyncSession,
    sink: EventSink,
    caller: Caller,
    alert_id: int,
    seq: int,
    state: ReceiptState,
    now: datetime,
) -> list[Receipt]:
    """The calling device received (`delivered`) or shows (`displayed`) event `seq` of the
    alert. Idempotent; `seq` never lowers the receipt's."""
    device = _device(caller)
    if device.site_id not in await _alert_sites(session, caller=caller, alert_id=alert_id):
        raise ServiceError("receipt.not_targeted", f"alert {alert_id}, device {device.id}")
    if not await receipts.is_event_of(
        session, organization_id=caller.organization_id, alert_id=alert_id, seq=seq
    ):
        raise ServiceError("receipt.unknown_seq", f"seq {seq} of alert {alert_id}")
    update = replace(
        _update(device, alert_id=alert_id, now=now),
        delivered=True,
        displayed=state == ReceiptState.DISPLAYED,
        seq=seq,
    )
    return await _store(session=session, sink=sink, caller=caller, updates=[update])


def checked_ack(*, alert_id: int, response: str, note: str, location: str) -> Ack:
    """The ack as the WebSocket would take it (the protocol's decoder: the same fields,
    limits and characters), or `request.invalid` with the protocol's reason."""
    frame = {"type": "ack", "alert_id": alert_id, "response": response}
    frame.update({"note": note, "location": location})
    try:
        message = decode_client(json.dumps(frame, ensure_ascii=False))
    except ProtocolError as exc:
        raise ServiceError("request.invalid", exc.detail) from None
    assert isinstance(message, Ack)
    return message


async def record_ack(
    *,
    session: AsyncSession,
    sink: EventSink,
    caller: Caller,
    alert_id: int,
    response: str,
    note: str = "",
    location: str = "",
    now: datetime,
) -> list[Receipt]:
    """The caller's answer to the alert: a device's own, or a person's for themself (kept on
    each of their devices at the alert's sites). A later ack replaces the response; every
    ack is kept in the answer history."""
    ack = checked_ack(alert_id=alert_id, response=response, note=note, location=location)
    site_ids = await _alert_sites(session, caller=caller, alert_id=alert_id)
    if caller.device is not None:
        device = caller.device
        if device.site_id not in site_ids:
            raise ServiceError("receipt.not_targeted", f"alert {alert_id}, device {device.id}")
        devices, by_person = [device], False
    elif caller.person is not None:
        devices = await receipts.answering_devices(
            session,
            organization_id=caller.organization_id,
            person_id=caller.person.id,
            site_ids=site_ids,
        )
        if not devices:
            raise ServiceError("receipt.no_device", f"person {caller.person.id}")
        by_person = True
    else:
        raise ServiceError("receipt.device_required", "API keys do not answer alerts")
    updates = [
        replace(
            _update(device, alert_id=alert_id, now=now),
            response=str(ack.response),
            note=ack.note,
            location=ack.location,
            by_person=by_person,
        )
        for device in devices
    ]
    return await _store(session=session, sink=sink, caller=caller, updates=updates)


async def _store(
    *, session: AsyncSession, sink: EventSink, caller: Caller, updates: Sequence[ReceiptUpdate]
) -> list[Receipt]:
    await receipts.upsert_many(session, updates=updates)
    await session.commit()
    metrics.count_answers(updates)
    alert_id = updates[0].alert_id
    await tell(
        sink.receipts_committed(caller.organization_id, (alert_id,)),
        what=f"receipts of alert {alert_id}",
    )
    return await receipts.get_many(
        session, alert_id=alert_id, device_ids=[update.device_id for update in updates]
    )
