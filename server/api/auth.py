"""Logging in and out, and who am I: `/auth/login`, `/auth/logout`, `GET`/`PATCH /me`.

Login attempts are limited per account (lower-cased e-mail) and per client IP with sliding
windows (`login_attempts_per_account`, `login_attempts_per_ip`, `login_window_seconds`). The
limiters live in memory on `app.state.login_limits`, so each node counts on its own: with N
nodes an attacker gets N times the attempts. Behind a proxy the client IP is only right when
the server is told to trust the proxy's forwarded headers (uvicorn `--proxy-headers`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import Language
from server.api.base import Body, PatchBody
from server.api.deps import CurrentCaller, CurrentPerson, SessionDep, SettingsDep
from server.api.persons import Password
from server.clock import utcnow
from server.core.permissions import Action, Actor, can, sites_where
from server.core.ratelimit import AttemptLimiter
from server.credentials import SESSION_COOKIE, SESSION_PREFIX
from server.errors import ServiceError
from server.settings import Settings
from server.storage import audit, login_sessions, persons, sites
from server.storage.callers import Caller, from_session_token, person_actor
from server.storage.organizations import get_organization
from server.storage.tables import Person

router = APIRouter(tags=["auth"])


@dataclass
class LoginLimits:
    """The node's login limiters (see the module docstring)."""

    account: AttemptLimiter
    ip: AttemptLimiter


def login_limits(request: Request) -> LoginLimits:
    """The app's limiters, created on first use from the settings."""
    limits: LoginLimits | None = getattr(request.app.state, "login_limits", None)
    if limits is None:
        settings: Settings = request.app.state.settings
        window = float(settings.login_window_seconds)
        limits = LoginLimits(
            account=AttemptLimiter(settings.login_attempts_per_account, window),
            ip=AttemptLimiter(settings.login_attempts_per_ip, window),
        )
        request.app.state.login_limits = limits
    return limits


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _refuse_if_limited(*waits: float | None) -> None:
    longest = max((wait for wait in waits if wait is not None), default=None)
    if longest is not None:
        raise ServiceError("auth.rate_limited", str(max(1, math.ceil(longest))))


class LoginBody(Body):
    email: str = Field(max_length=320)
    password: Password


class MePatch(PatchBody):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    language: Language | None = None
    password: Password | None = None
    current_password: Password | None = None


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


@router.post("/auth/login")
async def login(
    body: LoginBody,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Log in with e-mail and password: `{"person": <me>}` and the `pdv_session` cookie.
    Unknown e-mail, wrong password and inactive account answer alike."""
    limits = login_limits(request)
    account, ip = body.email.strip().lower(), _client_ip(request)
    moment = time.monotonic()
    _refuse_if_limited(limits.account.check(account, now=moment), limits.ip.check(ip, now=moment))
    person, ok = await persons.check_credentials(session, email=account, password=body.password)
    now = utcnow()
    if person is None or not ok:
        moment = time.monotonic()
        limits.account.fail(account, now=moment)
        limits.ip.fail(ip, now=moment)
        if person is not None:
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
        raise ServiceError("auth.invalid_credentials")
    limits.account.reset(account)
    token = await login_sessions.open_session(
        session,
        person=person,
        ip=ip,
        user_agent=request.headers.get("user-agent", ""),
        lifetime=timedelta(hours=settings.session_hours),
        now=now,
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
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.session_hours * 3600),
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="strict",
    )
    return {"person": me}


@router.post("/auth/logout", status_code=204)
async def logout(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """End the session of the cookie (or a `pdvs_` bearer token) and clear the cookie.
    Answers 204 even when the session had already ended."""
    header = request.headers.get("authorization", "")
    scheme, _, bearer = header.partition(" ")
    token = bearer.strip() if scheme.lower() == "bearer" else ""
    if not token.startswith(SESSION_PREFIX):
        token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        caller = await from_session_token(session, token=token, now=utcnow())
        if caller is not None and caller.person is not None and caller.session_hash:
            await login_sessions.close_session(session, token_hash=caller.session_hash)
            await audit.record(
                session,
                organization_id=caller.organization_id,
                actor=caller.ref,
                action="auth.logout",
                at=utcnow(),
                target=caller.ref,
            )
            await session.commit()
            hook = getattr(request.app.state, "session_closed", None)
            if hook is not None:  # close this session's live dashboard connections
                await hook(caller.session_hash)
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=settings.secure_cookies, httponly=True, samesite="strict"
    )
    return response


@router.get("/me")
async def me(caller: CurrentCaller, session: SessionDep) -> dict[str, Any]:
    """Who is calling: a person (with roles and permissions) or a device. API keys: 403."""
    if caller.person is not None:
        return await person_me(session, person=caller.person, actor=caller.actor)
    if caller.device is not None:
        return await _device_me(session, caller)
    raise ServiceError("auth.forbidden", "API keys have no /me")


@router.patch("/me")
async def update_me(
    body: MePatch, request: Request, caller: CurrentPerson, session: SessionDep
) -> dict[str, Any]:
    """Change one's own name, language or password (the password needs `current_password`;
    other sessions of the person end)."""
    person = caller.person
    assert person is not None
    given = body.model_fields_set
    if not given:
        raise ServiceError("request.invalid", "nothing to change")
    if "password" in given and "current_password" not in given:
        raise ServiceError("request.invalid", "current_password: required with password")
    if "current_password" in given and "password" not in given:
        raise ServiceError("request.invalid", "current_password: only with password")
    if body.password is not None:
        limits = login_limits(request)
        moment = time.monotonic()
        _refuse_if_limited(limits.account.check(person.email, now=moment))
        stored = await persons.password_hash_of(session, person_id=person.id)
        if not await persons.verify_password_async(stored, body.current_password or ""):
            limits.account.fail(person.email, now=time.monotonic())
            raise ServiceError("auth.invalid_credentials", "current_password")
    await persons.update_person(
        session,
        organization_id=caller.organization_id,
        person_id=person.id,
        name=body.name,
        language=body.language.value if body.language is not None else None,
        password=body.password,
        actor=caller.ref,
        now=utcnow(),
        keep_session=caller.session_hash,
    )
    result = await person_me(session, person=person, actor=caller.actor)
    await session.commit()
    return result
