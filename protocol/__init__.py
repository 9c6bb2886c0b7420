"""The wire protocol between the server and its clients: stdlib only.

`protocol.messages` holds the message dataclasses, `protocol.codec` encodes and decodes
frames, `protocol.closecodes` says how connections end, `protocol.vocabulary` the shared
words. `docs/protocol.md` is the authority on the contract.
"""

from protocol.closecodes import CloseCode, close_info, delay_after_close
from protocol.codec import (
    ProtocolError,
    decode_client,
    decode_server,
    encode,
    encode_bytes,
    to_dict,
)
from protocol.messages import (
    MAX_CLIENT_FRAME,
    PROTOCOL_VERSION,
    SUPPORTED_VERSIONS,
    Ack,
    AlertDoc,
    AlertEvent,
    ClientInfo,
    ClientMessage,
    DeviceInfo,
    Error,
    Hello,
    Message,
    Ping,
    Pong,
    Presence,
    PushCounts,
    ReceiptMsg,
    RollCall,
    RollCallCounts,
    ServerMessage,
    SiteRollCall,
    Texts,
    Welcome,
    ZoneRollCall,
)

__all__ = [
    "MAX_CLIENT_FRAME",
    "PROTOCOL_VERSION",
    "SUPPORTED_VERSIONS",
    "Ack",
    "AlertDoc",
    "AlertEvent",
    "ClientInfo",
    "ClientMessage",
    "CloseCode",
    "DeviceInfo",
    "Error",
    "Hello",
    "Message",
    "Ping",
    "Pong",
    "Presence",
    "ProtocolError",
    "PushCounts",
    "ReceiptMsg",
    "RollCall",
    "RollCallCounts",
    "ServerMessage",
    "SiteRollCall",
    "Texts",
    "Welcome",
    "ZoneRollCall",
    "close_info",
    "decode_client",
    "decode_server",
    "delay_after_close",
    "encode",
    "encode_bytes",
    "to_dict",
]
