"""The build directory is the only place render writes, and a previous build is untrusted input.

Links planted in a build, hostile or corrupt manifests and records of written folders, and
``-o`` pointing somewhere odd: each gives a one-line error or is ignored with a warning, and
nothing outside the build is ever written, read into the output, or deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from support.cli import one_error, run_cli

from bootstrap.build import planner
from bootstrap.build.directory import BuildDir
from bootstrap.errors import BootstrapError

TOKEN = "tok-Very-Secret-42"
ENV = {"APP_TOKEN": TOKEN}


def inventory(tree, hosts: tuple[str, ...] = ("web[1:2]", "db1")) -> Path:
    listed = "".join(f"    {name}:\n" for name in hosts)
    return tree({
        "hosts.yml": "all:\n  vars:\n    bootstrap_roles: [base, app]\n    note: one\n"
                     "    token: {env: APP_TOKEN}\n  hosts:\n" + listed,
        "roles/app/role.yml": """
            artifacts:
              - {template: app/app.ini.j2, dest: /etc/app/app.ini}
              - {template: app/readme.j2, dest: /etc/app/README}
              - {template: app/start.sh.j2, dest: /usr/local/bin/app-start, mode: "0755"}
            """,
        "templates/app/start.sh.j2": "#!/bin/sh\necho {{ vars.note | shell }}\n",
        "templates/app/app.ini.j2": "token = {{ vars.token | ini }}\nnote = {{ vars.note }}\n",
        "templates/app/readme.j2": "note: {{ vars.note }}\n",
    })



def outside_tree(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A folder beside the build with files the tool must never touch."""
    outside = tmp_path / "outside"
    (outside / "etc").mkdir(parents=True)
    files = {"victim": b"keep me\n", "etc/motd": b"outside motd\n", "etc/passwd": b"root:x:0\n"}
    for rel, data in files.items():
        (outside / rel).write_bytes(data)
    return outside, files


def assert_untouched(outside: Path, files: dict[str, bytes]) -> None:
    found = {str(p.relative_to(outside)): p.read_bytes()
             for p in outside.rglob("*") if p.is_file() and not p.is_symlink()}
    assert found == files


# -- links planted inside a build ---------------------------------------------------------------

@pytest.mark.parametrize("dangling", [False, True], ids=["link", "dangling-link"])
@pytest.mark.parametrize("where", ["web1/files", "web1/files/etc", "web1/.redacted",
                                   "web1/.redacted/files/etc", "web1"])
def test_a_link_where_a_folder_is_written_is_an_error_and_nothing_escapes(where, dangling,
                                                                         tmp_path, tree):
    inv = inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out, env=ENV).rc == 0
    outside, files = outside_tree(tmp_path)
    planted = out / where
    os.rename(planted, tmp_path / "moved-away")
    planted.symlink_to(tmp_path / "nowhere" if dangling else outside)
    (inv / "hosts.yml").write_text((inv / "hosts.yml").read_text().replace("note: one",
                                                                           "note: two"))
    line = one_error(run_cli("render", inv, "-o", out, env=ENV))
    assert f"{out}/{where}" in line and "link" in line
    assert "host web1" in line
    assert_untouched(outside, files)
    assert planted.is_symlink()  # not removed either: the user decides
    assert not (tmp_path / "nowhere").exists()


def test_the_state_folder_as_a_link_is_an_error(tmp_path, tree):
    inv = inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out, env=ENV).rc == 0
    outside, files = outside_tree(tmp_path)
    os.rename(out / ".bootstrap", tmp_path / "state-away")
    (out / ".bootstrap").symlink_to(outside)
    line = one_error(run_cli("render", inv, "-o", out, env=ENV))
    assert f"{out}/.bootstrap is not the folder bootstrap keeps its state in" in line
    assert_untouched(outside, files)


@pytest.mark.parametrize("scratch", ["stage", "backup", "journal.new"])
def test_a_link_planted_as_a_scratch_folder_is_removed_not_followed(scratch, tmp_path, tree):
    inv = inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out, env=ENV).rc == 0
    outside, files = outside_tree(tmp_path)
    (out / ".bootstrap" / scratch).symlink_to(outside)
    (inv / "hosts.yml").write_text((inv / "hosts.yml").read_text().replace("note: one",
                                                                           "note: two"))
    result = run_cli("render", inv, "-o", out, env=ENV)
    assert result.rc == 0, result.err
    assert_untouched(outside, files)
    assert sorted(os.listdir(out / ".bootstrap")) == ["cache", "hosts.json", "lock"]
    assert "note = two" in (out / "web1/files/etc/app/app.ini").read_text()


