"""Validation of what the gateway talks to: channels, outputs and local alarm rules.

Shared by the configuration file and remote configuration from the hub; each function records
problems instead of raising (see :func:`wardlink.edge.config.collect`).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

from wardlink.protocol import CHANNEL_ID_RE, SEVERITIES

from wardlink.edge.config_models import AlarmRule, ChannelConfig, OutputConfig
from wardlink.edge.config_table import Table, describe

MIN_INTERVAL_S = 0.1
#: Channel ids under this prefix are the gateway's own health telemetry.
HEALTH_PREFIX = "gw."


def _driver_registry():
    from wardlink.hardware import registry  # lazy: `wardlink-edge --help` must not load drivers

    return registry


def _check_params(registry, driver: str, params: Mapping, path: str, problems: list[str]) -> Mapping | None:
    from wardlink.hardware.errors import HardwareError

    try:
        return dict(registry.validate_params(driver, dict(params)))
    except HardwareError as exc:
        problems.append(f"{path}: {exc}")
    except (TypeError, ValueError) as exc:
        problems.append(f"{path}: {exc}")
    return None


def _quantities(registry, spec, params: Mapping | None) -> dict[str, str]:
    """Return quantity -> unit a device of ``spec`` reports with ``params`` (validated, or None)."""
    if params is None or not hasattr(registry, "quantities"):
        return dict(spec.quantities)
    try:
        return dict(registry.quantities(spec, params))
    except Exception:
        return dict(spec.quantities)


def parse_channels(raw: Any, *, backend: str, problems: list[str], registry=None,
                   path: str = "channels") -> tuple[ChannelConfig, ...]:
    """Validate a list of channel tables against the driver registry; record problems."""
    registry = registry or _driver_registry()
    if not isinstance(raw, list):
        problems.append(f"{path}: must be a list of tables ([[channels]]), got {describe(raw)}")
        return ()
    drivers = registry.DRIVERS
    channels: list[ChannelConfig] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        t = Table(item, f"{path}[{i}]", problems)
        before = len(problems)
        cid = t.str("id", pattern=CHANNEL_ID_RE)
        driver = t.str("driver")
        params = t.table("params", {})
        quantity = t.str("quantity", None)
        interval = t.number("interval", minimum=MIN_INTERVAL_S, unit="s")
        metric = t.str("metric", None)
        unit = t.str("unit", None, allow_empty=True)
        calibration = t.table("calibration", {})
        timeout = t.number("timeout", None, minimum=0.0, exclusive_min=True, maximum=60, unit="s")
        emulate = t.table("emulate", None)
        t.finish()
        if cid is not None:
            if cid.startswith(HEALTH_PREFIX):
                t.problem("id", f"ids starting with {HEALTH_PREFIX!r} are reserved for gateway health, got {cid!r}")
            elif cid in seen:
                t.problem("id", f"duplicate channel id {cid!r} (also channels[{seen[cid]}])")
            else:
                seen[cid] = i
        offset, scale = 0.0, 1.0
        if calibration is not None:
            cal = Table(calibration, t.key("calibration"), problems)
            offset = cal.number("offset", 0.0)
            scale = cal.number("scale", 1.0)
            cal.finish()
            if scale == 0:
                cal.problem("scale", "must not be 0")
        spec = None
        if driver is not None:
            spec = drivers.get(driver)
            if spec is None:
                t.problem("driver", f"unknown driver {driver!r}; known drivers: {', '.join(sorted(drivers))}")
        if spec is not None and driver is not None:
            if params is not None:
                params = _check_params(registry, driver, params, t.key("params"), problems)
            # Some drivers report quantities their parameters name (Modbus points, serial
            # fields, BTHome objects): the channel may pick any of those.
            quantities = _quantities(registry, spec, params)
            if quantity is None and len(quantities) == 1:
                quantity = next(iter(quantities))
            elif quantity is None:
                t.problem("quantity", f"is required for driver {driver!r}; one of {', '.join(sorted(quantities))}")
            elif quantity not in quantities:
                t.problem("quantity", f"driver {driver!r} measures {', '.join(sorted(quantities))}, got {quantity!r}")
                quantity = None
            if unit is None and quantity is not None:
                unit = quantities[quantity]
        if emulate is not None and backend != "emulated":
            t.problem("emulate", 'is only allowed with hardware.backend = "emulated"')
        if (len(problems) > before or cid is None or driver is None or quantity is None or interval is None
                or params is None):
            continue
        if timeout is None:
            timeout = min(float(interval), 5.0)
        channels.append(ChannelConfig(
            id=cid, driver=driver, params=MappingProxyType(dict(params)), quantity=quantity,
            interval=float(interval), metric=metric or quantity, unit=unit or "",
            offset=float(offset or 0.0), scale=float(1.0 if scale is None else scale), timeout=float(timeout),
            emulate=MappingProxyType(dict(emulate)) if emulate is not None else None,
        ))
    return tuple(channels)


def parse_outputs(raw: Any, *, problems: list[str], registry=None) -> dict[str, OutputConfig]:
    """Validate the ``[outputs.NAME]`` tables (driver + params of each actuator)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.append(f"outputs: must be a table of [outputs.NAME] tables, got {describe(raw)}")
        return {}
    registry = registry or _driver_registry()
    outputs: dict[str, OutputConfig] = {}
    for name, item in raw.items():
        t = Table(item, f"outputs.{name}", problems)
        driver = t.str("driver")
        params = t.table("params", {})
        t.finish()
        if driver is None or params is None:
            continue
        if driver not in registry.DRIVERS:
            t.problem("driver", f"unknown driver {driver!r}; known drivers: {', '.join(sorted(registry.DRIVERS))}")
            continue
        checked = _check_params(registry, driver, params, t.key("params"), problems)
        if checked is not None:
            outputs[name] = OutputConfig(name, driver, MappingProxyType(checked))
    return outputs


