"""Hub configuration: defaults, then a TOML file, then ``WARDLINK_*`` environment variables.

Every key is listed in :data:`FIELDS` with its type and help; ``docs/configuration.md`` and
``wardlink config show`` are generated from that table. Secrets are never stored in the
file itself: keys ending in ``_file`` name a file that holds the secret.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import stat
import tomllib
from datetime import time
from dataclasses import dataclass, field, fields, replace
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from wardlink.hub.errors import ConfigError
from wardlink.hub.i18n import LANGUAGES

log = logging.getLogger(__name__)

TELEMETRY_BACKENDS = ("sqlite", "influxdb")
_WARNED: set[str] = set()  # secret files already reported as readable by every user


@dataclass(frozen=True)
class HubConfig:
    """Settings for every hub process (ingest, web, scheduler)."""

    data_dir: Path = field(default=Path("wardlink-data"),
                           metadata={"help": "directory for SQLite files, secrets and logs"})
    database_url: str = field(default="", metadata={
        "help": "SQLAlchemy URL of the relational store, without the password; "
                "default sqlite:///<data_dir>/wardlink.db"})
    database_password_file: str = field(default="", metadata={
        "help": "file holding the password of the database_url user (PostgreSQL)"})
    telemetry: str = field(default="sqlite", metadata={
        "help": "telemetry store", "choices": TELEMETRY_BACKENDS})
    telemetry_sqlite_path: str = field(default="", metadata={
        "help": "SQLite telemetry file; default <data_dir>/telemetry.db"})
    influx_url: str = field(default="", metadata={"help": "InfluxDB base URL, e.g. http://127.0.0.1:8086"})
    influx_database: str = field(default="wardlink", metadata={
        "help": "InfluxDB 1.x database (2.x/3.x: the bucket mapped through DBRP)"})
    influx_username: str = field(default="", metadata={"help": "InfluxDB 1.x user (optional)"})
    influx_password_file: str = field(default="", metadata={"help": "file holding the InfluxDB 1.x password"})
    influx_token_file: str = field(default="", metadata={
        "help": "file holding an InfluxDB 2.x/3.x token (sent as 'Authorization: Token ...')"})
    mqtt_url: str = field(default="mqtt://127.0.0.1:1883", metadata={
        "help": "broker URL; mqtts:// for TLS"})
    mqtt_username: str = field(default="", metadata={"help": "MQTT user of the hub"})
    mqtt_password_file: str = field(default="", metadata={"help": "file holding the hub's MQTT password"})
    mqtt_ca_file: str = field(default="", metadata={"help": "CA certificate for mqtts://"})
    mqtt_client_id: str = field(default="wardlink-hub-ingest", metadata={
        "help": "stable MQTT client id of this ingest worker (unique per worker)"})
    mqtt_share_group: str = field(default="", metadata={
        "help": "shared-subscription group so N ingest workers split the load; empty = none"})
    ingest_stall_s: int = field(default=120, metadata={
        "help": "seconds an ingest worker may hold a message unacknowledged, or retry a store write, "
                "before /api/v1/health says degraded (ingest: stalled)"})
    metrics_host: str = field(default="127.0.0.1", metadata={
        "help": "address the /metrics and /health listeners of ingest, scheduler and web listen on "
                "(loopback, or an address only the monitoring server reaches)"})
    ingest_metrics_port: int = field(default=0, metadata={
        "help": "first port of the ingest workers' /metrics and /health: a worker listens on this plus "
                "its --metrics-offset (the systemd unit passes its instance number); 0 = no listener"})
    scheduler_metrics_port: int = field(default=0, metadata={
        "help": "port of the scheduler's /metrics and /health; 0 = no listener"})
    web_metrics_port: int = field(default=0, metadata={
        "help": "port of the web server's /metrics and /health (apart from web_port, never behind the "
                "reverse proxy); 0 = no listener"})
    web_host: str = field(default="127.0.0.1", metadata={"help": "address the web UI listens on"})
    web_port: int = field(default=8080, metadata={"help": "port the web UI listens on"})
    public_url: str = field(default="", metadata={
        "help": "URL users reach the UI at (QR codes, e-mail links); default http://<web_host>:<web_port>"})
    secret_key_file: str = field(default="", metadata={
        "help": "file holding the session signing key; default <data_dir>/secret_key (created 0600)"})
    audit_key_file: str = field(default="", metadata={
        "help": "file holding the key of the audit chain's HMAC; default <data_dir>/audit_key (created 0600)"})
    secure_cookies: bool = field(default=True, metadata={
        "help": "mark session cookies Secure (HTTPS only); the local demo turns this off"})
    trusted_proxies: str = field(default="", metadata={
        "help": "reverse proxies whose X-Forwarded-For/-Proto the web UI believes: a number of "
                "proxy hops (e.g. 1), or addresses/networks separated by commas "
                "(e.g. 127.0.0.1, 10.0.0.0/8); empty = none (the TCP peer is the client)"})
    two_factor_roles: str = field(default="admin, manager", metadata={
        "help": "roles that must sign in with a second factor (an authenticator app, TOTP), separated by "
                "commas (or a TOML array); users of other roles may still choose it; empty = nobody must"})
    ldap_url: str = field(default="", metadata={
        "help": "directory server for signing in with directory accounts (LDAP or Active Directory), "
                "ldap://host:389 or ldaps://host:636; empty = local accounts only"})
    ldap_bind_dn: str = field(default="", metadata={
        "help": "the service account the hub binds as to search the directory, e.g. "
                "cn=wardlink,ou=services,dc=hospital,dc=example"})
    ldap_bind_password_file: str = field(default="", metadata={
        "help": "file holding the password of ldap_bind_dn"})
    ldap_user_base: str = field(default="", metadata={
        "help": "where people are searched, e.g. ou=people,dc=hospital,dc=example"})
    ldap_user_filter: str = field(default="(uid={username})", metadata={
        "help": "filter finding the person signing in; {username} is what they typed (escaped); "
                "Active Directory: (sAMAccountName={username})"})
    ldap_group_base: str = field(default="", metadata={
        "help": "where groups are searched for the person's memberships; empty = only the person's "
                "memberOf attribute (Active Directory)"})
    ldap_group_filter: str = field(default="(|(member={user_dn})(uniqueMember={user_dn}))", metadata={
        "help": "filter finding the groups of the person; {user_dn} is their entry's DN"})
    ldap_group_roles: str = field(default="", metadata={
        "help": "which group gives which role, first match wins: 'role: group DN' entries separated by "
                "semicolons (or a TOML array), e.g. 'admin: cn=biomed-admins,ou=groups,dc=hospital,dc=example'; "
                "a person in none of them cannot sign in"})
    ldap_department_attribute: str = field(default="departmentNumber", metadata={
        "help": "attribute of the person holding their department's code or name (Active Directory: "
                "department); no match = all departments"})
    ldap_ca_file: str = field(default="", metadata={
        "help": "CA certificate that signed the directory server's certificate (ldaps://)"})
    ldap_timeout_s: int = field(default=10, metadata={
        "help": "seconds to wait for the directory server before a sign-in says it cannot be reached"})
    site_name: str = field(default="Wardlink", metadata={"help": "name shown in the UI header"})
    default_locale: str = field(default="en", metadata={
        "help": "language of pages and e-mails where neither the person nor their site chose one",
        "choices": tuple(LANGUAGES)})
    rules_file: str = field(default="", metadata={
        "help": "rules file (TOML/JSON): `wardlink rules sync` loads its rules; ingest and scheduler "
                "use its notifier targets"})
    notice_email: str = field(default="", metadata={
        "help": "name of an e-mail notifier of the rules file whose server sends notice e-mails "
                "(assignments, SLA warnings and escalations) to each person's address; empty = none"})
    notice_email_rate: int = field(default=50, metadata={
        "help": "notice e-mails sent per second at most, however many are queued (a storm of notices "
                "then leaves over minutes instead of taking CPU from the web); 0 = no limit"})
    digest_time: str = field(default="07:00", metadata={
        "help": "local time of day (HH:MM, the site's time zone) at which the scheduler sends each "
                "person's daily digest; on the 1st of a month it also makes the monthly KPI reports then"})
    grafana_url: str = field(default="", metadata={
        "help": "Grafana base URL as browsers reach it; when set, asset and ward pages embed its panels"})
    gateway_stall_s: int = field(default=90, metadata={
        "help": "seconds of silence after which a gateway whose status says online counts as stalled "
                "(at least; three times its expected gap between messages when that is longer)"})
    stock_approval_value: int = field(default=500, metadata={
        "help": "a stock adjustment or count worth more than this (quantity x the part's unit cost, in the "
                "hospital's currency) waits for a manager's approval"})
    stock_approval_quantity: int = field(default=10, metadata={
        "help": "for a part without a unit cost: an adjustment or count of more than this many units "
                "waits for a manager's approval"})
    repair_replace_percent: int = field(default=50, metadata={
        "help": "an asset whose repairs cost more than this percentage of its replacement cost over the "
                "last 12 months is flagged: consider replacing it rather than repairing it again (1-1000)"})
    usage_training_policy: str = field(default="warn", metadata={
        "help": "when someone without a valid training record starts equipment that requires training: "
                "warn (the start goes ahead, marked untrained) or block (refused)",
        "choices": ("warn", "block")})
    encounter_key_file: str = field(default="", metadata={
        "help": "file holding the site key of the encounter references' keyed hash (HMAC-SHA256), kept "
                "outside the database; empty = usage sessions take no encounter reference"})
    influx_rpc_address: str = field(default="", metadata={
        "help": "host:port of the InfluxDB 1.x backup service (influxd's top-level bind-address) that "
                "`wardlink backup` and `wardlink restore` reach; default <influx_url host>:8088"})
    backup_paths: str = field(default="", metadata={
        "help": "further files and directories `wardlink backup` saves and `wardlink restore` puts back "
                "at the same place, separated by commas (or a TOML array): the broker's CA directory, "
                "its dynamic-security file, the broker admin secret, the enrollment settings"})

    # ------------------------------------------------------------------ derived values

    @property
    def resolved_database_url(self) -> str:
        """Return the relational store URL, defaulting to a file in the data directory.

        With ``database_password_file`` the password is read from that file and put into the
        URL here, when an engine is about to be made; print the result only through
        :func:`mask_secrets`.
        """
        if not self.database_url:
            return f"sqlite:///{(self.data_dir / 'wardlink.db').resolve()}"
        password = self.read_secret("database_password_file")
        if password is None:
            return self.database_url
        from sqlalchemy.engine import make_url

        return make_url(self.database_url).set(password=password).render_as_string(hide_password=False)

    @property
    def digest_at(self) -> time:
        """Return ``digest_time`` as a time of day."""
        return parse_time_of_day("digest_time", self.digest_time)

    @property
    def resolved_telemetry_path(self) -> Path:
        """Return the SQLite telemetry file path."""
        return Path(self.telemetry_sqlite_path) if self.telemetry_sqlite_path else self.data_dir / "telemetry.db"

    @property
    def resolved_public_url(self) -> str:
        """Return the externally visible base URL without a trailing slash."""
        return (self.public_url or f"http://{self.web_host}:{self.web_port}").rstrip("/")

    @property
    def resolved_secret_key_path(self) -> Path:
        """Return the session signing key's file: ``secret_key_file`` or ``<data_dir>/secret_key``."""
        return Path(self.secret_key_file) if self.secret_key_file else self.data_dir / "secret_key"

    @property
    def attachments_dir(self) -> Path:
        """Return the folder of uploaded files (asset files, work-order photos): ``<data_dir>/attachments``."""
        return Path(self.data_dir) / "attachments"

    @property
    def resolved_backup_paths(self) -> list[Path]:
        """Return the ``backup_paths`` entries as paths, in the order given."""
        return [Path(item.strip()) for item in self.backup_paths.split(",") if item.strip()]

    @property
    def resolved_influx_rpc_address(self) -> str:
        """Return the InfluxDB backup service's host:port, defaulting to port 8088 on influx_url's host."""
        if self.influx_rpc_address:
            return self.influx_rpc_address
        host = urlsplit(self.influx_url).hostname or "127.0.0.1"
        return f"[{host}]:8088" if ":" in host else f"{host}:8088"

    def read_secret(self, key: str) -> str | None:
        """Return the secret held in the file named by ``key`` (a ``*_file`` field), or None."""
        path = getattr(self, key)
        if not path:
            return None
        try:
            mode = os.stat(path).st_mode
            secret = Path(path).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{key}: cannot read {path}: {exc.strerror}") from None
        if mode & stat.S_IROTH and path not in _WARNED:
            _WARNED.add(path)
            log.warning("%s: %s is readable by every user (mode %o); run: chmod o-rwx %s",
                        key, path, stat.S_IMODE(mode), path)
        return secret

    def with_overrides(self, **changes: Any) -> HubConfig:
        """Return a copy with ``changes`` applied and validated."""
        return load_config(base=self, overrides=changes)


