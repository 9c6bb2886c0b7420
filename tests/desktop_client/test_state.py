"""The desktop client's pure state machine (desktop_client/state.py)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import assume, given
from hypothesis import strategies as st

from desktop_client.state import (
    ClientState,
    Connect,
    Drop,
    Effect,
    EndAlarm,
    FetchAlert,
    OfflineCleared,
    OfflineWarning,
    Phase,
    RefetchConfig,
    Send,
    ShowAlarm,
    Stopped,
    UpdateAlarm,
)
from protocol.messages import (
    Ack,
    AlertDoc,
    AlertEvent,
    ClientInfo,
    Hello,
    Ping,
    Pong,
    ReceiptMsg,
    Texts,
    Welcome,
)
from protocol.vocabulary import AlertState, EventType, Kind, Mode, ReceiptState, Response

CLIENT = ClientInfo(name="pdv-alert-desktop", version="0.1.0")
T = "2025-03-01T08:00:00+00:00"


def doc(
    alert_id: int = 7,
    *,
    state: AlertState = AlertState.ACTIVE,
    mode: Mode = Mode.ACTUAL,
    order: str = "INRYMNING",
    kind: Kind = Kind.PDV_LOCKDOWN,
) -> AlertDoc:
    return AlertDoc(
        id=alert_id,
        kind=kind,
        mode=mode,
        state=state,
        sites=[1],
        order=Texts(sv=order, en=order),
        instructions=Texts(sv="Lås dörren", en="Lock the door"),
        created_at=T,
        updated_at=T,
        ended_at=None if state is AlertState.ACTIVE else T,
        created_by="person:1",
    )


def event(seq: int, alert: AlertDoc, name: EventType = EventType.UPDATED) -> AlertEvent:
    return AlertEvent(seq=seq, event=name, at=T, actor="person:1", changes={}, alert=alert)


def welcome(
    seq: int,
    *,
    recovered: bool = False,
    active: list[AlertDoc] | None = None,
    events: list[AlertEvent] | None = None,
    epoch: str = "e1",
) -> Welcome:
    return Welcome(
        recovered=recovered,
        epoch=epoch,
        seq=seq,
        active=active or [],
        events=events or [],
        heartbeat_s=20.0,
    )


def receipt(alert_id: int, state: ReceiptState) -> Send:
    return Send(ReceiptMsg(alert_id=alert_id, state=state))


DELIVERED, DISPLAYED = ReceiptState.DELIVERED, ReceiptState.DISPLAYED


def online(now: float = 0.0, **kwargs: object) -> ClientState:
    state = ClientState(token="pdvd_x", client=CLIENT, random=lambda: 0.0, **kwargs)  # type: ignore[arg-type]
    state.start(now)
    state.connected(now)
    state.welcome(welcome(0), now)
    return state


def sends(effects: list[Effect]) -> list[object]:
    return [e.message for e in effects if isinstance(e, Send)]


def test_hello_carries_epoch_and_last_seq() -> None:
    """The hello after a connect carries the token, the epoch and the last contiguous seq."""
    state = online()
    state.alert(event(5, doc()), 1.0)
    state.closed(1006, "", 2.0)
    (hello,) = sends(state.connected(3.0))
    assert hello == Hello(token="pdvd_x", epoch="e1", last_seq=5, client=CLIENT)


def test_fresh_client_says_it_has_no_state() -> None:
    """A client without saved state sends epoch null and last_seq 0."""
    state = ClientState(token="pdvd_x", client=CLIENT)
    assert state.start(0.0) == [Connect(0.0)]
    (hello,) = sends(state.connected(0.0))
    assert isinstance(hello, Hello) and hello.epoch is None and hello.last_seq == 0


def test_new_alert_is_receipted_and_shown_then_displayed_once() -> None:
    """An alert event: `delivered` then ShowAlarm; shown() sends `displayed` only once."""
    state = online()
    assert state.alert(event(1, doc(), EventType.TRIGGERED), 1.0) == [
        receipt(7, DELIVERED),
        ShowAlarm(doc()),
    ]
    assert state.shown(7) == [receipt(7, DISPLAYED)]
    assert state.shown(7) == []


def test_duplicates_are_ignored_by_seq() -> None:
    """A frame whose seq is not beyond last_seq does nothing."""
    state = online()
    state.alert(event(3, doc()), 1.0)
    assert state.alert(event(3, doc(order="X")), 1.0) == []
    assert state.alert(event(2, doc(order="Y")), 1.0) == []
    assert state.last_seq == 3 and state.alerts[7].alert.order.sv == "INRYMNING"


def test_changed_order_updates_unchanged_does_not() -> None:
    """A new order re-alerts (UpdateAlarm); an event leaving the document as it was only
    receipts (e.g. escalation_requested)."""
    state = online()
    state.alert(event(1, doc()), 1.0)
    assert state.alert(event(2, doc()), 1.0) == [receipt(7, DELIVERED)]
    changed = doc(order="UTRYMNING", kind=Kind.EVACUATE)
    assert state.alert(event(3, changed), 1.0) == [receipt(7, DELIVERED), UpdateAlarm(changed)]


def test_resolved_and_cancelled_end_the_alarm() -> None:
    """Resolved → EndAlarm "resolved"; cancelled → "cancelled"; the alert is dropped."""
    state = online()
    state.alert(event(1, doc(1)), 1.0)
    state.alert(event(2, doc(2)), 1.0)
    ended = doc(1, state=AlertState.RESOLVED)
    assert state.alert(event(3, ended), 1.0) == [EndAlarm(ended, "resolved")]
    cancelled = doc(2, state=AlertState.CANCELLED)
    assert state.alert(event(4, cancelled), 1.0) == [EndAlarm(cancelled, "cancelled")]
    assert state.alerts == {}


def test_test_alert_shows_nothing_only_receipts() -> None:
    """A `test` alert is receipted `delivered` and never shown, displayed or ended on screen."""
    state = online()
    silent = doc(mode=Mode.TEST)
    assert state.alert(event(1, silent), 1.0) == [receipt(7, DELIVERED)]
    assert state.shown(7) == []
    assert state.visible_alerts == []
    assert state.alert(event(2, replace(silent, state=AlertState.RESOLVED)), 1.0) == []


def test_answer_is_sent_and_resent_after_every_welcome() -> None:
    """After a welcome the receipts and the latest answer of each tracked alert go again."""
    state = online()
    state.alert(event(1, doc()), 1.0)
    state.shown(7)
    state.answer(7, Response.SAFE)
    latest = state.answer(7, Response.NEED_HELP, "två skadade", "B204")
    ack = Ack(alert_id=7, response=Response.NEED_HELP, note="två skadade", location="B204")
    assert latest == [Send(ack)]
    state.closed(1006, "", 2.0)
    state.connected(3.0)
    again = state.welcome(welcome(1, recovered=True), 3.0)
    assert sends(again) == [
        ReceiptMsg(alert_id=7, state=DELIVERED),
        ReceiptMsg(alert_id=7, state=DISPLAYED),
        ack,
    ]


def test_answer_while_disconnected_goes_with_the_next_welcome() -> None:
    """An answer given offline is not sent at once but after the next welcome."""
    state = online()
    state.alert(event(1, doc()), 1.0)
    state.closed(1006, "", 2.0)
    assert state.answer(7, Response.SAFE) == []
    state.connected(3.0)
    assert Ack(alert_id=7, response=Response.SAFE) in sends(
        state.welcome(welcome(1, recovered=True), 3.0)
    )


def test_answer_to_an_alert_that_vanished_is_still_sent() -> None:
    """A not-recovered welcome without the answered alert still carries its answer."""
    state = online()
    state.alert(event(1, doc()), 1.0)
    state.closed(1006, "", 2.0)
    state.answer(7, Response.SAFE)
    state.connected(3.0)
    effects = state.welcome(welcome(9, epoch="e2"), 3.0)
    assert FetchAlert(7) in effects
    assert Ack(alert_id=7, response=Response.SAFE) in sends(effects)


def test_recovered_welcome_applies_missed_events() -> None:
    """recovered: true applies the missed events (shown, updated, ended) and moves last_seq."""
    state = online()
    state.alert(event(1, doc(1)), 1.0)
    state.closed(1006, "", 2.0)
    state.connected(3.0)
    gone = doc(1, state=AlertState.RESOLVED)
    effects = state.welcome(
        welcome(9, recovered=True, events=[event(4, gone), event(8, doc(2))]), 3.0
    )
    assert EndAlarm(gone, "resolved") in effects and ShowAlarm(doc(2)) in effects
    assert state.last_seq == 9 and list(state.alerts) == [2]


def test_unrecovered_welcome_replaces_state_and_fetches_vanished() -> None:
    """recovered: false replaces the alerts; one no longer listed is fetched to show its end."""
    state = online()
    state.alert(event(1, doc(1)), 1.0)
    state.closed(1006, "", 2.0)
    state.connected(3.0)
    effects = state.welcome(welcome(50, epoch="e2", active=[doc(2)]), 3.0)
    assert FetchAlert(1) in effects and ShowAlarm(doc(2)) in effects
    assert (state.epoch, state.last_seq, list(state.alerts)) == ("e2", 50, [2])
    cancelled = doc(1, state=AlertState.CANCELLED)
    assert state.fetched(cancelled) == [EndAlarm(cancelled, "cancelled")]
    assert state.fetched(cancelled) == []


def test_vanished_alert_that_cannot_be_fetched_is_withdrawn() -> None:
    """A vanished alert whose fetch fails (or that is still active elsewhere) is withdrawn."""
    state = online()
    state.alert(event(1, doc(1)), 1.0)
    state.alert(event(2, doc(2)), 1.0)
    state.closed(1006, "", 2.0)
    state.connected(3.0)
    state.welcome(welcome(5, epoch="e2"), 3.0)
    assert state.fetch_failed(1) == [EndAlarm(doc(1), "withdrawn")]
    assert state.fetched(doc(2)) == [EndAlarm(doc(2), "withdrawn")]


def test_stop_codes_stop_and_say_why() -> None:
    """1008, 4001 and 4002 stop with "revoked", 4005 with "unsupported_version"."""
    for code, reason in (
        (1008, "revoked"),
        (4001, "revoked"),
        (4002, "revoked"),
        (4005, "unsupported_version"),
    ):
        state = online()
        effects = state.closed(code, "", 1.0)
        assert effects[0] == Stopped(reason, code)  # type: ignore[arg-type]
        assert state.phase is Phase.STOPPED
        assert state.closed(1006, "", 2.0) == []


def test_reconnect_backs_off_and_refetches_config() -> None:
    """Closes reconnect with closecodes' delays; every third failure refetches the config."""
    state = online()
    delays = []
    refetches = 0
    for n in range(6):
        effects = state.closed(1006, "", float(n))
        refetches += effects.count(RefetchConfig())
        delays.append(next(e.after_s for e in effects if isinstance(e, Connect)))
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0, 7.5]
    assert refetches == 2
    state.connected(10.0)
    state.welcome(welcome(0), 10.0)
    assert state.closed(1006, "", 11.0) == [Connect(0.25)]
    assert state.closed(4003, "", 12.0) == [Connect(7.5)]


