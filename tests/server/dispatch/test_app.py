"""The dispatcher inside the real app (uvicorn on port 0, the WebSocket gateway, the real
services): an HTTP trigger is pushed at once after the fan-out, a CLI-style commit that
wakes nobody is pushed at the next tick, another process's event on the Redis bus wakes
it, and without push keys the app runs and says which devices get no push."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from protocol.vocabulary import DeviceKind, Kind, Mode, Role
from push.fakes import RecordingSender
from push.message import Delivered, PushMessage, PushResult, Target
from server.clock import utcnow
from server.dispatch.senders import PushConfigError, pem_text, senders_from_settings
from server.realtime.bus import BusSink
from server.services import alerts
from server.services.sink import NullSink
from server.storage.database import Database
from tests import factories
from tests.factories import bearer
from tests.server.dispatch.worlds import push_world
from tests.server.realtime.clients import hello, next_of
from tests.server.realtime.conftest import WAIT, realtime_settings, start_live_server
from tests.server.redis_service import require_redis
from tests.server.services.worlds import caller_for


async def test_an_http_trigger_is_pushed_after_the_fan_out(database: Database) -> None:
    """With the tick an hour away, a trigger over HTTP still reaches the push device at
    once, and only after the node's hub fanned the event out to the WebSocket clients."""
    w = await push_world(database, sites=("A",))
    await w.device("phone")
    await factories.device(w.world, "desk", site="A")
    await factories.person(w.world, "principal", roles=((Role.PRINCIPAL, "A"),))
    fanned_out: list[tuple[int, int | None]] = []
    settings = realtime_settings(push_tick_seconds=3600)
    sender = RecordingSender()
    async with start_live_server(settings, database, push_senders={"webpush": sender}) as live:

        def answer(message: PushMessage, _target: Target) -> PushResult:
            hub_seq = live.realtime.hub.stream_seq(w.world.organization_id)
            fanned_out.append((message.seq, hub_seq))
            return Delivered()

        sender.answer = answer
        ws, _welcome = await hello(live.ws_url, w.world.tokens["desk"])
        response = await live.http.post(
            "/api/v1/alerts",
            json={"kind": "pdv_lockdown", "site_ids": [w.world.sites["A"]]},
            headers=bearer(w.world, "principal"),
        )
        assert response.status_code == 201
        frame = await next_of(ws, "alert")
        async with asyncio.timeout(WAIT):
            await sender.wait_for(1)
        await ws.close()
    message, _target = sender.sent[0]
    assert (message.alert_id, message.seq, message.event) == (frame["alert"]["id"], 1, "triggered")
    assert fanned_out == [(1, 1)]  # the hub had the event when the push went out
    assert sender.closed  # the dispatcher closed its senders at shutdown


async def test_a_cli_commit_is_pushed_at_the_next_tick(database: Database) -> None:
    """A trigger committed by another process (no sink, no bus) is pushed by the tick."""
    w = await push_world(database, sites=("A",))
    await w.device("phone", kind=DeviceKind.IOS)
    sender = RecordingSender()
    settings = realtime_settings(push_tick_seconds=0.2)
    async with start_live_server(settings, database, push_senders={"apns": sender}):
        async with database.session() as session:
            await alerts.trigger(
                session=session,
                sink=NullSink(),
                caller=w.chief,
                kind=Kind.EVACUATE,
                mode=Mode.DRILL,
                site_ids=[w.world.sites["A"]],
                now=utcnow(),
            )
        async with asyncio.timeout(WAIT):
            await sender.wait_for(1)
    message, _target = sender.sent[0]
    assert (message.kind, message.mode, message.title) == (
        "evacuate",
        "drill",
        "ÖVNING – Utrymning",
    )


async def test_another_process_event_on_the_bus_wakes_the_dispatcher(
    sqlite_database: Database,
) -> None:
    """A CLI trigger with a bus URL (Redis): the node's dispatcher is woken by the signal,
    although its tick is an hour away."""
    redis_url = await require_redis()
    w = await push_world(sqlite_database, sites=("A",))
    await w.device("phone")
    sender = RecordingSender()
    settings = realtime_settings(bus_url=redis_url, push_tick_seconds=3600, catch_up_seconds=3600)
    async with start_live_server(settings, sqlite_database, push_senders={"webpush": sender}):
        async with (
            BusSink(redis_url, namespace=settings.bus_channel_namespace()) as sink,
            sqlite_database.session() as session,
        ):
            caller = await caller_for(w.world, "chief")
            await alerts.trigger(
                session=session,
                sink=sink,
                caller=caller,
                kind=Kind.PDV_LOCKDOWN,
                mode=Mode.ACTUAL,
                site_ids=[w.world.sites["A"]],
                now=utcnow(),
            )
        async with asyncio.timeout(WAIT):
            await sender.wait_for(1)
    assert sender.sent[0][0].event == "triggered"


async def test_without_push_keys_the_app_runs_and_says_so(
    sqlite_database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """No VAPID key, no APNs key: no senders, the app serves, and the log says which
    devices get no push."""
    settings = realtime_settings()
    assert senders_from_settings(settings) == {}
    with caplog.at_level(logging.WARNING, logger="server.dispatch.senders"):
        async with start_live_server(settings, sqlite_database) as live:
            assert (await live.http.get("/api/v1/health")).status_code == 200
    messages = [record.getMessage() for record in caplog.records]
    assert any("Web Push is not configured" in m for m in messages), messages
    assert any("APNs is not configured" in m for m in messages), messages


def test_a_key_is_pem_text_or_a_file(tmp_path: Path) -> None:
    """A PEM value is used as it is; anything else is read as a file; a missing file is a
    configuration error naming the setting."""
    pem = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n"
    assert pem_text(pem, setting="vapid_private_key") == pem
    path = tmp_path / "key.pem"
    path.write_text(pem, encoding="utf-8")
    assert pem_text(str(path), setting="vapid_private_key") == pem
    with pytest.raises(PushConfigError, match="apns_key_file"):
        pem_text(str(tmp_path / "missing.p8"), setting="apns_key_file")
