"""Requisitions for work and repairs: the requisitions (code per year, requesting and assigned
departments, priority, due date, escalation stamp, the work order it became) and their
append-only movements.

Revision ID: 0035_requisitions
Revises: 0034_consumables
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0035_requisitions'
down_revision = '0034_consumables'
branch_labels = None
depends_on = None

_STATES = "'submitted', 'received', 'in_review', 'approved', 'rejected', 'in_execution', 'delivered', 'closed'"
_ACTIONS = ("'submit', 'receive', 'review', 'approve', 'reject', 'execute', 'deliver', 'close', 'escalate', "
            "'work_order'")
_SIDES = "'requester', 'assigned_staff', 'assigned_manager', 'system'"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        'requisitions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=32), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('serial', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('priority', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('requesting_department_id', sa.Integer(), nullable=False),
        sa.Column('requested_by_id', sa.Integer(), nullable=True),
        sa.Column('assigned_department_id', sa.Integer(), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('work_order_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"status IN ({_STATES})", name=op.f('ck_requisitions_status_choice')),
        sa.CheckConstraint("priority IN ('low', 'medium', 'high', 'critical')",
                           name=op.f('ck_requisitions_priority_choice')),
        sa.ForeignKeyConstraint(['requesting_department_id'], ['departments.id'],
                                name=op.f('fk_requisitions_requesting_department_id_departments'),
                                ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['assigned_department_id'], ['departments.id'],
                                name=op.f('fk_requisitions_assigned_department_id_departments'),
                                ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_requisitions_requested_by_id_users'),
                                ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'],
                                name=op.f('fk_requisitions_work_order_id_work_orders'), ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_requisitions')),
        sa.UniqueConstraint('code', name=op.f('uq_requisitions_code')),
        sa.UniqueConstraint('work_order_id', name=op.f('uq_requisitions_work_order_id')),
        sa.UniqueConstraint('year', 'serial', name='uq_requisitions_year_serial'),
    )
    op.create_index(op.f('ix_requisitions_status'), 'requisitions', ['status'])
    op.create_index(op.f('ix_requisitions_due_on'), 'requisitions', ['due_on'])
    op.create_index(op.f('ix_requisitions_requesting_department_id'), 'requisitions', ['requesting_department_id'])
    op.create_index(op.f('ix_requisitions_assigned_department_id'), 'requisitions', ['assigned_department_id'])
    op.create_table(
        'requisition_movements',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('requisition_id', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('from_role', sa.String(length=16), nullable=False),
        sa.Column('to_role', sa.String(length=16), nullable=False),
        sa.Column('from_status', sa.String(length=16), nullable=False),
        sa.Column('to_status', sa.String(length=16), nullable=False),
        sa.Column('remarks', sa.Text(), nullable=False),
        sa.Column('by_id', sa.Integer(), nullable=True),
        sa.Column('by_name', sa.String(length=100), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"action IN ({_ACTIONS})", name=op.f('ck_requisition_movements_action_choice')),
        sa.CheckConstraint(f"from_role IN ({_SIDES})", name=op.f('ck_requisition_movements_from_role_choice')),
        sa.CheckConstraint(f"to_role IN ({_SIDES})", name=op.f('ck_requisition_movements_to_role_choice')),
        sa.ForeignKeyConstraint(['requisition_id'], ['requisitions.id'],
                                name=op.f('fk_requisition_movements_requisition_id_requisitions'),
                                ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['by_id'], ['users.id'], name=op.f('fk_requisition_movements_by_id_users'),
                                ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_requisition_movements')),
    )
    op.create_index(op.f('ix_requisition_movements_requisition_id'), 'requisition_movements', ['requisition_id'])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f('ix_requisition_movements_requisition_id'), table_name='requisition_movements')
    op.drop_table('requisition_movements')
    op.drop_index(op.f('ix_requisitions_assigned_department_id'), table_name='requisitions')
    op.drop_index(op.f('ix_requisitions_requesting_department_id'), table_name='requisitions')
    op.drop_index(op.f('ix_requisitions_due_on'), table_name='requisitions')
    op.drop_index(op.f('ix_requisitions_status'), table_name='requisitions')
    op.drop_table('requisitions')
