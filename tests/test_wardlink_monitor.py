"""The metrics text format and the monitoring listener: what they write parses with Prometheus'
own parser, /health answers 200 or 503 with its reasons, and a taken port is refused in one line."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from wardlink.metrics import CONTENT_TYPE, Family, counter, gauge, render
from wardlink.monitor import HealthReport, MonitorError, MonitorServer


def parsed(text: str) -> dict[str, object]:
    """Return family name -> family, as Prometheus' parser reads ``text``."""
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_families_render_in_the_text_format_prometheus_reads():
    requests = Family("wardlink_web_requests_total", "counter", "Requests answered,\nby status class.")
    requests.add(12, {"class": "2xx"}).add(1, {"class": "5xx"})
    text = render([
        requests,
        gauge("wardlink_up", "1 while \\ it runs.", True),
        gauge("wardlink_lag_seconds", "Lag.", 0.25, {"worker": 'a "quoted"\\name\nline'}),
        gauge("wardlink_unknown", "Not known yet.", None),
        counter("wardlink_big_total", "Large.", 2**60),
    ])
    assert "# HELP wardlink_web_requests_total Requests answered,\\nby status class.\n" in text
    assert "# TYPE wardlink_web_requests_total counter\n" in text
    assert 'wardlink_web_requests_total{class="2xx"} 12\n' in text
    families = parsed(text)
    # The parser strips _total from a counter family's name and keeps it on the samples.
    web = families["wardlink_web_requests"]
    assert web.type == "counter" and web.documentation == "Requests answered,\nby status class."
    assert {(s.name, s.labels["class"], s.value) for s in web.samples} == {
        ("wardlink_web_requests_total", "2xx", 12.0), ("wardlink_web_requests_total", "5xx", 1.0)}
    assert families["wardlink_up"].samples[0].value == 1.0
    assert families["wardlink_up"].documentation == "1 while \\ it runs."
    lag = families["wardlink_lag_seconds"].samples[0]
    assert lag.value == 0.25 and lag.labels == {"worker": 'a "quoted"\\name\nline'}
    assert families["wardlink_unknown"].samples == []
    assert families["wardlink_big"].samples[0].value == float(2**60)


@pytest.mark.parametrize("make, message", [
    (lambda: Family("requests", "counter", "x"), "a counter's name ends in _total"),
    (lambda: Family("x", "histogram", "x"), "kind must be one of counter, gauge"),
    (lambda: Family("1x", "gauge", "x"), "not a metric name"),
    (lambda: gauge("x", "x").add(1, {"bad-label": "v"}), "not a label name"),
    (lambda: render([gauge("x", "a"), gauge("x", "b")]), "described twice"),
])
def test_mistakes_in_a_description_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_the_listener_serves_metrics_and_health_and_says_why_it_is_unhealthy():
    state = {"reasons": (), "count": 0}

    def metrics() -> str:
        state["count"] += 1
        return render([counter("wardlink_scrapes_total", "Scrapes.", state["count"])])

    monitor = MonitorServer("test", metrics=metrics,
                            health=lambda: HealthReport(state["reasons"], {"worker": "w1"})).start("127.0.0.1", 0)
    base = f"http://127.0.0.1:{monitor.port}"
    try:
        status, ctype, body = get(f"{base}/metrics")
        assert (status, ctype) == (200, CONTENT_TYPE)
        assert parsed(body)["wardlink_scrapes"].samples[0].value == 1.0
        assert parsed(get(f"{base}/metrics")[2])["wardlink_scrapes"].samples[0].value == 2.0  # built per scrape

        status, ctype, body = get(f"{base}/health")
        assert (status, ctype, json.loads(body)) == (200, "application/json",
                                                     {"status": "ok", "reasons": [], "worker": "w1"})
        state["reasons"] = ("not connected to the broker at 127.0.0.1:1883",)
        status, _, body = get(f"{base}/health")
        assert status == 503 and json.loads(body) == {
            "status": "unhealthy", "reasons": ["not connected to the broker at 127.0.0.1:1883"], "worker": "w1"}
        assert get(f"{base}/nothing")[0] == 404
    finally:
        monitor.close()
        monitor.close()


def test_a_failing_figure_is_a_500_and_the_listener_keeps_serving():
    def broken() -> str:
        raise RuntimeError("a bug")

    monitor = MonitorServer("test", metrics=broken, health=HealthReport).start("127.0.0.1", 0)
    try:
        assert get(f"http://127.0.0.1:{monitor.port}/metrics")[0] == 500
        assert get(f"http://127.0.0.1:{monitor.port}/health")[0] == 200
    finally:
        monitor.close()


def test_a_port_another_process_holds_is_refused_in_one_line():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        with pytest.raises(MonitorError) as caught:
            MonitorServer("ingest wardlink-ingest-1", metrics=str, health=HealthReport).start("127.0.0.1", port)
    finally:
        holder.close()
    assert str(caught.value) == (f"ingest wardlink-ingest-1: cannot listen for /metrics and /health on "
                                 f"127.0.0.1:{port}: address already in use")
    with pytest.raises(MonitorError, match="metrics port must be 0..65535, got 70000"):
        MonitorServer("x", metrics=str, health=HealthReport).start("127.0.0.1", 70000)
