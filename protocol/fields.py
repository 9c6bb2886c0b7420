"""Reading frames: JSON text to an object, and each field checked for type and range.

Every failure raises ProtocolError with a stable code and a detail naming the field, e.g.
`ack.response: expected one of safe, need_help, not_on_site`.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

from protocol.errors import ProtocolError
from protocol.messages import MAX_CLIENT_FRAME, MAX_ID, MAX_SEQ


def fail(code: str, detail: str) -> NoReturn:
    raise ProtocolError(code, detail)


def _reject_constant(name: str) -> NoReturn:
    fail("protocol.malformed", f"{name} is not JSON")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                fail("protocol.malformed", f"duplicate key {key[:40]!r}")
            seen.add(key)
    return obj


STRICT_JSON = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_unique_object)
LENIENT_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def load(data: str | bytes | bytearray | memoryview, decoder: json.JSONDecoder) -> dict[str, Any]:
    """The JSON object of a frame (UTF-8 when given bytes); protocol.malformed otherwise."""
    if isinstance(data, str):
        text = data
    else:
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            fail("protocol.malformed", f"not UTF-8 (byte {exc.start})")
    try:
        obj = decoder.decode(text)
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        if isinstance(exc, ProtocolError):
            raise
        fail("protocol.malformed", f"not JSON: {exc}")
    if type(obj) is not dict:
        fail("protocol.malformed", f"a frame is a JSON object, not {json_name(obj)}")
    return obj


def json_name(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def frame_too_large(data: str | bytes | bytearray | memoryview) -> int | None:
    """The frame's UTF-8 size when it exceeds MAX_CLIENT_FRAME, else None."""
    if isinstance(data, str):
        if len(data) * 4 <= MAX_CLIENT_FRAME:
            return None
        if len(data) > MAX_CLIENT_FRAME:
            return len(data)  # at least this many bytes; no need to count exactly
        size = len(data.encode("utf-8", "surrogatepass"))
    else:
        size = len(data) if not isinstance(data, memoryview) else data.nbytes
    return size if size > MAX_CLIENT_FRAME else None


MISSING: Any = object()
# C0 controls (but tab, line feed, carriage return), DEL and lone surrogates: never in text.
MULTILINE_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# One-line text: no control characters at all.
LINE_BAD = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
# Tokens and epochs: printable ASCII without spaces.
_ASCII_WORD = re.compile("[\x21-\x7e]*")


def get(obj: dict[str, Any], key: str, where: str) -> Any:
    try:
        return obj[key]
    except KeyError:
        fail("protocol.invalid", f"{where}.{key} is missing")


def wrong(where: str, key: str, expected: str, value: object) -> NoReturn:
    fail("protocol.invalid", f"{where}.{key}: expected {expected}, got {json_name(value)}")


def integer(obj: dict[str, Any], key: str, where: str, lo: int = 0, hi: int = MAX_SEQ) -> int:
    value = get(obj, key, where)
    if type(value) is not int:
        wrong(where, key, "an integer", value)
    if not lo <= value <= hi:
        fail("protocol.invalid", f"{where}.{key}: {value} is outside {lo}..{hi}")
    return value


def ident(obj: dict[str, Any], key: str, where: str) -> int:
    """An id: an integer in 1..MAX_ID (the database's 32-bit id columns)."""
    return integer(obj, key, where, 1, MAX_ID)


def opt_ident(obj: dict[str, Any], key: str, where: str) -> int | None:
    """An optional id (missing or null: None)."""
    if obj.get(key) is None:
        return None
    return ident(obj, key, where)


def nullable_ident(obj: dict[str, Any], key: str, where: str) -> int | None:
    """A required field that is an id or null."""
    if get(obj, key, where) is None:
        return None
    return ident(obj, key, where)


def number(obj: dict[str, Any], key: str, where: str) -> float:
    value = get(obj, key, where)
    if type(value) is float:
        if value - value != 0.0:  # inf (1e999 reads as inf) or NaN
            fail("protocol.invalid", f"{where}.{key}: not a finite number")
        return value
    if type(value) is int:
        if abs(value) <= 2**53:
            return float(value)
        fail("protocol.invalid", f"{where}.{key}: {value} is too large")
    wrong(where, key, "a number", value)


def opt_number(obj: dict[str, Any], key: str, where: str) -> float | None:
    if obj.get(key) is None:
        return None
    return number(obj, key, where)


def boolean(obj: dict[str, Any], key: str, where: str) -> bool:
    value = get(obj, key, where)
    if type(value) is not bool:
        wrong(where, key, "true or false", value)
    return value


def string(obj: dict[str, Any], key: str, where: str) -> str:
    value = get(obj, key, where)
    if type(value) is not str:
        wrong(where, key, "a string", value)
    return value


def opt_string(obj: dict[str, Any], key: str, where: str) -> str | None:
    if obj.get(key) is None:
        return None
    return string(obj, key, where)


def nullable_string(obj: dict[str, Any], key: str, where: str) -> str | None:
    """A required field that is a string or null."""
    if get(obj, key, where) is None:
        return None
    return string(obj, key, where)


def bounded_text(
    obj: dict[str, Any],
    key: str,
    where: str,
    max_len: int,
    *,
    pattern: re.Pattern[str] = LINE_BAD,
    required: bool = True,
    default: str = "",
) -> str:
    """A client's string: bounded length, no control characters (per `pattern`)."""
    value = obj.get(key, MISSING)
    if value is MISSING:
        if required:
            fail("protocol.invalid", f"{where}.{key} is missing")
        return default
    if type(value) is not str:
        wrong(where, key, "a string", value)
    if len(value) > max_len:
        fail("protocol.invalid", f"{where}.{key}: {len(value)} characters; at most {max_len}")
    if pattern.search(value) is not None:
        fail("protocol.invalid", f"{where}.{key}: contains a control character")
    return value


def word(obj: dict[str, Any], key: str, where: str, max_len: int, min_len: int = 1) -> str:
    """Printable ASCII without spaces, min_len..max_len long (tokens, epochs)."""
    value = get(obj, key, where)
    if type(value) is not str:
        wrong(where, key, "a string", value)
    if not min_len <= len(value) <= max_len or _ASCII_WORD.fullmatch(value) is None:
        fail(
            "protocol.invalid",
            f"{where}.{key}: {min_len}..{max_len} printable ASCII characters, no spaces",
        )
    return value


def member(obj: dict[str, Any], key: str, where: str, members: dict[str, Any]) -> Any:
    value = get(obj, key, where)
    if type(value) is str:
        found = members.get(value)
        if found is not None:
            return found
    fail("protocol.invalid", f"{where}.{key}: expected one of {', '.join(members)}")


def subobject(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = get(obj, key, where)
    if type(value) is not dict:
        wrong(where, key, "an object", value)
    return value


def array(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    value = get(obj, key, where)
    if type(value) is not list:
        wrong(where, key, "an array", value)
    return value


def only(obj: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    if not obj.keys() <= allowed:
        unknown = ", ".join(sorted(obj.keys() - allowed))
        fail("protocol.unknown_field", f"{where}: unknown field(s) {unknown}")
