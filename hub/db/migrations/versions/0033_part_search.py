"""One folded search column on parts: ``parts.search_text`` holds SKU, name, manufacturer,
manufacturer part number, category and the models a part fits, case-folded and separated, so
the catalogue search is one ``LIKE`` on one column instead of five and a join per part.

Revision ID: 0033_part_search
Revises: 0032_asset_finance
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wardlink.hub.db.models.inventory import part_search_text

revision = '0033_part_search'
down_revision = '0032_asset_finance'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column('parts', sa.Column('search_text', sa.Text(), server_default='', nullable=False))
    conn = op.get_bind()
    models: dict[int, list[tuple[str, str]]] = {}
    for part_id, make, model in conn.execute(sa.text("SELECT part_id, make, model FROM part_models ORDER BY id")):
        models.setdefault(part_id, []).append((make, model))
    parts = sa.table('parts', sa.column('id', sa.Integer), sa.column('search_text', sa.Text))
    rows = [{"pid": row.id, "folded": part_search_text(dict(row._mapping), models.get(row.id, []))}
            for row in conn.execute(sa.text("SELECT id, sku, name, manufacturer, manufacturer_part_number, category "
                                            "FROM parts"))]
    if rows:
        conn.execute(parts.update().where(parts.c.id == sa.bindparam('pid'))
                     .values(search_text=sa.bindparam('folded')), rows)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_column('parts', 'search_text')
