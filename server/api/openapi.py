"""The OpenAPI document with the real error answers: every operation declares the statuses it
can answer with the one error body (`ErrorBody`, server/api/errors.py) and names their codes
from the error table, instead of FastAPI's `HTTPValidationError`.

Which errors an operation can answer follows from what it is made of, so a new route needs no
extra declaration: authentication (401, 403; unsafe methods also the cross-site guard's 403),
path ids (404 with the resource's `*.not_found`, 422), query parameters (422), a JSON body
(400, 413, 415, 422). `OPERATION_CODES` adds the
domain codes (409s, domain 422s, login's 429) per operation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from fastapi.routing import APIRoute

from server.api.csrf import UNSAFE_METHODS
from server.api.deps import get_caller, get_person
from server.api.errors import ErrorBody
from server.errors import ERRORS

AUTH_CODES = ("auth.required", "auth.invalid_token", "auth.session_expired", "auth.forbidden")
BODY_CODES = (
    "request.malformed_json",
    "request.too_large",
    "request.unsupported_media_type",
    "request.invalid",
    "request.unknown_field",
)
# A path id that names nothing (or another organization's resource) answers its own code.
PATH_ID_CODES = {
    "alert_id": "alert.not_found",
    "site_id": "site.not_found",
    "zone_id": "zone.not_found",
    "person_id": "person.not_found",
    "device_id": "device.not_found",
    "code_id": "enrollment.not_found",
    "api_key_id": "api_key.not_found",
}
_SITES = "/api/v1/sites"
_ALERT = "/api/v1/alerts/{alert_id}"
_ALERT_TEXT = ("alert.custom_text_required", "alert.text_too_long")
# Codes an operation answers beyond the structural ones above: "METHOD path" -> codes.
OPERATION_CODES: dict[str, tuple[str, ...]] = {
    "GET /api/v1/ready": ("server.unavailable",),
    "GET /metrics": ("metrics.forbidden",),
    "POST /api/v1/auth/login": ("auth.invalid_credentials", "auth.rate_limited"),
    "PATCH /api/v1/me": ("person.weak_password", "auth.invalid_credentials"),
    "POST /api/v1/alerts": (
        "site.not_found",
        "alert.no_sites",
        *_ALERT_TEXT,
        "alert.idempotency_conflict",
        "alert.other_kind_active",
        "api_key.kind_mismatch",
        "api_key.text_not_allowed",
    ),
    f"PATCH {_ALERT}": (
        "alert.not_active",
        "alert.nothing_to_update",
        *_ALERT_TEXT,
        "alert.led_by_security_chief",
    ),
    f"POST {_ALERT}/resolve": ("alert.not_active",),
    f"POST {_ALERT}/cancel": ("alert.not_active",),
    f"GET {_ALERT}/reachability": ("alert.still_active",),
    f"GET {_ALERT}/reachability.csv": ("alert.still_active",),
    f"GET {_ALERT}/reachability.svg": ("alert.still_active",),
    f"POST {_ALERT}/receipts": (
        "receipt.device_required",
        "receipt.not_targeted",
        "receipt.unknown_seq",
    ),
    f"POST {_ALERT}/ack": (
        "receipt.device_required",
        "receipt.not_targeted",
        "receipt.no_device",
    ),
    "PUT /api/v1/devices/self/push": (
        "push.invalid_subscription",
        "push.endpoint_not_allowed",
        "push.invalid_token",
        "push.wrong_type",
    ),
    "GET /api/v1/presence": ("site.not_found",),
    f"POST {_SITES}": ("site.exists",),
    f"PATCH {_SITES}/{{site_id}}": ("site.exists",),
    f"POST {_SITES}/{{site_id}}/zones": ("zone.exists",),
    f"PATCH {_SITES}/{{site_id}}/zones/{{zone_id}}": ("zone.exists",),
    "POST /api/v1/persons": ("person.email_taken", "person.weak_password", "site.not_found"),
    # a CSV body read by the route itself (not a JSON body FastAPI parses)
    "POST /api/v1/persons/import": ("request.too_large", "request.unsupported_media_type"),
    "PATCH /api/v1/persons/{person_id}": (
        "person.email_taken",
        "person.weak_password",
        "person.last_admin",
        "site.not_found",
    ),
    "PATCH /api/v1/devices/{device_id}": ("zone.not_found", "person.not_found"),
    "POST /api/v1/devices/{device_id}/revoke": ("device.revoked",),
    "POST /api/v1/enrollment-codes": ("site.not_found", "zone.not_found"),
    "POST /api/v1/devices/enroll": ("enrollment.invalid_code", "enrollment.wrong_device_kind"),
    "POST /api/v1/api-keys": ("site.not_found",),
    "POST /api/v1/api-keys/{api_key_id}/revoke": ("api_key.revoked",),
    "PATCH /api/v1/organization": ("settings.invalid_templates",),
}
_AUTHENTICATED: tuple[Callable[..., Any], ...] = (get_caller, get_person)
_SCHEMA_REF = "#/components/schemas/{model}"


def _calls(dependant: Any) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def api_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """(full path, route) of every API route, also where routers are included lazily."""
    iterate = getattr(fastapi_routing, "iter_route_contexts", None)
    if iterate is None:  # FastAPI before included routers were kept apart: routes are flat
        for route in app.routes:
            if isinstance(route, APIRoute):
                yield route.path, route
        return
    for context in iterate(app.routes):
        if isinstance(context.original_route, APIRoute) and context.path:
            yield context.path, context.original_route


def operation_codes(path: str, method: str, route: APIRoute) -> list[str]:
    """Every error code the operation can answer, from its parts and OPERATION_CODES."""
    codes: list[str] = []
    if any(call in _AUTHENTICATED for call in _calls(route.dependant)):
        codes += AUTH_CODES
        if method in UNSAFE_METHODS:  # with the session cookie: the cross-site guard
            codes.append("auth.bad_origin")
    for param in route.dependant.path_params:
        codes += (PATH_ID_CODES.get(param.name, "request.not_found"), "request.invalid")
    if route.dependant.query_params or route.dependant.header_params:
        codes.append("request.invalid")
    if route.body_field is not None:
        codes += BODY_CODES
    codes += OPERATION_CODES.get(f"{method} {path}", ())
    codes.append("server.internal")
    return list(dict.fromkeys(codes))


def error_responses(codes: list[str]) -> dict[str, dict[str, Any]]:
    """OpenAPI responses, one per status, each with the error body and an example per code."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(ERRORS[code].status, []).append(code)
    responses = {}
    for status, status_codes in sorted(by_status.items()):
        examples = {
            code: {"value": {"error": {"code": code, "message": ERRORS[code].sv, "detail": ""}}}
            for code in status_codes
        }
        responses[str(status)] = {
            "description": ", ".join(f"`{code}`" for code in status_codes),
            "content": {
                "application/json": {
                    "schema": {"$ref": _SCHEMA_REF.format(model="ErrorBody")},
                    "examples": examples,
                }
            },
        }
    return responses


def _add_schemas(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    body = ErrorBody.model_json_schema(ref_template=_SCHEMA_REF)
    components.update(body.pop("$defs", {}))
    components["ErrorBody"] = body
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)


def declare_errors(schema: dict[str, Any], app: FastAPI) -> None:
    """Replace FastAPI's 422 with the real error answers of every operation, in place."""
    _add_schemas(schema)
    for path, route in api_routes(app):
        operations = schema["paths"].get(path, {})
        for method in route.methods or ():
            operation = operations.get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses.update(error_responses(operation_codes(path, method, route)))


def install(app: FastAPI) -> None:
    """Make `app.openapi()` declare the error answers (built once, like FastAPI's own)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            declare_errors(build(), app)
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
