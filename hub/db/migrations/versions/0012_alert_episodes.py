"""Episode-keyed alerts and stalled gateways.

Revision ID: 0012_alert_episodes
Revises: 0011_audit_key
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0012_alert_episodes'
down_revision = '0011_audit_key'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""


def downgrade() -> None:
    """Revert this revision."""