def test_heartbeat_pings_and_watchdog_drops() -> None:
    """A ping every heartbeat_s; a pong keeps it alive; no frame for 2 × heartbeat → Drop."""
    state = online()
    assert state.tick(10.0) == []
    assert state.tick(20.0) == [Send(Ping(ts=20.0))]
    state.pong(Pong(ts=20.0), 21.0)
    assert state.tick(40.0) == [Send(Ping(ts=40.0))]
    assert state.tick(61.0) == [Drop()]


def test_offline_warning_after_30_s_and_cleared_by_welcome() -> None:
    """Not connected for 30 s → one OfflineWarning; the next welcome clears it."""
    state = online()
    state.closed(1006, "", 100.0)
    assert state.tick(129.0) == []
    assert state.tick(130.0) == [OfflineWarning(100.0)]
    assert state.tick(131.0) == []
    state.connected(140.0)
    assert state.welcome(welcome(0), 140.0)[0] == OfflineCleared()


def test_a_stopped_client_warns_too() -> None:
    """A revoked client keeps warning that it is not connected."""
    state = online()
    state.closed(4002, "", 0.0)
    assert state.tick(31.0) == [OfflineWarning(0.0)]


def test_saved_state_round_trips() -> None:
    """saved_state() restores epoch, last_seq and the tracked alerts with their answers."""
    state = online()
    state.alert(event(4, doc()), 1.0)
    state.shown(7)
    state.answer(7, Response.SAFE, "ok", "B")
    again = ClientState(token="t", client=CLIENT, saved=state.saved_state())
    assert (again.epoch, again.last_seq) == ("e1", 4)
    assert again.alerts == state.alerts


