"""Utility meters: electricity, water, diesel and oxygen meters per site or department, read by
hand (``utility_readings``: what was used over a period, by whom) or by a gateway from the
meter's pulse output; the pulse meters' daily use rolled up from the telemetry store
(``utility_days``, one row per meter and local day) and the days whose use exceeded their
baseline (``utility_alerts``, one per meter and day).

Revision ID: 0041_utilities
Revises: 0040_manifolds
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0041_utilities'
down_revision = '0040_manifolds'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('utility_meters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('unit', sa.String(length=8), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('units_per_pulse', sa.Numeric(precision=16, scale=8), nullable=True),
    sa.Column('gateway_id', sa.String(length=64), nullable=True),
    sa.Column('channel_id', sa.String(length=128), nullable=True),
    sa.Column('baseline_weeks', sa.Integer(), nullable=False),
    sa.Column('alert_share', sa.Numeric(precision=6, scale=3), nullable=True),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('electricity', 'water', 'diesel', 'oxygen')", name=op.f('ck_utility_meters_kind_choice')),
    sa.CheckConstraint("source = 'manual' OR (units_per_pulse > 0 AND gateway_id IS NOT NULL AND channel_id IS NOT NULL)", name=op.f('ck_utility_meters_pulse_binding')),
    sa.CheckConstraint("source IN ('manual', 'pulse')", name=op.f('ck_utility_meters_source_choice')),
    sa.CheckConstraint("unit IN ('kWh', 'm3', 'L')", name=op.f('ck_utility_meters_unit_choice')),
    sa.CheckConstraint('alert_share IS NULL OR alert_share > 0', name=op.f('ck_utility_meters_alert_share_positive')),
    sa.CheckConstraint('baseline_weeks BETWEEN 1 AND 52', name=op.f('ck_utility_meters_baseline_weeks_range')),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_utility_meters_department_id_departments'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_utility_meters_site_id_sites'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_utility_meters')),
    sa.UniqueConstraint('site_id', 'name_key', name=op.f('uq_utility_meters_site_id_name_key'))
    )
    op.create_index('ix_utility_meters_gateway_channel', 'utility_meters', ['gateway_id', 'channel_id'], unique=False)
    op.create_table('utility_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meter_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=16, scale=4), nullable=False),
    sa.Column('baseline', sa.Numeric(precision=16, scale=4), nullable=False),
    sa.Column('share', sa.Numeric(precision=6, scale=3), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['meter_id'], ['utility_meters.id'], name=op.f('fk_utility_alerts_meter_id_utility_meters'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_utility_alerts')),
    sa.UniqueConstraint('meter_id', 'day', name=op.f('uq_utility_alerts_meter_id_day'))
    )
    op.create_table('utility_days',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meter_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=16, scale=4), nullable=False),
    sa.Column('pulses', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('rolled_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['meter_id'], ['utility_meters.id'], name=op.f('fk_utility_days_meter_id_utility_meters'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_utility_days')),
    sa.UniqueConstraint('meter_id', 'day', name=op.f('uq_utility_days_meter_id_day'))
    )
    op.create_index('ix_utility_days_day', 'utility_days', ['day'], unique=False)
    op.create_table('utility_readings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meter_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=16, scale=4), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('period_end >= period_start', name=op.f('ck_utility_readings_period_order')),
    sa.CheckConstraint('quantity >= 0', name=op.f('ck_utility_readings_quantity_range')),
    sa.ForeignKeyConstraint(['meter_id'], ['utility_meters.id'], name=op.f('fk_utility_readings_meter_id_utility_meters'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_utility_readings_user_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_utility_readings'))
    )
    op.create_index('ix_utility_readings_meter_id_period_end', 'utility_readings', ['meter_id', 'period_end'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index('ix_utility_readings_meter_id_period_end', table_name='utility_readings')
    op.drop_table('utility_readings')
    op.drop_index('ix_utility_days_day', table_name='utility_days')
    op.drop_table('utility_days')
    op.drop_table('utility_alerts')
    op.drop_index('ix_utility_meters_gateway_channel', table_name='utility_meters')
    op.drop_table('utility_meters')
