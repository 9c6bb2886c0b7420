"""The realtime layer of one node, as one `async with` resource: hub, receipt writer, bus,
gateway and the catch-up ticker. It is the node's post-commit sink
(`server.services.sink.EventSink`): the services tell it about each committed event,
revocation, sign-out and logout. `after_fan_out` (the push dispatcher's wake-up) is called
with the organization once an event was fanned out here, or another node's event was
signalled on the bus."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from contextlib import AsyncExitStack
from typing import Any

from server.logs import log_context
from server.realtime.bus import create_bus
from server.realtime.collector import QuietCollector
from server.realtime.gateway import Gateway
from server.realtime.hub import Hub
from server.realtime.leadership import Leadership
from server.realtime.presence import PresenceSweep, PresenceTicker, PresenceWriter
from server.realtime.presence_feed import PresenceFeed
from server.realtime.receipts import ReceiptWriter
from server.realtime.rollcall_feed import RollCallFeed
from server.realtime.signals import (
    EventSignal,
    LogoutSignal,
    PresenceSignal,
    RebindSignal,
    Reconnected,
    RevokeSignal,
    RightsSignal,
    RollCallSignal,
    Signal,
    SignOutSignal,
)
from server.realtime.snapshots import Snapshots
from server.realtime.tokens import DeviceTokens
from server.settings import Settings
from server.storage import events, presence
from server.storage.database import Database
from server.storage.receipts import ReceiptUpdate

log = logging.getLogger(__name__)

# Told the organization whose event log grew; must not block (it only wakes a task).
EventWaker = Callable[[int], None]


class Realtime:
    def __init__(
        self, settings: Settings, database: Database, *, after_fan_out: EventWaker | None = None
    ) -> None:
        self.settings = settings
        self.database = database
        self.after_fan_out = after_fan_out
        self.hub = Hub(
            read_events=self._read_events,
            read_seq=self._read_seq,
            buffer_limit=settings.connection_buffer_bytes,
        )
        self.rollcall = RollCallFeed(database=database, hub=self.hub)
        self.receipts = ReceiptWriter(database, on_written=self._receipts_written)
        self.bus = create_bus(
            settings.bus_url, self._on_signal, namespace=settings.bus_channel_namespace()
        )
        self.presence_feed = PresenceFeed(
            database=database,
            hub=self.hub,
            stale_after=presence.stale_after(settings.heartbeat_seconds),
        )
        self.presence_writer = PresenceWriter(
            database=database, node_id=self.bus.node_id, on_changed=self._presence_changed
        )
        self.snapshots = Snapshots(database=database, hub=self.hub)
        self.tokens = DeviceTokens(database)
        self.gateway = Gateway(
            settings=settings,
            database=database,
            hub=self.hub,
            receipts=self.receipts,
            snapshots=self.snapshots,
            tokens=self.tokens,
            presence=self.presence_writer,
        )
        self.presence = PresenceTicker(
            database=database,
            interval=settings.heartbeat_seconds,
            connected_devices=self.gateway.connected_device_ids,
        )
        # Work for one node at a time (docs/architecture.md "Many nodes"): the presence sweep.
        self.leadership = Leadership(
            database, "presence_sweep", retry_seconds=settings.heartbeat_seconds / 4
        )
        self.presence_sweep = PresenceSweep(
            database=database,
            leadership=self.leadership,
            interval=settings.heartbeat_seconds,
            stale_after=presence.stale_after(settings.heartbeat_seconds),
            on_stale=self._presence_changed,
        )
        self.collector = QuietCollector(hub=self.hub)
        self._ticker: asyncio.Task[None] | None = None
        self._stack = AsyncExitStack()

    # -- the post-commit sink (server.services.sink.EventSink) ----------------------------
    async def event_committed(self, organization_id: int, event: dict[str, Any]) -> None:
        """An event was committed on this node: fan out here at once, then wake the others,
        then the push dispatcher (nothing per device is written before the fan-out)."""
        self.hub.offer(organization_id, event)
        alert = event.get("alert") or {}
        with log_context(alert_id=alert.get("id"), seq=event["seq"], event=event.get("event")):
            log.info("alert event committed here and fanned out")
            try:
                await self.bus.publish(EventSignal(org=organization_id, seq=event["seq"]))
            finally:
                self._event_logged(organization_id)

    def _event_logged(self, organization_id: int) -> None:
        if self.after_fan_out is not None:
            self.after_fan_out(organization_id)

    async def device_revoked(self, device_id: int) -> None:
        self.gateway.close_device(device_id)
        await self.bus.publish(RevokeSignal(device_id=device_id))

    async def session_closed(self, session_hash: str) -> None:
        """A person logged out: close the live connections of that session only."""
        self.gateway.close_session(session_hash)
        await self.bus.publish(LogoutSignal(session=session_hash))

    async def person_signed_out(self, person_id: int) -> None:
        self.gateway.close_person(person_id)
        await self.bus.publish(SignOutSignal(person_id=person_id))

    async def person_rights_changed(self, person_id: int) -> None:
        """Roles changed: the person's connections reconnect and hello with the new rights."""
        self.gateway.reconnect_person(person_id)
        await self.bus.publish(RightsSignal(person_id=person_id))

    async def device_rebound(self, device_id: int) -> None:
        """Zone or person changed: the device reconnects and its welcome says so."""
        self.gateway.reconnect_device(device_id)
        await self.bus.publish(RebindSignal(device_id=device_id))

    async def receipts_committed(self, organization_id: int, alert_ids: tuple[int, ...]) -> None:
        """Receipts or acks were committed over HTTP on this node: the same as a batch of
        the receipt writer — roll call pushed here, and the other nodes told."""
        await self.rollcall.alerts_changed(organization_id, alert_ids)
        await self.bus.publish(RollCallSignal(org=organization_id, alerts=tuple(sorted(alert_ids))))

    async def push_states_changed(
        self, organization_id: int, *, alert_ids: Collection[int], site_ids: Collection[int]
    ) -> None:
        """Pushes of these alerts to devices of these sites changed state (the dispatcher
        recorded attempts or answers): the roll calls and presence here are recomputed, and
        the other nodes are told to do the same."""
        alerts = tuple(sorted(set(alert_ids)))
        await self.rollcall.alerts_changed(organization_id, alerts)
        if alerts:
            await self.bus.publish(RollCallSignal(org=organization_id, alerts=alerts))
        for site_id in sorted(set(site_ids)):
            await self._presence_changed(organization_id, site_id)

    async def _receipts_written(self, batch: list[ReceiptUpdate]) -> None:
        """Receipts were committed here: push roll call here, and tell the other nodes."""
        by_org: dict[int, set[int]] = {}
        for update in batch:
            by_org.setdefault(update.organization_id, set()).add(update.alert_id)
        for org, alert_ids in by_org.items():
            await self.receipts_committed(org, tuple(sorted(alert_ids)))

    async def _presence_changed(self, organization_id: int, site_id: int) -> None:
        """Devices of the site connected here or their last connection here closed."""
        self.presence_feed.site_changed(organization_id, site_id)
        await self.bus.publish(PresenceSignal(org=organization_id, site=site_id))

    # -- bus and database ----------------------------------------------------------------
    async def _on_signal(self, signal: Signal, node: str) -> None:
        """What another node (or the bus itself) said; our own signals were handled here."""
        if isinstance(signal, Reconnected):
            await self.hub.catch_up_all()
            for org in self.hub.organizations():
                self._event_logged(org)
        elif node == self.bus.node_id:
            return
        elif isinstance(signal, EventSignal):
            self.hub.request_catch_up(signal.org)
            self._event_logged(signal.org)
        elif isinstance(signal, RollCallSignal):
            await self.rollcall.alerts_changed(signal.org, list(signal.alerts))
        elif isinstance(signal, PresenceSignal):
            self.presence_feed.site_changed(signal.org, signal.site)
        else:
            self._close_connections(signal)

    def _close_connections(self, signal: Signal) -> None:
        """Another node ended or changed what live connections were given at their hello."""
        if isinstance(signal, RevokeSignal):
            self.gateway.close_device(signal.device_id)
        elif isinstance(signal, SignOutSignal):
            self.gateway.close_person(signal.person_id)
        elif isinstance(signal, LogoutSignal):
            self.gateway.close_session(signal.session)
        elif isinstance(signal, RightsSignal):
            self.gateway.reconnect_person(signal.person_id)
        elif isinstance(signal, RebindSignal):
            self.gateway.reconnect_device(signal.device_id)

    async def _read_events(self, organization_id: int, after_seq: int) -> list[dict[str, Any]]:
        async with self.database.session() as session:
            rows = await events.since(session, organization_id=organization_id, after_seq=after_seq)
            return [events.event_document(row) for row in rows]

    async def _read_seq(self, organization_id: int) -> int:
        async with self.database.session() as session:
            _epoch, seq = await events.stream_position(session, organization_id=organization_id)
            return seq

    # -- what /api/v1/ready and /metrics read (server.api.deps.LiveNode) -------------------
    @property
    def bus_kind(self) -> str:
        return self.bus.kind

    async def bus_ready(self) -> bool:
        """The bus can carry signals now (memory: always; Redis: it answers a PING)."""
        return await self.bus.ready()

    def connections_by_kind(self) -> dict[str, int]:
        return self.hub.connections_by_kind()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.settings.catch_up_seconds)
            try:
                await self.hub.catch_up_all()
            except Exception:
                log.exception("catch-up tick failed")

    # -- lifecycle -----------------------------------------------------------------------
    async def __aenter__(self) -> Realtime:
        stack = AsyncExitStack()
        async with stack:
            resources = (
                self.receipts,
                self.bus,
                self.presence_feed,
                self.presence_writer,
                self.tokens,
                self.gateway,
                self.rollcall,
                self.presence,
                self.leadership,
                self.presence_sweep,
                self.collector,
            )
            for resource in resources:
                await stack.enter_async_context(resource)  # type: ignore[arg-type]
            self._ticker = asyncio.create_task(self._tick(), name="catch-up")
            stack.push_async_callback(self._stop_ticker)
            self._stack = stack.pop_all()
        return self

    async def _stop_ticker(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()  # reverse order: ticker, presence, roll call, gateway, ...
