"""The ``wardlink-edge`` command: run | doctor | status | drivers | enroll."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from typing import Any, Sequence

from wardlink.cli import add_command

from wardlink.edge.errors import EdgeError
from wardlink.edge.version import __version__

log = logging.getLogger("wardlink.edge")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def _setup_logging(level: str) -> None:
    from wardlink.systemd import configure_logging

    # Under systemd each line starts with its journald priority (and journald adds the time).
    configure_logging(getattr(logging, level.upper(), logging.INFO),
                      "%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                      journal_fmt="%(levelname)-7s %(name)s: %(message)s")
    # paho logs nothing useful at INFO; its errors reach us through callbacks.
    logging.getLogger("paho").setLevel(logging.WARNING)


# --------------------------------------------------------------------------- run


async def _run(config_path: str) -> int:
    from wardlink.edge.config import load_config
    from wardlink.edge.gateway import Gateway

    config = load_config(config_path)
    gateway = Gateway(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        log.info("received %s; stopping", sig.name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    await gateway.run(stop)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """Run the gateway until SIGTERM or SIGINT."""
    return asyncio.run(_run(args.config))


# --------------------------------------------------------------------------- drivers


def cmd_drivers(args: argparse.Namespace) -> int:
    """List every driver with its parameters and units."""
    from wardlink.hardware import registry

    drivers = registry.list_drivers()
    if args.json:
        print(json.dumps(drivers, indent=2))
        return EXIT_OK
    for d in drivers:
        print(f"{d['name']}  ({d['bus']})  {d['description']}")
        quantities = ", ".join(f"{q} [{u}]" for q, u in d["quantities"].items())
        print(f"  quantities: {quantities}")
        if d.get("notes"):
            print(f"  notes: {d['notes']}")
        for key, p in d["params"].items():
            if p["required"]:
                default = "required"
            else:
                default = f"default {p.get('default')}"
            extra = ""
            if "choices" in p:
                extra = f"; one of {', '.join(str(c) for c in p['choices'])}"
            elif "minimum" in p or "maximum" in p:
                extra = f"; range {p.get('minimum', '')}..{p.get('maximum', '')}"
            print(f"  {key} ({p['type']}, {default}{extra}): {p['help']}")
        print()
    return EXIT_OK


# --------------------------------------------------------------------------- status


def _age(ms: int | None, now_ms: int) -> str:
    if ms is None:
        return "never"
    seconds = max(0, (now_ms - ms) / 1000)
    if seconds < 120:
        return f"{seconds:.1f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def cmd_status(args: argparse.Namespace) -> int:
    """Show buffer depth, oldest unsent reading, drops and last publish from the buffer."""
    from wardlink.edge.buffer import read_stats
    from wardlink.edge.config import load_config

    config = load_config(args.config)
    stats = read_stats(config.data_dir)
    now = int(time.time() * 1000)
    if args.json:
        print(json.dumps({
            "gateway": config.gateway_id, "buffer_depth": stats.readings, "events": stats.events,
            "oldest_unsent_ms": stats.oldest_ts_ms, "oldest_unsent_age_s":
                None if stats.oldest_ts_ms is None else round((now - stats.oldest_ts_ms) / 1000, 3),
            "dropped": stats.dropped, "dropped_events": stats.dropped_events, "used_bytes": stats.used_bytes,
            "last_publish_ms": stats.last_publish_ms, "published": stats.published,
        }))
        return EXIT_OK
    print(f"gateway:          {config.gateway_id}")
    print(f"buffer:           {config.data_dir}")
    print(f"buffered:         {stats.readings} readings, {stats.events} events, {stats.used_bytes} bytes")
    print(f"oldest unsent:    {_age(stats.oldest_ts_ms, now) if stats.readings else 'nothing unsent'}")
    print(f"dropped:          {stats.dropped} readings, {stats.dropped_events} events (buffer full)")
    print(f"last publish:     {_age(stats.last_publish_ms, now)} ({stats.published} readings published)")
    return EXIT_OK


# --------------------------------------------------------------------------- doctor


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check config, credentials, sensors, broker, clock and disk; print what to fix."""
    from wardlink.edge.doctor import run_doctor

    # The report says everything; runtime warnings would only repeat it.
    logging.getLogger("wardlink.edge").setLevel(logging.ERROR)
    return EXIT_OK if run_doctor(args.config, timeout=args.timeout) else EXIT_FAILURE


