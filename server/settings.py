"""Typed settings, read once at start-up from `PDV_*` environment variables and an optional
TOML file (`PDV_CONFIG_FILE`). `deploy/pdv-alert.example.toml` documents every key."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from push.vapid import VapidKeyError, load_vapid_key
from server.core.audit_chain import DEVELOPMENT_SECRET, Keyring
from server.core.push_registrations import parse_origin_rule

DEFAULT_SECRET = DEVELOPMENT_SECRET
# The public push services a browser's subscription may point to: Google FCM (Chrome, Edge on
# Android), Mozilla autopush (Firefox), Apple (Safari, iOS home-screen apps), Microsoft WNS.
PUBLIC_PUSH_SERVICES = (
    "https://fcm.googleapis.com",
    "https://updates.push.services.mozilla.com",
    "https://web.push.apple.com",
    "https://*.notify.windows.com",
)


class UnsafeSettings(ValueError):
    """Production mode with a setting that is only safe for development."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PDV_", extra="forbid")

    environment: Literal["development", "production"] = "development"
    secret_key: str = DEFAULT_SECRET
    # The audit chain's HMAC key (server/core/audit_chain.py); empty: derived from secret_key.
    audit_key: str = ""
    audit_previous_keys: list[str] = Field(default_factory=list)  # older entries' keys
    database_url: str = "sqlite+aiosqlite:///pdv-alert.db"
    bus_url: str = "memory://"
    # The Redis channel's namespace: every node (and the CLI) of one installation shares it,
    # another installation on the same Redis must not (pub/sub ignores the database number).
    # Empty: derived from secret_key, which the nodes of one installation share anyway.
    bus_namespace: str = Field(default="", max_length=64, pattern=r"^[A-Za-z0-9_.-]*$")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_url: str = ""
    # The WebSocket gateway listens on its own port (the proxy routes /ws to it).
    ws_host: str = ""  # empty: same as `host`
    ws_port: int = Field(default=8001, ge=0, le=65535)
    ws_public_url: str = ""  # what clients are told to connect to; empty: derived
    # The gateway's listen backlog: connects the kernel queues before they are accepted. A
    # reconnect storm of thousands overflows asyncio's default of 100 (SYNs dropped, clients
    # retry after a second or more); the kernel caps it at net.core.somaxconn.
    ws_backlog: int = Field(default=4096, ge=1, le=65535)
    allowed_origins: list[str] = Field(default_factory=list)  # browser Origins for /ws
    heartbeat_seconds: float = Field(default=20.0, gt=0)
    hello_timeout_seconds: float = Field(default=10.0, gt=0)
    max_replay_events: int = Field(default=1000, ge=1)
    hello_concurrency: int = Field(default=8, ge=1)  # hellos using the database at once
    connection_buffer_bytes: int = Field(default=256 * 1024, ge=4096)
    socket_send_buffer_bytes: int = Field(default=0, ge=0)  # 0: the kernel's default
    catch_up_seconds: float = Field(default=2.0, gt=0)
    gc_tuning: bool = True  # process-wide collector control (server/realtime/collector.py)
    session_hours: float = Field(default=12.0, gt=0)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_import_bytes: int = Field(default=1024 * 1024, ge=1024)  # POST /persons/import only
    # Login throttling (server/core/ratelimit.py): failures per window from addresses and
    # browsers that have not logged in to the account before.
    login_attempts_per_account_address: int = Field(default=5, ge=1)
    login_attempts_per_account: int = Field(default=10, ge=1)
    login_attempts_per_ip: int = Field(default=30, ge=1)
    login_window_seconds: int = Field(default=900, ge=1)
    login_known_address_hours: float = Field(default=24.0, ge=0)
    login_known_browser_days: float = Field(default=365.0, gt=0)
    # Proxies whose X-Forwarded-For/-Proto are believed (uvicorn's forwarded_allow_ips).
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1"])
    trigger_countdown_seconds: int = Field(default=3, ge=0, le=30)
    default_language: Literal["sv", "en"] = "sv"
    # Push (docs/operations.md "Push"). Web Push: the VAPID key (PEM, or the path of a PEM
    # file; empty: no Web Push) and the contact the push services see.
    vapid_private_key: str = ""
    vapid_subject: str = ""  # mailto:… or https://…
    # Origins a Web Push endpoint may have ("https://*.host" matches its subdomains).
    push_allowed_origins: list[str] = Field(default_factory=lambda: list(PUBLIC_PUSH_SERVICES))
    push_ttl_seconds: int = Field(default=3600, ge=1)  # how long a push service keeps it
    push_resend_after_seconds: float = Field(default=30.0, gt=0)  # no receipt: push again
    # The dispatcher (server/dispatch/): its safety-net tick, sends in flight at once, rows
    # claimed per transaction, and the lease of a claimed row (longer than a send can take:
    # a node that dies mid-send leaves its rows to be sent again when the lease runs out).
    push_tick_seconds: float = Field(default=1.0, gt=0)
    push_concurrency: int = Field(default=500, ge=1)
    push_batch_size: int = Field(default=1000, ge=1, le=1000)
    push_encrypt_threads: int = Field(default=1, ge=0, le=16)  # Web Push: off the loop
    push_lease_seconds: float = Field(default=30.0, ge=1)
    push_timeout_seconds: float = Field(default=10.0, gt=0)  # one send, all in; then retried
    # APNs token authentication (an iOS app's key from Apple); empty key file: no APNs.
    apns_key_file: str = ""
    apns_key_id: str = ""
    apns_team_id: str = ""
    apns_topic: str = ""  # the app's bundle id
    apns_url: str = ""  # empty: Apple's hosts; a local stand-in's https://host:port in tests
    apns_ca_file: str = ""  # a CA to trust for apns_url (the local stand-in's)
    # Observability (docs/operations.md "Monitoring"): how log lines are written, this node's
    # name in logs and metrics (empty: the host name), and who may scrape /metrics — clients
    # from `metrics_networks`, with `Authorization: Bearer <metrics_token>` when a token is
    # set. In production /metrics answers nobody until a token is set.
    log_format: Literal["text", "json"] = "text"
    node_name: str = Field(default="", max_length=100)
    metrics_token: str = ""
    metrics_networks: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("PDV_CONFIG_FILE")
        if config_file:
            if not Path(config_file).is_file():
                raise FileNotFoundError(f"PDV_CONFIG_FILE points to a missing file: {config_file}")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @field_validator("vapid_private_key")
    @classmethod
    def _vapid_key_text(cls, value: str) -> str:
        """PEM text, or the path of a PEM file read once here: afterwards always PEM text
        (or empty: no Web Push)."""
        return read_vapid_key(value)

    @field_validator("push_allowed_origins")
    @classmethod
    def _push_origins(cls, value: list[str]) -> list[str]:
        for entry in value:
            parse_origin_rule(entry)  # ValueError names the bad entry
        return value

    @field_validator("metrics_networks")
    @classmethod
    def _metrics_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"not an address or network (CIDR): {entry!r}") from None
        return value

    @model_validator(mode="after")
    def _vapid_subject(self) -> Settings:
        from push.vapid import check_subject  # the push library's own rule, checked once

        if self.vapid_private_key:
            try:
                check_subject(self.vapid_subject)
            except ValueError:
                raise ValueError(
                    "PDV_VAPID_SUBJECT must be a mailto: address (mailto:it@…) or an https: "
                    "contact when a VAPID key is set (push services contact the operator there)"
                ) from None
        return self

    @model_validator(mode="after")
    def _apns_complete(self) -> Settings:
        named = {
            "apns_key_id": self.apns_key_id,
            "apns_team_id": self.apns_team_id,
            "apns_topic": self.apns_topic,
        }
        missing = [name for name, value in named.items() if not value]
        if self.apns_key_file and missing:
            raise ValueError(f"apns_key_file is set, so {', '.join(missing)} must be set too")
        return self

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> Settings:
        if self.push_lease_seconds <= self.push_timeout_seconds:
            raise ValueError(
                "push_lease_seconds must be longer than push_timeout_seconds: a delivery "
                "still being sent would be claimed and sent again"
            )
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment != "production":
            return self
        problems = []
        local_push = [entry for entry in self.push_allowed_origins if entry.startswith("http:")]
        if local_push:
            problems.append(
                "PDV_PUSH_ALLOWED_ORIGINS may not hold http:// origins (local push services "
                f"are for development): {', '.join(local_push)}"
            )
        if self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 32:
            problems.append("PDV_SECRET_KEY must be set to a random value of 32+ characters")
        if self.audit_key and (self.audit_key == DEFAULT_SECRET or len(self.audit_key) < 32):
            problems.append(
                "PDV_AUDIT_KEY must be a random value of 32+ characters "
                "(or empty: derived from PDV_SECRET_KEY)"
            )
        if not self.public_url.startswith("https://"):
            problems.append("PDV_PUBLIC_URL must be the https:// address users open")
        if self.metrics_token and len(self.metrics_token) < 32:
            problems.append("PDV_METRICS_TOKEN must be a random value of 32+ characters")
        if problems:
            raise UnsafeSettings("refusing to start in production: " + "; ".join(problems))
        return self

    def audit_keyring(self) -> Keyring:
        """The key new audit entries are written with (`audit_key`, else derived from
        `secret_key`) and the previous ones older entries may be keyed with."""
        return Keyring.from_secrets(self.audit_key or self.secret_key, self.audit_previous_keys)

    def bus_channel_namespace(self) -> str:
        """`bus_namespace`, or when empty 16 hex digits derived from `secret_key` by a
        labelled HMAC (the secret itself never reaches Redis)."""
        if self.bus_namespace:
            return self.bus_namespace
        derived = hmac.new(
            self.secret_key.encode("utf-8"), b"pdv-alert bus namespace", hashlib.sha256
        )
        return derived.hexdigest()[:16]

    @property
    def node(self) -> str:
        """This node's name in log lines and metrics: `node_name`, else the host name."""
        return self.node_name or socket.gethostname()

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry the Secure flag when the service is reached over TLS."""
        return self.public_url.startswith("https://")


def read_vapid_key(value: str) -> str:
    """The VAPID private key as PEM text: `value` itself when it is PEM, else the contents of
    the file it names. ValueError when the file can't be read or holds no P-256 key."""
    text = value.strip()
    if not text:
        return ""
    if text.startswith("-----BEGIN"):
        text = value
    else:
        try:
            text = Path(text).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(
                f"PDV_VAPID_PRIVATE_KEY: cannot read the key file {text}: {exc}"
            ) from None
    try:
        load_vapid_key(text)
    except VapidKeyError as exc:
        raise ValueError(f"PDV_VAPID_PRIVATE_KEY: {exc}") from None
    return text


def load_settings(**overrides: object) -> Settings:
    """Read settings once; keyword overrides win over the environment (used by the CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
