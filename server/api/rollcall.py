"""The roll call of an alert and the reachability report of a drill or test.

    GET /alerts/{id}/rollcall      VIEW_ROLLCALL on at least one of the alert's sites
        → {"alert_id", "at", "totals", "sites": {"<site_id>": {"name", "totals", "zones"}},
           "need_help": […], "not_reached_count", "not_answered_count",
           "not_reached": […], "not_answered": […]}
        (the `rollcall` WebSocket frame's structure plus the two lists by name)
    GET /alerts/{id}/answers       the same permission
        → {"alert_id", "answers": [{"at", "site_id", "device_id", "device", "person_id",
           "person", "response", "note", "location"}]}   every answer, oldest first
    GET /alerts/{id}/reachability  the same permission; drills and tests only
        → {"alert_id", "mode", "created_at", "at", "totals", "latency_ms",
           "sites": {"<site_id>": {"name", "totals", "latency_ms", "devices": […]}}}

Only the sites where the caller may view the roll call are included. Everyone with a role
at those sites is expected (a person without a device is not reached, `reason:
"no_device"`), and each device shows the state of its latest push (`push`). The documents
are described in `server.core.rollcall` and `server.core.delivery`;
`server.services.rollcall` checks who may see them.
Errors: `alert.not_found` (unknown, another organization's, or an alert the caller doesn't
receive), `auth.forbidden` (receives it but may not view its roll call),
`alert.not_drill_or_test` (reachability of an actual alert).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from server.api.base import PathId
from server.api.deps import CurrentCaller, SessionDep
from server.clock import utcnow
from server.services import rollcall

router = APIRouter(tags=["rollcall"])


@router.get("/alerts/{alert_id}/rollcall")
async def get_rollcall(
    alert_id: PathId, session: SessionDep, caller: CurrentCaller
) -> dict[str, Any]:
    """The live roll call of an alert: per site and zone, who is reached, safe, needs help."""
    return await rollcall.rollcall(session=session, caller=caller, alert_id=alert_id, now=utcnow())


@router.get("/alerts/{alert_id}/answers")
async def get_answers(
    alert_id: PathId, session: SessionDep, caller: CurrentCaller
) -> dict[str, Any]:
    """Every answer to an alert, oldest first: "need help, then safe" stays visible."""
    return await rollcall.answers(session=session, caller=caller, alert_id=alert_id)


@router.get("/alerts/{alert_id}/reachability")
async def get_reachability(
    alert_id: PathId, session: SessionDep, caller: CurrentCaller
) -> dict[str, Any]:
    """The reachability report of a drill or test: per device, delivered or not and how fast."""
    return await rollcall.reachability(
        session=session, caller=caller, alert_id=alert_id, now=utcnow()
    )
