"""A hash chain over the append-only audit log, one chain per organization.

Each entry's hash is the sha256 of a canonical JSON of its fields and the previous entry's
hash (GENESIS for seq 1), so an edited row no longer matches its hash, and a deleted or
moved row breaks the link and the seq run of the row after it.

What the chain alone can't show: deleting the LAST rows (the shortened chain is still
consistent). Storage therefore keeps the head (seq and hash of the newest entry) separately;
pass it to `verify_chain(head_hash=...)` to catch that too.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

GENESIS = "0" * 64

HASH_MISMATCH = "hash_mismatch"
PREV_MISMATCH = "prev_mismatch"
SEQ_GAP = "seq_gap"
HEAD_MISMATCH = "head_mismatch"


def canonical_time(at: datetime) -> str:
    """ISO-8601 in UTC with microseconds; a naive datetime is taken to be UTC already."""
    utc = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return utc.isoformat(timespec="microseconds")


def canonical_json(value: Mapping[str, object]) -> str:
    """The one JSON spelling of `value` that is hashed; raises TypeError/ValueError if it has
    none (non-JSON types, NaN or infinity)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def entry_hash(
    *,
    prev_hash: str,
    organization_id: int,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    details: Mapping[str, object],
) -> str:
    """The sha256 hex digest of one entry, chained to `prev_hash`."""
    document = {
        "prev_hash": prev_hash,
        "organization_id": organization_id,
        "seq": seq,
        "at": canonical_time(at),
        "actor": actor,
        "action": action,
        "target": target,
        "details": dict(details),
    }
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainEntry:
    """One stored audit entry with its link and its hash."""

    organization_id: int
    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    details: Mapping[str, object] = field(hash=False)
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainProblem:
    """Something wrong at entry `seq`: hash_mismatch, prev_mismatch, seq_gap or head_mismatch."""

    seq: int
    problem: str


def make_entry(
    *,
    previous: ChainEntry | None,
    organization_id: int,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    details: Mapping[str, object],
) -> ChainEntry:
    """The entry that follows `previous` (None: the first entry, seq 1)."""
    prev_hash = GENESIS if previous is None else previous.hash
    seq = 1 if previous is None else previous.seq + 1
    digest = entry_hash(
        prev_hash=prev_hash,
        organization_id=organization_id,
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        target=target,
        details=details,
    )
    return ChainEntry(
        organization_id=organization_id,
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        target=target,
        details=details,
        prev_hash=prev_hash,
        hash=digest,
    )


def _recomputed(entry: ChainEntry) -> str:
    return entry_hash(
        prev_hash=entry.prev_hash,
        organization_id=entry.organization_id,
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        target=entry.target,
        details=entry.details,
    )


def _hash_matches(entry: ChainEntry) -> bool:
    try:
        return _recomputed(entry) == entry.hash
    except (TypeError, ValueError):  # details no longer have a canonical JSON form
        return False


def verify_chain(
    entries: Iterable[ChainEntry], *, head_hash: str | None = None
) -> list[ChainProblem]:
    """Every problem in one organization's chain, given in storage order (by seq from 1).

    - hash_mismatch: the entry's fields don't hash to its stored hash (the row was edited);
    - prev_mismatch: its prev_hash isn't the hash of the entry before it (a row before it
      was deleted, inserted, moved or re-hashed);
    - seq_gap: its seq doesn't follow the entry before it (deleted or moved rows).

    Deleting the last rows leaves a consistent chain and can't be seen from the entries
    alone: pass the separately stored `head_hash` to get a head_mismatch for it (reported at
    the last seq seen, 0 for an empty chain).
    """
    problems: list[ChainProblem] = []
    expected_seq = 1
    previous_hash = GENESIS
    for entry in entries:
        if entry.seq != expected_seq:
            problems.append(ChainProblem(seq=entry.seq, problem=SEQ_GAP))
        if entry.prev_hash != previous_hash:
            problems.append(ChainProblem(seq=entry.seq, problem=PREV_MISMATCH))
        if not _hash_matches(entry):
            problems.append(ChainProblem(seq=entry.seq, problem=HASH_MISMATCH))
        expected_seq = entry.seq + 1
        previous_hash = entry.hash
    if head_hash is not None and head_hash != previous_hash:
        problems.append(ChainProblem(seq=expected_seq - 1, problem=HEAD_MISMATCH))
    return problems
