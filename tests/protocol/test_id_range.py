"""The protocol's one id range: ids are 1..MAX_ID (32-bit), seqs 0..MAX_SEQ (64-bit); a client
frame beyond them is refused with `protocol.invalid`, as the API refuses such ids."""

from __future__ import annotations

import json

import pytest

from protocol.codec import ProtocolError, decode_client
from protocol.messages import MAX_ID, MAX_SEQ, Ack, Hello, ReceiptMsg
from server.api import base


@pytest.mark.parametrize("kind", ["ack", "receipt"])
def test_alert_ids_beyond_32_bits_are_invalid(kind: str) -> None:
    """alert_id MAX_ID decodes; MAX_ID + 1 and 0 are protocol.invalid."""
    extra = {"response": "safe"} if kind == "ack" else {"state": "delivered"}
    message = decode_client(json.dumps({"type": kind, "alert_id": MAX_ID, **extra}))
    assert isinstance(message, Ack | ReceiptMsg) and message.alert_id == MAX_ID
    for bad in (MAX_ID + 1, 0, 2**63 - 1):
        with pytest.raises(ProtocolError) as caught:
            decode_client(json.dumps({"type": kind, "alert_id": bad, **extra}))
        assert caught.value.code == "protocol.invalid"


def test_seqs_are_64_bit() -> None:
    """hello.last_seq may be MAX_SEQ (beyond an id), not MAX_SEQ + 1."""
    hello = {
        "type": "hello",
        "v": 1,
        "token": "",
        "epoch": None,
        "client": {"name": "t", "version": "1"},
    }
    message = decode_client(json.dumps({**hello, "last_seq": MAX_SEQ}))
    assert isinstance(message, Hello) and message.last_seq == MAX_SEQ
    with pytest.raises(ProtocolError):
        decode_client(json.dumps({**hello, "last_seq": MAX_SEQ + 1}))


def test_the_api_uses_the_same_id_range() -> None:
    """server.api.base takes MAX_ID from protocol (one definition), and it is 2³¹ − 1."""
    assert base.MAX_ID is MAX_ID and MAX_ID == 2**31 - 1 and MAX_SEQ == 2**63 - 1
