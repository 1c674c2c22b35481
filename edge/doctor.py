"""``wardlink-edge doctor``: check what a gateway needs and say what to fix.

Each check prints one line, ``OK``, ``WARN`` or ``FAIL``, and for problems a ``fix:`` line.
The checks: configuration, credentials file, TLS files, data directory and disk space, every
sensor (each device opened and read once), outputs, broker reachability and login, and the
clock (plausible and synchronised).

The broker check logs in exactly as the gateway does: its credentials and its own client
id, because a broker with per-gateway identities (Mosquitto's dynamic security, as
``provisioning`` sets it up) binds each login to that client id and refuses any other. So
that this never disturbs the gateway, it connects only while the gateway is not running (its
data-directory lock is free): a second connection under the same id would push the running
gateway off the broker. It resumes the gateway's persistent session without ending it and
acknowledges nothing, so commands queued for the gateway are still delivered to it when it
starts. While the gateway runs, the check says so instead of connecting.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from wardlink.protocol import MIN_TIMESTAMP_MS

from wardlink.edge.errors import ConfigError, EdgeError

if TYPE_CHECKING:  # the config module is loaded by the first check, not at import
    from wardlink.edge.config import EdgeConfig

MIN_FREE_BYTES = 50 * 1024 * 1024
#: A clock before this instant (2025-01-01) has certainly never been set.
PLAUSIBLE_EPOCH_S = 1_735_689_600


@dataclass
class Check:
    """The outcome of one check."""

    name: str
    level: str  # OK | WARN | FAIL
    detail: str
    fix: str = ""


class Doctor:
    """Run the checks and collect their outcomes."""

    def __init__(self, config_path: str, *, timeout: float = 5.0, out: TextIO = sys.stdout) -> None:
        self.config_path = config_path
        self.timeout = timeout
        self.out = out
        self.checks: list[Check] = []
        self._config: EdgeConfig | None = None

    @property
    def config(self) -> EdgeConfig:
        """Return the loaded configuration (the first check loads it)."""
        if self._config is None:
            raise ConfigError("the configuration is not loaded yet")
        return self._config

    def add(self, name: str, level: str, detail: str, fix: str = "") -> None:
        """Record and print one outcome."""
        check = Check(name, level, detail, fix)
        self.checks.append(check)
        print(f"{level:<4} {name}: {detail}", file=self.out)
        if fix:
            print(f"     fix: {fix}", file=self.out)
        self.out.flush()

    @property
    def ok(self) -> bool:
        """Return True if no check failed."""
        return not any(c.level == "FAIL" for c in self.checks)

    def run(self) -> bool:
        """Run every check; return True if none failed."""
        if not self.check_config():
            return False
        for check in (self.check_credentials, self.check_tls, self.check_data_dir, self.check_clock,
                      self.check_sensors, self.check_outputs, self.check_broker):
            try:
                check()
            except Exception as exc:
                self.add(check.__name__.removeprefix("check_"), "FAIL", f"check crashed: {type(exc).__name__}: {exc}")
        failed = sum(c.level == "FAIL" for c in self.checks)
        warned = sum(c.level == "WARN" for c in self.checks)
        print(f"\n{len(self.checks)} checks: {failed} failed, {warned} warnings", file=self.out)
        return self.ok

    # ------------------------------------------------------------------ checks

    def check_config(self) -> bool:
        """Load and validate the config file."""
        from wardlink.edge.config import load_config

        try:
            self._config = load_config(self.config_path)
        except ConfigError as exc:
            self.add("config", "FAIL", f"{len(exc.problems)} problem(s) in {self.config_path}",
                     "correct these keys:\n       " + "\n       ".join(exc.problems))
            return False
        cfg = self.config
        self.add("config", "OK", f"{self.config_path}: gateway {cfg.gateway_id}, {len(cfg.channels)} channels, "
                                 f"{len(cfg.alarms)} alarm rules, {cfg.hardware.backend} hardware")
        return True

    def check_credentials(self) -> None:
        """Check the credentials file exists, is 0600 and parses."""
        from wardlink.edge.gateway import resolve_credentials

        try:
            creds = resolve_credentials(self.config)
        except EdgeError as exc:
            path = self.config.broker.credentials_file
            fix = (f"chmod 600 {path}" if "mode" in str(exc)
                   else "create the file with username=... and password=... lines, mode 0600")
            self.add("credentials", "FAIL", str(exc), fix)
            return
        if creds is None:
            self.add("credentials", "WARN", f"none: anonymous connection to loopback broker {self.config.broker.host}",
                     "set broker.credentials_file for production brokers")
        else:
            self.add("credentials", "OK", f"{self.config.broker.credentials_file} (user {creds.username}, mode ok)")

    def check_tls(self) -> None:
        """Check TLS files are readable when TLS is on."""
        b = self.config.broker
        if not b.tls:
            if not b.is_loopback:
                self.add("tls", "WARN", f"{b.url} is not encrypted", "use an mqtts:// url with broker.ca_file")
            return
        for label, path in (("ca_file", b.ca_file), ("cert_file", b.cert_file), ("key_file", b.key_file)):
            if path is None:
                continue
            if not os.access(path, os.R_OK):
                self.add("tls", "FAIL", f"broker.{label} {path} is missing or unreadable", f"install {path}")
                return
        self.add("tls", "OK", "TLS files readable" if b.ca_file else "TLS with the system's CA certificates")

    def check_data_dir(self) -> None:
        """Check the data directory is writable and the disk has room; show the buffer."""
        from wardlink.edge.buffer import DB_NAME, read_stats

        d = self.config.data_dir
        probe = d if d.exists() else d.parent
        if not probe.exists() or not os.access(probe, os.W_OK):
            self.add("data_dir", "FAIL", f"{d} cannot be created or written",
                     f"mkdir -p {d} and give the service user write access")
            return
        free = shutil.disk_usage(probe).free
        need = max(MIN_FREE_BYTES, self.config.buffer.max_bytes // 4)
        if free < need:
            self.add("disk", "FAIL" if free < MIN_FREE_BYTES else "WARN",
                     f"{free / 1e6:.0f} MB free on {probe}; "
                     f"the buffer may grow to {self.config.buffer.max_bytes / 1e6:.0f} MB",
                     "free disk space or lower buffer.max_bytes")
        else:
            self.add("disk", "OK", f"{free / 1e6:.0f} MB free on {probe}")
        if (d / DB_NAME).exists():
            try:
                s = read_stats(d)
            except EdgeError as exc:
                self.add("buffer", "FAIL", str(exc), "stop the gateway; it moves a corrupt buffer aside on start")
                return
            self.add("buffer", "OK" if not s.dropped else "WARN",
                     f"{s.readings} readings buffered, {s.dropped} dropped so far")

    def check_clock(self) -> None:
        """Check the clock is plausible and synchronised (timedatectl)."""
        now = time.time()
        if now * 1000 < MIN_TIMESTAMP_MS or now < PLAUSIBLE_EPOCH_S:
            shown = time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(now))
            self.add("clock", "FAIL", f"system time {shown} UTC is not set",
                     "enable NTP (timedatectl set-ntp true) or add an RTC; the hub refuses readings from before 2000")
            return
        synced = _ntp_synchronized()
        if synced is None:
            self.add("clock", "WARN", "cannot tell whether the clock is synchronised (no timedatectl)",
                     "run an NTP client (systemd-timesyncd, chrony)")
        elif not synced:
            self.add("clock", "WARN", "clock is not NTP-synchronised",
                     "timedatectl set-ntp true; check the NTP server is reachable")
        else:
            self.add("clock", "OK", "NTP-synchronised")

    def check_sensors(self) -> None:
        """Open each device once and read it; check every channel's quantity is there."""
        from wardlink.edge.gateway import make_backend

        cfg = self.config
        if not cfg.channels:
            self.add("sensors", "WARN", "no channels configured", "add [[channels]] tables")
            return
        from wardlink.hardware import registry

        backend = make_backend(cfg, _clock())
        groups: dict[tuple, list] = {}
        for ch in cfg.channels:
            groups.setdefault(ch.device_key, []).append(ch)
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(groups)))
        try:
            for members in groups.values():
                first = members[0]
                emulate = {c.quantity: dict(c.emulate) for c in members if c.emulate} or None
                future = pool.submit(_open_and_read, registry, first.driver, first.params, backend, emulate)
                names = ", ".join(c.id for c in members)
                try:
                    values = future.result(timeout=self.timeout)
                except concurrent.futures.TimeoutError:
                    self.add(f"sensor {names}", "FAIL", f"{first.driver} did not answer within {self.timeout:g} s",
                             "check wiring and power; a stuck bus needs a power cycle")
                    continue
                except Exception as exc:
                    self.add(f"sensor {names}", "FAIL", f"{first.driver}: {type(exc).__name__}: {exc}",
                             _sensor_fix(first.driver, exc))
                    continue
                for ch in members:
                    if ch.quantity not in values:
                        self.add(f"sensor {ch.id}", "FAIL", f"{ch.driver} returned no {ch.quantity}")
                    else:
                        v = values[ch.quantity] * ch.scale + ch.offset
                        self.add(f"sensor {ch.id}", "OK", f"{ch.quantity} = {v:g} {ch.unit}")
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            threading.Thread(target=backend.close, daemon=True).start()

    def check_outputs(self) -> None:
        """Open each output once (without switching it)."""
        if not self.config.outputs:
            if self.config.alarms:
                self.add("outputs", "WARN", "alarm rules but no outputs: alarms raise events only",
                         "add an [outputs.buzzer] table (driver digital_output)")
            return
        from wardlink.edge.gateway import make_backend
        from wardlink.hardware import registry

        backend = make_backend(self.config, _clock())
        try:
            for name, out in self.config.outputs.items():
                try:
                    dev = registry.open_device(out.driver, out.params, backend)
                    dev.close()
                except Exception as exc:
                    self.add(f"output {name}", "FAIL", f"{out.driver}: {exc}", "check the pin number and wiring")
                else:
                    self.add(f"output {name}", "OK", f"{out.driver} opened")
        finally:
            backend.close()

    def check_broker(self) -> None:
        """Log in to the broker as the gateway does (credentials and client id) and wait for
        CONNACK; while the gateway runs, say so instead (see the module docstring)."""
        from wardlink.edge.forwarder import broker_tls
        from wardlink.edge.gateway import resolve_credentials
        from wardlink import mqtt as mqtt_adapter

        b = self.config.broker
        running = gateway_pid(self.config.data_dir)
        if running is not None:
            self.add("broker", "WARN", f"not checked: the gateway is running (pid {running or '?'}) and holds "
                                       f"the broker connection of client id {self.config.client_id}, which "
                                       "the broker allows only once",
                     "see `wardlink-edge status`, or stop the gateway and run doctor again to test the login")
            return
        try:
            creds = resolve_credentials(self.config)
        except EdgeError:
            creds = None  # already reported
        # The gateway's own id and persistent session (clean_session=False keeps it); with
        # manual_ack nothing the broker had queued for the gateway is acknowledged here, so
        # the broker delivers it again when the gateway connects.
        client = mqtt_adapter.make_client(
            self.config.client_id, clean_session=False, manual_ack=True, reconnect_on_failure=False,
            username=creds.username if creds is not None else None,
            password=creds.password if creds is not None else None, tls=broker_tls(b))
        try:
            mqtt_adapter.connect(client, b.host, b.port, 10, timeout=self.timeout)
        except mqtt_adapter.MQTTUnreachable as exc:
            self.add("broker", "FAIL", f"cannot reach {b.url}: {exc.__cause__ or exc}",
                     "check broker.url, that the broker runs, and firewalls")
        except mqtt_adapter.MQTTTimeout:
            self.add("broker", "FAIL", f"{b.url} accepted TCP but sent no CONNACK within {self.timeout:g} s",
                     "is it an MQTT listener? TLS on a plain port (or the reverse)?")
        except mqtt_adapter.MQTTRefused as exc:
            self.add("broker", "FAIL", f"{b.url} refused the connection: {exc.reason}",
                     "check the credentials file and the broker's password file / ACL")
        else:
            self.add("broker", "OK", f"{b.url} accepted the connection as {self.config.client_id}")
            mqtt_adapter.stop(client)


