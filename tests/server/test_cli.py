"""The `pdv-alert` command run in-process against temporary SQLite databases."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import shutil
import sqlite3
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select

from protocol.vocabulary import DeviceKind, Role
from server import demo
from server.cli import build_parser, main
from server.clock import utcnow
from server.core.audit_chain import GENESIS, entry_hash
from server.errors import ServiceError
from server.storage import callers, enrollment, persons
from server.storage.database import Database
from server.storage.tables import (
    Alert,
    ApiKey,
    AuditEntry,
    Device,
    EnrollmentCode,
    Organization,
    Person,
    RoleAssignment,
    Site,
    Zone,
)

T = TypeVar("T")
SLUG = demo.ORGANIZATION_SLUG
PRINCIPAL = "rektor.ullvi@kopings-kommun.example"
STAFF_KARLBERG = "personal1.karlberg@kopings-kommun.example"
CHIEF = "sakerhetschef@kopings-kommun.example"
CODE = re.compile(r"Registreringskod \(enrollment code\): (\S+)")
ENROLLMENT_CODE = re.compile(r"\b[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}\b")
KEY = re.compile(r"API-nyckel \(API key\): (\S+)")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


@dataclass
class Cli:
    """Runs `pdv-alert --database-url <url> ...` and keeps what it printed."""

    url: str
    path: Path
    capsys: pytest.CaptureFixture[str]
    out: str = ""
    err: str = ""

    def __call__(self, *args: str) -> int:
        self.capsys.readouterr()
        code = main(["--database-url", self.url, *args])
        captured = self.capsys.readouterr()
        self.out, self.err = captured.out, captured.err
        return code

    def count(self, table: type, *where: Any) -> int:
        async def query() -> int:
            async with Database(self.url) as database, database.session() as session:
                return int(
                    await session.scalar(select(func.count()).select_from(table).where(*where)) or 0
                )

        return run(query())

    def sql(self, statement: str, *params: object) -> None:
        connection = sqlite3.connect(self.path)
        try:
            connection.execute(statement, params)
            connection.commit()
        finally:
            connection.close()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PDV_* settings from the developer's shell; stdin is not a terminal."""
    for name in list(os.environ):
        if name.startswith("PDV_") and name != "PDV_REQUIRE_SERVICES":
            monkeypatch.delenv(name)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A database seeded once by `pdv-alert demo`, and what it printed."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    url = f"sqlite+aiosqlite:///{path}"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["--database-url", url, "demo"]) == 0
    return path, buffer.getvalue()


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """A CLI on an empty (not even migrated) database file."""
    path = tmp_path / "pdv.db"
    return Cli(url=f"sqlite+aiosqlite:///{path}", path=path, capsys=capsys)


@pytest.fixture
def demo_cli(cli: Cli, demo_template: tuple[Path, str]) -> Iterator[Cli]:
    """A CLI on a copy of the seeded demo database."""
    shutil.copy(demo_template[0], cli.path)
    yield cli


def subcommands() -> list[list[str]]:
    return [
        [],
        ["serve"],
        ["migrate"],
        ["init"],
        ["demo"],
        ["person"],
        ["person", "add"],
        ["person", "list"],
        ["enroll-code"],
        ["enroll-code", "create"],
        ["api-key"],
        ["api-key", "create"],
        ["trigger"],
        ["audit"],
        ["audit", "verify"],
        ["epoch"],
        ["epoch", "rotate"],
    ]


# -- usage -------------------------------------------------------------------------------


