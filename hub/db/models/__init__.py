"""Every table of the hub's relational store."""

from wardlink.hub.db.models.alerts import Alert
from wardlink.hub.db.models.assets import Asset
from wardlink.hub.db.models.audit import AuditChainKey, AuditLog
from wardlink.hub.db.models.gateways import Channel, ChannelBinding, Gateway, GatewayLink
from wardlink.hub.db.models.org import Department, Location, Site
from wardlink.hub.db.models.users import ApiToken, RecoveryCode, User
from wardlink.hub.db.models.work import WorkOrder
from wardlink.hub.db.models.work_records import (WorkOrderAttachment, WorkOrderNote, WorkOrderPart,
                                        WorkOrderSignature, WorkOrderTimeLog)

__all__ = [
    "Alert", "ApiToken", "Asset", "AuditChainKey", "AuditLog", "Channel", "ChannelBinding", "Department",
    "Gateway", "GatewayLink", "Location", "RecoveryCode", "Site", "User", "WorkOrder", "WorkOrderAttachment",
    "WorkOrderNote", "WorkOrderPart", "WorkOrderSignature", "WorkOrderTimeLog",
]

# The rules engine's tables: rules, their state, alert lifecycle, run-hour meters and the
# notification outbox (revision 0002_rules).
from wardlink.hub.db.models.rules import (
    AlertLifecycle, AssetMeter, NotificationOutbox, Rule, RulesGeneration, RuleState,
)

__all__ += ["AlertLifecycle", "AssetMeter", "NotificationOutbox", "Rule", "RulesGeneration", "RuleState"]

# Preventive maintenance (plans, occurrences, checklists, meters, scheduler lease; revision 0004_pm).
from wardlink.hub.db.models.pm import (  # noqa: E402
    ChecklistResult, ChecklistTemplate, ChecklistVersion, MeterReading, PmOccurrence, PmPlan,
    SchedulerJob, SchedulerLease,
)

__all__ += [
    "ChecklistResult", "ChecklistTemplate", "ChecklistVersion", "MeterReading", "PmOccurrence",
    "PmPlan", "SchedulerJob", "SchedulerLease",
]

# Indexes the admin pages need at scale (revision 0005_ui_indexes).
import wardlink.hub.db.models.indexes  # noqa: E402

# One-time gateway enrollment tokens (revision 0006_enrollment).
from wardlink.hub.db.models.enrollment import EnrollmentToken  # noqa: E402

__all__ += ["EnrollmentToken"]

# Revocable browser sessions and the failed sign-in log (revision 0010_revocable_sessions).
from wardlink.hub.db.models.sessions import LoginFailure, WebSession  # noqa: E402

__all__ += ["LoginFailure", "WebSession"]

# The ingest workers' tables: dead letters, events, workers, batch sequences
# (revision 0013_ingest_tables). Core tables, written by the ingest hot path without the ORM.
import wardlink.hub.db.models.ingest  # noqa: E402,F401

# Equipment status history and tag-out (revision 0014_equipment_status).
from wardlink.hub.db.models.assets import AssetStatusChange  # noqa: E402

__all__ += ["AssetStatusChange"]

# Files kept with an asset, and the checklist item a work order's file belongs to
# (revision 0017_attachments).
from wardlink.hub.db.models.asset_files import AssetAttachment  # noqa: E402

__all__ += ["AssetAttachment"]

# Notices about the work, their e-mail copies and people's preferences (revision 0020_notices).
from wardlink.hub.db.models.notices import Notice, NoticeEmail, NoticePreference  # noqa: E402

__all__ += ["Notice", "NoticeEmail", "NoticePreference"]

# The managed list of equipment categories (revision 0022_asset_categories).
from wardlink.hub.db.models.assets import AssetCategory  # noqa: E402

__all__ += ["AssetCategory"]

# Calendar runs of the scheduler and the stored monthly KPI reports (revision 0023_scheduled_reports).
from wardlink.hub.db.models.reports import MonthlyReport, ScheduledRun  # noqa: E402

__all__ += ["MonthlyReport", "ScheduledRun"]

