"""What the rules engine said about an alert, as messages a page writes in the reader's language.

``alerts.title_message``, ``detail_message`` and ``resolution_message`` hold an English template
and its values (JSON) beside the English ``title``, ``detail`` and ``resolution_note``, which stay
for the JSON API, webhooks, the command line and the alerts raised before this revision.

Revision ID: 0041_alert_messages
Revises: 0040_manifolds
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0041_alert_messages'
down_revision = '0040_manifolds'
branch_labels = None
depends_on = None

COLUMNS = ('title_message', 'detail_message', 'resolution_message')


def upgrade() -> None:
    """Apply this revision."""
    for name in COLUMNS:
        op.add_column('alerts', sa.Column(name, sa.JSON(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    for name in reversed(COLUMNS):
        op.drop_column('alerts', name)
