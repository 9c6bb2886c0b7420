"""The alert state machine: pure decisions about triggering, updating and ending alerts.

    trigger ──► ACTIVE ──update──► ACTIVE (the single current order is replaced)
                  │
                  ├──resolve──► RESOLVED   (Faran över / all clear)
                  └──cancel───► CANCELLED  (false alarm)

RESOLVED and CANCELLED are final. A site has at most one active alert: a second trigger on
covered sites returns the existing alert instead of creating a conflicting one, and a
different kind on a covered site is never applied silently; it takes an explicit update.
An `actual` trigger is the one exception: it is never swallowed by an active drill or test,
it supersedes them (see `NewAlert.superseded`).

Nor is a more severe trigger swallowed by a less severe alert of the same mode: the person
who sees the attacker must be able to warn everyone. A trigger of a kind with a higher
`SEVERITY` escalates such an alert by itself (`Escalation`: the whole alert takes the new
kind and its texts, ONE current order). A trigger of another kind that is not more severe
changes nothing, but is not silent either: the alerts it names are listed in
`change_requested`, so the leaders are told, and the caller is answered distinctly.

Texts reaching the core must be complete: the API fills a missing language before calling,
so a given text with a blank language is a programming error (ValueError), except the
order of a custom alert, whose absence is the user's (CustomTextRequired).
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from protocol.vocabulary import AlertState, EventType, Kind, Mode
from server.core.errors import (
    AlertNotActive,
    CustomTextRequired,
    NoSites,
    NothingToUpdate,
    TextTooLong,
)
from server.core.templates import MAX_TEXT_LENGTH, KindTemplate, Texts


@dataclass(frozen=True)
class AlertView:
    """What the core needs to know of a stored alert."""

    id: int
    organization_id: int
    kind: Kind
    mode: Mode
    state: AlertState
    site_ids: frozenset[int]
    order: Texts
    instructions: Texts
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class TriggerRequest:
    """Someone asks for an alert; order/instructions None means: take the template's."""

    organization_id: int
    kind: Kind
    mode: Mode
    site_ids: frozenset[int]
    order: Texts | None = None
    instructions: Texts | None = None


# How severe each kind is: a trigger of a more severe kind escalates an active alert of the
# same mode by itself. PDV (inrymning) above everything; the others are not ordered.
SEVERITY: Mapping[Kind, int] = MappingProxyType(
    {Kind.PDV_LOCKDOWN: 1, Kind.SECURE: 0, Kind.EVACUATE: 0, Kind.CUSTOM: 0}
)


def escalates(kind: Kind, *, over: Kind) -> bool:
    """Whether a trigger of `kind` escalates an active alert of kind `over` by itself."""
    return SEVERITY[kind] > SEVERITY[over]


@dataclass(frozen=True)
class Escalation:
    """An active alert a more severe trigger takes to its kind, with the trigger's texts."""

    alert: AlertView
    kind: Kind
    order: Texts
    instructions: Texts


@dataclass(frozen=True)
class NewAlert:
    """Decision: create this alert.

    `site_ids` excludes every requested site that already has an active alert; those alerts
    are listed in `already_active` (oldest first). `superseded` lists active drills and tests
    on requested sites that an `actual` trigger replaces: the caller must cancel each of them
    (`cancel_alert`) in the same transaction, before the new alert's `triggered` event, so
    nobody is left believing a real attack is an exercise.
    """

    organization_id: int
    kind: Kind
    mode: Mode
    site_ids: frozenset[int]
    order: Texts
    instructions: Texts
    already_active: tuple[AlertView, ...]
    superseded: tuple[AlertView, ...] = ()
    escalations: tuple[Escalation, ...] = ()
    change_requested: tuple[AlertView, ...] = ()


