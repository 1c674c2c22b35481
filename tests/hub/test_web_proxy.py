"""The hub behind a real nginx: client addresses, sign-in limits, report limits and the audit trail.

The hub runs under waitress with ``trusted_proxies = "127.0.0.1"`` (nginx on the same host);
nginx appends to ``X-Forwarded-For`` as docs/deployment.md configures it. Clients are
simulated two ways: a trusted load balancer in front of nginx (at 127.0.0.1, named in
nginx's ``set_real_ip_from``) that reports many different client addresses, and browsers
connecting from their own loopback addresses (127.0.0.x), which nobody trusts.
"""

from __future__ import annotations

import http.client
import re
import ssl
import threading
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from relational_support import clock, csrf_from, hub_config, password
from servers import NginxServer
from sqlalchemy import select

from wardlink.hub.db import open_engine, session_scope
from wardlink.hub.db.models import Asset, AuditLog
from wardlink.hub.services.people import signin
from wardlink.hub.web import make_server
from wardlink.hub.web.ui import REPORTS_PER_ADDRESS
from wardlink.provisioning.certs import make_certificates

COOKIE = "wardlink_session"
LOAD_BALANCER = "127.0.0.1"  # trusted by nginx (set_real_ip_from) and, as nginx's peer, by the hub


@dataclass
class Stack:
    """nginx in front of a hub web server on a seeded database."""

    nginx: NginxServer
    hub_port: int
    engine: object
    clock: object
    ca_file: str

    def browser(self, **kwargs) -> Browser:
        return Browser(self, **kwargs)

    def audit(self, action: str) -> list[tuple[str, str | None]]:
        with session_scope(self.engine, readonly=True) as s:
            return [tuple(row) for row in s.execute(select(AuditLog.entity_id, AuditLog.source_ip)
                                                    .where(AuditLog.action == action).order_by(AuditLog.seq))]


@dataclass
class Browser:
    """A client with a cookie jar: from ``source`` (its own address), optionally via a balancer
    that reports ``client`` in ``X-Forwarded-For``; ``direct`` skips nginx."""

    stack: Stack
    source: str = LOAD_BALANCER
    client: str | None = None
    direct: bool = False
    https: bool = False
    headers: dict = field(default_factory=dict)
    cookie: str | None = None

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, dict, str]:
        port = self.stack.hub_port if self.direct else (
            self.stack.nginx.tls_port if self.https else self.stack.nginx.port)
        if self.https:
            context = ssl.create_default_context(cafile=self.stack.ca_file)
            conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=context,
                                               source_address=(self.source, 0))
        else:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(self.source, 0))
        headers = dict(self.headers)
        if self.client is not None:
            headers["X-Forwarded-For"] = self.client
        if self.cookie:
            headers["Cookie"] = f"{COOKIE}={self.cookie}"
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode()
            found = {k.lower(): v for k, v in response.getheaders()}
            for value in response.headers.get_all("Set-Cookie") or []:
                match = re.match(rf"{COOKIE}=([^;]*)", value)
                if match:
                    self.cookie = match.group(1) or None
            return response.status, found, text
        finally:
            conn.close()

    def sign_in(self, username: str, secret: str | None = None) -> tuple[int, dict, str]:
        _, _, page = self.request("GET", "/login")
        return self.request("POST", "/login", {
            "username": username, "password": password(username) if secret is None else secret,
            "csrf_token": csrf_from(page)})