@pytest.mark.parametrize("words", subcommands(), ids=lambda w: " ".join(w) or "pdv-alert")
def test_every_command_has_help(words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """`--help` works for every command and exits 0."""
    assert main([*words, "--help"]) == 0
    assert "usage: pdv-alert" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["no-such-command"],
        ["person"],
        ["person", "add", "--organization", SLUG, "--email", "a@b.se", "--name", "A"],
        [
            "person",
            "add",
            "--organization",
            SLUG,
            "--email",
            "a@b.se",
            "--name",
            "A",
            "--role",
            "boss",
        ],
        [
            "person",
            "add",
            "--organization",
            SLUG,
            "--email",
            "a@b.se",
            "--name",
            "A",
            "--role",
            "staff:",
        ],
        ["enroll-code", "create", "--organization", SLUG, "--site", "X", "--uses", "0"],
        ["enroll-code", "create", "--organization", SLUG, "--site", "X", "--hours", "soon"],
        ["enroll-code", "create", "--organization", SLUG, "--site", "X", "--kind", "fax"],
        ["trigger", "--organization", SLUG, "--as", PRINCIPAL, "--site", "X"],
        ["trigger", "--organization", SLUG, "--as", PRINCIPAL, "--site", "X", "--kind", "fire"],
        [
            "trigger",
            "--organization",
            SLUG,
            "--as",
            PRINCIPAL,
            "--site",
            "X",
            "--kind",
            "pdv_lockdown",
            "--mode",
            "real",
        ],
        ["serve", "--port", "70000"],
        ["serve", "--port", "http"],
    ],
)
def test_bad_usage_exits_2(cli: Cli, argv: list[str]) -> None:
    """Missing or malformed arguments are a usage error (exit 2) and touch nothing."""
    assert cli(*argv) == 2
    assert "usage:" in cli.err
    assert not cli.path.exists()


