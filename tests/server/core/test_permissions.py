import pytest

from protocol.vocabulary import Mode, Role
from server.core.errors import CoreError, Forbidden
from server.core.permissions import (
    Action,
    Actor,
    ActorKind,
    can,
    require,
    sites_where,
    trigger_actions,
)

ORG = 1
OTHER_ORG = 2
OWN = 10
OTHER = 20
ALL_SITES = (OWN, OTHER, 30)

# The matrix, written out independently of the implementation.
EXPECTED: dict[Role, frozenset[Action]] = {
    Role.STAFF: frozenset({Action.RECEIVE, Action.ACK, Action.TRIGGER}),
    Role.PRINCIPAL: frozenset(
        {
            Action.RECEIVE,
            Action.ACK,
            Action.TRIGGER,
            Action.UPDATE,
            Action.RESOLVE,
            Action.CANCEL,
            Action.VIEW_ROLLCALL,
        }
    ),
    Role.SECURITY_CHIEF: frozenset(
        {
            Action.RECEIVE,
            Action.ACK,
            Action.TRIGGER,
            Action.UPDATE,
            Action.RESOLVE,
            Action.CANCEL,
            Action.RUN_DRILL,
            Action.RUN_TEST,
            Action.VIEW_ROLLCALL,
            Action.VIEW_AUDIT,
        }
    ),
    Role.ADMIN: frozenset(
        {
            Action.MANAGE_PEOPLE,
            Action.MANAGE_DEVICES,
            Action.MANAGE_SITES,
            Action.MANAGE_SETTINGS,
            Action.VIEW_AUDIT,
            Action.RECEIVE,
            Action.ACK,
        }
    ),
}
DEVICE_ACTIONS = frozenset({Action.RECEIVE, Action.ACK, Action.TRIGGER})


def person(
    *,
    org_roles: tuple[Role, ...] = (),
    site_roles: dict[int, tuple[Role, ...]] | None = None,
    organization_id: int = ORG,
) -> Actor:
    return Actor(
        kind=ActorKind.PERSON,
        organization_id=organization_id,
        id=7,
        org_roles=frozenset(org_roles),
        site_roles={site: frozenset(roles) for site, roles in (site_roles or {}).items()},
    )


def device(*sites: int, kind: ActorKind = ActorKind.DEVICE, organization_id: int = ORG) -> Actor:
    return Actor(kind=kind, organization_id=organization_id, id=3, site_ids=frozenset(sites))


# Each scope: (build the actor from a role, organization asked about, sites asked about,
# whether the role's actions apply there).
SCOPES = {
    "site_role_own_site": (lambda r: person(site_roles={OWN: (r,)}), ORG, (OWN,), True),
    "site_role_other_site": (lambda r: person(site_roles={OWN: (r,)}), ORG, (OTHER,), False),
    "site_role_both_sites": (lambda r: person(site_roles={OWN: (r,)}), ORG, (OWN, OTHER), False),
    "site_role_org_level": (lambda r: person(site_roles={OWN: (r,)}), ORG, (), False),
    "site_role_other_org": (lambda r: person(site_roles={OWN: (r,)}), OTHER_ORG, (OWN,), False),
    "org_role_any_site": (lambda r: person(org_roles=(r,)), ORG, (OWN,), True),
    "org_role_many_sites": (lambda r: person(org_roles=(r,)), ORG, ALL_SITES, True),
    "org_role_org_level": (lambda r: person(org_roles=(r,)), ORG, (), True),
    "org_role_other_org": (lambda r: person(org_roles=(r,)), OTHER_ORG, (OWN,), False),
    "org_role_other_org_level": (lambda r: person(org_roles=(r,)), OTHER_ORG, (), False),
}


@pytest.mark.parametrize("scope", list(SCOPES))
@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", list(Role))
def test_person_matrix(role, action, scope):
    """Every role × action × scope gives exactly the documented permission."""
    build, organization_id, sites, applies = SCOPES[scope]
    expected = applies and action in EXPECTED[role]
    allowed = can(build(role), action, organization_id=organization_id, site_ids=sites)
    assert allowed is expected


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize(
    ("organization_id", "sites", "applies"),
    [
        (ORG, (OWN,), True),
        (ORG, (OWN, 30), True),
        (ORG, (OTHER,), False),
        (ORG, (OWN, OTHER), False),
        (ORG, (), False),
        (OTHER_ORG, (OWN,), False),
    ],
)
def test_device_acts_as_staff_of_its_sites(action, organization_id, sites, applies):
    """A device may receive, ack and trigger at its own sites only."""
    actor = device(OWN, 30)
    expected = applies and action in DEVICE_ACTIONS
    assert can(actor, action, organization_id=organization_id, site_ids=sites) is expected


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize(
    ("organization_id", "sites", "applies"),
    [
        (ORG, (OWN,), True),
        (ORG, (OTHER,), False),
        (ORG, (OWN, OTHER), False),
        (ORG, (), False),
        (OTHER_ORG, (OWN,), False),
    ],
)
def test_api_key_may_only_trigger_at_its_sites(action, organization_id, sites, applies):
    """An integration key can trigger at its sites and do nothing else."""
    actor = device(OWN, kind=ActorKind.API_KEY)
    expected = applies and action == Action.TRIGGER
    assert can(actor, action, organization_id=organization_id, site_ids=sites) is expected


