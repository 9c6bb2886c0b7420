"""One sample alert message for the push tests, varied per test with `message(**changes)`."""

from __future__ import annotations

from dataclasses import replace

from push.message import PushMessage

SAMPLE = PushMessage(
    alert_id=42,
    seq=7,
    event="triggered",
    kind="pdv_lockdown",
    mode="actual",
    state="active",
    title="PDV – Pågående dödligt våld",
    body="Lås in er. Håll er borta från fönster och dörrar. Vänta på besked.",
    sites=("Västerskolan",),
    url="/alerts/42",
)


def message(**changes: object) -> PushMessage:
    """The sample with `changes` (any PushMessage field)."""
    return replace(SAMPLE, **changes)  # type: ignore[arg-type]
