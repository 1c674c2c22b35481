"""The managed list of equipment categories.

``asset_categories`` holds each category once (compared without case: ``name_key``) with the
Fennigkoh-Smith scores a new asset of the category starts with. The categories the register
already uses join the list; spellings that differ only in case become the first one seen
(by asset id) and their assets take that spelling.

Revision ID: 0022_asset_categories
Revises: 0021_notice_key_index
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0022_asset_categories'
down_revision = '0021_notice_key_index'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        'asset_categories',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('name_key', sa.String(length=100), nullable=False),
        sa.Column('equipment_function', sa.Integer(), nullable=True),
        sa.Column('physical_risk', sa.Integer(), nullable=True),
        sa.Column('maintenance_requirement', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('equipment_function IS NULL OR (equipment_function BETWEEN 2 AND 10)',
                           name=op.f('ck_asset_categories_equipment_function_range')),
        sa.CheckConstraint('physical_risk IS NULL OR (physical_risk BETWEEN 1 AND 5)',
                           name=op.f('ck_asset_categories_physical_risk_range')),
        sa.CheckConstraint('maintenance_requirement IS NULL OR (maintenance_requirement BETWEEN 1 AND 5)',
                           name=op.f('ck_asset_categories_maintenance_requirement_range')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_asset_categories')),
        sa.UniqueConstraint('name_key', name=op.f('uq_asset_categories_name_key')),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, category, created_at FROM assets ORDER BY id")).all()
    seen: dict[str, str] = {}
    for asset_id, name, created in rows:
        key = " ".join((name or "").split()).casefold()
        if not key:
            continue
        if key not in seen:
            seen[key] = " ".join(name.split())
            conn.execute(sa.text("INSERT INTO asset_categories (name, name_key, created_at, updated_at) "
                                 "VALUES (:name, :key, :at, :at)"), {"name": seen[key], "key": key, "at": created})
        if name != seen[key]:
            conn.execute(sa.text("UPDATE assets SET category = :name WHERE id = :id"),
                         {"name": seen[key], "id": asset_id})


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table('asset_categories')
