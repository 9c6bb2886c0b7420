"""The dispatcher of one node, as one `async with` resource.

The event log is the outbox. Each round the dispatcher

1. **expands**: for every organization whose `last_seq` is ahead of its `push_cursors` row,
   it reads the events after the cursor and writes one `push_deliveries` row per targeted
   device with a push registration (a `web`/`ios` device, not revoked, at one of the event's
   alert's sites — the same audience the hub fans the event out to; a superseded drill's
   `cancelled` event names the drill's sites), `expand_chunk` rows per transaction, the
   cursor advanced with the last chunk; between chunks the rows committed so far are
   claimed and sent, so a large event's first pushes leave before all of it is written.
   The cursor row is locked (`SKIP LOCKED` on PostgreSQL, so another node already
   expanding is left alone) and the rows are unique per (device, seq): a crash between
   chunks, or before the cursor's commit, loses nothing and expands nothing twice;
2. **claims** due deliveries up to its free sending slots, decides each
   (`push_schedule.decide`), marks the ones to send `sent` with their lease and commits;
3. **sends** them, at most `push_concurrency` at a time, each through the sender of its
   registration's type; a sender that hangs holds one slot only;
4. **records** each answer (`push_schedule.after_answer`) in the delivery and in the
   registration's `last_result`, group-committed by one writer task.

It is woken after the node's WebSocket fan-out (`wake`, from the realtime layer, also for
other nodes' events arriving on the bus) and ticks every `push_tick_seconds` as the safety
net, sooner when a delivery falls due earlier. Nothing per device is written before the
fan-out: the wake-up comes after it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import Language
from push.message import (
    ApnsRegistration,
    Delivered,
    Gone,
    PushMessage,
    PushResult,
    Rejected,
    Retry,
    Sender,
    Target,
    WebPushSubscription,
)
from server import metrics
from server.clock import utcnow
from server.core import push_schedule as schedule
from server.dispatch.messages import language_of, message_for
from server.dispatch.senders import APNS, WEBPUSH
from server.realtime.batches import BatchWriter
from server.realtime.tasks import stop
from server.services.sink import NullSink, PushStateSink
from server.settings import Settings
from server.storage import events
from server.storage import push_deliveries as outbox
from server.storage.database import Database
from server.storage.push_deliveries import Claimed, Registration, StateChange
from server.storage.tables import AlertEvent

log = logging.getLogger(__name__)

EXPAND_BATCH = 500  # events read per expansion round
# Deliveries written per expansion transaction: the first claim starts after the first chunk
# of a large event is committed, not after all of it (bench/README.md "Push").
EXPAND_CHUNK = 1000
MIN_DELAY = 0.02  # seconds: never spin while another node commits its claim
STOP_SECONDS = 5.0  # at shutdown, how long sends in flight may still finish
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Job:
    """One claimed delivery on its way to a provider."""

    delivery_id: int
    organization_id: int
    alert_id: int
    device_id: int
    site_id: int
    attempts: int  # this attempt's number: the answer applies only to it
    event_at: datetime
    registration: Registration
    message: PushMessage
    target: Target
    sender: Sender


@dataclass(frozen=True, slots=True)
class Answered:
    job: Job
    result: PushResult
    at: datetime


def answer_of(result: PushResult) -> schedule.Answer:
    """A push result as the core sees it."""
    if isinstance(result, Delivered):
        return schedule.Answer("delivered", status=result.status)
    if isinstance(result, Retry):
        return schedule.Answer("retry", result.reason, result.status, result.after)
    if isinstance(result, Gone):
        return schedule.Answer("gone", result.reason, result.status)
    if isinstance(result, Rejected):
        return schedule.Answer("rejected", result.reason, result.status)
    raise TypeError(f"not a push result: {result!r}")


def target_of(registration: Registration) -> Target | None:
    """The sender's address of a registration (None when it is malformed)."""
    if registration.type == WEBPUSH and registration.endpoint:
        return WebPushSubscription(
            endpoint=registration.endpoint, p256dh=registration.p256dh, auth=registration.auth
        )
    if registration.type == APNS and registration.environment in ("sandbox", "production"):
        environment = cast(Literal["sandbox", "production"], registration.environment)
        return ApnsRegistration(token=registration.token, environment=environment)
    return None


