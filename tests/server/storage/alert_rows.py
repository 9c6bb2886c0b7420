"""Insert raw alert rows (for tests of the schema's own guarantees)."""

from __future__ import annotations

from server.clock import utcnow
from server.storage.database import Database
from server.storage.tables import Alert, AlertSite
from tests.factories import World


async def insert_alert(database: Database, world: World, *, site_ids: list[int]) -> int:
    now = utcnow()
    async with database.session() as session:
        alert = Alert(
            organization_id=world.organization_id,
            kind="pdv_lockdown",
            mode="actual",
            state="active",
            order_sv="x",
            order_en="x",
            instructions_sv="",
            instructions_en="",
            created_by="test",
            created_at=now,
            updated_at=now,
        )
        session.add(alert)
        await session.flush()
        for site in site_ids:
            session.add(
                AlertSite(
                    alert_id=alert.id,
                    site_id=site,
                    organization_id=world.organization_id,
                    active=True,
                )
            )
        await session.commit()
        return alert.id
