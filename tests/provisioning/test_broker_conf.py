"""The rendered mosquitto.conf runs a real broker: TLS verified against our CA, logins, queues."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time

import pytest
from provisioning_support import DEADLINE, dynsec_plugin, wait_until
from servers import MosquittoServer, ServerStartError, free_port

from wardlink.provisioning.broker import BrokerSettings, render_mosquitto_conf
from wardlink.provisioning.certs import make_certificates
from wardlink.provisioning.dynsec import DynsecClient, DynsecIdentities, initial_config
from wardlink.provisioning.errors import SettingError
from wardlink.provisioning.gateways import issue_gateway, write_credentials
from wardlink.provisioning.identities import FileIdentities
from wardlink.provisioning.mqttadmin import BrokerAddress
from wardlink.provisioning.passwords import generate_password

pytestmark = pytest.mark.timeout(60)


class RenderedBroker(MosquittoServer):
    """A test broker that runs exactly the rendered production file (plus logging to stderr)."""

    def __init__(self, base_dir, make_text):
        super().__init__(base_dir)
        self.tls_port = free_port()
        self.text = make_text(self.port, self.tls_port)

    def _config_lines(self) -> list[str]:
        extra = ["log_dest stderr", "log_type all", "connection_messages true"]
        if os.geteuid() == 0:
            extra.append("user root")  # mosquitto would switch to a user that cannot read the temp dir
        return self.text.splitlines() + extra


@pytest.fixture
def certs(tmp_path):
    """A CA and a server certificate for 127.0.0.1 and localhost."""
    return make_certificates(tmp_path / "certs", dns_names=["localhost"], ips=["127.0.0.1"])


@pytest.fixture
def tls_dynsec(tmp_path, certs):
    """A broker on the rendered dynsec config; yields (server, admin password, hub password)."""
    admin_pw, hub_pw = generate_password(), generate_password()
    data = tmp_path / "data"
    data.mkdir()
    (data / "dynamic-security.json").write_text(json.dumps(initial_config(admin_pw, hub_pw)))

    def text(local_port, tls_port):
        return render_mosquitto_conf(BrokerSettings(
            auth="dynsec", tls_port=tls_port, local_port=local_port, cert_dir=certs.ca_cert.parent,
            data_dir=data, plugin_path=dynsec_plugin()))

    server = RenderedBroker(tmp_path / "broker", text)
    server.start()
    yield server, admin_pw, hub_pw
    server.close()


def test_the_file_explains_its_queue_arithmetic_and_keeps_per_listener_settings_off():
    text = render_mosquitto_conf(BrokerSettings(gateways=500, outage_hours=1, plugin_path="/x/dynsec.so"))
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[0] == "per_listener_settings false"  # must precede every listener
    assert "max_queued_messages 2000000" in lines
    assert "500 gateway(s) x 1.1 batches/s x 1 h x 3600 s/h = 1,980,000 -> 2,000,000" in text
    assert "allow_anonymous false" in lines and "persistence true" in lines
    assert "autosave_interval 10" in lines  # a crash loses at most 10 s the gateways must re-send
    assert "plugin /x/dynsec.so" in lines and not any(x.startswith("password_file") for x in lines)
    files = render_mosquitto_conf(BrokerSettings(auth="files", max_queued_messages=5000))
    assert "max_queued_messages 5000" in files and "password_file /etc/mosquitto/wardlink.passwd" in files
    assert "acl_file /etc/mosquitto/wardlink.acl" in files and "plugin " not in files


@pytest.mark.parametrize("kwargs, message", [
    ({"auth": "ldap"}, "auth: must be one of dynsec, files, got 'ldap'"),
    ({"tls_port": 0}, "tls_port: must be 1..65535, got 0"),
    ({"gateways": 0}, "gateways: must be >= 1, got 0"),
])
def test_bad_settings_name_the_key(kwargs, message):
    with pytest.raises(SettingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        BrokerSettings(**kwargs)


def test_a_gateway_connects_over_tls_verified_against_the_generated_ca(tls_dynsec, certs, peers):
    server, admin_pw, hub_pw = tls_dynsec
    with DynsecClient(BrokerAddress(server.host, server.port), "wardlink-admin", admin_pw) as client:
        issued = issue_gateway(DynsecIdentities(client), "gw-tls")
    ingest = peers(server.host, server.port, "wardlink-hub", hub_pw).login()
    ingest.subscribe("wardlink/v1/+/telemetry")
    gw = peers("127.0.0.1", server.tls_port, "gw-tls", issued.password, client_id="wardlink-gw-gw-tls",
               ca_file=certs.ca_cert).login()
    gw.publish("wardlink/v1/gw-tls/telemetry", b"over-tls")
    ingest.wait_message("wardlink/v1/gw-tls/telemetry", b"over-tls")
    # The admin tools work over TLS too.
    address = BrokerAddress.from_url(f"mqtts://127.0.0.1:{server.tls_port}", certs.ca_cert)
    with DynsecClient(address, "wardlink-admin", admin_pw) as client:
        assert "gw-tls" in {i.username for i in DynsecIdentities(client).identities()}


def test_a_server_certificate_from_another_ca_is_refused(tls_dynsec, tmp_path, peers):
    server, _, hub_pw = tls_dynsec
    other = make_certificates(tmp_path / "other-ca")
    stranger = peers("127.0.0.1", server.tls_port, "wardlink-hub", hub_pw, ca_file=other.ca_cert)
    with pytest.raises(ssl.SSLCertVerificationError):
        stranger.connect()


def test_a_name_the_certificate_does_not_carry_is_refused(tls_dynsec, tmp_path, peers):
    server, _, hub_pw = tls_dynsec
    certs = make_certificates(tmp_path / "certs")  # the same CA: only the name is wrong
    wrong_name = peers("127.0.0.2", server.tls_port, "wardlink-hub", hub_pw, ca_file=certs.ca_cert)
    with pytest.raises(ssl.SSLCertVerificationError, match="127.0.0.2"):
        wrong_name.connect()


def test_anonymous_clients_are_refused_on_both_listeners(tls_dynsec, certs, peers):
    server, _, _ = tls_dynsec
    assert str(peers(server.host, server.port, None, None).connect()) == "Not authorized"
    assert str(peers("127.0.0.1", server.tls_port, None, None, ca_file=certs.ca_cert).connect()) == "Not authorized"


def test_messages_queued_for_an_offline_hub_session_are_delivered_when_it_returns(tls_dynsec, certs, peers):
    """The reason for per_listener_settings false: a persistent session gets what it missed."""
    server, admin_pw, hub_pw = tls_dynsec
    with DynsecClient(BrokerAddress(server.host, server.port), "wardlink-admin", admin_pw) as client:
        issued = issue_gateway(DynsecIdentities(client), "gw-q")
    first = peers(server.host, server.port, "wardlink-hub", hub_pw, client_id="wardlink-ingest-1", clean=False)
    first.login()
    first.subscribe("$share/ingest/wardlink/v1/+/telemetry")
    first.close()
    gw = peers("127.0.0.1", server.tls_port, "gw-q", issued.password, client_id="wardlink-gw-gw-q",
               ca_file=certs.ca_cert).login()
    for n in range(5):
        gw.publish("wardlink/v1/gw-q/telemetry", f"while-away-{n}".encode())
    back = peers(server.host, server.port, "wardlink-hub", hub_pw, client_id="wardlink-ingest-1", clean=False)
    back.login()
    back.wait(lambda: len(back.payloads("wardlink/v1/gw-q/telemetry")) == 5, "the 5 queued batches")


def test_the_rendered_files_mode_config_runs_with_the_password_and_acl_files(tmp_path, certs, peers):
    conf_dir = tmp_path / "etc"
    store = FileIdentities(conf_dir / "wardlink.passwd", conf_dir / "wardlink.acl")
    hub_pw = generate_password()
    store.ensure_hub(hub_pw)
    issued = issue_gateway(store, "gw-f")
    data = tmp_path / "data"
    data.mkdir()

    def text(local_port, tls_port):
        return render_mosquitto_conf(BrokerSettings(auth="files", tls_port=tls_port, local_port=local_port,
                                                    cert_dir=certs.ca_cert.parent, data_dir=data,
                                                    config_dir=conf_dir))

    server = RenderedBroker(tmp_path / "broker", text)
    server.start()
    try:
        ingest = peers(server.host, server.port, "wardlink-hub", hub_pw).login()
        ingest.subscribe("wardlink/v1/+/telemetry")
        gw = peers("127.0.0.1", server.tls_port, "gw-f", issued.password, ca_file=certs.ca_cert).login()
        gw.publish("wardlink/v1/gw-f/telemetry", b"from-files")
        ingest.wait_message("wardlink/v1/gw-f/telemetry", b"from-files")
    finally:
        server.close()


GATEWAY_TOML = """\
gateway_id = "gw-runtime"
data_dir = "{data}"
[broker]
url = "mqtts://127.0.0.1:{port}"
ca_file = "{ca}"
credentials_file = "{credentials}"
keepalive = 10
[hardware]
backend = "emulated"
emulation_seed = 3
[buffer]
commit_interval = 0.1
[forwarder]
batch_max_age = 0.2
backoff_min = 0.05
backoff_max = 0.5
[health]
interval = 0

