import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.codec import (
    ERROR_MESSAGES,
    ProtocolError,
    alert_doc_from_dict,
    alert_event_from_dict,
    decode_client,
    decode_server,
    encode,
    encode_bytes,
    event_dict,
    to_dict,
)
from protocol.messages import (
    MAX_CLIENT_FRAME,
    MAX_ID,
    MAX_LOCATION,
    MAX_NOTE,
    MAX_TOKEN,
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
    Texts,
    Welcome,
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
from server.core import rollcall
from server.core.rollcall import DeviceRow, ReceiptRow
from tests.protocol import strategies
from tests.protocol.examples import (
    ACK,
    ALERT,
    CLIENT_EXAMPLES,
    COUNTS,
    EVENT,
    HELLO,
    NEED_HELP,
    PUSH_COUNTS,
    SERVER_EXAMPLES,
    WELCOME,
    frame,
    with_extras,
)


def client_error(data: str | bytes) -> str:
    with pytest.raises(ProtocolError) as caught:
        decode_client(data)
    return caught.value.code


def server_error(data: str | bytes) -> str:
    with pytest.raises(ProtocolError) as caught:
        decode_server(data)
    return caught.value.code


# ── round trips ──────────────────────────────────────────────────────────────────────────────


@given(strategies.client_messages)
def test_client_messages_round_trip(message: Any) -> None:
    """Every valid client message survives encode → decode_client unchanged."""
    assert decode_client(encode(message)) == message
    assert decode_client(encode_bytes(message)) == message


@given(strategies.client_messages)
def test_client_messages_fit_in_a_frame(message: Any) -> None:
    """A client message within the field limits never exceeds MAX_CLIENT_FRAME."""
    assert len(encode_bytes(message)) <= MAX_CLIENT_FRAME


@pytest.mark.parametrize(
    "strategy",
    [
        strategies.welcomes,
        strategies.alert_events,
        strategies.pongs,
        strategies.errors,
        strategies.roll_calls,
        strategies.presences,
    ],
    ids=["welcome", "alert", "pong", "error", "rollcall", "presence"],
)
@given(data=st.data())
def test_server_messages_round_trip(strategy: Any, data: st.DataObject) -> None:
    """Every server message survives encode → decode_server unchanged."""
    message = data.draw(strategy)
    assert decode_server(encode(message)) == message
    assert decode_server(encode_bytes(message)) == message


@pytest.mark.parametrize(
    "strategy",
    [strategies.hellos, strategies.receipts, strategies.acks, strategies.pings],
    ids=["hello", "receipt", "ack", "ping"],
)
@given(data=st.data())
def test_each_client_message_type_round_trips(strategy: Any, data: st.DataObject) -> None:
    """Each client message type on its own survives a round trip (no type starves another)."""
    message = data.draw(strategy)
    assert decode_client(encode(message)) == message


@pytest.mark.parametrize("name", sorted(CLIENT_EXAMPLES))
def test_client_examples_decode_and_re_encode_identically(name: str) -> None:
    """The documented client examples decode and encode back to the same JSON."""
    text = frame(CLIENT_EXAMPLES[name])
    assert json.loads(encode(decode_client(text))) == CLIENT_EXAMPLES[name]


@pytest.mark.parametrize("name", sorted(SERVER_EXAMPLES))
def test_server_examples_decode_and_re_encode_identically(name: str) -> None:
    """The documented server examples decode and encode back to the same JSON."""
    text = frame(SERVER_EXAMPLES[name])
    assert json.loads(encode(decode_server(text))) == SERVER_EXAMPLES[name]


def test_decoded_values_are_enum_members() -> None:
    """Decoded enum fields are vocabulary members, not bare strings."""
    hello = decode_client(frame(HELLO))
    ack = decode_client(frame(ACK))
    welcome = decode_server(frame(WELCOME))
    assert isinstance(hello, Hello) and hello.language is Language.SV
    assert isinstance(ack, Ack) and ack.response is Response.NEED_HELP
    assert isinstance(welcome, Welcome)
    assert welcome.active[0].kind is Kind.PDV_LOCKDOWN
    assert welcome.events[0].event is EventType.TRIGGERED
    assert welcome.device == DeviceInfo(id=3, kind=DeviceKind.DESKTOP, name="Reception", site_id=1)


# ── encoding ─────────────────────────────────────────────────────────────────────────────────


def test_encode_is_compact_and_keeps_swedish_letters() -> None:
    """Frames are compact JSON with non-ASCII text written as is."""
    text = encode(Ack(alert_id=1, response=Response.SAFE, note="Åsa är här"))
    assert text == (
        '{"type":"ack","alert_id":1,"response":"safe","note":"Åsa är här","location":""}'
    )
    assert encode_bytes(Ping()) == b'{"type":"ping"}'


def test_optional_fields_are_left_out_when_none() -> None:
    """None-valued optional fields (ts, platform, device) are not written."""
    assert encode(Pong()) == '{"type":"pong"}'
    hello = Hello(token="t", epoch=None, last_seq=0, client=ClientInfo(name="n", version="1"))
    assert "platform" not in to_dict(hello)["client"]
    assert to_dict(hello)["epoch"] is None
    welcome = Welcome(recovered=False, epoch="e", seq=0, active=[], events=[], heartbeat_s=20.0)
    assert "device" not in to_dict(welcome)


def test_encode_refuses_nan() -> None:
    """A NaN timestamp is a bug: encoding refuses it instead of writing invalid JSON."""
    with pytest.raises(ValueError):
        encode(Ping(ts=float("nan")))


def test_to_dict_refuses_foreign_objects() -> None:
    """to_dict names the offending type when given something that is not a message."""
    with pytest.raises(TypeError, match="dict"):
        to_dict({"type": "ping"})  # type: ignore[arg-type]


def test_welcome_events_have_no_type_and_rollcall_site_keys_are_strings() -> None:
    """Events inside a welcome carry no `type`; roll call site ids are JSON object keys."""
    welcome = decode_server(frame(WELCOME))
    assert "type" not in to_dict(welcome)["events"][0]
    rollcall = decode_server(frame(SERVER_EXAMPLES["rollcall"]))
    assert isinstance(rollcall, RollCall) and set(rollcall.sites) == {1}
    assert list(to_dict(rollcall)["sites"]) == ["1"]


def test_stored_alert_and_event_shapes_convert_both_ways() -> None:
    """The alert and event shapes the server stores read into documents and back."""
    doc = alert_doc_from_dict(ALERT)
    assert doc == AlertDoc(
        id=7,
        kind=Kind.PDV_LOCKDOWN,
        mode=Mode.ACTUAL,
        state=AlertState.ACTIVE,
        sites=[1, 2],
        order=Texts(sv="INRYMNING – lås in er", en="LOCKDOWN – lock in"),
        instructions=Texts(sv="Släck, tyst.", en="Lights off, silence."),
        created_at="2025-03-01T08:00:00+00:00",
        updated_at="2025-03-01T08:00:00+00:00",
        ended_at=None,
        created_by="person:12",
    )
    assert to_dict(doc) == ALERT
    event = alert_event_from_dict(EVENT)
    assert event_dict(event) == EVENT
    assert to_dict(event) == {"type": "alert", **EVENT}


# ── strict client decoding ───────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "data",
    [
        "",
        "not json",
        "[]",
        "1",
        "null",
        '"hello"',
        "true",
        '{"type":"ping"} trailing',
        '{"type":"ping","ts":NaN}',
        '{"type":"ping","ts":Infinity}',
        '{"type":"ping","ts":-Infinity}',
        '{"type":"ping","type":"ping"}',
        '{"type":"ack","alert_id":1,"response":"safe","response":"need_help"}',
        "\ufeff" + '{"type":"ping"}',
        "[" * 2000 + "]" * 2000,
        b'{"type":"ping","x":"\xff"}',
        b"\xef\xbb\xbf" + b'{"type":"ping"}',
        '{"type":"ping"'.encode("utf-16"),
    ],
    ids=lambda d: repr(d[:30]),
)
def test_client_frames_that_are_not_json_objects_are_malformed(data: str | bytes) -> None:
    """Non-JSON, non-objects, NaN, duplicate keys, BOMs and invalid UTF-8 are malformed."""
    assert client_error(data) == "protocol.malformed"