@pytest.fixture
def stack(tmp_path, clock, relational_url):
    tls = make_certificates(tmp_path / "tls", ips=["127.0.0.1"])
    config = hub_config(tmp_path, database_url=relational_url, trusted_proxies="127.0.0.1")
    server = make_server(config, threads=4, clock=clock, port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    nginx = NginxServer(f"127.0.0.1:{server.port}", tmp_path / "nginx", real_ip_from=[LOAD_BALANCER],
                        tls=(tls.server_cert, tls.server_key))
    engine = open_engine(relational_url)
    try:
        nginx.start()
        yield Stack(nginx, server.port, engine, clock, str(tls.ca_cert))
    finally:
        nginx.close()
        server.close()
        thread.join(timeout=10)
        engine.dispose()


def test_one_clients_failed_sign_ins_lock_out_only_that_client(stack):
    attacker = stack.browser(client="203.0.113.66")
    for _ in range(signin.FAILURES_PER_ACCOUNT):
        assert attacker.sign_in("viewer", "a wrong guess")[0] == 401
    status, headers, _ = attacker.sign_in("viewer")  # even the right password, from there
    assert status == 429 and int(headers["retry-after"]) == signin.ACCOUNT_WINDOW.total_seconds()
    # The account's owner, at another workstation, is not held back.
    assert stack.browser(client="198.51.100.7").sign_in("viewer")[0] == 302
    # A shift change: more sign-ins than the per-address limit, all through the one proxy.
    names = ("viewer", "tech", "nurse", "manager")
    for n in range(signin.FAILURES_PER_ADDRESS + 1):
        assert stack.browser(client=f"198.51.100.{10 + n}").sign_in(names[n % 4])[0] == 302
    # Someone mistyping now and then never blocks the others.
    for n in range(signin.FAILURES_PER_ADDRESS + 1):
        assert stack.browser(client=f"192.0.2.{n + 1}").sign_in("tech", "mistyped")[0] == 401
    assert stack.browser(client="198.51.100.99").sign_in("tech")[0] == 302

    failed = stack.audit("user.login_failed")
    assert failed[:signin.FAILURES_PER_ACCOUNT] == [("viewer", "203.0.113.66")] * signin.FAILURES_PER_ACCOUNT
    assert ("tech", "192.0.2.21") in failed
    assert ("viewer", "198.51.100.7") in stack.audit("user.login")
    assert "203.0.113.66" in stack.nginx.access_log()  # nginx believed the balancer, too


def test_one_client_guessing_many_user_names_is_limited_and_sees_no_difference(stack):
    sprayer = stack.browser(client="203.0.113.80")
    answers = [sprayer.sign_in(f"guess{n}", "guess-guess") for n in range(signin.FAILURES_PER_ADDRESS)]
    assert {status for status, _, _ in answers} == {401}
    for name, secret in (("viewer", password("viewer")), ("no-such-user", "any-password")):
        status, headers, page = sprayer.sign_in(name, secret)  # known or not: one answer
        assert status == 429 and "Too many failed sign-in attempts" in page
        assert int(headers["retry-after"]) == signin.ADDRESS_WINDOW.total_seconds()
    assert stack.browser(client="203.0.113.81").sign_in("viewer")[0] == 302
    stack.clock.advance(signin.ADDRESS_WINDOW.total_seconds())
    assert sprayer.sign_in("viewer")[0] == 302


def test_a_forged_forwarded_for_from_an_untrusted_peer_is_ignored(stack):
    # A browser on the ward (127.0.0.9, trusted by nobody) claims to be someone else.
    forger = stack.browser(source="127.0.0.9", client="198.51.100.200")
    assert forger.sign_in("tech", "a wrong guess")[0] == 401
    assert stack.audit("user.login_failed")[-1] == ("tech", "127.0.0.9")
    # Changing the forged address on every try does not escape the limit.
    for n in range(signin.FAILURES_PER_ACCOUNT - 1):
        forger.client = f"198.51.100.{201 + n}"
        assert forger.sign_in("tech", "a wrong guess")[0] == 401
    forger.client = "198.51.100.250"
    assert forger.sign_in("tech")[0] == 429
    # Straight to the hub, bypassing nginx: the hub does not trust that peer's header either.
    direct = stack.browser(source="127.0.0.10", client="198.51.100.251", direct=True)
    assert direct.sign_in("nurse", "a wrong guess")[0] == 401
    assert stack.audit("user.login_failed")[-1] == ("nurse", "127.0.0.10")
    assert stack.browser(client="198.51.100.252").sign_in("tech")[0] == 302


def test_problem_reports_from_labels_are_limited_per_client(stack):
    with session_scope(stack.engine, readonly=True) as s:
        tag = s.scalar(select(Asset.tag).where(Asset.equipment_status != "retired").order_by(Asset.id))

    def report(browser):
        _, _, page = browser.request("GET", f"/a/{tag}")
        return browser.request("POST", f"/a/{tag}", {
            "csrf_token": csrf_from(page), "description": "The display flickers and then goes dark.",
            "name": "Ward nurse", "contact": "ext 4410"})[0]

    ward = stack.browser(client="198.51.100.30")
    assert [report(ward) for _ in range(REPORTS_PER_ADDRESS)] == [200] * REPORTS_PER_ADDRESS
    assert report(ward) == 429
    assert report(stack.browser(client="198.51.100.31")) == 200  # another ward is not held back
    with session_scope(stack.engine, readonly=True) as s:
        sources = set(s.scalars(select(AuditLog.source_ip).where(AuditLog.entity == "work_order",
                                                                 AuditLog.action == "workorder.create")))
    assert {"198.51.100.30", "198.51.100.31"} <= sources


def test_https_at_the_proxy_is_seen_by_the_hub(stack):
    # secure_cookies is off in this config, so only the forwarded scheme can turn HSTS on.
    _, headers, _ = stack.browser(https=True).request("GET", "/login")
    assert headers["strict-transport-security"].startswith("max-age=")
    _, headers, _ = stack.browser().request("GET", "/login")
    assert "strict-transport-security" not in headers
    # A peer nobody trusts cannot claim HTTPS.
    untrusted = stack.browser(source="127.0.0.11", direct=True, headers={"X-Forwarded-Proto": "https"})
    assert "strict-transport-security" not in untrusted.request("GET", "/login")[1]
    # Signed in over HTTPS through nginx, the session works as usual.
    browser = stack.browser(https=True, client="198.51.100.40")
    assert browser.sign_in("viewer")[0] == 302
    assert browser.request("GET", "/api/v1/assets")[0] == 200


@pytest.mark.parametrize("trusted, peer, forwarded_for, proto, expected", [
    ("", "127.0.0.1", ["198.51.100.1"], ["https"], None),                       # nobody trusted
    ("127.0.0.1", "192.0.2.5", ["198.51.100.1"], ["https"], None),              # peer not a proxy
    ("127.0.0.1", "127.0.0.1", ["198.51.100.1"], ["https"], ("198.51.100.1", "https")),
    ("127.0.0.1", "127.0.0.1", ["6.6.6.6", "198.51.100.1"], [], ("198.51.100.1", None)),  # forged left part
    ("127.0.0.1, 10.0.0.0/8", "127.0.0.1", ["198.51.100.1", "10.1.2.3"], ["http"],
     ("198.51.100.1", "http")),                                                 # two proxy tiers
    ("127.0.0.1", "127.0.0.1", ["127.0.0.1"], [], ("127.0.0.1", None)),         # all hops trusted
    ("127.0.0.1", "127.0.0.1", ["198.51.100.1", "not-an-ip"], [], ("127.0.0.1", None)),
    ("::1", "::1", ["2001:db8::7"], ["gopher"], ("2001:db8::7", None)),         # unknown scheme ignored
    ("127.0.0.1", "::ffff:127.0.0.1", ["::ffff:198.51.100.1"], [], ("198.51.100.1", None)),  # IPv4 via IPv6
    ("1", "192.0.2.5", ["6.6.6.6", "198.51.100.1"], ["https"], ("198.51.100.1", "https")),
    ("2", "192.0.2.5", ["6.6.6.6", "198.51.100.1", "10.0.0.2"], ["x", "https", "http"],
     ("198.51.100.1", "https")),
    ("2", "192.0.2.5", ["198.51.100.1"], [], None),                             # fewer hops than proxies
])
def test_the_client_address_is_found_only_through_trusted_proxies(trusted, peer, forwarded_for, proto,
                                                                    expected):
    from wardlink.hub.web.proxy import ProxyFix

    assert ProxyFix(None, trusted).resolve(peer, forwarded_for, proto) == expected
