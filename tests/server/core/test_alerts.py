import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.vocabulary import AlertState, EventType, Kind, Mode
from server.core.alerts import (
    AlertChange,
    AlertView,
    Escalation,
    ExistingAlert,
    NewAlert,
    TriggerRequest,
    cancel_alert,
    decide_trigger,
    escalate_alert,
    escalates,
    resolve_alert,
    update_alert,
)
from server.core.errors import (
    AlertNotActive,
    CoreError,
    CustomTextRequired,
    NoSites,
    NothingToUpdate,
    TextTooLong,
)
from server.core.templates import BUILT_IN, MAX_TEXT_LENGTH, Texts, template_for

ORG = 1
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=5)
LOCKDOWN = BUILT_IN[Kind.PDV_LOCKDOWN]
EVACUATE = BUILT_IN[Kind.EVACUATE]
CUSTOM = BUILT_IN[Kind.CUSTOM]


def alert(
    id: int = 10,
    *,
    sites: tuple[int, ...] = (1,),
    kind: Kind = Kind.PDV_LOCKDOWN,
    mode: Mode = Mode.ACTUAL,
    state: AlertState = AlertState.ACTIVE,
    created_at: datetime = T0,
    organization_id: int = ORG,
) -> AlertView:
    template = BUILT_IN[kind]
    return AlertView(
        id=id,
        organization_id=organization_id,
        kind=kind,
        mode=mode,
        state=state,
        site_ids=frozenset(sites),
        order=template.order if kind != Kind.CUSTOM else Texts(sv="Eget", en="Own"),
        instructions=template.instructions,
        created_at=created_at,
        updated_at=created_at,
    )


def request(
    *sites: int,
    kind: Kind = Kind.PDV_LOCKDOWN,
    mode: Mode = Mode.ACTUAL,
    order: Texts | None = None,
    instructions: Texts | None = None,
) -> TriggerRequest:
    return TriggerRequest(
        organization_id=ORG,
        kind=kind,
        mode=mode,
        site_ids=frozenset(sites),
        order=order,
        instructions=instructions,
    )


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (AlertNotActive, "alert.not_active"),
        (NoSites, "alert.no_sites"),
        (CustomTextRequired, "alert.custom_text_required"),
        (NothingToUpdate, "alert.nothing_to_update"),
        (TextTooLong, "alert.text_too_long"),
    ],
)
def test_alert_errors_have_stable_codes(error, code):
    """Each alert error is a CoreError with its documented code and keeps its detail."""
    raised = error("why")
    assert isinstance(raised, CoreError)
    assert raised.code == code
    assert raised.detail == "why"
    assert raised.args == ("why",)
    assert str(raised) == f"{code}: why"
    assert str(error()) == code


# --- trigger ----------------------------------------------------------------------------


def test_trigger_without_active_alerts_creates_one_from_the_template():
    """With nothing active, all requested sites get a new alert with the template's texts."""
    decision = decide_trigger(request(1, 2), active=[], template=LOCKDOWN)
    assert decision == NewAlert(
        organization_id=ORG,
        kind=Kind.PDV_LOCKDOWN,
        mode=Mode.ACTUAL,
        site_ids=frozenset({1, 2}),
        order=LOCKDOWN.order,
        instructions=LOCKDOWN.instructions,
        already_active=(),
        superseded=(),
    )


def test_trigger_accepts_a_plain_set_of_sites():
    """A mutable set of sites is normalized to a frozenset."""
    req = TriggerRequest(organization_id=ORG, kind=Kind.SECURE, mode=Mode.ACTUAL, site_ids={3})
    decision = decide_trigger(req, active=[], template=BUILT_IN[Kind.SECURE])
    assert isinstance(decision, NewAlert)
    assert decision.site_ids == frozenset({3})


def test_trigger_uses_the_templates_overrides():
    """The organization's overridden template supplies missing texts."""
    template = template_for(Kind.PDV_LOCKDOWN, overrides={"pdv_lockdown": {"order_sv": "LÅS!"}})
    decision = decide_trigger(request(1), active=[], template=template)
    assert isinstance(decision, NewAlert)
    assert decision.order == Texts(sv="LÅS!", en=LOCKDOWN.order.en)