def test_api_key_triggers_even_where_staff_may_not():
    """A panic button was installed to trigger; the staff rule does not apply to it."""
    actor = device(OWN, kind=ActorKind.API_KEY)
    policy = {OWN: False}
    assert can(actor, Action.TRIGGER, organization_id=ORG, site_ids=[OWN], staff_may_trigger=policy)


def test_devices_and_api_keys_ignore_roles_they_carry():
    """Roles on a non-person actor grant nothing; only its sites count."""
    for kind in (ActorKind.DEVICE, ActorKind.API_KEY):
        actor = Actor(
            kind=kind,
            organization_id=ORG,
            id=1,
            org_roles=frozenset({Role.SECURITY_CHIEF}),
            site_roles={OWN: frozenset({Role.ADMIN})},
        )
        for action in Action:
            assert not can(actor, action, organization_id=ORG, site_ids=[OWN])


def test_person_site_ids_grant_nothing():
    """A person's permissions come from roles, never from the device-style site list."""
    actor = Actor(kind=ActorKind.PERSON, organization_id=ORG, id=1, site_ids=frozenset({OWN}))
    for action in Action:
        assert not can(actor, action, organization_id=ORG, site_ids=[OWN])


# --- staff_may_trigger --------------------------------------------------------------------


@pytest.mark.parametrize(
    "actor",
    [
        person(site_roles={OWN: (Role.STAFF,)}),
        person(org_roles=(Role.STAFF,)),
        device(OWN),
    ],
    ids=["site_staff", "org_wide_staff", "device"],
)
def test_staff_can_not_trigger_where_the_site_forbids_it(actor):
    """staff_may_trigger False removes staff's (and devices') TRIGGER at that site only."""
    forbid = {OWN: False}
    kwargs = {"organization_id": ORG, "staff_may_trigger": forbid}
    assert not can(actor, Action.TRIGGER, site_ids=[OWN], **kwargs)
    assert can(actor, Action.RECEIVE, site_ids=[OWN], **kwargs)
    assert can(actor, Action.ACK, site_ids=[OWN], **kwargs)
    for allowing in ({OWN: True}, {OTHER: False}, {}, None):
        kwargs = {"organization_id": ORG, "staff_may_trigger": allowing}
        assert can(actor, Action.TRIGGER, site_ids=[OWN], **kwargs)


def test_org_wide_staff_trigger_rule_is_per_site():
    """Org-wide staff trigger where allowed; a multi-site trigger fails on a forbidden site."""
    actor = person(org_roles=(Role.STAFF,))
    policy = {OTHER: False}
    assert can(actor, Action.TRIGGER, organization_id=ORG, site_ids=[OWN], staff_may_trigger=policy)
    assert not can(
        actor, Action.TRIGGER, organization_id=ORG, site_ids=[OWN, OTHER], staff_may_trigger=policy
    )
    assert sites_where(
        actor, Action.TRIGGER, all_site_ids=ALL_SITES, staff_may_trigger=policy
    ) == frozenset({OWN, 30})


@pytest.mark.parametrize("role", [Role.PRINCIPAL, Role.SECURITY_CHIEF])
def test_leaders_trigger_regardless_of_the_staff_rule(role):
    """The staff rule never limits principals or security chiefs."""
    actor = person(site_roles={OWN: (role,)})
    policy = {OWN: False}
    assert can(actor, Action.TRIGGER, organization_id=ORG, site_ids=[OWN], staff_may_trigger=policy)


def test_admin_and_staff_at_a_forbidding_site_can_not_trigger():
    """Admin adds no trigger right to a staff member whose site forbids staff triggering."""
    actor = person(org_roles=(Role.ADMIN,), site_roles={OWN: (Role.STAFF,)})
    assert not can(
        actor, Action.TRIGGER, organization_id=ORG, site_ids=[OWN], staff_may_trigger={OWN: False}
    )


# --- unions and multi-site ----------------------------------------------------------------


def test_admin_who_is_also_staff_gets_the_union():
    """Roles add up: admin + staff may both manage and trigger."""
    actor = person(org_roles=(Role.ADMIN,), site_roles={OWN: (Role.STAFF,)})
    assert can(actor, Action.MANAGE_PEOPLE, organization_id=ORG)
    assert can(actor, Action.TRIGGER, organization_id=ORG, site_ids=[OWN])
    assert not can(actor, Action.TRIGGER, organization_id=ORG, site_ids=[OTHER])
    assert not can(actor, Action.RESOLVE, organization_id=ORG, site_ids=[OWN])


