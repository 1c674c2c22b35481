"""Readings -> points: each channel resolved to its series through the resolver, answers reused.

A resolver answer that states the span it holds for (``valid_from_ms``/``valid_until_ms``, see
:mod:`wardlink.hub.ingest.resolver`) is reused for every reading of its channel inside that
span; the same answer object handed back again reuses the same tags tuple, so the stores'
identity caches recognise the series at once.
"""

from __future__ import annotations

import math
from functools import partial
from itertools import repeat
from typing import Callable, NamedTuple, cast

from wardlink.hub.errors import StoreError
from wardlink.hub.ingest.items import SeriesSpan, Tags
from wardlink.hub.ingest.resolver import Resolved, Resolver, ResolverError, series_of
from wardlink.hub.telemetry.model import InvalidPoint, Point
from wardlink.protocol import EventBatch, TelemetryBatch

_new_point = partial(tuple.__new__, Point)  # Point is a named tuple; this skips its Python-level __new__
_NO_SPAN = object()
_MEMO_LIMIT = 100_000


class _Memo(NamedTuple):
    """The last answer for a (gateway, channel) and the series built from it."""

    answer: Resolved | None
    measurement: str
    tags: Tags
    span: SeriesSpan | None  # None: the answer does not say for how long it holds


class PointBuilder:
    """Builds the points of telemetry batches and the assets of events through a resolver.

    ``on_error`` receives a description of a binding no store can hold (its readings are then
    stored as unbound). :class:`StoreError` from the resolver (its database is down) propagates;
    any other resolver exception becomes :class:`ResolverError`, so the batch is held and retried
    rather than misfiled.
    """

    def __init__(self, resolver: Resolver, on_error: Callable[[str], None]) -> None:
        self.resolver = resolver
        self._on_error = on_error
        self._memo: dict[tuple[str, str], _Memo] = {}

    def points(self, batch: TelemetryBatch) -> list[Point]:
        """Return the batch's points; raise StoreError when the resolver cannot answer now."""
        channels, stamps, values, qualities = zip(*batch.readings)
        # Each channel is resolved once, at its first reading. When every answer holds for the
        # batch's whole time span (the usual case) the points are built a column at a time in C;
        # otherwise reading by reading, re-resolving where an answer runs out.
        first = dict(zip(reversed(channels), reversed(stamps)))
        lo, hi = min(stamps), max(stamps)
        measurements: dict[str, str] = {}
        tags: dict[str, Tags] = {}
        for channel, ts in first.items():
            span = self.resolve(batch.gateway, channel, ts)
            if not span.covers(lo, hi):
                return self._points_one_by_one(batch)
            measurements[channel], tags[channel] = span.measurement, span.tags
        return list(map(_new_point, zip(map(measurements.__getitem__, channels), map(tags.__getitem__, channels),
                                        stamps, values, qualities, repeat(batch.late))))

    def _points_one_by_one(self, batch: TelemetryBatch) -> list[Point]:
        gateway, late = batch.gateway, batch.late
        # channel -> its span: reused for the channel's other readings while they fall inside it.
        spans: dict[str, SeriesSpan] = {}
        out: list[Point] = []
        append = out.append
        for r in batch.readings:
            ts = r.ts_ms
            span = spans.get(r.channel)
            if span is None or not span.valid_from <= ts < span.valid_until:
                span = self.resolve(gateway, r.channel, ts)
                spans[r.channel] = span
            append(_new_point((span.measurement, span.tags, ts, r.value, r.quality, late)))
        return out

    def resolve(self, gateway: str, channel: str, ts_ms: int) -> SeriesSpan:
        """Return the series of ``channel`` at ``ts_ms`` and the span that answer holds for."""
        answer = self._ask(gateway, channel, ts_ms)
        seen = self._memo.get((gateway, channel))
        if seen is not None and seen.answer is answer and answer is not None:
            # The resolver handed back the same answer object as last time: reuse the same
            # tags tuple too, so the stores' identity caches recognise the series at once.
            if seen.span is not None:
                return seen.span
            measurement, tags = seen.measurement, seen.tags
        else:
            answer, measurement, tags = self._series(gateway, channel, answer)
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            span = _stated_span(answer, measurement, tags)
            self._memo[(gateway, channel)] = _Memo(answer, measurement, tags, span)
            if span is not None:
                return span
        return SeriesSpan(ts_ms, ts_ms + 1, measurement, tags)  # no stated span: good for this instant only

    def _series(self, gateway: str, channel: str, answer: Resolved | None) -> tuple[Resolved | None, str, Tags]:
        try:
            measurement, tags = series_of(gateway, channel, answer)
        except InvalidPoint as exc:
            # A binding no store can hold (bad asset tag...): keep the reading, unbound.
            self._on_error(f"binding of {gateway}/{channel} unusable, stored as unbound: {exc}")
            measurement, tags = series_of(gateway, channel, None)
            return None, measurement, tags
        return answer, measurement, tags

    def _ask(self, gateway: str, channel: str, ts_ms: int) -> Resolved | None:
        try:
            return self.resolver.resolve(gateway, channel, ts_ms)
        except StoreError:
            raise  # its database is down: the batch is retried
        except Exception as exc:
            # A resolver bug: hold the batch (unacknowledged, retried) rather than misfile it.
            raise ResolverError(f"resolver failed for {gateway}/{channel}: {exc!r}") from exc

    def event_assets(self, batch: EventBatch) -> list[str | None]:
        """Return the asset each event's channel is bound to at the event's time (None: unbound)."""
        assets = []
        for e in batch.events:
            # Through the same checks as readings, so a binding no store can hold gives None.
            tags = self.resolve(batch.gateway, e.channel, e.ts_ms).tags if e.channel else ()
            assets.append(dict(tags).get("asset"))
        return assets


def _stated_span(answer: Resolved | None, measurement: str, tags: Tags) -> SeriesSpan | None:
    """The span an answer says it holds for; None when it does not say (an answer of another type)."""
    lo: object = getattr(answer, "valid_from_ms", _NO_SPAN)
    hi: object = getattr(answer, "valid_until_ms", _NO_SPAN)
    if answer is None or lo is _NO_SPAN or hi is _NO_SPAN:
        return None
    return SeriesSpan(-math.inf if lo is None else cast(float, lo), math.inf if hi is None else cast(float, hi),
                      measurement, tags)
