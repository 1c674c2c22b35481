"""The sampling loop: read every channel at its interval without letting one sensor stall the rest.

Channels that read the same physical device (same driver and bus parameters) share one open
device; when several of them are due at the same tick the device is read once and each
channel takes its quantity from that one multi-quantity read (a BME280's temperature,
humidity and pressure come from one conversion). Ticks are aligned to multiples of each
channel's interval, so channels of 5 s and 10 s meet on every 10 s tick.

Drivers block (bus transfers, conversion waits), so reads run in a thread pool under a
timeout. A read that overruns is abandoned: the channel gets a ``bad`` reading, and until that
thread returns the device is *busy* and later ticks report ``bad`` at once instead of piling
more threads onto a stuck bus. Failures become readings with ``value=None, quality="bad"`` and a
``sensor.error`` event, rate-limited per channel; ``sensor.recovered`` follows the first good read.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from wardlink.clock import Clock
from wardlink.protocol import Event

from wardlink.edge.aio import wait_event
from wardlink.edge.config import ChannelConfig

if TYPE_CHECKING:  # drivers load only when a device is opened
    from wardlink.hardware.device import Device

log = logging.getLogger(__name__)

#: (channel, ts_ms, value, quality) as the buffer stores it.
SampledReading = tuple[str, int, float | None, str]

#: Seconds between two ``sensor.error`` events for a channel that keeps failing.
ERROR_EVENT_INTERVAL = 300.0


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


class DeviceHandle:
    """One physical device shared by the channels that read it."""

    def __init__(self, driver: str, params: Mapping[str, Any], emulate: Mapping[str, Any] | None,
                 opener: Callable[[str, Mapping, Mapping | None], Any]) -> None:
        self.driver = driver
        self.params = dict(params)
        self.emulate = dict(emulate) if emulate else None
        self._opener = opener
        self.device: Device | None = None
        self.busy = False
        self.closing = False

    @property
    def label(self) -> str:
        """Return a short human name for logs and events."""
        detail = ", ".join(f"{k}={v}" for k, v in self.params.items() if k in ("device_id", "address", "bus", "pin"))
        return f"{self.driver}({detail})" if detail else self.driver

    def read_blocking(self) -> dict[str, float]:
        """Open the device if needed and read it (runs on a pool thread)."""
        if self.device is None:
            self.device = self._opener(self.driver, self.params, self.emulate)
        return self.device.read()

    def close_blocking(self) -> None:
        """Close the device; idempotent (runs on a pool thread or at shutdown)."""
        device, self.device = self.device, None
        if device is not None:
            try:
                device.close()
            except Exception as exc:
                log.warning("closing %s failed: %s", self.label, exc)


@dataclass
class _ChannelState:
    config: ChannelConfig
    handle: DeviceHandle
    next_due: float = 0.0
    failing: bool = False
    error_count: int = 0
    last_error_event: float | None = None
    last_error: str = ""


@dataclass
class SamplerStats:
    """Counters for health reporting."""

    reads: int = 0
    failures: int = 0
    timeouts: int = 0
    readings: int = 0
    per_channel_errors: dict[str, int] = field(default_factory=dict)


class Sampler:
    """Schedule channel reads, run them off the loop, and hand out readings and events."""

    def __init__(
        self,
        channels: Sequence[ChannelConfig],
        *,
        opener: Callable[[str, Mapping, Mapping | None], Any],
        clock: Clock,
        emit_readings: Callable[[list[SampledReading]], None],
        emit_event: Callable[[Event], None],
        error_event_interval: float = ERROR_EVENT_INTERVAL,
    ) -> None:
        self.clock = clock
        self._opener = opener
        self._emit_readings = emit_readings
        self._emit_event = emit_event
        self.error_event_interval = error_event_interval
        self.stats = SamplerStats()
        self._handles: dict[tuple, DeviceHandle] = {}
        self._channels: dict[str, _ChannelState] = {}
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_size = 0
        self._inflight: set[asyncio.Task] = set()
        self._changed = asyncio.Event()
        self._closed = False
        self.set_channels(channels)

    # ------------------------------------------------------------------ configuration

    @property
    def channels(self) -> tuple[ChannelConfig, ...]:
        """Return the channels being sampled."""
        return tuple(s.config for s in self._channels.values())

    def set_channels(self, channels: Sequence[ChannelConfig]) -> None:
        """Switch to a new channel set at once; unchanged devices stay open, removed ones close."""
        groups: dict[tuple, list[ChannelConfig]] = {}
        for ch in channels:
            groups.setdefault(ch.device_key, []).append(ch)
        handles: dict[tuple, DeviceHandle] = {}
        for key, members in groups.items():
            emulate = {c.quantity: dict(c.emulate) for c in members if c.emulate is not None} or None
            hkey = (key, _freeze(emulate or {}))
            handle = self._handles.get(hkey)
            if handle is None:
                first = members[0]
                handle = DeviceHandle(first.driver, first.params, emulate, self._opener)
            handles[hkey] = handle
        old_handles = self._handles
        self._handles = handles
        kept = {id(h) for h in handles.values()}
        for handle in old_handles.values():
            if id(handle) not in kept:
                self._retire(handle)
        now = self.clock.now()
        states: dict[str, _ChannelState] = {}
        for ch in channels:
            emulate = {c.quantity: dict(c.emulate) for c in groups[ch.device_key] if c.emulate is not None} or None
            handle = handles[(ch.device_key, _freeze(emulate or {}))]
            old = self._channels.get(ch.id)
            if old is not None and old.config == ch and old.handle is handle:
                states[ch.id] = old
            else:
                states[ch.id] = _ChannelState(ch, handle, next_due=self._aligned(now, ch.interval))
        self._channels = states
        self._ensure_pool(len(handles))
        self._changed.set()

    def _ensure_pool(self, devices: int) -> None:
        # One thread per device plus spares: a stuck device can hold at most its own thread.
        wanted = devices + 4
        if self._pool is None or wanted > self._pool_size:
            old = self._pool
            self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=wanted, thread_name_prefix="sensor")
            self._pool_size = wanted
            if old is not None:
                old.shutdown(wait=False)

    def _retire(self, handle: DeviceHandle) -> None:
        handle.closing = True
        if not handle.busy and self._pool is not None:
            self._pool.submit(handle.close_blocking)

    @staticmethod
    def _aligned(now: float, interval: float) -> float:
        return math.floor(now / interval + 1e-9) * interval + interval if interval else now

    # ------------------------------------------------------------------ running

    def next_due(self) -> float | None:
        """Return the clock time of the earliest due channel, or None if there are none."""
        return min((s.next_due for s in self._channels.values()), default=None)

    async def run(self) -> None:
        """Sample forever in real time (cancel the task to stop)."""
        while not self._closed:
            due = self.next_due()
            if due is None:
                self._changed.clear()
                await self._changed.wait()
                continue
            delay = due - self.clock.now()
            if delay > 0:
                self._changed.clear()
                if await wait_event(self._changed, delay):
                    continue  # channels changed: recompute the next due time
            self.sample_due()

    def sample_due(self, now: float | None = None) -> list[asyncio.Task]:
        """Start reads for every channel due at ``now`` (default: the clock); return the read tasks."""
        now = self.clock.now() if now is None else now
        due: dict[int, tuple[DeviceHandle, list[_ChannelState]]] = {}
        for state in self._channels.values():
            if state.next_due <= now + 1e-6:
                due.setdefault(id(state.handle), (state.handle, []))[1].append(state)
                state.next_due = self._aligned(now, state.config.interval)
        tasks = []
        ts_ms = round(now * 1000)
        for handle, states in due.values():
            task = asyncio.ensure_future(self._read_group(handle, states, ts_ms))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            tasks.append(task)
        return tasks

    async def sample_all(self) -> None:
        """Read every channel once now and wait for the results (for tests and ``doctor``)."""
        now = self.clock.now()
        for state in self._channels.values():
            state.next_due = now
        tasks = self.sample_due(now)
        if tasks:
            await asyncio.gather(*tasks)

    async def _read_group(self, handle: DeviceHandle, states: list[_ChannelState], ts_ms: int) -> None:
        timeout = max(s.config.timeout for s in states)
        values: dict[str, float] | None = None
        error: str | None = None
        self.stats.reads += 1
        if handle.busy:
            error = "previous read still running (device busy or stuck)"
        else:
            handle.busy = True
            pool = self._pool
            assert pool is not None  # reads are only due while the sampler runs
            future = pool.submit(handle.read_blocking)
            future.add_done_callback(functools.partial(self._read_finished, handle))
            try:
                read = await asyncio.wait_for(asyncio.wrap_future(future), timeout)
                values = read
            except TimeoutError:
                self.stats.timeouts += 1
                error = f"read timed out after {timeout:g} s"
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
        readings: list[SampledReading] = []
        for state in states:
            readings.append(self._reading(state, values, error, ts_ms))
        self.stats.readings += len(readings)
        self._emit_readings(readings)

    def _read_finished(self, handle: DeviceHandle, _future: Any = None) -> None:
        handle.busy = False
        if handle.closing:
            handle.close_blocking()

    def _reading(self, state: _ChannelState, values: dict[str, float] | None, error: str | None,
                 ts_ms: int) -> SampledReading:
        ch = state.config
        value = None
        if error is None:
            raw = values.get(ch.quantity) if values else None
            if raw is None:
                error = f"driver returned no {ch.quantity!r} (got {', '.join(sorted(values or {})) or 'nothing'})"
            else:
                try:
                    value = float(raw) * ch.scale + ch.offset
                except (TypeError, ValueError):
                    error = f"driver returned a non-number for {ch.quantity!r}: {raw!r}"
                else:
                    if not math.isfinite(value):
                        error, value = f"driver returned a non-finite {ch.quantity!r}: {raw!r}", None
        if error is None:
            if state.failing:
                state.failing = False
                self._emit_event(Event("sensor.recovered", ts_ms, ch.id, "info",
                                       {"driver": ch.driver, "failures": state.error_count}))
                log.info("channel %s recovered after %d failed reads", ch.id, state.error_count)
                state.error_count = 0
            return (ch.id, ts_ms, value, "good")
        self.stats.failures += 1
        self.stats.per_channel_errors[ch.id] = self.stats.per_channel_errors.get(ch.id, 0) + 1
        state.error_count += 1
        mono = time.monotonic()
        first = not state.failing
        if first or error != state.last_error and mono - (state.last_error_event or 0) >= 10 or (
                mono - (state.last_error_event or 0) >= self.error_event_interval):
            self._emit_event(Event("sensor.error", ts_ms, ch.id, "warning",
                                   {"driver": ch.driver, "error": error[:300], "failures": state.error_count}))
            state.last_error_event = mono
            log.warning("channel %s (%s): %s", ch.id, state.handle.label, error)
        state.failing = True
        state.last_error = error
        return (ch.id, ts_ms, None, "bad")

    # ------------------------------------------------------------------ shutdown

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait for reads already started (their readings are still committed)."""
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=timeout)

    def close(self) -> None:
        """Close every device and the thread pool; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._changed.set()
        for handle in self._handles.values():
            handle.closing = True
            if not handle.busy:
                handle.close_blocking()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def describe(self) -> list[dict]:
        """Return one line per channel for logs: id, device, interval."""
        return [{"id": s.config.id, "device": s.handle.label, "quantity": s.config.quantity,
                 "interval": s.config.interval} for s in self._channels.values()]

    def devices(self) -> Iterable[DeviceHandle]:
        """Return the open device handles."""
        return self._handles.values()
