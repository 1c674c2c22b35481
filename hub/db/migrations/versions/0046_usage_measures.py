"""Measured usage: the rules that turn an asset's channel into usage sessions, per category or
per asset (``usage_measures``), and where measuring each asset stands (``usage_tracks``).

Revision ID: 0046_usage_measures
Revises: 0045_recalls
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0046_usage_measures'
down_revision = '0045_recalls'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        'usage_measures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('category', sa.String(length=100), nullable=False),
        sa.Column('category_key', sa.String(length=100), nullable=False),
        sa.Column('asset_id', sa.Integer(), nullable=True),
        sa.Column('metric', sa.String(length=64), nullable=False),
        sa.Column('mode', sa.String(length=16), nullable=False),
        sa.Column('threshold', sa.Float(), nullable=True),
        sa.Column('min_s', sa.Float(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("mode IN ('above', 'advancing')", name=op.f('ck_usage_measures_mode_choice')),
        sa.CheckConstraint("asset_id IS NOT NULL OR category_key <> ''", name=op.f('ck_usage_measures_has_subject')),
        sa.CheckConstraint('min_s >= 0', name=op.f('ck_usage_measures_min_s_range')),
        sa.CheckConstraint("mode <> 'above' OR threshold IS NOT NULL",
                           name=op.f('ck_usage_measures_above_has_threshold')),
        sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_usage_measures_asset_id_assets'),
                                ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_measures')),
        sa.UniqueConstraint('asset_id', name=op.f('uq_usage_measures_asset_id')),
    )
    op.create_index('ix_usage_measures_category_key', 'usage_measures', ['category_key'])
    op.create_table(
        'usage_tracks',
        sa.Column('asset_id', sa.Integer(), nullable=False),
        sa.Column('measure_id', sa.Integer(), nullable=False),
        sa.Column('gateway_id', sa.String(length=64), nullable=False),
        sa.Column('channel_id', sa.String(length=128), nullable=False),
        sa.Column('tracking', sa.Text(), nullable=False),
        sa.Column('tracked_until_ms', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_usage_tracks_asset_id_assets'),
                                ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['measure_id'], ['usage_measures.id'],
                                name=op.f('fk_usage_tracks_measure_id_usage_measures'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('asset_id', name=op.f('pk_usage_tracks')),
    )
    op.create_index(op.f('ix_usage_tracks_measure_id'), 'usage_tracks', ['measure_id'])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f('ix_usage_tracks_measure_id'), table_name='usage_tracks')
    op.drop_table('usage_tracks')
    op.drop_index('ix_usage_measures_category_key', table_name='usage_measures')
    op.drop_table('usage_measures')
