"""The desktop client's HTTP calls to the server, blocking and stdlib-only (urllib): the Qt
side runs them in a worker thread. Errors become ApiError with the server's stable error
code (docs/api.md), or `network.unreachable` / `network.bad_response` when the server could
not be reached or answered something that is not the API's JSON."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from protocol.codec import alert_doc_from_dict
from protocol.messages import AlertDoc

TIMEOUT_S = 15.0
API = "/api/v1"


class ApiError(Exception):
    """A call failed; `code` is the server's stable error code (or network.*)."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """GET /api/v1/config: where the WebSocket is, and the trigger countdown."""

    ws_url: str
    protocol_version: int
    languages: tuple[str, ...]
    trigger_countdown_seconds: float


def _url(server_url: str, path: str) -> str:
    return server_url.rstrip("/") + API + path


def request(
    server_url: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    language: str = "sv",
) -> Any:
    """One JSON call; answers the decoded JSON body (None for 204)."""
    sent = {"Accept": "application/json", "Accept-Language": language, **(headers or {})}
    data = None
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        sent["Content-Type"] = "application/json"
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    call = urllib.request.Request(_url(server_url, path), data=data, headers=sent, method=method)
    try:
        with urllib.request.urlopen(call, timeout=TIMEOUT_S) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        raise _api_error(error) from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise ApiError("network.unreachable", str(error)) from None
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError("network.bad_response", "the answer is not JSON") from None


def _api_error(error: urllib.error.HTTPError) -> ApiError:
    try:
        detail = json.loads(error.read())["error"]
        return ApiError(str(detail["code"]), str(detail["message"]), error.code)
    except (ValueError, KeyError, TypeError, OSError):
        return ApiError("network.bad_response", f"HTTP {error.code}", error.code)


def fetch_config(server_url: str) -> ClientConfig:
    data = request(server_url, "GET", "/config")
    try:
        return ClientConfig(
            ws_url=str(data["ws_url"]),
            protocol_version=int(data["protocol_version"]),
            languages=tuple(str(x) for x in data.get("languages", ["sv", "en"])),
            trigger_countdown_seconds=float(data["trigger_countdown_seconds"]),
        )
    except (KeyError, TypeError, ValueError):
        raise ApiError("network.bad_response", "unexpected /config answer") from None


def device_self(server_url: str, token: str) -> dict[str, Any]:
    """GET /devices/self: the device's own record (raises auth.* when revoked)."""
    data: dict[str, Any] = request(server_url, "GET", "/devices/self", token=token)
    return data


def staff_may_trigger(server_url: str, token: str, site_id: int | None) -> bool:
    """Whether this device may trigger: it acts as staff of its site, so the site's
    `staff_may_trigger` (GET /sites/{id}, which a device may read for its own site) decides.
    Without a known site it asks GET /devices/self first."""
    try:
        if site_id is None:
            site_id = int(device_self(server_url, token)["site_id"])
        data = request(server_url, "GET", f"/sites/{site_id}", token=token)
        return bool(data["staff_may_trigger"])
    except (KeyError, TypeError, ValueError):
        raise ApiError("network.bad_response", "unexpected /sites answer") from None


def fetch_alert(server_url: str, token: str, alert_id: int) -> AlertDoc:
    """GET /alerts/{id}: how an alert stands (e.g. how one that ended, ended)."""
    data = request(server_url, "GET", f"/alerts/{alert_id}", token=token)
    try:
        return alert_doc_from_dict(data, "alert")
    except Exception as error:  # protocol.ProtocolError or a wrong shape
        raise ApiError("network.bad_response", str(error)) from None


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


def trigger(
    server_url: str,
    token: str,
    *,
    kind: str = "pdv_lockdown",
    idempotency_key: str,
    language: str = "sv",
) -> dict[str, Any]:
    """POST /alerts as this device (its own site). Retrying with the same key triggers at
    most once. Answers the server's body (`alert`, `created`, …)."""
    data: dict[str, Any] = request(
        server_url,
        "POST",
        "/alerts",
        token=token,
        body={"kind": kind},
        headers={"Idempotency-Key": idempotency_key},
        language=language,
    )
    return data
