"""An index on the key of notices, so the SLA job finds the orders already warned at 75 %
without reading every notice.

Revision ID: 0021_notice_key_index
Revises: 0020_notices
"""

from __future__ import annotations

from alembic import op

revision = '0021_notice_key_index'
down_revision = '0020_notices'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_index('ix_notices_key', 'notices', ['key'])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index('ix_notices_key', table_name='notices')