@dataclass(frozen=True)
class ExistingAlert:
    """Decision: every requested site already has an active alert; answer with this one.

    `escalations` and `change_requested` as in `NewAlert` (of the active alerts on the
    requested sites). `other_kind` is True when `alert` is of another kind and the trigger
    did not escalate it: the caller must be told its order did not go out.
    """

    alert: AlertView
    escalations: tuple[Escalation, ...] = ()
    change_requested: tuple[AlertView, ...] = ()

    @property
    def other_kind(self) -> bool:
        return self.alert in self.change_requested


@dataclass(frozen=True)
class AlertChange:
    """What to persist: the alert's new field values and the event to append.

    `changes` holds only the fields that changed, JSON-friendly, e.g.
    {"kind": "evacuate", "order": {"sv": ..., "en": ...}} or {"state": "resolved"}.
    """

    event: EventType
    kind: Kind
    state: AlertState
    order: Texts
    instructions: Texts
    updated_at: datetime
    changes: Mapping[str, object] = field(hash=False)


def _checked(texts: Texts, *, name: str, kind: Kind) -> Texts:
    """`texts` stripped; raises if a language is blank or longer than MAX_TEXT_LENGTH."""
    result = texts.stripped()
    for language, text in result.as_dict().items():
        if not text:
            if name == "order" and kind == Kind.CUSTOM:
                raise CustomTextRequired(f"order.{language} is blank")
            raise ValueError(f"{name}.{language} is blank; the caller must fill both languages")
        if len(text) > MAX_TEXT_LENGTH:
            raise TextTooLong(f"{name}.{language} is {len(text)} characters; max {MAX_TEXT_LENGTH}")
    return result


def _require_template(template: KindTemplate | None, *, kind: Kind) -> KindTemplate:
    if template is None or template.kind != kind:
        raise ValueError(f"the template of kind {kind.value!r} is needed")
    return template


def _by_age(alerts: Iterable[AlertView]) -> tuple[AlertView, ...]:
    return tuple(sorted(alerts, key=lambda a: (a.created_at, a.id)))


def _best_existing(alerts: Sequence[AlertView], *, requested: frozenset[int]) -> AlertView:
    """The alert covering the most requested sites; ties go to the oldest."""
    oldest_first = _by_age(alerts)
    return max(oldest_first, key=lambda a: len(a.site_ids & requested))


def decide_trigger(
    request: TriggerRequest, *, active: Sequence[AlertView], template: KindTemplate
) -> NewAlert | ExistingAlert:
    """Decide whether a trigger creates a new alert or returns the existing one.

    `active` are the organization's currently active alerts, `template` the (overridden)
    template of `request.kind`. Raises NoSites, CustomTextRequired or TextTooLong.
    """
    requested = frozenset(request.site_ids)
    if not requested:
        raise NoSites()
    _require_template(template, kind=request.kind)
    order = _checked(
        template.order if request.order is None else request.order,
        name="order",
        kind=request.kind,
    )
    instructions = _checked(
        template.instructions if request.instructions is None else request.instructions,
        name="instructions",
        kind=request.kind,
    )
    blocking, superseded = _partition(request, active=active, requested=requested)
    escalations = tuple(
        Escalation(alert=a, kind=request.kind, order=order, instructions=instructions)
        for a in blocking
        if a.mode == request.mode and escalates(request.kind, over=a.kind)
    )
    change_requested = tuple(
        a
        for a in blocking
        if a.mode == request.mode
        and a.kind != request.kind
        and not escalates(request.kind, over=a.kind)
    )
    covered = frozenset().union(*(a.site_ids for a in blocking))
    remaining = requested - covered
    if not remaining:
        return ExistingAlert(
            alert=_best_existing(blocking, requested=requested),
            escalations=escalations,
            change_requested=change_requested,
        )
    return NewAlert(
        organization_id=request.organization_id,
        kind=request.kind,
        mode=request.mode,
        site_ids=remaining,
        order=order,
        instructions=instructions,
        already_active=_by_age(blocking),
        superseded=_by_age(superseded),
        escalations=escalations,
        change_requested=change_requested,
    )


