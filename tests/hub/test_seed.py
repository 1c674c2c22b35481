"""The demo hospital: realistic equipment, the demo gateway bound to it, idempotent."""

from __future__ import annotations

import pytest
from relational_support import DEMO_CHANNELS, T0_S, row_count
from sqlalchemy import select

from wardlink.hub.db import open_engine, session_scope, upgrade
from wardlink.hub.db.audit import verify_chain
from wardlink.hub.db.models import Asset, Gateway
from wardlink.hub.errors import InvalidInput
from wardlink.hub.seed import ASSETS, DEPARTMENTS, seed_demo_site
from wardlink.hub.services.gateways import registry as gateways
from wardlink.clock import ManualClock

TABLES = ("sites", "departments", "locations", "assets", "gateways", "channels", "channel_bindings",
          "audit_log")


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request, tmp_path):
    url = (f"sqlite:///{tmp_path / 'seed.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    upgrade(url)
    engine = open_engine(url)
    yield engine
    engine.dispose()


def _seed(engine, clock, channels=DEMO_CHANNELS, gateway_id="gw-demo"):
    with session_scope(engine) as session:
        seed_demo_site(session, gateway_id=gateway_id, channels=channels, clock=clock)


def test_the_demo_site_has_departments_assets_and_a_bound_gateway(empty_engine):
    clock = ManualClock(T0_S)
    _seed(empty_engine, clock)
    with session_scope(empty_engine, readonly=True) as session:
        tags = set(session.scalars(select(Asset.tag)))
        assert tags == {a[0] for a in ASSETS} and len(tags) >= 12
        assert row_count(empty_engine, "departments") == len(DEPARTMENTS)
        assets = session.scalars(select(Asset)).all()
        assert all(a.make and a.model and a.serial and a.department for a in assets)
        assert {a.equipment_status for a in assets} >= {"in_service", "faulty", "out_of_service"}
        assert {a.maintenance_status for a in assets} == {"compliant", "due", "overdue"}
        assert any(a.life_support for a in assets)
        assert all(a.em_score is not None for a in assets)
        gw = session.scalars(select(Gateway)).one()
        assert (gw.gateway_id, gw.department.code) == ("gw-demo", "ICU")
        now = gateways.utc_now(clock)
        bound = {(b.channel.channel_id, b.asset.tag, b.metric) for b in gateways.bindings_at(session, now)}
        assert bound == {(c["channel_id"], c["asset_tag"], c["metric"]) for c in DEMO_CHANNELS if "asset_tag" in c}
        assert verify_chain(session) is None


def test_seeding_twice_adds_nothing(empty_engine):
    clock = ManualClock(T0_S)
    _seed(empty_engine, clock)
    before = {t: row_count(empty_engine, t) for t in TABLES}
    clock.advance(3600)
    _seed(empty_engine, clock)
    assert {t: row_count(empty_engine, t) for t in TABLES} == before


def test_seeding_keeps_a_binding_someone_changed(tmp_path):
    url = f"sqlite:///{tmp_path / 'seed.db'}"
    upgrade(url)
    engine = open_engine(url)
    clock = ManualClock(T0_S)
    _seed(engine, clock)
    clock.advance(60)
    with session_scope(engine) as session:
        gateways.bind_channel(session, gateway_id="gw-demo", channel_id="fridge1.temp", asset_tag="VF-0002",
                              actor=None, clock=clock)
    clock.advance(60)
    _seed(engine, clock)
    with session_scope(engine, readonly=True) as session:
        now = gateways.utc_now(clock)
        tags = [b.asset.tag for b in gateways.bindings_at(session, now) if b.channel.channel_id == "fridge1.temp"]
        assert tags == ["VF-0002"]
    engine.dispose()


def test_channels_naming_unknown_assets_are_refused_before_anything_is_written(tmp_path):
    url = f"sqlite:///{tmp_path / 'seed.db'}"
    upgrade(url)
    engine = open_engine(url)
    bad = [*DEMO_CHANNELS, {"channel_id": "x.1", "metric": "temperature", "asset_tag": "FRIDGE-99"}]
    with pytest.raises(InvalidInput, match=r"channels\[5\].asset_tag: must be a demo asset"):
        _seed(engine, ManualClock(T0_S), channels=bad)
    with pytest.raises(InvalidInput, match=r"channels\[0\].metric: is required"):
        _seed(engine, ManualClock(T0_S), channels=[{"channel_id": "a"}])
    assert row_count(engine, "assets") == 0
    engine.dispose()


def test_the_demo_commands_channels_fit_the_seed(tmp_path):
    from wardlink.hub.demo import CHANNELS, DEMO_GATEWAY

    url = f"sqlite:///{tmp_path / 'seed.db'}"
    upgrade(url)
    engine = open_engine(url)
    channels = [{"channel_id": c.channel_id, "metric": c.metric, "unit": c.unit, "driver": c.driver,
                 "asset_tag": c.asset_tag, "interval": c.interval} for c in CHANNELS]
    _seed(engine, ManualClock(T0_S), channels=channels, gateway_id=DEMO_GATEWAY)
    assert row_count(engine, "channel_bindings") == len(CHANNELS)
    engine.dispose()
