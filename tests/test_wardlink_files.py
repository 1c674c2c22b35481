"""One atomic write serves the whole project: temporary file beside the target with its final
mode from the first byte, fsync, rename; nothing left behind when it fails."""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

import pytest

from wardlink.files import fsync_dir, write_atomic

ROOT = Path(__file__).resolve().parents[1]


def test_the_file_is_replaced_whole_with_the_mode_asked_for(tmp_path):
    target = tmp_path / "gateway.secret"
    target.write_text("old\n")
    target.chmod(0o644)
    assert write_atomic(target, "new\n", mode=0o600, sync_dir=True) == target
    assert target.read_text() == "new\n" and stat.S_IMODE(target.stat().st_mode) == 0o600
    write_atomic(target, b"\x00bytes", mode=0o640)
    assert target.read_bytes() == b"\x00bytes" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gateway.secret"]
    fsync_dir(tmp_path)


def test_the_mode_and_owner_are_exact_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        write_atomic(tmp_path / "wide", "x", mode=0o644, owner=(os.getuid(), os.getgid()))
        os.umask(0)
        write_atomic(tmp_path / "narrow", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "wide").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "narrow").stat().st_mode) == 0o600
    assert (tmp_path / "wide").stat().st_uid == os.getuid()


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "config.toml"
    target.write_text("kept\n")
    with pytest.raises(TypeError):
        write_atomic(target, 12345)  # not text or bytes: refused while writing
    assert target.read_text() == "kept\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_no_other_module_writes_files_atomically_by_hand():
    copies = []
    for package in ("hub", "edge", "provisioning", "wardlink", "hardware"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "wardlink" / "files.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                called = {n.func.attr for n in ast.walk(node)
                          if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
                if {"fsync", "replace"} <= called:
                    copies.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not copies
