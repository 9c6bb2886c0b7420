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
from server.core.templates import template_for
from server.services import organization
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
    return organization_document(
        await organization.get_organization(session=session, caller=caller)
    )


@router.patch("/organization")
async def update_organization(
    body: OrganizationPatch, caller: CurrentPerson, session: SessionDep
) -> dict[str, Any]:
    """Change the name, language or alert text overrides (MANAGE_SETTINGS)."""
    org = await organization.update_organization(
        session=session,
        caller=caller,
        name=body.name,
        language=body.language,
        templates=body.templates,
        now=utcnow(),
    )
    return organization_document(org)
