"""Compiled templates are kept in the build's ``.bootstrap/cache/templates/``; whatever is found
there, the output is what compiling from source gives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.cli import run_cli, write_tree

CACHE = ".bootstrap/cache"
INVENTORY = {
    "hosts.yml": "all:\n  vars:\n    bootstrap_roles: [base, app]\n  hosts:\n    web1:\n"
                 "      port: 80\n",
    "roles/app/role.yml": "artifacts:\n  - template: app/app.ini.j2\n    dest: /etc/app/app.ini\n",
    "templates/app/app.ini.j2": "port = {{ vars.port }}\n",
}


def tree(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.relative_to(out).parts[0] != ".bootstrap"}


def render_full(inv: Path, out: Path) -> None:
    """A render that renders every host: the record that would let it skip them is removed."""
    (out / CACHE / "stamp").unlink(missing_ok=True)
    result = run_cli("render", inv, "-o", out)
    assert result.rc == 0, result.err


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path, dict[str, bytes]]:
    inv = write_tree(tmp_path / "inv", INVENTORY)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out).rc == 0
    return inv, out, tree(out)


def test_compiled_templates_are_kept_private_in_the_build(built):
    _, out, _ = built
    folder = out / CACHE / "templates"
    entries = list(folder.iterdir())
    assert len(entries) >= 3  # base's two templates and the role's own
    assert folder.stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in entries)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "a byte flipped",
                                    "writable by others", "a link", "a folder"])
def test_a_damaged_entry_is_compiled_again(damage, built, tmp_path):
    inv, out, before = built
    outside = tmp_path / "outside"
    outside.write_bytes(b"keep")
    for entry in (out / CACHE / "templates").iterdir():
        data = entry.read_bytes()
        if damage == "garbage":
            entry.write_bytes(os.urandom(200))
        elif damage == "truncated":
            entry.write_bytes(data[:len(data) // 2])
        elif damage == "empty":
            entry.write_bytes(b"")
        elif damage == "a byte flipped":
            entry.write_bytes(data[:-5] + bytes([data[-5] ^ 0xFF]) + data[-4:])
        elif damage == "writable by others":
            entry.chmod(0o666)
        elif damage == "a link":
            entry.unlink()
            entry.symlink_to(outside)
        else:
            entry.unlink()
            entry.mkdir()
    render_full(inv, out)
    assert tree(out) == before
    assert outside.read_bytes() == b"keep"


def test_an_edited_template_is_compiled_again(built):
    inv, out, _ = built
    (inv / "templates/app/app.ini.j2").write_text("listen = {{ vars.port }}\n")
    render_full(inv, out)
    assert (out / "web1/files/etc/app/app.ini").read_text() == "listen = 80\n"


def test_a_link_planted_as_the_templates_folder_is_not_followed(built, tmp_path):
    inv, out, before = built
    elsewhere = write_tree(tmp_path / "elsewhere", {"keep": "mine"})
    folder = out / CACHE / "templates"
    for entry in folder.iterdir():
        entry.unlink()
    folder.rmdir()
    folder.symlink_to(elsewhere)
    render_full(inv, out)
    assert tree(out) == before
    assert not folder.is_symlink()
    assert [p.name for p in elsewhere.iterdir()] == ["keep"]


def test_a_file_where_the_templates_folder_goes_is_replaced(built):
    inv, out, before = built
    cache = out / CACHE
    for entry in (cache / "templates").iterdir():
        entry.unlink()
    (cache / "templates").rmdir()
    (cache / "templates").write_text("a file where the folder goes")
    render_full(inv, out)
    assert tree(out) == before
    assert (cache / "templates").is_dir()
