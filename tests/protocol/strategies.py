"""Hypothesis strategies for every protocol message, within the limits the server accepts."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from protocol.messages import (
    MAX_CLIENT_NAME,
    MAX_CLIENT_VERSION,
    MAX_EPOCH,
    MAX_ID,
    MAX_LOCATION,
    MAX_NOTE,
    MAX_PLATFORM,
    MAX_TOKEN,
    PROTOCOL_VERSION,
    Ack,
    AlertDoc,
    AlertEvent,
    ClientInfo,
    DeviceInfo,
    Error,
    Hello,
    NeedHelp,
    Ping,
    Pong,
    Presence,
    PushCounts,
    ReceiptMsg,
    RollCall,
    RollCallCounts,
    SiteRollCall,
    Texts,
    Welcome,
    ZoneRollCall,
)
from protocol.vocabulary import (
    AlertState,
    DeviceKind,
    EventType,
    Kind,
    Language,
    Mode,
    ReceiptState,
    Response,
)

# any character but surrogates and control characters
_PRINTABLE = st.characters(exclude_categories=("Cs", "Cc"))


def line(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    """One line of text: no control characters."""
    return st.text(_PRINTABLE, min_size=min_size, max_size=max_size)


def note(max_size: int = MAX_NOTE) -> st.SearchStrategy[str]:
    """Multi-line text: tab, line feed and carriage return allowed."""
    return st.text(_PRINTABLE | st.sampled_from("\t\n\r"), max_size=max_size)


def word(max_size: int, min_size: int = 1) -> st.SearchStrategy[str]:
    """Printable ASCII without spaces (tokens, epochs)."""
    ascii_printable = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
    return st.text(ascii_printable, min_size=min_size, max_size=max_size)


ids = st.integers(1, MAX_ID)
seqs = st.integers(0, MAX_ID)
counts = st.integers(0, 10**6)
# any finite number; an integer stays an integer through a round trip (`pong` echoes it)
timestamps = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53)
iso_times = st.datetimes().map(lambda d: d.isoformat() + "+00:00")
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | line(20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(line(10), inner, max_size=3),
    max_leaves=8,
)

client_infos = st.builds(
    ClientInfo,
    name=line(MAX_CLIENT_NAME, min_size=1).filter(str.strip),
    version=line(MAX_CLIENT_VERSION),
    platform=st.none() | line(MAX_PLATFORM),
)
hellos = st.builds(
    Hello,
    v=st.just(PROTOCOL_VERSION),
    token=word(MAX_TOKEN, min_size=0),
    epoch=st.none() | word(MAX_EPOCH),
    last_seq=seqs,
    client=client_infos,
    language=st.sampled_from(Language),
)
receipts = st.builds(ReceiptMsg, alert_id=ids, state=st.sampled_from(ReceiptState))
acks = st.builds(
    Ack,
    alert_id=ids,
    response=st.sampled_from(Response),
    note=note(),
    location=line(MAX_LOCATION),
)
pings = st.builds(Ping, ts=st.none() | timestamps)
client_messages = st.one_of(hellos, receipts, acks, pings)

texts = st.builds(Texts, sv=note(50), en=note(50))
alert_docs = st.builds(
    AlertDoc,
    id=ids,
    kind=st.sampled_from(Kind),
    mode=st.sampled_from(Mode),
    state=st.sampled_from(AlertState),
    sites=st.lists(ids, max_size=4),
    order=texts,
    instructions=texts,
    created_at=iso_times,
    updated_at=iso_times,
    ended_at=st.none() | iso_times,
    created_by=line(30),
)
alert_events = st.builds(
    AlertEvent,
    seq=ids,
    event=st.sampled_from(EventType),
    at=iso_times,
    actor=line(30),
    changes=st.dictionaries(line(10), json_values, max_size=3),
    alert=alert_docs,
)
devices = st.builds(
    DeviceInfo,
    id=ids,
    kind=st.sampled_from(DeviceKind),
    name=line(50),
    site_id=ids,
    zone_id=st.none() | ids,
)
welcomes = st.builds(
    Welcome,
    v=st.just(PROTOCOL_VERSION),
    recovered=st.booleans(),
    epoch=word(MAX_EPOCH),
    seq=seqs,
    active=st.lists(alert_docs, max_size=3),
    events=st.lists(alert_events, max_size=3),
    heartbeat_s=st.floats(min_value=0.001, max_value=3600),
    device=st.none() | devices,
)
roll_call_counts = st.builds(
    RollCallCounts,
    expected=counts,
    reached=counts,
    not_reached=counts,
    displayed=counts,
    answered=counts,
    safe=counts,
    need_help=counts,
    not_on_site=counts,
    targeted=counts,
    delivered=counts,
    acked=counts,
    no_device=counts,
)
push_counts = st.builds(
    PushCounts, queued=counts, sent=counts, delivered=counts, receipted=counts, failed=counts
)
zone_keys = st.just("none") | ids.map(str)
need_helps = st.builds(
    NeedHelp,
    person_id=st.none() | ids,
    person=st.none() | line(50),
    device_id=ids,
    device=line(50),
    kind=st.sampled_from(DeviceKind),
    site_id=ids,
    zone_id=st.none() | ids,
    note=note(),
    location=line(MAX_LOCATION),
    at=st.none() | iso_times,
)
zone_roll_calls = st.builds(ZoneRollCall, name=st.none() | line(50), totals=roll_call_counts)
site_roll_calls = st.builds(
    SiteRollCall,
    name=line(50),
    totals=roll_call_counts,
    zones=st.dictionaries(zone_keys, zone_roll_calls, max_size=3),
    push=push_counts,
)
roll_calls = st.builds(
    RollCall,
    alert_id=ids,
    at=iso_times,
    totals=roll_call_counts,
    sites=st.dictionaries(ids, site_roll_calls, max_size=4),
    need_help=st.lists(need_helps, max_size=3),
    not_reached_count=counts,
    not_answered_count=counts,
    push=push_counts,
)
presences = st.builds(Presence, site_id=ids, reachable=counts, unreachable=counts, push=push_counts)
pongs = st.builds(Pong, ts=st.none() | timestamps)
errors = st.builds(Error, code=line(40), message=note(200))
server_messages = st.one_of(welcomes, alert_events, pongs, errors, roll_calls, presences)
