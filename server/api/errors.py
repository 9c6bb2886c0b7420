"""The API edge of the error table: every failure becomes
`{"error": {"code": ..., "message": ..., "detail": ...}}` with the table's HTTP status.
`message` is Swedish unless the request's Accept-Language prefers English."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from protocol.vocabulary import Language
from server.core.errors import CoreError
from server.core.languages import preferred_language
from server.errors import ERRORS, ServiceError

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "request.malformed_json",
    401: "auth.required",
    403: "auth.forbidden",
    404: "request.not_found",
    405: "request.method_not_allowed",
    413: "request.too_large",
    415: "request.unsupported_media_type",
}


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable code from the error table (docs/api.md).")
    message: str = Field(description="For people: Swedish, or English by Accept-Language.")
    detail: Any = Field(
        default="", description="For developers and logs: a field name, a validation list."
    )


class ErrorBody(BaseModel):
    """The body of every error answer of the API."""

    error: ErrorInfo


def error_body(code: str, *, language: Language, detail: Any = "") -> dict[str, Any]:
    """The JSON body of an error answer (the shape `ErrorBody` declares)."""
    spec = ERRORS[code]
    message = spec.en if language is Language.EN else spec.sv
    return {"error": {"code": code, "message": message, "detail": detail}}


def prefers_english(request: Request) -> bool:
    """True when Accept-Language (with its q-values) prefers English (default: Swedish)."""
    return preferred_language(request.headers.get("accept-language")) is Language.EN


def error_response(
    request: Request,
    code: str,
    detail: Any = "",
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    language = preferred_language(request.headers.get("accept-language"))
    body = {**(extra or {}), **error_body(code, language=language, detail=detail)}
    status = ERRORS[code].status
    if status == 403:  # an authorization refusal leaves a trace (refused triggers are audited)
        log.warning(
            "refused %s %s from %s: %s %s",
            request.method,
            request.url.path,
            request.client.host if request.client else "-",
            code,
            detail if isinstance(detail, str) else "",
        )
    return JSONResponse(body, status_code=status, headers=headers)


def _body_not_json(errors: list[dict[str, Any]]) -> bool:
    """FastAPI reads a body as JSON only under a JSON Content-Type; otherwise the body model
    is handed the raw bytes and fails: that is a wrong media type, not invalid values."""
    return any(
        tuple(error.get("loc", ()))[:1] == ("body",) and isinstance(error.get("input"), bytes)
        for error in errors
    )


def _validation_code(errors: list[dict[str, Any]]) -> str:
    types = {error.get("type") for error in errors}
    if "json_invalid" in types:
        return "request.malformed_json"
    if _body_not_json(errors):
        return "request.unsupported_media_type"
    if "extra_forbidden" in types:
        return "request.unknown_field"
    return "request.invalid"


def _validation_detail(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "type": error.get("type"),
            "msg": error.get("msg"),
        }
        for error in errors
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(CoreError)
    async def _core(request: Request, exc: CoreError) -> JSONResponse:
        return error_response(request, exc.code, str(exc.args[0]) if exc.args else "")

    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> JSONResponse:
        headers = {"Retry-After": exc.detail} if exc.code == "auth.rate_limited" else None
        return error_response(request, exc.code, "" if headers else exc.detail, headers, exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        code = _validation_code(errors)
        if code == "request.unsupported_media_type":
            return error_response(request, code, request.headers.get("content-type", ""))
        return error_response(request, code, _validation_detail(errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "server.internal")
        return error_response(request, code, "", getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, "server.internal")
