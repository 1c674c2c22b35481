"""The ``wardlink`` command: hub services, administration, operations and the demo.

Every command and option has help text; ``tests/test_cli.py`` fails when one has none or
when a command is missing from the README/docs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

import wardlink
from wardlink.cli import add_command, add_group
from wardlink.systemd import configure_logging
from wardlink.hub.cli_backup import add_backup_commands
from wardlink.hub.cli_common import db_session as _db_session, hub_config as _config
from wardlink.hub.cli_db import add_db_commands
from wardlink.hub.cli_errors import debug_requested, describe
from wardlink.hub.cli_org import add_org_commands
from wardlink.hub.cli_services import add_service_commands
from wardlink.hub.config import find_config_file
from wardlink.hub.errors import HubError

log = logging.getLogger("wardlink")


# ------------------------------------------------------------------ commands


def cmd_demo(args) -> int:
    """Run the self-contained demo."""
    from wardlink.hub.demo import Demo, DemoError

    try:
        demo = Demo(data_dir=Path(args.data_dir), host=args.host, port=args.port,
                    broker_port=args.broker_port, gateways=1)
        return demo.run()
    except DemoError as exc:
        print(f"wardlink demo: {exc}", file=sys.stderr)
        return 2


def cmd_rules_check(args) -> int:
    """Validate a rules file without touching the database."""
    from wardlink.hub.runtime import load_ruleset

    ruleset = load_ruleset(args.file)
    print(f"{args.file}: {len(ruleset.rules)} rules and {len(ruleset.notifiers)} notifier targets are valid")
    return 0


def cmd_rules_sync(args) -> int:
    """Make the rules table match a rules file (audited; removed rules are disabled, never deleted)."""
    from wardlink.hub.db import open_engine
    from wardlink.hub.runtime import sync_ruleset

    config = _config(args)
    path = args.file or config.rules_file
    engine = open_engine(config.resolved_database_url)
    try:
        report = sync_ruleset(engine, path)
    finally:
        engine.dispose()
    for what in ("created", "updated", "disabled", "unchanged"):
        names = getattr(report, what)
        if names:
            print(f"{what}: {', '.join(names)}")
    return 0


def cmd_admin_create_user(args) -> int:
    """Create a user and print a generated password once."""
    from wardlink.hub.services.people import users

    with _db_session(args) as session:
        user, password = users.create_user_with_generated_password(
            session, username=args.username, role=args.role, email=args.email,
            display_name=args.name or args.username, actor=None)
    print(f"created {args.role} '{user.username}'. Password (shown once, change it after login):\n  {password}")
    return 0


def cmd_admin_reset_password(args) -> int:
    """Give a user a new generated password and unlock the account."""
    from wardlink.hub.services.people import users

    with _db_session(args) as session:
        password = users.reset_password(session, username=args.username, actor=None)
    print(f"new password for '{args.username}' (shown once):\n  {password}")
    return 0


def _head_line(head) -> str:
    at = head.at.isoformat(timespec="microseconds") if head.at else "-"
    return f"row {head.seq} hash {head.row_hash} at {at}"


def cmd_audit_verify(args) -> int:
    """Check the audit trail's keyed hash chain and its append-only triggers; print the chain
    head; exit 1 and say what is wrong on any failure."""
    from wardlink.hub.db import audit as chain

    with _db_session(args, readonly=True) as session:
        result = chain.check_chain(session)
        head = chain.chain_head(session)
    print(f"chain head: {_head_line(head)}")
    if result.intact:
        keyed = f"keyed from row {result.keyed_from}" if result.keyed_from else "not keyed (no audit key yet)"
        print(f"audit trail intact: {result.rows} rows, {keyed}, append-only triggers in place")
        return 0
    if result.broken_id is not None:
        print(f"audit trail BROKEN at row {result.broken_id}", file=sys.stderr)
    for problem in result.problems:
        print(f"audit trail BROKEN: {problem}", file=sys.stderr)
    return 1


def cmd_audit_head(args) -> int:
    """Print the chain head as one JSON line, optionally appending it to a file kept elsewhere."""
    from wardlink.hub.db import audit as chain
    from wardlink.clock import SystemClock

    with _db_session(args, readonly=True) as session:
        head = chain.chain_head(session)
    line = json.dumps({"recorded_at": datetime.fromtimestamp(SystemClock().now(), UTC).isoformat(),
                       "seq": head.seq, "row_hash": head.row_hash,
                       "at": head.at.isoformat(timespec="microseconds") if head.at else None})
    if args.append:
        with open(args.append, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    print(line)
    return 0


def cmd_config_show(args) -> int:
    """Print the effective hub configuration and what each key means; passwords in URLs show as ***."""
    from wardlink.hub.config import FIELDS, mask_secrets

    config = _config(args)
    source = getattr(args, "config_source", None) or find_config_file(args.config, os.environ)[1]
    print(f"# configuration file: {args.config} ({source})" if args.config else f"# configuration file: {source}")
    for name, f in FIELDS.items():
        value = getattr(config, name)
        value = mask_secrets(value) if isinstance(value, str) else str(value) if isinstance(value, Path) else value
        print(f"{name} = {json.dumps(value)}")
        print(f"    # {f.metadata.get('help', '')}")
    return 0


def cmd_protocol_check(args) -> int:
    """Validate a payload file against protocol v1 as the hub would."""
    from wardlink import protocol
    from wardlink.clock import SystemClock

    payload = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    try:
        message = protocol.decode(args.topic, payload, now_ms=SystemClock().now_ms())
    except protocol.ProtocolError as exc:
        print(f"rejected ({exc.reason}): {exc}", file=sys.stderr)
        return 1
    print(f"valid {type(message).__name__}")
    return 0


# ------------------------------------------------------------------ parser


ROLES = ("admin", "manager", "technician", "staff", "procurement", "vendor", "viewer")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``wardlink`` command."""
    parser = argparse.ArgumentParser(
        prog="wardlink",
        description="Wardlink hub: ingest gateway telemetry, run the admin UI, administer, or try the demo.",
        epilog="Settings come from --config FILE (or $WARDLINK_CONFIG, else /etc/wardlink/hub.toml when it "
               "exists), then WARDLINK_* environment variables; see docs/configuration.md.",
    )
    parser.add_argument("--version", action="version", version=f"wardlink {wardlink.__version__}")
    parser.add_argument("--config", metavar="FILE",
                        help="hub configuration file (TOML); default: $WARDLINK_CONFIG, else /etc/wardlink/hub.toml "
                             "when it exists (what `sudo wardlink` finds: sudo drops the variable)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log debug messages, and Alembic's progress lines of database commands")
    parser.add_argument("--debug", action="store_true",
                        help="print the full traceback of any failure (also: WARDLINK_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_demo(sub)
    add_service_commands(sub)
    _add_rules(sub)
    _add_admin(sub)
    add_org_commands(sub)
    _add_audit(sub)
    add_backup_commands(sub)
    _add_tools(sub)
    _register_plugins(sub)
    return parser


def _add_demo(sub) -> None:
    p = add_command(sub, "demo", cmd_demo, "run a self-contained demo: broker, hub and an emulated gateway",
                    "Start an embedded MQTT broker, the hub (ingest, SQLite stores, web UI) and "
                    "an emulated gateway with emulated sensors, all in one process tree. "
                    "No root and no installed servers needed. Ctrl-C stops everything.")
    p.add_argument("--data-dir", default="wardlink-demo", metavar="DIR",
                   help="where the demo keeps its data; it survives restarts (default: ./wardlink-demo)")
    p.add_argument("--host", default="127.0.0.1", help="address of the web UI (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port of the web UI (default: 8080)")
    p.add_argument("--broker-port", type=int, default=0, metavar="PORT",
                   help="port of the embedded MQTT broker (default: a free port)")


def cmd_rules_export(args) -> int:
    """Write every rule in the database as a rules file (TOML), to FILE or standard output."""
    from wardlink.hub.rules import editing

    with _db_session(args, readonly=True) as session:
        text = editing.export_rules(session, actor=None)
    if args.file:
        Path(args.file).write_text(text, encoding="utf-8")
        print(f"{args.file}: {text.count('[[rules]]')} rules written")
    else:
        sys.stdout.write(text)
    return 0


def _add_rules(sub) -> None:
    rules_sub = add_group(sub, "rules", "alert rules: check and load rules files",
                          "Alert rules live in a rules file (docs/hub.md, 'Rules files') and "
                          "are loaded into the database, where every hub process reads them.")
    p = add_command(rules_sub, "check", cmd_rules_check, "validate a rules file",
                    "Validate a rules file; errors name the rule and the key.")
    p.add_argument("file", help="rules file (TOML or JSON)")
    p = add_command(rules_sub, "sync", cmd_rules_sync, "load a rules file into the database",
                    "Create and update rules from the file; rules that left the file "
                    "are disabled, never deleted (alerts refer to them). Audited.")
    p.add_argument("file", nargs="?", help="rules file (default: the rules_file setting)")
    p = add_command(rules_sub, "export", cmd_rules_export, "write the rules in the database as a rules file",
                    "Write every rule (including those made in the UI) as a TOML rules file that "
                    "'wardlink rules sync' and the UI's import read back. Notifier targets are not written.")
    p.add_argument("file", nargs="?", help="file to write (default: standard output)")


def _add_admin(sub) -> None:
    add_db_commands(sub)
    admin_sub = add_group(sub, "admin", "user administration",
                          "Create users and reset passwords. Passwords are generated, "
                          "shown once, and stored only as hashes.")
    p = add_command(admin_sub, "create-user", cmd_admin_create_user, "create a user with a generated password",
                    "Create a user and print a generated password once.")
    p.add_argument("username", help="login name")
    p.add_argument("--role", choices=ROLES, default="viewer", help="role (default: viewer)")
    p.add_argument("--email", default=None, help="e-mail address for notifications")
    p.add_argument("--name", default=None, help="display name")
    p = add_command(admin_sub, "reset-password", cmd_admin_reset_password,
                    "generate a new password for a user and unlock it",
                    "Generate a new password for a user, print it once, and clear any lockout.")
    p.add_argument("username", help="login name")


def _add_audit(sub) -> None:
    audit_sub = add_group(sub, "audit", "audit trail tools",
                          "Tools for the append-only, hash-chained audit trail.")
    add_command(audit_sub, "verify", cmd_audit_verify, "check the audit trail's keyed hash chain and its triggers",
                "Recompute every audit row's hash (HMAC under the audit key from "
                "the keyed start on), check the append-only triggers exist, and "
                "print the chain head; exit 1 and say what is wrong on any failure.")
    p = add_command(audit_sub, "head", cmd_audit_head, "print the chain's newest link, to record off this machine",
                    "Print the newest audit row's number and hash as one JSON line. "
                    "Run it from cron and keep the lines elsewhere: a later `audit "
                    "verify` whose chain no longer contains a recorded head shows "
                    "rows were removed or rewritten.")
    p.add_argument("--append", metavar="FILE", default=None,
                   help="also append the line to FILE (e.g. on a mount of another machine)")


def _add_tools(sub) -> None:
    config_sub = add_group(sub, "config", "configuration tools", "Inspect the hub configuration.")
    add_command(config_sub, "show", cmd_config_show, "print the effective configuration with help for each key",
                "Print every setting's effective value and meaning.")
    proto_sub = add_group(sub, "protocol", "wire protocol tools",
                          "Tools for the MQTT protocol v1 (docs/protocol.md).")
    p = add_command(proto_sub, "check", cmd_protocol_check, "validate a payload as the hub would",
                    "Validate a payload for a topic; prints the rejection reason.")
    p.add_argument("topic", help="MQTT topic, e.g. wardlink/v1/gw-icu-01/telemetry")
    p.add_argument("file", help="payload file, or - for standard input")


def _register_plugins(sub) -> None:
    """Add subcommands that other installed packages declare (e.g. provisioning's broker tools)."""
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group="wardlink.commands"), key=lambda e: e.name):
        try:
            register = ep.load()
        except ImportError as exc:  # e.g. an extra's dependency is not installed
            log.debug("commands from %s unavailable: %s", ep.name, exc)
            continue
        register(sub)


