"""Alert events become gateway commands on a real Mosquitto broker, seen by a subscribing gateway."""

from __future__ import annotations

import queue
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from wardlink.hub.errors import ConfigError
from wardlink.hub.notify.config import build_notifiers
from wardlink.hub.notify.errors import DeliveryRejected, NotifyError
from wardlink.hub.notify.gateway import GatewayCommandNotifier
from wardlink.hub.services.alerts.notifications import Notification
from wardlink.clock import ManualClock
from wardlink.protocol import decode_command, parse_topic

ACK = Notification(event="acknowledged", alert_id=3, rule="fridge-high", severity="critical", state="acknowledged",
                   title="fridge too warm", gateway="gw-icu-01", channel="fridge1.temp")


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.fixture
def link(mosquitto):
    """A connected hub client and a 'gateway' subscribed to its command topics."""
    received: queue.Queue = queue.Queue()
    hub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="hub-notify", protocol=mqtt.MQTTv311)
    gateway = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="gw-icu-01", protocol=mqtt.MQTTv311)
    subscribed = []
    gateway.on_connect = lambda c, u, f, rc, p: c.subscribe("wardlink/v1/gw-icu-01/cmd/+", qos=1)
    gateway.on_subscribe = lambda c, u, mid, rcs, p: subscribed.append(mid)
    gateway.on_message = lambda c, u, msg: received.put((msg.topic, msg.payload, msg.qos))
    for client in (hub, gateway):
        client.connect(mosquitto.host, mosquitto.port)
        client.loop_start()
    wait_for(lambda: hub.is_connected() and subscribed)
    yield hub, received
    for client in (hub, gateway):
        client.disconnect()
        client.loop_stop()


def test_acknowledging_publishes_silence_alarm_for_the_alerts_channel(link):
    hub, received = link
    clock = ManualClock()
    notifier = GatewayCommandNotifier("buzzer", client=hub, clock=clock)
    detail = notifier.send(ACK)
    assert detail.startswith("published silence-alarm ") and detail.endswith("wardlink/v1/gw-icu-01/cmd/silence-alarm")
    topic, payload, qos = received.get(timeout=5)
    info = parse_topic(topic)
    cmd = decode_command(payload, name=info.command)
    assert (info.gateway_id, cmd.name, cmd.args, qos) == ("gw-icu-01", "silence-alarm", {"channel": "fridge1.temp"}, 1)
    assert cmd.ts_ms == clock.now_ms() and len(cmd.id) == 32


def test_identify_can_be_mapped_to_opened_alerts(link):
    hub, received = link
    notifier = GatewayCommandNotifier("beacon", client=hub, clock=ManualClock(), commands={"opened": "identify"},
                                      identify_s=20)
    notifier.send(Notification(**{**ACK.__dict__, "event": "opened"}))
    topic, payload, _ = received.get(timeout=5)
    assert topic == "wardlink/v1/gw-icu-01/cmd/identify"
    assert decode_command(payload, name="identify").args == {"seconds": 20}
    with pytest.raises(DeliveryRejected, match="no command is mapped to event 'acknowledged'"):
        notifier.send(ACK)


def test_stale_or_gatewayless_notifications_are_refused_not_sent(link):
    hub, received = link
    clock = ManualClock()
    notifier = GatewayCommandNotifier("buzzer", client=hub, clock=clock, max_age_s=600)
    old = Notification(**{**ACK.__dict__, "issued_ms": clock.now_ms()})
    clock.advance(601)
    with pytest.raises(DeliveryRejected, match="expired"):
        notifier.send(old)
    with pytest.raises(DeliveryRejected, match="has no gateway"):
        notifier.send(Notification(**{**ACK.__dict__, "gateway": None}))
    assert received.empty()


def test_a_broker_that_is_down_is_a_retryable_error(link, mosquitto):
    hub, _ = link
    notifier = GatewayCommandNotifier("buzzer", client=hub, clock=ManualClock(), timeout_s=1)
    mosquitto.stop()
    wait_for(lambda: not hub.is_connected())
    with pytest.raises(NotifyError, match="broker link is down") as info:
        notifier.send(ACK)
    assert not isinstance(info.value, DeliveryRejected)


def test_gateway_targets_need_the_mqtt_connection_and_known_commands():
    with pytest.raises(ConfigError, match="needs the hub's MQTT connection"):
        build_notifiers({"buzzer": {"type": "gateway"}}, clock=ManualClock())
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="x")
    with pytest.raises(ConfigError, match="commands.opened: must be one of silence-alarm, identify, got 'reload'"):
        build_notifiers({"buzzer": {"type": "gateway", "commands": {"opened": "reload"}}}, clock=ManualClock(),
                        mqtt_client=client)
    built = build_notifiers({"buzzer": {"type": "gateway"}}, clock=ManualClock(), mqtt_client=client)
    assert built["buzzer"].events == {"acknowledged", "shelved"}
