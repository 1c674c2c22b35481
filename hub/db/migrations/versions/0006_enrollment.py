"""Gateway enrollment: one-time tokens (SHA-256 at rest, expiring, single use) that a new
gateway exchanges for its broker login, the broker's CA certificate and its initial config.

Revision ID: 0006_enrollment
Revises: 0005_ui_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006_enrollment'
down_revision = '0005_ui_indexes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('enrollment_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('gateway_pk', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('initial_config', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_from', sa.String(length=64), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('expires_at > created_at', name=op.f('ck_enrollment_tokens_expires_after_creation')),
    sa.ForeignKeyConstraint(['gateway_pk'], ['gateways.id'],
                            name=op.f('fk_enrollment_tokens_gateway_pk_gateways'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrollment_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_enrollment_tokens_token_hash'))
    )
    op.create_index(op.f('ix_enrollment_tokens_gateway_pk'), 'enrollment_tokens', ['gateway_pk'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f('ix_enrollment_tokens_gateway_pk'), table_name='enrollment_tokens')
    op.drop_table('enrollment_tokens')
