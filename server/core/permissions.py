"""Who may do what, where: the pure permission matrix.

A role held at a site grants its actions at that site; a role held organization-wide grants
them at every site of the organization and at organization level (an action on no sites).
An action on several sites needs permission on every one of them, and nothing is ever
allowed in another organization. A person's permissions are the union of their roles.

    role            actions
    staff           receive, ack; trigger where the site lets staff trigger (default yes)
    principal       receive, ack, trigger, update, resolve, cancel, view_rollcall
    security_chief  principal's actions + run_drill, run_test, view_audit
    admin           manage_people/devices/sites/settings, view_audit, receive, ack

Devices act as staff of their sites; API keys (panic buttons) may only trigger at their
sites, whatever the staff rule says. Everyone who receives alerts may acknowledge them:
a "need help" answer must never be refused.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from protocol.vocabulary import Mode, Role
from server.core.errors import Forbidden


class Action(StrEnum):
    RECEIVE = "receive"
    ACK = "ack"
    TRIGGER = "trigger"
    UPDATE = "update"
    RESOLVE = "resolve"
    CANCEL = "cancel"
    RUN_DRILL = "run_drill"
    RUN_TEST = "run_test"
    VIEW_ROLLCALL = "view_rollcall"
    VIEW_AUDIT = "view_audit"
    MANAGE_PEOPLE = "manage_people"
    MANAGE_DEVICES = "manage_devices"
    MANAGE_SITES = "manage_sites"
    MANAGE_SETTINGS = "manage_settings"


class ActorKind(StrEnum):
    PERSON = "person"
    DEVICE = "device"
    API_KEY = "api_key"


@dataclass(frozen=True)
class Actor:
    """Whoever makes a request: a person, an enrolled device or an integration's API key."""

    kind: ActorKind
    organization_id: int
    id: int  # person id / device id / api key id
    org_roles: frozenset[Role] = frozenset()  # roles held organization-wide
    site_roles: Mapping[int, frozenset[Role]] = field(default_factory=dict, hash=False)
    site_ids: frozenset[int] = frozenset()  # DEVICE / API_KEY: the sites it belongs to


_ALERT_LEADING = frozenset(
    {
        Action.RECEIVE,
        Action.ACK,
        Action.TRIGGER,
        Action.UPDATE,
        Action.RESOLVE,
        Action.CANCEL,
        Action.VIEW_ROLLCALL,
    }
)

# Staff's TRIGGER is not listed: it depends on the site (see _STAFF_CONDITIONAL).
ROLE_ACTIONS: Mapping[Role, frozenset[Action]] = MappingProxyType(
    {
        Role.STAFF: frozenset({Action.RECEIVE, Action.ACK}),
        Role.PRINCIPAL: _ALERT_LEADING,
        Role.SECURITY_CHIEF: _ALERT_LEADING
        | {Action.RUN_DRILL, Action.RUN_TEST, Action.VIEW_AUDIT},
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
)
_STAFF_CONDITIONAL = frozenset({Action.TRIGGER})
_API_KEY_ACTIONS = frozenset({Action.TRIGGER})


def trigger_actions(mode: Mode) -> tuple[Action, ...]:
    """The actions a trigger in `mode` needs: drills also RUN_DRILL, tests also RUN_TEST."""
    if mode == Mode.DRILL:
        return (Action.TRIGGER, Action.RUN_DRILL)
    if mode == Mode.TEST:
        return (Action.TRIGGER, Action.RUN_TEST)
    return (Action.TRIGGER,)


def _staff_may_trigger(site_id: int | None, policy: Mapping[int, bool] | None) -> bool:
    if site_id is None or policy is None:
        return True
    return policy.get(site_id, True)


def _roles_grant(
    roles: Iterable[Role],
    action: Action,
    *,
    site_id: int | None,
    staff_may_trigger: Mapping[int, bool] | None,
) -> bool:
    for role in roles:
        if action in ROLE_ACTIONS[role]:
            return True
        if role == Role.STAFF and action in _STAFF_CONDITIONAL:
            if _staff_may_trigger(site_id, staff_may_trigger):
                return True
    return False


def _person_can_at(
    actor: Actor,
    action: Action,
    *,
    site_id: int | None,
    staff_may_trigger: Mapping[int, bool] | None,
) -> bool:
    """site_id None means organization level: only organization-wide roles count there."""
    roles = set(actor.org_roles)
    if site_id is not None:
        roles |= actor.site_roles.get(site_id, frozenset())
    return _roles_grant(roles, action, site_id=site_id, staff_may_trigger=staff_may_trigger)


def _can_at(
    actor: Actor,
    action: Action,
    *,
    site_id: int | None,
    staff_may_trigger: Mapping[int, bool] | None,
) -> bool:
    if actor.kind == ActorKind.PERSON:
        return _person_can_at(actor, action, site_id=site_id, staff_may_trigger=staff_may_trigger)
    if site_id is None or site_id not in actor.site_ids:
        return False
    if actor.kind == ActorKind.API_KEY:
        return action in _API_KEY_ACTIONS
    return _roles_grant((Role.STAFF,), action, site_id=site_id, staff_may_trigger=staff_may_trigger)


def can(
    actor: Actor,
    action: Action,
    *,
    organization_id: int,
    site_ids: Iterable[int] = (),
    staff_may_trigger: Mapping[int, bool] | None = None,
) -> bool:
    """Whether `actor` may do `action` on all of `site_ids` (none: at organization level).

    `site_ids` must be sites of `organization_id`; `staff_may_trigger` maps a site to
    whether its staff may trigger (missing sites: yes).
    """
    if actor.organization_id != organization_id:
        return False
    sites = frozenset(site_ids)
    if not sites:
        return _can_at(actor, action, site_id=None, staff_may_trigger=staff_may_trigger)
    return all(
        _can_at(actor, action, site_id=site, staff_may_trigger=staff_may_trigger) for site in sites
    )


def require(
    actor: Actor,
    action: Action,
    *,
    organization_id: int,
    site_ids: Iterable[int] = (),
    staff_may_trigger: Mapping[int, bool] | None = None,
) -> None:
    """Like `can`, but raises Forbidden(detail=action) instead of returning False."""
    allowed = can(
        actor,
        action,
        organization_id=organization_id,
        site_ids=site_ids,
        staff_may_trigger=staff_may_trigger,
    )
    if not allowed:
        raise Forbidden(detail=str(action))


def sites_where(
    actor: Actor,
    action: Action,
    *,
    all_site_ids: Iterable[int],
    staff_may_trigger: Mapping[int, bool] | None = None,
) -> frozenset[int]:
    """The sites among `all_site_ids` (the actor's organization's) where `actor` may act."""
    return frozenset(
        site
        for site in all_site_ids
        if _can_at(actor, action, site_id=site, staff_may_trigger=staff_may_trigger)
    )
