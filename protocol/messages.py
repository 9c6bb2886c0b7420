"""The messages server and clients exchange over the WebSocket, as frozen dataclasses.

Every frame is one JSON text object whose `type` names the message (`TYPE` below).
`docs/protocol.md` is the authority on the wire contract; `protocol.codec` turns these classes
into frames and back. `Ping.ts`, `Pong.ts`, `ClientInfo.platform` and `Welcome.device` are
left out of a frame when None; other None values are written as null. The Python default of
`v` is a convenience: on the wire, `v` is always required.

    client → server: hello, receipt, ack, ping
    server → client: welcome, alert, pong, error; dashboards also rollcall, presence
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

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

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = frozenset({PROTOCOL_VERSION})

# Limits of client frames; the server rejects anything beyond them. Every client message
# within these field limits fits in MAX_CLIENT_FRAME (a test proves it).
MAX_CLIENT_FRAME = 4096  # bytes of one client frame (UTF-8)
MAX_TOKEN = 200  # printable ASCII, no spaces; may be empty (browser: session cookie)
MAX_EPOCH = 32  # printable ASCII (the organization's epoch, String(32))
MAX_CLIENT_NAME = 100
MAX_CLIENT_VERSION = 100
MAX_PLATFORM = 100
MAX_NOTE = 500  # characters (code points); may hold line breaks
MAX_LOCATION = 200  # characters (code points); one line
# Ranges of the database columns: ids are 32-bit signed, seqs 64-bit signed (a test checks
# the tables agree). An id is 1..MAX_ID, a seq 0..MAX_SEQ.
MAX_ID = 2**31 - 1
MAX_SEQ = 2**63 - 1

# Liveness (seconds); the server's settings may choose other values and tells clients the
# application heartbeat in `welcome.heartbeat_s`.
DEFAULT_HEARTBEAT_S = 20.0  # app heartbeat: client `ping` interval
WS_PING_INTERVAL_S = 20.0  # WebSocket-level ping from the server
HELLO_TIMEOUT_S = 10.0  # the first frame must be `hello` within this time (else close 4004)


@dataclass(frozen=True, slots=True, kw_only=True)
class Texts:
    """One text in both languages."""

    sv: str
    en: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientInfo:
    """Which client program speaks: name and version, optionally the platform."""

    name: str
    version: str
    platform: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertDoc:
    """An alert as clients see it; the same shape the server stores in each event."""

    id: int
    kind: Kind
    mode: Mode
    state: AlertState
    sites: list[int]
    order: Texts
    instructions: Texts
    created_at: str  # ISO-8601, UTC
    updated_at: str
    ended_at: str | None
    created_by: str  # actor reference, e.g. "person:12"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceInfo:
    """The connected device as the server knows it (absent for person sessions)."""

    id: int
    kind: DeviceKind
    name: str
    site_id: int
    zone_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RollCallCounts:
    """The roll call of one alert counted over entries, not devices: an entry is a person
    (with the best status of their devices) or a device without a person. `expected` ≥
    `reached` ≥ `displayed` ≥ `answered` = `safe` + `need_help` + `not_on_site`;
    `not_reached` = `expected` - `reached`. `targeted`, `delivered` and `acked` are the
    protocol's original names for `expected`, `reached` and `answered` (the same numbers).
    `no_device` ≤ `not_reached`: the persons not reached because no device of theirs receives
    the alert (they hold a role at the site but have enrolled none there)."""

    expected: int
    reached: int
    not_reached: int
    displayed: int
    answered: int
    safe: int
    need_help: int
    not_on_site: int
    targeted: int
    delivered: int
    acked: int
    no_device: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PushCounts:
    """How many devices' latest push stands at each `PushState` (devices that were never
    pushed are in none of them)."""

    queued: int
    sent: int
    delivered: int
    receipted: int
    failed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class NeedHelp:
    """One entry asking for help: its latest "need help" answer and the device that sent it
    (`person_id`/`person` None: a device without a person)."""

    person_id: int | None
    person: str | None
    device_id: int
    device: str
    kind: DeviceKind
    site_id: int
    zone_id: int | None
    note: str
    location: str
    at: str | None  # ISO-8601, UTC: when the answer came


# ── client → server ──────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello:
    """The first frame: who I am and where my event stream stopped."""

    TYPE: ClassVar[str] = "hello"
    v: int = PROTOCOL_VERSION
    token: str  # a device token (pdvd_…), a person session token (pdvs_…), or "": the cookie
    epoch: str | None  # None: never connected before
    last_seq: int  # the last contiguous seq applied from the stream; 0 when none
    client: ClientInfo
    language: Language = Language.SV


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptMsg:
    """The alert reached this device (`delivered`) or is on its screen (`displayed`)."""

    TYPE: ClassVar[str] = "receipt"
    alert_id: int
    state: ReceiptState


@dataclass(frozen=True, slots=True, kw_only=True)
class Ack:
    """The person's answer; a later ack replaces the response."""

    TYPE: ClassVar[str] = "ack"
    alert_id: int
    response: Response
    note: str = ""
    location: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping:
    """Application heartbeat; the server answers `pong` with the same `ts`."""

    TYPE: ClassVar[str] = "ping"
    ts: int | float | None = None  # any number; an integer stays an integer


