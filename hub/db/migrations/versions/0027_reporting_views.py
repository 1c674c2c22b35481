"""A ``reporting`` schema of read-only views for Grafana (PostgreSQL only).

The dashboards read these views instead of the hub's tables, so the role Grafana logs in with
needs SELECT on this schema alone (``wardlink grafana grant-reader ROLE``) and never sees
users, password hashes, sessions, API tokens, secrets or e-mail addresses. Each view names
its columns: a column added to a table later does not appear here by itself.

``work_orders.finished_at`` is when the order was completed (or closed without a completion
time), the end of its time to repair as the maintenance KPIs count it.

Views added by later revisions stay readable by the reader role: ``grant-reader`` sets the
default privileges of the schema's owner (the login that runs the migrations) for it. A
downgrade past this revision drops the schema and its grants; run ``grant-reader`` again after
upgrading. On SQLite there is no second login to protect; nothing is created.

Revision ID: 0027_reporting_views
Revises: 0026_audit_filter_indexes
"""

from __future__ import annotations

from alembic import op

revision = '0027_reporting_views'
down_revision = '0026_audit_filter_indexes'
branch_labels = None
depends_on = None

VIEWS = {
    "sites": "SELECT id, code, name, timezone FROM public.sites",
    "departments": "SELECT id, site_id, code, name FROM public.departments",
    "assets": (
        "SELECT id, tag, name, category, department_id, location_id, lifecycle_stage, equipment_status, "
        "maintenance_status, life_support, created_at, updated_at FROM public.assets"),
    "alerts": (
        "SELECT id, rule, asset_id, gateway_pk, channel, severity, state, title, value, opened_at, "
        "acknowledged_at, resolved_at FROM public.alerts"),
    "work_orders": (
        "SELECT id, code, kind, state, priority, asset_id, department_id, alert_id, title, due_at, "
        "created_at, updated_at, responded_at, response_due_at, resolution_due_at, completed_at, closed_at, "
        "cancelled_at, coalesce(completed_at, closed_at) AS finished_at, resolution_category "
        "FROM public.work_orders"),
    "gateways": (
        "SELECT g.id, g.gateway_id, g.name, g.department_id, g.enabled, l.state, l.last_seen_ms, "
        "l.buffer_depth, l.version FROM public.gateways g "
        "LEFT JOIN public.gateway_links l ON l.gateway = g.gateway_id"),
}


def upgrade() -> None:
    """Apply this revision."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE SCHEMA IF NOT EXISTS reporting")
    op.execute("REVOKE ALL ON SCHEMA reporting FROM PUBLIC")
    for name, query in VIEWS.items():
        op.execute(f"CREATE OR REPLACE VIEW reporting.{name} AS {query}")


def downgrade() -> None:
    """Revert this revision."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP SCHEMA IF EXISTS reporting CASCADE")
