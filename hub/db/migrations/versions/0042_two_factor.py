"""Two-factor sign-in: each user's authenticator secret (``users.totp_*``) and their one-time
recovery codes (``recovery_codes``, SHA-256 digests only). It also joins the two revisions that
branched from 0040_manifolds (alert messages, utilities) into one history again.

Revision ID: 0042_two_factor
Revises: 0041_alert_messages, 0041_utilities
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0042_two_factor'
down_revision = ('0041_alert_messages', '0041_utilities')
branch_labels = None
depends_on = None

_USER_COLUMNS = ('totp_secret', 'totp_enabled_at', 'totp_last_step')


def upgrade() -> None:
    """Apply this revision."""
    op.add_column('users', sa.Column('totp_secret', sa.String(length=64), nullable=True))
    op.add_column('users', sa.Column('totp_enabled_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('users', sa.Column('totp_last_step', sa.Integer(), nullable=True))
    op.create_table(
        'recovery_codes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_recovery_codes_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_codes')),
    )
    op.create_index(op.f('ix_recovery_codes_user_id'), 'recovery_codes', ['user_id'])


def downgrade() -> None:
    """Revert this revision (every enrolment is forgotten)."""
    op.drop_index(op.f('ix_recovery_codes_user_id'), table_name='recovery_codes')
    op.drop_table('recovery_codes')
    for column in reversed(_USER_COLUMNS):
        _drop_column('users', column)


def _drop_column(table: str, column: str) -> None:
    # SQLite drops a plain column in place; a batch copy would DROP TABLE users, which the
    # foreign keys of every table naming a user refuse.
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        bind.exec_driver_sql(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
    else:
        op.drop_column(table, column)
