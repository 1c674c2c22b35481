"""The ``wardlink gateway ...`` commands: add, token, disable, enable, revoke.

They act on the hub's database (``--config`` of ``wardlink``) and on the broker's logins
(the enrollment settings file), through the same hub service the web pages use, so the
audit trail and the broker stay in step whichever way an administrator works.
"""

from __future__ import annotations

import argparse
import tomllib
from datetime import timedelta
from pathlib import Path

from wardlink.cli import add_command, add_group
from wardlink.provisioning.errors import SettingError, guarded


def _hub(args):
    from wardlink.hub.config import load_config
    from wardlink.hub.db import open_engine
    from wardlink.hub.db.audit_key import use_audit_key

    config = load_config(args.config)
    # The audit rows these commands write are keyed like the web's when the hub's key exists.
    use_audit_key(config, create=False)
    return config, open_engine(config.resolved_database_url)


def _accounts(args):
    from wardlink.provisioning.enroll import IdentityStoreAccounts, load_settings, settings_path

    return IdentityStoreAccounts.from_settings(load_settings(args.settings or settings_path()))


def _initial_config(path: str | None) -> dict | None:
    if not path:
        return None
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingError(f"initial config: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingError(f"initial config: {path} is not valid TOML: {exc}") from None


def _ttl(hours: float) -> timedelta:
    return timedelta(hours=hours)


def _print_token(issued, public_url: str) -> None:
    print(f"enrollment token for {issued.gateway_id} (shown once; one use, until "
          f"{issued.expires_at.isoformat(timespec='seconds')}):")
    print(f"  {issued.token}")
    print("on the gateway run:")
    print(f"  sudo wardlink-edge enroll {public_url} {issued.token} --owner wardlink")


@guarded
def cmd_add(args) -> int:
    """Register a gateway, create its broker login and print its enrollment token."""
    from wardlink.hub.db import session_scope
    from wardlink.hub.services.gateways import enrollment

    accounts = _accounts(args)
    initial = _initial_config(args.initial_config)
    config, engine = _hub(args)
    try:
        with session_scope(engine) as session:
            issued = enrollment.add_gateway(
                session, accounts, gateway_id=args.gateway_id, name=args.name,
                department_id=enrollment.department_by_code(session, args.department),
                initial_config=initial, ttl=_ttl(args.ttl_hours), actor=None)
    finally:
        engine.dispose()
    print(f"gateway {args.gateway_id}: registered; its broker login exists and stays off until it enrolls")
    _print_token(issued, config.resolved_public_url)
    return 0


@guarded
def cmd_token(args) -> int:
    """Print a new enrollment token for a gateway (earlier unused tokens stop working)."""
    from wardlink.hub.db import session_scope
    from wardlink.hub.services.gateways import enrollment

    initial = _initial_config(args.initial_config)
    config, engine = _hub(args)
    try:
        with session_scope(engine) as session:
            issued = enrollment.issue_token(session, gateway_id=args.gateway_id, initial_config=initial,
                                            ttl=_ttl(args.ttl_hours), actor=None)
    finally:
        engine.dispose()
    _print_token(issued, config.resolved_public_url)
    return 0


def switch_gateway(args, accounts, enabled: bool) -> int:
    """Enable or disable ``args.gateway_id`` in the hub (``args.config``) and at the broker.

    The one path of every command that switches a gateway: the hub service
    :func:`wardlink.hub.services.gateways.enrollment.set_enabled` changes the hub's gateway, voids its tokens
    when disabling, writes the audit row and switches the broker login through ``accounts``;
    a broker that refuses leaves the hub unchanged.
    """
    from wardlink.hub.db import session_scope
    from wardlink.hub.services.gateways import enrollment

    _, engine = _hub(args)
    try:
        with session_scope(engine) as session:
            exists = enrollment.set_enabled(session, accounts, args.gateway_id, enabled, actor=None)
    finally:
        engine.dispose()
    if not enabled:
        print(f"gateway {args.gateway_id}: disabled; its broker login is off and its connections were closed")
    elif exists:
        print(f"gateway {args.gateway_id}: enabled; its broker login is on again")
    else:
        print(f"gateway {args.gateway_id}: enabled; it has no broker login: "
              f"issue a token with `wardlink gateway token {args.gateway_id}` and enroll it again")
    return 0


@guarded
def cmd_disable(args) -> int:
    """Disable a gateway: switch its broker login off and disconnect it."""
    return switch_gateway(args, _accounts(args), False)


@guarded
def cmd_enable(args) -> int:
    """Enable a gateway and switch its broker login back on."""
    return switch_gateway(args, _accounts(args), True)


@guarded
def cmd_revoke(args) -> int:
    """Revoke a gateway: delete its broker login, disconnect it, void its tokens."""
    from wardlink.hub.db import session_scope
    from wardlink.hub.services.gateways import enrollment

    accounts = _accounts(args)
    _, engine = _hub(args)
    try:
        with session_scope(engine) as session:
            existed = enrollment.revoke(session, accounts, args.gateway_id, actor=None)
    finally:
        engine.dispose()
    print(f"gateway {args.gateway_id}: revoked; "
          + ("its broker login was deleted and its connections were closed" if existed
             else "it had no broker login") + "; unused tokens no longer work")
    return 0


def _settings_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--settings", metavar="FILE",
                   help="enrollment settings: the broker URL and CA handed to gateways and the broker admin "
                        "access (default: $WARDLINK_ENROLLMENT_CONFIG or /etc/wardlink/enrollment.toml)")