def test_admin_alone_can_not_trigger():
    """The admin role by itself never triggers alerts."""
    actor = person(org_roles=(Role.ADMIN,))
    assert not can(actor, Action.TRIGGER, organization_id=ORG, site_ids=[OWN])


def test_multi_site_action_needs_permission_on_every_site_from_any_role():
    """Principal at one site and staff at another may trigger both but resolve only one."""
    actor = person(site_roles={OWN: (Role.PRINCIPAL,), OTHER: (Role.STAFF,)})
    assert can(actor, Action.TRIGGER, organization_id=ORG, site_ids=[OWN, OTHER])
    assert not can(actor, Action.RESOLVE, organization_id=ORG, site_ids=[OWN, OTHER])
    assert can(actor, Action.RESOLVE, organization_id=ORG, site_ids=[OWN])


def test_site_ids_may_be_any_iterable():
    """A generator of sites is consumed correctly."""
    actor = person(site_roles={OWN: (Role.PRINCIPAL,)})
    assert can(actor, Action.UPDATE, organization_id=ORG, site_ids=(s for s in [OWN]))
    assert not can(actor, Action.UPDATE, organization_id=ORG, site_ids=(s for s in [OWN, OTHER]))


def test_principal_runs_no_drills_or_tests():
    """Drills and tests are the security chief's, not a principal's."""
    actor = person(site_roles={OWN: (Role.PRINCIPAL,)})
    for mode in (Mode.DRILL, Mode.TEST):
        assert not all(
            can(actor, action, organization_id=ORG, site_ids=[OWN])
            for action in trigger_actions(mode)
        )
    assert all(
        can(actor, action, organization_id=ORG, site_ids=[OWN])
        for action in trigger_actions(Mode.ACTUAL)
    )


def test_everyone_who_receives_may_acknowledge():
    """Nobody who gets an alert is refused a "need help" answer."""
    actors = [person(org_roles=(role,)) for role in Role] + [device(OWN)]
    for actor in actors:
        if can(actor, Action.RECEIVE, organization_id=ORG, site_ids=[OWN]):
            assert can(actor, Action.ACK, organization_id=ORG, site_ids=[OWN])


# --- helpers ------------------------------------------------------------------------------


def test_trigger_actions_per_mode():
    """Drills also need RUN_DRILL, tests RUN_TEST."""
    assert trigger_actions(Mode.ACTUAL) == (Action.TRIGGER,)
    assert trigger_actions(Mode.DRILL) == (Action.TRIGGER, Action.RUN_DRILL)
    assert trigger_actions(Mode.TEST) == (Action.TRIGGER, Action.RUN_TEST)


def test_action_values_are_lowercase_snake():
    """Action values are the lowercase names."""
    assert all(action.value == action.name.lower() for action in Action)
    assert [k.value for k in ActorKind] == ["person", "device", "api_key"]


def test_require_passes_silently_when_allowed():
    """require returns None when can() is True."""
    actor = person(org_roles=(Role.SECURITY_CHIEF,))
    assert require(actor, Action.RUN_DRILL, organization_id=ORG, site_ids=[OWN]) is None


def test_require_raises_forbidden_naming_the_action():
    """require raises Forbidden with code auth.forbidden and the action as detail."""
    actor = person(site_roles={OWN: (Role.STAFF,)})
    with pytest.raises(Forbidden) as raised:
        require(actor, Action.RESOLVE, organization_id=ORG, site_ids=[OWN])
    assert isinstance(raised.value, CoreError)
    assert raised.value.code == "auth.forbidden"
    assert raised.value.detail == "resolve"


def test_require_honours_staff_may_trigger():
    """require passes staff_may_trigger through to can()."""
    actor = device(OWN)
    with pytest.raises(Forbidden):
        require(
            actor,
            Action.TRIGGER,
            organization_id=ORG,
            site_ids=[OWN],
            staff_may_trigger={OWN: False},
        )


def test_sites_where_lists_the_permitted_sites():
    """sites_where filters the organization's sites by permission."""
    actor = person(site_roles={OWN: (Role.PRINCIPAL,), OTHER: (Role.STAFF,)})
    assert sites_where(actor, Action.TRIGGER, all_site_ids=ALL_SITES) == frozenset({OWN, OTHER})
    assert sites_where(actor, Action.RESOLVE, all_site_ids=ALL_SITES) == frozenset({OWN})
    assert sites_where(actor, Action.MANAGE_SITES, all_site_ids=ALL_SITES) == frozenset()
    chief = person(org_roles=(Role.SECURITY_CHIEF,))
    assert sites_where(chief, Action.RUN_DRILL, all_site_ids=ALL_SITES) == frozenset(ALL_SITES)
    assert sites_where(device(30), Action.ACK, all_site_ids=ALL_SITES) == frozenset({30})
