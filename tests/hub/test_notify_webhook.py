"""Webhooks POST the notification as JSON to a real local HTTP server, retrying with backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket

import pytest
from rules_support import HookServer

from wardlink.hub.notify.errors import DeliveryRejected, NotifyError
from wardlink.hub.notify.webhook import WebhookNotifier
from wardlink.hub.services.alerts.notifications import Notification

NOTE = Notification(event="opened", alert_id=7, rule="fridge-high", severity="critical", state="open",
                    title="VF-0001: temperature 9.3 degC above 8 degC for 5 min", asset="VF-0001",
                    gateway="gw-icu-01", channel="fridge1.temp", value=9.3, issued_ms=1_767_229_200_000)


@pytest.fixture
def hook():
    servers = []

    def make(**kwargs) -> HookServer:
        servers.append(HookServer(**kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def test_a_receiver_failing_twice_gets_the_notification_on_the_third_attempt_with_backoff(hook):
    server = hook(fail_first=2, fail_status=503)
    delays = []
    notifier = WebhookNotifier("ops", url=server.url, retries=3, backoff_s=0.5, secret="s3cret",
                               sleep=delays.append)
    assert notifier.send(NOTE) == "HTTP 200 after 3 attempt(s)"
    assert delays == [0.5, 1.0]
    assert len(server.requests) == 3 and len(set(server.bodies)) == 1
    headers, body = server.requests[-1]
    payload = json.loads(body)
    assert (payload["v"], payload["event"], payload["alert_id"], payload["value"]) == (1, "opened", 7, 9.3)
    assert headers["Content-Type"] == "application/json" and headers["X-Wardlink-Event"] == "opened"
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Wardlink-Signature"] == f"sha256={expected}"
    notifier.close()


def test_a_refusal_is_not_retried(hook):
    server = hook(fail_first=10, fail_status=400)
    notifier = WebhookNotifier("ops", url=server.url, retries=3, backoff_s=0, sleep=lambda s: None)
    with pytest.raises(DeliveryRejected, match="refused the notification: HTTP 400"):
        notifier.send(NOTE)
    assert len(server.requests) == 1


def test_a_receiver_that_keeps_failing_raises_after_the_last_retry(hook):
    server = hook(fail_first=10, fail_status=500)
    notifier = WebhookNotifier("ops", url=server.url, retries=2, backoff_s=0.01)
    with pytest.raises(NotifyError, match=r"HTTP 500 .*\(after 3 attempts\)"):
        notifier.send(NOTE)
    assert len(server.requests) == 3


def test_too_many_requests_waits_as_long_as_retry_after_says_within_the_cap(hook):
    server = hook(fail_first=2, fail_status=429, headers={"Retry-After": "7"})
    delays = []
    notifier = WebhookNotifier("ops", url=server.url, retries=2, backoff_s=1, max_backoff_s=5, sleep=delays.append)
    notifier.send(NOTE)
    assert delays == [5, 5]


def test_nothing_listening_is_a_retryable_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    notifier = WebhookNotifier("ops", url=f"http://127.0.0.1:{port}/hook", retries=1, backoff_s=0, timeout_s=2)
    with pytest.raises(NotifyError, match="ConnectionError") as info:
        notifier.send(NOTE)
    assert not isinstance(info.value, DeliveryRejected)


def test_webhook_settings_are_checked():
    with pytest.raises(ValueError, match="url: must be an http"):
        WebhookNotifier("ops", url="ftp://example.org/x")
    with pytest.raises(ValueError, match="retries and backoff_s"):
        WebhookNotifier("ops", url="http://example.org/x", retries=-1)
