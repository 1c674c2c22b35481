"""The register of service contracts and warranties: list, read, add and change them.

A contract's term runs from ``starts_on`` to ``ends_on``, both local dates of the hospital,
both included. Who sees what: a person limited to a department sees the contracts covering
at least one asset of that department, and those covering no asset yet; they may add or take
away only assets of their own department. Every change is audited with what changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, delete, exists, func, or_, select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Asset, ContractAsset, ServiceContract, Supplier
from wardlink.hub.db.models.contracts import CONTRACT_KINDS
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput, Message, NotFound
from wardlink.hub.i18n import N_, translate
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people.local_time import hospital_zone
from wardlink.hub.services.people.permissions import department_scope, require, require_department
from wardlink.hub.services.validate import (MAX_ID, boolean, choice, money, optional_date, optional_id,
                                            parse_fields, text, whole_number)
from wardlink.clock import Clock

#: The warnings before a term ends, in days (the scheduler gives each once).
WARNING_DAYS = (90, 30)
#: Most assets one contract may list.
MAX_ASSETS = 500
REFERENCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _./#-]{0,63}$")


def _required_date(name: str, value: Any) -> date:
    day = optional_date(name, value)
    if day is None:
        raise InvalidInput(N_("%(field)s: is required (a date as YYYY-MM-DD)"), field=name)
    return day


def _reference(name: str, value: Any) -> str:
    ref = text(64, required=True)(name, value)
    if not REFERENCE_RE.match(ref):
        raise InvalidInput(N_("%(field)s: must start with a letter or digit and hold only letters, digits, spaces "
                              "and _ . / # -, got %(ref)r"), field=name, ref=ref)
    return ref


#: Every writable field of a contract and how to parse it (``asset_tags`` is handled apart).
FIELDS = {
    "reference": _reference,
    "kind": choice(CONTRACT_KINDS),
    "title": text(200, required=True),
    "supplier_id": optional_id,
    "vendor_name": text(200),
    "vendor_contact": text(300),
    "covers_parts": boolean,
    "covers_labour": boolean,
    "covers_pm": boolean,
    "starts_on": _required_date,
    "ends_on": _required_date,
    "cost": money,
    "response_hours": whole_number(1, 8760),
    "notes": text(5000),
}
SNAPSHOT_FIELDS = tuple(FIELDS)
#: What a contract covers, by flag, as people read it.
COVERAGE = {"covers_parts": N_("parts"), "covers_labour": N_("labour"), "covers_pm": N_("planned maintenance")}
#: The states a list can be filtered by, judged on the hospital's local date.
STATES = ("active", "expiring", "expired", "upcoming", "all")


def reference_key(reference: str) -> str:
    """Return a contract reference folded for caseless comparison."""
    return " ".join(reference.split()).casefold()


def snapshot(contract: ServiceContract) -> dict[str, Any]:
    """Return every stored field of ``contract`` by name, with its asset tags (for audit rows)."""
    return {**{name: getattr(contract, name) for name in SNAPSHOT_FIELDS},
            "asset_tags": [a.tag for a in contract.assets]}


def coverage_text(contract: ServiceContract, locale: str | None = None) -> str:
    """Return what the contract covers in ``locale``, e.g. ``parts, labour``; ``nothing listed`` when none."""
    return ", ".join(translate(locale, words) for flag, words in COVERAGE.items() if getattr(contract, flag)) \
        or translate(locale, "nothing listed")


def today(session: Session, clock: Clock) -> date:
    """Return the hospital's local date now (contract terms are local dates)."""
    return utc_now(clock).astimezone(hospital_zone(session)).date()


@dataclass(frozen=True)
class Standing:
    """Where a contract stands on a day: ``upcoming``, ``active``, ``expiring`` (active, ending
    within the first warning) or ``expired``, and the days left in its term (negative once over)."""

    state: str
    days_left: int


def standing(contract: ServiceContract, on: date) -> Standing:
    """Return where ``contract`` stands on the local date ``on``."""
    days_left = (contract.ends_on - on).days
    if on < contract.starts_on:
        return Standing("upcoming", days_left)
    if days_left < 0:
        return Standing("expired", days_left)
    return Standing("expiring" if days_left <= max(WARNING_DAYS) else "active", days_left)


def _visible(stmt: Select, who: Actor) -> Select:
    scope = department_scope(who)
    if scope is None:
        return stmt
    covers = select(ContractAsset.contract_id).where(ContractAsset.contract_id == ServiceContract.id)
    in_scope = covers.join(Asset, Asset.id == ContractAsset.asset_id).where(Asset.department_id == scope)
    return stmt.where(or_(exists(in_scope), ~exists(covers)))


