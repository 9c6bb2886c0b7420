"""The audit log: search it and verify its hash chain (Action.VIEW_AUDIT, organization level).

    GET /audit?action=&actor=&target=&since=&until=&before_seq=&limit=
        → {"entries": [{"seq", "at", "actor", "action", "target", "details", "hash"}],
           "next_before_seq": int | None}      newest first; None when there is no more
    GET /audit/verify → {"ok", "entries", "unkeyed", "head": {"seq", "hash"},
                         "problems": [{"seq", "problem"}]}
        `unkeyed`: entries from before the chain was keyed (its prefix); `head`: write it
        down to compare with a later verification (catches a truncated chain)

`since`/`until` are ISO-8601; a time without an offset is taken as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from protocol.messages import MAX_SEQ
from server.api.deps import CurrentCaller, SessionDep
from server.services import audit
from server.storage.tables import AuditEntry

router = APIRouter(prefix="/audit", tags=["audit"])


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def entry_document(entry: AuditEntry) -> dict[str, Any]:
    return {
        "seq": int(entry.seq),
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "details": dict(entry.details or {}),
        "hash": entry.hash,
    }


@router.get("")
async def search_audit(
    session: SessionDep,
    caller: CurrentCaller,
    action: Annotated[str | None, Query(max_length=60)] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    target: Annotated[str | None, Query(max_length=100)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_seq: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Audit entries, newest first, filtered; page with `next_before_seq`."""
    page = await audit.search(
        session=session,
        who=caller,
        action=action,
        actor=actor,
        target=target,
        since=_utc(since),
        until=_utc(until),
        before_seq=before_seq,
        limit=limit,
    )
    return {
        "entries": [entry_document(e) for e in page.entries],
        "next_before_seq": page.next_before_seq,
    }


@router.get("/verify")
async def verify_audit(session: SessionDep, caller: CurrentCaller) -> dict[str, Any]:
    """Check every entry's keyed hash and link, and the stored chain head."""
    result = await audit.verify(session=session, who=caller)
    seq, digest = result.head
    return {
        "ok": result.ok,
        "entries": result.entries,
        "unkeyed": result.unkeyed,
        "head": {"seq": seq, "hash": digest},
        "problems": [{"seq": p.seq, "problem": p.problem} for p in result.problems],
    }
