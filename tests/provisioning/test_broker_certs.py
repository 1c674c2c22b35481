"""`wardlink broker certs`: a private CA, a server certificate with SANs, client certificates."""

from __future__ import annotations

import ipaddress
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from wardlink.provisioning.certs import make_certificates
from wardlink.provisioning.errors import SettingError


def load(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_the_server_certificate_carries_every_name_and_is_signed_by_the_ca(tmp_path):
    files = make_certificates(tmp_path, dns_names=["broker.hospital.example", "mqtt"], ips=["10.1.2.3", "::1"])
    ca, server = load(files.ca_cert), load(files.server_cert)
    server.verify_directly_issued_by(ca)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["broker.hospital.example", "mqtt"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.1.2.3"), ipaddress.ip_address("::1")]
    assert server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == \
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert isinstance(server.public_key(), ec.EllipticCurvePublicKey)


def test_private_keys_are_0600_and_certificates_world_readable(tmp_path):
    files = make_certificates(tmp_path, dns_names=["b"], clients=["gw-icu-01"])
    cert, key = files.clients["gw-icu-01"]
    for path in (files.ca_key, files.server_key, key):
        assert mode(path) == 0o600, path
    for path in (files.ca_cert, files.server_cert, cert):
        assert mode(path) == 0o644, path


def test_client_certificates_are_for_client_authentication(tmp_path):
    files = make_certificates(tmp_path, clients=["gw-icu-01"], key_type="rsa")
    cert = load(files.clients["gw-icu-01"][0])
    cert.verify_directly_issued_by(load(files.ca_cert))
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "gw-icu-01"
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == \
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    assert isinstance(cert.public_key(), rsa.RSAPublicKey) and cert.public_key().key_size == 3072


def test_running_again_reuses_the_ca_and_overwrites_nothing(tmp_path):
    first = make_certificates(tmp_path, dns_names=["b"])
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    second = make_certificates(tmp_path, dns_names=["b"], clients=["gw-1"])
    assert second.created == [tmp_path / "client-gw-1.key", tmp_path / "client-gw-1.crt"]
    assert {p: p.read_bytes() for p in before} == before
    load(second.clients["gw-1"][0]).verify_directly_issued_by(load(first.ca_cert))


def test_renew_reissues_the_server_certificate_with_new_names(tmp_path):
    make_certificates(tmp_path, dns_names=["old.example"])
    ca_before = (tmp_path / "ca.crt").read_bytes()
    make_certificates(tmp_path, dns_names=["new.example"], renew_server=True)
    san = load(tmp_path / "server.crt").extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["new.example"]
    assert (tmp_path / "ca.crt").read_bytes() == ca_before


@pytest.mark.parametrize("kwargs, message", [
    ({"ips": ["not-an-ip"]}, "ip: 'not-an-ip' is not an IP address"),
    ({"key_type": "dsa"}, "key type: must be one of ec, rsa, got 'dsa'"),
    ({"renew_server": True}, "renew: give the server's names"),
    ({"clients": ["bad name"]}, "client name: must match"),
])
def test_bad_arguments_are_named(tmp_path, kwargs, message):
    with pytest.raises(SettingError, match=message):
        make_certificates(tmp_path, **kwargs)


def test_a_lone_ca_key_is_not_replaced(tmp_path):
    make_certificates(tmp_path)
    (tmp_path / "ca.crt").unlink()
    with pytest.raises(SettingError, match="only one of ca.crt and ca.key"):
        make_certificates(tmp_path)
