"""One live connection's session after its welcome: reading client frames, answering `ping`
with `pong`, handing receipts and acks to `Answers`, and counting invalid frames (the
MAX_INVALID_FRAMES-th closes the connection with 4003). Every frame the server writes here is
a `protocol.messages` message, encoded by `protocol.codec`."""

from __future__ import annotations

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from protocol.closecodes import CloseCode
from protocol.codec import ProtocolError, decode_client, encode
from protocol.messages import Ack, Error, Ping, Pong, ReceiptMsg
from protocol.vocabulary import Language
from server.errors import ERRORS
from server.realtime.answers import Answers
from server.realtime.frames import server_frame
from server.realtime.hub import write_now
from server.storage.callers import Caller

MAX_INVALID_FRAMES = 10
ANSWER_REQUIRES_DEVICE = "protocol.answer_requires_device"


def error_message(code: str, detail: str = "", language: str = Language.SV) -> Error:
    """The `error` frame for `code` (server/errors.py's table) in the client's language; the
    detail says what exactly was wrong."""
    spec = ERRORS.get(code)
    text = (spec.en if language == Language.EN else spec.sv) if spec else code
    return Error(code=code, message=f"{text} ({detail[:200]})" if detail else text)


async def send_error(
    connection: ServerConnection, code: str, detail: str = "", language: str = Language.SV
) -> None:
    """Send an `error` frame; a connection already closed is no error."""
    try:
        await connection.send(encode(error_message(code, detail, language)))
    except ConnectionClosed:
        pass


async def serve(
    connection: ServerConnection, *, caller: Caller, language: str, answers: Answers
) -> None:
    """Read the connection's frames until it closes (or is closed for abuse)."""
    invalid = 0
    async for raw in connection:
        try:
            message = decode_client(raw)
        except ProtocolError as exc:
            invalid += 1
            await send_error(connection, exc.code, exc.detail, language)
            if invalid >= MAX_INVALID_FRAMES:
                await connection.close(CloseCode.PROTOCOL_ABUSE, "too many invalid frames")
                return
            continue
        if isinstance(message, Ping):
            write_now(connection, server_frame(Pong(ts=message.ts)))  # ts exactly as sent
        elif isinstance(message, ReceiptMsg | Ack):
            if not answers.record(caller, message):
                await send_error(connection, ANSWER_REQUIRES_DEVICE, message.TYPE, language)
        else:
            invalid += 1
            await send_error(connection, "protocol.unexpected", message.TYPE, language)
