"""Admin lists at scale: asset search reads one folded column, and the work-order list sorted
by due date walks an index.

``assets.search_text`` holds tag, name, category, make, model and serial, case-folded and
separated; the Asset model keeps it in step on every write, and existing rows are filled here
in batches. ``ix_work_orders_resolution_due`` serves ``sort=due`` (see hub/db/models/indexes.py
and bench/admin_pages.py).

Revision ID: 0007_admin_lists
Revises: 0006_enrollment
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# The same folding the model applies on every write, so old and new rows match alike.
from wardlink.hub.db.models.assets import SEARCHED_FIELDS, search_text_of

revision = '0007_admin_lists'
down_revision = '0006_enrollment'
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade() -> None:
    """Apply this revision."""
    op.add_column('assets', sa.Column('search_text', sa.Text(), server_default='', nullable=False))
    bind = op.get_bind()
    assets = sa.table('assets', sa.column('id', sa.Integer), sa.column('search_text', sa.Text),
                      *(sa.column(name, sa.String) for name in SEARCHED_FIELDS))
    fields = [assets.c[name] for name in SEARCHED_FIELDS]
    update = assets.update().where(assets.c.id == sa.bindparam('row_id')).values(
        search_text=sa.bindparam('folded'))
    last = 0
    while True:
        rows = bind.execute(sa.select(assets.c.id, *fields).where(assets.c.id > last)
                            .order_by(assets.c.id).limit(BATCH)).mappings().all()
        if not rows:
            break
        bind.execute(update, [{'row_id': r['id'], 'folded': search_text_of(dict(r))} for r in rows])
        last = rows[-1]['id']
    op.create_index('ix_work_orders_resolution_due', 'work_orders', ['resolution_due_at', 'id'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index('ix_work_orders_resolution_due', table_name='work_orders')
    op.drop_column('assets', 'search_text')
