"""Logging in and out, and who am I: `/auth/login`, `/auth/logout`, `GET`/`PATCH /me`.

Login attempts are throttled by server/core/ratelimit.py (see server/services/auth.py) with
the `login_*` settings. The app holds its `LoginLimits` (`app.state.login_limits`, made by
`server.realtime.throttle.login_limits_from`): counted in Redis when the bus is Redis, so
every node counts the same attempts, else in this node's memory. A successful
login sets the known-browser cookie (`pdv_known`, HttpOnly, sent only to this path) that
exempts the browser from throttling for that account. Behind a proxy the client address is
only right when the proxy is in `trusted_proxies` (uvicorn's `forwarded_allow_ips`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import Field

from protocol.vocabulary import Language
from server.api.base import Body, PatchBody
from server.api.deps import CurrentCaller, CurrentPerson, SessionDep, SettingsDep, SinkDep
from server.api.persons import Password
from server.clock import utcnow
from server.core.known_browsers import KNOWN_BROWSER_COOKIE
from server.credentials import SESSION_COOKIE, SESSION_PREFIX
from server.services import auth
from server.services.auth import LoginLimits

router = APIRouter(tags=["auth"])


def login_limits(request: Request) -> LoginLimits:
    """The app's login limits (`create_app` makes them from the settings)."""
    limits: LoginLimits = request.app.state.login_limits
    return limits


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class LoginBody(Body):
    email: str = Field(max_length=320)
    password: Password


class MePatch(PatchBody):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    language: Language | None = None
    password: Password | None = None
    current_password: Password | None = None


@router.post("/auth/login")
async def login(
    body: LoginBody,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Log in with e-mail and password: `{"person": <me>}`, the `pdv_session` cookie and the
    `pdv_known` known-browser cookie. Unknown e-mail, wrong password and inactive account
    answer alike; too many failures from a new browser and address answer 429."""
    logged_in = await auth.login(
        session=session,
        limits=login_limits(request),
        email=body.email,
        password=body.password,
        ip=_client_ip(request),
        known_browser=request.cookies.get(KNOWN_BROWSER_COOKIE, ""),
        user_agent=request.headers.get("user-agent", ""),
        lifetime=timedelta(hours=settings.session_hours),
        now=utcnow(),
    )
    response.set_cookie(
        SESSION_COOKIE,
        logged_in.token,
        max_age=int(settings.session_hours * 3600),
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="strict",
    )
    response.set_cookie(
        KNOWN_BROWSER_COOKIE,
        logged_in.known_browser,
        max_age=int(settings.login_known_browser_days * 86400),
        path=request.url.path,
        secure=settings.secure_cookies,
        httponly=True,
        samesite="strict",
    )
    return {"person": logged_in.me}


def _session_token(request: Request) -> str:
    """A `pdvs_` bearer token, else the session cookie, else ""."""
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    token = bearer.strip() if scheme.lower() == "bearer" else ""
    if not token.startswith(SESSION_PREFIX):
        token = request.cookies.get(SESSION_COOKIE, "")
    return token


@router.post("/auth/logout", status_code=204)
async def logout(
    request: Request, session: SessionDep, settings: SettingsDep, sink: SinkDep
) -> Response:
    """End the session of the cookie (or a `pdvs_` bearer token) and clear the cookie.
    Answers 204 even when the session had already ended."""
    token = _session_token(request)
    if token:
        await auth.logout(session=session, sink=sink, token=token, now=utcnow())
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=settings.secure_cookies, httponly=True, samesite="strict"
    )
    return response


@router.get("/me")
async def me(caller: CurrentCaller, session: SessionDep) -> dict[str, Any]:
    """Who is calling: a person (with roles and permissions) or a device. API keys: 403."""
    return await auth.me(session=session, caller=caller)


@router.patch("/me")
async def update_me(
    body: MePatch, request: Request, caller: CurrentPerson, session: SessionDep, sink: SinkDep
) -> dict[str, Any]:
    """Change one's own name, language or password (the password needs `current_password`;
    other sessions of the person end)."""
    return await auth.update_me(
        session=session,
        sink=sink,
        limits=login_limits(request),
        caller=caller,
        ip=_client_ip(request),
        name=body.name,
        language=body.language,
        password=body.password,
        current_password=body.current_password,
        now=utcnow(),
    )
