"""The words server and clients share: kinds, modes, states, events, responses, roles.

Values are the wire spellings; they never change meaning once released.
"""

from enum import StrEnum


class Kind(StrEnum):
    """What the alert tells people to do."""

    PDV_LOCKDOWN = "pdv_lockdown"  # inrymning: lock in, lights off, silence
    EVACUATE = "evacuate"  # utrymning
    SECURE = "secure"  # utestängning: lock the outer doors
    CUSTOM = "custom"


class Mode(StrEnum):
    """Whether the alert is real (CAP Actual), a drill (Exercise) or a silent test (Test)."""

    ACTUAL = "actual"
    DRILL = "drill"
    TEST = "test"


class AlertState(StrEnum):
    ACTIVE = "active"
    RESOLVED = "resolved"  # Faran över / all-clear
    CANCELLED = "cancelled"  # false alarm


class EventType(StrEnum):
    TRIGGERED = "triggered"
    UPDATED = "updated"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


class Response(StrEnum):
    SAFE = "safe"
    NEED_HELP = "need_help"
    NOT_ON_SITE = "not_on_site"


class ReceiptState(StrEnum):
    DELIVERED = "delivered"
    DISPLAYED = "displayed"


class PushState(StrEnum):
    """Where a device's latest push of an alert stands, as dashboards see it: waiting to be
    sent (`queued`), handed to the push service awaiting its answer
    (`sent`), accepted by the push service for the device (`delivered`), confirmed by the
    device itself (`receipted`), or given up (`failed`, with the provider's reason)."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    RECEIPTED = "receipted"
    FAILED = "failed"


class DeviceKind(StrEnum):
    DESKTOP = "desktop"
    WEB = "web"
    IOS = "ios"
    INTEGRATION = "integration"


class Role(StrEnum):
    ADMIN = "admin"
    SECURITY_CHIEF = "security_chief"
    PRINCIPAL = "principal"
    STAFF = "staff"


class Language(StrEnum):
    SV = "sv"
    EN = "en"
