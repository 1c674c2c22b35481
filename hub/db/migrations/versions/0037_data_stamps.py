"""Change counters of the answers the hub keeps in memory: ``data_stamps``, with the PM
calendar's counter (``pm_calendar``) starting from a random number (see
``wardlink.hub.db.stamps``).

Revision ID: 0037_data_stamps
Revises: 0036_purchase_orders
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = '0037_data_stamps'
down_revision = '0036_purchase_orders'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    stamps = op.create_table(
        'data_stamps',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('version', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_data_stamps')),
    )
    op.bulk_insert(stamps, [{"name": "pm_calendar", "version": secrets.randbits(48)}])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table('data_stamps')
