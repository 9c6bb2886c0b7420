"""Pre-encoded WebSocket frames: an event is serialized once and the same bytes are written to
every connection (server frames are unmasked, and the alert channel negotiates no extensions,
so the bytes on the wire are identical for all)."""

from __future__ import annotations

import json
from typing import Any

from websockets.frames import Frame, Opcode


def dumps(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()


def text_frame(payload: bytes) -> bytes:
    """The complete wire bytes of one unfragmented, unmasked text frame."""
    return Frame(Opcode.TEXT, payload).serialize(mask=False)
