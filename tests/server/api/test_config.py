"""GET /api/v1/config tells every client the WebSocket address it must dial."""

from __future__ import annotations

import httpx
import pytest

from server.api.config import public_ws_url
from server.app import create_app
from server.settings import Settings
from server.storage.database import Database


def settings(**values: object) -> Settings:
    return Settings(database_url="sqlite+aiosqlite:///unused.db", **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"ws_public_url": "wss://ws.koping.example/live"}, "wss://ws.koping.example/live"),
        ({"public_url": "https://larm.koping.example"}, "wss://larm.koping.example/ws"),
        ({"public_url": "https://larm.koping.example:8443/"}, "wss://larm.koping.example:8443/ws"),
        ({"public_url": "http://10.0.0.5:8000"}, "ws://10.0.0.5:8000/ws"),
        ({"host": "127.0.0.1"}, "ws://127.0.0.1:8123/"),
        ({"host": "0.0.0.0"}, "ws://127.0.0.1:8123/"),
        ({"host": "0.0.0.0", "ws_host": "192.168.1.20"}, "ws://192.168.1.20:8123/"),
        ({"host": "::1"}, "ws://[::1]:8123/"),
    ],
)
def test_public_ws_url_is_derived_from_the_settings(
    values: dict[str, object], expected: str
) -> None:
    """ws_public_url wins; else wss://<public_url host>/ws; else the gateway's own port."""
    assert public_ws_url(settings(**values), gateway_port=8123) == expected


async def test_config_behind_a_tls_proxy_never_answers_a_local_address(
    sqlite_database: Database,
) -> None:
    """With public_url behind a proxy, /config gives wss://<public host>/ws, whatever Host says."""
    app = create_app(
        settings(public_url="https://larm.koping.example", ws_port=8001),
        database=sqlite_database,
        realtime=False,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        for host in ("127.0.0.1:8000", "evil.example"):
            response = await http.get("/api/v1/config", headers={"Host": host})
            assert response.status_code == 200
            assert response.json()["ws_url"] == "wss://larm.koping.example/ws"


async def test_config_lists_protocol_and_languages(client: httpx.AsyncClient) -> None:
    """The config also names the protocol version, the languages and the trigger countdown."""
    body = (await client.get("/api/v1/config")).json()
    assert body["protocol_version"] >= 1
    assert body["languages"] == ["sv", "en"]
    assert body["default_language"] in body["languages"]
    assert body["trigger_countdown_seconds"] >= 0
