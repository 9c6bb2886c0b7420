"""GET /metrics in process: who may scrape it (networks, bearer token, production), the
outbox gauges read from the database, login failures counted. The real `pdv-alert serve`
process is scraped in tests/server/test_metrics_e2e.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from protocol.vocabulary import DeviceKind, Role
from server.app import create_app
from server.clock import utcnow
from server.settings import Settings
from server.storage.database import Database
from server.storage.tables import PushDelivery
from tests import factories
from tests.factories import World, bearer

METRICS = "/metrics"
TOKEN = "m" * 40
PRODUCTION = {
    "environment": "production",
    "secret_key": "s" * 40,
    "public_url": "https://larm.koping.se",
}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text page by (name, labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def client(
    settings: Settings, database: Database, *, address: str = "127.0.0.1"
) -> httpx.AsyncClient:
    """An HTTP client on the app, calling from `address`."""
    app = create_app(settings, database=database)
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def world(database: Database) -> World:
    world = await factories.organization(database)
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    return world


@pytest.fixture
async def http(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with client(settings, database) as http:
        yield http


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


async def test_loopback_scrapes_without_token_in_development(http: httpx.AsyncClient) -> None:
    """By default (development, no token) a loopback client gets the Prometheus text page
    with the documented metric families."""
    response = await http.get(METRICS)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {
        "pdv_events_fanned_out",
        "pdv_fan_out_duration_seconds",
        "pdv_answers_stored",
        "pdv_push_deliveries",
        "pdv_push_outbox_depth",
        "pdv_push_outbox_oldest_due_seconds",
        "pdv_bus_lag_seconds",
        "pdv_bus_reconnects",
        "pdv_login_failures",
    } <= names


async def test_an_address_outside_the_networks_is_refused(
    settings: Settings, database: Database
) -> None:
    """A client outside metrics_networks gets 403 metrics.forbidden; one inside a configured
    network gets the page."""
    async with client(settings, database, address="203.0.113.9") as outside:
        response = await outside.get(METRICS)
    assert (response.status_code, error_code(response)) == (403, "metrics.forbidden")
    allowed = settings.model_copy(update={"metrics_networks": ["203.0.113.0/24"]})
    async with client(allowed, database, address="203.0.113.9") as inside:
        assert (await inside.get(METRICS)).status_code == 200


async def test_the_token_is_required_when_set(settings: Settings, database: Database) -> None:
    """With metrics_token set, no header or a wrong token is refused, the right bearer token
    is let in."""
    guarded = settings.model_copy(update={"metrics_token": TOKEN})
    async with client(guarded, database) as http:
        missing = await http.get(METRICS)
        wrong = await http.get(METRICS, headers={"Authorization": f"Bearer {TOKEN}x"})
        basic = await http.get(METRICS, headers={"Authorization": f"Basic {TOKEN}"})
        right = await http.get(METRICS, headers={"Authorization": f"Bearer {TOKEN}"})
    for refused in (missing, wrong, basic):
        assert (refused.status_code, error_code(refused)) == (403, "metrics.forbidden")
    assert right.status_code == 200


async def test_production_without_a_token_answers_nobody(database: Database) -> None:
    """In production /metrics is closed until a token is set, even to loopback; with the
    token it opens."""
    closed = Settings(**PRODUCTION)  # type: ignore[arg-type]
    async with client(closed, database) as http:
        response = await http.get(METRICS)
    assert (response.status_code, error_code(response)) == (403, "metrics.forbidden")
    opened = Settings(**PRODUCTION, metrics_token=TOKEN)  # type: ignore[arg-type]
    async with client(opened, database) as http:
        scraped = await http.get(METRICS, headers={"Authorization": f"Bearer {TOKEN}"})
    assert scraped.status_code == 200


async def test_outbox_depth_and_oldest_due_age_come_from_the_database(
    http: httpx.AsyncClient, world: World
) -> None:
    """Two deliveries still to send, one due for a minute: depth 2, oldest due ≥ 60 s; a
    finished delivery does not count; an empty outbox reads 0 and 0."""
    empty = (await http.get(METRICS)).text
    assert value(empty, "pdv_push_outbox_depth") == 0
    assert value(empty, "pdv_push_outbox_oldest_due_seconds") == 0
    for key in ("phone", "tablet", "old"):
        await factories.device(world, key, site="A", kind=DeviceKind.WEB)
    created = await http.post(
        "/api/v1/alerts",
        json={"kind": "pdv_lockdown", "site_ids": [world.sites["A"]]},
        headers=bearer(world, "principal"),
    )
    assert created.status_code == 201, created.text
    alert_id = created.json()["alert"]["id"]
    await factories.push_delivery(world, "phone", alert_id=alert_id, seq=1, state="queued")
    await factories.push_delivery(world, "tablet", alert_id=alert_id, seq=1, state="sent")
    await factories.push_delivery(world, "old", alert_id=alert_id, seq=1, state="delivered")
    async with world.database.session() as session:
        await session.execute(
            update(PushDelivery)
            .where(PushDelivery.device_id == world.devices["phone"])
            .values(next_attempt_at=utcnow() - timedelta(seconds=60))
        )
        await session.commit()
    page = (await http.get(METRICS)).text
    assert value(page, "pdv_push_outbox_depth") == 2
    assert 60 <= value(page, "pdv_push_outbox_oldest_due_seconds") < 600


async def test_refused_logins_are_counted_by_reason(http: httpx.AsyncClient, world: World) -> None:
    """A wrong password moves pdv_login_failures{reason="credentials"} by one."""
    name = "pdv_login_failures_total"
    before = value((await http.get(METRICS)).text, name, reason="credentials")
    refused = await http.post(
        "/api/v1/auth/login", json={"email": "nobody@example.se", "password": "wrong password"}
    )
    assert refused.status_code == 401
    after = value((await http.get(METRICS)).text, name, reason="credentials")
    assert after == before + 1


async def test_throttled_logins_are_counted_as_throttled(
    settings: Settings, database: Database
) -> None:
    """Once an account's attempts from one address are used up, the next refusal (429)
    moves pdv_login_failures{reason="throttled"} by one."""
    strict = settings.model_copy(update={"login_attempts_per_account_address": 2})
    name = "pdv_login_failures_total"
    async with client(strict, database) as http:
        before = value((await http.get(METRICS)).text, name, reason="throttled")
        answers = [
            (
                await http.post(
                    "/api/v1/auth/login",
                    json={"email": "gissad@example.se", "password": "wrong password"},
                )
            ).status_code
            for _ in range(3)
        ]
        after = value((await http.get(METRICS)).text, name, reason="throttled")
    assert answers == [401, 401, 429]
    assert after == before + 1
