"""Login, logout and /me over HTTP: the real cookie, rate limits, uniform failures, the
`/me` document of persons and devices, and changing one's own profile and password."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from protocol.vocabulary import Role
from server.clock import utcnow
from server.core.known_browsers import KNOWN_BROWSER_COOKIE
from server.credentials import token_hash
from server.realtime.throttle import login_limits_from
from server.settings import Settings
from server.storage.database import Database
from server.storage.tables import AuditEntry, Credential, LoginSession, Person, Site
from tests import factories
from tests.conftest import app_client
from tests.factories import PASSWORD, World, bearer
from tests.server.services.acting import count

LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/me"
NEW_PASSWORD = "ett helt nytt lösenord"


@pytest.fixture
async def world(client: httpx.AsyncClient) -> World:
    """Sites A and B; an org-wide admin, a principal and staff of A, an inactive person."""
    world = await factories.organization(client.app.state.database)  # type: ignore[attr-defined]
    await factories.person(world, "admin", roles=((Role.ADMIN, None),), email="admin@skola.se")
    await factories.person(
        world, "principal", roles=((Role.PRINCIPAL, "A"),), email="rektor@skola.se"
    )
    await factories.person(world, "staff", roles=((Role.STAFF, "A"),), email="larare@skola.se")
    await factories.person(
        world, "gone", roles=((Role.STAFF, "A"),), email="gone@skola.se", active=False
    )
    return world


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def login(
    http: httpx.AsyncClient, email: str, password: str = PASSWORD, **kwargs: Any
) -> httpx.Response:
    return await http.post(LOGIN, json={"email": email, "password": password}, **kwargs)


async def state(world: World) -> dict[str, Any]:
    """Everything a login or profile change could touch."""
    async with world.database.session() as session:
        return {
            "sessions": sorted((await session.scalars(select(LoginSession.token_hash))).all()),
            "persons": (
                await session.execute(
                    select(Person.id, Person.name, Person.language, Person.active).order_by(
                        Person.id
                    )
                )
            ).all(),
            "credentials": (
                await session.execute(
                    select(Credential.person_id, Credential.password_hash).order_by(
                        Credential.person_id
                    )
                )
            ).all(),
            "audit": await session.scalar(select(func.count()).select_from(AuditEntry)),
        }


async def audit_actions(world: World) -> list[str]:
    async with world.database.session() as session:
        rows = await session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.organization_id == world.organization_id)
            .order_by(AuditEntry.seq)
        )
        return list(rows.all())


# -- the cookie flow -----------------------------------------------------------------------


async def test_login_cookie_me_logout_flow(client: httpx.AsyncClient, world: World) -> None:
    """Login sets the cookie, /me works with it, and after logout the old cookie is expired."""
    response = await login(client, "rektor@skola.se")
    assert response.status_code == 200, response.text
    assert response.json()["person"]["email"] == "rektor@skola.se"
    token = client.cookies.get("pdv_session")
    assert token is not None and token.startswith("pdvs_")

    me = await client.get(ME)
    assert me.status_code == 200, me.text
    assert me.json()["id"] == world.persons["principal"]

    out = await client.post(LOGOUT)
    assert out.status_code == 204
    assert client.cookies.get("pdv_session") is None
    assert code(await client.get(ME)) == "auth.required"
    stale = await client.get(ME, headers={"Cookie": f"pdv_session={token}"})
    assert stale.status_code == 401 and code(stale) == "auth.session_expired"
    assert await audit_actions(world) == ["auth.login", "auth.logout"]


async def test_cookie_attributes(client: httpx.AsyncClient, world: World) -> None:
    """HttpOnly, SameSite=Strict, Path=/, Max-Age from session_hours; not Secure over http."""
    response = await login(client, "rektor@skola.se")
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("pdv_session=pdvs_")
    for part in ("httponly", "samesite=strict", "path=/", "max-age=43200"):
        assert part in cookie
    assert "secure" not in cookie


async def test_cookie_is_secure_behind_https(client: httpx.AsyncClient, world: World) -> None:
    """With an https public URL the cookie carries Secure, and its age follows the setting."""
    app = client.app  # type: ignore[attr-defined]
    app.state.settings = app.state.settings.model_copy(
        update={"public_url": "https://pdv.example.se", "session_hours": 2.0}
    )
    cookie = (await login(client, "rektor@skola.se")).headers["set-cookie"].lower()
    assert "; secure" in cookie and "max-age=7200" in cookie


async def test_session_row_keeps_only_hash_ip_and_user_agent(
    client: httpx.AsyncClient, world: World
) -> None:
    """The database never holds the token itself."""
    await login(client, "Rektor@Skola.se", headers={"User-Agent": "Firefox/140"})
    token = client.cookies.get("pdv_session")
    assert token is not None
    async with world.database.session() as session:
        row = await session.get_one(LoginSession, token_hash(token))
        tokens_stored = (await session.scalars(select(LoginSession.token_hash))).all()
    assert token not in tokens_stored and token not in repr(row.__dict__)
    assert (row.ip, row.user_agent, row.person_id) == (
        "127.0.0.1",
        "Firefox/140",
        world.persons["principal"],
    )
    assert timedelta(hours=11.9) < row.expires_at - row.created_at <= timedelta(hours=12)


async def test_bearer_session_token_logs_out(client: httpx.AsyncClient, world: World) -> None:
    """A pdvs_ token sent as a bearer token is ended by logout as well."""
    assert (await client.post(LOGOUT, headers=bearer(world, "staff"))).status_code == 204
    response = await client.get(ME, headers=bearer(world, "staff"))
    assert code(response) == "auth.invalid_token"


async def test_logout_without_session_is_harmless(client: httpx.AsyncClient, world: World) -> None:
    """Logout with no or a dead cookie answers 204, clears the cookie and writes nothing."""
    before = await state(world)
    assert (await client.post(LOGOUT)).status_code == 204
    dead = await client.post(LOGOUT, headers={"Cookie": "pdv_session=pdvs_nonsense"})
    assert dead.status_code == 204
    assert 'pdv_session=""' in dead.headers["set-cookie"] or "max-age=0" in (
        dead.headers["set-cookie"].lower()
    )
    assert await state(world) == before


# -- failures look alike -------------------------------------------------------------------


async def test_unknown_wrong_and_inactive_answer_alike(
    client: httpx.AsyncClient, world: World
) -> None:
    """Same status and body for an unknown address, a wrong password and an inactive person."""
    answers = [
        await login(client, "nobody@skola.se"),
        await login(client, "rektor@skola.se", "wrong password!"),
        await login(client, "gone@skola.se"),
    ]
    assert {a.status_code for a in answers} == {401}
    assert all(a.json() == answers[0].json() for a in answers)
    assert code(answers[0]) == "auth.invalid_credentials"
    assert all("set-cookie" not in a.headers for a in answers)
    async with world.database.session() as session:
        entries = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == "auth.login_failed")
            )
        ).all()
        assert await session.scalar(select(func.count()).select_from(LoginSession)) == 4
    assert sorted(entry.target for entry in entries) == sorted(
        [f"person:{world.persons['principal']}", f"person:{world.persons['gone']}"]
    )
    assert {entry.details["reason"] for entry in entries} == {"password", "inactive"}


async def test_password_is_not_stripped(client: httpx.AsyncClient, world: World) -> None:
    """Spaces around the password are part of it."""
    response = await login(client, "rektor@skola.se", f" {PASSWORD} ")
    assert code(response) == "auth.invalid_credentials"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{not json", "request.malformed_json"),
        (b'{"email": "a@b.se"}', "request.invalid"),
        (b'{"password": "x"}', "request.invalid"),
        (b'{"email": "a@b.se", "password": "x", "remember": true}', "request.unknown_field"),
        (b'{"email": 5, "password": "x"}', "request.invalid"),
        (b'{"email": "a@b.se", "password": null}', "request.invalid"),
        (b'["a@b.se", "x"]', "request.invalid"),
        (b'{"email": "' + b"a" * 400 + b'@b.se", "password": "x"}', "request.invalid"),
        (b'{"email": "a@b.se", "password": "' + b"x" * 1025 + b'"}', "request.invalid"),
    ],
)
async def test_bad_login_bodies(
    client: httpx.AsyncClient, world: World, content: bytes, expected: str
) -> None:
    """Malformed or ill-typed login bodies get their code and change nothing."""
    before = await state(world)
    response = await client.post(
        LOGIN, content=content, headers={"Content-Type": "application/json"}
    )
    assert code(response) == expected, response.text
    assert await state(world) == before


# -- login throttling ----------------------------------------------------------------------

SCHOOL = "10.20.30.40"  # the school's shared NAT address
WRONG = "wrong password!"


@asynccontextmanager
async def browser(http: httpx.AsyncClient, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """Another browser (own cookie jar) on the same app, seen as coming from `address`."""
    transport = httpx.ASGITransport(app=http.app, client=(address, 40000))  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        yield other


async def login_from(
    http: httpx.AsyncClient, address: str, email: str, password: str = PASSWORD
) -> httpx.Response:
    """One login from a fresh browser at `address` (no cookies)."""
    async with browser(http, address) as other:
        return await login(other, email, password)


def carry_marker(source: httpx.AsyncClient, target: httpx.AsyncClient) -> None:
    """The same browser elsewhere: only its known-browser cookie (the session may be gone)."""
    target.cookies.set(KNOWN_BROWSER_COOKIE, source.cookies[KNOWN_BROWSER_COOKIE])


def set_limits(http: httpx.AsyncClient, **limits: int) -> None:
    """Other login limits for the app (its throttle is made from the settings, afresh)."""
    app = http.app  # type: ignore[attr-defined]
    app.state.settings = app.state.settings.model_copy(update=limits)
    app.state.login_limits = login_limits_from(app.state.settings)


async def test_failures_are_throttled_per_account_and_address(
    client: httpx.AsyncClient, world: World
) -> None:
    """Five failures from one new address refuse that address (429, Retry-After) and open
    no session; the same account from another new address still gets in."""
    for _ in range(5):
        assert code(await login(client, "REKTOR@skola.se", WRONG)) == "auth.invalid_credentials"
    before = await state(world)
    response = await login(client, "rektor@skola.se")
    assert response.status_code == 429 and code(response) == "auth.rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 900
    assert "set-cookie" not in response.headers
    assert await state(world) == before
    assert (await login_from(client, "192.0.2.7", "rektor@skola.se")).status_code == 200
    assert (await login(client, "larare@skola.se")).status_code == 200  # other accounts fine


async def test_attackers_are_throttled_but_the_owner_browser_is_not(
    client: httpx.AsyncClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Guesses from many new addresses close the account to new addresses (logged at
    WARNING); the principal's browser that logged in before still gets in from anywhere."""
    assert (await login(client, "rektor@skola.se")).status_code == 200  # at home, once
    await client.post(LOGOUT)
    for index in range(10):
        response = await login_from(client, f"198.51.100.{index}", "rektor@skola.se", WRONG)
        assert code(response) == "auth.invalid_credentials"
    caplog.set_level(logging.WARNING, logger="server.services.auth")
    refused = await login_from(client, "198.51.100.99", "rektor@skola.se")
    assert code(refused) == "auth.rate_limited"
    assert "rektor@skola.se" in caplog.text and "198.51.100.99" in caplog.text
    assert "limit=account " in caplog.text
    async with browser(client, "203.0.113.5") as laptop:  # the same browser, a new place
        carry_marker(client, laptop)
        assert (await login(laptop, "rektor@skola.se")).status_code == 200


