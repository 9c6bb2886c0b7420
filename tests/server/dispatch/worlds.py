"""A world for dispatcher tests: push devices with registrations written straight to the
table (the registration API is tested on its own), an injected clock, recording senders,
and triggers through the real alert services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from protocol.vocabulary import DeviceKind, Kind, Mode, Role
from push.fakes import RecordingSender
from push.message import Sender
from server.dispatch.dispatcher import EXPAND_CHUNK, Dispatcher
from server.services import alerts
from server.services.sink import NullSink
from server.settings import Settings
from server.storage.callers import Caller
from server.storage.database import Database
from server.storage.tables import PushDelivery, PushRegistration, Receipt
from tests import factories
from tests.factories import World
from tests.server.services.worlds import caller_for

T0 = datetime(2030, 3, 1, 8, 0, tzinfo=UTC)


class Clock:
    """The dispatcher's and the services' `now`, moved by the test."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def at(self, seconds: float) -> datetime:
        """The moment `seconds` after T0."""
        return T0 + timedelta(seconds=seconds)


def push_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        database_url="sqlite+aiosqlite:///unused.db",
        public_url="https://larm.koping.se",
        push_resend_after_seconds=30.0,
        push_lease_seconds=30.0,
    )
    values.update(overrides)
    return Settings(**values)


@dataclass
class PushWorld:
    world: World
    chief: Caller
    clock: Clock
    webpush: RecordingSender
    apns: RecordingSender

    @property
    def database(self) -> Database:
        return self.world.database

    def senders(self) -> dict[str, Sender]:
        return {"webpush": self.webpush, "apns": self.apns}

    @asynccontextmanager
    async def dispatcher(
        self,
        senders: dict[str, Sender] | None = None,
        *,
        expand_chunk: int = EXPAND_CHUNK,
        **settings: Any,
    ) -> AsyncIterator[Dispatcher]:
        """A dispatcher driven by `run_once` (no loop of its own)."""
        async with Dispatcher(
            database=self.database,
            settings=push_settings(**settings),
            senders=self.senders() if senders is None else senders,
            clock=self.clock,
            ticking=False,
            expand_chunk=expand_chunk,
        ) as dispatcher:
            yield dispatcher

    async def trigger(
        self, *sites: str, kind: Kind = Kind.PDV_LOCKDOWN, mode: Mode = Mode.ACTUAL
    ) -> int:
        """Trigger through the real service (a CLI-style commit: nobody is woken); returns
        the alert id."""
        async with self.database.session() as session:
            result = await alerts.trigger(
                session=session,
                sink=NullSink(),
                caller=self.chief,
                kind=kind,
                mode=mode,
                site_ids=[self.world.sites[s] for s in sites],
                now=self.clock(),
            )
        return int(result.alert["id"])

    async def update(self, alert_id: int, order: str) -> int:
        async with self.database.session() as session:
            event = await alerts.update(
                session=session,
                sink=NullSink(),
                caller=self.chief,
                alert_id=alert_id,
                order={"sv": order, "en": order},
                now=self.clock(),
            )
        return int(event["seq"])

    async def resolve(self, alert_id: int) -> int:
        return await self._end(alerts.resolve, alert_id)

    async def cancel(self, alert_id: int) -> int:
        return await self._end(alerts.cancel, alert_id)

    async def _end(self, end: Any, alert_id: int) -> int:
        """`alerts.resolve` or `alerts.cancel` as the chief; the event's seq."""
        async with self.database.session() as session:
            event = await end(
                session=session,
                sink=NullSink(),
                caller=self.chief,
                alert_id=alert_id,
                now=self.clock(),
            )
        return int(event["seq"])

    async def device(
        self,
        key: str,
        *,
        site: str = "A",
        kind: DeviceKind = DeviceKind.WEB,
        registered: bool = True,
        person_key: str | None = None,
    ) -> int:
        """A device; `registered`: with a push registration of its kind's type."""
        device_id = await factories.device(
            self.world, key, site=site, kind=kind, person_key=person_key
        )
        if registered:
            apns = kind == DeviceKind.IOS
            async with self.database.session() as session:
                session.add(
                    PushRegistration(
                        device_id=device_id,
                        organization_id=self.world.organization_id,
                        type="apns" if apns else "webpush",
                        endpoint="" if apns else f"https://push.example/{key}",
                        p256dh="" if apns else f"p256dh-{key}",
                        auth="" if apns else f"auth-{key}",
                        token=f"{device_id:064x}" if apns else "",
                        environment="sandbox" if apns else "",
                        since=self.clock(),
                        last_result="",
                    )
                )
                await session.commit()
        return device_id

    async def receipt(self, alert_id: int, device: str, *, seq: int | None, at: datetime) -> None:
        """The device's receipt of the alert, as the receipt writers leave it."""
        device_id = self.world.devices[device]
        async with self.database.session() as session:
            session.add(
                Receipt(
                    organization_id=self.world.organization_id,
                    alert_id=alert_id,
                    device_id=device_id,
                    site_id=self.world.sites["A"],
                    delivered_at=at,
                    seq=seq,
                    updated_at=at,
                )
            )
            await session.commit()

    async def deliveries(self) -> list[PushDelivery]:
        async with self.database.session() as session:
            rows = await session.scalars(
                select(PushDelivery).order_by(PushDelivery.seq, PushDelivery.device_id)
            )
            return list(rows.all())

    async def delivery(self, device: str, seq: int) -> PushDelivery:
        device_id = self.world.devices[device]
        found = [d for d in await self.deliveries() if (d.device_id, d.seq) == (device_id, seq)]
        assert len(found) == 1, found
        return found[0]

    async def registration(self, device: str) -> PushRegistration | None:
        async with self.database.session() as session:
            return await session.get(PushRegistration, self.world.devices[device])


async def push_world(database: Database, *, sites: tuple[str, ...] = ("A", "B")) -> PushWorld:
    world = await factories.organization(database, sites=sites)
    await factories.person(world, "chief", roles=((Role.SECURITY_CHIEF, None),))
    return PushWorld(
        world=world,
        chief=await caller_for(world, "chief"),
        clock=Clock(),
        webpush=RecordingSender(),
        apns=RecordingSender(),
    )


def sent_pairs(sender: RecordingSender) -> list[tuple[int, str]]:
    """(seq, event) of each message the sender got, in order."""
    return [(message.seq, message.event) for message, _target in sender.sent]
