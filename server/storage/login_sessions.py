"""Login sessions of persons: the cookie holds a `pdvs_` token, the table only its hash.

A repository: functions flush in the caller's transaction; the use cases in
server/services/auth.py and persons.py audit and commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.credentials import SESSION_PREFIX, new_token, token_hash
from server.storage.tables import LoginSession, Person

MAX_IP = 64
MAX_USER_AGENT = 300


async def open_session(
    session: AsyncSession,
    *,
    person: Person,
    ip: str,
    user_agent: str,
    lifetime: timedelta,
    now: datetime,
) -> str:
    """A new login session for `person`; returns the token (never stored). The person's
    expired sessions are removed on the way."""
    await session.execute(
        delete(LoginSession).where(
            LoginSession.person_id == person.id, LoginSession.expires_at <= now
        )
    )
    token = new_token(SESSION_PREFIX)
    session.add(
        LoginSession(
            token_hash=token_hash(token),
            organization_id=person.organization_id,
            person_id=person.id,
            created_at=now,
            expires_at=now + lifetime,
            last_seen_at=now,
            ip=(ip or "")[:MAX_IP],
            user_agent=(user_agent or "")[:MAX_USER_AGENT],
        )
    )
    await session.flush()
    return token


async def close_session(session: AsyncSession, *, token_hash: str) -> None:
    """End one session (nothing happens when it is already gone)."""
    await session.execute(delete(LoginSession).where(LoginSession.token_hash == token_hash))


def _of_person(person_id: int, except_hash: str | None) -> ColumnElement[bool]:
    """The sessions of the person but `except_hash`."""
    if except_hash is None:
        return LoginSession.person_id == person_id
    return and_(LoginSession.person_id == person_id, LoginSession.token_hash != except_hash)


async def hashes_for_person(
    session: AsyncSession, *, person_id: int, except_hash: str | None = None
) -> list[str]:
    """The token hashes of the person's sessions (but `except_hash`): read before
    `close_all_for_person`, so that their live connections can be closed after the commit."""
    rows = await session.scalars(
        select(LoginSession.token_hash).where(_of_person(person_id, except_hash))
    )
    return list(rows)


async def close_all_for_person(
    session: AsyncSession, *, person_id: int, except_hash: str | None = None
) -> int:
    """End every session of the person (but `except_hash`); returns how many were ended."""
    result = await session.execute(delete(LoginSession).where(_of_person(person_id, except_hash)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