async def test_shared_nat_failures_never_lock_out_the_principal(
    client: httpx.AsyncClient, world: World
) -> None:
    """Many failures from the school's address, on other accounts and on the principal's,
    leave the principal's known browser and a colleague known at that address able to log in."""
    set_limits(client, login_attempts_per_ip=30)
    async with browser(client, "192.0.2.10") as laptop:
        assert (await login(laptop, "rektor@skola.se")).status_code == 200  # at home
        assert (await login_from(client, SCHOOL, "larare@skola.se")).status_code == 200
        for index in range(40):
            await login_from(client, SCHOOL, f"elev{index}@skola.se", WRONG)
        for _ in range(10):
            await login_from(client, SCHOOL, "rektor@skola.se", WRONG)
        refused = await login_from(client, SCHOOL, "admin@skola.se")
        assert code(refused) == "auth.rate_limited"  # a new account from a spraying address
        async with browser(client, SCHOOL) as at_school:
            carry_marker(laptop, at_school)
            assert (await login(at_school, "rektor@skola.se")).status_code == 200
    assert (await login_from(client, SCHOOL, "larare@skola.se")).status_code == 200


async def test_known_browser_marker_is_bound_to_its_account(
    client: httpx.AsyncClient, world: World
) -> None:
    """The principal's marker does not exempt another account; a forged one is ignored."""
    assert (await login(client, "rektor@skola.se")).status_code == 200
    assert client.cookies.get(KNOWN_BROWSER_COOKIE)
    for _ in range(5):
        await login_from(client, "198.51.100.1", "larare@skola.se", WRONG)
    for _ in range(10):
        await login_from(client, "198.51.100.2", "larare@skola.se", WRONG)
    async with browser(client, "192.0.2.50") as other:
        carry_marker(client, other)
        assert code(await login(other, "larare@skola.se")) == "auth.rate_limited"
        other.cookies.set(KNOWN_BROWSER_COOKIE, "1700000000.forged", path=LOGIN)
        assert code(await login(other, "larare@skola.se")) == "auth.rate_limited"


