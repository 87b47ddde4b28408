"""push --apply runs the apply commands render wrote into the build's manifest.

The host is a stand-in that answers push's shell scripts from a small in-memory state (files,
apply markers, commands run), so what push asks of a host is seen without SSH.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest
from support.cli import run_cli, write_tree

from bootstrap.fleet import filestate, pool, push
from bootstrap.fleet.transport import Result

ROLE_FILES = {
    "roles/myapp/role.yml": """
        apply: systemctl reload myapp
        artifacts:
          - {template: myapp/app.conf.j2, dest: /etc/myapp.conf}
        """,
    "templates/myapp/app.conf.j2": "port=80\n",
}


class FakeHost:
    """A host as push's scripts see it: managed files, apply markers, commands run."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[str, str, str]] = {}  # dest -> sha256, mode, owner
        self.pending: set[str] = set()
        self.ran: list[str] = []

    def run(self, script: str, args: Sequence[str] = (), *, stdin: Iterable[bytes] = (),
            timeout: float | None = None) -> Result:
        if script == push._PENDING_LIST:
            return Result(0, "\n".join(["pending", *sorted(self.pending)]) + "\n")
        if filestate.SURVEY in script:
            return Result(0, self._survey(list(args)))
        if "install_one()" in script:
            b"".join(stdin)
            return Result(0, self._install(list(args[1:])))
        words = shlex.split(script)
        if words[:3] == ["rm", "-f", "--"]:
            self.pending -= {Path(w).name for w in words[3:]}
            return Result(0, "")
        self.ran.append(script)
        return Result(0, "")

    def close(self) -> None:
        pass

    def _survey(self, dests: list[str]) -> str:
        kinds = ["file" if d in self.files else "missing" for d in dests]
        sums = [f"{self.files[d][0]}  {d}" for d in dests if d in self.files]
        stats = [f"{int(self.files[d][1], 8):o} {self.files[d][2]} 0:0" for d in dests
                 if d in self.files]
        return "\n".join(kinds + sums + stats) + "\n"

    def _install(self, args: list[str]) -> str:
        out = []
        for index in range(len(args) // 6):
            dest, mode, owner, digest, _size, marker = args[index * 6:index * 6 + 6]
            self.files[dest] = (digest, mode, owner)
            if marker:
                self.pending.add(marker)
            out.append(f"ok {index}")
        return "\n".join(out) + "\n"


def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: FakeHost) -> Path:
    inv = write_tree(tmp_path / "inv", {
        **ROLE_FILES, "hosts.yml": "all: {hosts: {app1: {bootstrap_roles: [base, myapp]}}}\n"})
    assert run_cli("render", inv, "-o", tmp_path / "build").rc == 0
    monkeypatch.setattr(push, "connect", lambda *args: host)
    return inv


def push_apply(tmp_path: Path) -> push.HostResult:
    loaded = pool.load(tmp_path / "inv", tmp_path / "build", None, warn=lambda text: None)
    [app1] = loaded.hosts
    return push.push_host(app1, loaded.registry, push.PushOptions(apply=True))


def test_the_apply_command_comes_from_the_manifest(tmp_path, monkeypatch):
    host = FakeHost()
    fleet(tmp_path, monkeypatch, host)
    manifest = json.loads((tmp_path / "build/app1/manifest.json").read_text())
    assert manifest["apply"] == {"myapp": "systemctl reload myapp"}
    # The role's apply: as the build recorded it, not as role.yml says today.
    (tmp_path / "inv/roles/myapp/role.yml").write_text(
        (tmp_path / "inv/roles/myapp/role.yml").read_text().replace("reload", "restart"))

    result = push_apply(tmp_path)
    assert (result.status, result.applied, result.notes) == ("changed", ["myapp"], []), result
    assert host.ran == ["systemctl reload myapp"]
    assert host.pending == set()  # only myapp was marked, and its apply cleared the mark

    again = push_apply(tmp_path)
    assert (again.status, again.applied) == ("unchanged", [])
    assert host.ran == ["systemctl reload myapp"]


def test_a_build_from_before_apply_was_recorded_applies_after_the_next_render(tmp_path,
                                                                              monkeypatch):
    host = FakeHost()
    inv = fleet(tmp_path, monkeypatch, host)
    path = tmp_path / "build/app1/manifest.json"
    old = json.loads(path.read_text())
    del old["apply"]
    path.write_text(json.dumps(old))

    result = push_apply(tmp_path)
    assert result.status == "changed" and result.applied == []
    assert result.notes == [f"{path} names no apply commands (written by an older bootstrap): "
                            "nothing applied; run bootstrap render, then push --apply again"]
    assert host.ran == []
    # Which roles apply was unknown: every role whose files changed is marked, none missed.
    assert host.pending == {"base", "myapp"}

    assert run_cli("render", inv, "-o", tmp_path / "build").rc == 0
    after = push_apply(tmp_path)
    assert (after.status, after.applied, after.notes) == ("unchanged", ["myapp"], [])
    assert host.ran == ["systemctl reload myapp"]
    assert host.pending == set()  # base has nothing to apply: its mark is cleared too
