"""PM plans say who does the work (a technician, a team or a vendor), the parts and minutes
each service should take, and when a plan was retired.

Every column is added and dropped with ``ALTER TABLE`` and carries no constraint: rebuilding
``pm_plans`` would drop a table its services point at, which SQLite refuses. So the
assignee's user id has no foreign key; the plans service checks it and the minutes.

Revision ID: 0016_pm_plan_assignment
Revises: 0015_gateway_links
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016_pm_plan_assignment'
down_revision = '0015_gateway_links'
branch_labels = None
depends_on = None

COLUMNS = (
    ('assignee_id', sa.Integer()),
    ('assignee_team', sa.String(length=100)),
    ('assignee_vendor', sa.String(length=200)),
    ('planned_parts', sa.JSON()),
    ('planned_minutes', sa.Integer()),
    ('retired_at', sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    """Apply this revision."""
    for name, type_ in COLUMNS:
        op.add_column('pm_plans', sa.Column(name, type_, nullable=True))
    op.create_index(op.f('ix_pm_plans_assignee_id'), 'pm_plans', ['assignee_id'], unique=False)


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index(op.f('ix_pm_plans_assignee_id'), table_name='pm_plans')
    for name, _ in reversed(COLUMNS):
        op.drop_column('pm_plans', name)
