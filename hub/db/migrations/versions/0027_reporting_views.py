"""A ``reporting`` schema of read-only views for Grafana (PostgreSQL only).

The dashboards read these views instead of the hub's tables, so the role Grafana logs in with
needs SELECT on this schema alone (``wardlink grafana grant-reader ROLE``) and never sees
users, password hashes, sessions, API tokens, secrets or e-mail addresses. Each view names
its columns: a column added to a table later does not appear here by itself.

``work_orders.finished_at`` is when the order was completed (or closed without a completion
time), the end of its time to repair as the maintenance KPIs count it.

Views added by later revisions stay readable by the reader role: ``grant-reader`` sets the
schema's default privileges, and :func:`upgrade` grants SELECT on every view to each role that
may use the schema. On SQLite there is no second login to protect; nothing is created.

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


def regrant() -> None:
    """Grant SELECT on every reporting view to each role (other than the owner) that has USAGE
    on the schema; later revisions that add or replace views call this again."""
    op.execute("""
DO $$
DECLARE reader text;
BEGIN
  FOR reader IN
    SELECT r.rolname FROM pg_roles r
    WHERE has_schema_privilege(r.oid, 'reporting', 'USAGE') AND r.rolname <> current_user
      AND NOT r.rolsuper
  LOOP
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO %I', reader);
  END LOOP;
END $$""")


def upgrade() -> None:
    """Apply this revision."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE SCHEMA IF NOT EXISTS reporting")
    op.execute("REVOKE ALL ON SCHEMA reporting FROM PUBLIC")
    for name, query in VIEWS.items():
        op.execute(f"CREATE OR REPLACE VIEW reporting.{name} AS {query}")
    regrant()


def downgrade() -> None:
    """Revert this revision."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP SCHEMA IF EXISTS reporting CASCADE")
