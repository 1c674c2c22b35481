"""Preventive maintenance: checklist templates and versions, PM plans, occurrences (one per
due service, unique per plan, asset and due date), meter readings, checklist results, and
the scheduler's leader lease and job records.

Revision ID: 0004_pm
Revises: 0003_work_orders
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004_pm'
down_revision = '0003_work_orders'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('checklist_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('current_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checklist_templates')),
    sa.UniqueConstraint('name', name=op.f('uq_checklist_templates_name'))
    )
    op.create_table('scheduler_jobs',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=128), nullable=False),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_ok_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('last_summary', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_scheduler_jobs'))
    )
    op.create_table('scheduler_leases',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=128), nullable=False),
    sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('renewed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_scheduler_leases'))
    )
    op.create_table('checklist_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['template_id'], ['checklist_templates.id'], name=op.f('fk_checklist_versions_template_id_checklist_templates'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checklist_versions')),
    sa.UniqueConstraint('template_id', 'version', name=op.f('uq_checklist_versions_template_id_version'))
    )
    op.create_table('pm_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=True),
    sa.Column('make', sa.String(length=100), nullable=True),
    sa.Column('model', sa.String(length=100), nullable=True),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('interval_count', sa.Integer(), nullable=True),
    sa.Column('interval_unit', sa.String(length=8), nullable=True),
    sa.Column('meter', sa.String(length=64), nullable=True),
    sa.Column('meter_interval', sa.Float(), nullable=True),
    sa.Column('meter_lead', sa.Float(), nullable=False),
    sa.Column('anchor_date', sa.Date(), nullable=False),
    sa.Column('anchor_meter', sa.Float(), nullable=True),
    sa.Column('lead_days', sa.Integer(), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('checklist_template_id', sa.Integer(), nullable=True),
    sa.Column('instructions', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("interval_unit IS NULL OR interval_unit IN ('day', 'week', 'month', 'year')", name=op.f('ck_pm_plans_interval_unit_choice')),
    sa.CheckConstraint("priority IN ('low', 'medium', 'high', 'critical')", name=op.f('ck_pm_plans_priority_choice')),
    sa.CheckConstraint("trigger IN ('calendar', 'meter', 'whichever_first')", name=op.f('ck_pm_plans_trigger_choice')),
    sa.CheckConstraint('(asset_id IS NOT NULL AND make IS NULL AND model IS NULL) OR (asset_id IS NULL AND make IS NOT NULL AND model IS NOT NULL)', name=op.f('ck_pm_plans_target')),
    sa.CheckConstraint('lead_days >= 0', name=op.f('ck_pm_plans_lead_days_range')),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_pm_plans_asset_id_assets'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['checklist_template_id'], ['checklist_templates.id'], name=op.f('fk_pm_plans_checklist_template_id_checklist_templates'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pm_plans'))
    )
    with op.batch_alter_table('pm_plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pm_plans_asset_id'), ['asset_id'], unique=False)

    op.create_table('checklist_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('work_order_id', sa.Integer(), nullable=False),
    sa.Column('checklist_version_id', sa.Integer(), nullable=False),
    sa.Column('results', sa.JSON(), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('complete', sa.Boolean(), nullable=False),
    sa.Column('meter_value', sa.Float(), nullable=True),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['checklist_version_id'], ['checklist_versions.id'], name=op.f('fk_checklist_results_checklist_version_id_checklist_versions'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_checklist_results_recorded_by_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_checklist_results_work_order_id_work_orders'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checklist_results')),
    sa.UniqueConstraint('work_order_id', name=op.f('uq_checklist_results_work_order_id'))
    )
    op.create_table('meter_readings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('meter', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('telemetry_seconds', sa.Float(), nullable=True),
    sa.Column('work_order_id', sa.Integer(), nullable=True),
    sa.Column('entered_by', sa.String(length=100), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_meter_readings_asset_id_assets'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_meter_readings_work_order_id_work_orders'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meter_readings'))
    )
    with op.batch_alter_table('meter_readings', schema=None) as batch_op:
        batch_op.create_index('ix_meter_readings_asset_meter_at', ['asset_id', 'meter', 'read_at'], unique=False)

    op.create_table('pm_occurrences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('due_meter', sa.Float(), nullable=True),
    sa.Column('window_days', sa.Integer(), nullable=False),
    sa.Column('meter_tolerance', sa.Float(), nullable=True),
    sa.Column('high_risk', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('work_order_id', sa.Integer(), nullable=True),
    sa.Column('checklist_version_id', sa.Integer(), nullable=True),
    sa.Column('generated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_on', sa.Date(), nullable=True),
    sa.Column('completion_meter', sa.Float(), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('open', 'completed', 'skipped', 'cancelled')", name=op.f('ck_pm_occurrences_state_choice')),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_pm_occurrences_asset_id_assets'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['checklist_version_id'], ['checklist_versions.id'], name=op.f('fk_pm_occurrences_checklist_version_id_checklist_versions'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['plan_id'], ['pm_plans.id'], name=op.f('fk_pm_occurrences_plan_id_pm_plans'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_pm_occurrences_work_order_id_work_orders'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pm_occurrences')),
    sa.UniqueConstraint('plan_id', 'asset_id', 'due_date', name=op.f('uq_pm_occurrences_plan_id_asset_id_due_date')),
    sa.UniqueConstraint('plan_id', 'asset_id', 'seq', name=op.f('uq_pm_occurrences_plan_id_asset_id_seq')),
    sa.UniqueConstraint('work_order_id', name=op.f('uq_pm_occurrences_work_order_id'))
    )
    with op.batch_alter_table('pm_occurrences', schema=None) as batch_op:
        batch_op.create_index('ix_pm_occurrences_asset_state', ['asset_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_pm_occurrences_due_date'), ['due_date'], unique=False)



def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('pm_occurrences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pm_occurrences_due_date'))
        batch_op.drop_index('ix_pm_occurrences_asset_state')

    op.drop_table('pm_occurrences')
    with op.batch_alter_table('meter_readings', schema=None) as batch_op:
        batch_op.drop_index('ix_meter_readings_asset_meter_at')

    op.drop_table('meter_readings')
    op.drop_table('checklist_results')
    with op.batch_alter_table('pm_plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pm_plans_asset_id'))

    op.drop_table('pm_plans')
    op.drop_table('checklist_versions')
    op.drop_table('scheduler_leases')
    op.drop_table('scheduler_jobs')
    op.drop_table('checklist_templates')
