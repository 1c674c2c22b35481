"""The QR reporter hears back: an optional e-mail address on a work order's request, and
e-mails in the notice outbox that belong to no notice (one-way messages to someone without
an account).

Revision ID: 0025_reporter_email
Revises: 0024_work_order_closed_covering
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0025_reporter_email'
down_revision = '0024_work_order_closed_covering'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column('work_orders', sa.Column('requester_email', sa.String(length=254), server_default='',
                                           nullable=False))
    with op.batch_alter_table('notice_emails') as batch:
        batch.alter_column('notice_id', existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    """Revert this revision (one-way messages still in the outbox are dropped)."""
    op.execute("DELETE FROM notice_emails WHERE notice_id IS NULL")
    with op.batch_alter_table('notice_emails') as batch:
        batch.alter_column('notice_id', existing_type=sa.Integer(), nullable=False)
    op.drop_column('work_orders', 'requester_email')
