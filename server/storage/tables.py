"""SQLAlchemy tables. The schema is created and changed only by the alembic migrations in
`server/storage/migrations`; a test checks that the migrations produce exactly these tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Organization(Base):
    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    # The event stream: `epoch` changes when the database is reset or restored; `last_seq` is
    # the newest event's seq, bumped in the transaction that writes the event.
    epoch: Mapped[str] = mapped_column(String(32))
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # The audit chain's head, kept apart from the rows so a deleted last row is detected.
    audit_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    audit_head: Mapped[str] = mapped_column(String(64), default="0" * 64)
    language: Mapped[str] = mapped_column(String(2), default="sv")
    templates: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    demo: Mapped[bool] = mapped_column(Boolean, default=False)  # made by `pdv-alert demo`


class Site(Base):
    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300), default="")
    staff_may_trigger: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class Zone(Base):
    __tablename__ = "zones"
    __table_args__ = (UniqueConstraint("site_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class Person(Base):
    __tablename__ = "persons"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(40), default="")
    language: Mapped[str] = mapped_column(String(2), default="sv")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class RoleAssignment(Base):
    """A role a person holds at one site, or organization-wide when `site_id` is NULL."""

    __tablename__ = "role_assignments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))


class Credential(Base):
    __tablename__ = "credentials"
    person_id: Mapped[int] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True
    )
    password_hash: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime]


class LoginSession(Base):
    """A person's browser session; the cookie holds the token, the table only its hash."""

    __tablename__ = "login_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id", ondelete="SET NULL"))
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    enrollment_code_id: Mapped[int | None] = mapped_column(ForeignKey("enrollment_codes.id"))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    client_version: Mapped[str] = mapped_column(String(100), default="")
    # The node holding its live WebSocket, NULL when none does (see storage/presence.py).
    connected_node: Mapped[str | None] = mapped_column(String(32))


class PushRegistration(Base):
    """A device's push address, one per device (upserted): a browser's Web Push subscription
    (`type` webpush: endpoint, p256dh, auth) or an iOS app's APNs token (`type` apns: token,
    environment). The keys never leave the server; `last_result` is the provider's latest
    answer (delivered, gone, retry or rejected, with its reason) for the operator."""

    __tablename__ = "push_registrations"
    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    type: Mapped[str] = mapped_column(String(10))  # webpush | apns
    endpoint: Mapped[str] = mapped_column(Text, default="")
    p256dh: Mapped[str] = mapped_column(String(100), default="")
    auth: Mapped[str] = mapped_column(String(40), default="")
    token: Mapped[str] = mapped_column(String(200), default="")
    environment: Mapped[str] = mapped_column(String(12), default="")  # sandbox | production
    since: Mapped[datetime]
    last_result: Mapped[str] = mapped_column(String(200), default="")
    last_result_at: Mapped[datetime | None]


class PushDelivery(Base):
    """The push outbox: one row per (event, device with a push registration), made by the
    dispatcher (server/dispatch/) as it follows the event log. `next_attempt_at` is when it
    is due (NULL: nothing more to do); a claimed row's is pushed ahead as its lease, so a
    node that dies mid-send leaves it due again."""

    __tablename__ = "push_deliveries"
    __table_args__ = (UniqueConstraint("device_id", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    # queued | sent | delivered | receipted | failed | gone | stopped (server/core/push_schedule)
    state: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)
    last_attempt_at: Mapped[datetime | None]
    last_result: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]


class PushCursor(Base):
    """How far the dispatcher has expanded each organization's event log into deliveries."""

    __tablename__ = "push_cursors"
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime]


class EnrollmentCode(Base):
    __tablename__ = "enrollment_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id", ondelete="SET NULL"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    device_kind: Mapped[str | None] = mapped_column(String(20))  # NULL: any kind
    max_uses: Mapped[int] = mapped_column(Integer, default=1)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    demo: Mapped[bool] = mapped_column(Boolean, default=False)  # issued by `pdv-alert demo`


class ApiKey(Base):
    """An integration's key (a panic button): scoped to one site, may only trigger."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))  # shown in lists so a key can be recognized
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="pdv_lockdown")  # what it triggers
    created_by: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    demo: Mapped[bool] = mapped_column(Boolean, default=False)  # issued by `pdv-alert demo`


class Alert(Base):
    __tablename__ = "alerts"
    # Idempotency keys are the caller's own and an actual alert's key expires with it, so a
    # key may be stored on several alerts: looked up by (organization, caller, key).
    __table_args__ = (
        Index("ix_alerts_idempotency", "organization_id", "created_by", "idempotency_key"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    mode: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(10), index=True)
    order_sv: Mapped[str] = mapped_column(Text)
    order_en: Mapped[str] = mapped_column(Text)
    instructions_sv: Mapped[str] = mapped_column(Text)
    instructions_en: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))  # actor reference, e.g. "person:12"
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class AlertSite(Base):
    """The sites an alert targets. The partial unique index is the database's guarantee of
    ONE active alert per site, even when two nodes trigger at the same instant."""

    __tablename__ = "alert_sites"
    __table_args__ = (
        Index(
            "uq_alert_sites_one_active_per_site",
            "site_id",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )
    alert_id: Mapped[int] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean)


class AlertEvent(Base):
    """Append-only: every change of an alert, numbered by the organization's `seq`. `alert`
    holds the alert as it was right after the event, so replay needs no join."""

    __tablename__ = "alert_events"
    __table_args__ = (UniqueConstraint("organization_id", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    type: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime]
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    alert: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Receipt(Base):
    __tablename__ = "receipts"
    __table_args__ = (UniqueConstraint("alert_id", "device_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    delivered_at: Mapped[datetime | None]
    displayed_at: Mapped[datetime | None]
    acked_at: Mapped[datetime | None]
    # The highest event seq of the alert the device has receipted (HTTP receipts carry it;
    # NULL when only WebSocket receipts came, which name no seq): push retries stop there.
    seq: Mapped[int | None] = mapped_column(BigInteger)
    response: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(String(500), default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime]


class ReceiptAnswer(Base):
    """Append-only: every answer (ack) a device sent, in order; `receipts` keeps only the
    latest, so "need help, then safe" is kept here. Written in the receipt's transaction."""

    __tablename__ = "receipt_answers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    response: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(String(500), default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime]


class AuditEntry(Base):
    """Append-only, hash-chained per organization (see server/core/audit_chain.py)."""

    __tablename__ = "audit_log"
    __table_args__ = (UniqueConstraint("organization_id", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60), index=True)
    target: Mapped[str] = mapped_column(String(100), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # The id of the HMAC key the hash is keyed with; "" for entries from before keying.
    key_fingerprint: Mapped[str] = mapped_column(String(16), default="")
