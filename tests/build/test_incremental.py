"""A render whose inputs did not change only checks the build; any change, or any doubt, renders
in full, and the build is then exactly what a render into an empty folder makes.

Whether a render took the short path shows in what it loaded: a skipped render never imports
the host loader (``PYTHONPROFILEIMPORTTIME`` lists every module a run imports).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from support.cli import Result, run_cli, write_tree

from bootstrap.build.stamp import MAX_STAMP, inputs_digest

STAMP = ".bootstrap/cache/stamp"
INVENTORY = {
    "hosts.yml": """\
        all:
          vars:
            bootstrap_roles: [base, app]
          hosts:
            web1:
              port: 80
            web2:
              port: 81
        """,
    "group_vars/all.yml": "note: from-group\ntoken: {file: secrets/token}\nkey: {file: api.key}\n",
    "host_vars/web1.yml": "note: from-host\n",
    "secrets/token": "s3cret-one\n",
    "roles/app/role.yml": """\
        artifacts:
          - template: app/app.ini.j2
            dest: /etc/app/app.ini
            mode: "0640"
        """,
    "templates/app/app.ini.j2": "port = {{ vars.port }}\nnote = {{ vars.note }}\n"
                                "token = {{ vars.token }}\nkey = {{ vars.key }}\n",
}


@pytest.fixture
def inv(tmp_path: Path) -> Path:
    write_tree(tmp_path / "keys", {"api.key": "key-one\n"})
    return write_tree(tmp_path / "inv", INVENTORY)


def render(inv: Path, out: Path, *args: str, env: dict[str, str | None] | None = None) -> Result:
    result = run_cli("render", inv, "-o", out, "--secrets-dir", inv.parent / "keys", *args,
                     env={"PYTHONPROFILEIMPORTTIME": "1", **(env or {})})
    assert result.rc == 0, result.err[-3000:]
    return result


def full(result: Result) -> bool:
    """Whether the run rendered its hosts (it loaded the host loader)."""
    return any(line.rsplit("|", 1)[-1].strip() == "bootstrap.hosts.loader"
               for line in result.err.splitlines() if line.startswith("import time:"))


def warnings(result: Result) -> list[str]:
    return [line for line in result.err.splitlines() if line.startswith("warning: ")]


def tree(out: Path) -> dict[str, tuple[int, bytes]]:
    """Every file a render wrote (its own state folder left out): mode and bytes."""
    return {p.relative_to(out).as_posix(): (p.stat().st_mode, p.read_bytes())
            for p in sorted(out.rglob("*"))
            if p.is_file() and p.relative_to(out).parts[0] != ".bootstrap"}


def fresh(inv: Path, tmp_path: Path, name: str = "fresh") -> dict[str, tuple[int, bytes]]:
    """What a render into an empty folder writes."""
    out = tmp_path / name
    render(inv, out)
    return tree(out)


def ini(out: Path, host: str = "web1") -> str:
    return (out / host / "files/etc/app/app.ini").read_text()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


# -- nothing changed: skipped; each kind of input changed: rendered ------------------------------


def test_a_rerender_with_nothing_changed_is_skipped_and_says_the_same(inv, tmp_path):
    out = tmp_path / "build"
    first = render(inv, out)
    assert full(first)
    before = tree(out)
    again = render(inv, out)
    assert not full(again)
    assert again.out == f"2 hosts rendered, 0 changed, 2 unchanged -> {out}\n"
    assert tree(out) == before


def _hosts_var(inv: Path) -> None:
    edit(inv / "hosts.yml", "port: 80", "port: 8080")


def _group_vars(inv: Path) -> None:
    edit(inv / "group_vars/all.yml", "from-group", "from-group-two")


def _host_vars(inv: Path) -> None:
    edit(inv / "host_vars/web1.yml", "from-host", "from-host-two")


def _new_vars_file(inv: Path) -> None:
    write_tree(inv, {"host_vars/web2.yml": "note: now-own\n"})


def _user_template(inv: Path) -> None:
    edit(inv / "templates/app/app.ini.j2", "port =", "listen_port =")


def _user_role(inv: Path) -> None:
    edit(inv / "roles/app/role.yml", "/etc/app/app.ini", "/etc/app/renamed.ini")


def _file_secret(inv: Path) -> None:
    (inv / "secrets/token").write_text("s3cret-two\n")


def _secrets_dir(inv: Path) -> None:
    (inv.parent / "keys/api.key").write_text("key-two\n")


def _host_removed(inv: Path) -> None:
    edit(inv / "hosts.yml", "    web2:\n      port: 81\n", "")


def _inventory_file_added(inv: Path) -> None:
    write_tree(inv, {"more.yml": "extra:\n  hosts:\n    web3:\n      port: 83\n"})


def _builtin_template_overridden(inv: Path) -> None:
    write_tree(inv, {"templates/base/motd.j2": "managed by bootstrap, mine\n"})


CHANGES: dict[str, tuple[Callable[[Path], None], Callable[[Path], bool]]] = {
    "inventory file": (_hosts_var, lambda out: "port = 8080" in ini(out)),
    "group_vars": (_group_vars, lambda out: "note = from-group-two" in ini(out, "web2")),
    "host_vars": (_host_vars, lambda out: "note = from-host-two" in ini(out)),
    "new host_vars file": (_new_vars_file, lambda out: "note = now-own" in ini(out, "web2")),
    "user template": (_user_template, lambda out: "listen_port = 80" in ini(out)),
    "user role": (_user_role, lambda out: (out / "web1/files/etc/app/renamed.ini").is_file()
                  and not (out / "web1/files/etc/app/app.ini").exists()),
    "file secret": (_file_secret, lambda out: "token = s3cret-two" in ini(out)),
    "secrets-dir file": (_secrets_dir, lambda out: "key = key-two" in ini(out)),
    "host removed": (_host_removed, lambda out: not (out / "web2").exists()),
    "inventory file added": (_inventory_file_added, lambda out: (out / "web3").is_dir()),
    "built-in template overridden": (_builtin_template_overridden, lambda out: (
        out / "web1/files/etc/motd").read_text() == "managed by bootstrap, mine\n"),
}


@pytest.mark.parametrize("change", CHANGES)
def test_each_kind_of_input_changed_renders_again_and_leaves_no_stale_file(change, inv,
                                                                           tmp_path):
    mutate, shows = CHANGES[change]
    out = tmp_path / "build"
    render(inv, out)
    assert not full(render(inv, out))
    assert not shows(out)
    mutate(inv)
    assert full(render(inv, out))
    assert shows(out)
    assert tree(out) == fresh(inv, tmp_path)
    assert not full(render(inv, out))  # and the new state is stamped in turn


def test_an_input_changed_back_renders_the_first_output_again(inv, tmp_path):
    out = tmp_path / "build"
    render(inv, out)
    first = tree(out)
    _file_secret(inv)
    render(inv, out)
    (inv / "secrets/token").write_text("s3cret-one\n")
    assert full(render(inv, out))
    assert tree(out) == first


# -- the build changed behind bootstrap's back ---------------------------------------------------


@pytest.mark.parametrize("damage", ["file deleted", "file resized", "mode changed",
                                    "file edited in place", "manifest edited",
                                    "host folder deleted",
                                    "record of host folders edited"])
def test_a_build_changed_by_hand_is_rendered_back(damage, inv, tmp_path):
    out = tmp_path / "build"
    render(inv, out)
    before = tree(out)
    motd = out / "web1/files/etc/motd"
    if damage == "file deleted":
        motd.unlink()
    elif damage == "file resized":
        motd.write_text("hand edit\n")
    elif damage == "mode changed":
        motd.chmod(0o600)
    elif damage == "file edited in place":
        # The same size: only its content says it is not what was built (push would refuse it
        # and ask for a render).
        text = motd.read_bytes()
        motd.write_bytes(text[:-2] + (b"X" if text[-2:-1] != b"X" else b"Y") + text[-1:])
    elif damage == "manifest edited":
        edit(out / "web1/manifest.json", '"roles"', '"roles" ')
    elif damage == "host folder deleted":
        for path in sorted((out / "web2").rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        (out / "web2").rmdir()
    else:
        record = out / ".bootstrap/hosts.json"
        record.write_text(json.dumps({"hosts": ["_fleet", "web1"]}))
    assert full(render(inv, out))
    assert tree(out) == before


# -- the stamp is a guess: missing, corrupt or hostile costs a full render -----------------------


def _write(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)
    path.chmod(0o600)


def _valid_but(stamp: Path, **changes: object) -> None:
    data = json.loads(stamp.read_text())
    data.update(changes)
    _write(stamp, json.dumps(data).encode())


HOSTILE: dict[str, Callable[[Path, Path], None]] = {
    "deleted": lambda stamp, _: stamp.unlink(),
    "not JSON": lambda stamp, _: _write(stamp, b"\x00\xffnot json"),
    "truncated": lambda stamp, _: _write(stamp, stamp.read_bytes()[:200]),
    "a list": lambda stamp, _: _write(stamp, b"[1, 2, 3]"),
    "inputs of the wrong type": lambda stamp, _: _valid_but(stamp, inputs=42),
    "hosts of the wrong type": lambda stamp, _: _valid_but(stamp, hosts="2"),
    "warnings of the wrong type": lambda stamp, _: _valid_but(stamp, warnings=[1]),
    "folders of the wrong type": lambda stamp, _: _valid_but(stamp, folders=["web1"]),
    "a folder that climbs": lambda stamp, _: _valid_but(stamp, folders={"..": ["x", []]}),
    "a file that climbs": lambda stamp, _: _valid_but(
        stamp, folders={"web1": ["x", [["../../etc/passwd", 1, 420]]]}),
    "fewer folders than built": lambda stamp, _: _valid_but(
        stamp, folders={k: v for k, v in json.loads(stamp.read_text())["folders"].items()
                        if k != "web2"}),
    "another format": lambda stamp, _: _valid_but(stamp, format=99),
    "huge": lambda stamp, _: os.truncate(stamp, MAX_STAMP + 1),
    "a folder": lambda stamp, _: (stamp.unlink(), stamp.mkdir()),
    "a FIFO": lambda stamp, _: (stamp.unlink(), os.mkfifo(stamp)),
    "writable by others": lambda stamp, _: stamp.chmod(0o666),
    "a link to a valid stamp elsewhere": lambda stamp, outside: (
        outside.write_bytes(stamp.read_bytes()), stamp.unlink(), stamp.symlink_to(outside)),
}


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_missing_corrupt_or_hostile_stamp_only_costs_a_full_render(hostile, inv, tmp_path):
    out = tmp_path / "build"
    render(inv, out)
    before = tree(out)
    outside = tmp_path / "outside-stamp"
    HOSTILE[hostile](out / STAMP, outside)
    kept = outside.read_bytes() if outside.exists() else None
    result = render(inv, out)
    assert full(result)
    assert result.out == f"2 hosts rendered, 0 changed, 2 unchanged -> {out}\n"
    assert tree(out) == before
    if kept is not None:
        assert outside.read_bytes() == kept
        assert not (out / STAMP).is_symlink()
    assert not full(render(inv, out))  # a good stamp again


def test_a_cache_folder_open_to_others_is_made_anew(inv, tmp_path):
    out = tmp_path / "build"
    render(inv, out)
    before = tree(out)
    (out / ".bootstrap/cache").chmod(0o777)
    assert full(render(inv, out))
    assert (out / ".bootstrap/cache").stat().st_mode & 0o777 == 0o700
    assert tree(out) == before


def test_a_link_planted_as_the_cache_folder_is_not_followed(inv, tmp_path):
    out = tmp_path / "build"
    render(inv, out)
    before = tree(out)
    elsewhere = write_tree(tmp_path / "elsewhere", {"stamp": "mine", "templates/x": "mine"})
    cache = out / ".bootstrap/cache"
    for path in sorted(cache.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    cache.rmdir()
    cache.symlink_to(elsewhere)
    assert full(render(inv, out))
    assert tree(out) == before
    assert not cache.is_symlink()
    assert sorted(p.name for p in elsewhere.rglob("*")) == ["stamp", "templates", "x"]
    assert (elsewhere / "stamp").read_text() == "mine"


# -- doubt: always the full path -----------------------------------------------------------------


def test_an_env_secret_renders_every_time(inv, tmp_path):
    edit(inv / "group_vars/all.yml", "{file: secrets/token}", "{env: APP_TOKEN}")
    out = tmp_path / "build"
    render(inv, out, env={"APP_TOKEN": "from-env-one"})
    assert "token = from-env-one" in ini(out)
    result = render(inv, out, env={"APP_TOKEN": "from-env-two"})
    assert full(result)
    assert "token = from-env-two" in ini(out)
    assert full(render(inv, out, env={"APP_TOKEN": "from-env-two"}))


def test_a_limited_render_takes_the_full_path_and_the_next_full_render_catches_up(inv,
                                                                                 tmp_path):
    out = tmp_path / "build"
    render(inv, out)
    edit(inv / "group_vars/all.yml", "from-group", "from-group-two")
    edit(inv / "host_vars/web1.yml", "from-host", "from-host-two")
    assert full(render(inv, out, "--limit", "web1"))
    assert "note = from-host-two" in ini(out)
    assert "note = from-group\n" in ini(out, "web2")
    assert full(render(inv, out))
    assert "note = from-group-two" in ini(out, "web2")
    assert tree(out) == fresh(inv, tmp_path)


def test_check_and_diff_take_the_full_path(inv, tmp_path):
    out = tmp_path / "build"
    render(inv, out)
    assert full(run_cli("render", inv, "-o", out, "--secrets-dir", inv.parent / "keys",
                        "--check", env={"PYTHONPROFILEIMPORTTIME": "1"}))
    assert full(render(inv, out, "--diff"))


@pytest.mark.parametrize("content", [
    "plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n",
    "plugin: constructed\nstrict: false\n",
    "token: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3132\n",
    "token: {ssm: /app/token}\n",
    "token:\n  secretsmanager: app/token\n  key: password\n",
    "token: {env: TOKEN}\n",
])
def test_content_read_from_elsewhere_is_doubt(content, inv, tmp_path):
    assert inputs_digest(inv, (), tmp_path / "build") is not None
    (inv / "group_vars/doubt.yml").write_text(content)
    assert inputs_digest(inv, (), tmp_path / "build") is None


@pytest.mark.parametrize("content", [
    "publish: {bucket: b, prefix: p, ssm: true}\n",
    "ssm: false\nenvironment: production\n",
])
def test_a_setting_named_like_a_reference_kind_is_no_doubt(content, inv, tmp_path):
    (inv / "group_vars/settings.yml").write_text(content)
    assert inputs_digest(inv, (), tmp_path / "build") is not None


def test_the_digest_reads_content_not_timestamps(inv, tmp_path):
    first = inputs_digest(inv, (), tmp_path / "build")
    os.utime(inv / "hosts.yml", (0, 0))
    assert inputs_digest(inv, (), tmp_path / "build") == first
    stat = (inv / "host_vars/web1.yml").stat()
    (inv / "host_vars/web1.yml").write_text("note: from-hosX\n")  # same size
    os.utime(inv / "host_vars/web1.yml", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert inputs_digest(inv, (), tmp_path / "build") != first


def test_a_build_folder_inside_the_inventory_is_not_an_input(inv):
    out = inv / "build"
    render(inv, out)
    assert not full(render(inv, out))


# -- warnings ------------------------------------------------------------------------------------


def test_the_warnings_of_a_skipped_render_are_said_again(inv, tmp_path):
    write_tree(inv, {"templates/puppet/puppet.conf.j2": "# stray\n"})
    out = tmp_path / "build"
    first = render(inv, out)
    said = warnings(first)
    assert any("replaces no template" in w for w in said)
    again = render(inv, out)
    assert not full(again)
    assert warnings(again) == said
