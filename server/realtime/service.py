"""The realtime layer of one node, as one `async with` resource: hub, receipt writer, bus,
gateway and the catch-up ticker. The API calls `on_event` after each commit that appended an
event, and `device_revoked` after a revocation."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from server.realtime.bus import create_bus
from server.realtime.gateway import Gateway
from server.realtime.hub import Hub
from server.realtime.receipts import ReceiptWriter
from server.settings import Settings
from server.storage import events
from server.storage.database import Database

log = logging.getLogger(__name__)


class Realtime:
    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self.hub = Hub(
            read_events=self._read_events,
            read_seq=self._read_seq,
            buffer_limit=settings.connection_buffer_bytes,
        )
        self.receipts = ReceiptWriter(database)
        self.bus = create_bus(settings.bus_url, self._on_signal)
        self.gateway = Gateway(
            settings=settings, database=database, hub=self.hub, receipts=self.receipts
        )
        self._ticker: asyncio.Task[None] | None = None

    # -- called by the API ---------------------------------------------------------------
    async def on_event(self, event: dict[str, Any], organization_id: int) -> None:
        """An event was committed on this node: fan out here at once, then wake the others."""
        self.hub.offer(organization_id, event)
        await self.bus.publish({"type": "event", "org": organization_id, "seq": event["seq"]})

    async def device_revoked(self, device_id: int) -> None:
        self.gateway.close_device(device_id)
        await self.bus.publish({"type": "revoke", "device_id": device_id})

    async def person_signed_out(self, person_id: int) -> None:
        self.gateway.close_person(person_id)
        await self.bus.publish({"type": "signout", "person_id": person_id})

    # -- bus and database ----------------------------------------------------------------
    async def _on_signal(self, signal: dict[str, Any]) -> None:
        if signal.get("node") == self.bus.node_id and signal.get("type") != "reconnected":
            return  # our own signal: already handled locally
        kind = signal.get("type")
        if kind == "event" and isinstance(signal.get("org"), int):
            self.hub.request_catch_up(signal["org"])
        elif kind == "revoke" and isinstance(signal.get("device_id"), int):
            self.gateway.close_device(signal["device_id"])
        elif kind == "signout" and isinstance(signal.get("person_id"), int):
            self.gateway.close_person(signal["person_id"])
        elif kind == "reconnected":
            await self.hub.catch_up_all()

    async def _read_events(self, organization_id: int, after_seq: int) -> list[dict[str, Any]]:
        async with self.database.session() as session:
            rows = await events.since(session, organization_id=organization_id, after_seq=after_seq)
            return [events.event_document(row) for row in rows]

    async def _read_seq(self, organization_id: int) -> int:
        async with self.database.session() as session:
            _epoch, seq = await events.stream_position(session, organization_id=organization_id)
            return seq

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.settings.catch_up_seconds)
            try:
                await self.hub.catch_up_all()
            except Exception:
                log.exception("catch-up tick failed")

    # -- lifecycle -----------------------------------------------------------------------
    async def __aenter__(self) -> Realtime:
        await self.receipts.__aenter__()
        await self.bus.__aenter__()
        await self.gateway.__aenter__()
        self._ticker = asyncio.create_task(self._tick(), name="catch-up")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        await self.gateway.__aexit__(*exc)
        await self.bus.__aexit__(*exc)
        await self.receipts.__aexit__(*exc)
