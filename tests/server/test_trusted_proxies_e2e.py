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
        response = httpx.post(
            f"{server.url}/api/v1/auth/login",
            json={"email": person.email, "password": person.password},
            headers={"X-Forwarded-For": FORWARDED_FOR},
            timeout=HTTP_TIMEOUT,
        )
        assert response.status_code == 200, response.text
    assert _session_addresses(tmp_path) == [seen]