def test_invalid_settings_exit_2(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed PDV_* variable stops the command with exit 2 and names the field."""
    monkeypatch.setenv("PDV_PORT", "many")
    assert cli("migrate") == 2
    assert "port" in cli.err


def test_missing_config_file_exits_2(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """PDV_CONFIG_FILE pointing nowhere is a configuration error."""
    monkeypatch.setenv("PDV_CONFIG_FILE", str(cli.path.parent / "missing.toml"))
    assert cli("migrate") == 2
    assert "missing.toml" in cli.err


def test_database_url_comes_from_the_environment(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --database-url the command uses PDV_DATABASE_URL."""
    monkeypatch.setenv("PDV_DATABASE_URL", cli.url)
    assert main(["migrate"]) == 0
    assert cli.path.exists()


def test_database_url_is_accepted_after_the_command(
    cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """`pdv-alert migrate --database-url URL` works like the global option."""
    assert main(["migrate", "--database-url", cli.url]) == 0
    assert cli.path.exists()


def test_parser_lists_every_documented_command() -> None:
    """The top-level help names every command of docs/operations.md."""
    text = build_parser().format_help()
    for name in (
        "serve",
        "migrate",
        "init",
        "demo",
        "person",
        "enroll-code",
        "api-key",
        "trigger",
        "audit",
    ):
        assert name in text


# -- migrate, init -----------------------------------------------------------------------


def test_migrate_creates_the_schema(cli: Cli) -> None:
    """`migrate` brings an empty file to the head schema; running it again is harmless."""
    assert cli("migrate") == 0
    assert "migrerad" in cli.out
    assert cli("migrate", "--revision", "head") == 0
    assert cli.count(Organization) == 0


def test_commands_on_an_unmigrated_database_fail_with_a_hint(cli: Cli) -> None:
    """Using a database that was never migrated fails (exit 1) and says what to do."""
    assert cli("person", "list", "--organization", SLUG) == 1
    assert "pdv-alert migrate" in cli.err


def init_arboga(email: str = "a@arboga.se", name: str = "A", *extra: str) -> tuple[str, ...]:
    """The arguments of `init` for Arboga kommun with one admin."""
    return (
        "init",
        "--organization",
        "Arboga kommun",
        "--admin-email",
        email,
        "--admin-name",
        name,
        *extra,
    )


def test_init_creates_the_organization_and_its_admin(cli: Cli) -> None:
    """`init` migrates, creates the organization and an organization-wide admin who can log in."""
    code = cli(
        "init",
        "--organization",
        "Arboga kommun",
        "--admin-email",
        "IT@Arboga.se",
        "--admin-name",
        "Ida Admin",
        "--admin-password",
        "ett långt lösenord",
    )
    assert code == 0, cli.err
    assert "arboga-kommun" in cli.out
    assert "shown once" not in cli.out

    async def check() -> None:
        async with Database(cli.url) as database, database.session() as session:
            person, ok = await persons.check_credentials(
                session, email="it@arboga.se", password="ett långt lösenord"
            )
            assert ok and person is not None
            assert await persons.roles_of(session, person_id=person.id) == [(Role.ADMIN, None)]

    run(check())
    assert cli("audit", "verify") == 0


def test_init_without_password_and_terminal_prints_a_generated_one(cli: Cli) -> None:
    """Not on a terminal and no --admin-password: a random password is made and shown once."""
    assert cli(*init_arboga()) == 0
    match = re.search(r"Lösenord \(password, shown once\): (\S+)", cli.out)
    assert match

    async def check() -> bool:
        async with Database(cli.url) as database, database.session() as session:
            _, ok = await persons.check_credentials(
                session, email="a@arboga.se", password=match.group(1)
            )
            return ok

    assert run(check())


def test_init_without_values_and_terminal_is_a_usage_error(cli: Cli) -> None:
    """Missing --admin-email off a terminal is exit 2, and nothing is created."""
    assert cli("init", "--organization", "Arboga kommun", "--admin-name", "A") == 2
    assert not cli.path.exists()


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_init_asks_for_missing_values_on_a_terminal(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal, missing values are prompted for and the password is asked twice."""
    monkeypatch.setattr("sys.stdin", FakeTerminal("Arboga kommun\na@arboga.se\nAnna A\n"))
    typed = iter(["hemligt lösenord", "hemligt lösenord"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(typed))
    assert cli("init") == 0, cli.err
    assert cli.count(Person, Person.email == "a@arboga.se") == 1


def test_init_refuses_an_existing_email(cli: Cli) -> None:
    """An admin e-mail already in use fails with person.email_taken; no organization is added."""
    args = ["--admin-email", "a@arboga.se", "--admin-name", "A", "--admin-password", "x" * 12]
    assert cli("init", "--organization", "Arboga kommun", *args) == 0
    assert cli("init", "--organization", "Kungsörs kommun", *args) == 1
    assert "person.email_taken" in cli.err
    assert "E-postadressen används redan" in cli.err
    assert cli.count(Organization) == 1


def test_init_refuses_a_weak_password(cli: Cli) -> None:
    """A short admin password fails with person.weak_password and creates nothing."""
    assert cli(*init_arboga("a@arboga.se", "A", "--admin-password", "kort")) == 1
    assert "person.weak_password" in cli.err
    assert cli.count(Organization) == 0


def test_init_refuses_an_existing_organization(cli: Cli) -> None:
    """A second organization with the same slug fails with organization.exists."""
    assert cli(*init_arboga("a@arboga.se", "A", "--admin-password", "x" * 12)) == 0
    assert cli(*init_arboga("b@arboga.se", "B", "--admin-password", "x" * 12)) == 1
    assert "organization.exists" in cli.err
    assert cli.count(Person) == 1


# -- demo --------------------------------------------------------------------------------


def test_demo_seeds_every_role_site_code_and_key(demo_template: tuple[Path, str]) -> None:
    """The demo prints every login, a code per school and the panic button's key."""
    _, out = demo_template
    for person in demo.PEOPLE:
        assert person.email in out and person.password in out
    for site in demo.SITES:
        assert site.name in out
    assert len(re.findall(ENROLLMENT_CODE, out)) == len(demo.SITES)
    assert re.search(r"pdvk_\S{20,}", out)


def test_demo_roles_cover_every_role_and_site(demo_cli: Cli) -> None:
    """Admin and security chief organization-wide; a principal and two staff per site."""
    assert demo_cli.count(Site) == 3
    assert demo_cli.count(Zone) >= 2
    assert demo_cli.count(RoleAssignment, RoleAssignment.role == "admin") == 1
    assert demo_cli.count(RoleAssignment, RoleAssignment.role == "security_chief") == 1
    assert demo_cli.count(RoleAssignment, RoleAssignment.role == "principal") == 3
    assert demo_cli.count(RoleAssignment, RoleAssignment.role == "staff") == 6
    assert demo_cli.count(RoleAssignment, RoleAssignment.site_id.is_(None)) == 2


def test_demo_twice_duplicates_nothing(demo_cli: Cli) -> None:
    """A second `demo` adds no organization, site, zone, person, code or key."""
    tables = (Organization, Site, Zone, Person, RoleAssignment, EnrollmentCode, ApiKey)
    before = {table: demo_cli.count(table) for table in tables}
    assert demo_cli("demo") == 0, demo_cli.err
    assert {table: demo_cli.count(table) for table in tables} == before
    assert "fanns redan" in demo_cli.out
    for person in demo.PEOPLE:
        assert person.email in demo_cli.out
    assert "visas ej" in demo_cli.out  # existing codes cannot be shown again
    assert demo_cli("audit", "verify") == 0


def test_demo_reset_issues_fresh_codes_and_revokes_the_old(
    demo_cli: Cli, demo_template: tuple[Path, str]
) -> None:
    """`demo --reset` revokes the previous codes and key and prints new working ones."""
    old_codes = re.findall(ENROLLMENT_CODE, demo_template[1])
    assert demo_cli("demo", "--reset") == 0, demo_cli.err
    new_codes = re.findall(ENROLLMENT_CODE, demo_cli.out)
    assert len(new_codes) == 3 and not set(new_codes) & set(old_codes)
    assert demo_cli.count(ApiKey, ApiKey.revoked_at.is_(None)) == 1
    assert demo_cli.count(Person) == len(demo.PEOPLE)

    async def enroll(code: str) -> None:
        async with Database(demo_cli.url) as database, database.session() as session:
            await enrollment.enroll_device(
                session, code=code, kind=DeviceKind.DESKTOP, name="Reception", now=utcnow()
            )
            await session.commit()

    with pytest.raises(ServiceError) as refused:
        run(enroll(old_codes[0]))
    assert refused.value.code == "enrollment.invalid_code"
    run(enroll(new_codes[0]))
    assert demo_cli.count(Device) == 1


# -- person ------------------------------------------------------------------------------


def test_person_add_and_list(demo_cli: Cli) -> None:
    """`person add` with site roles creates the person; `person list` shows them."""
    code = demo_cli(
        "person",
        "add",
        "--organization",
        SLUG,
        "--email",
        "Vikarie@Koping.example",
        "--name",
        "Vera Vikarie",
        "--password",
        "vikarie-lösen",
        "--role",
        "staff:ullvigymnasiet",
        "--role",
        "staff:Karlbergsskolan",
    )
    assert code == 0, demo_cli.err
    assert "vikarie@koping.example" in demo_cli.out
    assert demo_cli("person", "list", "--organization", SLUG) == 0
    line = next(line for line in demo_cli.out.splitlines() if "vikarie@koping.example" in line)
    assert "staff @ Ullvigymnasiet" in line and "staff @ Karlbergsskolan" in line
    for person in demo.PEOPLE:
        assert person.email in demo_cli.out


def test_person_add_without_password_off_a_terminal(demo_cli: Cli) -> None:
    """Without --password (and no terminal) the person is created without a login."""
    assert (
        demo_cli(
            "person",
            "add",
            "--organization",
            SLUG,
            "--email",
            "x@koping.example",
            "--name",
            "X",
            "--role",
            "staff:Ullvigymnasiet",
        )
        == 0
    )
    assert "Inget lösenord" in demo_cli.out


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        (["--email", PRINCIPAL, "--role", "staff"], "person.email_taken"),
        (["--email", "n@k.example", "--role", "staff:Okänd skola"], "site.not_found"),
        (
            ["--email", "n@k.example", "--role", "staff", "--password", "kort"],
            "person.weak_password",
        ),
        (["--email", "inte-en-adress", "--role", "staff"], "request.invalid"),
    ],
)
def test_person_add_errors_change_nothing(demo_cli: Cli, extra: list[str], code: str) -> None:
    """Domain errors exit 1 with their stable code and Swedish message; nobody is added."""
    before = demo_cli.count(Person)
    assert demo_cli("person", "add", "--organization", SLUG, "--name", "N", *extra) == 1
    assert code in demo_cli.err
    assert demo_cli.count(Person) == before


def test_unknown_organization_is_reported(demo_cli: Cli) -> None:
    """An unknown organization slug exits 1 with organization.not_found."""
    assert demo_cli("person", "list", "--organization", "finns-inte") == 1
    assert "organization.not_found" in demo_cli.err
    assert "Organisationen finns inte" in demo_cli.err


# -- enrollment codes and API keys -------------------------------------------------------


def test_enroll_code_create_prints_a_code_that_enrolls(demo_cli: Cli) -> None:
    """The printed code enrolls devices up to --uses times, only of --kind."""
    assert (
        demo_cli(
            "enroll-code",
            "create",
            "--organization",
            SLUG,
            "--site",
            "Ullvigymnasiet",
            "--zone",
            "hus b",
            "--uses",
            "2",
            "--hours",
            "1",
            "--kind",
            "desktop",
        )
        == 0
    )
    match = CODE.search(demo_cli.out)
    assert match, demo_cli.out
    code = match.group(1)

    async def enroll(kind: DeviceKind) -> Device:
        async with Database(demo_cli.url) as database, database.session() as session:
            device, token = await enrollment.enroll_device(
                session, code=code.lower(), kind=kind, name="Lärarrummet", now=utcnow()
            )
            await session.commit()
            assert token.startswith("pdvd_")
            return device

    with pytest.raises(ServiceError) as wrong:
        run(enroll(DeviceKind.WEB))
    assert wrong.value.code == "enrollment.wrong_device_kind"
    first = run(enroll(DeviceKind.DESKTOP))
    assert first.zone_id is not None
    run(enroll(DeviceKind.DESKTOP))
    with pytest.raises(ServiceError) as used_up:
        run(enroll(DeviceKind.DESKTOP))
    assert used_up.value.code == "enrollment.invalid_code"


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        (["--site", "Okänd skola"], "site.not_found"),
        (["--site", "Ullvigymnasiet", "--zone", "Hus Z"], "zone.not_found"),
        (["--site", "Ullvigymnasiet", "--hours", "10000"], "request.invalid"),
    ],
)
def test_enroll_code_errors_change_nothing(demo_cli: Cli, extra: list[str], code: str) -> None:
    """Unknown site or zone and a too long lifetime exit 1 and create no code."""
    before = demo_cli.count(EnrollmentCode)
    assert demo_cli("enroll-code", "create", "--organization", SLUG, *extra) == 1
    assert code in demo_cli.err
    assert demo_cli.count(EnrollmentCode) == before


