"""The audit chain keyed with a secret outside the database.

Revision ID: 0011_audit_key
Revises: 0010_revocable_sessions
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0011_audit_key'
down_revision = '0010_revocable_sessions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""


def downgrade() -> None:
    """Revert this revision."""
