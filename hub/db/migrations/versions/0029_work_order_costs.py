"""What work orders cost beyond parts: labour rates per role or per person, and vendor charges
recorded on work orders.

Revision ID: 0029_work_order_costs
Revises: 0028_inventory
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0029_work_order_costs'
down_revision = '0028_inventory'
branch_labels = None
depends_on = None

_ROLES = "'admin', 'manager', 'technician', 'staff', 'procurement', 'vendor', 'viewer'"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        'labour_rates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=True),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('hourly_rate', sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('(role IS NULL) <> (user_id IS NULL)', name=op.f('ck_labour_rates_role_or_user')),
        sa.CheckConstraint('hourly_rate >= 0', name=op.f('ck_labour_rates_hourly_rate_range')),
        sa.CheckConstraint(f'role IS NULL OR role IN ({_ROLES})', name=op.f('ck_labour_rates_role_choice')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_labour_rates_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_labour_rates')),
        sa.UniqueConstraint('role', name=op.f('uq_labour_rates_role')),
        sa.UniqueConstraint('user_id', name=op.f('uq_labour_rates_user_id')),
    )
    op.create_table(
        'work_order_charges',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('work_order_id', sa.Integer(), nullable=False),
        sa.Column('supplier_id', sa.Integer(), nullable=True),
        sa.Column('vendor', sa.String(length=200), nullable=False),
        sa.Column('description', sa.String(length=300), nullable=False),
        sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column('reference', sa.String(length=100), nullable=False),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.Column('recorded_by', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('amount >= 0', name=op.f('ck_work_order_charges_amount_range')),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'],
                                name=op.f('fk_work_order_charges_recorded_by_id_users'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'],
                                name=op.f('fk_work_order_charges_supplier_id_suppliers'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'],
                                name=op.f('fk_work_order_charges_work_order_id_work_orders'), ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order_charges')),
    )
    op.create_index(op.f('ix_work_order_charges_work_order_id'), 'work_order_charges', ['work_order_id'])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f('ix_work_order_charges_work_order_id'), table_name='work_order_charges')
    op.drop_table('work_order_charges')
    op.drop_table('labour_rates')
