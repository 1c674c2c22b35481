"""Rules engine: rule definitions and states, gateway status as the rules see it, alert
lifecycle (rule, subject, historical, shelving, escalation, work order), asset meters
(run-hours) and the notification outbox.

Revision ID: 0002_rules
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002_rules'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('rule_gateways',
    sa.Column('gateway', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('boot', sa.String(length=64), nullable=True),
    sa.Column('since_ms', sa.BigInteger(), nullable=False),
    sa.Column('status_ms', sa.BigInteger(), nullable=False),
    sa.Column('buffer_depth', sa.BigInteger(), nullable=True),
    sa.Column('oldest_unsent_ms', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('gateway', name=op.f('pk_rule_gateways'))
    )
    op.create_table('rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('match', sa.JSON(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('notify', sa.JSON(), nullable=False),
    sa.Column('escalate', sa.JSON(), nullable=False),
    sa.Column('work_order', sa.JSON(), nullable=True),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('threshold', 'rate_of_change', 'channel_silent', 'gateway_offline', 'gateway_buffering', 'state_duration', 'battery_low', 'presence_mismatch', 'run_hours')", name=op.f('ck_rules_kind_choice')),
    sa.CheckConstraint("severity IN ('info', 'warning', 'critical')", name=op.f('ck_rules_severity_choice')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rules')),
    sa.UniqueConstraint('name', name=op.f('uq_rules_name'))
    )
    op.create_table('rule_states',
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('gateway', sa.String(length=64), nullable=True),
    sa.Column('channel', sa.String(length=128), nullable=True),
    sa.Column('asset', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('last_ts_ms', sa.BigInteger(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['rule_id'], ['rules.id'], name=op.f('fk_rule_states_rule_id_rules'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('rule_id', 'key', name=op.f('pk_rule_states'))
    )
    with op.batch_alter_table('rule_states', schema=None) as batch_op:
        batch_op.create_index('ix_rule_states_rule_subject', ['rule_id', 'subject'], unique=False)

    op.create_table('asset_meters',
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('meter', sa.String(length=64), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('last_ts_ms', sa.BigInteger(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_asset_meters_asset_id_assets'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('asset_id', 'meter', name=op.f('pk_asset_meters'))
    )
    op.create_table('notification_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=True),
    sa.Column('target', sa.String(length=64), nullable=False),
    sa.Column('event', sa.String(length=16), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("event IN ('opened', 'historical', 'escalated', 'acknowledged', 'shelved', 'resolved')", name=op.f('ck_notification_outbox_event_choice')),
    sa.CheckConstraint("state IN ('pending', 'sent', 'failed')", name=op.f('ck_notification_outbox_state_choice')),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_notification_outbox_alert_id_alerts'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_outbox'))
    )
    with op.batch_alter_table('notification_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_outbox_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index('ix_notification_outbox_due', ['state', 'next_attempt_at'], unique=False)

    op.create_table('alert_lifecycle',
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=True),
    sa.Column('subject', sa.String(length=300), nullable=True),
    sa.Column('open_key', sa.String(length=300), nullable=True),
    sa.Column('historical', sa.Boolean(), nullable=False),
    sa.Column('condition_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('shelved_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('shelved_by_id', sa.Integer(), nullable=True),
    sa.Column('shelve_note', sa.Text(), nullable=False),
    sa.Column('shelve_notified', sa.Boolean(), nullable=False),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ack_notified', sa.Boolean(), nullable=False),
    sa.Column('work_order_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_lifecycle_alert_id_alerts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['rule_id'], ['rules.id'], name=op.f('fk_alert_lifecycle_rule_id_rules'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['shelved_by_id'], ['users.id'], name=op.f('fk_alert_lifecycle_shelved_by_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_alert_lifecycle_work_order_id_work_orders'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('alert_id', name=op.f('pk_alert_lifecycle')),
    sa.UniqueConstraint('rule_id', 'open_key', name=op.f('uq_alert_lifecycle_rule_id_open_key'))
    )
    with op.batch_alter_table('alert_lifecycle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_lifecycle_rule_id'), ['rule_id'], unique=False)



def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('alert_lifecycle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_lifecycle_rule_id'))

    op.drop_table('alert_lifecycle')
    with op.batch_alter_table('notification_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_outbox_due')
        batch_op.drop_index(batch_op.f('ix_notification_outbox_alert_id'))

    op.drop_table('notification_outbox')
    op.drop_table('asset_meters')
    with op.batch_alter_table('rule_states', schema=None) as batch_op:
        batch_op.drop_index('ix_rule_states_rule_subject')

    op.drop_table('rule_states')
    op.drop_table('rules')
    op.drop_table('rule_gateways')