@pytest.mark.parametrize("kind", ["welcome", "alert", "pong", "Hello", "ACK", "", "hello "])
def test_unknown_client_types_are_refused(kind: str) -> None:
    """Server types, wrong case and unknown names are unknown client types."""
    assert client_error(frame({"type": kind})) == "protocol.unknown_type"


@pytest.mark.parametrize("kind", [..., None, 1, True, ["ack"], {"a": 1}])
def test_missing_or_non_string_type_is_invalid(kind: Any) -> None:
    """A frame without a string `type` is invalid."""
    assert client_error(frame({"type": "x", "alert_id": 1}, type=kind)) == "protocol.invalid"


@pytest.mark.parametrize("name", sorted(CLIENT_EXAMPLES))
def test_unknown_top_level_fields_are_refused(name: str) -> None:
    """The server rejects any field it does not know, in every client message."""
    with pytest.raises(ProtocolError) as caught:
        decode_client(frame(CLIENT_EXAMPLES[name], extra=1))
    assert caught.value.code == "protocol.unknown_field"
    assert "extra" in caught.value.detail


def test_unknown_client_info_fields_are_refused() -> None:
    """Unknown fields inside hello.client are refused too."""
    client = {**HELLO["client"], "os": "win"}
    assert client_error(frame(HELLO, client=client)) == "protocol.unknown_field"


