"""Directory sign-in: ``users.source`` says whether a user's password is checked here
(``local``) or by the hospital's LDAP / Active Directory server (``directory``).

Revision ID: 0043_directory_users
Revises: 0042_two_factor
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0043_directory_users'
down_revision = '0042_two_factor'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column('users', sa.Column('source', sa.String(length=16), server_default='local', nullable=False))


def downgrade() -> None:
    """Revert this revision (directory users stay, as local users without a usable password)."""
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        # In place: a batch copy would DROP TABLE users, which every table naming a user refuses.
        bind.exec_driver_sql('ALTER TABLE "users" DROP COLUMN "source"')
    else:
        op.drop_column('users', 'source')