def test_trigger_with_given_texts_strips_them():
    """Caller's order and instructions win over the template and are stripped."""
    decision = decide_trigger(
        request(1, order=Texts(sv=" Hus B ", en=" House B\n"), instructions=Texts(sv="a", en="b")),
        active=[],
        template=LOCKDOWN,
    )
    assert isinstance(decision, NewAlert)
    assert decision.order == Texts(sv="Hus B", en="House B")
    assert decision.instructions == Texts(sv="a", en="b")


def test_trigger_with_only_instructions_takes_the_order_from_the_template():
    """Order and instructions fall back to the template independently."""
    decision = decide_trigger(
        request(1, instructions=Texts(sv="x", en="y")), active=[], template=LOCKDOWN
    )
    assert isinstance(decision, NewAlert)
    assert decision.order == LOCKDOWN.order
    assert decision.instructions == Texts(sv="x", en="y")


def test_trigger_without_sites_is_refused():
    """An empty site list raises NoSites."""
    with pytest.raises(NoSites):
        decide_trigger(request(), active=[], template=LOCKDOWN)


def test_trigger_with_the_wrong_template_is_a_programming_error():
    """The template must belong to the requested kind."""
    with pytest.raises(ValueError, match="evacuate"):
        decide_trigger(request(1, kind=Kind.EVACUATE), active=[], template=LOCKDOWN)


def test_trigger_refuses_active_alerts_of_another_organization():
    """Mixing organizations' alerts is a programming error, never silently accepted."""
    with pytest.raises(ValueError, match="another organization"):
        decide_trigger(request(1), active=[alert(organization_id=2)], template=LOCKDOWN)


def test_second_trigger_on_the_same_sites_returns_the_existing_alert():
    """A second press on covered sites is idempotent: the existing alert comes back."""
    existing = alert(sites=(1, 2))
    decision = decide_trigger(request(1, 2), active=[existing], template=LOCKDOWN)
    assert decision == ExistingAlert(alert=existing)


def test_trigger_of_another_kind_on_a_covered_site_does_not_change_the_order():
    """A less severe kind on an active site changes nothing but names the alert to change."""
    existing = alert(sites=(1,), kind=Kind.PDV_LOCKDOWN)
    decision = decide_trigger(request(1, kind=Kind.EVACUATE), active=[existing], template=EVACUATE)
    assert decision == ExistingAlert(alert=existing, change_requested=(existing,))
    assert decision.alert.kind == Kind.PDV_LOCKDOWN and decision.other_kind


def test_only_pdv_is_more_severe_than_the_other_kinds():
    """Inrymning escalates every other kind; no other kind escalates anything."""
    for kind in Kind:
        assert escalates(Kind.PDV_LOCKDOWN, over=kind) == (kind != Kind.PDV_LOCKDOWN)
        if kind != Kind.PDV_LOCKDOWN:
            assert not any(escalates(kind, over=other) for other in Kind)


def test_a_pdv_trigger_escalates_a_less_severe_alert_of_the_same_mode():
    """PDV on a site under utestängning escalates that alert with the trigger's texts."""
    existing = alert(sites=(1, 2), kind=Kind.SECURE)
    decision = decide_trigger(request(1), active=[existing], template=LOCKDOWN)
    escalation = Escalation(
        alert=existing,
        kind=Kind.PDV_LOCKDOWN,
        order=LOCKDOWN.order,
        instructions=LOCKDOWN.instructions,
    )
    assert decision == ExistingAlert(alert=existing, escalations=(escalation,))
    assert not decision.other_kind
    change = escalate_alert(escalation, now=NOW)
    assert change.event == EventType.UPDATED and change.kind == Kind.PDV_LOCKDOWN
    assert change.order == LOCKDOWN.order and change.updated_at == NOW
    assert change.changes["escalated"] is True and change.changes["kind"] == "pdv_lockdown"


