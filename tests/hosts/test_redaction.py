"""The redacted copies of secret files (``.redacted/``, shown in diffs) give nothing away.

A copy made by replacing the secret's text in the output would show a one-character secret, or
a secret equal to another value of the file (a port), by where the placeholder lands. The copy
must depend on the template and the non-secret values only: the same whatever the secret.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import yaml
from support.cli import run_cli, write_tree

DISTINCTIVE = "Zq8-distinctive-S3cret"
# A one-character secret; one equal to the port of the same file; one shell must quote.
VALUES = [DISTINCTIVE, "7", "8443", "a b'c"]

TEMPLATES = {
    "roles/app/role.yml": """
        artifacts:
          - {template: app/app.ini.j2, dest: /etc/app/app.ini}
          - {template: app/start.sh.j2, dest: /usr/local/bin/app-start, mode: "0755"}
          - {template: app/client.rb.j2, dest: /etc/app/client.rb}
          - {template: app/app.json.j2, dest: /etc/app/app.json}
          - {template: app/app.yml.j2, dest: /etc/app/app.yml}
          - {template: app/plain.j2, dest: /etc/app/plain.txt}
        """,
    "templates/app/app.ini.j2": """
        [server]
        port = {{ vars.port | ini }}
        password = {{ vars.pw | ini }}
        release = 7
        """,
    "templates/app/start.sh.j2": """
        #!/bin/sh
        exec app --port {{ vars.port | shell }} --password {{ vars.pw | shell }} --level 7
        """,
    "templates/app/client.rb.j2": """
        port {{ vars.port | ruby }}
        secret {{ vars.pw | ruby }}
        """,
    "templates/app/app.json.j2": "{{ {'port': vars.port, 'auth': {'password': vars.pw}} | json }}\n",
    "templates/app/app.yml.j2": """
        port: {{ vars.port | yaml }}
        password: {{ vars.pw | yaml }}
        """,
    "templates/app/plain.j2": "port {{ vars.port }} password {{ vars.pw }} and 7 more\n",
}


def app_inventory(base: Path, value: str) -> Path:
    inv = write_tree(base, {
        "hosts.yml": """
            all:
              hosts:
                app1:
                  bootstrap_roles: [app]
                  port: "8443"
                  pw: {file: secrets/pw}
            """,
        **TEMPLATES,
    })
    (inv / "secrets").mkdir(exist_ok=True)
    (inv / "secrets/pw").write_text(value + "\n")
    return inv


def redacted_copies(build: Path, host: str) -> dict[str, bytes]:
    folder = build / host / ".redacted"
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def render(tmp_path: Path, name: str, value: str) -> tuple[Path, str]:
    inv = app_inventory(tmp_path / f"inv-{name}", value)
    build = tmp_path / f"build-{name}"
    result = run_cli("render", inv, "-o", build)
    assert result.rc == 0, result.err
    return build, result.out + result.err


def test_the_redacted_copies_are_the_same_whatever_the_secret(tmp_path):
    copies = {}
    for index, value in enumerate(VALUES):
        build, shown = render(tmp_path, str(index), value)
        files = build / "app1/files"
        for dest in ("etc/app/app.ini", "usr/local/bin/app-start", "etc/app/client.rb",
                     "etc/app/app.json", "etc/app/app.yml", "etc/app/plain.txt"):
            real = files / dest
            if "'" not in value:  # a quote is escaped in most of the files
                assert value in real.read_text(encoding="utf-8"), dest
            assert stat.S_IMODE(real.stat().st_mode) == 0o600
        assert DISTINCTIVE not in shown
        copies[value] = redacted_copies(build, "app1")
    first = copies[DISTINCTIVE]
    assert len(first) == 6
    for value, found in copies.items():
        assert found == first, f"the redacted copies differ when the secret is {value!r}"
    assert not any(DISTINCTIVE.encode() in text for text in first.values())


def test_each_filter_prints_the_placeholder_itself(tmp_path):
    build, _ = render(tmp_path, "one", "7")
    copy = {k: v.decode() for k, v in redacted_copies(build, "app1").items()}
    label = "<secret:file:secrets/pw>"
    # The port equal to nothing secret, and every other '7', stay as they are.
    assert copy["files/etc/app/app.ini"] == (f"[server]\nport = 8443\npassword = {label}\n"
                                             "release = 7\n")
    assert copy["files/usr/local/bin/app-start"] == (f"#!/bin/sh\nexec app --port 8443 "
                                                     f"--password {label} --level 7\n")
    assert copy["files/etc/app/client.rb"] == f"port '8443'\nsecret '{label}'\n"
    assert json.loads(copy["files/etc/app/app.json"]) == {"port": "8443",
                                                          "auth": {"password": label}}
    assert yaml.safe_load(copy["files/etc/app/app.yml"]) == {"port": "8443", "password": label}
    assert copy["files/etc/app/plain.txt"] == f"port 8443 password {label} and 7 more\n"


def test_a_secret_equal_to_another_value_leaves_that_value_in_the_copy(tmp_path):
    build, _ = render(tmp_path, "port", "8443")
    real = (build / "app1/files/etc/app/app.ini").read_text()
    assert real.count("8443") == 2
    copy = (build / "app1/.redacted/files/etc/app/app.ini").read_text()
    assert copy.count("8443") == 1 and "port = 8443" in copy


USERDATA_ROLE = {
    "roles/app/role.yml": """
        artifacts:
          - {template: app/bootstrap.sh.j2, dest: /usr/local/sbin/app-bootstrap, mode: "0755",
             userdata: script}
          - {template: app/app.conf.j2, dest: /etc/app/app.conf, userdata: file}
          - {template: app/cloud-config.yaml.j2, dest: app-cloud-config.yaml,
             userdata: cloud-config}
        """,
    "templates/app/bootstrap.sh.j2": """
        #!/bin/sh
        app-setup --port 8443 --token {{ vars.pw | shell }} --level 7
        """,
    "templates/app/app.conf.j2": "port = 8443\ntoken = {{ vars.pw | ini }}\n",
    "templates/app/cloud-config.yaml.j2": """
        bootcmd:
          - [sh, -c, {{ ("echo " ~ vars.port) | yaml }}]
        write_files:
          - {path: /etc/app/token, content: {{ vars.pw | yaml }}, permissions: '0o600'}
        """,
}


def userdata_inventory(base: Path, value: str, gzip: str) -> Path:
    inv = write_tree(base, {
        "hosts.yml": f"""
            all:
              hosts:
                app1:
                  bootstrap_roles: [cloud-init, app]
                  port: "8443"
                  pw: {{file: secrets/pw}}
                  cloud_init:
                    gzip: {gzip}
                    write_files:
                      - {{path: /etc/own.key, content: {{file: secrets/pw}}}}
            """,
        **USERDATA_ROLE,
    })
    (inv / "secrets").mkdir(exist_ok=True)
    (inv / "secrets/pw").write_text(value + "\n")
    return inv


@pytest.mark.parametrize("gzip", ["never", "always"])
def test_user_data_redacted_copies_are_the_same_whatever_the_secret(tmp_path, gzip):
    copies = {}
    for index, value in enumerate(VALUES):
        inv = userdata_inventory(tmp_path / f"inv{index}", value, gzip)
        build = tmp_path / f"b{index}"
        result = run_cli("render", inv, "-o", build)
        assert result.rc == 0, result.err
        text = (build / "app1/user-data.txt").read_text()
        assert value in text or "'" in value
        for name in ("user-data", "user-data.b64", "user-data.txt", "user-data.report.json"):
            assert stat.S_IMODE((build / "app1" / name).stat().st_mode) == 0o600
        assert DISTINCTIVE not in result.out + result.err
        copies[value] = redacted_copies(build, "app1")
    first = copies[DISTINCTIVE]
    # The sizes too: they would tell the secret's length, and gzip how it compresses.
    assert {"user-data", "user-data.b64", "user-data.txt", "user-data.report.json"} <= set(first)
    for value, found in copies.items():
        assert found == first, f"the redacted copies differ when the secret is {value!r}"
    shown = first["user-data.txt"].decode()
    assert shown.count("<secret:file:secrets/pw>") == 4
    assert DISTINCTIVE not in shown


def test_a_value_built_from_a_secret_is_not_quoted_in_an_error(tmp_path):
    inv = app_inventory(tmp_path / "inv", "line1")
    (inv / "templates/app/app.ini.j2").write_text(
        "password = {{ vars.pw | ini }}\nbanner = {{ ('x' ~ vars.pw ~ '\\n') | ini }}\n")
    result = run_cli("render", inv, "-o", tmp_path / "b")
    assert result.rc == 1
    assert "line1" not in result.err and "Traceback" not in result.err
    assert "an INI value cannot contain a line break" in result.err
    assert "app.ini.j2:2" in result.err


def test_an_undefined_name_built_from_a_secret_is_not_quoted(tmp_path):
    inv = app_inventory(tmp_path / "inv", DISTINCTIVE)
    (inv / "templates/app/plain.j2").write_text("{{ vars.pw }} {{ vars[vars.pw ~ ''] }}\n")
    result = run_cli("render", inv, "-o", tmp_path / "b")
    assert result.rc == 1
    assert DISTINCTIVE not in result.err and "undefined template variable" in result.err