FIELDS = {f.name: f for f in fields(HubConfig)}
#: settings that a TOML file may also give as an array of strings
_LIST_FIELDS = ("trusted_proxies", "backup_paths", "two_factor_roles", "ldap_group_roles")
#: list settings whose entries hold commas themselves (distinguished names)
_SEMICOLON_LISTS = ("ldap_group_roles",)

#: ``WARDLINK_*`` variables that are not hub settings but are read elsewhere: the config file,
#: the traceback switch, the enrollment settings, the Grafana token and the variables the
#: Grafana datasource files expand, the scripts' virtualenv, and the test suite's and the
#: benchmarks' server locations.
OTHER_VARIABLES = frozenset({
    "WARDLINK_CONFIG", "WARDLINK_DEBUG", "WARDLINK_ENROLLMENT_CONFIG", "WARDLINK_GRAFANA_TOKEN",
    "WARDLINK_INFLUX_USER", "WARDLINK_INFLUX_PASSWORD", "WARDLINK_INFLUX_TOKEN", "WARDLINK_VENV",
    "WARDLINK_CHROMIUM", "WARDLINK_INFLUXD", "WARDLINK_MOSQUITTO", "WARDLINK_NGINX", "WARDLINK_SLAPD",
})
#: prefixes of further families: Flask settings of the web UI (``WARDLINK_FLASK_*``), the
#: Grafana PostgreSQL datasource and the test suite's PostgreSQL (``WARDLINK_PG_*``), the
#: benchmarks and the test suite
OTHER_PREFIXES = ("WARDLINK_FLASK_", "WARDLINK_PG_", "WARDLINK_BENCH_", "WARDLINK_TEST_")


