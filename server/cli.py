"""The `pdv-alert` command: serve, migrate, init, demo, people, codes, keys, trigger, audit, epoch,
vapid-keys.

Exit codes: 0 done, 1 the operation failed (a domain error prints its stable code and the
Swedish message), 2 usage or configuration error. Result lines are Swedish with the English
in parentheses; errors go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import secrets
import socket
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import uvicorn
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import DeviceKind, Kind, Mode, Role
from server import demo, logs, vapid
from server.clock import utcnow
from server.core.errors import CoreError
from server.errors import ERRORS, ServiceError
from server.realtime.bus import BusUrlError, publishing_sink
from server.services import alerts
from server.services import api_keys as api_key_service
from server.services import audit as audit_service
from server.services import enrollment as enrollment_service
from server.services import organization as organization_service
from server.services import persons as person_service
from server.services.access import Operator
from server.settings import Settings, load_settings
from server.storage import persons, sites
from server.storage.callers import Caller, person_actor
from server.storage.database import Database
from server.storage.tables import Organization, Site

Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


class UsageError(Exception):
    """Wrong or missing arguments found after parsing (exit code 2)."""


# -- output ------------------------------------------------------------------------------


def _say(*lines: str) -> None:
    for line in lines:
        print(line, flush=True)


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], out: TextIO | None = None
) -> None:
    """Rows under headers, columns aligned with two spaces."""
    cells = [[str(value) for value in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    stream = out or sys.stdout
    for row in [list(headers), ["-" * w for w in widths], *cells]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=stream)
    stream.flush()


def _error(code: str, detail: str = "") -> None:
    spec = ERRORS.get(code)
    message = f"{spec.sv} ({spec.en})" if spec else ""
    line = f"fel (error) {code}: {message}".rstrip(": ")
    if detail:
        line += f" [{detail}]"
    print(line, file=sys.stderr, flush=True)


def _actor() -> str:
    """How the audit log names the CLI: `cli:<OS user>`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"cli:{user}"[:100]


# -- argument types ----------------------------------------------------------------------


def _role_spec(value: str) -> tuple[Role, str | None]:
    """`ROLE` (organization-wide) or `ROLE:SITE NAME`."""
    role_name, _, site = value.partition(":")
    try:
        role = Role(role_name.strip())
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise argparse.ArgumentTypeError(f"unknown role {role_name!r} (use {choices})") from None
    site = site.strip()
    if _ and not site:
        raise argparse.ArgumentTypeError(f"missing site name after {role_name}:")
    return role, site or None


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not number > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return number


