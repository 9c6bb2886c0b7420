"""audit_log.key_fingerprint (the keyed audit chain) and receipt_answers (every answer, append-only)

Existing audit entries keep key_fingerprint "" (unkeyed, plain sha256): they still verify as the
chain's prefix; every entry written after this migration is HMAC-keyed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(  # plain ADD COLUMN, as in 0003
        "audit_log",
        sa.Column("key_fingerprint", sa.String(length=16), nullable=False, server_default=""),
    )
    op.create_table(
        "receipt_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("response", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_receipt_answers_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_receipt_answers_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_receipt_answers_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_receipt_answers_person_id_persons"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_receipt_answers_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipt_answers")),
    )
    with op.batch_alter_table("receipt_answers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_receipt_answers_alert_id"), ["alert_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("receipt_answers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receipt_answers_alert_id"))
    op.drop_table("receipt_answers")
    op.drop_column("audit_log", "key_fingerprint")  # plain DROP COLUMN, as in 0003
