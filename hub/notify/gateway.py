"""Commands to a gateway's local alarm outputs, published over MQTT (``wardlink/v1/<gw>/cmd/...``).

A gateway sounds its own buzzer from its local alarm rules, so that an alarm works even with
the network down. The hub's part is the other direction: when a person acknowledges or
shelves the alert at the hub, the buzzer beside the fridge is silenced (``silence-alarm``
for the alert's channel). ``identify`` (beep and blink for ``identify_s`` seconds, so a
technician finds the unit) may be mapped to an event as well.

The paho client is passed in and owned by the caller; sends wait for the broker's PUBACK.
"""

from __future__ import annotations

import uuid
from typing import Any, Mapping

from wardlink.hub.notify.errors import DeliveryRejected, NotifyError
from wardlink.hub.services.alerts.notifications import Notification
from wardlink import mqtt as mqtt_adapter
from wardlink.clock import Clock, now_ms
from wardlink.mqtt import MQTTError
from wardlink.protocol import Command, Kind, encode, topic

#: Commands an alert event may trigger on the gateway.
ALERT_COMMANDS = ("silence-alarm", "identify")
DEFAULT_COMMANDS = {"acknowledged": "silence-alarm", "shelved": "silence-alarm"}


class GatewayCommandNotifier:
    """Publish a gateway command for alert events (by default: silence the buzzer on acknowledge)."""

    kind = "gateway"

    def __init__(self, name: str, *, client: Any, clock: Clock,
                 commands: Mapping[str, str] | None = None, identify_s: float = 30.0,
                 timeout_s: float = 5.0, max_age_s: float = 600.0) -> None:
        commands = dict(DEFAULT_COMMANDS if commands is None else commands)
        bad = {event: cmd for event, cmd in commands.items() if cmd not in ALERT_COMMANDS}
        if bad:
            raise ValueError(f"commands: each must be one of {', '.join(ALERT_COMMANDS)}, got {bad}")
        self.name = name
        self._client = client
        self._clock = clock
        self.commands = commands
        self.identify_s = identify_s
        self.timeout_s = timeout_s
        self.max_age_s = max_age_s
        self.events = frozenset(commands)

    def command_for(self, note: Notification) -> Command:
        """Return the command ``note`` calls for."""
        name = self.commands[note.event]
        args: dict[str, Any] = {}
        if name == "silence-alarm" and note.channel:
            args["channel"] = note.channel
        elif name == "identify":
            args["seconds"] = self.identify_s
        return Command(name, uuid.uuid4().hex, now_ms(self._clock), args)

    def send(self, note: Notification) -> str:
        """Publish the command at QoS 1 and wait for the broker to acknowledge it."""
        if note.event not in self.commands:
            raise DeliveryRejected(f"no command is mapped to event {note.event!r}")
        if not note.gateway:
            raise DeliveryRejected(f"alert {note.alert_id} has no gateway to command")
        # A silence command delivered long after the acknowledgement could silence a newer alarm.
        if note.issued_ms is not None and now_ms(self._clock) - note.issued_ms > self.max_age_s * 1000:
            raise DeliveryRejected(f"expired: {note.event} of alert {note.alert_id} is older than "
                                   f"{self.max_age_s:g} s")
        cmd = self.command_for(note)
        name = topic(note.gateway, Kind.CMD, cmd.name)
        try:
            info = self._client.publish(name, encode(cmd), qos=1)
            mqtt_adapter.check(info.rc, f"publish {cmd.name}")
        except (ValueError, OSError) as exc:
            raise NotifyError(f"cannot publish {name}: {exc}") from None
        except MQTTError as exc:
            raise NotifyError(f"cannot publish {name}: broker link is down ({exc})") from None
        try:
            info.wait_for_publish(self.timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise NotifyError(f"{name}: {exc}") from None
        if not info.is_published():
            raise NotifyError(f"{name}: the broker did not acknowledge within {self.timeout_s:g} s")
        return f"published {cmd.name} {cmd.id} to {name}"

    def close(self) -> None:
        """The client belongs to the caller; nothing to release."""
