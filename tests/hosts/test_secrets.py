"""Secret references: resolved only into the files that need them, 0600, never shown."""

from __future__ import annotations

import json
import stat

from support.cli import run_cli

SECRET = "s3cr3t-Value'with\"quotes"
ENV_SECRET = "envPassw0rd!"


def secret_inventory(tree):
    return tree({
        "hosts.yml": """
            all:
              vars:
                bootstrap_roles: [app]
              hosts:
                app1:
                  app_password: {file: secrets/app1.pass}
                  api_token: {env: APP_API_TOKEN}
                  note: plain
            """,
        "secrets/app1.pass": SECRET + "\n",
        "roles/app/role.yml": """
            artifacts:
              - {template: app/app.ini.j2, dest: /etc/app/app.ini}
              - {template: app/start.sh.j2, dest: /usr/local/bin/app-start, mode: "0755"}
              - {template: app/readme.j2, dest: /etc/app/README}
            """,
        "templates/app/app.ini.j2": """
            [auth]
            password = {{ vars.app_password | ini }}
            token = {{ vars.api_token | ini }}
            """,
        "templates/app/start.sh.j2": """
            #!/bin/sh
            exec app --password {{ vars.app_password | shell }}
            """,
        "templates/app/readme.j2": "note: {{ vars.note }}\n",
    })


def test_secret_files_are_0600_flagged_and_hold_the_value(tmp_path, tree):
    inv = secret_inventory(tree)
    out = tmp_path / "build"
    result = run_cli("render", inv, "-o", out, env={"APP_API_TOKEN": ENV_SECRET})
    assert result.rc == 0, result.err
    files = out / "app1" / "files"
    ini = files / "etc/app/app.ini"
    assert SECRET in ini.read_text() and ENV_SECRET in ini.read_text()
    assert stat.S_IMODE(ini.stat().st_mode) == 0o600
    script = files / "usr/local/bin/app-start"
    assert stat.S_IMODE(script.stat().st_mode) == 0o600  # a secret wins over the role's 0755
    readme = files / "etc/app/README"
    assert stat.S_IMODE(readme.stat().st_mode) == 0o644
    manifest = json.loads((out / "app1/manifest.json").read_text())
    flags = {f["dest"]: f["secret"] for f in manifest["files"]}
    assert flags == {"/etc/app/app.ini": True, "/usr/local/bin/app-start": True,
                     "/etc/app/README": False}
    assert stat.S_IMODE((out / "app1/manifest.json").stat().st_mode) == 0o600
    for text in (result.out, result.err, json.dumps(manifest)):
        assert SECRET not in text and ENV_SECRET not in text


def test_diff_redacts_secrets_on_both_sides(tmp_path, tree):
    inv = secret_inventory(tree)
    out = tmp_path / "build"
    env = {"APP_API_TOKEN": ENV_SECRET}
    assert run_cli("render", inv, "-o", out, env=env).rc == 0
    (inv / "secrets/app1.pass").write_text("n3w-secret-value\n")
    result = run_cli("render", inv, "-o", out, "--diff", env={"APP_API_TOKEN": "rotated-token"})
    assert result.rc == 0, result.err
    assert "app1/files/etc/app/app.ini" in result.out
    for value in (SECRET, ENV_SECRET, "n3w-secret-value", "rotated-token"):
        assert value not in result.out
        assert value not in result.err
    assert "app1/files/etc/app/app.ini: a secret value changed (not shown)" in result.out
    assert "n3w-secret-value" in (out / "app1/files/etc/app/app.ini").read_text()


def test_inventory_commands_show_references_not_values(tree):
    inv = secret_inventory(tree)
    env = {"APP_API_TOKEN": ENV_SECRET}
    host = run_cli("inventory", inv, "--host", "app1", env=env)
    assert host.rc == 0, host.err
    data = json.loads(host.out)
    assert data["app_password"] == "<secret:file:secrets/app1.pass>"
    assert data["api_token"] == "<secret:env:APP_API_TOKEN>"
    explain = run_cli("inventory", inv, "--explain", "app1", "app_password", env=env)
    assert "<secret:file:secrets/app1.pass>" in explain.out
    listing = run_cli("inventory", inv, "--list", env=env)
    for out in (host.out, explain.out, listing.out):
        assert SECRET not in out and ENV_SECRET not in out


def test_missing_secret_names_host_key_and_file_line_and_keeps_the_build(tmp_path, tree):
    inv = secret_inventory(tree)
    out = tmp_path / "build"
    assert run_cli("render", inv, "-o", out, env={"APP_API_TOKEN": ENV_SECRET}).rc == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    for env in ({"APP_API_TOKEN": None}, {"APP_API_TOKEN": ""}):
        result = run_cli("render", inv, "-o", out, env=env)
        assert result.rc == 1
        lines = result.err.strip().splitlines()
        assert len(lines) == 1, result.err
        assert "hosts.yml:7" in lines[0]
        assert "host app1" in lines[0] and "key api_token" in lines[0]
        assert "APP_API_TOKEN" in lines[0]
        assert "Traceback" not in result.err
        assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_missing_secret_file(tmp_path, tree):
    inv = secret_inventory(tree)
    (inv / "secrets/app1.pass").unlink()
    result = run_cli("render", inv, "-o", tmp_path / "b", env={"APP_API_TOKEN": ENV_SECRET})
    assert result.rc == 1
    assert "hosts.yml:6" in result.err and "key app_password" in result.err
    assert "secrets/app1.pass" in result.err and "Traceback" not in result.err
    assert not (tmp_path / "b").exists()


def test_secrets_nested_in_json_and_multiline_keys_are_redacted_in_diffs(tmp_path, tree):
    pem = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAsecretline1\n"
           "QWERTYsecretline2xyz\n-----END RSA PRIVATE KEY-----\n")
    inv = tree({
        "hosts.yml": """
            all:
              hosts:
                h1:
                  bootstrap_roles: [cfg]
                  cfg: {password: {env: PW}, key: {file: secrets/key.pem}}
            """,
        "secrets/key.pem": pem,
        "roles/cfg/role.yml": "artifacts:\n  - {template: cfg.j2, dest: /etc/cfg.json}\n"
                              "  - {template: key.j2, dest: /etc/key.yml}\n",
        "templates/cfg.j2": "{{ vars.cfg | json }}\n",
        "templates/key.j2": "key: |\n  {{ vars.cfg.key | string | indent(2) }}\n",
    })
    out = tmp_path / "build"
    result = run_cli("render", inv, "-o", out, env={"PW": 'a"b\\c\nnext'})
    assert result.rc == 0, result.err
    data = json.loads((out / "h1/files/etc/cfg.json").read_text())
    assert data["password"] == 'a"b\\c\nnext'
    redacted_json = (out / "h1/.redacted/files/etc/cfg.json").read_text()
    redacted_yaml = (out / "h1/.redacted/files/etc/key.yml").read_text()
    for text in (redacted_json, redacted_yaml):
        assert "secretline" not in text and 'a\\"b' not in text
    assert "<secret:env:PW>" in redacted_json
    assert "<secret:file:secrets/key.pem>" in redacted_yaml