REQUIRED = [
    ("hello", "v"),
    ("hello", "token"),
    ("hello", "epoch"),
    ("hello", "last_seq"),
    ("hello", "client"),
    ("receipt", "alert_id"),
    ("receipt", "state"),
    ("ack", "alert_id"),
    ("ack", "response"),
]


@pytest.mark.parametrize(("name", "field"), REQUIRED)
def test_missing_required_fields_are_invalid(name: str, field: str) -> None:
    """Every required field must be present; its absence is named in the detail."""
    with pytest.raises(ProtocolError) as caught:
        decode_client(frame(CLIENT_EXAMPLES[name], **{field: ...}))
    assert caught.value.code == "protocol.invalid"
    assert field in caught.value.detail


@pytest.mark.parametrize("field", ["name", "version"])
def test_missing_client_info_fields_are_invalid(field: str) -> None:
    """hello.client needs a name and a version."""
    client = {k: v for k, v in HELLO["client"].items() if k != field}
    assert client_error(frame(HELLO, client=client)) == "protocol.invalid"


def test_optional_client_fields_may_be_absent_or_null() -> None:
    """language, platform, note, location and ts may be left out (platform and ts also null)."""
    hello = decode_client(frame(HELLO, language=..., client={"name": "x", "version": "1"}))
    assert isinstance(hello, Hello)
    assert hello.language is Language.SV and hello.client.platform is None
    nulled = decode_client(frame(HELLO, client={"name": "x", "version": "1", "platform": None}))
    assert isinstance(nulled, Hello) and nulled.client.platform is None
    assert decode_client('{"type":"ack","alert_id":3,"response":"safe"}') == Ack(
        alert_id=3, response=Response.SAFE
    )
    assert decode_client('{"type":"ping"}') == Ping()
    assert decode_client('{"type":"ping","ts":null}') == Ping()
    assert decode_client('{"type":"ping","ts":5}') == Ping(ts=5)


BIG = 2**63