def test_a_pdv_trigger_on_covered_and_free_sites_escalates_and_creates():
    """The free site gets a new alert, the covered one's less severe alert is escalated."""
    existing = alert(sites=(1,), kind=Kind.EVACUATE)
    decision = decide_trigger(request(1, 2), active=[existing], template=LOCKDOWN)
    assert isinstance(decision, NewAlert) and decision.site_ids == {2}
    assert [e.alert for e in decision.escalations] == [existing]
    assert decision.change_requested == ()


def test_another_mode_is_neither_escalated_nor_asked_to_change():
    """A PDV drill on a site with a real utestängning changes nothing and asks nothing."""
    existing = alert(sites=(1,), kind=Kind.SECURE)
    decision = decide_trigger(request(1, mode=Mode.DRILL), active=[existing], template=LOCKDOWN)
    assert decision == ExistingAlert(alert=existing)
    assert not decision.other_kind


def test_partial_overlap_creates_an_alert_for_the_uncovered_sites_only():
    """Covered sites are excluded and the covering alerts are reported, oldest first."""
    newer = alert(11, sites=(2,), created_at=T0 + timedelta(seconds=30))
    older = alert(12, sites=(1, 9), created_at=T0)
    unrelated = alert(13, sites=(7,))
    decision = decide_trigger(
        request(1, 2, 3, 4), active=[newer, unrelated, older], template=LOCKDOWN
    )
    assert isinstance(decision, NewAlert)
    assert decision.site_ids == frozenset({3, 4})
    assert decision.already_active == (older, newer)


def test_fully_covered_by_several_returns_the_one_covering_most():
    """With sites spread over several alerts, the one covering most requested sites wins."""
    small = alert(11, sites=(1,), created_at=T0)
    big = alert(12, sites=(2, 3), created_at=T0 + timedelta(seconds=1))
    decision = decide_trigger(request(1, 2, 3), active=[small, big], template=LOCKDOWN)
    assert decision == ExistingAlert(alert=big)


def test_fully_covered_tie_returns_the_oldest():
    """Ties on coverage go to the oldest alert."""
    newer = alert(11, sites=(1,), created_at=T0 + timedelta(seconds=1))
    older = alert(12, sites=(2,), created_at=T0)
    decision = decide_trigger(request(1, 2), active=[newer, older], template=LOCKDOWN)
    assert decision == ExistingAlert(alert=older)


def test_coverage_counts_only_requested_sites():
    """An alert covering many unrequested sites doesn't beat one covering more requested."""
    wide = alert(11, sites=(1, 50, 51, 52), created_at=T0)
    narrow = alert(12, sites=(2, 3), created_at=T0 + timedelta(seconds=1))
    decision = decide_trigger(request(1, 2, 3), active=[wide, narrow], template=LOCKDOWN)
    assert decision == ExistingAlert(alert=narrow)


def test_ended_alerts_in_active_are_ignored():
    """Resolved or cancelled alerts never block a trigger."""
    ended = [
        alert(11, sites=(1,), state=AlertState.RESOLVED),
        alert(12, sites=(1,), state=AlertState.CANCELLED),
    ]
    decision = decide_trigger(request(1), active=ended, template=LOCKDOWN)
    assert isinstance(decision, NewAlert)
    assert decision.site_ids == frozenset({1})
    assert decision.already_active == ()


@pytest.mark.parametrize("mode", [Mode.DRILL, Mode.TEST])
def test_actual_trigger_supersedes_an_active_drill_or_test(mode):
    """A real alert is never swallowed by an exercise: the exercise is to be cancelled."""
    exercise = alert(11, sites=(1, 2), mode=mode)
    decision = decide_trigger(request(1), active=[exercise], template=LOCKDOWN)
    assert isinstance(decision, NewAlert)
    assert decision.mode == Mode.ACTUAL
    assert decision.site_ids == frozenset({1})
    assert decision.superseded == (exercise,)
    assert decision.already_active == ()


