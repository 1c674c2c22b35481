"""The grant tables: what a gateway and the hub may do, in both renderings."""

from __future__ import annotations

import pytest

from wardlink.provisioning.acl import (
    acl_file_section,
    dynsec_acls,
    gateway_client_id,
    gateway_identity,
    hub_identity,
    render_acl_file,
)
from wardlink.provisioning.errors import SettingError
from wardlink import protocol


def test_a_gateway_may_publish_and_subscribe_only_under_its_own_id():
    identity = gateway_identity("gw-icu-01")
    assert acl_file_section(identity) == (
        "user gw-icu-01\n"
        "topic write wardlink/v1/gw-icu-01/telemetry\n"
        "topic write wardlink/v1/gw-icu-01/events\n"
        "topic write wardlink/v1/gw-icu-01/status\n"
        "topic write wardlink/v1/gw-icu-01/cmd-result\n"
        "topic read wardlink/v1/gw-icu-01/config\n"
        "topic read wardlink/v1/gw-icu-01/cmd/#\n")
    assert identity.role == "gw-gw-icu-01" and identity.client_id == "wardlink-gw-gw-icu-01"


def test_the_gateway_grants_cover_every_topic_the_protocol_gives_each_direction():
    identity = gateway_identity("gw-1")
    published = {g.topic for g in identity.grants if g.access == "publish"}
    assert published == {protocol.topic("gw-1", kind) for kind in ("telemetry", "events", "status", "cmd-result")}
    subscribed = {g.topic for g in identity.grants if g.access == "subscribe"}
    assert protocol.topic("gw-1", "config") in subscribed
    # The runtime's command filter (cmd/+) lies inside the granted cmd/# pattern.
    assert protocol.subscription("cmd", gateway_id="gw-1").startswith("wardlink/v1/gw-1/cmd/")


def test_the_hub_reads_every_gateway_also_through_shared_subscriptions_and_writes_config_and_commands():
    acls = dynsec_acls(hub_identity())
    subscribe = {a["topic"] for a in acls if a["acltype"] == "subscribePattern"}
    publish = {a["topic"] for a in acls if a["acltype"] == "publishClientSend"}
    for kind in ("telemetry", "events", "status", "cmd-result"):
        assert f"wardlink/v1/+/{kind}" in subscribe and f"$share/+/wardlink/v1/+/{kind}" in subscribe
    assert publish == {"wardlink/v1/+/config", "wardlink/v1/+/cmd/+"}
    assert all(a["allow"] is True for a in acls)


def test_the_gateway_client_id_is_the_one_the_edge_runtime_uses(tmp_path):
    from wardlink.edge.config import parse_config

    config = parse_config({"gateway_id": "gw-ward-7", "data_dir": str(tmp_path),
                           "broker": {"url": "mqtt://127.0.0.1:1883"}})
    assert gateway_client_id("gw-ward-7") == config.client_id


@pytest.mark.parametrize("bad", ["", "gw/1", "gw+", "#", "-leading-dash", "x" * 65, "sp ace"])
def test_ids_that_could_widen_a_topic_are_refused(bad):
    with pytest.raises(SettingError, match="gateway id: must match"):
        gateway_identity(bad)


def test_the_acl_file_has_one_section_per_identity():
    text = render_acl_file([hub_identity(), gateway_identity("gw-1")])
    assert text.count("\nuser ") == 2
    assert "user wardlink-hub\ntopic read wardlink/v1/+/telemetry\n" in text
