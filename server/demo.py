"""The demo organization: Köpings kommun with three schools, people in every role, one
enrollment code per school and a panic-button API key. `seed()` is idempotent: running it
again adds only what is missing and never duplicates anyone.

The demo passwords are fixed and printed by `pdv-alert demo`: this data is for trying the
system out on a laptop, never for a real organization. So the demo marks what it makes
(`demo` on the organization, its codes and its key): it refuses an organization with its slug
that it did not create (`init "Köpings kommun"` makes one), and `reset` revokes only its own
codes and key. The CLI refuses `demo` in production before it gets here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import Kind, Role
from server.storage import api_keys, audit, enrollment, organizations, persons, sites
from server.storage.enrollment import CodeState, code_state
from server.storage.tables import ApiKey, EnrollmentCode, Organization, Person, Site

ORGANIZATION_NAME = "Köpings kommun"
ORGANIZATION_SLUG = "kopings-kommun"
DOMAIN = "kopings-kommun.example"  # RFC 2606: never a real mailbox
CODE_USES = 100
CODE_LIFETIME = timedelta(days=30)
PANIC_BUTTON_SITE = "Ullvigymnasiet"
PANIC_BUTTON_NAME = "Panikknapp receptionen"


class NotDemoOrganization(Exception):
    """The demo's slug belongs to an organization the demo did not create."""


@dataclass(frozen=True)
class DemoSite:
    name: str
    address: str
    zones: tuple[str, ...] = ()
    staff_may_trigger: bool = True


@dataclass(frozen=True)
class DemoPerson:
    email: str
    name: str
    password: str
    roles: tuple[tuple[Role, str | None], ...]  # (role, site name or None: organization-wide)


SITES: tuple[DemoSite, ...] = (
    DemoSite("Ullvigymnasiet", "Köping", zones=("Hus A", "Hus B", "Hus C")),
    DemoSite("Karlbergsskolan", "Köping", zones=("Lågstadiet", "Mellanstadiet")),
    DemoSite("Nyckelbergsskolan", "Köping", zones=("Huvudbyggnaden", "Idrottshallen")),
)

ADMIN_PASSWORD = "demo-admin-pass"
CHIEF_PASSWORD = "demo-chef-pass"
PRINCIPAL_PASSWORD = "demo-rektor-pass"
STAFF_PASSWORD = "demo-personal-pass"


def _email(local: str) -> str:
    return f"{local}@{DOMAIN}"


PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson(_email("admin"), "Anna Lindqvist", ADMIN_PASSWORD, ((Role.ADMIN, None),)),
    DemoPerson(
        _email("sakerhetschef"), "Erik Sandberg", CHIEF_PASSWORD, ((Role.SECURITY_CHIEF, None),)
    ),
    DemoPerson(
        _email("rektor.ullvi"),
        "Maria Holm",
        PRINCIPAL_PASSWORD,
        ((Role.PRINCIPAL, "Ullvigymnasiet"),),
    ),
    DemoPerson(
        _email("rektor.karlberg"),
        "Johan Berg",
        PRINCIPAL_PASSWORD,
        ((Role.PRINCIPAL, "Karlbergsskolan"),),
    ),
    DemoPerson(
        _email("rektor.nyckelberg"),
        "Sara Ek",
        PRINCIPAL_PASSWORD,
        ((Role.PRINCIPAL, "Nyckelbergsskolan"),),
    ),
    DemoPerson(
        _email("personal1.ullvi"), "Lars Nilsson", STAFF_PASSWORD, ((Role.STAFF, "Ullvigymnasiet"),)
    ),
    DemoPerson(
        _email("personal2.ullvi"),
        "Fatima Hassan",
        STAFF_PASSWORD,
        ((Role.STAFF, "Ullvigymnasiet"),),
    ),
    DemoPerson(
        _email("personal1.karlberg"),
        "Karin Öberg",
        STAFF_PASSWORD,
        ((Role.STAFF, "Karlbergsskolan"),),
    ),
    DemoPerson(
        _email("personal2.karlberg"),
        "Ahmed Ali",
        STAFF_PASSWORD,
        ((Role.STAFF, "Karlbergsskolan"),),
    ),
    DemoPerson(
        _email("personal1.nyckelberg"),
        "Elin Strand",
        STAFF_PASSWORD,
        ((Role.STAFF, "Nyckelbergsskolan"),),
    ),
    DemoPerson(
        _email("personal2.nyckelberg"),
        "Oskar Wik",
        STAFF_PASSWORD,
        ((Role.STAFF, "Nyckelbergsskolan"),),
    ),
)


