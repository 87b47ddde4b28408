"""Renders killed at any moment, and renders racing each other, never leave a mixed build.

A large render is killed with SIGKILL while it stages, while it moves files into place and
after it committed, the moment chosen by watching the build's state folder. The next command
must see the previous build byte for byte (or, after the commit, the new one), the next render
must clean up every temporary file, and its build must equal a clean render's.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support import waits
from support.cli import ROOT, run_cli, write_tree

TOKEN = "crash-token-7"
ENV = {"APP_TOKEN": TOKEN}
STATE = ".bootstrap"


def inventory(base: Path, *, version: int) -> Path:
    """400 hosts; version 2 changes every file, drops 20 hosts, adds 30, removes a file each."""
    hosts = "    h[001:400]:\n" if version == 1 else "    h[001:380]:\n    n[01:30]:\n"
    readme = "  - {template: app/readme.j2, dest: /etc/app/README}\n" if version == 1 else ""
    return write_tree(base, {
        "hosts.yml": "all:\n  vars:\n    bootstrap_roles: [base, app]\n"
                     f"    note: v{version}\n    token: {{env: APP_TOKEN}}\n  hosts:\n" + hosts,
        "roles/app/role.yml": "artifacts:\n  - {template: app/app.ini.j2, dest: /etc/app/app.ini}\n"
                              + readme,
        "templates/app/app.ini.j2": "token = {{ vars.token | ini }}\nnote = {{ vars.note }}\n",
        "templates/app/readme.j2": "note: {{ vars.note }}\n",
    })


def snapshot(root: Path, *, mtimes: bool = True) -> dict[str, tuple]:
    """Every entry of the build but its state folder: bytes, mode, and a file's mtime if asked
    (a folder's mtime records that names moved through it, which a rollback cannot hide)."""
    out: dict[str, tuple] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] == STATE:
            continue
        st = path.lstat()
        is_file = path.is_file() and not path.is_symlink()
        data = path.read_bytes() if is_file else b"<folder>"
        out[str(rel)] = (data, st.st_mode, st.st_mtime_ns if mtimes and is_file else 0)
    return out


def leftovers(root: Path) -> list[str]:
    """Anything in the state folder but the lock, the record of host folders and the cache."""
    return sorted(set(os.listdir(root / STATE)) - {"lock", "hosts.json", "cache"})


def start_render(inv: Path, out: Path, err: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, **ENV}
    return subprocess.Popen([sys.executable, "-m", "bootstrap", "render", str(inv), "-o", str(out)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=err.open("w") if err else subprocess.DEVNULL)


def count(path: Path) -> int:
    try:
        return len(os.listdir(path))
    except OSError:
        return 0


def kill_when(proc: subprocess.Popen, moment: Callable[[], bool]) -> bool:
    """SIGKILL the render as soon as ``moment()`` holds; False if it ended first."""
    while proc.poll() is None:
        if moment():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return proc.returncode == -signal.SIGKILL
    return False


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, Path]:
    """The two inventories, and a clean render of the second to compare with."""
    base = tmp_path_factory.mktemp("crash")
    v1, v2 = inventory(base / "v1", version=1), inventory(base / "v2", version=2)
    clean = base / "clean-v2"
    assert run_cli("render", v2, "-o", clean, env=ENV).rc == 0
    return {"v1": v1, "v2": v2, "clean": clean}


def previous_build(tmp_path: Path, builds: dict[str, Path]) -> tuple[Path, dict]:
    out = tmp_path / "build"
    assert run_cli("render", builds["v1"], "-o", out, env=ENV).rc == 0
    return out, snapshot(out)


MOMENTS = {
    # staging: files are written in stage/, the build itself is not touched yet
    "staging": lambda state: count(state / "stage") >= 200 and not (state / "journal").exists(),
    # moving into place: the journal is written, old files are moving to backup/
    "renaming": lambda state: (state / "journal").exists() and count(state / "backup") >= 300,
}


@pytest.mark.parametrize("moment", sorted(MOMENTS))
def test_a_render_killed_before_its_commit_leaves_the_previous_build(moment, tmp_path, builds):
    out, before = previous_build(tmp_path, builds)
    state = out / STATE
    proc = start_render(builds["v2"], out)
    assert kill_when(proc, lambda: MOMENTS[moment](state)), "the render ended before the kill"
    if moment == "renaming":  # a reader refuses a half-moved build
        probe = run_cli("validate", out, "--limit", "none")
        assert probe.rc == 1 and "interrupted render; run: bootstrap render" in probe.err
        assert "Traceback" not in probe.err
    # The next command sees the previous build exactly: bytes, modes and mtimes.
    check = run_cli("render", builds["v1"], "-o", out, "--check", env=ENV)
    assert check.rc == 0, check.out + check.err
    assert ", 0 would change," in check.out
    assert snapshot(out) == before
    assert leftovers(out) == []
    # The next render completes, and its build is the one a clean render makes.
    again = run_cli("render", builds["v2"], "-o", out, env=ENV)
    assert again.rc == 0, again.err
    assert snapshot(out, mtimes=False) == snapshot(builds["clean"], mtimes=False)
    assert leftovers(out) == []


def test_a_render_killed_after_its_commit_leaves_the_new_build(tmp_path, builds):
    out, _ = previous_build(tmp_path, builds)
    state = out / STATE
    seen_journal = []

    def committed() -> bool:
        if (state / "journal").exists():
            seen_journal.append(True)
            return False
        return bool(seen_journal) and (count(state / "backup") or count(state / "stage"))

    proc = start_render(builds["v2"], out)
    kill_when(proc, committed)  # killed while cleaning up, or just after it finished
    assert seen_journal, "the render ended before its journal was seen"
    check = run_cli("render", builds["v2"], "-o", out, "--check", env=ENV)
    assert check.rc == 0 and ", 0 would change," in check.out, check.out + check.err
    assert leftovers(out) == []
    assert snapshot(out, mtimes=False) == snapshot(builds["clean"], mtimes=False)


