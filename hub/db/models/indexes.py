"""Indexes the admin pages need at hospital-group scale (see bench/admin_pages.py).

- an asset's change history: audit rows of one entity, newest first;
- the audit page's filters by who and by action, newest first, and the choices they offer (one
  index probe per distinct value, see ``wardlink.hub.services.audit.trail.filter_choices``);
- work-order lists and the board: orders of a state, newest first, and all orders newest first;
- the dashboard's "past SLA" count: open orders with a breach, read from the index alone;
- the work-order list sorted by due date (migration 0007);
- the work-order list filtered by the day orders were closed, with their state and opening time
  so the page and its count are read from the index alone (migrations 0019 and 0024).

Declared here, beside the tables they serve, so the schema and migrations 0005, 0007, 0019,
0024 and 0026 stay in step.
"""

from __future__ import annotations

from sqlalchemy import Index

from wardlink.hub.db.models.audit import AuditLog
from wardlink.hub.db.models.work import WorkOrder

AUDIT_BY_ENTITY = Index("ix_audit_log_entity_ref", AuditLog.entity, AuditLog.entity_id, AuditLog.seq)
AUDIT_BY_ACTOR = Index("ix_audit_log_actor_seq", AuditLog.actor, AuditLog.seq)
AUDIT_BY_ACTION = Index("ix_audit_log_action_seq", AuditLog.action, AuditLog.seq)
WORK_ORDERS_BY_STATE = Index("ix_work_orders_state_created", WorkOrder.state, WorkOrder.created_at)
WORK_ORDERS_BY_CREATED = Index("ix_work_orders_created", WorkOrder.created_at, WorkOrder.id)
WORK_ORDERS_BY_BREACH = Index("ix_work_orders_state_breach", WorkOrder.state, WorkOrder.response_breached_at,
                              WorkOrder.resolution_breached_at)
WORK_ORDERS_BY_DUE = Index("ix_work_orders_resolution_due", WorkOrder.resolution_due_at, WorkOrder.id)
WORK_ORDERS_BY_CLOSED = Index("ix_work_orders_closed_state", WorkOrder.closed_at, WorkOrder.state,
                              WorkOrder.created_at, WorkOrder.id)
