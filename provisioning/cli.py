"""The ``wardlink broker ...`` and ``wardlink grafana ...`` commands.

:func:`register_cli` adds them to the ``wardlink`` parser; each command function returns an
exit status and turns a :class:`~wardlink.provisioning.errors.ProvisioningError` into a one-line message
on standard error and status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from wardlink.cli import add_command, add_group
from wardlink.provisioning.acl import DEFAULT_ADMIN_USERNAME, DEFAULT_HUB_USERNAME, check_gateway_id
from wardlink.provisioning.errors import SettingError, guarded

DEFAULT_SECRETS_DIR = Path("/etc/wardlink")
DEFAULT_ADMIN_SECRET = DEFAULT_SECRETS_DIR / "mqtt-admin.secret"


def _read_secret(path: str | os.PathLike, what: str) -> str:
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingError(f"{what}: cannot read {path}: {exc.strerror}") from None
    if not value:
        raise SettingError(f"{what}: {path} is empty")
    return value


def _write_secret(path: Path, value: str, force: bool, owner: tuple[int, int] | None = None) -> None:
    from wardlink.provisioning.files import write_private

    if path.exists() and not force:
        raise SettingError(f"{path} exists; use --force to replace it")
    write_private(path, value + "\n", mode=0o600, keep_mode=False)
    if owner is not None:
        os.chown(path, *owner)


def _owner_ids(spec: str | None) -> tuple[int, int] | None:
    """Return (uid, gid) of ``USER[:GROUP]`` (GROUP defaults to the user's own), or None."""
    if not spec:
        return None
    import grp
    import pwd

    user, _, group = spec.partition(":")
    try:
        entry = pwd.getpwnam(user)
        gid = grp.getgrnam(group).gr_gid if group else entry.pw_gid
    except KeyError:
        raise SettingError(f"owner: no such user or group {spec!r} on this machine") from None
    return entry.pw_uid, gid


# ------------------------------------------------------------------ broker config / certs


@guarded
def cmd_broker_config(args) -> int:
    """Render mosquitto.conf."""
    from wardlink.provisioning.broker import BrokerSettings, render_mosquitto_conf
    from wardlink.provisioning.files import write_private

    settings = BrokerSettings(
        auth=args.auth, tls_port=args.tls_port, local_port=None if args.no_local_listener else args.local_port,
        cert_dir=Path(args.cert_dir), data_dir=Path(args.data_dir), config_dir=Path(args.config_dir),
        plugin_path=Path(args.plugin) if args.plugin else None,
        require_client_certificate=args.require_client_cert, gateways=args.gateways,
        outage_hours=args.outage_hours, max_queued_messages=args.max_queued,
        snippet=args.snippet or (args.out != "-" and Path(args.out).parent.name == "conf.d"))
    text = render_mosquitto_conf(settings)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        write_private(args.out, text, mode=0o644)
        print(f"wrote {args.out}")
    return 0


@guarded
def cmd_broker_certs(args) -> int:
    """Create the CA and issue server and client certificates."""
    from wardlink.provisioning.certs import make_certificates

    files = make_certificates(args.out, dns_names=args.dns, ips=args.ip, clients=args.client,
                              key_type=args.key_type, organisation=args.organisation,
                              renew_server=args.renew)
    for path in files.created:
        print(f"created {path}")
    if not files.created:
        print(f"nothing to do: everything asked for exists in {args.out}")
    return 0


# ------------------------------------------------------------------ identities


def _store(args):
    """Return the identity store the options select (a context manager for both kinds)."""
    from contextlib import nullcontext

    if args.auth == "files":
        from wardlink.provisioning.identities import FileIdentities, sighup_from_pid_file

        reload = sighup_from_pid_file(args.reload_pid_file) if args.reload_pid_file else None
        return nullcontext(FileIdentities(args.password_file, args.acl_file, reload=reload))
    from wardlink.provisioning.dynsec import DynsecClient, DynsecIdentities
    from wardlink.provisioning.mqttadmin import BrokerAddress

    address = BrokerAddress.from_url(args.broker_url, args.ca_file)
    password = _read_secret(args.admin_password_file, "admin password file")
    client = DynsecClient(address, args.admin_user, password, timeout=args.timeout)

    class _Scope:
        def __enter__(self):
            return DynsecIdentities(client.open())

        def __exit__(self, *exc):
            client.close()

    return _Scope()


def _after_file_change(args) -> None:
    if args.auth == "files" and not args.reload_pid_file:
        print("reload the broker for the change to take effect: systemctl reload mosquitto", file=sys.stderr)


@guarded
def cmd_broker_init(args) -> int:
    """Create the broker's initial logins: the hub (and the dynsec admin)."""
    from wardlink.provisioning.passwords import generate_password

    owner = _owner_ids(args.owner)  # refused before anything is written
    secrets_dir = Path(args.secrets_dir)
    hub_secret = secrets_dir / "mqtt-hub.secret"
    hub_password = generate_password()
    if args.auth == "dynsec":
        from wardlink.provisioning.dynsec import initial_config
        from wardlink.provisioning.files import write_private

        target = Path(args.dynsec_file)
        if target.exists() and not args.force:
            raise SettingError(f"{target} exists; use --force to start the broker's logins over")
        admin_secret = secrets_dir / "mqtt-admin.secret"
        admin_password = generate_password()
        for path in (admin_secret, hub_secret):
            if path.exists() and not args.force:
                raise SettingError(f"{path} exists; use --force to replace it")
        config = initial_config(admin_password, hub_password, admin_username=args.admin_user,
                                hub_username=args.hub_user)
        write_private(target, json.dumps(config, indent=2) + "\n", mode=0o600, keep_mode=False)
        _write_secret(admin_secret, admin_password, True, owner)
        _write_secret(hub_secret, hub_password, True, owner)
        print(f"wrote {target} (admin '{args.admin_user}', hub '{args.hub_user}')")
        print(f"wrote {admin_secret} and {hub_secret} (mode 0600{', owner ' + args.owner if owner else ''})")
        print(f"make {target} owned by the mosquitto user, then start the broker")
        return 0
    from wardlink.provisioning.identities import FileIdentities

    if hub_secret.exists() and not args.force:
        raise SettingError(f"{hub_secret} exists; use --force to replace it")
    FileIdentities(args.password_file, args.acl_file).ensure_hub(hub_password, args.hub_user)
    _write_secret(hub_secret, hub_password, True, owner)
    print(f"wrote {args.password_file}, {args.acl_file} (hub '{args.hub_user}') and {hub_secret} (mode 0600)")
    return 0


@guarded
def cmd_gateway_add(args) -> int:
    """Create or reset a gateway's login and hand out its credentials file."""
    from wardlink.provisioning.gateways import issue_gateway, write_credentials

    check_gateway_id(args.gateway_id)
    with _store(args) as store:
        issued = issue_gateway(store, args.gateway_id)
    if args.credentials_out:
        write_credentials(issued, args.credentials_out)
        print(f"gateway {args.gateway_id}: login ready; credentials in {args.credentials_out} (mode 0600)")
    else:
        print(f"gateway {args.gateway_id}: login ready. Credentials file (shown once, store it 0600 on the gateway):")
        print(issued.credentials_file_text(), end="")
    _after_file_change(args)
    return 0


def _set_enabled(args, enabled: bool) -> int:
    # The same path as `wardlink gateway disable|enable` and the web page: the hub's gateway,
    # its tokens and the audit trail change with the broker login (this command's broker options).
    # A gateway the hub does not know (a login made by hand), or no hub configuration at all,
    # still gets its login switched: cutting a gateway off never waits for the hub.
    from wardlink.hub.errors import NotFound
    from wardlink.provisioning.enroll import IdentityStoreAccounts
    from wardlink.provisioning.enroll_cli import switch_gateway

    check_gateway_id(args.gateway_id)
    if getattr(args, "config", None) or os.environ.get("WARDLINK_CONFIG"):
        accounts = IdentityStoreAccounts(lambda: _store(args), getattr(args, "broker_url", "") or "", None)
        try:
            switch_gateway(args, accounts, enabled)
            _after_file_change(args)
            return 0
        except NotFound as exc:
            print(f"wardlink: the hub: {exc}; only the broker login is switched", file=sys.stderr)
    else:
        print("wardlink: no hub configuration (--config or WARDLINK_CONFIG): only the broker login is "
              "switched; the hub's gateway stays as it was", file=sys.stderr)
    with _store(args) as store:
        store.set_enabled(args.gateway_id, enabled)
    print(f"gateway {args.gateway_id}: {'enabled' if enabled else 'disabled; its connections were closed'}")
    _after_file_change(args)
    return 0


@guarded
def cmd_gateway_disable(args) -> int:
    """Disable a gateway in the hub and switch its login off (disconnecting it)."""
    return _set_enabled(args, False)


@guarded
def cmd_gateway_enable(args) -> int:
    """Enable a gateway in the hub and switch its login back on."""
    return _set_enabled(args, True)


@guarded
def cmd_gateway_remove(args) -> int:
    """Delete a gateway's login and role."""
    check_gateway_id(args.gateway_id)
    with _store(args) as store:
        store.remove_gateway(args.gateway_id)
    print(f"gateway {args.gateway_id}: login removed; its connections were closed")
    _after_file_change(args)
    return 0


@guarded
def cmd_gateway_list(args) -> int:
    """List the broker's logins."""
    with _store(args) as store:
        rows = store.identities()
    if args.json:
        print(json.dumps([{"username": r.username, "kind": r.kind, "enabled": r.enabled,
                           "client_id": r.client_id} for r in rows]))
        return 0
    for r in rows:
        print(f"{r.username:<40} {r.kind:<8} {'enabled' if r.enabled else 'DISABLED'}"
              f"{'  client id ' + r.client_id if r.client_id else ''}")
    return 0


@guarded
def cmd_broker_passwd(args) -> int:
    """Give an existing login a new generated password."""
    from wardlink.provisioning.passwords import generate_password

    password = generate_password()
    with _store(args) as store:
        store.set_password(args.username, password)
    if args.secret_out:
        _write_secret(Path(args.secret_out), password, True)
        print(f"{args.username}: new password written to {args.secret_out} (mode 0600)")
    else:
        print(f"{args.username}: new password (shown once):\n  {password}")
    _after_file_change(args)
    return 0


# ------------------------------------------------------------------ grafana


@guarded
def cmd_grafana_push(args) -> int:
    """Create or update the datasources, folder and dashboards in Grafana."""
    from wardlink.provisioning.grafana.push import push

    token = args.token or os.environ.get("WARDLINK_GRAFANA_TOKEN", "")
    if args.token_file:
        token = _read_secret(args.token_file, "token file")
    settings = {key: value for key, value in (
        ("WARDLINK_INFLUX_URL", args.influx_url), ("WARDLINK_INFLUX_DATABASE", args.influx_database),
        ("WARDLINK_INFLUX_USER", args.influx_user), ("WARDLINK_PG_HOST", args.postgres_host),
        ("WARDLINK_PG_DATABASE", args.postgres_database), ("WARDLINK_PG_USER", args.postgres_user),
        ("WARDLINK_PG_SSLMODE", args.postgres_sslmode)) if value is not None}
    for key, path in (("WARDLINK_INFLUX_PASSWORD", args.influx_password_file),
                      ("WARDLINK_INFLUX_TOKEN", args.influx_token_file),
                      ("WARDLINK_PG_PASSWORD", args.postgres_password_file)):
        if path:
            settings[key] = _read_secret(path, key.lower())
    report = push(args.url, token, grafana_dir=args.grafana_dir, influx_version=args.influx_version,
                  settings=settings, datasources=not args.skip_datasources, timezone=args.timezone)
    for line in report.lines():
        print(line)
    return 0


@guarded
def cmd_grafana_export(args) -> int:
    """Write the dashboards as JSON files."""
    from wardlink.provisioning.files import write_private
    from wardlink.provisioning.grafana.boards import dashboards

    out = Path(args.out)
    for name, board in dashboards(args.timezone).items():
        write_private(out / name, json.dumps(board, indent=2, ensure_ascii=False) + "\n", mode=0o644)
        print(f"wrote {out / name}")
    return 0


@guarded
def cmd_grafana_grant_reader(args) -> int:
    """Let a PostgreSQL role read the reporting views the dashboards use, and nothing else."""
    from wardlink.hub.config import load_config
    from wardlink.provisioning.grafana.reader import grant_reader

    views = grant_reader(load_config(getattr(args, "config", None)).resolved_database_url, args.role)
    print(f"{args.role} may read {len(views)} views and no table: {', '.join(views)}")
    print("views added by later upgrades are readable too (default privileges of this login)")
    return 0


# ------------------------------------------------------------------ parser


def _identity_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("where the broker keeps its logins")
    g.add_argument("--auth", choices=("dynsec", "files"), default="dynsec",
                   help="dynsec: the dynamic-security plugin, changed live over MQTT (default); "
                        "files: a Mosquitto password file and ACL file")
    g.add_argument("--broker-url", default="mqtt://127.0.0.1:1883", metavar="URL",
                   help="dynsec: broker to administer, mqtt:// or mqtts:// (default: mqtt://127.0.0.1:1883)")
    g.add_argument("--ca-file", metavar="FILE", help="dynsec: CA certificate for an mqtts:// broker URL")
    g.add_argument("--admin-user", default=DEFAULT_ADMIN_USERNAME,
                   help=f"dynsec: the plugin's admin login (default: {DEFAULT_ADMIN_USERNAME})")
    g.add_argument("--admin-password-file", default=str(DEFAULT_ADMIN_SECRET), metavar="FILE",
                   help=f"dynsec: file holding the admin password (default: {DEFAULT_ADMIN_SECRET})")
    g.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="dynsec: seconds to wait for the broker (default: 10)")
    g.add_argument("--password-file", default="/etc/mosquitto/wardlink.passwd", metavar="FILE",
                   help="files: Mosquitto password file (default: /etc/mosquitto/wardlink.passwd)")
    g.add_argument("--acl-file", default="/etc/mosquitto/wardlink.acl", metavar="FILE",
                   help="files: Mosquitto ACL file, regenerated on every change "
                        "(default: /etc/mosquitto/wardlink.acl)")
    g.add_argument("--reload-pid-file", metavar="FILE",
                   help="files: send SIGHUP to the broker whose pid is in FILE after a change "
                        "(e.g. /run/mosquitto/mosquitto.pid); otherwise reload it yourself")
    return p


