"""What devices answer over the WebSocket — receipts (`delivered`, `displayed`) and acks — turned
into receipt updates for the group-commit writer (server/realtime/receipts.py). Never waits:
the writer's queue takes them, and a later batch stores them."""

from __future__ import annotations

from dataclasses import dataclass, replace

from protocol.messages import Ack, ReceiptMsg
from protocol.vocabulary import ReceiptState
from server.clock import utcnow
from server.realtime.receipts import ReceiptWriter
from server.storage.callers import Caller
from server.storage.receipts import ReceiptUpdate


@dataclass(frozen=True, slots=True)
class Answerer:
    """The device a connection answers for, as plain ids: a live connection keeps this, not
    the `Caller` with its ORM instances (memory per idle connection)."""

    organization_id: int
    device_id: int
    site_id: int
    person_id: int | None

    @classmethod
    def of(cls, caller: Caller) -> Answerer | None:
        """The caller's device; None for a person's session (which cannot answer)."""
        device = caller.device
        if device is None:
            return None
        return cls(caller.organization_id, device.id, device.site_id, device.person_id)


class Answers:
    def __init__(self, *, receipts: ReceiptWriter) -> None:
        self.receipts = receipts

    def record(self, answerer: Answerer | None, message: ReceiptMsg | Ack) -> bool:
        """Queue a device's receipt or ack; False (nothing queued) for a person's session:
        receipts are kept per device, so the caller answers it with an `error` frame
        (`protocol.answer_requires_device`) — an answer never vanishes silently."""
        if answerer is None:
            return False
        update = ReceiptUpdate(
            organization_id=answerer.organization_id,
            alert_id=message.alert_id,
            device_id=answerer.device_id,
            site_id=answerer.site_id,
            person_id=answerer.person_id,
            at=utcnow(),
        )
        if isinstance(message, Ack):
            update = replace(
                update,
                response=str(message.response),
                note=message.note,
                location=message.location,
            )
        else:
            update = replace(
                update, delivered=True, displayed=message.state == ReceiptState.DISPLAYED
            )
        self.receipts.put(update)
        return True
