"""A trigger rehearsed before the node serves, in a transaction that is always rolled back.

SQLAlchemy builds each statement (and the ORM its mappers' setup) the first time it runs,
so the first alert after a start paid for the trigger's statements being compiled: about
10–20 ms more from request to first frame than later alerts (bench/README.md). `rehearse`
runs the path of a real trigger once — the caller read from a login session as a request's
authentication does, then `server.services.alerts.trigger` — on an organization of its own
that exists only inside the rehearsal's transaction, and rolls it all back.

What keeps it from ever becoming an alert:
- its organization, site, person and login session are made inside the same transaction
  (no real organization, site or device is read or locked, nobody could receive it);
- the session it runs on cannot commit: `commit()` only flushes, and a commit by any other
  way raises before anything is committed (`RehearsalCommitted`);
- whatever happens, the transaction is rolled back;
- the post-commit sink is `NullSink`: nothing reaches the hub, the bus or the push outbox.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, configure_mappers

from protocol.vocabulary import Kind, Mode, Role
from server.clock import utcnow
from server.services import alerts
from server.services.sink import NullSink
from server.storage import login_sessions, organizations, persons, sites
from server.storage.callers import from_session_token
from server.storage.database import AUDIT_KEYS, Database

TIMEOUT_SECONDS = 5.0  # a start waits at most this long for the rehearsal
ACTOR = "system:rehearsal"  # in the audit entries of the rows it makes (all rolled back)


class RehearsalCommitted(RuntimeError):
    """A commit was attempted inside the rehearsal; it is refused before anything is
    committed."""


class _NeverCommits(AsyncSession):
    """`commit()` flushes (so the service goes on exactly as after its commit); the
    transaction stays open until the rehearsal rolls it back."""

    async def commit(self) -> None:
        await self.flush()


def _refuse_commit(_session: Session) -> None:
    raise RehearsalCommitted("a rehearsal never commits")


async def rehearse(database: Database) -> None:
    """Run one trigger's statements on `database` and roll every row back. Raises what the
    trigger raised (the caller logs it); nothing is committed either way, also when the
    caller gives up waiting (a database that makes writers wait must not hold the node's
    start for long: `server.api.warm` waits `TIMEOUT_SECONDS`)."""
    configure_mappers()  # the ORM's own set-up, done once per process
    async with _NeverCommits(
        bind=database.engine, expire_on_commit=False, info={AUDIT_KEYS: database.audit_keys}
    ) as session:
        event.listen(session.sync_session, "before_commit", _refuse_commit)
        try:
            await _trigger_in(session)
        finally:
            await session.rollback()


async def _trigger_in(session: AsyncSession) -> None:
    now = utcnow()
    mark = secrets.token_hex(6)
    organization = await organizations.create_organization(
        session, name="Repetition", slug=f"rehearsal-{mark}", actor=ACTOR, now=now
    )
    site = await sites.create_site(
        session, organization_id=organization.id, name="Repetition", actor=ACTOR, now=now
    )
    person = await persons.create_person(
        session,
        organization_id=organization.id,
        email=f"rehearsal-{mark}@pdv-alert.invalid",
        name="Repetition",
        password=None,
        roles=[(Role.PRINCIPAL, site.id)],
        actor=ACTOR,
        now=now,
    )
    token = await login_sessions.open_session(
        session,
        person=person,
        ip="127.0.0.1",
        user_agent="rehearsal",
        lifetime=timedelta(minutes=1),
        now=now,
    )
    session.expunge_all()  # read back from the database, as a request's session does
    caller = await from_session_token(session, token=token, now=now)
    if caller is None:
        raise RuntimeError("the rehearsal's login session was not found")
    result = await alerts.trigger(
        session=session,
        sink=NullSink(),
        caller=caller,
        kind=Kind.PDV_LOCKDOWN,
        mode=Mode.ACTUAL,
        site_ids={site.id},
        now=now,
    )
    if not result.created:
        raise RuntimeError("the rehearsal's trigger made no alert")
