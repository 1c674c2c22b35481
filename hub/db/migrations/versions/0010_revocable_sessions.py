"""Revocable sign-in sessions and the failed sign-in log.

``web_sessions`` holds one row per signed-in browser session (the SHA-256 of the id the
cookie carries); deleting the row ends the session, whatever the cookie says. Signing out,
a password change or reset, a disable and a role change delete rows. ``login_failures``
records each failed sign-in with the user name as typed and the client's address, so the
sign-in limits hold across every web process.

Revision ID: 0010_revocable_sessions
Revises: 0009_batch_sequence
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010_revocable_sessions'
down_revision = '0009_batch_sequence'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('web_sessions',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source_ip', sa.String(length=45), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                            name=op.f('fk_web_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_web_sessions'))
    )
    op.create_index(op.f('ix_web_sessions_user_id'), 'web_sessions', ['user_id'], unique=False)
    op.create_index(op.f('ix_web_sessions_expires_at'), 'web_sessions', ['expires_at'], unique=False)
    op.create_table('login_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('source_ip', sa.String(length=45), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures'))
    )
    op.create_index(op.f('ix_login_failures_at'), 'login_failures', ['at'], unique=False)
    op.create_index('ix_login_failures_address_at', 'login_failures', ['source_ip', 'at'], unique=False)
    op.create_index('ix_login_failures_username_address_at', 'login_failures',
                    ['username', 'source_ip', 'at'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index('ix_login_failures_username_address_at', table_name='login_failures')
    op.drop_index('ix_login_failures_address_at', table_name='login_failures')
    op.drop_index(op.f('ix_login_failures_at'), table_name='login_failures')
    op.drop_table('login_failures')
    op.drop_index(op.f('ix_web_sessions_expires_at'), table_name='web_sessions')
    op.drop_index(op.f('ix_web_sessions_user_id'), table_name='web_sessions')
    op.drop_table('web_sessions')
