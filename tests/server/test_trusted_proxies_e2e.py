"""The real `pdv-alert serve` believes X-Forwarded-For only from a `trusted_proxies` address."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from server import demo
from tests.server.serving import HTTP_TIMEOUT, serving

FORWARDED_FOR = "203.0.113.7"


def _session_addresses(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "pdv-alert.db") as connection:
        return [row[0] for row in connection.execute("SELECT ip FROM login_sessions")]


def _login(
    url: str, person: demo.DemoPerson, headers: dict[str, str] | None = None
) -> httpx.Response:
    """Log `person` in on the server at `url`, through whatever `headers` say."""
    return httpx.post(
        f"{url}/api/v1/auth/login",
        json={"email": person.email, "password": person.password},
        headers=headers,
        timeout=HTTP_TIMEOUT,
    )


@pytest.mark.parametrize(
    ("trusted_proxies", "seen"),
    [
        (None, FORWARDED_FOR),  # the default: 127.0.0.1, a proxy on the same host
        ('["127.0.0.0/8"]', FORWARDED_FOR),
        ('["192.0.2.1"]', "127.0.0.1"),
    ],
)
def test_forwarded_for_is_believed_only_from_trusted_proxies(
    tmp_path: Path, trusted_proxies: str | None, seen: str
) -> None:
    """A login through 127.0.0.1 with X-Forwarded-For records the forwarded address when
    127.0.0.1 is a trusted proxy, and the connecting address when it is not."""
    settings = {} if trusted_proxies is None else {"trusted_proxies": trusted_proxies}
    person = demo.PEOPLE[0]
    with serving(tmp_path, **settings) as server:
        response = _login(server.url, person, {"X-Forwarded-For": FORWARDED_FOR})
        assert response.status_code == 200, response.text
    assert _session_addresses(tmp_path) == [seen]


@pytest.mark.parametrize(
    ("trusted_proxies", "expected_base"),
    [
        (None, "https://larm.skola.se"),  # the proxy on 127.0.0.1 is believed
        ('["192.0.2.1"]', None),  # not a trusted proxy: the address actually used
    ],
)
def test_enroll_url_without_public_url_follows_a_trusted_proxy(
    tmp_path: Path, trusted_proxies: str | None, expected_base: str | None
) -> None:
    """Without public_url an enrollment link is absolute on the request's own address:
    the forwarded scheme via a trusted proxy, else the scheme the server was reached by."""
    settings = {} if trusted_proxies is None else {"trusted_proxies": trusted_proxies}
    admin = demo.PEOPLE[0]
    with serving(tmp_path, **settings) as server:
        login = _login(server.url, admin)
        headers = {"Authorization": f"Bearer {login.cookies['pdv_session']}"}
        sites = httpx.get(f"{server.url}/api/v1/sites", headers=headers, timeout=HTTP_TIMEOUT)
        created = httpx.post(
            f"{server.url}/api/v1/enrollment-codes",
            json={"site_id": sites.json()[0]["id"]},
            headers={
                **headers,
                "Host": "larm.skola.se",
                "X-Forwarded-Proto": "https",
                "X-Forwarded-For": FORWARDED_FOR,
            },
            timeout=HTTP_TIMEOUT,
        )
        assert created.status_code == 201, created.text
    body = created.json()
    base = expected_base or "http://larm.skola.se"
    assert body["enroll_url"] == f"{base}/enroll?code={body['code']}"
    assert body["qr_svg"].startswith("<svg")