def register_cli(subparsers) -> None:
    """Add the ``broker``, ``gateway`` and ``grafana`` command groups to the ``wardlink`` parser."""
    from wardlink.provisioning.enroll_cli import register as register_gateway_commands

    register_gateway_commands(subparsers)
    bsub = add_group(
        subparsers, "broker", "MQTT broker set-up: configuration, certificates, gateway logins",
        "Set up Mosquitto for Wardlink: render mosquitto.conf, make the TLS certificates, "
        "and create, disable or remove broker logins (dynamic-security plugin or password "
        "and ACL files).")
    _add_broker_config(bsub)
    _add_broker_certs(bsub)
    identity = _identity_options()
    _add_broker_logins(bsub, identity)
    _add_broker_gateway(bsub, identity)
    gfsub = add_group(subparsers, "grafana", "Grafana boards: push to a server, export JSON",
                      "Grafana as code: the Wardlink datasources and dashboards.")
    _add_grafana_push(gfsub)
    p = add_command(gfsub, "export", cmd_grafana_export, "write the dashboards as JSON files",
                    "Build the dashboards and write one JSON file each, as Grafana's file "
                    "provisioning reads them.")
    p.add_argument("--out", default="grafana/dashboards", metavar="DIR",
                   help="directory to write (default: grafana/dashboards)")
    p.add_argument("--timezone", metavar="ZONE", help=TIMEZONE_HELP)
    p = add_command(gfsub, "grant-reader", cmd_grafana_grant_reader,
                    "let Grafana's PostgreSQL role read the reporting views only",
                    "Grant an existing PostgreSQL role CONNECT, USAGE on schema reporting and SELECT on "
                    "its views (what the dashboards read: no users, password hashes, sessions, tokens or "
                    "e-mail addresses), revoke any grant on the hub's tables, and make views added by "
                    "later upgrades readable too. Run it with the hub's --config, whose database login "
                    "owns the tables and runs the migrations.")
    p.add_argument("role", help="the PostgreSQL role Grafana logs in with, e.g. grafana_reader")


