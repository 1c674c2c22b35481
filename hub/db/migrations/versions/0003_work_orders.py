"""Work orders: the cancelled state, source and requester, SLA due times and breaches,
hold, completion, closure and cancellation times, resolution, downtime; notes, time logs,
parts, attachments and closing signatures.

Revision ID: 0003_work_orders
Revises: 0002_rules

SQLite rebuilds ``work_orders`` to change its CHECK constraints. Foreign keys stay enforced
during a migration (the pragma cannot change inside a transaction) and dropping the old copy
would trip every ``ON DELETE RESTRICT`` reference to it, so references from other tables are
set aside before the rebuild and put back after it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003_work_orders'
down_revision = '0002_rules'
branch_labels = None
depends_on = None

OLD_STATES = "state IN ('pending', 'assigned', 'in_progress', 'on_hold', 'completed', 'closed')"
NEW_STATES = ("state IN ('pending', 'assigned', 'in_progress', 'on_hold', 'completed', 'closed', "
              "'cancelled')")
SOURCES = "source IN ('manual', 'request', 'qr', 'alert', 'pm', 'checklist')"
RESOLUTIONS = ("resolution_category IS NULL OR resolution_category IN ('repaired', 'part_replaced', "
               "'adjusted', 'software_updated', 'no_fault_found', 'user_error', 'damage', "
               "'vendor_repair', 'beyond_repair', 'as_planned', 'accepted', 'rejected', 'other')")
_STASH = "_wardlink_fk_stash"

# name, type, NOT NULL default for existing rows (None: nullable)
NEW_COLUMNS = (
    ('source', sa.String(length=16), 'manual'),
    ('requester_name', sa.String(length=200), ''),
    ('requester_contact', sa.String(length=200), ''),
    ('parent_id', sa.Integer(), None),
    ('response_due_at', sa.DateTime(timezone=True), None),
    ('resolution_due_at', sa.DateTime(timezone=True), None),
    ('responded_at', sa.DateTime(timezone=True), None),
    ('response_breached_at', sa.DateTime(timezone=True), None),
    ('resolution_breached_at', sa.DateTime(timezone=True), None),
    ('escalation_level', sa.Integer(), '0'),
    ('escalated_at', sa.DateTime(timezone=True), None),
    ('on_hold_since', sa.DateTime(timezone=True), None),
    ('hold_reason', sa.String(length=300), ''),
    ('completed_at', sa.DateTime(timezone=True), None),
    ('closed_at', sa.DateTime(timezone=True), None),
    ('closed_by_id', sa.Integer(), None),
    ('cancelled_at', sa.DateTime(timezone=True), None),
    ('resolution_category', sa.String(length=32), None),
    ('resolution_note', sa.Text(), ''),
    ('downtime_start', sa.DateTime(timezone=True), None),
    ('downtime_end', sa.DateTime(timezone=True), None),
    ('downtime_reason', sa.Text(), ''),
)


def _references_to(bind, table: str) -> list[tuple[str, str]]:
    """Return the (table, column) pairs of other SQLite tables whose foreign keys name ``table``."""
    found = []
    names = [row[0] for row in bind.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    for name in names:
        for fk in bind.exec_driver_sql(f'PRAGMA foreign_key_list("{name}")'):
            if fk[2] == table and name != table:
                found.append((name, fk[3]))
    return found


def _set_aside(bind, refs: list[tuple[str, str]]) -> None:
    bind.exec_driver_sql(f"CREATE TEMP TABLE {_STASH} (tbl TEXT, col TEXT, rid INTEGER, val INTEGER)")
    for table, column in refs:
        bind.exec_driver_sql(f"INSERT INTO {_STASH} SELECT '{table}', '{column}', rowid, \"{column}\" "
                             f"FROM \"{table}\" WHERE \"{column}\" IS NOT NULL")
        bind.exec_driver_sql(f'UPDATE "{table}" SET "{column}" = NULL WHERE "{column}" IS NOT NULL')


def _put_back(bind, refs: list[tuple[str, str]]) -> None:
    for table, column in refs:
        match = f"{_STASH}.tbl = '{table}' AND {_STASH}.col = '{column}'"
        bind.exec_driver_sql(
            f'UPDATE "{table}" SET "{column}" = (SELECT val FROM {_STASH} WHERE {match} '
            f'AND {_STASH}.rid = "{table}".rowid) '
            f'WHERE rowid IN (SELECT rid FROM {_STASH} WHERE {match})')
    bind.exec_driver_sql(f"DROP TABLE {_STASH}")


def _rebuild(change) -> None:
    """Run ``change(batch_op)`` on work_orders, keeping references to it intact on SQLite."""
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    refs = _references_to(bind, "work_orders") if sqlite else []
    if refs:
        _set_aside(bind, refs)
    with op.batch_alter_table('work_orders', schema=None, recreate='always' if sqlite else 'auto') as batch_op:
        change(batch_op)
    if refs:
        _put_back(bind, refs)


def upgrade() -> None:
    """Apply this revision."""
    def change(batch_op) -> None:
        for name, type_, default in NEW_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=default is None,
                                          server_default=None if default is None else sa.text(f"'{default}'")))
        batch_op.drop_constraint(batch_op.f('ck_work_orders_state_choice'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_work_orders_state_choice'), sa.text(NEW_STATES))
        batch_op.create_check_constraint(batch_op.f('ck_work_orders_source_choice'), sa.text(SOURCES))
        batch_op.create_check_constraint(batch_op.f('ck_work_orders_resolution_category_choice'), sa.text(RESOLUTIONS))
        batch_op.create_check_constraint(batch_op.f('ck_work_orders_escalation_level_range'),
                                         sa.text('escalation_level >= 0'))
        batch_op.create_index(batch_op.f('ix_work_orders_assigned_to_id'), ['assigned_to_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_orders_requested_by_id'), ['requested_by_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_work_orders_parent_id_work_orders'), 'work_orders',
                                    ['parent_id'], ['id'], ondelete='RESTRICT')
        batch_op.create_foreign_key(batch_op.f('fk_work_orders_closed_by_id_users'), 'users',
                                    ['closed_by_id'], ['id'], ondelete='RESTRICT')

    _rebuild(change)
    op.execute("UPDATE work_orders SET source = 'alert' WHERE alert_id IS NOT NULL")

    op.create_table('work_order_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('work_order_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('author', sa.String(length=100), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('note', 'system')", name=op.f('ck_work_order_notes_kind_choice')),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_work_order_notes_author_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_work_order_notes_work_order_id_work_orders'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order_notes'))
    )
    with op.batch_alter_table('work_order_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_order_notes_work_order_id'), ['work_order_id'], unique=False)

    op.create_table('work_order_time_logs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('work_order_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('performed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('minutes BETWEEN 1 AND 1440', name=op.f('ck_work_order_time_logs_minutes_range')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_work_order_time_logs_user_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_work_order_time_logs_work_order_id_work_orders'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order_time_logs'))
    )
    with op.batch_alter_table('work_order_time_logs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_order_time_logs_work_order_id'), ['work_order_id'], unique=False)

    op.create_table('work_order_parts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('work_order_id', sa.Integer(), nullable=False),
    sa.Column('part_number', sa.String(length=64), nullable=False),
    sa.Column('description', sa.String(length=300), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=12, scale=3), nullable=False),
    sa.Column('unit_cost', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_work_order_parts_quantity_positive')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_work_order_parts_recorded_by_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_work_order_parts_work_order_id_work_orders'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order_parts'))
    )
    with op.batch_alter_table('work_order_parts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_order_parts_work_order_id'), ['work_order_id'], unique=False)

    op.create_table('work_order_attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('work_order_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('uploaded_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_work_order_attachments_uploaded_by_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_work_order_attachments_work_order_id_work_orders'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order_attachments'))
    )
    with op.batch_alter_table('work_order_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_order_attachments_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_order_attachments_work_order_id'), ['work_order_id'], unique=False)

    op.create_table('work_order_signatures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('work_order_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('signer_name', sa.String(length=200), nullable=False),
    sa.Column('meaning', sa.String(length=100), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('record_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_work_order_signatures_user_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_work_order_signatures_work_order_id_work_orders'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order_signatures'))
    )
    with op.batch_alter_table('work_order_signatures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_order_signatures_work_order_id'), ['work_order_id'], unique=False)


def downgrade() -> None:
    """Revert this revision.

    The old schema has no cancelled state: cancelled orders come back as closed.
    """
    for table in ('work_order_signatures', 'work_order_attachments', 'work_order_parts',
                  'work_order_time_logs', 'work_order_notes'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for index in sa.inspect(op.get_bind()).get_indexes(table):
                batch_op.drop_index(index["name"])
        op.drop_table(table)
    op.execute("UPDATE work_orders SET state = 'closed' WHERE state = 'cancelled'")

    def change(batch_op) -> None:
        batch_op.drop_constraint(batch_op.f('fk_work_orders_closed_by_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_work_orders_parent_id_work_orders'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_work_orders_requested_by_id'))
        batch_op.drop_index(batch_op.f('ix_work_orders_assigned_to_id'))
        for name in ('ck_work_orders_escalation_level_range', 'ck_work_orders_resolution_category_choice',
                     'ck_work_orders_source_choice', 'ck_work_orders_state_choice'):
            batch_op.drop_constraint(batch_op.f(name), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_work_orders_state_choice'), sa.text(OLD_STATES))
        for name, _type, _default in reversed(NEW_COLUMNS):
            batch_op.drop_column(name)

    _rebuild(change)
