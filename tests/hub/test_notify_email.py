"""E-mail notifications through real SMTP servers (aiosmtpd): plain, STARTTLS and with login."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading

import pytest
from servers import SmtpSink, free_port

from wardlink.hub.errors import ConfigError
from wardlink.hub.notify.config import build_notifiers
from wardlink.hub.notify.errors import NotifyError
from wardlink.hub.notify.smtp import EmailNotifier
from wardlink.hub.services.alerts.notifications import Notification
from wardlink.clock import ManualClock

NOTE = Notification(event="opened", alert_id=12, rule="fridge-high", severity="critical", state="open",
                    title="VF-0001 ICU medication refrigerator: temperature 9.3 degC above 8 degC for 5 min",
                    detail="temperature 9.3 degC above 8 degC for 5 min", asset="VF-0001",
                    asset_name="ICU medication refrigerator", ward="ICU", gateway="gw-icu-01",
                    channel="fridge1.temp", value=9.3, condition_since="2026-01-01T01:01:00+00:00",
                    url="https://wardlink.hospital.example/alerts", site="Riverside General")


def notifier(server, **kwargs) -> EmailNotifier:
    args = {"host": server.host, "port": server.port, "sender": "wardlink@hospital.example",
            "to": ["biomed@hospital.example", "oncall@hospital.example"], "security": "none", "timeout_s": 5}
    return EmailNotifier("biomed", **{**args, **kwargs})


def test_an_alert_arrives_as_a_plain_text_mail_with_its_facts(smtp_server):
    detail = notifier(smtp_server).send(NOTE)
    assert detail == "sent to 2 recipient(s)"
    [msg] = smtp_server.messages
    assert msg["Subject"] == ("[Riverside General] CRITICAL: VF-0001 ICU medication refrigerator: temperature "
                              "9.3 degC above 8 degC for 5 min")
    assert msg["From"] == "wardlink@hospital.example" and msg["Importance"] == "high"
    assert msg["X-Wardlink-Alert"] == "12" and msg["X-Wardlink-Event"] == "opened"
    body = msg.get_content()
    facts = dict((k, v.strip()) for k, _, v in (line.partition(":") for line in body.splitlines()) if v)
    assert facts["Asset"] == "VF-0001 ICU medication refrigerator" and facts["Ward"] == "ICU"
    assert facts["Value"] == "9.3" and facts["Condition since"] == "2026-01-01T01:01:00+00:00"
    assert facts["Link"] == "https://wardlink.hospital.example/alerts" and facts["Alert"] == "#12"
    assert smtp_server.envelopes[0].rcpt_tos == ["biomed@hospital.example", "oncall@hospital.example"]


def test_a_historical_alert_says_so_in_subject_and_body(smtp_server):
    notifier(smtp_server).send(Notification(**{**NOTE.__dict__, "event": "historical", "historical": True}))
    [msg] = smtp_server.messages
    assert msg["Subject"].startswith("[Riverside General] Historical (CRITICAL, from late data): ")
    assert msg["Importance"] is None
    assert "not as a live emergency" in msg.get_content()


def test_starttls_is_never_skipped_when_the_server_does_not_offer_it(smtp_server):
    with pytest.raises(NotifyError, match="does not offer STARTTLS; refusing to send in plain text"):
        notifier(smtp_server, security="starttls").send(NOTE)
    assert smtp_server.messages == []


def test_a_login_is_made_when_the_server_requires_one():
    sink = SmtpSink(credentials=("wardlink", "correct horse")).start()
    try:
        with pytest.raises(NotifyError, match="SMTP login refused \\(535\\)"):
            notifier(sink, username="wardlink", password="wrong").send(NOTE)
        notifier(sink, username="wardlink", password="correct horse").send(NOTE)
        assert len(sink.messages) == 1
    finally:
        sink.stop()


def test_an_unreachable_server_is_a_retryable_error():
    with pytest.raises(NotifyError, match="cannot send via 127.0.0.1"):
        EmailNotifier("x", host="127.0.0.1", port=free_port(), sender="a@b.c", to=["d@e.f"], timeout_s=2).send(NOTE)


# --------------------------------------------------------------------------- STARTTLS against a TLS server


def _self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "smtp.crt", tmp_path / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class _TlsSink:
    """aiosmtpd handler that records each message and whether its session was encrypted."""

    def __init__(self):
        self.received = []
        self.done = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.content, session.ssl is not None))
        self.done.set()
        return "250 OK"


@pytest.fixture
def tls_smtp(tmp_path):
    from aiosmtpd.controller import Controller

    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = _TlsSink()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), tls_context=context,
                            require_starttls=True, ready_timeout=10)
    controller.start()
    try:
        yield controller, handler, cert
    finally:
        controller.stop()


def test_starttls_encrypts_the_session_and_checks_the_server_certificate(tls_smtp, tmp_path):
    controller, handler, cert = tls_smtp
    server = type("S", (), {"host": "127.0.0.1", "port": controller.port})
    notifier(server, security="starttls", ca_file=str(cert)).send(NOTE)
    assert handler.done.wait(5)
    [(content, encrypted)] = handler.received
    assert encrypted and b"Subject: [Riverside General] CRITICAL" in content
    (tmp_path / "other").mkdir()
    other_cert, _ = _self_signed(tmp_path / "other")  # a CA that did not sign the server's certificate
    with pytest.raises(NotifyError, match="CERTIFICATE_VERIFY_FAILED"):
        notifier(server, security="starttls", ca_file=str(other_cert)).send(NOTE)
    assert len(handler.received) == 1


# --------------------------------------------------------------------------- configuration


def test_email_targets_are_built_from_the_rules_file_with_secrets_from_files(tmp_path, smtp_server):
    secret = tmp_path / "smtp_password"
    secret.write_text("from-a-file\n")
    table = {"type": "email", "host": smtp_server.host, "port": smtp_server.port, "security": "none",
             "sender": "wardlink@hospital.example", "to": "biomed@hospital.example", "username": "wardlink",
             "password_file": str(secret)}
    built = build_notifiers({"biomed": table}, clock=ManualClock())
    assert built["biomed"]._password == "from-a-file" and built["biomed"].to == ["biomed@hospital.example"]
    assert built["biomed"].events == {"opened", "historical", "escalated", "resolved"}
    assert build_notifiers({"b": {k: v for k, v in table.items() if k not in ("security", "port")}},
                           clock=ManualClock())["b"].port == 587  # STARTTLS unless told otherwise
    for change, message in [
        ({"host": None}, "notifiers.biomed.host: required"),
        ({"port": 0}, "notifiers.biomed.port: must be 1..65535, got 0"),
        ({"security": "tls"}, "notifiers.biomed.security: must be one of none, starttls, ssl"),
        ({"sender": "nobody"}, "notifiers.biomed.sender: must be an e-mail address"),
        ({"password_file": None}, "notifiers.biomed.password_file: required when username is set"),
        ({"password_file": str(tmp_path / "missing")}, "notifiers.biomed.password_file: cannot read"),
        ({"events": ["paged"]}, "notifiers.biomed.events: must be among"),
        ({"colour": "red"}, r"notifiers.biomed: unknown key\(s\) colour"),
        ({"type": "pager"}, "notifiers.biomed.type: must be one of email, webhook, gateway"),
    ]:
        broken = {k: v for k, v in {**table, **change}.items() if v is not None}
        with pytest.raises(ConfigError, match=message):
            build_notifiers({"biomed": broken}, clock=ManualClock())