[[channels]]
id = "fridge1.temp"
driver = "bme280"
quantity = "temperature"
interval = 0.2
emulate = {{ mean = 4.5, amplitude = 0.5, period_s = 600, noise = 0.05 }}
"""


@pytest.mark.timeout(90)
def test_the_gateway_runtime_delivers_through_its_provisioned_login_over_tls(tls_dynsec, certs, tmp_path, peers):
    """End to end: `gateway add` credentials file -> edge config -> mqtts -> the hub login reads it."""
    from wardlink.edge.config import load_config
    from wardlink.edge.credentials import load_credentials
    from wardlink.edge.gateway import Gateway

    server, admin_pw, hub_pw = tls_dynsec
    with DynsecClient(BrokerAddress(server.host, server.port), "wardlink-admin", admin_pw) as client:
        issued = issue_gateway(DynsecIdentities(client), "gw-runtime")
    credentials = write_credentials(issued, tmp_path / "credentials")
    assert load_credentials(credentials).password == issued.password
    config_path = tmp_path / "gateway.toml"
    config_path.write_text(GATEWAY_TOML.format(data=tmp_path / "gw-data", port=server.tls_port,
                                               ca=certs.ca_cert, credentials=credentials))
    config = load_config(config_path)
    assert config.client_id == issued.identity.client_id
    ingest = peers(server.host, server.port, "wardlink-hub", hub_pw).login()
    ingest.subscribe("wardlink/v1/+/telemetry")
    ingest.subscribe("wardlink/v1/+/status")

    async def run():
        gw = Gateway(config)
        await gw.start()
        try:
            deadline = time.monotonic() + DEADLINE
            while not ingest.payloads("wardlink/v1/gw-runtime/telemetry"):
                assert time.monotonic() < deadline, "no telemetry from the gateway runtime"
                await asyncio.sleep(0.05)
        finally:
            await gw.stop()

    asyncio.run(run())
    batch = json.loads(ingest.payloads("wardlink/v1/gw-runtime/telemetry")[0])
    assert batch["gateway"] == "gw-runtime" and batch["readings"][0][0] == "fridge1.temp"
    wait_until(lambda: ingest.payloads("wardlink/v1/gw-runtime/status"), DEADLINE, "the gateway's status")


class StockDebianBroker(RenderedBroker):
    """Debian's packaged mosquitto.conf (pid file, persistence and its location, a log, conf.d),
    with the rendered file dropped into its conf.d as the deployment guide says."""

    def _config_lines(self) -> list[str]:
        conf_d = self.base_dir / "conf.d"
        conf_d.mkdir(parents=True, exist_ok=True)
        (conf_d / "wardlink.conf").write_text(self.text)
        stock = [f"pid_file {self.base_dir}/mosquitto.pid", "persistence true",
                 f"persistence_location {self.base_dir}/stock-data/", "log_dest stderr",
                 f"include_dir {conf_d}"]
        (self.base_dir / "stock-data").mkdir(exist_ok=True)
        return stock + (["user root"] if os.geteuid() == 0 else [])


def _stock_broker(tmp_path, certs, *, snippet):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    store = FileIdentities(tmp_path / "etc" / "wardlink.passwd", tmp_path / "etc" / "wardlink.acl")
    hub_pw = generate_password()
    store.ensure_hub(hub_pw)

    def text(local_port, tls_port):
        return render_mosquitto_conf(BrokerSettings(auth="files", tls_port=tls_port, local_port=local_port,
                                                    cert_dir=certs.ca_cert.parent, data_dir=data,
                                                    config_dir=tmp_path / "etc", snippet=snippet))

    return StockDebianBroker(tmp_path / f"broker-{snippet}", text), hub_pw


def test_the_snippet_runs_beside_debians_stock_mosquitto_conf_where_the_full_file_is_refused(tmp_path, certs, peers):
    full, _ = _stock_broker(tmp_path, certs, snippet=False)
    with pytest.raises(ServerStartError):
        full.start(timeout=10)
    assert "Duplicate persistence_location" in full.new_log_text()
    full.close()

    server, hub_pw = _stock_broker(tmp_path, certs, snippet=True)
    assert "persistence_location" not in server.text.replace("# persistence_location", "")
    server.start()
    try:
        hub = peers(server.host, server.port, "wardlink-hub", hub_pw).login()
        hub.subscribe("wardlink/v1/+/telemetry")
    finally:
        server.close()
