"""Index superseded_values by old_source_file: recording a load deletes the supersessions of its files'
earlier load by that column, which scanned the whole table (257 k rows in the bench's bank-M warehouse:
32 ms a load, three loads a night).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 05:25:43.207985

Frozen: write explicit operations here and never import the live contracts (vip_pipeline.contracts),
which keep changing after this revision. Views are not migrated here: they are recreated from
VIEWS in vip_pipeline/storage/warehouse.py after every upgrade.
"""

from __future__ import annotations

from alembic import op


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_superseded_values_old_source_file", "superseded_values", ["old_source_file"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_superseded_values_old_source_file", table_name="superseded_values")
