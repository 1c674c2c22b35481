"""TLS to the broker: a gateway with the right CA connects over mqtts://, a wrong CA is refused."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from servers import free_port

from wardlink.edge.config import load_config
from wardlink.edge.gateway import Gateway

from edge_support import write_config


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(directory, label: str):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(label)).issuer_name(_name(label))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path = directory / f"{label}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def make_server_cert(directory, ca_key, ca_cert):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def tls_config(tmp_path, port, ca_path):
    path = write_config(tmp_path, port)
    text = path.read_text().replace(f"mqtt://127.0.0.1:{port}", f"mqtts://127.0.0.1:{port}")
    path.write_text(text.replace("keepalive = 10", f'keepalive = 10\nca_file = "{ca_path}"'))
    return load_config(path)


async def connected_within(gw: Gateway, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if gw.forwarder.connected:
            return True
        await asyncio.sleep(0.02)
    return False


@pytest.mark.timeout(60)
def test_gateway_publishes_over_tls_and_refuses_an_unknown_ca(tmp_path, mosquitto_factory, sink_factory):
    ca_key, ca_cert, ca_path = make_ca(tmp_path, "ward-ca")
    _, _, other_ca = make_ca(tmp_path, "other-ca")
    cert_path, key_path = make_server_cert(tmp_path, ca_key, ca_cert)
    tls_port = free_port()
    broker = mosquitto_factory(extra_config=[
        f"listener {tls_port} 127.0.0.1", f"cafile {ca_path}", f"certfile {cert_path}", f"keyfile {key_path}",
    ])
    sink = sink_factory(broker.host, broker.port)

    async def good():
        (tmp_path / "good").mkdir()
        gw = Gateway(tls_config(tmp_path / "good", tls_port, ca_path))
        await gw.start()
        try:
            assert await connected_within(gw, 10), "no TLS connection"
            deadline = time.monotonic() + 10
            while not sink.received():
                assert time.monotonic() < deadline, "no telemetry over TLS"
                await asyncio.sleep(0.02)
        finally:
            await gw.stop()

    async def wrong_ca():
        (tmp_path / "bad").mkdir()
        gw = Gateway(tls_config(tmp_path / "bad", tls_port, other_ca))
        await gw.start()
        try:
            assert not await connected_within(gw, 2), "connected to a broker whose certificate it cannot verify"
        finally:
            await gw.stop()

    asyncio.run(good())
    asyncio.run(wrong_ca())
