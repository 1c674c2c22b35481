"""Assemble the hub's long-running parts from its configuration.

``wardlink hub ingest``, ``wardlink hub scheduler`` and ``wardlink demo`` build the same
rules engine, notification dispatcher and command client; they do it here, once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from wardlink.hub.config import HubConfig
from wardlink.hub.errors import ConfigError
from wardlink.clock import Clock

log = logging.getLogger("wardlink.runtime")


def command_client(config: HubConfig, client_id: str, *, timeout: float = 10.0):
    """Return a connected paho client for publishing gateway commands (its loop running)."""
    from wardlink.hub.ingest.worker import broker_address, mqtt_client
    from wardlink import mqtt as mqtt_adapter

    host, port, _ = broker_address(config.mqtt_url)
    client = mqtt_client(config, client_id, clean_session=True)
    connected = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: connected.set() if not rc.is_failure else None
    mqtt_adapter.start(client, host, port, 30)
    if not connected.wait(timeout):
        # Keep going: paho reconnects by itself and commands wait for it; say so once.
        log.warning("command client %s: broker %s not reachable yet; retrying in the background",
                    client_id, config.mqtt_url)
    return client


@dataclass
class RulesRuntime:
    """The rules engine with its notification dispatcher, and how to stop them."""

    engine: Any
    dispatcher: Any = None
    closers: list[Callable[[], Any]] = field(default_factory=list)

    def close(self) -> None:
        """Stop the dispatcher, the command client and the engine; idempotent."""
        while self.closers:
            try:
                self.closers.pop()()
            except Exception as exc:  # stopping: log and go on with the rest
                log.warning("stopping rules runtime: %s", exc)


def load_ruleset(path: str):
    """Return the validated rule set in ``path``; errors name the rule and key."""
    from wardlink.hub.rules import load_rules_file

    if not path:
        raise ConfigError("rules_file: no rules file configured (set rules_file or pass a FILE)")
    return load_rules_file(path)


def sync_ruleset(db_engine, path: str, *, clock: Clock | None = None):
    """Make the rules table match the rules file at ``path``; return the sync report."""
    from wardlink.hub.db import session_scope
    from wardlink.hub.rules import sync_rules

    ruleset = load_ruleset(path)
    with session_scope(db_engine) as session:
        return sync_rules(session, ruleset.rules, clock=clock)


def rules_runtime(config: HubConfig, db_engine, clock: Clock, *, client_id: str,
                  notices: bool = True) -> RulesRuntime:
    """Build the rules engine; with ``config.rules_file``, also its notifiers and dispatcher, and
    with ``notices`` and ``config.notice_email`` the mailer of notice e-mails.

    Rules themselves come from the database (``wardlink rules sync`` writes them there), so
    several hub processes share one definition; the file supplies the notifier targets. The
    mailer runs in the scheduler (and the demo), never in an ingest worker: its threads run at a
    lower CPU priority, and one of them holding the interpreter lock while the kernel makes it
    wait would stall the worker's readings.
    """
    from wardlink.hub.rules import RulesEngine

    runtime = RulesRuntime(engine=None)
    dispatcher = None
    if config.rules_file:
        from wardlink.hub.notify.config import build_notifiers
        from wardlink.hub.notify.dispatcher import Dispatcher

        ruleset = load_ruleset(config.rules_file)
        client = None
        if any(t.get("type") == "gateway" for t in ruleset.notifiers.values()):
            client = command_client(config, client_id)
            runtime.closers.append(lambda: (client.loop_stop(), client.disconnect()))
        notifiers = build_notifiers(ruleset.notifiers, clock=clock, mqtt_client=client)
        dispatcher = Dispatcher(db_engine, notifiers, clock=clock, default_locale=config.default_locale).start()
        runtime.closers.append(dispatcher.close)
        if notices and config.notice_email:
            from wardlink.hub.notify.notices import NoticeMailer
            from wardlink.hub.notify.pacing import MAILER_NICE
            from wardlink.hub.notify.smtp import EmailNotifier

            server = notifiers.get(config.notice_email)
            if not isinstance(server, EmailNotifier):
                raise ConfigError(f"notice_email: no e-mail notifier named {config.notice_email!r} in the rules file")
            mailer = NoticeMailer(db_engine, server, public_url=config.resolved_public_url,
                                  site_name=config.site_name, clock=clock,
                                  rate_per_s=config.notice_email_rate or None, nice=MAILER_NICE).start()
            runtime.closers.append(mailer.close)
    runtime.dispatcher = dispatcher
    runtime.engine = RulesEngine(db_engine, clock=clock, dispatcher=dispatcher,
                                 public_url=config.resolved_public_url, site_name=config.site_name,
                                 stall_min_s=config.gateway_stall_s)
    runtime.closers.insert(0, runtime.engine.close)
    return runtime