def test_api_key_create_prints_a_working_key(demo_cli: Cli) -> None:
    """The printed key authenticates as an API key of that site."""
    assert (
        demo_cli(
            "api-key",
            "create",
            "--organization",
            SLUG,
            "--site",
            "Karlbergsskolan",
            "--name",
            "Knapp entrén",
            "--kind",
            "evacuate",
        )
        == 0
    )
    match = KEY.search(demo_cli.out)
    assert match, demo_cli.out

    async def check() -> None:
        async with Database(demo_cli.url) as database, database.session() as session:
            caller = await callers.from_bearer_token(session, token=match.group(1), now=utcnow())
            assert caller is not None and caller.api_key is not None
            assert caller.api_key.name == "Knapp entrén"
            assert caller.api_key.kind == "evacuate"
            site = await session.get_one(Site, caller.api_key.site_id)
            assert site.name == "Karlbergsskolan"

    run(check())


def test_api_key_for_an_unknown_site_fails(demo_cli: Cli) -> None:
    """An unknown site exits 1 with site.not_found and creates no key."""
    before = demo_cli.count(ApiKey)
    assert (
        demo_cli("api-key", "create", "--organization", SLUG, "--site", "Nope", "--name", "K") == 1
    )
    assert "site.not_found" in demo_cli.err
    assert demo_cli.count(ApiKey) == before


