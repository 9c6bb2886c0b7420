"""The dispatcher on SQLite and PostgreSQL: expansion of every event to every registered push
device of its sites, the durable cursor, the retry schedule on an injected clock,
Retry-After, gone and rejected registrations, receipts and the end of the alert stopping
retries, revoked devices, and a node that dies holding a claimed batch."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

import pytest
from sqlalchemy import select, update

from protocol.vocabulary import DeviceKind, Kind, Mode
from push.fakes import RecordingSender
from push.message import (
    ApnsRegistration,
    Delivered,
    Gone,
    PushMessage,
    PushResult,
    Rejected,
    Retry,
    Target,
    WebPushSubscription,
)
from server.services.sink import RecordingSink
from server.storage import push_deliveries as outbox
from server.storage.database import Database
from server.storage.tables import Device, Person, PushCursor, PushDelivery
from tests import factories
from tests.server.dispatch.worlds import push_world, sent_pairs


def retry(_message: PushMessage, _target: Target) -> PushResult:
    return Retry(reason="Service Unavailable", status=503)


async def test_every_event_reaches_every_registered_push_device_of_its_sites(
    database: Database,
) -> None:
    """Trigger, update, resolve: one delivery per event per registered web/ios device at the
    alert's sites — not desktops, unregistered, revoked or other sites' devices."""
    w = await push_world(database)
    await w.device("web")
    await w.device("ios", kind=DeviceKind.IOS)
    await w.device("elsewhere", site="B")
    await w.device("desktop", kind=DeviceKind.DESKTOP, registered=False)
    await w.device("unregistered", registered=False)
    revoked = await w.device("revoked")
    async with database.session() as session:
        await session.execute(
            update(Device).where(Device.id == revoked).values(revoked_at=w.clock())
        )
        await session.commit()
    alert = await w.trigger("A")
    async with w.dispatcher() as dispatcher:
        await dispatcher.run_once()
        updated = await w.update(alert, "Gå till matsalen")
        await dispatcher.run_once()
        resolved = await w.resolve(alert)
        await dispatcher.run_once()
    assert sent_pairs(w.webpush) == [(1, "triggered"), (updated, "updated"), (resolved, "resolved")]
    assert sent_pairs(w.apns) == sent_pairs(w.webpush)
    assert {target for _m, target in w.webpush.sent} == {
        WebPushSubscription(
            endpoint="https://push.example/web", p256dh="p256dh-web", auth="auth-web"
        )
    }
    assert {target for _m, target in w.apns.sent} == {
        ApnsRegistration(token=f"{w.world.devices['ios']:064x}", environment="sandbox")
    }
    message = w.webpush.sent[1][0]
    assert (message.body, message.sites, message.state) == ("Gå till matsalen", ("A",), "active")
    assert message.url == f"https://larm.koping.se/?alert={alert}"
    assert w.webpush.sent[2][0].body == "Faran över"
    rows = await w.deliveries()
    assert len(rows) == 6
    assert {row.state for row in rows} == {"delivered"}


async def test_the_live_feeds_are_told_of_every_state_change(database: Database) -> None:
    """After the claim (sent) and after the answers (delivered) the dispatcher tells its state
    sink which alert and site changed, so roll calls and presence move live; a failing sink
    changes nothing that was committed."""
    w = await push_world(database)
    await w.device("web")
    alert = await w.trigger("A")
    sink = RecordingSink()
    async with w.dispatcher() as dispatcher:
        dispatcher.report_states_to(sink)
        await dispatcher.run_once()
    told = (w.world.organization_id, frozenset({alert}), frozenset({w.world.sites["A"]}))
    assert sink.push_states == [told, told]
    await w.update(alert, "Gå till matsalen")
    async with w.dispatcher() as dispatcher:
        dispatcher.report_states_to(RecordingSink(fail=RuntimeError("feed down")))
        await dispatcher.run_once()
    assert {row.state for row in await w.deliveries()} == {"delivered"}


async def test_a_cancel_is_pushed(database: Database) -> None:
    """A false alarm's `cancelled` event goes to the alert's devices."""
    w = await push_world(database)
    await w.device("web")
    alert = await w.trigger("A")
    cancelled = await w.cancel(alert)
    async with w.dispatcher() as dispatcher:
        await dispatcher.run_once()
    assert sent_pairs(w.webpush) == [(cancelled, "cancelled")]  # the trigger: alert ended
    assert w.webpush.sent[0][0].body == "Falsklarm – larmet är återkallat"
    triggered = await w.delivery("web", 1)
    assert (triggered.state, triggered.last_result) == ("stopped", "stopped: alert ended")


async def test_a_superseded_drill_is_cancelled_to_its_whole_audience(database: Database) -> None:
    """A real alert at A cancels the drill on A and B: the cancel goes to devices at both
    sites (the drill's audience), the real alert only to A."""
    w = await push_world(database)
    await w.device("a")
    await w.device("b", site="B")
    await w.trigger("A", "B", mode=Mode.DRILL)
    async with w.dispatcher() as dispatcher:
        await dispatcher.run_once()
        await w.trigger("A", kind=Kind.EVACUATE)
        await dispatcher.run_once()
    by_device: dict[str, list[tuple[int, str]]] = {"a": [], "b": []}
    endpoints = {f"https://push.example/{key}": key for key in by_device}
    for message, target in w.webpush.sent:
        assert isinstance(target, WebPushSubscription)
        by_device[endpoints[target.endpoint]].append((message.seq, message.event))
    assert by_device == {
        "a": [(1, "triggered"), (2, "cancelled"), (3, "triggered")],
        "b": [(1, "triggered"), (2, "cancelled")],
    }
    cancel = next(m for m, _t in w.webpush.sent if m.event == "cancelled")
    assert cancel.body == "Övningen är avbruten – ett skarpt larm har utlösts"


async def test_an_escalation_request_is_not_pushed(database: Database) -> None:
    """A trigger of another kind on a covered site tells the leaders (an `updated` event that
    changes nothing): no device is pushed for it, and the cursor moves past it."""
    w = await push_world(database)
    await w.device("web")
    await w.trigger("A")
    async with w.dispatcher() as dispatcher:
        await dispatcher.run_once()
        with pytest.raises(Exception, match="other"):
            await w.trigger("A", kind=Kind.EVACUATE)
        await dispatcher.run_once()
    assert sent_pairs(w.webpush) == [(1, "triggered")]
    async with database.session() as session:
        cursor = await session.get(PushCursor, w.world.organization_id)
    assert cursor is not None and cursor.seq == 2


async def test_the_texts_are_in_the_device_persons_language(database: Database) -> None:
    """A device bound to an English-speaking person gets English; others Swedish."""
    w = await push_world(database)
    person = await factories.person(w.world, "anna", login=False)
    async with database.session() as session:
        await session.execute(update(Person).where(Person.id == person).values(language="en"))
        await session.commit()
    await w.device("english", person_key="anna")
    await w.device("swedish")
    await w.device("swedish-2")
    await w.trigger("A")
    async with w.dispatcher() as dispatcher:
        await dispatcher.run_once()
    bodies = {
        target.endpoint: message.body  # type: ignore[union-attr]
        for message, target in w.webpush.sent
    }
    assert bodies == {
        "https://push.example/english": "LOCKDOWN – lock in and hide",
        "https://push.example/swedish": "INRYMNING – lås in er och göm er",
        "https://push.example/swedish-2": "INRYMNING – lås in er och göm er",
    }
    # One message per event and language, shared by its devices (senders encode it once).
    messages = {target.endpoint: message for message, target in w.webpush.sent}  # type: ignore[union-attr]
    swedish = messages["https://push.example/swedish"]
    assert messages["https://push.example/swedish-2"] is swedish
    assert messages["https://push.example/english"] is not swedish


# -- the cursor ------------------------------------------------------------------------------


async def test_a_new_dispatcher_continues_where_the_old_stopped(database: Database) -> None:
    """The cursor is durable: a second dispatcher expands and sends only the newer event,
    and resetting the cursor (a crash before its commit) expands nothing twice."""
    w = await push_world(database)
    await w.device("web")
    alert = await w.trigger("A")
    async with w.dispatcher() as first:
        await first.run_once()
    updated = await w.update(alert, "Ny order")
    second_sender = RecordingSender()
    async with w.dispatcher(senders={"webpush": second_sender}) as second:
        await second.run_once()
        assert sent_pairs(second_sender) == [(updated, "updated")]
        async with database.session() as session:
            await session.execute(update(PushCursor).values(seq=0))
            await session.commit()
        await second.run_once()  # expands both events again: the rows exist, none is added
    assert sent_pairs(second_sender) == [(updated, "updated")]
    assert [(row.seq, row.attempts) for row in await w.deliveries()] == [(1, 1), (updated, 1)]


class CountingSink(RecordingSink):
    """Counts the deliveries in the database each time the dispatcher reports a commit."""

    def __init__(self, database: Database) -> None:
        super().__init__()
        self.database = database
        self.rows_seen: list[int] = []

    async def push_states_changed(
        self, organization_id: int, *, alert_ids: Collection[int], site_ids: Collection[int]
    ) -> None:
        async with self.database.session() as session:
            self.rows_seen.append(len((await session.scalars(select(PushDelivery.id))).all()))
        await super().push_states_changed(organization_id, alert_ids=alert_ids, site_ids=site_ids)


async def test_a_large_event_is_sent_while_it_is_still_being_expanded(database: Database) -> None:
    """Expanded in chunks: the first chunk is claimed and sent before the next is written,
    every device gets the event once, and the cursor moves with the last chunk."""
    w = await push_world(database)
    for number in range(5):
        await w.device(f"web{number}")
    await w.trigger("A")
    sink = CountingSink(database)
    async with w.dispatcher(expand_chunk=2) as dispatcher:
        dispatcher.report_states_to(sink)
        await dispatcher._round()  # the loop's round: it sends between chunks
        await dispatcher.flush()
    assert sink.rows_seen[0] == 2  # the first claim saw only the first chunk
    assert sorted(t.endpoint for _m, t in w.webpush.sent) == [  # type: ignore[union-attr]
        f"https://push.example/web{n}" for n in range(5)
    ]
    assert [(row.seq, row.state) for row in await w.deliveries()] == [(1, "delivered")] * 5
    async with database.session() as session:
        assert await session.scalar(select(PushCursor.seq)) == 1


async def test_a_crash_between_chunks_expands_the_rest_and_nothing_twice(
    database: Database,
) -> None:
    """A node died after committing the first chunk (cursor still behind): the next
    expansion keeps those rows as they are and adds the others once."""
    w = await push_world(database)
    for number in range(5):
        await w.device(f"web{number}")
    alert = await w.trigger("A")
    first_two = sorted(w.world.devices[f"web{n}"] for n in range(2))
    async with database.session() as session:  # what the dead node committed
        await outbox.add_deliveries(
            session,
            rows=[
                {
                    **outbox.new_delivery(
                        organization_id=w.world.organization_id,
                        alert_id=alert,
                        device_id=device,
                        seq=1,
                        now=w.clock(),
                    ),
                    "last_result": "written before the crash",
                }
                for device in first_two
            ],
        )
        await session.commit()
    async with w.dispatcher(expand_chunk=2) as dispatcher:
        assert await dispatcher.expand() == 5
    rows = await w.deliveries()
    assert sorted(row.device_id for row in rows) == sorted(
        w.world.devices[f"web{n}"] for n in range(5)
    )
    kept = [row.device_id for row in rows if row.last_result == "written before the crash"]
    assert sorted(kept) == first_two


# -- the schedule ------------------------------------------------------------------------------


async def test_retries_follow_the_emergency_schedule(database: Database) -> None:
    """A provider that keeps failing is tried at 0, 1, 2, 5, 10, 30, 60, 120 s after the
    event, and not in between; the delivery reads `queued` with the last answer."""
    w = await push_world(database)
    await w.device("web")
    w.webpush.answer = retry
    await w.trigger("A")
    attempts: list[float] = []
    async with w.dispatcher() as dispatcher:
        for second in range(0, 125):
            w.clock.now = w.clock.at(second)
            before = len(w.webpush.sent)
            await dispatcher.run_once()
            if len(w.webpush.sent) > before:
                attempts.append(second)
    assert attempts == [0, 1, 2, 5, 10, 30, 60, 120]
    row = await w.delivery("web", 1)
    assert (row.state, row.attempts, row.last_result) == (
        "queued",
        8,
        "retry 503: Service Unavailable",
    )
    assert row.next_attempt_at == w.clock.at(180)


async def test_retry_after_is_honoured(database: Database) -> None:
    """429 with Retry-After 20 s: nothing at the schedule's 1, 2, 5, 10 s; the retry at 20."""
    w = await push_world(database)
    await w.device("web")
    answers = iter([Retry(reason="Too Many Requests", status=429, after=20), Delivered()])
    w.webpush.answer = lambda _m, _t: next(answers)
    await w.trigger("A")
    async with w.dispatcher() as dispatcher:
        await dispatcher.run_once()
        for second in (1, 2, 5, 10, 19.9):
            w.clock.now = w.clock.at(second)
            await dispatcher.run_once()
        assert len(w.webpush.sent) == 1
        w.clock.now = w.clock.at(20)
        await dispatcher.run_once()
    assert len(w.webpush.sent) == 2
    assert (await w.delivery("web", 1)).state == "delivered"


async def test_no_receipt_is_pushed_again_then_a_receipt_stops_it(database: Database) -> None:
    """Delivered without a receipt: pushed again 30 s after the event; once the device
    receipts that seq (an HTTP receipt) nothing more is sent and it reads `receipted`."""
    w = await push_world(database)
    await w.device("web")
    alert = await w.trigger("A")
    async with w.dispatcher() as dispatcher:
        await dispatcher.run_once()
        w.clock.now = w.clock.at(29)
        await dispatcher.run_once()
        assert len(w.webpush.sent) == 1
        w.clock.now = w.clock.at(30)
        await dispatcher.run_once()
        assert len(w.webpush.sent) == 2
        await w.receipt(alert, "web", seq=1, at=w.clock.at(31))
        w.clock.now = w.clock.at(60)
        await dispatcher.run_once()
    assert len(w.webpush.sent) == 2
    row = await w.delivery("web", 1)
    assert (row.state, row.next_attempt_at, row.attempts) == ("receipted", None, 2)


async def test_a_receipt_of_a_later_event_stops_an_earlier_ones_retries(database: Database) -> None:
    """Retries of the trigger stop once the device receipted the update's seq."""
    w = await push_world(database)
    await w.device("web")
    alert = await w.trigger("A")
    w.webpush.answer = retry
    async with w.dispatcher() as dispatcher:
        await dispatcher.run_once()
        w.clock.now = w.clock.at(0.5)
        updated = await w.update(alert, "Ny order")
        await w.receipt(alert, "web", seq=updated, at=w.clock.at(0.6))
        w.clock.now = w.clock.at(1)
        await dispatcher.run_once()
    assert sent_pairs(w.webpush) == [(1, "triggered")]
    assert (await w.delivery("web", 1)).state == "receipted"
    assert (await w.delivery("web", updated)).state == "receipted"


async def test_a_websocket_receipt_after_the_event_stops_retries(database: Database) -> None:
    """A receipt without seq (WebSocket) counts for events made before it, not after."""
    w = await push_world(database)
    await w.device("web")
    alert = await w.trigger("A")
    w.webpush.answer = retry
    async with w.dispatcher() as dispatcher:
        await dispatcher.run_once()
        await w.receipt(alert, "web", seq=None, at=w.clock.at(0.5))
        w.clock.now = w.clock.at(0.8)
        updated = await w.update(alert, "Ny order")
        w.clock.now = w.clock.at(1)
        await dispatcher.run_once()
    assert sent_pairs(w.webpush) == [(1, "triggered"), (updated, "updated")]
    assert (await w.delivery("web", 1)).state == "receipted"
    assert (await w.delivery("web", updated)).state == "queued"


async def test_the_end_of_the_alert_stops_retries_but_is_pushed(database: Database) -> None:
    """Resolved: the trigger's retries stop; the `resolved` event itself is still pushed
    and retried."""
    w = await push_world(database)
    await w.device("web")
    w.webpush.answer = retry
    alert = await w.trigger("A")
    async with w.dispatcher() as dispatcher:
        await dispatcher.run_once()
        w.clock.now = w.clock.at(0.5)
        resolved = await w.resolve(alert)
        for second in (1, 2):
            w.clock.now = w.clock.at(second)
            await dispatcher.run_once()
    assert sent_pairs(w.webpush) == [
        (1, "triggered"),
        (resolved, "resolved"),
        (resolved, "resolved"),
    ]
    triggered = await w.delivery("web", 1)
    assert (triggered.state, triggered.next_attempt_at) == ("stopped", None)
    assert triggered.last_result == "stopped: alert ended"


async def test_a_newer_accepted_event_supersedes_an_older_ones_resend(database: Database) -> None:
    """The trigger was delivered and the update too: at the resend, only the update (the
    current order) is pushed again; the trigger stays `delivered` and is done."""
    w = await push_world(database)
    await w.device("web")
    alert = await w.trigger("A")
    async with w.dispatcher() as dispatcher:
        await dispatcher.run_once()
        updated = await w.update(alert, "Ny order")
        await dispatcher.run_once()
        w.clock.now = w.clock.at(30)
        await dispatcher.run_once()
    assert sent_pairs(w.webpush) == [(1, "triggered"), (updated, "updated"), (updated, "updated")]
    triggered = await w.delivery("web", 1)
    assert (triggered.state, triggered.next_attempt_at) == ("delivered", None)
    assert triggered.last_result == f"stopped: superseded by seq {updated}"


# -- answers ---------------------------------------------------------------------------------


async def test_gone_deletes_the_registration_and_stops_the_devices_deliveries(
    database: Database,
) -> None:
    """410: the registration is removed, this delivery is `gone`, the device's other
    pending deliveries stop, and nothing more is sent to it."""
    w = await push_world(database)
    await w.device("web")
    await w.device("other")
    w.webpush.answer = lambda _m, t: (
        Gone(reason="Gone", status=410)
        if isinstance(t, WebPushSubscription) and t.endpoint.endswith("/web")
        else Delivered()
    )
    alert = await w.trigger("A")
    async with w.dispatcher() as dispatcher:
        await dispatcher.run_once()
        await w.update(alert, "Ny order")
        await dispatcher.run_once()
    assert await w.registration("web") is None
    assert await w.registration("other") is not None
    gone = await w.delivery("web", 1)
    assert (gone.state, gone.next_attempt_at, gone.last_result) == ("gone", None, "gone 410: Gone")
    endpoints = [t.endpoint for _m, t in w.webpush.sent]  # type: ignore[union-attr]
    assert endpoints.count("https://push.example/web") == 1
    assert endpoints.count("https://push.example/other") == 2


async def test_gone_stops_pending_deliveries_of_the_device(database: Database) -> None:
    """Two events queued for the device, the first answered 410: the second is stopped
    without being sent."""
    w = await push_world(database)
    await w.device("web")
    w.webpush.answer = lambda _m, _t: Gone(reason="Unregistered", status=410)
    alert = await w.trigger("A")
    updated = await w.update(alert, "Ny order")
    async with w.dispatcher(push_concurrency=1) as dispatcher:
        await dispatcher.run_once()  # one send at a time: the first is answered first
        await dispatcher.run_once()
    assert len(w.webpush.sent) == 1
    second = await w.delivery("web", updated)
    assert (second.state, second.next_attempt_at) == ("stopped", None)
    assert second.last_result == "stopped: push registration gone"


async def test_rejected_fails_keeps_the_registration_and_warns(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """403: the delivery fails with the provider's reason, the registration stays with that
    result, and a WARNING names the device and the reason."""
    w = await push_world(database)
    device = await w.device("web")
    w.webpush.answer = lambda _m, _t: Rejected(reason="BadJwtToken", status=403)
    await w.trigger("A")
    with caplog.at_level(logging.WARNING, logger="server.dispatch.dispatcher"):
        async with w.dispatcher() as dispatcher:
            await dispatcher.run_once()
            w.clock.now = w.clock.at(120)
            await dispatcher.run_once()
    assert len(w.webpush.sent) == 1
    row = await w.delivery("web", 1)
    assert (row.state, row.next_attempt_at, row.last_result) == (
        "failed",
        None,
        "rejected 403: BadJwtToken",
    )
    registration = await w.registration("web")
    assert registration is not None
    assert registration.last_result == "rejected 403: BadJwtToken"
    assert registration.last_result_at == w.clock.at(0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"device {device}" in m and "BadJwtToken" in m for m in warnings), warnings


async def test_delivered_is_recorded_on_the_registration(database: Database) -> None:
    """The registration shows the latest answer and when it came."""
    w = await push_world(database)
    await w.device("web")
    await w.trigger("A")
    async with w.dispatcher() as dispatcher:
        await dispatcher.run_once()
    registration = await w.registration("web")
    assert registration is not None
    assert (registration.last_result, registration.last_result_at) == (
        "delivered 201",
        w.clock.at(0),
    )


async def test_a_type_without_a_sender_fails_with_a_reason(database: Database) -> None:
    """No APNs configured: the iOS device's delivery fails "not configured"; web still goes."""
    w = await push_world(database)
    await w.device("web")
    await w.device("ios", kind=DeviceKind.IOS)
    await w.trigger("A")
    async with w.dispatcher(senders={"webpush": w.webpush}) as dispatcher:
        await dispatcher.run_once()
    assert len(w.webpush.sent) == 1
    row = await w.delivery("ios", 1)
    assert (row.state, row.last_result) == ("failed", "failed: push not configured on this server")


async def test_a_sender_that_raises_is_retried(database: Database) -> None:
    """A broken sender (it must not raise, but does) counts as a retry, not a lost row."""
    w = await push_world(database)
    await w.device("web")

    def broken(_message: PushMessage, _target: Target) -> PushResult:
        raise RuntimeError("bug")

    w.webpush.answer = broken
    await w.trigger("A")
    async with w.dispatcher() as dispatcher:
        await dispatcher.run_once()
    row = await w.delivery("web", 1)
    assert (row.state, row.last_result) == ("queued", "retry: sender error: RuntimeError")
    assert row.next_attempt_at == w.clock.at(1)


# -- revocation ------------------------------------------------------------------------------


async def test_a_device_revoked_after_expansion_gets_nothing(database: Database) -> None:
    """Revoked between expansion and sending: its delivery stops, nothing is sent."""
    w = await push_world(database)
    device = await w.device("web")
    await w.trigger("A")
    async with w.dispatcher() as dispatcher:
        await dispatcher.expand()
        async with database.session() as session:
            await session.execute(
                update(Device).where(Device.id == device).values(revoked_at=w.clock())
            )
            await session.commit()
        await dispatcher.run_once()
    assert w.webpush.sent == []
    row = await w.delivery("web", 1)
    assert (row.state, row.last_result) == ("stopped", "stopped: device revoked")


# -- claims and crashes ----------------------------------------------------------------------


class HeldSender(RecordingSender):
    """Records each send and holds it until released (a slow provider)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def send(self, message: PushMessage, target: Target) -> PushResult:
        result = await super().send(message, target)
        await self.release.wait()
        return result


async def test_a_node_that_dies_holding_a_batch_loses_nothing(database: Database) -> None:
    """A dispatcher claims every delivery and hangs mid-send, then is abandoned (killed): no
    other dispatcher sends them while the lease holds; after it, every device gets every
    event — at least once, no gaps."""
    w = await push_world(database)
    for number in range(6):
        await w.device(f"web{number}")
    alert = await w.trigger("A")
    await w.update(alert, "Ny order")
    await w.update(alert, "Ännu en order")
    hanging = HeldSender()
    async with w.dispatcher(senders={"webpush": hanging}, push_lease_seconds=30) as dying:
        await dying._round()  # claimed and handed to the hanging provider
        await hanging.wait_for(18)
        rows = await w.deliveries()
        assert {row.state for row in rows} == {"sent"}
        async with w.dispatcher() as survivor:
            w.clock.now = w.clock.at(29)
            await survivor.run_once()
            assert w.webpush.sent == []
            w.clock.now = w.clock.at(30)
            await survivor.run_once()
        for task in list(dying._in_flight):  # the killed node never answers
            task.cancel()
        dying._in_flight.clear()
    received = {
        (target.endpoint, message.seq)  # type: ignore[union-attr]
        for message, target in w.webpush.sent
    }
    expected = {(f"https://push.example/web{n}", seq) for n in range(6) for seq in (1, 2, 3)}
    assert received == expected
    assert {row.attempts for row in await w.deliveries()} == {2}


async def test_two_dispatchers_never_send_one_delivery_at_once(
    postgres_database: Database,
) -> None:
    """PostgreSQL: two dispatchers claiming at the same time (small batches, slow provider)
    send each delivery exactly once between them."""
    w = await push_world(postgres_database)
    for number in range(40):
        await w.device(f"web{number}")
    await w.trigger("A")
    first, second = HeldSender(), HeldSender()
    async with (
        w.dispatcher(senders={"webpush": first}, push_batch_size=3) as one,
        w.dispatcher(senders={"webpush": second}, push_batch_size=3) as two,
    ):
        await one.expand()
        claiming = asyncio.gather(one._round(), two._round(), one._round(), two._round())
        await claiming
        await first.wait_for(1)
        await second.wait_for(1)
        first.release.set()
        second.release.set()
        await one.flush()
        await two.flush()
    endpoints = [t.endpoint for _m, t in first.sent + second.sent]  # type: ignore[union-attr]
    assert sorted(endpoints) == sorted(f"https://push.example/web{n}" for n in range(40))
    async with postgres_database.session() as session:
        states = (await session.scalars(select(PushDelivery.state))).all()
    assert set(states) == {"delivered"}


async def test_claims_skip_rows_another_transaction_holds(postgres_database: Database) -> None:
    """PostgreSQL: while one transaction holds claimed rows, another claim gets the others."""
    w = await push_world(postgres_database)
    for number in range(4):
        await w.device(f"web{number}")
    await w.trigger("A")
    async with w.dispatcher() as dispatcher:
        await dispatcher.expand()
    now = w.clock()
    async with postgres_database.session() as holding, postgres_database.session() as other:
        held = await outbox.claim_due(holding, now=now, limit=2, lease_until=w.clock.at(30))
        taken = await outbox.claim_due(other, now=now, limit=4, lease_until=w.clock.at(30))
        assert len(held) == 2 and len(taken) == 2
        assert not set(held) & set(taken)
        await holding.rollback()
        await other.rollback()