# --------------------------------------------------------------------------- enroll


def cmd_enroll(args: argparse.Namespace) -> int:
    """Fetch this gateway's broker login, CA certificate and config from the hub and write them."""
    from pathlib import Path

    from wardlink.edge.enroll import enroll

    token = sys.stdin.readline() if args.token == "-" else args.token
    done = enroll(args.hub_url, token, config_dir=Path(args.config_dir), data_dir=Path(args.data_dir),
                  ca_file=Path(args.ca_file) if args.ca_file else None, force=args.force, owner=args.owner,
                  timeout=args.timeout)
    print(f"enrolled gateway {done.gateway_id} with {args.hub_url}")
    for path in done.files:
        print(f"wrote {path} (mode 0600)")
    print(f"next: wardlink-edge doctor --config {done.config_file}, then: systemctl restart wardlink-edge")
    return EXIT_OK


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser (every subcommand carries help text)."""
    parser = argparse.ArgumentParser(
        prog="wardlink-edge",
        description="Wardlink gateway: sample sensors, buffer every reading durably, forward to the hub over MQTT.",
    )
    parser.add_argument("--version", action="version", version=f"wardlink-edge {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="log verbosity on stderr (default INFO)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = add_command(sub, "run", cmd_run, "run the gateway until SIGTERM/SIGINT",
                    "Run the gateway: sample, buffer and forward until SIGTERM or SIGINT, "
                    "then flush, publish the offline status and disconnect.")
    _config_option(p)
    p = add_command(sub, "drivers", cmd_drivers, "list sensor drivers, their parameters and units",
                    "List every hardware driver with its bus, parameters and units.")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p = add_command(sub, "status", cmd_status, "show buffer depth, oldest unsent, drops, last publish",
                    "Read the buffer database and show what waits to be sent.")
    _config_option(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p = add_command(sub, "doctor", cmd_doctor, "check config, credentials, sensors, broker, clock and disk",
                    "Check everything the gateway needs and print what to fix; "
                    "exits non-zero if any check fails.")
    _config_option(p)
    p.add_argument("--timeout", type=float, default=5.0, metavar="S",
                   help="seconds to wait for each sensor and for the broker (default 5)")
    _add_enroll(sub)
    return parser


def _config_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, metavar="FILE", help="gateway TOML config file")


def _add_enroll(sub: Any) -> None:
    p = add_command(sub, "enroll", cmd_enroll,
                    "fetch this gateway's broker login, CA certificate and config from the hub",
                    "Redeem a one-time enrollment token with the hub over HTTPS and write the "
                    "broker login (gateway.secret), the broker's CA certificate (ca.crt) and the "
                    "gateway config (gateway.toml) into --config-dir, each atomically with mode "
                    "0600. Existing files are kept unless --force is given.")
    p.add_argument("hub_url", help="the hub's HTTPS address, e.g. https://wardlink.hospital.example")
    p.add_argument("token", help="the one-time enrollment token the hub printed (wle_...), "
                                 "or - to read it from standard input")
    p.add_argument("--config-dir", default="/etc/wardlink", metavar="DIR",
                   help="where gateway.toml, gateway.secret and ca.crt go (default /etc/wardlink)")
    p.add_argument("--data-dir", default="/var/lib/wardlink-edge", metavar="DIR",
                   help="the buffer directory written into gateway.toml (default /var/lib/wardlink-edge)")
    p.add_argument("--ca-file", metavar="FILE",
                   help="CA certificate that signed the hub's HTTPS certificate (default: the system's trust store)")
    p.add_argument("--owner", metavar="USER",
                   help="give the written files to this user, e.g. wardlink (the service user; needs root)")
    p.add_argument("--force", action="store_true", help="replace existing credentials, CA certificate and config")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="seconds to wait for the hub (default 30)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``wardlink-edge``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.log_level)
    try:
        return args.func(args)
    except EdgeError as exc:
        print(f"wardlink-edge {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
