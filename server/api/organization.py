"""The caller's organization and its settings: name, language and alert text overrides.

`GET /organization` answers any person of the organization:
`{"id", "name", "slug", "language", "epoch", "templates": <overrides>,
"kinds": {kind: {"name": {sv, en}, "order": {sv, en}, "instructions": {sv, en}}}}`, where
`kinds` are the effective texts (built-in texts with the overrides applied).
`PATCH /organization` needs MANAGE_SETTINGS; `templates` replaces the override document.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from protocol.vocabulary import Kind, Language
from server.api.base import PatchBody
from server.api.deps import CurrentPerson, SessionDep
from server.clock import utcnow
from server.core.permissions import Action, require
from server.core.templates import template_for, validate_overrides
from server.errors import ServiceError
from server.storage import organizations
from server.storage.tables import Organization

router = APIRouter(tags=["organization"])


class OrganizationPatch(PatchBody):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    language: Language | None = None
    # {"<kind>": {"order_sv"|"order_en"|"instructions_sv"|"instructions_en": str}}, checked by
    # server.core.templates.validate_overrides (settings.invalid_templates).
    templates: Any = None


def organization_document(org: Organization) -> dict[str, Any]:
    """The organization as `GET /organization` shows it."""
    kinds = {}
    for kind in Kind:
        template = template_for(kind, overrides=org.templates)
        kinds[kind.value] = {
            "name": template.name.as_dict(),
            "order": template.order.as_dict(),
            "instructions": template.instructions.as_dict(),
        }
    return {
        "id": org.id,
        "name": org.name,
        "slug": org.slug,
        "language": org.language,
        "epoch": org.epoch,
        "templates": org.templates,
        "kinds": kinds,
    }


@router.get("/organization")
async def get_organization(caller: CurrentPerson, session: SessionDep) -> dict[str, Any]:
    """The caller's organization with its effective alert texts."""
    org = await organizations.get_organization(session, organization_id=caller.organization_id)
    return organization_document(org)


@router.patch("/organization")
async def update_organization(
    body: OrganizationPatch, caller: CurrentPerson, session: SessionDep
) -> dict[str, Any]:
    """Change the name, language or alert text overrides (MANAGE_SETTINGS)."""
    require(caller.actor, Action.MANAGE_SETTINGS, organization_id=caller.organization_id)
    if not body.model_fields_set:
        raise ServiceError("request.invalid", "nothing to change")
    templates = None
    if "templates" in body.model_fields_set:
        try:
            templates = validate_overrides(body.templates)
        except ValueError as exc:
            raise ServiceError("settings.invalid_templates", str(exc)) from None
    org = await organizations.update_organization(
        session,
        organization_id=caller.organization_id,
        name=body.name,
        language=body.language.value if body.language is not None else None,
        templates=templates,
        actor=caller.ref,
        now=utcnow(),
    )
    await session.commit()
    return organization_document(org)
