"""`pdv-alert epoch rotate`, the operator's step after restoring a backup, with the real
`pdv-alert serve`: a client that resumes with the epoch it had gets `recovered: false` and a
full snapshot instead of a replay; the rotation is audited; an unknown organization is
refused with its code and changes nothing."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from protocol.vocabulary import Role
from server import demo
from server.storage.database import Database
from server.storage.tables import AuditEntry, Organization
from tests.server.realtime.clients import hello
from tests.server.serving import HTTP_TIMEOUT, cli, database_url, environment, seed, serve, serving

PRINCIPAL = next(p for p in demo.PEOPLE if p.roles == ((Role.PRINCIPAL, "Ullvigymnasiet"),))


def _rotate(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli("--database-url", url, "epoch", "rotate", *extra),
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _resume(ws_url: str, token: str, epoch: str | None, last_seq: int) -> dict[str, Any]:
    ws, welcome = await hello(ws_url, token, epoch=epoch, last_seq=last_seq)
    await ws.close()
    return welcome


async def _epochs(url: str) -> dict[str, str]:
    async with Database(url) as database, database.session() as session:
        rows = (await session.execute(select(Organization.slug, Organization.epoch))).all()
    return {row.slug: row.epoch for row in rows}


async def test_after_rotating_a_resuming_client_gets_a_snapshot(tmp_path: Path) -> None:
    """Before: a client resuming with (epoch, seq 0) is replayed the trigger. The node is
    stopped, `epoch rotate` run, the node started again: the same resume now answers
    `recovered: false`, the new epoch, and the active alert as the snapshot."""
    with serving(tmp_path) as running:
        async with httpx.AsyncClient(base_url=running.url, timeout=HTTP_TIMEOUT) as http:
            login = await http.post(
                "/api/v1/auth/login",
                json={"email": PRINCIPAL.email, "password": PRINCIPAL.password},
            )
            assert login.status_code == 200, login.text
            token = http.cookies["pdv_session"]
            site_ids = [r["site_id"] for r in login.json()["person"]["roles"]]
            created = await http.post(
                "/api/v1/alerts", json={"kind": "pdv_lockdown", "site_ids": site_ids}
            )
            assert created.status_code == 201, created.text
            alert_id = created.json()["alert"]["id"]
        first = await _resume(running.ws_url, token, None, 0)
        old_epoch = first["epoch"]
        replayed = await _resume(running.ws_url, token, old_epoch, 0)
        assert replayed["recovered"] is True
        assert [e["seq"] for e in replayed["events"]] == [1]
        running.process.kill()
        await asyncio.to_thread(running.process.wait, 30)

    url = database_url(tmp_path)
    rotated = await asyncio.to_thread(_rotate, url)
    assert rotated.returncode == 0, rotated.stderr
    assert f"kopings-kommun: epoch {old_epoch} → " in rotated.stdout
    new_epoch = (await _epochs(url))["kopings-kommun"]
    assert new_epoch != old_epoch

    with serve(url, environment(), tmp_path / "again.stderr") as again:
        welcome = await _resume(again.ws_url, token, old_epoch, 1)
    assert welcome["recovered"] is False
    assert welcome["epoch"] == new_epoch and welcome["seq"] == 1
    assert [alert["id"] for alert in welcome["active"]] == [alert_id]
    assert welcome["events"] == []

    async with Database(url) as database, database.session() as session:
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "organization.epoch_rotated")
        )
    assert entry is not None and entry.actor.startswith("cli:")
    assert entry.details == {"old_epoch": old_epoch, "new_epoch": new_epoch, "seq": 1}


async def test_rotating_an_unknown_organization_changes_nothing(tmp_path: Path) -> None:
    """`--organization` naming no organization exits 1 with `organization.not_found`; no
    epoch changes."""
    url = database_url(tmp_path)
    await asyncio.to_thread(seed, url)
    before = await _epochs(url)
    assert "kopings-kommun" in before
    result = await asyncio.to_thread(_rotate, url, "--organization", "finns-inte")
    assert result.returncode == 1
    assert "organization.not_found" in result.stderr
    assert await _epochs(url) == before
