"""One table holds each gateway's link state: ``gateway_links``.

A gateway's link used to live in three places: the ``gateways`` row (``status``,
``last_seen_at``, ``boot_id``, ``buffer_depth``, ``software_version``), ingest's
``ingest_gateway_state`` and the rules engine's ``rule_gateways``. This revision creates
``gateway_links`` (one row per gateway id heard on the wire), copies the three into it and
drops them. Ingest's columns keep their names; the rules engine's become ``rules_state``,
``rules_boot``, ``rules_since_ms``, ``rules_status_ms``, ``rules_buffer_depth`` and
``rules_oldest_unsent_ms`` (``status_ts_ms`` and ``clock_offset_ms`` keep theirs). Where the
``gateways`` row was updated after ingest last heard the gateway, its facts win, as the
services used to merge them. The downgrade puts the three back from the one table.

Revision ID: 0015_gateway_links
Revises: 0014_equipment_status
"""

from __future__ import annotations

import re
from datetime import datetime, UTC

import sqlalchemy as sa
from alembic import op

revision = '0015_gateway_links'
down_revision = '0014_equipment_status'
branch_labels = None
depends_on = None

INGEST_COLUMNS = ('state', 'state_ts_ms', 'state_received_ms', 'status_boot', 'version', 'uptime_s', 'buffer_depth',
                  'oldest_unsent_ms', 'dropped', 'config_version', 'boot', 'telemetry_seq', 'events_seq',
                  'restarts', 'gaps', 'missing_batches', 'duplicate_batches', 'batches', 'readings',
                  'last_reading_ts_ms', 'last_seen_ms')
COUNTERS = ('restarts', 'gaps', 'missing_batches', 'duplicate_batches', 'batches', 'readings')
# rule_gateways column -> gateway_links column
RULES_COLUMNS = {'state': 'rules_state', 'boot': 'rules_boot', 'since_ms': 'rules_since_ms',
                 'status_ms': 'rules_status_ms', 'buffer_depth': 'rules_buffer_depth',
                 'oldest_unsent_ms': 'rules_oldest_unsent_ms', 'status_ts_ms': 'status_ts_ms',
                 'clock_offset_ms': 'clock_offset_ms'}
GATEWAY_STATUS_CHECK = "status IN ('online', 'offline', 'unknown')"


def _links_columns() -> list:
    big, name = sa.BigInteger(), sa.String(length=64)
    columns = [sa.Column('gateway', name, nullable=False)]
    for column in INGEST_COLUMNS:
        if column in COUNTERS:
            columns.append(sa.Column(column, sa.BigInteger(), server_default=sa.text('0'), nullable=False))
        elif column in ('state',):
            columns.append(sa.Column(column, sa.String(length=16), nullable=True))
        elif column in ('status_boot', 'version', 'boot'):
            columns.append(sa.Column(column, sa.String(length=64), nullable=True))
        elif column == 'uptime_s':
            columns.append(sa.Column(column, sa.Float(), nullable=True))
        else:
            columns.append(sa.Column(column, big, nullable=True))
    columns += [
        sa.Column('rules_state', sa.String(length=16), nullable=True),
        sa.Column('rules_boot', sa.String(length=64), nullable=True),
        *(sa.Column(c, sa.BigInteger(), nullable=True)
          for c in ('rules_since_ms', 'rules_status_ms', 'rules_buffer_depth', 'rules_oldest_unsent_ms',
                    'status_ts_ms', 'clock_offset_ms')),
        sa.PrimaryKeyConstraint('gateway', name=op.f('pk_gateway_links')),
    ]
    return columns