def _port(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError("must be 0-65535 (0: any free port)")
    return number


# -- look-ups ----------------------------------------------------------------------------


async def _organization(session: AsyncSession, slug: str) -> Organization:
    return await organization_service.find_by_slug(session=session, slug=slug)


def _operator(org: Organization) -> Operator:
    return Operator(organization_id=org.id, ref=_actor())


async def _site(session: AsyncSession, org: Organization, name: str) -> Site:
    wanted = name.strip().casefold()
    for site in await sites.list_sites(session, organization_id=org.id):
        if site.name.casefold() == wanted:
            return site
    raise ServiceError("site.not_found", name)


def _database(settings: Settings) -> Database:
    """The database, its sessions keyed with the settings' audit keys."""
    return Database(settings.database_url, audit_keys=settings.audit_keyring())


def _interactive() -> bool:
    return sys.stdin.isatty()


def _ask(label: str) -> str:
    value = input(f"{label}: ").strip()
    if not value:
        raise UsageError(f"{label} is required")
    return value


def _ask_password(label: str = "Lösenord (password)") -> str | None:
    """A password typed twice; empty means none."""
    first = getpass.getpass(f"{label}, minst 10 tecken (at least 10 characters): ")
    if not first:
        return None
    if getpass.getpass("Upprepa (repeat): ") != first:
        raise UsageError("the passwords differ")
    return first


# -- commands ----------------------------------------------------------------------------


class _Server(uvicorn.Server):
    """uvicorn's server that announces its bound address and ends with exit code 0 on
    SIGTERM/SIGINT (uvicorn re-raises the signal after shutdown; a service should not)."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:
            self.force_exit = True  # a second signal: stop waiting for connections
        self.should_exit = True

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if not self.started:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        _say(f"pdv-alert listening on http://{_bracketed(host)}:{port}")
        realtime = getattr(getattr(self.config.app, "state", None), "realtime", None)
        if realtime is not None:
            settings = realtime.settings
            ws_host = settings.ws_host or settings.host
            _say(f"pdv-alert websocket on ws://{_bracketed(ws_host)}:{realtime.gateway.port}")


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from server.app import create_app

    if not args.no_migrate:
        async with _database(settings) as database:
            await database.migrate()
    if args.ws_port is not None:
        settings = settings.model_copy(update={"ws_port": args.ws_port})
    try:
        settings = vapid.with_demo_key(settings)
    except (ValidationError, ValueError) as exc:
        print(f"pdv-alert: demo-nyckeln för Web Push (the demo VAPID key): {exc}", file=sys.stderr)
        return 2
    host = args.host if args.host is not None else settings.host
    port = args.port if args.port is not None else settings.port
    sockets = None
    if port == 0:
        # Bind first so the app knows its own port: the development origins that the CSRF
        # guard and the gateway allow (server/origins.py) are this node's own addresses.
        bound = _bind(host)
        port = bound.getsockname()[1]
        sockets = [bound]
    # --host is the node's address: the gateway listens there too unless ws_host is set
    settings = settings.model_copy(update={"host": host, "port": port})
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_level=args.log_level,
        log_config=logs.config(
            log_format=settings.log_format, level=args.log_level, node=settings.node
        ),
        proxy_headers=True,
        forwarded_allow_ips=settings.trusted_proxies,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    server = _Server(config)
    await server.serve(sockets=sockets)
    return 0 if server.started else 1


def _bind(host: str) -> socket.socket:
    """A listening TCP socket on a free port of `host` (IPv4 or IPv6)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), 0))
    sock.set_inheritable(True)
    return sock


async def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    async with _database(settings) as database:
        await database.migrate(args.revision)
    _say(f"Databasen är migrerad (database migrated) till {args.revision}.")
    return 0


async def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    name, email, admin_name = args.organization, args.admin_email, args.admin_name
    password = args.admin_password
    interactive = _interactive()
    if not (name and email and admin_name) and not interactive:
        raise UsageError("--organization, --admin-email and --admin-name are required")
    name = name or _ask("Organisationens namn (organization name)")
    email = email or _ask("Administratörens e-post (admin e-mail)")
    admin_name = admin_name or _ask("Administratörens namn (admin name)")
    generated = False
    if password is None and interactive:
        password = _ask_password()
    if password is None:
        password, generated = secrets.token_urlsafe(12), True
    async with _database(settings) as database:
        await database.migrate()
        async with database.session() as session:
            org, admin = await organization_service.create_with_admin(
                session=session,
                operator=_actor(),
                name=name,
                slug=args.slug,
                admin_email=email,
                admin_name=admin_name,
                admin_password=password,
                now=utcnow(),
            )
    _say(
        f"Organisationen är skapad (organization created): {org.name} [{org.slug}]",
        f"Administratör (admin): {admin.name} <{admin.email}>",
    )
    if generated:
        _say(f"Lösenord (password, shown once): {password}")
    return 0


