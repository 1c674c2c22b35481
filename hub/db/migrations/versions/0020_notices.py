"""Notices about the work: one row per person told, its e-mail copy, and people's preferences.

Revision ID: 0020_notices
Revises: 0019_work_order_closed_index
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020_notices'
down_revision = '0019_work_order_closed_index'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        'notices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(length=32), nullable=False),
        sa.Column('key', sa.String(length=160), nullable=False),
        sa.Column('subject', sa.String(length=300), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('link', sa.String(length=300), nullable=False),
        sa.Column('in_app', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notices_user_id_users'),
                                ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notices')),
        sa.UniqueConstraint('user_id', 'key', name='uq_notices_user_id_key'),
    )
    op.create_index('ix_notices_user_unread', 'notices', ['user_id', 'read_at'])
    op.create_table(
        'notice_emails',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('notice_id', sa.Integer(), nullable=False),
        sa.Column('to_addr', sa.String(length=254), nullable=False),
        sa.Column('subject', sa.String(length=300), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'sent', 'failed')", name=op.f('ck_notice_emails_state_choice')),
        sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], name=op.f('fk_notice_emails_notice_id_notices'),
                                ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notice_emails')),
    )
    op.create_index('ix_notice_emails_due', 'notice_emails', ['state', 'next_attempt_at'])
    op.create_index(op.f('ix_notice_emails_notice_id'), 'notice_emails', ['notice_id'])
    op.create_table(
        'notice_preferences',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(length=32), nullable=False),
        sa.Column('in_app', sa.Boolean(), nullable=False),
        sa.Column('email', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notice_preferences_user_id_users'),
                                ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('user_id', 'event', name=op.f('pk_notice_preferences')),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table('notice_preferences')
    op.drop_index(op.f('ix_notice_emails_notice_id'), table_name='notice_emails')
    op.drop_index('ix_notice_emails_due', table_name='notice_emails')
    op.drop_table('notice_emails')
    op.drop_index('ix_notices_user_unread', table_name='notices')
    op.drop_table('notices')
