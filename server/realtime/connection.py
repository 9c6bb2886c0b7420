"""One live connection's session after its welcome: each client frame is handled as it
arrives (no task per connection): `ping` is answered with `pong`, receipts and acks go to
`Answers`, and invalid frames are counted (the MAX_INVALID_FRAMES-th closes the connection
with 4003). Every frame the server writes here is a `protocol.messages` message, encoded by
`protocol.codec`."""

from __future__ import annotations

from protocol.closecodes import CloseCode
from protocol.codec import ProtocolError, decode_client
from protocol.messages import Ack, Error, Ping, Pong, ReceiptMsg
from protocol.vocabulary import Language
from server.errors import ERRORS
from server.realtime.answers import Answerer, Answers
from server.realtime.frames import server_frame
from server.realtime.wsprotocol import WebSocket

MAX_INVALID_FRAMES = 10
ANSWER_REQUIRES_DEVICE = "protocol.answer_requires_device"


def error_message(code: str, detail: str = "", language: str = Language.SV) -> Error:
    """The `error` frame for `code` (server/errors.py's table) in the client's language; the
    detail says what exactly was wrong."""
    spec = ERRORS.get(code)
    text = (spec.en if language == Language.EN else spec.sv) if spec else code
    return Error(code=code, message=f"{text} ({detail[:200]})" if detail else text)


def send_error(
    connection: WebSocket, code: str, detail: str = "", language: str = Language.SV
) -> None:
    """Write an `error` frame; a connection already closing is no error."""
    connection.write(server_frame(error_message(code, detail, language)))


class Session:
    """What a live connection remembers after its welcome: the device it answers for (None
    for a person), its language and how many invalid frames it has sent."""

    __slots__ = ("answerer", "answers", "invalid", "language")

    def __init__(self, *, answerer: Answerer | None, language: str, answers: Answers) -> None:
        self.answerer = answerer
        self.language = language
        self.answers = answers
        self.invalid = 0

    def received(self, connection: WebSocket, raw: str | bytes) -> None:
        """Handle one client frame."""
        try:
            message = decode_client(raw)
        except ProtocolError as exc:
            self._invalid(connection, exc.code, exc.detail)
            return
        if isinstance(message, Ping):
            connection.write(server_frame(Pong(ts=message.ts)))  # ts exactly as sent
        elif isinstance(message, ReceiptMsg | Ack):
            if not self.answers.record(self.answerer, message):
                send_error(connection, ANSWER_REQUIRES_DEVICE, message.TYPE, self.language)
        else:
            self._invalid(connection, "protocol.unexpected", message.TYPE)

    def _invalid(self, connection: WebSocket, code: str, detail: str) -> None:
        self.invalid += 1
        send_error(connection, code, detail, self.language)
        if self.invalid >= MAX_INVALID_FRAMES:
            connection.close(CloseCode.PROTOCOL_ABUSE, "too many invalid frames")