@pytest.mark.parametrize(
    ("name", "changes"),
    [
        # ids and seqs: integers in range, never bools, floats or strings
        ("receipt", {"alert_id": "7"}),
        ("receipt", {"alert_id": 7.0}),
        ("receipt", {"alert_id": True}),
        ("receipt", {"alert_id": 0}),
        ("receipt", {"alert_id": -1}),
        ("receipt", {"alert_id": BIG}),
        ("receipt", {"alert_id": None}),
        ("ack", {"alert_id": False}),
        ("hello", {"last_seq": -1}),
        ("hello", {"last_seq": "0"}),
        ("hello", {"last_seq": None}),
        ("hello", {"last_seq": True}),
        ("hello", {"last_seq": BIG}),
        ("hello", {"v": "1"}),
        ("hello", {"v": True}),
        ("hello", {"v": 1.0}),
        ("hello", {"v": None}),
        # enums: exact wire spellings
        ("receipt", {"state": "read"}),
        ("receipt", {"state": "DELIVERED"}),
        ("receipt", {"state": None}),
        ("receipt", {"state": ["delivered"]}),
        ("ack", {"response": "SAFE"}),
        ("ack", {"response": "ok"}),
        ("ack", {"response": 1}),
        ("hello", {"language": "de"}),
        ("hello", {"language": 1}),
        # strings: type, length, control characters, valid Unicode
        ("ack", {"note": "x" * (MAX_NOTE + 1)}),
        ("ack", {"note": None}),
        ("ack", {"note": 5}),
        ("ack", {"note": "a\x00b"}),
        ("ack", {"note": "a\x1bb"}),
        ("ack", {"note": "a\x7fb"}),
        ("ack", {"note": "\ud800"}),
        ("ack", {"location": "y" * (MAX_LOCATION + 1)}),
        ("ack", {"location": "rum\n204"}),
        ("ack", {"location": "rum\t204"}),
        ("ack", {"location": None}),
        ("hello", {"token": "t" * (MAX_TOKEN + 1)}),
        ("hello", {"token": "pdvd abc"}),
        ("hello", {"token": "pdvd_åäö"}),
        ("hello", {"token": None}),
        ("hello", {"token": 123}),
        ("hello", {"epoch": ""}),
        ("hello", {"epoch": "e" * 33}),
        ("hello", {"epoch": 5}),
        ("hello", {"epoch": "e 1"}),
        ("hello", {"client": "pdv-alert-desktop"}),
        ("hello", {"client": None}),
        ("hello", {"client": {"name": " ", "version": "1"}}),
        ("hello", {"client": {"name": "", "version": "1"}}),
        ("hello", {"client": {"name": "x" * 101, "version": "1"}}),
        ("hello", {"client": {"name": "x", "version": "1" * 101}}),
        ("hello", {"client": {"name": "x", "version": 1}}),
        ("hello", {"client": {"name": "x", "version": "1", "platform": 5}}),
        ("hello", {"client": {"name": "x\ny", "version": "1"}}),
        # numbers
        ("ping", {"ts": "now"}),
        ("ping", {"ts": True}),
        ("ping", {"ts": [1]}),
        ("ping", {"ts": 2**60}),
        ("ping", {"ts": 10**1000}),
    ],
)
def test_wrong_types_and_values_are_invalid(name: str, changes: dict[str, Any]) -> None:
    """Wrong types, out-of-range numbers, bad enum values and bad strings are invalid."""
    assert client_error(frame(CLIENT_EXAMPLES[name], **changes)) == "protocol.invalid"


@pytest.mark.parametrize("literal", ["1e999", "-1e999", "1E400"])
def test_numbers_that_overflow_to_infinity_are_invalid(literal: str) -> None:
    """JSON numbers too big for a float (read as infinity) are refused."""
    assert client_error('{"type":"ping","ts":' + literal + "}") == "protocol.invalid"
    assert server_error('{"type":"pong","ts":' + literal + "}") == "protocol.invalid"


def test_an_empty_token_means_the_handshake_cookie() -> None:
    """A browser may send an empty token and rely on the session cookie of the handshake."""
    hello = decode_client(frame(HELLO, token=""))
    assert isinstance(hello, Hello) and hello.token == ""


def test_note_and_location_limits_are_inclusive_and_count_characters() -> None:
    """A note of exactly 500 characters (even 4-byte ones) and line breaks in notes pass."""
    note = "🚨" * MAX_NOTE
    ack = decode_client(frame(ACK, note=note, location="å" * MAX_LOCATION))
    assert isinstance(ack, Ack) and ack.note == note
    multiline = decode_client(frame(ACK, note="rad 1\r\nrad 2\tslut"))
    assert isinstance(multiline, Ack) and multiline.note == "rad 1\r\nrad 2\tslut"


@pytest.mark.parametrize("version", [0, 2, 99, -1])
def test_other_protocol_versions_are_unsupported(version: int) -> None:
    """A hello with a version this server does not speak says so, with the supported list."""
    with pytest.raises(ProtocolError) as caught:
        decode_client(frame(HELLO, v=version))
    assert caught.value.code == "protocol.unsupported_version"
    assert "1" in caught.value.detail