# -- trigger -----------------------------------------------------------------------------


def trigger_ullvi(person: str, *extra: str) -> tuple[str, ...]:
    """The arguments of a CLI inrymning at Ullvigymnasiet as `person`."""
    return (
        "trigger",
        "--organization",
        SLUG,
        "--as",
        person,
        "--site",
        "Ullvigymnasiet",
        "--kind",
        "pdv_lockdown",
        *extra,
    )


def test_trigger_as_the_principal(demo_cli: Cli) -> None:
    """The principal triggers at their school: exit 0, the alert id and seq 1 are printed."""
    assert demo_cli(*trigger_ullvi(PRINCIPAL)) == 0, demo_cli.err
    assert re.search(r"id \d+, seq 1\b", demo_cli.out)
    assert demo_cli.count(Alert, Alert.state == "active") == 1


def test_trigger_twice_returns_the_active_alert(demo_cli: Cli) -> None:
    """A second trigger on the same school creates nothing new and says so."""
    args = [
        "trigger",
        "--organization",
        SLUG,
        "--as",
        PRINCIPAL,
        "--site",
        "Ullvigymnasiet",
        "--kind",
        "pdv_lockdown",
    ]
    assert demo_cli(*args) == 0
    assert demo_cli(*args) == 0
    assert "pågår redan" in demo_cli.out
    assert demo_cli.count(Alert) == 1


