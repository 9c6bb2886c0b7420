"""server/web/protocol.js must speak exactly what protocol/ speaks: the examples are generated
here from Python, checked in Node by js_mirror.test.mjs, and what JS builds is decoded back by
the strict Python reader."""

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from protocol import closecodes, messages, vocabulary
from protocol.codec import (
    ERROR_MESSAGES,
    ProtocolError,
    decode_client,
    decode_server,
    encode,
    to_dict,
)
from protocol.messages import (
    Ack,
    ClientInfo,
    Hello,
    Ping,
    ReceiptMsg,
)
from protocol.vocabulary import Language, ReceiptState, Response
from tests.protocol.examples import SERVER_EXAMPLES, frame, with_extras
from tests.protocol.node import js_decode, node_env, node_or_skip

TEST_SCRIPT = Path(__file__).with_name("js_mirror.test.mjs")

CLIENT_MESSAGES = [
    Hello(
        token="pdvd_abc123",
        epoch=None,
        last_seq=0,
        client=ClientInfo(name="pdv-alert-pwa", version="0.1.0"),
    ),
    Hello(
        token="pdvs_Zm9v-YmFy_",
        epoch="7f3a9c",
        last_seq=4711,
        client=ClientInfo(name="Skrivbord", version="1.2.3", platform="Windows 11 – Ö"),
        language=Language.EN,
    ),
    ReceiptMsg(alert_id=7, state=ReceiptState.DELIVERED),
    ReceiptMsg(alert_id=messages.MAX_ID, state=ReceiptState.DISPLAYED),
    Ack(alert_id=7, response=Response.SAFE),
    Ack(
        alert_id=8,
        response=Response.NEED_HELP,
        note='Två skadade i matsalen 🚨\n"snabbt"',
        location="Hus B, rum 204",
    ),
    Ack(alert_id=9, response=Response.NOT_ON_SITE, note="", location="hemma"),
    Ping(),
    Ping(ts=1732550400.25),
    Ping(ts=0.5),
]

# Inputs a user could type that the server would refuse verbatim; JS ack() must fit them.
HOSTILE_NOTES = [
    {"note": "x" * 600, "location": "y" * 300},
    {"note": "🚨" * 501, "location": "å" * 201},
    {"note": "nul\u0000 esc\u001b del\u007f ok\ttab\nline\r", "location": "rad 1\nrad 2\t!"},
    {"note": "lone \ud800 high", "location": "lone \udfff low"},
    {"note": "pair 😀 kept", "location": ""},
]


def _server_examples() -> list[dict[str, Any]]:
    result = []
    for name, example in sorted(SERVER_EXAMPLES.items()):
        for variant in (example, with_extras(example)):
            text = json.dumps(variant, ensure_ascii=False)
            result.append({"name": name, "frame": text, "expected": to_dict(decode_server(text))})
    return result


def _server_error_examples() -> list[dict[str, str]]:
    alert = {"type": "alert", **SERVER_EXAMPLES["alert"]}
    rollcall = SERVER_EXAMPLES["rollcall"]
    help_entry = rollcall["need_help"][0]
    site = rollcall["sites"]["1"]
    bad = {**rollcall["totals"], "answered": -1}
    frames = [
        "not json",
        "[1,2]",
        "null",
        '{"type":"surprise"}',
        '{"type":"hello"}',
        "{}",
        '{"type":5}',
        frame(SERVER_EXAMPLES["welcome"], recovered="yes"),
        frame(SERVER_EXAMPLES["welcome"], heartbeat_s=0),
        frame(SERVER_EXAMPLES["welcome"], active=[5]),
        frame(SERVER_EXAMPLES["welcome"], seq=...),
        frame(alert, seq=0),
        frame(alert, event="exploded"),
        frame(alert, alert={**alert["alert"], "mode": "exercise"}),
        frame(alert, alert={**alert["alert"], "sites": ["1"]}),
        frame(alert, changes=[]),
        frame(SERVER_EXAMPLES["pong"], ts="now"),
        frame(SERVER_EXAMPLES["error"], code=5),
        frame(SERVER_EXAMPLES["rollcall"], sites={"Hus B": {}}),
        frame(rollcall, at=...),
        frame(rollcall, sites={"1": {**site, "zones": {"Hus B": site["zones"]["10"]}}}),
        frame(rollcall, sites={"x": site}),
        frame(rollcall, sites={"1": {**site, "zones": {"none": {"name": None, "totals": bad}}}}),
        frame(rollcall, sites={"1": {**site, "name": None}}),
        frame(rollcall, sites={"1": {**site, "zones": {"10": {"name": 5, "totals": {}}}}}),
        frame(rollcall, sites={"1": {k: v for k, v in site.items() if k != "zones"}}),
        frame(rollcall, sites={"1": rollcall["totals"]}),
        frame(rollcall, totals={k: v for k, v in rollcall["totals"].items() if k != "expected"}),
        frame(rollcall, need_help=[{**help_entry, "kind": "toaster"}]),
        frame(rollcall, need_help=[{k: v for k, v in help_entry.items() if k != "person_id"}]),
        frame(rollcall, need_help=[{k: v for k, v in help_entry.items() if k != "at"}]),
        frame(rollcall, need_help=[{**help_entry, "zone_id": 0}]),
        frame(rollcall, need_help=[5]),
        frame(rollcall, not_answered_count=...),
        frame(SERVER_EXAMPLES["presence"], reachable=-1),
        frame(SERVER_EXAMPLES["presence"], push=...),
        frame(
            SERVER_EXAMPLES["presence"], push={**SERVER_EXAMPLES["presence"]["push"], "sent": "1"}
        ),
        frame(rollcall, push={k: v for k, v in rollcall["push"].items() if k != "failed"}),
        frame(rollcall, sites={"1": {**site, "push": None}}),
        frame(rollcall, totals={k: v for k, v in rollcall["totals"].items() if k != "no_device"}),
    ]
    result = []
    for text in frames:
        with pytest.raises(ProtocolError) as caught:
            decode_server(text)
        result.append({"frame": text, "code": caught.value.code})
    return result


