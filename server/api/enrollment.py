"""Enrollment codes and enrolling a device with one.

POST   /enrollment-codes        MANAGE_DEVICES  -> 201 the code in plaintext, once
GET    /enrollment-codes        MANAGE_DEVICES  -> codes with their state, no plaintext
DELETE /enrollment-codes/{id}   MANAGE_DEVICES  -> 204, the code is revoked
POST   /devices/enroll          no login: the code is the credential -> 201 device + token
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from protocol.vocabulary import DeviceKind
from server.api.base import Body, BodyId, PathId, QueryId
from server.api.deps import CurrentCaller, SessionDep, SettingsDep
from server.api.devices import DeviceOut, device_out
from server.clock import utcnow
from server.credentials import SESSION_COOKIE, SESSION_PREFIX
from server.qr import qr_svg
from server.services import enrollment as service
from server.storage import enrollment
from server.storage.devices import NAME_MAX
from server.storage.tables import EnrollmentCode

router = APIRouter(tags=["enrollment"])


class EnrollmentCodeCreate(Body):
    site_id: BodyId
    zone_id: BodyId | None = None
    label: str = Field(default="", max_length=enrollment.LABEL_MAX)
    device_kind: DeviceKind | None = None  # null: any kind of device
    max_uses: int = Field(default=1, ge=1, le=enrollment.MAX_USES)
    expires_in_hours: float = Field(default=24.0, ge=0.1, le=720)


class EnrollmentCodeOut(BaseModel):
    """A code as listed: never the plaintext, which only its creator saw once."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    site_id: int
    zone_id: int | None
    label: str
    device_kind: DeviceKind | None
    max_uses: int
    uses: int
    expires_at: datetime
    created_at: datetime
    revoked_at: datetime | None
    state: enrollment.CodeState


class EnrollmentCodeCreated(BaseModel):
    """The answer to creating a code: the only time `code` is shown."""

    id: int
    code: str
    site_id: int
    zone_id: int | None
    label: str
    device_kind: DeviceKind | None
    max_uses: int
    uses: int
    expires_at: datetime
    enroll_url: str  # absolute: `public_url`, else the request's own base URL
    qr_svg: str  # an SVG document of a QR code encoding `enroll_url`


class EnrollRequest(Body):
    code: str = Field(min_length=1, max_length=enrollment.CODE_MAX)
    kind: DeviceKind
    name: str = Field(min_length=1, max_length=NAME_MAX)
    client_version: str = Field(default="", max_length=enrollment.CLIENT_VERSION_MAX)


class Enrolled(BaseModel):
    device: DeviceOut
    token: str  # the device's bearer token, shown once


def _code_fields(code: EnrollmentCode, *, now: datetime) -> dict[str, object]:
    """The listed fields of a code and its state now."""
    fields: dict[str, object] = {
        field: getattr(code, field) for field in EnrollmentCodeOut.model_fields if field != "state"
    }
    fields["state"] = enrollment.code_state(code, now=now)
    return fields


def enroll_url(*, public_url: str, request_base_url: str, code: str) -> str:
    """The absolute link a QR code and an e-mail carry: on `public_url` when it is set (the
    address every device uses), else on the address the admin's browser reached the server
    at — the request's base URL, whose scheme and host uvicorn already took from a trusted
    proxy's headers. Only the admin who created the code sees it, so the request's Host
    cannot send anyone else elsewhere."""
    base = public_url or request_base_url
    return f"{base.rstrip('/')}/enroll?{urlencode({'code': code})}"


@router.post("/enrollment-codes", status_code=201)
async def create_code(
    body: EnrollmentCodeCreate,
    request: Request,
    session: SessionDep,
    caller: CurrentCaller,
    settings: SettingsDep,
) -> EnrollmentCodeCreated:
    """A code for enrolling devices at a site; show `code` (or `enroll_url` as QR) once."""
    code, plaintext = await service.create_code(
        session=session,
        who=caller,
        site_id=body.site_id,
        zone_id=body.zone_id,
        label=body.label,
        device_kind=body.device_kind,
        max_uses=body.max_uses,
        expires_in=timedelta(hours=body.expires_in_hours),
        now=utcnow(),
    )
    link = enroll_url(
        public_url=settings.public_url, request_base_url=str(request.base_url), code=plaintext
    )
    return EnrollmentCodeCreated(
        id=code.id,
        code=plaintext,
        site_id=code.site_id,
        zone_id=code.zone_id,
        label=code.label,
        device_kind=DeviceKind(code.device_kind) if code.device_kind else None,
        max_uses=code.max_uses,
        uses=code.uses,
        expires_at=code.expires_at,
        enroll_url=link,
        qr_svg=qr_svg(link),
    )


@router.get("/enrollment-codes")
async def list_codes(
    session: SessionDep, caller: CurrentCaller, site_id: QueryId = None
) -> list[EnrollmentCodeOut]:
    """Codes of the sites where the caller manages devices, newest first."""
    rows = await service.list_codes(session=session, caller=caller, site_id=site_id)
    now = utcnow()
    return [EnrollmentCodeOut.model_validate(_code_fields(row, now=now)) for row in rows]


@router.delete("/enrollment-codes/{code_id}", status_code=204)
async def revoke_code(code_id: PathId, session: SessionDep, caller: CurrentCaller) -> Response:
    """Revoke a code; devices it already enrolled keep working."""
    await service.revoke_code(session=session, caller=caller, code_id=code_id, now=utcnow())
    return Response(status_code=204)


def _session_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token.startswith(SESSION_PREFIX):
        return token
    return request.cookies.get(SESSION_COOKIE)


@router.post("/devices/enroll", status_code=201)
async def enroll(body: EnrollRequest, request: Request, session: SessionDep) -> Enrolled:
    """Enroll a device with a code. Sent from a logged-in browser, the device is bound to
    that person. The token in the answer is shown once; keep it."""
    device, token = await service.enroll(
        session=session,
        code=body.code,
        kind=body.kind,
        name=body.name,
        client_version=body.client_version,
        session_token=_session_token(request),
        now=utcnow(),
    )
    return Enrolled(device=device_out(device), token=token)
