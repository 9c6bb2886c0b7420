"""What a trigger asks, checked before anything is decided: the caller's rights on the
sites, a panic button's scope (its own kind, the organization's texts), the idempotency key
(the caller's own; for actual alerts only while the alert is active), and the audit of a
refusal (`alert.trigger_refused`, in its own transaction). Used by `server.services.alerts`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import Kind, Mode
from server.core import alerts as core
from server.core.errors import Forbidden, NoSites
from server.core.permissions import ActorKind, require, trigger_actions
from server.core.templates import Texts
from server.errors import ServiceError
from server.storage import alerts as rows
from server.storage import audit
from server.storage.callers import Caller
from server.storage.sites import staff_trigger_policy
from server.storage.tables import ApiKey

log = logging.getLogger(__name__)

MAX_IDEMPOTENCY_KEY = 200


async def record_refused(
    *,
    session: AsyncSession,
    caller: Caller,
    kind: Kind | None,
    mode: Mode,
    site_ids: Collection[int] | None,
    reason: Forbidden | ServiceError,
    now: datetime,
) -> None:
    """Audit a refused trigger in its own transaction. The refusal is answered whatever
    happens here: a failing audit write is logged, never turned into another error."""
    await session.rollback()
    sites = caller.actor.site_ids if site_ids is None else site_ids
    try:
        await audit.record(
            session,
            organization_id=caller.organization_id,
            actor=caller.ref,
            action="alert.trigger_refused",
            at=now,
            details={
                "kind": None if kind is None else kind.value,
                "mode": mode.value,
                "sites": sorted(sites),
                "reason": reason.code,
                "detail": reason.detail,
            },
        )
        await session.commit()
    except Exception:
        log.exception("could not audit the refused trigger of %s", caller.ref)
        await session.rollback()


def api_key_kind(key: ApiKey, *, kind: Kind | None, mode: Mode, texts: bool) -> Kind:
    """A panic button triggers only actual alerts of its own kind with the organization's
    texts: anything else is refused."""
    if mode != Mode.ACTUAL:
        raise Forbidden(detail="an API key triggers only actual alerts")
    own = Kind(key.kind)
    if kind is not None and kind != own:
        raise ServiceError("api_key.kind_mismatch", f"the key triggers {own.value}")
    if texts:
        raise ServiceError("api_key.text_not_allowed", "order and instructions come from settings")
    return own


async def checked_request(
    *,
    session: AsyncSession,
    caller: Caller,
    kind: Kind | None,
    mode: Mode,
    site_ids: Collection[int] | None,
    order: Texts | None,
    instructions: Texts | None,
    idempotency_key: str | None,
) -> core.TriggerRequest:
    """The trigger request once its sites exist and the caller may trigger on all of them."""
    organization_id = caller.organization_id
    actor = caller.actor
    if caller.api_key is not None:
        texts = order is not None or instructions is not None
        kind = api_key_kind(caller.api_key, kind=kind, mode=mode, texts=texts)
    if kind is None:
        raise ServiceError("request.invalid", "kind is required")
    if site_ids is None and actor.kind != ActorKind.PERSON:
        site_ids = actor.site_ids
    requested = frozenset(site_ids or ())
    if not requested:
        raise NoSites()
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        raise ServiceError("request.invalid", "Idempotency-Key must be 1-200 characters")
    policy = await staff_trigger_policy(session, organization_id=organization_id)
    unknown = requested - policy.keys()
    if unknown:
        raise ServiceError("site.not_found", f"unknown site ids {sorted(unknown)}")
    for action in trigger_actions(mode):
        require(
            actor,
            action,
            organization_id=organization_id,
            site_ids=requested,
            staff_may_trigger={site: policy[site] for site in requested},
        )
    return core.TriggerRequest(
        organization_id=organization_id,
        kind=kind,
        mode=mode,
        site_ids=requested,
        order=order,
        instructions=instructions,
    )


async def by_idempotency_key(
    *, session: AsyncSession, caller: Caller, request: core.TriggerRequest, key: str
) -> dict[str, Any] | None:
    """The alert the caller triggered earlier with `key`, or None.

    Keys are the caller's own. For an `actual` trigger only an active alert matches, and one
    made by a different request is ignored: a real alarm is never answered with an old alert
    nor refused over a reused key. For drills and tests any earlier alert matches (the
    monthly drill key), and a different request is alert.idempotency_conflict.
    """
    organization_id = request.organization_id
    actual = request.mode == Mode.ACTUAL
    alert = await rows.by_idempotency_key(
        session, organization_id=organization_id, created_by=caller.ref, key=key, active_only=actual
    )
    if alert is None:
        return None
    sites = (await rows.site_ids_of(session, alert_ids=[alert.id]))[alert.id]
    original = await rows.trigger_details(
        session, organization_id=organization_id, alert_id=alert.id
    )
    same = (
        original.get("kind", alert.kind) == request.kind.value
        and original.get("mode", alert.mode) == request.mode.value
        and sorted(original.get("requested_sites", sites)) == sorted(request.site_ids)
    )
    if same:
        return rows.alert_document(alert, site_ids=sites)
    if actual:
        return None
    raise ServiceError("alert.idempotency_conflict", f"key used for alert {alert.id}")
