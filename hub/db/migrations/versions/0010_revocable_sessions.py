"""Revocable sign-in sessions.

Revision ID: 0010_revocable_sessions
Revises: 0009_batch_sequence
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0010_revocable_sessions'
down_revision = '0009_batch_sequence'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""


def downgrade() -> None:
    """Revert this revision."""
