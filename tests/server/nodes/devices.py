"""Device clients as the protocol (docs/protocol.md §4) describes them: each keeps its epoch,
its last contiguous seq and its alerts; applies a welcome (replayed events, or a snapshot
that replaces its state) and then live `alert` frames, ignoring duplicates; and reconnects
to the same address after losing its connection, resuming with what it kept."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

WAIT = 60.0  # generous: three nodes and their clients share two busy cores
RECONNECT_DELAY = 0.2


@dataclass
class DeviceClient:
    name: str
    token: str
    url: str
    epoch: str | None = None
    last_seq: int = 0
    alerts: dict[int, dict[str, Any]] = field(default_factory=dict)
    applied: list[int] = field(default_factory=list)  # seqs applied from the stream, in order
    welcomes: list[dict[str, Any]] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)  # the local port of each connection
    may_reconnect: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _ws: ClientConnection | None = None

    def order(self, alert_id: int) -> str | None:
        """The current order (Swedish) this device shows for the alert, if it knows it."""
        alert = self.alerts.get(alert_id)
        return None if alert is None else str(alert["order"]["sv"])

    @property
    def connected(self) -> bool:
        return self._ws is not None

    def apply_welcome(self, welcome: dict[str, Any]) -> None:
        if welcome["recovered"]:
            for event in welcome["events"]:
                self.apply_event(event)
        else:
            self.alerts = {alert["id"]: alert for alert in welcome["active"]}
        self.epoch, self.last_seq = welcome["epoch"], welcome["seq"]
        self.welcomes.append(welcome)

    def apply_event(self, event: dict[str, Any]) -> None:
        if event["seq"] <= self.last_seq:
            return  # a duplicate: delivery is at least once
        alert = event["alert"]
        if alert["state"] == "active":
            self.alerts[alert["id"]] = alert
        else:
            self.alerts.pop(alert["id"], None)
        self.last_seq = event["seq"]
        self.applied.append(event["seq"])

    async def _session(self) -> None:
        async with connect(self.url, open_timeout=WAIT) as ws:
            self.ports.append(ws.local_address[1])
            await ws.send(
                json.dumps(
                    {
                        "type": "hello",
                        "v": 1,
                        "token": self.token,
                        "epoch": self.epoch,
                        "last_seq": self.last_seq,
                        "client": {"name": "nodes-e2e", "version": "1"},
                    }
                )
            )
            self._ws = ws
            try:
                async for raw in ws:
                    frame = json.loads(raw)
                    if frame["type"] == "welcome":
                        self.apply_welcome(frame)
                    elif frame["type"] == "alert":
                        self.apply_event(frame)
                    self._changed.set()
            finally:
                self._ws = None
                self._changed.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(OSError, ConnectionClosed, TimeoutError):
                await self._session()
            await self.may_reconnect.wait()
            await asyncio.sleep(RECONNECT_DELAY)

    def start(self) -> None:
        self.may_reconnect.set()
        self._task = asyncio.create_task(self._run(), name=f"device-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def until(self, condition: Callable[[DeviceClient], bool], what: str) -> None:
        """Wait (at most WAIT seconds) until `condition(self)` holds."""
        try:
            async with asyncio.timeout(WAIT):
                while not condition(self):
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"{self.name}: not {what} within {WAIT}s; epoch {self.epoch} "
                f"last_seq {self.last_seq} applied {self.applied} alerts {self.alerts} "
                f"welcomes {[(w['recovered'], w['seq']) for w in self.welcomes]}"
            ) from None

    async def welcomed(self, count: int = 1) -> None:
        await self.until(lambda d: len(d.welcomes) >= count and d.connected, f"welcomed {count}x")
