"""Spare parts and stock: suppliers and their contacts, the parts catalogue with the equipment
models each part fits and kits of parts, stock locations and their bins, stock per part and bin,
the append-only stock ledger, adjustments waiting for a manager's approval, and parts picked
for work orders.

The ledger (``stock_movements``) refuses UPDATE and DELETE in the database as well as in the
ORM: a mistake is corrected by a new movement, never by rewriting one.

Revision ID: 0028_inventory
Revises: 0027_reporting_views
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0028_inventory'
down_revision = '0027_reporting_views'
branch_labels = None
depends_on = None

_SQLITE_GUARDS = {"stock_movements_no_update": "UPDATE", "stock_movements_no_delete": "DELETE"}


def upgrade() -> None:
    """Apply this revision."""
    _tables()
    _ledger_guard()


def _tables() -> None:
    op.create_table('part_kits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_key', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_part_kits')),
    sa.UniqueConstraint('name_key', name=op.f('uq_part_kits_name_key'))
    )
    op.create_table('suppliers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_key', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('phone', sa.String(length=64), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('website', sa.String(length=300), nullable=False),
    sa.Column('lead_time_days', sa.Integer(), nullable=True),
    sa.Column('payment_terms', sa.String(length=200), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('lead_time_days IS NULL OR (lead_time_days BETWEEN 0 AND 3650)', name=op.f('ck_suppliers_lead_time_days_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suppliers')),
    sa.UniqueConstraint('name_key', name=op.f('uq_suppliers_name_key'))
    )
    op.create_table('supplier_contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('phone', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_supplier_contacts_supplier_id_suppliers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supplier_contacts'))
    )
    op.create_index(op.f('ix_supplier_contacts_supplier_id'), 'supplier_contacts', ['supplier_id'], unique=False)
    op.create_table('stock_locations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('code_key', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_stock_locations_location_id_locations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_stock_locations_site_id_sites'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_locations')),
    sa.UniqueConstraint('code_key', name=op.f('uq_stock_locations_code_key'))
    )
    op.create_index(op.f('ix_stock_locations_site_id'), 'stock_locations', ['site_id'], unique=False)
    op.create_table('stock_bins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stock_location_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('code_key', sa.String(length=32), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['stock_location_id'], ['stock_locations.id'], name=op.f('fk_stock_bins_stock_location_id_stock_locations'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_bins')),
    sa.UniqueConstraint('stock_location_id', 'code_key', name=op.f('uq_stock_bins_stock_location_id_code_key'))
    )
    op.create_table('parts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('sku_key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('manufacturer', sa.String(length=100), nullable=False),
    sa.Column('manufacturer_part_number', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('unit_cost', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('reorder_level', sa.Numeric(precision=12, scale=3), nullable=False),
    sa.Column('reorder_quantity', sa.Numeric(precision=12, scale=3), nullable=False),
    sa.Column('preferred_supplier_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('low_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('low_alert_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("unit IN ('each', 'pair', 'set', 'box', 'pack', 'roll', 'm', 'l', 'ml', 'kg', 'g')", name=op.f('ck_parts_unit_choice')),
    sa.CheckConstraint('reorder_level >= 0', name=op.f('ck_parts_reorder_level_range')),
    sa.CheckConstraint('reorder_quantity >= 0', name=op.f('ck_parts_reorder_quantity_range')),
    sa.CheckConstraint('unit_cost IS NULL OR unit_cost >= 0', name=op.f('ck_parts_unit_cost_range')),
    sa.ForeignKeyConstraint(['low_alert_id'], ['alerts.id'], name=op.f('fk_parts_low_alert_id_alerts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['preferred_supplier_id'], ['suppliers.id'], name=op.f('fk_parts_preferred_supplier_id_suppliers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_parts')),
    sa.UniqueConstraint('sku_key', name=op.f('uq_parts_sku_key'))
    )
    op.create_index(op.f('ix_parts_category'), 'parts', ['category'], unique=False)
    op.create_index(op.f('ix_parts_low_since'), 'parts', ['low_since'], unique=False)
    op.create_index(op.f('ix_parts_manufacturer_part_number'), 'parts', ['manufacturer_part_number'], unique=False)
    op.create_index(op.f('ix_parts_name'), 'parts', ['name'], unique=False)
    op.create_index(op.f('ix_parts_preferred_supplier_id'), 'parts', ['preferred_supplier_id'], unique=False)
    op.create_table('part_kit_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kit_id', sa.Integer(), nullable=False),
    sa.Column('part_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=12, scale=3), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_part_kit_items_quantity_positive')),
    sa.ForeignKeyConstraint(['kit_id'], ['part_kits.id'], name=op.f('fk_part_kit_items_kit_id_part_kits'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['part_id'], ['parts.id'], name=op.f('fk_part_kit_items_part_id_parts'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_part_kit_items')),
    sa.UniqueConstraint('kit_id', 'part_id', name=op.f('uq_part_kit_items_kit_id_part_id'))
    )
    op.create_index(op.f('ix_part_kit_items_part_id'), 'part_kit_items', ['part_id'], unique=False)
    op.create_table('part_models',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('part_id', sa.Integer(), nullable=False),
    sa.Column('make', sa.String(length=100), nullable=False),
    sa.Column('model', sa.String(length=100), nullable=False),
    sa.Column('make_key', sa.String(length=100), nullable=False),
    sa.Column('model_key', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['part_id'], ['parts.id'], name=op.f('fk_part_models_part_id_parts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_part_models')),
    sa.UniqueConstraint('part_id', 'make_key', 'model_key', name=op.f('uq_part_models_part_id_make_key_model_key'))
    )
    op.create_index('ix_part_models_model_key', 'part_models', ['model_key', 'make_key'], unique=False)
    op.create_table('stock_levels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('part_id', sa.Integer(), nullable=False),
    sa.Column('bin_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=12, scale=3), nullable=False),
    sa.CheckConstraint('quantity >= 0', name=op.f('ck_stock_levels_quantity_not_negative')),
    sa.ForeignKeyConstraint(['bin_id'], ['stock_bins.id'], name=op.f('fk_stock_levels_bin_id_stock_bins'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['part_id'], ['parts.id'], name=op.f('fk_stock_levels_part_id_parts'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_levels')),
    sa.UniqueConstraint('part_id', 'bin_id', name=op.f('uq_stock_levels_part_id_bin_id'))
    )
    op.create_index(op.f('ix_stock_levels_bin_id'), 'stock_levels', ['bin_id'], unique=False)
    op.create_table('stock_movements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('part_id', sa.Integer(), nullable=False),
    sa.Column('bin_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=12, scale=3), nullable=False),
    sa.Column('balance', sa.Numeric(precision=12, scale=3), nullable=False),
    sa.Column('unit_cost', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('work_order_id', sa.Integer(), nullable=True),
    sa.Column('supplier_id', sa.Integer(), nullable=True),
    sa.Column('related_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('approved_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('receive', 'issue', 'return', 'transfer_out', 'transfer_in', 'adjust', 'count')", name=op.f('ck_stock_movements_kind_choice')),
    sa.CheckConstraint('balance >= 0', name=op.f('ck_stock_movements_balance_not_negative')),
    sa.CheckConstraint('quantity <> 0', name=op.f('ck_stock_movements_quantity_not_zero')),
    sa.ForeignKeyConstraint(['approved_by_id'], ['users.id'], name=op.f('fk_stock_movements_approved_by_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['bin_id'], ['stock_bins.id'], name=op.f('fk_stock_movements_bin_id_stock_bins'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['part_id'], ['parts.id'], name=op.f('fk_stock_movements_part_id_parts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['related_id'], ['stock_movements.id'], name=op.f('fk_stock_movements_related_id_stock_movements'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_stock_movements_supplier_id_suppliers'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_stock_movements_user_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_stock_movements_work_order_id_work_orders'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_movements'))
    )
    op.create_index(op.f('ix_stock_movements_bin_id'), 'stock_movements', ['bin_id'], unique=False)
    op.create_index('ix_stock_movements_part_id_id', 'stock_movements', ['part_id', 'id'], unique=False)
    op.create_index(op.f('ix_stock_movements_work_order_id'), 'stock_movements', ['work_order_id'], unique=False)
    op.create_table('stock_adjustments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('part_id', sa.Integer(), nullable=False),
    sa.Column('bin_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=12, scale=3), nullable=False),
    sa.Column('counted', sa.Numeric(precision=12, scale=3), nullable=True),
    sa.Column('expected', sa.Numeric(precision=12, scale=3), nullable=True),
    sa.Column('value', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('requested_by', sa.String(length=100), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_by', sa.String(length=100), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=False),
    sa.Column('movement_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('adjust', 'count')", name=op.f('ck_stock_adjustments_kind_choice')),
    sa.CheckConstraint("state IN ('pending', 'approved', 'rejected')", name=op.f('ck_stock_adjustments_state_choice')),
    sa.CheckConstraint('quantity <> 0', name=op.f('ck_stock_adjustments_quantity_not_zero')),
    sa.ForeignKeyConstraint(['bin_id'], ['stock_bins.id'], name=op.f('fk_stock_adjustments_bin_id_stock_bins'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_stock_adjustments_decided_by_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['movement_id'], ['stock_movements.id'], name=op.f('fk_stock_adjustments_movement_id_stock_movements'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['part_id'], ['parts.id'], name=op.f('fk_stock_adjustments_part_id_parts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_stock_adjustments_requested_by_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_adjustments'))
    )
    op.create_index(op.f('ix_stock_adjustments_part_id'), 'stock_adjustments', ['part_id'], unique=False)
    op.create_index(op.f('ix_stock_adjustments_state'), 'stock_adjustments', ['state'], unique=False)
    op.create_table('work_order_picks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('work_order_id', sa.Integer(), nullable=False),
    sa.Column('part_id', sa.Integer(), nullable=False),
    sa.Column('bin_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=12, scale=3), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('picked_by_id', sa.Integer(), nullable=True),
    sa.Column('picked_by', sa.String(length=100), nullable=False),
    sa.Column('picked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('movement_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("state IN ('picked', 'issued', 'released')", name=op.f('ck_work_order_picks_state_choice')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_work_order_picks_quantity_positive')),
    sa.ForeignKeyConstraint(['bin_id'], ['stock_bins.id'], name=op.f('fk_work_order_picks_bin_id_stock_bins'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['movement_id'], ['stock_movements.id'], name=op.f('fk_work_order_picks_movement_id_stock_movements'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['part_id'], ['parts.id'], name=op.f('fk_work_order_picks_part_id_parts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['picked_by_id'], ['users.id'], name=op.f('fk_work_order_picks_picked_by_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_work_order_picks_work_order_id_work_orders'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order_picks'))
    )
    op.create_index('ix_work_order_picks_part_id_state', 'work_order_picks', ['part_id', 'state'], unique=False)
    op.create_index(op.f('ix_work_order_picks_work_order_id'), 'work_order_picks', ['work_order_id'], unique=False)



def _ledger_guard() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION wardlink_stock_ledger_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'stock_movements is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER stock_movements_append_only BEFORE UPDATE OR DELETE ON stock_movements "
            "FOR EACH ROW EXECUTE FUNCTION wardlink_stock_ledger_append_only()"
        )
        return
    for name, event in _SQLITE_GUARDS.items():
        op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON stock_movements "
                   "BEGIN SELECT RAISE(ABORT, 'stock_movements is append-only'); END")


def downgrade() -> None:
    """Revert this revision."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS stock_movements_append_only ON stock_movements")
        op.execute("DROP FUNCTION IF EXISTS wardlink_stock_ledger_append_only()")
    else:
        for name in _SQLITE_GUARDS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index(op.f('ix_work_order_picks_work_order_id'), table_name='work_order_picks')
    op.drop_index('ix_work_order_picks_part_id_state', table_name='work_order_picks')
    op.drop_table('work_order_picks')
    op.drop_index(op.f('ix_stock_adjustments_state'), table_name='stock_adjustments')
    op.drop_index(op.f('ix_stock_adjustments_part_id'), table_name='stock_adjustments')
    op.drop_table('stock_adjustments')
    op.drop_index(op.f('ix_stock_movements_work_order_id'), table_name='stock_movements')
    op.drop_index('ix_stock_movements_part_id_id', table_name='stock_movements')
    op.drop_index(op.f('ix_stock_movements_bin_id'), table_name='stock_movements')
    op.drop_table('stock_movements')
    op.drop_index(op.f('ix_stock_levels_bin_id'), table_name='stock_levels')
    op.drop_table('stock_levels')
    op.drop_index('ix_part_models_model_key', table_name='part_models')
    op.drop_table('part_models')
    op.drop_index(op.f('ix_part_kit_items_part_id'), table_name='part_kit_items')
    op.drop_table('part_kit_items')
    op.drop_index(op.f('ix_parts_preferred_supplier_id'), table_name='parts')
    op.drop_index(op.f('ix_parts_name'), table_name='parts')
    op.drop_index(op.f('ix_parts_manufacturer_part_number'), table_name='parts')
    op.drop_index(op.f('ix_parts_low_since'), table_name='parts')
    op.drop_index(op.f('ix_parts_category'), table_name='parts')
    op.drop_table('parts')
    op.drop_table('stock_bins')
    op.drop_index(op.f('ix_stock_locations_site_id'), table_name='stock_locations')
    op.drop_table('stock_locations')
    op.drop_index(op.f('ix_supplier_contacts_supplier_id'), table_name='supplier_contacts')
    op.drop_table('supplier_contacts')
    op.drop_table('suppliers')
    op.drop_table('part_kits')
