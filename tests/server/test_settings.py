"""Settings: environment variables, the TOML file, production refusals, strictness."""

from __future__ import annotations

import socket
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from push.vapid import generate_vapid_key
from server.settings import DEFAULT_SECRET, Settings, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "pdv-alert.example.toml"
STRONG_SECRET = "k" * 40


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without PDV_* variables from the developer's shell."""
    import os

    for name in list(os.environ):
        if name.startswith("PDV_") and name != "PDV_REQUIRE_SERVICES":
            monkeypatch.delenv(name)


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pdv-alert.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_development_on_sqlite() -> None:
    """Without configuration the service runs in development mode on a local SQLite file."""
    settings = load_settings()
    assert settings.environment == "development"
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.bus_url == "memory://"
    assert settings.secret_key == DEFAULT_SECRET
    assert settings.secure_cookies is False


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """PDV_* variables set the matching fields, converted to their types."""
    monkeypatch.setenv("PDV_PORT", "9123")
    monkeypatch.setenv("PDV_DATABASE_URL", "postgresql+asyncpg://pdv@db/pdv")
    monkeypatch.setenv("PDV_SESSION_HOURS", "1.5")
    monkeypatch.setenv("PDV_DEFAULT_LANGUAGE", "en")
    settings = load_settings()
    assert settings.port == 9123
    assert settings.database_url == "postgresql+asyncpg://pdv@db/pdv"
    assert settings.session_hours == 1.5
    assert settings.default_language == "en"


def test_keyword_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's --database-url beats PDV_DATABASE_URL."""
    monkeypatch.setenv("PDV_DATABASE_URL", "sqlite+aiosqlite:///from-env.db")
    settings = load_settings(database_url="sqlite+aiosqlite:///from-cli.db")
    assert settings.database_url == "sqlite+aiosqlite:///from-cli.db"


def test_toml_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """PDV_CONFIG_FILE names a TOML file whose keys are the field names."""
    path = write_toml(tmp_path, 'port = 8443\nbus_url = "redis://127.0.0.1:6379/0"\n')
    monkeypatch.setenv("PDV_CONFIG_FILE", str(path))
    settings = load_settings()
    assert settings.port == 8443
    assert settings.bus_url == "redis://127.0.0.1:6379/0"


def test_environment_wins_over_the_toml_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A variable in the environment overrides the same key in the file."""
    path = write_toml(tmp_path, "port = 8443\n")
    monkeypatch.setenv("PDV_CONFIG_FILE", str(path))
    monkeypatch.setenv("PDV_PORT", "9000")
    assert load_settings().port == 9000


def test_missing_config_file_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A PDV_CONFIG_FILE that does not exist stops start-up instead of being ignored."""
    monkeypatch.setenv("PDV_CONFIG_FILE", str(tmp_path / "nowhere.toml"))
    with pytest.raises(FileNotFoundError, match=r"nowhere\.toml"):
        load_settings()


