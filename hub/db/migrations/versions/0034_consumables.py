"""Department consumables: each department's list of items (unit, reorder level) and the
append-only log of receipts and collections that gives each item its balance.

The log (``consumable_entries``) refuses UPDATE and DELETE in the database as well as in the
ORM: a mistake is corrected by a new entry, never by rewriting one.

Revision ID: 0034_consumables
Revises: 0033_part_search
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0034_consumables'
down_revision = '0033_part_search'
branch_labels = None
depends_on = None

_SQLITE_GUARDS = {"consumable_entries_no_update": "UPDATE", "consumable_entries_no_delete": "DELETE"}


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('consumables',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_key', sa.String(length=200), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('reorder_level', sa.Numeric(precision=12, scale=3), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('low_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("unit IN ('each', 'pair', 'set', 'box', 'pack', 'roll', 'm', 'l', 'ml', 'kg', 'g')", name=op.f('ck_consumables_unit_choice')),
    sa.CheckConstraint('reorder_level >= 0', name=op.f('ck_consumables_reorder_level_range')),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_consumables_department_id_departments'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consumables')),
    sa.UniqueConstraint('department_id', 'name_key', name=op.f('uq_consumables_department_id_name_key'))
    )
    op.create_table('consumable_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consumable_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=12, scale=3), nullable=False),
    sa.Column('on_date', sa.Date(), nullable=False),
    sa.Column('supplier', sa.String(length=200), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.Column('collected_by_id', sa.Integer(), nullable=True),
    sa.Column('collected_by_name', sa.String(length=200), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('receipt', 'collection')", name=op.f('ck_consumable_entries_kind_choice')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_consumable_entries_quantity_positive')),
    sa.CheckConstraint("kind = 'receipt' OR collected_by_id IS NOT NULL OR collected_by_name <> ''", name=op.f('ck_consumable_entries_collector_named')),
    sa.ForeignKeyConstraint(['collected_by_id'], ['users.id'], name=op.f('fk_consumable_entries_collected_by_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['consumable_id'], ['consumables.id'], name=op.f('fk_consumable_entries_consumable_id_consumables'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_consumable_entries_user_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consumable_entries'))
    )
    op.create_index('ix_consumable_entries_consumable_id_id', 'consumable_entries', ['consumable_id', 'id'], unique=False)
    op.create_index('ix_consumable_entries_on_date', 'consumable_entries', ['on_date'], unique=False)
    _log_guard()


def _log_guard() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION wardlink_consumable_log_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'consumable_entries is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER consumable_entries_append_only BEFORE UPDATE OR DELETE ON consumable_entries "
            "FOR EACH ROW EXECUTE FUNCTION wardlink_consumable_log_append_only()"
        )
        return
    for name, event in _SQLITE_GUARDS.items():
        op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON consumable_entries "
                   "BEGIN SELECT RAISE(ABORT, 'consumable_entries is append-only'); END")


def downgrade() -> None:
    """Revert this revision."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS consumable_entries_append_only ON consumable_entries")
        op.execute("DROP FUNCTION IF EXISTS wardlink_consumable_log_append_only()")
    else:
        for name in _SQLITE_GUARDS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index('ix_consumable_entries_on_date', table_name='consumable_entries')
    op.drop_index('ix_consumable_entries_consumable_id_id', table_name='consumable_entries')
    op.drop_table('consumable_entries')
    op.drop_table('consumables')