def parse_alarms(raw: Any, *, channels: tuple[ChannelConfig, ...], outputs: Mapping[str, OutputConfig],
                 problems: list[str], path: str = "alarms") -> tuple[AlarmRule, ...]:
    """Validate local alarm rules against the channels and outputs they refer to."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(f"{path}: must be a list of tables ([[alarms]]), got {describe(raw)}")
        return ()
    channel_ids = {c.id for c in channels}
    rules: list[AlarmRule] = []
    ids: dict[str, int] = {}
    for i, item in enumerate(raw):
        t = Table(item, f"{path}[{i}]", problems)
        before = len(problems)
        rid = t.str("id", None, pattern=CHANNEL_ID_RE)
        channel = t.str("channel")
        above = t.number("above", None)
        below = t.number("below", None)
        for_s = t.number("for_s", 0.0, minimum=0, unit="s")
        hysteresis = t.number("hysteresis", 0.0, minimum=0)
        output = t.str("output", None)
        severity = t.str("severity", "critical", choices=SEVERITIES)
        t.finish()
        if channel is not None and channel not in channel_ids:
            known = ", ".join(sorted(channel_ids)) or "none configured"
            t.problem("channel", f"no channel {channel!r}; channels: {known}")
        if above is None and below is None and len(problems) == before:
            t.problem("above", "give above, below or both")
        if above is not None and below is not None and below >= above:
            t.problem("below", f"must be < above ({above}), got {below}")
        if output is not None and output not in outputs:
            known = ", ".join(sorted(outputs)) or "none configured"
            t.problem("output", f"no output {output!r}; outputs: {known}")
        rid = rid or channel
        if rid is not None and rid in ids:
            t.problem("id", f"duplicate alarm id {rid!r} (also {path}[{ids[rid]}]); set a distinct id")
        if len(problems) > before or rid is None or channel is None or severity is None:
            continue
        ids[rid] = i
        rules.append(AlarmRule(rid, channel, above, below, float(for_s), float(hysteresis), output, severity))
    return tuple(rules)
