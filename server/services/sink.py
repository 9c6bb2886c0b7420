"""The one typed path from a committed change to whatever reacts to it.

Services call an `EventSink` after their commit. The node's realtime layer is one (fan-out
here, a bus signal to the other nodes); a CLI with a bus URL publishes only the bus signal;
tools and tests that need neither use `NullSink`. The sink only wakes: the database is the
record, and consumers that must never miss an event (the push dispatcher) follow the event
log by seq from a durable cursor.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable
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
