"""Notifier targets from the rules file: ``[notifiers.NAME]`` tables -> notifier objects.

Each table has a ``type`` (``email``, ``webhook``, ``gateway``) and that type's keys; secrets
are read from files (``password_file``, ``secret_file``) and never have defaults. Every error
names the key: ``notifiers.biomed.port: must be 1..65535, got 0``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from wardlink.hub.errors import ConfigError
from wardlink.hub.notify.gateway import ALERT_COMMANDS, GatewayCommandNotifier
from wardlink.hub.notify.smtp import DEFAULT_EVENTS as EMAIL_EVENTS
from wardlink.hub.notify.smtp import SECURITY, EmailNotifier
from wardlink.hub.notify.webhook import ALL_EVENTS, WebhookNotifier
from wardlink.clock import Clock


class _Keys:
    """Typed access to one notifier table, naming the key in every error."""

    def __init__(self, name: str, table: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
        self.where = f"notifiers.{name}"
        unknown = sorted(set(table) - set(allowed) - {"type"})
        if unknown:
            raise ConfigError(f"{self.where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
        self.table = table

    def get(self, key: str, kind: type | tuple, default: Any = ..., check: Callable[[Any], bool] | None = None,
            rule: str = "") -> Any:
        """Return ``key`` checked against ``kind`` and ``check``; ``default`` when absent (... = required)."""
        if key not in self.table:
            if default is ...:
                raise ConfigError(f"{self.where}.{key}: required")
            return default
        value = self.table[key]
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise ConfigError(f"{self.where}.{key}: must be {names}, got {value!r}")
        if check is not None and not check(value):
            raise ConfigError(f"{self.where}.{key}: {rule}, got {value!r}")
        return value

    def strings(self, key: str, default: Any = ...) -> list[str]:
        """Return ``key`` as a list of non-empty strings (a single string is a list of one)."""
        value = self.get(key, (list, str), default)
        value = [value] if isinstance(value, str) else value
        if not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{self.where}.{key}: must be a list of non-empty strings, got {value!r}")
        return list(value)

    def events(self, default: frozenset[str], allowed: frozenset[str]) -> frozenset[str]:
        """Return the ``events`` the target reports, checked against ``allowed``."""
        events = frozenset(self.strings("events", sorted(default)))
        bad = sorted(events - allowed)
        if bad:
            raise ConfigError(f"{self.where}.events: must be among {', '.join(sorted(allowed))}, got {', '.join(bad)}")
        return events

    def secret(self, key: str) -> str | None:
        """Return the secret held in the file ``key`` names, or None when the key is absent."""
        path = self.get(key, str, None)
        if path is None:
            return None
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{self.where}.{key}: cannot read {path}: {exc.strerror}") from None


def _port(v: int) -> bool:
    return 0 < v < 65536


def _email(name: str, t: Mapping[str, Any], **_: Any) -> EmailNotifier:
    k = _Keys(name, t, ("host", "port", "security", "sender", "to", "username", "password_file",
                        "timeout_s", "ca_file", "events"))
    security = k.get("security", str, "starttls", lambda v: v in SECURITY, f"must be one of {', '.join(SECURITY)}")
    default_port = {"none": 25, "starttls": 587, "ssl": 465}[security]
    username = k.get("username", str, None)
    password = k.secret("password_file")
    if username and password is None:
        raise ConfigError(f"notifiers.{name}.password_file: required when username is set")
    to = k.strings("to")
    if not to:
        raise ConfigError(f"notifiers.{name}.to: must list at least one address")
    return EmailNotifier(
        name, host=k.get("host", str), port=k.get("port", int, default_port, _port, "must be 1..65535"),
        security=security, sender=k.get("sender", str, check=lambda v: "@" in v, rule="must be an e-mail address"),
        to=to, username=username, password=password,
        timeout_s=float(k.get("timeout_s", (int, float), 10.0, lambda v: v > 0, "must be > 0")),
        ca_file=k.get("ca_file", str, None), events=k.events(EMAIL_EVENTS, ALL_EVENTS))


def _webhook(name: str, t: Mapping[str, Any], **_: Any) -> WebhookNotifier:
    k = _Keys(name, t, ("url", "headers", "secret_file", "timeout_s", "retries", "backoff_s",
                        "max_backoff_s", "events"))
    headers = k.get("headers", dict, {})
    if not all(isinstance(v, str) for v in headers.values()):
        raise ConfigError(f"notifiers.{name}.headers: values must be strings")
    url = k.get("url", str, check=lambda v: v.startswith(("http://", "https://")), rule="must be an http(s) URL")
    return WebhookNotifier(
        name, url=url, headers=headers, secret=k.secret("secret_file"),
        timeout_s=float(k.get("timeout_s", (int, float), 5.0, lambda v: v > 0, "must be > 0")),
        retries=k.get("retries", int, 3, lambda v: 0 <= v <= 10, "must be 0..10"),
        backoff_s=float(k.get("backoff_s", (int, float), 1.0, lambda v: v >= 0, "must be >= 0")),
        max_backoff_s=float(k.get("max_backoff_s", (int, float), 30.0, lambda v: v >= 0, "must be >= 0")),
        events=k.events(ALL_EVENTS, ALL_EVENTS))


def _gateway(name: str, t: Mapping[str, Any], *, mqtt_client: Any = None, clock: Clock, **_: Any):
    k = _Keys(name, t, ("commands", "identify_s", "timeout_s", "max_age_s"))
    if mqtt_client is None:
        raise ConfigError(f"notifiers.{name}: a gateway notifier needs the hub's MQTT connection")
    commands = k.get("commands", dict, {"acknowledged": "silence-alarm", "shelved": "silence-alarm"})
    for event, cmd in commands.items():
        if event not in ALL_EVENTS:
            raise ConfigError(f"notifiers.{name}.commands: event must be among {', '.join(sorted(ALL_EVENTS))}, "
                              f"got {event!r}")
        if cmd not in ALERT_COMMANDS:
            raise ConfigError(f"notifiers.{name}.commands.{event}: must be one of {', '.join(ALERT_COMMANDS)}, "
                              f"got {cmd!r}")
    return GatewayCommandNotifier(
        name, client=mqtt_client, clock=clock, commands=commands,
        identify_s=float(k.get("identify_s", (int, float), 30.0, lambda v: 0 < v <= 300, "must be in (0, 300]")),
        timeout_s=float(k.get("timeout_s", (int, float), 5.0, lambda v: v > 0, "must be > 0")),
        max_age_s=float(k.get("max_age_s", (int, float), 600.0, lambda v: v > 0, "must be > 0")))


#: notifier type -> builder
BUILDERS: dict[str, Callable[..., Any]] = {"email": _email, "webhook": _webhook, "gateway": _gateway}


def build_notifiers(definitions: Mapping[str, Mapping[str, Any]], *, clock: Clock,
                    mqtt_client: Any = None) -> dict[str, Any]:
    """Return notifier objects by name from the ``notifiers`` tables of a rules file."""
    out = {}
    for name, table in definitions.items():
        kind = table.get("type")
        builder = BUILDERS.get(kind)
        if builder is None:
            raise ConfigError(f"notifiers.{name}.type: must be one of {', '.join(BUILDERS)}, got {kind!r}")
        try:
            out[name] = builder(name, table, mqtt_client=mqtt_client, clock=clock)
        except ValueError as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"notifiers.{name}: {exc}") from None
    return out