def _ingest_state_columns() -> list:
    """``ingest_gateway_state`` as revision 0013 made it."""
    big, name = sa.BigInteger(), sa.String(length=64)
    return [
        sa.Column('gateway', name, nullable=False),
        sa.Column('state', sa.String(length=16), nullable=True),
        sa.Column('state_ts_ms', big, nullable=True),
        sa.Column('state_received_ms', big, nullable=True),
        sa.Column('status_boot', name, nullable=True),
        sa.Column('version', name, nullable=True),
        sa.Column('uptime_s', sa.Float(), nullable=True),
        sa.Column('buffer_depth', big, nullable=True),
        sa.Column('oldest_unsent_ms', big, nullable=True),
        sa.Column('dropped', big, nullable=True),
        sa.Column('config_version', big, nullable=True),
        sa.Column('boot', name, nullable=True),
        sa.Column('telemetry_seq', big, nullable=True),
        sa.Column('events_seq', big, nullable=True),
        sa.Column('restarts', sa.Integer(), nullable=False),
        sa.Column('gaps', sa.Integer(), nullable=False),
        sa.Column('missing_batches', big, nullable=False),
        sa.Column('duplicate_batches', big, nullable=False),
        sa.Column('batches', big, nullable=False),
        sa.Column('readings', big, nullable=False),
        sa.Column('last_reading_ts_ms', big, nullable=True),
        sa.Column('last_seen_ms', big, nullable=True),
        sa.PrimaryKeyConstraint('gateway', name=op.f('pk_ingest_gateway_state')),
    ]


