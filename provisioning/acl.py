"""Who may publish and subscribe where: one identity per gateway, one for the hub.

The rules are data (:data:`GATEWAY_GRANTS`, :data:`HUB_GRANTS`); the dynamic-security plugin
and the plain ACL file are two renderings of the same table, so the two broker set-ups cannot
drift apart. Mosquitto 2.0's dynamic security has no ``%c``/``%u`` substitution in ACLs, which
is why every gateway gets a role of its own (``gw-<id>``) with its id written into each topic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from wardlink.provisioning.errors import SettingError
from wardlink.protocol import GATEWAY_ID_RE, TOPIC_ROOT

Access = Literal["publish", "subscribe"]

#: (access, topic suffix under wardlink/v1/<id>/) a gateway gets on its own topics only.
GATEWAY_GRANTS: tuple[tuple[Access, str], ...] = (
    ("publish", "telemetry"),
    ("publish", "events"),
    ("publish", "status"),  # also its retained status and Last Will
    ("publish", "cmd-result"),
    ("subscribe", "config"),
    ("subscribe", "cmd/#"),
)

#: (access, topic suffix under wardlink/v1/+/) the hub gets on every gateway's topics.
HUB_GRANTS: tuple[tuple[Access, str], ...] = (
    ("subscribe", "telemetry"),
    ("subscribe", "events"),
    ("subscribe", "status"),
    ("subscribe", "cmd-result"),
    ("publish", "config"),
    ("publish", "cmd/+"),
)

DEFAULT_HUB_USERNAME = "wardlink-hub"
DEFAULT_ADMIN_USERNAME = "wardlink-admin"
_USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Grant:
    """One permission: publish to, or subscribe to, a topic filter.

    ``shared`` subscriptions are also allowed as ``$share/<any group>/<topic>``: Mosquitto
    2.0.11 hands the whole ``$share/...`` filter to the dynamic-security check.
    """

    access: Access
    topic: str
    shared: bool = False


@dataclass(frozen=True, slots=True)
class Identity:
    """A broker login: user name, the role holding its grants, and a bound client id."""

    username: str
    role: str
    grants: tuple[Grant, ...]
    client_id: str | None = None  # None: any client id (several hub workers share a login)
    description: str = ""


def check_username(name: str, what: str = "username") -> str:
    """Return ``name`` if it is a safe broker user name, else raise SettingError."""
    if not isinstance(name, str) or not _USERNAME_RE.match(name):
        raise SettingError(f"{what}: must match {_USERNAME_RE.pattern} (letters, digits, _ . -), got {name!r}")
    return name


def check_gateway_id(gateway_id: str) -> str:
    """Return ``gateway_id`` if it is a valid protocol gateway id, else raise SettingError."""
    if not isinstance(gateway_id, str) or not GATEWAY_ID_RE.match(gateway_id):
        raise SettingError(f"gateway id: must match {GATEWAY_ID_RE.pattern}, got {gateway_id!r}")
    return gateway_id


def gateway_client_id(gateway_id: str) -> str:
    """Return the MQTT client id the gateway runtime uses (edge ``GatewayConfig.client_id``)."""
    return f"wardlink-gw-{check_gateway_id(gateway_id)}"


def gateway_role(gateway_id: str) -> str:
    """Return the name of the dynamic-security role of one gateway."""
    return f"gw-{check_gateway_id(gateway_id)}"


def gateway_identity(gateway_id: str) -> Identity:
    """Return the identity of a gateway: its id is its user name and fixes every topic."""
    check_gateway_id(gateway_id)
    grants = tuple(Grant(access, f"{TOPIC_ROOT}/{gateway_id}/{suffix}") for access, suffix in GATEWAY_GRANTS)
    return Identity(gateway_id, gateway_role(gateway_id), grants, gateway_client_id(gateway_id),
                    f"Wardlink gateway {gateway_id}")


def hub_identity(username: str = DEFAULT_HUB_USERNAME) -> Identity:
    """Return the identity shared by the hub's ingest workers and web UI."""
    check_username(username, "hub username")
    grants = tuple(Grant(access, f"{TOPIC_ROOT}/+/{suffix}", shared=access == "subscribe")
                   for access, suffix in HUB_GRANTS)
    return Identity(username, "wardlink-hub", grants, None, "Wardlink hub (ingest, web, scheduler)")


# ------------------------------------------------------------------ renderings

_DYNSEC_TYPES = {"publish": "publishClientSend", "subscribe": "subscribePattern"}
_FILE_ACCESS = {"publish": "write", "subscribe": "read"}


def dynsec_acls(identity: Identity) -> list[dict]:
    """Return the role ACL list of ``identity`` in the dynamic-security JSON format."""
    acls = []
    for grant in identity.grants:
        topics = [grant.topic] + ([f"$share/+/{grant.topic}"] if grant.shared else [])
        acls += [{"acltype": _DYNSEC_TYPES[grant.access], "topic": t, "priority": 0, "allow": True}
                 for t in topics]
    return acls


def acl_file_section(identity: Identity) -> str:
    """Return the ``user`` block of ``identity`` for a Mosquitto ``acl_file``."""
    lines = [f"user {identity.username}"]
    lines += [f"topic {_FILE_ACCESS[g.access]} {g.topic}" for g in identity.grants]
    return "\n".join(lines) + "\n"


def render_acl_file(identities: list[Identity]) -> str:
    """Return a whole Mosquitto ACL file for ``identities`` (everything else is denied)."""
    header = (
        "# Mosquitto ACL file written by `wardlink broker` - edit with that command, not by hand.\n"
        "# Anything not listed is denied. Mosquitto 2.0 grants a SUBSCRIBE to a filter a user may\n"
        "# not read but then delivers nothing on it; the dynamic-security plugin refuses it outright.\n"
    )
    return header + "".join("\n" + acl_file_section(i) for i in identities)
