"""Role-based access control: the one table of which role may do what.

Roles without an entry for an action are refused. Users with a department scope see and
change only that department's equipment (:func:`department_scope`); administrators and
internal actors are never scoped.
"""

from __future__ import annotations

from wardlink.hub.db.vocab import ROLES
from wardlink.hub.errors import Message, PermissionDenied, Term
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import SYSTEM_ROLE, Actor

#: Every action a permission can name, with how a refusal describes it.
ACTION_TEXT = {
    "asset.view": N_("view assets"),
    "asset.create": N_("register assets"),
    "asset.update": N_("change assets"),
    "asset.tagout": N_("tag equipment out of use or clear a tag-out"),
    "category.manage": N_("manage equipment categories"),
    "telemetry.view": N_("view readings"),
    "gateway.view": N_("view gateways"),
    "gateway.manage": N_("register or change gateways and channels"),
    "binding.manage": N_("bind channels to assets"),
    "alert.view": N_("view alerts"),
    "alert.raise": N_("raise alerts"),
    "alert.acknowledge": N_("acknowledge alerts"),
    "alert.resolve": N_("resolve alerts"),
    "rule.manage": N_("create, change, enable, disable or import alert rules"),
    "user.view": N_("view users"),
    "user.manage": N_("manage users"),
    "token.own": N_("hold API tokens"),
    "audit.view": N_("read the audit trail"),
    "audit.verify": N_("verify the audit trail"),
    "site.manage": N_("change sites, departments and locations"),
    "workorder.view": N_("view work orders"),
    "workorder.request": N_("request work"),
    "workorder.create": N_("open work orders"),
    "workorder.update": N_("change work orders"),
    "workorder.assign": N_("assign work orders"),
    "workorder.work": N_("start, hold or complete work orders"),
    "workorder.comment": N_("add notes and files to work orders"),
    "workorder.record": N_("record time, parts and downtime on work orders"),
    "workorder.close": N_("approve and close work orders"),
    "workorder.cancel": N_("cancel work orders"),
    "pm.view": N_("view maintenance plans and schedules"),
    "pm.manage": N_("create or change maintenance plans and checklists"),
    "pm.record": N_("record checklist results and meter readings"),
    "kpi.view": N_("view maintenance KPIs and reports"),
    "report.monthly": N_("read the stored monthly KPI reports"),
    "notice.manage": N_("see the delivery of notice e-mails and send failed ones again"),
    "part.view": N_("view spare parts, stock and suppliers"),
    "part.manage": N_("manage the parts catalogue, kits, stock locations and bins"),
    "supplier.manage": N_("manage suppliers"),
    "stock.receive": N_("receive stock"),
    "purchase.manage": N_("draft, send, cancel and close purchase orders"),
    "stock.issue": N_("issue, pick and return parts"),
    "stock.transfer": N_("move stock between bins"),
    "stock.adjust": N_("adjust stock and record stock counts"),
    "stock.approve": N_("approve stock adjustments above the threshold"),
    "rate.manage": N_("set labour rates"),
    "contract.view": N_("view service contracts and warranties"),
    "contract.manage": N_("add or change service contracts and warranties"),
    "consumable.view": N_("view department consumables and their logs"),
    "consumable.manage": N_("manage department consumables lists and record their receipts"),
    "consumable.collect": N_("record collections of department consumables"),
    "oxygen.view": N_("view gas cylinders, their movements, storage places and consumption"),
    "oxygen.move": N_("record gas cylinder movements"),
    "oxygen.manage": N_("register gas cylinders and manage their storage places"),
    "requisition.view": N_("view requisitions"),
    "requisition.request": N_("raise requisitions and close delivered ones"),
    "requisition.handle": N_("receive, review, carry out and deliver requisitions"),
    "requisition.approve": N_("approve or reject requisitions"),
    "usage.view": N_("view equipment usage, operating knowledge, training records and rentals"),
    "usage.start": N_("start, end and transfer sessions of equipment use"),
    "usage.override": N_("start equipment use despite maintenance, a tag-out or an overdue service"),
    "knowledge.manage": N_("write operating procedures and equipment knowledge"),
    "training.manage": N_("record people's training on equipment"),
    "rental.manage": N_("register rented and loaned equipment and return it"),
    "manifold.view": N_("view oxygen manifolds, their supply and changeovers"),
    "manifold.manage": N_("set up the oxygen manifolds watched"),
    "utility.view": N_("view utility meters and their use"),
    "utility.manage": N_("add or change utility meters"),
    "utility.record": N_("enter utility meter readings"),
    "recall.view": N_("view recalls and safety notices"),
    "recall.manage": N_("import recalls, enter safety notices and confirm or reject the assets they concern"),
}
ACTIONS = frozenset(ACTION_TEXT)

