"""The VAPID key: settings (PEM or a file, the subject, push origins, production rules), the
public key in GET /api/v1/config, `pdv-alert vapid-keys`, and the demo's own key."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from push.vapid import generate_vapid_key, vapid_public_key
from server.app import create_app
from server.cli import main
from server.settings import PUBLIC_PUSH_SERVICES, Settings
from server.storage.database import Database
from server.vapid import DEMO_KEY_NAME, DEMO_SUBJECT, with_demo_key

SUBJECT = "mailto:it@koping.example"
PRODUCTION = {
    "environment": "production",
    "secret_key": "x" * 40,
    "public_url": "https://larm.koping.example",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PDV_* settings from the developer's shell; stdin is not a terminal."""
    for name in list(os.environ):
        if name.startswith("PDV_") and name != "PDV_REQUIRE_SERVICES":
            monkeypatch.delenv(name)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))


def settings(**values: object) -> Settings:
    return Settings(database_url="sqlite+aiosqlite:///unused.db", **values)  # type: ignore[arg-type]


def test_the_key_may_be_pem_text_or_a_file_read_once(tmp_path: Path) -> None:
    """PEM text is kept; a path is read at start-up and the setting holds its PEM."""
    pem = generate_vapid_key()
    assert settings(vapid_private_key=pem, vapid_subject=SUBJECT).vapid_private_key == pem
    path = tmp_path / "vapid.pem"
    path.write_text(pem)
    loaded = settings(vapid_private_key=str(path), vapid_subject=SUBJECT)
    assert loaded.vapid_private_key == pem
    path.unlink()
    assert loaded.vapid_private_key == pem  # read once, not at each use


def test_an_unreadable_or_invalid_key_stops_the_start_up(tmp_path: Path) -> None:
    """A missing file and a file without a P-256 key are clear errors naming the setting."""
    with pytest.raises(ValidationError, match="PDV_VAPID_PRIVATE_KEY: cannot read"):
        settings(vapid_private_key=str(tmp_path / "missing.pem"), vapid_subject=SUBJECT)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ValidationError, match="PDV_VAPID_PRIVATE_KEY: not a PEM private key"):
        settings(vapid_private_key=str(garbage), vapid_subject=SUBJECT)


@pytest.mark.parametrize("subject", ["", "it@koping.example", "http://koping.example"])
def test_a_key_needs_a_mailto_or_https_subject(subject: str) -> None:
    """With a key set, the subject must be mailto: or https:."""
    with pytest.raises(ValidationError, match="PDV_VAPID_SUBJECT"):
        settings(vapid_private_key=generate_vapid_key(), vapid_subject=subject)
    settings(vapid_private_key=generate_vapid_key(), vapid_subject="https://koping.example")


def test_push_origins_come_from_a_json_list_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PDV_PUSH_ALLOWED_ORIGINS is a JSON list; the default is the public push services."""
    assert settings().push_allowed_origins == list(PUBLIC_PUSH_SERVICES)
    monkeypatch.setenv(
        "PDV_PUSH_ALLOWED_ORIGINS", '["https://push.koping.example", "http://127.0.0.1:9000"]'
    )
    assert settings().push_allowed_origins == [
        "https://push.koping.example",
        "http://127.0.0.1:9000",
    ]


def test_bad_push_origins_are_refused() -> None:
    """An origin that is neither https nor a loopback http origin stops the start-up."""
    with pytest.raises(ValidationError, match="push origin"):
        settings(push_allowed_origins=["http://push.koping.example"])


def test_production_refuses_local_push_origins() -> None:
    """http://127.0.0.1:PORT is for development: production refuses it."""
    with pytest.raises(ValidationError, match="refusing to start in production: PDV_PUSH_ALLOWED"):
        settings(**PRODUCTION, push_allowed_origins=["http://127.0.0.1:9000"])
    assert settings(**PRODUCTION).push_allowed_origins == list(PUBLIC_PUSH_SERVICES)


async def _config(values: Settings, database: Database) -> dict[str, object]:
    app = create_app(values, database=database, realtime=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/api/v1/config")
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


async def test_config_tells_browsers_the_public_key(sqlite_database: Database) -> None:
    """vapid_public_key is the key's uncompressed point in base64url, null without a key."""
    assert (await _config(settings(), sqlite_database))["vapid_public_key"] is None
    pem = generate_vapid_key()
    body = await _config(settings(vapid_private_key=pem, vapid_subject=SUBJECT), sqlite_database)
    assert body["vapid_public_key"] == vapid_public_key(pem)
    assert len(str(body["vapid_public_key"])) == 87


def test_vapid_keys_writes_a_private_key_file_and_prints_the_public_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The file is PEM with mode 0600, the printed key is its public key, and a second run
    never overwrites it."""
    path = tmp_path / "keys" / "vapid.pem"
    assert main(["vapid-keys", "--out", str(path)]) == 0
    out = capsys.readouterr().out
    pem = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert vapid_public_key(pem) in out and str(path) in out
    assert main(["vapid-keys", "--out", str(path)]) == 1
    assert "skrivs inte över" in capsys.readouterr().err
    assert path.read_text() == pem


def test_the_demo_writes_its_key_next_to_the_database_and_serve_uses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`demo` writes var/vapid-demo.pem beside the SQLite file, keeps it across runs, and
    the serve settings take it (with a demo subject) when no key is configured."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'var' / 'pdv.db'}"
    (tmp_path / "var").mkdir()
    assert main(["--database-url", url, "demo"]) == 0
    key_file = tmp_path / "var" / DEMO_KEY_NAME
    assert str(key_file) in capsys.readouterr().out
    pem = key_file.read_text()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert main(["--database-url", url, "demo"]) == 0
    assert key_file.read_text() == pem
    served = with_demo_key(Settings(database_url=url))
    assert served.vapid_private_key == pem and served.vapid_subject == DEMO_SUBJECT
    configured = generate_vapid_key()
    own = Settings(database_url=url, vapid_private_key=configured, vapid_subject=SUBJECT)
    assert with_demo_key(own).vapid_private_key == configured
    production = Settings(database_url=url, **PRODUCTION)  # type: ignore[arg-type]
    assert with_demo_key(production).vapid_private_key == ""


def test_the_demo_writes_no_key_when_one_is_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A configured key is used as it is: no demo key file appears."""
    monkeypatch.setenv("PDV_VAPID_PRIVATE_KEY", generate_vapid_key())
    monkeypatch.setenv("PDV_VAPID_SUBJECT", SUBJECT)
    url = f"sqlite+aiosqlite:///{tmp_path / 'pdv.db'}"
    assert main(["--database-url", url, "demo"]) == 0
    assert not (tmp_path / DEMO_KEY_NAME).exists()
    assert "vapid" not in capsys.readouterr().out.lower()
