"""The protocol's error: a frame that breaks the wire contract, with a stable code."""

from __future__ import annotations

from collections.abc import Mapping

from protocol.messages import Error, Texts
from protocol.vocabulary import Language

# The stable error codes of this package, with a message for people (sv, en).
ERROR_MESSAGES: Mapping[str, Texts] = {
    "protocol.malformed": Texts(
        sv="Meddelandet är inte ett JSON-objekt.", en="The frame is not a JSON object."
    ),
    "protocol.unknown_type": Texts(sv="Okänd meddelandetyp.", en="Unknown message type."),
    "protocol.unknown_field": Texts(
        sv="Meddelandet innehåller okända fält.", en="The message contains unknown fields."
    ),
    "protocol.invalid": Texts(
        sv="Meddelandet innehåller ogiltiga värden.", en="The message contains invalid values."
    ),
    "protocol.unsupported_version": Texts(
        sv="Protokollversionen stöds inte. Uppdatera klienten.",
        en="Unsupported protocol version. Update the client.",
    ),
    "protocol.too_large": Texts(sv="Meddelandet är för stort.", en="The frame is too large."),
    # raised by the server's connection handling, not by the codec
    "protocol.hello_required": Texts(
        sv="Första meddelandet måste vara hello.", en="The first message must be hello."
    ),
    "protocol.unexpected": Texts(
        sv="Meddelandet väntades inte här.", en="The message was not expected here."
    ),
}


class ProtocolError(ValueError):
    """A frame that breaks the wire contract. `code` is one of ERROR_MESSAGES."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail

    def to_error(self, language: Language = Language.SV) -> Error:
        """The `error` frame that tells the client, in its language, with the detail."""
        texts = ERROR_MESSAGES.get(self.code)
        text = (texts.sv if language == Language.SV else texts.en) if texts else self.code
        detail = self.detail[:200]
        return Error(code=self.code, message=f"{text} ({detail})" if detail else text)
