"""Remote configuration and commands from the hub.

Config: the hub publishes the desired channels and alarm rules, retained, on
``wardlink/v1/{gw}/config``. A newer version is validated against the driver registry with the
same code as the local file; if anything is wrong the whole config is rejected
(``config.rejected`` event naming the keys) and the last good one stays in force; otherwise
it is applied atomically (``config.applied``) and saved in ``data_dir`` so that a restart
without the hub still runs it. Broker, buffer and hardware settings are local only.

Commands (``.../cmd/{name}``): identify, silence-alarm, reload, resend-from; each is answered
on ``.../cmd-result``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any, Protocol

from wardlink import files
from wardlink.clock import Clock, now_ms
from wardlink.protocol import (
    CommandResult, Event, Kind, ProtocolError, decode_command, decode_config, parse_topic,
)

from wardlink.edge.alarms import AlarmEngine
from wardlink.edge.config import AlarmRule, ChannelConfig, EdgeConfig, load_config, parse_alarms, parse_channels
from wardlink.edge.errors import CommandError, ConfigError
from wardlink.edge.forwarder import Forwarder

log = logging.getLogger(__name__)

REMOTE_CONFIG_NAME = "remote-config.json"
MAX_IDENTIFY_S = 300
#: An identify command older than this is stale (queued while the gateway was offline).
IDENTIFY_MAX_AGE_MS = 10 * 60 * 1000


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old or the new file, never half."""
    files.write_atomic(path, data, mode=0o644, sync_dir=True)


class RemoteHost(Protocol):
    """What remote control needs of the gateway it serves (:class:`wardlink.edge.gateway.Gateway` is one).

    The gateway owns its remote control, so remote control sees it only through this interface
    and never imports the gateway module.
    """

    config: EdgeConfig
    clock: Clock
    boot: str
    channels: tuple[ChannelConfig, ...]
    alarm_rules: tuple[AlarmRule, ...]
    alarms: AlarmEngine | None
    forwarder: Forwarder | None

    @property
    def registry(self) -> Any: ...

    def emit_event(self, event: Event) -> None: ...

    def apply(self, channels: tuple[ChannelConfig, ...], alarms: tuple[AlarmRule, ...], *,
              reopen: bool = False) -> None: ...