def _token_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ttl-hours", type=float, default=24.0, metavar="H",
                   help="hours the token stays valid, 0.1 to 168 (default: 24)")
    p.add_argument("--initial-config", metavar="FILE",
                   help="gateway TOML handed over with the login: [[channels]], [hardware], [[alarms]]... "
                        "(not gateway_id, data_dir or [broker], which enrollment writes)")


def register(subparsers) -> None:
    """Add the ``gateway`` command group to the ``wardlink`` parser."""
    sub = add_group(
        subparsers, "gateway", "enroll gateways: add, new token, disable, enable, revoke",
        "Add a gateway to the hub and the broker and hand it a one-time enrollment token "
        "(redeemed on the gateway with `wardlink-edge enroll`); disable, enable or revoke it. "
        "Changes the hub database (--config) and the broker logins (--settings) together.",
        dest="gateway_action")
    p = add_command(sub, "add", cmd_add, "register a gateway, create its broker login, print its enrollment token",
                    "Register a new gateway in the hub, create its broker login (switched off "
                    "until it enrolls) and print a one-time enrollment token.")
    p.add_argument("gateway_id", help="the gateway id, e.g. gw-icu-01 (also its broker login)")
    p.add_argument("--name", default="", help="a name people recognise, e.g. 'ICU fridge room'")
    p.add_argument("--department", metavar="CODE", help="code of the ward or department it serves, e.g. ICU")
    _token_options(p)
    _settings_option(p)

    p = add_command(sub, "token", cmd_token, "print a new enrollment token for a gateway",
                    "Print a new one-time enrollment token for an enabled gateway, e.g. after "
                    "an SD card was replaced; its earlier unused tokens stop working. Enrolling "
                    "gives the gateway a new broker password.")
    p.add_argument("gateway_id", help="the gateway id")
    _token_options(p)

    for name, func, text in (
            ("disable", cmd_disable, "disable a gateway: switch its broker login off and disconnect it now"),
            ("enable", cmd_enable, "enable a gateway and switch its broker login back on"),
            ("revoke", cmd_revoke, "revoke a gateway: delete its broker login, disconnect it, void its tokens")):
        p = add_command(sub, name, func, text, text[0].upper() + text[1:] + ".")
        p.add_argument("gateway_id", help="the gateway id")
        _settings_option(p)