def test_leftovers_of_a_committed_render_are_removed_by_the_next_one(tmp_path, builds):
    out, before = previous_build(tmp_path, builds)
    for name in ("stage/f1", "backup/b2", "journal.new"):
        (out / STATE / name).parent.mkdir(exist_ok=True)
        (out / STATE / name).write_text("left behind")
    (out / STATE / "stage/h3/files").mkdir(parents=True)
    result = run_cli("render", builds["v1"], "-o", out, env=ENV)
    assert result.rc == 0, result.err
    assert ", 0 changed," in result.out
    assert leftovers(out) == []
    assert snapshot(out) == before


# -- a journal is untrusted input ----------------------------------------------------------------

@pytest.mark.parametrize("journal", [
    '{"ops": [["del", "../outside/victim", "b1"]]}',
    '{"ops": [["put", "f1", "/etc/passwd", null]]}',
    '{"ops": [["drop", "..", "d1"]]}',
    '{"ops": [["put", "../../x", "h001/files/etc/motd", null]]}',
    '{"ops": [["mkdir"]]}', "not json", '{"ops": {}}', '{"ops": [["rm", "-rf", "/"]]}',
])
def test_a_hostile_journal_is_one_line_and_touches_nothing(journal, tmp_path, builds):
    out, before = previous_build(tmp_path, builds)
    victim = tmp_path / "outside/victim"
    victim.parent.mkdir()
    victim.write_text("keep me")
    (out / STATE / "journal").write_text(journal)
    result = run_cli("render", builds["v1"], "-o", out, env=ENV)
    assert result.rc == 1 and "Traceback" not in result.err
    assert result.err.count("\n") == 1 and "is not a journal bootstrap wrote" in result.err
    assert victim.read_text() == "keep me"
    assert snapshot(out) == before


def test_a_journal_path_through_a_link_is_refused(tmp_path, builds):
    out, _ = previous_build(tmp_path, builds)
    victim = tmp_path / "outside/victim"
    victim.parent.mkdir()
    victim.write_text("keep me")
    (out / "h001/files/lnk").symlink_to(victim.parent)
    (out / STATE / "journal").write_text('{"ops": [["put", "f1", "h001/files/lnk/victim", null]]}')
    result = run_cli("render", builds["v1"], "-o", out, env=ENV)
    assert result.rc == 1 and "Traceback" not in result.err, result.err
    assert "h001/files/lnk is a link" in result.err
    assert victim.read_text() == "keep me"


# -- one render at a time -------------------------------------------------------------------------

def hold_lock(out: Path) -> int:
    fd = os.open(out / STATE / "lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def wait_for_text(path: Path, text: str, proc: subprocess.Popen) -> None:
    waits.wait_for(f"{text!r} in {path.name}", lambda: text in path.read_text(), 60,
                   failed=lambda: None if proc.poll() is None else path.read_text(), interval=0.05)


def test_a_render_waits_for_the_build_lock_and_says_so_once(tmp_path, builds):
    out, before = previous_build(tmp_path, builds)
    fd = hold_lock(out)
    err = tmp_path / "err"
    try:
        proc = start_render(builds["v2"], out, err)
        wait_for_text(err, "waiting for another bootstrap command using", proc)
        time.sleep(0.5)
        assert proc.poll() is None
        assert snapshot(out) == before  # nothing planned or written while it waits
    finally:
        os.close(fd)
    assert proc.wait(timeout=waits.allowance(300)) == 0, err.read_text()
    assert err.read_text().count("waiting for another") == 1
    assert snapshot(out, mtimes=False) == snapshot(builds["clean"], mtimes=False)


def test_a_reader_waits_for_a_render_in_progress(tmp_path, builds):
    out, _ = previous_build(tmp_path, builds)
    fd = hold_lock(out)
    err = tmp_path / "err"
    try:
        proc = subprocess.Popen([sys.executable, "-m", "bootstrap", "validate", str(out),
                                 "--limit", "none"], cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=err.open("w"))
        wait_for_text(err, "waiting for another bootstrap command using", proc)
    finally:
        os.close(fd)
    assert proc.wait(timeout=waits.allowance(120)) == 0, err.read_text()


def test_two_renders_at_once_make_one_whole_build(tmp_path, builds):
    out, _ = previous_build(tmp_path, builds)
    clean_v1 = tmp_path / "clean-v1"
    assert run_cli("render", builds["v1"], "-o", clean_v1, env=ENV).rc == 0
    first = start_render(builds["v2"], out, tmp_path / "err1")
    second = start_render(builds["v1"], out, tmp_path / "err2")
    assert first.wait(timeout=waits.allowance(300)) == 0, (tmp_path / "err1").read_text()
    assert second.wait(timeout=waits.allowance(300)) == 0, (tmp_path / "err2").read_text()
    for name in ("err1", "err2"):
        assert "Traceback" not in (tmp_path / name).read_text()
    result = snapshot(out, mtimes=False)
    assert result in (snapshot(clean_v1, mtimes=False), snapshot(builds["clean"], mtimes=False))
    assert leftovers(out) == []
    assert [p for p in out.iterdir() if p.name.startswith(".") and p.name != STATE] == []
