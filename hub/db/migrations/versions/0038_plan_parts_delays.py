"""The catalogue parts each service of a maintenance plan uses (``pm_plan_parts``, for the parts
forecast), and why work orders were delayed (``work_order_delays``: holds and reasons given for
service-level breaches, for the monthly repairs list).

Revision ID: 0038_plan_parts_delays
Revises: 0037_data_stamps
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0038_plan_parts_delays'
down_revision = '0037_data_stamps'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        'pm_plan_parts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('part_id', sa.Integer(), nullable=False),
        sa.Column('quantity', sa.Numeric(precision=12, scale=3), nullable=False),
        sa.CheckConstraint('quantity > 0', name=op.f('ck_pm_plan_parts_quantity_positive')),
        sa.ForeignKeyConstraint(['plan_id'], ['pm_plans.id'], name=op.f('fk_pm_plan_parts_plan_id_pm_plans'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['part_id'], ['parts.id'], name=op.f('fk_pm_plan_parts_part_id_parts'),
                                ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_pm_plan_parts')),
        sa.UniqueConstraint('plan_id', 'part_id', name=op.f('uq_pm_plan_parts_plan_id_part_id')),
    )
    op.create_index(op.f('ix_pm_plan_parts_plan_id'), 'pm_plan_parts', ['plan_id'])
    op.create_index(op.f('ix_pm_plan_parts_part_id'), 'pm_plan_parts', ['part_id'])
    op.create_table(
        'work_order_delays',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('work_order_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.Column('recorded_by', sa.String(length=100), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('hold', 'sla_breach')", name=op.f('ck_work_order_delays_kind_choice')),
        sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'],
                                name=op.f('fk_work_order_delays_work_order_id_work_orders'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'],
                                name=op.f('fk_work_order_delays_recorded_by_id_users'), ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order_delays')),
    )
    op.create_index(op.f('ix_work_order_delays_work_order_id'), 'work_order_delays', ['work_order_id'])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f('ix_work_order_delays_work_order_id'), table_name='work_order_delays')
    op.drop_table('work_order_delays')
    op.drop_index(op.f('ix_pm_plan_parts_part_id'), table_name='pm_plan_parts')
    op.drop_index(op.f('ix_pm_plan_parts_plan_id'), table_name='pm_plan_parts')
    op.drop_table('pm_plan_parts')
