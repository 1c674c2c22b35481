"""Service contracts and warranties: the contracts (with a listed supplier, or a vendor's
name), the assets each covers, and the expiry warnings given (once per contract, threshold and
end date).

Revision ID: 0031_service_contracts
Revises: 0030_languages
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0031_service_contracts'
down_revision = '0030_languages'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        'service_contracts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('reference', sa.String(length=64), nullable=False),
        sa.Column('reference_key', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('supplier_id', sa.Integer(), nullable=True),
        sa.Column('vendor_name', sa.String(length=200), nullable=False),
        sa.Column('vendor_contact', sa.String(length=300), nullable=False),
        sa.Column('covers_parts', sa.Boolean(), nullable=False),
        sa.Column('covers_labour', sa.Boolean(), nullable=False),
        sa.Column('covers_pm', sa.Boolean(), nullable=False),
        sa.Column('starts_on', sa.Date(), nullable=False),
        sa.Column('ends_on', sa.Date(), nullable=False),
        sa.Column('cost', sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column('response_hours', sa.Integer(), nullable=True),
        sa.Column('notes', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('service', 'warranty')", name=op.f('ck_service_contracts_kind_choice')),
        sa.CheckConstraint('ends_on >= starts_on', name=op.f('ck_service_contracts_term_order')),
        sa.CheckConstraint('response_hours IS NULL OR response_hours BETWEEN 1 AND 8760',
                           name=op.f('ck_service_contracts_response_hours_range')),
        sa.CheckConstraint('cost IS NULL OR cost >= 0', name=op.f('ck_service_contracts_cost_positive')),
        sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'],
                                name=op.f('fk_service_contracts_supplier_id_suppliers'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_service_contracts')),
        sa.UniqueConstraint('reference_key', name=op.f('uq_service_contracts_reference_key')),
    )
    op.create_index(op.f('ix_service_contracts_ends_on'), 'service_contracts', ['ends_on'])
    op.create_index(op.f('ix_service_contracts_supplier_id'), 'service_contracts', ['supplier_id'])
    op.create_table(
        'service_contract_assets',
        sa.Column('contract_id', sa.Integer(), nullable=False),
        sa.Column('asset_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['contract_id'], ['service_contracts.id'],
                                name=op.f('fk_service_contract_assets_contract_id_service_contracts'),
                                ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['asset_id'], ['assets.id'],
                                name=op.f('fk_service_contract_assets_asset_id_assets'), ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('contract_id', 'asset_id', name=op.f('pk_service_contract_assets')),
    )
    op.create_index(op.f('ix_service_contract_assets_asset_id'), 'service_contract_assets', ['asset_id'])
    op.create_table(
        'service_contract_warnings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('contract_id', sa.Integer(), nullable=False),
        sa.Column('threshold_days', sa.Integer(), nullable=False),
        sa.Column('ends_on', sa.Date(), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('told', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['contract_id'], ['service_contracts.id'],
                                name=op.f('fk_service_contract_warnings_contract_id_service_contracts'),
                                ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_service_contract_warnings')),
        sa.UniqueConstraint('contract_id', 'threshold_days', 'ends_on', name='uq_service_contract_warnings_once'),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table('service_contract_warnings')
    op.drop_index(op.f('ix_service_contract_assets_asset_id'), table_name='service_contract_assets')
    op.drop_table('service_contract_assets')
    op.drop_index(op.f('ix_service_contracts_supplier_id'), table_name='service_contracts')
    op.drop_index(op.f('ix_service_contracts_ends_on'), table_name='service_contracts')
    op.drop_table('service_contracts')