def test_unsupported_version_wins_over_unknown_fields() -> None:
    """A newer client's hello with new fields learns about the version, not the fields."""
    assert client_error(frame(HELLO, v=2, resume_token="x")) == "protocol.unsupported_version"


def test_decode_client_accepts_str_bytes_bytearray_and_memoryview() -> None:
    """The server may hand over text or raw bytes; both decode alike."""
    text = frame(ACK)
    expected = decode_client(text)
    data = text.encode()
    assert decode_client(data) == expected
    assert decode_client(bytearray(data)) == expected
    assert decode_client(memoryview(data)) == expected
    assert decode_client("  \n" + text + "\n ") == expected


# ── the frame size limit ─────────────────────────────────────────────────────────────────────


def padded(size: int) -> str:
    """A valid ping frame of exactly `size` bytes (padded with whitespace)."""
    text = '{"type":"ping"}'
    return text[:-1] + " " * (size - len(text)) + "}"


def test_a_frame_of_exactly_the_limit_is_accepted() -> None:
    """MAX_CLIENT_FRAME bytes are allowed."""
    assert decode_client(padded(MAX_CLIENT_FRAME)) == Ping()
    assert decode_client(padded(MAX_CLIENT_FRAME).encode()) == Ping()


@pytest.mark.parametrize("size", [MAX_CLIENT_FRAME + 1, 10 * MAX_CLIENT_FRAME, 10**6])
def test_a_frame_over_the_limit_is_too_large(size: int) -> None:
    """One byte more is too large, as text or as bytes, before any parsing."""
    assert client_error(padded(size)) == "protocol.too_large"
    assert client_error(padded(size).encode()) == "protocol.too_large"
    assert client_error(b"\xff" * size) == "protocol.too_large"


def test_the_limit_counts_utf8_bytes_not_characters() -> None:
    """2100 'ö' are 2100 characters but 4200 bytes: too large."""
    text = frame(ACK, note="ö" * 2100)
    assert len(text) < MAX_CLIENT_FRAME < len(text.encode())
    assert client_error(text) == "protocol.too_large"


def test_protocol_error_becomes_an_error_frame_in_the_clients_language() -> None:
    """ProtocolError.to_error gives the stable code and a Swedish or English message."""
    with pytest.raises(ProtocolError) as caught:
        decode_client(frame(ACK, response="ok"))
    sv = caught.value.to_error()
    en = caught.value.to_error(Language.EN)
    assert sv.code == en.code == "protocol.invalid"
    assert sv.message.startswith(ERROR_MESSAGES["protocol.invalid"].sv)
    assert en.message.startswith(ERROR_MESSAGES["protocol.invalid"].en)
    assert "ack.response" in en.message
    assert str(caught.value).startswith("protocol.invalid: ")


def test_every_client_error_code_has_messages() -> None:
    """Every code this package raises has a Swedish and an English message."""
    for code in [
        "protocol.malformed",
        "protocol.unknown_type",
        "protocol.unknown_field",
        "protocol.invalid",
        "protocol.unsupported_version",
        "protocol.too_large",
        "protocol.hello_required",
        "protocol.unexpected",
    ]:
        assert ERROR_MESSAGES[code].sv and ERROR_MESSAGES[code].en


# ── lenient server decoding ──────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("name", sorted(SERVER_EXAMPLES))
def test_server_frames_with_unknown_fields_decode(name: str) -> None:
    """Clients ignore unknown fields anywhere in a server frame (forward compatibility)."""
    example = SERVER_EXAMPLES[name]
    extended = with_extras(example)
    assert "future_field" in json.dumps(extended)
    assert decode_server(json.dumps(extended)) == decode_server(json.dumps(example))


@pytest.mark.parametrize("kind", ["surprise", "Hello", "", "hello", "ack"])
def test_unknown_server_types_raise_unknown_type(kind: str) -> None:
    """An unknown (or client) type raises protocol.unknown_type, which clients skip."""
    assert server_error(frame({"type": kind, "x": 1})) == "protocol.unknown_type"


