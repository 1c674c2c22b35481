"""``wardlink hub ingest|web|scheduler``: the hub's long-running services, and how each is watched.

Each service, under systemd (``Type=notify``), says ``READY=1`` once it works, pets the
watchdog (``WatchdogSec=``) on a thread of its own only while its main loop goes round, and
says ``STOPPING=1`` on SIGTERM (:class:`Supervision`, :mod:`wardlink.systemd`). With a metrics
port configured it serves ``/metrics`` and ``/health`` on a listener of its own
(:mod:`wardlink.monitor`); a port another process holds stops it at start with one line.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from typing import Callable, Mapping

from wardlink.cli import add_command, add_group
from wardlink.hub.cli_common import hub_config as _config
from wardlink.hub.errors import ConfigError, HubError
from wardlink.metrics import Family, render
from wardlink.monitor import HealthReport, MonitorServer
from wardlink.systemd import Notifier, Watchdog, watchdog_period

log = logging.getLogger("wardlink")


class Supervision:
    """The systemd notifications, watchdog and monitoring listener of one hub process."""

    def __init__(self, name: str, environ: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.notifier = Notifier.from_environ(environ)
        self.period = watchdog_period(environ) if self.notifier.enabled else None
        self.monitor: MonitorServer | None = None
        self.watchdog: Watchdog | None = None
        self._stop = threading.Event()

    def max_silence(self, default: float) -> float:
        """Return how long the main loop may be silent: half the watchdog period, or ``default``."""
        return self.period / 2 if self.period else default

    def listen(self, host: str, port: int, *, families: Callable[[], list[Family]],
               health: Callable[[], HealthReport]) -> None:
        """Serve /metrics and /health on ``host:port`` (no listener for port 0); raise MonitorError."""
        if port:
            self.monitor = MonitorServer(self.name, metrics=lambda: render(families()), health=health)
            self.monitor.start(host, port)

    def ready(self, status: str, check: Callable[[], str | None]) -> None:
        """Tell systemd the service works; pet its watchdog from now on while ``check()`` finds nothing."""
        if self.period:
            self.watchdog = Watchdog(self.notifier, self.period, check, service=self.name)
            self.watchdog.start_thread(self._stop)
        self.notifier.ready(status)

    def close(self) -> None:
        """Tell systemd the service stops; stop the watchdog and the listener (idempotent)."""
        if not self._stop.is_set():
            self.notifier.stopping()
        self._stop.set()
        if self.monitor is not None:
            self.monitor.close()
        self.notifier.close()


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum, _frame):
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _metrics_port(what: str, configured: int, flag: int | None, offset: int = 0) -> int:
    """Return the port to listen on (0: none): ``--metrics-port`` or the setting, plus ``offset``."""
    base = configured if flag is None else flag
    if base and not 0 < base + offset < 65536:
        raise ConfigError(f"{what}: {base} + --metrics-offset {offset} is not a port (1..65535)")
    return base + offset if base else 0


def cmd_hub_ingest(args) -> int:
    """Run one MQTT ingest worker until SIGTERM."""
    from wardlink.hub.db import check_current, open_engine
    from wardlink.hub.db.audit_key import use_audit_key
    from wardlink.hub.db.resolver import DbResolver
    from wardlink.hub.ingest import IngestWorker
    from wardlink.hub.ingest.monitoring import ingest_families, ingest_health, watchdog_problem
    from wardlink.hub.runtime import rules_runtime
    from wardlink.hub.telemetry import open_store
    from wardlink.clock import SystemClock

    config = _config(args)
    if args.client_id:
        config = config.with_overrides(mqtt_client_id=args.client_id)
    if args.group:
        config = config.with_overrides(mqtt_share_group=args.group)
    port = _metrics_port("ingest_metrics_port", config.ingest_metrics_port, args.metrics_port, args.metrics_offset)
    clock = SystemClock()
    engine = open_engine(config.resolved_database_url)
    try:
        check_current(engine)  # every table the worker writes comes from the migrations
    except HubError:
        engine.dispose()
        raise
    use_audit_key(config, engine)
    store = open_store(config)
    rules = rules_runtime(config, engine, clock, client_id=f"{config.mqtt_client_id}-cmd", notices=False)
    # The rules engine hears every batch after it is committed and before it is acknowledged.
    worker = IngestWorker(config, store, DbResolver(engine), clock, listeners=[rules.engine])
    if args.retire:
        return _retire_worker(worker, args, lambda: (rules.close(), store.close(), engine.dispose()))
    supervision = Supervision(f"ingest {config.mqtt_client_id}")
    stop = threading.Event()
    try:
        for heartbeat in worker.context.heartbeats.values():
            heartbeat.max_silence_s = supervision.max_silence(heartbeat.max_silence_s)
        supervision.listen(config.metrics_host, port,
                           families=lambda: ingest_families(worker, stall_after_s=config.ingest_stall_s),
                           health=lambda: ingest_health(worker, stall_after_s=config.ingest_stall_s))
        _stop_on_signals(stop)
        worker.start()
        log.info("ingest worker %s running against %s", config.mqtt_client_id, config.mqtt_url)
        supervision.ready(f"ingest {config.mqtt_client_id}: broker {worker.broker}", lambda: watchdog_problem(worker))
        while not stop.wait(1.0):
            if not worker.is_running:
                log.error("ingest worker stopped unexpectedly; exiting so the service manager restarts it")
                return 1
    finally:
        supervision.close()
        worker.stop()
        rules.close()
        store.close()
        engine.dispose()
    return 0


def _retire_worker(worker, args, close) -> int:
    """Drain the worker's persistent session, remove it from the broker, print what was done."""
    from wardlink.hub.ingest.retire import RetireError, retire

    if args.quiet_s <= 0:
        raise ConfigError(f"--drained-after: must be > 0 seconds, got {args.quiet_s}")
    log.info("retiring ingest worker %s: draining its session", worker.client_id)
    try:
        report = retire(worker, quiet_s=args.quiet_s)
    except RetireError as exc:
        print(f"wardlink hub ingest --retire: {exc}", file=sys.stderr)
        return 1
    finally:
        close()
    print(json.dumps({"client_id": report.client_id, "drained": report.drained,
                      "points_written": report.points_written, "session_removed": report.session_removed}))
    return 0


