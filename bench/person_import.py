"""How long the people CSV import (POST /api/v1/persons/import) takes for a whole
municipality's staff: a dry run, the real import, and the same file again (all unchanged).
Calls the import service in process on a fresh database, so the table shows the import's
own cost (parsing, checks, the transaction), not HTTP.

    .venv/bin/python bench/person_import.py                     # SQLite, 1,000/5,000/20,000
    .venv/bin/python bench/person_import.py --url postgresql+asyncpg://…/empty_db --sizes 5000

The default `max_import_bytes` (1 MiB) holds about 15,000 lines like these (~70 bytes).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select

from bench.seed import seed
from server.clock import utcnow
from server.services.person_import import import_persons
from server.services.sink import NullSink
from server.storage import callers
from server.storage.database import Database
from server.storage.tables import Person, RoleAssignment, Site


def csv_file(size: int, site: str, tag: str) -> bytes:
    """`size` staff at `site`, with Swedish names, as Swedish Excel saves it (`;`, BOM)."""
    lines = [f"p{i}-{tag}@bench.example.se;Åsa Öberg {i};staff;{site};sv" for i in range(size)]
    return ("\ufeffemail;name;role;site;language\r\n" + "\r\n".join(lines) + "\r\n").encode()


async def run(
    url: str, sizes: list[int], migrate: bool
) -> list[tuple[int, int, float, float, float]]:
    with tempfile.TemporaryDirectory() as scratch:
        seeded = await seed(url, devices=0, tokens_path=Path(scratch) / "t.txt", migrate=migrate)
    database = Database(url)
    rows = []
    try:
        async with database.engine.begin() as conn:
            person_id = (
                await conn.execute(
                    select(Person.id).where(Person.organization_id == seeded.organization_id)
                )
            ).scalar_one()
            await conn.execute(
                insert(RoleAssignment).values(
                    organization_id=seeded.organization_id,
                    person_id=person_id,
                    site_id=None,
                    role="admin",
                )
            )
            site = (
                await conn.execute(select(Site.name).where(Site.id == seeded.site_id))
            ).scalar_one()
        async with database.session() as session:
            admin = await callers.from_bearer_token(
                session, token=seeded.principal_token, now=utcnow()
            )
        assert admin is not None
        for size in sizes:
            data = csv_file(size, site, f"{size}")
            timings = []
            for dry_run in (True, False, False):
                started = time.perf_counter()
                async with database.session() as session:
                    result = await import_persons(
                        session=session,
                        sink=NullSink(),
                        who=admin,
                        data=data,
                        dry_run=dry_run,
                        now=utcnow(),
                    )
                timings.append(time.perf_counter() - started)
                assert not result.errors, result.errors[:3]
            rows.append((size, len(data), *timings))
    finally:
        await database.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="", help="an empty database (default: a temp SQLite)")
    parser.add_argument("--sizes", default="1000,5000,20000")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as directory:
        url = args.url or f"sqlite+aiosqlite:///{directory}/bench.db"
        rows = asyncio.run(run(url, sizes, migrate=True))
    print(f"database: {url.split(':', 1)[0]}")
    print(f"{'people':>8} {'bytes':>10} {'dry run s':>10} {'import s':>10} {'again s':>10}")
    for size, length, dry, real, again in rows:
        print(f"{size:>8} {length:>10} {dry:>10.2f} {real:>10.2f} {again:>10.2f}")


if __name__ == "__main__":
    main()
