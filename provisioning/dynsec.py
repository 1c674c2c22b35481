"""Broker identities through Mosquitto's dynamic-security plugin (``$CONTROL/dynamic-security/v1``).

Each gateway gets a client (user name = gateway id, bound to the client id the gateway
runtime uses, so no login can take over another gateway's persistent session) and a role
``gw-<id>`` with the grants of :mod:`wardlink.provisioning.acl`. ``disableClient`` and ``deleteClient``
disconnect every session of that login on the spot.

:func:`initial_config` writes the plugin's start-up file directly (the same content
``mosquitto_ctrl dynsec init`` would produce, plus the hub's login), so a fresh broker starts
with an admin that can do nothing but administer the plugin, and a hub that can ingest.
"""

from __future__ import annotations

import uuid

from wardlink.provisioning.acl import (
    DEFAULT_ADMIN_USERNAME,
    DEFAULT_HUB_USERNAME,
    Identity,
    check_gateway_id,
    check_username,
    dynsec_acls,
    gateway_identity,
    gateway_role,
    hub_identity,
)
from wardlink.provisioning.errors import DynsecCommandError, IdentityNotFound
from wardlink.provisioning.identities import IdentityInfo
from wardlink.provisioning.mqttadmin import AdminConnection, BrokerAddress
from wardlink.provisioning.passwords import dynsec_password

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
ADMIN_ROLE = "wardlink-dynsec-admin"
#: The plugin's answers that mean "already as wanted" for idempotent calls.
_EXISTS = {"Client already exists", "Role already exists"}
_MISSING = {"Client not found", "Role not found"}

#: Plain MQTT rights are refused unless a role grants them; receiving is then allowed because
#: a login can only receive what its (checked) subscriptions match.
DEFAULT_ACL_ACCESS = {"publishClientSend": False, "publishClientReceive": True,
                      "subscribe": False, "unsubscribe": True}


def _admin_acls() -> list[dict]:
    topic = "$CONTROL/dynamic-security/#"
    return [{"acltype": kind, "topic": topic, "priority": 0, "allow": True}
            for kind in ("publishClientSend", "publishClientReceive", "subscribePattern")]


def _client_entry(identity: Identity, password: str) -> dict:
    entry = {"username": identity.username, "textname": identity.description,
             "roles": [{"rolename": identity.role}], **dynsec_password(password)}
    if identity.client_id:
        entry["clientid"] = identity.client_id
    return entry


def initial_config(admin_password: str, hub_password: str, *, admin_username: str = DEFAULT_ADMIN_USERNAME,
                   hub_username: str = DEFAULT_HUB_USERNAME) -> dict:
    """Return the plugin's start-up JSON: default-deny, an admin login, the hub login."""
    check_username(admin_username, "admin username")
    hub = hub_identity(hub_username)
    admin = Identity(admin_username, ADMIN_ROLE, (), None, "Wardlink broker administration")
    return {
        "defaultACLAccess": dict(DEFAULT_ACL_ACCESS),
        "clients": [_client_entry(admin, admin_password), _client_entry(hub, hub_password)],
        "groups": [],
        "roles": [
            {"rolename": ADMIN_ROLE, "textname": "administer the dynamic-security plugin only",
             "acls": _admin_acls()},
            {"rolename": hub.role, "textname": hub.description, "acls": dynsec_acls(hub)},
        ],
    }


class DynsecClient:
    """Send commands to the plugin over an admin connection; a context manager."""

    def __init__(self, address: BrokerAddress, username: str, password: str, *, timeout: float = 10.0) -> None:
        self._conn = AdminConnection(address, username, password, timeout=timeout)

    def open(self) -> DynsecClient:
        """Connect and subscribe to the plugin's answers."""
        self._conn.open()
        try:
            self._conn.subscribe(RESPONSE_TOPIC)
        except Exception:
            self._conn.close()
            raise
        return self

    def close(self) -> None:
        """Disconnect; idempotent."""
        self._conn.close()

    def __enter__(self) -> DynsecClient:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def execute(self, *commands: dict, tolerate: frozenset[str] | set[str] = frozenset()) -> list[dict]:
        """Run ``commands`` in one message and return their answers in order.

        An answer with an ``error`` raises :class:`DynsecCommandError` unless the error text is
        in ``tolerate`` (then the answer is returned with its error for the caller to read).
        """
        tag = uuid.uuid4().hex
        tagged = [{**c, "correlationData": f"{tag}-{i}"} for i, c in enumerate(commands)]

        def ours(body: dict) -> bool:
            answers = body.get("responses") or []
            return bool(answers) and answers[0].get("correlationData") == f"{tag}-0"

        body = self._conn.request(CONTROL_TOPIC, {"commands": tagged}, RESPONSE_TOPIC, ours)
        answers = body["responses"]
        for answer in answers:
            error = answer.get("error")
            if error and error not in tolerate:
                raise DynsecCommandError(answer.get("command", "?"), error)
        return answers