@dataclass(frozen=True)
class Account:
    """A demo login as printed: `created` is False when the person already existed."""

    email: str
    name: str
    roles: str  # e.g. "principal @ Ullvigymnasiet"
    password: str
    created: bool


@dataclass(frozen=True)
class IssuedCode:
    """An enrollment code of a site: `code` is None when an active one existed (codes are
    stored only as hashes, so an existing code cannot be shown again)."""

    site: str
    code: str | None
    expires_at: datetime | None
    uses_left: int


@dataclass(frozen=True)
class IssuedKey:
    """The panic button's API key: `key` is None when an active one existed."""

    site: str
    name: str
    key: str | None
    prefix: str


@dataclass
class DemoResult:
    organization: Organization
    created: bool
    sites: list[str] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    codes: list[IssuedCode] = field(default_factory=list)
    api_keys: list[IssuedKey] = field(default_factory=list)


def describe_roles(roles: Sequence[tuple[Role, str | None]]) -> str:
    """`admin (hela organisationen)`, `principal @ Ullvigymnasiet`, comma-separated."""
    return ", ".join(
        f"{role.value} @ {site}" if site else f"{role.value} (hela organisationen)"
        for role, site in roles
    )


async def _ensure_sites(
    session: AsyncSession, *, organization_id: int, actor: str, now: datetime
) -> dict[str, Site]:
    existing = {
        site.name: site for site in await sites.list_sites(session, organization_id=organization_id)
    }
    zones = await sites.zones_by_site(session, organization_id=organization_id)
    for spec in SITES:
        if spec.name not in existing:
            existing[spec.name] = await sites.create_site(
                session,
                organization_id=organization_id,
                name=spec.name,
                address=spec.address,
                staff_may_trigger=spec.staff_may_trigger,
                actor=actor,
                now=now,
            )
        site = existing[spec.name]
        zone_names = {zone.name for zone in zones.get(site.id, [])}
        for zone in spec.zones:
            if zone not in zone_names:
                await sites.create_zone(
                    session,
                    organization_id=organization_id,
                    site_id=site.id,
                    name=zone,
                    actor=actor,
                    now=now,
                )
    return existing


async def _ensure_person(
    session: AsyncSession,
    *,
    organization_id: int,
    spec: DemoPerson,
    site_ids: dict[str, int],
    reset: bool,
    actor: str,
    now: datetime,
) -> Account:
    person: Person | None = await persons.get_by_email(session, email=spec.email)
    created = person is None
    if person is None:
        await persons.create_person(
            session,
            organization_id=organization_id,
            email=spec.email,
            name=spec.name,
            password=spec.password,
            roles=[(role, site_ids[site] if site else None) for role, site in spec.roles],
            actor=actor,
            now=now,
        )
    elif reset and person.organization_id == organization_id:
        await persons.set_password(session, person_id=person.id, password=spec.password, now=now)
        await audit.record(
            session,
            organization_id=organization_id,
            actor=actor,
            action="person.password_reset",
            at=now,
            target=f"person:{person.id}",
            details={"reason": "demo --reset"},
        )
    return Account(
        email=spec.email,
        name=spec.name,
        roles=describe_roles(spec.roles),
        password=spec.password,
        created=created,
    )