def _add_broker_config(bsub) -> None:
    p = add_command(bsub, "config", cmd_broker_config, "render a production mosquitto.conf",
                    "Print (or write) mosquitto.conf: TLS listener, persistence, queue sizing "
                    "explained in comments, no anonymous access, and the chosen login store.")
    p.add_argument("--auth", choices=("dynsec", "files"), default="dynsec",
                   help="login store: the dynamic-security plugin (default) or password and ACL files")
    p.add_argument("--tls-port", type=int, default=8883, help="TLS listener port (default: 8883)")
    p.add_argument("--local-port", type=int, default=1883,
                   help="plain listener on 127.0.0.1 for the hub and admin commands (default: 1883)")
    p.add_argument("--no-local-listener", action="store_true", help="do not add the plain 127.0.0.1 listener")
    p.add_argument("--cert-dir", default="/etc/mosquitto/certs",
                   help="directory with ca.crt, server.crt, server.key (default: /etc/mosquitto/certs)")
    p.add_argument("--data-dir", default="/var/lib/mosquitto",
                   help="persistence and dynamic-security state (default: /var/lib/mosquitto)")
    p.add_argument("--config-dir", default="/etc/mosquitto",
                   help="where the password and ACL files live in 'files' mode (default: /etc/mosquitto)")
    p.add_argument("--plugin", metavar="PATH",
                   help="path of mosquitto_dynamic_security.so (default: found under /usr/lib/*/)")
    p.add_argument("--require-client-cert", action="store_true",
                   help="gateways must also present a client certificate signed by the CA")
    p.add_argument("--gateways", type=int, default=1,
                   help="number of gateways, to size the per-session message queue (default: 1)")
    p.add_argument("--outage-hours", type=float, default=24.0,
                   help="hub outage the queue must cover, in hours (default: 24)")
    p.add_argument("--max-queued", type=int, metavar="N", help="set max_queued_messages explicitly instead")
    p.add_argument("--snippet", action="store_true",
                   help="write a conf.d snippet that leaves persistence_location to the main mosquitto.conf "
                        "(Debian's stock file sets it); implied when --out is in a conf.d directory")
    p.add_argument("--out", default="-", metavar="FILE", help="file to write (default: standard output)")


