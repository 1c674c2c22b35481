"""Indexes for the audit page's filters: rows of one actor and of one action, newest first,
and the distinct actors and actions the filters offer (read one index probe per value).

Revision ID: 0026_audit_filter_indexes
Revises: 0025_reporter_email
"""

from __future__ import annotations

from alembic import op

revision = '0026_audit_filter_indexes'
down_revision = '0025_reporter_email'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_index('ix_audit_log_actor_seq', 'audit_log', ['actor', 'seq'])
    op.create_index('ix_audit_log_action_seq', 'audit_log', ['action', 'seq'])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index('ix_audit_log_action_seq', table_name='audit_log')
    op.drop_index('ix_audit_log_actor_seq', table_name='audit_log')
