"""The audit chain keyed with a secret outside the database.

``audit_chain_keys`` records from which audit row (``from_seq``) the chain is keyed: rows
before it keep their plain SHA-256 hashes and verify as before; that row and every later one
carry an HMAC-SHA256 under the key in ``audit_key_file``. ``key_check`` is an HMAC of a fixed
text under that key, so a verifier can tell a wrong key from a tampered row, and nobody
without the key can forge a new start. The table is append-only like ``audit_log`` (the same
triggers), and the hub writes its one row itself when a process holding the key first opens
the database after this upgrade; nothing here needs the key.

Revision ID: 0011_audit_key
Revises: 0010_revocable_sessions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011_audit_key'
down_revision = '0010_revocable_sessions'
branch_labels = None
depends_on = None

#: SQLite triggers guarding the table (PostgreSQL: one row trigger and one TRUNCATE trigger).
_SQLITE_GUARDS = {"audit_chain_keys_no_update": "UPDATE", "audit_chain_keys_no_delete": "DELETE"}


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('audit_chain_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('from_seq', sa.Integer(), nullable=False),
    sa.Column('key_check', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain_keys')),
    sa.UniqueConstraint('from_seq', name=op.f('uq_audit_chain_keys_from_seq'))
    )
    if op.get_bind().dialect.name == "postgresql":
        # wardlink_audit_append_only() comes with audit_log (0001_initial_schema).
        op.execute("CREATE TRIGGER audit_chain_keys_append_only BEFORE UPDATE OR DELETE ON audit_chain_keys "
                   "FOR EACH ROW EXECUTE FUNCTION wardlink_audit_append_only()")
        op.execute("CREATE TRIGGER audit_chain_keys_no_truncate BEFORE TRUNCATE ON audit_chain_keys "
                   "FOR EACH STATEMENT EXECUTE FUNCTION wardlink_audit_append_only()")
        return
    for name, event in _SQLITE_GUARDS.items():
        op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON audit_chain_keys "
                   "BEGIN SELECT RAISE(ABORT, 'audit_chain_keys is append-only'); END")


def downgrade() -> None:
    """Revert this revision (the audit rows keep their keyed hashes; verifying them then
    needs this revision again)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_chain_keys_no_truncate ON audit_chain_keys")
        op.execute("DROP TRIGGER IF EXISTS audit_chain_keys_append_only ON audit_chain_keys")
    else:
        for name in _SQLITE_GUARDS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table('audit_chain_keys')
