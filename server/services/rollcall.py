"""The roll call of an alert and its reachability report (a drill's or test's, or an ended
actual alert's), for a caller: who may see them, and over which of the alert's sites
(server/core/rollcall.py and server/core/reachability.py compute, server/storage/rollcall.py
reads). Read-only: nothing is written, so nothing is committed or audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import AlertState, Language, Mode
from server.core import reachability_chart
from server.core.errors import Forbidden
from server.core.permissions import Action, can, sites_where
from server.core.reachability import csv_text
from server.errors import ServiceError
from server.storage import receipts
from server.storage import rollcall as rows
from server.storage.callers import Caller
from server.storage.rollcall import AlertFacts, RollCallData

REPORT_MODES = frozenset({Mode.DRILL.value, Mode.TEST.value})


def viewable_sites(caller: Caller, alert: AlertFacts) -> frozenset[int]:
    """The alert's sites where the caller may view the roll call."""
    if caller.organization_id != alert.organization_id:
        return frozenset()
    return sites_where(caller.actor, Action.VIEW_ROLLCALL, all_site_ids=alert.site_ids)


async def _viewable(session: AsyncSession, *, caller: Caller, alert_id: int) -> AlertFacts:
    """The alert and the caller's right to its roll call: `alert.not_found` when the alert
    is another organization's or the caller doesn't even receive it, `auth.forbidden` when
    the caller receives it but may view the roll call on none of its sites."""
    alert = await rows.alert_facts(
        session, organization_id=caller.organization_id, alert_id=alert_id
    )
    if alert is None:
        raise ServiceError("alert.not_found", f"alert {alert_id}")
    if not viewable_sites(caller, alert):
        receives = any(
            can(caller.actor, Action.RECEIVE, organization_id=alert.organization_id, site_ids=[s])
            for s in alert.site_ids
        )
        if not receives:
            raise ServiceError("alert.not_found", f"alert {alert_id}")
        raise Forbidden(detail=str(Action.VIEW_ROLLCALL))
    return alert


async def rollcall(
    *, session: AsyncSession, caller: Caller, alert_id: int, now: datetime
) -> dict[str, Any]:
    """The roll-call document over the alert's sites the caller may view: the `rollcall`
    frame's structure plus the lists of who is not reached and who has not answered."""
    alert = await _viewable(session, caller=caller, alert_id=alert_id)
    data = await rows.load(session, alert=alert, site_ids=viewable_sites(caller, alert))
    return data.compute(at=now).document()


async def _report_data(session: AsyncSession, *, caller: Caller, alert_id: int) -> RollCallData:
    """The rows of a report the caller may see: a drill's or test's at any time, an actual
    alert's once it has ended (`alert.still_active` before: the roll call is the live view)."""
    alert = await _viewable(session, caller=caller, alert_id=alert_id)
    if alert.mode not in REPORT_MODES and alert.state == AlertState.ACTIVE.value:
        raise ServiceError("alert.still_active", f"alert {alert_id} is an active actual alert")
    return await rows.load(session, alert=alert, site_ids=viewable_sites(caller, alert))


async def reachability(
    *, session: AsyncSession, caller: Caller, alert_id: int, now: datetime
) -> dict[str, Any]:
    """The reachability report over the sites the caller may view (server/core/
    reachability.py): a drill's or test's, or an actual alert's once it has ended."""
    data = await _report_data(session, caller=caller, alert_id=alert_id)
    return data.reachability(at=now)


async def reachability_csv(
    *, session: AsyncSession, caller: Caller, alert_id: int, now: datetime
) -> str:
    """The report as CSV text (one row per person and device), with the same rights."""
    data = await _report_data(session, caller=caller, alert_id=alert_id)
    return csv_text(data.reachability(at=now), zones=data.zones)


async def reachability_svg(
    *, session: AsyncSession, caller: Caller, alert_id: int, now: datetime, language: Language
) -> str:
    """The report's chart "andel nådda över tid" as an SVG document, with the same rights."""
    data = await _report_data(session, caller=caller, alert_id=alert_id)
    return reachability_chart.chart_svg(data.reachability(at=now), language=language)


async def answers(*, session: AsyncSession, caller: Caller, alert_id: int) -> dict[str, Any]:
    """Every answer given to the alert on the sites where the caller may view the roll call,
    oldest first: the history the roll call's latest answers leave out."""
    alert = await _viewable(session, caller=caller, alert_id=alert_id)
    found = await receipts.list_answers(
        session,
        organization_id=alert.organization_id,
        alert_id=alert.id,
        site_ids=sorted(viewable_sites(caller, alert)),
    )
    return {
        "alert_id": alert.id,
        "answers": [
            {
                "at": answer.at.isoformat(),
                "site_id": answer.site_id,
                "device_id": answer.device_id,
                "device": device,
                "person_id": answer.person_id,
                "person": person,
                "response": answer.response,
                "note": answer.note,
                "location": answer.location,
            }
            for answer, device, person in found
        ],
    }