async def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    if settings.environment == "production":
        _refuse_demo(
            "demo-data med kända lösenord skapas aldrig i produktion "
            "(demo data with published passwords is never created in production)"
        )
        return 2
    async with _database(settings) as database:
        await database.migrate()
        async with database.session() as session:
            try:
                result = await demo.seed(session, reset=args.reset, actor=_actor(), now=utcnow())
            except demo.NotDemoOrganization as exc:
                _refuse_demo(
                    f"organisationen [{exc}] skapades inte av demo och ändras inte "
                    f"(organization [{exc}] was not created by demo; nothing changed)"
                )
                return 2
    org = result.organization
    key_file = vapid.ensure_demo_key(settings)
    state = "skapad (created)" if result.created else "fanns redan (already there)"
    _say(f"Demo: {org.name} [{org.slug}] {state}; skolor (sites): {', '.join(result.sites)}", "")
    _say("Inloggningar (logins):")
    _table(
        ["e-post (e-mail)", "namn (name)", "roll (role)", "lösenord (password)", ""],
        [
            [a.email, a.name, a.roles, a.password, "ny (new)" if a.created else ""]
            for a in result.accounts
        ],
    )
    _say("", "Registreringskoder (enrollment codes):")
    _table(
        ["skola (site)", "kod (code)", "giltig till (expires)", "användningar kvar (uses left)"],
        [
            [
                c.site,
                c.code or "aktiv kod finns, visas ej (active, hidden; --reset for new)",
                c.expires_at.isoformat(timespec="minutes") if c.expires_at else "",
                c.uses_left,
            ]
            for c in result.codes
        ],
    )
    _say("", "API-nycklar (API keys):")
    _table(
        ["skola (site)", "namn (name)", "nyckel (key)"],
        [
            [k.site, k.name, k.key or f"{k.prefix}… aktiv, visas ej (active, hidden; --reset)"]
            for k in result.api_keys
        ],
    )
    if key_file is not None:
        _say(
            "", f"Web Push: demo-nyckel (demo VAPID key) {key_file}; serve använder den (uses it)."
        )
    return 0


async def cmd_vapid_keys(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.out)
    try:
        public, path = vapid.write_key_file(path)
    except vapid.KeyFileExists:
        print(
            f"pdv-alert vapid-keys: {path} finns redan och skrivs inte över (exists; not "
            "overwritten: browsers subscribed with that key would stop getting pushes)",
            file=sys.stderr,
        )
        return 1
    _say(
        f"Privat nyckel (private key, mode 0600): {path}",
        f"Publik nyckel (public key, applicationServerKey): {public}",
        "",
        "Inställningar (settings):",
        f'  vapid_private_key = "{path}"',
        '  vapid_subject = "mailto:it@example.se"   # er kontaktadress (your contact)',
    )
    return 0


def _refuse_demo(reason: str) -> None:
    print(f"pdv-alert demo: vägrar (refused): {reason}", file=sys.stderr, flush=True)


async def cmd_person_add(args: argparse.Namespace, settings: Settings) -> int:
    password = args.password
    if password is None and _interactive():
        password = _ask_password()
    now = utcnow()
    async with _database(settings) as database, database.session() as session:
        org = await _organization(session, args.organization)
        roles: list[tuple[Role, int | None]] = []
        for role, site_name in args.role:
            site = await _site(session, org, site_name) if site_name else None
            roles.append((role, site.id if site else None))
        view = await person_service.create_person(
            session=session,
            who=_operator(org),
            email=args.email,
            name=args.name,
            password=password,
            roles=roles,
            language=args.language,
            phone=args.phone,
            now=now,
        )
    person = view.person
    _say(f"Personen är skapad (person created): id {person.id}, {person.name} <{person.email}>")
    if password is None:
        _say("Inget lösenord satt (no password set): personen kan inte logga in ännu.")
    return 0


async def cmd_person_list(args: argparse.Namespace, settings: Settings) -> int:
    async with _database(settings) as database, database.session() as session:
        org = await _organization(session, args.organization)
        site_names = {s.id: s.name for s in await sites.list_sites(session, organization_id=org.id)}
        rows = []
        for view in await person_service.list_persons(session=session, who=_operator(org)):
            person = view.person
            described = demo.describe_roles(
                [
                    (role, site_names.get(site_id, str(site_id)) if site_id else None)
                    for role, site_id in view.roles
                ]
            )
            active = "ja (yes)" if person.active else "nej (no)"
            rows.append([person.id, person.email, person.name, described or "-", active])
    _table(["id", "e-post (e-mail)", "namn (name)", "roller (roles)", "aktiv (active)"], rows)
    return 0