async def test_parallel_guesses_are_counted_before_verifying(
    database: Database, settings: Settings
) -> None:
    """40 parallel guesses at one account from 40 new addresses: at most the account limit
    are verified (each verified failure is audited), the rest are refused unverified."""
    async with app_client(settings, database) as http:
        world = await factories.organization(database)
        await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),), email="r@s.se")
        answers = await asyncio.gather(
            *(login_from(http, f"198.51.100.{index}", "r@s.se", WRONG) for index in range(40))
        )
    codes = sorted(code(answer) for answer in answers)
    limit = settings.login_attempts_per_account
    assert codes == ["auth.invalid_credentials"] * limit + ["auth.rate_limited"] * (40 - limit)
    verified = await count(database, AuditEntry, AuditEntry.action == "auth.login_failed")
    assert verified == limit


async def test_ip_limit_spans_new_accounts(client: httpx.AsyncClient, world: World) -> None:
    """Failures on many accounts from one address close it for accounts new to it, not
    other addresses."""
    set_limits(client, login_attempts_per_ip=3)
    for email in ("a@skola.se", "b@skola.se", "c@skola.se"):
        assert code(await login(client, email, "whatever!!")) == "auth.invalid_credentials"
    refused = await login(client, "rektor@skola.se")
    assert code(refused) == "auth.rate_limited" and int(refused.headers["Retry-After"]) >= 1
    assert (await login_from(client, "127.0.0.2", "rektor@skola.se")).status_code == 200


