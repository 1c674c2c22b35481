"""Recalls and field safety notices: the recalls (one per regulator and reference), the assets
each concerns (exact matches linked, fuzzy ones awaiting review, with the recall work order), the
imported files with their counts, and the FDA product code of an asset.

Revision ID: 0045_recalls
Revises: 0044_oxygen
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0045_recalls'
down_revision = '0044_oxygen'
branch_labels = None
depends_on = None

_REGULATORS = "'FDA', 'MHRA', 'ANSM', 'BfArM', 'TGA', 'HealthCanada', 'other'"
_SOURCES = "'openfda_recall', 'openfda_enforcement', 'manual'"


def upgrade() -> None:
    """Apply this revision."""
    op.add_column('assets', sa.Column('product_code', sa.String(length=16), server_default='', nullable=False))
    op.create_table(
        'recalls',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('regulator', sa.String(length=16), nullable=False),
        sa.Column('reference', sa.String(length=64), nullable=False),
        sa.Column('event_number', sa.String(length=32), nullable=False),
        sa.Column('source', sa.String(length=24), nullable=False),
        sa.Column('recalling_firm', sa.String(length=200), nullable=False),
        sa.Column('product_code', sa.String(length=16), nullable=False),
        sa.Column('product_description', sa.Text(), nullable=False),
        sa.Column('code_info', sa.Text(), nullable=False),
        sa.Column('k_numbers', sa.String(length=500), nullable=False),
        sa.Column('classification', sa.String(length=32), nullable=False),
        sa.Column('recall_status', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('action', sa.Text(), nullable=False),
        sa.Column('initiated_on', sa.Date(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=100), nullable=False),
        sa.CheckConstraint(f"regulator IN ({_REGULATORS})", name=op.f('ck_recalls_regulator_choice')),
        sa.CheckConstraint(f"source IN ({_SOURCES})", name=op.f('ck_recalls_source_choice')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recalls')),
        sa.UniqueConstraint('regulator', 'reference', name='uq_recalls_regulator_reference'),
    )
    op.create_index(op.f('ix_recalls_product_code'), 'recalls', ['product_code'])
    op.create_table(
        'recall_matches',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('recall_id', sa.Integer(), nullable=False),
        sa.Column('asset_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('state', sa.String(length=8), nullable=False),
        sa.Column('basis', sa.String(length=300), nullable=False),
        sa.Column('work_order_id', sa.Integer(), nullable=True),
        sa.Column('decided_by', sa.String(length=100), nullable=False),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('exact', 'fuzzy')", name=op.f('ck_recall_matches_kind_choice')),
        sa.CheckConstraint("state IN ('linked', 'review', 'rejected')", name=op.f('ck_recall_matches_state_choice')),
        sa.ForeignKeyConstraint(['recall_id'], ['recalls.id'], name=op.f('fk_recall_matches_recall_id_recalls'),
                                ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_recall_matches_asset_id_assets'),
                                ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'],
                                name=op.f('fk_recall_matches_work_order_id_work_orders'), ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recall_matches')),
        sa.UniqueConstraint('recall_id', 'asset_id', name='uq_recall_matches_recall_asset'),
        sa.UniqueConstraint('work_order_id', name=op.f('uq_recall_matches_work_order_id')),
    )
    op.create_index(op.f('ix_recall_matches_recall_id'), 'recall_matches', ['recall_id'])
    op.create_index(op.f('ix_recall_matches_asset_id'), 'recall_matches', ['asset_id'])
    op.create_index(op.f('ix_recall_matches_state'), 'recall_matches', ['state'])
    op.create_table(
        'recall_imports',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('records', sa.Integer(), nullable=False),
        sa.Column('new_recalls', sa.Integer(), nullable=False),
        sa.Column('known_recalls', sa.Integer(), nullable=False),
        sa.Column('refused', sa.Integer(), nullable=False),
        sa.Column('linked', sa.Integer(), nullable=False),
        sa.Column('to_review', sa.Integer(), nullable=False),
        sa.Column('work_orders', sa.Integer(), nullable=False),
        sa.Column('problems', sa.Text(), nullable=False),
        sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('imported_by', sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recall_imports')),
    )


def downgrade() -> None:
    """Revert this revision (the recalls, their matches and the product codes are forgotten)."""
    op.drop_table('recall_imports')
    op.drop_index(op.f('ix_recall_matches_state'), table_name='recall_matches')
    op.drop_index(op.f('ix_recall_matches_asset_id'), table_name='recall_matches')
    op.drop_index(op.f('ix_recall_matches_recall_id'), table_name='recall_matches')
    op.drop_table('recall_matches')
    op.drop_index(op.f('ix_recalls_product_code'), table_name='recalls')
    op.drop_table('recalls')
    bind = op.get_bind()
    # SQLite drops a plain column in place; a batch copy would DROP TABLE assets, which the
    # foreign keys of every table naming an asset refuse.
    if bind.dialect.name == 'sqlite':
        bind.exec_driver_sql('ALTER TABLE "assets" DROP COLUMN "product_code"')
    else:
        op.drop_column('assets', 'product_code')
