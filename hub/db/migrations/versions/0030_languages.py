"""Languages: a site's language (``sites.language``), a person's own choice
(``users.locale``) and the language a queued e-mail is written in (``notice_emails.locale``,
for the lines the mailer adds). All nullable: none means the next one down (the user's site,
then the hub's ``default_locale``).

Revision ID: 0030_languages
Revises: 0029_work_order_costs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0030_languages'
down_revision = '0029_work_order_costs'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column('sites', sa.Column('language', sa.String(length=16), nullable=True))
    op.add_column('users', sa.Column('locale', sa.String(length=16), nullable=True))
    op.add_column('notice_emails', sa.Column('locale', sa.String(length=16), nullable=True))


def downgrade() -> None:
    """Revert this revision (the choices are forgotten; everything reads in the default language)."""
    for table, column in (('notice_emails', 'locale'), ('users', 'locale'), ('sites', 'language')):
        _drop_column(table, column)


def _drop_column(table: str, column: str) -> None:
    # SQLite drops a plain column in place; a batch copy would DROP TABLE users, which the
    # foreign keys of every table naming a user refuse.
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        bind.exec_driver_sql(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
    else:
        op.drop_column(table, column)