def _add_broker_certs(bsub) -> None:
    p = add_command(bsub, "certs", cmd_broker_certs, "create the CA and issue server/client certificates",
                    "Create a private CA (or reuse the one in --out) and issue the broker's "
                    "server certificate for the given names and addresses, and client "
                    "certificates. Private keys are written with mode 0600; nothing is "
                    "overwritten.")
    p.add_argument("--out", required=True, metavar="DIR", help="directory for ca.crt/key, server.crt/key, ...")
    p.add_argument("--dns", action="append", default=[], metavar="NAME",
                   help="DNS name of the broker (repeatable), e.g. broker.hospital.example")
    p.add_argument("--ip", action="append", default=[], metavar="ADDR",
                   help="IP address of the broker (repeatable)")
    p.add_argument("--client", action="append", default=[], metavar="NAME",
                   help="also issue a client certificate with this common name (repeatable)")
    p.add_argument("--key-type", choices=("ec", "rsa"), default="ec",
                   help="ec: ECDSA P-256 (default); rsa: RSA 3072 for old clients")
    p.add_argument("--organisation", default="Hospital", help="organisation name in the certificates")
    p.add_argument("--renew", action="store_true",
                   help="re-issue the server certificate (e.g. after adding a name)")


def _add_broker_logins(bsub, identity: argparse.ArgumentParser) -> None:
    p = add_command(bsub, "init", cmd_broker_init, "create the hub's login (and the dynsec admin)",
                    "Create the broker's first logins with generated passwords: in dynsec mode "
                    "the plugin's start-up file with an admin login (that can only administer "
                    "the plugin) and the hub login; in files mode the password and ACL files "
                    "with the hub login. The passwords go to 0600 files in --secrets-dir.", parents=[identity])
    p.add_argument("--dynsec-file", default="/var/lib/mosquitto/dynamic-security.json", metavar="FILE",
                   help="dynsec: the plugin's state file to create "
                        "(default: /var/lib/mosquitto/dynamic-security.json)")
    p.add_argument("--secrets-dir", default=str(DEFAULT_SECRETS_DIR), metavar="DIR",
                   help=f"where mqtt-hub.secret (and mqtt-admin.secret) are written (default: {DEFAULT_SECRETS_DIR})")
    p.add_argument("--hub-user", default=DEFAULT_HUB_USERNAME, help=f"hub login (default: {DEFAULT_HUB_USERNAME})")
    p.add_argument("--owner", metavar="USER[:GROUP]",
                   help="give the secret files to this user (e.g. wardlink, the user the hub units run as, "
                        "which must read them); they stay mode 0600 (default: the user running the command)")
    p.add_argument("--force", action="store_true", help="replace existing files")

    p = add_command(bsub, "passwd", cmd_broker_passwd, "give a broker login a new generated password",
                    "Generate a new password for an existing login (hub or gateway) and "
                    "print it once or write it to a 0600 file.", parents=[identity])
    p.add_argument("username", help="the login, e.g. wardlink-hub or a gateway id")
    p.add_argument("--secret-out", metavar="FILE", help="write the password to FILE (mode 0600) instead")