def test_a_link_where_a_file_is_written_is_replaced_not_followed(tmp_path, tree):
    inv = inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out, env=ENV).rc == 0
    outside, files = outside_tree(tmp_path)
    readme = out / "web1/files/etc/app/README"
    readme.unlink()
    readme.symlink_to(outside / "victim")
    result = run_cli("render", inv, "-o", out, env=ENV)
    assert result.rc == 0, result.err
    assert not readme.is_symlink() and readme.read_text() == "note: one\n"
    assert_untouched(outside, files)


def test_diff_never_shows_what_a_planted_link_points_to(tmp_path, tree):
    inv = inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out, env=ENV).rc == 0
    outside = tmp_path / "shadow"
    outside.write_text("root:$6$hash-of-the-machine:19000\n")
    readme = out / "web1/files/etc/app/README"
    readme.unlink()
    readme.symlink_to(outside)
    for flag in ("--check", "--diff"):
        result = run_cli("render", inv, "-o", out, flag, env=ENV)
        assert result.rc in (0, 2), result.err
        assert "hash-of-the-machine" not in result.out + result.err
    assert outside.read_text() == "root:$6$hash-of-the-machine:19000\n"


# -- a hostile or corrupt previous manifest ----------------------------------------------------

def _records(path: str) -> dict:
    return {"host": "web1", "roles": [], "outputs": [],
            "files": [{"dest": "/x", "path": path, "sha256": "0" * 64, "mode": "0644"}]}


HOSTILE = {
    "dot-dot": json.dumps(_records("../../outside/victim")),
    "dot-dot-inside": json.dumps(_records("files/../../../outside/victim")),
    "absolute": None,  # filled in with the absolute path of the victim
    "not-json": "{not json",
    "a-list": "[1, 2, 3]",
    "files-a-string": json.dumps({"files": "victim"}),
    "records-numbers": json.dumps({"files": [1, 2]}),
    "path-a-number": json.dumps({"files": [{"path": 7, "sha256": "x", "dest": "/x"}]}),
    "nul-in-path": json.dumps(_records("files/etc/vic\x00tim")),
    "empty-component": json.dumps(_records("files//victim")),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_manifest_is_ignored_with_a_warning_and_deletes_nothing_outside(
        case, tmp_path, tree):
    inv = inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out, env=ENV).rc == 0
    outside, files = outside_tree(tmp_path)
    text = HOSTILE[case] or json.dumps(_records(str(outside / "victim")))
    (out / "web1/manifest.json").write_text(text)
    result = run_cli("render", inv, "-o", out, env=ENV)
    assert result.rc == 0, result.err
    assert "Traceback" not in result.err
    assert f"warning: {out}/web1/manifest.json is not a manifest bootstrap wrote" in result.err
    assert_untouched(outside, files)
    again = run_cli("render", inv, "-o", out, env=ENV)  # the manifest was written anew
    assert again.rc == 0 and again.err == "" and ", 0 changed," in again.out


def test_a_record_through_a_link_removes_nothing_outside(tmp_path, tree):
    inv = inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out, env=ENV).rc == 0
    outside, files = outside_tree(tmp_path)
    (out / "web1/files/lnk").symlink_to(outside)
    manifest = json.loads((out / "web1/manifest.json").read_text())
    manifest["files"].append({"dest": "/lnk/victim", "path": "files/lnk/victim",
                              "sha256": "0" * 64, "mode": "0644"})
    manifest["files"].append({"dest": "/lnk/etc/passwd", "path": "files/lnk/etc/passwd",
                              "sha256": "0" * 64, "mode": "0644"})
    (out / "web1/manifest.json").write_text(json.dumps(manifest))
    result = run_cli("render", inv, "-o", out, env=ENV)
    assert result.rc == 0, result.err
    assert_untouched(outside, files)