def test_an_unknown_alert_kind_reads_as_custom() -> None:
    """A newer server's alert kind is shown as a custom alert rather than dropped."""
    alert = {**ALERT, "kind": "bomb_threat"}
    message = decode_server(frame({"type": "alert", **EVENT, "alert": alert}))
    assert isinstance(message, AlertEvent) and message.alert.kind is Kind.CUSTOM
    assert message.alert.order.sv == ALERT["order"]["sv"]


@pytest.mark.parametrize(
    "data",
    ["", "[1]", "null", '{"type":"pong","ts":NaN}', b"\xff\xfe", '{"type":"pong"}x'],
    ids=repr,
)
def test_server_frames_that_are_not_json_objects_are_malformed(data: str | bytes) -> None:
    """Clients get protocol.malformed for frames that are not JSON objects."""
    assert server_error(data) == "protocol.malformed"


@pytest.mark.parametrize(
    ("name", "path", "value"),
    [
        ("welcome", ["recovered"], "yes"),
        ("welcome", ["seq"], -1),
        ("welcome", ["heartbeat_s"], 0),
        ("welcome", ["heartbeat_s"], "20"),
        ("welcome", ["epoch"], None),
        ("welcome", ["active"], {}),
        ("welcome", ["active", 0], 5),
        ("welcome", ["active", 0, "sites"], ["1"]),
        ("welcome", ["active", 0, "mode"], "exercise"),
        ("welcome", ["active", 0, "state"], "open"),
        ("welcome", ["active", 0, "order"], "INRYMNING"),
        ("welcome", ["active", 0, "order", "sv"], None),
        ("welcome", ["events", 0, "seq"], 0),
        ("welcome", ["events", 0, "event"], "exploded"),
        ("welcome", ["events", 0, "changes"], []),
        ("welcome", ["device"], "desk"),
        ("welcome", ["device", "kind"], "toaster"),
        ("alert", ["alert"], None),
        ("alert", ["alert", "kind"], 5),
        ("alert", ["alert", "id"], "7"),
        ("pong", ["ts"], "now"),
        ("error", ["code"], 5),
        ("rollcall", ["sites"], []),
        ("rollcall", ["at"], None),
        ("rollcall", ["at"], 1740816063),
        ("rollcall", ["totals", "safe"], -1),
        ("rollcall", ["totals", "acked"], None),
        ("rollcall", ["totals", "expected"], "10"),
        ("rollcall", ["sites", "1", "totals", "answered"], 1.5),
        ("rollcall", ["sites", "1"], 5),
        ("rollcall", ["sites", "1", "name"], None),
        ("rollcall", ["sites", "1", "totals"], None),
        ("rollcall", ["sites", "1", "zones"], []),
        ("rollcall", ["sites", "1", "zones", "none"], None),
        ("rollcall", ["sites", "1", "zones", "10", "name"], 10),
        ("rollcall", ["sites", "1", "zones", "10", "totals", "not_reached"], -1),
        ("rollcall", ["need_help"], {}),
        ("rollcall", ["need_help", 0], "Anna"),
        ("rollcall", ["need_help", 0, "kind"], "toaster"),
        ("rollcall", ["need_help", 0, "device_id"], 0),
        ("rollcall", ["need_help", 0, "person_id"], "12"),
        ("rollcall", ["need_help", 0, "person"], 12),
        ("rollcall", ["need_help", 0, "zone_id"], 0),
        ("rollcall", ["need_help", 0, "note"], None),
        ("rollcall", ["need_help", 0, "at"], 5),
        ("rollcall", ["not_reached_count"], -1),
        ("rollcall", ["not_answered_count"], None),
        ("presence", ["reachable"], 1.5),
        ("presence", ["site_id"], 0),
        ("presence", ["push"], None),
        ("presence", ["push", "failed"], -1),
        ("rollcall", ["push", "queued"], "1"),
        ("rollcall", ["sites", "1", "push"], []),
        ("rollcall", ["sites", "1", "push", "receipted"], None),
        ("rollcall", ["totals", "no_device"], -1),
    ],
)
def test_server_frames_with_bad_known_fields_are_invalid(
    name: str, path: list[Any], value: Any
) -> None:
    """Lenient is not careless: known fields must still have the right types and values."""
    obj = json.loads(json.dumps(SERVER_EXAMPLES[name]))
    target = obj
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    assert server_error(json.dumps(obj)) == "protocol.invalid"


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("welcome", "recovered"),
        ("welcome", "epoch"),
        ("welcome", "seq"),
        ("welcome", "active"),
        ("welcome", "events"),
        ("welcome", "heartbeat_s"),
        ("alert", "seq"),
        ("alert", "alert"),
        ("error", "code"),
        ("rollcall", "at"),
        ("rollcall", "totals"),
        ("rollcall", "sites"),
        ("rollcall", "need_help"),
        ("rollcall", "not_reached_count"),
        ("rollcall", "not_answered_count"),
        ("presence", "site_id"),
        ("presence", "push"),
        ("rollcall", "push"),
    ],
)
def test_server_frames_missing_required_fields_are_invalid(name: str, field: str) -> None:
    """Missing required fields in server frames are invalid."""
    assert server_error(frame(SERVER_EXAMPLES[name], **{field: ...})) == "protocol.invalid"