async def _ensure_codes(
    session: AsyncSession,
    *,
    organization_id: int,
    site_rows: dict[str, Site],
    reset: bool,
    actor: str,
    now: datetime,
) -> list[IssuedCode]:
    issued = []
    for spec in SITES:
        site = site_rows[spec.name]
        codes = await enrollment.list_enrollment_codes(
            session, organization_id=organization_id, site_ids=[site.id]
        )
        active = [
            code for code in codes if code.demo and code_state(code, now=now) == CodeState.ACTIVE
        ]
        if reset:
            for code in active:
                await enrollment.revoke_enrollment_code(
                    session, organization_id=organization_id, code_id=code.id, actor=actor, now=now
                )
            active = []
        if active:
            newest: EnrollmentCode = active[0]
            issued.append(
                IssuedCode(spec.name, None, newest.expires_at, newest.max_uses - newest.uses)
            )
            continue
        row, plaintext = await enrollment.create_enrollment_code(
            session,
            organization_id=organization_id,
            site_id=site.id,
            label=f"Demo: {spec.name}",
            max_uses=CODE_USES,
            expires_in=CODE_LIFETIME,
            actor=actor,
            now=now,
        )
        row.demo = True
        issued.append(IssuedCode(spec.name, plaintext, row.expires_at, row.max_uses))
    return issued


async def _ensure_api_key(
    session: AsyncSession,
    *,
    organization_id: int,
    site: Site,
    reset: bool,
    actor: str,
    now: datetime,
) -> IssuedKey:
    keys: Sequence[ApiKey] = await api_keys.list_api_keys(
        session, organization_id=organization_id, site_ids=[site.id], include_revoked=False
    )
    active = [key for key in keys if key.demo and key.name == PANIC_BUTTON_NAME]
    if reset:
        for key in active:
            await api_keys.revoke_api_key(
                session, organization_id=organization_id, api_key_id=key.id, actor=actor, now=now
            )
        active = []
    if active:
        return IssuedKey(site.name, PANIC_BUTTON_NAME, None, active[0].prefix)
    row, plaintext = await api_keys.create_api_key(
        session,
        organization_id=organization_id,
        site_id=site.id,
        name=PANIC_BUTTON_NAME,
        kind=Kind.PDV_LOCKDOWN,
        actor=actor,
        now=now,
    )
    row.demo = True
    return IssuedKey(site.name, PANIC_BUTTON_NAME, plaintext, row.prefix)


async def seed(
    session: AsyncSession, *, reset: bool = False, actor: str = "cli:demo", now: datetime
) -> DemoResult:
    """Create whatever of the demo organization is missing, through the repositories, and
    commit once.

    Existing people are left alone (their roles too). Enrollment codes and the panic
    button's key are created only where none is active; with `reset` the active ones are
    revoked and fresh ones issued, and the demo people get their demo passwords back.
    Codes and keys not issued by the demo are never used or revoked.

    Raises NotDemoOrganization, changing nothing, when the slug is taken by an organization
    the demo did not create.
    """
    org = await organizations.get_by_slug(session, slug=ORGANIZATION_SLUG)
    created = org is None
    if org is None:
        org = await organizations.create_organization(
            session, name=ORGANIZATION_NAME, slug=ORGANIZATION_SLUG, actor=actor, now=now
        )
        org.demo = True
    elif not org.demo:
        raise NotDemoOrganization(ORGANIZATION_SLUG)
    site_rows = await _ensure_sites(session, organization_id=org.id, actor=actor, now=now)
    site_ids = {name: site.id for name, site in site_rows.items()}
    result = DemoResult(organization=org, created=created, sites=[s.name for s in SITES])
    for spec in PEOPLE:
        result.accounts.append(
            await _ensure_person(
                session,
                organization_id=org.id,
                spec=spec,
                site_ids=site_ids,
                reset=reset,
                actor=actor,
                now=now,
            )
        )
    result.codes = await _ensure_codes(
        session, organization_id=org.id, site_rows=site_rows, reset=reset, actor=actor, now=now
    )
    result.api_keys.append(
        await _ensure_api_key(
            session,
            organization_id=org.id,
            site=site_rows[PANIC_BUTTON_SITE],
            reset=reset,
            actor=actor,
            now=now,
        )
    )
    await session.commit()
    return result