def list_contracts(session: Session, *, actor: Actor | None, clock: Clock | None = None, q: str | None = None,
                   state: str = "all", asset_tag: str | None = None, page: int = 1,
                   per_page: int = 50) -> Page[ServiceContract]:
    """Return one page of the contracts the actor may see, soonest to end first."""
    who = resolve_actor(actor)
    require(who, "contract.view")
    choice(STATES)("state", state)
    stmt = _visible(select(ServiceContract).options(selectinload(ServiceContract.assets)), who)
    if q and q.strip():
        term = f"%{q.strip()[:100]}%"
        stmt = stmt.where(or_(ServiceContract.reference.ilike(term), ServiceContract.title.ilike(term),
                              ServiceContract.vendor_name.ilike(term)))
    if asset_tag:
        stmt = stmt.where(exists(select(ContractAsset.contract_id).join(Asset, Asset.id == ContractAsset.asset_id)
                                 .where(ContractAsset.contract_id == ServiceContract.id, Asset.tag == asset_tag)))
    day = today(session, resolve_clock(clock))
    soon = date.fromordinal(day.toordinal() + max(WARNING_DAYS))
    stmt = stmt.where({
        "active": (ServiceContract.starts_on <= day) & (ServiceContract.ends_on >= day),
        "expiring": (ServiceContract.starts_on <= day) & (ServiceContract.ends_on >= day)
        & (ServiceContract.ends_on <= soon),
        "expired": ServiceContract.ends_on < day,
        "upcoming": ServiceContract.starts_on > day,
        "all": ServiceContract.id.is_not(None),
    }[state])
    return paginate(session, stmt.order_by(ServiceContract.ends_on, ServiceContract.id), page, per_page)


def get_contract(session: Session, contract_id: int, *, actor: Actor | None) -> ServiceContract:
    """Return contract ``contract_id`` if the actor may see it; otherwise :class:`NotFound`."""
    who = resolve_actor(actor)
    require(who, "contract.view")
    found = None
    if isinstance(contract_id, int) and 1 <= contract_id <= MAX_ID:
        found = session.scalar(_visible(select(ServiceContract).where(ServiceContract.id == contract_id), who))
    if found is None:
        raise NotFound(N_("contract %(contract_id)s does not exist"), contract_id=contract_id)
    return found


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        raw: Iterable[Any] = re.split(r"[\s,;]+", value)
    elif isinstance(value, list):
        raw = value
    else:
        raise InvalidInput(N_("asset_tags: must be a list of asset tags, got %(type)s"), type=type(value).__name__)
    tags = []
    for i, item in enumerate(raw):
        if not isinstance(item, str):
            raise InvalidInput(N_("asset_tags[%(i)s]: must be an asset tag, got %(item)r"), i=i, item=item)
        tag = item.strip()
        if tag and tag not in tags:
            tags.append(tag[:64])
    if len(tags) > MAX_ASSETS:
        raise InvalidInput(N_("asset_tags: at most %(max_assets)s assets per contract, got %(count)s"),
                           max_assets=MAX_ASSETS, count=len(tags))
    return tags


def _assets(session: Session, tags: list[str]) -> list[Asset]:
    found = {a.tag: a for a in session.scalars(select(Asset).where(Asset.tag.in_(tags)))} if tags else {}
    missing = [t for t in tags if t not in found]
    if missing:
        raise InvalidInput(N_("asset_tags: no asset %(missing)r"), missing=missing[0])
    return [found[t] for t in tags]


def _check_term(fields: Mapping[str, Any]) -> None:
    if fields["ends_on"] < fields["starts_on"]:
        raise InvalidInput(N_("ends_on: must not be before starts_on (%(starts_on)s), got %(ends_on)s"),
                           starts_on=fields['starts_on'].isoformat(), ends_on=fields['ends_on'].isoformat())


def _check_vendor(session: Session, fields: dict[str, Any], current: ServiceContract | None) -> None:
    """Name the vendor after the listed supplier given, unless a name was given too; a contract
    needs a vendor's name."""
    if "supplier_id" in fields and fields["supplier_id"] is not None:
        supplier = session.get(Supplier, fields["supplier_id"])
        if supplier is None:
            raise InvalidInput(N_("supplier_id: no supplier %(supplier_id)s"), supplier_id=fields['supplier_id'])
        if not fields.get("vendor_name"):
            fields["vendor_name"] = supplier.name
    name = fields.get("vendor_name", current.vendor_name if current is not None else "")
    if not name:
        raise InvalidInput(N_("vendor_name: is required (or choose a listed supplier)"))


def _check_reference(session: Session, reference: str, contract_id: int | None) -> str:
    key = reference_key(reference)
    other = session.scalar(select(ServiceContract.id).where(ServiceContract.reference_key == key))
    if other is not None and other != contract_id:
        raise InvalidInput(N_("reference: '%(reference)s' is already used by another contract"), reference=reference)
    return key