def test_unknown_keys_in_the_toml_file_are_rejected(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A misspelt key is an error, not silently ignored."""
    path = write_toml(tmp_path, "prot = 8443\n")
    monkeypatch.setenv("PDV_CONFIG_FILE", str(path))
    with pytest.raises(ValidationError, match="prot"):
        load_settings()


def test_unknown_keyword_overrides_are_rejected() -> None:
    """Settings built in code reject unknown fields too."""
    with pytest.raises(ValidationError, match="databse_url"):
        load_settings(databse_url="sqlite+aiosqlite:///x.db")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("port", "70000"),
        ("port", "not-a-number"),
        ("session_hours", "0"),
        ("max_body_bytes", "10"),
        ("trigger_countdown_seconds", "31"),
        ("environment", "staging"),
        ("default_language", "de"),
        ("log_format", "xml"),
        ("metrics_networks", '["10.0.0.0/33"]'),
        ("metrics_networks", '["localhost"]'),
    ],
)
def test_invalid_values_are_rejected(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    """Out-of-range or wrongly typed values stop start-up with the field named."""
    monkeypatch.setenv(f"PDV_{name.upper()}", value)
    with pytest.raises(ValidationError, match=name):
        load_settings()


def test_production_refuses_the_default_secret() -> None:
    """Production with the development secret key is refused."""
    with pytest.raises(ValidationError, match="PDV_SECRET_KEY"):
        Settings(environment="production", public_url="https://larm.koping.se")


def test_production_refuses_a_short_secret() -> None:
    """A secret key shorter than 32 characters is not accepted in production."""
    with pytest.raises(ValidationError, match="PDV_SECRET_KEY"):
        Settings(environment="production", secret_key="short", public_url="https://larm.koping.se")


@pytest.mark.parametrize("public_url", ["", "http://larm.koping.se"])
def test_production_refuses_a_non_https_public_url(public_url: str) -> None:
    """Production must be reached over https (Secure cookies, Web Push, service worker)."""
    with pytest.raises(ValidationError, match="PDV_PUBLIC_URL"):
        Settings(environment="production", secret_key=STRONG_SECRET, public_url=public_url)


def test_production_refuses_a_short_metrics_token() -> None:
    """A metrics token shorter than 32 characters is not accepted in production."""
    with pytest.raises(ValidationError, match="PDV_METRICS_TOKEN"):
        Settings(
            environment="production",
            secret_key=STRONG_SECRET,
            public_url="https://larm.koping.se",
            metrics_token="short",
        )


def test_the_node_name_is_node_name_else_the_host_name() -> None:
    """Logs and metrics name the node `node_name`, or the host name when it is empty."""
    assert Settings(node_name="nod-a").node == "nod-a"
    assert Settings().node == socket.gethostname()


def test_production_with_safe_settings_starts() -> None:
    """A strong secret and an https public URL are enough for production; cookies are Secure."""
    settings = Settings(
        environment="production", secret_key=STRONG_SECRET, public_url="https://larm.koping.se"
    )
    assert settings.secure_cookies is True


def test_production_refusal_applies_to_the_toml_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The production checks run whatever the source of the values."""
    path = write_toml(tmp_path, 'environment = "production"\npublic_url = "https://x.se"\n')
    monkeypatch.setenv("PDV_CONFIG_FILE", str(path))
    with pytest.raises(ValidationError, match="refusing to start in production"):
        load_settings()


def test_example_file_documents_every_field() -> None:
    """deploy/pdv-alert.example.toml mentions every settings field, with a comment."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for name in Settings.model_fields:
        lines = [line for line in text.splitlines() if line.lstrip("# ").startswith(f"{name} =")]
        assert lines, f"{name} is not in {EXAMPLE.name}"
        index = text.splitlines().index(lines[0])
        assert text.splitlines()[index - 1].startswith("#"), f"{name} has no comment above it"


def production_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """What an operator must supply in production, here as environment variables."""
    monkeypatch.setenv("PDV_SECRET_KEY", STRONG_SECRET)
    monkeypatch.setenv("PDV_PUBLIC_URL", "https://larm.koping.se")


def test_example_file_is_production_and_refuses_without_its_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The example file sets production: as it is (no secret, no public URL) it is refused."""
    document = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert set(document) <= set(Settings.model_fields)
    assert document["environment"] == "production"
    monkeypatch.setenv("PDV_CONFIG_FILE", str(EXAMPLE))
    with pytest.raises(ValidationError, match="refusing to start in production"):
        load_settings()


def test_example_file_loads_with_the_production_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example file loads once the environment supplies the secret and the public URL."""
    monkeypatch.setenv("PDV_CONFIG_FILE", str(EXAMPLE))
    production_values(monkeypatch)
    settings = load_settings()
    assert settings.environment == "production"


def test_example_file_with_every_key_uncommented_loads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every commented-out example value is valid for its field (the VAPID key file it names
    is read at start-up, so a real one stands in for it)."""
    lines = []
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        candidate = line.removeprefix("# ")
        key = candidate.split("=", 1)[0].strip()
        if "=" in candidate and key in Settings.model_fields:
            lines.append(candidate)
    values = tomllib.loads("\n".join(lines))
    assert set(values) == set(Settings.model_fields)
    path = write_toml(tmp_path, "\n".join(lines) + "\n")
    monkeypatch.setenv("PDV_CONFIG_FILE", str(path))
    production_values(monkeypatch)  # the example's secret is the development one
    key_file = tmp_path / "vapid.pem"
    key_file.write_text(generate_vapid_key())
    monkeypatch.setenv("PDV_VAPID_PRIVATE_KEY", str(key_file))
    settings = load_settings()
    assert settings.port == values["port"]
    assert settings.vapid_subject == values["vapid_subject"]


@pytest.mark.parametrize("audit_key", [DEFAULT_SECRET, "short"])
def test_production_refuses_a_weak_audit_key(audit_key: str) -> None:
    """An audit key that is the development secret or shorter than 32 characters is refused."""
    with pytest.raises(ValidationError, match="PDV_AUDIT_KEY"):
        Settings(
            environment="production",
            secret_key=STRONG_SECRET,
            public_url="https://larm.koping.se",
            audit_key=audit_key,
        )


def test_the_audit_key_is_audit_key_else_derived_from_the_secret_key() -> None:
    """Without audit_key the chain is keyed from secret_key; audit_key replaces it."""
    derived = Settings(secret_key=STRONG_SECRET).audit_keyring().current
    assert derived == Settings(secret_key=STRONG_SECRET, audit_key="").audit_keyring().current
    assert derived != Settings().audit_keyring().current
    own = Settings(secret_key=STRONG_SECRET, audit_key="a" * 40).audit_keyring()
    assert own.current != derived and own.previous == ()
    rotated = Settings(audit_key="a" * 40, audit_previous_keys=[STRONG_SECRET]).audit_keyring()
    assert rotated.find(derived.fingerprint) == derived


def test_a_push_lease_must_outlast_a_send() -> None:
    """A claimed delivery's lease shorter than one send's timeout would let another worker
    send it again while the first send is still waiting: refused."""
    with pytest.raises(ValidationError, match="push_lease_seconds must be longer"):
        Settings(push_lease_seconds=5, push_timeout_seconds=10)
    assert Settings(push_lease_seconds=11, push_timeout_seconds=10).push_timeout_seconds == 10


@pytest.mark.parametrize("subject", ["mailto:it", "it@example.se", "http://example.se"])
def test_a_vapid_key_needs_a_contact_push_services_accept(subject: str) -> None:
    """The push library's own rule, at start-up: a mailto: address or an https: URL."""
    key = generate_vapid_key()
    with pytest.raises(ValidationError, match="PDV_VAPID_SUBJECT"):
        Settings(vapid_private_key=key, vapid_subject=subject)
    assert Settings(vapid_private_key=key, vapid_subject="mailto:it@example.se")


@pytest.mark.parametrize("missing", ["apns_key_id", "apns_team_id", "apns_topic"])
def test_an_apns_key_needs_its_id_team_and_topic(missing: str) -> None:
    values = {
        "apns_key_file": "AuthKey.p8",
        "apns_key_id": "ABC123DEFG",
        "apns_team_id": "DEF123GHIJ",
        "apns_topic": "se.example.larm",
    }
    assert Settings(**values)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=missing):
        Settings(**{**values, missing: ""})  # type: ignore[arg-type]
