import dataclasses
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from server.core.audit_chain import (
    GENESIS,
    UNKEYED,
    AuditKey,
    ChainEntry,
    ChainProblem,
    Keyring,
    canonical_json,
    canonical_time,
    entry_hash,
    make_entry,
    verify_chain,
)

ORG = 4
T0 = datetime(2025, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)
KEYS = Keyring.from_secrets("the operator's audit key, kept outside the database")
KEY = KEYS.current
FIELDS = {  # an entry from before keying: plain sha256
    "key": None,
    "prev_hash": GENESIS,
    "organization_id": ORG,
    "seq": 1,
    "at": T0,
    "actor": "person:7",
    "action": "alert.trigger",
    "target": "alert:12",
    "details": {"kind": "pdv_lockdown", "sites": [1, 2], "note": "Hus B – övervåning"},
}


def chain(length: int, *, key: AuditKey = KEY) -> list[ChainEntry]:
    entries: list[ChainEntry] = []
    previous = None
    for i in range(length):
        previous = make_entry(
            key=key,
            previous=previous,
            organization_id=ORG,
            at=T0 + timedelta(seconds=i),
            actor=f"person:{i}",
            action="alert.update",
            target="alert:12",
            details={"i": i, "text": "lås dörren"},
        )
        entries.append(previous)
    return entries


def rehash(entry: ChainEntry, key: AuditKey | None = KEY, **changes: object) -> ChainEntry:
    """The entry with `changes`, its hash recomputed with `key` as a careful forger would
    (None: as an unkeyed entry from before keying)."""
    edited = dataclasses.replace(
        entry, key_fingerprint=key.fingerprint if key else UNKEYED, **changes
    )
    fields = {f.name: getattr(edited, f.name) for f in dataclasses.fields(edited)}
    del fields["hash"], fields["key_fingerprint"]
    return dataclasses.replace(edited, hash=entry_hash(key=key, **fields))


def forge_from(entries: list[ChainEntry], index: int, key: AuditKey | None) -> list[ChainEntry]:
    """The chain with entry `index` edited and it and every later entry rehashed and relinked
    with `key`: a consistent rewrite by someone who can write the database."""
    forged = entries[:index]
    for i, entry in enumerate(entries[index:]):
        changes: dict[str, object] = {"prev_hash": forged[-1].hash if forged else GENESIS}
        if i == 0:
            changes["actor"] = "person:999"
        forged.append(rehash(entry, key, **changes))
    return forged


def test_genesis_is_64_zeros():
    """The first entry links to 64 zeros."""
    assert GENESIS == "0" * 64


def test_entry_hash_is_sha256_of_the_canonical_json():
    """The hash is sha256 over sorted, compact, non-ASCII-escaped JSON with UTC microseconds."""
    document = dict(FIELDS, at="2025-03-01T08:00:00.123456+00:00")
    del document["key"]
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert "övervåning" in canonical
    assert entry_hash(**FIELDS) == hashlib.sha256(canonical.encode()).hexdigest()


def test_entry_hash_does_not_depend_on_key_order_or_mapping_type():
    """Details' key order does not change the hash."""
    reordered = dict(FIELDS, details=dict(reversed(list(FIELDS["details"].items()))))
    assert entry_hash(**reordered) == entry_hash(**FIELDS)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("prev_hash", "1" * 64),
        ("organization_id", ORG + 1),
        ("seq", 2),
        ("at", T0 + timedelta(microseconds=1)),
        ("actor", "person:8"),
        ("action", "alert.resolve"),
        ("target", "alert:13"),
        ("details", {"kind": "evacuate", "sites": [1, 2], "note": "Hus B – övervåning"}),
    ],
)
def test_every_field_is_covered_by_the_hash(name, value):
    """Changing any single field changes the hash."""
    assert entry_hash(**dict(FIELDS, **{name: value})) != entry_hash(**FIELDS)


def test_times_are_compared_as_utc_instants():
    """The same instant in another zone, or naive UTC, hashes the same."""
    stockholm = T0.astimezone(timezone(timedelta(hours=1)))
    naive = T0.replace(tzinfo=None)
    assert entry_hash(**dict(FIELDS, at=stockholm)) == entry_hash(**FIELDS)
    assert entry_hash(**dict(FIELDS, at=naive)) == entry_hash(**FIELDS)
    assert canonical_time(datetime(2025, 1, 1)) == "2025-01-01T00:00:00.000000+00:00"


