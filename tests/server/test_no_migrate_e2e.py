"""`pdv-alert serve --no-migrate`, as the compose file and the Kubernetes manifests start
every node (the migration runs once, on its own): the real process leaves the schema alone,
and serves a database `pdv-alert migrate` prepared."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx

from server import demo
from tests.server.serving import HTTP_TIMEOUT, database_url, environment, seed, serve

PRINCIPAL = demo.PEOPLE[0]


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}


def test_no_migrate_leaves_an_empty_database_alone(tmp_path: Path) -> None:
    """Started with --no-migrate on an empty database, the node answers but has created no
    table (not even alembic's): it never migrates."""
    url = database_url(tmp_path)
    with serve(url, environment(), tmp_path / "serve.stderr", args=("--no-migrate",)) as node:
        health = httpx.get(f"{node.url}/api/v1/health", timeout=HTTP_TIMEOUT)
        assert health.status_code == 200
    assert tables(tmp_path / "pdv-alert.db") == set()


def test_no_migrate_serves_a_migrated_database(tmp_path: Path) -> None:
    """On a database `migrate` (through `demo`) prepared, a --no-migrate node is ready and
    logs a person in."""
    url = database_url(tmp_path)
    seed(url)
    with serve(url, environment(), tmp_path / "serve.stderr", args=("--no-migrate",)) as node:
        with httpx.Client(base_url=node.url, timeout=HTTP_TIMEOUT) as http:
            assert http.get("/api/v1/ready").status_code == 200
            login = http.post(
                "/api/v1/auth/login",
                json={"email": PRINCIPAL.email, "password": PRINCIPAL.password},
            )
    assert login.status_code == 200, login.text
    assert "alembic_version" in tables(tmp_path / "pdv-alert.db")
