"""Rules carry a generation counter: ``rules_generation``, one row bumped by every change.

Rules are edited in the UI and the JSON API while the hub runs; each rules engine reads this
one row on every batch or tick and reloads its rules when the number moved.

Revision ID: 0018_rules_generation
Revises: 0017_attachments
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0018_rules_generation'
down_revision = '0017_attachments'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    table = op.create_table(
        'rules_generation',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('generation', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rules_generation')),
    )
    op.bulk_insert(table, [{'id': 1, 'generation': 0}])


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table('rules_generation')