def test_trigger_of_another_kind_is_refused_and_inrymning_escalates(demo_cli: Cli) -> None:
    """Utrymning on a school under inrymning is refused (alert.other_kind_active, exit 1);
    inrymning on a school under utestängning escalates the alert (exit 0, says so)."""
    args = ["trigger", "--organization", SLUG, "--as", PRINCIPAL, "--site", "Ullvigymnasiet"]
    assert demo_cli(*args, "--kind", "pdv_lockdown") == 0
    assert demo_cli(*args, "--kind", "evacuate") == 1
    assert "alert.other_kind_active" in demo_cli.err
    assert demo_cli.count(Alert, Alert.kind == "pdv_lockdown") == 1
    assert demo_cli.count(Alert) == 1
    other = ["trigger", "--organization", SLUG, "--as", CHIEF, "--site", "Nyckelbergsskolan"]
    assert demo_cli(*other, "--kind", "secure") == 0
    assert demo_cli(*other, "--kind", "pdv_lockdown") == 0, demo_cli.err
    assert "skärptes" in demo_cli.out
    assert demo_cli.count(Alert, Alert.kind == "pdv_lockdown") == 2


def test_trigger_where_staff_may_not_is_forbidden(demo_cli: Cli) -> None:
    """Staff of another school get auth.forbidden (exit 1) and no alert is written."""
    assert demo_cli(*trigger_ullvi(STAFF_KARLBERG)) == 1
    assert "auth.forbidden" in demo_cli.err
    assert "Du har inte behörighet" in demo_cli.err
    assert demo_cli.count(Alert) == 0


def test_a_drill_needs_the_security_chief(demo_cli: Cli) -> None:
    """A principal may not run a drill; the security chief may, with a custom text."""
    drill = [
        "--site",
        "Nyckelbergsskolan",
        "--kind",
        "custom",
        "--mode",
        "drill",
        "--text",
        "ÖVNING: inrymning",
    ]
    assert demo_cli("trigger", "--organization", SLUG, "--as", PRINCIPAL, *drill) == 1
    assert "auth.forbidden" in demo_cli.err
    assert demo_cli("trigger", "--organization", SLUG, "--as", CHIEF, *drill) == 0, demo_cli.err
    assert demo_cli.count(Alert, Alert.mode == "drill", Alert.order_sv == "ÖVNING: inrymning") == 1


@pytest.mark.parametrize(
    ("who", "extra", "code"),
    [
        ("nobody@koping.example", ["--kind", "pdv_lockdown"], "person.not_found"),
        (CHIEF, ["--kind", "custom"], "alert.custom_text_required"),
    ],
)
def test_trigger_errors_write_nothing(demo_cli: Cli, who: str, extra: list[str], code: str) -> None:
    """Unknown person or a custom alert without text exit 1 and write no alert."""
    assert (
        demo_cli("trigger", "--organization", SLUG, "--as", who, "--site", "Ullvigymnasiet", *extra)
        == 1
    )
    assert code in demo_cli.err
    assert demo_cli.count(Alert) == 0