# Spare parts, suppliers, storage, stock levels, the stock ledger, adjustments waiting for
# approval and parts picked for work orders (revision 0028_inventory).
from wardlink.hub.db.models.inventory import (  # noqa: E402
    Part, PartKit, PartKitItem, PartModel, StockAdjustment, StockBin, StockLevel, StockLocation, StockMovement,
    Supplier, SupplierContact, WorkOrderPick,
)

__all__ += [
    "Part", "PartKit", "PartKitItem", "PartModel", "StockAdjustment", "StockBin", "StockLevel", "StockLocation",
    "StockMovement", "Supplier", "SupplierContact", "WorkOrderPick",
]

# Labour rates and vendor charges, what work orders cost beyond parts (revision 0029_work_order_costs).
from wardlink.hub.db.models.costs import LabourRate, WorkOrderCharge  # noqa: E402

__all__ += ["LabourRate", "WorkOrderCharge"]

# Service contracts and warranties, the assets they cover and their expiry warnings
# (revision 0031_service_contracts).
from wardlink.hub.db.models.contracts import ContractAsset, ContractWarning, ServiceContract  # noqa: E402

__all__ += ["ContractAsset", "ContractWarning", "ServiceContract"]

# Department consumables lists and their append-only log of receipts and collections
# (revision 0034_consumables).
from wardlink.hub.db.models.consumables import Consumable, ConsumableEntry  # noqa: E402

__all__ += ["Consumable", "ConsumableEntry"]

# Requisitions for work and repairs and their movements (revision 0035_requisitions).
from wardlink.hub.db.models.requisitions import Requisition, RequisitionMovement  # noqa: E402

__all__ += ["Requisition", "RequisitionMovement"]

# Purchase orders, their lines and the receipts against them (revision 0036_purchase_orders).
from wardlink.hub.db.models.purchasing import PurchaseOrder, PurchaseOrderLine, PurchaseOrderReceipt  # noqa: E402

__all__ += ["PurchaseOrder", "PurchaseOrderLine", "PurchaseOrderReceipt"]

# Change counters of the answers the hub keeps in memory, e.g. the PM calendar (revision 0037_data_stamps).
from wardlink.hub.db.models.stamps import DataStamp  # noqa: E402

__all__ += ["DataStamp"]

# The catalogue parts a plan's service uses (the parts forecast) and why work orders were delayed
# (the monthly repairs list) (revision 0038_plan_parts_delays).
from wardlink.hub.db.models.plan_parts import PmPlanPart, WorkOrderDelay  # noqa: E402

__all__ += ["PmPlanPart", "WorkOrderDelay"]

# Usage sessions, each asset's usage status, the knowledge shown before use with its manuals,
# training records, and rentals and loaners (revision 0039_usage).
from wardlink.hub.db.models.usage import (  # noqa: E402
    KnowledgeEntry, KnowledgeFile, Rental, TrainingRecord, UsageMeasure, UsageSession, UsageState, UsageTrack,
)

__all__ += ["KnowledgeEntry", "KnowledgeFile", "Rental", "TrainingRecord", "UsageMeasure", "UsageSession",
            "UsageState", "UsageTrack"]

# Oxygen cylinder manifolds watched through their bank pressures and the changeovers seen
# (revision 0040_manifolds).
from wardlink.hub.db.models.manifolds import Manifold, ManifoldChangeover  # noqa: E402

__all__ += ["Manifold", "ManifoldChangeover"]

# Utility meters (electricity, water, diesel, oxygen), hand readings, daily roll-ups of pulse
# meters and baseline alerts (revision 0041_utilities).
from wardlink.hub.db.models.utilities import UtilityAlert, UtilityDay, UtilityMeter, UtilityReading  # noqa: E402

__all__ += ["UtilityAlert", "UtilityDay", "UtilityMeter", "UtilityReading"]

# Medical gas cylinders, the places they are stored in and their movement log (revision 0044_oxygen).
from wardlink.hub.db.models.oxygen import Cylinder, CylinderMovement, GasStorageArea  # noqa: E402

__all__ += ["Cylinder", "CylinderMovement", "GasStorageArea"]

# Recalls and field safety notices, the assets they concern, imported files (revision 0045_recalls).
from wardlink.hub.db.models.recalls import Recall, RecallImport, RecallMatch  # noqa: E402

__all__ += ["Recall", "RecallImport", "RecallMatch"]
