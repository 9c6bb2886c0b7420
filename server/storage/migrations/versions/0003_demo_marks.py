"""organizations/enrollment_codes/api_keys.demo: what `pdv-alert demo` made

`demo` touches only an organization it created, and `demo --reset` revokes only the codes and
keys it issued (never an admin's).

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


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("demo", sa.Boolean(), nullable=False, server_default=sa.false())
            )


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("demo")