async def cmd_enroll_code_create(args: argparse.Namespace, settings: Settings) -> int:
    now = utcnow()
    async with _database(settings) as database, database.session() as session:
        org = await _organization(session, args.organization)
        site = await _site(session, org, args.site)
        zone_id = None
        if args.zone:
            zones = await sites.zones_by_site(session, organization_id=org.id, site_ids=[site.id])
            matches = [
                z for z in zones.get(site.id, []) if z.name.casefold() == args.zone.casefold()
            ]
            if not matches:
                raise ServiceError("zone.not_found", args.zone)
            zone_id = matches[0].id
        row, code = await enrollment_service.create_code(
            session=session,
            who=_operator(org),
            site_id=site.id,
            zone_id=zone_id,
            label=args.label,
            device_kind=DeviceKind(args.kind) if args.kind else None,
            max_uses=args.uses,
            expires_in=timedelta(hours=args.hours),
            now=now,
        )
    _say(
        f"Registreringskod (enrollment code): {code}",
        f"Skola (site): {site.name}; användningar (uses): {row.max_uses}; "
        f"giltig till (expires): {row.expires_at.isoformat(timespec='minutes')}; "
        f"enhetstyp (device kind): {row.device_kind or 'alla (any)'}",
    )
    return 0


async def cmd_api_key_create(args: argparse.Namespace, settings: Settings) -> int:
    now = utcnow()
    async with _database(settings) as database, database.session() as session:
        org = await _organization(session, args.organization)
        site = await _site(session, org, args.site)
        row, key = await api_key_service.create_key(
            session=session,
            who=_operator(org),
            site_id=site.id,
            name=args.name,
            kind=Kind(args.kind),
            now=now,
        )
    _say(
        f"API-nyckel (API key): {key}",
        f"Skola (site): {site.name}; namn (name): {row.name}; larmtyp (kind): {row.kind}",
        "Nyckeln visas bara nu (the key is shown only now): spara den säkert.",
    )
    return 0


async def cmd_trigger(args: argparse.Namespace, settings: Settings) -> int:
    text = {"sv": args.text, "en": args.text} if args.text else None
    bus_url = args.bus_url or settings.bus_url
    try:
        sink_context = publishing_sink(bus_url, namespace=settings.bus_channel_namespace())
    except BusUrlError as exc:
        raise UsageError(str(exc)) from None
    async with (
        _database(settings) as database,
        sink_context as sink,
        database.session() as session,
    ):
        org = await _organization(session, args.organization)
        person = await persons.get_by_email(session, email=args.as_email)
        if person is None or person.organization_id != org.id:
            raise ServiceError("person.not_found", args.as_email)
        if not person.active:
            raise ServiceError("auth.forbidden", f"{person.email} is not active")
        site_ids = [(await _site(session, org, name)).id for name in args.site]
        caller = Caller(actor=await person_actor(session, person=person), person=person)
        result = await alerts.trigger(
            session=session,
            sink=sink,
            caller=caller,
            kind=Kind(args.kind),
            mode=Mode(args.mode),
            site_ids=site_ids,
            order=text,
            idempotency_key=args.idempotency_key,
            now=utcnow(),
        )
    alert = result.alert
    if result.created and result.event is not None:
        _say(
            f"Larmet är utlöst (alert triggered): id {alert['id']}, seq {result.event['seq']}, "
            f"{alert['kind']} / {alert['mode']}"
        )
    elif result.escalated and result.event is not None:
        _say(
            f"Det pågående larmet skärptes (the active alert was escalated): id {alert['id']}, "
            f"seq {result.event['seq']}, {alert['kind']} / {alert['mode']}"
        )
    else:
        _say(
            f"Ett larm pågår redan (an alert is already active): id {alert['id']}, "
            f"{alert['kind']} / {alert['mode']}"
        )
        if alert["kind"] != args.kind:
            _say(
                "En annan larmtyp är en uppdatering av det pågående larmet "
                f"(a different kind is an update): PATCH /api/v1/alerts/{alert['id']}"
            )
    return 0


