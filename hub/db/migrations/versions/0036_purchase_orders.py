"""Purchase orders: the orders (supplier, number, state, who and when, expected date, notes),
their lines (part, quantity ordered, unit cost, quantity received) and the receipts that tie a
line to the ``receive`` movements of the stock ledger it wrote.

Revision ID: 0036_purchase_orders
Revises: 0035_requisitions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0036_purchase_orders'
down_revision = '0035_requisitions'
branch_labels = None
depends_on = None

STATES = "'draft', 'sent', 'partially_received', 'received', 'closed', 'cancelled'"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        'purchase_orders',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('number', sa.String(length=32), nullable=True),
        sa.Column('supplier_id', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=24), nullable=False),
        sa.Column('expected_on', sa.Date(), nullable=True),
        sa.Column('notes', sa.Text(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_by', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_by', sa.String(length=100), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.CheckConstraint(f"state IN ({STATES})", name=op.f('ck_purchase_orders_state_choice')),
        sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'],
                                name=op.f('fk_purchase_orders_supplier_id_suppliers'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'],
                                name=op.f('fk_purchase_orders_created_by_id_users'), ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_orders')),
        sa.UniqueConstraint('number', name=op.f('uq_purchase_orders_number')),
    )
    op.create_index(op.f('ix_purchase_orders_supplier_id'), 'purchase_orders', ['supplier_id'])
    op.create_index(op.f('ix_purchase_orders_state'), 'purchase_orders', ['state'])
    op.create_table(
        'purchase_order_lines',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('part_id', sa.Integer(), nullable=False),
        sa.Column('quantity', sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column('unit_cost', sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column('received', sa.Numeric(precision=12, scale=3), nullable=False),
        sa.CheckConstraint('quantity > 0', name=op.f('ck_purchase_order_lines_quantity_positive')),
        sa.CheckConstraint('received >= 0 AND received <= quantity',
                           name=op.f('ck_purchase_order_lines_received_range')),
        sa.CheckConstraint('unit_cost IS NULL OR unit_cost >= 0',
                           name=op.f('ck_purchase_order_lines_unit_cost_range')),
        sa.ForeignKeyConstraint(['order_id'], ['purchase_orders.id'],
                                name=op.f('fk_purchase_order_lines_order_id_purchase_orders'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['part_id'], ['parts.id'],
                                name=op.f('fk_purchase_order_lines_part_id_parts'), ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_order_lines')),
        sa.UniqueConstraint('order_id', 'part_id', name=op.f('uq_purchase_order_lines_order_id_part_id')),
    )
    op.create_index(op.f('ix_purchase_order_lines_order_id'), 'purchase_order_lines', ['order_id'])
    op.create_index(op.f('ix_purchase_order_lines_part_id'), 'purchase_order_lines', ['part_id'])
    op.create_table(
        'purchase_order_receipts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('line_id', sa.Integer(), nullable=False),
        sa.Column('movement_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['line_id'], ['purchase_order_lines.id'],
                                name=op.f('fk_purchase_order_receipts_line_id_purchase_order_lines'),
                                ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['movement_id'], ['stock_movements.id'],
                                name=op.f('fk_purchase_order_receipts_movement_id_stock_movements'),
                                ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_order_receipts')),
        sa.UniqueConstraint('movement_id', name=op.f('uq_purchase_order_receipts_movement_id')),
    )
    op.create_index(op.f('ix_purchase_order_receipts_line_id'), 'purchase_order_receipts', ['line_id'])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table('purchase_order_receipts')
    op.drop_table('purchase_order_lines')
    op.drop_table('purchase_orders')
