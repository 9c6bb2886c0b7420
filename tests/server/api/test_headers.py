"""Every HTTP answer carries the security headers; API answers are never cached."""

from __future__ import annotations

import re

import httpx
import pytest

SECURITY = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "content-security-policy": "frame-ancestors 'none'",
    "x-frame-options": "DENY",
}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/health", 200),
        ("GET", "/api/v1/me", 401),
        ("GET", "/api/v1/no-such-endpoint", 404),
        ("POST", "/api/v1/auth/login", 422),
    ],
)
async def test_api_answers_carry_security_headers_and_no_store(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    """Success and error answers under /api/ alike: nosniff, no framing, no referrer, no-store."""
    response = await client.request(method, path, json={} if method == "POST" else None)
    assert response.status_code == status
    for name, value in SECURITY.items():
        assert response.headers[name] == value
    assert response.headers["cache-control"] == "no-store"


async def test_refused_oversized_body_carries_security_headers(client: httpx.AsyncClient) -> None:
    """The body-size guard's 413 gets the headers too (the guard sits inside them)."""
    limit = client.app.state.settings.max_body_bytes  # type: ignore[attr-defined]
    response = await client.post("/api/v1/auth/login", content=b"x" * (limit + 1))
    assert response.status_code == 413
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


async def test_docs_are_served_without_any_outside_script(client: httpx.AsyncClient) -> None:
    """/docs loads its script and styles from this server: no CDN in the leaders' origin."""
    page = await client.get("/docs")
    assert page.status_code == 200
    assert page.headers["x-frame-options"] == "DENY"
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources, page.text
    assert all(source.startswith("/") for source in sources), sources
    for source in sources:
        asset = await client.get(source)
        assert asset.status_code == 200, source
        assert len(asset.content) > 1000
    assert "openapi.json" in page.text