async def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    broken = 0
    async with _database(settings) as database, database.session() as session:
        results = await audit_service.verify_organizations(
            session=session, slug=args.organization or None
        )
    for org, result in results:
        state = "intakt (intact)" if result.ok else "BRUTEN (broken)"
        seq, digest = result.head
        _say(
            f"{org.slug}: {state}, {result.entries} poster (entries), "
            f"{result.unkeyed} utan nyckel (unkeyed, from before keying); "
            f"huvud (head) seq {seq} {digest}"
        )
        broken += 0 if result.ok else 1
        for problem in result.problems:
            _say(f"  seq {problem.seq}: {problem.problem}")
    if not results:
        _say("Inga organisationer (no organizations).")
    return 1 if broken else 0


async def cmd_epoch_rotate(args: argparse.Namespace, settings: Settings) -> int:
    async with _database(settings) as database, database.session() as session:
        rotated = await organization_service.rotate_epochs(
            session=session, operator=_actor(), slug=args.organization or None, now=utcnow()
        )
    for org, old in rotated:
        _say(f"{org.slug}: epoch {old} → {org.epoch} (seq {org.last_seq})")
    if not rotated:
        _say("Inga organisationer (no organizations).")
        return 0
    _say(
        "Klienter som återansluter får en ny ögonblicksbild "
        "(resuming clients get a fresh snapshot, recovered: false)."
    )
    return 0


