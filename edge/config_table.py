"""Typed, problem-collecting access to the tables of a TOML document.

A :class:`Table` never raises: each wrong value is recorded as one problem naming its key and
what would be accepted, so the whole file is checked in one pass.
"""

from __future__ import annotations

import builtins
import math
from pathlib import Path
from typing import Any, Mapping

MISSING: Any = object()


def describe(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return f"a {'table' if isinstance(value, dict) else 'list'}"
    return str(value)


class Table:
    """Typed access to one TOML table that records problems instead of raising."""

    def __init__(self, data: Any, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        self.seen: set[str] = set()
        if not isinstance(data, Mapping):
            self.problem("", f"must be a table, got {describe(data)}")
            data = {}
        self.data = data

    def key(self, name: str) -> str:
        """Return the dotted path of ``name`` in this table."""
        return f"{self.path}.{name}" if self.path else name

    def problem(self, name: str, message: str) -> None:
        """Record one problem about key ``name``."""
        where = self.key(name) if name else (self.path or "config")
        self.problems.append(f"{where}: {message}")

    def raw(self, name: str, default: Any = MISSING) -> Any:
        """Return the raw value of ``name``, recording it as known."""
        self.seen.add(name)
        if name not in self.data:
            if default is MISSING:
                self.problem(name, "is required")
            return None if default is MISSING else default
        return self.data[name]

    def str(self, name: builtins.str, default: Any = MISSING, *, choices: tuple[builtins.str, ...] | None = None,
            pattern=None, allow_empty: bool = False) -> builtins.str | None:
        """Return a string value, checked against ``choices`` or ``pattern``."""
        value = self.raw(name, default)
        if value is None or (value is default and default is not MISSING):
            return value
        if not isinstance(value, str):
            self.problem(name, f"must be a string, got {describe(value)}")
            return None
        if choices is not None and value not in choices:
            self.problem(name, f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
            return None
        if not value and not allow_empty:
            self.problem(name, "must not be empty")
            return None
        if pattern is not None and not pattern.match(value):
            self.problem(name, f"must match {pattern.pattern}, got {value!r}")
            return None
        return value

    def number(self, name: builtins.str, default: Any = MISSING, *, minimum: float | None = None,
               maximum: float | None = None, integer: bool = False, unit: builtins.str = "",
               exclusive_min: bool = False) -> Any:
        """Return a finite number within [minimum, maximum]."""
        value = self.raw(name, default)
        if value is None or (value is default and default is not MISSING):
            return value
        suffix = f" {unit}" if unit else ""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            kind = "an integer" if integer else "a number"
            self.problem(name, f"must be {kind}{suffix}, got {describe(value)}")
            return None
        if not math.isfinite(value):
            self.problem(name, f"must be a finite number, got {value}")
            return None
        if minimum is not None and (value <= minimum if exclusive_min else value < minimum):
            self.problem(name, f"must be {'>' if exclusive_min else '>='} {minimum}{suffix}, got {value}")
            return None
        if maximum is not None and value > maximum:
            self.problem(name, f"must be <= {maximum}{suffix}, got {value}")
            return None
        return value

    def bool(self, name: builtins.str, default: Any = MISSING) -> builtins.bool | None:
        """Return a boolean value."""
        value = self.raw(name, default)
        if value is None or isinstance(value, bool):
            return value
        self.problem(name, f"must be true or false, got {describe(value)}")
        return None

    def table(self, name: builtins.str, default: Any = MISSING) -> Mapping | None:
        """Return a sub-table as a plain mapping."""
        value = self.raw(name, default)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.problem(name, f"must be a table, got {describe(value)}")
            return None
        return value

    def path_value(self, name: builtins.str, base: Path | None, default: Any = MISSING) -> Path | None:
        """Return a file path, relative paths taken from the config file's directory."""
        value = self.str(name, default, allow_empty=True)
        if not value:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() or base is None else base / p

    def finish(self) -> None:
        """Record a problem for every key nobody asked for (typos, misplaced keys)."""
        for name in self.data:
            if name not in self.seen:
                allowed = ", ".join(sorted(self.seen)) or "none"
                self.problem(name, f"unknown key; allowed keys here: {allowed}")
