"""`wardlink backup` and `wardlink restore`: backup, wipe, restore, and the same hub comes back.

Every round trip runs the real command line on real stores (SQLite and PostgreSQL, the SQLite
telemetry file and influxd) and compares what the tables hold before and after; the audit
chain is keyed with a key file outside the database, so an intact `audit verify` after the
restore shows the key came back with the rows.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import tarfile
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from relational_support import T0_MS, actor, seeded_sqlite_url
from sqlalchemy import text
from sqlalchemy.engine import make_url

from wardlink.clock import ManualClock
from wardlink.hub.cli import main
from wardlink.hub.config import load_config
from wardlink.hub.db import current_revision, downgrade, head_revision, open_engine, session_scope
from wardlink.hub.db.audit_key import use_audit_key
from wardlink.hub.db.migrate import alembic_config
from wardlink.hub.services.assets import register
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.telemetry import Point, open_store
from wardlink.provisioning.certs import make_certificates
from wardlink.provisioning.dynsec import initial_config

#: tables compared row for row before the backup and after the restore
TABLES = ("assets", "work_orders", "audit_log", "audit_chain_keys", "users")


class Site:
    """A hub's files in one folder: its config, data dir, broker CA and dynamic-security file."""

    def __init__(self, root: Path, database_url: str, **settings: str):
        self.root = root
        self.config = root / "etc" / "hub.toml"
        self.data = root / "data"
        self.certs = root / "certs"
        self.dynsec = root / "mosquitto" / "dynamic-security.json"
        self.hub_secret = root / "etc" / "mqtt-hub.secret"
        self.database_url = database_url
        lines = [f'data_dir = "{self.data}"', f'database_url = "{database_url}"', 'site_name = "St Elsewhere"',
                 f'mqtt_password_file = "{self.hub_secret}"',
                 f'backup_paths = ["{self.certs}", "{self.dynsec}"]',
                 *(f'{key} = "{value}"' for key, value in settings.items())]
        self.config.parent.mkdir(parents=True)
        self.config.write_text("\n".join(lines) + "\n")
        self.data.mkdir()

    def wardlink(self, capsys, *words: str) -> tuple[int, str, str]:
        """Run `wardlink --config <site config> WORDS`; return (status, stdout, stderr)."""
        capsys.readouterr()
        code = main(["--config", str(self.config), *words])
        out = capsys.readouterr()
        return code, out.out, out.err

    def populate(self) -> None:
        """Key the audit chain, add an asset and a work order (audited), telemetry, the broker files."""
        config = load_config(self.config, environ={})
        self.hub_secret.write_text("hub-password\n")
        self.hub_secret.chmod(0o600)
        make_certificates(self.certs, dns_names=["broker.example"], ips=[], clients=[])
        self.dynsec.parent.mkdir(parents=True)
        self.dynsec.write_text(json.dumps(initial_config("admin-password", "hub-password")))
        self.dynsec.chmod(0o640)
        engine = open_engine(config.resolved_database_url)
        try:
            use_audit_key(config, engine)  # creates <data>/audit_key and keys the chain from here
            clock = ManualClock(T0_MS / 1000 + 7200)
            with session_scope(engine) as session:
                who = actor(session, "manager")
                register.create_asset(session, {"tag": "BK-0001", "name": "Backup test pump",
                                                "category": "Infusion pump"}, actor=who, clock=clock)
                workorders.create_work_order(session, {"kind": "corrective", "title": "Occlusion alarm",
                                                       "asset_tag": "BK-0001"}, actor=who, clock=clock)
        finally:
            engine.dispose()
        (self.data / "secret_key").write_text("s" * 64 + "\n")
        photo = self.data / "attachments" / "ab" / ("ab" + "0" * 62)  # an uploaded file, by its digest
        photo.parent.mkdir(parents=True)
        photo.write_bytes(b"\xff\xd8 a photo of the occlusion alarm")
        (self.data / "web.toml").write_text("MAX_CONTENT_LENGTH = 10000000\n")
        self.data.chmod(0o750)
        if config.telemetry == "sqlite":
            store = open_store(config)
            try:
                store.write([Point.of("temperature", {"gateway": "gw-icu-01", "channel": "fridge1.temp"},
                                      T0_MS + i * 1000, 4.0 + i / 10) for i in range(50)])
            finally:
                store.close()

    def snapshot(self) -> dict:
        """Return every row of TABLES, the telemetry count and the files' bytes and modes."""
        config = load_config(self.config, environ={})
        engine = open_engine(config.resolved_database_url)
        try:
            with engine.connect() as conn:
                rows = {t: [dict(r._mapping) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY id"))]
                        for t in TABLES}
        finally:
            engine.dispose()
        store = open_store(config)
        try:
            rows["points"] = store.count()
        finally:
            store.close()
        files = [self.config, self.hub_secret, self.dynsec, self.data / "audit_key", self.data / "secret_key",
                 self.data / "web.toml", *sorted(self.certs.iterdir()),
                 *sorted(p for p in (self.data / "attachments").rglob("*") if p.is_file())]
        rows["files"] = {str(p): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode)) for p in files}
        rows["data_dir_mode"] = stat.S_IMODE(self.data.stat().st_mode)
        return rows

    def wipe(self, request) -> None:
        """Remove every file of the site, and empty its database (a new machine's)."""
        for child in self.root.iterdir():
            shutil.rmtree(child)
        url = make_url(self.database_url)
        if url.get_backend_name() == "postgresql":
            server = request.getfixturevalue("postgres_server")
            server.drop_database(url.database)
            server.create_database(url.database)
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(url.database + suffix).unlink(missing_ok=True)


