"""Login throttling shared through Redis (server/realtime/throttle.py), on the real Redis:
two nodes count the same attempts, a success on one refunds and makes the address known on
the other, another namespace counts apart, and a Redis that does not answer leaves each
node counting in its own memory instead of refusing or admitting everyone."""

from __future__ import annotations

import uuid

import httpx

from server.app import create_app
from server.core.ratelimit import Admitted, Limit, LoginThrottle, Refused
from server.realtime.bus import redis_client
from server.realtime.throttle import RedisThrottle, login_limits_from
from server.services.auth import NodeThrottle
from server.settings import Settings
from server.storage.database import Database
from tests import factories
from tests.factories import PASSWORD
from tests.server.redis_service import require_redis

ACCOUNT = "anna@example.se"


def _throttle(url: str, namespace: str, *, per_account_address: int = 3) -> RedisThrottle:
    settings = dict(
        per_account_address=per_account_address,
        per_account=10,
        per_address=30,
        window=60.0,
        known_address_seconds=3600.0,
    )
    return RedisThrottle(
        redis_client(url),
        namespace=namespace,
        fallback=NodeThrottle(LoginThrottle(**settings)),  # type: ignore[arg-type]
        **settings,  # type: ignore[arg-type]
    )


async def test_two_nodes_count_the_same_attempts() -> None:
    """Three attempts split over two nodes fill the (account, address) window: the fourth
    is refused on either node, with a wait within the window; another address may try."""
    url = await require_redis()
    namespace = uuid.uuid4().hex
    first, second = _throttle(url, namespace), _throttle(url, namespace)
    try:
        for node in (first, second, first):
            decision = await node.admit(account=ACCOUNT, address="10.0.0.1", known_browser=False)
            assert isinstance(decision, Admitted) and decision.counted
        for node in (first, second):
            refused = await node.admit(account=ACCOUNT, address="10.0.0.1", known_browser=False)
            assert isinstance(refused, Refused)
            assert refused.limit is Limit.ACCOUNT_ADDRESS and 0 < refused.wait <= 60
        other = await second.admit(account=ACCOUNT, address="10.0.0.2", known_browser=False)
        assert isinstance(other, Admitted)
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_success_on_one_node_is_known_on_the_other() -> None:
    """A success on node 1 refunds its attempt and clears the address's failures there and
    on node 2; the address is then known for the account on node 2 (admitted uncounted,
    even after failures fill the window again); a new namespace counts apart."""
    url = await require_redis()
    namespace = uuid.uuid4().hex
    first, second = _throttle(url, namespace), _throttle(url, namespace)
    apart = _throttle(url, uuid.uuid4().hex, per_account_address=1)
    try:
        for _ in range(2):
            await second.admit(account=ACCOUNT, address="10.0.0.1", known_browser=False)
        success = await first.admit(account=ACCOUNT, address="10.0.0.1", known_browser=False)
        assert isinstance(success, Admitted) and success.counted and success.mark
        await first.succeeded(success)
        known = await second.admit(account=ACCOUNT, address="10.0.0.1", known_browser=False)
        assert isinstance(known, Admitted) and not known.counted
        for _ in range(5):
            counted = await second.count(account=ACCOUNT, address="10.0.0.1")
        assert isinstance(counted, Refused)  # `count` ignores the known address
        still = await first.admit(account=ACCOUNT, address="10.0.0.1", known_browser=False)
        assert isinstance(still, Admitted) and not still.counted
        fresh = await apart.admit(account=ACCOUNT, address="10.0.0.1", known_browser=False)
        assert isinstance(fresh, Admitted) and fresh.counted
    finally:
        for throttle in (first, second, apart):
            await throttle.aclose()


async def test_without_redis_each_node_counts_in_its_own_memory() -> None:
    """Redis does not answer (nothing listens on the port): attempts are admitted and
    counted in the node's memory, so the window still fills and refuses; a success is
    recorded there too."""
    throttle = _throttle("redis://127.0.0.1:1/0", uuid.uuid4().hex)
    try:
        first = await throttle.admit(account=ACCOUNT, address="10.0.0.1", known_browser=False)
        assert isinstance(first, Admitted) and first.counted and not first.mark
        await throttle.succeeded(first)
        known = await throttle.admit(account=ACCOUNT, address="10.0.0.1", known_browser=False)
        assert isinstance(known, Admitted) and not known.counted
        for _ in range(3):
            await throttle.count(account=ACCOUNT, address="10.0.0.9")
        refused = await throttle.count(account=ACCOUNT, address="10.0.0.9")
        assert isinstance(refused, Refused) and refused.limit is Limit.ACCOUNT_ADDRESS
    finally:
        await throttle.aclose()


async def test_login_limits_follow_the_bus_url() -> None:
    """A Redis bus URL makes the limits shared (RedisThrottle); memory:// keeps them in the
    node (NodeThrottle)."""
    url = await require_redis()
    shared = login_limits_from(Settings(bus_url=url))
    assert isinstance(shared.throttle, RedisThrottle)
    await shared.throttle.aclose()
    assert isinstance(login_limits_from(Settings()).throttle, NodeThrottle)


async def test_wrong_passwords_over_two_apps_are_refused_together(
    sqlite_database: Database,
) -> None:
    """Five wrong passwords alternating between two apps on one Redis (two nodes) fill the
    per-(account, address) limit of 5: the sixth login, on either, answers 429."""
    url = await require_redis()
    world = await factories.organization(sqlite_database)
    await factories.person(world, "anna", email=ACCOUNT)
    settings = Settings(
        database_url="sqlite+aiosqlite:///unused.db",
        bus_url=url,
        bus_namespace=uuid.uuid4().hex,
        login_attempts_per_account_address=5,
    )
    apps = [create_app(settings, database=sqlite_database, realtime=False) for _ in range(2)]
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        for app in apps
    ]
    try:
        for n in range(5):
            wrong = await clients[n % 2].post(
                "/api/v1/auth/login", json={"email": ACCOUNT, "password": "fel lösenord!"}
            )
            assert wrong.status_code == 401, wrong.text
        for client in clients:
            refused = await client.post(
                "/api/v1/auth/login", json={"email": ACCOUNT, "password": PASSWORD}
            )
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"]["code"] == "auth.rate_limited"
    finally:
        for client, app in zip(clients, apps, strict=True):
            await client.aclose()
            await app.state.login_limits.throttle.aclose()
