"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from server.api.deps import DatabaseDep
from server.errors import ServiceError

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is up (no dependencies checked)."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(database: DatabaseDep) -> dict[str, str]:
    """The database answers: the node can take traffic."""
    try:
        async with database.session() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # any database failure means not ready
        raise ServiceError("server.unavailable", type(exc).__name__) from exc
    return {"status": "ready", "database": database.dialect}