def env_name(key: str) -> str:
    """Return the environment variable that sets ``key``."""
    return f"WARDLINK_{key.upper()}"


def check_environment(environ: Mapping[str, str]) -> None:
    """Raise ConfigError for a ``WARDLINK_*`` variable that nothing reads (a misspelt setting)."""
    settings = {env_name(name) for name in FIELDS}
    for variable in sorted(environ):
        if (not variable.startswith("WARDLINK_") or variable in settings or variable in OTHER_VARIABLES
                or variable.startswith(OTHER_PREFIXES)):
            continue
        # compared without the common prefix, which would make every name look alike
        names = {name.removeprefix("WARDLINK_"): name for name in sorted(settings | OTHER_VARIABLES)}
        close = difflib.get_close_matches(variable.removeprefix("WARDLINK_"), names, n=1, cutoff=0.7)
        hint = f"did you mean {names[close[0]]}?" if close else "see docs/configuration.md for the settings"
        raise ConfigError(f"{variable}: unknown environment variable; {hint}")


_URL_CREDENTIALS = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^:@/?#]*):(.*)@([^@]*)$", re.DOTALL)
SECRET_MASK = "***"


def mask_secrets(value: str) -> str:
    """Return ``value`` with the password of a URL (``scheme://user:password@host``) as ``***``.

    Everything up to the last ``@`` counts as the password, so one containing ``@`` is masked whole.
    """
    match = _URL_CREDENTIALS.match(value)
    if match is None:
        return value
    scheme, user, _password, rest = match.groups()
    return f"{scheme}{user}:{SECRET_MASK}@{rest}"


