"""Deliveries: the newest delivery of a key wins; what it replaced is kept in superseded_values, and
load_audit records each file's delivery time and how many of its rows a later delivery superseded.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 10:40:45.884434

Frozen: write explicit operations here and never import the live contracts (vip_pipeline.contracts),
which keep changing after this revision. Views are not migrated here: they are recreated from
VIEWS in vip_pipeline/storage/warehouse.py after every upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "superseded_values",
        sa.Column("extract", sa.String(length=64), nullable=False, comment="Extract name."),
        sa.Column("month", sa.Date(), nullable=False, comment="The month of the data (first day)."),
        sa.Column(
            "kind",
            sa.String(length=64),
            nullable=False,
            comment="superseded (a later file carries the key), restated (the same file re-sent with other values) or "
            "withdrawn (the file is no longer in the landing directory).",
        ),
        sa.Column("key", sa.Text(), nullable=False, comment="The key's values (JSON)."),
        sa.Column(
            "old_source_file", sa.String(length=64), nullable=False, comment="The file the replaced value came from."
        ),
        sa.Column(
            "old_row_number",
            sa.BigInteger(),
            nullable=True,
            comment="Its data row in that file (NULL for a restated file: the old version is gone).",
        ),
        sa.Column("old_record", sa.Text(), nullable=False, comment="The replaced values (JSON)."),
        sa.Column("new_source_file", sa.String(length=64), nullable=True, comment="The file whose value now counts."),
        sa.Column(
            "new_record",
            sa.Text(),
            nullable=True,
            comment="The values that now count (JSON); NULL when the re-sent file no longer has the key.",
        ),
        sa.Column("run_id", sa.String(length=64), nullable=False, comment="Dagster run that recorded it."),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, comment="When it was recorded (UTC)."),
        comment="Every value a newer delivery replaced: a later file carrying a key already delivered "
        "(kind superseded), or a file re-sent under the same name with other values (kind restated).",
    )
    with op.batch_alter_table("superseded_values", schema=None) as batch_op:
        batch_op.create_index("ix_superseded_values_extract_month", ["extract", "month"], unique=False)
        batch_op.create_index("ix_superseded_values_new_source_file", ["new_source_file"], unique=False)
        batch_op.create_index("ix_superseded_values_run_id", ["run_id"], unique=False)

    if op.get_bind().dialect.name != "sqlite":  # SQLite keeps no comments
        op.create_table_comment(
            "load_audit",
            "One row per landed file, from its latest load: rows read = accepted + rejected, whether the file was "
            "refused, and when it was delivered.",
            existing_comment="One row per file per load: rows read = accepted + rejected, and whether the file was "
            "refused.",
        )
    with op.batch_alter_table("load_audit", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "rows_superseded",
                sa.BigInteger(),
                nullable=False,
                server_default=sa.text("0"),
                comment="Accepted rows whose key a later delivery carried with other values.",
            )
        )
        batch_op.add_column(
            sa.Column(
                "delivered_at",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="When this version of the file was delivered: its modification time (UTC); NULL for loads "
                "recorded before delivery times were kept.",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("load_audit", schema=None) as batch_op:
        batch_op.drop_column("delivered_at")
        batch_op.drop_column("rows_superseded")

    with op.batch_alter_table("superseded_values", schema=None) as batch_op:
        batch_op.drop_index("ix_superseded_values_run_id")
        batch_op.drop_index("ix_superseded_values_new_source_file")
        batch_op.drop_index("ix_superseded_values_extract_month")

    op.drop_table("superseded_values")