def _site(**zones: Any) -> dict[str, Any]:
    return {"name": "Ullvi", "totals": COUNTS, "zones": zones, "push": PUSH_COUNTS}


def test_rollcall_site_keys_must_be_site_ids() -> None:
    """Roll call site keys are decimal site ids, each holding a site object."""
    bad = frame(SERVER_EXAMPLES["rollcall"], sites={"Hus B": _site()})
    assert server_error(bad) == "protocol.invalid"
    assert server_error(frame(SERVER_EXAMPLES["rollcall"], sites={"1": 5})) == "protocol.invalid"
    bad = frame(SERVER_EXAMPLES["rollcall"], sites={"1": COUNTS})  # counts, not a site
    assert server_error(bad) == "protocol.invalid"


@pytest.mark.parametrize("zone", ["Hus B", "None", "", "-1", "1.5", "١"])
def test_rollcall_zone_keys_must_be_zone_ids_or_none(zone: str) -> None:
    """Zone keys under a site are decimal zone ids or "none"; both decode as given."""
    zone_part = {"name": None, "totals": COUNTS}
    bad = frame(SERVER_EXAMPLES["rollcall"], sites={"1": _site(**{zone: zone_part})})
    assert server_error(bad) == "protocol.invalid"
    good = decode_server(frame(SERVER_EXAMPLES["rollcall"], sites={"1": _site(none=zone_part)}))
    assert isinstance(good, RollCall) and list(good.sites[1].zones) == ["none"]
    assert good.sites[1].zones["none"].name is None


@pytest.mark.parametrize(
    "field", ["person_id", "person", "device_id", "kind", "zone_id", "note", "location", "at"]
)
def test_need_help_entries_need_every_field(field: str) -> None:
    """Each need-help entry has every field, even the nullable ones (null, not absent)."""
    entry = {k: v for k, v in NEED_HELP.items() if k != field}
    assert server_error(frame(SERVER_EXAMPLES["rollcall"], need_help=[entry])) == (
        "protocol.invalid"
    )


def test_rollcall_decodes_to_typed_documents() -> None:
    """A roll call decodes to named sites and zones with counts, and typed need-help entries."""
    message = decode_server(frame(SERVER_EXAMPLES["rollcall"]))
    assert isinstance(message, RollCall)
    assert message.at == "2025-03-01T08:01:03+00:00"
    assert message.totals.expected == message.totals.targeted == 10
    assert message.totals.answered == message.totals.acked == 5
    assert set(message.sites) == {1} and message.sites[1].name == "Ullvigymnasiet"
    assert list(message.sites[1].zones) == ["10", "none"]
    assert message.sites[1].zones["10"].name == "Hus B"
    assert message.sites[1].zones["none"].totals.expected == 4
    first, second = message.need_help
    assert first == NeedHelp(
        person_id=12,
        person="Anna Lind",
        device_id=40,
        device="Annas telefon",
        kind=DeviceKind.WEB,
        site_id=1,
        zone_id=10,
        note="Två skadade\ni matsalen",
        location="Hus B",
        at="2025-03-01T08:01:02.500000+00:00",
    )
    assert second.person_id is None and second.person is None and second.zone_id is None
    assert second.kind is DeviceKind.DESKTOP
    assert (message.not_reached_count, message.not_answered_count) == (1, 4)


