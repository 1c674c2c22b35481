"""An index on when work orders were closed: the work-order list filtered by closing date
(``dates=closed``) reads one month's closed orders instead of walking every order. See
hub/db/models/indexes.py and bench/admin_pages.py.

Revision ID: 0019_work_order_closed_index
Revises: 0018_rules_generation
"""

from __future__ import annotations

from alembic import op

revision = '0019_work_order_closed_index'
down_revision = '0018_rules_generation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_index("ix_work_orders_closed", "work_orders", ["closed_at", "id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_work_orders_closed", table_name="work_orders")
