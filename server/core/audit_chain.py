"""A keyed hash chain over the append-only audit log, one chain per organization.

Each entry's hash is the HMAC-SHA256, under the audit key, of a canonical JSON of its fields,
the key's id and the previous entry's hash (GENESIS for seq 1), so an edited row no longer
matches its hash, and a deleted or moved row breaks the link and the seq run of the row after
it. The key is kept outside the database (settings `audit_key`, else derived from
`secret_key`): whoever can write the database but lacks the key cannot rewrite the chain
consistently, not even from the edited row onwards.

Entries written before the chain was keyed have key_fingerprint "" and a plain sha256 (the
same document without key_fingerprint). They still verify, but only as the chain's prefix: an
unkeyed entry after a keyed one is an `unkeyed_entry` problem, so a forger cannot fall back to
unkeyed hashes. After rotation, older entries name their key by its fingerprint (which never
reveals the key); verification takes the current key and the previous ones (`unknown_key`
when an entry's key is not among them).

What the chain alone can't show: deleting the LAST rows (the shortened chain is still
consistent). Storage therefore keeps the head (seq and hash of the newest entry) separately;
pass it to `verify_chain(head_hash=...)` to catch that too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

GENESIS = "0" * 64
UNKEYED = ""  # the key_fingerprint of entries written before the chain was keyed

HASH_MISMATCH = "hash_mismatch"
PREV_MISMATCH = "prev_mismatch"
SEQ_GAP = "seq_gap"
HEAD_MISMATCH = "head_mismatch"
UNKNOWN_KEY = "unknown_key"
UNKEYED_ENTRY = "unkeyed_entry"

# The development secret_key, from which the development audit key is derived; production
# refuses it (server/settings.py).
DEVELOPMENT_SECRET = "change-me-development-only"

KEY_LABEL = b"pdv-alert audit chain key v1"
FINGERPRINT_LABEL = b"pdv-alert audit key fingerprint v1"
FINGERPRINT_LENGTH = 16


@dataclass(frozen=True)
class AuditKey:
    """An HMAC key and its public id (a fingerprint: it names the key, never reveals it)."""

    secret: bytes = field(repr=False)
    fingerprint: str

    @classmethod
    def derive(cls, material: str) -> AuditKey:
        """The key derived from a configured secret with a labelled HMAC, so the same secret
        used elsewhere never yields the same bytes."""
        secret = hmac.new(material.encode("utf-8"), KEY_LABEL, hashlib.sha256).digest()
        digest = hmac.new(secret, FINGERPRINT_LABEL, hashlib.sha256).hexdigest()
        return cls(secret=secret, fingerprint=digest[:FINGERPRINT_LENGTH])


@dataclass(frozen=True)
class Keyring:
    """The key new entries are written with, and the previous ones older entries may name."""

    current: AuditKey
    previous: tuple[AuditKey, ...] = ()

    @classmethod
    def from_secrets(cls, current: str, previous: Sequence[str] = ()) -> Keyring:
        return cls(AuditKey.derive(current), tuple(AuditKey.derive(p) for p in previous))

    def find(self, fingerprint: str) -> AuditKey | None:
        keys = (self.current, *self.previous)
        return next((key for key in keys if key.fingerprint == fingerprint), None)


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
    key: AuditKey | None,
    prev_hash: str,
    organization_id: int,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    details: Mapping[str, object],
) -> str:
    """The HMAC-SHA256 hex digest of one entry under `key`, chained to `prev_hash`; with key
    None the plain sha256 of entries from before keying (the document without
    key_fingerprint)."""
    document: dict[str, object] = {
        "prev_hash": prev_hash,
        "organization_id": organization_id,
        "seq": seq,
        "at": canonical_time(at),
        "actor": actor,
        "action": action,
        "target": target,
        "details": dict(details),
    }
    if key is None:
        return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()
    document["key_fingerprint"] = key.fingerprint
    message = canonical_json(document).encode("utf-8")
    return hmac.new(key.secret, message, hashlib.sha256).hexdigest()


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
    key_fingerprint: str = UNKEYED


@dataclass(frozen=True)
class ChainProblem:
    """Something wrong at entry `seq`: hash_mismatch, prev_mismatch, seq_gap, unknown_key,
    unkeyed_entry or head_mismatch."""

    seq: int
    problem: str


def make_entry(
    *,
    key: AuditKey,
    previous: ChainEntry | None,
    organization_id: int,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    details: Mapping[str, object],
) -> ChainEntry:
    """The entry that follows `previous` (None: the first entry, seq 1), keyed with `key`."""
    prev_hash = GENESIS if previous is None else previous.hash
    seq = 1 if previous is None else previous.seq + 1
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
        key_fingerprint=key.fingerprint,
    )


def _recomputed(entry: ChainEntry, key: AuditKey | None) -> str:
    return entry_hash(
        key=key,
        prev_hash=entry.prev_hash,
        organization_id=entry.organization_id,
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        target=entry.target,
        details=entry.details,
    )


def _hash_matches(entry: ChainEntry, key: AuditKey | None) -> bool:
    try:
        return hmac.compare_digest(_recomputed(entry, key), entry.hash)
    except (TypeError, ValueError):  # details no longer have a canonical JSON form
        return False


def _key_problems(entry: ChainEntry, keys: Keyring, *, keyed_before: bool) -> list[str]:
    """The entry's problems with its key and hash."""
    if entry.key_fingerprint == UNKEYED:
        problems = [UNKEYED_ENTRY] if keyed_before else []
        return problems + ([] if _hash_matches(entry, None) else [HASH_MISMATCH])
    key = keys.find(entry.key_fingerprint)
    if key is None:
        return [UNKNOWN_KEY]
    return [] if _hash_matches(entry, key) else [HASH_MISMATCH]


def verify_chain(
    entries: Iterable[ChainEntry], *, keys: Keyring, head_hash: str | None = None
) -> list[ChainProblem]:
    """Every problem in one organization's chain, given in storage order (by seq from 1).

    - hash_mismatch: the entry's fields don't hash to its stored hash (the row was edited);
    - prev_mismatch: its prev_hash isn't the hash of the entry before it (a row before it
      was deleted, inserted, moved or re-hashed);
    - seq_gap: its seq doesn't follow the entry before it (deleted or moved rows);
    - unknown_key: it names a key that is neither the current nor a previous one (a forger's
      key, or a previous key missing from the settings);
    - unkeyed_entry: it is unkeyed but follows a keyed entry (only entries from before keying
      may be unkeyed).

    Deleting the last rows leaves a consistent chain and can't be seen from the entries
    alone: pass the separately stored `head_hash` to get a head_mismatch for it (reported at
    the last seq seen, 0 for an empty chain).
    """
    problems: list[ChainProblem] = []
    expected_seq = 1
    previous_hash = GENESIS
    keyed_before = False
    for entry in entries:
        if entry.seq != expected_seq:
            problems.append(ChainProblem(seq=entry.seq, problem=SEQ_GAP))
        if entry.prev_hash != previous_hash:
            problems.append(ChainProblem(seq=entry.seq, problem=PREV_MISMATCH))
        problems.extend(
            ChainProblem(seq=entry.seq, problem=problem)
            for problem in _key_problems(entry, keys, keyed_before=keyed_before)
        )
        keyed_before = keyed_before or entry.key_fingerprint != UNKEYED
        expected_seq = entry.seq + 1
        previous_hash = entry.hash
    if head_hash is not None and head_hash != previous_hash:
        problems.append(ChainProblem(seq=expected_seq - 1, problem=HEAD_MISMATCH))
    return problems