def _add_broker_gateway(bsub, identity: argparse.ArgumentParser) -> None:
    gsub = add_group(bsub, "gateway", "add, disable, enable, remove or list gateway logins",
                     "Manage the broker login of each gateway. A gateway may publish only to "
                     "wardlink/v1/<id>/{telemetry,events,status,cmd-result} and subscribe only "
                     "to wardlink/v1/<id>/config and wardlink/v1/<id>/cmd/#.", dest="gateway_action")
    p = add_command(gsub, "add", cmd_gateway_add, "create or reset a gateway's login",
                    "Create the gateway's login with a generated password (or reset and "
                    "enable an existing one) and hand out its credentials file.", parents=[identity])
    p.add_argument("gateway_id", help="the gateway id, e.g. gw-icu-01")
    p.add_argument("--credentials-out", metavar="FILE",
                   help="write the gateway's credentials file here (mode 0600) instead of printing it")
    for name, func, text in (
            ("disable", cmd_gateway_disable, "disable a gateway in the hub (--config) and switch its login off, "
                                             "disconnecting it at once"),
            ("enable", cmd_gateway_enable, "enable a gateway in the hub (--config) and switch its login back on"),
            ("remove", cmd_gateway_remove, "delete a gateway's login and role; disconnects it at once")):
        p = add_command(gsub, name, func, text, text[0].upper() + text[1:] + ".", parents=[identity])
        p.add_argument("gateway_id", help="the gateway id")
    p = add_command(gsub, "list", cmd_gateway_list, "list the broker's logins",
                    "List every login the broker knows, with its kind and whether it is enabled.",
                    parents=[identity])
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