def test_actual_trigger_next_to_actual_and_drill_alerts():
    """Actual alerts block their sites, exercises on requested sites are superseded."""
    real = alert(11, sites=(1,))
    drill = alert(12, sites=(2,), mode=Mode.DRILL)
    far_drill = alert(13, sites=(8,), mode=Mode.DRILL)
    decision = decide_trigger(request(1, 2, 3), active=[real, drill, far_drill], template=LOCKDOWN)
    assert isinstance(decision, NewAlert)
    assert decision.site_ids == frozenset({2, 3})
    assert decision.already_active == (real,)
    assert decision.superseded == (drill,)


@pytest.mark.parametrize(
    ("requested", "active"),
    [
        (Mode.DRILL, Mode.ACTUAL),
        (Mode.DRILL, Mode.DRILL),
        (Mode.DRILL, Mode.TEST),
        (Mode.TEST, Mode.ACTUAL),
        (Mode.TEST, Mode.DRILL),
        (Mode.TEST, Mode.TEST),
        (Mode.ACTUAL, Mode.ACTUAL),
    ],
)
def test_exercises_never_displace_anything(requested, active):
    """Only an actual trigger supersedes; otherwise the active alert on the site is returned."""
    existing = alert(11, sites=(1,), mode=active)
    decision = decide_trigger(request(1, mode=requested), active=[existing], template=LOCKDOWN)
    assert decision == ExistingAlert(alert=existing)


def test_custom_trigger_needs_an_order():
    """A custom alert without an order raises CustomTextRequired."""
    with pytest.raises(CustomTextRequired):
        decide_trigger(request(1, kind=Kind.CUSTOM), active=[], template=CUSTOM)


@pytest.mark.parametrize(
    "order", [Texts(sv="", en=""), Texts(sv="Gå hem", en="  "), Texts(sv="\n", en="Go home")]
)
def test_custom_trigger_needs_both_languages(order):
    """A custom order blank in either language raises CustomTextRequired."""
    with pytest.raises(CustomTextRequired):
        decide_trigger(request(1, kind=Kind.CUSTOM, order=order), active=[], template=CUSTOM)


def test_custom_trigger_with_order_gets_generic_instructions():
    """A custom alert with an order takes the generic custom instructions."""
    decision = decide_trigger(
        request(1, kind=Kind.CUSTOM, order=Texts(sv="Gasläcka", en="Gas leak")),
        active=[],
        template=CUSTOM,
    )
    assert isinstance(decision, NewAlert)
    assert decision.order == Texts(sv="Gasläcka", en="Gas leak")
    assert decision.instructions == CUSTOM.instructions


def test_custom_text_is_checked_before_returning_an_existing_alert():
    """Bad input is refused even when the sites are already covered."""
    with pytest.raises(CustomTextRequired):
        decide_trigger(request(1, kind=Kind.CUSTOM), active=[alert(sites=(1,))], template=CUSTOM)


@pytest.mark.parametrize("field", ["order", "instructions"])
def test_given_text_blank_in_one_language_is_a_programming_error(field):
    """Outside custom orders, the API must fill both languages before calling the core."""
    texts = {field: Texts(sv="x", en=" ")}
    with pytest.raises(ValueError, match=f"{field}.en is blank"):
        decide_trigger(request(1, **texts), active=[], template=LOCKDOWN)


@pytest.mark.parametrize("field", ["order", "instructions"])
@pytest.mark.parametrize("language", ["sv", "en"])
def test_trigger_text_too_long(field, language):
    """Order or instructions over 500 characters in any language raise TextTooLong."""
    values = {"sv": "ok", "en": "ok", language: "x" * (MAX_TEXT_LENGTH + 1)}
    with pytest.raises(TextTooLong, match=f"{field}.{language}"):
        decide_trigger(request(1, **{field: Texts(**values)}), active=[], template=LOCKDOWN)


def test_trigger_text_length_counts_after_stripping():
    """Exactly 500 characters plus surrounding whitespace is accepted."""
    text = "  " + "x" * MAX_TEXT_LENGTH + "  "
    decision = decide_trigger(
        request(1, order=Texts(sv=text, en=text)), active=[], template=LOCKDOWN
    )
    assert isinstance(decision, NewAlert)
    assert len(decision.order.sv) == MAX_TEXT_LENGTH