def same_data(after: dict, before: dict) -> bool:
    """Return True when ``after`` holds ``before``'s rows and files; columns a later migration
    added are left out of the comparison (every column ``before`` had must be equal)."""
    for table in TABLES:
        columns = set(before[table][0]) if before[table] else set()
        if [{c: row[c] for c in columns} for row in after[table]] != before[table]:
            return False
    return all(after[key] == before[key] for key in before if key not in TABLES)


def only_archive(folder: Path) -> Path:
    archives = list(folder.glob("wardlink-backup-*.tar.gz"))
    assert len(archives) == 1, archives
    return archives[0]


@pytest.fixture
def site(tmp_path, relational_url):
    """A populated-to-be hub on this test's relational store (SQLite and PostgreSQL)."""
    return Site(tmp_path / "site", relational_url)


@pytest.fixture
def sqlite_site(tmp_path):
    """A hub on a copy of the seeded SQLite database."""
    return Site(tmp_path / "site", seeded_sqlite_url(tmp_path))


def test_backup_wipe_restore_gives_the_same_hub_and_an_intact_audit_chain(site, tmp_path, capsys, request):
    site.populate()
    before = site.snapshot()
    assert before["points"] == 50 and len(before["audit_log"]) > 2 and before["audit_chain_keys"]
    backups = tmp_path / "backups"
    backups.mkdir()

    code, out, err = site.wardlink(capsys, "backup", "--out", str(backups))
    assert code == 0, err
    archive = only_archive(backups)
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert "relational store" in err and "telemetry" in err  # progress on stderr
    with tarfile.open(archive) as tar:
        assert tar.getnames()[0] == "manifest.json"
        manifest = json.load(tar.extractfile("manifest.json"))
        assert set(manifest["files"]) == set(tar.getnames()[1:])
    assert manifest["alembic_revision"] == head_revision()
    assert manifest["site"] == "St Elsewhere" and manifest["created_at"].endswith("+00:00")
    names = {part["name"] for part in manifest["parts"]}
    assert {"relational", "telemetry", "config", "file:audit_key_file", "file:secret_key_file",
            "file:mqtt_password_file", f"path:{site.certs}", f"path:{site.dynsec}", "data:attachments",
            "data:web.toml"} <= names
    assert site.database_url.split("@")[-1] in manifest["parts"][0]["source"]

    site.wipe(request)
    code, out, err = site.wardlink(capsys, "restore", str(archive))
    assert code == 0, err
    assert "audit trail intact" in out and "keyed from row" in out
    assert site.snapshot() == before
    code, out, err = site.wardlink(capsys, "audit", "verify")
    assert code == 0 and "audit trail intact" in out, err

    # A second restore onto the restored hub is refused without --force, and replaces it with.
    code, out, err = site.wardlink(capsys, "restore", str(archive))
    assert code == 2 and "is not empty" in err and "--force" in err
    code, out, err = site.wardlink(capsys, "restore", "--force", str(archive))
    assert code == 0, err
    assert f"{site.config} kept" in out and "relational store ->" in err  # progress on stderr
    assert site.snapshot() == before


