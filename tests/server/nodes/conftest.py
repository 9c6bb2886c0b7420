"""Several real `pdv-alert serve` processes on one fresh PostgreSQL database and a private
`redis-server`, with a leader's HTTP client and enrolled device clients (tests/server/nodes/
devices.py). The database is migrated once (the session's template) and the nodes start with
`--no-migrate`, as docs/operations.md tells operators to run them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from protocol.vocabulary import Role
from server import demo
from tests.conftest import POSTGRES_URL, _pg_admin, _with_database, fresh_postgres, run_in_thread
from tests.server.nodes.devices import DeviceClient
from tests.server.redis_service import RedisServer
from tests.server.serving import HTTP_TIMEOUT, Running, environment, seed, serve

SITE = "Ullvigymnasiet"
PRINCIPAL = next(p for p in demo.PEOPLE if p.roles == ((Role.PRINCIPAL, SITE),))
CHIEF = next(p for p in demo.PEOPLE if p.roles == ((Role.SECURITY_CHIEF, None),))
ADMIN = next(p for p in demo.PEOPLE if p.roles == ((Role.ADMIN, None),))


async def login(client: httpx.AsyncClient, person: demo.DemoPerson) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"email": person.email, "password": person.password}
    )
    assert response.status_code == 200, response.text


@dataclass
class Cluster:
    """The nodes (by name), how to start more or kill one, and the devices."""

    tmp_path: Path
    database_url: str
    env: dict[str, str]
    redis: RedisServer
    stack: ExitStack
    nodes: dict[str, Running] = field(default_factory=dict)
    site_id: int = 0
    devices: list[DeviceClient] = field(default_factory=list)

    async def start(self, *names: str) -> None:
        """Start these nodes (in parallel), each until it prints its addresses."""

        def one(name: str) -> Running:
            context = serve(
                self.database_url,
                self.env,
                self.tmp_path / f"{name}.stderr",
                args=("--no-migrate",),
            )
            running = context.__enter__()
            self.stack.push(context.__exit__)
            return running

        started = await asyncio.gather(*(asyncio.to_thread(one, name) for name in names))
        self.nodes.update(zip(names, started, strict=True))

    async def kill(self, name: str) -> None:
        """kill -9 the node: no shutdown, its connections just drop."""
        process = self.nodes[name].process
        process.kill()
        await asyncio.to_thread(process.wait, 30)

    def http(self, name: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.nodes[name].url, timeout=HTTP_TIMEOUT)

    @asynccontextmanager
    async def leader(
        self, name: str, person: demo.DemoPerson = PRINCIPAL
    ) -> AsyncIterator[httpx.AsyncClient]:
        """A logged-in HTTP client of `person` on node `name`."""
        async with self.http(name) as client:
            await login(client, person)
            yield client

    async def enroll(
        self, count: int, *, node: str = "a", kind: str = "desktop"
    ) -> list[tuple[int, str]]:
        """`count` devices of `kind` at the site, enrolled over HTTP: (id, token) each."""
        async with self.leader(node, ADMIN) as admin:
            code = await admin.post(
                "/api/v1/enrollment-codes",
                json={"site_id": self.site_id, "device_kind": kind, "max_uses": count},
            )
            assert code.status_code == 201, code.text
            enrolled = []
            for n in range(count):
                response = await admin.post(
                    "/api/v1/devices/enroll",
                    json={"code": code.json()["code"], "kind": kind, "name": f"Enhet {n}"},
                )
                assert response.status_code == 201, response.text
                enrolled.append((response.json()["device"]["id"], response.json()["token"]))
        return enrolled

    async def connect(self, urls: list[str]) -> list[DeviceClient]:
        """One device client per URL (enrolled now), started and welcomed."""
        enrolled = await self.enroll(len(urls))
        clients = [
            DeviceClient(name=f"device-{device_id}", token=token, url=url)
            for (device_id, token), url in zip(enrolled, urls, strict=True)
        ]
        for client in clients:
            client.start()
        self.devices.extend(clients)
        await asyncio.gather(*(client.welcomed() for client in clients))
        return clients

    async def trigger(self, node: str, **body: Any) -> httpx.Response:
        async with self.leader(node) as leader:
            return await leader.post(
                "/api/v1/alerts",
                json={"kind": "pdv_lockdown", "site_ids": [self.site_id], **body},
            )

    async def set_order(self, node: str, alert_id: int, order: str) -> int:
        """Change the alert's order over node `node`'s API; the event's seq."""
        async with self.leader(node) as leader:
            response = await leader.patch(
                f"/api/v1/alerts/{alert_id}", json={"order": {"sv": order}}
            )
            assert response.status_code == 200, response.text
            events = await leader.get("/api/v1/alerts/events", params={"after_seq": 0})
        seq: int = events.json()["seq"]
        return seq


def cluster_environment(redis_url: str, **settings: str) -> dict[str, str]:
    env = environment()
    env.update({"PDV_BUS_URL": redis_url, "PDV_CATCH_UP_SECONDS": "1"})
    env.update({f"PDV_{name.upper()}": value for name, value in settings.items()})
    return env


@pytest.fixture(scope="session")
def demo_postgres(postgres_template: str) -> Iterator[str]:
    """A PostgreSQL database migrated and seeded by `pdv-alert demo` once per session:
    each cluster's database is a copy of it."""
    name = f"pdv_demo_{uuid.uuid4().hex[:8]}"
    run_in_thread(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    seed(_with_database(POSTGRES_URL, name))
    yield name
    run_in_thread(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@asynccontextmanager
async def running_cluster(
    tmp_path: Path, demo_postgres: str, **settings: str
) -> AsyncIterator[Cluster]:
    """Demo data on a fresh PostgreSQL database, a private Redis and nodes a, b and c with
    these extra settings; everything stopped (nodes killed) at the end."""
    with RedisServer(tmp_path) as redis:
        async with fresh_postgres(demo_postgres) as url:
            env = cluster_environment(redis.url, **settings)
            with ExitStack() as stack:
                cluster = Cluster(
                    tmp_path=tmp_path, database_url=url, env=env, redis=redis, stack=stack
                )
                try:
                    await cluster.start("a", "b", "c")
                    async with cluster.leader("a") as leader:
                        roles = (await leader.get("/api/v1/me")).json()["roles"]
                    cluster.site_id = roles[0]["site_id"]
                    yield cluster
                finally:
                    for device in cluster.devices:
                        await device.stop()


@pytest.fixture
async def cluster(
    tmp_path: Path, demo_postgres: str, request: pytest.FixtureRequest
) -> AsyncIterator[Cluster]:
    """`running_cluster`; a test's indirect parametrization adds settings
    (`{"catch_up_seconds": "3600"}`)."""
    extra: dict[str, str] = getattr(request, "param", {})
    async with running_cluster(tmp_path, demo_postgres, **extra) as running:
        yield running
