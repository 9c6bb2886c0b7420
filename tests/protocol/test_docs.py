"""docs/protocol.md is the authority on the wire contract: its examples must be valid frames
and it must name every message type, error code and close code the packages know."""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from protocol.closecodes import CLOSE_CODES
from protocol.codec import ERROR_MESSAGES, decode_client, decode_server, encode, to_dict
from protocol.messages import CLIENT_TYPES, MAX_CLIENT_FRAME, SERVER_TYPES

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
TEXT = DOC.read_text(encoding="utf-8")
BLOCKS = re.findall(r"```json\n(.*?)\n```", TEXT, re.S)


def frames() -> list[dict[str, Any]]:
    return [json.loads(block) for block in BLOCKS]


def test_every_json_example_parses() -> None:
    """Each ```json block on the page is one valid JSON object."""
    assert len(BLOCKS) >= 10
    for block in BLOCKS:
        assert isinstance(json.loads(block), dict), block[:60]


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_every_example_frame_decodes_to_what_it_shows(index: int) -> None:
    """Client examples pass the strict reader, server examples the lenient one, and no field
    shown is lost or changed by decoding."""
    block = BLOCKS[index]
    shown = json.loads(block)
    decode = decode_client if shown["type"] in CLIENT_TYPES else decode_server
    decoded = to_dict(decode(block))
    assert {key: decoded.get(key) for key in shown} == shown


def test_the_rollcall_example_is_exactly_what_the_codec_writes() -> None:
    """The roll-call example decodes and encodes back byte for byte: every field, in order."""
    [block] = [b for b in BLOCKS if json.loads(b)["type"] == "rollcall"]
    assert encode(decode_server(block)) == block


def test_every_message_type_has_an_example() -> None:
    """The page shows at least one example of each client and server message."""
    shown = {frame["type"] for frame in frames()}
    assert shown == set(CLIENT_TYPES) | set(SERVER_TYPES)


@pytest.mark.parametrize("code", sorted(ERROR_MESSAGES))
def test_every_error_code_is_documented(code: str) -> None:
    """Each protocol error code appears in the errors table."""
    assert f"| `{code}` |" in TEXT


@pytest.mark.parametrize("code", sorted(CLOSE_CODES))
def test_every_close_code_is_documented(code: int) -> None:
    """Each close code appears in the close code table."""
    assert f"\n| {code} |" in TEXT


def test_the_frame_limit_is_stated() -> None:
    """The page states the client frame limit."""
    assert f"**{MAX_CLIENT_FRAME} bytes**" in TEXT
