"""The desktop client's connection and alert state, as a pure state machine (Sans-I/O).

Nothing here touches a socket, a clock, a file or Qt. The shell (the Qt side) feeds in what
happened — the socket opened, a frame arrived, it closed, the person answered, the alarm
window is on screen, a timer fired — each with `now` (monotonic seconds), and carries out the
typed effects every method returns, in order:

    Send(message)          encode (protocol.codec.encode) and send it, if the socket is open
    Connect(after_s)       open a new connection to the config's ws_url after `after_s`
    Drop()                 close the socket (the watchdog found it dead), then call closed()
    RefetchConfig()        fetch GET /api/v1/config again before the next connect
    ShowAlarm(alert)       a new active alert: the full-screen alarm; then call shown(id)
    UpdateAlarm(alert)     its kind/order/instructions changed: replace what is shown
    EndAlarm(alert, how)   it ended ("resolved": Faran över, "cancelled": Falsklarm,
                           "withdrawn": no longer for this device): show that, then close
    FetchAlert(alert_id)   an alert vanished from a non-recovered welcome: GET
                           /api/v1/alerts/{id} and pass the document to fetched()
                           (or call fetch_failed(id))
    Stopped(reason)        stop reconnecting and say why ("revoked", "unsupported_version")
    OfflineWarning(since)  not connected for DISCONNECTED_WARNING_S: show the warning window
    OfflineCleared()       a welcome came: hide it

The rules are docs/protocol.md's: hello carries the epoch and the last contiguous seq;
`recovered: false` replaces the state; duplicates (seq <= last_seq) are ignored; `delivered`
on arrival, `displayed` once shown; after every welcome the receipts and latest answer of
each tracked alert are sent again; reconnect delays and stop codes are
`protocol.closecodes`'; no frame for 2 × heartbeat → Drop. A `test` alert shows nothing and
only receipts `delivered`.

Call `tick(now)` about once a second (heartbeat, watchdog, offline warning). After each batch
of effects, save `saved()` (JSON-able) and pass it back as `ClientState(saved=...)` on the
next start, so a restarted client resumes with the alerts it was showing.
"""

from __future__ import annotations

import json
import random as _random
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from protocol.closecodes import DISCONNECTED_WARNING_S, CloseCode, delay_after_close
from protocol.codec import alert_doc_from_dict, to_dict
from protocol.errors import ProtocolError
from protocol.messages import (
    DEFAULT_HEARTBEAT_S,
    Ack,
    AlertDoc,
    AlertEvent,
    ClientInfo,
    Hello,
    Ping,
    Pong,
    ReceiptMsg,
    Welcome,
)
from protocol.vocabulary import AlertState, Language, Mode, ReceiptState, Response

REFETCH_CONFIG_AFTER = 3  # failed connects in a row (no welcome) before fetching /config again
WATCHDOG_FACTOR = 2.0  # no frame for this × heartbeat_s: the connection is dead

ClientMessage = Hello | ReceiptMsg | Ack | Ping
EndHow = Literal["resolved", "cancelled", "withdrawn"]
StopReason = Literal["revoked", "unsupported_version"]


# ── effects ────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Send:
    message: ClientMessage


@dataclass(frozen=True, slots=True)
class Connect:
    after_s: float


@dataclass(frozen=True, slots=True)
class Drop:
    pass


@dataclass(frozen=True, slots=True)
class RefetchConfig:
    pass


@dataclass(frozen=True, slots=True)
class ShowAlarm:
    alert: AlertDoc


@dataclass(frozen=True, slots=True)
class UpdateAlarm:
    alert: AlertDoc


@dataclass(frozen=True, slots=True)
class EndAlarm:
    alert: AlertDoc
    how: EndHow


@dataclass(frozen=True, slots=True)
class FetchAlert:
    alert_id: int


@dataclass(frozen=True, slots=True)
class Stopped:
    reason: StopReason
    code: int


@dataclass(frozen=True, slots=True)
class OfflineWarning:
    since: float


@dataclass(frozen=True, slots=True)
class OfflineCleared:
    pass