def main(argv: list[str] | None = None) -> int:
    """Run the ``wardlink`` command line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # One answer for every command: --config, $WARDLINK_CONFIG, or /etc/wardlink/hub.toml (sudo drops the variable)
    args.config, args.config_source = find_config_file(args.config, os.environ)
    # Under systemd each line starts with its journald priority (and journald adds the time).
    configure_logging(logging.DEBUG if args.verbose else logging.INFO,
                      "%(asctime)s %(levelname)s %(name)s: %(message)s",
                      journal_fmt="%(levelname)s %(name)s: %(message)s")
    # Alembic says at INFO which dialect it found and each step it runs: noise unless asked for.
    logging.getLogger("alembic").setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        return args.func(args) or 0
    except Exception as exc:
        described = describe(exc, _database_url(args))
        if described is None:
            raise  # not an expected failure: the traceback is the report
        if debug_requested(args.debug):
            traceback.print_exc()
        code, message = described
        print(f"wardlink: {message}", file=sys.stderr)
        return code


def _database_url(args) -> str | None:
    """Return the configured database URL to name in a connection failure, or None."""
    from wardlink.hub.config import load_config

    try:
        return load_config(args.config).resolved_database_url
    except (HubError, OSError):
        return None


if __name__ == "__main__":
    sys.exit(main())
