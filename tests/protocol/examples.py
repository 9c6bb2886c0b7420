"""Example frames shared by the codec tests, the JS mirror test and the docs test."""

from __future__ import annotations

import json
from typing import Any

HELLO: dict[str, Any] = {
    "type": "hello",
    "v": 1,
    "token": "pdvd_abc123",
    "epoch": "e1",
    "last_seq": 41,
    "client": {"name": "pdv-alert-desktop", "version": "0.1.0", "platform": "windows"},
    "language": "sv",
}
RECEIPT: dict[str, Any] = {"type": "receipt", "alert_id": 7, "state": "delivered"}
ACK: dict[str, Any] = {
    "type": "ack",
    "alert_id": 7,
    "response": "need_help",
    "note": "Två skadade\ni matsalen",
    "location": "Hus B, rum 204",
}
PING: dict[str, Any] = {"type": "ping", "ts": 1732550400.25}
CLIENT_EXAMPLES = {"hello": HELLO, "receipt": RECEIPT, "ack": ACK, "ping": PING}

ALERT: dict[str, Any] = {
    "id": 7,
    "kind": "pdv_lockdown",
    "mode": "actual",
    "state": "active",
    "sites": [1, 2],
    "order": {"sv": "INRYMNING – lås in er", "en": "LOCKDOWN – lock in"},
    "instructions": {"sv": "Släck, tyst.", "en": "Lights off, silence."},
    "created_at": "2025-03-01T08:00:00+00:00",
    "updated_at": "2025-03-01T08:00:00+00:00",
    "ended_at": None,
    "created_by": "person:12",
}
EVENT: dict[str, Any] = {
    "seq": 42,
    "event": "triggered",
    "at": "2025-03-01T08:00:00+00:00",
    "actor": "person:12",
    "changes": {},
    "alert": ALERT,
}
COUNTS: dict[str, Any] = {
    "expected": 10,
    "reached": 9,
    "not_reached": 1,
    "displayed": 8,
    "answered": 5,
    "safe": 3,
    "need_help": 1,
    "not_on_site": 1,
    "targeted": 10,
    "delivered": 9,
    "acked": 5,
    "no_device": 1,
}
ZONE_COUNTS: dict[str, Any] = {
    "expected": 4,
    "reached": 4,
    "not_reached": 0,
    "displayed": 4,
    "answered": 2,
    "safe": 1,
    "need_help": 1,
    "not_on_site": 0,
    "targeted": 4,
    "delivered": 4,
    "acked": 2,
    "no_device": 0,
}
PUSH_COUNTS: dict[str, Any] = {
    "queued": 1,
    "sent": 0,
    "delivered": 3,
    "receipted": 2,
    "failed": 1,
}
NEED_HELP: dict[str, Any] = {
    "person_id": 12,
    "person": "Anna Lind",
    "device_id": 40,
    "device": "Annas telefon",
    "kind": "web",
    "site_id": 1,
    "zone_id": 10,
    "note": "Två skadade\ni matsalen",
    "location": "Hus B",
    "at": "2025-03-01T08:01:02.500000+00:00",
}
ROLLCALL: dict[str, Any] = {
    "type": "rollcall",
    "alert_id": 7,
    "at": "2025-03-01T08:01:03+00:00",
    "totals": COUNTS,
    "sites": {
        "1": {
            "name": "Ullvigymnasiet",
            "totals": COUNTS,
            "zones": {
                "10": {"name": "Hus B", "totals": ZONE_COUNTS},
                "none": {"name": None, "totals": ZONE_COUNTS},
            },
            "push": PUSH_COUNTS,
        }
    },
    "need_help": [
        NEED_HELP,
        {
            **NEED_HELP,
            "person_id": None,
            "person": None,
            "device_id": 41,
            "device": "Sal 204",
            "kind": "desktop",
            "zone_id": None,
            "note": "",
            "location": "",
        },
    ],
    "not_reached_count": 1,
    "not_answered_count": 4,
    "push": PUSH_COUNTS,
}
WELCOME: dict[str, Any] = {
    "type": "welcome",
    "v": 1,
    "recovered": True,
    "epoch": "e1",
    "seq": 42,
    "active": [ALERT],
    "events": [EVENT],
    "heartbeat_s": 20,
    "device": {"id": 3, "kind": "desktop", "name": "Reception", "site_id": 1, "zone_id": None},
}
SERVER_EXAMPLES: dict[str, dict[str, Any]] = {
    "welcome": WELCOME,
    "alert": {"type": "alert", **EVENT},
    "pong": {"type": "pong", "ts": 1732550400.25},
    "error": {"type": "error", "code": "protocol.invalid", "message": "Ogiltigt"},
    "rollcall": ROLLCALL,
    "presence": {
        "type": "presence",
        "site_id": 1,
        "reachable": 40,
        "unreachable": 2,
        "push": PUSH_COUNTS,
    },
}


def frame(base: dict[str, Any], **changes: Any) -> str:
    """`base` with fields replaced (or removed, given the value `...`), as JSON text."""
    obj = {**base, **changes}
    return json.dumps({k: v for k, v in obj.items() if v is not ...}, ensure_ascii=False)


def with_extras(obj: Any) -> Any:
    """`obj` with an unknown field added to every object, recursively (but not to the free-form
    `changes`, nor among roll call site and zone ids)."""
    if isinstance(obj, list):
        return [with_extras(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    result: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "changes":
            result[key] = value
        elif key in ("sites", "zones") and isinstance(value, dict):
            result[key] = {part: with_extras(inner) for part, inner in value.items()}
        else:
            result[key] = with_extras(value)
    return {**result, "future_field": {"x": [1]}}
