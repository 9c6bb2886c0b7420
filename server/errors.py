"""The one error table: every error a client can see, with its stable code, HTTP status and a
Swedish and English message. Codes never change meaning once released; `docs/api.md` lists them.

Domain code raises `server.core.errors.CoreError` subclasses or `ServiceError(code)`; the API
edge (server/api/errors.py) turns both into `{"error": {"code", "message", "detail"}}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from protocol.codec import ERROR_MESSAGES


@dataclass(frozen=True)
class ErrorSpec:
    status: int
    sv: str
    en: str


ERRORS: dict[str, ErrorSpec] = {
    # request shape
    "request.malformed_json": ErrorSpec(
        400, "Ogiltig JSON i förfrågan.", "The request body is not valid JSON."
    ),
    "request.invalid": ErrorSpec(
        422, "Förfrågan innehåller ogiltiga värden.", "The request contains invalid values."
    ),
    "request.unknown_field": ErrorSpec(
        422, "Förfrågan innehåller okända fält.", "The request contains unknown fields."
    ),
    "request.too_large": ErrorSpec(413, "Förfrågan är för stor.", "The request body is too large."),
    "request.not_found": ErrorSpec(404, "Adressen finns inte.", "No such address."),
    "request.method_not_allowed": ErrorSpec(
        405, "Metoden är inte tillåten här.", "Method not allowed here."
    ),
    "request.unsupported_media_type": ErrorSpec(
        415,
        "Skicka JSON (Content-Type: application/json).",
        "Send JSON (Content-Type: application/json).",
    ),
    # authentication
    "auth.required": ErrorSpec(401, "Du behöver logga in.", "You need to log in."),
    "auth.invalid_credentials": ErrorSpec(
        401, "Fel e-postadress eller lösenord.", "Wrong e-mail or password."
    ),
    "auth.rate_limited": ErrorSpec(
        429,
        "För många inloggningsförsök. Vänta en stund och försök igen.",
        "Too many login attempts. Wait a while and try again.",
    ),
    "auth.invalid_token": ErrorSpec(
        401, "Ogiltig eller återkallad nyckel.", "Invalid or revoked token."
    ),
    "auth.session_expired": ErrorSpec(
        401, "Sessionen har gått ut. Logga in igen.", "Your session has expired. Log in again."
    ),
    "auth.bad_origin": ErrorSpec(
        403,
        "Förfrågan kom från en annan webbplats och nekades.",
        "The request came from another site and was refused.",
    ),
    "auth.forbidden": ErrorSpec(
        403, "Du har inte behörighet till detta.", "You are not allowed to do this."
    ),
    # enrollment, devices, API keys
    "enrollment.invalid_code": ErrorSpec(
        400,
        "Registreringskoden är ogiltig, använd eller har gått ut.",
        "The enrollment code is invalid, used up or expired.",
    ),
    "enrollment.wrong_device_kind": ErrorSpec(
        400, "Koden gäller inte den här typen av enhet.", "The code is not for this kind of device."
    ),
    "device.not_found": ErrorSpec(404, "Enheten finns inte.", "No such device."),
    "device.revoked": ErrorSpec(
        409, "Enheten är redan återkallad.", "The device is already revoked."
    ),
    "api_key.not_found": ErrorSpec(404, "API-nyckeln finns inte.", "No such API key."),
    "api_key.revoked": ErrorSpec(
        409, "API-nyckeln är redan återkallad.", "The API key is already revoked."
    ),
    "api_key.kind_mismatch": ErrorSpec(
        403,
        "Larmknappen utlöser bara sitt eget slags larm.",
        "This panic button triggers only its own kind of alert.",
    ),
    "api_key.text_not_allowed": ErrorSpec(
        403,
        "Larmknappen använder organisationens larmtexter, inte egna.",
        "A panic button uses the organization's alert texts, not its own.",
    ),
    "enrollment.not_found": ErrorSpec(
        404, "Registreringskoden finns inte.", "No such enrollment code."
    ),
    # push registrations (server/core/push_registrations.py)
    "push.invalid_subscription": ErrorSpec(
        422,
        "Push-prenumerationen är ogiltig (adress eller nycklar).",
        "The push subscription is invalid (endpoint or keys).",
    ),
    "push.endpoint_not_allowed": ErrorSpec(
        422,
        "Push-adressen hör inte till en tillåten push-tjänst (https krävs).",
        "The push endpoint is not at an allowed push service (https is required).",
    ),
    "push.invalid_token": ErrorSpec(
        422,
        "APNs-token eller miljö är ogiltig.",
        "The APNs device token or environment is invalid.",
    ),
    "push.wrong_type": ErrorSpec(
        422,
        "Den här typen av enhet kan inte ta emot den sortens push.",
        "This kind of device cannot receive that type of push.",
    ),
    # organization, sites, people
    "organization.not_found": ErrorSpec(404, "Organisationen finns inte.", "No such organization."),
    "organization.exists": ErrorSpec(
        409, "Organisationen finns redan.", "The organization already exists."
    ),
    "site.not_found": ErrorSpec(404, "Enheten/skolan finns inte.", "No such site."),
    "site.exists": ErrorSpec(
        409, "Det finns redan en skola med det namnet.", "A site with that name already exists."
    ),
    "zone.not_found": ErrorSpec(404, "Zonen finns inte.", "No such zone."),
    "zone.exists": ErrorSpec(
        409, "Det finns redan en zon med det namnet.", "A zone with that name already exists."
    ),
    "person.not_found": ErrorSpec(404, "Personen finns inte.", "No such person."),
    "person.email_taken": ErrorSpec(
        409, "E-postadressen används redan.", "That e-mail address is already in use."
    ),
    "person.weak_password": ErrorSpec(
        422,
        "Lösenordet måste ha minst 10 tecken.",
        "The password must have at least 10 characters.",
    ),
    "person.last_admin": ErrorSpec(
        409,
        "Organisationen måste ha minst en aktiv administratör.",
        "The organization must keep at least one active admin.",
    ),
    "settings.invalid_templates": ErrorSpec(
        422, "Larmtexterna är ogiltiga.", "The alert texts are invalid."
    ),
    # alerts
    "alert.not_found": ErrorSpec(404, "Larmet finns inte.", "No such alert."),
    "alert.not_active": ErrorSpec(409, "Larmet är redan avslutat.", "The alert has already ended."),
    "alert.no_sites": ErrorSpec(422, "Välj minst en skola.", "Choose at least one site."),
    "alert.custom_text_required": ErrorSpec(
        422, "Ett eget larm behöver en text.", "A custom alert needs a text."
    ),
    "alert.nothing_to_update": ErrorSpec(
        409, "Ändringen är samma som nuvarande order.", "The update changes nothing."
    ),
    "alert.text_too_long": ErrorSpec(
        422,
        "Texten är för lång (högst 500 tecken).",
        "The text is too long (at most 500 characters).",
    ),
    "alert.idempotency_conflict": ErrorSpec(
        409,
        "Samma Idempotency-Key användes för ett annat larm.",
        "The Idempotency-Key was used for a different alert.",
    ),
    "alert.other_kind_active": ErrorSpec(
        409,
        "Ett annat larm pågår redan här. Ditt larm gick inte ut som ny order; "
        "larmledningen har fått din begäran.",
        "Another alert is already active here. Yours did not go out as a new order; "
        "the leaders have been told of your request.",
    ),
    "alert.led_by_security_chief": ErrorSpec(
        403,
        "Larmet gäller flera skolor och leds av säkerhetschefen. Din ändring gick inte ut; "
        "larmledningen har fått din begäran.",
        "The alert covers several sites and is led by the security chief. Your change did "
        "not go out; the leaders have been told of your request.",
    ),
    "alert.not_drill_or_test": ErrorSpec(
        409,
        "Nåbarhetsrapporten finns bara för övningar och tester.",
        "The reachability report is only for drills and tests.",
    ),
    # receipts and acks over HTTP (server/services/answers.py)
    "receipt.device_required": ErrorSpec(
        403,
        "Kvitton tas bara emot från en registrerad enhet.",
        "Receipts are only accepted from an enrolled device.",
    ),
    "receipt.not_targeted": ErrorSpec(
        409,
        "Larmet gäller inte den här enhetens skola.",
        "The alert does not cover this device's site.",
    ),
    "receipt.unknown_seq": ErrorSpec(
        422,
        "seq är inte en händelse i det här larmet.",
        "seq is not an event of this alert.",
    ),
    "receipt.no_device": ErrorSpec(
        409,
        "Du har ingen registrerad enhet på larmets skolor, så svaret kan inte räknas. "
        "Svara i appen på din enhet.",
        "You have no enrolled device at the alert's sites, so the answer cannot be counted. "
        "Answer in the app on your device.",
    ),
    # WebSocket protocol: the codes of protocol.codec.ERROR_MESSAGES are added below
    "protocol.hello_required": ErrorSpec(
        400, "Första meddelandet måste vara hello.", "The first message must be hello."
    ),
    "protocol.unexpected": ErrorSpec(
        400, "Meddelandet väntades inte här.", "The message was not expected here."
    ),
    "protocol.answer_requires_device": ErrorSpec(
        400,
        "Svar och kvitton tas bara emot från en registrerad enhet. Svara i appen på din enhet.",
        "Answers and receipts are only accepted from an enrolled device. "
        "Answer in the app on your device.",
    ),
    # server
    "server.unavailable": ErrorSpec(503, "Tjänsten är inte redo.", "The service is not ready."),
    "metrics.forbidden": ErrorSpec(
        403,
        "Ingen åtkomst till mätvärdena härifrån eller utan rätt token.",
        "No access to the metrics from here or without the right token.",
    ),
    "server.internal": ErrorSpec(
        500, "Internt fel i servern. Det är loggat.", "Internal server error. It has been logged."
    ),
}


ERRORS.update({code: ErrorSpec(400, texts.sv, texts.en) for code, texts in ERROR_MESSAGES.items()})


class ServiceError(Exception):
    """An error of the server's own services (not core); `code` must be in ERRORS. `extra`
    holds top-level fields the answer carries beside `error` (e.g. the active `alert`)."""

    def __init__(
        self, code: str, detail: str = "", *, extra: Mapping[str, Any] | None = None
    ) -> None:
        if code not in ERRORS:
            raise KeyError(f"error code {code!r} is not in server.errors.ERRORS")
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
        self.extra = dict(extra or {})