def cmd_hub_web(args) -> int:
    """Serve the admin UI and JSON API with waitress."""
    from wardlink.hub.web import WebServer, serve
    from wardlink.hub.web.monitoring import web_families, web_health

    config = _config(args)
    overrides = {}
    if args.host:
        overrides["web_host"] = args.host
    if args.port:
        overrides["web_port"] = args.port
    if overrides:
        config = config.with_overrides(**overrides)
    port = _metrics_port("web_metrics_port", config.web_metrics_port, args.metrics_port)
    supervision = Supervision("web")

    def started(server: WebServer) -> Callable[[], None]:
        state = server.app.extensions["wardlink"]
        supervision.listen(config.metrics_host, port, families=lambda: web_families(state),
                           health=lambda: web_health(state))
        supervision.ready(f"web UI on {server.host}:{server.port}", server.problem)
        return supervision.close

    serve(config, threads=args.threads, started=started)
    return 0


def cmd_hub_scheduler(args) -> int:
    """Run the scheduler (leader or standby) until SIGTERM."""
    from wardlink.hub.db import check_current, open_engine
    from wardlink.hub.db.audit_key import use_audit_key
    from wardlink.hub.runtime import rules_runtime
    from wardlink.hub.scheduler import Scheduler
    from wardlink.hub.scheduler.monitoring import scheduler_families, scheduler_health
    from wardlink.clock import SystemClock

    config = _config(args)
    if args.round <= 0:
        raise ConfigError(f"--round: must be > 0 seconds, got {args.round}")
    if args.retention_days is not None and args.retention_days <= 0:
        raise ConfigError(f"--retention-days: must be > 0, got {args.retention_days}")
    port = 0 if args.once else _metrics_port("scheduler_metrics_port", config.scheduler_metrics_port,
                                             args.metrics_port)
    clock = SystemClock()
    engine = open_engine(config.resolved_database_url)
    closers = [engine.dispose]
    try:
        check_current(engine)
        use_audit_key(config, engine)
        if args.retention_days is not None and config.telemetry != "sqlite":
            raise ConfigError("--retention-days: applies to the SQLite telemetry store; "
                              "InfluxDB keeps data by its own retention policy")
        from wardlink.hub.telemetry import open_store

        # Utility roll-ups read the store; retention prunes it (SQLite only).
        telemetry = open_store(config)
        closers.append(telemetry.close)
        if args.rules:
            config = config.with_overrides(rules_file=args.rules)
        runtime = rules_runtime(config, engine, clock, client_id=f"wardlink-scheduler-{os.getpid()}-cmd")
        closers.append(runtime.close)
        scheduler = Scheduler(engine, clock=clock, holder=args.holder, rules=runtime.engine, telemetry=telemetry,
                              retention_days=args.retention_days, digest_at=config.digest_at,
                              public_url=config.resolved_public_url, site_name=config.site_name,
                              default_locale=config.default_locale)
        if args.once:
            report = scheduler.run_once()
            scheduler.close()
            print(json.dumps({"leader": report.leader, "ran": report.ran, "failed": report.failed},
                             default=str, sort_keys=True))
            return 1 if report.failed else 0
        supervision = Supervision(f"scheduler {scheduler.holder}")
        closers.append(supervision.close)
        scheduler.heartbeat.max_silence_s = supervision.max_silence(scheduler.heartbeat.max_silence_s)
        supervision.listen(config.metrics_host, port, families=lambda: scheduler_families(scheduler),
                           health=lambda: scheduler_health(scheduler))
        stop = threading.Event()
        _stop_on_signals(stop)
        log.info("scheduler %s started; rounds every %g s", scheduler.holder, args.round)
        supervision.ready(f"scheduler {scheduler.holder}", scheduler.heartbeat.problem)
        scheduler.run(stop, round_s=args.round)
        log.info("scheduler %s stopped", scheduler.holder)
    finally:
        while closers:
            closers.pop()()
    return 0