#: The most proxy hops ``trusted_proxies`` may name (a longer chain is a mistake).
MAX_PROXY_HOPS = 10


def parse_trusted_proxies(value: str) -> int | tuple[IPv4Network | IPv6Network, ...]:
    """Return ``trusted_proxies`` as a hop count or a tuple of networks; raise ConfigError.

    An empty value trusts no proxy (hop count 0). A bare address is a one-address network.
    """
    text = (value or "").strip()
    if not text:
        return 0
    if text.isdigit():
        hops = int(text)
        if hops > MAX_PROXY_HOPS:
            raise ConfigError(f"trusted_proxies: at most {MAX_PROXY_HOPS} proxy hops, got {hops}")
        return hops
    networks = []
    for item in text.split(","):
        item = item.strip()
        try:
            networks.append(ip_network(item, strict=False))
        except ValueError:
            raise ConfigError("trusted_proxies: must be a number of proxy hops or addresses/networks "
                              f"separated by commas (e.g. 127.0.0.1, 10.0.0.0/8), got {item!r}") from None
    return tuple(networks)


def parse_time_of_day(name: str, value: str) -> time:
    """Return ``HH:MM`` (24-hour clock) as a :class:`datetime.time`; raise ConfigError."""
    text = str(value).strip()
    hours, sep, minutes = text.partition(":")
    if sep and len(minutes) == 2 and hours.isdigit() and minutes.isdigit() and len(hours) in (1, 2):
        if int(hours) < 24 and int(minutes) < 60:
            return time(int(hours), int(minutes))
    raise ConfigError(f"{name}: must be a time of day as HH:MM (00:00..23:59), got {value!r}")