Effect = (
    Send
    | Connect
    | Drop
    | RefetchConfig
    | ShowAlarm
    | UpdateAlarm
    | EndAlarm
    | FetchAlert
    | Stopped
    | OfflineWarning
    | OfflineCleared
)


class Phase(StrEnum):
    DISCONNECTED = "disconnected"  # waiting for the next connect
    HANDSHAKING = "handshaking"  # socket open, hello sent, no welcome yet
    CONNECTED = "connected"  # welcome received
    STOPPED = "stopped"  # a NEVER close code: a person must act


@dataclass
class Tracked:
    """One alert the client holds: the latest document, and what it told the server."""

    alert: AlertDoc
    displayed: bool = False
    answer: Ack | None = None

    @property
    def silent(self) -> bool:
        return self.alert.mode is Mode.TEST


_STOP_REASONS: dict[int, StopReason] = {
    int(CloseCode.UNSUPPORTED_VERSION): "unsupported_version",
}


def _shown_fields(alert: AlertDoc) -> tuple[object, ...]:
    """What the alarm shows: a change of any of these re-alerts (docs/protocol.md §5)."""
    return (alert.kind, alert.mode, alert.order, alert.instructions)


@dataclass
class ClientState:
    """The client's whole state. `token`, `client` and `language` go into every hello."""

    token: str
    client: ClientInfo
    language: Language = Language.SV
    saved: dict[str, Any] | None = None
    random: Callable[[], float] = _random.random
    phase: Phase = Phase.DISCONNECTED
    epoch: str | None = None
    last_seq: int = 0
    alerts: dict[int, Tracked] = field(default_factory=dict)
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    attempt: int = 0  # connects since the last welcome
    disconnected_since: float | None = None
    offline_warned: bool = False
    stop_reason: StopReason | None = None
    last_welcome_at: float | None = None
    _ending: dict[int, AlertDoc] = field(default_factory=dict)
    _last_frame_at: float = 0.0
    _last_ping_at: float = 0.0

    def __post_init__(self) -> None:
        if self.saved:
            self._restore(self.saved)
        self.saved = None

    # ── persistence ──────────────────────────────────────────────────────────────────────

    def saved_state(self) -> dict[str, Any]:
        """What to keep on disk so a restarted client resumes (plain JSON values)."""
        saved = {
            "epoch": self.epoch,
            "last_seq": self.last_seq,
            "alerts": [
                {
                    "alert": to_dict(t.alert),
                    "displayed": t.displayed,
                    "answer": None if t.answer is None else to_dict(t.answer),
                }
                for t in self.alerts.values()
            ],
        }
        plain: dict[str, Any] = json.loads(json.dumps(saved))  # enums become strings
        return plain

    def _restore(self, saved: dict[str, Any]) -> None:
        """Take a saved state; anything unreadable means starting afresh (epoch None), which
        the server answers with the full list of active alerts."""
        try:
            alerts = {}
            for item in saved.get("alerts", []):
                doc = alert_doc_from_dict(item["alert"], "saved")
                answer = item.get("answer")
                alerts[doc.id] = Tracked(
                    alert=doc,
                    displayed=bool(item.get("displayed")),
                    answer=None
                    if answer is None
                    else Ack(
                        alert_id=doc.id,
                        response=Response(answer["response"]),
                        note=str(answer.get("note", "")),
                        location=str(answer.get("location", "")),
                    ),
                )
            epoch, last_seq = saved.get("epoch"), saved.get("last_seq", 0)
            if not (epoch is None or isinstance(epoch, str)) or type(last_seq) is not int:
                raise ValueError("bad position")
        except (KeyError, TypeError, ValueError, AttributeError, ProtocolError):
            return
        self.alerts, self.epoch, self.last_seq = alerts, epoch, max(last_seq, 0)

    # ── connection ───────────────────────────────────────────────────────────────────────

    def start(self, now: float) -> list[Effect]:
        """The client starts (or a person asks it to try again after a stop)."""
        self.phase, self.stop_reason, self.attempt = Phase.DISCONNECTED, None, 0
        if self.disconnected_since is None:
            self.disconnected_since = now
        return [Connect(0.0)]

    def connected(self, now: float) -> list[Effect]:
        """The socket opened: say hello with where the stream stopped."""
        self.phase = Phase.HANDSHAKING
        self._last_frame_at = self._last_ping_at = now
        hello = Hello(
            token=self.token,
            epoch=self.epoch,
            last_seq=self.last_seq,
            client=self.client,
            language=self.language,
        )
        return [Send(hello)]

    def closed(self, code: int, reason: str, now: float) -> list[Effect]:
        """The connection closed (or a connect failed: pass 1006). Stop, or reconnect."""
        del reason  # clients act on the code alone; the reason is for logs
        if self.phase is Phase.STOPPED:
            return []
        if self.disconnected_since is None:
            self.disconnected_since = now
        delay = delay_after_close(code, self.attempt, self.random())
        if delay is None:
            self.phase = Phase.STOPPED
            self.stop_reason = _STOP_REASONS.get(code, "revoked")
            return [Stopped(self.stop_reason, code), *self._offline(now)]
        self.phase = Phase.DISCONNECTED
        self.attempt += 1
        effects: list[Effect] = []
        if self.attempt % REFETCH_CONFIG_AFTER == 0:
            effects.append(RefetchConfig())
        effects.append(Connect(delay))
        return effects

    def tick(self, now: float) -> list[Effect]:
        """Timers: the heartbeat ping, the dead-connection watchdog, the offline warning."""
        if self.phase in (Phase.HANDSHAKING, Phase.CONNECTED):
            if now - self._last_frame_at >= WATCHDOG_FACTOR * self.heartbeat_s:
                return [Drop()]
            if self.phase is Phase.CONNECTED and now - self._last_ping_at >= self.heartbeat_s:
                self._last_ping_at = now
                return [Send(Ping(ts=round(now, 3)))]
        return self._offline(now)

    def _offline(self, now: float) -> list[Effect]:
        since = self.disconnected_since
        if self.phase is Phase.CONNECTED or self.offline_warned or since is None:
            return []
        if now - since < DISCONNECTED_WARNING_S:
            return []
        self.offline_warned = True
        return [OfflineWarning(since)]

    def pong(self, message: Pong, now: float) -> list[Effect]:
        """A pong (or any other frame without consequences: `error`, unknown types)."""
        del message
        self._last_frame_at = now
        return []

    frame = pong  # any other frame keeps the watchdog fed, nothing more

    # ── the stream ───────────────────────────────────────────────────────────────────────

    def welcome(self, message: Welcome, now: float) -> list[Effect]:
        """Resume (recovered) or replace the state (not recovered); then resend receipts."""
        effects: list[Effect] = []
        if self.offline_warned:
            effects.append(OfflineCleared())
        self.phase, self.attempt = Phase.CONNECTED, 0
        self.disconnected_since, self.offline_warned = None, False
        self.heartbeat_s, self.last_welcome_at = message.heartbeat_s, now
        self._last_frame_at = self._last_ping_at = now
        if message.recovered:
            for event in message.events:
                if event.seq > self.last_seq:
                    effects += self._apply(event.alert, send=False)
                    self.last_seq = event.seq
        else:
            listed = {alert.id for alert in message.active}
            for alert_id in [i for i in self.alerts if i not in listed]:
                gone = self.alerts.pop(alert_id)
                self._ending[alert_id] = gone.alert
                effects.append(FetchAlert(alert_id))
                if gone.answer is not None:  # a late answer still counts (§6)
                    effects.append(Send(gone.answer))
            for alert in message.active:
                effects += self._apply(alert, send=False)
        self.epoch, self.last_seq = message.epoch, message.seq
        for tracked in self.alerts.values():
            effects += self._receipts(tracked)
        return effects

    def alert(self, message: AlertEvent, now: float) -> list[Effect]:
        """One event of the stream: ignored when a duplicate, else its document applies."""
        self._last_frame_at = now
        if self.phase is not Phase.CONNECTED or message.seq <= self.last_seq:
            return []
        self.last_seq = message.seq
        return self._apply(message.alert, send=True)

    def _apply(self, alert: AlertDoc, *, send: bool) -> list[Effect]:
        tracked = self.alerts.get(alert.id)
        if alert.state is not AlertState.ACTIVE:
            if tracked is None:
                return []  # it began and ended while we were away: nothing to show
            del self.alerts[alert.id]
            if tracked.silent:
                return []
            return [
                EndAlarm(alert, "resolved" if alert.state is AlertState.RESOLVED else "cancelled")
            ]
        effects: list[Effect] = []
        if send:
            effects.append(Send(ReceiptMsg(alert_id=alert.id, state=ReceiptState.DELIVERED)))
        if tracked is None:
            self.alerts[alert.id] = Tracked(alert=alert)
            if alert.mode is not Mode.TEST:
                effects.append(ShowAlarm(alert))
            return effects
        changed = _shown_fields(tracked.alert) != _shown_fields(alert)
        was_silent = tracked.silent
        tracked.alert = alert
        if was_silent and not tracked.silent:
            effects.append(ShowAlarm(alert))
        elif changed and not tracked.silent:
            effects.append(UpdateAlarm(alert))
        return effects

    def _receipts(self, tracked: Tracked) -> list[Effect]:
        alert_id = tracked.alert.id
        effects: list[Effect] = [Send(ReceiptMsg(alert_id=alert_id, state=ReceiptState.DELIVERED))]
        if tracked.displayed:
            effects.append(Send(ReceiptMsg(alert_id=alert_id, state=ReceiptState.DISPLAYED)))
        if tracked.answer is not None:
            effects.append(Send(tracked.answer))
        return effects

    def fetched(self, alert: AlertDoc) -> list[Effect]:
        """The document of an alert a non-recovered welcome no longer listed (FetchAlert)."""
        if self._ending.pop(alert.id, None) is None or alert.mode is Mode.TEST:
            return []
        how: EndHow = "withdrawn"
        if alert.state is AlertState.RESOLVED:
            how = "resolved"
        elif alert.state is AlertState.CANCELLED:
            how = "cancelled"
        return [EndAlarm(alert, how)]

    def fetch_failed(self, alert_id: int) -> list[Effect]:
        """The alert could not be fetched (gone, no longer visible): close it all the same."""
        alert = self._ending.pop(alert_id, None)
        if alert is None or alert.mode is Mode.TEST:
            return []
        return [EndAlarm(alert, "withdrawn")]

    # ── the person ───────────────────────────────────────────────────────────────────────

    def shown(self, alert_id: int) -> list[Effect]:
        """The alarm window of `alert_id` is on screen: `displayed`, once."""
        tracked = self.alerts.get(alert_id)
        if tracked is None or tracked.displayed or tracked.silent:
            return []
        tracked.displayed = True
        return self._send(ReceiptMsg(alert_id=alert_id, state=ReceiptState.DISPLAYED))

    def answer(
        self, alert_id: int, response: Response, note: str = "", location: str = ""
    ) -> list[Effect]:
        """The person answered; the latest answer is kept and sent again after each welcome.
        An answer to an alert that already ended is still sent (it counts for the roll call)."""
        ack = Ack(alert_id=alert_id, response=response, note=note, location=location)
        tracked = self.alerts.get(alert_id)
        if tracked is not None:
            tracked.answer = ack
        return self._send(ack)

    def _send(self, message: ClientMessage) -> list[Effect]:
        """Send now when connected; otherwise the next welcome's resend carries it."""
        return [Send(message)] if self.phase is Phase.CONNECTED else []

    # ── views for the shell ──────────────────────────────────────────────────────────────

    @property
    def visible_alerts(self) -> list[AlertDoc]:
        """The active alerts the alarm shows (not `test` ones), oldest first."""
        return [t.alert for t in self.alerts.values() if not t.silent]

    @property
    def is_connected(self) -> bool:
        return self.phase is Phase.CONNECTED