def add_service_commands(sub) -> None:
    """Add ``wardlink hub ingest|web|scheduler``."""
    hub_sub = add_group(sub, "hub", "run a hub service (ingest, web, scheduler)",
                        "Run one of the hub's long-running services.", dest="service", metavar="SERVICE")
    p = add_command(hub_sub, "ingest", cmd_hub_ingest, "run an MQTT ingest worker",
                    "Subscribe to gateway telemetry, events and status; commit to the "
                    "telemetry store and acknowledge only after the commit.")
    p.add_argument("--client-id", help="stable MQTT client id of this worker (overrides mqtt_client_id)")
    p.add_argument("--group", help="shared-subscription group so several workers split the load")
    p.add_argument("--retire", action="store_true",
                   help="retire the worker of --client-id for good: store and acknowledge what its persistent "
                        "session still holds, leave the group, remove the session from the broker, then exit")
    p.add_argument("--drained-after", dest="quiet_s", type=float, default=3.0, metavar="SECONDS",
                   help="with --retire: seconds without a delivery that count as a drained session (default: 3)")
    _metrics_options(p, "ingest_metrics_port")
    p.add_argument("--metrics-offset", type=int, default=0, metavar="N",
                   help="add N to the metrics port, so workers on one host listen apart "
                        "(the systemd unit passes its instance number; default: 0)")
    p = add_command(hub_sub, "web", cmd_hub_web, "serve the admin UI and JSON API",
                    "Serve the admin UI and the /api/v1 JSON API with waitress.")
    p.add_argument("--host", help="listen address (overrides web_host)")
    p.add_argument("--port", type=int, help="listen port (overrides web_port)")
    p.add_argument("--threads", type=int, default=8, help="worker threads (default: 8)")
    _metrics_options(p, "web_metrics_port")
    p = add_command(
        hub_sub, "scheduler", cmd_hub_scheduler, "run the scheduler: PM generation, escalations, rules tick, retention",
        "Run the hub's periodic jobs: generate preventive-maintenance work orders ahead of "
        "their due dates (exactly once), recompute maintenance status, escalate overdue PM and "
        "SLA breaches, tick the rules engine, send the daily digests and make the monthly KPI "
        "reports (each exactly once), and prune old SQLite telemetry. Start one on "
        "each of several hosts for failover: one leads (a database lock), the others wait "
        "as standbys. SIGTERM stops it cleanly and hands the lead over at once.")
    p.add_argument("--round", type=float, default=5.0, metavar="SECONDS",
                   help="seconds between rounds; each job runs on its own period (default: 5)")
    p.add_argument("--holder", help="name of this scheduler in the lease and logs (default: host:pid)")
    p.add_argument("--rules", metavar="FILE",
                   help="rules file whose notifier targets deliver alert notifications (overrides rules_file)")
    p.add_argument("--retention-days", type=float, metavar="DAYS",
                   help="roll SQLite telemetry older than this into hourly rollups (default: keep raw)")
    p.add_argument("--once", action="store_true",
                   help="run one round, print what it did as JSON, and exit (for cron or checks)")
    _metrics_options(p, "scheduler_metrics_port")


def _metrics_options(p, setting: str) -> None:
    p.add_argument("--metrics-port", type=int, metavar="PORT",
                   help=f"serve /metrics and /health on PORT at metrics_host (overrides {setting}; 0: no listener)")
