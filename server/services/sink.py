"""The one typed path from a committed change to whatever reacts to it.

Services call an `EventSink` after their commit. The node's realtime layer is one (fan-out
here, a bus signal to the other nodes); a CLI with a bus URL publishes only the bus signal;
tools and tests that need neither use `NullSink`. The sink only wakes: the database is the
record, and consumers that must never miss an event (the push dispatcher) follow the event
log by seq from a durable cursor.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Collection, Iterable
from typing import Any, Protocol

log = logging.getLogger(__name__)

EventDocument = dict[str, Any]  # `server.storage.events.event_document`: the wire shape


class EventSink(Protocol):
    async def event_committed(self, organization_id: int, event: EventDocument) -> None:
        """An alert event was committed (appended to the organization's event log)."""

    async def device_revoked(self, device_id: int) -> None:
        """A device was revoked: its live connections must close (4002)."""

    async def person_signed_out(self, person_id: int) -> None:
        """A person was deactivated or all their sessions ended: close their connections."""

    async def session_closed(self, session_hash: str) -> None:
        """One login session ended (logout): close the connections of that session."""

    async def person_rights_changed(self, person_id: int) -> None:
        """A person's roles changed: their connections reconnect and get the new rights."""

    async def device_rebound(self, device_id: int) -> None:
        """A device's zone or person changed: its connections reconnect and hello anew."""

    async def receipts_committed(self, organization_id: int, alert_ids: tuple[int, ...]) -> None:
        """Receipts or acks of these alerts were committed outside the node's receipt writer
        (over HTTP): their roll calls changed, here and for the other nodes' dashboards."""


class PushStateSink(Protocol):
    async def push_states_changed(
        self, organization_id: int, *, alert_ids: Collection[int], site_ids: Collection[int]
    ) -> None:
        """Pushes of these alerts to devices of these sites changed state (recorded and
        committed by the dispatcher): roll calls and presence are recomputed on every node.
        The node's `Realtime` is one; `NullSink` ignores it."""


class NullSink:
    """Reacts to nothing: for tools and tests without a realtime layer or bus."""

    async def event_committed(self, organization_id: int, event: EventDocument) -> None:
        return None

    async def device_revoked(self, device_id: int) -> None:
        return None

    async def person_signed_out(self, person_id: int) -> None:
        return None

    async def session_closed(self, session_hash: str) -> None:
        return None

    async def person_rights_changed(self, person_id: int) -> None:
        return None

    async def device_rebound(self, device_id: int) -> None:
        return None

    async def receipts_committed(self, organization_id: int, alert_ids: tuple[int, ...]) -> None:
        return None

    async def push_states_changed(
        self, organization_id: int, *, alert_ids: Collection[int], site_ids: Collection[int]
    ) -> None:
        return None


class RecordingSink:
    """Remembers what it was told: each kind in its own list, and the calls about devices,
    persons and sessions also in `told` as (call, argument), in order — the fake for tests
    of services and routers.
    With `fail` set every call records and then raises it (a broken consumer)."""

    def __init__(self, *, fail: Exception | None = None) -> None:
        self.told: list[tuple[str, int | str]] = []
        self.events: list[tuple[int, EventDocument]] = []
        self.push_states: list[tuple[int, frozenset[int], frozenset[int]]] = []
        self.revoked_devices: list[int] = []
        self.signed_out_persons: list[int] = []
        self.closed_sessions: list[str] = []
        self.rights_changed: list[int] = []
        self.rebound_devices: list[int] = []
        self.receipts: list[tuple[int, tuple[int, ...]]] = []
        self.fail = fail

    def _done(self) -> None:
        if self.fail is not None:
            raise self.fail

    async def event_committed(self, organization_id: int, event: EventDocument) -> None:
        self.events.append((organization_id, event))
        self._done()

    async def device_revoked(self, device_id: int) -> None:
        self.revoked_devices.append(device_id)
        self.told.append(("device_revoked", device_id))
        self._done()

    async def person_signed_out(self, person_id: int) -> None:
        self.signed_out_persons.append(person_id)
        self.told.append(("person_signed_out", person_id))
        self._done()

    async def session_closed(self, session_hash: str) -> None:
        self.closed_sessions.append(session_hash)
        self.told.append(("session_closed", session_hash))
        self._done()

    async def person_rights_changed(self, person_id: int) -> None:
        self.rights_changed.append(person_id)
        self.told.append(("person_rights_changed", person_id))
        self._done()

    async def device_rebound(self, device_id: int) -> None:
        self.rebound_devices.append(device_id)
        self.told.append(("device_rebound", device_id))
        self._done()

    async def receipts_committed(self, organization_id: int, alert_ids: tuple[int, ...]) -> None:
        self.receipts.append((organization_id, alert_ids))
        self._done()

    async def push_states_changed(
        self, organization_id: int, *, alert_ids: Collection[int], site_ids: Collection[int]
    ) -> None:
        self.push_states.append((organization_id, frozenset(alert_ids), frozenset(site_ids)))
        self._done()


async def events_committed(
    sink: EventSink, organization_id: int, events: Iterable[EventDocument]
) -> None:
    """Tell the sink about committed events in seq order. The commit already happened and the
    database is the record: a failing sink is logged, and clients catch up by seq."""
    for event in events:
        try:
            await sink.event_committed(organization_id, event)
        except Exception:
            log.exception("post-commit sink failed for seq %s", event.get("seq"))


async def tell(call: Awaitable[None], *, what: str) -> None:
    """Await one post-commit sink call. The change is committed and the database is the
    record: a failing sink is logged (a revoked token still fails on its next use)."""
    try:
        await call
    except Exception:
        log.exception("post-commit sink failed: %s", what)