def _enum_values(enum: Any) -> dict[str, str]:
    return {member.name: member.value for member in enum}


def examples() -> dict[str, Any]:
    """Everything JS must agree on, computed by the Python package."""
    samples = [
        (attempt, random) for attempt in (0, 1, 2, 3, 5, 10, 40) for random in (0, 0.5, 0.99)
    ]
    return {
        "constants": {
            "PROTOCOL_VERSION": messages.PROTOCOL_VERSION,
            "MAX_CLIENT_FRAME": messages.MAX_CLIENT_FRAME,
            "MAX_ID": messages.MAX_ID,
            "MAX_SEQ": min(messages.MAX_SEQ, 2**53 - 1),  # the most a JS number holds exactly
            "DEFAULT_HEARTBEAT_S": messages.DEFAULT_HEARTBEAT_S,
            "RECONNECT_INITIAL_S": closecodes.RECONNECT_INITIAL_S,
            "RECONNECT_MAX_S": closecodes.RECONNECT_MAX_S,
            "DISCONNECTED_WARNING_S": closecodes.DISCONNECTED_WARNING_S,
        },
        "limits": {
            "token": messages.MAX_TOKEN,
            "epoch": messages.MAX_EPOCH,
            "clientName": messages.MAX_CLIENT_NAME,
            "clientVersion": messages.MAX_CLIENT_VERSION,
            "platform": messages.MAX_PLATFORM,
            "note": messages.MAX_NOTE,
            "location": messages.MAX_LOCATION,
        },
        "vocabulary": {
            name: _enum_values(getattr(vocabulary, name))
            for name in (
                "Kind",
                "Mode",
                "AlertState",
                "EventType",
                "Response",
                "ReceiptState",
                "PushState",
                "DeviceKind",
                "Language",
            )
        },
        "close": {code.name: int(code) for code in closecodes.CloseCode},
        "closeCodes": {
            str(code): {"reason": info.reason, "reconnect": info.reconnect.value}
            for code, info in closecodes.CLOSE_CODES.items()
        },
        "reconnectDelays": [
            [attempt, random, closecodes.reconnect_delay(attempt, random)]
            for attempt, random in samples
        ],
        "delaysAfterClose": [
            [code, attempt, random, closecodes.delay_after_close(code, attempt, random)]
            for code in [*closecodes.CLOSE_CODES, 1002, 4999]
            for attempt, random in samples[::4]
        ],
        "errorCodes": sorted(ERROR_MESSAGES),
        "client": [{"frame": encode(m), "message": to_dict(m)} for m in CLIENT_MESSAGES],
        "hostileNotes": HOSTILE_NOTES,
        "server": _server_examples(),
        "serverErrors": _server_error_examples(),
    }


@pytest.fixture(scope="module")
def node_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Runs the Node test script once; its output: the frames JS built."""
    return run_node(tmp_path_factory.mktemp("js_mirror"))


def run_node(tmp_path: Path) -> dict[str, Any]:
    node = node_or_skip()
    examples_path = tmp_path / "examples.json"
    out_path = tmp_path / "out.json"
    # ensure_ascii: lone surrogates in the hostile notes must survive as JSON escapes
    examples_path.write_text(json.dumps(examples(), ensure_ascii=True), encoding="utf-8")
    env = node_env(PDV_PROTOCOL_EXAMPLES=str(examples_path), PDV_PROTOCOL_OUT=str(out_path))
    result = subprocess.run(
        [node, "--test", "--test-reporter=spec", str(TEST_SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out: dict[str, Any] = json.loads(out_path.read_text(encoding="utf-8"))
    return out


def test_js_mirror_agrees_with_python(node_run: dict[str, Any]) -> None:
    """protocol.js has Python's constants, encodes client frames byte for byte like Python,
    decodes server frames to what Python decodes, and fails with the same codes."""
    assert node_run["checked"] > 0


def test_frames_built_in_js_pass_the_strict_server(node_run: dict[str, Any]) -> None:
    """Every frame the JS builders produce, even from hostile input, decode_client accepts,
    and the response of an ack is never lost to a too-long or odd note."""
    out = node_run
    assert len(out["acks"]) == len(HOSTILE_NOTES)
    for text in out["acks"]:
        ack = decode_client(text)
        assert isinstance(ack, Ack) and ack.response is Response.NEED_HELP
        assert len(ack.note) <= messages.MAX_NOTE and len(ack.location) <= messages.MAX_LOCATION
    assert "pair 😀 kept" in [decode_client(t).note for t in out["acks"]]  # type: ignore[union-attr]
    for text in out["built"]:
        decode_client(text)


def test_js_decode_reads_what_python_reads_and_refuses_what_python_refuses() -> None:
    """The one-shot JS decoder the gateway tests use agrees with decode_server."""
    good = frame(SERVER_EXAMPLES["rollcall"])
    [ok, bad] = js_decode([good, '{"type":"pong","ts":"now"}'])
    assert ok == {"message": to_dict(decode_server(good))}
    assert bad["error"].startswith("protocol.invalid")