def _rule_gateways_columns() -> list:
    """``rule_gateways`` as revisions 0002 and 0008 made it."""
    return [
        sa.Column('gateway', sa.String(length=64), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('boot', sa.String(length=64), nullable=True),
        sa.Column('since_ms', sa.BigInteger(), nullable=False),
        sa.Column('status_ms', sa.BigInteger(), nullable=False),
        sa.Column('buffer_depth', sa.BigInteger(), nullable=True),
        sa.Column('oldest_unsent_ms', sa.BigInteger(), nullable=True),
        sa.Column('status_ts_ms', sa.BigInteger(), nullable=True),
        sa.Column('clock_offset_ms', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('gateway', name=op.f('pk_rule_gateways')),
    ]


def _gateway_columns() -> sa.TableClause:
    return sa.table('gateways', sa.column('gateway_id', sa.String()), sa.column('status', sa.String()),
                    sa.column('last_seen_at', sa.DateTime(timezone=True)), sa.column('boot_id', sa.String()),
                    sa.column('buffer_depth', sa.Integer()), sa.column('software_version', sa.String()))


def _to_ms(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # SQLite keeps UTC without its zone
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def _from_ms(ms: int | None, sqlite: bool) -> datetime | None:
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.replace(tzinfo=None) if sqlite else moment


def _merged_rows(bind) -> list[dict]:
    """Return one ``gateway_links`` row per gateway found in any of the three old places."""
    ingest = sa.table('ingest_gateway_state', sa.column('gateway'), *(sa.column(c) for c in INGEST_COLUMNS))
    rules = sa.table('rule_gateways', sa.column('gateway'), *(sa.column(c) for c in RULES_COLUMNS))
    empty = {c: (0 if c in COUNTERS else None) for c in (*INGEST_COLUMNS, *RULES_COLUMNS.values())}
    rows: dict[str, dict] = {}
    for row in bind.execute(sa.select(ingest)).mappings():
        rows[row['gateway']] = {**empty, **row}
    for row in bind.execute(sa.select(_gateway_columns())).mappings():
        seen_ms = _to_ms(row['last_seen_at'])
        told = {'state': row['status'] if row['status'] in ('online', 'offline') else None,
                'buffer_depth': row['buffer_depth'], 'version': row['software_version'],
                'status_boot': row['boot_id']}
        if seen_ms is None and not any(told.values()):
            continue  # nothing was ever recorded on the row
        link = rows.setdefault(row['gateway_id'], {**empty, 'gateway': row['gateway_id']})
        if seen_ms is not None and (link['last_seen_ms'] is None or seen_ms > link['last_seen_ms']):
            # The gateway row was updated after ingest last heard the gateway: its facts are newer.
            link.update({k: v for k, v in told.items() if v is not None})
            link['last_seen_ms'] = link['state_received_ms'] = seen_ms
        else:
            link.update({k: v for k, v in told.items() if v is not None and link[k] is None})
    for row in bind.execute(sa.select(rules)).mappings():
        link = rows.setdefault(row['gateway'], {**empty, 'gateway': row['gateway']})
        link.update({new: row[old] for old, new in RULES_COLUMNS.items()})
    return [rows[g] for g in sorted(rows)]


def _drop_gateway_columns(bind) -> None:
    names = ('status', 'last_seen_at', 'boot_id', 'buffer_depth', 'software_version')
    if bind.dialect.name != 'sqlite':
        for name in names:
            op.drop_column('gateways', name)
        return
    # SQLite cannot drop a column a table CHECK constraint names, and rebuilding ``gateways``
    # is refused while other tables' ON DELETE RESTRICT keys point at it. Removing a CHECK
    # constraint changes nothing on disk, so it is taken out of the stored schema the way
    # SQLite documents for such changes (ALTER TABLE, "making other kinds of schema changes"),
    # then each column goes with ALTER TABLE DROP COLUMN.
    sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'gateways'").scalar()
    stripped = re.sub(r",\s*CONSTRAINT\s+\"?ck_gateways_status_choice\"?\s+CHECK\s*\((?:[^()]|\([^()]*\))*\)",
                      "", sql, flags=re.IGNORECASE)
    if stripped != sql:
        version = bind.exec_driver_sql("PRAGMA schema_version").scalar()
        bind.exec_driver_sql("PRAGMA writable_schema = ON")
        bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'gateways'",
                             (stripped,))
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    for name in names:
        bind.exec_driver_sql(f'ALTER TABLE gateways DROP COLUMN "{name}"')


def upgrade() -> None:
    """Apply this revision: create ``gateway_links``, fill it from the three old places, drop them."""
    bind = op.get_bind()
    links = op.create_table('gateway_links', *_links_columns())
    rows = _merged_rows(bind)
    if rows:
        bind.execute(links.insert(), rows)
    op.drop_table('ingest_gateway_state')
    op.drop_table('rule_gateways')
    _drop_gateway_columns(bind)


def _add_gateway_columns(bind) -> None:
    if bind.dialect.name == 'sqlite':
        bind.exec_driver_sql("ALTER TABLE gateways ADD COLUMN status VARCHAR(16) NOT NULL DEFAULT 'unknown' "
                             f"CONSTRAINT ck_gateways_status_choice CHECK ({GATEWAY_STATUS_CHECK})")
    else:
        op.add_column('gateways', sa.Column('status', sa.String(length=16), nullable=False,
                                            server_default='unknown'))
        op.create_check_constraint(op.f('ck_gateways_status_choice'), 'gateways', GATEWAY_STATUS_CHECK)
        op.alter_column('gateways', 'status', server_default=None)
    op.add_column('gateways', sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('gateways', sa.Column('boot_id', sa.String(length=64), nullable=True))
    op.add_column('gateways', sa.Column('buffer_depth', sa.Integer(), nullable=True))
    op.add_column('gateways', sa.Column('software_version', sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Revert this revision: the three old places again, filled from ``gateway_links``."""
    bind = op.get_bind()
    sqlite = bind.dialect.name == 'sqlite'
    ingest = op.create_table('ingest_gateway_state', *_ingest_state_columns())
    rules = op.create_table('rule_gateways', *_rule_gateways_columns())
    _add_gateway_columns(bind)
    links = sa.table('gateway_links', sa.column('gateway'), *(sa.column(c) for c in INGEST_COLUMNS),
                     *(sa.column(c) for c in RULES_COLUMNS.values()))
    rows = [dict(r) for r in bind.execute(sa.select(links).order_by(links.c.gateway)).mappings()]
    heard = [{c: r[c] for c in ('gateway', *INGEST_COLUMNS)} for r in rows
             if r['state'] is not None or r['last_seen_ms'] is not None or r['boot'] is not None]
    if heard:
        bind.execute(ingest.insert(), heard)
    applied = [{'gateway': r['gateway'], **{old: r[new] for old, new in RULES_COLUMNS.items()}} for r in rows
               if r['rules_state'] is not None]
    for row in applied:
        row['since_ms'] = row['since_ms'] or 0
        row['status_ms'] = row['status_ms'] or 0
    if applied:
        bind.execute(rules.insert(), applied)
    gateways = _gateway_columns()
    for r in rows:
        bind.execute(gateways.update().where(gateways.c.gateway_id == r['gateway']).values(
            status=r['state'] if r['state'] in ('online', 'offline') else 'unknown',
            last_seen_at=_from_ms(r['last_seen_ms'], sqlite), boot_id=r['boot'] or r['status_boot'],
            buffer_depth=r['buffer_depth'], software_version=r['version']))
    op.drop_table('gateway_links')
