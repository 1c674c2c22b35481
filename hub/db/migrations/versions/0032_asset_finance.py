"""Asset finance: an asset's useful life in years, its salvage value at the end of it, and what
replacing it would cost now (depreciation and the repair-or-replace judgement use them).

The columns are added without CHECK constraints: on SQLite a constraint on an existing table
means copying the whole register; the asset services refuse values out of range before
anything is written.

Revision ID: 0032_asset_finance
Revises: 0031_service_contracts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0032_asset_finance'
down_revision = '0031_service_contracts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column('assets', sa.Column('useful_life_years', sa.Integer(), nullable=True))
    op.add_column('assets', sa.Column('salvage_value', sa.Numeric(precision=12, scale=2), nullable=True))
    op.add_column('assets', sa.Column('replacement_cost', sa.Numeric(precision=12, scale=2), nullable=True))


def downgrade() -> None:
    """Revert this revision (the figures are forgotten)."""
    bind = op.get_bind()
    for column in ('replacement_cost', 'salvage_value', 'useful_life_years'):
        # SQLite drops a plain column in place; a batch copy would DROP TABLE assets, which the
        # foreign keys of every table naming an asset refuse.
        if bind.dialect.name == 'sqlite':
            bind.exec_driver_sql(f'ALTER TABLE "assets" DROP COLUMN "{column}"')
        else:
            op.drop_column('assets', column)
