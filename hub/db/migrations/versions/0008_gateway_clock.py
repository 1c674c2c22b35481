"""The rules engine keeps each gateway's clock offset, from its newest status.

``rule_gateways.status_ts_ms`` is the gateway's own timestamp on the newest online status the
engine applied, and ``clock_offset_ms`` the hub's receipt time minus that timestamp: how far
the gateway's clock runs behind (positive) or ahead (negative) of the hub's. Durations that
start at a gateway timestamp (a door open since...) and the lateness of events are judged
on the gateway's clock with it.

Revision ID: 0008_gateway_clock
Revises: 0007_admin_lists
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008_gateway_clock'
down_revision = '0007_admin_lists'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('rule_gateways') as batch:
        batch.add_column(sa.Column('status_ts_ms', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('clock_offset_ms', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('rule_gateways') as batch:
        batch.drop_column('clock_offset_ms')
        batch.drop_column('status_ts_ms')
