"""organizations/enrollment_codes/api_keys.demo: what `pdv-alert demo` made

`demo` touches only an organization it created, and `demo --reset` revokes only the codes and
keys it issued (never an admin's). A demo organization made before this migration (`make run`
on a developer's database) is recognized and marked: slug `kopings-kommun` and every person
at the demo's RFC 2606 domain, which no real organization uses (an `init "Köpings kommun"`
admin is not); its codes labelled "Demo: …" and its panic-button key are marked with it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("organizations", "enrollment_codes", "api_keys")

# As server/demo.py spelled them when this migration was written.
DEMO_ORGANIZATION = """
    UPDATE organizations SET demo = :yes WHERE slug = 'kopings-kommun'
    AND EXISTS (SELECT 1 FROM persons p WHERE p.organization_id = organizations.id)
    AND NOT EXISTS (
        SELECT 1 FROM persons p WHERE p.organization_id = organizations.id
        AND p.email NOT LIKE '%@kopings-kommun.example'
    )
"""
DEMO_CODES = """
    UPDATE enrollment_codes SET demo = :yes WHERE label LIKE 'Demo: %'
    AND organization_id IN (SELECT id FROM organizations WHERE demo = :yes)
"""
DEMO_KEYS = """
    UPDATE api_keys SET demo = :yes WHERE name = 'Panikknapp receptionen'
    AND organization_id IN (SELECT id FROM organizations WHERE demo = :yes)
"""


def upgrade() -> None:
    # Plain ADD COLUMN: a batch copy of a populated `organizations` fails on the foreign keys
    # that point to it (SQLite).
    for table in TABLES:
        op.add_column(
            table, sa.Column("demo", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    for statement in (DEMO_ORGANIZATION, DEMO_CODES, DEMO_KEYS):
        op.execute(sa.text(statement).bindparams(yes=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+ has it): a batch copy of `organizations` would fail
    # on the foreign keys that point to it.
    for table in reversed(TABLES):
        op.drop_column(table, "demo")
