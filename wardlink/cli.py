"""Building blocks the three command lines share (``wardlink``, ``wardlink-edge``, the broker tools).

Every command and group carries a one-line help and a description; these helpers take both, so a
command is declared in one call and ``--help`` reads the same everywhere.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable, Sequence

Command = Callable[[argparse.Namespace], int]


def add_command(sub: Any, name: str, func: Command, help: str, description: str, *,
                parents: Sequence[argparse.ArgumentParser] = ()) -> argparse.ArgumentParser:
    """Add the sub-command ``name`` that runs ``func``; return its parser for the options."""
    p = sub.add_parser(name, help=help, description=description, parents=list(parents))
    p.set_defaults(func=func)
    return p


def add_group(sub: Any, name: str, help: str, description: str, *, dest: str = "action",
              metavar: str = "ACTION") -> Any:
    """Add a command group ``name`` (``wardlink NAME ACTION``); return its sub-parsers."""
    group = sub.add_parser(name, help=help, description=description)
    return group.add_subparsers(dest=dest, metavar=metavar, required=True)
