"""Login, logout and changing one's own account on SQLite and PostgreSQL: one commit per use
case, the failed login audited and counted, a logout told to the sink after its commit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from protocol.vocabulary import Role
from server.clock import utcnow
from server.core.ratelimit import LoginThrottle
from server.credentials import token_hash, verify_password
from server.errors import ServiceError
from server.services import auth
from server.services.auth import LoginLimits, NodeThrottle
from server.services.sink import RecordingSink
from server.storage.database import Database
from server.storage.tables import AuditEntry, Credential, LoginSession, Person
from tests import factories
from tests.factories import PASSWORD, World
from tests.server.services.acting import caller, count


def _limits(attempts: int = 5) -> LoginLimits:
    throttle = LoginThrottle(
        per_account_address=attempts,
        per_account=attempts,
        per_address=100,
        window=60.0,
        known_address_seconds=3600.0,
    )
    return LoginLimits(
        throttle=NodeThrottle(throttle), secret="s" * 32, known_browser_seconds=86400
    )


async def _world(database: Database) -> World:
    world = await factories.organization(database)
    await factories.person(world, "anna", roles=((Role.STAFF, "A"),), email="anna@example.se")
    return world


async def _login(
    database: Database, limits: LoginLimits, password: str, known_browser: str = ""
) -> auth.LoggedIn:
    async with database.session() as session:
        return await auth.login(
            session=session,
            limits=limits,
            email=" ANNA@example.se ",
            password=password,
            ip="10.0.0.1",
            known_browser=known_browser,
            user_agent="test",
            lifetime=timedelta(hours=1),
            now=utcnow(),
        )


async def test_login_opens_a_session_and_audits_it(database: Database) -> None:
    """A good password stores the session's hash and an auth.login entry, and answers /me."""
    world = await _world(database)
    logged_in = await _login(database, _limits(), PASSWORD)
    assert logged_in.me["id"] == world.persons["anna"]
    async with database.session() as session:
        hashes = (await session.scalars(select(LoginSession.token_hash))).all()
    assert token_hash(logged_in.token) in hashes
    assert await count(database, AuditEntry, AuditEntry.action == "auth.login") == 1


async def test_failed_logins_are_audited_counted_and_then_limited(database: Database) -> None:
    """A wrong password is auth.invalid_credentials and audited; past the limit even the
    right password is auth.rate_limited and opens no session."""
    await _world(database)
    limits = _limits(attempts=2)
    for _ in range(2):
        with pytest.raises(ServiceError) as caught:
            await _login(database, limits, "wrong password!")
        assert caught.value.code == "auth.invalid_credentials"
    with pytest.raises(ServiceError) as caught:
        await _login(database, limits, PASSWORD)
    assert caught.value.code == "auth.rate_limited"
    assert await count(database, AuditEntry, AuditEntry.action == "auth.login_failed") == 2
    assert await count(database, AuditEntry, AuditEntry.action == "auth.login") == 0


async def test_a_known_browser_is_never_limited(database: Database) -> None:
    """The marker a login returns lets the right password in past the limit on a node that
    never saw the address; its failures are verified and audited, never refused."""
    await _world(database)
    marker = (await _login(database, _limits(), PASSWORD)).known_browser
    fresh = _limits(attempts=2)
    for _ in range(3):
        with pytest.raises(ServiceError) as caught:
            await _login(database, fresh, "wrong password!", known_browser=marker)
        assert caught.value.code == "auth.invalid_credentials"
    assert await count(database, AuditEntry, AuditEntry.action == "auth.login_failed") == 3
    assert (await _login(database, fresh, PASSWORD, known_browser=marker)).token


async def test_logout_ends_the_session_then_tells_the_sink(database: Database) -> None:
    """Logout deletes the session, audits it and tells the sink its hash; again: nothing."""
    world = await _world(database)
    token = world.tokens["anna"]
    sink = RecordingSink()
    for _ in range(2):
        async with database.session() as session:
            await auth.logout(session=session, sink=sink, token=token, now=utcnow())
    assert sink.told == [("session_closed", token_hash(token))]
    assert await count(database, LoginSession) == 0
    assert await count(database, AuditEntry, AuditEntry.action == "auth.logout") == 1


async def test_password_change_needs_the_current_one_and_ends_other_sessions(
    database: Database,
) -> None:
    """A wrong current password changes nothing; the right one sets the new password and
    ends every other session of the person but the caller's."""
    world = await _world(database)
    anna = await caller(world, "anna")
    other = await _login(database, _limits(), PASSWORD)
    async with database.session() as session:
        with pytest.raises(ServiceError) as caught:
            await auth.update_me(
                session=session,
                sink=RecordingSink(),
                limits=_limits(),
                caller=anna,
                ip="10.0.0.1",
                password="a new password!",
                current_password="not my password",
                now=utcnow(),
            )
    assert caught.value.code == "auth.invalid_credentials"
    async with database.session() as session:
        await auth.update_me(
            session=session,
            sink=RecordingSink(),
            limits=_limits(),
            caller=anna,
            ip="10.0.0.1",
            password="a new password!",
            current_password=PASSWORD,
            now=utcnow(),
        )
    async with database.session() as session:
        hashes = (await session.scalars(select(LoginSession.token_hash))).all()
        stored = await session.get_one(Credential, anna.actor.id)
    assert hashes == [anna.session_hash] and token_hash(other.token) not in hashes
    assert verify_password(stored.password_hash, "a new password!")


@pytest.mark.parametrize(
    "changes",
    [{}, {"password": "a new password!"}, {"current_password": PASSWORD}],
)
async def test_update_me_refuses_incomplete_changes(
    database: Database, changes: dict[str, str]
) -> None:
    """Nothing to change, or password and current_password not together: request.invalid."""
    world = await _world(database)
    async with database.session() as session:
        with pytest.raises(ServiceError) as caught:
            await auth.update_me(
                session=session,
                sink=RecordingSink(),
                limits=_limits(),
                caller=await caller(world, "anna"),
                ip="10.0.0.1",
                now=utcnow(),
                **changes,  # type: ignore[arg-type]
            )
    assert caught.value.code == "request.invalid"
    assert await count(database, AuditEntry) == 0


async def test_update_me_renames_and_me_describes_callers(database: Database) -> None:
    """A new name is stored and shown; a device's /me names its site; an API key has none."""
    world = await _world(database)
    await factories.device(world, "desk", site="A")
    await factories.api_key(world, "button", site="A")
    async with database.session() as session:
        me = await auth.update_me(
            session=session,
            sink=RecordingSink(),
            limits=_limits(),
            caller=await caller(world, "anna"),
            ip="10.0.0.1",
            name="Anna S",
            now=utcnow(),
        )
        assert me["name"] == "Anna S"
        device = await auth.me(session=session, caller=await caller(world, "desk"))
        assert (device["kind"], device["site_id"]) == ("device", world.sites["A"])
        with pytest.raises(ServiceError) as caught:
            await auth.me(session=session, caller=await caller(world, "button"))
        assert caught.value.code == "auth.forbidden"
    async with database.session() as session:
        assert (await session.get_one(Person, world.persons["anna"])).name == "Anna S"
