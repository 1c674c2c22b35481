"""The shared MQTT client adapter against a real Mosquitto: sessions, Last Will, TLS, and every
failure as an exception of the MQTTError family."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from servers import free_port

from wardlink import mqtt as adapter
from wardlink.errors import WardlinkError
from wardlink.mqtt import (TLS, BrokerURL, MQTTAuthError, MQTTError, MQTTNotConnected, MQTTTimeout,
                           MQTTUnreachable, MQTTURLError, Will)


def _cert(subject: str, issuer_key, issuer: x509.Name | None, key, *, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1)))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write_pki(directory):
    """Write a CA, a broker certificate it signed for 127.0.0.1, and an unrelated CA."""
    paths = {}
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("ward-ca", ca_key, None, ca_key, ca=True)
    other_key = ec.generate_private_key(ec.SECP256R1())
    server_key = ec.generate_private_key(ec.SECP256R1())
    for label, cert in (("ca", ca), ("other", _cert("other-ca", other_key, None, other_key, ca=True)),
                        ("server", _cert("127.0.0.1", ca_key, ca.subject, server_key, ca=False))):
        paths[label] = directory / f"{label}.pem"
        paths[label].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"] = directory / "server.key"
    paths["key"].write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    return paths


def _host_port(broker) -> tuple[str, int]:
    url = BrokerURL.parse(broker.url)
    return url.host, url.port


def test_broker_urls_parse_with_default_ports_and_bad_ones_raise_a_clear_error():
    assert BrokerURL.parse("mqtt://broker.ward") == BrokerURL("broker.ward", 1883, False)
    assert BrokerURL.parse("mqtts://10.0.0.5") == BrokerURL("10.0.0.5", 8883, True)
    assert BrokerURL.parse("mqtts://h:9000") == BrokerURL("h", 9000, True)
    for bad in ("http://h", "mqtt://", "mqtt://h:99999", "h:1883"):
        with pytest.raises(MQTTURLError):
            BrokerURL.parse(bad)
    assert issubclass(MQTTURLError, ValueError) and issubclass(MQTTError, WardlinkError)


@pytest.mark.timeout(60)
def test_connect_refused_raises_unreachable_and_a_silent_listener_a_timeout():
    client = adapter.make_client("t-refused", clean_session=True)
    with pytest.raises(MQTTUnreachable, match="cannot connect"):
        adapter.connect(client, "127.0.0.1", free_port(), 10, timeout=5)
    with socket.socket() as silent:  # accepts TCP, never answers MQTT
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        client = adapter.make_client("t-silent", clean_session=True, reconnect_on_failure=False)
        with pytest.raises(MQTTTimeout, match="no CONNACK"):
            adapter.connect(client, "127.0.0.1", silent.getsockname()[1], 10, timeout=0.5)


@pytest.mark.timeout(60)
def test_bad_credentials_raise_an_auth_error_and_good_ones_connect(mosquitto_factory):
    broker = mosquitto_factory(users={"hub": "right"})
    host, port = _host_port(broker)
    wrong = adapter.make_client("t-wrong", clean_session=True, username="hub", password="wrong",
                                reconnect_on_failure=False)
    with pytest.raises(MQTTAuthError) as caught:
        adapter.connect(wrong, host, port, 10)
    assert "refused" in str(caught.value) and caught.value.reason.is_failure
    anonymous = adapter.make_client("t-anon", clean_session=True, reconnect_on_failure=False)
    with pytest.raises(MQTTAuthError):
        adapter.connect(anonymous, host, port, 10)
    right = adapter.make_client("t-right", clean_session=True, username="hub", password="right")
    try:
        assert adapter.connect(right, host, port, 10) is False
    finally:
        adapter.stop(right)


@pytest.mark.timeout(60)
def test_a_persistent_session_is_kept_a_clean_one_is_not_and_callers_on_connect_still_runs(mosquitto):
    host, port = _host_port(mosquitto)
    seen: list[bool] = []
    for expected in (False, True):
        client = adapter.make_client("t-persistent", clean_session=False)
        client.on_connect = lambda c, u, flags, rc, p: seen.append(flags.session_present)
        assert adapter.connect(client, host, port, 10) is expected
        adapter.stop(client)
    assert seen == [False, True]
    client = adapter.make_client("t-persistent", clean_session=True)
    assert adapter.connect(client, host, port, 10) is False
    adapter.stop(client)


@pytest.mark.timeout(60)
def test_the_last_will_is_published_when_a_client_vanishes_and_return_codes_become_exceptions(mosquitto):
    host, port = _host_port(mosquitto)
    got: list[tuple[str, bytes, bool]] = []
    arrived = threading.Event()
    watcher = adapter.make_client("t-watcher", clean_session=True)

    def on_message(c, u, msg):
        got.append((msg.topic, msg.payload, msg.retain))
        arrived.set()

    watcher.on_message = on_message
    adapter.connect(watcher, host, port, 10)
    subscribed = threading.Event()
    watcher.on_subscribe = lambda *a: subscribed.set()
    adapter.check(watcher.subscribe("wl/will/#", qos=1)[0], "subscribe")
    assert subscribed.wait(10)
    dying = adapter.make_client("t-dying", clean_session=True, will=Will("wl/will/t-dying", b"offline"))
    adapter.connect(dying, host, port, 10)
    dying._sock_close()  # vanish without DISCONNECT: the broker publishes the will
    dying.loop_stop()
    try:
        assert arrived.wait(10), "the broker published the Last Will"
        assert got[0][:2] == ("wl/will/t-dying", b"offline")
    finally:
        adapter.stop(watcher)
    idle = adapter.make_client("t-idle", clean_session=True)
    with pytest.raises(MQTTNotConnected, match="publish"):
        adapter.check(idle.publish("wl/x", b"1", qos=1).rc, "publish")


@pytest.mark.timeout(60)
def test_tls_with_the_right_ca_file_connects_and_an_unknown_ca_is_unreachable(tmp_path, mosquitto_factory):
    pki = _write_pki(tmp_path)
    tls_port = free_port()
    mosquitto_factory(extra_config=[f"listener {tls_port} 127.0.0.1", f"cafile {pki['ca']}",
                                    f"certfile {pki['server']}", f"keyfile {pki['key']}"])
    url = BrokerURL.parse(f"mqtts://127.0.0.1:{tls_port}")
    assert url.tls
    good = adapter.make_client("t-tls", clean_session=True, tls=TLS(ca_file=str(pki["ca"])))
    try:
        assert adapter.connect(good, url.host, url.port, 10) is False
    finally:
        adapter.stop(good)
    bad = adapter.make_client("t-tls-bad", clean_session=True, tls=TLS(ca_file=str(pki["other"])),
                              reconnect_on_failure=False)
    with pytest.raises(MQTTUnreachable, match="certificate verify failed"):
        adapter.connect(bad, url.host, url.port, 10)