def _set_assets(session: Session, contract: ServiceContract, assets: list[Asset], who: Actor) -> None:
    current = {a.id: a for a in contract.assets}
    wanted = {a.id: a for a in assets}
    for asset in [*(a for i, a in wanted.items() if i not in current),
                  *(a for i, a in current.items() if i not in wanted)]:
        require_department(who, asset.department_id, Message(N_("asset '%(tag)s'"), tag=asset.tag))
    gone = [i for i in current if i not in wanted]
    if gone:
        session.execute(delete(ContractAsset).where(ContractAsset.contract_id == contract.id,
                                                    ContractAsset.asset_id.in_(gone)))
    session.add_all(ContractAsset(contract_id=contract.id, asset_id=i) for i in wanted if i not in current)
    session.flush()
    session.expire(contract, ["assets"])


def create_contract(session: Session, data: Mapping[str, Any], *, actor: Actor | None,
                    clock: Clock | None = None) -> ServiceContract:
    """Add a contract from ``data`` (:data:`FIELDS` plus ``asset_tags``) and return it."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "contract.manage")
    data = dict(data)
    tags = _tags(data.pop("asset_tags", None))
    data.setdefault("kind", "service")
    fields = parse_fields(FIELDS, data, partial=False)
    _check_term(fields)
    _check_vendor(session, fields, None)
    key = _check_reference(session, fields["reference"], None)
    assets = _assets(session, tags)
    now = utc_now(clock)
    contract = ServiceContract(reference_key=key, created_at=now, updated_at=now, **fields)
    session.add(contract)
    session.flush()
    _set_assets(session, contract, assets, who)
    audit.record(session, actor=who, action="contract.create", entity="contract", entity_id=contract.id,
                 after=snapshot(contract), clock=clock)
    return contract


def update_contract(session: Session, contract_id: int, changes: Mapping[str, Any], *, actor: Actor | None,
                    clock: Clock | None = None) -> ServiceContract:
    """Apply ``changes`` (a subset of :data:`FIELDS`, and ``asset_tags`` for the whole list of
    covered assets) to a contract and audit what changed."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "contract.manage")
    contract = get_contract(session, contract_id, actor=who)
    changes = dict(changes)
    tags = _tags(changes.pop("asset_tags")) if "asset_tags" in changes else None
    fields = parse_fields(FIELDS, changes, partial=True)
    _check_vendor(session, fields, contract)
    _check_term({"starts_on": fields.get("starts_on", contract.starts_on),
                 "ends_on": fields.get("ends_on", contract.ends_on)})
    if "reference" in fields:
        contract.reference_key = _check_reference(session, fields["reference"], contract.id)
    before = snapshot(contract)
    for key, value in fields.items():
        setattr(contract, key, value)
    if tags is not None:
        _set_assets(session, contract, _assets(session, tags), who)
    old, new = audit.changes(before, snapshot(contract))
    if new:
        contract.updated_at = utc_now(clock)
        session.flush()
        audit.record(session, actor=who, action="contract.update", entity="contract", entity_id=contract.id,
                     before=old, after=new, clock=clock)
    return contract


def covering(session: Session, asset_id: int | None, on: date) -> list[ServiceContract]:
    """Return the contracts in force on ``on`` that cover asset ``asset_id`` (internal: the
    caller has already checked that the asset may be seen), soonest response first."""
    if asset_id is None:
        return []
    stmt = (select(ServiceContract).join(ContractAsset, ContractAsset.contract_id == ServiceContract.id)
            .where(ContractAsset.asset_id == asset_id, ServiceContract.starts_on <= on,
                   ServiceContract.ends_on >= on)
            .order_by(ServiceContract.response_hours.is_(None), ServiceContract.response_hours,
                      ServiceContract.ends_on.desc(), ServiceContract.id))
    return list(session.scalars(stmt))



@dataclass(frozen=True)
class AssetShare:
    """What one covered asset bears of a contract's cost: an equal share among its assets."""

    contract: ServiceContract
    cost: Decimal
    assets: int


def shares_of_asset(session: Session, asset_id: int) -> list[AssetShare]:
    """Return each priced contract covering asset ``asset_id`` with the asset's share of its cost
    (internal: the caller has already checked that the asset may be seen)."""
    counts = (select(ContractAsset.contract_id, func.count().label("n")).group_by(ContractAsset.contract_id)
              .subquery())
    stmt = (select(ServiceContract, counts.c.n).join(ContractAsset, ContractAsset.contract_id == ServiceContract.id)
            .join(counts, counts.c.contract_id == ServiceContract.id)
            .where(ContractAsset.asset_id == asset_id, ServiceContract.cost.is_not(None))
            .order_by(ServiceContract.starts_on, ServiceContract.id))
    return [AssetShare(contract, contract.cost / n, n) for contract, n in session.execute(stmt)]