def test_a_huge_or_special_manifest_is_ignored(tmp_path, tree):
    inv = inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out, env=ENV).rc == 0
    huge = out / "web1/manifest.json"
    huge.unlink()
    with huge.open("wb") as handle:
        handle.truncate(65 << 20)  # sparse: bigger than any manifest, costs no disk
    os.mkfifo(out / "web2/manifest.json.fifo")
    (out / "web2/manifest.json").unlink()
    (out / "web2/manifest.json").symlink_to(out / "web2/manifest.json.fifo")  # would block
    result = run_cli("render", inv, "-o", out, env=ENV)
    assert result.rc == 0, result.err
    assert f"{out}/web1/manifest.json is not a regular file" in result.err
    assert f"{out}/web2/manifest.json is not a regular file" in result.err
    assert json.loads(huge.read_text())["host"] == "web1"


def test_removing_a_file_removes_only_the_folders_it_emptied_inside_the_host(tmp_path, tree):
    inv = inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out, env=ENV).rc == 0
    (inv / "roles/app/role.yml").write_text(
        "artifacts:\n  - {template: app/app.ini.j2, dest: /etc/app/app.ini}\n")
    keep = out / "web2/files/etc/app/mine.txt"  # a file the user put there: the folder stays
    keep.write_text("mine\n")
    result = run_cli("render", inv, "-o", out, env=ENV)
    assert result.rc == 0, result.err
    assert not (out / "web1/files/etc/app/README").exists()
    assert (out / "web1/files/etc/app/app.ini").exists()
    assert keep.read_text() == "mine\n"
    # Removing the last file of a folder removes the folder, up to (not including) the host's.
    (inv / "roles/app/role.yml").write_text("artifacts: []\n")
    (inv / "hosts.yml").write_text((inv / "hosts.yml").read_text().replace("base, app", "app"))
    assert run_cli("render", inv, "-o", out, env=ENV).rc == 0
    assert sorted(p.name for p in (out / "web1").iterdir()) == ["manifest.json"]
    assert keep.read_text() == "mine\n"


# -- pruning: only what the tool wrote ---------------------------------------------------------

def test_pruning_removes_only_host_folders_the_tool_wrote(tmp_path, tree):
    inv = inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out, env=ENV).rc == 0
    mine = out / "notes"  # a folder with a manifest the tool never wrote
    mine.mkdir()
    (mine / "manifest.json").write_text('{"files": []}')
    (inv / "hosts.yml").write_text((inv / "hosts.yml").read_text().replace("web[1:2]",
                                                                           "web[1:1]"))
    result = run_cli("render", inv, "-o", out, env=ENV)
    assert result.rc == 0, result.err
    assert "removed: web2 (not in the inventory)" in result.out
    assert not (out / "web2").exists()
    assert (mine / "manifest.json").exists()
    assert "notes" not in result.out


@pytest.mark.parametrize("record", [
    '{"hosts": ["../outside"]}', '{"hosts": ["/tmp"]}', '{"hosts": [".."]}', "not json",
    '{"hosts": "web1"}', '["web1"]', '{"hosts": [".bootstrap"]}',
])
def test_a_hostile_record_of_written_folders_prunes_nothing(record, tmp_path, tree):
    inv = inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out, env=ENV).rc == 0
    outside, files = outside_tree(tmp_path)
    (out / ".bootstrap/hosts.json").write_text(record)
    (inv / "hosts.yml").write_text((inv / "hosts.yml").read_text().replace("web[1:2]",
                                                                           "web[1:1]"))
    result = run_cli("render", inv, "-o", out, env=ENV)
    assert result.rc == 0, result.err
    assert "hosts.json is not a list of host folders" in result.err
    assert (out / "web2").is_dir()  # not pruned: the record cannot be trusted
    assert_untouched(outside, files)
    assert json.loads((out / ".bootstrap/hosts.json").read_text())["hosts"] == [
        "_fleet", "db1", "web1"]


def test_a_pruned_host_folder_replaced_by_a_link_removes_the_link_only(tmp_path, tree):
    inv = inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out, env=ENV).rc == 0
    outside, files = outside_tree(tmp_path)
    os.rename(out / "web2", tmp_path / "web2-away")
    (out / "web2").symlink_to(outside)
    (inv / "hosts.yml").write_text((inv / "hosts.yml").read_text().replace("web[1:2]",
                                                                           "web[1:1]"))
    result = run_cli("render", inv, "-o", out, env=ENV)
    assert result.rc == 0, result.err
    assert not os.path.lexists(out / "web2")
    assert_untouched(outside, files)


