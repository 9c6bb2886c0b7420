"""Seed a benchmark database: one organization, one site, a principal with a login session and
N devices with tokens, written with bulk core inserts (10,000 devices take about a second).

    python bench/seed.py --url sqlite+aiosqlite:////tmp/b.db --devices 1000 --tokens /tmp/t.txt

`fanout.py` calls `seed()` directly; the command is for poking at a server by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert

from server.clock import utcnow
from server.credentials import DEVICE_PREFIX, SESSION_PREFIX, new_token, token_hash
from server.storage.database import Database
from server.storage.tables import (
    Device,
    LoginSession,
    Organization,
    Person,
    RoleAssignment,
    Site,
)

CHUNK = 2000  # rows per executemany (SQLite's bound-parameter limit is not involved)


@dataclass(frozen=True)
class Seeded:
    organization_id: int
    site_id: int
    epoch: str
    principal_token: str  # a login session token (pdvs_…) of a principal of the site
    tokens_path: Path  # one device token per line, in device order
    devices: int


async def seed(url: str, *, devices: int, tokens_path: Path, migrate: bool = True) -> Seeded:
    """Migrate the database at `url` and write the benchmark's organization into it."""
    now = utcnow()
    database = Database(url)
    try:
        if migrate:
            await database.migrate()
        epoch = secrets.token_hex(8)
        async with database.engine.begin() as conn:
            org_id = (
                await conn.execute(
                    insert(Organization)
                    .values(
                        name="Benchkommun",
                        slug=f"bench-{secrets.token_hex(3)}",
                        epoch=epoch,
                        last_seq=0,
                        audit_seq=0,
                        audit_head="0" * 64,
                        language="sv",
                        templates={},
                        created_at=now,
                    )
                    .returning(Organization.id)
                )
            ).scalar_one()
            site_id = (
                await conn.execute(
                    insert(Site)
                    .values(
                        organization_id=org_id,
                        name="Benchskolan",
                        address="",
                        staff_may_trigger=True,
                        created_at=now,
                    )
                    .returning(Site.id)
                )
            ).scalar_one()
            person_id = (
                await conn.execute(
                    insert(Person)
                    .values(
                        organization_id=org_id,
                        email=f"rektor-{secrets.token_hex(3)}@bench.example.se",
                        name="Rektor Bench",
                        phone="",
                        language="sv",
                        active=True,
                        created_at=now,
                    )
                    .returning(Person.id)
                )
            ).scalar_one()
            await conn.execute(
                insert(RoleAssignment).values(
                    organization_id=org_id, person_id=person_id, site_id=site_id, role="principal"
                )
            )
            principal_token = new_token(SESSION_PREFIX)
            await conn.execute(
                insert(LoginSession).values(
                    token_hash=token_hash(principal_token),
                    organization_id=org_id,
                    person_id=person_id,
                    created_at=now,
                    expires_at=now + timedelta(days=1),
                    last_seen_at=now,
                    ip="127.0.0.1",
                    user_agent="bench",
                )
            )
            tokens = [new_token(DEVICE_PREFIX) for _ in range(devices)]
            for start in range(0, devices, CHUNK):
                rows = [
                    {
                        "organization_id": org_id,
                        "site_id": site_id,
                        "kind": "desktop",
                        "name": f"bench-{index:05d}",
                        "token_hash": token_hash(tokens[index]),
                        "created_at": now,
                        "client_version": "",
                    }
                    for index in range(start, min(start + CHUNK, devices))
                ]
                await conn.execute(insert(Device), rows)
        tokens_path.write_text("".join(f"{token}\n" for token in tokens))  # noqa: ASYNC240
        return Seeded(
            organization_id=org_id,
            site_id=site_id,
            epoch=epoch,
            principal_token=principal_token,
            tokens_path=tokens_path,
            devices=devices,
        )
    finally:
        await database.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url", required=True, help="sqlite+aiosqlite:///… or postgresql+asyncpg://…"
    )
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--tokens", type=Path, required=True, help="file for the device tokens")
    parser.add_argument("--no-migrate", action="store_true")
    args = parser.parse_args()
    seeded = asyncio.run(
        seed(args.url, devices=args.devices, tokens_path=args.tokens, migrate=not args.no_migrate)
    )
    print(f"organization {seeded.organization_id}, site {seeded.site_id}, epoch {seeded.epoch}")
    print(f"principal session token: {seeded.principal_token}")
    print(f"{seeded.devices} device tokens in {seeded.tokens_path}")


if __name__ == "__main__":
    main()
