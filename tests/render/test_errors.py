"""Bad input in role settings and templates: one clear line, exit 1, no traceback, build kept."""

from __future__ import annotations

import textwrap
from pathlib import Path

from support.cli import run_cli

SETTINGS = '''
from bootstrap.hosts.model import Settings


class Limits(Settings):
    cpu: int = 1
    memory_mb: int = 512


class App(Settings):
    port: int
    listen: str = "0.0.0.0"
    limits: Limits = Limits()
'''


HOSTS = """\
all:
  vars:
    bootstrap_roles: [base]
  children:
    apps:
      vars:
        bootstrap_roles: [app]
      hosts:
        app1:
          app:
{block}
        app2:
          app: {{port: 80}}
"""


def app_inventory(tree, app_block: str, template: str = "port={{ settings.port }}\n") -> Path:
    """app1's ``app:`` mapping is ``app_block`` (lines without indentation); it starts at line 11."""
    block = textwrap.indent(app_block, " " * 12)
    return tree({
        "hosts.yml": HOSTS.format(block=block.rstrip("\n")),
        "roles/app/role.yml": """
            namespace: app
            model: settings.py:App
            artifacts:
              - {template: app/app.conf.j2, dest: /etc/app.conf}
            """,
        "roles/app/settings.py": SETTINGS,
        "templates/app/app.conf.j2": template,
    })


def check_error(result, *fragments: str) -> str:
    assert result.rc == 1, (result.out, result.err)
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def build_kept(tmp_path: Path, inv: Path, good: str, bad: str, *fragments: str) -> None:
    """Render a good inventory, break it, render again: error, and the build is unchanged."""
    out = tmp_path / "build"
    hosts = inv / "hosts.yml"
    hosts.write_text(hosts.read_text().replace(bad, good))
    assert run_cli("render", inv, "-o", out).rc == 0
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}
    hosts.write_text(hosts.read_text().replace(good, bad))
    check_error(run_cli("render", inv, "-o", out), *fragments)
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_unknown_key_in_a_namespace_suggests_the_right_one(tmp_path, tree):
    inv = app_inventory(tree, "port: 8080\nlisen: 127.0.0.1\n")
    line = check_error(run_cli("render", inv, "-o", tmp_path / "b"),
                       "hosts.yml:12", "host app1", "key app.lisen", "unknown key 'lisen'",
                       "did you mean 'listen'")
    assert "known keys: limits, listen, port" in line


def test_unknown_nested_key(tmp_path, tree):
    inv = app_inventory(tree, "port: 8080\nlimits: {cpu: 2, memroy_mb: 4}\n")
    check_error(run_cli("render", inv, "-o", tmp_path / "b"),
                "hosts.yml:12", "key app.limits.memroy_mb", "did you mean 'memory_mb'")


def test_wrong_type_names_file_line_host_and_key(tmp_path, tree):
    inv = app_inventory(tree, "port: 8080\n")
    build_kept(tmp_path, inv, "port: 8080", "port: eighty",
               "hosts.yml:11", "host app1", "key app.port", "integer", "'eighty'")


def test_missing_required_key(tmp_path, tree):
    inv = app_inventory(tree, "listen: 127.0.0.1\n")
    check_error(run_cli("render", inv, "-o", tmp_path / "b"),
                "host app1", "key app.port", "is required")


def test_namespace_that_is_not_a_mapping(tmp_path, tree):
    inv = app_inventory(tree, "")
    hosts = inv / "hosts.yml"
    hosts.write_text(hosts.read_text().replace("app:\n", "app: [1]\n", 1))
    check_error(run_cli("render", inv, "-o", tmp_path / "b"), "host app1", "key app")


def test_unknown_role_suggests_a_known_one(tmp_path, tree):
    inv = app_inventory(tree, "port: 1\n")
    hosts = inv / "hosts.yml"
    hosts.write_text(hosts.read_text().replace("bootstrap_roles: [app]", "bootstrap_roles: [bsae]"))
    check_error(run_cli("render", inv, "-o", tmp_path / "b"),
                "hosts.yml:7", "key bootstrap_roles[1]", "unknown role 'bsae'",
                "did you mean 'base'")