def test_a_real_rollcall_frame_round_trips_exactly() -> None:
    """The frame server.core.rollcall builds decodes and encodes back to exactly itself."""
    t0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    devices = [
        DeviceRow(
            id=40,
            name="Annas telefon",
            kind="web",
            site_id=1,
            zone_id=10,
            person_id=12,
            person_name="Anna Lind",
        ),
        DeviceRow(
            id=41,
            name="Annas dator",
            kind="desktop",
            site_id=1,
            person_id=12,
            person_name="Anna Lind",
        ),
        DeviceRow(id=42, name="Sal 204", kind="desktop", site_id=1, zone_id=11),
        DeviceRow(id=43, name="Reception", kind="desktop", site_id=2),
        DeviceRow(id=44, name="Bo", kind="ios", site_id=2, person_id=13, person_name="Bo"),
    ]
    receipts = [
        ReceiptRow(
            device_id=40,
            site_id=1,
            delivered_at=t0,
            displayed_at=t0,
            acked_at=t0,
            response="need_help",
            note="Två skadade\ni matsalen",
            location="Hus B",
        ),
        ReceiptRow(device_id=41, site_id=1, delivered_at=t0),
        ReceiptRow(
            device_id=42,
            site_id=1,
            delivered_at=t0,
            displayed_at=t0,
            acked_at=t0,
            response="need_help",
        ),
        ReceiptRow(device_id=43, site_id=2, delivered_at=t0, displayed_at=t0),
    ]
    result = rollcall.compute(
        alert_id=7,
        sites={1: "Ullvi", 2: "Kyrkbacken"},
        devices=devices,
        receipts=receipts,
        at=t0,
        zones={10: "Hus A", 11: "Hus B"},
    )
    message = result.message
    assert len(message.need_help) == 2 and message.need_help[1].person is None
    text = encode(message)
    assert decode_server(text) == message
    built = to_dict(message)
    assert json.loads(text) == built
    assert text == json.dumps(built, ensure_ascii=False, separators=(",", ":"))


def test_server_frames_have_no_size_limit() -> None:
    """A large welcome (many active alerts) decodes: the limit is for client frames."""
    big = frame(WELCOME, active=[{**ALERT, "id": i} for i in range(1, 200)])
    assert len(big) > MAX_CLIENT_FRAME
    message = decode_server(big)
    assert isinstance(message, Welcome) and len(message.active) == 199


def test_duplicate_keys_are_tolerated_by_the_lenient_reader() -> None:
    """Clients take the last of duplicate keys, like browsers' JSON.parse."""
    assert decode_server('{"type":"pong","ts":1,"ts":2}') == Pong(ts=2)


def test_constructed_messages_compare_by_value() -> None:
    """Messages are values: equal fields, equal messages (ids in sites keep their order)."""
    counts = RollCallCounts(
        expected=1,
        reached=1,
        not_reached=0,
        displayed=1,
        answered=0,
        safe=0,
        need_help=0,
        not_on_site=0,
        targeted=1,
        delivered=1,
        acked=0,
        no_device=0,
    )
    no_push = PushCounts(queued=0, sent=0, delivered=0, receipted=0, failed=0)
    empty: dict[str, Any] = {
        "alert_id": 1,
        "at": "2025-03-01T08:00:00+00:00",
        "totals": counts,
        "sites": {},
        "need_help": [],
        "not_reached_count": 0,
        "not_answered_count": 0,
        "push": no_push,
    }
    assert RollCall(**empty) == RollCall(**empty)
    assert RollCall(**empty) != RollCall(**{**empty, "not_answered_count": 1})
    assert Presence(site_id=1, reachable=2, unreachable=0, push=no_push) != Presence(
        site_id=1, reachable=2, unreachable=1, push=no_push
    )
    error = '{"type":"error","code":"x","message":"y"}'
    assert Error(code="x", message="y") == decode_server(error)
    assert decode_client(encode(ReceiptMsg(alert_id=MAX_ID, state=ReceiptState.DISPLAYED))) == (
        ReceiptMsg(alert_id=MAX_ID, state=ReceiptState.DISPLAYED)
    )
