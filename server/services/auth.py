"""Logging in and out, who am I, and changing one's own name, language or password.

Login attempts go through the node's `LoginLimits`: each attempt is admitted (and counted)
by the `Throttle` *before* the password is verified, so parallel guesses can't all slip past
one check; a browser with a known-browser mark for the account, or an address that logged
in to it recently, is never refused (server/core/ratelimit.py). Every refusal is logged at
WARNING with the account, the address and which limit refused it. A logout tells the sink
after its commit, so the live connections of that session close; a password change ends the
person's other sessions.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from server import metrics
from server.core import known_browsers
from server.core.permissions import Action, Actor, can, sites_where
from server.core.ratelimit import Admitted, LoginThrottle, Refused
from server.errors import ServiceError
from server.services.sink import EventSink, tell
from server.storage import audit, login_sessions, persons, sites
from server.storage.callers import Caller, from_session_token, person_actor
from server.storage.organizations import get_organization
from server.storage.tables import Person

logger = logging.getLogger(__name__)


class Throttle(Protocol):
    """Where login attempts are counted: this node's memory (`NodeThrottle`), or Redis shared
    by the nodes (`server.realtime.throttle.RedisThrottle`)."""

    async def admit(self, *, account: str, address: str, known_browser: bool) -> Admitted | Refused:
        """Admit one login attempt (counted unless known), or refuse it."""
        ...

    async def count(self, *, account: str, address: str) -> Admitted | Refused:
        """Admit and count one attempt whatever is known, or refuse it."""
        ...

    async def succeeded(self, admitted: Admitted) -> None:
        """The password was right: refund the attempt and know the address."""
        ...


class NodeThrottle:
    """The `Throttle` in this process's memory (monotonic time)."""

    def __init__(self, throttle: LoginThrottle) -> None:
        self.throttle = throttle

    async def admit(self, *, account: str, address: str, known_browser: bool) -> Admitted | Refused:
        return self.throttle.admit(
            account=account, address=address, known_browser=known_browser, now=time.monotonic()
        )

    async def count(self, *, account: str, address: str) -> Admitted | Refused:
        return self.throttle.count(account=account, address=address, now=time.monotonic())

    async def succeeded(self, admitted: Admitted) -> None:
        self.throttle.succeeded(admitted, now=time.monotonic())


@dataclass
class LoginLimits:
    """The node's login throttle, and the key and lifetime of known-browser marks."""

    throttle: Throttle
    secret: str
    known_browser_seconds: float

    def knows(self, cookie: str, *, account: str, now: datetime) -> bool:
        """Whether the known-browser cookie holds a valid mark for `account`."""
        return known_browsers.is_known(
            cookie,
            secret=self.secret,
            account=account,
            now=now.timestamp(),
            max_age=self.known_browser_seconds,
        )

    def remember(self, cookie: str, *, account: str, now: datetime) -> str:
        """The known-browser cookie after a successful login to `account`."""
        return known_browsers.remember(
            cookie,
            secret=self.secret,
            account=account,
            now=now.timestamp(),
            max_age=self.known_browser_seconds,
        )


@dataclass(frozen=True)
class LoggedIn:
    """A new login session: its token (for the cookie, never stored), the `/me` document and
    the new known-browser cookie value."""

    token: str
    me: dict[str, Any]
    known_browser: str


def _admitted(decision: Admitted | Refused, *, account: str, address: str) -> Admitted:
    """The admission, or `auth.rate_limited` (logged at WARNING) with the seconds to wait."""
    if isinstance(decision, Admitted):
        return decision
    wait = max(1, math.ceil(decision.wait))
    metrics.LOGIN_FAILURES.labels(reason="throttled").inc()
    logger.warning(
        "login throttled: account=%s address=%s limit=%s wait=%ds",
        account,
        address,
        decision.limit.value,
        wait,
    )
    raise ServiceError("auth.rate_limited", str(wait))


async def person_me(session: AsyncSession, *, person: Person, actor: Actor) -> dict[str, Any]:
    """The `/me` document of a person: identity, roles and what they may do where."""
    org = await get_organization(session, organization_id=person.organization_id)
    roles = await persons.roles_of(session, person_id=person.id)
    site_ids = [site.id for site in await sites.list_sites(session, organization_id=org.id)]
    policy = await sites.staff_trigger_policy(session, organization_id=org.id)
    per_site: dict[int, list[str]] = {}
    for action in Action:
        for site_id in sites_where(actor, action, all_site_ids=site_ids, staff_may_trigger=policy):
            per_site.setdefault(site_id, []).append(action.value)
    return {
        "kind": "person",
        "id": person.id,
        "name": person.name,
        "email": person.email,
        "language": person.language,
        "organization": {"id": org.id, "name": org.name},
        "roles": [{"role": role.value, "site_id": site_id} for role, site_id in roles],
        "permissions": {str(site_id): per_site[site_id] for site_id in sorted(per_site)},
        "org_permissions": [
            action.value
            for action in Action
            if can(actor, action, organization_id=org.id, staff_may_trigger=policy)
        ],
    }


async def _device_me(session: AsyncSession, caller: Caller) -> dict[str, Any]:
    device = caller.device
    assert device is not None
    org = await get_organization(session, organization_id=device.organization_id)
    return {
        "kind": "device",
        "id": device.id,
        "name": device.name,
        "device_kind": device.kind,
        "site_id": device.site_id,
        "organization": {"id": org.id, "name": org.name},
    }