class RemoteControl:
    """Apply remote configs and carry out commands for one gateway."""

    def __init__(self, gateway: RemoteHost) -> None:
        self.gw = gateway
        self.config_version: int | None = None
        self.path = gateway.config.data_dir / REMOTE_CONFIG_NAME
        self._lock = asyncio.Lock()
        self._handlers = {
            "identify": self._identify,
            "silence-alarm": self._silence,
            "reload": self._reload,
            "resend-from": self._resend_from,
        }

    # ------------------------------------------------------------------ config

    def validate(self, payload: bytes):
        """Decode and validate a config payload; return (version, channels, alarms) or raise ConfigError."""
        gw = self.gw
        try:
            desired = decode_config(payload, gateway_id=gw.config.gateway_id)
        except ProtocolError as exc:
            raise ConfigError([f"{exc}"]) from None
        problems: list[str] = []
        channels = parse_channels(list(desired.channels), backend=gw.config.hardware.backend, problems=problems,
                                  registry=gw.registry)
        alarms = parse_alarms(list(desired.alarms), channels=channels, outputs=gw.config.outputs, problems=problems)
        if problems:
            err = ConfigError(problems)
            err.version = desired.version  # type: ignore[attr-defined]
            raise err
        return desired.version, channels, alarms

    def load_persisted(self) -> None:
        """Re-apply the last good remote config saved in data_dir, if it still validates."""
        try:
            payload = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.error("cannot read saved remote config %s: %s", self.path, exc)
            return
        try:
            version, channels, alarms = self.validate(payload)
        except ConfigError as exc:
            log.error("saved remote config %s no longer validates; using the local file: %s", self.path, exc)
            return
        self.gw.channels, self.gw.alarm_rules = channels, alarms
        self.config_version = version
        log.info("using saved remote config version %d (%d channels, %d alarm rules)",
                 version, len(channels), len(alarms))

    async def apply_config(self, payload: bytes) -> bool:
        """Validate and apply a remote config atomically; return True if applied."""
        if not payload:
            log.info("remote config cleared on the broker; keeping the current configuration")
            return False
        async with self._lock:
            ts = now_ms(self.gw.clock)
            try:
                version, channels, alarms = self.validate(payload)
            except ConfigError as exc:
                version = getattr(exc, "version", None)
                log.error("remote config%s rejected; keeping version %s: %s",
                          f" version {version}" if version else "", self.config_version, exc)
                self.gw.emit_event(Event("config.rejected", ts, None, "warning", {
                    "version": version, "kept_version": self.config_version, "problems": exc.problems[:20],
                }))
                return False
            if self.config_version is not None and version <= self.config_version:
                if version < self.config_version:
                    log.warning("ignoring remote config version %d: version %d is already applied",
                                version, self.config_version)
                return False
            self.gw.apply(channels, alarms)
            try:
                await asyncio.get_running_loop().run_in_executor(None, write_atomic, self.path, bytes(payload))
            except OSError as exc:
                log.error("remote config applied but not saved to %s: %s", self.path, exc)
            self.config_version = version
            log.info("applied remote config version %d: %d channels, %d alarm rules",
                     version, len(channels), len(alarms))
            self.gw.emit_event(Event("config.applied", ts, None, "info", {
                "version": version, "channels": [c.id for c in channels], "alarms": len(alarms),
            }))
            if self.gw.forwarder is not None:
                await self.gw.forwarder.publish_status()
            return True

    # ------------------------------------------------------------------ inbound dispatch

    def on_message(self, topic_name: str, payload: bytes):
        """Handle a message from the hub (called on the event loop); returns a coroutine."""
        try:
            info = parse_topic(topic_name)
        except ProtocolError as exc:
            log.warning("ignoring message on unexpected topic %s: %s", topic_name, exc)
            return None
        if info.gateway_id != self.gw.config.gateway_id:
            return None
        if info.kind is Kind.CONFIG:
            return self.apply_config(payload)
        if info.kind is Kind.CMD and info.command is not None:
            return self.run_command(info.command, payload)
        return None

    async def run_command(self, name: str, payload: bytes) -> CommandResult:
        """Carry out a command and publish its result."""
        gw = self.gw
        ts = now_ms(gw.clock)
        try:
            cmd = decode_command(payload, name=name)
        except ProtocolError as exc:
            cid = _raw_id(payload)
            result = CommandResult(gw.config.gateway_id, cid, name, False, ts, f"rejected: {exc}"[:2000])
            log.warning("command %s rejected: %s", name, exc)
        else:
            try:
                detail = await self._handlers[name](cmd)
                ok = True
            except (CommandError, ConfigError) as exc:
                ok, detail = False, str(exc)
            except Exception as exc:
                log.exception("command %s failed", name)
                ok, detail = False, f"{type(exc).__name__}: {exc}"
            result = CommandResult(gw.config.gateway_id, cmd.id, name, ok, now_ms(gw.clock), detail[:2000])
            log.info("command %s (%s): %s %s", name, cmd.id, "ok" if ok else "failed", detail)
        if gw.forwarder is not None:
            gw.forwarder.publish_result(result)
        return result

    async def _identify(self, cmd) -> str:
        gw = self.gw
        seconds = cmd.args.get("seconds", 30)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= MAX_IDENTIFY_S:
            raise CommandError(f"args.seconds: must be a number in (0, {MAX_IDENTIFY_S}], got {seconds!r}")
        if now_ms(gw.clock) - cmd.ts_ms > IDENTIFY_MAX_AGE_MS:
            raise CommandError("expired: the command was queued while the gateway was offline")
        outputs = gw.alarms.outputs if gw.alarms else {}
        if not outputs:
            raise CommandError("no output configured ([outputs.led] or [outputs.buzzer])")
        name = "led" if "led" in outputs else next(iter(outputs))
        if outputs[name].is_on:
            raise CommandError(f"output {name} is sounding an alarm; not blinking it")
        outputs[name].blink(seconds)
        return f"blinking {name} for {seconds:g} s"

    async def _silence(self, cmd) -> str:
        gw = self.gw
        channel = cmd.args.get("channel")
        if channel is not None and not isinstance(channel, str):
            raise CommandError(f"args.channel: must be a channel id, got {channel!r}")
        silenced = gw.alarms.silence(channel, now_ms(gw.clock)) if gw.alarms else []
        if not silenced:
            raise CommandError(f"no sounding alarm{' on ' + channel if channel else ''} to silence")
        return f"silenced {', '.join(silenced)}"

    async def _reload(self, cmd) -> str:
        gw = self.gw
        source = gw.config.source
        if source is None:
            raise CommandError("this gateway was not started from a config file")
        loop = asyncio.get_running_loop()
        fresh = await loop.run_in_executor(None, lambda: load_config(source, registry=gw.registry))
        if self.config_version is not None:
            # The hub's config is in force; keep it, but re-open its devices.
            gw.apply(gw.channels, gw.alarm_rules, reopen=True)
            return f"re-opened devices; remote config version {self.config_version} stays in force"
        gw.apply(fresh.channels, fresh.alarms, reopen=True)
        return (f"reloaded {gw.config.source}: {len(fresh.channels)} channels, {len(fresh.alarms)} alarm rules "
                "(broker, buffer and hardware settings need a restart)")

    async def _resend_from(self, cmd) -> str:
        seq = cmd.args["seq"]
        until, boot = cmd.args.get("until"), cmd.args.get("boot")
        if until is not None and (type(until) is not int or until < seq):
            raise CommandError(f"args.until: must be an integer >= seq ({seq}), got {until!r}")
        if boot is not None and boot != self.gw.boot:
            raise CommandError(f"boot {str(boot)[:64]!r} is not this gateway's current boot "
                               f"({self.gw.boot}): its batches can no longer be re-sent")
        forwarder = self.gw.forwarder
        if forwarder is None:
            raise CommandError("the gateway is not forwarding yet")
        batches, readings = await forwarder.resend_from(seq, until)
        if not batches and seq >= forwarder.next_seq:
            # The hub asks from the batch after the newest it saw: nothing was sent since.
            return f"nothing sent since seq {seq - 1}; nothing to re-send"
        if not batches:
            raise CommandError(f"nothing kept to re-send from seq {seq} of boot {self.gw.boot}")
        return f"re-sent {readings} readings in {batches} batches"


def _raw_id(payload: bytes) -> str:
    try:
        cid = json.loads(payload).get("id")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return "unknown"
    return cid[:64] if isinstance(cid, str) and cid else "unknown"
