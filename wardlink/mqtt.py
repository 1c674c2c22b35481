"""The one MQTT client adapter: every Wardlink MQTT client is built and connected here.

:func:`make_client` builds a paho client (MQTT 3.1.1, the wire baseline) with every session
choice stated by the caller: client id, clean or persistent session, credentials, TLS with a
CA file, Last Will, manual acknowledgement and reconnect delays. :func:`connect` connects and
waits for the CONNACK; :func:`start` connects in the background and lets paho reconnect.
Failures are exceptions of the :class:`MQTTError` family, never return codes to check by hand;
:func:`check` turns a paho return code into one. Nothing here runs per message.

paho-mqtt comes with the ``edge`` and ``hub`` extras; ``import wardlink`` alone does not load it.
"""

from __future__ import annotations

import ssl
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from wardlink.errors import WardlinkError

#: paho's reconnect delays (s) unless the caller says otherwise.
RECONNECT_DELAY = (1.0, 30.0)
#: CONNACK reason codes (MQTT 5 numbering, which paho also uses for 3.1.1) for a refused login.
_AUTH_CODES = frozenset({134, 135})  # bad user name or password, not authorised


class MQTTError(WardlinkError):
    """An MQTT operation failed."""


class MQTTURLError(MQTTError, ValueError):
    """A broker URL is not ``mqtt://HOST[:PORT]`` or ``mqtts://HOST[:PORT]``."""


class MQTTUnreachable(MQTTError):
    """The broker could not be reached (no route, connection refused, TLS handshake failed)."""


class MQTTTimeout(MQTTError):
    """The broker did not answer in time."""


class MQTTRefused(MQTTError):
    """The broker answered the CONNECT with a failure; ``reason`` is its reason code."""

    def __init__(self, message: str, reason: Any = None) -> None:
        super().__init__(message)
        self.reason = reason


class MQTTAuthError(MQTTRefused):
    """The broker refused the login: bad user name or password, or not authorised."""


class MQTTNotConnected(MQTTError):
    """The client has no connection to the broker."""


class MQTTQueueFull(MQTTError):
    """paho would not queue another message."""


@dataclass(frozen=True, slots=True)
class BrokerURL:
    """Where a broker listens: host, port and whether to speak TLS."""

    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, url: str) -> BrokerURL:
        """Parse ``mqtt://HOST[:PORT]`` (1883) or ``mqtts://HOST[:PORT]`` (8883)."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise MQTTURLError(f"must be mqtt://HOST[:PORT] or mqtts://HOST[:PORT], got {url!r}")
        tls = parts.scheme == "mqtts"
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError:
            raise MQTTURLError(f"invalid port in {url!r}") from None
        return cls(parts.hostname, port, tls)


@dataclass(frozen=True, slots=True)
class Will:
    """The Last Will the broker publishes when the client vanishes."""

    topic: str
    payload: bytes | str
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True, slots=True)
class TLS:
    """TLS to the broker: the CA that signed its certificate, and an optional client certificate."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


_ERRORS: dict[int, type[MQTTError]] = {
    MQTTErrorCode.MQTT_ERR_NO_CONN: MQTTNotConnected,
    MQTTErrorCode.MQTT_ERR_QUEUE_SIZE: MQTTQueueFull,
    MQTTErrorCode.MQTT_ERR_CONN_REFUSED: MQTTRefused,
    MQTTErrorCode.MQTT_ERR_AUTH: MQTTAuthError,
}


def check(rc: int, doing: str) -> None:
    """Raise the :class:`MQTTError` for a paho return code other than success."""
    if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
        raise _ERRORS.get(rc, MQTTError)(f"{doing}: {mqtt.error_string(rc)}")


def refusal(reason: Any, doing: str) -> MQTTRefused:
    """Return the exception for a failed CONNACK ``reason`` (auth failures as :class:`MQTTAuthError`)."""
    kind = MQTTAuthError if getattr(reason, "value", None) in _AUTH_CODES else MQTTRefused
    return kind(f"{doing}: the broker refused the connection: {reason}", reason)


def make_client(client_id: str, *, clean_session: bool, username: str | None = None,
                password: str | None = None, tls: TLS | None = None, will: Will | None = None,
                manual_ack: bool = False, reconnect_delay: tuple[float, float] | None = RECONNECT_DELAY,
                reconnect_on_failure: bool = True) -> mqtt.Client:
    """Return a paho client (MQTT 3.1.1, callback API 2) set up as stated; not yet connected.

    ``clean_session`` has no default: a persistent session (False) keeps subscriptions and
    queued QoS 1 messages across connections, a clean one (True) forgets them.
    """
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session,
                         protocol=mqtt.MQTTv311, manual_ack=manual_ack,
                         reconnect_on_failure=reconnect_on_failure)
    if username:
        client.username_pw_set(username, password)
    if tls is not None:
        client.tls_set(ca_certs=tls.ca_file or None, certfile=tls.cert_file or None,
                       keyfile=tls.key_file or None, cert_reqs=ssl.CERT_REQUIRED,
                       tls_version=ssl.PROTOCOL_TLS_CLIENT)
    if will is not None:
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
    if reconnect_delay is not None:
        # paho annotates these seconds as int, but only adds and compares them with float times;
        # fractional delays (the gateway's and the tests') work as they read
        client.reconnect_delay_set(*reconnect_delay)  # type: ignore[arg-type]
    return client


def start(client: mqtt.Client, host: str, port: int, keepalive: int) -> None:
    """Connect in the background and start paho's network thread (it reconnects by itself)."""
    client.connect_async(host, port, keepalive)
    client.loop_start()


def connect(client: mqtt.Client, host: str, port: int, keepalive: int, *, timeout: float = 10.0) -> bool:
    """Connect, start the network thread and wait for the CONNACK; return session-present.

    Raise :class:`MQTTUnreachable`, :class:`MQTTTimeout`, :class:`MQTTAuthError` or
    :class:`MQTTRefused`; on any of them the client is stopped again. A callback the caller set
    as ``on_connect`` still runs.
    """
    answered = threading.Event()
    outcome: list[tuple[Any, bool]] = []
    previous: Callable[..., None] | None = client.on_connect

    def on_connect(c, userdata, flags, reason, properties) -> None:
        if not answered.is_set():
            outcome.append((reason, bool(getattr(flags, "session_present", False))))
            answered.set()
        if previous is not None:
            previous(c, userdata, flags, reason, properties)

    client.on_connect = on_connect
    where = f"broker {host}:{port}"
    try:
        client.connect(host, port, keepalive)
    except (OSError, ssl.SSLError) as exc:
        client.on_connect = previous
        raise MQTTUnreachable(f"cannot connect to {where}: {exc}") from exc
    client.loop_start()
    try:
        if not answered.wait(timeout):
            raise MQTTTimeout(f"{where} accepted TCP but sent no CONNACK within {timeout:g} s")
        reason, session_present = outcome[0]
        if reason.is_failure:
            raise refusal(reason, where)
    except MQTTError:
        stop(client)
        raise
    finally:
        client.on_connect = previous
    return session_present


def stop(client: mqtt.Client) -> None:
    """Disconnect and stop the network thread; safe to call on a client that is not connected."""
    try:
        client.disconnect()
    finally:
        client.loop_stop()