_VIEW = {"asset.view", "telemetry.view", "gateway.view", "alert.view", "workorder.view",
         "pm.view", "contract.view", "consumable.view", "requisition.view", "usage.view", "manifold.view",
         "utility.view", "oxygen.view", "recall.view"}

PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": ACTIONS,
    "manager": frozenset(_VIEW | {
        "asset.create", "asset.update", "asset.tagout", "category.manage", "binding.manage", "alert.acknowledge",
        "alert.resolve",
        "rule.manage", "user.view", "token.own", "audit.view", "audit.verify", "site.manage", "workorder.request",
        "workorder.create", "workorder.update", "workorder.assign", "workorder.comment",
        "workorder.record", "workorder.close", "workorder.cancel",
        "pm.manage", "pm.record", "kpi.view", "report.monthly",
        "part.view", "stock.receive", "stock.transfer", "stock.adjust", "stock.approve", "rate.manage",
        "contract.manage", "consumable.collect", "requisition.request", "requisition.handle",
        "requisition.approve", "usage.start", "usage.override", "knowledge.manage", "training.manage",
        "rental.manage", "manifold.manage", "utility.manage", "utility.record", "oxygen.move", "oxygen.manage",
        "recall.manage",
    }),
    "technician": frozenset(_VIEW | {
        "asset.update", "gateway.manage", "binding.manage", "alert.acknowledge", "alert.resolve",
        "token.own", "workorder.request", "pm.record",
        "workorder.create", "workorder.work", "workorder.comment", "workorder.record",
        "part.view", "stock.issue", "stock.transfer", "consumable.collect", "requisition.request",
        "requisition.handle", "usage.start", "knowledge.manage", "manifold.manage", "utility.record", "oxygen.move",
        "recall.manage",
    }),
    "staff": frozenset({"asset.view", "telemetry.view", "alert.view", "alert.acknowledge",
                        "workorder.view", "workorder.request", "workorder.comment", "pm.view",
                        "consumable.view", "consumable.collect", "requisition.view", "requisition.request",
                        "usage.view", "usage.start", "oxygen.view", "oxygen.move"}),
    # Procurement keeps the stores: the catalogue, suppliers, purchase orders, receipts, moves and
    # counts, and the departments' consumables lists (wards record what they collect).
    "procurement": frozenset({"asset.view", "asset.create", "workorder.view", "token.own",
                              "kpi.view", "part.view", "part.manage", "supplier.manage", "stock.receive",
                              "purchase.manage",
                              "stock.transfer", "stock.adjust", "contract.view", "contract.manage",
                              "consumable.view", "consumable.manage", "consumable.collect",
                              "requisition.view", "requisition.request", "requisition.handle",
                              "usage.view", "rental.manage", "oxygen.view", "oxygen.move",
                              "oxygen.manage"}),
    # Vendors see and act on only the work orders assigned to them (wardlink.hub.services.maintenance.workorders).
    "vendor": frozenset({"workorder.view", "pm.record", "workorder.work", "workorder.comment",
                         "workorder.record"}),
    "viewer": frozenset(_VIEW | {"token.own", "kpi.view", "part.view"}),
    SYSTEM_ROLE: ACTIONS,
}

#: Roles whose department scope is ignored.
UNSCOPED_ROLES = frozenset({"admin", SYSTEM_ROLE})


def _check_table() -> None:
    missing = set(ROLES) - set(PERMISSIONS)
    unknown = {a for allowed in PERMISSIONS.values() for a in allowed} - ACTIONS
    if missing or unknown:
        raise RuntimeError(f"permission table: roles without entry {sorted(missing)}, "
                           f"unknown actions {sorted(unknown)}")


_check_table()


def can(actor: Actor, action: str) -> bool:
    """Return True when ``actor``'s role allows ``action``."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    return action in PERMISSIONS.get(actor.role, frozenset())


def require(actor: Actor, action: str) -> None:
    """Raise :class:`PermissionDenied` unless ``actor`` may perform ``action``."""
    if not can(actor, action):
        raise PermissionDenied(N_("role '%(role)s' may not %(action)s (user '%(user)s')"),
                               role=Term(actor.role), action=Message(ACTION_TEXT[action]), user=actor.username)


def department_scope(actor: Actor) -> int | None:
    """Return the department id ``actor`` is limited to, or None for no limit."""
    return None if actor.role in UNSCOPED_ROLES else actor.department_id


def require_department(actor: Actor, department_id: int | None, what: str | Message) -> None:
    """Raise :class:`PermissionDenied` when ``what`` (a :class:`Message` naming the thing) lies
    outside ``actor``'s department."""
    scope = department_scope(actor)
    if scope is not None and department_id != scope:
        raise PermissionDenied(N_("%(what)s belongs to another department than user '%(user)s'"),
                               what=what, user=actor.username)
