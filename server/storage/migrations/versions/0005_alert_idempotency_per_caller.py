"""alerts: idempotency keys per caller (no longer unique per organization)

An actual alert's key expires when the alert ends and another caller's key never matches
(issue 7, item 6), so one key may be stored on several alerts; it is looked up by
(organization, caller, key).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_alerts_organization_id_idempotency_key", type_="unique")
        batch_op.create_index(
            "ix_alerts_idempotency",
            ["organization_id", "created_by", "idempotency_key"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_idempotency")
        batch_op.create_unique_constraint(
            "uq_alerts_organization_id_idempotency_key", ["organization_id", "idempotency_key"]
        )