async def me(*, session: AsyncSession, caller: Caller) -> dict[str, Any]:
    """Who is calling: a person (with roles and permissions) or a device. API keys: 403."""
    if caller.person is not None:
        return await person_me(session, person=caller.person, actor=caller.actor)
    if caller.device is not None:
        return await _device_me(session, caller)
    raise ServiceError("auth.forbidden", "API keys have no /me")


async def _login_failed(
    session: AsyncSession, *, ip: str, person: Person | None, now: datetime
) -> None:
    """Audit the failure (and commit) when the account exists; it stays counted."""
    if person is None:
        return
    await audit.record(
        session,
        organization_id=person.organization_id,
        actor="anonymous",
        action="auth.login_failed",
        at=now,
        target=f"person:{person.id}",
        details={"ip": ip, "reason": "inactive" if not person.active else "password"},
    )
    await session.commit()


async def login(
    *,
    session: AsyncSession,
    limits: LoginLimits,
    email: str,
    password: str,
    ip: str,
    known_browser: str,
    user_agent: str,
    lifetime: timedelta,
    now: datetime,
) -> LoggedIn:
    """Open a login session. Unknown e-mail, wrong password and inactive account answer
    alike (`auth.invalid_credentials`); too many attempts from an unknown browser and
    address answer `auth.rate_limited`. `known_browser` is the marker cookie ("" if none)."""
    account = email.strip().lower()
    known = limits.knows(known_browser, account=account, now=now)
    decision = await limits.throttle.admit(account=account, address=ip, known_browser=known)
    admitted = _admitted(decision, account=account, address=ip)
    person, ok = await persons.check_credentials(session, email=account, password=password)
    if person is None or not ok:
        metrics.LOGIN_FAILURES.labels(reason="credentials").inc()
        await _login_failed(session, ip=ip, person=person, now=now)
        raise ServiceError("auth.invalid_credentials")
    await limits.throttle.succeeded(admitted)
    token = await login_sessions.open_session(
        session, person=person, ip=ip, user_agent=user_agent, lifetime=lifetime, now=now
    )
    await audit.record(
        session,
        organization_id=person.organization_id,
        actor=f"person:{person.id}",
        action="auth.login",
        at=now,
        target=f"person:{person.id}",
        details={"ip": ip},
    )
    me = await person_me(session, person=person, actor=await person_actor(session, person=person))
    await session.commit()
    marker = limits.remember(known_browser, account=account, now=now)
    return LoggedIn(token=token, me=me, known_browser=marker)


async def logout(*, session: AsyncSession, sink: EventSink, token: str, now: datetime) -> None:
    """End the login session of `token` (nothing happens when it already ended); after the
    commit the sink closes that session's live connections."""
    caller = await from_session_token(session, token=token, now=now)
    if caller is None or caller.person is None or not caller.session_hash:
        return
    await login_sessions.close_session(session, token_hash=caller.session_hash)
    await audit.record(
        session,
        organization_id=caller.organization_id,
        actor=caller.ref,
        action="auth.logout",
        at=now,
        target=caller.ref,
    )
    await session.commit()
    await tell(sink.session_closed(caller.session_hash), what="session closed")


async def _check_current_password(
    session: AsyncSession, *, limits: LoginLimits, person: Person, ip: str, current_password: str
) -> None:
    """The person's password, or `auth.invalid_credentials`: counted like a login from an
    unknown browser and address (a stolen session must not guess it freely)."""
    account = person.email.lower()
    decision = await limits.throttle.count(account=account, address=ip)
    admitted = _admitted(decision, account=account, address=ip)
    stored = await persons.password_hash_of(session, person_id=person.id)
    if not await persons.verify_password_async(stored, current_password):
        metrics.LOGIN_FAILURES.labels(reason="credentials").inc()  # a guess like a login's
        raise ServiceError("auth.invalid_credentials", "current_password")
    await limits.throttle.succeeded(admitted)


async def update_me(
    *,
    session: AsyncSession,
    sink: EventSink,
    limits: LoginLimits,
    caller: Caller,
    ip: str,
    name: str | None = None,
    language: str | None = None,
    password: str | None = None,
    current_password: str | None = None,
    now: datetime,
) -> dict[str, Any]:
    """Change one's own name, language or password (None: unchanged). A new password needs
    `current_password` and ends the person's other sessions (after the commit the sink closes
    their live connections). Returns the new `/me`."""
    person = caller.person
    if person is None:
        raise ServiceError("auth.forbidden", "this endpoint is for persons")
    if name is None and language is None and password is None and current_password is None:
        raise ServiceError("request.invalid", "nothing to change")
    if (password is None) != (current_password is None):
        which = "required with password" if password is not None else "only with password"
        raise ServiceError("request.invalid", f"current_password: {which}")
    ending: list[str] = []
    if password is not None:
        await _check_current_password(
            session, limits=limits, person=person, ip=ip, current_password=current_password or ""
        )
        ending = await login_sessions.hashes_for_person(
            session, person_id=person.id, except_hash=caller.session_hash
        )
    updated = await persons.update_person(
        session,
        organization_id=caller.organization_id,
        person_id=person.id,
        name=name,
        language=language,
        password=password,
        actor=caller.ref,
        now=now,
        keep_session=caller.session_hash,
    )
    result = await person_me(session, person=updated, actor=caller.actor)
    await session.commit()
    for digest in ending:
        await tell(sink.session_closed(digest), what="session closed")
    return result