def test_trigger_as_an_inactive_person_is_forbidden(demo_cli: Cli) -> None:
    """A deactivated person cannot trigger from the CLI either."""
    demo_cli.sql("UPDATE persons SET active = 0 WHERE email = ?", PRINCIPAL)
    assert demo_cli(*trigger_ullvi(PRINCIPAL)) == 1
    assert "auth.forbidden" in demo_cli.err
    assert demo_cli.count(Alert) == 0


# -- audit -------------------------------------------------------------------------------


def test_audit_verify_detects_a_tampered_row(demo_cli: Cli) -> None:
    """`audit verify` is 0 on the intact chain and 1, naming the row, after an edit."""
    assert demo_cli("audit", "verify") == 0
    assert "intakt" in demo_cli.out
    assert demo_cli("audit", "verify", "--organization", SLUG) == 0
    demo_cli.sql("UPDATE audit_log SET actor = 'person:999' WHERE seq = 3")
    assert demo_cli("audit", "verify") == 1
    assert "BRUTEN" in demo_cli.out
    assert "seq 3" in demo_cli.out


def test_audit_verify_detects_a_deleted_last_row(demo_cli: Cli) -> None:
    """Deleting the newest entry breaks the chain at its head."""
    last = demo_cli.count(AuditEntry)
    demo_cli.sql("DELETE FROM audit_log WHERE seq = ?", last)
    assert demo_cli("audit", "verify", "--organization", SLUG) == 1
    assert "head_mismatch" in demo_cli.out


def test_audit_verify_of_an_unknown_organization(demo_cli: Cli) -> None:
    """An unknown slug is organization.not_found, exit 1."""
    assert demo_cli("audit", "verify", "--organization", "finns-inte") == 1
    assert "organization.not_found" in demo_cli.err


# -- demo safety -------------------------------------------------------------------------


def test_demo_refuses_an_organization_it_did_not_create(cli: Cli) -> None:
    """`init "Köpings kommun"` then `demo`: refused (exit 2), no account, code or key added."""
    init = ("init", "--organization", demo.ORGANIZATION_NAME, "--admin-email", "it@koping.se")
    assert cli(*init, "--admin-name", "IT", "--admin-password", "riktigt-lösen-1") == 0, cli.err
    tables = (Site, Person, EnrollmentCode, ApiKey)
    before = {table: cli.count(table) for table in tables}
    assert cli("demo") == 2
    assert "demo" in cli.err and SLUG in cli.err
    assert cli("demo", "--reset") == 2
    assert {table: cli.count(table) for table in tables} == before


