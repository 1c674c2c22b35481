"""A private CA for the broker: the CA itself, the broker's server certificate, client certificates.

Keys are ECDSA P-256 by default (small and fast on a Raspberry Pi) or RSA 3072; every private
key is written 0600 and never overwritten. An existing CA is reused, so running the command
again only adds what is missing (``renew`` re-issues the server certificate, e.g. with new
names).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from wardlink.provisioning.acl import check_username
from wardlink.provisioning.errors import SettingError
from wardlink.provisioning.files import write_new_private

KEY_TYPES = {
    "ec": lambda: ec.generate_private_key(ec.SECP256R1()),
    "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=3072),
}
CA_DAYS = 3650
LEAF_DAYS = 825  # the longest leaf lifetime common TLS clients accept


@dataclass
class IssuedFiles:
    """Paths written (or found) by :func:`make_certificates`."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path | None = None
    server_key: Path | None = None
    clients: dict[str, tuple[Path, Path]] = field(default_factory=dict)
    created: list[Path] = field(default_factory=list)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write_pair(cert: x509.Certificate, key, cert_path: Path, key_path: Path, created: list[Path]) -> None:
    # The key first and exclusively: a crash between the two leaves a key without a
    # certificate, never a certificate whose key was lost.
    write_new_private(key_path, _key_pem(key), mode=0o600)
    write_new_private(cert_path, _cert_pem(cert), mode=0o644)
    created += [key_path, cert_path]


def _leaf(subject: x509.Name, key, ca_cert: x509.Certificate, ca_key, days: int,
          usage: x509.ObjectIdentifier, san: list[x509.GeneralName] | None) -> x509.Certificate:
    now = _now()
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(ca_cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                                            content_commitment=False, data_encipherment=False, key_agreement=False,
                                            key_cert_sign=False, crl_sign=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _load_or_make_ca(out: Path, key_type: str, organisation: str, created: list[Path]):
    cert_path, key_path = out / "ca.crt", out / "ca.key"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        return cert, key
    if cert_path.exists() or key_path.exists():
        raise SettingError(f"{out}: found only one of ca.crt and ca.key; restore the other or move both away")
    key = KEY_TYPES[key_type]()
    now = _now()
    subject = _name(f"{organisation} Wardlink CA", organisation)
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write_pair(cert, key, cert_path, key_path, created)
    return cert, key


def _san(dns_names: list[str], ips: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    for ip in ips:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError:
            raise SettingError(f"ip: {ip!r} is not an IP address") from None
    return names


def make_certificates(out: str | Path, *, dns_names: list[str] = (), ips: list[str] = (),
                      clients: list[str] = (), key_type: str = "ec", organisation: str = "Hospital",
                      renew_server: bool = False, server_days: int = LEAF_DAYS,
                      client_days: int = LEAF_DAYS) -> IssuedFiles:
    """Create (or reuse) the CA in ``out`` and issue what is missing: server and client certificates."""
    if key_type not in KEY_TYPES:
        raise SettingError(f"key type: must be one of {', '.join(KEY_TYPES)}, got {key_type!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = IssuedFiles(out / "ca.crt", out / "ca.key")
    ca_cert, ca_key = _load_or_make_ca(out, key_type, organisation, files.created)

    san = _san(list(dns_names), list(ips))
    server_cert, server_key = out / "server.crt", out / "server.key"
    if san:
        if renew_server:
            for path in (server_cert, server_key):
                path.unlink(missing_ok=True)
        if server_cert.exists() != server_key.exists():
            raise SettingError(f"{out}: found only one of server.crt and server.key; use renew")
        if not server_cert.exists():
            key = KEY_TYPES[key_type]()
            first = next((str(d) for d in dns_names), None) or str(ips[0])
            cert = _leaf(_name(first, organisation), key, ca_cert, ca_key, server_days,
                         ExtendedKeyUsageOID.SERVER_AUTH, san)
            _write_pair(cert, key, server_cert, server_key, files.created)
    elif renew_server:
        raise SettingError("renew: give the server's names with --dns and/or --ip")
    if server_cert.exists():
        files.server_cert, files.server_key = server_cert, server_key

    for name in clients:
        check_username(name, "client name")
        cert_path, key_path = out / f"client-{name}.crt", out / f"client-{name}.key"
        if not cert_path.exists():
            key = KEY_TYPES[key_type]()
            cert = _leaf(_name(name, organisation), key, ca_cert, ca_key, client_days,
                         ExtendedKeyUsageOID.CLIENT_AUTH, None)
            _write_pair(cert, key, cert_path, key_path, files.created)
        files.clients[name] = (cert_path, key_path)
    return files
