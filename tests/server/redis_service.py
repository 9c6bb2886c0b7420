"""The real Redis the bus tests use (`PDV_TEST_REDIS_URL`), skipped or failed when it is
unreachable (see tests/conftest.py `service_unavailable`)."""

from __future__ import annotations

import asyncio
import os

import redis.asyncio as redis

from tests.conftest import service_unavailable

REDIS_URL = os.environ.get("PDV_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def require_redis() -> str:
    """REDIS_URL once Redis answers a ping."""
    client = redis.from_url(REDIS_URL)
    try:
        await asyncio.wait_for(client.ping(), timeout=3)
    except (OSError, TimeoutError, redis.ConnectionError) as exc:
        service_unavailable(f"Redis unreachable at {REDIS_URL}: {exc}")
    finally:
        await client.aclose()
    return REDIS_URL