# ── server → client ──────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertEvent:
    """One event of the organization's stream (`type: "alert"`). In `welcome.events` the same
    object appears without its `type`."""

    TYPE: ClassVar[str] = "alert"
    seq: int
    event: EventType
    at: str  # ISO-8601, UTC
    actor: str
    changes: dict[str, Any]
    alert: AlertDoc  # the alert right after the event


@dataclass(frozen=True, slots=True, kw_only=True)
class Welcome:
    """The answer to `hello`: the stream position, the active alerts and missed events."""

    TYPE: ClassVar[str] = "welcome"
    v: int = PROTOCOL_VERSION
    recovered: bool  # True: `events` holds every missed event; False: rely on `active`
    epoch: str
    seq: int  # the stream position `active` reflects; the client's new last_seq
    active: list[AlertDoc]
    events: list[AlertEvent]
    heartbeat_s: float  # send `ping` this often
    device: DeviceInfo | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Pong:
    """The answer to `ping`, echoing its `ts` exactly (`1` comes back as `1`, not `1.0`)."""

    TYPE: ClassVar[str] = "pong"
    ts: int | float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Error:
    """Something the client sent was refused; `code` is stable, `message` is for people."""

    TYPE: ClassVar[str] = "error"
    code: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoneRollCall:
    """The roll call of one zone of a site; `name` is None for devices without a zone."""

    name: str | None
    totals: RollCallCounts


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteRollCall:
    """The roll call of one site, in total and per zone (keyed by zone id as a string, or
    "none" for devices without a zone)."""

    name: str
    totals: RollCallCounts
    zones: dict[str, ZoneRollCall]
    push: PushCounts  # the site's devices by the state of their latest push of the alert


@dataclass(frozen=True, slots=True, kw_only=True)
class RollCall:
    """Dashboards: the roll call of one alert at `at`, in total and per site (keys are site
    ids) and zone; the entries asking for help in full (oldest answer first), the others only
    counted. The same structure as GET /api/v1/alerts/{id}/rollcall, which adds the lists of
    who is not reached and who has not answered (server/core/rollcall.py computes both)."""

    TYPE: ClassVar[str] = "rollcall"
    alert_id: int
    at: str  # ISO-8601, UTC
    totals: RollCallCounts
    sites: dict[int, SiteRollCall]
    need_help: list[NeedHelp]
    not_reached_count: int
    not_answered_count: int
    push: PushCounts  # the devices of `sites` by the state of their latest push of the alert


@dataclass(frozen=True, slots=True, kw_only=True)
class Presence:
    """Dashboards: how many of a site's devices are reachable right now (a live connection,
    or a push registration whose latest push got through) and how many not, and the site's
    devices by the state of their latest push."""

    TYPE: ClassVar[str] = "presence"
    site_id: int
    reachable: int
    unreachable: int
    push: PushCounts


ClientMessage = Hello | ReceiptMsg | Ack | Ping
ServerMessage = Welcome | AlertEvent | Pong | Error | RollCall | Presence
Message = ClientMessage | ServerMessage

CLIENT_TYPES: dict[str, type[ClientMessage]] = {
    cls.TYPE: cls for cls in (Hello, ReceiptMsg, Ack, Ping)
}
SERVER_TYPES: dict[str, type[ServerMessage]] = {
    cls.TYPE: cls for cls in (Welcome, AlertEvent, Pong, Error, RollCall, Presence)
}
