"""A host's manifest records, at render time, what later commands need from the build: each
file's checkers (``check``) and each role's ``push --apply`` command (``apply``); read back, every
field is checked, so a manifest bootstrap did not write is one error line naming what is wrong.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from support.cli import ROOT, one_error, run_cli

from bootstrap.build import FLEET, MANIFEST
from bootstrap.build.directory import BuildDir


def inventory(tree) -> Path:
    return tree({
        "hosts.yml": """
            all:
              hosts:
                web1: {bootstrap_roles: [base, app, quiet]}
            """,
        "roles/app/role.yml": """
            apply: systemctl reload app
            artifacts:
              - {template: app/app.conf.j2, dest: /etc/app/app.conf, check: vtysh -C}
              - {template: app/start.sh.j2, dest: /usr/local/bin/app-start, mode: "0755",
                 check: [shellcheck, bird -p]}
            """,
        "roles/quiet/role.yml": """
            artifacts:
              - {template: app/app.conf.j2, dest: /etc/quiet.conf}
            """,
        "templates/app/app.conf.j2": "name = {{ host.name }}\n",
        "templates/app/start.sh.j2": "#!/bin/sh\necho started\n",
    })


@pytest.fixture
def built(tree, tmp_path) -> Path:
    out = tmp_path / "build"
    result = run_cli("render", inventory(tree), "-o", out)
    assert result.rc == 0, result.err
    return out


def test_render_records_each_roles_apply_command_and_each_files_checkers(built):
    manifest = json.loads((built / "web1" / MANIFEST).read_text())
    # Only roles that have one: push applies nothing for the others.
    assert manifest["apply"] == {"app": "systemctl reload app"}
    checks = {r["dest"]: r["check"] for r in manifest["files"]}
    assert checks == {"/etc/motd": [], "/etc/bootstrap/host.json": [],
                      "/etc/app/app.conf": ["vtysh -C"],
                      "/usr/local/bin/app-start": ["shellcheck", "bird -p"],
                      "/etc/quiet.conf": []}


def test_the_reader_gives_typed_records(built):
    with BuildDir.reading(built) as directory:
        manifest = directory.manifest("web1", files=True)
        absent = directory.manifest("nosuchhost")
    assert absent is None
    assert manifest is not None
    assert manifest.host == "web1" and manifest.roles == ("base", "app", "quiet")
    assert manifest.apply == {"app": "systemctl reload app"}
    start = next(r for r in manifest.files if r.dest == "/usr/local/bin/app-start")
    assert (start.path, start.mode, start.owner, start.role, start.secret) == (
        "files/usr/local/bin/app-start", 0o755, "root:root", "app", False)
    assert start.check == ("shellcheck", "bird -p") and start.on_host
    assert manifest.raw["host"] == "web1"  # what verify's checks get as ``manifest``


def test_the_fleet_folder_has_a_manifest_with_no_roles(tmp_path):
    out = tmp_path / "build"
    assert run_cli("render", ROOT / "inventory", "-o", out, "--limit", "chef-deb01").rc == 0
    with BuildDir.reading(out) as directory:
        fleet = directory.manifest(FLEET)
    assert fleet is not None and fleet.roles == () and fleet.apply == {} and not fleet.files
    assert all(not r.on_host and r.dest.startswith("iam/") for r in fleet.outputs)


@pytest.mark.parametrize(("change", "problem"), [
    (lambda m: m["files"][0].update(mode="rw-r--r--"), "files[0].mode is not an octal mode"),
    (lambda m: m["files"][0].update(mode=420), "files[0].mode is not an octal mode"),
    (lambda m: m["files"][0].pop("owner"), "files[0] has no owner or role string"),
    (lambda m: m["files"][1].update(role=["app"]), "files[1] has no owner or role string"),
    (lambda m: m["files"][0].update(secret="no"), "files[0].secret is not true or false"),
    (lambda m: m["files"][0].update(size="12"), "files[0].size is not a number"),
    (lambda m: m["files"][0].update(check="vtysh -C"),
     "files[0].check is not a list of checker names"),
    (lambda m: m["files"][0].update(check=[1]), "files[0].check is not a list of checker names"),
    (lambda m: m.update(apply=["systemctl reload app"]), "apply is not an object of role: command"),
    (lambda m: m.update(apply={"app": None}), "apply is not an object of role: command"),
    (lambda m: m.update(roles=[1]), "roles is not a list of role names"),
    (lambda m: m.update(host=7), "host is not a string"),
])
def test_a_manifest_field_of_the_wrong_type_is_one_error_line(change, problem, built):
    path = built / "web1" / MANIFEST
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))
    line = one_error(run_cli("validate", built))
    assert line == (f"error: host web1: {path} is not a manifest bootstrap wrote ({problem}); "
                    "run: bootstrap render")


def test_a_manifest_written_before_checks_and_apply_were_recorded_still_reads(built):
    path = built / "web1" / MANIFEST
    manifest = json.loads(path.read_text())
    del manifest["apply"]
    for record in manifest["files"]:
        del record["check"]
    path.write_text(json.dumps(manifest))
    with BuildDir.reading(built) as directory:
        read = directory.manifest("web1")
    assert read is not None and read.apply is None
    assert {r.check for r in read.files} == {None}


ODD = 'é "q" \\ ☃ 😀 \u2028'  # quotes, a backslash, non-ASCII, beyond U+FFFF, a line separator


def _yaml(text: str) -> str:
    """``text`` as a YAML double-quoted scalar (YAML reads U+2028 as a line break unescaped)."""
    return json.dumps(text, ensure_ascii=False).replace("\u2028", "\\u2028")


def test_a_manifest_is_sorted_json_one_record_per_line_whatever_the_names(tree, tmp_path):
    inv = tree({
        "hosts.yml": """
            all:
              hosts:
                web1:
                  bootstrap_roles: [odd]
                  token: {file: token.txt}
            """,
        "token.txt": "s3cret\n",
        "roles/odd/role.yml": f"""
            artifacts:
              - {{template: odd/a.j2, dest: {_yaml(f"/etc/{ODD}.conf")},
                 owner: {_yaml(f"{ODD}:root")}, check: [{_yaml(ODD)}, shellcheck]}}
              - {{template: odd/token.j2, dest: {_yaml(f"{ODD}.out")}}}
            """,
        "templates/odd/a.j2": "{{ host.name }}\n",
        "templates/odd/token.j2": "{{ vars.token }}\n",
    })
    out = tmp_path / "build"
    result = run_cli("render", inv, "-o", out)
    assert result.rc == 0, result.err
    raw = (out / "web1" / MANIFEST).read_text()
    manifest = json.loads(raw)
    conf, = manifest["files"]
    token, = manifest["outputs"]
    assert (conf["dest"], conf["owner"], conf["check"]) == (f"/etc/{ODD}.conf", f"{ODD}:root",
                                                           [ODD, "shellcheck"])
    assert token["dest"] == f"{ODD}.out" and token["secret"] is True
    assert token["redacted_sha256"] == hashlib.sha256(
        (out / "web1" / ".redacted" / f"{ODD}.out").read_bytes()).hexdigest()
    # The layout a reader diffs: sorted keys at both levels, one record per line, ASCII only.
    expected = ["{",
                '  "apply": {},',
                '  "files": [',
                f"    {json.dumps(conf, sort_keys=True)}",
                "  ],",
                '  "host": "web1",',
                '  "outputs": [',
                f"    {json.dumps(token, sort_keys=True)}",
                "  ],",
                '  "roles": ["odd"]',
                "}"]
    assert raw.splitlines() == expected
    assert raw.isascii() and raw.endswith("}\n")