def _coerce(name: str, value: Any) -> Any:
    f = FIELDS[name]
    kind = f.type if isinstance(f.type, type) else {"Path": Path, "str": str, "int": int, "bool": bool}[f.type]
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        if kind is Path:
            return Path(value)
        if name in _LIST_FIELDS and isinstance(value, list) and all(isinstance(v, str) for v in value):
            return ("; " if name in _SEMICOLON_LISTS else ", ").join(value)  # a TOML array
        if not isinstance(value, (str, int, float)):
            raise ValueError
        return str(value)
    except (TypeError, ValueError):
        expected = {bool: "true or false", int: "an integer", Path: "a path", str: "a string"}[kind]
        raise ConfigError(f"{name}: must be {expected}, got {value!r}") from None


def _validate(cfg: HubConfig) -> HubConfig:
    if cfg.telemetry not in TELEMETRY_BACKENDS:
        raise ConfigError(f"telemetry: must be one of {', '.join(TELEMETRY_BACKENDS)}, got {cfg.telemetry!r}")
    if cfg.telemetry == "influxdb" and not cfg.influx_url:
        raise ConfigError("influx_url: required when telemetry = 'influxdb'")
    if cfg.default_locale not in LANGUAGES:
        raise ConfigError(f"default_locale: must be one of {', '.join(LANGUAGES)}, got {cfg.default_locale!r}")
    if not 0 < cfg.web_port < 65536:
        raise ConfigError(f"web_port: must be 1..65535, got {cfg.web_port}")
    for key in ("ingest_metrics_port", "scheduler_metrics_port", "web_metrics_port"):
        if not 0 <= getattr(cfg, key) < 65536:
            raise ConfigError(f"{key}: must be 1..65535, or 0 for no listener, got {getattr(cfg, key)}")
    if not cfg.metrics_host.strip():
        raise ConfigError("metrics_host: must be an address, e.g. 127.0.0.1")
    if cfg.ingest_stall_s < 10:
        raise ConfigError(f"ingest_stall_s: must be at least 10 seconds, got {cfg.ingest_stall_s}")
    scheme = cfg.mqtt_url.split("://", 1)[0]
    if scheme not in ("mqtt", "mqtts") or "://" not in cfg.mqtt_url:
        raise ConfigError(f"mqtt_url: must start with mqtt:// or mqtts://, got {cfg.mqtt_url!r}")
    if cfg.grafana_url and not cfg.grafana_url.startswith(("http://", "https://")):
        raise ConfigError(f"grafana_url: must start with http:// or https://, got {cfg.grafana_url!r}")
    for key in ("stock_approval_value", "stock_approval_quantity"):
        if getattr(cfg, key) < 0:
            raise ConfigError(f"{key}: must be 0 or more, got {getattr(cfg, key)}")
    if not 1 <= cfg.repair_replace_percent <= 1000:
        raise ConfigError(f"repair_replace_percent: must be a percentage 1..1000, got {cfg.repair_replace_percent}")
    if cfg.notice_email_rate < 0:
        raise ConfigError(f"notice_email_rate: must be 0 (no limit) or more e-mails per second, "
                          f"got {cfg.notice_email_rate}")
    if cfg.gateway_stall_s < 10:
        raise ConfigError(f"gateway_stall_s: must be at least 10 seconds, got {cfg.gateway_stall_s}")
    if cfg.usage_training_policy not in ("warn", "block"):
        raise ConfigError(f"usage_training_policy: must be one of warn, block, got {cfg.usage_training_policy!r}")
    parse_trusted_proxies(cfg.trusted_proxies)
    _validate_ldap(cfg)
    parse_time_of_day("digest_time", cfg.digest_time)
    for path in cfg.resolved_backup_paths:
        if not path.is_absolute():
            raise ConfigError(f"backup_paths: each entry must be an absolute path, got {str(path)!r}")
    if cfg.mqtt_share_group and any(c in cfg.mqtt_share_group for c in "/+#"):
        raise ConfigError(f"mqtt_share_group: must not contain / + #, got {cfg.mqtt_share_group!r}")
    if cfg.database_password_file:
        if not cfg.database_url or cfg.database_url.startswith("sqlite"):
            raise ConfigError("database_password_file: needs a database_url naming a PostgreSQL server")
        if mask_secrets(cfg.database_url) != cfg.database_url:
            raise ConfigError("database_url: holds a password while database_password_file is set; "
                              "keep the password in the file only")
    return cfg