def test_demo_refuses_in_production(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """With environment = production, `demo` exits 2 and creates nothing."""
    monkeypatch.setenv("PDV_ENVIRONMENT", "production")
    monkeypatch.setenv("PDV_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("PDV_PUBLIC_URL", "https://larm.koping.example")
    assert cli("demo") == 2
    assert "production" in cli.err
    assert cli("migrate") == 0
    assert cli.count(Organization) == 0


def test_demo_reset_leaves_an_admins_code_and_key_valid(demo_cli: Cli) -> None:
    """`demo --reset` revokes only the demo's own codes and key, not an admin's."""
    assert (
        demo_cli("enroll-code", "create", "--organization", SLUG, "--site", "Ullvigymnasiet") == 0
    ), demo_cli.err
    admin_code = CODE.search(demo_cli.out)
    assert admin_code
    assert (
        demo_cli(
            "api-key",
            "create",
            "--organization",
            SLUG,
            "--site",
            "Ullvigymnasiet",
            "--name",
            demo.PANIC_BUTTON_NAME,
        )
        == 0
    ), demo_cli.err
    assert demo_cli("demo", "--reset") == 0, demo_cli.err
    assert demo_cli.count(ApiKey, ApiKey.revoked_at.is_(None)) == 2  # the admin's and a new one

    async def enroll() -> None:
        async with Database(demo_cli.url) as database, database.session() as session:
            await enrollment.enroll_device(
                session, code=admin_code[1], kind=DeviceKind.DESKTOP, name="Kiosk", now=utcnow()
            )
            await session.commit()

    run(enroll())
    assert demo_cli.count(Device) == 1


def test_audit_verify_needs_the_audit_key(demo_cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under another key the chain does not verify; with the old one as a previous key it
    does; the head is printed so it can be written down."""
    assert demo_cli("audit", "verify") == 0
    assert re.search(r"huvud \(head\) seq \d+ [0-9a-f]{64}", demo_cli.out)
    monkeypatch.setenv("PDV_AUDIT_KEY", "r" * 40)
    assert demo_cli("audit", "verify") == 1
    assert "unknown_key" in demo_cli.out
    monkeypatch.setenv("PDV_AUDIT_PREVIOUS_KEYS", '["change-me-development-only"]')
    assert demo_cli("audit", "verify") == 0, demo_cli.out


def downgrade(url: str, revision: str) -> None:
    """The schema back at `revision` (the CLI only upgrades)."""

    async def run_down() -> None:
        async with Database(url) as database:
            await database.downgrade(revision)

    run(run_down())


def test_a_demo_database_from_before_the_marks_still_runs_the_demo(demo_cli: Cli) -> None:
    """`make run` on a developer's older demo database: the migration recognizes the demo's
    organization, codes and key, so `demo` and `demo --reset` keep working."""
    downgrade(demo_cli.url, "0002")  # as before the marks
    assert demo_cli("migrate") == 0, demo_cli.err
    assert demo_cli.count(Organization, Organization.demo.is_(True)) == 1
    assert demo_cli.count(EnrollmentCode, EnrollmentCode.demo.is_(True)) == len(demo.SITES)
    assert demo_cli("demo", "--reset") == 0, demo_cli.err
    assert demo_cli.count(ApiKey, ApiKey.revoked_at.is_(None)) == 1


def test_the_migration_does_not_mark_an_initialized_organization(cli: Cli) -> None:
    """An organization made by `init` with the demo's slug, migrated from before the marks,
    stays unmarked: `demo` still refuses it."""
    init = ("init", "--organization", demo.ORGANIZATION_NAME, "--admin-email", "it@koping.se")
    assert cli(*init, "--admin-name", "IT", "--admin-password", "riktigt-lösen-1") == 0, cli.err
    downgrade(cli.url, "0002")
    assert cli("migrate") == 0, cli.err
    assert cli.count(Organization, Organization.demo.is_(True)) == 0
    assert cli("demo") == 2


def test_a_chain_from_before_keying_verifies_after_the_upgrade(cli: Cli) -> None:
    """Entries hashed unkeyed (before migration 0004) still verify after it, are counted as
    unkeyed, and the keyed entries written after them verify too."""
    assert cli("migrate", "--revision", "0002") == 0, cli.err
    at = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    cli.sql(
        "INSERT INTO organizations (id, name, slug, epoch, last_seq, audit_seq, audit_head,"
        " language, templates, created_at) VALUES (1, 'Arboga kommun', 'arboga', 'e', 0, 0, ?,"
        " 'sv', '{}', ?)",
        GENESIS,
        at.isoformat(),
    )
    previous = GENESIS
    for seq in (1, 2):
        digest = entry_hash(  # as before keying: plain sha256
            key=None,
            prev_hash=previous,
            organization_id=1,
            seq=seq,
            at=at,
            actor="cli:root",
            action=f"test.{seq}",
            target="",
            details={},
        )
        cli.sql(
            "INSERT INTO audit_log (organization_id, seq, at, actor, action, target, details,"
            " prev_hash, hash) VALUES (1, ?, ?, 'cli:root', ?, '', '{}', ?, ?)",
            seq,
            at.isoformat(),
            f"test.{seq}",
            previous,
            digest,
        )
        cli.sql("UPDATE organizations SET audit_seq = ?, audit_head = ?", seq, digest)
        previous = digest
    assert cli("migrate") == 0, cli.err
    assert cli("audit", "verify") == 0, cli.out
    assert "2 utan nyckel" in cli.out
    add = (
        "person",
        "add",
        "--organization",
        "arboga",
        "--email",
        "a@arboga.se",
        "--name",
        "A",
        "--role",
        "admin",
    )
    assert cli(*add) == 0, cli.err
    assert cli("audit", "verify") == 0, cli.out
    assert "3 poster (entries), 2 utan nyckel" in cli.out