class Dispatcher:
    """`async with Dispatcher(...)` runs the loop (unless `ticking` is False: then
    `run_once` drives it, for tests); `wake()` asks for a round now. The senders are the
    dispatcher's: it closes them at exit."""

    def __init__(
        self,
        *,
        database: Database,
        settings: Settings,
        senders: Mapping[str, Sender],
        clock: Clock = utcnow,
        ticking: bool = True,
        expand_chunk: int = EXPAND_CHUNK,
    ) -> None:
        self.database = database
        self.senders = dict(senders)
        self.clock = clock
        self.ticking = ticking
        self.expand_chunk = expand_chunk
        self.tick = settings.push_tick_seconds
        self.concurrency = settings.push_concurrency
        self.batch = settings.push_batch_size
        self.lease = timedelta(seconds=settings.push_lease_seconds)
        self.resend_after = settings.push_resend_after_seconds
        self.public_url = settings.public_url
        self.results: BatchWriter[Answered] = BatchWriter(
            name="push-results", write=self._record, batch_limit=1000
        )
        self._woken = asyncio.Event()
        # Set by `wake` and by the tick: the event log may be ahead of the cursors. A round
        # woken only because send slots came free claims without looking for new events.
        self._events_due = True
        self._claiming = asyncio.Lock()
        self._in_flight: set[asyncio.Task[None]] = set()
        # When the slots were full, the loop claims again once this many are free: half of a
        # claim, so that claims stay large (each is one transaction of several statements).
        self._refill = max(1, min(self.batch, self.concurrency) // 2)
        self._loop: asyncio.Task[None] | None = None
        # Told after each commit that changes deliveries' states (the node's realtime layer:
        # live roll calls and presence); set with `report_states_to`.
        self.states: PushStateSink = NullSink()
        # observability and tests
        self.expanded = 0  # deliveries written
        self.sent = 0  # sends completed (any answer)

    def report_states_to(self, sink: PushStateSink) -> None:
        """Tell `sink` which alerts and sites saw push states change, after each commit."""
        self.states = sink

    async def _states_changed(self, jobs: Collection[Job]) -> None:
        """After a commit: the roll calls of these alerts and the presence of these sites."""
        touched: dict[int, tuple[set[int], set[int]]] = {}
        for job in jobs:
            alerts, sites = touched.setdefault(job.organization_id, (set(), set()))
            alerts.add(job.alert_id)
            sites.add(job.site_id)
        for organization_id, (alerts, sites) in touched.items():
            try:
                await self.states.push_states_changed(
                    organization_id, alert_ids=alerts, site_ids=sites
                )
            except Exception:
                log.exception("push: telling the live feeds about push states failed")

    # -- waking --------------------------------------------------------------------------
    def wake(self, organization_id: int | None = None) -> None:
        """An event was committed (and fanned out): expand and send now."""
        self._events_due = True
        self._woken.set()

    # -- one round -------------------------------------------------------------------------
    async def run_once(self) -> None:
        """Expand, send everything due now, and wait until every answer is recorded."""
        await self._round()
        await self.flush()

    async def flush(self) -> None:
        """Wait for the sends in flight and for their answers to be committed."""
        while self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        await self.results.flush()

    async def _round(self, *, expand: bool = True) -> None:
        """One worker at a time in this process (on SQLite the only one there is)."""
        async with self._claiming:
            if expand:
                await self.expand(sending=True)
            while await self._claim_and_send():
                pass

    # -- expansion ---------------------------------------------------------------------------
    async def expand(self, *, sending: bool = False) -> int:
        """Expand every organization's new events; returns the deliveries expanded (rows
        that already existed, after a crash before the cursor's commit, are kept as they
        are and counted too). `sending`: claim and send between the chunks of a large
        expansion (the loop's rounds, which hold the claiming lock)."""
        async with self.database.session() as session:
            lagging = await outbox.lagging_organizations(session)
        written = 0
        for organization_id, _seq in lagging:
            written += await self._expand_organization(organization_id, sending=sending)
        self.expanded += written
        return written

    async def _expand_organization(self, organization_id: int, *, sending: bool) -> int:
        written = 0
        while True:
            now = self.clock()
            async with self.database.session() as session:
                cursor = await outbox.lock_cursor(session, organization_id=organization_id, now=now)
                if cursor is None:
                    return written  # another node is expanding these events
                rows = await events.since(
                    session, organization_id=organization_id, after_seq=cursor, limit=EXPAND_BATCH
                )
                if not rows:
                    await session.commit()
                    return written
                deliveries = await self._deliveries(session, organization_id, rows, now)
                done = await self._write_deliveries(
                    session, organization_id, cursor, rows[-1].seq, deliveries, now, sending
                )
            written += done
            if done < len(deliveries) or len(rows) < EXPAND_BATCH:
                return written

    async def _write_deliveries(
        self,
        session: AsyncSession,
        organization_id: int,
        cursor: int,
        seq: int,
        deliveries: list[dict[str, object]],
        now: datetime,
        sending: bool,
    ) -> int:
        """Write the deliveries of the events up to `seq` in chunks of `expand_chunk`, the
        cursor advanced with the last one; between chunks the committed ones are claimed and
        sent. A crash between chunks leaves the cursor behind: the events are expanded again
        and the rows already written are kept (unique per device and seq). Between chunks the
        cursor is locked again; when another node took it meanwhile (PostgreSQL), that node
        finishes the expansion. Returns the deliveries written."""
        written = 0
        while True:
            chunk = deliveries[written : written + self.expand_chunk]
            await outbox.add_deliveries(session, rows=chunk)
            written += len(chunk)
            last = written >= len(deliveries)
            if last:
                await outbox.advance_cursor(
                    session, organization_id=organization_id, seq=seq, now=now
                )
            await session.commit()
            if last:
                return written
            if sending:
                await self._claim_and_send()
            if await outbox.lock_cursor(session, organization_id=organization_id, now=now) != (
                cursor
            ):
                await session.commit()
                return written

    @staticmethod
    async def _deliveries(
        session: AsyncSession,
        organization_id: int,
        rows: Collection[AlertEvent],
        now: datetime,
    ) -> list[dict[str, object]]:
        pushed = [row for row in rows if schedule.pushes_event(row.type, row.changes or {})]
        site_ids = {site for row in pushed for site in (row.alert or {}).get("sites", ())}
        targets = await outbox.push_targets(
            session, organization_id=organization_id, site_ids=site_ids
        )
        deliveries = []
        for row in pushed:
            sites = set((row.alert or {}).get("sites", ()))
            deliveries += [
                outbox.new_delivery(
                    organization_id=organization_id,
                    alert_id=row.alert_id,
                    device_id=target.device_id,
                    seq=row.seq,
                    now=now,
                )
                for target in targets
                if target.site_id in sites
            ]
        return deliveries

    # -- claiming ----------------------------------------------------------------------------
    def _free_slots(self) -> int:
        return self.concurrency - len(self._in_flight)

    async def _claim_and_send(self) -> bool:
        """Claim up to a batch (as many as there are free slots), decide, start the sends;
        True when it got all it asked for (there may be more)."""
        limit = min(self.batch, self._free_slots())
        if limit <= 0:
            return False
        now = self.clock()
        async with self.database.session() as session:
            ids = await outbox.claim_due(
                session, now=now, limit=limit, lease_until=now + self.lease
            )
            if not ids:
                await session.commit()
                return False
            rows = await outbox.claimed(session, ids=ids)
            decided = [(row, schedule.decide(self._due(row), now=now)) for row in rows]
            changes = self._vanished(ids, rows)
            changes += [
                StateChange(row.id, decision.state.value, None, decision.reason)
                for row, decision in decided
                if isinstance(decision, schedule.Stop)
            ]
            sending = [row for row, decision in decided if isinstance(decision, schedule.Send)]
            jobs = await self._jobs(session, sending, changes)
            await outbox.set_states(session, changes=changes)
            await outbox.mark_sent(
                session, attempts={job.delivery_id: job.attempts for job in jobs}, now=now
            )
            await session.commit()
        await self._states_changed(jobs)
        for job in jobs:
            self._start(job)
        return len(ids) == limit

    def _due(self, row: Claimed) -> schedule.Due:
        registration = row.registration
        return schedule.Due(
            seq=row.seq,
            event_type=row.event.type,
            event_at=row.event.at,
            state=row.state,
            alert_active=row.alert_state == "active",
            receipt=row.receipt,
            newest_accepted_seq=row.newest_accepted_seq,
            device_revoked=row.device_revoked,
            registered=registration is not None,
            has_sender=registration is not None and registration.type in self.senders,
        )

    @staticmethod
    def _vanished(ids: Collection[int], rows: Collection[Claimed]) -> list[StateChange]:
        """Claimed deliveries whose event or alert is gone: nothing can be sent for them."""
        found = {row.id for row in rows}
        return [
            StateChange(id_, schedule.DeliveryState.STOPPED.value, None, "stopped: no event")
            for id_ in ids
            if id_ not in found
        ]

    async def _jobs(
        self, session: AsyncSession, rows: list[Claimed], changes: list[StateChange]
    ) -> list[Job]:
        """A job per row to send; a row whose message can't be built fails alone (appended
        to `changes`) and never stops the others."""
        if not rows:
            return []
        site_names = await outbox.site_names(
            session, organization_ids={row.organization_id for row in rows}
        )
        jobs = []
        messages: dict[tuple[int, int, Language], PushMessage] = {}
        for row in rows:
            try:
                jobs.append(self._job(row, site_names, messages))
            except Exception as error:
                log.exception("push: no message for delivery %s (seq %s)", row.id, row.seq)
                reason = f"failed: no message: {type(error).__name__}"
                changes.append(
                    StateChange(row.id, schedule.DeliveryState.FAILED.value, None, reason)
                )
        return jobs

    def _job(
        self,
        row: Claimed,
        site_names: Mapping[int, str],
        messages: dict[tuple[int, int, Language], PushMessage],
    ) -> Job:
        """The row's job; `messages` holds the messages built so far in this claim (one per
        event and language, shared by every device it goes to)."""
        registration = row.registration
        assert registration is not None  # decided: only registered rows are sent
        target = target_of(registration)
        if target is None:
            raise ValueError(f"malformed {registration.type} registration")
        language = language_of(row.person_language, row.organization_language)
        key = (row.organization_id, row.seq, language)
        message = messages.get(key)
        if message is None:
            message = messages[key] = message_for(
                events.event_document(row.event),
                language=language,
                site_names=site_names,
                public_url=self.public_url,
            )
        return Job(
            delivery_id=row.id,
            organization_id=row.organization_id,
            alert_id=row.alert_id,
            device_id=row.device_id,
            site_id=row.site_id,
            attempts=row.attempts + 1,
            event_at=row.event.at,
            registration=registration,
            message=message,
            target=target,
            sender=self.senders[registration.type],
        )

    # -- sending -----------------------------------------------------------------------------
    def _start(self, job: Job) -> None:
        task = asyncio.create_task(self._send(job), name=f"push-{job.delivery_id}")
        self._in_flight.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self.sent += 1
        if self._free_slots() == self._refill:  # enough room again to claim a batch
            self._woken.set()

    async def _send(self, job: Job) -> None:
        try:
            result = await job.sender.send(job.message, job.target)
        except Exception as error:  # a sender must not raise; a bug in one is a retry
            log.exception("push: the %s sender raised", job.registration.type)
            result = Retry(reason=f"sender error: {type(error).__name__}")
        metrics.PUSH_RESULTS.labels(
            type=job.registration.type, result=answer_of(result).outcome
        ).inc()
        self.results.put(Answered(job=job, result=result, at=self.clock()))

    # -- recording ---------------------------------------------------------------------------
    async def _record(self, batch: list[Answered]) -> list[Answered]:
        """One transaction for a batch of answers: delivery states, registration results,
        dead registrations removed (with their devices' pending deliveries stopped)."""
        changes: list[StateChange] = []
        registration_results: dict[int, str] = {}
        gone: list[Answered] = []
        for answered in batch:
            job = answered.job
            outcome = schedule.after_answer(
                answer_of(answered.result),
                event_at=job.event_at,
                now=answered.at,
                resend_after=self.resend_after,
            )
            changes.append(
                StateChange(
                    job.delivery_id,
                    outcome.state.value,
                    outcome.next_attempt_at,
                    outcome.last_result,
                    attempts=job.attempts,
                )
            )
            registration_results[job.device_id] = outcome.last_result
            if outcome.warn:
                self._warn(answered, outcome.last_result)
            if outcome.remove_registration:
                gone.append(answered)
        async with self.database.session() as session:
            await outbox.set_states(session, changes=changes)
            await outbox.set_registration_results(
                session, results=registration_results, now=self.clock()
            )
            for answered in gone:
                await self._remove(session, answered)
            await session.commit()
        await self._states_changed([answered.job for answered in batch])
        return batch

    @staticmethod
    def _warn(answered: Answered, text: str) -> None:
        job = answered.job
        detail = answered.result.detail if isinstance(answered.result, Rejected) else {}
        log.warning(
            "push rejected by the %s provider for device %s (alert %s, seq %s): %s %s; "
            "the registration is kept — check the push settings",
            job.registration.type,
            job.device_id,
            job.message.alert_id,
            job.message.seq,
            text,
            detail or "",
        )

    async def _remove(self, session: AsyncSession, answered: Answered) -> None:
        """The registration is dead: remove it and stop the device's pending deliveries —
        unless the device registered anew meanwhile: then this delivery goes to the new
        registration at once."""
        job = answered.job
        if await outbox.remove_registration(
            session, device_id=job.device_id, registration=job.registration
        ):
            log.info("push: registration of device %s is gone: removed", job.device_id)
            await outbox.stop_pending(
                session,
                device_id=job.device_id,
                reason="stopped: push registration gone",
                except_ids=[job.delivery_id],
            )
            return
        again = StateChange(
            job.delivery_id,
            schedule.DeliveryState.QUEUED.value,
            answered.at,
            "gone: an older registration; sending to the new one",
            attempts=job.attempts,
        )
        await outbox.set_states(session, changes=[again])

    # -- the loop and the lifecycle ----------------------------------------------------------
    async def _delay(self) -> float:
        """Seconds until the next round: the tick, or sooner when a delivery falls due."""
        if self._free_slots() < self._refill:
            return self.tick  # sends finishing wake the loop when there is room
        async with self.database.session() as session:
            due = await outbox.next_due(session)
        if due is None:
            return self.tick
        return max(MIN_DELAY, min(self.tick, (due - self.clock()).total_seconds()))

    async def _run(self) -> None:
        while True:
            self._woken.clear()
            delay = self.tick
            expand, self._events_due = self._events_due, False
            try:
                await self._round(expand=expand)
                delay = await self._delay()
            except Exception:
                self._events_due = True
                log.exception("push dispatcher round failed; the next tick retries")
            try:
                await asyncio.wait_for(self._woken.wait(), timeout=delay)
            except TimeoutError:
                self._events_due = True  # the safety net: look at the event log again

    async def __aenter__(self) -> Dispatcher:
        await self.results.__aenter__()
        if self.ticking:
            self._loop = asyncio.create_task(self._run(), name="push-dispatcher")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await stop(self._loop)
        self._loop = None
        await self._stop_sends()
        await self.results.__aexit__(*exc)
        for sender in self.senders.values():
            try:
                await sender.aclose()
            except Exception:
                log.exception("push: closing a sender failed")

    async def _stop_sends(self) -> None:
        """Let the sends in flight finish for a moment; the rest are cancelled and, their
        lease run out, sent again by whichever node claims them next."""
        if not self._in_flight:
            return
        _done, pending = await asyncio.wait(set(self._in_flight), timeout=STOP_SECONDS)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            log.warning("push: %d sends cancelled at shutdown; they are sent again", len(pending))
