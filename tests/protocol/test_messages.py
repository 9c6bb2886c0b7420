import ast
import dataclasses
import sys
from pathlib import Path
from typing import Any

import pytest

from protocol import messages
from protocol.codec import decode_client, encode_bytes, to_dict
from protocol.messages import (
    CLIENT_TYPES,
    MAX_CLIENT_FRAME,
    MAX_CLIENT_NAME,
    MAX_CLIENT_VERSION,
    MAX_EPOCH,
    MAX_ID,
    MAX_LOCATION,
    MAX_NOTE,
    MAX_PLATFORM,
    MAX_TOKEN,
    PROTOCOL_VERSION,
    SERVER_TYPES,
    SUPPORTED_VERSIONS,
    Ack,
    ClientInfo,
    Hello,
    Ping,
    Welcome,
)
from protocol.vocabulary import Language, Response

PROTOCOL_DIR = Path(messages.__file__).parent
ALL_TYPES = [*CLIENT_TYPES.values(), *SERVER_TYPES.values()]
DOCUMENTS = [
    messages.Texts,
    messages.ClientInfo,
    messages.AlertDoc,
    messages.DeviceInfo,
    messages.RollCallCounts,
]


def test_version_is_one_and_supported() -> None:
    """This is protocol version 1, and the server speaks it."""
    assert PROTOCOL_VERSION == 1
    assert PROTOCOL_VERSION in SUPPORTED_VERSIONS


def test_type_names_are_the_documented_ones() -> None:
    """Client and server message types are exactly the wire contract's, without overlap."""
    assert set(CLIENT_TYPES) == {"hello", "receipt", "ack", "ping"}
    assert set(SERVER_TYPES) == {"welcome", "alert", "pong", "error", "rollcall", "presence"}
    for name, cls in {**CLIENT_TYPES, **SERVER_TYPES}.items():
        assert cls.TYPE == name


@pytest.mark.parametrize("cls", ALL_TYPES + DOCUMENTS, ids=lambda c: c.__name__)
def test_messages_are_frozen_slotted_keyword_only_dataclasses(cls: type[Any]) -> None:
    """Every message and document is an immutable, slotted, keyword-only dataclass."""
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen
    assert "__slots__" in cls.__dict__
    assert all(f.kw_only for f in dataclasses.fields(cls))
    assert "TYPE" not in {f.name for f in dataclasses.fields(cls)}


def test_a_message_cannot_be_changed() -> None:
    """Assigning to a field of a message raises."""
    ping = Ping(ts=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ping.ts = 2.0  # type: ignore[misc]


def test_defaults_match_the_wire_contract() -> None:
    """hello speaks this version in Swedish by default; ack note/location default to empty."""
    hello = Hello(token="t", epoch=None, last_seq=0, client=ClientInfo(name="n", version="1"))
    assert hello.v == PROTOCOL_VERSION and hello.language is Language.SV
    assert hello.client.platform is None
    ack = Ack(alert_id=1, response=Response.SAFE)
    assert (ack.note, ack.location) == ("", "")
    welcome = Welcome(recovered=False, epoch="e", seq=0, active=[], events=[], heartbeat_s=20.0)
    assert welcome.v == PROTOCOL_VERSION and welcome.device is None
    assert Ping().ts is None


@pytest.mark.parametrize("cls", ALL_TYPES + DOCUMENTS, ids=lambda c: c.__name__)
def test_every_message_and_document_has_an_encoder(cls: type[Any]) -> None:
    """to_dict knows every class (the codec's table is complete)."""
    from protocol.codec import _TO_DICT

    assert cls in _TO_DICT


WORST_CHAR = "\U0001f6a8"  # 4 bytes in UTF-8, the most a character can take unescaped
WORST_ASCII = '"'  # escaped as \" : two bytes for one character


def test_the_largest_possible_hello_fits_in_a_frame() -> None:
    """A hello with every field at its limit, in its most expensive characters, fits."""
    hello = Hello(
        token=WORST_ASCII * MAX_TOKEN,
        epoch=WORST_ASCII * MAX_EPOCH,
        last_seq=MAX_ID,
        client=ClientInfo(
            name=WORST_CHAR * MAX_CLIENT_NAME,
            version=WORST_CHAR * MAX_CLIENT_VERSION,
            platform=WORST_CHAR * MAX_PLATFORM,
        ),
        language=Language.EN,
    )
    assert len(encode_bytes(hello)) <= MAX_CLIENT_FRAME
    assert decode_client(encode_bytes(hello)) == hello


@pytest.mark.parametrize("char", [WORST_CHAR, WORST_ASCII, "\n", "\\"])
def test_the_largest_possible_ack_fits_in_a_frame(char: str) -> None:
    """An ack with note and location at their limits fits, whatever the characters."""
    line_char = " " if char == "\n" else char
    ack = Ack(
        alert_id=MAX_ID,
        response=Response.NOT_ON_SITE,
        note=char * MAX_NOTE,
        location=line_char * MAX_LOCATION,
    )
    assert len(encode_bytes(ack)) <= MAX_CLIENT_FRAME
    assert decode_client(encode_bytes(ack)) == ack


def test_to_dict_of_a_message_starts_with_its_type() -> None:
    """The `type` key comes first, so frames are easy to read in logs."""
    assert next(iter(to_dict(Ping(ts=1.0)))) == "type"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted(PROTOCOL_DIR.glob("*.py")), ids=lambda p: p.name)
def test_protocol_imports_only_the_standard_library(path: Path) -> None:
    """protocol/ depends on nothing but the standard library and itself."""
    foreign = {
        name
        for name in _imports(path)
        if name != "protocol" and name not in sys.stdlib_module_names and name != "__future__"
    }
    assert not foreign, f"{path.name} imports {foreign}"
