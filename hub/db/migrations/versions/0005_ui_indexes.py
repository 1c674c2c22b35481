"""Indexes for the admin pages at scale: an entity's audit history, work orders newest first
(overall and per state), and open orders with an SLA breach. See hub/db/models/indexes.py and bench/admin_pages.py.

Revision ID: 0005_ui_indexes
Revises: 0004_pm
"""

from __future__ import annotations

from alembic import op

revision = '0005_ui_indexes'
down_revision = '0004_pm'
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_audit_log_entity_ref", "audit_log", ["entity", "entity_id", "seq"]),
    ("ix_work_orders_state_created", "work_orders", ["state", "created_at"]),
    ("ix_work_orders_created", "work_orders", ["created_at", "id"]),
    ("ix_work_orders_state_breach", "work_orders", ["state", "response_breached_at", "resolution_breached_at"]),
)


def upgrade() -> None:
    """Apply this revision."""
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    """Revert this revision."""
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
