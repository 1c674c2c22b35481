"""Per-gateway batch sequence tracking, so the hub can find gaps and ask for a resend.

Revision ID: 0009_batch_sequence
Revises: 0008_gateway_clock
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0009_batch_sequence'
down_revision = '0008_gateway_clock'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""


def downgrade() -> None:
    """Revert this revision."""