# -- where -o points ---------------------------------------------------------------------------

def test_output_that_is_a_file_a_dangling_link_or_unwritable_is_one_line(tmp_path, tree):
    inv = inventory(tree)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    cases = {a_file: "is not a folder", tmp_path / "a-file" / "sub": "is not a folder",
             dangling: "link to a missing folder",
             Path("/proc/self/bootstrap-build"): "cannot create the build directory"}
    for target, message in cases.items():
        line = one_error(run_cli("render", inv, "-o", target, env=ENV))
        assert str(target) in line and message in line, line
    assert a_file.read_text() == "x"
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_output_in_a_read_only_folder_is_one_line(tmp_path, tree):
    inv = inventory(tree)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    line = one_error(run_cli("render", inv, "-o", locked / "build", env=ENV))
    assert "Permission denied" in line


# -- the writer checks names itself, whatever the inventory loader let through -----------------

@pytest.mark.parametrize("name", ["..", ".", "a/b", "/abs", "", "x" * 256, "é" * 128, "nul\x00",
                                  ".hidden", "new\nline", "tab\there"])
def test_the_writer_refuses_a_host_name_that_is_not_one_plain_folder(name, tmp_path):
    entries = planner.host_entries("h", [], [])
    with BuildDir.writing(tmp_path / "build") as directory, pytest.raises(BootstrapError) as err:
        planner.plan(directory, {name: entries}, prune=False)
    assert "cannot be a folder of the build" in str(err.value)


@pytest.mark.parametrize("path", ["files/../../x", "/etc/x", "files//x", "files/./x", "",
                                  "files/" + "y" * 256, "files/a\x00b", "files/.."])
def test_the_writer_refuses_a_file_path_that_leaves_the_host_folder(path, tmp_path):
    entries = [planner.Entry.of(path, b"x", 0o644)]
    with BuildDir.writing(tmp_path / "build") as directory, pytest.raises(BootstrapError) as err:
        planner.plan(directory, {"h": entries}, prune=False)
    assert "cannot be written inside the host folder" in str(err.value)
    assert not any((tmp_path / "build").glob("h*"))


def test_a_secret_file_without_a_redacted_copy_is_never_diffed(tmp_path):
    secret = planner.Entry.of("files/etc/key", b"hunter2\n", 0o600, True)
    with BuildDir.writing(tmp_path / "build") as directory:
        plan = planner.plan(directory, {"h": [secret]}, prune=False)
        assert planner.diff(plan, directory) == "h/files/etc/key: a secret file changed (not shown)\n"


def test_the_writer_refuses_a_path_that_is_both_a_file_and_a_folder(tmp_path):
    entries = [planner.Entry.of("files/etc", b"x", 0o644), planner.Entry.of("files/etc/a", b"", 0o644)]
    with BuildDir.writing(tmp_path / "build") as directory, pytest.raises(BootstrapError) as err:
        planner.plan(directory, {"h": entries}, prune=False)
    assert "files/etc would be both a file and a folder" in str(err.value)


# -- readers: a corrupt manifest is one line ---------------------------------------------------

@pytest.mark.parametrize("text", ["{not json", '{"files": [{"path": "../../etc/shadow", '
                                  '"sha256": "0", "dest": "/x"}]}', "[]"])
def test_validate_reports_a_corrupt_manifest_in_one_line(text, tmp_path, tree):
    inv = inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out, env=ENV).rc == 0
    (out / "web1/manifest.json").write_text(text)
    line = one_error(run_cli("validate", out))
    assert f"{out}/web1/manifest.json" in line and "run: bootstrap render" in line


def test_validate_does_not_follow_a_host_folder_that_is_a_link(tmp_path, tree):
    inv = inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out, env=ENV).rc == 0
    elsewhere = tmp_path / "elsewhere"
    os.rename(out / "web1", elsewhere)
    (out / "web1").symlink_to(elsewhere)
    result = run_cli("validate", out)
    assert "Traceback" not in result.err
    assert "web1" not in result.out
    assert "web2" in result.out


# -- diffs never show an old secret ------------------------------------------------------------

def _no_secret(result, *values: str) -> None:
    shown = result.out + result.err
    for value in values:
        assert value not in shown
        assert hashlib.sha256(value.encode()).hexdigest() not in shown


