"""Pre-encoded WebSocket frames: a server message is encoded once, by `protocol.codec` (the
one encoder of every server frame), and the same bytes are written to every connection
(server frames are unmasked, and the alert channel negotiates no extensions, so the bytes on
the wire are identical for all)."""

from __future__ import annotations

from websockets.frames import Frame, Opcode

from protocol.codec import encode_bytes
from protocol.messages import ServerMessage


def text_frame(payload: bytes) -> bytes:
    """The complete wire bytes of one unfragmented, unmasked text frame."""
    return Frame(Opcode.TEXT, payload).serialize(mask=False)


def server_frame(message: ServerMessage) -> bytes:
    """The complete wire bytes of one server message."""
    return text_frame(encode_bytes(message))