TIMEZONE_HELP = ("the site's IANA time zone, e.g. Europe/Berlin: every board shows its times there "
                 "(default: each viewer's browser zone)")


def _add_grafana_push(gfsub) -> None:
    p = add_command(gfsub, "push", cmd_grafana_push, "create or update datasources, folder and dashboards in Grafana",
                    "Send Wardlink's Grafana files (datasource YAML with ${VAR} filled from the options, and "
                    "dashboards/*.json, installed with the package) to Grafana's HTTP API. Idempotent: unchanged "
                    "dashboards are not rewritten.")
    p.add_argument("--url", required=True, help="Grafana base URL, e.g. https://grafana.hospital.example")
    p.add_argument("--token", help="service-account token (visible to other local users in the process "
                                   "list; prefer --token-file or $WARDLINK_GRAFANA_TOKEN)")
    p.add_argument("--token-file", metavar="FILE", help="file holding the service-account token")
    p.add_argument("--grafana-dir", default=None, metavar="DIR",
                   help="a grafana/ directory to send instead (default: the files installed with Wardlink)")
    p.add_argument("--influx-version", choices=("1", "2"), default="1",
                   help="1: InfluxDB 1.x, user/password; 2: InfluxDB 2.x/3.x, token (default: 1)")
    for option, text in (
            ("--influx-url", "InfluxDB URL as Grafana reaches it ($WARDLINK_INFLUX_URL)"),
            ("--influx-database", "InfluxDB database ($WARDLINK_INFLUX_DATABASE)"),
            ("--influx-user", "InfluxDB 1.x user, if authentication is on")):
        p.add_argument(option, help=text)
    p.add_argument("--influx-password-file", metavar="FILE", help="file holding the InfluxDB 1.x password")
    p.add_argument("--influx-token-file", metavar="FILE", help="file holding an InfluxDB 2.x/3.x read token")
    p.add_argument("--postgres-host", metavar="HOST:PORT", help="PostgreSQL host:port ($WARDLINK_PG_HOST)")
    p.add_argument("--postgres-database", help="PostgreSQL database ($WARDLINK_PG_DATABASE)")
    p.add_argument("--postgres-user", help="PostgreSQL read-only role ($WARDLINK_PG_USER)")
    p.add_argument("--postgres-password-file", metavar="FILE", help="file holding that role's password")
    p.add_argument("--postgres-sslmode", choices=("disable", "require", "verify-ca", "verify-full"),
                   help="PostgreSQL TLS mode ($WARDLINK_PG_SSLMODE)")
    p.add_argument("--skip-datasources", action="store_true", help="push only the folder and dashboards")
    p.add_argument("--timezone", metavar="ZONE", help=TIMEZONE_HELP)
