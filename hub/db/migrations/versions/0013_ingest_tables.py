"""The ingest workers' tables join the migrated schema.

``ingest_dead_letters``, ``ingest_events``, ``ingest_gateway_state``, ``ingest_workers`` and
``ingest_batch_sequence`` used to be created by each ingest worker when it started (CREATE
TABLE IF NOT EXISTS, plus columns added to an older ``ingest_workers``). From this revision
on they are the migrations' alone. A database where a worker already made them keeps them
and their rows: this revision creates only the tables and indexes that are missing and adds
the columns an older worker's table lacks.

Revision ID: 0013_ingest_tables
Revises: 0012_alert_episodes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013_ingest_tables'
down_revision = '0012_alert_episodes'
branch_labels = None
depends_on = None


def _tables() -> dict[str, tuple[list, list]]:
    """Return each table's (columns and constraints, indexes as (name, columns))."""
    return {
        'ingest_dead_letters': ([
            sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('digest', sa.String(length=64), nullable=False),
            sa.Column('topic', sa.Text(), nullable=False),
            sa.Column('gateway', sa.String(length=64), nullable=True),
            sa.Column('reason', sa.String(length=32), nullable=False),
            sa.Column('detail', sa.Text(), nullable=False),
            sa.Column('payload', sa.LargeBinary(), nullable=False),
            sa.Column('payload_size', sa.Integer(), nullable=False),
            sa.Column('first_received_ms', sa.BigInteger(), nullable=False),
            sa.Column('last_received_ms', sa.BigInteger(), nullable=False),
            sa.Column('count', sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_dead_letters')),
            sa.UniqueConstraint('digest', name=op.f('uq_ingest_dead_letters_digest')),
        ], [('ix_ingest_dead_letters_last_received_ms', ['last_received_ms'])]),
        'ingest_events': ([
            sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('gateway', sa.String(length=64), nullable=False),
            sa.Column('boot', sa.String(length=64), nullable=False),
            sa.Column('seq', sa.BigInteger(), nullable=False),
            sa.Column('idx', sa.Integer(), nullable=False),
            sa.Column('ts_ms', sa.BigInteger(), nullable=False),
            sa.Column('type', sa.String(length=64), nullable=False),
            sa.Column('severity', sa.String(length=16), nullable=False),
            sa.Column('channel', sa.String(length=128), nullable=True),
            sa.Column('asset', sa.String(length=256), nullable=True),
            sa.Column('data', sa.JSON(), nullable=False),
            sa.Column('received_ms', sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_events')),
            sa.UniqueConstraint('gateway', 'boot', 'seq', 'idx', name=op.f('uq_ingest_events_gateway_boot_seq_idx')),
        ], [('ix_ingest_events_ts_ms', ['ts_ms']), ('ix_ingest_events_gateway_ts', ['gateway', 'ts_ms']),
            ('ix_ingest_events_asset_ts', ['asset', 'ts_ms'])]),
        'ingest_gateway_state': ([
            sa.Column('gateway', sa.String(length=64), nullable=False),
            sa.Column('state', sa.String(length=16), nullable=True),
            sa.Column('state_ts_ms', sa.BigInteger(), nullable=True),
            sa.Column('state_received_ms', sa.BigInteger(), nullable=True),
            sa.Column('status_boot', sa.String(length=64), nullable=True),
            sa.Column('version', sa.String(length=64), nullable=True),
            sa.Column('uptime_s', sa.Float(), nullable=True),
            sa.Column('buffer_depth', sa.BigInteger(), nullable=True),
            sa.Column('oldest_unsent_ms', sa.BigInteger(), nullable=True),
            sa.Column('dropped', sa.BigInteger(), nullable=True),
            sa.Column('config_version', sa.BigInteger(), nullable=True),
            sa.Column('boot', sa.String(length=64), nullable=True),
            sa.Column('telemetry_seq', sa.BigInteger(), nullable=True),
            sa.Column('events_seq', sa.BigInteger(), nullable=True),
            sa.Column('restarts', sa.Integer(), nullable=False),
            sa.Column('gaps', sa.Integer(), nullable=False),
            sa.Column('missing_batches', sa.BigInteger(), nullable=False),
            sa.Column('duplicate_batches', sa.BigInteger(), nullable=False),
            sa.Column('batches', sa.BigInteger(), nullable=False),
            sa.Column('readings', sa.BigInteger(), nullable=False),
            sa.Column('last_reading_ts_ms', sa.BigInteger(), nullable=True),
            sa.Column('last_seen_ms', sa.BigInteger(), nullable=True),
            sa.PrimaryKeyConstraint('gateway', name=op.f('pk_ingest_gateway_state')),
        ], []),
        'ingest_workers': ([
            sa.Column('client_id', sa.String(length=128), nullable=False),
            sa.Column('hostname', sa.String(length=255), nullable=False),
            sa.Column('pid', sa.Integer(), nullable=False),
            sa.Column('started_ms', sa.BigInteger(), nullable=False),
            sa.Column('updated_ms', sa.BigInteger(), nullable=False),
            sa.Column('connected', sa.Boolean(), nullable=False),
            sa.Column('received', sa.BigInteger(), nullable=False),
            sa.Column('points_written', sa.BigInteger(), nullable=False),
            sa.Column('dead_lettered', sa.BigInteger(), nullable=False),
            sa.Column('acked', sa.BigInteger(), nullable=False),
            sa.Column('store_errors', sa.BigInteger(), nullable=False),
            sa.Column('pending', sa.Integer(), nullable=False),
            sa.Column('last_error', sa.Text(), nullable=True),
            sa.Column('last_error_ms', sa.BigInteger(), nullable=True),
            sa.Column('oldest_pending_ms', sa.BigInteger(), nullable=True),
            sa.Column('retrying_since_ms', sa.BigInteger(), nullable=True),
            sa.Column('share_group', sa.String(length=128), nullable=True),
            sa.PrimaryKeyConstraint('client_id', name=op.f('pk_ingest_workers')),
        ], []),
        'ingest_batch_sequence': ([
            sa.Column('gateway', sa.String(length=64), nullable=False),
            sa.Column('boot', sa.String(length=64), nullable=False),
            sa.Column('through', sa.BigInteger(), nullable=False),
            sa.Column('high', sa.BigInteger(), nullable=False),
            sa.Column('received', sa.Text(), nullable=False),
            sa.Column('missing', sa.BigInteger(), nullable=False),
            sa.Column('missing_since_ms', sa.BigInteger(), nullable=True),
            sa.Column('first_seen_ms', sa.BigInteger(), nullable=False),
            sa.Column('updated_ms', sa.BigInteger(), nullable=False),
            sa.Column('requested_ms', sa.BigInteger(), nullable=True),
            sa.Column('requests', sa.Integer(), nullable=False),
            sa.Column('missing_at_request', sa.BigInteger(), nullable=False),
            sa.Column('resend_requests', sa.BigInteger(), nullable=False),
            sa.Column('recovered', sa.BigInteger(), nullable=False),
            sa.Column('given_up', sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint('gateway', 'boot', name=op.f('pk_ingest_batch_sequence')),
        ], [('ix_ingest_batch_sequence_missing', ['missing_since_ms'])]),
    }


def upgrade() -> None:
    """Apply this revision: create what is missing, keep what an ingest worker already made."""
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    for name, (columns, indexes) in _tables().items():
        if name not in existing:
            op.create_table(name, *columns)
            for index, on in indexes:
                op.create_index(index, name, on, unique=False)
            continue
        present = {c['name'] for c in inspector.get_columns(name)}
        for column in columns:
            if isinstance(column, sa.Column) and column.name not in present:
                # Only nullable columns were ever added to a released table.
                op.add_column(name, column)
        present_indexes = {i['name'] for i in inspector.get_indexes(name)}
        for index, on in indexes:
            if index not in present_indexes:
                op.create_index(index, name, on, unique=False)


def downgrade() -> None:
    """Revert this revision (an ingest worker of the previous version creates the tables again)."""
    for name in reversed(list(_tables())):
        op.drop_table(name)
