"""The app's lifespan prepares every endpoint before serving: the first request to any part
of the API builds no route, reads no source file and loads no module (server/api/warm.py)."""

from __future__ import annotations

import inspect
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from typing import Any

import fastapi.routing
import httpx
import pydantic
import pytest

from server.app import create_app
from server.settings import Settings
from server.storage.database import Database

# One request into each router the trigger, the answers and the administration go through;
# without credentials each is refused by its authentication dependency, after routing.
FIRST_REQUESTS = (
    ("POST", "/api/v1/alerts", 401),
    ("POST", "/api/v1/alerts/1/ack", 401),
    ("POST", "/api/v1/alerts/1/receipts", 401),
    ("GET", "/api/v1/audit", 401),
    ("GET", "/api/v1/persons", 401),
    ("GET", "/api/v1/devices/self", 401),
)


class Built:
    """What a request builds lazily: pydantic adapters (FastAPI's route state), source
    lookups (FastAPI's endpoint context), and modules."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.adapters = 0
        self.sources: list[str] = []
        self.modules: set[str] = set()
        adapter_init = pydantic.TypeAdapter.__init__
        getsourcelines = inspect.getsourcelines

        def counting_init(adapter: Any, *args: Any, **kwargs: Any) -> None:
            self.adapters += 1
            adapter_init(adapter, *args, **kwargs)

        def recording(obj: Any) -> Any:
            self.sources.append(obj.__name__)
            return getsourcelines(obj)

        monkeypatch.setattr(pydantic.TypeAdapter, "__init__", counting_init)
        monkeypatch.setattr(inspect, "getsourcelines", recording)


@asynccontextmanager
async def first_requests(
    app: Any, monkeypatch: pytest.MonkeyPatch, *, lifespan: bool
) -> AsyncIterator[Built]:
    """FIRST_REQUESTS on `app`, after its lifespan's start-up when `lifespan`; yields what
    they built."""
    cache = getattr(fastapi.routing, "_endpoint_context_cache", None)
    if cache is not None:
        cache.clear()  # endpoint contexts are kept per function, process-wide
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app) if lifespan else nullcontext():
        before = set(sys.modules)
        built = Built(monkeypatch)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            for method, path, status in FIRST_REQUESTS:
                response = await http.request(method, path, json={} if method == "POST" else None)
                assert response.status_code == status, (path, response.text)
        built.modules = set(sys.modules) - before
        yield built


async def test_after_start_up_first_requests_build_nothing(
    settings: Settings, sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(settings, database=sqlite_database, realtime=False)
    async with first_requests(app, monkeypatch, lifespan=True) as built:
        assert built.adapters == 0
        assert built.sources == []
        assert built.modules == set()


async def test_without_start_up_first_requests_build_routes_and_read_sources(
    settings: Settings, sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: the same requests on an app whose start-up has not run."""
    app = create_app(settings, database=sqlite_database, realtime=False)
    async with first_requests(app, monkeypatch, lifespan=False) as built:
        assert built.adapters > 0
        if getattr(fastapi.routing, "_endpoint_context_cache", None) is not None:
            assert len(built.sources) == len(FIRST_REQUESTS)


@pytest.mark.parametrize(
    ("part", "logged"),
    [
        ("server.api.warm.api_routes", "preparing the endpoints failed"),
        ("server.api.warm.rehearse", "rehearsing a trigger failed"),
    ],
)
async def test_a_failing_preparation_does_not_stop_the_start(
    settings: Settings,
    sqlite_database: Database,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    part: str,
    logged: str,
) -> None:
    """The node serves even when a part of preparing fails (a FastAPI that changed its
    internals, tables the rehearsal cannot write)."""

    def broken(*_args: Any) -> Any:
        raise RuntimeError("changed shape")

    monkeypatch.setattr(part, broken)
    app = create_app(settings, database=sqlite_database, realtime=False)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.get("/api/v1/health")).status_code == 200
    assert logged in caplog.text
