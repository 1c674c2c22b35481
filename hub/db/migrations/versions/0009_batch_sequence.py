"""Per-gateway batch sequence tracking, so the hub can find gaps and ask for a resend.

No schema change in this revision: the state lives in ``ingest_batch_sequence``, one of the
ingest tables that ingest workers of this version created themselves when they started, like
the dead letters, events and gateway state it sits beside (revision ``0013_ingest_tables``
brought them all into the migrations). The revision keeps its place in the chain.

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
