"""The append-only, hash-chained audit log (chain rules in server/core/audit_chain.py), keyed
with the session's audit keyring (server/storage/database.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.audit_chain import (
    GENESIS,
    HEAD_MISMATCH,
    UNKEYED,
    ChainEntry,
    ChainProblem,
    Keyring,
    entry_hash,
    verify_chain,
)
from server.storage.database import AUDIT_KEYS
from server.storage.tables import AuditEntry, Organization


def _keyring(session: AsyncSession) -> Keyring:
    keys = session.info.get(AUDIT_KEYS)
    if not isinstance(keys, Keyring):
        raise RuntimeError("the session has no audit keyring: open it with Database.session()")
    return keys


async def record(
    session: AsyncSession,
    *,
    organization_id: int,
    actor: str,
    action: str,
    at: datetime,
    target: str = "",
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction; the organization row is the chain head."""
    head = (
        await session.execute(
            update(Organization)
            .where(Organization.id == organization_id)
            .values(audit_seq=Organization.audit_seq + 1)
            .returning(Organization.audit_seq, Organization.audit_head)
        )
    ).one()
    seq, prev_hash = int(head.audit_seq), head.audit_head
    details = dict(details or {})
    key = _keyring(session).current
    digest = entry_hash(
        key=key,
        prev_hash=prev_hash,
        organization_id=organization_id,
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        target=target,
        details=details,
    )
    entry = AuditEntry(
        organization_id=organization_id,
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        target=target,
        details=details,
        prev_hash=prev_hash,
        hash=digest,
        key_fingerprint=key.fingerprint,
    )
    session.add(entry)
    await session.execute(
        update(Organization).where(Organization.id == organization_id).values(audit_head=digest)
    )
    await session.flush()
    return entry


async def search(
    session: AsyncSession,
    *,
    organization_id: int,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_seq: int | None = None,
    limit: int = 100,
) -> Sequence[AuditEntry]:
    """Newest first, filtered; page with `before_seq`."""
    query = select(AuditEntry).where(AuditEntry.organization_id == organization_id)
    if action:
        query = query.where(AuditEntry.action == action)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if target:
        query = query.where(AuditEntry.target == target)
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until)
    if before_seq:
        query = query.where(AuditEntry.seq < before_seq)
    result = await session.scalars(query.order_by(AuditEntry.seq.desc()).limit(limit))
    return result.all()


@dataclass(frozen=True)
class Verification:
    """`unkeyed`: entries from before the chain was keyed (the prefix seq 1..unkeyed); `head`:
    the stored head (seq, hash) to write down and compare with a later verification."""

    organization_id: int
    entries: int
    problems: list[ChainProblem]
    unkeyed: int = 0
    head: tuple[int, str] = (0, GENESIS)

    @property
    def ok(self) -> bool:
        return not self.problems


async def verify(session: AsyncSession, *, organization_id: int) -> Verification:
    """Check every entry's keyed hash and link, and that the chain ends at the stored head."""
    rows = (
        await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.organization_id == organization_id)
            .order_by(AuditEntry.seq)
        )
    ).all()
    problems = verify_chain(
        (
            ChainEntry(
                organization_id=row.organization_id,
                seq=row.seq,
                at=row.at,
                actor=row.actor,
                action=row.action,
                target=row.target,
                details=row.details,
                prev_hash=row.prev_hash,
                hash=row.hash,
                key_fingerprint=row.key_fingerprint,
            )
            for row in rows
        ),
        keys=_keyring(session),
    )
    org = await session.get_one(Organization, organization_id)
    last_seq, last_hash = (rows[-1].seq, rows[-1].hash) if rows else (0, GENESIS)
    if (last_seq, last_hash) != (org.audit_seq, org.audit_head):
        problems.append(ChainProblem(seq=org.audit_seq, problem=HEAD_MISMATCH))
    return Verification(
        organization_id=organization_id,
        entries=len(rows),
        problems=problems,
        unkeyed=sum(1 for row in rows if row.key_fingerprint == UNKEYED),
        head=(int(org.audit_seq), org.audit_head),
    )
