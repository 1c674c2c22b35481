"""Equipment status history and tag-out.

``asset_status_history`` holds one row per stretch of an asset's equipment status (start,
end, why, who, the work order behind it); uptime and availability are computed from it.
Assets gain the ``tagged_out`` status ("do not use") with who, when and why, and the work
order whose closing with a passing safety check clears it; work orders record that check.
Every existing asset gets one open history row in its current status from its registration.

Revision ID: 0014_equipment_status
Revises: 0013_ingest_tables
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014_equipment_status'
down_revision = '0013_ingest_tables'
branch_labels = None
depends_on = None

OLD_STATUSES = "equipment_status IN ('in_service', 'out_of_service', 'faulty', 'retired')"
NEW_STATUSES = "equipment_status IN ('in_service', 'out_of_service', 'faulty', 'tagged_out', 'retired')"
HISTORY_STATUSES = "status IN ('in_service', 'out_of_service', 'faulty', 'tagged_out', 'retired')"

def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('assets') as batch:
        batch.add_column(sa.Column('tagout_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('tagout_by', sa.String(length=100), server_default='', nullable=False))
        batch.add_column(sa.Column('tagout_reason', sa.Text(), server_default='', nullable=False))
        batch.add_column(sa.Column('tagout_work_order_id', sa.Integer(), nullable=True))
        batch.drop_constraint(batch.f('ck_assets_equipment_status_choice'), type_='check')
        batch.create_check_constraint(batch.f('ck_assets_equipment_status_choice'), sa.text(NEW_STATUSES))
    with op.batch_alter_table('work_orders') as batch:
        batch.add_column(sa.Column('safety_check', sa.String(length=8), nullable=True))
        batch.create_check_constraint(batch.f('ck_work_orders_safety_check_choice'),
                                      sa.text("safety_check IS NULL OR safety_check IN ('pass', 'fail')"))
    op.create_table(
        'asset_status_history',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('asset_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('changed_by', sa.String(length=100), nullable=False),
        sa.Column('work_order_id', sa.Integer(), nullable=True),
        sa.CheckConstraint(HISTORY_STATUSES, name=op.f('ck_asset_status_history_status_choice')),
        sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_asset_status_history_asset_id_assets'),
                                ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_asset_status_history')),
    )
    op.create_index('ix_asset_status_history_asset_started', 'asset_status_history', ['asset_id', 'started_at'])
    op.execute(
        "INSERT INTO asset_status_history (asset_id, status, started_at, ended_at, reason, changed_by) "
        "SELECT id, equipment_status, created_at, NULL, 'status when the history began', 'migration' "
        "FROM assets")

def downgrade() -> None:
    """Revert this revision."""
    op.drop_index('ix_asset_status_history_asset_started', table_name='asset_status_history')
    op.drop_table('asset_status_history')
    with op.batch_alter_table('work_orders') as batch:
        batch.drop_constraint(batch.f('ck_work_orders_safety_check_choice'), type_='check')
        batch.drop_column('safety_check')
    op.execute("UPDATE assets SET equipment_status = 'out_of_service' WHERE equipment_status = 'tagged_out'")
    with op.batch_alter_table('assets') as batch:
        batch.drop_constraint(batch.f('ck_assets_equipment_status_choice'), type_='check')
        batch.create_check_constraint(batch.f('ck_assets_equipment_status_choice'), sa.text(OLD_STATUSES))
        batch.drop_column('tagout_work_order_id')
        batch.drop_column('tagout_reason')
        batch.drop_column('tagout_by')
        batch.drop_column('tagout_at')