def rewrite(archive: Path, target: Path, change) -> None:
    """Copy ``archive`` to ``target`` with ``change(name, data)`` applied to every member's bytes."""
    with tarfile.open(archive) as src, tarfile.open(target, "w:gz") as dst:
        for info in src:
            data = change(info.name, src.extractfile(info).read())
            if data is None:
                continue
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))


def test_an_altered_or_truncated_archive_is_refused_and_nothing_is_written(sqlite_site, tmp_path, capsys, request):
    site = sqlite_site
    site.populate()
    backups = tmp_path / "backups"
    backups.mkdir()
    assert site.wardlink(capsys, "backup", "--out", str(backups))[0] == 0
    archive = only_archive(backups)
    site.wipe(request)

    def flip(name, data):  # one byte of the audit key changed
        return data[:-2] + bytes([data[-2] ^ 1]) + data[-1:] if name.endswith("audit_key") else data

    cases = {
        "altered.tar.gz": (lambda t: rewrite(archive, t, flip), "does not match its checksum"),
        "missing.tar.gz": (lambda t: rewrite(archive, t, lambda n, d: None if n.endswith("secret_key") else d),
                           "missing"),
        "extra.tar.gz": (lambda t: rewrite(archive, t, lambda n, d: d) or _append(t, "config/extra.toml"),
                         "not listed in the manifest"),
        "truncated.tar.gz": (lambda t: t.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2]),
                             "truncated or damaged"),
    }
    for name, (make, message) in cases.items():
        bad = tmp_path / name
        make(bad)
        code, out, err = site.wardlink(capsys, "restore", str(bad))
        assert code == 2, (name, out, err)
        assert message in err and len(err.strip().splitlines()[-1]) < 300, (name, err)
        assert list(site.root.iterdir()) == [], f"{name}: restore wrote {list(site.root.rglob('*'))}"
    code, out, err = site.wardlink(capsys, "restore", str(tmp_path / "no-such.tar.gz"))
    assert code == 4 and "no such archive" in err
    # the untouched archive still restores
    assert site.wardlink(capsys, "restore", str(archive))[0] == 0


def _append(target: Path, name: str) -> None:
    """Rewrite ``target`` with one more member ``name`` that the manifest does not list."""
    with tarfile.open(target) as src:
        members = [(info, src.extractfile(info).read()) for info in src]
    with tarfile.open(target, "w:gz") as dst:
        for info, data in members:
            dst.addfile(info, io.BytesIO(data))
        extra = tarfile.TarInfo(name)
        extra.size = 3
        dst.addfile(extra, io.BytesIO(b"x=1"))


def previous_revision() -> str:
    """Return the revision before the head: the schema of the version landed before this one."""
    script = ScriptDirectory.from_config(alembic_config())
    previous = script.get_revision(script.get_current_head()).down_revision
    assert isinstance(previous, str)
    return previous