def _validate_ldap(cfg: HubConfig) -> None:
    if not cfg.ldap_url:
        return
    if not cfg.ldap_url.startswith(("ldap://", "ldaps://")):
        raise ConfigError(f"ldap_url: must start with ldap:// or ldaps://, got {cfg.ldap_url!r}")
    for key in ("ldap_user_base", "ldap_group_roles"):
        if not getattr(cfg, key).strip():
            raise ConfigError(f"{key}: required when ldap_url is set")
    if "{username}" not in cfg.ldap_user_filter:
        raise ConfigError(f"ldap_user_filter: must contain {{username}}, got {cfg.ldap_user_filter!r}")
    if cfg.ldap_group_base and "{user_dn}" not in cfg.ldap_group_filter:
        raise ConfigError(f"ldap_group_filter: must contain {{user_dn}}, got {cfg.ldap_group_filter!r}")
    if cfg.ldap_bind_dn and not cfg.ldap_bind_password_file:
        raise ConfigError("ldap_bind_password_file: required with ldap_bind_dn")
    if not 1 <= cfg.ldap_timeout_s <= 120:
        raise ConfigError(f"ldap_timeout_s: must be 1..120 seconds, got {cfg.ldap_timeout_s}")


#: The file the ``wardlink`` command reads when neither ``--config`` nor ``WARDLINK_CONFIG`` names
#: one and it exists: sudo's env_reset drops WARDLINK_CONFIG, so ``sudo wardlink ...`` still finds
#: the hub's settings (docs/deployment.md, "Admin commands and sudo"). Only the command line looks
#: here (:func:`find_config_file`); :func:`load_config` reads what it is given.
DEFAULT_CONFIG_FILE = Path("/etc/wardlink/hub.toml")


def find_config_file(given: str | os.PathLike | None, environ: Mapping[str, str]) -> tuple[str | None, str]:
    """Return the configuration file the ``wardlink`` command reads and how it was chosen:
    ``--config``, else ``$WARDLINK_CONFIG``, else :data:`DEFAULT_CONFIG_FILE` if it exists, else none."""
    if given:
        return str(given), "--config"
    if environ.get("WARDLINK_CONFIG"):
        return environ["WARDLINK_CONFIG"], "WARDLINK_CONFIG"
    if DEFAULT_CONFIG_FILE.is_file():
        return str(DEFAULT_CONFIG_FILE), "the default file; neither --config nor WARDLINK_CONFIG is given"
    return None, f"none: no --config, no WARDLINK_CONFIG and no {DEFAULT_CONFIG_FILE}"


def load_config(
    path: str | os.PathLike | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    base: HubConfig | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> HubConfig:
    """Build a :class:`HubConfig` from defaults, a TOML file, the environment, then overrides.

    ``path`` defaults to ``$WARDLINK_CONFIG`` when set. Unknown keys are errors, so a typo in
    a production file is caught at start-up rather than silently ignored.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = path or environ.get("WARDLINK_CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
        section = data.get("hub", data)
        for key, value in section.items():
            if key not in FIELDS:
                raise ConfigError(f"{key}: unknown setting in {path}; known: {', '.join(sorted(FIELDS))}")
            values[key] = _coerce(key, value)
    check_environment(environ)
    for name in FIELDS:
        env_key = env_name(name)
        if env_key in environ:
            values[name] = _coerce(name, environ[env_key])
    for key, value in (overrides or {}).items():
        if key not in FIELDS:
            raise ConfigError(f"{key}: unknown setting")
        values[key] = _coerce(key, value)
    return _validate(replace(base or HubConfig(), **values))