class DynsecIdentities:
    """The :class:`~wardlink.provisioning.identities.IdentityStore` of a broker running the plugin."""

    def __init__(self, client: DynsecClient) -> None:
        self.client = client

    def _put_identity(self, identity: Identity, password: str) -> Identity:
        acls = dynsec_acls(identity)
        role_answer, client_answer = self.client.execute(
            {"command": "createRole", "rolename": identity.role, "textname": identity.description, "acls": acls},
            {"command": "createClient", **_client_entry_plain(identity, password)},
            tolerate=_EXISTS,
        )
        # Re-adding resets the grants, password, bound client id and enables the login, so the
        # call is idempotent and also repairs a role someone edited by hand.
        updates = []
        if role_answer.get("error"):
            updates.append({"command": "modifyRole", "rolename": identity.role, "acls": acls})
        if client_answer.get("error"):
            updates += [{"command": "modifyClient", **_client_entry_plain(identity, password)},
                        {"command": "enableClient", "username": identity.username}]
        if updates:
            self.client.execute(*updates)
        return identity

    def add_gateway(self, gateway_id: str, password: str) -> Identity:
        """Create (or reset and enable) the gateway's login and its role ``gw-<id>``."""
        return self._put_identity(gateway_identity(gateway_id), password)

    def ensure_hub(self, password: str, username: str = DEFAULT_HUB_USERNAME) -> Identity:
        """Create (or reset and enable) the hub's login and role."""
        return self._put_identity(hub_identity(username), password)

    def set_password(self, username: str, password: str) -> None:
        """Give an existing login a new password."""
        self._checked("setClientPassword", username, password=password)

    def set_enabled(self, username: str, enabled: bool) -> None:
        """Enable or disable a login; disabling kicks its sessions."""
        self._checked("enableClient" if enabled else "disableClient", username)

    def remove_gateway(self, gateway_id: str) -> None:
        """Delete the gateway's login (kicking its sessions) and then its role."""
        check_gateway_id(gateway_id)
        self._checked("deleteClient", gateway_id)
        self.client.execute({"command": "deleteRole", "rolename": gateway_role(gateway_id)}, tolerate=_MISSING)

    def identities(self) -> list[IdentityInfo]:
        """Return every client the plugin holds."""
        (answer,) = self.client.execute({"command": "listClients", "verbose": True, "count": -1, "offset": 0})
        result = []
        for c in answer.get("data", {}).get("clients", []):
            roles = {r.get("rolename") for r in c.get("roles", [])}
            kind = ("hub" if "wardlink-hub" in roles else
                    "gateway" if f"gw-{c['username']}" in roles else "other")
            result.append(IdentityInfo(c["username"], kind, not c.get("disabled", False), c.get("clientid")))
        return result

    def _checked(self, command: str, username: str, **fields) -> None:
        check_username(username)
        (answer,) = self.client.execute({"command": command, "username": username, **fields}, tolerate=_MISSING)
        if answer.get("error"):
            raise IdentityNotFound(f"{username}: no such broker login")


def _client_entry_plain(identity: Identity, password: str) -> dict:
    """Return createClient/modifyClient fields (the plugin hashes the clear password itself)."""
    entry = {"username": identity.username, "password": password, "textname": identity.description,
             "roles": [{"rolename": identity.role, "priority": 0}]}
    if identity.client_id:
        entry["clientid"] = identity.client_id
    return entry