site_sets = st.frozensets(st.integers(min_value=1, max_value=12), max_size=6)


@st.composite
def active_alerts(draw):
    count = draw(st.integers(min_value=0, max_value=5))
    return [
        alert(
            100 + i,
            sites=tuple(draw(site_sets.filter(bool))),
            mode=draw(st.sampled_from(Mode)),
            created_at=T0 + timedelta(seconds=draw(st.integers(0, 3))),
        )
        for i in range(count)
    ]


@given(
    requested=site_sets.filter(bool),
    mode=st.sampled_from(Mode),
    active=active_alerts(),
)
def test_property_a_new_alert_never_shares_a_site_with_a_blocking_alert(requested, mode, active):
    """decide_trigger never creates an alert on a site another active alert keeps."""
    decision = decide_trigger(request(*requested, mode=mode), active=active, template=LOCKDOWN)
    # An actual trigger is blocked by actual alerts only; an exercise by every alert.
    blocking = [a for a in active if mode != Mode.ACTUAL or a.mode == Mode.ACTUAL]
    covered = frozenset().union(*(a.site_ids for a in blocking)) & requested
    if covered == requested:
        assert isinstance(decision, ExistingAlert)
        assert decision.alert in blocking
        assert decision.alert.site_ids & requested
        return
    assert isinstance(decision, NewAlert)
    assert decision.site_ids == requested - covered
    for other in blocking:
        assert not decision.site_ids & other.site_ids
    assert set(decision.already_active) == {a for a in blocking if a.site_ids & requested}
    assert set(decision.superseded) == {
        a for a in active if a not in blocking and a.site_ids & requested
    }
    assert all(a.mode != Mode.ACTUAL for a in decision.superseded)


# --- update -----------------------------------------------------------------------------


def test_update_order_replaces_the_single_current_order():
    """A new order replaces the old one; only changed fields are reported."""
    current = alert()
    change = update_alert(current, now=NOW, order=Texts(sv=" Hus B: stanna kvar ", en="Stay"))
    assert change == AlertChange(
        event=EventType.UPDATED,
        kind=Kind.PDV_LOCKDOWN,
        state=AlertState.ACTIVE,
        order=Texts(sv="Hus B: stanna kvar", en="Stay"),
        instructions=current.instructions,
        updated_at=NOW,
        changes={"order": {"sv": "Hus B: stanna kvar", "en": "Stay"}},
    )


def test_update_instructions_only():
    """Instructions can change without touching the order."""
    change = update_alert(alert(), now=NOW, instructions=Texts(sv="Tyst", en="Quiet"))
    assert change.changes == {"instructions": {"sv": "Tyst", "en": "Quiet"}}
    assert change.order == LOCKDOWN.order


def test_update_kind_takes_texts_from_the_new_template():
    """Changing kind without texts switches order and instructions to the new kind's."""
    change = update_alert(alert(), now=NOW, kind=Kind.EVACUATE, template=EVACUATE)
    assert change.kind == Kind.EVACUATE
    assert change.order == EVACUATE.order
    assert change.instructions == EVACUATE.instructions
    assert change.changes == {
        "kind": "evacuate",
        "order": EVACUATE.order.as_dict(),
        "instructions": EVACUATE.instructions.as_dict(),
    }
    json.dumps(change.changes)


def test_update_kind_with_given_order_keeps_it_and_takes_template_instructions():
    """A given order wins; the missing instructions come from the new kind's template."""
    order = Texts(sv="UTRYMNING via bakdörren", en="EVACUATE by the back door")
    change = update_alert(alert(), now=NOW, kind=Kind.EVACUATE, order=order, template=EVACUATE)
    assert change.order == order
    assert change.instructions == EVACUATE.instructions


