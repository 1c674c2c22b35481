"""The administrator's shell of the walk: runs the guide's commands through the substitution table
of :mod:`walk_support`, and the systemd units they enable."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import wheelhouse
from servers import mosquitto_binary, postgres_bindir
from walk_support import (
    DEBIAN_MOSQUITTO_UNIT,
    ROOT,
    STOCK_MOSQUITTO_CONF,
    Machine,
    Ran,
    Service,
    command_lines,
    default_options,
    split_commands,
    unit_settings,
    user_name,
)

COMMAND_TIMEOUT = 300.0


class WalkFailed(AssertionError):
    """A command of the guide did not work as written."""


# ----------------------------------------------------------------------------- the wheelhouse


def build_wheelhouse(out: Path, extras: frozenset[str] = frozenset({"edge", "hub"})) -> Path:
    """Build this checkout's wheel and repack what ``wardlink[extras]`` needs from this environment."""
    out.mkdir(parents=True, exist_ok=True)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                            "--wheel-dir", str(out), str(ROOT)],
                           capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    assert built.returncode == 0, built.stderr
    (wheel,) = out.glob("wardlink-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        meta = zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    wheelhouse.build(re.findall(r"^Requires-Dist: (.+)$", meta, re.M), set(extras), "wardlink", out)
    return out


# ----------------------------------------------------------------------------- the shell


class Shell:
    """Runs the guide's commands on the machine and keeps the units they started."""

    def __init__(self, machine: Machine, placeholders: dict[str, str] | None = None) -> None:
        self.machine = machine
        self.placeholders = placeholders if placeholders is not None else {}
        self.services: dict[str, Service] = {}
        self.ran: list[Ran] = []

    # -- blocks

    def run_block(self, body: str) -> list[Ran]:
        """Run every command of a command block; return what each printed."""
        out = []
        for line in command_lines(body):
            text = self.machine.text(line)
            for old, new in self.placeholders.items():
                text = text.replace(old, new)
            for argv in split_commands(text):
                out.append(self.run(argv, line))
        return out

    def write_file(self, path: str, body: str, additions: str = "") -> Path:
        """Write a file block of the guide where the guide says, with the machine's substitutions."""
        target = self.machine.path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.machine.text(body) + additions)
        return target

    # -- one command

    def run(self, argv: list[str], line: str) -> Ran:
        """Run one command of the guide through the substitution table."""
        env_extra: dict[str, str] = {}
        while argv and argv[0] == "sudo":
            argv = argv[1:]
            if argv[:1] == ["-u"]:
                if argv[1] == "postgres":
                    env_extra["PGUSER"] = "postgres"
                argv = argv[2:]
        ran = Ran(line, argv)
        handler = getattr(self, "_cmd_" + Path(argv[0]).name.replace("-", "_"), None)
        if handler is not None:
            handler(argv, ran)
        else:
            self._exec(self._resolve(argv), ran, env_extra)
        self.ran.append(ran)
        return ran

    def _resolve(self, argv: list[str]) -> list[str]:
        """Apply the command-level rules: bare wardlink commands, owners, default options."""
        out: list[str] = []
        skip = False
        for word in argv:
            if skip:
                skip = False
            elif argv[0] == "install" and word in ("-o", "-g"):
                skip = True
            else:
                out.append(word)
        argv = out
        if Path(argv[0]).name in ("wardlink", "wardlink-edge"):
            argv = [user_name() if prev == "--owner" and word == "wardlink" else word
                    for prev, word in zip(["", *argv], argv)]
        command = (Path(argv[0]).name, *[w for w in argv[1:] if not w.startswith("-")])
        for prefix, options in default_options(self.machine).items():
            if command[:len(prefix)] == prefix:
                for i in range(0, len(options), 2):
                    if options[i] not in argv:
                        argv += options[i:i + 2]
        if Path(argv[0]).name == "pip" and argv[1:2] == ["install"]:
            argv += ["--no-index", "--find-links", str(self.machine.wheelhouse), "--quiet", "--no-compile"]
        return argv

    def _outside(self, argv: list[str]) -> list[str]:
        """Return the arguments naming a path of the real machine (the walk never runs those)."""
        m = self.machine
        own = [str(d) for d in (m.root, m.venv, m.home, m.wheelhouse, m.pg_socket_dir)]
        words = [part for word in argv[1:] for part in word.split("=", 1)[-1:]]
        return [w for w in words if w.startswith("/") and w != "/dev/null"
                and not any(w == d or w.startswith(d + "/") for d in own)]

    def _exec(self, argv: list[str], ran: Ran, env_extra: dict[str, str] | None = None) -> None:
        outside = self._outside(argv)
        if outside:
            raise WalkFailed(f"{ran.line!r} names {outside}, which the substitution table does not map")
        env = {**self.machine.environ(), **(env_extra or {})}
        try:
            done = subprocess.run(argv, cwd=self.machine.home, env=env, capture_output=True, text=True,
                                  timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL)
        except FileNotFoundError as exc:
            raise WalkFailed(f"{ran.line!r}: {exc}") from None
        ran.argv, ran.stdout, ran.stderr = argv, done.stdout, done.stderr
        if done.returncode != 0:
            raise WalkFailed(f"{ran.line!r} exited {done.returncode}\nran: {shlex.join(argv)}\n"
                             f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}")

    # -- commands with a stand-in

    def _cmd_apt_get(self, argv: list[str], ran: Ran) -> None:
        checks = {"mosquitto": lambda: mosquitto_binary() is not None and DEBIAN_MOSQUITTO_UNIT.exists(),
                  "postgresql": lambda: postgres_bindir() is not None,
                  "python3-venv": lambda: subprocess.run(["python3", "-c", "import venv, ensurepip"]).returncode == 0,
                  "curl": lambda: shutil.which("curl") is not None}
        for package in [w for w in argv[2:] if not w.startswith("-")]:
            assert package in checks, f"the walk cannot check the package {package}"
            assert checks[package](), f"{package} is not installed (apt-get install {package})"
            if package == "mosquitto":
                conf = self.machine.path("/etc/mosquitto/mosquitto.conf")
                (conf.parent / "conf.d").mkdir(parents=True, exist_ok=True)
                extra = "user root\n" if os.geteuid() == 0 else ""
                conf.write_text(self.machine.text(STOCK_MOSQUITTO_CONF) + extra)
                for d in ("/var/lib/mosquitto", "/var/log/mosquitto", "/run/mosquitto"):
                    self.machine.path(d).mkdir(parents=True, exist_ok=True)

    def _cmd_useradd(self, argv: list[str], ran: Ran) -> None:
        if "--create-home" in argv:
            self.machine.path(argv[argv.index("--home-dir") + 1]).mkdir(parents=True, exist_ok=True)

    def _cmd_chown(self, argv: list[str], ran: Ran) -> None:
        assert Path(argv[-1]).exists(), f"{ran.line!r}: no such file {argv[-1]}"

    def _cmd_export(self, argv: list[str], ran: Ran) -> None:
        for assignment in argv[1:]:
            key, _, value = assignment.partition("=")
            self.machine.exported[key] = value

    def _cmd_systemctl(self, argv: list[str], ran: Ran) -> None:
        verb, names = argv[1], [w for w in argv[2:] if not w.startswith("-")]
        if verb == "daemon-reload":
            return
        started = []  # systemd runs the start jobs together; systemctl returns when all are done
        for name in names:
            name = name.removesuffix(".service")
            if name.endswith(".target"):
                assert self._unit_file(name).exists(), f"{ran.line!r}: no unit {name}"
                continue
            if verb in ("restart", "stop", "disable") or (verb == "enable" and "--now" in argv):
                old = self.services.pop(name, None)
                if old is not None:
                    old.stop()
            if verb in ("restart", "start") or (verb == "enable" and "--now" in argv):
                started.append(self.start_unit(name))
        for service in started:
            service.wait_started()

    # -- units

    def _unit_file(self, name: str) -> Path:
        template = re.sub(r"@[^.]*", "@", name)
        local = self.machine.path(f"/etc/systemd/system/{template}" + ("" if "." in template else ".service"))
        if local.exists() or name != "mosquitto":
            return local
        return DEBIAN_MOSQUITTO_UNIT

    def start_unit(self, name: str) -> Service:
        """Start unit ``name`` as systemd would (its ExecStartPre= first); the caller waits for it."""
        path = self._unit_file(name)
        assert path.exists(), f"no unit file {path.name} where systemd would look"
        instance = name.split("@", 1)[1] if "@" in name else ""
        text = self.machine.text(path.read_text().replace("%i", instance))
        settings = unit_settings(text)
        for pre in settings.get("ExecStartPre", []):
            self.run(split_commands(pre.lstrip("-@+!"))[0], f"{name}: ExecStartPre={pre}")
        log = self.machine.path(f"/var/log/journal/{name}.log")
        log.parent.mkdir(parents=True, exist_ok=True)
        service = Service(name, settings, self.machine, log)
        self.services[name] = service
        service.start()
        return service

    def stop_all(self) -> dict[str, int | None]:
        """Stop every unit, newest first; return their exit codes."""
        return {name: self.services[name].stop() for name in reversed(list(self.services))}
