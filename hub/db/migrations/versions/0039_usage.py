"""Usage of equipment: sessions of use (scanned now, measured later) with each asset's usage
status, the knowledge shown before use (per category, overridden per make and model) with its
manuals, people's training records, and rentals and loaners.

At most one session of an asset is open and at most one rental of an asset is not yet returned:
both are partial unique indexes, which SQLite and PostgreSQL both keep.

Revision ID: 0039_usage
Revises: 0038_plan_parts_delays
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0039_usage'
down_revision = '0038_plan_parts_delays'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('usage_knowledge',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=False),
    sa.Column('category_key', sa.String(length=100), nullable=False),
    sa.Column('make', sa.String(length=100), nullable=False),
    sa.Column('make_key', sa.String(length=100), nullable=False),
    sa.Column('model', sa.String(length=100), nullable=False),
    sa.Column('model_key', sa.String(length=100), nullable=False),
    sa.Column('procedure', sa.Text(), nullable=True),
    sa.Column('critical_warning', sa.Text(), nullable=True),
    sa.Column('training_required', sa.Boolean(), nullable=True),
    sa.Column('max_use_hours', sa.Numeric(precision=8, scale=2), nullable=True),
    sa.Column('cleaning', sa.Text(), nullable=True),
    sa.Column('return_status', sa.String(length=24), nullable=True),
    sa.Column('maintenance_interval_days', sa.Integer(), nullable=True),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("return_status IS NULL OR return_status IN ('available', 'in_use', 'needs_cleaning', 'needs_inspection')", name=op.f('ck_usage_knowledge_return_status_choice')),
    sa.CheckConstraint('maintenance_interval_days IS NULL OR maintenance_interval_days > 0', name=op.f('ck_usage_knowledge_maintenance_interval_days_positive')),
    sa.CheckConstraint('max_use_hours IS NULL OR max_use_hours > 0', name=op.f('ck_usage_knowledge_max_use_hours_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_knowledge')),
    sa.UniqueConstraint('category_key', 'make_key', 'model_key', name=op.f('uq_usage_knowledge_category_key_make_key_model_key'))
    )
    op.create_table('usage_knowledge_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('knowledge_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('uploaded_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['knowledge_id'], ['usage_knowledge.id'], name=op.f('fk_usage_knowledge_files_knowledge_id_usage_knowledge'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_usage_knowledge_files_uploaded_by_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_knowledge_files'))
    )
    op.create_index(op.f('ix_usage_knowledge_files_knowledge_id'), 'usage_knowledge_files', ['knowledge_id'], unique=False)
    op.create_table('usage_training',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=False),
    sa.Column('category_key', sa.String(length=100), nullable=False),
    sa.Column('model', sa.String(length=100), nullable=False),
    sa.Column('model_key', sa.String(length=100), nullable=False),
    sa.Column('trained_on', sa.Date(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('expires_on IS NULL OR expires_on >= trained_on', name=op.f('ck_usage_training_expires_after_training')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_usage_training_user_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_training'))
    )
    op.create_index('ix_usage_training_user_category', 'usage_training', ['user_id', 'category_key'], unique=False)
    op.create_table('usage_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('encounter_hash', sa.String(length=64), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_by', sa.String(length=100), nullable=False),
    sa.Column('return_status', sa.String(length=24), nullable=True),
    sa.Column('override_reason', sa.Text(), nullable=False),
    sa.Column('override_by', sa.String(length=100), nullable=False),
    sa.Column('untrained', sa.Boolean(), nullable=False),
    sa.Column('transferred_from_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("return_status IS NULL OR return_status IN ('available', 'in_use', 'needs_cleaning', 'needs_inspection')", name=op.f('ck_usage_sessions_return_status_choice')),
    sa.CheckConstraint("source IN ('scanned', 'measured')", name=op.f('ck_usage_sessions_source_choice')),
    sa.CheckConstraint('ended_at IS NULL OR ended_at >= started_at', name=op.f('ck_usage_sessions_ends_after_start')),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_usage_sessions_asset_id_assets'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_usage_sessions_department_id_departments'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['transferred_from_id'], ['usage_sessions.id'], name=op.f('fk_usage_sessions_transferred_from_id_usage_sessions'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_usage_sessions_user_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_sessions'))
    )
    op.create_index('ix_usage_sessions_asset_started', 'usage_sessions', ['asset_id', 'started_at'], unique=False)
    op.create_index('ix_usage_sessions_department_started', 'usage_sessions', ['department_id', 'started_at'], unique=False)
    op.create_index(op.f('ix_usage_sessions_encounter_hash'), 'usage_sessions', ['encounter_hash'], unique=False)
    op.create_index('uq_usage_sessions_open_asset', 'usage_sessions', ['asset_id'], unique=True, sqlite_where=sa.text('ended_at IS NULL'), postgresql_where=sa.text('ended_at IS NULL'))
    op.create_table('usage_states',
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('available', 'in_use', 'needs_cleaning', 'needs_inspection')", name=op.f('ck_usage_states_status_choice')),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_usage_states_asset_id_assets'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['session_id'], ['usage_sessions.id'], name=op.f('fk_usage_states_session_id_usage_sessions'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('asset_id', name=op.f('pk_usage_states'))
    )
    op.create_index(op.f('ix_usage_states_status'), 'usage_states', ['status'], unique=False)
    op.create_table('rentals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('vendor', sa.String(length=200), nullable=False),
    sa.Column('contract_ref', sa.String(length=100), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('expected_return_on', sa.Date(), nullable=False),
    sa.Column('rate_per_day', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('rate_per_use', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('inspection_required', sa.Boolean(), nullable=False),
    sa.Column('inspection_work_order_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('returned_on', sa.Date(), nullable=True),
    sa.Column('return_note', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('rental', 'loaner')", name=op.f('ck_rentals_kind_choice')),
    sa.CheckConstraint("state IN ('active', 'returning', 'returned')", name=op.f('ck_rentals_state_choice')),
    sa.CheckConstraint('expected_return_on >= starts_on', name=op.f('ck_rentals_returns_after_start')),
    sa.CheckConstraint('rate_per_day IS NULL OR rate_per_day >= 0', name=op.f('ck_rentals_rate_per_day_range')),
    sa.CheckConstraint('rate_per_use IS NULL OR rate_per_use >= 0', name=op.f('ck_rentals_rate_per_use_range')),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_rentals_asset_id_assets'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['inspection_work_order_id'], ['work_orders.id'], name=op.f('fk_rentals_inspection_work_order_id_work_orders'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rentals'))
    )
    op.create_index(op.f('ix_rentals_asset_id'), 'rentals', ['asset_id'], unique=False)
    op.create_index('uq_rentals_current_asset', 'rentals', ['asset_id'], unique=True, sqlite_where=sa.text("state <> 'returned'"), postgresql_where=sa.text("state <> 'returned'"))


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index('uq_rentals_current_asset', table_name='rentals', sqlite_where=sa.text("state <> 'returned'"), postgresql_where=sa.text("state <> 'returned'"))
    op.drop_index(op.f('ix_rentals_asset_id'), table_name='rentals')
    op.drop_table('rentals')
    op.drop_index(op.f('ix_usage_states_status'), table_name='usage_states')
    op.drop_table('usage_states')
    op.drop_index('uq_usage_sessions_open_asset', table_name='usage_sessions', sqlite_where=sa.text('ended_at IS NULL'), postgresql_where=sa.text('ended_at IS NULL'))
    op.drop_index(op.f('ix_usage_sessions_encounter_hash'), table_name='usage_sessions')
    op.drop_index('ix_usage_sessions_department_started', table_name='usage_sessions')
    op.drop_index('ix_usage_sessions_asset_started', table_name='usage_sessions')
    op.drop_table('usage_sessions')
    op.drop_index('ix_usage_training_user_category', table_name='usage_training')
    op.drop_table('usage_training')
    op.drop_index(op.f('ix_usage_knowledge_files_knowledge_id'), table_name='usage_knowledge_files')
    op.drop_table('usage_knowledge_files')
    op.drop_table('usage_knowledge')