def test_update_kind_with_all_texts_needs_no_template():
    """With order and instructions given, no template is needed."""
    change = update_alert(
        alert(),
        now=NOW,
        kind=Kind.SECURE,
        order=Texts(sv="a", en="b"),
        instructions=Texts(sv="c", en="d"),
    )
    assert change.kind == Kind.SECURE


@pytest.mark.parametrize("template", [None, LOCKDOWN])
def test_update_kind_without_the_right_template_is_a_programming_error(template):
    """Changing kind with missing texts and no (or the wrong) template raises ValueError."""
    with pytest.raises(ValueError, match="evacuate"):
        update_alert(alert(), now=NOW, kind=Kind.EVACUATE, template=template)


def test_update_to_custom_without_order_is_refused():
    """Switching to custom needs an order text."""
    with pytest.raises(CustomTextRequired):
        update_alert(alert(), now=NOW, kind=Kind.CUSTOM, template=CUSTOM)


def test_update_custom_order_to_blank_is_refused():
    """A custom alert's order can't be blanked."""
    with pytest.raises(CustomTextRequired):
        update_alert(alert(kind=Kind.CUSTOM), now=NOW, order=Texts(sv="", en="x"))


def test_update_from_custom_to_lockdown_uses_the_template_order():
    """Leaving custom for a built-in kind takes the built-in order."""
    change = update_alert(
        alert(kind=Kind.CUSTOM), now=NOW, kind=Kind.PDV_LOCKDOWN, template=LOCKDOWN
    )
    assert change.order == LOCKDOWN.order


def test_update_text_too_long():
    """An update's text over 500 characters raises TextTooLong."""
    with pytest.raises(TextTooLong):
        update_alert(alert(), now=NOW, order=Texts(sv="x" * (MAX_TEXT_LENGTH + 1), en="x"))


def test_update_that_changes_nothing_is_refused():
    """Same kind and same (stripped) texts raise NothingToUpdate."""
    current = alert()
    with pytest.raises(NothingToUpdate):
        update_alert(current, now=NOW)
    with pytest.raises(NothingToUpdate):
        update_alert(
            current,
            now=NOW,
            kind=Kind.PDV_LOCKDOWN,
            order=Texts(sv=current.order.sv + "  ", en=current.order.en),
            instructions=current.instructions,
            template=LOCKDOWN,
        )


def test_update_never_changes_the_mode():
    """A drill stays a drill after an update (AlertChange has no mode)."""
    change = update_alert(alert(mode=Mode.DRILL), now=NOW, order=Texts(sv="a", en="b"))
    assert not hasattr(change, "mode")
    assert "mode" not in change.changes


@pytest.mark.parametrize("state", [AlertState.RESOLVED, AlertState.CANCELLED])
def test_ended_alerts_can_not_be_updated_resolved_or_cancelled(state):
    """Resolved and cancelled are final states."""
    ended = alert(state=state)
    with pytest.raises(AlertNotActive):
        update_alert(ended, now=NOW, order=Texts(sv="a", en="b"))
    with pytest.raises(AlertNotActive):
        resolve_alert(ended, now=NOW)
    with pytest.raises(AlertNotActive):
        cancel_alert(ended, now=NOW)


# --- resolve / cancel -------------------------------------------------------------------


def test_resolve_ends_the_alert_as_all_clear():
    """Resolving gives state resolved, a resolved event and keeps the texts."""
    current = alert(kind=Kind.EVACUATE)
    change = resolve_alert(current, now=NOW)
    assert change == AlertChange(
        event=EventType.RESOLVED,
        kind=Kind.EVACUATE,
        state=AlertState.RESOLVED,
        order=current.order,
        instructions=current.instructions,
        updated_at=NOW,
        changes={"state": "resolved"},
    )


def test_cancel_ends_the_alert_as_false_alarm():
    """Cancelling gives state cancelled and a cancelled event."""
    change = cancel_alert(alert(), now=NOW)
    assert change.event == EventType.CANCELLED
    assert change.state == AlertState.CANCELLED
    assert change.updated_at == NOW
    assert change.changes == {"state": "cancelled"}
