"""Oxygen cylinder manifolds (``manifolds``: the asset, its two bank channels, a bank's capacity, the
reserve threshold and the detector's state) and the changeovers seen (``manifold_changeovers``).

Revision ID: 0040_manifolds
Revises: 0039_usage
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0040_manifolds'
down_revision = '0039_usage'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        'manifolds',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('asset_id', sa.Integer(), nullable=False),
        sa.Column('gateway_id', sa.String(length=64), nullable=False),
        sa.Column('bank_a_channel', sa.String(length=128), nullable=False),
        sa.Column('bank_b_channel', sa.String(length=128), nullable=False),
        sa.Column('bank_capacity_l', sa.Float(), nullable=False),
        sa.Column('full_bar', sa.Float(), nullable=False),
        sa.Column('changeover_bar', sa.Float(), nullable=False),
        sa.Column('reserve_hours', sa.Float(), nullable=False),
        sa.Column('tracking', sa.Text(), nullable=False),
        sa.Column('tracked_until_ms', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('bank_capacity_l > 0', name=op.f('ck_manifolds_bank_capacity_positive')),
        sa.CheckConstraint('full_bar > changeover_bar AND changeover_bar >= 0',
                           name=op.f('ck_manifolds_pressures_ordered')),
        sa.CheckConstraint('reserve_hours > 0', name=op.f('ck_manifolds_reserve_hours_positive')),
        sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_manifolds_asset_id_assets'),
                                ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_manifolds')),
        sa.UniqueConstraint('asset_id', name=op.f('uq_manifolds_asset_id')),
    )
    op.create_table(
        'manifold_changeovers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('manifold_id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('bank', sa.String(length=1), nullable=False),
        sa.Column('litres', sa.Float(), nullable=False),
        sa.Column('detected_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("bank IN ('a', 'b')", name=op.f('ck_manifold_changeovers_bank_choice')),
        sa.ForeignKeyConstraint(['manifold_id'], ['manifolds.id'],
                                name=op.f('fk_manifold_changeovers_manifold_id_manifolds'), ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_manifold_changeovers')),
        sa.UniqueConstraint('manifold_id', 'at', name=op.f('uq_manifold_changeovers_manifold_id_at')),
    )
    op.create_index(op.f('ix_manifold_changeovers_manifold_id'), 'manifold_changeovers', ['manifold_id'])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f('ix_manifold_changeovers_manifold_id'), table_name='manifold_changeovers')
    op.drop_table('manifold_changeovers')
    op.drop_table('manifolds')
