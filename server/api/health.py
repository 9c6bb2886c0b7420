"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from server.api.deps import DatabaseDep, LiveNodeDep
from server.errors import ServiceError

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is up (no dependencies checked)."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(database: DatabaseDep, node: LiveNodeDep) -> dict[str, str]:
    """The database answers and, on a node with a realtime layer, so does the bus (memory:
    always; Redis: a PING within a second): the node can take traffic. A node whose Redis is
    gone still serves its own clients, but it would not hear the other nodes' alerts until
    its catch-up tick, so the proxy should prefer the others."""
    try:
        async with database.session() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # any database failure means not ready
        raise ServiceError("server.unavailable", type(exc).__name__) from exc
    answer = {"status": "ready", "database": database.dialect}
    if node is not None:
        if not await node.bus_ready():
            raise ServiceError("server.unavailable", f"bus ({node.bus_kind}) does not answer")
        answer["bus"] = node.bus_kind
    return answer