def test_details_without_a_json_form_are_refused():
    """Non-JSON details and NaN can't be hashed canonically and raise."""
    with pytest.raises(TypeError):
        entry_hash(**dict(FIELDS, details={"when": T0}))
    with pytest.raises(ValueError):
        entry_hash(**dict(FIELDS, details={"x": float("nan")}))


def test_make_entry_links_to_the_previous_entry():
    """make_entry numbers from 1 and chains to GENESIS, then to each previous hash."""
    first, second = chain(2)
    assert (first.seq, first.prev_hash) == (1, GENESIS)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert len(first.hash) == 64 and first.hash != second.hash


def test_an_intact_chain_has_no_problems():
    """A chain built by make_entry verifies clean, and so does an empty one."""
    assert verify_chain(chain(5), keys=KEYS) == []
    assert verify_chain([], keys=KEYS) == []
    assert verify_chain(iter(chain(3)), keys=KEYS) == []


def test_an_edited_row_is_a_hash_mismatch():
    """Editing a field without rehashing breaks that entry's hash."""
    entries = chain(4)
    entries[1] = dataclasses.replace(entries[1], details={"i": 1, "text": "öppna dörren"})
    assert verify_chain(entries, keys=KEYS) == [ChainProblem(seq=2, problem="hash_mismatch")]


def test_an_edited_and_rehashed_row_breaks_the_next_link():
    """Rehashing an edited row moves the problem to the next entry's prev_hash."""
    entries = chain(4)
    entries[1] = rehash(entries[1], actor="person:99")
    assert verify_chain(entries, keys=KEYS) == [ChainProblem(seq=3, problem="prev_mismatch")]


def test_an_edited_first_row_is_detected():
    """The first entry is as protected as the others."""
    entries = chain(3)
    entries[0] = dataclasses.replace(entries[0], at=T0 - timedelta(days=1))
    assert verify_chain(entries, keys=KEYS) == [ChainProblem(seq=1, problem="hash_mismatch")]


def test_a_forged_first_link_is_detected():
    """The first entry must link to GENESIS."""
    entries = chain(2)
    entries[0] = rehash(entries[0], prev_hash="f" * 64)
    problems = verify_chain(entries, keys=KEYS)
    assert ChainProblem(seq=1, problem="prev_mismatch") in problems


def test_a_deleted_row_is_a_seq_gap_and_prev_mismatch():
    """Deleting a middle row shows at the following entry."""
    entries = chain(5)
    del entries[2]
    assert verify_chain(entries, keys=KEYS) == [
        ChainProblem(seq=4, problem="seq_gap"),
        ChainProblem(seq=4, problem="prev_mismatch"),
    ]


def test_a_deleted_first_row_is_detected():
    """Deleting seq 1 shows as a gap and a broken link at seq 2."""
    entries = chain(3)[1:]
    assert verify_chain(entries, keys=KEYS) == [
        ChainProblem(seq=2, problem="seq_gap"),
        ChainProblem(seq=2, problem="prev_mismatch"),
    ]


def test_reordered_rows_are_detected():
    """Swapping two rows breaks the seq run and the links at them and at the row after."""
    entries = chain(4)
    entries[1], entries[2] = entries[2], entries[1]
    assert verify_chain(entries, keys=KEYS) == [
        ChainProblem(seq=seq, problem=problem)
        for seq in (3, 2, 4)
        for problem in ("seq_gap", "prev_mismatch")
    ]


def test_a_duplicated_row_is_detected():
    """Repeating an entry is a seq gap and broken link at the copy; the chain then resumes."""
    entries = chain(3)
    entries.insert(2, entries[1])
    assert verify_chain(entries, keys=KEYS) == [
        ChainProblem(seq=2, problem="seq_gap"),
        ChainProblem(seq=2, problem="prev_mismatch"),
    ]


def test_a_problem_is_reported_once_not_for_every_later_row():
    """After a gap the check resynchronizes on the entry seen."""
    entries = chain(8)
    del entries[3]
    assert [p.seq for p in verify_chain(entries, keys=KEYS)] == [5, 5]


def test_a_deleted_last_row_is_invisible_without_the_head():
    """Truncating the tail leaves a consistent chain; the stored head hash reveals it."""
    entries = chain(4)
    head = entries[-1].hash
    truncated = entries[:-1]
    assert verify_chain(truncated, keys=KEYS) == []
    assert verify_chain(truncated, head_hash=head, keys=KEYS) == [
        ChainProblem(seq=3, problem="head_mismatch")
    ]
    assert verify_chain(entries, head_hash=head, keys=KEYS) == []


