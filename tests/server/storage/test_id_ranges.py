"""The tables agree with the protocol's one id range: every id column is a 32-bit integer
(MAX_ID) and every seq a 64-bit one (MAX_SEQ), on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from protocol.messages import MAX_ID, MAX_SEQ
from server.storage.database import Database

RANGES = {"INTEGER": 2**31 - 1, "BIGINT": 2**63 - 1}


def _columns(connection: Connection) -> dict[str, str]:
    """`table.column` → declared type, for the id and seq columns of every table."""
    inspector = inspect(connection)
    found = {}
    for table in inspector.get_table_names():
        for column in inspector.get_columns(table):
            name = column["name"]
            if name in ("id", "seq", "last_seq", "audit_seq") or name.endswith("_id"):
                found[f"{table}.{name}"] = str(column["type"]).upper()
    return found


async def test_id_columns_are_32_bit_and_seqs_64_bit(database: Database) -> None:
    """MAX_ID is the range of every id column, MAX_SEQ of every seq column."""
    async with database.engine.connect() as connection:
        columns = await connection.run_sync(_columns)
    ids = {k: v for k, v in columns.items() if not k.endswith("seq")}
    seqs = {k: v for k, v in columns.items() if k.endswith("seq")}
    assert "receipts.alert_id" in ids and "alert_events.seq" in seqs
    assert {k: RANGES.get(v) for k, v in ids.items()} == dict.fromkeys(ids, MAX_ID)
    assert {k: RANGES.get(v) for k, v in seqs.items()} == dict.fromkeys(seqs, MAX_SEQ)
