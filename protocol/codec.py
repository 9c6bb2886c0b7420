"""Frames to messages and back.

`encode()` writes compact JSON. `decode_client()` is the server's STRICT reader: anything but a
well-formed client message within the limits raises `ProtocolError` with a stable code.
`decode_server()` is the clients' LENIENT reader: unknown fields are ignored so a newer server
can add fields; an unknown `type` raises `protocol.unknown_type`, which clients skip.

Each message type has its own small encoder and decoder in a table keyed by class or type
name: no reflection per message (the server decodes thousands of acks a second).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from protocol.errors import ERROR_MESSAGES, ProtocolError
from protocol.fields import (
    LENIENT_JSON,
    MISSING,
    MULTILINE_BAD,
    STRICT_JSON,
    array,
    boolean,
    bounded_text,
    fail,
    frame_too_large,
    get,
    ident,
    integer,
    load,
    member,
    nullable_ident,
    nullable_string,
    number,
    only,
    opt_ident,
    opt_number,
    opt_string,
    string,
    subobject,
    word,
    wrong,
)
from protocol.messages import (
    MAX_CLIENT_FRAME,
    MAX_CLIENT_NAME,
    MAX_CLIENT_VERSION,
    MAX_EPOCH,
    MAX_LOCATION,
    MAX_NOTE,
    MAX_PLATFORM,
    MAX_TOKEN,
    SUPPORTED_VERSIONS,
    Ack,
    AlertDoc,
    AlertEvent,
    ClientInfo,
    ClientMessage,
    DeviceInfo,
    Error,
    Hello,
    Message,
    NeedHelp,
    Ping,
    Pong,
    Presence,
    PushCounts,
    ReceiptMsg,
    RollCall,
    RollCallCounts,
    ServerMessage,
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

__all__ = [
    "ERROR_MESSAGES",
    "ProtocolError",
    "alert_doc_from_dict",
    "alert_event_from_dict",
    "decode_client",
    "decode_server",
    "encode",
    "encode_bytes",
    "event_dict",
    "to_dict",
]

# ── encoding ─────────────────────────────────────────────────────────────────────────────────

_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _texts_dict(t: Texts) -> dict[str, Any]:
    return {"sv": t.sv, "en": t.en}


def _alert_dict(a: AlertDoc) -> dict[str, Any]:
    return {
        "id": a.id,
        "kind": a.kind,
        "mode": a.mode,
        "state": a.state,
        "sites": list(a.sites),
        "order": {"sv": a.order.sv, "en": a.order.en},
        "instructions": {"sv": a.instructions.sv, "en": a.instructions.en},
        "created_at": a.created_at,
        "updated_at": a.updated_at,
        "ended_at": a.ended_at,
        "created_by": a.created_by,
    }


def _event_body(e: AlertEvent) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "event": e.event,
        "at": e.at,
        "actor": e.actor,
        "changes": e.changes,
        "alert": _alert_dict(e.alert),
    }


def _counts_dict(c: RollCallCounts) -> dict[str, Any]:
    return {
        "expected": c.expected,
        "reached": c.reached,
        "not_reached": c.not_reached,
        "displayed": c.displayed,
        "answered": c.answered,
        "safe": c.safe,
        "need_help": c.need_help,
        "not_on_site": c.not_on_site,
        "targeted": c.targeted,
        "delivered": c.delivered,
        "acked": c.acked,
        "no_device": c.no_device,
    }


def _push_counts_dict(c: PushCounts) -> dict[str, Any]:
    return {
        "queued": c.queued,
        "sent": c.sent,
        "delivered": c.delivered,
        "receipted": c.receipted,
        "failed": c.failed,
    }


def _need_help_dict(n: NeedHelp) -> dict[str, Any]:
    return {
        "person_id": n.person_id,
        "person": n.person,
        "device_id": n.device_id,
        "device": n.device,
        "kind": n.kind,
        "site_id": n.site_id,
        "zone_id": n.zone_id,
        "note": n.note,
        "location": n.location,
        "at": n.at,
    }


def _client_info_dict(c: ClientInfo) -> dict[str, Any]:
    result: dict[str, Any] = {"name": c.name, "version": c.version}
    if c.platform is not None:
        result["platform"] = c.platform
    return result


def _device_dict(d: DeviceInfo) -> dict[str, Any]:
    return {"id": d.id, "kind": d.kind, "name": d.name, "site_id": d.site_id, "zone_id": d.zone_id}


def _hello_dict(m: Hello) -> dict[str, Any]:
    return {
        "type": "hello",
        "v": m.v,
        "token": m.token,
        "epoch": m.epoch,
        "last_seq": m.last_seq,
        "client": _client_info_dict(m.client),
        "language": m.language,
    }


def _receipt_dict(m: ReceiptMsg) -> dict[str, Any]:
    return {"type": "receipt", "alert_id": m.alert_id, "state": m.state}


def _ack_dict(m: Ack) -> dict[str, Any]:
    return {
        "type": "ack",
        "alert_id": m.alert_id,
        "response": m.response,
        "note": m.note,
        "location": m.location,
    }


def _ping_dict(m: Ping | Pong) -> dict[str, Any]:
    return {"type": m.TYPE} if m.ts is None else {"type": m.TYPE, "ts": m.ts}


def _welcome_dict(m: Welcome) -> dict[str, Any]:
    result = {
        "type": "welcome",
        "v": m.v,
        "recovered": m.recovered,
        "epoch": m.epoch,
        "seq": m.seq,
        "active": [_alert_dict(a) for a in m.active],
        "events": [_event_body(e) for e in m.events],
        "heartbeat_s": m.heartbeat_s,
    }
    if m.device is not None:
        result["device"] = _device_dict(m.device)
    return result


def _alert_event_dict(m: AlertEvent) -> dict[str, Any]:
    return {"type": "alert", **_event_body(m)}


def _error_dict(m: Error) -> dict[str, Any]:
    return {"type": "error", "code": m.code, "message": m.message}


def _zone_dict(z: ZoneRollCall) -> dict[str, Any]:
    return {"name": z.name, "totals": _counts_dict(z.totals)}


def _site_dict(s: SiteRollCall) -> dict[str, Any]:
    return {
        "name": s.name,
        "totals": _counts_dict(s.totals),
        "zones": {zone: _zone_dict(z) for zone, z in s.zones.items()},
        "push": _push_counts_dict(s.push),
    }


def _rollcall_dict(m: RollCall) -> dict[str, Any]:
    return {
        "type": "rollcall",
        "alert_id": m.alert_id,
        "at": m.at,
        "totals": _counts_dict(m.totals),
        "sites": {str(site): _site_dict(s) for site, s in m.sites.items()},
        "need_help": [_need_help_dict(n) for n in m.need_help],
        "not_reached_count": m.not_reached_count,
        "not_answered_count": m.not_answered_count,
        "push": _push_counts_dict(m.push),
    }


def _presence_dict(m: Presence) -> dict[str, Any]:
    return {
        "type": "presence",
        "site_id": m.site_id,
        "reachable": m.reachable,
        "unreachable": m.unreachable,
        "push": _push_counts_dict(m.push),
    }


_TO_DICT: dict[type, Callable[[Any], dict[str, Any]]] = {
    Hello: _hello_dict,
    ReceiptMsg: _receipt_dict,
    Ack: _ack_dict,
    Ping: _ping_dict,
    Welcome: _welcome_dict,
    AlertEvent: _alert_event_dict,
    Pong: _ping_dict,
    Error: _error_dict,
    RollCall: _rollcall_dict,
    Presence: _presence_dict,
    AlertDoc: _alert_dict,
    Texts: _texts_dict,
    ClientInfo: _client_info_dict,
    DeviceInfo: _device_dict,
    RollCallCounts: _counts_dict,
    PushCounts: _push_counts_dict,
    SiteRollCall: _site_dict,
    ZoneRollCall: _zone_dict,
    NeedHelp: _need_help_dict,
}

# The parts of messages that `to_dict` also writes on their own.
Document = (
    AlertDoc
    | Texts
    | ClientInfo
    | DeviceInfo
    | RollCallCounts
    | PushCounts
    | NeedHelp
    | SiteRollCall
    | ZoneRollCall
)


def to_dict(obj: Message | Document) -> dict[str, Any]:
    """The JSON-friendly form of a message (with `type`) or of a document (without)."""
    try:
        to = _TO_DICT[type(obj)]
    except KeyError:
        raise TypeError(f"not a protocol message or document: {type(obj).__name__}") from None
    return to(obj)


def event_dict(event: AlertEvent) -> dict[str, Any]:
    """An event without `type`: how it appears in `welcome.events` and in storage."""
    return _event_body(event)


def encode(message: Message) -> str:
    """One frame: compact JSON text."""
    return _ENCODER.encode(to_dict(message))


def encode_bytes(message: Message) -> bytes:
    """One frame as UTF-8 bytes."""
    return encode(message).encode("utf-8")


# ── decoding ─────────────────────────────────────────────────────────────────────────────────


def _members(enum: type[Any]) -> dict[str, Any]:
    return {member.value: member for member in enum}


_KINDS = _members(Kind)
_MODES = _members(Mode)
_ALERT_STATES = _members(AlertState)
_EVENT_TYPES = _members(EventType)
_RESPONSES = _members(Response)
_RECEIPT_STATES = _members(ReceiptState)
_DEVICE_KINDS = _members(DeviceKind)
_LANGUAGES = _members(Language)


# ── decoding: client messages (strict) ───────────────────────────────────────────────────────

_HELLO = frozenset({"type", "v", "token", "epoch", "last_seq", "client", "language"})
_CLIENT_INFO = frozenset({"name", "version", "platform"})
_RECEIPT = frozenset({"type", "alert_id", "state"})
_ACK = frozenset({"type", "alert_id", "response", "note", "location"})
_PING = frozenset({"type", "ts"})


def _hello(obj: dict[str, Any]) -> Hello:
    v = obj.get("v")
    if type(v) is int and v not in SUPPORTED_VERSIONS:
        # before the field checks: a newer client's extra fields are not the problem
        supported = ", ".join(str(n) for n in sorted(SUPPORTED_VERSIONS))
        fail("protocol.unsupported_version", f"hello.v is {v}; this server speaks {supported}")
    only(obj, _HELLO, "hello")
    v = integer(obj, "v", "hello", 0, 2**31)
    client = subobject(obj, "client", "hello")
    only(client, _CLIENT_INFO, "hello.client")
    epoch = get(obj, "epoch", "hello")
    language = obj.get("language")
    return Hello(
        v=v,
        # empty: a browser relying on the session cookie of the WebSocket handshake
        token=word(obj, "token", "hello", MAX_TOKEN, min_len=0),
        epoch=None if epoch is None else word(obj, "epoch", "hello", MAX_EPOCH),
        last_seq=integer(obj, "last_seq", "hello"),
        client=ClientInfo(
            name=_nonblank(client, "name", "hello.client", MAX_CLIENT_NAME),
            version=bounded_text(client, "version", "hello.client", MAX_CLIENT_VERSION),
            platform=None
            if client.get("platform") is None
            else bounded_text(client, "platform", "hello.client", MAX_PLATFORM),
        ),
        language=Language.SV if language is None else member(obj, "language", "hello", _LANGUAGES),
    )


def _nonblank(obj: dict[str, Any], key: str, where: str, max_len: int) -> str:
    value = bounded_text(obj, key, where, max_len)
    if not value.strip():
        fail("protocol.invalid", f"{where}.{key} is blank")
    return value


def _receipt(obj: dict[str, Any]) -> ReceiptMsg:
    only(obj, _RECEIPT, "receipt")
    return ReceiptMsg(
        alert_id=ident(obj, "alert_id", "receipt"),
        state=member(obj, "state", "receipt", _RECEIPT_STATES),
    )


def _ack(obj: dict[str, Any]) -> Ack:
    only(obj, _ACK, "ack")
    return Ack(
        alert_id=ident(obj, "alert_id", "ack"),
        response=member(obj, "response", "ack", _RESPONSES),
        note=bounded_text(obj, "note", "ack", MAX_NOTE, pattern=MULTILINE_BAD, required=False),
        location=bounded_text(obj, "location", "ack", MAX_LOCATION, required=False),
    )


def _timestamp(obj: dict[str, Any], where: str) -> int | float | None:
    """`ts`: any finite number, kept as sent (an integer stays an integer, so `pong` echoes
    `1` as `1`, not `1.0`)."""
    if opt_number(obj, "ts", where) is None:
        return None
    value: int | float = obj["ts"]
    return value


def _ping(obj: dict[str, Any]) -> Ping:
    only(obj, _PING, "ping")
    return Ping(ts=_timestamp(obj, "ping"))


_CLIENT_DECODERS: dict[str, Callable[[dict[str, Any]], ClientMessage]] = {
    "hello": _hello,
    "receipt": _receipt,
    "ack": _ack,
    "ping": _ping,
}


def _type(obj: dict[str, Any]) -> str:
    kind = obj.get("type", MISSING)
    if kind is MISSING:
        fail("protocol.invalid", "type is missing")
    if type(kind) is not str:
        wrong("frame", "type", "a string", kind)
    return kind


def decode_client(data: str | bytes | bytearray | memoryview) -> ClientMessage:
    """A client frame, strictly: raises ProtocolError on anything but a valid message."""
    size = frame_too_large(data)
    if size is not None:
        fail("protocol.too_large", f"{size} bytes; at most {MAX_CLIENT_FRAME}")
    obj = load(data, STRICT_JSON)
    kind = _type(obj)
    decoder = _CLIENT_DECODERS.get(kind)
    if decoder is None:
        fail("protocol.unknown_type", f"{kind[:40]!r} is not a client message")
    return decoder(obj)


# ── decoding: server messages (lenient) ──────────────────────────────────────────────────────


def _texts(obj: dict[str, Any], key: str, where: str) -> Texts:
    value = subobject(obj, key, where)
    where = f"{where}.{key}"
    return Texts(sv=string(value, "sv", where), en=string(value, "en", where))


def _kind(obj: dict[str, Any], where: str) -> Kind:
    """An unknown kind reads as `custom`: an alert is never dropped for its kind, and its
    order text says what to do."""
    value = get(obj, "kind", where)
    if type(value) is not str:
        wrong(where, "kind", "a string", value)
    kind: Kind = _KINDS.get(value, Kind.CUSTOM)
    return kind


def alert_doc_from_dict(obj: dict[str, Any], where: str = "alert") -> AlertDoc:
    """An AlertDoc from its JSON form (leniently, as clients read it); raises ProtocolError."""
    sites = array(obj, "sites", where)
    for site in sites:
        if type(site) is not int:
            wrong(where, "sites[]", "an integer", site)
    return AlertDoc(
        id=ident(obj, "id", where),
        kind=_kind(obj, where),
        mode=member(obj, "mode", where, _MODES),
        state=member(obj, "state", where, _ALERT_STATES),
        sites=list(sites),
        order=_texts(obj, "order", where),
        instructions=_texts(obj, "instructions", where),
        created_at=string(obj, "created_at", where),
        updated_at=string(obj, "updated_at", where),
        ended_at=opt_string(obj, "ended_at", where),
        created_by=string(obj, "created_by", where),
    )


def alert_event_from_dict(obj: dict[str, Any], where: str = "alert") -> AlertEvent:
    """An AlertEvent from its JSON form, with or without `type`; raises ProtocolError."""
    return AlertEvent(
        seq=integer(obj, "seq", where, 1),
        event=member(obj, "event", where, _EVENT_TYPES),
        at=string(obj, "at", where),
        actor=string(obj, "actor", where),
        changes=subobject(obj, "changes", where),
        alert=alert_doc_from_dict(subobject(obj, "alert", where), f"{where}.alert"),
    )


def _items(obj: dict[str, Any], key: str, where: str) -> list[tuple[str, dict[str, Any]]]:
    items = []
    for i, item in enumerate(array(obj, key, where)):
        if type(item) is not dict:
            wrong(where, f"{key}[{i}]", "an object", item)
        items.append((f"{where}.{key}[{i}]", item))
    return items


def _device(obj: dict[str, Any]) -> DeviceInfo:
    where = "welcome.device"
    return DeviceInfo(
        id=ident(obj, "id", where),
        kind=member(obj, "kind", where, _DEVICE_KINDS),
        name=string(obj, "name", where),
        site_id=ident(obj, "site_id", where),
        zone_id=opt_ident(obj, "zone_id", where),
    )


def _welcome(obj: dict[str, Any]) -> Welcome:
    heartbeat = number(obj, "heartbeat_s", "welcome")
    if heartbeat <= 0:
        fail("protocol.invalid", "welcome.heartbeat_s must be positive")
    device = obj.get("device")
    if device is not None and type(device) is not dict:
        wrong("welcome", "device", "an object", device)
    return Welcome(
        v=integer(obj, "v", "welcome", 0, 2**31),
        recovered=boolean(obj, "recovered", "welcome"),
        epoch=string(obj, "epoch", "welcome"),
        seq=integer(obj, "seq", "welcome"),
        active=[alert_doc_from_dict(a, w) for w, a in _items(obj, "active", "welcome")],
        events=[alert_event_from_dict(e, w) for w, e in _items(obj, "events", "welcome")],
        heartbeat_s=heartbeat,
        device=None if device is None else _device(device),
    )


def _pong(obj: dict[str, Any]) -> Pong:
    return Pong(ts=_timestamp(obj, "pong"))


def _error(obj: dict[str, Any]) -> Error:
    return Error(code=string(obj, "code", "error"), message=string(obj, "message", "error"))


def _counts(obj: dict[str, Any], where: str) -> RollCallCounts:
    return RollCallCounts(
        expected=integer(obj, "expected", where),
        reached=integer(obj, "reached", where),
        not_reached=integer(obj, "not_reached", where),
        displayed=integer(obj, "displayed", where),
        answered=integer(obj, "answered", where),
        safe=integer(obj, "safe", where),
        need_help=integer(obj, "need_help", where),
        not_on_site=integer(obj, "not_on_site", where),
        targeted=integer(obj, "targeted", where),
        delivered=integer(obj, "delivered", where),
        acked=integer(obj, "acked", where),
        no_device=integer(obj, "no_device", where),
    )


def _push_counts(obj: dict[str, Any], where: str) -> PushCounts:
    return PushCounts(
        queued=integer(obj, "queued", where),
        sent=integer(obj, "sent", where),
        delivered=integer(obj, "delivered", where),
        receipted=integer(obj, "receipted", where),
        failed=integer(obj, "failed", where),
    )


def _is_id(key: str) -> bool:
    return key.isascii() and key.isdigit()


def _keyed(obj: dict[str, Any], key: str, where: str) -> list[tuple[str, dict[str, Any]]]:
    """The site-id-keyed objects of `obj[key]`: (site id key, object)."""
    items = []
    for site, value in subobject(obj, key, where).items():
        if not _is_id(site):
            fail("protocol.invalid", f"{where}.{key}: {site[:20]!r} is not a site id")
        if type(value) is not dict:
            wrong(f"{where}.{key}", site, "an object", value)
        items.append((site, value))
    return items


def _zones(obj: dict[str, Any], where: str) -> dict[str, ZoneRollCall]:
    result: dict[str, ZoneRollCall] = {}
    for zone, value in subobject(obj, "zones", where).items():
        if zone != "none" and not _is_id(zone):
            fail("protocol.invalid", f"{where}.zones: {zone[:20]!r} is not a zone id or none")
        if type(value) is not dict:
            wrong(f"{where}.zones", zone, "an object", value)
        at = f"{where}.zones.{zone}"
        result[zone] = ZoneRollCall(
            name=nullable_string(value, "name", at),
            totals=_counts(subobject(value, "totals", at), f"{at}.totals"),
        )
    return result


def _site(obj: dict[str, Any], where: str) -> SiteRollCall:
    return SiteRollCall(
        name=string(obj, "name", where),
        totals=_counts(subobject(obj, "totals", where), f"{where}.totals"),
        zones=_zones(obj, where),
        push=_push_counts(subobject(obj, "push", where), f"{where}.push"),
    )


def _need_help(obj: dict[str, Any], where: str) -> NeedHelp:
    return NeedHelp(
        person_id=nullable_ident(obj, "person_id", where),
        person=nullable_string(obj, "person", where),
        device_id=ident(obj, "device_id", where),
        device=string(obj, "device", where),
        kind=member(obj, "kind", where, _DEVICE_KINDS),
        site_id=ident(obj, "site_id", where),
        zone_id=nullable_ident(obj, "zone_id", where),
        note=string(obj, "note", where),
        location=string(obj, "location", where),
        at=nullable_string(obj, "at", where),
    )


def _rollcall(obj: dict[str, Any]) -> RollCall:
    where = "rollcall"
    return RollCall(
        alert_id=ident(obj, "alert_id", where),
        at=string(obj, "at", where),
        totals=_counts(subobject(obj, "totals", where), f"{where}.totals"),
        sites={
            int(site): _site(value, f"{where}.sites.{site}")
            for site, value in _keyed(obj, "sites", where)
        },
        need_help=[_need_help(item, w) for w, item in _items(obj, "need_help", where)],
        not_reached_count=integer(obj, "not_reached_count", where),
        not_answered_count=integer(obj, "not_answered_count", where),
        push=_push_counts(subobject(obj, "push", where), f"{where}.push"),
    )


def _presence(obj: dict[str, Any]) -> Presence:
    return Presence(
        site_id=ident(obj, "site_id", "presence"),
        reachable=integer(obj, "reachable", "presence"),
        unreachable=integer(obj, "unreachable", "presence"),
        push=_push_counts(subobject(obj, "push", "presence"), "presence.push"),
    )


_SERVER_DECODERS: dict[str, Callable[[dict[str, Any]], ServerMessage]] = {
    "welcome": _welcome,
    "alert": alert_event_from_dict,
    "pong": _pong,
    "error": _error,
    "rollcall": _rollcall,
    "presence": _presence,
}


def decode_server(data: str | bytes | bytearray | memoryview) -> ServerMessage:
    """A server frame, leniently: unknown fields are ignored. Raises ProtocolError for frames
    that are not JSON objects, lack or mistype known fields, or have an unknown `type`
    (`protocol.unknown_type`: clients skip those)."""
    obj = load(data, LENIENT_JSON)
    kind = _type(obj)
    decoder = _SERVER_DECODERS.get(kind)
    if decoder is None:
        fail("protocol.unknown_type", f"{kind[:40]!r} is not a server message")
    return decoder(obj)