def gateway_pid(data_dir: Path) -> int | None:
    """Return the pid of the gateway holding ``data_dir``'s lock (0 when unknown), or None when
    no gateway runs on it."""
    import fcntl

    from wardlink.edge.gateway import LOCK_NAME

    path = Path(data_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None  # no lock file: the gateway never ran here
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _clock():
    from wardlink.clock import SystemClock

    return SystemClock()


def _open_and_read(registry, driver, params, backend, emulate):
    dev = registry.open_device(driver, params, backend, emulate=emulate)
    try:
        return dev.read()
    finally:
        dev.close()


_SENSOR_FIXES: dict[str, str] = {
    "DeviceAbsentError": ("nothing answers: check wiring, power, the address/device_id "
                          "(i2cdetect -y 1, ls /sys/bus/w1/devices)"),
    "NackError": "the device does not acknowledge: check address, pull-ups and cable length",
    "CRCError": "checksum errors: check cable length, pull-up resistor and interference",
    "SensorTimeoutError": "the conversion did not finish: check power and wiring",
    "FileNotFoundError": "the bus is missing: enable it (raspi-config: I2C / 1-Wire) and reboot",
    "PermissionError": "no access to the bus: add the service user to the i2c/gpio groups",
}


def _sensor_fix(driver: str, exc: BaseException) -> str:
    for cls in type(exc).__mro__:
        if cls.__name__ in _SENSOR_FIXES:
            return _SENSOR_FIXES[cls.__name__]
    return f"see `wardlink-edge drivers` for {driver}'s parameters"


def _ntp_synchronized() -> bool | None:
    if Path("/run/systemd/timesync/synchronized").exists():
        return True
    exe = shutil.which("timedatectl")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "show", "-p", "NTPSynchronized", "--value"], capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = out.stdout.strip().lower()
    return {"yes": True, "no": False}.get(value)


def run_doctor(config_path: str, *, timeout: float = 5.0, out: TextIO = sys.stdout) -> bool:
    """Run every check and print the report; return True if nothing failed."""
    return Doctor(config_path, timeout=timeout, out=out).run()
