"""Files on assets, and photos on checklist items.

``asset_attachments`` keeps the files attached to an asset (stored by content hash, like a
work order's); ``work_order_attachments.checklist_item`` names the checklist item a work
order's file was taken for (NULL for a file of the order as a whole).

Revision ID: 0017_attachments
Revises: 0016_pm_plan_assignment
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017_attachments'
down_revision = '0016_pm_plan_assignment'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        'asset_attachments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('asset_id', sa.Integer(), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('content_type', sa.String(length=100), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
        sa.Column('uploaded_by', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_asset_attachments_asset_id_assets'),
                                ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'],
                                name=op.f('fk_asset_attachments_uploaded_by_id_users'), ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_asset_attachments')),
    )
    op.create_index(op.f('ix_asset_attachments_asset_id'), 'asset_attachments', ['asset_id'])
    op.create_index(op.f('ix_asset_attachments_sha256'), 'asset_attachments', ['sha256'])
    with op.batch_alter_table('work_order_attachments') as batch:
        batch.add_column(sa.Column('checklist_item', sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('work_order_attachments') as batch:
        batch.drop_column('checklist_item')
    op.drop_index(op.f('ix_asset_attachments_sha256'), table_name='asset_attachments')
    op.drop_index(op.f('ix_asset_attachments_asset_id'), table_name='asset_attachments')
    op.drop_table('asset_attachments')
