"""Every command of `wardlink` and `wardlink-edge` has help text and is documented."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def leaf_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """Yield (words, parser, help) for every subcommand, depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield prefix + (name,), sub, helps.get(name)
                yield from leaf_commands(sub, prefix + (name,))


def parsers():
    from wardlink.edge.cli import build_parser as edge_parser
    from wardlink.hub.cli import build_parser as hub_parser

    return {"wardlink": hub_parser(), "wardlink-edge": edge_parser()}


def all_commands():
    for prog, parser in parsers().items():
        for words, sub, help_text in leaf_commands(parser):
            yield pytest.param(prog, words, sub, help_text, id=" ".join((prog,) + words))


@pytest.mark.parametrize("prog, words, sub, help_text", list(all_commands()))
def test_every_subcommand_has_help(prog, words, sub, help_text):
    assert help_text, f"`{prog} {' '.join(words)}` has no one-line help"
    assert sub.description or sub.format_help().strip()
    for action in sub._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, f"`{prog} {' '.join(words)}` option {action.option_strings} has no help"
        if not action.option_strings and not isinstance(action, argparse._SubParsersAction):
            assert action.help, f"`{prog} {' '.join(words)}` argument {action.dest} has no help"


def documented_text() -> str:
    return (ROOT / "README.md").read_text() + "".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))


@pytest.mark.parametrize("prog, words, sub, help_text", list(all_commands()))
def test_every_command_appears_in_the_docs(prog, words, sub, help_text):
    has_children = any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)
    if has_children:
        return  # a group: its leaves are checked
    assert f"{prog} {' '.join(words)}" in documented_text(), f"`{prog} {' '.join(words)}` is not in README.md or docs/"


@pytest.mark.parametrize("script, module", [("wardlink", "wardlink.hub.cli"), ("wardlink-edge", "wardlink.edge.cli")])
def test_help_runs_as_a_program(script, module):
    out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert script in out.stdout and "usage" in out.stdout


def test_protocol_check_reports_the_rejection_reason(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"v": 1, "gateway": "gw-b", "boot": "x", "seq": 0, "readings": [["a", 1795341600000, 1]]}')
    out = subprocess.run([sys.executable, "-m", "wardlink.hub.cli", "protocol", "check", "wardlink/v1/gw-a/telemetry",
                          str(bad)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "gateway_mismatch" in out.stderr


def test_config_errors_name_the_key(tmp_path):
    cfg = tmp_path / "hub.toml"
    cfg.write_text('telemetry = "mongodb"\n')
    out = subprocess.run([sys.executable, "-m", "wardlink.hub.cli", "--config", str(cfg), "config", "show"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "telemetry: must be one of sqlite, influxdb" in out.stderr