def test_upgrading_from_the_previous_schema_keeps_the_data_and_the_audit_chain(site, tmp_path, capsys, request):
    site.populate()
    engine = open_engine(site.database_url)
    try:
        downgrade(engine, previous_revision())  # the database as the previous version left it
        assert current_revision(engine) == previous_revision()
    finally:
        engine.dispose()
    before = site.snapshot()
    backups = tmp_path / "backups"
    backups.mkdir()

    # the runbook: back up, install the new version, migrate, verify
    assert site.wardlink(capsys, "backup", "--out", str(backups))[0] == 0
    code, out, err = site.wardlink(capsys, "db", "upgrade")
    assert code == 0, err
    engine = open_engine(site.database_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
    assert same_data(site.snapshot(), before)
    code, out, err = site.wardlink(capsys, "audit", "verify")
    assert code == 0 and "keyed from row" in out, err

    # and the backup taken before the upgrade restores onto a new machine, migrated on the way
    archive = only_archive(backups)
    site.wipe(request)
    code, out, err = site.wardlink(capsys, "restore", str(archive))
    assert code == 0, err
    assert f"database upgraded from schema {previous_revision()}" in out
    assert "audit trail intact" in out
    assert same_data(site.snapshot(), before)


def test_influxdb_telemetry_round_trip(tmp_path, influxd, capsys, request):
    site = Site(tmp_path / "site", seeded_sqlite_url(tmp_path), telemetry="influxdb", influx_url=influxd.url,
                influx_database=influxd.database, influx_rpc_address=f"127.0.0.1:{influxd.server.rpc_port}")
    config = load_config(site.config, environ={})
    store = open_store(config)
    try:
        store.write([Point.of("temperature", {"gateway": "gw-icu-01", "channel": f"c{i % 3}"},
                              T0_MS + i * 1000, float(i)) for i in range(120)])
    finally:
        store.close()
    site.populate()
    before = site.snapshot()
    assert before["points"] == 120
    backups = tmp_path / "backups"
    backups.mkdir()
    code, out, err = site.wardlink(capsys, "backup", "--out", str(backups))
    assert code == 0, err
    archive = only_archive(backups)

    site.wipe(request)
    influxd.server.drop_database(influxd.database)
    code, out, err = site.wardlink(capsys, "restore", str(archive))
    assert code == 0, err
    assert site.snapshot() == before
    # the InfluxDB database exists again now: a restore onto a wiped machine is refused
    # without --force (nothing written), and replaces the database with it
    site.wipe(request)
    code, out, err = site.wardlink(capsys, "restore", str(archive))
    assert code == 2 and f"InfluxDB database {influxd.database!r} exists" in err
    assert list(site.root.iterdir()) == []
    code, out, err = site.wardlink(capsys, "restore", "--force", str(archive))
    assert code == 0, err
    assert site.snapshot() == before


def test_a_store_tool_that_fails_leaves_no_archive(sqlite_site, tmp_path, capsys):
    from servers import free_port

    site = sqlite_site
    with site.config.open("a") as fh:  # an InfluxDB whose backup port nothing listens on
        fh.write(f'telemetry = "influxdb"\ninflux_url = "http://127.0.0.1:{free_port()}"\n'
                 f'influx_rpc_address = "127.0.0.1:{free_port()}"\n')
    site.populate()
    backups = tmp_path / "backups"
    backups.mkdir()
    code, out, err = site.wardlink(capsys, "backup", "--out", str(backups))
    assert code == 3, err
    assert "influxd backup: cannot reach InfluxDB's backup service" in err.strip().splitlines()[-1]
    assert list(backups.iterdir()) == []  # neither an archive nor its staging folder


def test_a_sqlite_backup_taken_while_the_hub_writes_is_one_consistent_moment(sqlite_site, tmp_path, capsys,
                                                                              request):
    import threading

    from waiting import wait_for

    site = sqlite_site
    site.populate()
    config = load_config(site.config, environ={})
    stop, written, failures = threading.Event(), [], []

    def hub_writing() -> None:  # work orders (audited, keyed) and readings, as fast as it can
        engine, store = open_engine(config.resolved_database_url), open_store(config)
        clock = ManualClock(T0_MS / 1000 + 9000)
        try:
            while not stop.is_set():
                with session_scope(engine) as session:
                    workorders.create_work_order(session, {"kind": "corrective", "title": f"Busy {len(written)}",
                                                           "asset_tag": "BK-0001"},
                                                 actor=actor(session, "manager"), clock=clock)
                store.write([Point.of("temperature", {"gateway": "gw-icu-01", "channel": "busy"},
                                      T0_MS + 10**6 + len(written), 1.0)])
                written.append(1)
        except Exception as exc:  # reported by the test below
            failures.append(exc)
        finally:
            store.close()
            engine.dispose()

    writer = threading.Thread(target=hub_writing)
    writer.start()
    try:
        wait_for(lambda: len(written) >= 3 or failures, 30, "the hub's first writes")
        at_start = len(written)
        backups = tmp_path / "backups"
        backups.mkdir()
        code, out, err = site.wardlink(capsys, "backup", "--out", str(backups))
        at_end = len(written)
    finally:
        stop.set()
        writer.join(30)
    assert not failures and code == 0, (failures, err)

    site.wipe(request)
    code, out, err = site.wardlink(capsys, "restore", str(only_archive(backups)))
    assert code == 0 and "audit trail intact" in out, err
    after = site.snapshot()
    busy = [row for row in after["work_orders"] if row["title"].startswith("Busy ")]
    assert at_start <= len(busy) <= at_end + 1
    # one moment: the orders are the first N the hub wrote, each with its audit rows
    assert sorted(int(row["title"].split()[1]) for row in busy) == list(range(len(busy)))
