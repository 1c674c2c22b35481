"""Episode-keyed alerts and stalled gateways.

``alert_lifecycle.episode_ms`` is when the condition of a rule's alert began, on the readings'
(gateway's) clock, and ``episode_end_ms`` the reading that ended it. An alert's identity is
(rule, subject, episode start): the unique key lets two ingest workers that find the same
episode (a backlog replayed over both) open one alert between them. Alerts opened before this
revision have no episode.

Revision ID: 0012_alert_episodes
Revises: 0011_audit_key
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012_alert_episodes'
down_revision = '0011_audit_key'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('alert_lifecycle') as batch:
        batch.add_column(sa.Column('episode_ms', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('episode_end_ms', sa.BigInteger(), nullable=True))
        batch.create_unique_constraint(batch.f('uq_alert_lifecycle_rule_id_subject_episode_ms'),
                                       ['rule_id', 'subject', 'episode_ms'])


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('alert_lifecycle') as batch:
        batch.drop_constraint(batch.f('uq_alert_lifecycle_rule_id_subject_episode_ms'), type_='unique')
        batch.drop_column('episode_end_ms')
        batch.drop_column('episode_ms')