def test_undefined_template_variable_names_the_template_line(tmp_path, tree):
    inv = app_inventory(tree, "port: 8080\n",
                        template="port={{ settings.port }}\nuser={{ app_user }}\n")
    line = check_error(run_cli("render", inv, "-o", tmp_path / "b"),
                       "app.conf.j2:2", "host app1", "undefined template variable", "app_user")
    assert str(inv / "templates/app/app.conf.j2") in line


def test_value_that_cannot_be_embedded_is_refused(tmp_path, tree):
    inv = app_inventory(tree, "port: 8080\nlisten: \"0.0.0.0\\n[evil]\"\n",
                        template="[main]\nlisten = {{ settings.listen | ini }}\n")
    check_error(run_cli("render", inv, "-o", tmp_path / "b"),
                "app.conf.j2:2", "host app1", "line break")


def test_typed_settings_reach_the_template(tmp_path, tree):
    inv = app_inventory(tree, "port: 8080\n",
                        template="{{ settings.listen }}:{{ settings.port }} "
                                 "cpu={{ settings.limits.cpu }}\n")
    out = tmp_path / "b"
    assert run_cli("render", inv, "-o", out).rc == 0
    assert (out / "app1/files/etc/app.conf").read_text() == "0.0.0.0:8080 cpu=1\n"
    assert (out / "app2/files/etc/app.conf").read_text() == "0.0.0.0:80 cpu=1\n"


def test_limit_matching_nothing_writes_nothing(tmp_path, tree):
    inv = app_inventory(tree, "port: 8080\n")
    check_error(run_cli("render", inv, "-o", tmp_path / "b", "--limit", "nosuch*"),
                "--limit", "matches no host")
    assert not (tmp_path / "b").exists()


def test_connection_vars_are_typed_too(tmp_path, tree):
    inv = app_inventory(tree, "port: 8080\n")
    hosts = inv / "hosts.yml"
    hosts.write_text(hosts.read_text().replace("app2:\n", "app2:\n          ansible_port: ssh\n"))
    check_error(run_cli("render", inv, "-o", tmp_path / "b"),
                "hosts.yml:13", "host app2", "key ansible_port", "integer")


def test_syntax_error_in_an_extended_template_names_its_line(tmp_path, tree):
    inv = app_inventory(tree, "port: 8080\n", template="{% extends 'app/base.j2' %}\n")
    (inv / "templates/app/base.j2").write_text("ok\n{% if %}\n")
    check_error(run_cli("render", inv, "-o", tmp_path / "b"), "base.j2:2", "template syntax")


def test_a_namespace_is_checked_even_on_hosts_without_its_role(tmp_path, tree):
    inv = tree({"hosts.yml": """
        all:
          vars:
            bootstrap_roles: [base]
          hosts:
            h1:
              puppet:
                sever: puppet.example.com
            h2:
              puppet:
                environment: production
        """})
    check_error(run_cli("render", inv, "-o", tmp_path / "b"),
                "hosts.yml:7", "host h1", "key puppet.sever", "did you mean 'server'")
    hosts = inv / "hosts.yml"
    hosts.write_text(hosts.read_text().replace("sever: puppet.example.com", "runinterval: 30m"))
    # Only keys and types are checked: puppet.server is required by the role, not the namespace.
    assert run_cli("render", inv, "-o", tmp_path / "b").rc == 0


def test_a_user_data_script_that_could_not_run_is_refused(tmp_path, tree):
    # The host runs the script from its dest, where it lands with the mode role.yml gives it.
    inv = app_inventory(tree, "port: 8080\n")
    role = inv / "roles/app/role.yml"
    role.write_text(role.read_text().replace(
        "- {template: app/app.conf.j2, dest: /etc/app.conf}",
        "- {template: app/app.conf.j2, dest: /usr/local/sbin/app-setup, mode: '0644', "
        "userdata: script}"))
    check_error(run_cli("render", inv, "-o", tmp_path / "b"),
                "role.yml:4", "userdata: script must be executable", "mode 0644")
