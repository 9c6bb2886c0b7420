"""Before serving, build what the web stack would otherwise build at first requests.

After a start, the first request to each part of the API paid for work done once: FastAPI
builds the routes of included routers (their dependencies and pydantic adapters) when a
request first passes them, finds an endpoint's source file and line (for its error
messages) by reading and tokenizing the module at the endpoint's first request, and AnyIO
loads its backend at its first use. Measured in process (bench/README.md, "The first
alert after a start"): 35–85 ms on a first request, where later ones take 1–3 ms. The
first trigger, ack or receipt after a start must not pay that, so `warm` does it in the
lifespan, before the node serves: it walks every API route as the router does (which
builds them; server/api/openapi.py's `api_routes`), finds every endpoint's source location
(FastAPI's own cached step, skipped where a FastAPI has no such step) and makes one call
to a worker thread. Then it rehearses a trigger (server/services/rehearsal.py: the
trigger's statements compiled, in a transaction that is always rolled back), so that the
first alert after a start does not compile them either.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import anyio.to_thread
import fastapi.routing
from fastapi import FastAPI

from server.api.openapi import api_routes
from server.services.rehearsal import TIMEOUT_SECONDS as REHEARSAL_SECONDS
from server.services.rehearsal import rehearse

log = logging.getLogger(__name__)


def _nothing() -> None:
    return None


async def warm(app: FastAPI) -> int:
    """Build it all now; returns how many endpoints were prepared. A failure here is logged
    and the node starts anyway: preparing is never a reason not to serve."""
    try:
        endpoints = await _warm(app)
    except Exception:
        log.exception("preparing the endpoints failed; the first requests build them")
        endpoints = 0
    try:
        async with asyncio.timeout(REHEARSAL_SECONDS):
            await rehearse(app.state.database)
    except Exception:
        log.exception("rehearsing a trigger failed (nothing was kept); the first alert compiles")
    return endpoints


async def _warm(app: FastAPI) -> int:
    extract: Any = getattr(fastapi.routing, "_extract_endpoint_context", None)
    endpoints = 0
    for _path, route in api_routes(app):
        if extract is not None:
            extract(route.dependant.call)  # FastAPI caches it per endpoint function
        endpoints += 1
    await anyio.to_thread.run_sync(_nothing)
    return endpoints