def test_an_emptied_chain_is_caught_by_the_head():
    """Deleting every row is a head mismatch at seq 0; an empty chain's head is GENESIS."""
    assert verify_chain([], head_hash=chain(1)[0].hash, keys=KEYS) == [
        ChainProblem(seq=0, problem="head_mismatch")
    ]
    assert verify_chain([], head_hash=GENESIS, keys=KEYS) == []


def test_details_turned_unhashable_are_a_hash_mismatch():
    """A row whose details lost their JSON form is reported, not crashed on."""
    entries = chain(2)
    entries[0] = dataclasses.replace(entries[0], details={"x": object()})
    assert verify_chain(entries, keys=KEYS) == [ChainProblem(seq=1, problem="hash_mismatch")]


def test_entry_hash_with_a_key_is_the_hmac_of_the_document_with_its_fingerprint():
    """A keyed entry is HMAC-SHA256 under the key over the canonical JSON with its fingerprint."""
    document = dict(FIELDS, at="2025-03-01T08:00:00.123456+00:00", key_fingerprint=KEY.fingerprint)
    del document["key"]
    expected = hmac.new(KEY.secret, canonical_json(document).encode(), hashlib.sha256)
    assert entry_hash(**dict(FIELDS, key=KEY)) == expected.hexdigest()
    assert entry_hash(**dict(FIELDS, key=KEY)) != entry_hash(**FIELDS)


def test_keys_are_derived_with_a_label_and_named_by_a_fingerprint():
    """The derived key is not the configured secret, and its id does not reveal it."""
    key = AuditKey.derive("s" * 40)
    assert key.secret != b"s" * 40 and len(key.secret) == 32
    assert len(key.fingerprint) == 16 and key.fingerprint not in key.secret.hex()
    assert (
        AuditKey.derive("s" * 40) == key
        and AuditKey.derive("t" * 40).fingerprint != key.fingerprint
    )
    assert str(key.secret) not in repr(key)


def test_a_consistent_rewrite_without_the_key_is_detected():
    """Rewriting from seq 2 on with plain sha256 (as the unkeyed chain allowed) is caught."""
    forged = forge_from(chain(4), 1, None)
    assert verify_chain(forged, keys=KEYS) == [
        ChainProblem(seq=seq, problem="unkeyed_entry") for seq in (2, 3, 4)
    ]
    everything = forge_from(chain(4), 0, None)  # every row unkeyed: reads as a pre-keying log
    assert verify_chain(everything, keys=KEYS) == []


def test_a_consistent_rewrite_with_another_key_is_detected():
    """A forger's own key is unknown; claiming our key's id does not give its HMAC."""
    other = AuditKey.derive("a guess")
    assert verify_chain(forge_from(chain(3), 1, other), keys=KEYS) == [
        ChainProblem(seq=2, problem="unknown_key"),
        ChainProblem(seq=3, problem="unknown_key"),
    ]
    impostor = AuditKey(secret=other.secret, fingerprint=KEY.fingerprint)
    assert verify_chain(forge_from(chain(3), 1, impostor), keys=KEYS) == [
        ChainProblem(seq=2, problem="hash_mismatch"),
        ChainProblem(seq=3, problem="hash_mismatch"),
    ]


def test_an_unkeyed_prefix_from_before_keying_still_verifies():
    """Old unkeyed entries verify, and keyed entries may follow them."""
    first, second = chain(2)
    old = [rehash(first, None)]  # as written before keying
    old.append(rehash(second, None, prev_hash=old[0].hash))
    nxt = make_entry(
        key=KEY,
        previous=old[-1],
        organization_id=ORG,
        at=T0,
        actor="person:2",
        action="alert.update",
        target="",
        details={},
    )
    assert verify_chain([*old, nxt], keys=KEYS) == []
    assert verify_chain([*old, nxt, rehash(nxt, None, seq=4, prev_hash=nxt.hash)], keys=KEYS) == [
        ChainProblem(seq=4, problem="unkeyed_entry")
    ]


def test_entries_under_a_previous_key_verify_after_rotation():
    """After rotation the old entries verify when the old key is among the previous keys."""
    old_keys = Keyring.from_secrets("old secret")
    entries = chain(2, key=old_keys.current)
    rotated = Keyring.from_secrets("new secret", previous=["old secret"])
    assert verify_chain(entries, keys=rotated) == []
    assert verify_chain(entries, keys=Keyring.from_secrets("new secret")) == [
        ChainProblem(seq=1, problem="unknown_key"),
        ChainProblem(seq=2, problem="unknown_key"),
    ]