def test_removing_a_secret_diffs_its_redacted_copy_not_its_value(tmp_path, tree):
    inv = inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out, env=ENV).rc == 0
    old_ini = (out / "web1/files/etc/app/app.ini").read_bytes()
    (inv / "hosts.yml").write_text((inv / "hosts.yml").read_text().replace(
        "token: {env: APP_TOKEN}", "token: now-plain"))
    for flag in ("--check", "--diff"):
        result = run_cli("render", inv, "-o", out, flag, env=ENV)
        assert result.rc == (2 if flag == "--check" else 0), result.err
        _no_secret(result, TOKEN)
        assert hashlib.sha256(old_ini).hexdigest() not in result.out
        assert "+token = now-plain" in result.out
        assert "-token = <secret" in result.out
    assert "now-plain" in (out / "web1/files/etc/app/app.ini").read_text()


def test_changing_a_secret_says_so_without_its_value_or_digest(tmp_path, tree):
    inv = inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out, env=ENV).rc == 0
    for flag in ("--check", "--diff"):
        result = run_cli("render", inv, "-o", out, flag, env={"APP_TOKEN": "rotated-2"})
        _no_secret(result, TOKEN, "rotated-2")
        assert "web1/files/etc/app/app.ini: a secret value changed (not shown)" in result.out


def test_a_secret_whose_redacted_copy_is_gone_is_not_shown(tmp_path, tree):
    inv = inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out, env=ENV).rc == 0
    (out / "web1/.redacted/files/etc/app/app.ini").unlink()
    (inv / "hosts.yml").write_text((inv / "hosts.yml").read_text().replace(
        "token: {env: APP_TOKEN}", "token: now-plain"))
    result = run_cli("render", inv, "-o", out, "--check", env=ENV)
    _no_secret(result, TOKEN)
    assert "web1/files/etc/app/app.ini: changed; the previous file held a secret (not shown)" \
        in result.out


def test_a_file_the_previous_manifest_does_not_vouch_for_is_not_shown(tmp_path, tree):
    inv = inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out, env=ENV).rc == 0
    (out / "web1/manifest.json").write_text("{corrupt")
    (inv / "hosts.yml").write_text((inv / "hosts.yml").read_text().replace(
        "token: {env: APP_TOKEN}", "token: now-plain"))
    result = run_cli("render", inv, "-o", out, "--diff", env=ENV)
    assert result.rc == 0, result.err
    _no_secret(result, TOKEN)
    assert "web1/files/etc/app/app.ini: replaced; the previous file is not in the build's " \
           "manifest (not shown)" in result.out


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_check_of_a_build_this_user_cannot_write_reads_it(tmp_path, tree):
    inv = inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out, env=ENV).rc == 0
    for folder in [out, *(p for p in out.rglob("*") if p.is_dir())]:
        folder.chmod(0o555)
    try:
        result = run_cli("render", inv, "-o", out, "--check", env=ENV)
        assert result.rc == 0, result.err
        assert ", 0 would change," in result.out
    finally:
        for folder in [out, *(p for p in out.rglob("*") if p.is_dir())]:
            folder.chmod(0o755)


# -- destinations of a user's role --------------------------------------------------------------

@pytest.mark.parametrize("dest", ["../../outside/victim", "/etc/../../outside/victim",
                                  "/etc/{{ vars.where }}", "router//x", "/"],
                         ids=["literal", "absolute-climbing", "from-inventory", "empty-part", "root"])
def test_a_role_destination_that_climbs_is_refused_at_its_role_yml_line(dest, tmp_path, tree):
    outside, files = outside_tree(tmp_path)
    inv = tree({
        "hosts.yml": "all:\n  vars:\n    bootstrap_roles: [base, evil]\n"
                     "    where: ../../../../outside/victim\n  hosts:\n    web1:\n",
        "roles/evil/role.yml": f"""
            artifacts:
              - {{template: evil/x.j2, dest: "/etc/evil.conf"}}
              - {{template: evil/x.j2, dest: "{dest}"}}
            """,
        "templates/evil/x.j2": "written\n",
    })
    error = one_error(run_cli("render", inv, "-o", tmp_path / "build"))
    assert error.startswith(f"error: {inv}/roles/evil/role.yml:3: host web1: role evil: "
                            "destination "), error
    assert not (tmp_path / "build" / "web1").exists()
    assert_untouched(outside, files)