def test_unreadable_saved_state_starts_afresh() -> None:
    """A damaged saved state is ignored: epoch None, last_seq 0."""
    again = ClientState(token="t", client=CLIENT, saved={"epoch": 3, "alerts": [{"x": 1}]})
    assert (again.epoch, again.last_seq, again.alerts) == (None, 0, {})


ids = st.integers(min_value=1, max_value=6)
docs = st.builds(
    doc,
    ids,
    state=st.sampled_from(AlertState),
    mode=st.sampled_from(Mode),
    order=st.sampled_from(["A", "B"]),
)


def ends_for_good(history: list[AlertDoc]) -> bool:
    """As the server guarantees: an alert that ended never becomes active again, and an
    alert keeps its mode."""
    ended: set[int] = set()
    modes: dict[int, Mode] = {}
    for alert in history:
        if alert.state is AlertState.ACTIVE and alert.id in ended:
            return False
        if modes.setdefault(alert.id, alert.mode) is not alert.mode:
            return False
        if alert.state is not AlertState.ACTIVE:
            ended.add(alert.id)
    return True


@given(
    before=st.lists(docs, max_size=6),
    recovered=st.booleans(),
    active=st.lists(
        docs.filter(lambda d: d.state is AlertState.ACTIVE), max_size=6, unique_by=lambda d: d.id
    ),
    events=st.lists(docs, max_size=6),
)
def test_any_welcome_leaves_a_consistent_state(
    before: list[AlertDoc], recovered: bool, active: list[AlertDoc], events: list[AlertDoc]
) -> None:
    """Whatever came before and whatever the welcome says: only active alerts are tracked,
    every one shown or ended went through ShowAlarm/EndAlarm once, every tracked alert is
    receipted, and the position is the welcome's."""
    assume(ends_for_good([*before, *events]) and ends_for_good([*before, *active]))
    state = online()
    for seq, alert in enumerate(before, start=1):
        state.alert(event(seq, alert), 1.0)
    state.closed(1006, "", 2.0)
    state.connected(3.0)
    base = len(before)
    evs = [event(base + n, a) for n, a in enumerate(events, start=1)]
    seq = base + len(events) + 1
    message = welcome(seq, recovered=recovered, active=active, events=evs if recovered else [])
    effects = state.welcome(message, 3.0)
    assert (state.epoch, state.last_seq, state.phase) == ("e1", seq, Phase.CONNECTED)
    assert all(t.alert.state is AlertState.ACTIVE for t in state.alerts.values())
    if not recovered:
        assert set(state.alerts) == {a.id for a in active}
    for alert_id in state.alerts:
        assert receipt(alert_id, DELIVERED) in effects
    for alert_id in {e.alert.id for e in effects if isinstance(e, ShowAlarm)}:
        shows = sum(1 for e in effects if isinstance(e, ShowAlarm) and e.alert.id == alert_id)
        ends = sum(1 for e in effects if isinstance(e, EndAlarm) and e.alert.id == alert_id)
        assert shows <= ends + 1
    assert all(
        e.alert.mode is not Mode.TEST for e in effects if isinstance(e, ShowAlarm | UpdateAlarm)
    )
    ended = {e.alert.id for e in effects if isinstance(e, EndAlarm)}
    fetched = {e.alert_id for e in effects if isinstance(e, FetchAlert)}
    assert not (ended | fetched) & set(state.alerts)