def _partition(
    request: TriggerRequest, *, active: Sequence[AlertView], requested: frozenset[int]
) -> tuple[list[AlertView], list[AlertView]]:
    """The active alerts on requested sites: (blocking, superseded by an actual trigger)."""
    blocking: list[AlertView] = []
    superseded: list[AlertView] = []
    for alert in active:
        if alert.organization_id != request.organization_id:
            raise ValueError(f"alert {alert.id} belongs to another organization")
        if alert.state != AlertState.ACTIVE or not alert.site_ids & requested:
            continue
        if request.mode == Mode.ACTUAL and alert.mode != Mode.ACTUAL:
            superseded.append(alert)
        else:
            blocking.append(alert)
    return blocking, superseded


def _require_active(alert: AlertView) -> None:
    if alert.state != AlertState.ACTIVE:
        raise AlertNotActive(f"alert {alert.id} is {alert.state.value}")


def update_alert(
    alert: AlertView,
    *,
    now: datetime,
    kind: Kind | None = None,
    order: Texts | None = None,
    instructions: Texts | None = None,
    template: KindTemplate | None = None,
) -> AlertChange:
    """Replace the alert's kind and/or its single current order and instructions.

    Changing the kind without giving order or instructions takes them from `template`, which
    must then be the new kind's template (else ValueError). The mode never changes. Raises
    AlertNotActive, NothingToUpdate, CustomTextRequired or TextTooLong.
    """
    _require_active(alert)
    new_kind = alert.kind if kind is None else kind
    if new_kind != alert.kind:
        if order is None or instructions is None:
            template = _require_template(template, kind=new_kind)
            order = template.order if order is None else order
            instructions = template.instructions if instructions is None else instructions
    new_order = alert.order if order is None else _checked(order, name="order", kind=new_kind)
    new_instructions = (
        alert.instructions
        if instructions is None
        else _checked(instructions, name="instructions", kind=new_kind)
    )
    changes: dict[str, object] = {}
    if new_kind != alert.kind:
        changes["kind"] = new_kind.value
    if new_order != alert.order:
        changes["order"] = new_order.as_dict()
    if new_instructions != alert.instructions:
        changes["instructions"] = new_instructions.as_dict()
    if not changes:
        raise NothingToUpdate(f"alert {alert.id} already says that")
    return AlertChange(
        event=EventType.UPDATED,
        kind=new_kind,
        state=AlertState.ACTIVE,
        order=new_order,
        instructions=new_instructions,
        updated_at=now,
        changes=changes,
    )


def escalate_alert(escalation: Escalation, *, now: datetime) -> AlertChange:
    """The `updated` change that takes the alert to the more severe kind; `changes` also
    says `"escalated": true`. Raises AlertNotActive."""
    change = update_alert(
        escalation.alert,
        now=now,
        kind=escalation.kind,
        order=escalation.order,
        instructions=escalation.instructions,
    )
    return AlertChange(
        event=change.event,
        kind=change.kind,
        state=change.state,
        order=change.order,
        instructions=change.instructions,
        updated_at=change.updated_at,
        changes={**change.changes, "escalated": True},
    )


def _end(alert: AlertView, *, now: datetime, state: AlertState, event: EventType) -> AlertChange:
    _require_active(alert)
    return AlertChange(
        event=event,
        kind=alert.kind,
        state=state,
        order=alert.order,
        instructions=alert.instructions,
        updated_at=now,
        changes={"state": state.value},
    )


def resolve_alert(alert: AlertView, *, now: datetime) -> AlertChange:
    """End an active alert: the danger is over (Faran över). Raises AlertNotActive."""
    return _end(alert, now=now, state=AlertState.RESOLVED, event=EventType.RESOLVED)


def cancel_alert(alert: AlertView, *, now: datetime) -> AlertChange:
    """Withdraw an active alert as a false alarm. Raises AlertNotActive."""
    return _end(alert, now=now, state=AlertState.CANCELLED, event=EventType.CANCELLED)
