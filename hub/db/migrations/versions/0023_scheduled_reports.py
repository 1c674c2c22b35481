"""Calendar runs of the scheduler (daily digest, monthly report), the stored monthly KPI
reports, and the report a notice e-mail carries as its attachment.

Revision ID: 0023_scheduled_reports
Revises: 0022_asset_categories
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0023_scheduled_reports'
down_revision = '0022_asset_categories'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        'scheduled_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('period', sa.String(length=80), nullable=False),
        sa.Column('holder', sa.String(length=128), nullable=False),
        sa.Column('ran_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('summary', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduled_runs')),
        sa.UniqueConstraint('kind', 'period', name='uq_scheduled_runs_kind_period'),
    )
    op.create_table(
        'monthly_reports',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('scope', sa.String(length=32), nullable=False),
        sa.Column('department_id', sa.Integer(), nullable=True),
        sa.Column('start', sa.Date(), nullable=False),
        sa.Column('end', sa.Date(), nullable=False),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['department_id'], ['departments.id'],
                                name=op.f('fk_monthly_reports_department_id_departments'), ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_monthly_reports')),
        sa.UniqueConstraint('month', 'scope', name='uq_monthly_reports_month_scope'),
    )
    op.create_index(op.f('ix_monthly_reports_month'), 'monthly_reports', ['month'])
    op.create_index(op.f('ix_monthly_reports_department_id'), 'monthly_reports', ['department_id'])
    with op.batch_alter_table('notice_emails') as batch:
        batch.add_column(sa.Column('report_id', sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f('fk_notice_emails_report_id_monthly_reports'), 'monthly_reports',
                                 ['report_id'], ['id'], ondelete='RESTRICT')


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('notice_emails') as batch:
        batch.drop_constraint(op.f('fk_notice_emails_report_id_monthly_reports'), type_='foreignkey')
        batch.drop_column('report_id')
    op.drop_index(op.f('ix_monthly_reports_department_id'), table_name='monthly_reports')
    op.drop_index(op.f('ix_monthly_reports_month'), table_name='monthly_reports')
    op.drop_table('monthly_reports')
    op.drop_table('scheduled_runs')
