"""The gateway runtime: sampler -> buffer -> forwarder, with local alarms, health and remote control.

:class:`Gateway` owns every part and their lifecycles. Readings flow like this:

1. the :class:`~wardlink.edge.sampler.Sampler` hands readings to :meth:`Gateway.emit_readings`, which
   feeds the alarm engine and queues them for the next group commit;
2. the commit loop writes the queue to the :class:`~wardlink.edge.buffer.Buffer` at least every
   ``buffer.commit_interval`` (<= 1 s) and only then offers the committed rows to the
   :class:`~wardlink.edge.forwarder.Forwarder`'s live path;
3. events (alarms, sensor errors, config changes) are committed one by one at once.

Remote configuration and commands arrive through the forwarder's subscription and are
handled by :mod:`wardlink.edge.remote`.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import random
import time
import uuid
from pathlib import Path
from typing import Any, Mapping

from wardlink.clock import Clock, SystemClock, now_ms
from wardlink.protocol import Event

from wardlink.edge.aio import await_ended, wait_event
from wardlink.edge.alarms import AlarmEngine, Output
from wardlink.edge.buffer import Buffer
from wardlink.edge.config import AlarmRule, ChannelConfig, EdgeConfig
from wardlink.edge.credentials import Credentials, load_credentials
from wardlink.edge.errors import CredentialsError, EdgeError, StoreError, StoreFullError
from wardlink.edge.forwarder import Forwarder
from wardlink.edge.health import health_readings
from wardlink.edge.remote import RemoteControl
from wardlink.edge.sampler import Sampler, SampledReading
from wardlink.edge.store import Store
from wardlink.systemd import Notifier, Watchdog, watchdog_period
from wardlink.edge.version import __version__

log = logging.getLogger(__name__)

#: Readings held in memory when the buffer cannot take them (disk full); beyond this the
#: oldest are dropped and counted, because memory on a gateway is smaller still.
MAX_UNCOMMITTED = 200_000
LOCK_NAME = "gateway.lock"


def resolve_credentials(config: EdgeConfig) -> Credentials | None:
    """Load the broker credentials, or allow none only for a loopback broker."""
    broker = config.broker
    if broker.credentials_file is not None:
        return load_credentials(broker.credentials_file)
    if broker.is_loopback:
        log.warning("no broker.credentials_file: connecting UNAUTHENTICATED to the loopback broker %s", broker.url)
        return None
    raise CredentialsError(
        f"broker.credentials_file: required for the non-loopback broker {broker.host!r} "
        "(a file with username=... and password=... lines, mode 0600)"
    )


def make_backend(config: EdgeConfig, clock: Clock, registry=None):
    """Return the hardware backend the config asks for (real or emulated)."""
    if registry is None:
        from wardlink.hardware import registry
    hw = config.hardware
    if hw.backend == "emulated":
        return registry.Backend.emulated(clock=clock, seed=hw.emulation_seed, root=hw.emulation_root)
    return registry.Backend.real(clock=clock)


class DataDirLock:
    """An exclusive lock on the data directory, so two gateways never share one buffer."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise EdgeError naming the directory."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise EdgeError(f"data_dir {self.path.parent} is in use by another wardlink-edge process") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Release the lock; idempotent."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Gateway:
    """One running gateway: owns buffer, sampler, forwarder, alarms and their lifecycles."""

    def __init__(
        self,
        config: EdgeConfig,
        *,
        clock: Clock | None = None,
        registry=None,
        backend=None,
        sample: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.boot = uuid.uuid4().hex
        self.sample = sample
        self._registry = registry
        self._backend = backend
        self._own_backend = backend is None
        self._rng = rng
        self._pending: list[SampledReading] = []
        self._commit_lock = asyncio.Lock()
        self._commit_wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._commit_task: asyncio.Task | None = None
        self._background: set[asyncio.Task] = set()
        self._lock = DataDirLock(config.data_dir)
        self._started = False
        self._stopped = False
        self.unstored_dropped = 0
        # Real time of the commit loop's last round, for the systemd watchdog's health check.
        self.commit_beat = time.monotonic()
        self.store: Store | None = None
        self.sampler: Sampler | None = None
        self.forwarder: Forwarder | None = None
        self.alarms: AlarmEngine | None = None
        self.remote: RemoteControl | None = None
        self.channels: tuple[ChannelConfig, ...] = config.channels
        self.alarm_rules: tuple[AlarmRule, ...] = config.alarms

    # ------------------------------------------------------------------ wiring

    @property
    def registry(self):
        """Return the hardware driver registry."""
        if self._registry is None:
            from wardlink.hardware import registry

            self._registry = registry
        return self._registry

    @property
    def backend(self):
        """Return the hardware backend (real or emulated)."""
        if self._backend is None:
            self._backend = make_backend(self.config, self.clock, self.registry)
        return self._backend

    def open_device(self, driver: str, params, emulate=None):
        """Open a device on this gateway's backend (runs on a sensor thread)."""
        return self.registry.open_device(driver, params, self.backend, emulate=emulate)

    def _open_outputs(self) -> dict[str, Output]:
        outputs = {}
        for name, out in self.config.outputs.items():
            try:
                outputs[name] = Output(name, self.open_device(out.driver, out.params))
            except Exception as exc:
                log.error("output %s (%s) cannot be opened: %s; alarms on it will only raise events",
                          name, out.driver, exc)
                self.emit_event(Event("output.error", now_ms(self.clock), None, "warning",
                                      {"output": name, "error": str(exc)[:200]}))
        return outputs

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the buffer and devices, connect, and start sampling and forwarding."""
        if self._started:
            return
        self._started = True
        cfg = self.config
        credentials = resolve_credentials(cfg)
        self._lock.acquire()
        try:
            self.store = Store(Buffer(cfg.data_dir, cfg.buffer, clock=self.clock))
            await self.store.open()
        except BaseException:
            self._lock.release()
            raise
        self.remote = RemoteControl(self)
        self.remote.load_persisted()
        self.alarms = AlarmEngine(self.alarm_rules, self._open_outputs(), self.emit_event)
        self.sampler = Sampler(self.channels, opener=self.open_device, clock=self.clock,
                               emit_readings=self.emit_readings, emit_event=self.emit_event)
        self.forwarder = Forwarder(
            gateway_id=cfg.gateway_id, client_id=cfg.client_id, broker=cfg.broker, config=cfg.forwarder,
            store=self.store, boot=self.boot, version=__version__, clock=self.clock, credentials=credentials,
            status_fields=lambda: {"config_version": self.remote.config_version if self.remote else None},
            on_inbound=self.remote.on_message, rng=self._rng,
        )
        stats = await self.store.call("stats")
        await self._commit_event(Event("gateway.boot", now_ms(self.clock), None, "info", {
            "version": __version__, "boot": self.boot, "backend": cfg.hardware.backend,
            "channels": len(self.channels), "buffered": stats.readings,
        }))
        log.info("gateway %s starting: version %s, boot %s, %s hardware, %d channels, %d readings buffered",
                 cfg.gateway_id, __version__, self.boot, cfg.hardware.backend, len(self.channels), stats.readings)
        for line in self.sampler.describe():
            log.info("channel %(id)s: %(device)s %(quantity)s every %(interval)g s", line)
        await self.forwarder.start()
        self._commit_task = asyncio.create_task(self._commit_loop(), name="commit")
        self._tasks.append(self._commit_task)
        if self.sample:
            self._tasks.append(asyncio.create_task(self.sampler.run(), name="sampler"))
        if cfg.health.interval > 0:
            self._tasks.append(asyncio.create_task(self._health_loop(), name="health"))

    async def stop(self) -> None:
        """Stop cleanly: finish reads, commit, flush and say offline, close everything."""
        if not self._started or self._stopped:
            return
        self._stopped = True
        log.info("gateway %s stopping", self.config.gateway_id)
        # The commit loop is not cancelled: cancelling it while a commit is under way would
        # leave committed readings that never reach the forwarder's live path.
        self._commit_wake.set()
        for task in self._tasks:
            if task is not self._commit_task:
                task.cancel()
        await await_ended(self._tasks)
        if self.sampler is not None:
            await self.sampler.drain(timeout=3.0)
        if self._background:
            await asyncio.wait(list(self._background), timeout=3.0)
        await self.commit()
        try:
            await self._store().call("flush_gap_marker", force=True)
        except StoreError as exc:
            log.error("could not record the last buffer gap: %s", exc)
        if self.forwarder is not None:
            self.forwarder.notify_events()
            await self.forwarder.stop()
        if self.sampler is not None:
            self.sampler.close()
        if self.alarms is not None:
            self.alarms.close()
        if self.store is not None:
            await self.store.close()
        if self._own_backend and self._backend is not None:
            self._backend.close()
        self._lock.release()
        log.info("gateway %s stopped", self.config.gateway_id)

    async def run(self, stop: asyncio.Event, *, environ: Mapping[str, str] | None = None) -> None:
        """Start, run until ``stop`` is set, then stop cleanly; under systemd, report and pet the watchdog."""
        notifier = Notifier.from_environ(environ)
        await self.start()
        period = watchdog_period(environ)
        watchdog = None
        if notifier.enabled and period:
            watchdog = asyncio.create_task(Watchdog(notifier, period, lambda: self.problem(period),
                                                    service="the gateway").run(),
                                           name="watchdog")
        notifier.ready(f"gateway {self.config.gateway_id}: {len(self.channels)} channels")
        try:
            await stop.wait()
        finally:
            notifier.stopping()
            if watchdog is not None:
                watchdog.cancel()
                await asyncio.gather(watchdog, return_exceptions=True)
            try:
                await self.stop()
            finally:
                notifier.close()

    def problem(self, stall_after: float = 60.0) -> str | None:
        """Return why this gateway is unhealthy (a loop ended, commits stalled), or None if healthy.

        A broker outage is not a problem: the gateway buffers through it and must not be
        restarted for it.
        """
        if not self._started or self._stopped:
            return "not running"
        for task in self._tasks:
            if task.done():
                return f"the {task.get_name()} loop ended"
        if self.forwarder is None or not self.forwarder.alive:
            return "the forwarder stopped"
        stalled = time.monotonic() - self.commit_beat
        if stalled > stall_after:
            return f"no buffer commit for {stalled:.0f} s"
        return None

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # ------------------------------------------------------------------ readings and events

    def emit_readings(self, readings: list[SampledReading]) -> None:
        """Take sampled readings: evaluate local alarms and queue them for the next commit."""
        if self.alarms is not None:
            self.alarms.evaluate(readings)
        self._pending.extend(readings)
        if len(self._pending) >= 5000:
            self._commit_wake.set()

    def emit_event(self, event: Event) -> None:
        """Commit an event at once (in the background) and wake the forwarder."""
        self._spawn(self._commit_event(event))

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _store(self) -> Store:
        if self.store is None:
            raise StoreError("the buffer is not open")
        return self.store

    async def _commit_event(self, event: Event) -> None:
        try:
            await self._store().call("add_event", event)
        except StoreError as exc:
            log.error("event %s could not be stored: %s", event.type, exc)
            return
        if self.forwarder is not None:
            self.forwarder.notify_events()

    async def commit(self) -> int:
        """Commit queued readings now and hand them to the forwarder; return how many."""
        async with self._commit_lock:
            batch, self._pending = self._pending, []
            if batch:
                try:
                    first, _ = await self._store().call("add_readings", batch)
                except StoreError as exc:
                    self._requeue(batch, exc)
                    return 0
                if self.forwarder is not None:
                    self.forwarder.on_committed(first, batch)
            try:
                await self._store().call("flush_gap_marker")
                notices = await self._store().call("take_notices")
            except StoreError as exc:
                log.error("buffer maintenance failed: %s", exc)
                notices = []
            if notices and self.forwarder is not None:
                self.forwarder.notify_events()
            return len(batch)

    def _requeue(self, batch: list[SampledReading], exc: StoreError) -> None:
        kind = "disk full" if isinstance(exc, StoreFullError) else "buffer error"
        log.error("cannot commit %d readings (%s: %s); keeping them in memory", len(batch), kind, exc)
        self._pending = batch + self._pending
        excess = len(self._pending) - MAX_UNCOMMITTED
        if excess > 0:
            del self._pending[:excess]
            self.unstored_dropped += excess
            log.error("dropped %d readings that could not be stored (total %d)", excess, self.unstored_dropped)

    async def _commit_loop(self) -> None:
        interval = self.config.buffer.commit_interval
        while not self._stopped:
            await wait_event(self._commit_wake, interval)
            self._commit_wake.clear()
            await self.commit()
            self.commit_beat = time.monotonic()

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.health.interval)
            try:
                await self.report_health()
            except StoreError as exc:
                log.error("health report failed: %s", exc)

    async def report_health(self) -> None:
        """Queue the gateway's own health readings and refresh the retained status."""
        forwarder = self.forwarder
        if forwarder is None:  # not started: nothing to report on yet
            return
        stats = await self._store().call("stats")
        self._pending.extend(health_readings(
            stats, now_ms=now_ms(self.clock), publish_rate=forwarder.publish_rate(),
            uptime_s=forwarder.uptime(), data_dir=self.config.data_dir,
        ))
        await forwarder.publish_status()

    # ------------------------------------------------------------------ reconfiguration

    def apply(self, channels: tuple[ChannelConfig, ...], alarms: tuple[AlarmRule, ...], *,
              reopen: bool = False) -> None:
        """Switch channels and alarm rules atomically (devices of unchanged channels stay open)."""
        if self.sampler is not None:
            if reopen:
                self.sampler.set_channels(())
            self.sampler.set_channels(channels)
        if self.alarms is not None:
            self.alarms.set_rules(alarms)
        self.channels = channels
        self.alarm_rules = alarms

    def status(self) -> dict[str, Any]:
        """Return a snapshot for logs and tests."""
        fwd = self.forwarder
        return {
            "gateway": self.config.gateway_id, "boot": self.boot, "connected": bool(fwd and fwd.connected),
            "channels": [c.id for c in self.channels], "pending": len(self._pending),
            "config_version": self.remote.config_version if self.remote else None,
        }