async def test_success_resets_the_address_counter(client: httpx.AsyncClient, world: World) -> None:
    """A successful login clears that address's failures on the account."""
    for _ in range(4):
        await login_from(client, "192.0.2.1", "rektor@skola.se", WRONG)
    assert (await login_from(client, "192.0.2.1", "rektor@skola.se")).status_code == 200
    for _ in range(4):
        await login_from(client, "192.0.2.2", "rektor@skola.se", WRONG)
    assert (await login_from(client, "192.0.2.2", "rektor@skola.se")).status_code == 200


# -- /me -----------------------------------------------------------------------------------


async def test_me_of_a_principal(client: httpx.AsyncClient, world: World) -> None:
    """A principal of A leads alerts at A only and has nothing at organization level."""
    body = (await client.get(ME, headers=bearer(world, "principal"))).json()
    site_a = world.sites["A"]
    assert body == {
        "kind": "person",
        "id": world.persons["principal"],
        "name": "Principal",
        "email": "rektor@skola.se",
        "language": "sv",
        "organization": {"id": world.organization_id, "name": "Köpings kommun"},
        "roles": [{"role": "principal", "site_id": site_a}],
        "permissions": {
            str(site_a): [
                "receive",
                "ack",
                "trigger",
                "update",
                "resolve",
                "cancel",
                "view_rollcall",
            ]
        },
        "org_permissions": [],
    }


async def test_me_of_an_admin(client: httpx.AsyncClient, world: World) -> None:
    """An org-wide admin manages everything at organization level and at every site."""
    body = (await client.get(ME, headers=bearer(world, "admin"))).json()
    expected = [
        "receive",
        "ack",
        "view_audit",
        "manage_people",
        "manage_devices",
        "manage_sites",
        "manage_settings",
    ]
    assert body["org_permissions"] == expected
    assert body["permissions"] == {str(world.sites["A"]): expected, str(world.sites["B"]): expected}


async def test_me_of_staff_follows_the_site_trigger_rule(
    client: httpx.AsyncClient, world: World
) -> None:
    """Staff may trigger only where the site lets staff trigger."""
    site_a = world.sites["A"]
    body = (await client.get(ME, headers=bearer(world, "staff"))).json()
    assert body["permissions"] == {str(site_a): ["receive", "ack", "trigger"]}
    async with world.database.session() as session:
        await session.execute(update(Site).where(Site.id == site_a).values(staff_may_trigger=False))
        await session.commit()
    body = (await client.get(ME, headers=bearer(world, "staff"))).json()
    assert body["permissions"] == {str(site_a): ["receive", "ack"]}


async def test_me_of_a_device(client: httpx.AsyncClient, world: World) -> None:
    """A device sees its own identity, site and organization."""
    device_id = await factories.device(world, "desk", site="B")
    body = (await client.get(ME, headers=bearer(world, "desk"))).json()
    assert body == {
        "kind": "device",
        "id": device_id,
        "name": "desk",
        "device_kind": "desktop",
        "site_id": world.sites["B"],
        "organization": {"id": world.organization_id, "name": "Köpings kommun"},
    }