# -- parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database-url",
        default=argparse.SUPPRESS,
        help="database URL (overrides PDV_DATABASE_URL), e.g. sqlite+aiosqlite:///var/pdv.db",
    )
    parser = argparse.ArgumentParser(
        prog="pdv-alert",
        description="pdv-alert: larm vid pågående dödligt våld (PDV) i skolan. "
        "Settings: PDV_* environment variables and PDV_CONFIG_FILE (TOML).",
    )
    parser.add_argument(
        "--database-url", default=None, help="database URL (overrides PDV_DATABASE_URL)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(sub: Any, name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(
            name, parents=[common], help=help, description=help
        )
        p.set_defaults(handler=handler)
        return p

    p = command(
        commands, "serve", cmd_serve, "run the HTTP server and WebSocket gateway (migrates first)"
    )
    p.add_argument("--host", default=None, help="address to listen on (default: settings host)")
    p.add_argument("--port", type=_port, default=None, help="port; 0 picks a free one")
    p.add_argument(
        "--ws-port", type=_port, default=None, help="WebSocket gateway port; 0 picks a free one"
    )
    p.add_argument("--no-migrate", action="store_true", help="do not migrate at start-up")
    p.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )

    p = command(commands, "migrate", cmd_migrate, "bring the database schema up to date")
    p.add_argument("--revision", default="head", help="alembic revision (default: head)")

    p = command(commands, "init", cmd_init, "create an organization and its first admin")
    p.add_argument("--organization", help="the organization's name, e.g. 'Köpings kommun'")
    p.add_argument("--slug", help="short name used by the CLI (default: made from the name)")
    p.add_argument("--admin-email")
    p.add_argument("--admin-name")
    p.add_argument(
        "--admin-password",
        help="at least 10 characters; asked for on a terminal, else generated and printed",
    )

    p = command(commands, "demo", cmd_demo, "seed the demo organization Köpings kommun")
    p.add_argument(
        "--reset",
        action="store_true",
        help="issue fresh enrollment codes and API key, restore the demo passwords",
    )

    p = command(
        commands,
        "vapid-keys",
        cmd_vapid_keys,
        "write a Web Push (VAPID) P-256 key pair and print the public key",
    )
    p.add_argument(
        "--out",
        default="vapid-private.pem",
        metavar="PATH",
        help="the private key file to write (PEM, mode 0600; never overwritten); "
        "default vapid-private.pem",
    )

    person = commands.add_parser("person", help="manage people").add_subparsers(
        dest="person_command", metavar="ACTION", required=True
    )
    p = command(person, "add", cmd_person_add, "add a person with roles")
    p.add_argument("--organization", required=True, metavar="SLUG")
    p.add_argument("--email", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--password", help="at least 10 characters (asked for on a terminal)")
    p.add_argument(
        "--role",
        type=_role_spec,
        action="append",
        required=True,
        metavar="ROLE[:SITE]",
        help="admin, security_chief, principal or staff; ':SITE NAME' limits it to one site "
        "(repeatable)",
    )
    p.add_argument("--language", default="sv", choices=["sv", "en"])
    p.add_argument("--phone", default="")
    p = command(person, "list", cmd_person_list, "list the people of an organization")
    p.add_argument("--organization", required=True, metavar="SLUG")

    codes = commands.add_parser("enroll-code", help="device enrollment codes").add_subparsers(
        dest="code_command", metavar="ACTION", required=True
    )
    p = command(codes, "create", cmd_enroll_code_create, "create an enrollment code for a site")
    p.add_argument("--organization", required=True, metavar="SLUG")
    p.add_argument("--site", required=True, metavar="NAME")
    p.add_argument("--zone", metavar="NAME", help="zone of the site the devices belong to")
    p.add_argument("--uses", type=_positive_int, default=1, help="devices it enrolls (default 1)")
    p.add_argument("--hours", type=_positive_float, default=24.0, help="lifetime (default 24)")
    p.add_argument("--kind", choices=[k.value for k in DeviceKind], help="only this device kind")
    p.add_argument("--label", default="", help="a note shown in the code list")

    keys = commands.add_parser("api-key", help="integration API keys").add_subparsers(
        dest="key_command", metavar="ACTION", required=True
    )
    p = command(keys, "create", cmd_api_key_create, "create an API key (a panic button)")
    p.add_argument("--organization", required=True, metavar="SLUG")
    p.add_argument("--site", required=True, metavar="NAME")
    p.add_argument("--name", required=True)
    p.add_argument("--kind", default=Kind.PDV_LOCKDOWN.value, choices=[k.value for k in Kind])

    p = command(commands, "trigger", cmd_trigger, "trigger an alert as a person (e.g. a drill)")
    p.add_argument("--organization", required=True, metavar="SLUG")
    p.add_argument("--as", dest="as_email", required=True, metavar="EMAIL")
    p.add_argument("--site", required=True, action="append", metavar="NAME", help="repeatable")
    p.add_argument("--kind", required=True, choices=[k.value for k in Kind])
    p.add_argument("--mode", default=Mode.ACTUAL.value, choices=[m.value for m in Mode])
    p.add_argument("--text", help="the order text (required for --kind custom)")
    p.add_argument("--idempotency-key", help="a retry with the same key triggers nothing new")
    p.add_argument(
        "--bus-url",
        help="the nodes' bus (overrides PDV_BUS_URL): with redis://… the running nodes are "
        "told at once; else they find the alert on their catch-up tick",
    )

    audit_commands = commands.add_parser("audit", help="the audit log").add_subparsers(
        dest="audit_command", metavar="ACTION", required=True
    )
    p = command(audit_commands, "verify", cmd_audit_verify, "check the audit hash chains")
    p.add_argument("--organization", metavar="SLUG", help="only this organization")

    epoch_commands = commands.add_parser("epoch", help="the event streams' epoch").add_subparsers(
        dest="epoch_command", metavar="ACTION", required=True
    )
    p = command(
        epoch_commands,
        "rotate",
        cmd_epoch_rotate,
        "after restoring a backup: new epochs, so clients resynchronize (nodes stopped)",
    )
    p.add_argument("--organization", metavar="SLUG", help="only this organization")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    if args.database_url:
        return load_settings(database_url=args.database_url)
    return load_settings()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    try:
        settings = _settings(args)
    except (ValidationError, ValueError, FileNotFoundError) as exc:
        print(f"pdv-alert: fel i inställningarna (invalid settings): {exc}", file=sys.stderr)
        return 2
    handler: Handler = args.handler
    try:
        return asyncio.run(handler(args, settings))
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"pdv-alert: fel (error): {exc}", file=sys.stderr)
        return 2
    except ServiceError as exc:
        _error(exc.code, exc.detail)
        return 1
    except CoreError as exc:
        _error(exc.code, exc.detail)
        return 1
    except SQLAlchemyError as exc:
        print(f"pdv-alert: databasfel (database error): {exc}", file=sys.stderr)
        print("Är databasen migrerad? (is it migrated?) Kör: pdv-alert migrate", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"pdv-alert: når inte databasen (cannot reach the database): {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, EOFError):
        print("", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
