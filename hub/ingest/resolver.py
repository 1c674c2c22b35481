"""Channel -> metric and asset mapping: the :class:`Resolver` protocol and :class:`StaticResolver`.

The ingest worker asks a resolver, for every reading, which measurement and tags the
reading's channel had at the reading's timestamp. ``None`` means the channel had no binding
then; the worker stores such readings under the measurement ``unbound`` (tags ``gateway`` and
``channel`` only), so nothing is lost and a later re-binding can be traced.

A :class:`Resolved` answer may say for which time span it holds (``valid_from_ms``,
``valid_until_ms``; None = open). The worker then reuses it for every reading of that channel
inside the span instead of asking again; an answer object without those attributes is never
reused, which keeps replayed backlog exact when bindings changed in between.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from wardlink.hub.db.resolver import Resolved
from wardlink.hub.errors import ConfigError, StoreError
from wardlink.hub.telemetry.model import InvalidPoint, canonical_tags, check_series

_RESERVED = ("gateway", "channel")


class ResolverError(StoreError):
    """The resolver could not answer; the batch waits, unacknowledged, and is tried again."""


@runtime_checkable
class Resolver(Protocol):
    """Maps ``(gateway, channel, ts_ms)`` to a :class:`Resolved` answer, or None when unbound."""

    def resolve(self, gateway: str, channel: str, ts_ms: int) -> Resolved | None:
        """Return where a reading of ``channel`` taken at ``ts_ms`` belongs, or None."""


def series_of(gateway: str, channel: str, resolved: Any) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Return the checked (measurement, sorted tags) of a reading given a resolver answer.

    ``gateway`` and ``channel`` always come from the message, never from the answer, so a
    resolver cannot file one gateway's readings under another. Raise :class:`InvalidPoint`
    when the answer names a measurement or tags no store can hold.
    """
    from wardlink.hub.telemetry.model import UNBOUND

    if resolved is None:
        tags = {"gateway": gateway, "channel": channel}
        measurement = UNBOUND
    else:
        tags = dict(resolved.tags)
        tags["gateway"] = gateway
        tags["channel"] = channel
        measurement = resolved.measurement
    series = canonical_tags(tags)
    check_series(measurement, series)
    return measurement, series


class StaticResolver:
    """A resolver from a fixed mapping, for config-file driven setups and tests.

    ``mapping`` is ``{gateway: {channel: binding}}`` where a binding is a :class:`Resolved`,
    a dict ``{"measurement": ..., "tags": {...}, "valid_from_ms": ..., "valid_until_ms": ...}``
    or a list of those for a channel re-bound over time (spans must not overlap). Every
    binding is checked here, at start-up, and errors name the entry.
    """

    def __init__(self, mapping: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._bindings: dict[tuple[str, str], tuple[Resolved, ...]] = {}
        for gateway, channels in (mapping or {}).items():
            if not isinstance(channels, Mapping):
                raise ConfigError(f"bindings.{gateway}: must be a table of channels, got {type(channels).__name__}")
            for channel, spec in channels.items():
                path = f"bindings.{gateway}.{channel}"
                specs = spec if isinstance(spec, Sequence) and not isinstance(spec, (str, bytes)) else [spec]
                answers = tuple(sorted((_binding(f"{path}[{i}]" if len(specs) > 1 else path, gateway, channel, s)
                                        for i, s in enumerate(specs)),
                                       key=lambda r: -2**63 if r.valid_from_ms is None else r.valid_from_ms))
                for before, after in zip(answers, answers[1:]):
                    if before.valid_until_ms is None or (after.valid_from_ms is not None
                                                         and after.valid_from_ms < before.valid_until_ms):
                        raise ConfigError(f"{path}: bindings overlap in time")
                self._bindings[(gateway, channel)] = answers

    def resolve(self, gateway: str, channel: str, ts_ms: int) -> Resolved | None:
        """Return the binding of ``channel`` valid at ``ts_ms``, or None."""
        for answer in self._bindings.get((gateway, channel), ()):
            if answer.covers(ts_ms):
                return answer
        return None

    def __len__(self) -> int:
        return len(self._bindings)


def _binding(path: str, gateway: str, channel: str, spec: Any) -> Resolved:
    if isinstance(spec, Resolved):
        answer = spec
    elif isinstance(spec, Mapping):
        unknown = set(spec) - {"measurement", "tags", "valid_from_ms", "valid_until_ms"}
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; "
                              "allowed: measurement, tags, valid_from_ms, valid_until_ms")
        if "measurement" not in spec:
            raise ConfigError(f"{path}.measurement: required")
        tags = spec.get("tags", {})
        if not isinstance(tags, Mapping) or not all(isinstance(v, str) for v in tags.values()):
            raise ConfigError(f"{path}.tags: must be a table of strings")
        for key in ("valid_from_ms", "valid_until_ms"):
            value = spec.get(key)
            if value is not None and type(value) is not int:
                raise ConfigError(f"{path}.{key}: must be an integer of milliseconds, got {value!r}")
        answer = Resolved(spec["measurement"], dict(tags), spec.get("valid_from_ms"), spec.get("valid_until_ms"))
    else:
        raise ConfigError(f"{path}: must be a table with a measurement, got {type(spec).__name__}")
    if any(k in answer.tags for k in _RESERVED):
        raise ConfigError(f"{path}.tags: gateway and channel are set by ingest and may not be given")
    if (answer.valid_from_ms is not None and answer.valid_until_ms is not None
            and answer.valid_until_ms <= answer.valid_from_ms):
        raise ConfigError(f"{path}.valid_until_ms: must be after valid_from_ms")
    try:
        series_of(gateway, channel, answer)
    except InvalidPoint as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return answer
