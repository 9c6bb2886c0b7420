"""The roll call of an alert and the reachability report of a drill or test.

    GET /alerts/{id}/rollcall      VIEW_ROLLCALL on at least one of the alert's sites
        → {"alert_id", "at", "totals", "sites": {"<site_id>": {"name", "totals", "zones"}},
           "need_help": […], "not_reached_count", "not_answered_count",
           "not_reached": […], "not_answered": […]}
        (the `rollcall` WebSocket frame's structure plus the two lists by name)
    GET /alerts/{id}/answers       the same permission
        → {"alert_id", "answers": [{"at", "site_id", "device_id", "device", "person_id",
           "person", "response", "note", "location"}]}   every answer, oldest first
    GET /alerts/{id}/reachability  the same permission; drills and tests at any time,
                                   an actual alert once it has ended
        → {"alert_id", "mode", "state", "created_at", "at", "totals", "latency_ms",
           "delivery", "display", "answer", "push",
           "sites": {"<site_id>": {"name", "totals", "latency_ms", "delivery", "display",
                                   "answer", "push", "devices": […], "no_device": […]}},
           "persons": […], "never_reached": […]}
    GET /alerts/{id}/reachability.csv  the same: text/csv, one row per person and device
    GET /alerts/{id}/reachability.svg  the same: the chart "andel nådda över tid"
                                       (?language=sv|en, else Accept-Language)

Only the sites where the caller may view the roll call are included. Everyone with a role
at those sites is expected (a person without a device is not reached, `reason:
"no_device"`), and each device shows the state of its latest push (`push`). The documents
are described in `server.core.rollcall` and `server.core.delivery`;
`server.services.rollcall` checks who may see them.
Errors: `alert.not_found` (unknown, another organization's, or an alert the caller doesn't
receive), `auth.forbidden` (receives it but may not view its roll call),
`alert.still_active` (the report of an actual alert that has not ended).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response

from protocol.vocabulary import Language
from server.api.base import PathId
from server.api.deps import CurrentCaller, SessionDep
from server.clock import utcnow
from server.core.languages import preferred_language
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
    """The reachability report (drill report; after-action review of an ended actual alert):
    per device and person the time to delivery, display and answer, figures per site."""
    return await rollcall.reachability(
        session=session, caller=caller, alert_id=alert_id, now=utcnow()
    )


@router.get(
    "/alerts/{alert_id}/reachability.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def get_reachability_csv(
    alert_id: PathId, session: SessionDep, caller: CurrentCaller
) -> Response:
    """The reachability report as CSV (UTF-8 with BOM): one row per person and device."""
    text = await rollcall.reachability_csv(
        session=session, caller=caller, alert_id=alert_id, now=utcnow()
    )
    return Response(
        content=text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{csv_filename(alert_id)}"',
            "Cache-Control": "no-store",
        },
    )


def csv_filename(alert_id: int) -> str:
    """The CSV export's file name, e.g. nabarhet-larm-12.csv."""
    return f"nabarhet-larm-{alert_id}.csv"


@router.get(
    "/alerts/{alert_id}/reachability.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}}},
)
async def get_reachability_svg(
    alert_id: PathId,
    session: SessionDep,
    caller: CurrentCaller,
    language: Language | None = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> Response:
    """The report's chart "andel nådda över tid" as SVG: Swedish, or English by
    `?language=en` or Accept-Language."""
    chosen = language or preferred_language(accept_language)
    svg = await rollcall.reachability_svg(
        session=session, caller=caller, alert_id=alert_id, now=utcnow(), language=chosen
    )
    return Response(
        content=svg.encode("utf-8"),
        media_type="image/svg+xml; charset=utf-8",
        headers={"Cache-Control": "no-store", "Content-Language": chosen.value},
    )
