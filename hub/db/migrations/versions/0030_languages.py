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
    with op.batch_alter_table('notice_emails') as batch:
        batch.drop_column('locale')
    with op.batch_alter_table('users') as batch:
        batch.drop_column('locale')
    with op.batch_alter_table('sites') as batch:
        batch.drop_column('language')