async def test_me_refuses_keys_strangers_and_dead_sessions(
    client: httpx.AsyncClient, world: World
) -> None:
    """API keys are forbidden; no, wrong or expired credentials are 401 with their code."""
    await factories.api_key(world, "button", site="A")
    assert code(await client.get(ME, headers=bearer(world, "button"))) == "auth.forbidden"
    assert code(await client.get(ME)) == "auth.required"
    wrong = {"Authorization": "Bearer pdvd_not-a-real-token"}
    assert code(await client.get(ME, headers=wrong)) == "auth.invalid_token"
    async with world.database.session() as session:
        await session.execute(
            update(LoginSession)
            .where(LoginSession.person_id == world.persons["staff"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    cookie = {"Cookie": f"pdv_session={world.tokens['staff']}"}
    assert code(await client.get(ME, headers=cookie)) == "auth.session_expired"
    gone = {"Cookie": f"pdv_session={world.tokens['gone']}"}
    assert code(await client.get(ME, headers=gone)) == "auth.session_expired"


# -- PATCH /me -----------------------------------------------------------------------------


async def test_patch_me_changes_name_and_language(client: httpx.AsyncClient, world: World) -> None:
    """A person renames themselves and switches to English; the change is audited."""
    response = await client.patch(
        ME, json={"name": "  Rektor Eva ", "language": "en"}, headers=bearer(world, "principal")
    )
    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["language"]) == ("Rektor Eva", "en")
    assert await audit_actions(world) == ["person.updated"]


async def test_patch_me_password_keeps_this_session_only(
    client: httpx.AsyncClient, world: World
) -> None:
    """A new password (with the current one) works for login and ends the other sessions."""
    await login(client, "rektor@skola.se")
    response = await client.patch(ME, json={"password": NEW_PASSWORD, "current_password": PASSWORD})
    assert response.status_code == 200, response.text
    assert (await client.get(ME)).status_code == 200  # the cookie session survives
    stale = await client.get(ME, headers=bearer(world, "principal"))
    assert code(stale) == "auth.invalid_token"
    client.cookies.clear()
    assert code(await login(client, "rektor@skola.se")) == "auth.invalid_credentials"
    assert (await login(client, "rektor@skola.se", NEW_PASSWORD)).status_code == 200


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"password": NEW_PASSWORD, "current_password": "not my password"},
            "auth.invalid_credentials",
        ),
        ({"password": NEW_PASSWORD}, "request.invalid"),
        ({"current_password": PASSWORD}, "request.invalid"),
        ({"password": "short", "current_password": PASSWORD}, "person.weak_password"),
        ({}, "request.invalid"),
        ({"name": None}, "request.invalid"),
        ({"name": "   "}, "request.invalid"),
        ({"name": 7}, "request.invalid"),
        ({"language": "de"}, "request.invalid"),
        ({"email": "new@skola.se"}, "request.unknown_field"),
        ({"active": False}, "request.unknown_field"),
    ],
)
async def test_patch_me_rejections(
    client: httpx.AsyncClient, world: World, body: dict[str, Any], expected: str
) -> None:
    """Each bad profile change has its code and changes nothing."""
    before = await state(world)
    response = await client.patch(ME, json=body, headers=bearer(world, "principal"))
    assert code(response) == expected, response.text
    assert await state(world) == before


async def test_patch_me_malformed_json(client: httpx.AsyncClient, world: World) -> None:
    """Broken JSON is refused before anything happens."""
    response = await client.patch(
        ME, content=b"{", headers={**bearer(world, "staff"), "Content-Type": "application/json"}
    )
    assert code(response) == "request.malformed_json"


async def test_patch_me_is_for_persons(client: httpx.AsyncClient, world: World) -> None:
    """Devices and the unauthenticated can't change a profile."""
    await factories.device(world, "desk", site="A")
    response = await client.patch(ME, json={"name": "Desk"}, headers=bearer(world, "desk"))
    assert code(response) == "auth.forbidden"
    assert code(await client.patch(ME, json={"name": "X"})) == "auth.required"


async def test_guessing_the_current_password_is_rate_limited(
    client: httpx.AsyncClient, world: World
) -> None:
    """A stolen session can't brute-force the password through PATCH /me."""
    wrong = {"password": NEW_PASSWORD, "current_password": "guess guess"}
    for _ in range(5):
        response = await client.patch(ME, json=wrong, headers=bearer(world, "principal"))
        assert code(response) == "auth.invalid_credentials"
    right = {"password": NEW_PASSWORD, "current_password": PASSWORD}
    response = await client.patch(ME, json=right, headers=bearer(world, "principal"))
    assert code(response) == "auth.rate_limited" and "Retry-After" in response.headers
